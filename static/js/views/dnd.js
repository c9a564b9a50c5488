// Do-not-disturb in the chat page: the mark next to a person's name while they paused notifications
// or are in quiet hours (user.do_not_disturb_until; NotificationActions keeps it current), the
// pause menu next to the current user's name in the top bar, and a conversation's notification
// level menu for the header. The marks are drawn only while their time is ahead.
import { h, replaceChildren } from "../dom.js";
import { errorText, formatFull, formatTime, t } from "../i18n.js";
import { LEVELS, defaultLevel, future, levelOf, tomorrowAt } from "../notification-settings.js";

const HOUR_MS = 3600 * 1000;
const TOMORROW_HOUR = 8;
let openLevelMenu = null; // the conversation whose level menu is open: it stays open when the header is drawn again

export function untilText(when) {
  return when.toDateString() === new Date().toDateString() ? formatTime(when) : formatFull(when);
}

// The end of a user's do-not-disturb, if it is ahead.
export function dndUntil(store, userId) {
  const user = store.users.get(userId);
  return user ? future(user.do_not_disturb_until) : null;
}

// The words for a screen reader: "Do not disturb until 14:30", or null.
export function dndLabel(store, userId) {
  const until = dndUntil(store, userId);
  return until ? t("notif.dnd_until", { time: untilText(until) }) : null;
}

// The mark itself (a crescent moon), or null.
export function dndMark(store, userId) {
  const label = dndLabel(store, userId);
  if (!label) return null;
  return h("span", { class: "dnd-mark", role: "img", "aria-label": label, title: label, "data-dnd-user": userId }, "☾");
}

// "Pause notifications: 1 hour / until tomorrow / resume": a button next to the current user's name
// (it says "Paused until 14:30" while paused) opening a small dialog with the choices.
export function mountPauseMenu(store, notif) {
  const name = document.getElementById("me-name");
  if (!name) return;
  const status = h("span", { class: "me", id: "pause-status" });
  // narrow screens hide the words (class "me", like the name): the bell and the label stay
  const button = h(
    "button",
    { type: "button", class: "link-button", id: "pause-button", "aria-haspopup": "dialog", onclick: () => open() },
    h("span", { class: "icon icon-muted", "aria-hidden": "true" }),
    " ",
    status,
  );
  const heading = h("h2", { id: "dlg-pause-title" }, t("notif.pause"));
  const state = h("p", { class: "hint", id: "dlg-pause-state", role: "status" });
  const choices = h("p", { class: "pause-choices" });
  const dialog = h(
    "dialog",
    { id: "dlg-pause", "aria-labelledby": "dlg-pause-title" },
    h("form", { method: "dialog", class: "dialog-head" }, heading, h("button", { value: "cancel", class: "icon-button", "aria-label": t("common.close") }, "✕")),
    state,
    choices,
  );
  name.after(button);
  document.body.append(dialog);

  async function run(work) {
    dialog.close();
    try {
      await work();
    } catch (err) {
      store.signal("toast", errorText(err));
    }
  }

  function open() {
    render();
    dialog.showModal();
  }

  function render() {
    const settings = store.notifications;
    const paused = settings ? future(settings.paused_until) : null;
    const quiet = settings && !paused ? future(settings.do_not_disturb_until) : null;
    let text = t("notif.pause");
    if (paused) text = t("notif.paused_until", { time: untilText(paused) });
    else if (quiet) text = t("notif.quiet_until", { time: untilText(quiet) });
    status.textContent = text;
    button.setAttribute("aria-label", text);
    button.title = text;
    button.dataset.paused = paused ? "true" : "false";
    state.textContent = paused || quiet ? text : "";
    state.hidden = !(paused || quiet);
    const choice = (label, action, work) => h("button", { type: "button", "data-pause": action, onclick: () => run(work) }, label);
    replaceChildren(
      choices,
      choice(t("notif.pause_hour"), "hour", () => notif.pause(new Date(Date.now() + HOUR_MS))),
      " ",
      choice(t("notif.pause_tomorrow", { time: formatTime(tomorrowAt(TOMORROW_HOUR)) }), "tomorrow", () => notif.pause(tomorrowAt(TOMORROW_HOUR))),
      " ",
      paused ? choice(t("notif.resume"), "resume", () => notif.resume()) : null,
    );
  }

  store.addEventListener("change", (e) => {
    if (e.detail.has("notifications")) render();
  });
  render();
}

// The header's "Notifications: Mentions only" menu of a conversation the user is in.
export function levelMenu(store, notif, conv) {
  const current = levelOf(store, conv);
  const fallback = defaultLevel(conv);
  const menu = h("details", { class: "level-menu", "data-action": "notify-level", open: openLevelMenu === conv.id });
  menu.addEventListener("toggle", () => {
    if (!menu.isConnected) return;
    if (menu.open) openLevelMenu = conv.id;
    else if (openLevelMenu === conv.id) openLevelMenu = null;
  });

  async function choose(level) {
    openLevelMenu = null;
    menu.open = false;
    try {
      await notif.setLevel(conv, level);
    } catch (err) {
      store.signal("toast", errorText(err));
    }
  }

  menu.append(
    h("summary", {}, t("notif.level_button", { level: t(`notif.level_${current}`) })),
    h(
      "fieldset",
      { class: "level-choices" },
      h("legend", {}, t("notif.level_title")),
      LEVELS.map((level) =>
        h(
          "label",
          {},
          h("input", {
            type: "radio",
            name: `notify-level-${conv.id}`,
            value: level,
            checked: level === current,
            onchange: () => choose(level),
          }),
          " ",
          t(`notif.level_${level}`),
          level === fallback ? ` ${t("notif.level_default")}` : "",
        ),
      ),
    ),
  );
  return menu;
}
