// The compose box: a topic field (with the channel's topics as suggestions) and a body field.
// Enter sends, Shift+Enter starts a new line; @ opens the mention list. Files join the draft
// by the attach button, by dropping them on the conversation or by pasting them.
import { h, replaceChildren, showError } from "../dom.js";
import { t } from "../i18n.js";
import { conversationName } from "../model.js";
import { Draft } from "../uploads.js";
import { renderDraftItem } from "./attachments.js";
import { mountMentions } from "./mentions.js";

export function mountCompose(store, actions) {
  const form = document.getElementById("compose");
  const topicRow = document.getElementById("compose-topic-row");
  const topicInput = document.getElementById("compose-topic");
  const suggestions = document.getElementById("topic-suggestions");
  const body = document.getElementById("compose-body");
  const mentions = mountMentions(store, actions, body);
  const draft = new Draft();
  mountFiles(form, body, draft, () => !body.disabled);
  let lastConversation = null;

  function conversation() {
    const cid = store.view.conversation;
    return cid ? store.conversations.get(cid) : null;
  }

  function render() {
    const conv = conversation();
    const joined = Boolean(conv);
    form.hidden = !store.view.conversation;
    const direct = conv && conv.kind === "direct";
    topicRow.hidden = Boolean(direct);
    const readOnly = !joined || (conv && conv.archived);
    body.disabled = readOnly;
    topicInput.disabled = readOnly;
    form.querySelector("button[type=submit]").disabled = readOnly;
    document.getElementById("attach-button").disabled = readOnly;
    body.placeholder = !joined
      ? t("compose.join_first")
      : conv.archived
        ? t("compose.archived")
        : t("compose.body_to", { name: conversationName(conv, store.users, store.me) });
    if (store.view.conversation !== lastConversation || store.view.topic !== null) {
      topicInput.value = store.view.topic ?? (store.view.conversation === lastConversation ? topicInput.value : "");
    }
    lastConversation = store.view.conversation;
    const topics = store.topics.get(store.view.conversation);
    replaceChildren(suggestions, topics ? Array.from(topics.values()).map((tp) => h("option", { value: tp.name })) : []);
  }

  function send() {
    const conv = conversation();
    const text = body.value.trim();
    if (!conv || (!text && draft.items.length === 0)) return;
    if (draft.busy) {
      showError(form, t("upload.wait"));
      return;
    }
    const uploads = draft.uploads;
    if (!text && uploads.length === 0) return;
    let topic = null;
    if (conv.kind !== "direct") {
      topic = topicInput.value.trim().replace(/\s+/g, " ");
      if (!topic) {
        showError(form, t("compose.topic_required"));
        topicInput.focus();
        return;
      }
    }
    showError(form, "");
    actions.post(conv.id, topic, text, uploads);
    body.value = "";
    draft.clear();
    mentions.close();
    if (topic !== null && store.view.topic === null) {
      // Stay in "all topics" but keep the topic for the next message.
      topicInput.value = topic;
    }
  }

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    send();
  });
  body.addEventListener("keydown", (e) => {
    if (mentions.handleKey(e)) return;
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      send();
    }
  });
  body.addEventListener("input", () => {
    const conv = conversation();
    if (conv && body.value.trim()) actions.typing(conv.id, conv.kind === "direct" ? null : topicInput.value.trim() || null);
  });
  topicInput.addEventListener("keydown", (e) => {
    if (e.key === "Enter") {
      e.preventDefault();
      body.focus();
    }
  });

  store.addEventListener("change", (e) => {
    if (["view", "compose", "topics", "sidebar"].some((a) => e.detail.has(a))) render();
  });
  return { focus: () => body.focus() };
}

// The attach button and its file input, the drop zone over the conversation, paste into the
// body, and the list of the draft's files (each with its progress and its cancel button).
function mountFiles(form, body, draft, enabled) {
  const input = document.getElementById("attach-input");
  const button = document.getElementById("attach-button");
  const list = document.getElementById("draft-files");
  const pane = document.getElementById("messages-pane");
  const zone = document.getElementById("drop-zone");

  button.addEventListener("click", () => input.click());
  input.addEventListener("change", () => {
    draft.add(Array.from(input.files || []));
    input.value = "";
    body.focus();
  });

  body.addEventListener("paste", (e) => {
    const files = Array.from((e.clipboardData && e.clipboardData.files) || []);
    if (files.length === 0 || !enabled()) return;
    if (!e.clipboardData.types.includes("text/plain")) e.preventDefault();
    draft.add(files);
  });

  // Drops anywhere on the messages or the compose box; the zone shows while files are dragged over.
  const carriesFiles = (e) => e.dataTransfer && Array.from(e.dataTransfer.types || []).includes("Files");
  let depth = 0;
  const hide = () => {
    depth = 0;
    zone.hidden = true;
  };
  // A file dropped anywhere else must not replace the page with itself.
  for (const type of ["dragover", "drop"]) {
    window.addEventListener(type, (e) => {
      if (carriesFiles(e)) e.preventDefault();
    });
  }
  pane.addEventListener("dragenter", (e) => {
    if (!carriesFiles(e) || !enabled()) return;
    e.preventDefault();
    depth += 1;
    zone.hidden = false;
  });
  pane.addEventListener("dragover", (e) => {
    if (!carriesFiles(e) || !enabled()) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = "copy";
  });
  pane.addEventListener("dragleave", () => {
    depth -= 1;
    if (depth <= 0) hide();
  });
  pane.addEventListener("drop", (e) => {
    hide();
    if (!carriesFiles(e) || !enabled()) return;
    e.preventDefault();
    draft.add(Array.from(e.dataTransfer.files || []));
    body.focus();
  });

  // Rebuilt when a file comes, goes or changes state (focus follows its key); progress alone
  // only moves the bars.
  let shape = "";
  draft.addEventListener("change", () => {
    const nextShape = draft.items.map((item) => `${item.key}:${item.state}`).join(",");
    if (nextShape === shape) {
      for (const item of draft.items) {
        const bar = list.querySelector(`li[data-key="${item.key}"] progress`);
        if (bar && item.progress !== null) bar.value = item.progress;
      }
      return;
    }
    shape = nextShape;
    const focused = list.contains(document.activeElement) ? document.activeElement.closest("li").dataset.key : null;
    list.hidden = draft.items.length === 0;
    replaceChildren(
      list,
      draft.items.map((item) => {
        const li = renderDraftItem(item, () => {
          draft.remove(item.key);
          body.focus();
        });
        li.dataset.key = String(item.key);
        return li;
      }),
    );
    const again = focused && list.querySelector(`li[data-key="${focused}"] button`);
    if (again) again.focus();
    if (draft.items.length === 0) showError(form, "");
  });
}
