// Web Push on the 提醒 page: subscribe this browser with the installation's VAPID key through
// the collector pages' service worker (the one the app already has), and tell the server; or
// unsubscribe. The server pushes each notification to it (docs/notifications.md).
import { api, messages } from "./ledger.js";

const t = messages();
const $ = (id) => document.getElementById(id);

function say(text) { $("push-state").textContent = text; }

function keyBytes(b64url) {
  const s = atob(b64url.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - b64url.length % 4) % 4));
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

async function registration() {
  await navigator.serviceWorker.register("/collector/sw.js", { scope: "/collector/" });
  return navigator.serviceWorker.getRegistration("/collector/");
}

/** The registration once its worker is active. Not `navigator.serviceWorker.ready`: that waits
 * for a worker controlling *this* page, and the worker's scope is /collector/, so on this page it
 * would never resolve while the worker is still installing (it fetches the kept files first). */
async function activeRegistration() {
  const reg = await registration();
  if (reg.active) return reg;
  const worker = reg.installing || reg.waiting;
  if (!worker) throw new Error("service worker missing");
  await new Promise((resolve, reject) => {
    worker.addEventListener("statechange", () => {
      if (worker.state === "activated") resolve();
      else if (worker.state === "redundant") reject(new Error("service worker failed"));
    });
  });
  return reg;
}

async function show() {
  const reg = await registration();
  const sub = reg && await reg.pushManager.getSubscription();
  say(sub ? t.push_on : t.push_off);
  $("push-on").hidden = !!sub;
  $("push-off").hidden = !sub;
  return sub;
}

/** Subscribe (permission first) and send the subscription to the server. */
export async function subscribe() {
  if (await Notification.requestPermission() !== "granted") { say(t.push_denied); return null; }
  const { public_key } = await api("GET", "/api/v1/push/key");
  const reg = await activeRegistration();
  const sub = await reg.pushManager.subscribe({
    userVisibleOnly: true, applicationServerKey: keyBytes(public_key) });
  await api("POST", "/api/v1/push/subscriptions", sub.toJSON());
  await show();
  return sub;
}

export async function unsubscribe() {
  const reg = await registration();
  const sub = reg && await reg.pushManager.getSubscription();
  if (sub) {
    await api("POST", "/api/v1/push/unsubscribe", { endpoint: sub.endpoint });
    await sub.unsubscribe();
  }
  await show();
}

async function main() {
  if (!("serviceWorker" in navigator) || !("PushManager" in window)) {
    say(t.push_unsupported);
    return;
  }
  $("push-on").addEventListener("click", () => subscribe().catch((e) => say(t.push_failed + e.message)));
  $("push-off").addEventListener("click", () => unsubscribe().catch((e) => say(t.push_failed + e.message)));
  await show().catch((e) => say(t.push_failed + e.message));
  document.body.dataset.pushReady = "1";
}

main();
