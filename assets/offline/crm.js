/* The offline CRM (offline/crm.html) and the offline page (offline/index.html).
 *
 * Reads the device's copy (store.js) and renders today's list, the open tasks and the
 * contacts; notes, logged calls, completed tasks and stage moves go to the outbox and are sent
 * when the connection returns. Text from the server is only ever set as text, never as HTML.
 */
(function () {
  "use strict";

  const store = window.MlmOffline;
  const STAGE_LABELS = new Map();
  let state = null;
  let lastRefresh = null;
  let flash = "";

  function el(tag, attributes, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
      if (value === undefined || value === null || value === false) {
        continue;
      }
      if (name === "text") {
        node.textContent = String(value);
      } else if (name.startsWith("on")) {
        node.addEventListener(name.slice(2), value);
      } else {
        node.setAttribute(name, value === true ? "" : String(value));
      }
    }
    for (const child of children.flat()) {
      if (child !== null && child !== undefined && child !== false) {
        node.append(child instanceof Node ? child : document.createTextNode(String(child)));
      }
    }
    return node;
  }

  function when(iso, withTime) {
    if (!iso) {
      return "";
    }
    const date = new Date(iso);
    if (Number.isNaN(date.getTime())) {
      return "";
    }
    const options = withTime === false
      ? { dateStyle: "medium" }
      : { dateStyle: "medium", timeStyle: "short" };
    return new Intl.DateTimeFormat(undefined, options).format(date);
  }

  function fold(text) {
    return String(text || "")
      .normalize("NFKD")
      .replace(/[\u0300-\u036f]/g, "")
      .replace(/[\u2018\u2019\u02bc]/g, "'")
      .toLowerCase();
  }

  function snapshot() {
    return state && state.snapshot;
  }

  function contactById(id) {
    const snap = snapshot();
    return snap ? (snap.contacts || []).find((c) => c.id === id) : undefined;
  }

  function taskById(id) {
    const snap = snapshot();
    return snap ? (snap.tasks || []).find((t) => t.id === id) : undefined;
  }

  function stageLabel(key) {
    return STAGE_LABELS.get(key) || key || "";
  }

  // ---- header: connection, age of the copy, queued changes, notices ----

  function renderHeader() {
    const online = navigator.onLine;
    const connection = document.getElementById("connection");
    connection.textContent = online ? "Online" : "Offline";
    connection.className = "connection " + (online ? "online" : "offline");
    const age = document.getElementById("copy-age");
    const saved = state && state.meta && state.meta.savedAt;
    age.textContent = saved
      ? `Copy saved on this device ${when(new Date(saved).toISOString())}.`
      : "";
    const count = state ? state.outbox.length : 0;
    const pending = document.getElementById("pending");
    pending.hidden = count === 0;
    document.getElementById("pending-text").textContent =
      count === 1 ? "1 change waiting to be sent." : `${count} changes waiting to be sent.`;
    document.getElementById("send-now").disabled = !online;
    const notices = document.getElementById("notices");
    notices.replaceChildren(
      ...(state ? state.notices : []).map((notice) =>
        el(
          "div",
          { class: `notice ${notice.status}`, role: "alert" },
          el("span", { text: notice.message }),
          el("button", {
            type: "button",
            text: "OK",
            "aria-label": "Dismiss",
            onclick: () => store.dismissNotice(notice.key),
          })
        )
      )
    );
  }

  // ---- views ----

  function taskRow(task) {
    const contact = task.contact_id ? contactById(task.contact_id) : undefined;
    const done = task.status === "done";
    return el(
      "li",
      { class: "task" + (done ? " done" : ""), "data-task-id": task.id },
      el(
        "div",
        { class: "grow" },
        el("div", { class: "title", text: task.description || task.type }),
        el(
          "div",
          { class: "small" },
          task.due_at ? `Due ${when(task.due_at)}` : "No due date",
          contact || task.contact_name ? " · " : "",
          contact
            ? el("a", { href: `#contact/${contact.id}`, text: contact.name })
            : task.contact_name || ""
        ),
        task.pending ? el("div", { class: "small pending-mark", text: "Done on this device: waiting to be sent" }) : null
      ),
      done
        ? null
        : el("button", {
            type: "button",
            text: "Done",
            onclick: () => act({ kind: "complete_task", task_id: task.id }),
          })
    );
  }

  function contactRow(contact) {
    return el(
      "li",
      { class: "contact", "data-contact-id": contact.id },
      el(
        "a",
        { href: `#contact/${contact.id}`, class: "grow" },
        el("div", { class: "title", text: contact.name }),
        el("div", { class: "small", text: [stageLabel(contact.stage), contact.phone, contact.email].filter(Boolean).join(" · ") })
      )
    );
  }

  function section(title, items, empty) {
    return el("section", { class: "block" }, el("h2", { text: title }), items.length ? el("ul", { class: "list" }, items) : el("p", { class: "empty", text: empty }));
  }

  function viewToday(snap) {
    const today = snap.today || {};
    const tasks = (ids) => (ids || []).map(taskById).filter(Boolean).map(taskRow);
    const leads = (today.stale_leads || []).map(contactById).filter(Boolean).map(contactRow);
    return [
      section("Overdue", tasks(today.overdue), "Nothing overdue."),
      section("Due today", tasks(today.due_today), "Nothing else is due today."),
      section("Leads to follow up", leads, "No lead has waited two weeks."),
    ];
  }

  function viewTasks(snap) {
    const tasks = (snap.tasks || []).slice().sort((a, b) => String(a.due_at || "9999").localeCompare(String(b.due_at || "9999")));
    return [section("Open tasks", tasks.map(taskRow), "No open tasks. Add them in the app when you are online.")];
  }

  function viewContacts(snap, query) {
    const search = el("input", {
      type: "search",
      id: "contact-search",
      placeholder: "Search name, phone or email",
      "aria-label": "Search contacts",
      value: query || "",
    });
    const list = el("ul", { class: "list", id: "contact-list" });
    const fill = () => {
      const words = fold(search.value).split(/\s+/).filter(Boolean);
      const found = (snap.contacts || []).filter((c) => {
        const text = fold([c.name, c.first_name, c.last_name, c.phone, c.email].join(" "));
        const digits = String(c.phone || "").replace(/\D/g, "");
        return words.every((w) => text.includes(w) || (w.replace(/\D/g, "") && digits.includes(w.replace(/\D/g, ""))));
      });
      list.replaceChildren(...found.slice(0, 200).map(contactRow));
      if (!found.length) {
        list.append(el("li", { class: "empty", text: "No contact on this device matches." }));
      }
    };
    search.addEventListener("input", fill);
    fill();
    return [el("section", { class: "block" }, el("h2", { text: "Contacts" }), search, list)];
  }

  function viewContact(snap, id) {
    const contact = contactById(id);
    if (!contact) {
      return [el("p", { class: "empty", text: "That contact is not on this device." })];
    }
    const stages = snap.stages || [];
    const stageSelect = el(
      "select",
      { id: "stage", "aria-label": "Stage" },
      stages.map((s) => el("option", { value: s.key, text: s.label, selected: s.key === contact.stage }))
    );
    const note = el("textarea", { id: "note-body", rows: 3, maxlength: 5000, placeholder: "What was said, what comes next", "aria-label": "Note" });
    const feedback = el("p", { class: "small", id: "note-feedback", role: "status", text: flash });
    const send = (kind) => async () => {
      const body = note.value.trim();
      if (!body) {
        feedback.textContent = "Write something first.";
        return;
      }
      flash = navigator.onLine ? "Saved." : "Saved on this device: it is sent when the signal is back.";
      await act({ kind, contact_id: contact.id, body });
    };
    const notes = (contact.notes || []).map((n) =>
      el(
        "li",
        { class: "note" + (n.pending ? " pending-note" : "") },
        el("div", { class: "small", text: `${n.kind === "call" ? "Call" : n.kind === "note" ? "Note" : n.kind} · ${when(n.created_at)}${n.pending ? " · waiting to be sent" : ""}` }),
        el("div", { text: n.body })
      )
    );
    return [
      el(
        "section",
        { class: "block" },
        el("p", {}, el("a", { href: "#contacts", text: "← Contacts" })),
        el("h2", { text: contact.name }),
        contact.phone ? el("p", {}, el("a", { href: `tel:${contact.phone}`, class: "button", text: `Call ${contact.phone}` })) : null,
        contact.email ? el("p", {}, el("a", { href: `mailto:${contact.email}`, text: contact.email })) : null,
        el(
          "div",
          { class: "row" },
          el("label", { for: "stage", text: "Stage" }),
          stageSelect,
          el("button", {
            type: "button",
            id: "move-stage",
            text: "Move",
            onclick: () => {
              if (stageSelect.value !== contact.stage) {
                act({ kind: "stage", contact_id: contact.id, stage: stageSelect.value });
              }
            },
          }),
          contact.pending_stage ? el("span", { class: "small pending-mark", text: "waiting to be sent" }) : null
        ),
        el("h3", { text: "Add a note or log a call" }),
        note,
        el(
          "div",
          { class: "row" },
          el("button", { type: "button", id: "save-note", text: "Save note", onclick: send("note") }),
          el("button", { type: "button", id: "log-call", text: "Log call", onclick: send("call") })
        ),
        feedback,
        el("h3", { text: "Last notes" }),
        notes.length ? el("ul", { class: "list", id: "notes" }, notes) : el("p", { class: "empty", text: "No notes yet." })
      ),
    ];
  }

  function viewNothing() {
    const signedOut = state && state.meta && state.meta.signedOut;
    const noCrm = state && state.meta && state.meta.noCrm;
    const text = signedOut
      ? "You are signed out, so the copy on this device was removed. Sign in with a connection to keep your CRM here again."
      : noCrm
        ? "Your account keeps no CRM of its own."
        : "Nothing is saved on this device yet. Open the app once while signed in and online: your today list, tasks and contacts are then kept here.";
    return [el("p", { class: "empty", id: "nothing-saved", text }), el("p", {}, el("a", { class: "button", href: "/login", text: "Sign in" }))];
  }

  function render() {
    if (!document.getElementById("crm-app")) {
      return;
    }
    renderHeader();
    const snap = snapshot();
    const route = (window.location.hash || "#today").slice(1);
    for (const link of document.querySelectorAll(".tabs a[data-view]")) {
      link.classList.toggle("active", route.startsWith(link.dataset.view));
    }
    const view = document.getElementById("view");
    if (!snap) {
      view.replaceChildren(...viewNothing());
      return;
    }
    STAGE_LABELS.clear();
    for (const stage of snap.stages || []) {
      STAGE_LABELS.set(stage.key, stage.label);
    }
    let content;
    if (route.startsWith("contact/")) {
      content = viewContact(snap, Number(route.slice("contact/".length)));
    } else if (route === "tasks") {
      content = viewTasks(snap);
    } else if (route.startsWith("contacts")) {
      const query = document.getElementById("contact-search");
      content = viewContacts(snap, query ? query.value : "");
    } else {
      content = viewToday(snap);
    }
    view.replaceChildren(...content);
  }

  async function reload() {
    state = await store.load();
    render();
    renderOfflinePage();
  }

  async function act(change) {
    try {
      await store.queue(change);
    } catch (error) {
      const notices = document.getElementById("notices");
      notices.append(el("div", { class: "notice refused", role: "alert", text: error.message }));
      return;
    }
    await reload();
  }

  async function syncNow() {
    if (!navigator.onLine) {
      return;
    }
    await store.flush().catch(() => undefined);
    if (!lastRefresh || Date.now() - lastRefresh > 30_000) {
      lastRefresh = Date.now();
      await store.refresh({ force: true }).catch(() => undefined);
    }
    await reload();
  }

  // ---- offline/index.html: say what is waiting ----

  function renderOfflinePage() {
    const waiting = document.getElementById("offline-waiting");
    if (!waiting || !state) {
      return;
    }
    const count = state.outbox.length;
    waiting.hidden = count === 0;
    waiting.textContent = count === 1
      ? "1 change made on this device is waiting to be sent."
      : `${count} changes made on this device are waiting to be sent.`;
  }

  async function start() {
    if (!store) {
      return;
    }
    const sendNow = document.getElementById("send-now");
    if (sendNow) {
      sendNow.addEventListener("click", syncNow);
    }
    window.addEventListener("hashchange", () => {
      flash = "";
      render();
    });
    window.addEventListener("online", () => syncNow());
    window.addEventListener("offline", render);
    window.addEventListener("mlmcrm-offline-changed", reload);
    if (store.channel) {
      store.channel.addEventListener("message", reload);
    }
    if ("serviceWorker" in navigator) {
      navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(() => undefined);
    }
    await reload();
    await syncNow();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
