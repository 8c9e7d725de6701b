/* The offline CRM's store on the device: IndexedDB, shared by the pages and the service worker.
 *
 * - snapshot: what the server sent from /api/offline/crm (today's list, open tasks, contacts
 *   with their last notes, and the CSRF token of the session), with the changes not yet sent
 *   applied on top so the person sees what they did.
 * - outbox: notes, logged calls, completed tasks and stage moves made on the device, in order,
 *   each with an idempotency key (a UUID) so the server applies it once however often it is sent.
 * - notices: what the person must be told after sending (a task or stage changed on the server
 *   meanwhile and the server's version was kept; a change the server refused).
 *
 * Everything is cleared when the server says the session is over (401): at sign-out (the
 * login page after signing out clears it too) and when the session was revoked elsewhere.
 */
(function (scope) {
  "use strict";

  const DB_NAME = "mlmcrm-offline";
  const DB_VERSION = 1;
  const SNAPSHOT_URL = "/api/offline/crm";
  const CHANGES_URL = "/api/offline/changes";
  const SYNC_TAG = "crm-outbox";
  const LOCK_NAME = "mlmcrm-offline-outbox";
  const REFRESH_EVERY_MS = 5 * 60 * 1000;
  const BATCH = 100; // the server takes at most 100 changes per request…
  const BATCH_BYTES = 192 * 1024; // …and at most 256 KB: long notes go in smaller batches
  const KINDS = ["note", "call", "complete_task", "stage"];
  const channel = typeof BroadcastChannel === "function" ? new BroadcastChannel("mlmcrm-offline") : null;

  let opening = null;

  function openDb() {
    if (!opening) {
      opening = new Promise((resolve, reject) => {
        const request = indexedDB.open(DB_NAME, DB_VERSION);
        request.onupgradeneeded = () => {
          const db = request.result;
          db.createObjectStore("snapshot");
          db.createObjectStore("outbox", { keyPath: "seq", autoIncrement: true });
          db.createObjectStore("notices", { keyPath: "key" });
          db.createObjectStore("meta");
        };
        request.onsuccess = () => {
          const db = request.result;
          db.onversionchange = () => {
            db.close();
            opening = null;
          };
          resolve(db);
        };
        request.onerror = () => {
          opening = null;
          reject(request.error);
        };
      });
    }
    return opening;
  }

  /** Run ``work(stores)`` in one transaction; resolves with its result once committed. */
  async function transaction(names, mode, work) {
    const db = await openDb();
    return new Promise((resolve, reject) => {
      const tx = db.transaction(names, mode);
      const stores = {};
      for (const name of names) {
        stores[name] = tx.objectStore(name);
      }
      let result;
      Promise.resolve(work(stores)).then((value) => {
        result = value;
      }, reject);
      tx.oncomplete = () => resolve(result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  }

  function requested(request) {
    return new Promise((resolve, reject) => {
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  }

  function announce() {
    if (channel) {
      channel.postMessage({ type: "changed" });
    }
    if (typeof scope.dispatchEvent === "function" && typeof CustomEvent === "function" && scope.document) {
      scope.dispatchEvent(new CustomEvent("mlmcrm-offline-changed"));
    }
  }

  function newKey() {
    if (scope.crypto && typeof scope.crypto.randomUUID === "function") {
      return scope.crypto.randomUUID();
    }
    const bytes = scope.crypto.getRandomValues(new Uint8Array(16));
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }

  /** Show a change not yet sent on the snapshot, as it will be once the server has it. */
  function applyLocal(snapshot, change) {
    if (!snapshot) {
      return;
    }
    const contact = (snapshot.contacts || []).find((c) => c.id === change.contact_id);
    if ((change.kind === "note" || change.kind === "call") && contact) {
      contact.notes = contact.notes || [];
      contact.notes.unshift({ kind: change.kind, body: change.body, created_at: change.made_at, pending: true });
      contact.last_touched_at = change.made_at;
    } else if (change.kind === "stage" && contact) {
      contact.stage = change.stage;
      contact.pending_stage = true;
    } else if (change.kind === "complete_task") {
      const task = (snapshot.tasks || []).find((t) => t.id === change.task_id);
      if (task) {
        task.status = "done";
        task.pending = true;
      }
    }
  }

  async function readAll() {
    return transaction(["snapshot", "outbox", "notices", "meta"], "readonly", async (s) => ({
      snapshot: await requested(s.snapshot.get("crm")),
      outbox: await requested(s.outbox.getAll()),
      notices: await requested(s.notices.getAll()),
      meta: (await requested(s.meta.get("state"))) || {},
    }));
  }

  /** The snapshot with the unsent changes on top, the unsent changes and the notices. */
  async function load() {
    const state = await readAll();
    for (const change of state.outbox) {
      applyLocal(state.snapshot, change);
    }
    return state;
  }

  async function setMeta(values) {
    await transaction(["meta"], "readwrite", async (s) => {
      const current = (await requested(s.meta.get("state"))) || {};
      s.meta.put(Object.assign(current, values), "state");
    });
  }

  /** Remove everything this device keeps of the CRM (sign-out, a revoked session). */
  async function clearAll() {
    await transaction(["snapshot", "outbox", "notices", "meta"], "readwrite", (s) => {
      s.snapshot.clear();
      s.outbox.clear();
      s.notices.clear();
      s.meta.clear();
    });
    announce();
  }

  /**
   * Fetch a new snapshot from the server (at most every five minutes unless ``force``).
   * Resolves with ``{ok}``, ``{offline}`` (no connection), ``{signedOut}`` (the session is over:
   * the device's copy is cleared) or ``{noCrm}`` (this person keeps no CRM).
   */
  async function refresh(options) {
    const force = Boolean(options && options.force);
    const state = await readAll();
    if (!force && state.meta.checkedAt && Date.now() - state.meta.checkedAt < REFRESH_EVERY_MS) {
      return { ok: Boolean(state.snapshot), cached: true };
    }
    let response;
    try {
      response = await fetch(SNAPSHOT_URL, {
        credentials: "same-origin",
        cache: "no-store",
        headers: { Accept: "application/json" },
      });
    } catch (error) {
      return { offline: true };
    }
    if (response.status === 401) {
      await clearAll();
      await setMeta({ checkedAt: Date.now(), signedOut: true });
      return { signedOut: true };
    }
    if (response.status === 403) {
      await transaction(["snapshot"], "readwrite", (s) => s.snapshot.clear());
      await setMeta({ checkedAt: Date.now(), noCrm: true });
      return { noCrm: true };
    }
    if (!response.ok) {
      return { offline: true, status: response.status };
    }
    const snapshot = await response.json();
    const previous = state.snapshot;
    await transaction(["snapshot", "outbox"], "readwrite", async (s) => {
      if (previous && previous.user && snapshot.user && previous.user.id !== snapshot.user.id) {
        s.outbox.clear(); // another person signed in on this device: the other's changes go
      }
      s.snapshot.put(snapshot, "crm");
    });
    await setMeta({ checkedAt: Date.now(), savedAt: Date.now(), signedOut: false, noCrm: false });
    announce();
    return { ok: true };
  }

  /** Ask for the outbox to be sent: Background Sync where the browser has it, else now. */
  async function requestSync() {
    const worker = scope.navigator && scope.navigator.serviceWorker;
    if (worker && scope.document) {
      try {
        const registration = await worker.ready;
        if (registration.sync) {
          await registration.sync.register(SYNC_TAG);
          if (!scope.navigator.onLine) {
            return;
          }
        }
      } catch (error) {
        // no Background Sync: sent below, or on reconnect
      }
    }
    if (!scope.navigator || scope.navigator.onLine !== false) {
      await flush().catch(() => undefined);
    }
  }

  /**
   * Queue a change made on the device and send it when there is a connection.
   * ``change``: ``{kind: "note"|"call", contact_id, body}``, ``{kind: "stage", contact_id, stage}``
   * or ``{kind: "complete_task", task_id}``; what the person saw is recorded as its ``base``.
   */
  async function queue(change) {
    if (!KINDS.includes(change.kind)) {
      throw new Error("unknown change");
    }
    const state = await load();
    const snapshot = state.snapshot;
    if (!snapshot) {
      throw new Error("Nothing is saved on this device.");
    }
    const entry = {
      key: newKey(),
      kind: change.kind,
      made_at: new Date().toISOString(),
      user_id: snapshot.user && snapshot.user.id,
    };
    if (change.kind === "complete_task") {
      const task = (snapshot.tasks || []).find((t) => t.id === change.task_id);
      if (!task) {
        throw new Error("That task is not on this device.");
      }
      entry.task_id = task.id;
      entry.base = { status: task.status, due_at: task.due_at, description: task.description, type: task.type };
    } else {
      const contact = (snapshot.contacts || []).find((c) => c.id === change.contact_id);
      if (!contact) {
        throw new Error("That contact is not on this device.");
      }
      entry.contact_id = contact.id;
      if (change.kind === "stage") {
        entry.stage = change.stage;
        entry.base = { stage: contact.stage };
      } else {
        entry.body = String(change.body || "").trim();
        if (!entry.body) {
          throw new Error("Write something first.");
        }
      }
    }
    await transaction(["outbox"], "readwrite", (s) => s.outbox.add(entry));
    announce();
    requestSync();
    return entry;
  }

  function withLock(work) {
    const locks = scope.navigator && scope.navigator.locks;
    return locks ? locks.request(LOCK_NAME, work) : work();
  }

  /**
   * Send the queued changes (one sender at a time on this device). Resolves with what
   * happened; rejects when the server cannot be reached, so Background Sync tries again later.
   */
  function flush() {
    return withLock(async () => {
      let state = await readAll();
      if (!state.outbox.length) {
        return { sent: 0 };
      }
      let csrf = state.snapshot && state.snapshot.csrf;
      let retried = false;
      let sent = 0;
      while (state.outbox.length) {
        const batch = [];
        const sendable = [];
        let size = 0;
        for (const change of state.outbox.slice(0, BATCH)) {
          const out = Object.assign({}, change);
          delete out.seq;
          delete out.user_id;
          const bytes = new TextEncoder().encode(JSON.stringify(out)).length + 1;
          if (batch.length && size + bytes > BATCH_BYTES) {
            break;
          }
          batch.push(change);
          sendable.push(out);
          size += bytes;
        }
        const body = JSON.stringify({ changes: sendable });
        const response = await fetch(CHANGES_URL, {
          method: "POST",
          credentials: "same-origin",
          cache: "no-store",
          headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf || "" },
          body,
        });
        if (response.status === 401) {
          await clearAll();
          return { signedOut: true };
        }
        if (response.status === 403 && !retried) {
          // The session's token changed (signed in again): take the new one and try once more.
          retried = true;
          const outcome = await refresh({ force: true });
          if (!outcome.ok) {
            return outcome;
          }
          state = await readAll();
          csrf = state.snapshot && state.snapshot.csrf;
          continue;
        }
        if (!response.ok) {
          throw new Error(`The server answered ${response.status}; the changes stay queued.`);
        }
        const results = ((await response.json()) || {}).results || [];
        const byKey = new Map(results.map((r) => [r.key, r]));
        await transaction(["outbox", "notices"], "readwrite", (s) => {
          for (const change of batch) {
            const result = byKey.get(change.key);
            if (!result) {
              continue; // not answered: stays queued
            }
            s.outbox.delete(change.seq);
            sent += 1;
            if (result.status === "conflict" || result.status === "refused") {
              s.notices.put({
                key: change.key,
                status: result.status,
                message: String(result.message || "A change was not applied."),
                at: new Date().toISOString(),
              });
            }
          }
        });
        state = await readAll();
        if (batch.every((c) => !byKey.has(c.key))) {
          break; // nothing of the batch was answered: try again later
        }
      }
      await refresh({ force: true });
      announce();
      return { sent };
    });
  }

  async function dismissNotice(key) {
    await transaction(["notices"], "readwrite", (s) => s.notices.delete(key));
    announce();
  }

  scope.MlmOffline = {
    load,
    refresh,
    queue,
    flush,
    requestSync,
    clearAll,
    dismissNotice,
    channel,
    SYNC_TAG,
  };
})(self);
