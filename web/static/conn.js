// The Parley protocol over one WebSocket, as the Go SDK (client/) speaks it
// over TCP: every request carries a seq; object replies echo it and are
// matched by it; list replies are arrays without seq, matched by type in
// request order (the server answers one connection's requests in order);
// everything else is a push. The connection reconnects by itself with
// jittered exponential backoff and pings so the server's heartbeat rule
// applies (docs/PROTOCOL.md 6.3). It knows nothing of the page.

const PING_EVERY = 15000; // the SDK's interval: a third of the server's 45 s
const SILENT_FOR = 45000; // no frame for this long: the connection is dead
const REQUEST_TIMEOUT = 20000;
const BACKOFF_MIN = 500;
const BACKOFF_MAX = 15000;

// ServerError is an error reply: {"status":"error","code":..,"message":..}.
export class ServerError extends Error {
  constructor(reply) {
    super(reply.message || reply.code || "error");
    this.code = reply.code || "";
    this.type = reply.type || "";
  }
}

// ConnLost rejects the requests of a connection that closed before their
// reply: the caller may resend (send_message with the same client_msg_id).
export class ConnLost extends Error {
  constructor() {
    super("connection lost");
    this.code = "conn_lost";
  }
}

// Connection events: "state" (detail: {state, retryIn}), "open", "close",
// "message" (detail: a receive_message), "friend-request" (detail: the pushed
// friends rows), "chat-list" (detail: a chatting list nobody asked for).
export class Connection extends EventTarget {
  constructor(url) {
    super();
    this.url = url;
    this.ws = null;
    this.seq = 0;
    this.bySeq = new Map(); // seq -> call
    this.byType = new Map(); // type -> [call], for replies without seq
    this.backoff = BACKOFF_MIN;
    this.timer = 0;
    this.heartbeat = 0;
    this.lastRecv = 0;
    this.stopped = false;
    this.state = "offline";
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.ws) this.drop();
  }

  get open() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  setState(state, retryIn = 0) {
    this.state = state;
    this.dispatchEvent(new CustomEvent("state", { detail: { state, retryIn } }));
  }

  connect() {
    clearTimeout(this.timer);
    if (this.stopped || this.ws) return;
    this.setState("connecting");
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch (e) {
      this.retry();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      this.backoff = BACKOFF_MIN;
      this.lastRecv = Date.now();
      this.heartbeat = setInterval(() => this.beat(), PING_EVERY / 3);
      this.setState("online");
      this.dispatchEvent(new Event("open"));
    };
    ws.onmessage = (ev) => {
      this.lastRecv = Date.now();
      if (typeof ev.data === "string") this.route(ev.data);
    };
    ws.onclose = () => {
      if (this.ws === ws) this.drop();
    };
  }

  // reconnectNow skips the backoff wait (the browser says it is back
  // online, or the server said goaway).
  reconnectNow() {
    if (this.stopped || this.ws) return;
    this.backoff = BACKOFF_MIN;
    this.connect();
  }

  // drop forgets the socket at once (a dead one may take minutes to report
  // its close), fails every request in flight and schedules a reconnect.
  drop() {
    const ws = this.ws;
    this.ws = null;
    clearInterval(this.heartbeat);
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      try {
        ws.close();
      } catch (e) {
        // already closed
      }
    }
    const calls = [...this.bySeq.values()];
    this.bySeq.clear();
    this.byType.clear();
    for (const c of calls) {
      clearTimeout(c.timer);
      c.reject(new ConnLost());
    }
    this.dispatchEvent(new Event("close"));
    this.retry();
  }

  retry() {
    if (this.stopped) {
      this.setState("offline");
      return;
    }
    const wait = Math.round(this.backoff * (0.5 + Math.random()));
    this.backoff = Math.min(this.backoff * 2, BACKOFF_MAX);
    this.setState("offline", wait);
    this.timer = setTimeout(() => this.connect(), wait);
  }

  beat() {
    if (!this.open) return;
    if (Date.now() - this.lastRecv > SILENT_FOR) {
      this.drop();
      return;
    }
    if (Date.now() - this.lastRecv >= PING_EVERY) {
      // No seq: the pong then has none either, and goes nowhere.
      this.ws.send('{"type":"ping"}');
    }
  }

  // request sends one request and resolves with its reply: the object, or
  // the array of a list reply (whose elements may be the seed's "null"
  // object for an empty list). An error reply rejects with ServerError, a
  // lost connection with ConnLost.
  request(type, body = {}) {
    if (!this.open) return Promise.reject(new ConnLost());
    const seq = ++this.seq;
    return new Promise((resolve, reject) => {
      const call = { seq, type, resolve, reject, timer: 0 };
      call.timer = setTimeout(() => {
        // A reply this late means a dead or stuck connection: start over.
        if (this.bySeq.has(seq)) this.drop();
      }, REQUEST_TIMEOUT);
      this.bySeq.set(seq, call);
      const q = this.byType.get(type) || [];
      q.push(call);
      this.byType.set(type, q);
      this.ws.send(JSON.stringify({ ...body, type, seq }));
    });
  }

  take(call) {
    if (!call) return null;
    this.bySeq.delete(call.seq);
    const q = this.byType.get(call.type) || [];
    const i = q.indexOf(call);
    if (i >= 0) q.splice(i, 1);
    clearTimeout(call.timer);
    return call;
  }

  route(text) {
    let v;
    try {
      v = JSON.parse(text);
    } catch (e) {
      return; // not a Parley frame
    }
    if (Array.isArray(v)) {
      if (v.length === 0 || typeof v[0] !== "object" || v[0] === null) return;
      if (v[0].push) {
        // A pushed friends row (add_friend): never the reply to a call.
        this.dispatchEvent(new CustomEvent("friend-request", { detail: v }));
        return;
      }
      const call = this.take((this.byType.get(v[0].type) || [])[0]);
      if (call) call.resolve(v);
      else if (v[0].type === "chatting") this.dispatchEvent(new CustomEvent("chat-list", { detail: v }));
      return;
    }
    if (typeof v !== "object" || v === null) return;
    if (v.seq) {
      const call = this.take(this.bySeq.get(v.seq));
      if (!call) return;
      if (v.status === "error") call.reject(new ServerError(v));
      else call.resolve(v);
      return;
    }
    switch (v.type) {
      case "receive_message":
        this.dispatchEvent(new CustomEvent("message", { detail: v }));
        return;
      case "pong":
        return;
      case "goaway":
        // The server is shutting down: reconnect at once (with backoff
        // until it is back).
        this.drop();
        return;
    }
    if (v.code === "going_away") {
      this.drop();
      return;
    }
    const call = this.take((this.byType.get(v.type) || [])[0]);
    if (call) {
      if (v.status === "error") call.reject(new ServerError(v));
      else call.resolve(v);
    }
  }
}
