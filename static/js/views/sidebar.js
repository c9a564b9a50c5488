// The sidebar: starred first, then channels, private groups and direct messages, each with
// its unread count and a mention marker.
import { h, replaceChildren } from "../dom.js";
import { t } from "../i18n.js";
import { conversationName, sigil } from "../model.js";
import { dndLabel, dndMark } from "./dnd.js";

export function mountSidebar(store) {
  const root = document.getElementById("sidebar-lists");

  function item(conv) {
    const name = conversationName(conv, store.users, store.me);
    const current = store.view.conversation === conv.id;
    const unread = conv.unread || 0;
    const mentioned = unread > 0 && (store.mentioned.has(conv.id) || conv.mentions > 0);
    let marker = h("span", { class: "sigil", "aria-hidden": "true" }, sigil(conv.kind));
    const others = conv.others || [];
    if (conv.kind === "direct" && others.length === 1) {
      const state = store.presence.get(others[0].id) || "offline";
      marker = h("span", {
        class: "presence",
        "data-presence": state,
        role: "img",
        "aria-label": t(`presence.${state}`),
        title: t(`presence.${state}`),
      });
    }
    const label = [name];
    const dnd = conv.kind === "direct" && others.length === 1 ? others[0].id : null;
    if (dnd !== null && dndLabel(store, dnd)) label.push(dndLabel(store, dnd));
    if (unread) label.push(t("sidebar.unread", { n: unread }));
    if (mentioned) label.push(t("sidebar.mentioned"));
    return h(
      "li",
      { class: `side-item${unread ? " unread" : ""}`, "data-conversation": conv.id },
      h(
        "a",
        { href: `#/c/${conv.id}`, "aria-current": current ? "page" : null, "aria-label": label.join(", ") },
        marker,
        h("span", { class: "name" }, name),
        dnd !== null ? dndMark(store, dnd) : null,
        mentioned ? h("span", { class: "mention-mark", "aria-hidden": "true" }, "@") : null,
        unread ? h("span", { class: "badge", "aria-hidden": "true" }, unread > 99 ? "99+" : unread) : null,
      ),
    );
  }

  function section(id, title, list) {
    if (!list.length) return null;
    return h(
      "section",
      { class: "side-section", "aria-labelledby": `side-${id}` },
      h("h2", { id: `side-${id}` }, title),
      h("ul", { class: "side-list", "data-section": id }, list.map(item)),
    );
  }

  function render() {
    const all = Array.from(store.conversations.values()).filter((c) => c.joined !== false);
    const byName = (a, b) =>
      conversationName(a, store.users, store.me).localeCompare(conversationName(b, store.users, store.me));
    const starred = all.filter((c) => c.starred).sort(byName);
    const rest = all.filter((c) => !c.starred);
    replaceChildren(
      root,
      section("starred", t("sidebar.starred"), starred),
      section("channels", t("sidebar.channels"), rest.filter((c) => c.kind === "public").sort(byName)),
      section("private", t("sidebar.private"), rest.filter((c) => c.kind === "private").sort(byName)),
      section("direct", t("sidebar.direct"), rest.filter((c) => c.kind === "direct").sort(byName)),
      all.length ? null : h("p", { class: "hint side-empty" }, t("sidebar.empty")),
    );
    const total = all.reduce((sum, c) => sum + (c.unread || 0), 0);
    document.title = total ? `(${total}) Salon` : "Salon";
  }

  store.addEventListener("change", (e) => {
    if (["sidebar", "users", "presence", "view", "notifications"].some((a) => e.detail.has(a))) render();
  });
  render();
}
