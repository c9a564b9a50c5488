// The settings page: display name and password through PATCH /api/v1/me; notification
// preferences in this browser (the language form is a plain form posted to the server); the
// storage the user's uploads take (GET /api/v1/me/storage).
import { get, patch } from "./api.js";
import { showError, showOk } from "./dom.js";
import { mountEmailSettings } from "./email-settings.js";
import { errorText, formatSize, t } from "./i18n.js";
import { notificationPrefs, saveNotificationPrefs } from "./notify.js";

function handle(form, work) {
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    showError(form, "");
    try {
      await work(new FormData(form));
      showOk(form, t("settings.saved"));
    } catch (err) {
      showError(form, errorText(err));
    } finally {
      button.disabled = false;
    }
  });
}

handle(document.getElementById("profile-form"), async (data) => {
  await patch("/me", { display_name: String(data.get("display_name")).trim() });
});

const passwordForm = document.getElementById("password-form");
handle(passwordForm, async (data) => {
  await patch("/me", { password: data.get("password"), current_password: data.get("current_password") });
  passwordForm.reset();
});

const notifyForm = document.getElementById("notify-form");
const permission = document.getElementById("notify-permission");
const prefs = notificationPrefs();
document.getElementById("notify-mentions").checked = prefs.mentions;
document.getElementById("notify-direct").checked = prefs.direct;

function showPermission() {
  if (!("Notification" in window)) permission.textContent = t("settings.notify_unsupported");
  else permission.textContent = t(`settings.notify_${Notification.permission}`);
}
showPermission();

handle(notifyForm, async (data) => {
  const chosen = { mentions: data.get("mentions") === "on", direct: data.get("direct") === "on" };
  saveNotificationPrefs(chosen);
  if ((chosen.mentions || chosen.direct) && "Notification" in window && Notification.permission === "default") {
    await Notification.requestPermission();
  }
  showPermission();
});

async function showStorage() {
  const text = document.getElementById("storage-use");
  const bar = document.getElementById("storage-bar");
  try {
    const { used_bytes: used, quota_bytes: quota } = await get("/me/storage");
    text.textContent = quota
      ? t("upload.storage_used", { used: formatSize(used), quota: formatSize(quota) })
      : t("upload.storage_unlimited", { used: formatSize(used) });
    bar.hidden = !quota;
    if (quota) bar.value = Math.min(1, used / quota);
  } catch (err) {
    text.textContent = errorText(err);
  }
}
showStorage();
mountEmailSettings(document.getElementById("email-section"));
