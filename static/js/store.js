// The client state, and how events fold into it. Views read it and re-render on "change";
// nothing here talks to the network (actions.js does, then hands results to the store).
//
// Events have the shape bots receive (docs/protocol.md): {id, conversation, seq, kind, actor, data, created_at}.
import { HANDLERS } from "./fold.js";
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
    this.previews = new Map(); // id -> a public channel looked at without joining
    this.topics = new Map(); // conversation id -> Map(topic key -> topic)
    this.messages = new Map(); // message id -> message
    this.timelines = new Map(); // "cid" or "cid/topic key" -> {ids, hasOlder, atNewest, loaded}
    this.pending = new Map(); // nonce -> local echo of a post not yet acknowledged
    this.typing = new Map(); // conversation id -> Map(user id -> {topic, until})
    this.presence = new Map(); // user id -> "active" | "idle" | "offline"
    this.lastSeq = new Map(); // conversation id -> last seq folded
    this.mentioned = new Set(); // conversation ids with an unread mention seen live
    // conversation id -> count of changes made here (events, own actions). A snapshot fetched
    // from the REST API before such a change must not undo it: see upsertConversation.
    this.edits = new Map();
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

  // Note a change to a conversation's state that did not come from a snapshot.
  touch(cid) {
    this.edits.set(cid, (this.edits.get(cid) || 0) + 1);
  }

  editsOf(cid) {
    return this.edits.get(cid) || 0;
  }

  // ``since``: editsOf(cid) when the snapshot was requested. If the conversation changed here
  // meanwhile (an event, an own action), the snapshot is older than what the page shows: it is
  // not applied, and null tells the caller to fetch again once things are quiet.
  upsertConversation(raw, since = null) {
    const known = this.conversations.get(raw.id) || this.previews.get(raw.id);
    if (known && since !== null && since !== this.editsOf(raw.id)) return null;
    const fresh = raw;
    const conv = normConversation({ ...(known || {}), ...fresh });
    if (conv.joined) {
      this.conversations.set(conv.id, conv);
      this.previews.delete(conv.id);
    } else {
      this.conversations.delete(conv.id);
      this.previews.set(conv.id, conv);
    }
    if (this.directory) {
      const index = this.directory.findIndex((c) => c.id === conv.id);
      if (index >= 0) this.directory[index] = { ...this.directory[index], ...conv };
      else if (conv.kind === "public") this.directory.push(conv);
    }
    this.changed("sidebar", "header", "browser");
    return conv;
  }

  // A conversation to show: one of mine, or a public channel being previewed.
  lookup(cid) {
    if (!cid) return null;
    return (
      this.conversations.get(cid) ||
      this.previews.get(cid) ||
      (this.directory || []).find((c) => c.id === cid) ||
      null
    );
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
    if (mode !== "older" && atNewest) {
      // Messages that arrived live while the page was on its way belong after it.
      const newest = ids.length ? ids[ids.length - 1] : 0;
      for (const msg of this.messages.values()) if (msg.id > newest && belongsTo(msg, key)) ids.push(msg.id);
    }
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

function belongsTo(msg, key) {
  const [cid, topic] = key.split(/\/(.*)/s);
  if (String(msg.conversation) !== cid) return false;
  return topic === undefined || topicKey(msg.topic) === topic;
}

function mergeIds(a, b) {
  return Array.from(new Set([...a, ...b])).sort((x, y) => x - y);
}
