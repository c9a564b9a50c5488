// The UI strings: the same catalog the server rendered the page with, passed as a JSON data island.
const island = document.getElementById("i18n");
const catalog = island ? JSON.parse(island.textContent || "{}") : {};

export const lang = document.documentElement.lang || "en";

// t("key", {name: "x"}) → the text with {name} placeholders filled; the key itself if unknown.
export function t(key, values) {
  const text = Object.prototype.hasOwnProperty.call(catalog, key) ? catalog[key] : key;
  if (!values) return text;
  return text.replace(/\{([a-z_][a-z0-9_]*)\}/g, (whole, name) =>
    Object.prototype.hasOwnProperty.call(values, name) ? String(values[name]) : whole,
  );
}

// The text for an error code from the server, or its own message when the catalog has none.
export function errorText(error) {
  const code = error && error.code;
  const until = error && error.data && error.data.until;
  if (code === "muted" && until) return t("report.muted", { until: formatFull(new Date(until)) });
  if (code && Object.prototype.hasOwnProperty.call(catalog, `error.${code}`)) return catalog[`error.${code}`];
  return (error && error.message) || t("error.unknown");
}

const timeFormat = new Intl.DateTimeFormat(lang, { hour: "2-digit", minute: "2-digit" });
const dateFormat = new Intl.DateTimeFormat(lang, { weekday: "short", day: "numeric", month: "short", year: "numeric" });
const fullFormat = new Intl.DateTimeFormat(lang, { dateStyle: "medium", timeStyle: "short" });

export const formatTime = (date) => timeFormat.format(date);
export const formatDay = (date) => dateFormat.format(date);
export const formatFull = (date) => fullFormat.format(date);

export function formatRelative(date) {
  const seconds = Math.round((Date.now() - date.getTime()) / 1000);
  if (seconds < 60) return t("time.now");
  if (seconds < 3600) return t("time.minutes", { n: Math.floor(seconds / 60) });
  if (seconds < 86400) return t("time.hours", { n: Math.floor(seconds / 3600) });
  return formatDay(date);
}

// 2048 → "2 kB", in the page's language (Intl units from kilobytes on; bytes from the catalog,
// whose short form Intl does not abbreviate).
export function formatSize(bytes) {
  const units = ["byte", "kilobyte", "megabyte", "gigabyte"];
  let value = Math.max(0, Number(bytes) || 0);
  if (value < 1024) return t("upload.bytes", { n: value });
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const digits = value >= 10 ? 0 : 1;
  return new Intl.NumberFormat(lang, { style: "unit", unit: units[unit], unitDisplay: "short", maximumFractionDigits: digits }).format(value);
}
