// One message: author, time, body (the server's sanitised HTML), meeting cards, reactions and
// its actions (react, edit, delete, history). Intents go to actions.js.
import { h, setServerHtml } from "../dom.js";
import { errorText, formatFull, formatTime, t } from "../i18n.js";
import { userName } from "../model.js";
import { renderAttachments } from "./attachments.js";

export const EMOJI = ["👍", "❤️", "😂", "🎉", "😮", "😢", "👀", "✅"];

// An author from outside: someone who wrote to a channel's mail address, or a guest.
function authorBadge(user) {
  if (user?.external) return h("span", { class: "author-badge external" }, t("message.external"));
  if (user?.role === "guest") return h("span", { class: "author-badge" }, t("message.guest"));
  return null;
}

export function renderMessage(store, actions, msg, ctx) {
  const me = store.me;
  const mine = msg.author === me.id;
  const created = new Date(msg.created_at);
  const classes = ["msg"];
  if (!msg.deleted && !mine && store.isMentioned(msg)) classes.push("mentioned");
  if (msg.pending) classes.push(msg.state === "failed" ? "failed" : "pending");
  const el = h("article", {
    class: classes.join(" "),
    id: msg.pending ? `pending-${msg.nonce}` : `msg-${msg.id}`,
    "data-id": msg.id ?? "",
    "data-author": msg.author,
    tabindex: "-1",
    "aria-label": t("message.label", { author: userName(store.users, msg.author), time: formatFull(created) }),
  });
  const head = h(
    "div",
    { class: "msg-head" },
    h("span", { class: "msg-author" }, userName(store.users, msg.author)),
    authorBadge(store.users.get(msg.author)),
    msg.pending
      ? h("span", { class: "msg-time" }, msg.state === "failed" ? t("message.failed") : t("message.sending"))
      : h(
          "a",
          { class: "msg-time", href: `#/c/${msg.conversation}/m/${msg.id}`, title: formatFull(created) },
          h("time", { datetime: msg.created_at }, formatTime(created)),
        ),
    msg.edited_at && !msg.deleted && !msg.redacted_at
      ? h("button", { type: "button", class: "msg-edited", onclick: () => ctx.showHistory(msg.id) }, t("message.edited"))
      : null,
  );
  el.append(head);

  if (msg.deleted) {
    const reason = msg.deleted.reason;
    el.append(h("p", { class: "msg-deleted" }, reason ? t("report.tombstone_reason", { reason }) : t("message.deleted")));
    return el;
  }
  if (msg.redacted_at) {
    // its text was erased (retention, or its author's erasure): reactions stay, nothing to edit
    el.append(h("p", { class: "msg-deleted msg-redacted" }, t("gdpr.message_redacted")));
    el.append(reactions(store, actions, msg));
    return el;
  }
  if (ctx.editing === msg.id) {
    el.append(editBox(store, actions, msg, ctx));
  } else if (msg.pending) {
    if (msg.body) el.append(h("div", { class: "msg-body" }, h("p", {}, msg.body)));
  } else if (msg.html) {
    el.append(setServerHtml(h("div", { class: "msg-body" }), msg.html));
  }
  const files = renderAttachments(msg.attachments);
  if (files) el.append(files);
  for (const meeting of msg.meetings || []) {
    if (!/^https?:\/\//i.test(meeting.url)) continue;
    el.append(
      h(
        "div",
        { class: "meeting-card" },
        h("span", { class: "icon icon-video", "aria-hidden": "true" }),
        h("a", { href: meeting.url, target: "_blank", rel: "noopener noreferrer" }, t("message.join_meeting", { provider: meeting.provider })),
      ),
    );
  }
  if (msg.pending) {
    if (msg.state === "failed") {
      el.append(
        h("p", { class: "form-error" }, errorText(msg.error)),
        h(
          "div",
          { class: "row" },
          h("button", { type: "button", onclick: () => actions.retryPost(msg.nonce) }, t("message.retry")),
          h("button", { type: "button", onclick: () => actions.discardPost(msg.nonce) }, t("message.discard")),
        ),
      );
    }
    return el;
  }
  el.append(reactions(store, actions, msg));
  el.append(toolbar(store, actions, msg, ctx, mine));
  return el;
}

function reactions(store, actions, msg) {
  const box = h("div", { class: "reactions" });
  for (const r of msg.reactions || []) {
    const mine = r.users.includes(store.me.id);
    const names = r.users.map((u) => userName(store.users, u)).join(", ");
    box.append(
      h(
        "button",
        {
          type: "button",
          class: "reaction",
          "aria-pressed": mine ? "true" : "false",
          title: names,
          "aria-label": t("message.reaction", { emoji: r.emoji, n: r.count, names }),
          onclick: () => actions.react(msg.id, r.emoji, !mine).catch((err) => store.signal("toast", errorText(err))),
        },
        `${r.emoji} ${r.count}`,
      ),
    );
  }
  return box;
}

function toolbar(store, actions, msg, ctx, mine) {
  const bar = h("div", { class: "msg-actions", role: "toolbar", "aria-label": t("message.actions") });
  bar.append(
    h("button", { type: "button", "aria-label": t("message.react"), title: t("message.react"), "aria-haspopup": "true", onclick: (e) => picker(store, actions, msg, e.currentTarget) }, "☺"),
  );
  if (mine) {
    bar.append(h("button", { type: "button", "data-action": "edit", onclick: () => ctx.startEdit(msg.id) }, t("message.edit")));
  }
  if (!mine) {
    bar.append(h("button", { type: "button", "data-action": "report", "aria-haspopup": "dialog", onclick: () => ctx.report(msg.id) }, t("report.menu")));
  }
  if (mine || store.me.role === "admin" || store.me.role === "moderator") {
    bar.append(
      h(
        "button",
        {
          type: "button",
          class: "danger",
          "data-action": "delete",
          onclick: () => {
            if (window.confirm(t("message.confirm_delete"))) {
              actions.remove(msg.id).catch((err) => store.signal("toast", errorText(err)));
            }
          },
        },
        t("message.delete"),
      ),
    );
  }
  return bar;
}

function picker(store, actions, msg, anchor) {
  const article = anchor.closest(".msg");
  const open = article.querySelector(".emoji-picker");
  if (open) {
    open.remove();
    return;
  }
  const close = () => menu.remove();
  const menu = h(
    "div",
    { class: "emoji-picker", role: "menu", "aria-label": t("message.react") },
    EMOJI.map((emoji) =>
      h(
        "button",
        {
          type: "button",
          role: "menuitem",
          "data-emoji": emoji,
          onclick: () => {
            close();
            const mine = (msg.reactions || []).some((r) => r.emoji === emoji && r.users.includes(store.me.id));
            actions.react(msg.id, emoji, !mine).catch((err) => store.signal("toast", errorText(err)));
          },
          onkeydown: (e) => {
            if (e.key === "Escape") {
              e.stopPropagation();
              close();
              anchor.focus();
            }
          },
        },
        emoji,
      ),
    ),
  );
  article.append(menu);
  menu.querySelector("button").focus();
}

function editBox(store, actions, msg, ctx) {
  const area = h("textarea", { rows: "3", maxlength: "10000", "aria-label": t("message.edit") });
  area.value = ctx.draft ?? msg.body;
  area.addEventListener("input", () => {
    ctx.draft = area.value;
  });
  const error = h("p", { class: "form-error", role: "alert", hidden: true });
  const save = async () => {
    const body = area.value.trim();
    if (!body) return;
    try {
      await actions.edit(msg.id, body);
      ctx.stopEdit();
    } catch (err) {
      error.textContent = errorText(err);
      error.hidden = false;
    }
  };
  area.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      save();
    } else if (e.key === "Escape") {
      e.preventDefault();
      e.stopPropagation();
      ctx.stopEdit();
    }
  });
  queueMicrotask(() => {
    area.focus();
    area.setSelectionRange(area.value.length, area.value.length);
  });
  return h(
    "div",
    { class: "edit-box" },
    area,
    h(
      "div",
      { class: "row" },
      h("button", { type: "button", class: "primary", onclick: save }, t("common.save")),
      h("button", { type: "button", onclick: () => ctx.stopEdit() }, t("common.cancel")),
    ),
    error,
  );
}
