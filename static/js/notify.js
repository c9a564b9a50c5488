// Browser notifications for mentions and direct messages while the tab is hidden, when the
// user allowed them (settings page). Preferences live in this browser (localStorage), like the
// permission itself.
import { t } from "./i18n.js";
import { conversationName, userName } from "./model.js";
import { interruptionsOff, levelOf } from "./notification-settings.js";

const KEY = "salon.notifications";

export function notificationPrefs() {
  try {
    return { mentions: true, direct: true, ...JSON.parse(window.localStorage.getItem(KEY) || "{}") };
  } catch {
    return { mentions: true, direct: true };
  }
}

export function saveNotificationPrefs(prefs) {
  window.localStorage.setItem(KEY, JSON.stringify(prefs));
}

export function mountNotifications(store) {
  store.addEventListener("incoming", (e) => {
    const { message, conversation, mentioned, muted } = e.detail;
    if (document.visibilityState === "visible" || !("Notification" in window)) return;
    if (Notification.permission !== "granted") return;
    const prefs = notificationPrefs();
    const direct = conversation.kind === "direct";
    // paused, quiet hours, or this conversation's level (GET /me/notifications)
    const level = levelOf(store, conversation);
    if (interruptionsOff(store) || level === "nothing") return;
    const wanted = direct ? prefs.direct && (level === "all" || mentioned) : !muted && ((mentioned && prefs.mentions) || level === "all");
    if (!wanted) return;
    const title = direct
      ? t("notify.direct", { name: userName(store.users, message.author) })
      : t("notify.mention", { name: userName(store.users, message.author), conversation: conversationName(conversation, store.users, store.me) });
    const text = (message.body || "").slice(0, 200);
    const note = new Notification(title, { body: text, tag: `salon-${conversation.id}`, icon: "/static/img/icon.svg" });
    note.addEventListener("click", () => {
      window.focus();
      window.location.hash = `#/c/${message.conversation}/m/${message.id}`;
      note.close();
    });
  });
}
