// How each event kind folds into the store (the same event shapes bots receive). Each handler
// changes the store and may push follow-ups for actions.js (data to refetch, a view to follow).
import { normTopic, topicKey } from "./model.js";

function userId(value) {
  return value && typeof value === "object" ? value.id : value;
}

function onPosted(store, ev, follow) {
  const raw = { ...(ev.data.message || {}), body: ev.data.body, html: ev.data.html, meetings: ev.data.meetings };
  if (raw.event_id === undefined) raw.event_id = ev.id;
  if (raw.seq === undefined) raw.seq = ev.seq;
  if (ev.data.redacted && !raw.redacted_at) raw.redacted_at = ev.created_at; // its text was erased since
  if (raw.id === undefined) return;
  const known = store.messages.has(raw.id);
  const msg = store.putMessage(raw);
  // The ack may come after the event: drop the echo of the same post now.
  for (const [nonce, echo] of store.pending) {
    if (echo.id === msg.id || (msg.author === store.me.id && echo.conversation === msg.conversation && echo.body === msg.body && sameFiles(echo, msg))) {
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
  if (!conv && !known) {
    // a message in a conversation this page does not know yet (a new direct message whose
    // snapshot is still on its way): fetch it, with its unread count, after this message; the
    // message is announced (notification) once the conversation is known
    const incoming = msg.author === store.me.id ? undefined : msg;
    follow.push({ type: "unread", conversation: msg.conversation, incoming });
  }
  if (known || msg.author === store.me.id || !conv) {
    store.changed("topics", "sidebar");
    return;
  }
  const muted = topics && topics.get(key) && topics.get(key).visibility === "muted";
  if (!muted) conv.unread = (conv.unread || 0) + 1;
  store.touch(conv.id);
  if (topics && topics.get(key)) topics.get(key).unread = (topics.get(key).unread || 0) + 1;
  const mentioned = store.isMentioned(msg);
  if (mentioned) store.mentioned.add(conv.id);
  store.changed("topics", "sidebar");
  follow.push({ type: "incoming", message: msg, conversation: conv, mentioned, muted });
}

// An echo and a message carry the same uploads (two posts of files alone have the same empty body).
function sameFiles(echo, msg) {
  const ids = (list) => (list || []).map((file) => file.id).join(",");
  return ids(echo.attachments) === ids(msg.attachments);
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
  Object.assign(msg, { deleted: ev.data.deleted || { by: ev.actor }, body: "", html: "", reactions: [], meetings: [], attachments: [] });
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
  const view = store.view;
  const inView = (cid, topic) =>
    cid !== null && view.topic !== null && view.conversation === cid && topicKey(view.topic) === topicKey(topic);
  // A move names the other conversation only when it is public: null is a private group this
  // chain's readers may not know. Messages moved there leave my timelines, unless I moved them
  // (then I am in that group and its own chain's event, which names it, moves them for me).
  const hidden = to.conversation === null;
  if (hidden && ev.actor === store.me.id) {
    if (from.conversation !== null) follow.push({ type: "topics", conversation: from.conversation });
    return;
  }
  let viewed = ev.data.scope === "all" && inView(from.conversation, from.topic);
  // Both chains of a move carry the same event data: fold it once.
  for (const id of ids) {
    const msg = store.messages.get(id);
    if (!msg || (msg.conversation === to.conversation && msg.topic === to.topic)) continue;
    viewed = viewed || (ev.data.scope === "all" && inView(msg.conversation, msg.topic));
    store.unplace(id, msg.conversation, msg.topic);
    if (hidden) {
      store.messages.delete(id);
      continue;
    }
    msg.conversation = to.conversation;
    msg.topic = to.topic;
    msg.version = (msg.version || 0) + 1;
    store.place(msg);
  }
  if (viewed) {
    if (!hidden && store.conversations.has(to.conversation)) {
      follow.push({ type: "follow-topic", conversation: to.conversation, topic: to.topic });
    } else {
      follow.push({ type: "follow-topic", conversation: view.conversation, topic: null }); // moved out of my sight
    }
  }
  for (const cid of new Set([from.conversation, to.conversation])) {
    if (cid !== null) follow.push({ type: "topics", conversation: cid });
  }
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
  store.touch(ev.conversation);
  store.changed("sidebar", "header", "browser", "compose");
}

function onStar(store, ev) {
  const conv = store.conversations.get(ev.data.conversation);
  if (conv) conv.starred = Boolean(ev.data.starred);
  store.touch(ev.data.conversation);
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

// The server erased the text of some of this conversation's messages (retention.purged: the expired
// ones; messages.redacted: an erased person's): the event says how many, not which ones (a hold may
// keep some), so the conversation is reloaded.
function onPurged(store, ev, follow) {
  follow.push({ type: "gap", conversation: ev.conversation });
}

export const HANDLERS = {
  "message.posted": onPosted,
  "message.edited": onEdited,
  "message.deleted": onDeleted,
  "retention.purged": onPurged,
  "messages.redacted": onPurged,
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
