// Notification settings (GET/PATCH /api/v1/me/notifications; docs/api.md, "Notification settings").
//
// NotificationActions: the chat page's intents (pause, resume, a conversation's level) and the
// do-not-disturb state kept current: the user.notifications_changed and user.do_not_disturb events,
// a timer at the next moment a mark ends, and the directory read again on every reconnect and every
// few minutes (a quiet-hours window that begins later sends no event: that read shows it).
//
// On the settings page (a form #notif-form), the form of the "Notifications" section: mail delay,
// mail when missed, daily digest, quiet hours, all in one time zone (the browser's by default).
import { get, patch } from "./api.js";
import { h, replaceChildren, showError, showOk } from "./dom.js";
import { errorText, lang, t } from "./i18n.js";

export const LEVELS = ["all", "mentions", "nothing"];
const REFRESH_MS = 5 * 60 * 1000;
const MAX_TIMER_MS = 24 * 3600 * 1000; // setTimeout's range is smaller than a year's pause
const DELAYS_S = [60, 300, 600, 1800, 3600];

export function defaultLevel(conv) {
  return conv.kind === "direct" ? "all" : "mentions";
}

// A conversation's level for the current user: their choice, else the default for its kind.
export function levelOf(store, conv) {
  const chosen = store.notifications && store.notifications.conversations[String(conv.id)];
  return chosen || defaultLevel(conv);
}

// The instant in ``raw`` (ISO 8601) if it is still ahead, else null.
export function future(raw) {
  if (!raw) return null;
  const when = new Date(raw);
  return when.getTime() > Date.now() ? when : null;
}

// Whether the current user paused notifications or is in quiet hours now.
export function interruptionsOff(store) {
  return Boolean(store.notifications && future(store.notifications.do_not_disturb_until));
}

export function tomorrowAt(hour) {
  const when = new Date();
  when.setDate(when.getDate() + 1);
  when.setHours(hour, 0, 0, 0);
  return when;
}

export class NotificationActions {
  constructor(store) {
    this.store = store;
    this.timer = null;
    store.notifications = null; // GET /me/notifications, once loaded
  }

  start() {
    setInterval(() => this.refresh(), REFRESH_MS);
  }

  // The settings and the directory (everyone's do_not_disturb_until) read again.
  async refresh() {
    try {
      const [settings, users] = await Promise.all([get("/me/notifications"), get("/users")]);
      this.store.setUsers(users.users || []);
      this.set(settings);
    } catch {
      /* the next reconnect or refresh tries again */
    }
  }

  set(settings) {
    this.store.notifications = settings;
    const me = this.store.users.get(this.store.me.id);
    if (me) me.do_not_disturb_until = settings.do_not_disturb_until;
    this.store.changed("notifications", "header", "users", "sidebar");
    this.schedule();
  }

  async change(body) {
    this.set(await patch("/me/notifications", body));
  }

  pause(until) {
    return this.change({ paused_until: until.toISOString() });
  }

  resume() {
    return this.change({ paused_until: null });
  }

  setLevel(conv, level) {
    return this.change({ conversations: { [conv.id]: level === defaultLevel(conv) ? null : level } });
  }

  // Events of every kind pass here; two are ours.
  onEvent(ev) {
    const data = ev.data || {};
    if (ev.kind === "user.notifications_changed" && data.user_id === this.store.me.id && data.notifications) {
      this.set(data.notifications);
    } else if (ev.kind === "user.do_not_disturb") {
      const user = this.store.users.get(data.user_id);
      if (!user) return;
      user.do_not_disturb_until = data.until;
      if (data.user_id === this.store.me.id && this.store.notifications) this.store.notifications.do_not_disturb_until = data.until;
      this.store.changed("users", "sidebar", "notifications");
      this.schedule();
    }
  }

  // Views draw marks only while they are ahead: re-render when the next one ends.
  schedule() {
    clearTimeout(this.timer);
    const mine = this.store.notifications || {};
    const times = [mine.paused_until, mine.do_not_disturb_until, ...Array.from(this.store.users.values(), (u) => u.do_not_disturb_until)]
      .map(future)
      .filter(Boolean)
      .map((d) => d.getTime());
    if (!times.length) return;
    const wait = Math.min(MAX_TIMER_MS, Math.min(...times) - Date.now() + 250);
    this.timer = setTimeout(() => {
      this.store.changed("users", "sidebar", "notifications", "header");
      this.schedule();
    }, wait);
  }
}

// --- the settings page ---------------------------------------------------------------------------

function browserZone() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  } catch {
    return "UTC";
  }
}

function zones() {
  try {
    return Intl.supportedValuesOf("timeZone");
  } catch {
    return [];
  }
}

function mountSettingsForm(form) {
  const $ = (id) => document.getElementById(id);
  const delay = $("notif-delay");
  const custom = $("notif-delay-custom");
  const customRow = $("notif-delay-custom-row");
  const digest = $("notif-digest");
  const hour = $("notif-digest-hour");
  const quiet = $("notif-quiet");
  const quietFields = $("notif-quiet-fields");
  const zone = $("notif-zone");
  const days = $("notif-days");
  const minutes = (s) => (s % 60 === 0 ? t("notif.delay_minutes", { n: s / 60 }) : t("notif.delay_seconds", { n: s }));

  replaceChildren(
    delay,
    DELAYS_S.map((s) => h("option", { value: s }, s === 3600 ? t("notif.delay_hour") : minutes(s))),
    h("option", { value: "custom" }, t("notif.delay_custom")),
  );
  replaceChildren(hour, Array.from({ length: 24 }, (_, i) => h("option", { value: i }, `${String(i).padStart(2, "0")}:00`)));
  replaceChildren($("notif-zones"), zones().map((z) => h("option", { value: z })));
  const dayName = new Intl.DateTimeFormat(lang, { weekday: "long" });
  replaceChildren(
    days,
    Array.from({ length: 7 }, (_, i) =>
      h("label", {}, h("input", { type: "checkbox", name: "day", value: i, "data-day": i }), " ", dayName.format(new Date(2024, 0, 1 + i))),
    ),
  );

  function toggles() {
    customRow.hidden = delay.value !== "custom";
    hour.disabled = !digest.checked;
    quietFields.disabled = !quiet.checked;
  }
  for (const el of [delay, digest, quiet]) el.addEventListener("change", toggles);

  function show(s) {
    const known = DELAYS_S.includes(s.email_delay_s);
    delay.value = known ? String(s.email_delay_s) : "custom";
    custom.value = known ? "" : String(Math.max(1, Math.round(s.email_delay_s / 60)));
    $("notif-missed").checked = s.email_missed;
    digest.checked = s.digest.mode === "daily";
    hour.value = String(s.digest.hour);
    quiet.checked = Boolean(s.quiet_hours);
    const q = s.quiet_hours || { days: [0, 1, 2, 3, 4], start: "19:00", end: "08:00" };
    for (const box of days.querySelectorAll("input")) box.checked = q.days.includes(Number(box.value));
    $("notif-start").value = q.start;
    $("notif-end").value = q.end;
    const stored = s.quiet_hours ? s.quiet_hours.time_zone : s.digest.mode === "daily" ? s.digest.time_zone : null;
    zone.value = stored || browserZone();
    toggles();
    form.dataset.loaded = "true"; // what the server has is on screen
  }

  function body() {
    const timeZone = zone.value.trim() || browserZone();
    const seconds = delay.value === "custom" ? Math.round(Number(custom.value) * 60) : Number(delay.value);
    const change = {
      email_delay_s: Number.isFinite(seconds) ? seconds : 0,
      email_missed: $("notif-missed").checked,
      digest: { mode: digest.checked ? "daily" : "off", hour: Number(hour.value), time_zone: timeZone },
      quiet_hours: null,
    };
    if (quiet.checked) {
      change.quiet_hours = {
        days: Array.from(days.querySelectorAll("input:checked"), (box) => Number(box.value)),
        start: $("notif-start").value,
        end: $("notif-end").value,
        time_zone: timeZone,
      };
    }
    return change;
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    showError(form, "");
    try {
      show(await patch("/me/notifications", body()));
      showOk(form, t("settings.saved"));
    } catch (err) {
      showError(form, errorText(err));
    } finally {
      button.disabled = false;
    }
  });

  get("/me/notifications")
    .then(show)
    .catch((err) => showError(form, errorText(err)));
}

const settingsForm = document.getElementById("notif-form");
if (settingsForm) mountSettingsForm(settingsForm);
