// Intents: what views ask for. Each one talks to the server (websocket when connected, REST
// otherwise or for reads) and hands the answers to the store. Views never see the socket.
import * as api from "./api.js";
import { ManageActions } from "./manage.js";
import { normMessage, topicKey } from "./model.js";

const PAGE = 50;
const TYPING_EVERY_MS = 3000;
const RETRYABLE = new Set(["offline", "disconnected", "timeout", "network_error"]);

export class Actions extends ManageActions {
  constructor(store, socket) {
    super(store);
    this.socket = socket;
    this.lastTyping = 0;
    this.refreshing = new Map(); // conversation id -> timer (debounced unread refresh)
    this.unannounced = new Map(); // conversation id -> messages that came before its snapshot
    this.viewSeq = 0;
  }

  // --- start-up and snapshots ---------------------------------------------------------------

  async loadSnapshot() {
    const [users, conversations] = await Promise.all([api.get("/users"), api.get("/conversations")]);
    this.store.setUsers(users.users || []);
    this.store.setConversations(conversations.conversations || []);
    const view = this.store.view;
    if (view.conversation) await this.reloadConversation(view.conversation);
  }

  // Unread counts come from the server (read markers are positions there); debounced.
  refreshUnread(cid) {
    clearTimeout(this.refreshing.get(cid));
    this.refreshing.set(
      cid,
      setTimeout(async () => {
        this.refreshing.delete(cid);
        try {
          const since = this.store.editsOf(cid);
          const list = await api.get("/conversations");
          const fresh = (list.conversations || []).find((c) => c.id === cid);
          if (fresh && this.store.upsertConversation(fresh, since) === null) {
            this.refreshUnread(cid); // changed while the snapshot was on its way: fetch a newer one
            return;
          }
          const conv = this.store.conversations.get(cid);
          if (conv && conv.kind !== "direct" && this.store.topics.has(cid)) await this.loadTopics(cid);
          if (conv && !conv.unread) this.store.mentioned.delete(cid);
          this.store.changed("sidebar");
          if (conv) this.announcePending(conv);
        } catch {
          /* the next event or reconnect refreshes again */
        }
      }, 250),
    );
  }

  // A message that arrived before its conversation's snapshot: announced once the conversation is known.
  announceLater(msg) {
    const waiting = this.unannounced.get(msg.conversation) || [];
    waiting.push(msg);
    this.unannounced.set(msg.conversation, waiting);
  }

  announcePending(conv) {
    const waiting = this.unannounced.get(conv.id) || [];
    this.unannounced.delete(conv.id);
    for (const msg of waiting) {
      const topic = this.store.topics.get(conv.id)?.get(topicKey(msg.topic));
      const mentioned = this.store.isMentioned(msg);
      if (mentioned) this.store.mentioned.add(conv.id);
      this.onIncoming({ type: "incoming", message: msg, conversation: conv, mentioned, muted: topic?.visibility === "muted" });
    }
  }

  async loadTopics(cid) {
    const data = await api.get(`/conversations/${cid}/topics`);
    this.store.setTopics(cid, data.topics || []);
  }

  async reloadConversation(cid) {
    const view = this.store.view;
    const conv = this.store.conversations.get(cid);
    const jobs = [this.loadTimeline(cid, view.conversation === cid ? view.topic : null, null)];
    if (!conv || conv.kind !== "direct") jobs.push(this.loadTopics(cid).catch(() => {}));
    await Promise.all(jobs);
  }

  // After a reconnection: what failed to load while the server was away is loaded now.
  async onReconnect() {
    const { conversation: cid, topic } = this.store.view;
    if (!cid) return;
    const conv = this.store.conversations.get(cid);
    const jobs = [];
    if (!this.store.timeline(this.timelineKey(cid, topic))) jobs.push(this.loadTimeline(cid, topic, this.store.view.focus));
    if ((!conv || conv.kind !== "direct") && !this.store.topics.has(cid)) jobs.push(this.loadTopics(cid));
    await Promise.all(jobs);
  }

  // Follow-ups the store asks for after folding an event.
  async follow(items) {
    for (const item of items) {
      switch (item.type) {
        case "gap":
          await this.reloadConversation(item.conversation).catch(() => {});
          break;
        case "conversation":
          await this.refreshConversation(item.conversation);
          break;
        case "unread":
          if (item.incoming) this.announceLater(item.incoming);
          this.refreshUnread(item.conversation);
          break;
        case "topics":
          if (this.store.topics.has(item.conversation)) await this.loadTopics(item.conversation).catch(() => {});
          break;
        case "directory":
          if (this.store.directory) await this.loadDirectory().catch(() => {});
          break;
        case "follow-topic":
          this.navigate(
            item.topic === null ? `#/c/${item.conversation}` : `#/c/${item.conversation}/t/${encodeURIComponent(item.topic)}`,
          );
          break;
        case "left-view":
          this.navigate("#");
          break;
        case "incoming":
          this.onIncoming(item);
          break;
        default:
          break;
      }
    }
  }

  onIncoming(item) {
    const view = this.store.view;
    const msg = item.message;
    const inView =
      view.conversation === msg.conversation && (view.topic === null || topicKey(view.topic) === topicKey(msg.topic));
    if (inView && document.visibilityState === "visible" && this.store.atBottom) {
      this.markRead(msg.conversation, msg.id, view.topic);
    }
    this.store.signal("incoming", { ...item, inView });
  }

  // --- reading ------------------------------------------------------------------------------

  async openConversation(cid, topic, focus) {
    const seq = ++this.viewSeq;
    this.store.setView({ conversation: cid, topic, focus });
    if (!this.store.conversations.has(cid)) await this.refreshConversation(cid);
    const conv = this.store.conversations.get(cid);
    const jobs = [this.loadTimeline(cid, topic, focus)];
    if ((!conv || conv.kind !== "direct") && !this.store.topics.has(cid)) jobs.push(this.loadTopics(cid).catch(() => {}));
    try {
      await Promise.all(jobs);
    } catch (err) {
      if (seq === this.viewSeq) this.store.signal("error", err);
    }
    if (focus && seq === this.viewSeq && topic === null) {
      const msg = this.store.messages.get(focus);
      if (msg && msg.topic && (!conv || conv.kind !== "direct")) {
        this.navigate(`#/c/${cid}/t/${encodeURIComponent(msg.topic)}/m/${focus}`);
      }
    }
  }

  timelineKey(cid, topic) {
    return topic === null || topic === undefined ? String(cid) : `${cid}/${topicKey(topic)}`;
  }

  async loadTimeline(cid, topic, focus) {
    const key = this.timelineKey(cid, topic);
    const base = `/conversations/${cid}/messages`;
    if (focus) {
      const [before, after] = await Promise.all([
        api.get(base + api.query({ topic, before: focus + 1, limit: PAGE })),
        api.get(base + api.query({ topic, after: focus, limit: PAGE })),
      ]);
      const older = messagesOf(before);
      const newer = messagesOf(after);
      this.store.setPage(key, [...older, ...newer], {
        mode: "replace",
        hasOlder: hasMore(before, older, "has_more_before"),
        atNewest: !hasMore(after, newer, "has_more_after"),
      });
      return;
    }
    const page = await api.get(base + api.query({ topic, limit: PAGE }));
    const list = messagesOf(page);
    this.store.setPage(key, list, { mode: "replace", hasOlder: hasMore(page, list, "has_more_before"), atNewest: true });
  }

  // Load the page before the oldest message shown; a second call while one loads waits for it.
  async loadOlder() {
    const { conversation: cid, topic } = this.store.view;
    if (!cid) return false;
    const key = this.timelineKey(cid, topic);
    const timeline = this.store.timeline(key);
    if (!timeline || !timeline.hasOlder) return false;
    if (timeline.loadingOlder) return timeline.loadingOlder;
    const oldest = timeline.ids[0];
    timeline.loadingOlder = api
      .get(`/conversations/${cid}/messages` + api.query({ topic, before: oldest, limit: PAGE }))
      .then((page) => {
        const list = messagesOf(page);
        this.store.setPage(key, list, { mode: "older", hasOlder: hasMore(page, list, "has_more_before") });
        return true;
      })
      .finally(() => {
        const current = this.store.timeline(key);
        if (current) current.loadingOlder = null;
      });
    return timeline.loadingOlder;
  }

  async loadNewer() {
    const { conversation: cid, topic } = this.store.view;
    const key = this.timelineKey(cid, topic);
    const timeline = this.store.timeline(key);
    if (!timeline || timeline.atNewest) return;
    await this.loadTimeline(cid, topic, null);
  }

  markRead(cid, upTo, topic = null) {
    if (!cid || !upTo) return;
    const conv = this.store.conversations.get(cid);
    if (!conv) return;
    conv.readUpTo = conv.readUpTo || {};
    const key = topic === null ? "" : topicKey(topic);
    if ((conv.readUpTo[""] || 0) >= upTo || (conv.readUpTo[key] || 0) >= upTo) return;
    conv.readUpTo[key] = upTo;
    const frame = { conversation: cid, up_to_message_id: upTo };
    if (topic !== null) frame.topic = topic;
    const { conversation, ...body } = frame;
    this.send("read", frame, () => api.post(`/conversations/${conversation}/read`, body))
      .then(() => this.refreshUnread(cid))
      .catch(() => {
        conv.readUpTo[key] = 0;
      });
  }

  async history(messageId) {
    return api.get(`/messages/${messageId}/history`);
  }

  async search(query, before) {
    this.store.setSearch({ query, loading: true, error: null, ...(before ? {} : { hits: [] }) });
    try {
      const data = await api.get("/search" + api.query({ q: query, before, limit: 50 }));
      const hits = before ? [...this.store.searchState.hits, ...data.hits] : data.hits;
      this.store.setSearch({ hits, loading: false, hasMore: data.has_more, nextBefore: data.next_before });
    } catch (err) {
      this.store.setSearch({ loading: false, error: err });
    }
  }

  // --- writing through the socket (REST when it is down) ------------------------------------

  // Send over the socket; when offline, the same change through REST.
  async send(type, frame, rest) {
    try {
      return await this.socket.request(type, frame);
    } catch (err) {
      if (RETRYABLE.has(err.code) && rest) return rest();
      throw err;
    }
  }

  // uploads: the draft's finished uploads (their JSON), sent as ids and shown on the echo.
  post(cid, topic, body, uploads = []) {
    const nonce = crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random()}`;
    const echo = {
      nonce,
      conversation: cid,
      topic: topic || "",
      body,
      attachments: uploads,
      author: this.store.me.id,
      created_at: new Date().toISOString(),
      state: "pending",
      attempts: 0,
    };
    this.store.addPending(echo);
    this.deliver(echo);
  }

  // Deliver a post until the server has it: the nonce makes every retry safe (one message).
  async deliver(echo) {
    const frame = { conversation: echo.conversation, body: echo.body, nonce: echo.nonce };
    if (echo.topic) frame.topic = echo.topic;
    if (echo.attachments.length) frame.attachments = echo.attachments.map((upload) => upload.id);
    echo.attempts += 1;
    this.store.updatePending(echo.nonce, { state: "pending", error: null });
    try {
      const { conversation, ...body } = frame;
      const answer = await this.send("post", frame, () => api.post(`/conversations/${conversation}/messages`, body));
      const message = answer.message || answer;
      echo.id = message.id;
      this.store.putMessage(message);
      this.store.dropPending(echo.nonce);
      this.markRead(echo.conversation, message.id);
    } catch (err) {
      if (RETRYABLE.has(err.code) || err.status === 0 || err.status >= 500) {
        this.store.updatePending(echo.nonce, { state: "waiting" });
        this.socket.addEventListener("hello", () => this.deliver(echo), { once: true });
        return;
      }
      this.store.updatePending(echo.nonce, { state: "failed", error: err });
    }
  }

  retryPost(nonce) {
    const echo = this.store.pending.get(nonce);
    if (echo) this.deliver(echo);
  }

  discardPost(nonce) {
    this.store.dropPending(nonce);
  }

  async edit(messageId, body) {
    const answer = await this.send("edit", { message: messageId, body }, () => api.patch(`/messages/${messageId}`, { body }));
    if (answer && (answer.message || answer.id)) this.store.putMessage(answer.message || answer);
  }

  async remove(messageId) {
    await this.send("delete", { message: messageId }, () => api.del(`/messages/${messageId}`, {}));
  }

  // A report to the moderators (REST: it is not a websocket frame).
  async report(messageId, reason) {
    return api.post(`/messages/${messageId}/reports`, { reason });
  }

  async react(messageId, emoji, on) {
    const path = `/messages/${messageId}/reactions/${encodeURIComponent(emoji)}`;
    await this.send(on ? "react" : "unreact", { message: messageId, emoji }, () => (on ? api.put(path) : api.del(path)));
  }

  typing(cid, topic) {
    const now = Date.now();
    if (now - this.lastTyping < TYPING_EVERY_MS) return;
    this.lastTyping = now;
    const frame = { conversation: cid };
    if (topic) frame.topic = topic;
    this.socket.notify("typing", frame);
  }
}

function messagesOf(page) {
  return (page && (page.messages || page.items)) || [];
}

function hasMore(page, list, field) {
  if (page && typeof page[field] === "boolean") return page[field];
  if (page && typeof page.has_more === "boolean") return page.has_more;
  return list.length >= PAGE;
}

export { normMessage };
