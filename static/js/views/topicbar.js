// The title above the messages: the topic, with resolve, rename/move and mute/follow.
import { h, replaceChildren } from "../dom.js";
import { errorText, t } from "../i18n.js";
import { isResolved, topicKey } from "../model.js";

export function mountTopicBar(store, actions, dialogs) {
  const title = document.getElementById("messages-heading");

  async function run(work) {
    try {
      await work();
    } catch (err) {
      store.signal("toast", errorText(err));
    }
  }

  function render() {
    const { conversation: cid, topic } = store.view;
    const conv = store.lookup(cid);
    const joined = store.conversations.has(cid);
    if (!cid) return;
    if (conv && conv.kind === "direct") {
      replaceChildren(title, t("messages.direct"));
      return;
    }
    if (topic === null) {
      replaceChildren(title, t("topics.all"));
      return;
    }
    const entry = (store.topics.get(cid) || new Map()).get(topicKey(topic));
    const name = entry ? entry.name : topic;
    const resolved = isResolved(name);
    const mode = (entry && entry.visibility) || "default";
    const parts = [h("span", { class: "topic-name" }, name)];
    if (conv && joined && !conv.archived) {
      parts.push(
        h(
          "button",
          {
            type: "button",
            "data-action": "resolve",
            onclick: () => run(() => actions.updateTopic(cid, { topic: name, resolved: !resolved, scope: "all" })),
          },
          resolved ? t("topic.unresolve") : t("topic.resolve"),
        ),
        h("button", { type: "button", "data-action": "rename", onclick: () => dialogs.topic(cid, name) }, t("topic.rename_move")),
      );
    }
    if (conv && joined) {
      const select = h(
        "select",
        {
          "aria-label": t("topic.visibility"),
          "data-action": "visibility",
          onchange: (e) => run(() => actions.setVisibility(cid, name, e.target.value)),
        },
        ["default", "muted", "followed"].map((m) => h("option", { value: m, selected: m === mode }, t(`topic.mode_${m}`))),
      );
      parts.push(select);
    }
    replaceChildren(title, parts);
  }

  store.addEventListener("change", (e) => {
    if (["view", "topics", "header"].some((a) => e.detail.has(a))) render();
  });
}
