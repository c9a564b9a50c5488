// The archive pages' export forms: fetch the export, show its progress, offer the file.
// Progress: bytes against Content-Length (the HTML zip), else exported messages (JSONL lines,
// CSV records) against the X-Salon-Message-Count header the server sends before the rows.
import { errorText, t } from "./i18n.js";

const NEWLINE = 10;

function countRecords(chunk, format, state) {
  // JSONL: one line per message. CSV: records end with CR LF (a body's own newlines are LF).
  let n = 0;
  for (let i = 0; i < chunk.length; i += 1) {
    if (chunk[i] !== NEWLINE) continue;
    if (format === "csv" ? state.lastWasCr || (i > 0 && chunk[i - 1] === 13) : true) n += 1;
  }
  state.lastWasCr = chunk.length > 0 && chunk[chunk.length - 1] === 13;
  return n;
}

function filename(response, fallback) {
  const match = /filename="([^"]+)"/.exec(response.headers.get("content-disposition") || "");
  return match ? match[1] : fallback;
}

async function download(form) {
  const progress = form.querySelector(".archive-progress");
  const status = form.querySelector(".archive-export-status");
  const error = form.querySelector(".form-error");
  const result = form.querySelector(".archive-export-result");
  const button = form.querySelector("button[type=submit]");
  const format = new FormData(form).get("format") || "jsonl";
  const url = new URL(form.action, window.location.href);
  url.search = new URLSearchParams(new FormData(form)).toString(); // repeated fields stay repeated
  button.disabled = true;
  error.hidden = true;
  result.hidden = true;
  progress.hidden = false;
  progress.removeAttribute("value");
  status.textContent = t("archive.export.preparing");
  try {
    const response = await fetch(url, { credentials: "same-origin", headers: { accept: "*/*" } });
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      throw body.error || { message: response.statusText };
    }
    const total = Number(response.headers.get("content-length")) || 0;
    const expected = Number(response.headers.get("x-salon-message-count")) || 0;
    const reader = response.body.getReader();
    const chunks = [];
    const state = { lastWasCr: false };
    let bytes = 0;
    let records = format === "csv" ? -1 : 0; // the CSV header is a record too
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      bytes += value.length;
      if (total) {
        progress.max = total;
        progress.value = bytes;
        status.textContent = t("archive.export.bytes", { done: bytes, total });
      } else {
        records += countRecords(value, format, state);
        progress.max = Math.max(expected, 1);
        progress.value = Math.min(Math.max(records, 0), progress.max);
        status.textContent = t("archive.export.progress", { done: Math.max(records, 0), total: expected });
      }
    }
    progress.max = 1;
    progress.value = 1;
    const blob = new Blob(chunks, { type: response.headers.get("content-type") || "application/octet-stream" });
    const link = result.querySelector("a");
    if (link.href) URL.revokeObjectURL(link.href);
    link.href = URL.createObjectURL(blob);
    link.download = filename(response, `export.${format === "html" ? "zip" : format}`);
    result.hidden = false;
    status.textContent = t("archive.export.done", { count: expected });
    link.click();
  } catch (failure) {
    progress.hidden = true;
    status.textContent = "";
    error.textContent = errorText(failure);
    error.hidden = false;
  } finally {
    button.disabled = false;
  }
}

for (const form of document.querySelectorAll("form.archive-export")) {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    download(form);
  });
}
