// Dialogs: the channel browser (find, preview, join, leave, create), people pickers (direct
// message, invite), rename/move a topic, a message's edit history, reporting a message.
import { h, replaceChildren, showError } from "../dom.js";
import { errorText, formatFull, t } from "../i18n.js";
import { conversationName, plainLabel, userName } from "../model.js";
import { mountFilesDialog } from "./files.js";
import { mountReportDialog } from "./report.js";
import { dndMark } from "./dnd.js";

export function mountDialogs(store, actions) {
  const browser = document.getElementById("dlg-browser");
  const dm = document.getElementById("dlg-dm");
  const invite = document.getElementById("dlg-invite");
  const topicDlg = document.getElementById("dlg-topic");
  const historyDlg = document.getElementById("dlg-history");
  let inviteTarget = null;
  let topicTarget = null;

  // --- channel browser ------------------------------------------------------------------------
  const filter = document.getElementById("browser-filter");
  const browserList = document.getElementById("browser-list");
  const createForm = document.getElementById("create-form");

  function renderBrowser() {
    if (!browser.open) return;
    const q = filter.value.trim().toLowerCase();
    const all = (store.directory || []).filter(
      (c) => !q || (c.name || "").toLowerCase().includes(q) || (c.description || "").toLowerCase().includes(q),
    );
    const rows = all.map((c) => {
      const joined = store.conversations.has(c.id);
      return h(
        "li",
        { "data-conversation": c.id },
        h(
          "span",
          { class: "info" },
          h("a", { href: `#/c/${c.id}`, onclick: () => browser.close() }, `# ${c.name}`),
          h("span", { class: "desc" }, [c.description, t(c.member_count === 1 ? "conv.member_one" : "conv.members", { n: c.member_count || 0 })].filter(Boolean).join(" · ")),
        ),
        joined
          ? h("button", { type: "button", "data-action": "leave", onclick: () => act(() => actions.leave(c.id)) }, t("conv.leave"))
          : h("button", { type: "button", class: "primary", "data-action": "join", onclick: () => act(() => actions.join(c.id)) }, t("browser.join")),
      );
    });
    if (store.directory === null) rows.push(h("li", { class: "hint" }, t("messages.loading")));
    else if (!rows.length) rows.push(h("li", { class: "hint" }, t("browser.none")));
    replaceChildren(browserList, rows);
  }

  async function act(work) {
    try {
      await work();
      renderBrowser();
    } catch (err) {
      store.signal("toast", errorText(err));
    }
  }

  function openBrowser() {
    filter.value = "";
    browser.showModal();
    renderBrowser();
    actions.loadDirectory().then(renderBrowser, (err) => store.signal("error", err));
    filter.focus();
  }

  filter.addEventListener("input", renderBrowser);
  createForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const data = new FormData(createForm);
    showError(createForm, "");
    try {
      const conv = await actions.createConversation(data.get("kind"), String(data.get("name")).trim(), String(data.get("description") || ""));
      createForm.reset();
      createForm.closest("details").open = false;
      browser.close();
      actions.navigate(`#/c/${conv.id}`);
    } catch (err) {
      showError(createForm, errorText(err));
    }
  });

  // --- people pickers -------------------------------------------------------------------------
  function picker(dialog, filterId, listId, exclude) {
    const input = document.getElementById(filterId);
    const list = document.getElementById(listId);
    const chosen = new Set();
    function render() {
      const q = input.value.trim().toLowerCase();
      const people = Array.from(store.users.values())
        .filter((u) => u.id !== store.me.id && u.active !== false && !exclude().has(u.id))
        .filter((u) => !q || u.username.includes(q) || (u.display_name || "").toLowerCase().includes(q))
        .sort((a, b) => (a.display_name || a.username).localeCompare(b.display_name || b.username))
        .slice(0, 100);
      replaceChildren(
        list,
        people.map((u) =>
          h(
            "li",
            {},
            h(
              "label",
              {},
              h("input", {
                type: "checkbox",
                value: u.id,
                "data-username": u.username,
                checked: chosen.has(u.id),
                onchange: (e) => (e.target.checked ? chosen.add(u.id) : chosen.delete(u.id)),
              }),
              h("span", { class: "presence", "data-presence": store.presence.get(u.id) || "offline", "aria-hidden": "true" }),
              `${u.display_name || u.username} `,
              dndMark(store, u.id),
              h("span", { class: "hint" }, `@${u.username}`),
            ),
          ),
        ),
      );
    }
    input.addEventListener("input", render);
    return {
      chosen,
      open() {
        chosen.clear();
        input.value = "";
        showError(dialog.querySelector("form:not([method])"), "");
        dialog.showModal();
        render();
        input.focus();
      },
    };
  }

  const dmPicker = picker(dm, "dm-filter", "dm-people", () => new Set());
  document.getElementById("dm-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const form = e.currentTarget;
    if (!dmPicker.chosen.size) {
      showError(form, t("dm.choose"));
      return;
    }
    try {
      const conv = await actions.openDirect(Array.from(dmPicker.chosen));
      dm.close();
      actions.navigate(`#/c/${conv.id}`);
    } catch (err) {
      showError(form, errorText(err));
    }
  });

  let inviteMembers = new Set();
  const invitePicker = picker(invite, "invite-filter", "invite-people", () => inviteMembers);
  document.getElementById("invite-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const form = e.currentTarget;
    try {
      await actions.invite(inviteTarget, Array.from(invitePicker.chosen));
      invite.close();
    } catch (err) {
      showError(form, errorText(err));
    }
  });

  // --- topic rename / move --------------------------------------------------------------------
  const topicForm = document.getElementById("topic-form");
  topicForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const { cid, name } = topicTarget;
    const newName = document.getElementById("topic-new-name").value.trim();
    const moveTo = Number(document.getElementById("topic-move-to").value);
    const changes = { topic: name, scope: "all" };
    if (newName && newName !== name) changes.new_name = newName;
    if (moveTo && moveTo !== cid) changes.move_to_conversation = moveTo;
    try {
      if (changes.new_name || changes.move_to_conversation) {
        const result = await actions.updateTopic(cid, changes);
        const target = (result && result.conversation) || changes.move_to_conversation || cid;
        const topic = (result && result.topic) || changes.new_name || name;
        actions.navigate(`#/c/${target}/t/${encodeURIComponent(topic)}`);
      }
      topicDlg.close();
    } catch (err) {
      showError(topicForm, errorText(err));
    }
  });

  // --- edit history ---------------------------------------------------------------------------
  async function showHistory(messageId) {
    const list = document.getElementById("history-list");
    replaceChildren(list, h("li", { class: "hint" }, t("messages.loading")));
    historyDlg.showModal();
    try {
      const data = await actions.history(messageId);
      const revisions = data.revisions || data.history || [];
      replaceChildren(
        list,
        revisions.map((rev) =>
          h(
            "li",
            {},
            h(
              "div",
              { class: "meta" },
              [
                formatFull(new Date(rev.created_at)),
                userName(store.users, rev.editor),
                rev.kind ? t(`history.${rev.kind}`) : null,
                rev.topic || null,
              ]
                .filter(Boolean)
                .join(" · "),
            ),
            h("pre", {}, rev.body),
          ),
        ),
      );
    } catch (err) {
      replaceChildren(list, h("li", { class: "form-error" }, errorText(err)));
    }
  }

  store.addEventListener("change", (e) => {
    if (e.detail.has("browser") || e.detail.has("sidebar")) renderBrowser();
  });
  document.getElementById("open-browser").addEventListener("click", openBrowser);
  document.getElementById("open-new-dm").addEventListener("click", () => dmPicker.open());

  return {
    browser: openBrowser,
    async invite(cid) {
      inviteTarget = cid;
      try {
        inviteMembers = new Set(await actions.members(cid));
      } catch {
        inviteMembers = new Set();
      }
      invitePicker.open();
    },
    topic(cid, name) {
      topicTarget = { cid, name };
      document.getElementById("topic-new-name").value = name;
      const select = document.getElementById("topic-move-to");
      const targets = Array.from(store.conversations.values()).filter((c) => c.kind !== "direct" && !c.archived);
      replaceChildren(
        select,
        targets.map((c) => h("option", { value: c.id, selected: c.id === cid }, plainLabel(c, conversationName(c, store.users, store.me), t("kind.private_short")))),
      );
      showError(topicForm, "");
      topicDlg.showModal();
      document.getElementById("topic-new-name").focus();
    },
    history: showHistory,
    report: mountReportDialog(store, actions),
    files: mountFilesDialog(store, actions),
  };
}
