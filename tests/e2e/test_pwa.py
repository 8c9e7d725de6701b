"""The installed app: installable, an offline shell, "update available", and push notifications.

Each test runs Chromium with a persistent profile (``launch_persistent_context``), as an
installed app runs: an incognito profile is never installable and keeps no service worker.
Chromium itself is asked, through the DevTools protocol, whether the app is installable, and a
push is delivered to the service worker through it (``ServiceWorker.deliverPushMessage``): no
push service can be reached from here, so the browser's subscription is a local one whose
endpoint is a push service the test runs (``tests/push_server.py``).
"""

from __future__ import annotations

import io
import json
import os
import re
import time

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect

from tests.e2e.conftest import (
    CHROMIUM_ARGS,
    DISTRIBUTOR_EMAIL,
    owner_query,
    sign_in,
    wait_until_live,
)

WAIT_CONTROLLED = """async () => {
  const controlled = (async () => {
    await navigator.serviceWorker.ready;
    if (!navigator.serviceWorker.controller) {
      await new Promise((resolve) =>
        navigator.serviceWorker.addEventListener("controllerchange", resolve, { once: true }));
    }
    return navigator.serviceWorker.controller.scriptURL;
  })();
  const late = new Promise((_, reject) =>
    setTimeout(() => reject(new Error("no service worker controls the page after 60 s")), 60000));
  return Promise.race([controlled, late]);
}"""
# The browser's subscription when no push service can be reached: a local one.
LOCAL_SUBSCRIPTION = """(() => {
  const json = SUBSCRIPTION;
  const subscription = {
    endpoint: json.endpoint, expirationTime: null, options: {},
    toJSON: () => json, unsubscribe: async () => true,
  };
  let subscribed = false;
  PushManager.prototype.getSubscription = async function () {
    return subscribed ? subscription : null;
  };
  PushManager.prototype.subscribe = async function () {
    subscribed = true;
    return subscription;
  };
})();"""
CLICK_FIRST_NOTIFICATION = """self.registration.getNotifications().then(([notification]) =>
  self.dispatchEvent(new NotificationEvent("notificationclick", { notification })))"""
CACHED_PATHS = """async () => {
  const out = {};
  for (const name of await caches.keys()) {
    const cache = await caches.open(name);
    out[name] = (await cache.keys()).map((r) => new URL(r.url).pathname);
  }
  return out;
}"""


@pytest.fixture()
def installed(browser, app, tmp_path):
    """A persistent Chromium profile (as an installed app has) and its first page."""
    context = browser.browser_type.launch_persistent_context(
        str(tmp_path / "profile"),
        executable_path=os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"),
        args=CHROMIUM_ARGS,
        viewport={"width": 412, "height": 860},
    )
    context.set_default_timeout(30_000)
    page = context.pages[0] if context.pages else context.new_page()
    yield context, page
    context.close()


def _controlled(page) -> str:
    """Wait until the service worker controls the page; its script URL.

    On a busy machine the first install can fail (a shell file the server was too slow to
    give): the browser then drops that worker and registers again at the next visit, so the
    test opens the page again once, as the person would.
    """
    try:
        return page.evaluate(WAIT_CONTROLLED)
    except PlaywrightError:
        page.reload()
        wait_until_live(page)
        return page.evaluate(WAIT_CONTROLLED)


def _precache(app, page) -> list[str]:
    text = page.request.get(f"{app.url}/sw.js").text()
    found = re.search(r"const PRECACHE = (\[.*?\]);", text, re.DOTALL)
    assert found, "the served worker carries its precache list"
    return json.loads(found.group(1))


def test_chromium_reports_the_app_installable(installed, app):
    from PIL import Image

    context, page = installed
    response = page.goto(f"{app.url}/login")
    policy = response.headers["content-security-policy"]
    assert "worker-src 'self'" in policy and "manifest-src 'self'" in policy
    assert _controlled(page).endswith("/sw.js")

    cdp = context.new_cdp_session(page)
    assert cdp.send("Page.getInstallabilityErrors")["installabilityErrors"] == []
    manifest = cdp.send("Page.getAppManifest")
    assert manifest["errors"] == []
    assert manifest["url"] == f"{app.url}/manifest.webmanifest"
    data = json.loads(manifest["data"])
    for field in ("name", "short_name", "description", "id", "start_url", "scope"):
        assert data[field], field
    assert data["display"] == "standalone"
    assert data["theme_color"] and data["background_color"]

    def image(url: str) -> Image.Image:
        fetched = page.request.get(f"{app.url}{url}")
        assert fetched.status == 200, url
        assert fetched.headers["content-type"].startswith("image/png"), url
        return Image.open(io.BytesIO(fetched.body()))

    pngs = {(i["sizes"], i["purpose"]): i["src"] for i in data["icons"] if i["type"] == "image/png"}
    assert {("192x192", "any"), ("512x512", "any"), ("512x512", "maskable")} <= set(pngs)
    for (sizes, _purpose), src in pngs.items():
        assert "x".join(map(str, image(src).size)) == sizes, src
    assert {shot["form_factor"] for shot in data["screenshots"]} == {"wide", "narrow"}
    for shot in data["screenshots"]:
        assert "x".join(map(str, image(shot["src"]).size)) == shot["sizes"], shot["src"]

    head = page.locator("head")
    touch_icon = head.locator("link[rel=apple-touch-icon]").get_attribute("href")
    assert image(touch_icon).size == (180, 180)
    assert head.locator("meta[name=apple-mobile-web-app-capable]").get_attribute("content") == "yes"
    assert head.locator("meta[name=apple-mobile-web-app-title]").count() == 1


def test_the_shell_is_precached_and_a_page_without_signal_says_what_still_works(installed, app):
    context, page = installed
    sign_in(page, app, DISTRIBUTOR_EMAIL)
    page.wait_for_url(re.compile(r"/home"))
    _controlled(page)
    precache = _precache(app, page)
    hashed = [url for url in precache if re.match(r"/assets/.+-[A-Za-z0-9_-]{8}\.(js|css)$", url)]
    assert hashed, "the built frontend's hashed files are precached"
    assert {"/offline/", "/offline/crm.html", "/offline/store.js", "/home", "/crm/today"} <= set(
        precache
    )
    # The app in use: pages, the websocket, API calls. None of it lands in a cache.
    for path in ("/crm", "/account"):
        page.goto(f"{app.url}{path}")
        wait_until_live(page)
    caches = page.evaluate(CACHED_PATHS)
    assert len(caches) == 1, caches
    ((name, cached),) = caches.items()
    assert name.startswith("mlmcrm-shell-")
    assert sorted(cached) == sorted(precache)
    assert not [p for p in cached if p.startswith(("/api", "/_event", "/_upload"))]

    context.set_offline(True)
    try:
        page.goto(f"{app.url}/statement", wait_until="load")
        expect(page.get_by_role("heading", name="You are offline")).to_be_visible()
        expect(page.get_by_text("What still works on this device")).to_be_visible()
        expect(page.get_by_role("link", name="Open your offline CRM")).to_be_visible()
        page.goto(f"{app.url}/crm/today", wait_until="load")
        expect(page.get_by_role("heading", name="Your CRM")).to_be_visible()
        expect(page.locator("#connection")).to_have_text("Offline")
    finally:
        context.set_offline(False)


def test_a_new_version_is_offered_and_old_caches_go(installed, app):
    context, page = installed
    page.goto(f"{app.url}/login")
    wait_until_live(page)
    _controlled(page)
    page.evaluate(
        "caches.open('mlmcrm-shell-0000000000000000').then((c) => c.put('/x', new Response('old')))"
    )
    # A new worker for the same scope (as a new build makes one): it installs and waits.
    page.evaluate("navigator.serviceWorker.register('/sw.js?build=next', { scope: '/' })")
    banner = page.locator("#pwa-update")
    expect(banner).to_contain_text("A new version of mlmcrm is available")
    with page.expect_event("load"):
        banner.get_by_role("button", name="Reload").click()
    wait_until_live(page)
    assert _controlled(page).endswith("/sw.js?build=next")
    names = page.evaluate("caches.keys()")
    assert "mlmcrm-shell-0000000000000000" not in names
    assert len(names) == 1 and names[0].startswith("mlmcrm-shell-")


def _push_payload(app, title: str, path: str) -> str:
    """The push the app sends for a message whose text links to ``path`` of the app."""
    from mlmcrm import settings
    from mlmcrm.services.messaging.push import payload

    previous = os.environ.get("APP_URL")
    os.environ["APP_URL"] = app.url
    settings.get_settings.cache_clear()
    try:
        return payload(title, f"Hello,\n\nSee it here: {app.url}{path}\n").decode()
    finally:
        if previous is None:
            os.environ.pop("APP_URL", None)
        else:
            os.environ["APP_URL"] = previous
        settings.get_settings.cache_clear()


def _worker(context, page):
    """The app's service worker as Playwright sees it."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for worker in context.service_workers:
            if worker.url.split("?")[0].endswith("/sw.js"):
                return worker
        page.wait_for_timeout(200)
    raise AssertionError("no service worker")


def _registration_id(cdp, app, page) -> str:
    found: dict[str, str] = {}

    def seen(event):
        for registration in event["registrations"]:
            if registration["scopeURL"].startswith(app.url) and not registration["isDeleted"]:
                found["id"] = registration["registrationId"]

    cdp.on("ServiceWorker.workerRegistrationUpdated", seen)
    cdp.send("ServiceWorker.enable")
    deadline = time.monotonic() + 15
    while "id" not in found and time.monotonic() < deadline:
        page.wait_for_timeout(100)  # lets Playwright deliver the protocol's events
    assert "id" in found, "the worker's registration"
    return found["id"]


def test_notifications_turned_on_then_a_push_opens_its_screen(installed, app):
    from tests.push_server import PushService

    context, page = installed
    context.grant_permissions(["notifications"], origin=app.url)
    key = page.request.get(f"{app.url}/api/push/key").json()["public_key"]
    service = PushService(vapid_public_key=key).start()
    try:
        device = service.new_subscription()
        # No push service is reachable from here: the browser's subscription is the local one.
        subscription = {
            "endpoint": device.endpoint,
            "expirationTime": None,
            "keys": {"p256dh": device.p256dh, "auth": device.auth},
        }
        context.add_init_script(
            LOCAL_SUBSCRIPTION.replace("SUBSCRIPTION", json.dumps(subscription))
        )
        sign_in(page, app, DISTRIBUTOR_EMAIL)
        page.wait_for_url(re.compile(r"/home"))
        page.goto(f"{app.url}/account")
        wait_until_live(page)
        status = page.locator("#push-status")
        expect(status).to_have_text("Notifications are off for this device.")
        page.get_by_role("button", name="Turn on notifications").click()
        expect(status).to_have_text("Notifications are on for this device.")
        rows = owner_query(
            app,
            "SELECT u.email FROM push_subscriptions s JOIN users u ON u.id = s.user_id"
            " WHERE s.endpoint = %s AND s.expired_at IS NULL",
            device.endpoint,
        )
        assert rows == [(DISTRIBUTOR_EMAIL,)]

        # What the app's push sender puts in a push (tested against a push service in
        # tests/services/messaging/test_push.py): a statement-ready message with its link.
        delivered = _push_payload(app, "Your statement for November is ready", "/statement")
        pushed = json.loads(delivered)
        assert pushed["url"] == f"{app.url}/statement"

        # The push service delivers it to the browser's (active) service worker.
        _controlled(page)
        cdp = context.new_cdp_session(page)
        registration = _registration_id(cdp, app, page)
        worker = _worker(context, page)
        shown: list[dict] = []
        # A push service delivers again what was not acknowledged; so does the test when a busy
        # browser dropped the first delivery (the same push shows one notification).
        for _attempt in range(3):
            cdp.send(
                "ServiceWorker.deliverPushMessage",
                {"origin": app.url, "registrationId": registration, "data": delivered},
            )
            deadline = time.monotonic() + 15
            while not shown and time.monotonic() < deadline:
                shown = worker.evaluate(
                    "self.registration.getNotifications().then((all) => all.map((n) =>"
                    " ({ title: n.title, body: n.body, url: n.data && n.data.url })))"
                )
                page.wait_for_timeout(200)
            if shown:
                break
        expected = {"title": pushed["title"], "body": pushed["body"], "url": pushed["url"]}
        assert shown and all(notification == expected for notification in shown), shown

        # A click on it opens its screen.
        worker.evaluate(CLICK_FIRST_NOTIFICATION)
        page.wait_for_url(re.compile(re.escape(pushed["url"]) + "/?$"))
        left = worker.evaluate("self.registration.getNotifications().then((all) => all.length)")
        assert left == len(shown) - 1, "the clicked notification is closed"
    finally:
        service.stop()


LOAD_DEVICE_COPY = "window.MlmOffline.load()"
POST_AGAIN = """async (changes) => {
  const { snapshot } = await window.MlmOffline.load();
  const answer = await fetch("/api/offline/changes", {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": snapshot.csrf },
    body: JSON.stringify({ changes }),
  });
  return { status: answer.status, body: await answer.json() };
}"""


def _distributor_crm(app, marker: str) -> dict[str, int]:
    """A contact of the demo distributor with two overdue tasks about it."""
    user_id = owner_query(app, "SELECT id FROM users WHERE email = %s", DISTRIBUTOR_EMAIL)[0][0]
    contact = owner_query(
        app,
        "INSERT INTO contacts (owner_id, first_name, last_name, phone, email, stage)"
        " VALUES (%s, 'Olga', %s, '+15555550142', %s, 'new') RETURNING id",
        user_id,
        f"Offline {marker}",
        f"olga.{marker}@example.com",
    )[0][0]
    tasks = [
        owner_query(
            app,
            "INSERT INTO tasks (assignee_id, contact_id, due_at, type, description)"
            " VALUES (%s, %s, now() - interval '2 hours', 'call', %s) RETURNING id",
            user_id,
            contact,
            f"{what} {marker}",
        )[0][0]
        for what in ("Call Olga", "Send the brochure to Olga")
    ]
    return {"user": user_id, "contact": contact, "call": tasks[0], "brochure": tasks[1]}


def _open_offline_crm(page, app) -> None:
    page.goto(f"{app.url}/offline/crm.html#today", wait_until="load")
    expect(page.get_by_role("heading", name="Your CRM")).to_be_visible()


def test_without_signal_the_crm_is_read_and_written_and_reaches_the_server_once(installed, app):
    context, page = installed
    marker = os.urandom(4).hex()
    ids = _distributor_crm(app, marker)
    sign_in(page, app, DISTRIBUTOR_EMAIL)
    page.wait_for_url(re.compile(r"/home"))
    _controlled(page)
    _open_offline_crm(page, app)
    expect(page.get_by_text(f"Call Olga {marker}")).to_be_visible()

    context.set_offline(True)
    try:
        # No signal: the page, today's list and the contact come from the device.
        page.reload(wait_until="load")
        expect(page.locator("#connection")).to_have_text("Offline")
        overdue = page.locator("section.block", has=page.get_by_role("heading", name="Overdue"))
        expect(overdue.get_by_text(f"Call Olga {marker}")).to_be_visible()
        page.get_by_role("link", name="Contacts", exact=True).click()
        page.get_by_label("Search contacts").fill(f"offline {marker}")
        page.get_by_role("link", name=re.compile(f"Olga Offline {marker}")).click()
        expect(page.get_by_role("link", name="Call +15555550142")).to_be_visible()

        page.get_by_label("Note").fill(f"Met Olga at the fair {marker}")
        page.get_by_role("button", name="Save note").click()
        expect(page.locator("#note-feedback")).to_contain_text("sent when the signal is back")
        page.get_by_label("Note").fill(f"Olga wants the starter kit {marker}")
        page.get_by_role("button", name="Log call").click()
        expect(page.locator("#notes")).to_contain_text(f"Olga wants the starter kit {marker}")
        page.get_by_label("Stage").select_option(index=1)
        moved_to = page.get_by_label("Stage").input_value()
        page.get_by_role("button", name="Move").click()

        page.get_by_role("link", name="Tasks", exact=True).click()
        for what in ("Call Olga", "Send the brochure to Olga"):
            row = page.locator("li.task", has_text=f"{what} {marker}")
            row.get_by_role("button", name="Done").click()
            expect(row).to_contain_text("waiting to be sent")
        expect(page.locator("#pending-text")).to_have_text("5 changes waiting to be sent.")
        queued = page.evaluate(LOAD_DEVICE_COPY)["outbox"]
        assert [c["kind"] for c in queued] == ["note", "call", "stage", "complete_task"] + [
            "complete_task"
        ]
        assert len({c["key"] for c in queued}) == 5

        # Meanwhile the brochure task is moved to tomorrow on another device.
        owner_query(
            app,
            "UPDATE tasks SET due_at = now() + interval '1 day' WHERE id = %s",
            ids["brochure"],
        )
    finally:
        context.set_offline(False)

    # The signal is back: the queue is sent (Background Sync, or the page on reconnect).
    expect(page.locator("#pending")).to_be_hidden(timeout=30_000)
    expect(page.locator("#notices")).to_contain_text(f"Send the brochure to Olga {marker}")
    expect(page.locator("#notices")).to_contain_text("server")

    def server_state():
        timeline = owner_query(
            app,
            "SELECT kind, body FROM contact_activities WHERE contact_id = %s"
            " AND kind IN ('note', 'call') ORDER BY id",
            ids["contact"],
        )
        tasks = owner_query(
            app,
            "SELECT id, status, due_at > now() FROM tasks WHERE id IN (%s, %s) ORDER BY id",
            ids["call"],
            ids["brochure"],
        )
        stage = owner_query(app, "SELECT stage FROM contacts WHERE id = %s", ids["contact"])
        return timeline, tasks, stage

    state = server_state()
    assert state == (
        [
            ("note", f"Met Olga at the fair {marker}"),
            ("call", f"Olga wants the starter kit {marker}"),
        ],
        sorted([(ids["call"], "done", False), (ids["brochure"], "open", True)]),
        [(moved_to,)],
    )

    # The same changes sent again, twice (a lost answer, a second device's sync): applied once.
    changes = [{k: v for k, v in c.items() if k not in ("seq", "user_id")} for c in queued]
    for _ in range(2):
        again = page.evaluate(POST_AGAIN, changes)
        assert again["status"] == 200
        assert [r["replayed"] for r in again["body"]["results"]] == [True] * 5
    assert server_state() == state

    # Signing out removes the device's copy.
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{app.url}/account")
    wait_until_live(page)
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/login/?\?signed_out=1"))
    copy = page.evaluate(LOAD_DEVICE_COPY)
    assert copy["snapshot"] is None and copy["outbox"] == [] and copy["notices"] == []


def test_a_revoked_session_clears_the_device_copy(installed, app):
    context, page = installed
    marker = os.urandom(4).hex()
    _distributor_crm(app, marker)
    sign_in(page, app, DISTRIBUTOR_EMAIL)
    page.wait_for_url(re.compile(r"/home"))
    _open_offline_crm(page, app)
    expect(page.get_by_text(f"Call Olga {marker}")).to_be_visible()
    assert page.evaluate(LOAD_DEVICE_COPY)["snapshot"] is not None

    # The session is revoked from another device ("Signed-in devices", or an admin).
    owner_query(
        app,
        "UPDATE user_sessions SET revoked_at = now() WHERE revoked_at IS NULL AND user_id ="
        " (SELECT id FROM users WHERE email = %s)",
        DISTRIBUTOR_EMAIL,
    )
    page.reload(wait_until="load")
    expect(page.locator("#nothing-saved")).to_contain_text("copy on this device was removed")
    assert page.evaluate(LOAD_DEVICE_COPY)["snapshot"] is None
    assert not page.get_by_text(f"Call Olga {marker}").is_visible()
