// Salon's service worker, served at /sw.js (scope "/": the whole UI; see chat/web/pwa.py).
//
// It does three things and nothing else (no caching: the chat needs the server anyway):
// * "push": shows the notice the server sent (chat/push/notice.py: {title, body, url, tag, ...},
//   plain text) as a notification; one per conversation (the tag), replaced by the next.
// * "notificationclick": takes an open Salon tab to the message and focuses it, else opens one.
//   The notice's url may be absolute (CHAT_PUBLIC_ORIGIN) or root-relative ("/#/c/1/m/2", when the
//   server has no public origin): it is resolved against this worker's origin, the one in use.
// * "pushsubscriptionchange": the browser renewed the subscription; tell the server the new one.

const API = "/api/v1";

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

// Only links into this server are followed; anything else opens the chat's start page.
function sameOriginUrl(raw) {
  try {
    const url = new URL(raw, self.location.origin);
    return url.origin === self.location.origin ? url.href : `${self.location.origin}/`;
  } catch {
    return `${self.location.origin}/`;
  }
}

function readNotice(event) {
  try {
    const data = event.data ? event.data.json() : {};
    return data && typeof data === "object" ? data : {};
  } catch {
    return { body: event.data ? event.data.text() : "" };
  }
}

self.addEventListener("push", (event) => {
  const notice = readNotice(event);
  const title = typeof notice.title === "string" && notice.title ? notice.title : "Salon";
  const options = {
    body: typeof notice.body === "string" ? notice.body : "",
    tag: typeof notice.tag === "string" ? notice.tag : undefined,
    renotify: typeof notice.tag === "string",
    icon: "/static/img/icon-192.png",
    badge: "/static/img/icon-192.png",
    data: { url: sameOriginUrl(notice.url || "/") },
  };
  event.waitUntil(self.registration.showNotification(title, options));
});

// Takes a Salon tab to the message and brings it forward, else opens the message in a new tab.
// A click allows one focus() or openWindow(), not both, and only a tab this worker controls can be
// navigated: so navigate first (the tabs most recently used first), focus the tab that moved, and
// open a window only when none could be moved (a focus spent on a tab that then fails to navigate
// would leave nothing to open the message with).
async function openMessage(url) {
  const tabs = await self.clients.matchAll({ type: "window" });
  for (const tab of tabs) {
    let moved;
    try {
      moved = await tab.navigate(url);
    } catch {
      continue; // not controlled by this worker (yet), or gone meanwhile: try the next
    }
    if (moved) await moved.focus().catch(() => {}); // no focus left to give: the tab is at the message anyway
    return;
  }
  await self.clients.openWindow(url);
}

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const url = sameOriginUrl(event.notification.data && event.notification.data.url);
  event.waitUntil(openMessage(url));
});

function b64url(buffer) {
  const bytes = new Uint8Array(buffer);
  let text = "";
  for (const byte of bytes) text += String.fromCharCode(byte);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

self.addEventListener("pushsubscriptionchange", (event) => {
  const renew = async () => {
    const options = event.oldSubscription ? event.oldSubscription.options : null;
    const subscription = event.newSubscription || (options && (await self.registration.pushManager.subscribe(options)));
    if (!subscription) return;
    const body = subscription.toJSON();
    if (!body.keys) body.keys = { p256dh: b64url(subscription.getKey("p256dh")), auth: b64url(subscription.getKey("auth")) };
    await fetch(`${API}/push/subscriptions`, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
  };
  event.waitUntil(renew());
});
