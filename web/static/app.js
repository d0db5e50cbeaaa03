// The Parley web client: the page's state and what the user sees. The
// protocol itself is conn.js; every text that came from the server or from
// another user is added with dom.js (textContent only).

import { Connection, ConnLost, ServerError } from "./conn.js";
import { el, text } from "./dom.js";

const $ = (id) => document.getElementById(id);
const HISTORY_PAGE = 30;
const store = window.localStorage;
const AUTH_KEY = "parley.auth"; // {id, name, token}

// state is everything the page shows, rebuilt from the server after every
// (re)connect: the server is the truth, the page a view of it.
const state = {
  me: null, // {id, name, token}
  friends: new Map(), // id -> {id, name, relation, incoming}
  chats: [], // chatting rows, newest first
  open: null, // peer id of the open conversation
  convs: new Map(), // peer -> {msgs: Map id -> msg, more, oldest, loaded}
  outbox: [], // {cmid, to, body, status: "sending"|"failed", error}
  cursor: "0", // highest message_id synced or received (sync's after_id)
  ackTimer: 0,
  chatsTimer: 0,
};

const wsURL = document.querySelector('meta[name="parley-websocket"]').content;
const conn = new Connection(wsURL);

// ---- connection state ----------------------------------------------------

function showConn(s, detail = "") {
  const node = $("conn-state");
  node.dataset.state = s;
  text(node, detail);
}

conn.addEventListener("state", (e) => {
  const { state: s, retryIn } = e.detail;
  if (s === "connecting") showConn("connecting", "Connecting…");
  else if (s === "online") showConn(state.me ? "connecting" : "online", state.me ? "Logging in…" : "Connected");
  else if (retryIn) showConn("offline", `Offline, retrying in ${Math.ceil(retryIn / 1000)} s`);
  else showConn("offline", "Offline");
});

window.addEventListener("online", () => conn.reconnectNow());

conn.addEventListener("open", async () => {
  if (!state.me) return;
  try {
    await conn.request("resume", { token: state.me.token });
  } catch (e) {
    if (e instanceof ServerError && e.code === "unauthenticated") {
      logout("Your session has expired: log in again.");
    }
    // Anything else (overloaded, a lost connection) is retried by the
    // next connection.
    return;
  }
  await afterLogin();
});

// ---- auth ------------------------------------------------------------------

function saveAuth(me) {
  state.me = me;
  store.setItem(AUTH_KEY, JSON.stringify(me));
}

function cursorKey() {
  return "parley.cursor." + state.me.id;
}

function sentKey() {
  return "parley.sent." + state.me.id;
}

function sentRequests() {
  try {
    return new Set(JSON.parse(store.getItem(sentKey()) || "[]"));
  } catch (e) {
    return new Set();
  }
}

function rememberSent(id, on) {
  const s = sentRequests();
  if (on) s.add(id);
  else s.delete(id);
  store.setItem(sentKey(), JSON.stringify([...s]));
}

function errorText(e) {
  if (e instanceof ConnLost) return "Not connected to the server; try again in a moment.";
  if (e instanceof ServerError) {
    switch (e.code) {
      case "bad_credentials": return "Wrong account id or password.";
      case "conflict": return e.type === "register" ? "This phone number is already registered." : (e.message || "Already done.");
      case "rate_limited": return "Too many attempts; wait a little.";
      case "overloaded": return "The server is busy; try again.";
      default: return e.message || e.code;
    }
  }
  return String(e.message || e);
}

$("login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const id = $("login-id").value.trim();
  const password = $("login-password").value;
  text($("login-error"), "");
  try {
    const reply = await conn.request("login", { user_id: id, user_password: password, want_token: true });
    const u = reply.find((x) => x.status === "success");
    if (!u) throw new Error("unexpected login reply");
    if (!u.token) throw new Error("the server issued no resume token");
    $("login-password").value = "";
    saveAuth({ id: u.user_id, name: u.user_name, token: u.token });
    await afterLogin();
  } catch (e) {
    text($("login-error"), errorText(e));
  }
});

$("register-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  text($("register-error"), "");
  text($("register-result"), "");
  try {
    const r = await conn.request("register", {
      user_phone: $("register-phone").value.trim(),
      user_name: $("register-name").value,
      user_password: $("register-password").value,
    });
    $("register-password").value = "";
    const out = $("register-result");
    out.replaceChildren("Account created. Your account id is ", el("strong", { id: "new-account-id" }, r.user_id), ": log in with it.");
    $("login-id").value = r.user_id;
    $("login-password").focus();
  } catch (e) {
    text($("register-error"), errorText(e));
  }
});

$("logout").addEventListener("click", () => logout(""));

function logout(why) {
  store.removeItem(AUTH_KEY);
  state.me = null;
  conn.stop();
  showAuth();
  text($("login-error"), why);
  conn.start();
}

function showAuth() {
  $("app").hidden = true;
  $("me").hidden = true;
  $("auth").hidden = false;
}

function showApp() {
  $("auth").hidden = true;
  $("app").hidden = false;
  $("me").hidden = false;
  text($("me-name"), state.me.name || "");
  text($("me-id"), "id " + state.me.id);
}

// afterLogin runs after every login or resume: catch up with sync, then
// reload the lists, the open conversation and resend what was not
// acknowledged. The SDK does the same after each reconnect.
async function afterLogin() {
  showApp();
  showConn("online", "Online");
  try {
    state.cursor = store.getItem(cursorKey()) || "0";
    await catchUp();
    await Promise.all([loadFriends(), loadChats()]);
    if (state.open) await loadNewest(state.open);
    flushOutbox();
  } catch (e) {
    if (!(e instanceof ConnLost)) console.warn("after login:", e);
  }
}

// ---- messages ---------------------------------------------------------------

function maxID(a, b) {
  return BigInt(a) >= BigInt(b) ? a : b;
}

async function catchUp() {
  for (;;) {
    const r = await conn.request("sync", { after_id: state.cursor, limit: 500 });
    for (const m of r.messages) ingest(m);
    if (!r.more || r.messages.length === 0) break;
  }
  scheduleAck();
}

function advance(id) {
  state.cursor = maxID(state.cursor, id);
  store.setItem(cursorKey(), state.cursor);
}

// ingest files one message (a push, a sync or a history row), deduplicated
// by message_id.
function ingest(m) {
  const mine = m.send_id === state.me.id;
  const peer = mine ? m.receiver_id : m.send_id;
  if (!mine) advance(m.message_id);
  const c = state.convs.get(peer);
  if (c && c.loaded && !c.msgs.has(m.message_id)) {
    c.msgs.set(m.message_id, m);
    if (peer === state.open) renderMessages(false);
  }
}

conn.addEventListener("message", (e) => {
  if (!state.me) return;
  const m = e.detail;
  ingest(m);
  scheduleAck();
  if (m.send_id === state.open && document.visibilityState === "visible") markRead(state.open);
  else scheduleChats();
});

function scheduleAck() {
  clearTimeout(state.ackTimer);
  state.ackTimer = setTimeout(() => {
    if (state.cursor !== "0") conn.request("ack", { message_id: state.cursor }).catch(() => {});
  }, 500);
}

function scheduleChats() {
  clearTimeout(state.chatsTimer);
  state.chatsTimer = setTimeout(() => loadChats().catch(() => {}), 200);
}

async function markRead(peer) {
  try {
    await conn.request("update_chat", { comm_id: peer, unread_count: 0, chat_status: "chatting" });
  } catch (e) {
    // not_found: no chat yet; anything else: the next load shows the truth
  }
  scheduleChats();
}

function newClientMsgID() {
  const b = new Uint8Array(12);
  crypto.getRandomValues(b);
  return "web-" + Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

// send queues a message and sends it; a message whose reply was lost is
// sent again after the reconnect with the same client_msg_id, which the
// server stores once.
function send(to, body) {
  const item = { cmid: newClientMsgID(), to, body, status: "sending", error: "" };
  state.outbox.push(item);
  renderMessages(true);
  trySend(item);
}

async function trySend(item) {
  if (item.inFlight) return;
  item.inFlight = true;
  try {
    const r = await conn.request("send_message", {
      receiver_id: item.to, message_body: item.body, chat_type: "friend",
      message_type: "text", file_path: " ", client_msg_id: item.cmid,
    });
    state.outbox = state.outbox.filter((x) => x !== item);
    const c = state.convs.get(item.to);
    if (c && c.loaded && !c.msgs.has(r.message_id)) {
      c.msgs.set(r.message_id, {
        message_id: r.message_id, send_id: state.me.id, receiver_id: item.to,
        message_body: item.body, message_timestamp: localTime(), message_type: "text",
      });
    }
    scheduleChats();
  } catch (e) {
    if (!(e instanceof ConnLost)) {
      item.status = "failed";
      item.error = errorText(e);
    }
    // A lost connection keeps it "sending": flushOutbox resends it.
  } finally {
    item.inFlight = false;
    if (item.to === state.open) renderMessages(true);
  }
}

// localTime is now as the server writes times ("YYYY-MM-DD HH:MM:SS", local),
// for a sent message until the conversation is reloaded from the server.
function localTime() {
  const d = new Date();
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

function flushOutbox() {
  for (const item of state.outbox) if (item.status === "sending") trySend(item);
}

// ---- lists ------------------------------------------------------------------

async function loadFriends() {
  const rows = await conn.request("friends", {});
  const sent = sentRequests();
  state.friends = new Map();
  for (const r of rows) {
    if (r.status !== "success") continue;
    state.friends.set(r.user_id, {
      id: r.user_id, name: r.user_name, relation: r.friend_relation,
      incoming: r.friend_relation === "pending" && !sent.has(r.user_id),
    });
    if (r.friend_relation === "accepted") rememberSent(r.user_id, false);
  }
  renderFriends();
}

async function loadChats() {
  const rows = await conn.request("chatting", {});
  setChats(rows);
}

function setChats(rows) {
  state.chats = rows.filter((r) => r.status === "success" && r.chat_status !== "close");
  renderChats();
  if (state.open) renderConvHead();
}

conn.addEventListener("chat-list", (e) => {
  if (!state.me) return;
  setChats(e.detail);
  loadFriends().catch(() => {}); // someone accepted our request
});

conn.addEventListener("friend-request", (e) => {
  if (!state.me) return;
  for (const r of e.detail) {
    if (r.status !== "success") continue;
    rememberSent(r.user_id, false);
    state.friends.set(r.user_id, { id: r.user_id, name: r.user_name, relation: r.friend_relation, incoming: true });
  }
  renderFriends();
});

function nameOf(id) {
  const f = state.friends.get(id);
  if (f && f.name) return f.name;
  const c = state.chats.find((x) => x.comm_id === id);
  return c ? c.user_name : id;
}

function renderChats() {
  const list = $("chat-list");
  list.replaceChildren(...state.chats.map((c) => {
    const unread = Number(c.unread_count) || 0;
    const btn = el("button", { type: "button", class: "item", "data-peer": c.comm_id, "aria-current": c.comm_id === state.open ? "true" : null },
      el("span", { class: "item-name" }, c.user_name || c.comm_id),
      unread > 0 ? el("span", { class: "badge", "aria-label": unread + " unread" }, String(unread)) : null,
      el("span", { class: "item-last" }, c.last_message || ""),
      el("span", { class: "item-time" }, c.last_time || ""));
    btn.addEventListener("click", () => openConv(c.comm_id));
    return el("li", {}, btn);
  }));
  $("chats-empty").hidden = state.chats.length > 0;
}

function renderFriends() {
  const requests = [...state.friends.values()].filter((f) => f.relation === "pending");
  const friends = [...state.friends.values()].filter((f) => f.relation === "accepted");
  const incoming = requests.filter((f) => f.incoming).length;
  const badge = $("request-badge");
  badge.hidden = incoming === 0;
  text(badge, String(incoming));
  badge.setAttribute("aria-label", incoming + " friend requests");

  $("request-list").replaceChildren(...requests.map((f) => {
    const li = el("li", { class: "request", "data-peer": f.id },
      el("span", { class: "item-name" }, f.name || f.id),
      el("span", { class: "item-id" }, "id " + f.id));
    if (f.incoming) {
      const accept = el("button", { type: "button", class: "accept" }, "Accept");
      const refuse = el("button", { type: "button", class: "refuse" }, "Refuse");
      accept.addEventListener("click", () => friendCall("accept_friend", f.id));
      refuse.addEventListener("click", () => friendCall("delete_friend", f.id));
      li.append(accept, refuse);
    } else {
      const cancel = el("button", { type: "button", class: "refuse" }, "Withdraw");
      cancel.addEventListener("click", () => friendCall("delete_friend", f.id));
      li.append(el("span", { class: "item-note" }, "request sent"), cancel);
    }
    return li;
  }));
  $("friend-list").replaceChildren(...friends.map((f) => {
    const btn = el("button", { type: "button", class: "item", "data-peer": f.id },
      el("span", { class: "item-name" }, f.name || f.id), el("span", { class: "item-id" }, "id " + f.id));
    btn.addEventListener("click", () => openConv(f.id));
    return el("li", {}, btn);
  }));
}

async function friendCall(type, id) {
  try {
    await conn.request(type, { friend_id: id });
    if (type === "add_friend") rememberSent(id, true);
    else rememberSent(id, false);
  } catch (e) {
    text($("search-result"), errorText(e));
    if (e instanceof ServerError && e.code === "forbidden") rememberSent(id, true); // we asked: only they can accept
  }
  await Promise.all([loadFriends(), loadChats()]).catch(() => {});
  if (type === "delete_friend" && state.open === id) closeConv();
}

$("search-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const id = $("search-id").value.trim();
  const out = $("search-result");
  out.replaceChildren();
  try {
    const rows = await conn.request("search_user", { search_id: id });
    const u = rows.find((r) => r.status === "success");
    if (!u) {
      text(out, "No user with id " + id + ".");
      return;
    }
    const known = state.friends.get(u.user_id);
    const card = el("div", { class: "found", "data-peer": u.user_id },
      el("span", { class: "item-name" }, u.user_name), el("span", { class: "item-id" }, "id " + u.user_id));
    if (u.user_id === state.me.id) card.append(el("span", { class: "item-note" }, "that is you"));
    else if (known) card.append(el("span", { class: "item-note" }, known.relation === "accepted" ? "already a friend" : "request pending"));
    else {
      const add = el("button", { type: "button", class: "add" }, "Add friend");
      add.addEventListener("click", async () => {
        await friendCall("add_friend", u.user_id);
        card.replaceChildren(el("span", { class: "item-name" }, u.user_name), el("span", { class: "item-note" }, "request sent"));
      });
      card.append(add);
    }
    out.append(card);
  } catch (e) {
    text(out, errorText(e));
  }
});

// ---- tabs (arrow keys move between them, as ARIA tabs do) -----------------

function selectTab(name) {
  for (const t of ["chats", "friends"]) {
    const on = t === name;
    $("tab-" + t).setAttribute("aria-selected", String(on));
    $("tab-" + t).tabIndex = on ? 0 : -1;
    $("panel-" + t).hidden = !on;
  }
  if (name === "friends" && state.me) loadFriends().catch(() => {});
}
$("tab-chats").addEventListener("click", () => selectTab("chats"));
$("tab-friends").addEventListener("click", () => selectTab("friends"));
for (const t of ["tab-chats", "tab-friends"]) {
  $(t).addEventListener("keydown", (e) => {
    if (e.key === "ArrowRight" || e.key === "ArrowLeft") {
      const other = t === "tab-chats" ? "friends" : "chats";
      selectTab(other);
      $("tab-" + other).focus();
    }
  });
}

// ---- conversation -------------------------------------------------------------

async function openConv(peer) {
  state.open = peer;
  document.body.classList.add("conv-open");
  $("conversation").hidden = false;
  $("placeholder").hidden = true;
  $("conv-delete").dataset.state = "";
  text($("conv-delete"), "Delete friend");
  renderConvHead();
  renderChats();
  renderMessages(true);
  $("composer-text").focus();
  try {
    await loadNewest(peer);
    markRead(peer);
  } catch (e) {
    // reloaded after the next login
  }
}

function closeConv() {
  state.open = null;
  document.body.classList.remove("conv-open");
  $("conversation").hidden = true;
  $("placeholder").hidden = false;
  renderChats();
}

$("conv-back").addEventListener("click", closeConv);

function renderConvHead() {
  text($("conv-title"), nameOf(state.open));
}

// loadNewest (re)loads the newest page of a conversation, merging it into
// what is shown.
async function loadNewest(peer) {
  const r = await conn.request("history", { peer_id: peer, limit: HISTORY_PAGE });
  let c = state.convs.get(peer);
  if (!c) {
    c = { msgs: new Map(), more: r.more, oldest: "" };
    state.convs.set(peer, c);
  }
  if (!c.loaded) c.more = r.more;
  c.loaded = true;
  for (const m of r.messages) c.msgs.set(m.message_id, m);
  if (!c.oldest && r.messages.length) c.oldest = r.messages[r.messages.length - 1].message_id;
  if (peer === state.open) renderMessages(true);
}

$("older").addEventListener("click", async () => {
  const peer = state.open;
  const c = state.convs.get(peer);
  if (!c || !c.more) return;
  const box = $("messages");
  const fromBottom = box.scrollHeight - box.scrollTop;
  try {
    const r = await conn.request("history", { peer_id: peer, before_id: c.oldest, limit: HISTORY_PAGE });
    for (const m of r.messages) c.msgs.set(m.message_id, m);
    if (r.messages.length) c.oldest = r.messages[r.messages.length - 1].message_id;
    c.more = r.more;
  } catch (e) {
    return;
  }
  if (peer !== state.open) return;
  renderMessages(false);
  box.scrollTop = box.scrollHeight - fromBottom; // keep the view where it was
});

function renderMessages(toBottom) {
  const peer = state.open;
  if (!peer) return;
  const box = $("messages");
  const atBottom = toBottom || box.scrollHeight - box.scrollTop - box.clientHeight < 40;
  const c = state.convs.get(peer);
  const msgs = c ? [...c.msgs.values()].sort((a, b) => (BigInt(a.message_id) < BigInt(b.message_id) ? -1 : 1)) : [];
  $("older").hidden = !(c && c.more);
  const items = msgs.map((m) => {
    const mine = m.send_id === state.me.id;
    return el("li", { class: mine ? "msg mine" : "msg theirs", "data-id": m.message_id },
      el("p", { class: "msg-body" }, m.message_body),
      el("span", { class: "msg-meta" }, (mine ? "me" : nameOf(peer)) + (m.message_timestamp ? " · " + m.message_timestamp : "")));
  });
  for (const o of state.outbox) {
    if (o.to !== peer) continue;
    items.push(el("li", { class: "msg mine " + o.status, "data-pending": o.cmid },
      el("p", { class: "msg-body" }, o.body),
      el("span", { class: "msg-meta" }, o.status === "failed" ? "not sent: " + o.error : "sending…")));
  }
  $("message-list").replaceChildren(...items);
  if (atBottom) box.scrollTop = box.scrollHeight;
}

$("composer").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const box = $("composer-text");
  // Line breaks at either end are left over from Enter, never content.
  const body = box.value.replace(/^[\r\n]+|[\r\n]+$/g, "");
  if (!state.open || body.trim() === "") return;
  box.value = "";
  send(state.open, body);
});

$("composer-text").addEventListener("keydown", (ev) => {
  if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
    ev.preventDefault();
    $("composer").requestSubmit();
  }
});

$("conv-delete").addEventListener("click", () => {
  const b = $("conv-delete");
  if (b.dataset.state !== "confirm") {
    // A second click confirms: no modal dialog.
    b.dataset.state = "confirm";
    text(b, "Really delete?");
    return;
  }
  friendCall("delete_friend", state.open);
});

document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible" && state.open && state.me && conn.open) markRead(state.open);
});

// ---- start ---------------------------------------------------------------------

function start() {
  if (!wsURL) {
    showConn("offline", "This server has no WebSocket endpoint (web.ws_listen is off).");
    showAuth();
    return;
  }
  try {
    const saved = JSON.parse(store.getItem(AUTH_KEY) || "null");
    if (saved && saved.id && saved.token) {
      state.me = saved;
      showApp();
    } else showAuth();
  } catch (e) {
    showAuth();
  }
  conn.start();
}

start();
