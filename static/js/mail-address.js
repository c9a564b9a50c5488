// A conversation's mail address (GET/POST/PATCH/DELETE /conversations/{id}/mail-address): a
// "Mail address" button in the conversation header opens a dialog that shows the address with a
// copy button; whoever manages the conversation (the answer's can_manage) also makes or
// regenerates it, revokes it and lets outside senders write to it. Members only see it. The
// dialog is built here, once (no template change); the button is added after the header renders
// (this module listens to the store after the header does). The dialog loads the address each
// time it opens; the address is never in an event (conversation.mail_address_changed).
import { del, get, patch, post } from "./api.js";
import { h, replaceChildren } from "./dom.js";
import { errorText, t } from "./i18n.js";

export function mountMailAddress(store) {
  const header = document.getElementById("conv-header");
  let target = null;
  let busy = false;

  const title = h("h2", { id: "dlg-mailaddr-title" }, t("mailaddr.title"));
  const body = h("div", { class: "mailaddr-body", "aria-live": "polite" });
  const dialog = h(
    "dialog",
    { id: "dlg-mailaddr", "aria-labelledby": "dlg-mailaddr-title" },
    h("form", { method: "dialog", class: "dialog-head" }, title, h("button", { value: "cancel", class: "icon-button", "aria-label": t("common.close") }, "✕")),
    body,
  );
  document.body.append(dialog);

  const path = (cid) => `/conversations/${cid}/mail-address`;

  async function run(work) {
    if (busy) return;
    busy = true;
    try {
      render(await work());
    } catch (err) {
      renderError(err);
    } finally {
      busy = false;
    }
  }

  function renderError(err) {
    const text = err && err.code === "mail_domain_unset" ? t("mailaddr.unset") : errorText(err);
    replaceChildren(body, h("p", { class: "form-error", role: "alert" }, text));
  }

  function render(state) {
    const rows = [];
    if (state.address) {
      const field = h("input", { type: "text", readonly: true, value: state.address, id: "mailaddr-address", "aria-label": t("mailaddr.title") });
      const copy = h("button", { type: "button", "data-action": "copy" }, t("mailaddr.copy"));
      copy.addEventListener("click", async () => {
        field.select();
        try {
          await navigator.clipboard.writeText(state.address);
          copy.textContent = t("mailaddr.copied");
        } catch {
          copy.textContent = t("mailaddr.copy_by_hand");
        }
      });
      rows.push(h("p", { class: "hint" }, t("mailaddr.explain")), h("div", { class: "mailaddr-row" }, field, copy));
    } else {
      rows.push(h("p", { class: "hint", id: "mailaddr-none" }, t("mailaddr.none")));
    }
    if (state.can_manage) {
      const outside = h("input", { type: "checkbox", id: "mailaddr-outside", checked: state.outside_senders });
      outside.addEventListener("change", () => run(() => patch(path(target), { outside_senders: outside.checked })));
      rows.push(
        h("label", { class: "mailaddr-outside" }, outside, " ", t("mailaddr.outside")),
        h("p", { class: "hint" }, t("mailaddr.outside_hint")),
        h(
          "div",
          { class: "actions" },
          h(
            "button",
            { type: "button", class: state.address ? "" : "primary", "data-action": "regenerate", onclick: () => regenerate(Boolean(state.address)) },
            state.address ? t("mailaddr.regenerate") : t("mailaddr.create"),
          ),
          state.address ? h("button", { type: "button", class: "danger", "data-action": "revoke", onclick: () => run(() => del(path(target))) }, t("mailaddr.revoke")) : null,
        ),
      );
    }
    replaceChildren(body, rows);
  }

  function regenerate(existing) {
    if (existing && !window.confirm(t("mailaddr.regenerate_confirm"))) return;
    run(() => post(path(target)));
  }

  function open(cid) {
    target = cid;
    replaceChildren(body, h("p", { class: "hint" }, t("messages.loading")));
    dialog.showModal();
    run(() => get(path(cid)));
  }

  function addButton() {
    const cid = store.view.conversation;
    const conv = cid ? store.lookup(cid) : null;
    const actionsEl = header.querySelector(".actions");
    if (!conv || conv.kind === "direct" || !store.conversations.has(cid) || !actionsEl) return;
    if (actionsEl.querySelector('[data-action="mail-address"]')) return;
    actionsEl.append(h("button", { type: "button", "data-action": "mail-address", "aria-haspopup": "dialog", onclick: () => open(cid) }, t("mailaddr.open")));
  }

  store.addEventListener("change", (e) => {
    if (["header", "view", "users"].some((a) => e.detail.has(a))) addButton();
  });
  return open;
}
