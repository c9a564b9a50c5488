// The compose box: a topic field (with the channel's topics as suggestions) and a body field.
// Enter sends, Shift+Enter starts a new line; @ opens the mention list.
import { h, replaceChildren, showError } from "../dom.js";
import { t } from "../i18n.js";
import { conversationName } from "../model.js";
import { mountMentions } from "./mentions.js";

export function mountCompose(store, actions) {
  const form = document.getElementById("compose");
  const topicRow = document.getElementById("compose-topic-row");
  const topicInput = document.getElementById("compose-topic");
  const suggestions = document.getElementById("topic-suggestions");
  const body = document.getElementById("compose-body");
  const mentions = mountMentions(store, actions, body);
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
    if (!conv || !text) return;
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
    actions.post(conv.id, topic, text);
    body.value = "";
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
