// The quick switcher (Ctrl+K): type to filter conversations and people, Enter to open.
import { h, replaceChildren } from "../dom.js";
import { t } from "../i18n.js";
import { conversationName, sigil } from "../model.js";

export function mountSwitcher(store, actions) {
  const dialog = document.getElementById("dlg-switcher");
  const input = document.getElementById("switcher-input");
  const list = document.getElementById("switcher-list");
  let entries = [];
  let selected = 0;

  function candidates() {
    const q = input.value.trim().toLowerCase();
    const convs = Array.from(store.conversations.values()).map((c) => ({
      label: conversationName(c, store.users, store.me),
      mark: sigil(c.kind),
      unread: c.unread || 0,
      go: () => actions.navigate(`#/c/${c.id}`),
    }));
    const dmWith = new Set(
      Array.from(store.conversations.values())
        .filter((c) => c.kind === "direct" && (c.others || []).length === 1)
        .map((c) => c.others[0].id),
    );
    const people = Array.from(store.users.values())
      .filter((u) => u.id !== store.me.id && u.active !== false && !dmWith.has(u.id))
      .map((u) => ({
        label: u.display_name || u.username,
        mark: "@",
        unread: 0,
        go: async () => {
          const conv = await actions.openDirect([u.id]);
          actions.navigate(`#/c/${conv.id}`);
        },
      }));
    const all = [...convs, ...people].filter((e) => !q || e.label.toLowerCase().includes(q));
    all.sort((a, b) => b.unread - a.unread || a.label.localeCompare(b.label));
    return all.slice(0, 30);
  }

  function render() {
    entries = candidates();
    selected = Math.min(selected, Math.max(0, entries.length - 1));
    replaceChildren(
      list,
      entries.length
        ? entries.map((e, i) =>
            h(
              "li",
              { id: `switch-${i}`, role: "option", "aria-selected": i === selected ? "true" : "false", onclick: () => choose(i) },
              h("span", { class: "sigil", "aria-hidden": "true" }, e.mark),
              h("span", { class: "name" }, e.label),
              e.unread ? h("span", { class: "badge" }, e.unread) : null,
            ),
          )
        : [h("li", { class: "hint" }, t("switcher.none"))],
    );
    input.setAttribute("aria-activedescendant", entries.length ? `switch-${selected}` : "");
  }

  function choose(i) {
    const entry = entries[i];
    if (!entry) return;
    dialog.close();
    Promise.resolve(entry.go()).catch((err) => store.signal("error", err));
  }

  input.addEventListener("input", () => {
    selected = 0;
    render();
  });
  input.addEventListener("keydown", (e) => {
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      if (entries.length) selected = (selected + (e.key === "ArrowDown" ? 1 : entries.length - 1)) % entries.length;
      render();
      document.getElementById(`switch-${selected}`)?.scrollIntoView({ block: "nearest" });
    } else if (e.key === "Enter") {
      e.preventDefault();
      choose(selected);
    }
  });

  function open() {
    input.value = "";
    selected = 0;
    dialog.showModal();
    render();
    input.focus();
  }
  document.getElementById("open-switcher").addEventListener("click", open);
  return { open };
}
