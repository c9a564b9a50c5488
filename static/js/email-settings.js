// The e-mail section of the settings page: the address (verified, or waiting for its
// confirmation link, which can be sent again), change it (PUT /api/v1/me/email mails a link),
// remove it (DELETE /api/v1/me/email). The state always comes from GET /api/v1/me/email.
import { del, get, put } from "./api.js";
import { showError } from "./dom.js";
import { errorText, t } from "./i18n.js";

export function emailError(err) {
  const key = `email.error_${err && err.code}`;
  const text = t(key);
  return text !== key ? text : errorText(err);
}

export function mountEmailSettings(section) {
  if (!section) return;
  const status = section.querySelector("#email-status");
  const pending = section.querySelector("#email-pending");
  const pendingText = section.querySelector("#email-pending-text");
  const resend = section.querySelector("#email-resend");
  const form = section.querySelector("#email-form");
  const input = form.querySelector("input[name=email]");
  const remove = section.querySelector("#email-remove");
  const note = section.querySelector("#email-note");
  let current = { email: null, verified: false, pending: null };

  function say(text) {
    note.textContent = text || "";
    note.hidden = !text;
  }

  function render() {
    section.dataset.state = current.verified ? "verified" : current.pending ? "pending" : current.email ? "unverified" : "none";
    if (current.email && current.verified) status.textContent = t("email.verified", { email: current.email });
    else if (current.email) status.textContent = t("email.unverified", { email: current.email });
    else status.textContent = t("email.none");
    pending.hidden = !current.pending;
    pendingText.textContent = current.pending ? t("email.waiting", { email: current.pending }) : "";
    remove.hidden = !current.email && !current.pending;
  }

  async function load() {
    try {
      current = await get("/me/email");
      render();
    } catch (err) {
      status.textContent = emailError(err);
    }
  }

  async function send(address, button) {
    button.disabled = true;
    showError(form, "");
    say("");
    try {
      const answer = await put("/me/email", { email: address });
      say(t("email.link_sent", { email: answer.pending }));
      form.reset();
      await load();
    } catch (err) {
      showError(form, emailError(err));
    } finally {
      button.disabled = false;
    }
  }

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    send(input.value.trim(), form.querySelector("button[type=submit]"));
  });
  resend.addEventListener("click", () => {
    if (current.pending) send(current.pending, resend);
  });
  remove.addEventListener("click", async () => {
    if (!window.confirm(t("email.confirm_remove"))) return;
    remove.disabled = true;
    try {
      await del("/me/email");
      say(t("email.removed"));
      await load();
    } catch (err) {
      showError(form, emailError(err));
    } finally {
      remove.disabled = false;
    }
  });
  load();
}
