// The client state, and how events fold into it. Views read it and re-render on "change";
// nothing here talks to the network (actions.js does, then hands results to the store).
//
// Events have the shape bots receive (docs/protocol.md): {id, conversation, seq, kind, actor, data, created_at}.
import { normConversation, normMessage, normTopic, topicKey } from "./model.js";

const TYPING_MS = 6000;
const PRESENCE = { online: "active", active: "active", idle: "idle", away: "idle", offline: "offline" };

export class Store extends EventTarget {
  constructor(me) {
    super();
    this.me = me;
    this.users = new Map(); // id -> user
    this.conversations = new Map(); // id -> conversation (members only: the sidebar)
    this.directory = null; // public channels for the browser: array, or null until loaded
    this.topics = new Map(); // conversation id -> Map(topic key -> topic)
    this.messages = new Map(); // message id -> message
    this.timelines = new Map(); // "cid" or "cid/topic key" -> {ids, hasOlder, atNewest, loaded}
    this.pending = new Map(); // nonce -> local echo of a post not yet acknowledged
    this.typing = new Map(); // conversation id -> Map(user id -> {topic, until})
    this.presence = new Map(); // user id -> "active" | "idle" | "offline"
    this.lastSeq = new Map(); // conversation id -> last seq folded
    this.mentioned = new Set(); // conversation ids with an unread mention seen live
    this.connection = { state: "connecting", retryInMs: 0 };
    this.view = { conversation: null, topic: null, focus: null, search: null };
    this.searchState = { query: "", hits: [], loading: false, error: null, hasMore: false, nextBefore: null };
    this.areas = new Set();
    this.scheduled = false;
  }

  // Batch change notifications: views re-render once per task, for the areas that changed.
  changed(...areas) {
    for (const area of areas) this.areas.add(area);
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      const areas = this.areas;
      this.areas = new Set();
      this.dispatchEvent(new CustomEvent("change", { detail: areas }));
    });
  }

  signal(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  // --- snapshots from the REST API ----------------------------------------------------------

  setUsers(list) {
    for (const user of list) this.users.set(user.id, user);
    this.changed("users", "sidebar", "messages");
  }

  setConversations(list) {
    this.conversations = new Map(list.map((c) => [c.id, normConversation(c)]));
    this.changed("sidebar", "header");
  }

  upsertConversation(raw) {
    const conv = normConversation({ ...(this.conversations.get(raw.id) || {}), ...raw });
    if (conv.joined) this.conversations.set(conv.id, conv);
    else this.conversations.delete(conv.id);
    if (this.directory) {
      const index = this.directory.findIndex((c) => c.id === conv.id);
      if (index >= 0) this.directory[index] = { ...this.directory[index], ...conv };
      else if (conv.kind === "public") this.directory.push(conv);
    }
    this.changed("sidebar", "header", "browser");
    return conv;
  }

  setDirectory(list) {
    this.directory = list.map(normConversation);
    this.changed("browser");
  }

  setUnread(cid, counts) {
    const conv = this.conversations.get(cid);
    if (conv) {
      conv.unread = counts.unread ?? conv.unread;
      if (!conv.unread) this.mentioned.delete(cid);
    }
    const topics = this.topics.get(cid);
    if (topics && Array.isArray(counts.topics)) {
      for (const t of topics.values()) t.unread = 0;
      for (const entry of counts.topics) {
        const topic = topics.get(topicKey(entry.topic));
        if (topic) topic.unread = entry.count;
      }
    }
    this.changed("sidebar", "topics");
  }

  setTopics(cid, list) {
    const map = new Map();
    for (const raw of list) {
      const topic = normTopic(raw);
      map.set(topic.key, topic);
    }
    this.topics.set(cid, map);
    this.changed("topics", "compose");
  }

  // A page of history: "replace" (newest page, or a window around a message), "older" (prepend).
  setPage(key, rawMessages, { mode, hasOlder, atNewest }) {
    const page = rawMessages.map(normMessage);
    for (const msg of page) this.messages.set(msg.id, { ...(this.messages.get(msg.id) || {}), ...msg });
    const ids = page.map((m) => m.id);
    const existing = this.timelines.get(key);
    let timeline;
    if (mode === "older" && existing) {
      timeline = { ...existing, ids: mergeIds(ids, existing.ids), hasOlder };
    } else {
      timeline = { ids: mergeIds(ids, []), hasOlder, atNewest, loaded: true };
    }
    this.timelines.set(key, timeline);
    this.changed("messages");
  }

  timeline(key) {
    return this.timelines.get(key) || null;
  }

  // --- local echo of posts ------------------------------------------------------------------

  addPending(echo) {
    this.pending.set(echo.nonce, echo);
    this.changed("messages");
  }

  updatePending(nonce, changes) {
    const echo = this.pending.get(nonce);
    if (!echo) return;
    Object.assign(echo, changes);
    this.changed("messages");
  }

  dropPending(nonce) {
    if (this.pending.delete(nonce)) this.changed("messages");
  }

  // A message we know for sure (an ack, or a REST answer).
  putMessage(raw) {
    const msg = normMessage(raw);
    const known = this.messages.has(msg.id);
    this.messages.set(msg.id, { ...(this.messages.get(msg.id) || {}), ...msg });
    if (!known) this.place(msg);
    this.changed("messages", "topics");
    return msg;
  }

  // Put a new message at the end of the timelines that show the newest messages.
  place(msg) {
    for (const key of [String(msg.conversation), `${msg.conversation}/${topicKey(msg.topic)}`]) {
      const timeline = this.timelines.get(key);
      if (timeline && timeline.atNewest && !timeline.ids.includes(msg.id)) {
        timeline.ids = mergeIds([msg.id], timeline.ids);
      }
    }
  }

  unplace(msgId, cid, topic) {
    for (const key of [String(cid), `${cid}/${topicKey(topic)}`]) {
      const timeline = this.timelines.get(key);
      if (timeline) timeline.ids = timeline.ids.filter((id) => id !== msgId);
    }
  }

  // --- view ---------------------------------------------------------------------------------

  setView(view) {
    this.view = { conversation: null, topic: null, focus: null, search: null, ...view };
    this.changed("view", "sidebar", "header", "topics", "messages", "compose", "typing");
  }

  setConnection(state, retryInMs = 0) {
    this.connection = { state, retryInMs };
    this.changed("connection");
  }

  setSearch(changes) {
    this.searchState = { ...this.searchState, ...changes };
    this.changed("search");
  }

  // --- ephemeral frames ---------------------------------------------------------------------

  applyTyping(frame) {
    const user = frame.user && typeof frame.user === "object" ? frame.user.id : frame.user;
    if (!frame.conversation || !user || user === this.me.id) return;
    const map = this.typing.get(frame.conversation) || new Map();
    if (frame.stop || frame.state === "stop") map.delete(user);
    else map.set(user, { topic: frame.topic ?? null, until: Date.now() + TYPING_MS });
    this.typing.set(frame.conversation, map);
    this.changed("typing");
    setTimeout(() => this.changed("typing"), TYPING_MS + 50);
  }

  typingIn(cid, topic) {
    const map = this.typing.get(cid);
    if (!map) return [];
    const now = Date.now();
    const who = [];
    for (const [user, entry] of map) {
      if (entry.until < now) map.delete(user);
      else if (topic === null || entry.topic === null || topicKey(entry.topic) === topicKey(topic)) who.push(user);
    }
    return who;
  }

  applyPresence(frame) {
    const list = Array.isArray(frame.users) ? frame.users : [frame];
    for (const entry of list) {
      const user = entry.user && typeof entry.user === "object" ? entry.user.id : entry.user ?? entry.user_id;
      const state = entry.status || entry.state || entry.presence;
      if (user && state) this.presence.set(user, PRESENCE[state] || "offline");
    }
    this.changed("presence", "sidebar");
  }

  // --- events -------------------------------------------------------------------------------

  // Fold one event. Returns a list of follow-ups for actions.js (data to refetch).
  applyEvent(ev) {
    const follow = [];
    const cid = ev.conversation;
    if (cid !== null && cid !== undefined) this.checkSeq(ev, follow);
    const handler = HANDLERS[ev.kind];
    if (handler) handler(this, ev, follow);
    return follow;
  }

  checkSeq(ev, follow) {
    const cid = ev.conversation;
    if (!this.conversations.has(cid)) return;
    const last = this.lastSeq.get(cid);
    if (last !== undefined && ev.seq > last + 1) follow.push({ type: "gap", conversation: cid });
    if (last === undefined || ev.seq > last) this.lastSeq.set(cid, ev.seq);
  }

  isMentioned(msg) {
    return (
      (Array.isArray(msg.mentions) && msg.mentions.includes(this.me.id)) ||
      msg.wildcard_mention === "all" ||
      msg.wildcard_mention === "topic"
    );
  }
}

function mergeIds(a, b) {
  return Array.from(new Set([...a, ...b])).sort((x, y) => x - y);
}

function userId(value) {
  return value && typeof value === "object" ? value.id : value;
}

function onPosted(store, ev, follow) {
  const raw = { ...(ev.data.message || {}), body: ev.data.body, html: ev.data.html, meetings: ev.data.meetings };
  if (raw.event_id === undefined) raw.event_id = ev.id;
  if (raw.seq === undefined) raw.seq = ev.seq;
  if (raw.id === undefined) return;
  const known = store.messages.has(raw.id);
  const msg = store.putMessage(raw);
  // The ack may come after the event: drop the echo of the same post now.
  for (const [nonce, echo] of store.pending) {
    if (echo.id === msg.id || (msg.author === store.me.id && echo.conversation === msg.conversation && echo.body === msg.body)) {
      store.pending.delete(nonce);
      break;
    }
  }
  const conv = store.conversations.get(msg.conversation);
  const topics = store.topics.get(msg.conversation);
  const key = topicKey(msg.topic);
  if (topics && conv && conv.kind !== "direct") {
    const topic = topics.get(key) || normTopic({ name: msg.topic, message_count: 0, unread: 0 });
    topic.name = msg.topic;
    topic.last_message_id = Math.max(topic.last_message_id || 0, msg.id);
    topic.last_at = msg.created_at;
    if (!known) topic.message_count = (topic.message_count || 0) + 1;
    topics.set(key, topic);
  }
  if (known || msg.author === store.me.id || !conv) {
    store.changed("topics", "sidebar");
    return;
  }
  const muted = topics && topics.get(key) && topics.get(key).visibility === "muted";
  if (!muted) conv.unread = (conv.unread || 0) + 1;
  if (topics && topics.get(key)) topics.get(key).unread = (topics.get(key).unread || 0) + 1;
  const mentioned = store.isMentioned(msg);
  if (mentioned) store.mentioned.add(conv.id);
  store.changed("topics", "sidebar");
  follow.push({ type: "incoming", message: msg, conversation: conv, mentioned, muted });
}

function onEdited(store, ev) {
  const msg = store.messages.get(ev.data.message_id);
  if (!msg) return;
  Object.assign(msg, {
    body: ev.data.body ?? msg.body,
    html: ev.data.html ?? msg.html,
    meetings: ev.data.meetings ?? msg.meetings,
    edited_at: ev.data.edited_at ?? ev.created_at,
    mentions: ev.data.mentions ?? msg.mentions,
    wildcard_mention: ev.data.wildcard_mention ?? msg.wildcard_mention,
    version: (msg.version || 0) + 1,
  });
  store.changed("messages");
}

function onDeleted(store, ev, follow) {
  const msg = store.messages.get(ev.data.message_id);
  if (!msg) return;
  Object.assign(msg, { deleted: ev.data.deleted || { by: ev.actor }, body: "", html: "", reactions: [], meetings: [] });
  msg.version = (msg.version || 0) + 1;
  store.changed("messages");
  follow.push({ type: "unread", conversation: msg.conversation });
}

function onReaction(store, ev) {
  const msg = store.messages.get(ev.data.message_id);
  if (!msg) return;
  const user = userId(ev.data.user ?? ev.actor);
  const reactions = (msg.reactions || []).map((r) => ({ ...r, users: [...r.users] }));
  let entry = reactions.find((r) => r.emoji === ev.data.emoji);
  if (ev.kind === "reaction.added") {
    if (!entry) {
      entry = { emoji: ev.data.emoji, count: 0, users: [] };
      reactions.push(entry);
    }
    if (!entry.users.includes(user)) entry.users.push(user);
  } else if (entry) {
    entry.users = entry.users.filter((u) => u !== user);
  }
  for (const r of reactions) r.count = r.users.length;
  msg.reactions = reactions.filter((r) => r.count > 0);
  msg.version = (msg.version || 0) + 1;
  store.changed("messages");
}

function onTopicChanged(store, ev, follow) {
  const { from, to, message_ids: ids = [] } = ev.data;
  if (!from || !to) return;
  // Both chains of a move carry the same event data: fold it once.
  for (const id of ids) {
    const msg = store.messages.get(id);
    if (!msg || (msg.conversation === to.conversation && msg.topic === to.topic)) continue;
    store.unplace(id, msg.conversation, msg.topic);
    msg.conversation = to.conversation;
    msg.topic = to.topic;
    msg.version = (msg.version || 0) + 1;
    store.place(msg);
  }
  const view = store.view;
  if (
    ev.data.scope === "all" &&
    view.conversation === from.conversation &&
    view.topic !== null &&
    topicKey(view.topic) === topicKey(from.topic)
  ) {
    follow.push({ type: "follow-topic", conversation: to.conversation, topic: to.topic });
  }
  follow.push({ type: "topics", conversation: from.conversation });
  if (to.conversation !== from.conversation) follow.push({ type: "topics", conversation: to.conversation });
  store.changed("messages", "topics");
}

function onVisibility(store, ev) {
  const topics = store.topics.get(ev.data.conversation);
  const topic = topics && topics.get(topicKey(ev.data.topic));
  if (topic) topic.visibility = ev.data.mode === "default" ? null : ev.data.mode;
  store.changed("topics", "sidebar");
}

function onMember(store, ev, follow) {
  const user = userId(ev.data.user ?? ev.data.user_id);
  const cid = ev.conversation;
  const joined = ev.kind === "member.joined" || ev.kind === "member.invited";
  if (user === store.me.id) {
    if (joined) {
      follow.push({ type: "conversation", conversation: cid });
    } else {
      store.conversations.delete(cid);
      store.lastSeq.delete(cid);
      if (store.directory) {
        const entry = store.directory.find((c) => c.id === cid);
        if (entry) entry.joined = false;
      }
      if (store.view.conversation === cid) follow.push({ type: "left-view", conversation: cid });
      store.changed("sidebar", "browser", "header");
    }
    return;
  }
  const conv = store.conversations.get(cid);
  if (conv) {
    if (typeof ev.data.member_count === "number") conv.member_count = ev.data.member_count;
    else conv.member_count = Math.max(0, (conv.member_count || 0) + (joined ? 1 : -1));
    conv.memberIds = null; // refetched when needed (mention autocomplete)
    store.changed("header");
  }
}

function onConversationCreated(store, ev, follow) {
  const summary = ev.data.conversation || ev.data;
  const id = summary.id ?? ev.conversation;
  if (summary.kind === "public" && store.directory && !store.directory.some((c) => c.id === id)) {
    follow.push({ type: "directory" });
  }
  if (ev.actor === store.me.id || (Array.isArray(ev.data.members) && ev.data.members.includes(store.me.id))) {
    follow.push({ type: "conversation", conversation: id });
  } else if (summary.kind === "direct" || summary.kind === "private") {
    follow.push({ type: "conversation", conversation: id });
  }
}

function onConversationUpdated(store, ev) {
  const conv = store.conversations.get(ev.conversation);
  const changes = ev.data.changes || {};
  for (const target of [conv, store.directory && store.directory.find((c) => c.id === ev.conversation)]) {
    if (!target) continue;
    for (const [field, change] of Object.entries(changes)) target[field] = change && "new" in change ? change.new : change;
  }
  store.changed("sidebar", "header", "browser", "compose");
}

function onStar(store, ev) {
  const conv = store.conversations.get(ev.data.conversation);
  if (conv) conv.starred = Boolean(ev.data.starred);
  store.changed("sidebar", "header");
}

function onRead(store, ev, follow) {
  follow.push({ type: "unread", conversation: ev.data.conversation });
}

function onUser(store, ev) {
  const raw = ev.data.user || {};
  const id = raw.id ?? ev.data.user_id;
  if (id === undefined) return;
  const user = { ...(store.users.get(id) || { id }), ...raw };
  if (ev.data.display_name !== undefined) user.display_name = ev.data.display_name;
  if (ev.data.role !== undefined) user.role = ev.data.role;
  if (ev.kind === "user.deactivated") user.active = false;
  if (ev.kind === "user.reactivated") user.active = true;
  store.users.set(id, user);
  if (id === store.me.id && user.display_name) store.me.display_name = user.display_name;
  store.changed("users", "sidebar", "messages");
}

const HANDLERS = {
  "message.posted": onPosted,
  "message.edited": onEdited,
  "message.deleted": onDeleted,
  "reaction.added": onReaction,
  "reaction.removed": onReaction,
  "topic.renamed": onTopicChanged,
  "topic.resolved": onTopicChanged,
  "topic.unresolved": onTopicChanged,
  "topic.moved": onTopicChanged,
  "topic.visibility_changed": onVisibility,
  "member.joined": onMember,
  "member.invited": onMember,
  "member.left": onMember,
  "member.removed": onMember,
  "conversation.created": onConversationCreated,
  "conversation.updated": onConversationUpdated,
  "star.changed": onStar,
  "read.updated": onRead,
  "user.created": onUser,
  "user.updated": onUser,
  "user.role_changed": onUser,
  "user.deactivated": onUser,
  "user.reactivated": onUser,
};
