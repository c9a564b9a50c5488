// The "Files" dialog of a conversation: every file its visible messages carry, newest first
// (GET /conversations/{id}/files through manage.js), each with who posted it, when and in which
// topic, a link that downloads it and one that opens its message. Keyboard: the dialog takes the
// focus, links and the "More files" button are in tab order, Escape closes (the native <dialog>).
import { h, replaceChildren } from "../dom.js";
import { errorText, formatFull, formatSize, t } from "../i18n.js";

// Only this server's file URLs go into href (the API gives relative /files/… paths).
const local = (url) => (typeof url === "string" && url.startsWith("/files/") ? url : null);

export function mountFilesDialog(store, actions) {
  const dialog = document.getElementById("dlg-files");
  const list = document.getElementById("files-list");
  const more = document.getElementById("files-more");
  let target = null;
  let next = null;

  function item(cid, entry) {
    const a = entry.attachment;
    const meta = [entry.uploader.display_name || entry.uploader.username, formatFull(new Date(entry.posted_at)), entry.topic ? t("files_view.topic", { topic: entry.topic }) : null];
    return h(
      "li",
      { "data-message": entry.message, "data-file": a.id },
      h("a", { class: "files-name", href: local(a.url), download: a.name }, a.name),
      h("span", { class: "meta" }, ` ${a.content_type} · ${formatSize(a.size)}`),
      h("div", { class: "meta" }, meta.filter(Boolean).join(" · ")),
      h("a", { href: `#/c/${cid}/m/${entry.message}`, onclick: () => dialog.close() }, t("files_view.goto")),
    );
  }

  async function load(cid, before) {
    more.hidden = true;
    try {
      const page = await actions.conversationFiles(cid, before);
      if (cid !== target) return; // another conversation's dialog was opened meanwhile
      if (!before) replaceChildren(list);
      list.append(...page.files.map((entry) => item(cid, entry)));
      if (!list.children.length) list.append(h("li", { class: "hint" }, t("files_view.none")));
      next = page.has_more ? page.next_before : null;
      more.hidden = next === null;
    } catch (err) {
      replaceChildren(list, h("li", { class: "form-error", role: "alert" }, errorText(err)));
    }
  }

  more.addEventListener("click", () => {
    if (target !== null && next !== null) load(target, next);
  });

  return function open(cid) {
    target = cid;
    next = null;
    replaceChildren(list, h("li", { class: "hint" }, t("messages.loading")));
    dialog.showModal();
    load(cid, null);
  };
}
