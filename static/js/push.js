// The installable app and Web Push in the page: every page registers the service worker
// (/sw.js, scope "/"); on the settings page, the "Push notifications on this device" switch
// (permission, pushManager.subscribe with the server's VAPID key, POST /api/v1/push/subscriptions;
// off: unsubscribe and DELETE) and the list of the account's subscribed devices, each removable.
import { del, get, post } from "./api.js";
import { $, h, replaceChildren } from "./dom.js";
import { errorText, formatFull, t } from "./i18n.js";

const supported = "serviceWorker" in navigator;

// Resolves to the registration (null where service workers are unavailable: not https, old browser).
export const registration = supported
  ? navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(() => null)
  : Promise.resolve(null);

function pushSupported() {
  return supported && "PushManager" in window && "Notification" in window;
}

// The VAPID key as the Push API wants it: bytes of the base64url text.
function keyBytes(text) {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (text.length % 4)) % 4);
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

// "Firefox on Android" from a user agent; the raw text when nothing is recognised.
export function deviceName(agent) {
  const browsers = [["Edg/", "Edge"], ["OPR/", "Opera"], ["Firefox/", "Firefox"], ["Chrome/", "Chrome"], ["Safari/", "Safari"]];
  const systems = [["Android", "Android"], ["iPhone", "iOS"], ["iPad", "iPadOS"], ["Windows", "Windows"], ["Mac OS X", "macOS"], ["CrOS", "ChromeOS"], ["Linux", "Linux"]];
  const browser = browsers.find(([mark]) => agent.includes(mark));
  const system = systems.find(([mark]) => agent.includes(mark));
  if (browser && system) return t("push.device_label", { browser: browser[1], system: system[1] });
  return agent || t("push.unknown_device");
}

function reason(err) {
  const key = `push.error.${err && err.code}`;
  const text = t(key);
  return text !== key ? text : errorText(err);
}

async function currentSubscription() {
  const reg = await registration;
  return reg && reg.pushManager ? reg.pushManager.getSubscription() : null;
}

function settingsUi(section) {
  const toggle = $("#push-switch", section);
  const status = $("#push-status", section);
  const list = $("#push-devices", section);
  const none = $("#push-no-devices", section);
  let busy = false;

  const say = (text, state) => {
    status.textContent = text;
    section.dataset.state = state;
  };

  async function showDevices(mine) {
    let devices = [];
    try {
      devices = await get("/push/subscriptions");
    } catch (err) {
      say(errorText(err), "error");
      return [];
    }
    none.hidden = devices.length > 0;
    replaceChildren(
      list,
      ...devices.map((device) => {
        const here = mine && mine.endpoint === device.endpoint;
        const used = device.last_used_at
          ? t("push.device_last_used", { date: formatFull(new Date(device.last_used_at)) })
          : t("push.device_never_used");
        const remove = h("button", { type: "button", class: "link-button" }, t("push.remove"));
        remove.addEventListener("click", () => removeDevice(device.endpoint, here));
        return h(
          "li",
          { class: "push-device", "data-endpoint": device.endpoint },
          h("strong", {}, deviceName(device.user_agent)),
          here ? ` (${t("push.device_this")})` : "",
          " · ",
          t("push.device_since", { date: formatFull(new Date(device.created_at)) }),
          " · ",
          used,
          " ",
          remove,
        );
      }),
    );
    return devices;
  }

  async function refresh() {
    if (!pushSupported()) {
      toggle.checked = false;
      toggle.disabled = true;
      say(t("push.unsupported"), "unsupported");
      await showDevices(null);
      return;
    }
    const mine = await currentSubscription();
    const devices = await showDevices(mine);
    const on = Boolean(mine) && devices.some((d) => d.endpoint === mine.endpoint);
    toggle.checked = on && Notification.permission === "granted";
    toggle.disabled = Notification.permission === "denied";
    if (Notification.permission === "denied") say(t("push.denied"), "denied");
    else say(t(toggle.checked ? "push.on" : "push.off"), toggle.checked ? "on" : "off");
  }

  async function turnOn() {
    say(t("push.asking"), "asking");
    if ((await Notification.requestPermission()) !== "granted") return;
    const reg = await registration;
    if (!reg) throw new Error(t("push.unsupported"));
    const { public_key: key } = await get("/push/key");
    let subscription = await reg.pushManager.getSubscription();
    if (subscription) {
      // a subscription made with another key (the server's key changed) cannot carry our pushes
      await subscription.unsubscribe();
    }
    subscription = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(key) });
    try {
      await post("/push/subscriptions", subscription.toJSON());
    } catch (err) {
      await subscription.unsubscribe();
      throw err;
    }
  }

  async function turnOff() {
    const subscription = await currentSubscription();
    if (!subscription) return;
    const { endpoint } = subscription;
    await subscription.unsubscribe();
    await forget(endpoint);
  }

  async function forget(endpoint) {
    try {
      await del("/push/subscriptions", { endpoint });
    } catch (err) {
      if (err.status !== 404) throw err; // already gone: what we wanted
    }
  }

  async function removeDevice(endpoint, here) {
    try {
      if (here) await turnOff();
      else await forget(endpoint);
      await refresh();
    } catch (err) {
      say(reason(err), "error");
    }
  }

  toggle.addEventListener("change", async () => {
    if (busy) return;
    busy = true;
    toggle.disabled = true;
    try {
      if (toggle.checked) await turnOn();
      else await turnOff();
      await refresh();
    } catch (err) {
      await refresh();
      say(t("push.failed", { reason: reason(err) }), "error");
    } finally {
      busy = false;
      if (Notification.permission !== "denied") toggle.disabled = false;
    }
  });

  refresh();
}

const section = document.getElementById("push-section");
if (section) settingsUi(section);
