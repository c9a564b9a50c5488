// The message view of a conversation (all topics) or of one topic: newest at the bottom, older
// pages when scrolled to the top, an unread marker with a jump button, live updates that keep
// the reader's place.
import { $, h } from "../dom.js";
import { formatDay, t } from "../i18n.js";
import { topicKey } from "../model.js";
import { renderMessage } from "./message.js";

const NEAR_BOTTOM_PX = 48;
const NEAR_TOP_PX = 120;

export function mountMessages(store, actions, dialogs) {
  const list = document.getElementById("messages");
  const jump = document.getElementById("jump-unread");
  let editing = null;
  let editDraft = null; // the text being edited survives re-renders (new messages arriving meanwhile)
  let rendered = new Map(); // row key -> {el, sig}: what the list shows now
  let viewToken = null; // identifies the open view: scroll to the bottom / focus once per view
  let firstUnread = null; // message id of the first unread when the view opened
  let unreadCount = 0; // unread messages when the view opened
  let newestAtOpen = null; // the newest message id when the view's timeline first loaded
  let unreadFound = true; // false while the first unread lies in a page not loaded yet
  let focusDone = false;

  const ctx = {
    get editing() {
      return editing;
    },
    get draft() {
      return editDraft;
    },
    set draft(text) {
      editDraft = text;
    },
    startEdit(id) {
      editing = id;
      editDraft = null;
      render();
    },
    stopEdit() {
      const id = editing;
      editing = null;
      editDraft = null;
      render();
      const el = document.getElementById(`msg-${id}`);
      if (el) el.focus();
    },
    showHistory: (id) => dialogs.history(id),
    report: (id) => dialogs.report(id),
  };

  function key() {
    const { conversation, topic } = store.view;
    return topic === null ? String(conversation) : `${conversation}/${topicKey(topic)}`;
  }

  function atBottom() {
    return list.scrollHeight - list.scrollTop - list.clientHeight < NEAR_BOTTOM_PX;
  }

  function visibleIds() {
    const timeline = store.timeline(key());
    return timeline ? timeline.ids : [];
  }

  function pendingHere() {
    const { conversation, topic } = store.view;
    return Array.from(store.pending.values()).filter(
      (p) => p.conversation === conversation && (topic === null || topicKey(p.topic) === topicKey(topic)),
    );
  }

  // The first unread: walking back from the newest message seen at opening, skip my own and
  // deleted messages until the view's unread count is used up (the server counts the same way).
  function computeFirstUnread(timeline) {
    const ids = timeline.ids;
    if (newestAtOpen === null) newestAtOpen = ids.length ? ids[ids.length - 1] : 0;
    let n = unreadCount;
    let found = null;
    for (let i = ids.length - 1; i >= 0 && n > 0; i -= 1) {
      if (ids[i] > newestAtOpen) continue;
      const msg = store.messages.get(ids[i]);
      if (!msg || msg.author === store.me.id || msg.deleted) continue;
      n -= 1;
      found = msg.id;
    }
    unreadFound = n === 0 || !timeline.hasOlder;
    firstUnread = unreadFound ? found : null;
  }

  function render() {
    const cid = store.view.conversation;
    if (!cid) return;
    const timeline = store.timeline(key());
    const token = `${key()}|${store.view.focus || ""}|${store.view.seq || ""}`;
    const opening = token !== viewToken;
    if (opening) {
      viewToken = token;
      focusDone = false;
      editing = null;
      const conv = store.conversations.get(cid);
      const topics = store.topics.get(cid);
      const topic = store.view.topic !== null && topics ? topics.get(topicKey(store.view.topic)) : null;
      unreadCount = store.view.topic === null ? (conv ? conv.unread || 0 : 0) : topic ? topic.unread || 0 : 0;
      newestAtOpen = null;
      firstUnread = null;
    }
    if (!timeline) {
      const waiting = pendingHere().map((p) => renderMessage(store, actions, { ...p, pending: true }, ctx));
      list.replaceChildren(h("p", { class: "hint" }, t("messages.loading")), ...waiting);
      return;
    }
    if (unreadCount > 0) computeFirstUnread(timeline);

    const wasAtBottom = opening || atBottom();
    const anchor = wasAtBottom ? null : topVisible();
    const active = document.activeElement && list.contains(document.activeElement) ? document.activeElement : null;

    // Each row has a key and a signature: an unchanged row keeps its element (focus, an edit in
    // progress, what a screen reader already announced); only new or changed rows are inserted.
    const rows = [];
    const row = (key, sig, make) => rows.push({ key, sig, make });
    if (timeline.hasOlder) {
      row("older", "", () => h("button", { type: "button", class: "load-older", onclick: () => older() }, t("messages.load_older")));
    } else {
      row("start", "", () => h("p", { class: "history-start" }, t("messages.start")));
    }
    let lastDay = null;
    let lastTopic = null;
    const showTopics = store.view.topic === null;
    const items = timeline.ids.map((id) => store.messages.get(id)).filter(Boolean);
    for (const p of pendingHere()) items.push({ ...p, pending: true });
    for (const msg of items) {
      const day = formatDay(new Date(msg.created_at));
      if (day !== lastDay) {
        row(`day:${day}`, "", () => h("div", { class: "day-divider", role: "separator" }, day));
        lastDay = day;
        lastTopic = null;
      }
      const conv = store.lookup(msg.conversation);
      if (showTopics && msg.topic && topicKey(msg.topic) !== lastTopic && (!conv || conv.kind !== "direct")) {
        const href = `#/c/${msg.conversation}/t/${encodeURIComponent(msg.topic)}`;
        row(`topic:${msg.pending ? msg.nonce : msg.id}`, msg.topic, () =>
          h("div", { class: "topic-divider" }, h("a", { href }, msg.topic)),
        );
        lastTopic = topicKey(msg.topic);
      }
      if (firstUnread !== null && msg.id === firstUnread) {
        row("unread", "", () =>
          h("div", { class: "unread-marker", id: "unread-marker", role: "separator" }, h("span", {}, t("messages.new"))),
        );
      }
      const key = msg.pending ? `pending:${msg.nonce}` : `msg:${msg.id}`;
      row(key, signature(msg), () => renderMessage(store, actions, msg, ctx));
    }
    if (!items.length) row("empty", "", () => h("p", { class: "hint" }, t("messages.empty")));
    reconcile(rows);

    if (active && active.id && document.getElementById(active.id)) document.getElementById(active.id).focus();
    if (store.view.focus && !focusDone) {
      const target = document.getElementById(`msg-${store.view.focus}`);
      if (target) {
        focusDone = true;
        target.scrollIntoView({ block: "center" });
        target.classList.add("highlight");
        target.focus({ preventScroll: true });
        setTimeout(() => target.classList.remove("highlight"), 2500);
      }
    } else if (wasAtBottom) {
      list.scrollTop = list.scrollHeight;
    } else if (anchor) {
      const el = document.getElementById(anchor.id);
      if (el) list.scrollTop += el.getBoundingClientRect().top - anchor.top;
    }
    afterScroll();
  }

  function signature(msg) {
    return JSON.stringify([
      msg.version,
      msg.html,
      msg.body,
      msg.edited_at,
      msg.deleted,
      msg.reactions,
      msg.topic,
      msg.state,
      editing === msg.id,
      store.users.get(msg.author)?.display_name,
    ]);
  }

  function reconcile(rows) {
    const next = new Map();
    let cursor = list.firstChild;
    for (const { key, sig, make } of rows) {
      const known = rendered.get(key);
      const el = known && known.sig === sig ? known.el : make();
      next.set(key, { el, sig });
      if (el === cursor) {
        cursor = cursor.nextSibling;
      } else {
        list.insertBefore(el, cursor);
      }
    }
    while (cursor) {
      const after = cursor.nextSibling;
      cursor.remove();
      cursor = after;
    }
    rendered = next;
  }

  function topVisible() {
    const top = list.getBoundingClientRect().top;
    for (const el of list.querySelectorAll(".msg[id]")) {
      const rect = el.getBoundingClientRect();
      if (rect.bottom > top) return { id: el.id, top: rect.top };
    }
    return null;
  }

  async function older() {
    try {
      await actions.loadOlder();
    } catch (err) {
      store.signal("error", err);
    }
  }

  function afterScroll() {
    const bottom = atBottom();
    store.atBottom = bottom;
    const timeline = store.timeline(key());
    if (timeline && bottom && document.visibilityState === "visible") {
      if (timeline.atNewest) {
        const ids = timeline.ids;
        if (ids.length) actions.markRead(store.view.conversation, ids[ids.length - 1], store.view.topic);
      } else {
        actions.loadNewer().catch(() => {});
      }
    }
    const marker = document.getElementById("unread-marker");
    if (marker) {
      const rect = marker.getBoundingClientRect();
      const box = list.getBoundingClientRect();
      jump.hidden = rect.top >= box.top && rect.top <= box.bottom;
    } else {
      jump.hidden = unreadCount === 0 || unreadFound;
    }
    if (timeline && timeline.hasOlder && list.scrollTop < NEAR_TOP_PX && !timeline.loadingOlder && list.scrollHeight > list.clientHeight) {
      older();
    }
  }

  jump.addEventListener("click", async () => {
    for (let i = 0; i < 20 && !document.getElementById("unread-marker"); i += 1) {
      const timeline = store.timeline(key());
      if (!timeline || !timeline.hasOlder || unreadFound) break;
      if (!(await actions.loadOlder())) break;
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    const marker = document.getElementById("unread-marker");
    if (marker) {
      marker.scrollIntoView({ block: "start" });
      const first = marker.nextElementSibling;
      if (first) first.focus({ preventScroll: true });
    }
    jump.hidden = true;
  });

  let scrollTimer = null;
  list.addEventListener("scroll", () => {
    clearTimeout(scrollTimer);
    scrollTimer = setTimeout(afterScroll, 80);
  });
  // An image that loads after the list was drawn makes it taller: stay at the bottom if we were.
  list.addEventListener(
    "load",
    (e) => {
      if (e.target instanceof HTMLImageElement && store.atBottom) list.scrollTop = list.scrollHeight;
    },
    true,
  );
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && store.view.conversation) afterScroll();
  });

  // Keyboard: in the list, Up/Down move between messages; "e" edits your own; Escape leaves an edit.
  list.addEventListener("keydown", (e) => {
    if (e.target.closest("textarea, input")) return;
    const current = e.target.closest(".msg");
    if (!current) return;
    const all = Array.from(list.querySelectorAll(".msg[id]"));
    const index = all.indexOf(current);
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      const next = all[index + (e.key === "ArrowDown" ? 1 : -1)];
      if (next) {
        e.preventDefault();
        next.focus();
      }
    } else if (e.key === "e" && Number(current.dataset.author) === store.me.id && current.dataset.id) {
      e.preventDefault();
      ctx.startEdit(Number(current.dataset.id));
    }
  });

  store.addEventListener("change", (e) => {
    if (["messages", "view", "users"].some((a) => e.detail.has(a))) render();
  });
  return { focusLast: () => $(".msg:last-of-type", list)?.focus() };
}
