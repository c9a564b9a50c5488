// The chat page: wires the socket, the store, the intents and the views; routes on the URL hash.
//   #/c/<id>                       a conversation, all topics
//   #/c/<id>/t/<topic>             one topic
//   #/c/<id>[/t/<topic>]/m/<msg>   a message in context
//   #/search/<query>               search results
import { get } from "./api.js";
import { Actions } from "./actions.js";
import { mountMailAddress } from "./mail-address.js";
import { NotificationActions } from "./notification-settings.js";
import { mountNotifications } from "./notify.js";
import { Socket } from "./socket.js";
import { Store } from "./store.js";
import { mountCompose } from "./views/compose.js";
import { mountDialogs } from "./views/dialogs.js";
import { mountPauseMenu } from "./views/dnd.js";
import { mountHeader } from "./views/header.js";
import { mountMessages } from "./views/messages.js";
import { mountSearch } from "./views/search.js";
import { mountSidebar } from "./views/sidebar.js";
import { mountStatus } from "./views/status.js";
import { mountSwitcher } from "./views/switcher.js";
import { mountTopicBar } from "./views/topicbar.js";
import { mountTopics } from "./views/topics.js";

const boot = JSON.parse(document.getElementById("boot").textContent);
const store = new Store(boot.user);
const socket = new Socket({ path: boot.ws_path });
const actions = new Actions(store, socket);
const notif = new NotificationActions(store);

const dialogs = mountDialogs(store, actions);
mountSidebar(store);
mountHeader(store, actions, dialogs, notif);
mountMailAddress(store); // after the header: it adds its button to the header's actions
mountTopics(store);
mountTopicBar(store, actions, dialogs);
const messages = mountMessages(store, actions, dialogs);
const compose = mountCompose(store, actions);
const search = mountSearch(store, actions);
const switcher = mountSwitcher(store, actions);
mountStatus(store);
mountNotifications(store);
mountPauseMenu(store, notif);

// Expose the pieces for debugging and for the end-to-end tests (read-only use).
window.salon = { store, socket, actions, notif };

// --- layout for the current view ------------------------------------------------------------
const welcome = document.getElementById("welcome");
const conversationEl = document.getElementById("conversation");
const searchEl = document.getElementById("search-results");
store.addEventListener("change", (e) => {
  if (!e.detail.has("view")) return;
  const { conversation, search: query } = store.view;
  welcome.hidden = Boolean(conversation) || query !== null;
  conversationEl.hidden = !conversation || query !== null;
  searchEl.hidden = query === null;
  conversationEl.classList.remove("topics-open");
});

// --- routing --------------------------------------------------------------------------------
function route() {
  const hash = window.location.hash.replace(/^#\/?/, "");
  const parts = hash.split("/");
  closeNav();
  if (parts[0] === "c" && /^\d+$/.test(parts[1] || "")) {
    const cid = Number(parts[1]);
    let topic = null;
    let focus = null;
    let i = 2;
    if (parts[i] === "t" && parts[i + 1] !== undefined) {
      topic = decodeURIComponent(parts[i + 1]);
      i += 2;
    }
    if (parts[i] === "m" && /^\d+$/.test(parts[i + 1] || "")) focus = Number(parts[i + 1]);
    actions.openConversation(cid, topic, focus);
    return;
  }
  if (parts[0] === "search" && parts[1]) {
    const query = decodeURIComponent(parts.slice(1).join("/"));
    store.setView({ ...store.view, search: query });
    actions.search(query);
    return;
  }
  store.setView({});
}
window.addEventListener("hashchange", route);

// --- socket ---------------------------------------------------------------------------------
socket.addEventListener("state", (e) => {
  store.setConnection(e.detail.state, e.detail.retryInMs);
  if (e.detail.state !== "online" && e.detail.attempt >= 3) checkSignedIn();
});
socket.addEventListener("hello", (e) => {
  if (e.detail.fresh) actions.loadSnapshot().catch((err) => store.signal("error", err));
  else actions.onReconnect().catch(() => {});
  notif.refresh(); // do-not-disturb marks: a quiet-hours window that began meanwhile sent no event
});
socket.addEventListener("event", (e) => {
  const follow = store.applyEvent(e.detail);
  notif.onEvent(e.detail);
  if (follow.length) actions.follow(follow).catch(() => {});
});
socket.addEventListener("typing", (e) => store.applyTyping(e.detail));
socket.addEventListener("presence", (e) => store.applyPresence(e.detail));
socket.addEventListener("fatal", () => window.location.assign("/login"));

async function checkSignedIn() {
  try {
    await get("/me");
  } catch (err) {
    if (err.status === 401) window.location.assign(`/login?next=${encodeURIComponent("/" + window.location.hash)}`);
  }
}

// --- keyboard and small-screen navigation ---------------------------------------------------
const navToggle = document.getElementById("nav-toggle");
function closeNav() {
  document.body.classList.remove("nav-open");
  navToggle.setAttribute("aria-expanded", "false");
}
navToggle.addEventListener("click", () => {
  const open = document.body.classList.toggle("nav-open");
  navToggle.setAttribute("aria-expanded", open ? "true" : "false");
  if (open) document.querySelector("#sidebar a, #sidebar button")?.focus();
});

const searchToggle = document.getElementById("search-toggle");
searchToggle.addEventListener("click", () => {
  const open = document.body.classList.toggle("search-open");
  searchToggle.setAttribute("aria-expanded", open ? "true" : "false");
  if (open) search.focus();
});

document.addEventListener("keydown", (e) => {
  const typing = e.target.closest && e.target.closest("input, textarea, select");
  if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "k") {
    e.preventDefault();
    switcher.open();
  } else if (e.key === "Escape") {
    if (document.querySelector("dialog[open]")) return; // the dialog closes itself
    if (document.body.classList.contains("nav-open")) {
      closeNav();
      navToggle.focus();
    } else if (store.view.search !== null) {
      history.back();
    } else if (!typing && store.view.conversation) {
      compose.focus();
    }
  } else if (!typing && e.key === "/" && !e.ctrlKey && !e.metaKey) {
    e.preventDefault();
    document.body.classList.add("search-open");
    search.focus();
  } else if (!typing && e.key === "c" && !e.ctrlKey && !e.metaKey && !e.altKey && store.view.conversation) {
    e.preventDefault();
    compose.focus();
  } else if (!typing && e.key === "ArrowUp" && e.altKey) {
    e.preventDefault();
    messages.focusLast();
  }
});

// --- start ----------------------------------------------------------------------------------
actions
  .loadSnapshot()
  .catch((err) => store.signal("error", err))
  .finally(route);
socket.start();
notif.start();
