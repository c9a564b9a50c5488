// Salon's service worker, served at /sw.js (scope "/": the whole UI; see chat/web/pwa.py).
//
// It does three things and nothing else (no caching: the chat needs the server anyway):
// * "push": shows the notice the server sent (chat/push/notice.py: {title, body, url, tag, ...},
//   plain text) as a notification; one per conversation (the tag), replaced by the next.
// * "notificationclick": focuses an open Salon tab and takes it to the message, else opens one.
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

async function openMessage(url) {
  const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  const tab = windows.find((client) => new URL(client.url).origin === self.location.origin);
  if (tab) {
    const focused = await tab.focus();
    try {
      await focused.navigate(url);
      return;
    } catch {
      // a tab this worker does not control yet cannot be navigated: open the message beside it
    }
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
