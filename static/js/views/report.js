// The "Report" dialog: a message's reason for the moderators (POST /messages/{id}/reports through
// actions.js), then a confirmation that it was sent. Keyboard: the reason field has the focus,
// Enter in the form's button sends, Escape closes (the native <dialog>).
import { showError } from "../dom.js";
import { errorText } from "../i18n.js";

export function mountReportDialog(store, actions) {
  const dialog = document.getElementById("dlg-report");
  const form = document.getElementById("report-form");
  const reason = document.getElementById("report-reason");
  const quote = document.getElementById("report-quote");
  const done = document.getElementById("report-done");
  let target = null;

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const text = reason.value.trim();
    if (!text || target === null) {
      reason.focus();
      return;
    }
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    showError(form, "");
    try {
      await actions.report(target, text);
      form.hidden = true;
      done.hidden = false;
      document.getElementById("report-done-close").focus();
    } catch (err) {
      showError(form, errorText(err));
    } finally {
      button.disabled = false;
    }
  });

  return function open(messageId) {
    const msg = store.messages.get(messageId);
    target = messageId;
    reason.value = "";
    quote.textContent = msg ? msg.body.slice(0, 200) : "";
    quote.hidden = !quote.textContent;
    form.hidden = false;
    done.hidden = true;
    showError(form, "");
    dialog.showModal();
    reason.focus();
  };
}
