// Search results grouped by conversation and topic; each result opens the message in context.
import { h, replaceChildren, setServerHtml } from "../dom.js";
import { errorText, formatFull, t } from "../i18n.js";
import { sigil } from "../model.js";
import { renderAttachments } from "./attachments.js";

export function mountSearch(store, actions) {
  const form = document.getElementById("search-form");
  const input = document.getElementById("search-input");
  const section = document.getElementById("search-results");
  const list = document.getElementById("search-list");
  const heading = document.getElementById("search-heading");

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const q = input.value.trim();
    if (q) actions.navigate(`#/search/${encodeURIComponent(q)}`);
  });
  document.getElementById("search-close").addEventListener("click", () => history.back());

  function groupName(hit) {
    if (hit.conversation_name) return [sigil(hit.conversation_kind), " ", hit.conversation_name];
    return [sigil("direct"), " ", t("search.direct")];
  }

  function render() {
    const s = store.searchState;
    const open = store.view.search !== null;
    section.hidden = !open;
    if (!open) return;
    if (input.value !== s.query && document.activeElement !== input) input.value = s.query;
    heading.textContent = t("search.results_for", { q: s.query });
    if (s.error) {
      replaceChildren(list, h("p", { class: "form-error", role: "alert" }, errorText(s.error)));
      return;
    }
    if (!s.hits.length) {
      replaceChildren(list, h("p", { class: "hint" }, s.loading ? t("messages.loading") : t("search.none")));
      return;
    }
    const groups = new Map(); // conversation -> Map(topic -> hits)
    for (const hit of s.hits) {
      const byTopic = groups.get(hit.conversation) || new Map();
      const topicHits = byTopic.get(hit.topic) || [];
      topicHits.push(hit);
      byTopic.set(hit.topic, topicHits);
      groups.set(hit.conversation, byTopic);
    }
    const blocks = [];
    for (const [, byTopic] of groups) {
      for (const [topic, hits] of byTopic) {
        const first = hits[0];
        const title = h("h3", {}, groupName(first));
        if (topic) {
          title.append(" › ");
          title.append(setServerHtml(h("span", {}), first.topic_html || ""));
        }
        blocks.push(
          h(
            "section",
            { class: "result-group" },
            title,
            hits.map((hit) =>
              h(
                "article",
                { class: "result-item", "data-message": hit.id },
                h(
                  "a",
                  { class: "msg-head", href: `#/c/${hit.conversation}/m/${hit.id}`, "aria-label": t("search.open", { author: hit.author_display_name, time: formatFull(new Date(hit.created_at)) }) },
                  h("span", { class: "msg-author" }, hit.author_display_name),
                  h("span", { class: "msg-time" }, formatFull(new Date(hit.created_at))),
                ),
                setServerHtml(h("div", { class: "msg-body" }), hit.html),
                renderAttachments(hit.attachments),
              ),
            ),
          ),
        );
      }
    }
    if (s.hasMore) {
      blocks.push(h("button", { type: "button", onclick: () => actions.search(s.query, s.nextBefore) }, t("search.more")));
    }
    replaceChildren(list, blocks);
  }

  store.addEventListener("change", (e) => {
    if (e.detail.has("search") || e.detail.has("view")) render();
  });
  return { focus: () => input.focus() };
}
