// The conversation header: name, description, members, and files / star / invite / leave.
import { h, replaceChildren } from "../dom.js";
import { errorText, t } from "../i18n.js";
import { conversationName, sigil } from "../model.js";
import { levelMenu } from "./dnd.js";

export function mountHeader(store, actions, dialogs, notif) {
  const root = document.getElementById("conv-header");
  const conversationEl = document.getElementById("conversation");

  function button(label, onclick, extra = {}) {
    return h("button", { type: "button", onclick, ...extra }, label);
  }

  async function run(work) {
    try {
      await work();
    } catch (err) {
      store.signal("toast", errorText(err));
    }
  }

  function render() {
    const cid = store.view.conversation;
    const conv = store.lookup(cid);
    if (!conv) {
      replaceChildren(root);
      return;
    }
    const joined = store.conversations.has(cid);
    const actionsEl = h("div", { class: "actions" });
    if (conv.kind !== "direct") {
      actionsEl.append(
        button(t("topics.title"), () => conversationEl.classList.toggle("topics-open"), {
          class: "topics-toggle",
          "aria-controls": "topics-pane",
        }),
      );
    }
    actionsEl.append(button(t("files_view.open"), () => dialogs.files(cid), { "data-action": "files", "aria-haspopup": "dialog" }));
    if (joined) {
      actionsEl.append(
        button(conv.starred ? t("conv.unstar") : t("conv.star"), () => run(() => actions.star(cid, !conv.starred)), {
          "aria-pressed": conv.starred ? "true" : "false",
          "data-action": "star",
        }),
      );
      actionsEl.append(levelMenu(store, notif, conv));
      if (conv.kind !== "direct" && !conv.archived && store.me.role !== "guest") {
        actionsEl.append(button(t("conv.invite"), () => dialogs.invite(cid), { "data-action": "invite" }));
      }
      if (conv.kind !== "direct") {
        actionsEl.append(button(t("conv.leave"), () => run(() => actions.leave(cid)), { "data-action": "leave" }));
      }
    } else if (conv.kind === "public" && !conv.archived) {
      actionsEl.append(
        button(t("browser.join"), () => run(() => actions.join(cid)), { class: "primary", "data-action": "join" }),
      );
    }
    const members = conv.member_count ? t(conv.member_count === 1 ? "conv.member_one" : "conv.members", { n: conv.member_count }) : "";
    replaceChildren(
      root,
      h("h1", {}, h("span", { class: "sigil", "aria-hidden": "true" }, sigil(conv.kind)), " ", conversationName(conv, store.users, store.me)),
      conv.archived ? h("span", { class: "badge" }, t("conv.archived")) : null,
      h("span", { class: "desc", title: conv.description || "" }, [conv.description, members].filter(Boolean).join(" · ")),
      actionsEl,
    );
  }

  store.addEventListener("change", (e) => {
    if (["header", "view", "users", "notifications"].some((a) => e.detail.has(a))) render();
  });
}
