// The wire protocol of PROTOCOL.md as a browser speaks it: HTTP flow on 10925, WebSockets on 3304 and 444.
// Nothing here knows about the page; every wait has a timeout, so nothing spins forever.

export class ProtocolError extends Error {
  // kind: "error" | "busy" | "timeout" | "network" | "closed"; reply: the server's JSON when there was one
  constructor(kind, message, reply = null) {
    super(message);
    this.kind = kind;
    this.reply = reply;
  }
}

export async function loadConfig() {
  const response = await fetch("config.json", { cache: "no-store" });
  if (!response.ok) throw new ProtocolError("network", `config.json: HTTP ${response.status}`);
  return response.json();
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function retryAfter(response) {
  const seconds = Number(response.headers.get("Retry-After"));
  return Number.isFinite(seconds) && seconds > 0 ? Math.min(seconds, 10) * 1000 : 2000;
}

// POST one flow request. `processing` is asked again with the same body (the server never repeats the work);
// `busy` is retried a few times; both within `totalMs`.
export async function flowRequest(type, body, { totalMs = 90000, requestMs = 30000, busyRetries = 3 } = {}) {
  const deadline = Date.now() + totalMs;
  const payload = JSON.stringify({ ...body, type });
  let busy = 0;
  for (;;) {
    const left = deadline - Date.now();
    if (left <= 0) throw new ProtocolError("timeout", `${type}: no answer within ${totalMs / 1000} s`);
    let response;
    try {
      response = await fetch(`/${type}`, {
        method: "POST", headers: { "Content-Type": "application/json" }, body: payload,
        signal: AbortSignal.timeout(Math.min(requestMs, left)), cache: "no-store",
      });
    } catch (exc) {
      const kind = exc.name === "TimeoutError" ? "timeout" : "network";
      throw new ProtocolError(kind, `${type}: ${exc.message}`);
    }
    let reply = null;
    try {
      reply = await response.json();
    } catch {
      throw new ProtocolError("error", `${type}: HTTP ${response.status} without JSON`);
    }
    if (reply.type === "processing") {
      await sleep(Math.min(retryAfter(response), Math.max(0, deadline - Date.now())));
      continue;
    }
    if (reply.type === "busy") {
      if (++busy > busyRetries) throw new ProtocolError("busy", reply.reason || "busy", reply);
      await sleep(Math.min(retryAfter(response), Math.max(0, deadline - Date.now())));
      continue;
    }
    if (reply.type === "error" || !response.ok) {
      throw new ProtocolError("error", reply.reason || `HTTP ${response.status}`, reply);
    }
    return reply;
  }
}

// A WebSocket whose messages are awaited one at a time: `await sock.next(ms)`.
export class Socket {
  constructor(url) {
    this.url = url;
    this.queue = [];
    this.waiters = [];
    this.closed = false;
    this.closeInfo = null;
  }

  open(timeoutMs = 10000) {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.url);
      ws.binaryType = "arraybuffer";
      this.ws = ws;
      const timer = setTimeout(() => {
        ws.close();
        reject(new ProtocolError("timeout", `${this.url}: could not connect`));
      }, timeoutMs);
      ws.onopen = () => {
        clearTimeout(timer);
        resolve(this);
      };
      ws.onmessage = (event) => this._push({ data: event.data });
      ws.onclose = (event) => {
        clearTimeout(timer);
        this.closed = true;
        this.closeInfo = { code: event.code, reason: event.reason };
        reject(new ProtocolError("network", `${this.url}: connection refused (${event.code})`));
        this._push(null);
      };
    });
  }

  _push(item) {
    const waiter = this.waiters.shift();
    if (waiter) waiter(item);
    else this.queue.push(item);
  }

  // The next message ({data}) or a ProtocolError "closed"/"timeout".
  next(timeoutMs) {
    if (this.queue.length) return this._deliver(this.queue.shift());
    if (this.closed) return this._deliver(null);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new ProtocolError("timeout", `${this.url}: no answer within ${timeoutMs / 1000} s`));
      }, timeoutMs);
      const waiter = (item) => {
        clearTimeout(timer);
        this._deliver(item).then(resolve, reject);
      };
      this.waiters.push(waiter);
    });
  }

  _deliver(item) {
    if (item === null) {
      this.queue.push(null); // every later next() sees the close too
      const info = this.closeInfo || {};
      return Promise.reject(new ProtocolError("closed", `closed (${info.code}) ${info.reason || ""}`.trim()));
    }
    return Promise.resolve(item);
  }

  // The next message as parsed JSON (text frames only).
  async nextJson(timeoutMs) {
    const { data } = await this.next(timeoutMs);
    if (typeof data !== "string") throw new ProtocolError("error", "expected a JSON text frame");
    return JSON.parse(data);
  }

  send(data) {
    if (this.closed || this.ws.readyState !== WebSocket.OPEN) throw new ProtocolError("closed", "socket closed");
    this.ws.send(data);
  }

  close() {
    if (this.ws && this.ws.readyState <= WebSocket.OPEN) this.ws.close(1000);
  }
}

// ws://<the host this page came from>:<port><path>
export function socketUrl(port, path) {
  return `ws://${location.hostname.includes(":") ? `[${location.hostname}]` : location.hostname}:${port}${path}`;
}

// A text frame that is a JSON refusal ({"type": "error" | "busy", ...}) rather than a question or transcript.
export function asRefusal(text) {
  if (typeof text !== "string" || !text.startsWith("{")) return null;
  try {
    const value = JSON.parse(text);
    return value && (value.type === "error" || value.type === "busy") ? value : null;
  } catch {
    return null;
  }
}
