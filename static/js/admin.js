// The moderation pages: every action is a form whose data-api names the API call
// ("PATCH /users/5"). Its fields become the JSON body: data-type="int" fields are numbers,
// checkboxes are booleans, data-type="list" fields are comma-separated lists, data-type="ints"
// lists of numbers, and empty fields marked data-optional are left out. data-confirm asks
// first (an i18n key); after success the page reloads, so the lists show the server's state,
// unless the form has data-result: then the answer's data-result field (a one-time secret,
// e.g. an invitation link) is shown in the form's output element, for the admin to copy.
import { api } from "./api.js";
import { showError, showOk } from "./dom.js";
import { errorText, t } from "./i18n.js";

function value(field) {
  if (field.type === "checkbox") return field.checked;
  const raw = field.value.trim();
  switch (field.dataset.type) {
    case "int":
      return raw === "" ? null : Number(raw);
    case "list":
      return raw.split(",").map((s) => s.trim()).filter(Boolean);
    case "ints":
      if (field.multiple) return Array.from(field.selectedOptions, (o) => Number(o.value));
      return raw.split(",").map((s) => s.trim()).filter(Boolean).map(Number);
    default:
      return raw;
  }
}

export function body(form) {
  const out = {};
  for (const field of form.elements) {
    if (!field.name || field.disabled || field.type === "submit") continue;
    if (field.type === "radio" && !field.checked) continue;
    const v = value(field);
    if (field.dataset.optional !== undefined && (v === "" || v === null || (Array.isArray(v) && !v.length))) continue;
    out[field.name] = v;
  }
  return out;
}

function status(form) {
  return form.querySelector(".form-error") ? form : document.querySelector(".admin-main");
}

async function submit(event) {
  const form = event.target.closest("form[data-api]");
  if (!form) return;
  event.preventDefault();
  if (form.dataset.confirm && !window.confirm(t(form.dataset.confirm))) return;
  const [method, path] = form.dataset.api.split(" ", 2);
  const buttons = form.querySelectorAll("button");
  buttons.forEach((b) => (b.disabled = true));
  const where = status(form);
  showError(where, "");
  try {
    const sendsBody = method !== "GET" && method !== "DELETE";
    const answer = await api(method, path, sendsBody ? body(form) : undefined);
    if (form.dataset.result) {
      const output = form.querySelector("output");
      const shown = form.dataset.result.split(".").reduce((o, k) => (o == null ? o : o[k]), answer);
      output.value = shown instanceof Object ? JSON.stringify(shown) : String(shown ?? "");
      output.hidden = false;
      showOk(where, t("admin.done"));
      return;
    }
    sessionStorage.setItem("admin-flash", t("admin.done"));
    window.location.reload();
  } catch (err) {
    showError(where, errorText(err));
  } finally {
    buttons.forEach((b) => (b.disabled = false));
  }
}

document.addEventListener("submit", submit);

const flash = sessionStorage.getItem("admin-flash");
if (flash) {
  sessionStorage.removeItem("admin-flash");
  showOk(document.querySelector(".admin-main"), flash);
}
