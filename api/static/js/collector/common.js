// What the collector pages share: the round kept in IndexedDB (for working offline), the
// device key, the offline queue with its count and outcomes, and signing with re-chaining.
import { openDB } from "../../vendor/idb/index.js";
import {
  api, ApiError, NetworkError, deviceKey, ensureDeviceKey, forgetDeviceKey, messages, queued,
  pendingCount,
  signAndSend, signEntry, submitNote, clearSettled, leafHash, parseKg as parseMassKg,
} from "../ledger.js";

export const M = messages();

/** Fill ``%(name)s`` placeholders of a translated message. */
export function t(key, values = {}) {
  const text = M[key] || key;
  return text.replace(/%\((\w+)\)s/g, (_, name) => (name in values ? String(values[name]) : ""));
}

export function $(id) { return document.getElementById(id); }

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("data-")) node.setAttribute(k, v);
    else if (k in node) node[k] = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

/** Who is signing: {org, name, roles, user} from the page. */
export function whoami() {
  return JSON.parse($("collector-org").textContent);
}

// --- codes and masses -----------------------------------------------------------------------

/** A batch code from a scan or typing: the trace URL, or the code with or without spaces. */
export function normaliseCode(text) {
  let s = String(text || "").trim();
  const at = s.lastIndexOf("/t/");
  if (at >= 0) s = s.slice(at + 3);
  s = s.split(/[?#]/)[0].replace(/[\s-]/g, "").toUpperCase();
  return /^[0-9A-Z]{37}$/.test(s) ? s : null;
}

/** The code in groups (USCC, waste code, date, serial), as on the label. */
export function groupedCode(code) {
  return `${code.slice(0, 18)} ${code.slice(18, 26)} ${code.slice(26, 34)} ${code.slice(34)}`;
}

/** Kilograms typed by a person as integer grams, exactly (the one parser of ledger.js);
 * null if not a mass. */
export function parseKg(text) {
  const parsed = parseMassKg(text);
  return parsed.grams ?? null;
}

/** Grams shown as kilograms with the decimals that matter. */
export function kg(grams) {
  if (grams === null || grams === undefined) return "—";
  const whole = Math.floor(grams / 1000);
  const rest = String(grams % 1000).padStart(3, "0").replace(/0+$/, "");
  return `${whole.toLocaleString("zh-CN")}${rest ? "." + rest : ""} ${M.kg || "kg"}`;
}

export function kgNumber(grams) {
  const rest = String(grams % 1000).padStart(3, "0").replace(/0+$/, "");
  return `${Math.floor(grams / 1000)}${rest ? "." + rest : ""}`;
}

// --- the round, kept on the phone -----------------------------------------------------------

function store() {
  return openDB("waste-ledger-collector", 1, {
    upgrade(db) {
      db.createObjectStore("round");                      // key: org -> the downloaded round
      db.createObjectStore("signed", { keyPath: "code" }); // what this phone signed, per batch
    },
  });
}

/** Download the round (online) and keep it on the phone; returns it. */
export async function downloadRound(org) {
  const round = await api("GET", "/api/v1/collector/round");
  await (await store()).put("round", round, org);
  return round;
}

export async function savedRound(org) {
  return (await (await store()).get("round", org)) || null;
}

/** The batch from the downloaded round, with the pickup it is on (if any). */
export function findInRound(round, code) {
  if (!round) return null;
  for (const p of round.pickups) {
    const card = p.batches.find((b) => b.code === code);
    if (card) return { card, pickup: p };
  }
  const card = round.held.find((b) => b.code === code);
  return card ? { card, pickup: null } : null;
}

export async function signedHere(code) {
  return (await (await store()).get("signed", code)) || null;
}

export async function allSignedHere() {
  const rows = await (await store()).getAll("signed");
  return Object.fromEntries(rows.map((r) => [r.code, r]));
}

async function rememberSigned(code, record) {
  await (await store()).put("signed", { code, at: Date.now(), ...record });
}

/** The head to chain to: what this phone signed last, if newer than what the server said. */
export async function headFor(code, serverHead) {
  const mine = await signedHere(code);
  if (mine && mine.head && (!serverHead || mine.head.seq > serverHead.seq)) return mine.head;
  return serverHead || null;
}

/** The stream head of a batch as the server has it now (online). */
export async function freshHead(code) {
  const detail = await api("GET", `/api/v1/batches/${encodeURIComponent(code)}`);
  const last = detail.history[detail.history.length - 1];
  return { detail, head: last ? { seq: last.seq, leaf: last.leaf_hash, t: last.t } : null };
}

// --- device key -----------------------------------------------------------------------------

let keyWork = null;
/** Make and register the key while online; say what state it is in. One at a time, so a tap
 * during the first registration does not make a second key. */
export function keyStatus({ create }) {
  if (!keyWork) keyWork = checkKey({ create }).finally(() => { keyWork = null; });
  return keyWork;
}

/** Answers that mean the ledger takes nothing more signed by this device's key. */
const DEAD_KEY = new Set(["key_unknown", "key_revoked", "key_wrong_org"]);
let askedLedger = false; // whether the ledger was asked this page load if the key is still good
let renewed = false;     // whether a dead key was replaced this page load (the key line says so)

/** Whether the ledger still takes this key: listed for the organisation and not revoked. null
 * when it cannot tell (offline, an error): the key is then kept. */
async function keyAlive(org, key) {
  try {
    const page = await api("GET", `/api/v1/keys?org=${encodeURIComponent(org)}`
      + `&cursor=${key.fingerprint.slice(0, -1)}&limit=1`);
    const row = page.items.find((k) => k.fingerprint === key.fingerprint);
    return Boolean(row && !row.revoked_at);
  } catch {
    return null;
  }
}

/** Forget this device's dead key (revoked by the unit's admin, or unknown to the ledger) and
 * make and register a new one, saying so on the key line. */
export async function renewKey() {
  const me = whoami();
  await forgetDeviceKey(me.org);
  renewed = true;
  return keyStatus({ create: true });
}

async function checkKey({ create }) {
  const me = whoami();
  const line = $("key-status");
  let key = await deviceKey(me.org);
  if (key && key.registered && create && navigator.onLine && !askedLedger) {
    askedLedger = true;
    if ((await keyAlive(me.org, key)) === false) {
      await forgetDeviceKey(me.org);
      key = null;
      renewed = true;
    }
  }
  if ((!key || !key.registered) && create && navigator.onLine) {
    if (line) line.textContent = t("key_making");
    try {
      key = await ensureDeviceKey(me.org, `${document.title.split("·")[0].trim()} · ${me.user}`);
    } catch (err) {
      if (line) line.textContent = t("key_failed", { msg: err.message });
      return null;
    }
  }
  if (line) {
    line.textContent = key && key.registered
      ? t(renewed ? "key_renewed" : "key_ready", { fp: key.name })
      : t(renewed ? "key_dead" : "key_missing_offline");
    line.classList.toggle("error", !(key && key.registered));
  }
  return key && key.registered ? key : null;
}

// --- signing --------------------------------------------------------------------------------

const RESIGNABLE = new Set(["seq_mismatch", "prev_mismatch", "time_before_previous"]);

/** Sign an entry for ``stream`` after ``head`` and send it (or queue it offline). If the
 * server says another entry landed first, re-chain to its head and sign again, once. */
export async function sign({ stream, head, kind, data, label }) {
  const me = whoami();
  const key = await keyStatus({ create: true });
  if (!key) throw new Error(t("key_missing_offline"));
  const args = { stream, head, org: me.org, key, kind, data };
  let result;
  try {
    try {
      result = await signAndSend(args, label);
    } catch (err) {
      // revoked (or unknown) since the page was opened: a new key, and the same entry signed
      // with it, once
      if (!(err instanceof ApiError && DEAD_KEY.has(err.code))) throw err;
      const fresh = await renewKey();
      if (!fresh) throw new Error(t("key_dead"));
      args.key = fresh;
      result = await signAndSend(args, label);
    }
  } catch (err) {
    if (!(err instanceof ApiError && RESIGNABLE.has(err.code))) throw err;
    const { head: fresh } = await freshHead(stream);
    result = await signAndSend({ ...args, head: fresh }, label);
    result.resigned = true;
  }
  await rememberSigned(stream, { head: result.head, kind, data, status: result.status,
                                 index: result.receipt ? result.receipt.index : null });
  await refreshQueue();
  return result;
}

// --- the offline queue ----------------------------------------------------------------------

function parseNote(note) {
  return JSON.parse(note.split("\n")[1]);
}

function laterOf(a, b) {
  return Date.parse(a) >= Date.parse(b) ? a : b;
}

async function queueStore() {
  await pendingCount(); // ledger.js opens (and on first use creates) its database first
  return openDB("waste-ledger", 1);
}

/** Send what is queued, in signing order. An entry that lost a race for its place in the
 * batch's chain (someone else's entry landed first, e.g. the release after an offline
 * acceptance) is signed again with this device's key after the new head, keeping its data
 * and its time (or the head's, if later); a consolidated batch's parent links follow. */
export async function flush() {
  const db = await queueStore();
  const items = (await db.getAllFromIndex("queue", "status", "queued")).sort((a, b) => a.id - b.id);
  const relinked = new Map(); // old leaf hash -> leaf hash of the re-signed entry
  let sent = 0;
  for (const item of items) {
    let note = item.note;
    try {
      let payload = parseNote(note);
      if (payload.kind === "batch.consolidated"
          && payload.data.parents.some((p) => relinked.has(p.entry))) {
        note = await resign(payload, null, relinked, null);
        payload = parseNote(note);
      }
      let receipt;
      try {
        receipt = await submitNote(note);
      } catch (err) {
        if (!(err instanceof ApiError && RESIGNABLE.has(err.code))) throw err;
        const { head } = await freshHead(payload.stream);
        note = await resign(payload, head, relinked, await leafHash(note));
        receipt = await submitNote(note);
        item.resigned = true;
      }
      item.status = "accepted";
      item.outcome = { index: receipt.index };
    } catch (err) {
      if (err instanceof NetworkError || !isFinalRefusal(err)) {
        // Still offline, or the server could not answer for the ledger (a 5xx, a proxy, a
        // throttle, an expired log-in): the signed entry stays queued for the next attempt.
        item.lastError = { code: err.code || "error", message: err.message };
        await db.put("queue", item);
        break;
      }
      item.status = "rejected";
      item.outcome = { code: err.code || "error", message: err.message };
    }
    item.note = note; // the re-signed note, if it had to be
    await db.put("queue", item);
    await settleSigned(note, item);
    sent += 1;
  }
  return sent;
}

/** A refusal by the ledger itself (a 4xx about the entry), not a failure to get an answer. */
function isFinalRefusal(err) {
  if (!(err instanceof ApiError)) return true; // a bug in building the entry: show it
  if (err.status >= 500 || err.status === 408 || err.status === 429) return false;
  return !["unauthenticated", "csrf_invalid", "log_busy"].includes(err.code);
}

/** What this phone remembers signing follows the queue's outcome. */
async function settleSigned(note, item) {
  let payload;
  try { payload = parseNote(note); } catch { return; }
  const mine = await signedHere(payload.stream);
  if (mine && mine.status === "queued" && mine.head && mine.head.seq === payload.seq) {
    await rememberSigned(payload.stream, { ...mine, status: item.status,
                                           index: item.outcome.index ?? null });
  }
}

async function resign(payload, head, relinked, oldLeaf) {
  const key = await deviceKey(payload.org);
  if (!key || key.fingerprint !== payload.key) throw new Error(t("key_missing_offline"));
  const data = structuredClone(payload.data);
  if (payload.kind === "batch.consolidated") {
    for (const p of data.parents) if (relinked.has(p.entry)) p.entry = relinked.get(p.entry);
  }
  const when = head ? laterOf(payload.t, head.t) : payload.t;
  const signed = await signEntry({ stream: payload.stream, head, org: payload.org, key,
                                   kind: payload.kind, data, t: when });
  if (oldLeaf) relinked.set(oldLeaf, signed.head.leaf);
  const mine = await signedHere(payload.stream);
  if (mine) await rememberSigned(payload.stream, { ...mine, head: signed.head });
  return signed.note;
}

/** Queue count, list of outcomes, online state: redrawn after every change. */
export async function refreshQueue() {
  const count = await pendingCount();
  const counter = $("queue-count");
  if (counter) {
    counter.textContent = String(count);
    counter.classList.toggle("has-items", count > 0);
  }
  const net = $("net-status");
  if (net) {
    net.textContent = navigator.onLine ? t("online") : t("offline");
    net.dataset.state = navigator.onLine ? "online" : "offline";
  }
  const list = $("queue-list");
  if (!list) return count;
  const items = (await queued()).sort((a, b) => b.id - a.id);
  list.replaceChildren(...items.map((item) => {
    const badge = item.status === "accepted" ? "ok" : item.status === "rejected" ? "bad" : "warn";
    const what = item.status === "accepted"
      ? `${t("accepted")} · ${t("index", { n: item.outcome.index })}`
      : item.status === "rejected"
        ? `${t("rejected")}：${item.outcome.message}`
        : t("queued");
    return el("li", { "data-status": item.status },
      el("span", { class: `badge ${badge}`, text: t(item.status === "queued" ? "queue" : item.status) }),
      " ", el("span", { text: item.label || "" }), el("br"),
      el("small", { class: "muted outcome", text: what }));
  }));
  if (items.length && $("queue-details") && count > 0) $("queue-details").open = true;
  return count;
}

function say(text) {
  const line = $("queue-message");
  if (!line) return;
  line.hidden = !text;
  line.textContent = text || "";
}

let flushing = null;
/** Send the queue now (the button, the ``online`` event, page load). */
export async function flushNow() {
  if (flushing) return flushing;
  flushing = (async () => {
    if (!(await pendingCount())) { say(""); return 0; }
    say(t("sending"));
    const sent = await flush();
    const left = await refreshQueue();
    say(left ? t("still_offline") : t("sent", { n: sent }));
    document.dispatchEvent(new CustomEvent("queue-flushed", { detail: { sent, left } }));
    return sent;
  })();
  try { return await flushing; } finally { flushing = null; }
}

/** Wire the queue bar and the service worker; call once per page. */
export async function setUpWorkspace() {
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/collector/sw.js", { scope: "/collector/" })
      .catch(() => { /* no offline copy, the page still works online */ });
  }
  $("flush-now").addEventListener("click", () => flushNow());
  $("queue-clear").addEventListener("click", async () => { await clearSettled(); await refreshQueue(); });
  window.addEventListener("online", () => flushNow());
  window.addEventListener("offline", () => refreshQueue());
  await refreshQueue();
  if (navigator.onLine) flushNow();
}

export function stateLabel(state) {
  return t(`state_${state}`);
}
