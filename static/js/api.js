// The REST API (same origin, session cookie). Errors become ApiError with the server's stable code.
export class ApiError extends Error {
  constructor(status, code, message, data) {
    super(message || code);
    this.status = status;
    this.code = code;
    this.data = data || {};
  }
}

const BASE = "/api/v1";

export async function api(method, path, body) {
  const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(BASE + path, init);
  } catch (err) {
    throw new ApiError(0, "network_error", err.message);
  }
  if (response.status === 204) return null;
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) throw errorOf(response.status, data);
  return data;
}

function errorOf(status, data) {
  const error = (data && data.error) || {};
  return new ApiError(status, error.code || `http_${status}`, error.message, error);
}

// POST /uploads with one file (multipart, field "file") through XMLHttpRequest, because fetch
// reports no upload progress. onProgress(fraction) runs as bytes leave (null when the size is
// unknown). Returns {promise, abort}: the promise gives the upload's JSON or rejects with an
// ApiError ("aborted" after abort()).
export function upload(file, onProgress) {
  const xhr = new XMLHttpRequest();
  const promise = new Promise((resolve, reject) => {
    xhr.open("POST", BASE + "/uploads");
    xhr.setRequestHeader("Accept", "application/json");
    xhr.responseType = "json";
    xhr.upload.addEventListener("progress", (e) => onProgress(e.lengthComputable ? e.loaded / e.total : null));
    xhr.addEventListener("load", () => {
      if (xhr.status >= 200 && xhr.status < 300 && xhr.response) resolve(xhr.response);
      else reject(errorOf(xhr.status, xhr.response));
    });
    xhr.addEventListener("error", () => reject(new ApiError(0, "network_error", "network error")));
    xhr.addEventListener("abort", () => reject(new ApiError(0, "aborted", "aborted")));
    const form = new FormData();
    form.append("file", file, file.name || "file");
    xhr.send(form);
  });
  return { promise, abort: () => xhr.abort() };
}

export const get = (path) => api("GET", path);
export const post = (path, body) => api("POST", path, body ?? {});
export const put = (path, body) => api("PUT", path, body ?? {});
export const patch = (path, body) => api("PATCH", path, body ?? {});
export const del = (path, body) => api("DELETE", path, body);

export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}
