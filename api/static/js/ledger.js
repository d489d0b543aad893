// The browser side of waste-ledger: device keys made with WebCrypto Ed25519 (private key
// non-extractable, kept in IndexedDB), entries built and signed here exactly as
// docs/ledger-format.md specifies, and an IndexedDB queue of signed entries that are sent
// when the network allows. The server never sees a private key.
//
// Browsers whose WebCrypto has no Ed25519 yet (Chrome before 137, several domestic browsers
// built on older Chromium) sign with the vendored @noble/ed25519 instead; that key's secret is
// kept sealed under a non-extractable AES-GCM key, so page scripts can use it but not read it
// out of IndexedDB as bytes (docs/pages.md, "Which browsers").
import { openDB } from "../vendor/idb/index.js";
import canonicalize from "../vendor/canonicalize/canonicalize.js";
import * as noble from "../vendor/noble-ed25519/index.js";

const DB_NAME = "waste-ledger";
const HEADER = "waste-ledger/entry/v1";
const ALG_ED25519 = 1;
const enc = new TextEncoder();

function database() {
  return openDB(DB_NAME, 1, {
    upgrade(db) {
      db.createObjectStore("keys", { keyPath: "org" });
      const queue = db.createObjectStore("queue", { keyPath: "id", autoIncrement: true });
      queue.createIndex("status", "status");
    },
  });
}

// --- small helpers -------------------------------------------------------------------------

export function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

export function messages() {
  const node = document.getElementById("i18n");
  try { return node ? JSON.parse(node.textContent) : {}; } catch { return {}; }
}

function b64(bytes) {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let i = 0;
  for (const p of parts) { out.set(p, i); i += p.length; }
  return out;
}

async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}

/** A network failure (offline, DNS, reset) as opposed to an answer from the server. */
export class NetworkError extends Error {}

/** An error answer from the server: {code, status, message, errors}. */
export class ApiError extends Error {
  constructor(body, status) {
    super(body && body.message ? body.message : `HTTP ${status}`);
    this.code = body && body.code ? body.code : `http_${status}`;
    this.status = status;
    this.body = body;
  }
}

/** Call the JSON API with the page session (and its CSRF token). */
export async function api(method, path, body, { text = false } = {}) {
  // X-Ledger-Page: an error comes back in the page's language only (docs/pages.md 5); the
  // API's integrators get the Chinese with the English detail.
  const headers = { "Accept": "application/json", "X-CSRFToken": csrfToken(), "X-Ledger-Page": "1" };
  let payload;
  if (body !== undefined) {
    headers["Content-Type"] = text ? "text/plain; charset=utf-8" : "application/json";
    payload = text ? body : JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(path, { method, headers, body: payload, credentials: "same-origin" });
  } catch (err) {
    throw new NetworkError(String(err));
  }
  let data = null;
  try { data = await resp.json(); } catch { data = null; }
  if (!resp.ok) throw new ApiError(data, resp.status);
  return data;
}

// --- masses -----------------------------------------------------------------------------------

const FULL_WIDTH = /[\uFF10-\uFF19\uFF0E\uFF0C]/g;

/** Kilograms as a person types them into exact integer grams, without floating point:
 * {grams} or {error: "mass_required" | "mass_format" | "mass_decimal_comma" |
 * "mass_range"}. Up to 3 decimals after
 * a point; full-width digits allowed; a comma only as a thousands separator in its right
 * place ("1,200" is 1200 kg, as the pages display it), so "12,5" is refused rather than
 * guessed — a decimal comma read as a thousands separator would be off by a factor of 1000. */
export function parseKg(raw) {
  const text = String(raw ?? "")
    .replace(FULL_WIDTH, (ch) => (ch === "\uFF0E" ? "." : ch === "\uFF0C" ? ","
      : String.fromCharCode(ch.charCodeAt(0) - 0xFF10 + 48)))
    .replace(/\s+/g, "");
  if (!text) return { error: "mass_required" };
  const plain = /^\d{1,3}(,\d{3})+(\.\d+)?$/.test(text) ? text.replace(/,/g, "") : text;
  const match = /^(\d{1,10})(?:\.(\d{1,3}))?$/.exec(plain);
  // "65,3": a decimal comma, as many scales and European keyboards write it. Said so plainly
  // rather than guessed (read as thousands it would be 1000 times off).
  if (!match) return { error: /^\d+,\d{1,3}$/.test(text) ? "mass_decimal_comma" : "mass_format" };
  const grams = Number(match[1]) * 1000 + Number((match[2] || "").padEnd(3, "0"));
  if (grams < 1 || grams > 1e12) return { error: "mass_range" };
  return { grams };
}

/** How far two masses differ, as a fraction of the first (0.05 is 5 %). */
export function massDifference(expected, actual) {
  return expected ? Math.abs(actual - expected) / expected : 0;
}

// --- device keys -----------------------------------------------------------------------------

let support = null;

/** How this browser signs: "native" (WebCrypto Ed25519), "fallback" (@noble/ed25519 over
 * WebCrypto's SHA-512 and AES-GCM) or "none" (no WebCrypto at all: an old browser, or a page
 * not served over HTTPS). Asked once, before anyone fills a form. */
export function signingSupport() {
  if (!support) support = detectSigning();
  return support;
}

async function detectSigning() {
  if (!(globalThis.crypto && crypto.subtle)) return "none";
  try {
    await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]);
    return "native";
  } catch {
    try {
      await crypto.subtle.digest("SHA-512", new Uint8Array(1));
      await crypto.subtle.generateKey({ name: "AES-GCM", length: 256 }, false, ["encrypt"]);
      return "fallback";
    } catch {
      return "none";
    }
  }
}

/** A new key pair: {pub, privateKey}, privateKey being what ``signBytes`` takes. */
async function makeKeyPair() {
  const how = await signingSupport();
  if (how === "native") {
    const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]);
    return { pub: new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey)),
             privateKey: pair.privateKey };
  }
  if (how === "none") throw new Error("no WebCrypto");
  const secret = noble.utils.randomSecretKey();
  try {
    const pub = await noble.getPublicKeyAsync(secret);
    const wrap = await crypto.subtle.generateKey({ name: "AES-GCM", length: 256 }, false,
                                                 ["encrypt", "decrypt"]);
    const iv = crypto.getRandomValues(new Uint8Array(12));
    const sealed = new Uint8Array(await crypto.subtle.encrypt({ name: "AES-GCM", iv }, wrap,
                                                              secret));
    return { pub, privateKey: { fallback: "noble-ed25519", wrap, iv, sealed } };
  } finally {
    secret.fill(0);
  }
}

/** Ed25519 signature of ``bytes`` with a key made by ``makeKeyPair``. */
async function signBytes(privateKey, bytes) {
  if (!privateKey || !privateKey.fallback) {
    return new Uint8Array(await crypto.subtle.sign({ name: "Ed25519" }, privateKey, bytes));
  }
  const secret = new Uint8Array(await crypto.subtle.decrypt(
    { name: "AES-GCM", iv: privateKey.iv }, privateKey.wrap, privateKey.sealed));
  try {
    return await noble.signAsync(bytes, secret);
  } finally {
    secret.fill(0);
  }
}

/** This device's key for ``org``, or null if none has been made here yet. */
export async function deviceKey(org) {
  return (await database()).get("keys", org) || null;
}

function keyName(org) {
  const rand = hex(crypto.getRandomValues(new Uint8Array(3)));
  return `web-${org.slice(-6)}-${rand}`;
}

/** Make a key in this browser and have it registered for ``org`` (needs the network once). */
export async function ensureDeviceKey(org, label) {
  const existing = await deviceKey(org);
  if (existing && existing.registered) return existing;
  let record = existing;
  if (!record) {
    const pair = await makeKeyPair();
    const pub = pair.pub;
    const name = keyName(org);
    const keyId = (await sha256(concat(enc.encode(name), Uint8Array.of(0x0a, ALG_ED25519), pub)))
      .slice(0, 4);
    record = {
      org, name, keyId, privateKey: pair.privateKey,
      fingerprint: hex(await sha256(pub)),
      vkey: `${name}+${hex(keyId)}+${b64(concat(Uint8Array.of(ALG_ED25519), pub))}`,
      registered: false,
    };
    // Kept before registering, so a lost answer does not orphan a registered key.
    await (await database()).put("keys", record);
  }
  await api("POST", "/api/v1/keys", { vkey: record.vkey, label }).catch((err) => {
    if (!(err instanceof ApiError && err.status === 409)) throw err; // 409: already registered
  });
  record.registered = true;
  await (await database()).put("keys", record);
  return record;
}

/** Forget this device's key (e.g. after it was revoked); the next action makes a new one. */
export async function forgetDeviceKey(org) {
  await (await database()).delete("keys", org);
}

// --- entries ----------------------------------------------------------------------------------

/** RFC 3339 UTC with milliseconds, never before ``notBefore`` (the stream's last entry). */
export function entryTime(notBefore) {
  const now = Date.now();
  const floor = notBefore ? Date.parse(notBefore) : 0;
  return new Date(Math.max(now, floor)).toISOString();
}

/** The person logged in on this page (经办人, HJ 1259), from ``<meta name="handled-by">``. */
export function handledBy() {
  const meta = typeof document === "undefined" ? null
    : document.querySelector('meta[name="handled-by"]');
  return meta && meta.content ? meta.content : null;
}

/** The payload of the next entry in a stream whose last entry is ``head``. Every entry a page
 * signs names the person logged in (``data.handled_by``), inside the signed payload; key
 * registrations (the device, not a person's act) are left as they are. */
export function nextPayload({ stream, head, org, key, kind, data, t }) {
  const who = handledBy();
  if (who && data && typeof data === "object" && !("handled_by" in data)
      && !kind.startsWith("key.")) {
    data = { ...data, handled_by: who };
  }
  const payload = { stream, seq: head ? head.seq + 1 : 0, org, key: key.fingerprint,
                    t: t || entryTime(head ? head.t : null), kind, data };
  if (head) payload.prev = head.leaf;
  return payload;
}

/** The exact text that is signed: header, canonical JSON payload, newline. */
export function entryText(payload) {
  return `${HEADER}\n${canonicalize(payload)}\n`;
}

/** A C2SP signed note: the text, a blank line, and this key's signature line. */
export async function signNote(text, key) {
  const sig = await signBytes(key.privateKey, enc.encode(text));
  return `${text}\n\u2014 ${key.name} ${b64(concat(key.keyId, sig))}\n`;
}

/** RFC 6962 leaf hash of a note (base64): the ``prev`` of the stream's next entry. */
export async function leafHash(note) {
  return b64(await sha256(concat(Uint8Array.of(0), enc.encode(note))));
}

/** Build and sign the next entry; returns {note, payload, head}, ``head`` being the stream's
 * new head once this entry lands (so a second entry can chain to it while offline). */
export async function signEntry(args) {
  const payload = nextPayload(args);
  const note = await signNote(entryText(payload), args.key);
  return { payload, note, head: { seq: payload.seq, leaf: await leafHash(note), t: payload.t } };
}

/** Send a signed note now; resolves to the receipt, rejects with ApiError or NetworkError. */
export function submitNote(note) {
  return api("POST", "/api/v1/entries", note, { text: true });
}

// --- the offline queue ------------------------------------------------------------------------

/** Keep a signed entry to send later; ``label`` says what it is, for the queue list. */
export async function enqueue(note, label) {
  const db = await database();
  return db.add("queue", { note, label, status: "queued", created: Date.now(), outcome: null });
}

export async function queued() {
  return (await database()).getAll("queue");
}

export async function pendingCount() {
  return (await database()).countFromIndex("queue", "status", "queued");
}

export async function clearSettled() {
  const db = await database();
  for (const item of await db.getAll("queue")) {
    if (item.status !== "queued") await db.delete("queue", item.id);
  }
}

/** Sign and send now if possible, else queue: the one call pages make. Resolves to
 * {status: "accepted", receipt} | {status: "queued"}; rejects with ApiError. */
export async function signAndSend(args, label) {
  const { note, head } = await signEntry(args);
  if (navigator.onLine) {
    try {
      return { status: "accepted", receipt: await submitNote(note), head };
    } catch (err) {
      if (!(err instanceof NetworkError)) throw err;
    }
  }
  await enqueue(note, label);
  return { status: "queued", head };
}
