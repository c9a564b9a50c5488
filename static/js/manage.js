// Intents that manage conversations and topics: REST calls whose answers go to the store
// (the events that follow keep other tabs and people up to date).
import * as api from "./api.js";
import { topicKey } from "./model.js";

export class ManageActions {
  constructor(store) {
    this.store = store;
  }

  // Actions (the subclass) refreshes unread counts after a membership change.
  refreshUnread() {}

  navigate(hash) {
    if (window.location.hash !== hash) window.location.hash = hash;
  }

  async refreshConversation(cid) {
    try {
      const since = this.store.editsOf(cid);
      const conv = await api.get(`/conversations/${cid}`);
      if (this.store.upsertConversation(conv, since) === null) {
        this.refreshUnread(cid); // changed while the snapshot was on its way: fetch a newer one
        return;
      }
      if (conv.joined) this.refreshUnread(cid);
    } catch (err) {
      if (err.status === 404) {
        this.store.conversations.delete(cid);
        this.store.changed("sidebar");
      }
    }
  }

  async loadDirectory() {
    const data = await api.get("/conversations?browse=public");
    this.store.setDirectory(data.conversations || []);
  }

  async createConversation(kind, name, description) {
    const conv = await api.post("/conversations", { kind, name, description });
    this.store.upsertConversation(conv);
    return conv;
  }

  async join(cid) {
    await api.post(`/conversations/${cid}/members`, { user_id: this.store.me.id });
    await this.refreshConversation(cid);
  }

  async leave(cid) {
    await api.del(`/conversations/${cid}/members/${this.store.me.id}`);
    this.store.conversations.delete(cid);
    this.store.changed("sidebar");
    if (this.store.view.conversation === cid) this.navigate("#");
  }

  async invite(cid, userIds) {
    for (const id of userIds) await api.post(`/conversations/${cid}/members`, { user_id: id });
    await this.refreshConversation(cid);
  }

  async star(cid, starred) {
    await api.put(`/conversations/${cid}/star`, { starred });
    const conv = this.store.conversations.get(cid);
    if (conv) conv.starred = starred;
    this.store.touch(cid);
    this.store.changed("sidebar", "header");
  }

  async openDirect(userIds) {
    const conv = await api.post("/direct", { user_ids: userIds });
    this.store.upsertConversation(conv);
    return conv;
  }

  async members(cid) {
    const conv = this.store.conversations.get(cid);
    if (conv && conv.memberIds) return conv.memberIds;
    const data = await api.get(`/conversations/${cid}/members`);
    const ids = (data.members || []).map((m) => m.id);
    if (conv) conv.memberIds = ids;
    return ids;
  }

  // A page of the conversation's files, newest first (the Files dialog); `before`: a message id.
  async conversationFiles(cid, before) {
    return api.get(`/conversations/${cid}/files${api.query({ before })}`);
  }

  // --- topics (REST) ------------------------------------------------------------------------

  async updateTopic(cid, changes) {
    return api.patch(`/conversations/${cid}/topics`, changes);
  }

  async setVisibility(cid, topic, mode) {
    await api.put(`/conversations/${cid}/topics/${encodeURIComponent(topic)}/visibility`, { mode });
    const topics = this.store.topics.get(cid);
    const entry = topics && topics.get(topicKey(topic));
    if (entry) entry.visibility = mode === "default" ? null : mode;
    this.store.changed("topics");
  }
}
