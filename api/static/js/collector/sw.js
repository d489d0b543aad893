// The collector pages' service worker (scope /collector/). VERSION and OFFLINE (the URLs to
// keep) are prepended by the server (api/pages_collector.py). Static files: cache first (their
// URLs change only with a deployment, which changes VERSION). The pages: network first, the
// kept copy when there is no network. The API is never cached here: the round is kept in
// IndexedDB by the page, and signed entries wait in the IndexedDB queue.
const CACHE = `collector-${VERSION}`;
const PAGES = new Set(OFFLINE.filter((u) => u.startsWith("/collector/")));

self.addEventListener("install", (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    await Promise.all(OFFLINE.map(async (url) => {
      try {
        const resp = await fetch(url, { credentials: "same-origin", cache: "no-cache" });
        // A page answered with the log-in form (session gone) is not the page: not kept.
        if (resp.ok && !resp.redirected) await cache.put(url, resp);
      } catch { /* kept on the next visit */ }
    }));
    await self.skipWaiting();
  })());
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith("collector-") && name !== CACHE) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

function pageKey(url) {
  return PAGES.has(url.pathname) ? url.pathname : null;
}

async function networkFirst(request, key) {
  const cache = await caches.open(CACHE);
  try {
    const resp = await fetch(request);
    if (resp.ok && !resp.redirected) await cache.put(key, resp.clone());
    return resp;
  } catch (err) {
    const kept = await cache.match(key);
    if (kept) return kept;
    throw err;
  }
}

async function cacheFirst(request) {
  const cache = await caches.open(CACHE);
  const kept = await cache.match(request, { ignoreSearch: true });
  if (kept) return kept;
  const resp = await fetch(request);
  if (resp.ok) await cache.put(request, resp.clone());
  return resp;
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  const key = pageKey(url);
  if (key && request.mode === "navigate") {
    event.respondWith(networkFirst(request, key));
  } else if (url.pathname.startsWith("/static/") || url.pathname.startsWith("/hazard/")) {
    event.respondWith(cacheFirst(request));
  }
});

// Web Push (docs/notifications.md): the server's payload is {title, body, url, tag, event, id}.
self.addEventListener("push", (event) => {
  let data = {};
  try { data = event.data ? event.data.json() : {}; } catch { data = { title: event.data.text() }; }
  event.waitUntil(self.registration.showNotification(data.title || "waste-ledger", {
    body: data.body || "", tag: data.tag, data: { url: data.url || "/notifications/" },
  }));
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const url = new URL(event.notification.data.url || "/notifications/", self.location.origin);
  if (url.origin !== self.location.origin) return;  // only this site's pages
  event.waitUntil(self.clients.openWindow(url.href));
});
