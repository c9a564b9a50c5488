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
      if (data.email) body.email = data.email;
      const user = await post("/users", body);
      if (user.email_pending) {
        await afterEmailRegistration(user, data);
        return;
      }
      await post("/session", { username: data.username, password: data.password });
    }
    window.location.assign(localNext(form.dataset.next));
  } catch (err) {
    let text = err instanceof ApiError ? errorText(err) : t("error.unknown");
    if (err instanceof ApiError && err.code === "email_unverified") text = t("email.unverified_login");
    if (err instanceof ApiError && err.code === "rate_limited" && err.data.retry_after) {
      text = t("error.rate_limited_retry", { seconds: err.data.retry_after });
    }
    showError(text);
    button.disabled = false;
    const field = err instanceof ApiError && err.data.field ? form.querySelector(`[name="${CSS.escape(err.data.field)}"]`) : null;
    (field || form.querySelector("input")).focus();
  }
}

// An account registered with an address: say where the link went (or that it could not be sent),
// then sign in if the account may already (an account registered by e-mail domain may not yet).
async function afterEmailRegistration(user, data) {
  let signedIn = true;
  try {
    await post("/session", { username: data.username, password: data.password });
  } catch (err) {
    if (!(err instanceof ApiError && err.code === "email_unverified")) throw err;
    signedIn = false;
  }
  let text = t("email.register_sent", { email: user.email_pending });
  if (!user.confirmation_sent) text = t(signedIn ? "email.register_not_sent" : "email.register_not_sent_admin");
  else if (!signedIn) text += " " + t("email.register_then_login");
  const done = document.getElementById("email-sent");
  document.getElementById("email-sent-text").textContent = text;
  const next = document.getElementById("email-sent-next");
  next.href = signedIn ? (user.confirmation_sent ? localNext(form.dataset.next) : "/settings") : "/login";
  next.textContent = signedIn ? t("email.continue") : t("email.to_login");
  form.hidden = true;
  done.hidden = false;
  next.focus();
}

if (form) form.addEventListener("submit", submit);
