// The files attached to the message being written. Each file starts uploading as soon as it
// is added (picker, drop or paste), with its own progress and abort; sending the message takes
// the ids of the finished uploads. An upload removed from the draft is simply not referenced:
// the server deletes uploads no message uses after a day.
import * as api from "./api.js";

let nextKey = 1;

export class Draft extends EventTarget {
  constructor() {
    super();
    this.items = []; // {key, name, size, type, progress, state: uploading|done|failed, upload, error}
    this.aborts = new Map(); // key -> abort() of an upload in progress
  }

  changed() {
    this.dispatchEvent(new Event("change"));
  }

  add(files) {
    for (const file of files) {
      const item = { key: nextKey++, name: file.name || "file", size: file.size, type: file.type, progress: 0, state: "uploading", upload: null, error: null };
      this.items.push(item);
      const { promise, abort } = api.upload(file, (fraction) => {
        item.progress = fraction;
        this.changed();
      });
      this.aborts.set(item.key, abort);
      promise.then(
        (upload) => {
          Object.assign(item, { state: "done", progress: 1, upload });
        },
        (error) => {
          Object.assign(item, { state: "failed", error });
        },
      ).finally(() => {
        this.aborts.delete(item.key);
        this.changed();
      });
    }
    this.changed();
  }

  // Cancel an upload in progress, or take a finished (or failed) one out of the draft.
  remove(key) {
    const abort = this.aborts.get(key);
    this.aborts.delete(key);
    this.items = this.items.filter((item) => item.key !== key);
    if (abort) abort();
    this.changed();
  }

  get busy() {
    return this.items.some((item) => item.state === "uploading");
  }

  // The uploads to send with the message (failed ones are left out: their error is on show).
  get uploads() {
    return this.items.filter((item) => item.state === "done").map((item) => item.upload);
  }

  clear() {
    for (const abort of this.aborts.values()) abort();
    this.aborts.clear();
    this.items = [];
    this.changed();
  }
}
