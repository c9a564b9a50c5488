// The topic list of a channel: all topics, then each topic by last activity, with unread
// counts, resolved and muted/followed markers.
import { h, replaceChildren } from "../dom.js";
import { formatRelative, t } from "../i18n.js";
import { topicKey } from "../model.js";

export function mountTopics(store) {
  const root = document.getElementById("topics");
  const pane = document.getElementById("topics-pane");

  function link(href, current, children, label) {
    return h("a", { href, "aria-current": current ? "page" : null, "aria-label": label }, children);
  }

  function render() {
    const cid = store.view.conversation;
    const conv = store.lookup(cid);
    pane.hidden = !conv || conv.kind === "direct";
    if (pane.hidden) {
      replaceChildren(root);
      return;
    }
    const topics = Array.from((store.topics.get(cid) || new Map()).values());
    topics.sort((a, b) => (b.last_message_id || 0) - (a.last_message_id || 0));
    const viewKey = store.view.topic === null ? null : topicKey(store.view.topic);
    const items = [
      h(
        "li",
        { class: "topic-item all-topics" },
        link(`#/c/${cid}`, viewKey === null, [h("span", { class: "name" }, t("topics.all"))]),
      ),
    ];
    for (const topic of topics) {
      const flags = [];
      if (topic.visibility === "muted") flags.push(t("topic.muted"));
      if (topic.visibility === "followed") flags.push(t("topic.followed"));
      const label = [topic.name];
      if (topic.unread) label.push(t("sidebar.unread", { n: topic.unread }));
      label.push(...flags);
      const classes = ["topic-item"];
      if (topic.unread && topic.visibility !== "muted") classes.push("unread");
      if (topic.visibility === "muted") classes.push("muted");
      if (topic.resolved) classes.push("resolved");
      items.push(
        h(
          "li",
          { class: classes.join(" "), "data-topic": topic.name },
          link(
            `#/c/${cid}/t/${encodeURIComponent(topic.name)}`,
            viewKey === topic.key,
            [
              h("span", { class: "name", title: topic.name }, topic.name),
              topic.unread ? h("span", { class: "badge", "aria-hidden": "true" }, topic.unread) : h("span"),
              h(
                "span",
                { class: "meta" },
                topic.last_at ? formatRelative(new Date(topic.last_at)) : null,
                topic.visibility === "muted" ? [" · ", h("span", { class: "icon icon-muted", title: t("topic.muted") })] : null,
                topic.visibility === "followed" ? [" · ", h("span", { title: t("topic.followed") }, "★")] : null,
              ),
            ],
            label.join(", "),
          ),
        ),
      );
    }
    if (!topics.length) items.push(h("li", { class: "hint" }, t("topics.none")));
    replaceChildren(root, h("ul", { class: "topic-list" }, items));
  }

  store.addEventListener("change", (e) => {
    if (["topics", "view"].some((a) => e.detail.has(a))) render();
  });
  setInterval(render, 60000); // relative times
}
