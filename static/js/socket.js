// The websocket protocol (docs/protocol.md): hello, requests answered by ack/error with the same id,
// events, resume from the last event id, heartbeat, reconnect with exponential backoff and jitter.
//
// Only this module touches the WebSocket. It emits:
//   "state"   {state: "connecting" | "online" | "reconnecting" | "offline", attempt, retryInMs}
//   "hello"   {user, last_event_id, fresh}  (fresh: first connection of this page: the app loads a snapshot)
//   "event"   the event object (deduplicated by id; the cursor advances)
//   "resumed" {last_event_id}
//   "typing", "presence"  the frames as they come
//   "fatal"   {code}  the server refused us for good (signed out): the app goes to the login page
//
// The cursor (the last event id seen) lives in sessionStorage, so it is per tab and survives the
// socket; every reconnect sends {type: "resume", after: cursor} and the server replays what we missed.
// An event frame with a "cursor" field (sent while the server's broker is down) moves the cursor
// only that far; the ids seen above the cursor are kept until it passes them, so the replay after
// the server's 4009 brings the events we missed and skips the ones we have (docs/protocol.md, Resume).

const DEFAULT_ACK_TIMEOUT_MS = 10000;
const MAX_BACKOFF_MS = 30000;
const BASE_BACKOFF_MS = 500;
const SEEN_LIMIT = 5000;

// Close codes after which reconnecting cannot help (docs/protocol.md).
const FATAL_CLOSE = new Set([4001, 4003]);

export class RequestError extends Error {
  constructor(code, message, data) {
    super(message || code);
    this.code = code;
    this.data = data || {};
  }
}

export class Socket extends EventTarget {
  constructor({ path = "/api/v1/ws", storage = window.sessionStorage, storageKey = "salon.last_event_id" } = {}) {
    super();
    this.path = path;
    this.storage = storage;
    this.storageKey = storageKey;
    this.ws = null;
    this.state = "offline";
    this.attempt = 0;
    this.nextId = 1;
    this.pending = new Map(); // frame id -> {resolve, reject, timer, frame}
    this.heartbeatMs = 25000;
    this.heartbeatTimer = null;
    this.reconnectTimer = null;
    this.lastFrameAt = 0;
    this.greeted = false; // a hello arrived on some connection of this page
    this.stopped = false;
    this.seen = new Set();
    this.seenOrder = [];
    this.cursor = this.readCursor();
    window.addEventListener("online", () => this.reconnectNow());
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible" && this.state !== "online") this.reconnectNow();
    });
  }

  // --- cursor -------------------------------------------------------------------------------

  readCursor() {
    try {
      const raw = this.storage.getItem(this.storageKey);
      const value = raw === null ? null : Number.parseInt(raw, 10);
      return Number.isFinite(value) && value >= 0 ? value : null;
    } catch {
      return null;
    }
  }

  writeCursor(value) {
    if (this.cursor !== null && value <= this.cursor) return;
    this.cursor = value;
    try {
      this.storage.setItem(this.storageKey, String(value));
    } catch {
      /* storage full or disabled: the cursor stays in memory */
    }
  }

  // --- lifecycle ----------------------------------------------------------------------------

  start() {
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.reconnectTimer);
    this.stopHeartbeat();
    if (this.ws) this.ws.close(1000, "bye");
  }

  connect() {
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    this.setState(this.greeted ? "reconnecting" : "connecting");
    let ws;
    try {
      ws = new WebSocket(`${scheme}//${window.location.host}${this.path}`);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    ws.addEventListener("message", (msg) => this.onMessage(ws, msg));
    ws.addEventListener("close", (ev) => this.onClose(ws, ev));
    ws.addEventListener("error", () => {
      /* a close event follows */
    });
  }

  reconnectNow() {
    if (this.stopped || this.state === "online") return;
    if (this.ws && this.ws.readyState === WebSocket.CONNECTING) return;
    this.attempt = 0;
    this.connect();
  }

  onClose(ws, event) {
    if (ws !== this.ws) return;
    this.ws = null;
    this.stopHeartbeat();
    for (const [, entry] of this.pending) {
      clearTimeout(entry.timer);
      entry.reject(new RequestError("disconnected", "the connection dropped before the answer"));
    }
    this.pending.clear();
    if (this.stopped) {
      this.setState("offline");
      return;
    }
    if (FATAL_CLOSE.has(event.code)) {
      this.setState("offline");
      this.emit("fatal", { code: event.code, reason: event.reason });
      return;
    }
    this.scheduleReconnect();
  }

  scheduleReconnect() {
    // Exponential backoff with full jitter between half and all of the step, capped at 30 s.
    const step = Math.min(MAX_BACKOFF_MS, BASE_BACKOFF_MS * 2 ** this.attempt);
    const delay = Math.round(step / 2 + Math.random() * (step / 2));
    this.attempt += 1;
    this.setState(this.greeted ? "reconnecting" : "offline", delay);
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
  }

  setState(state, retryInMs = 0) {
    this.state = state;
    this.emit("state", { state, attempt: this.attempt, retryInMs });
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  // --- frames in ----------------------------------------------------------------------------

  onMessage(ws, message) {
    if (ws !== this.ws) return;
    this.lastFrameAt = Date.now();
    let frame;
    try {
      frame = JSON.parse(message.data);
    } catch {
      return;
    }
    switch (frame.type) {
      case "hello":
        this.onHello(frame);
        break;
      case "ack":
      case "error":
        this.settle(frame);
        break;
      case "event":
        this.onEvent(frame.event, frame.cursor);
        break;
      case "resumed":
        if (typeof frame.last_event_id === "number") this.writeCursor(frame.last_event_id);
        this.forgetSeen();
        this.settleResume(frame);
        this.emit("resumed", frame);
        break;
      case "typing":
      case "presence":
        this.emit(frame.type, frame);
        break;
      default:
        break;
    }
  }

  onHello(frame) {
    const fresh = !this.greeted;
    this.greeted = true;
    this.attempt = 0;
    if (typeof frame.heartbeat_s === "number" && frame.heartbeat_s > 0) this.heartbeatMs = frame.heartbeat_s * 1000;
    this.setState("online");
    this.startHeartbeat();
    if (fresh) {
      // A page that just loaded builds its state from the REST API after this hello: replaying
      // older events on top of that snapshot would count them twice. Start from the server's cursor.
      if (typeof frame.last_event_id === "number") {
        this.cursor = null;
        this.writeCursor(frame.last_event_id);
      }
      this.emit("hello", { ...frame, fresh: true });
      return;
    }
    this.emit("hello", { ...frame, fresh: false });
    this.resume();
  }

  resume() {
    const after = this.cursor ?? 0;
    this.request("resume", { after }, { timeoutMs: 60000 }).catch(() => {
      /* the connection dropped again: the next hello resumes */
    });
  }

  onEvent(event, cursor) {
    if (!event || typeof event.id !== "number") return;
    if (this.seen.has(event.id)) return; // a replay of something we already folded
    this.seen.add(event.id);
    this.seenOrder.push(event.id);
    this.writeCursor(typeof cursor === "number" ? Math.min(cursor, event.id) : event.id);
    this.forgetSeen();
    this.emit("event", event);
  }

  // Keep the most recent ids, and every id above the cursor: a resume replays those.
  forgetSeen() {
    const below = this.cursor ?? 0;
    while (this.seenOrder.length > SEEN_LIMIT && this.seenOrder[0] <= below) this.seen.delete(this.seenOrder.shift());
  }

  settle(frame) {
    const entry = this.pending.get(frame.id);
    if (!entry) return;
    if (entry.frame.type === "resume" && frame.type === "ack") return; // wait for "resumed"
    this.pending.delete(frame.id);
    clearTimeout(entry.timer);
    if (frame.type === "ack") entry.resolve(frame);
    else entry.reject(new RequestError(frame.code || "error", frame.message, frame));
  }

  settleResume(frame) {
    for (const [id, entry] of this.pending) {
      if (entry.frame.type === "resume") {
        this.pending.delete(id);
        clearTimeout(entry.timer);
        entry.resolve(frame);
      }
    }
  }

  // --- frames out ---------------------------------------------------------------------------

  // Send a frame and wait for its ack (resolves with the ack frame) or error (rejects with
  // RequestError(code)). Offline: rejects at once with code "offline". No answer in time:
  // rejects with "timeout" and drops the connection, since an unanswered socket is a dead one.
  request(type, payload = {}, { timeoutMs = DEFAULT_ACK_TIMEOUT_MS } = {}) {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN || this.state !== "online") {
      return Promise.reject(new RequestError("offline", "not connected"));
    }
    const id = `c${this.nextId++}`;
    const frame = { type, id, ...payload };
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new RequestError("timeout", "no answer from the server"));
        if (this.ws === ws) ws.close(4000, "ack timeout");
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer, frame });
      ws.send(JSON.stringify(frame));
    });
  }

  // Fire and forget (typing notices): nothing to wait for, dropped when offline.
  notify(type, payload = {}) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN || this.state !== "online") return;
    this.request(type, payload).catch(() => {});
  }

  startHeartbeat() {
    this.stopHeartbeat();
    this.heartbeatTimer = setInterval(() => {
      // We ping every heartbeat; the ack (or any frame) proves the server is there.
      this.request("ping", {}, { timeoutMs: this.heartbeatMs }).catch(() => {});
    }, this.heartbeatMs);
  }

  stopHeartbeat() {
    clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = null;
  }
}
