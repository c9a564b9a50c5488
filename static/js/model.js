// The shapes the UI works with, made from what the API and events send (one place to adapt).

export const RESOLVED_PREFIX = "✔ ";

// Topics match without regard to case or runs of whitespace (as on the server).
export function topicKey(name) {
  return String(name ?? "").trim().replace(/\s+/g, " ").toLowerCase();
}

export function isResolved(name) {
  return String(name ?? "").startsWith(RESOLVED_PREFIX);
}

export function unresolvedName(name) {
  return isResolved(name) ? name.slice(RESOLVED_PREFIX.length) : name;
}

export function normConversation(raw) {
  return {
    ...raw,
    kind: raw.kind,
    name: raw.name ?? null,
    description: raw.description ?? "",
    joined: raw.joined ?? true,
    starred: Boolean(raw.starred),
    archived: Boolean(raw.archived),
    unread: raw.unread ?? raw.unread_count ?? 0,
    mentions: raw.unread_mentions ?? raw.mentions ?? 0,
    others: raw.others ?? null,
  };
}

export function normTopic(raw) {
  const name = raw.name ?? raw.topic ?? "";
  const last = raw.last_message && typeof raw.last_message === "object" ? raw.last_message : null;
  return {
    ...raw,
    name,
    key: topicKey(name),
    unread: raw.unread ?? raw.unread_count ?? 0,
    message_count: raw.message_count ?? raw.count ?? 0,
    last_message_id: raw.last_message_id ?? (last ? last.id : null),
    last_at: raw.last_at ?? raw.last_message_at ?? (last ? last.created_at : null),
    resolved: raw.resolved ?? isResolved(name),
    visibility: normVisibility(raw.visibility ?? raw.mode ?? null),
  };
}

function normVisibility(mode) {
  return mode === "muted" || mode === "followed" ? mode : null;
}

export function normMessage(raw) {
  const author = raw.author && typeof raw.author === "object" ? raw.author.id : raw.author;
  return {
    ...raw,
    author,
    topic: raw.topic ?? "",
    html: raw.html ?? "",
    body: raw.body ?? "",
    reactions: Array.isArray(raw.reactions) ? raw.reactions : [],
    mentions: Array.isArray(raw.mentions) ? raw.mentions : [],
    attachments: Array.isArray(raw.attachments) ? raw.attachments : [],
    deleted: raw.deleted ?? null,
    redacted_at: raw.redacted_at ?? null,
    version: raw.version ?? 0,
  };
}

// The name to show for a conversation: a DM shows the other people.
export function conversationName(conv, users, me) {
  if (!conv) return "";
  if (conv.kind !== "direct") return conv.name || `#${conv.id}`;
  const others = (conv.others || []).map((o) => (users.get(o.id) || o).display_name || o.username);
  if (others.length === 0) return me.display_name;
  return others.join(", ");
}

export function userName(users, id) {
  const user = users.get(id);
  return user ? user.display_name || user.username : `#${id}`;
}

// The mark before a conversation's name: "#" for a channel, a lock for a private group, "@" for a DM.
export function sigil(kind) {
  if (kind === "private") {
    const icon = document.createElement("span");
    icon.className = "icon icon-lock";
    return icon;
  }
  return document.createTextNode(kind === "public" ? "#" : "@");
}

// The same as plain text (inside <option>): "# sales", "board (private)".
export function plainLabel(conv, name, privateWord) {
  return conv.kind === "private" ? `${name} (${privateWord})` : `${conv.kind === "public" ? "#" : "@"} ${name}`;
}
