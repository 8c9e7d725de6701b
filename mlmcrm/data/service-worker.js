/* mlmcrm's service worker, served at /sw.js (root scope) by the app.
 *
 * The app fills in VERSION and PRECACHE from the production build when it serves this file
 * (mlmcrm/api/service_worker.py): the built frontend's file names carry content hashes, so the
 * list of the shell's files is only known after the build, and a new build makes a new worker.
 *
 * - install: precache the shell (the distributor pages' HTML and the files they load) and the
 *   offline pages; the new worker then waits until the page asks it to take over ("update
 *   available, reload").
 * - activate: delete the caches of earlier versions.
 * - fetch: only GET requests of this origin are answered from the cache. The websocket and
 *   uploads (/_event, /_upload) and everything under /api are never cached. A page opened
 *   without a connection gets the offline page (the CRM's pages get the offline CRM).
 * - push / notificationclick: show the push's title and body; a click opens its link.
 * - sync: send the offline CRM's queued changes (Background Sync).
 */
"use strict";

const VERSION = "__VERSION__";
const PRECACHE = __PRECACHE__;
const CACHE_PREFIX = "mlmcrm-shell-";
const SHELL_CACHE = CACHE_PREFIX + VERSION;
const OFFLINE_PAGE = "/offline/";
const OFFLINE_CRM = "/offline/crm.html";
const NEVER_CACHED = ["/_event", "/_upload", "/api", "/sw.js", "/ping", "/_health"];
const SYNC_TAG = "crm-outbox";

importScripts("/offline/store.js");

function neverCached(path) {
  return NEVER_CACHED.some((prefix) => path === prefix || path.startsWith(prefix + "/"));
}

self.addEventListener("install", (event) => {
  // Each file on its own: a shell file the server could not give now (a busy moment, a file of
  // an older build) is fetched from the network when needed; the offline pages must be stored,
  // else this version is not installed and the one before stays.
  event.waitUntil(
    (async () => {
      const cache = await caches.open(SHELL_CACHE);
      const stored = await Promise.allSettled(
        PRECACHE.map((url) => cache.add(new Request(url, { cache: "reload", credentials: "same-origin" })))
      );
      const missing = PRECACHE.filter((url, i) => stored[i].status === "rejected");
      if (missing.some((url) => url.startsWith("/offline/"))) {
        throw new Error("The offline pages could not be stored: " + missing.join(", "));
      }
    })()
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      const names = await caches.keys();
      await Promise.all(
        names.filter((name) => name.startsWith(CACHE_PREFIX) && name !== SHELL_CACHE).map((name) => caches.delete(name))
      );
      await self.clients.claim();
    })()
  );
});

self.addEventListener("message", (event) => {
  const type = event.data && event.data.type;
  if (type === "SKIP_WAITING") {
    self.skipWaiting();
  } else if (type === "VERSION" && event.ports && event.ports[0]) {
    event.ports[0].postMessage({ version: VERSION });
  } else if (type === "FLUSH") {
    event.waitUntil(MlmOffline.flush().catch(() => undefined));
  }
});

function offlineFallback(path) {
  const crm = path === "/crm" || path.startsWith("/crm/");
  return caches.match(crm ? OFFLINE_CRM : OFFLINE_PAGE, { ignoreSearch: true });
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") {
    return;
  }
  const url = new URL(request.url);
  if (url.origin !== self.location.origin || neverCached(url.pathname)) {
    return; // straight to the network, never stored
  }
  if (request.mode === "navigate") {
    event.respondWith(
      (async () => {
        try {
          return await fetch(request);
        } catch (error) {
          const own = await caches.match(url.pathname, { ignoreSearch: true, cacheName: SHELL_CACHE });
          if (own && url.pathname.startsWith("/offline/")) {
            return own;
          }
          const fallback = await offlineFallback(url.pathname);
          if (fallback) {
            return fallback;
          }
          throw error;
        }
      })()
    );
    return;
  }
  event.respondWith(
    (async () => {
      const cached = await caches.match(request, { cacheName: SHELL_CACHE });
      return cached || fetch(request);
    })()
  );
});

self.addEventListener("push", (event) => {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch (error) {
    data = { body: event.data ? event.data.text() : "" };
  }
  const title = typeof data.title === "string" && data.title ? data.title : "mlmcrm";
  const target = sameOriginUrl(data.url);
  event.waitUntil(
    self.registration.showNotification(title, {
      body: typeof data.body === "string" ? data.body : "",
      icon: "/icons/icon-192.png",
      badge: "/icons/maskable-192.png",
      data: { url: target },
    })
  );
});

/** A link of this app from a push, or the home page: a push never opens another site. */
function sameOriginUrl(value) {
  try {
    const url = new URL(typeof value === "string" && value ? value : "/", self.location.origin);
    return url.origin === self.location.origin ? url.href : self.location.origin + "/";
  } catch (error) {
    return self.location.origin + "/";
  }
}

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const target = sameOriginUrl(event.notification.data && event.notification.data.url);
  const opening = (async () => {
      const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
      for (const client of windows) {
        if (new URL(client.url).origin === self.location.origin) {
          const opened = await client.navigate(target).catch(() => null);
          if (opened) {
            await opened.focus().catch(() => undefined);
            return;
          }
        }
      }
      await self.clients.openWindow(target);
    })();
  try {
    event.waitUntil(opening);
  } catch (error) {
    // A click dispatched by a script rather than the browser cannot extend the event; the
    // screen opens all the same.
  }
});

self.addEventListener("sync", (event) => {
  if (event.tag === SYNC_TAG) {
    event.waitUntil(MlmOffline.flush());
  }
});
