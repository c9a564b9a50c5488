// Login, registration and first-run setup: the form posts JSON to the API, then goes on.
import { ApiError, post } from "./api.js";
import { errorText, t } from "./i18n.js";

const form = document.getElementById("auth-form");
const errorBox = document.getElementById("form-error");

function showError(text) {
  errorBox.textContent = text;
  errorBox.hidden = !text;
}

function fields() {
  const data = Object.fromEntries(new FormData(form).entries());
  for (const key of Object.keys(data)) {
    if (typeof data[key] === "string" && key !== "password" && data[key].trim() === "") delete data[key];
  }
  return data;
}

function localNext(target) {
  return target && target.startsWith("/") && !target.startsWith("//") && !target.startsWith("/\\") ? target : "/";
}

async function submit(event) {
  event.preventDefault();
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  showError("");
  const action = form.dataset.action;
  const data = fields();
  try {
    if (action === "login") {
      await post("/session", { username: data.username, password: data.password });
    } else {
      const body = { username: data.username, password: data.password };
      if (data.display_name) body.display_name = data.display_name;
      if (data.invite) body.invite = data.invite;
      if (data.setup_token) body.setup_token = data.setup_token;
      await post("/users", body);
      await post("/session", { username: data.username, password: data.password });
    }
    window.location.assign(localNext(form.dataset.next));
  } catch (err) {
    let text = err instanceof ApiError ? errorText(err) : t("error.unknown");
    if (err instanceof ApiError && err.code === "rate_limited" && err.data.retry_after) {
      text = t("error.rate_limited_retry", { seconds: err.data.retry_after });
    }
    showError(text);
    button.disabled = false;
    const field = err instanceof ApiError && err.data.field ? form.querySelector(`[name="${CSS.escape(err.data.field)}"]`) : null;
    (field || form.querySelector("input")).focus();
  }
}

if (form) form.addEventListener("submit", submit);
