// Connection state in the top bar, typing notices under the messages, short notices (toasts).
import { h } from "../dom.js";
import { errorText, t } from "../i18n.js";
import { userName } from "../model.js";

export function mountStatus(store) {
  const status = document.getElementById("conn-status");
  const typing = document.getElementById("typing");
  let countdown = null;

  function renderConnection() {
    const { state, retryInMs } = store.connection;
    status.dataset.state = state;
    clearInterval(countdown);
    if ((state === "reconnecting" || state === "offline") && retryInMs > 0) {
      const until = Date.now() + retryInMs;
      const tick = () => {
        const seconds = Math.max(0, Math.ceil((until - Date.now()) / 1000));
        status.textContent = t(`conn.${state}_in`, { seconds });
      };
      tick();
      countdown = setInterval(tick, 1000);
    } else {
      status.textContent = t(`conn.${state}`);
    }
  }

  function renderTyping() {
    const { conversation, topic } = store.view;
    const who = conversation ? store.typingIn(conversation, topic) : [];
    const names = who.map((id) => userName(store.users, id));
    typing.textContent =
      names.length === 0 ? "" : names.length === 1 ? t("typing.one", { name: names[0] }) : t("typing.many", { names: names.join(", ") });
  }

  const toasts = h("div", { class: "toasts", role: "status", "aria-live": "polite" });
  document.body.append(toasts);
  function toast(text) {
    const el = h("p", { class: "toast" }, text);
    toasts.append(el);
    setTimeout(() => el.remove(), 5000);
  }

  store.addEventListener("toast", (e) => toast(e.detail));
  store.addEventListener("error", (e) => toast(errorText(e.detail)));
  store.addEventListener("change", (e) => {
    if (e.detail.has("connection")) renderConnection();
    if (e.detail.has("typing") || e.detail.has("view")) renderTyping();
  });
  renderConnection();
}
