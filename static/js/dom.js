// Small DOM helpers. Text always goes in as text nodes; the one exception is setServerHtml,
// used only for message bodies that the server rendered and sanitised.

// h("button", {class: "x", onclick: fn, "aria-label": "…"}, "text", child, …)
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [name, value] of Object.entries(attrs)) {
      if (value === undefined || value === null || value === false) continue;
      if (name.startsWith("on") && typeof value === "function") {
        el.addEventListener(name.slice(2), value);
      } else if (name === "class") {
        el.className = value;
      } else if (name === "dataset") {
        Object.assign(el.dataset, value);
      } else if (name === "hidden" || name === "disabled" || name === "checked" || name === "selected") {
        el[name] = Boolean(value);
      } else if (name === "value") {
        el.value = value;
      } else {
        el.setAttribute(name, value === true ? "" : String(value));
      }
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export function replaceChildren(el, ...children) {
  clear(el);
  append(el, children);
  return el;
}

export const $ = (selector, root = document) => root.querySelector(selector);
export const $$ = (selector, root = document) => Array.from(root.querySelectorAll(selector));

// The only place where HTML from outside goes into the page: the server's sanitised message HTML
// (markdown-it with raw HTML off, then nh3). Links open in a new tab without an opener.
export function setServerHtml(el, html) {
  el.innerHTML = typeof html === "string" ? html : "";
  for (const link of el.querySelectorAll("a[href]")) {
    link.target = "_blank";
    link.rel = "noopener noreferrer nofollow ugc";
  }
  return el;
}

// Show an error (or nothing) in a form's [role=alert] element.
export function showError(form, text) {
  const box = form.querySelector(".form-error");
  if (!box) return;
  box.textContent = text || "";
  box.hidden = !text;
}

export function showOk(form, text) {
  const box = form.querySelector(".form-ok");
  if (!box) return;
  box.textContent = text || "";
  box.hidden = !text;
  if (text) setTimeout(() => { box.hidden = true; }, 4000);
}
