// The office page's service worker: the page itself (HTML, script, styles, the browser
// package and the office build) is kept in the Cache API, so that a reload or a new tab
// opens while the server is away. The API (/v1/…) is never cached: the office's data
// lives in IndexedDB (crm-core's Office), not here.
const CACHE = "okna-office-1";
const SHELL = [
  "./", "index.html", "app.js", "style.css",
  "vendor/crm-core/js/browser.js", "vendor/crm-core/js/errors.js",
  "vendor/crm-core/js/office.js", "vendor/crm-core/js/store.js",
  "vendor/crm-core/pkg/web/crm_core.js", "vendor/crm-core/pkg/web/crm_core_bg.wasm",
];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(caches.keys()
    .then((names) => Promise.all(names.filter((name) => name !== CACHE).map((name) => caches.delete(name))))
    .then(() => self.clients.claim()));
});

// The network first (a new version is seen at once), the cache when the server is away;
// what else the page fetches (the full build, when it needs it) is kept as it comes.
self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== location.origin || url.pathname.startsWith("/v1/")) return;
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    try {
      const response = await fetch(event.request);
      if (response.ok) await cache.put(event.request, response.clone());
      return response;
    } catch (offline) {
      const kept = await cache.match(event.request, { ignoreSearch: true });
      if (kept) return kept;
      throw offline;
    }
  })());
});
