"""Web push end to end: subscriptions, the worker, and a local push service that checks it all.

Everything is real: PostgreSQL, Redis, the RQ worker, ``pywebpush`` posting over HTTP to the
local push service of ``tests/push_server.py``, which verifies the VAPID token and decrypts each
payload with the keys the test's "browser" made.
"""

from __future__ import annotations

import time

import pytest
from sqlalchemy import text
from sqlmodel import select

from mlmcrm.errors import NotFound, PermissionDenied, ValidationFailed
from mlmcrm.integrations import webpush
from mlmcrm.models import AuditLog
from mlmcrm.models.messaging import Message, PushSubscription
from mlmcrm.services.messaging import delivery, outbox, push
from mlmcrm.services.platform import crypto
from mlmcrm.services.platform.actor import Actor
from mlmcrm.settings import get_settings
from tests.deployment import deployed_as
from tests.factories import make_user
from tests.push_server import PushService, b64url
from tests.services.conftest import deliver_emails, signed_in

KIND = "network.new_team_member"


@pytest.fixture()
def push_service(smtp):
    """The local push service, trusting the app's VAPID public key; no message left waiting."""
    service = PushService(vapid_public_key=webpush.vapid_keys().public_key).start()
    try:
        yield service
    finally:
        service.stop()


def _subscribe(session, actor, device):
    saved = push.subscribe(
        session=session,
        actor=actor,
        endpoint=device.endpoint,
        p256dh=device.p256dh,
        auth=device.auth,
    )
    session.commit()
    return saved


def _person(session, service, devices=2):
    user = make_user(session, first_name="Sam")
    actor, _token = signed_in(session, user)
    subscribed = [service.new_subscription() for _ in range(devices)]
    for device in subscribed:
        _subscribe(session, actor, device)
    return user, actor, subscribed


def _notify(session, user, member="Ada Obi"):
    outcomes = outbox.notify(
        session=session, kind=KIND, user_id=user.id, params={"member_name": member}
    )
    session.commit()
    return {o.channel: o for o in outcomes}


def _message(session, message_id) -> Message:
    session.commit()
    session.expire_all()
    return session.get(Message, message_id)


def _row(session, device) -> PushSubscription:
    return _row_at(session, device.endpoint)


def _row_at(session, endpoint) -> PushSubscription:
    session.commit()
    session.expire_all()
    return session.exec(select(PushSubscription).where(PushSubscription.endpoint == endpoint)).one()


def test_a_notification_reaches_every_device_and_decrypts_to_the_message(
    owner_session, push_service
):
    user, _actor, devices = _person(owner_session, push_service)
    outcome = _notify(owner_session, user)["push"]
    assert outcome.status == "queued"
    row = _message(owner_session, outcome.message_id)
    assert row.to_address == f"user:{user.id}"
    body = crypto.decrypt_field(row.body_enc, field=outbox.BODY_FIELD)

    deliver_emails()

    expected = {
        "title": "Ada Obi joined your team",
        "body": body,
        "url": f"{get_settings().app_url}/team",
    }
    assert "Hello Sam" in body and "Ada Obi" in body
    for device in devices:
        assert push_service.received(device) == [expected]
        assert _row(owner_session, device).last_sent_at is not None
    assert push_service.refusals == []
    for pushed in push_service.pushes:
        assert pushed.claims["aud"] == push_service.url
        assert pushed.claims["sub"].startswith("mailto:")
        assert pushed.headers["urgency"] == "normal" and int(pushed.headers["ttl"]) > 0
    row = _message(owner_session, outcome.message_id)
    assert row.status == "sent" and row.attempts == 1 and row.sent_at is not None
    assert row.provider_id.startswith(f"{push_service.url}/message/")


def test_a_gone_subscription_is_expired_and_later_messages_skip_it(owner_session, push_service):
    user, _actor, (gone, kept) = _person(owner_session, push_service)
    push_service.answers[gone.token] = 410
    first = _notify(owner_session, user)["push"]
    deliver_emails()

    assert _message(owner_session, first.message_id).status == "sent", "one device took it"
    assert _row(owner_session, gone).expired_at is not None
    assert _row(owner_session, kept).expired_at is None
    assert push_service.hits[gone.token] == 1 and len(push_service.received(kept)) == 1

    second = _notify(owner_session, user, member="Ben Cole")["push"]
    deliver_emails()

    assert _message(owner_session, second.message_id).status == "sent"
    assert push_service.hits[gone.token] == 1, "the expired subscription is not tried again"
    assert [p["title"] for p in push_service.received(kept)] == [
        "Ada Obi joined your team",
        "Ben Cole joined your team",
    ]


@pytest.mark.parametrize("status", [404, 410])
def test_a_message_whose_every_device_is_gone_fails_saying_so(owner_session, push_service, status):
    user, _actor, (device,) = _person(owner_session, push_service, devices=1)
    push_service.answers[device.token] = status
    outcome = _notify(owner_session, user)["push"]
    deliver_emails()

    row = _message(owner_session, outcome.message_id)
    assert row.status == "failed" and row.error == push.GONE
    assert _row(owner_session, device).expired_at is not None
    # With no device left, the outbox refuses the next one at once.
    again = _notify(owner_session, user)["push"]
    assert again.status == "refused" and "No device" in again.reason
    deliver_emails()
    assert push_service.hits[device.token] == 1


def test_a_person_without_a_subscription_gets_no_push_message(owner_session, push_service):
    user = make_user(owner_session)
    outcome = _notify(owner_session, user)["push"]
    assert outcome.status == "refused" and outcome.reason == (
        "No device is subscribed to notifications."
    )
    deliver_emails()
    assert push_service.hits == {}


def test_a_busy_push_service_is_retried_and_the_push_arrives_once(
    owner_session, push_service, monkeypatch
):
    monkeypatch.setattr(delivery, "RETRY_INTERVALS_SECONDS", (1, 1))
    user, _actor, (device,) = _person(owner_session, push_service, devices=1)
    push_service.answers[device.token] = 503
    outcome = _notify(owner_session, user)["push"]
    deliver_emails()
    row = _message(owner_session, outcome.message_id)
    assert row.status == "queued" and "503" in row.error and row.attempts == 1
    assert _row(owner_session, device).expired_at is None

    del push_service.answers[device.token]
    time.sleep(1.1)
    delivery.tick()
    deliver_emails()
    deliver_emails()

    row = _message(owner_session, outcome.message_id)
    assert row.status == "sent" and row.attempts == 2
    assert len(push_service.received(device)) == 1


def test_a_push_service_that_refuses_the_request_fails_it_and_keeps_the_subscription(
    owner_session, push_service
):
    user, _actor, (device,) = _person(owner_session, push_service, devices=1)
    push_service.vapid_public_key = b64url(b"\x04" + b"\x01" * 64)  # subscribed with another key
    outcome = _notify(owner_session, user)["push"]
    deliver_emails()

    row = _message(owner_session, outcome.message_id)
    assert row.status == "failed" and "403" in row.error
    assert _row(owner_session, device).expired_at is None


def test_a_long_body_is_shortened_to_fit_one_push():
    data = push.payload("Title", "word " * 2000)
    assert len(data) <= webpush.MAX_PAYLOAD_BYTES
    assert data.decode().endswith('…"}')


# --- Subscribing --------------------------------------------------------------------------------


def _count(session, endpoint) -> int:
    session.rollback()
    return len(
        session.exec(select(PushSubscription.id).where(PushSubscription.endpoint == endpoint)).all()
    )


@pytest.mark.parametrize(
    ("endpoint", "message"),
    [
        ("http://push.example.com/x", "https"),
        ("ftp://127.0.0.1/x", "https"),
        ("https://10.0.0.5/push/x", "not an address"),
        ("https://[2001:db8::1]:8443/push", "not an address"),
        ("https://intranet/push/x", "on the internet"),
        ("https://printer.local/push", "on the internet"),
        ("https://user:pw@fcm.googleapis.com/fcm/send/x", "push service's URL"),
        ("https://fcm.googleapis.com/fcm send/x", "without spaces"),
        ("https://fcm.googleapis.com:99999/x", "not a valid URL"),
        ("https://fcm.googleapis.com/" + "x" * 3000, "too long"),
        ("", "Send the subscription's endpoint"),
        (None, "Send the subscription's endpoint"),
        (["https://fcm.googleapis.com/x"], "Send the subscription's endpoint"),
    ],
)
def test_an_endpoint_that_is_not_a_push_service_is_refused(
    owner_session, push_service, endpoint, message
):
    user = make_user(owner_session)
    actor, _ = signed_in(owner_session, user)
    device = push_service.new_subscription()
    with pytest.raises(ValidationFailed, match=message):
        push.subscribe(
            session=owner_session,
            actor=actor,
            endpoint=endpoint,
            p256dh=device.p256dh,
            auth=device.auth,
        )
    if isinstance(endpoint, str):
        assert _count(owner_session, endpoint) == 0


@pytest.mark.parametrize(
    "endpoint", ["http://127.0.0.1:8080/push/x", "https://localhost/push", "https://[::1]/push"]
)
def test_outside_development_no_endpoint_on_this_machine_is_accepted(monkeypatch, endpoint):
    with deployed_as(monkeypatch, "production"), pytest.raises(ValidationFailed):
        push.checked_endpoint(endpoint)
    assert push.checked_endpoint(endpoint) == endpoint, "a development machine takes it"


def test_https_push_services_on_the_internet_are_accepted(owner_session):
    user = make_user(owner_session)
    actor, _ = signed_in(owner_session, user)
    device_keys = PushService(vapid_public_key="").new_subscription()
    endpoint = "https://fcm.googleapis.com/fcm/send/abc:DEF-123"
    saved = push.subscribe(
        session=owner_session,
        actor=actor,
        endpoint=endpoint,
        p256dh=device_keys.p256dh + "=",  # padded base64url is fine too
        auth=device_keys.auth,
    )
    owner_session.commit()
    assert saved.push_service == "https://fcm.googleapis.com"
    row = _row_at(owner_session, endpoint)
    assert row.user_id == user.id and row.p256dh == device_keys.p256dh


@pytest.mark.parametrize(
    ("p256dh", "auth", "message"),
    [
        ("not base64 at all!", "good", "p256dh key must be"),
        (b64url(b"\x04" + b"\x00" * 64), "good", "p256dh key must be"),  # not on the curve
        ("short", "good", "p256dh key must be"),
        ("good", b64url(b"\x00" * 15), "auth secret must be 16 bytes"),
        ("good", "a+b/c=", "auth secret must be 16 bytes"),
        ("good", "", "Send the subscription's auth secret"),
        (None, "good", "Send the subscription's p256dh key"),
        ("good", {"x": 1}, "Send the subscription's auth secret"),
        ("A" * 500, "good", "p256dh key is too long"),
    ],
)
def test_malformed_keys_are_refused_and_nothing_is_saved(
    owner_session, push_service, p256dh, auth, message
):
    user = make_user(owner_session)
    actor, _ = signed_in(owner_session, user)
    device = push_service.new_subscription()
    with pytest.raises(ValidationFailed, match=message):
        push.subscribe(
            session=owner_session,
            actor=actor,
            endpoint=device.endpoint,
            p256dh=device.p256dh if p256dh == "good" else p256dh,
            auth=device.auth if auth == "good" else auth,
        )
    assert _count(owner_session, device.endpoint) == 0


def _audits(session, action):
    session.commit()
    return session.exec(
        select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)
    ).all()


def test_a_browser_subscribed_again_by_someone_else_moves_to_them(owner_session, push_service):
    first, first_actor, (device,) = _person(owner_session, push_service, devices=1)
    before = len(_audits(owner_session, "push.subscribed"))
    _subscribe(owner_session, first_actor, device)
    assert len(_audits(owner_session, "push.subscribed")) == before, "no change, no audit row"

    second = make_user(owner_session)
    second_actor, _ = signed_in(owner_session, second)
    _subscribe(owner_session, second_actor, device)

    assert _row(owner_session, device).user_id == second.id
    assert _count(owner_session, device.endpoint) == 1
    moved = _audits(owner_session, "push.subscribed")[-1]
    assert moved.actor_id == second.id and moved.after["moved_from_user_id"] == first.id
    assert device.endpoint not in str(moved.after), "the endpoint is a secret: not in the log"
    assert _notify(owner_session, first)["push"].status == "refused"


def test_a_person_keeps_a_bounded_number_of_devices(owner_session, push_service, monkeypatch):
    monkeypatch.setattr(push, "MAX_DEVICES", 2)
    _user, _actor, (oldest, middle, newest) = _person(owner_session, push_service, devices=3)
    assert _row(owner_session, oldest).expired_at is not None
    assert _row(owner_session, middle).expired_at is None
    assert _row(owner_session, newest).expired_at is None


def test_an_expired_subscription_comes_back_when_the_browser_subscribes_again(
    owner_session, push_service
):
    user, actor, (device,) = _person(owner_session, push_service, devices=1)
    owner_session.execute(
        text("UPDATE push_subscriptions SET expired_at = now() WHERE endpoint = :e"),
        {"e": device.endpoint},
    )
    owner_session.commit()
    _subscribe(owner_session, actor, device)
    assert _row(owner_session, device).expired_at is None
    assert _notify(owner_session, user)["push"].status == "queued"


def test_unsubscribing_removes_only_ones_own_subscription(owner_session, push_service):
    _owner, owner_actor, (device,) = _person(owner_session, push_service, devices=1)
    stranger = make_user(owner_session)
    stranger_actor, _ = signed_in(owner_session, stranger)
    with pytest.raises(NotFound):
        push.unsubscribe(session=owner_session, actor=stranger_actor, endpoint=device.endpoint)
    assert _count(owner_session, device.endpoint) == 1

    push.unsubscribe(session=owner_session, actor=owner_actor, endpoint=device.endpoint)
    owner_session.commit()
    assert _count(owner_session, device.endpoint) == 0
    (removed,) = _audits(owner_session, "push.unsubscribed")[-1:]
    assert removed.actor_id == _owner.id and removed.before == {"push_service": push_service.url}


def test_the_system_cannot_subscribe_a_browser(owner_session, push_service):
    device = push_service.new_subscription()
    with pytest.raises(PermissionDenied):
        push.subscribe(
            session=owner_session,
            actor=Actor.system("test"),
            endpoint=device.endpoint,
            p256dh=device.p256dh,
            auth=device.auth,
        )
