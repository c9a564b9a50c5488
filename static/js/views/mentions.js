// @mention autocomplete for a textarea: members of the conversation (the directory as a
// fallback), plus @all and @topic. Arrow keys move, Enter or Tab picks, Escape closes.
import { h, replaceChildren } from "../dom.js";
import { t } from "../i18n.js";
import { dndMark } from "./dnd.js";

const MAX = 8;

export function mountMentions(store, actions, area) {
  const list = document.getElementById("mention-list");
  let items = [];
  let selected = 0;
  let start = -1;
  let generation = 0; // each input (and close) starts a new one: a slower, older lookup is dropped

  function close() {
    generation += 1;
    list.hidden = true;
    items = [];
    start = -1;
    area.removeAttribute("aria-activedescendant");
  }

  function current() {
    const caret = area.selectionStart;
    const before = area.value.slice(0, caret);
    const match = /(^|\s)@([\w.-]*)$/.exec(before);
    if (!match) return null;
    return { query: match[2].toLowerCase(), at: caret - match[2].length - 1 };
  }

  async function update() {
    const found = current();
    if (!found) {
      close();
      return;
    }
    const mine = ++generation;
    let ids = null;
    const cid = store.view.conversation;
    try {
      ids = cid ? await actions.members(cid) : null;
    } catch {
      ids = null;
    }
    // A pick, a close or newer typing happened meanwhile: this answer is for text that is gone.
    if (mine !== generation) return;
    start = found.at;
    const pool = ids ? ids.map((id) => store.users.get(id)).filter(Boolean) : Array.from(store.users.values());
    const q = found.query;
    const people = pool
      .filter((u) => u.id !== store.me.id && u.active !== false)
      .filter((u) => !q || u.username.startsWith(q) || (u.display_name || "").toLowerCase().includes(q))
      .slice(0, MAX)
      .map((u) => ({ id: u.id, insert: u.username, label: u.display_name || u.username, sub: `@${u.username}` }));
    const wild = ["all", "topic"].filter((w) => w.startsWith(q)).map((w) => ({ insert: w, label: `@${w}`, sub: t(`mention.${w}`) }));
    items = [...people, ...wild];
    selected = 0;
    render();
  }

  function render() {
    if (!items.length) {
      close();
      return;
    }
    list.hidden = false;
    replaceChildren(
      list,
      items.map((item, i) =>
        h(
          "li",
          {
            id: `mention-${i}`,
            role: "option",
            "aria-selected": i === selected ? "true" : "false",
            onmousedown: (e) => {
              e.preventDefault();
              pick(i);
            },
          },
          item.label,
          item.id !== undefined ? dndMark(store, item.id) : null,
          h("span", { class: "sub" }, item.sub),
        ),
      ),
    );
    area.setAttribute("aria-activedescendant", `mention-${selected}`);
  }

  function pick(i) {
    const item = items[i];
    if (!item || start < 0) return;
    const caret = area.selectionStart;
    const text = `@${item.insert} `;
    area.value = area.value.slice(0, start) + text + area.value.slice(caret);
    const pos = start + text.length;
    area.setSelectionRange(pos, pos);
    close();
    area.focus();
  }

  // Called first by the compose box's keydown: true when the key was ours.
  function handleKey(e) {
    if (list.hidden || !items.length) return false;
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      selected = (selected + (e.key === "ArrowDown" ? 1 : items.length - 1)) % items.length;
      render();
      return true;
    }
    if ((e.key === "Enter" || e.key === "Tab") && !e.shiftKey) {
      e.preventDefault();
      pick(selected);
      return true;
    }
    if (e.key === "Escape") {
      e.preventDefault();
      e.stopPropagation();
      close();
      return true;
    }
    return false;
  }

  area.addEventListener("input", update);
  area.addEventListener("blur", () => setTimeout(close, 150));
  return { close, handleKey };
}
