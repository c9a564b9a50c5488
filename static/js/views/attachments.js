// Files in messages and in the compose draft. Images show their thumbnail, which opens the
// full size in a dialog; PDFs their first page (or an icon) with the page count; other files a
// chip with name, size and type. Every name is a text node; URLs are the server's /files/ paths.
import { h } from "../dom.js";
import { errorText, formatSize, t } from "../i18n.js";

const IMAGE = /^image\/(png|jpeg|gif|webp)$/;

// Only this server's file URLs go into src/href (the API gives relative /files/… paths).
const local = (url) => (typeof url === "string" && url.startsWith("/files/") ? url : null);

export function renderAttachments(list) {
  if (!Array.isArray(list) || list.length === 0) return null;
  return h("ul", { class: "attachments", "aria-label": t("upload.attachments") }, list.map((a) => h("li", {}, attachment(a))));
}

function attachment(a) {
  const url = local(a.url);
  const thumb = local(a.thumbnail_url);
  const size = formatSize(a.size);
  if (IMAGE.test(a.content_type || "") && thumb) {
    const img = h("img", { src: thumb, alt: a.name, loading: "lazy", width: a.width || undefined, height: a.height || undefined });
    return h(
      "a",
      { class: "att-image", href: url, title: `${a.name} · ${size}`, "aria-label": t("upload.open_image", { name: a.name }), onclick: (e) => openViewer(e, a) },
      img,
    );
  }
  if (a.content_type === "application/pdf") {
    const pages = a.pages ? t("upload.pages", { n: a.pages }) : null;
    return h(
      "a",
      { class: "att-pdf", href: url, download: a.name },
      thumb ? h("img", { src: thumb, alt: t("upload.pdf_preview", { name: a.name }), loading: "lazy" }) : h("span", { class: "icon icon-file att-icon", "aria-hidden": "true" }),
      h("span", { class: "att-name" }, a.name),
      h("span", { class: "att-meta" }, ["PDF", pages, size].filter(Boolean).join(" · ")),
    );
  }
  return h(
    "a",
    { class: "att-file", href: url, download: a.name },
    h("span", { class: "icon icon-file att-icon", "aria-hidden": "true" }),
    h("span", { class: "att-name" }, a.name),
    h("span", { class: "att-meta" }, `${size} · ${a.content_type || "application/octet-stream"}`),
  );
}

// The full-size image in a dialog (a plain click; a middle click or Ctrl+click opens a tab).
function openViewer(e, a) {
  const dialog = document.getElementById("dlg-image");
  if (!dialog || e.button !== 0 || e.ctrlKey || e.metaKey || e.shiftKey || !local(a.url)) return;
  e.preventDefault();
  document.getElementById("dlg-image-title").textContent = a.name;
  const full = document.getElementById("dlg-image-full");
  full.src = a.url;
  full.alt = a.name;
  document.getElementById("dlg-image-open").href = a.url;
  dialog.showModal();
}

// The draft's files: name, size, a progress bar while uploading, the error if it failed, and a
// button that cancels the upload or removes the file.
export function renderDraftItem(item, onRemove) {
  const label = item.state === "uploading" ? t("upload.cancel", { name: item.name }) : t("upload.remove", { name: item.name });
  return h(
    "li",
    { class: `draft-file ${item.state}`, "data-state": item.state },
    h("span", { class: "icon icon-file att-icon", "aria-hidden": "true" }),
    h("span", { class: "att-name" }, item.name),
    h("span", { class: "att-meta" }, formatSize(item.size)),
    item.state === "uploading"
      ? h("progress", { max: "1", value: item.progress ?? undefined, "aria-label": t("upload.progress", { name: item.name }) })
      : null,
    item.state === "failed" ? h("span", { class: "form-error", role: "alert" }, uploadError(item.error)) : null,
    h("button", { type: "button", class: "icon-button draft-remove", "aria-label": label, title: label, onclick: onRemove }, "✕"),
  );
}

function uploadError(error) {
  if (error && error.status === 413) {
    const limit = error.data && error.data.limit;
    return limit ? t("upload.too_large_limit", { limit: formatSize(limit) }) : t("upload.too_large");
  }
  if (error && error.code === "quota_exceeded") return t("upload.quota_exceeded");
  if (error && error.code === "file_rejected") return t("upload.rejected");
  return errorText(error);
}
