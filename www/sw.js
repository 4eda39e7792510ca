// The demo's service worker (scope /www/): every same-origin GET the demo and its Web Worker make (page, package, wasm, model) is
// answered from the network when it answers, and otherwise from the copy cached last time.
const CACHE = "colbert-wasm-demo-shell-v1";

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET" || new URL(request.url).origin !== location.origin) return;
  // The model files are cached, sha256-checked, by the package itself (engine.js).
  if (new URL(request.url).pathname.startsWith("/models/")) return;
  event.respondWith(
    (async () => {
      const cache = await caches.open(CACHE);
      try {
        const response = await fetch(request);
        if (response.ok) await cache.put(request, response.clone());
        return response;
      } catch (err) {
        const cached = await cache.match(request);
        if (cached) return cached;
        throw err;
      }
    })(),
  );
});
