/* The installed app on every page: the service worker, "update available", the offline CRM's
 * copy and outbox, and the switch for push notifications on this device.
 *
 * A plain script of this origin (the Content-Security-Policy runs no inline code); it works
 * on the elements the pages render by id, whenever they appear.
 */
(function () {
  "use strict";

  const BANNER_ID = "pwa-update";
  const STATUS_ID = "push-status";
  const ON_ID = "push-on";
  const OFF_ID = "push-off";
  const offline = window.MlmOffline;
  let updating = false;

  function banner(worker) {
    if (document.getElementById(BANNER_ID)) {
      return;
    }
    const box = document.createElement("div");
    box.id = BANNER_ID;
    box.setAttribute("role", "status");
    box.style.cssText =
      "position:fixed;left:50%;bottom:16px;transform:translateX(-50%);z-index:10000;" +
      "background:#134e4a;color:#fff;padding:10px 14px;border-radius:8px;display:flex;gap:12px;" +
      "align-items:center;box-shadow:0 4px 16px rgba(0,0,0,.25);font:14px system-ui,sans-serif";
    const text = document.createElement("span");
    text.textContent = "A new version of mlmcrm is available.";
    const reload = document.createElement("button");
    reload.type = "button";
    reload.textContent = "Reload";
    reload.style.cssText = "background:#fff;color:#134e4a;border:0;border-radius:6px;padding:6px 10px;cursor:pointer";
    reload.addEventListener("click", () => {
      updating = true;
      reload.disabled = true;
      worker.postMessage({ type: "SKIP_WAITING" });
    });
    const later = document.createElement("button");
    later.type = "button";
    later.textContent = "Later";
    later.style.cssText = "background:transparent;color:#fff;border:1px solid #fff;border-radius:6px;padding:6px 10px;cursor:pointer";
    later.addEventListener("click", () => box.remove());
    box.append(text, reload, later);
    document.body.appendChild(box);
  }

  async function registerWorker() {
    if (!("serviceWorker" in navigator)) {
      return;
    }
    let registration;
    try {
      registration = await navigator.serviceWorker.register("/sw.js", { scope: "/" });
    } catch (error) {
      return; // the development server serves no worker
    }
    const offer = (worker) => {
      if (worker && navigator.serviceWorker.controller) {
        banner(worker);
      }
    };
    offer(registration.waiting);
    registration.addEventListener("updatefound", () => {
      const worker = registration.installing;
      if (worker) {
        worker.addEventListener("statechange", () => {
          if (worker.state === "installed") {
            offer(worker);
          }
        });
      }
    });
    navigator.serviceWorker.addEventListener("controllerchange", () => {
      if (updating) {
        updating = false;
        window.location.reload();
      }
    });
  }

  // ---- the offline CRM: keep the copy fresh, send the outbox when the signal is back ----

  async function offlineData() {
    if (!offline || !("indexedDB" in window)) {
      return;
    }
    const params = new URLSearchParams(window.location.search);
    const path = window.location.pathname.replace(/\/+$/, "");
    if (path === "/login" && params.has("signed_out")) {
      await offline.clearAll().catch(() => undefined);
      await forgetPushSubscription();
      return;
    }
    if (navigator.onLine) {
      await offline.flush().catch(() => undefined);
      await offline.refresh().catch(() => undefined);
    }
  }

  window.addEventListener("online", () => {
    if (offline) {
      offline.flush().catch(() => undefined);
    }
  });

  // ---- push notifications on this device ----

  function keyBytes(base64url) {
    const padded = base64url.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((base64url.length + 3) % 4);
    const raw = atob(padded);
    return Uint8Array.from(raw, (c) => c.charCodeAt(0));
  }

  function say(text) {
    const status = document.getElementById(STATUS_ID);
    if (status) {
      status.textContent = text;
      status.dataset.filled = "1";
    }
  }

  function pushSupported() {
    return "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
  }

  async function currentSubscription() {
    const registration = await navigator.serviceWorker.getRegistration("/");
    return registration && registration.pushManager ? registration.pushManager.getSubscription() : null;
  }

  async function forgetPushSubscription() {
    if (!pushSupported()) {
      return;
    }
    try {
      const subscription = await currentSubscription();
      if (subscription) {
        await subscription.unsubscribe();
      }
    } catch (error) {
      // nothing to forget
    }
  }

  async function showPushState() {
    if (!pushSupported()) {
      say("This browser cannot show notifications from the app. On an iPhone, add the app to the home screen first.");
      return;
    }
    if (Notification.permission === "denied") {
      say("Notifications are blocked for this site. Allow them in the browser's site settings, then turn them on here.");
      return;
    }
    const subscription = await currentSubscription().catch(() => null);
    say(subscription ? "Notifications are on for this device." : "Notifications are off for this device.");
  }

  async function turnOn() {
    if (!pushSupported()) {
      await showPushState();
      return;
    }
    say("Asking the browser…");
    const permission = await Notification.requestPermission();
    if (permission !== "granted") {
      say("Notifications were not allowed. Allow them in the browser's site settings to turn them on.");
      return;
    }
    let key;
    try {
      const answer = await fetch("/api/push/key", { credentials: "same-origin", cache: "no-store" });
      if (!answer.ok) {
        say("Notifications are not set up on this server yet. Ask your company.");
        return;
      }
      key = (await answer.json()).public_key;
    } catch (error) {
      say("No connection: try again when you are online.");
      return;
    }
    let subscription;
    try {
      const registration = await navigator.serviceWorker.ready;
      subscription = await registration.pushManager.getSubscription();
      if (!subscription) {
        subscription = await registration.pushManager.subscribe({
          userVisibleOnly: true,
          applicationServerKey: keyBytes(key),
        });
      }
    } catch (error) {
      say("This browser could not reach its push service, so notifications cannot be turned on here.");
      return;
    }
    const saved = await fetch("/api/push/subscriptions", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(subscription.toJSON()),
    }).catch(() => null);
    if (!saved || !saved.ok) {
      let reason = "The server did not save this device. Try again.";
      try {
        reason = (await saved.json()).error || reason;
      } catch (error) {
        // keep the general message
      }
      say(reason);
      return;
    }
    say("Notifications are on for this device.");
  }

  async function turnOff() {
    if (!pushSupported()) {
      return;
    }
    const subscription = await currentSubscription().catch(() => null);
    if (subscription) {
      await fetch("/api/push/subscriptions", {
        method: "DELETE",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ endpoint: subscription.endpoint }),
      }).catch(() => null);
      await subscription.unsubscribe().catch(() => undefined);
    }
    say("Notifications are off for this device.");
  }

  document.addEventListener("click", (event) => {
    const target = event.target instanceof Element ? event.target.closest(`#${ON_ID}, #${OFF_ID}`) : null;
    if (!target) {
      return;
    }
    event.preventDefault();
    (target.id === ON_ID ? turnOn() : turnOff()).catch(() => say("Something went wrong; try again."));
  });

  // Signing in: the browser's time zone and language go with the form, so that a person who
  // has not chosen them on their profile reads times in their own zone from the first page.
  document.addEventListener(
    "submit",
    (event) => {
      const form = event.target;
      if (!(form instanceof HTMLFormElement) || !form.action.endsWith("/api/session/login")) {
        return;
      }
      const fields = {
        browser_timezone: Intl.DateTimeFormat().resolvedOptions().timeZone || "",
        browser_locale: navigator.language || "",
      };
      for (const [name, value] of Object.entries(fields)) {
        let input = form.querySelector(`input[name="${name}"]`);
        if (!input) {
          input = document.createElement("input");
          input.type = "hidden";
          input.name = name;
          form.appendChild(input);
        }
        input.value = value;
      }
    },
    true,
  );

  // The account page is rendered after this script runs (and again on each visit).
  const watcher = new MutationObserver(() => {
    const status = document.getElementById(STATUS_ID);
    if (status && !status.dataset.filled) {
      status.dataset.filled = "1";
      showPushState();
    }
  });

  function start() {
    watcher.observe(document.body, { childList: true, subtree: true });
    registerWorker();
    offlineData();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
