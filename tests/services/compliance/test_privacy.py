"""Privacy rights: a person's copy of their data, and erasure with its legal deadlines.

Two people with orders, customers, contacts, messages, money and tax records: the export of one
holds theirs and nobody else's; the erasure of one anonymises their personal data and their CRM,
keeps the money, tax and audit records, changes nothing of the other, is idempotent, is logged,
and is applied again after a restore brings the data back.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from dateutil.relativedelta import relativedelta
from sqlalchemy import text
from sqlmodel import select

from mlmcrm.errors import (
    AuthenticationFailed,
    NotFound,
    PermissionDenied,
    ReauthenticationRequired,
    ValidationFailed,
)
from mlmcrm.models import (
    AutoshipSubscription,
    Contact,
    ContactActivity,
    Customer,
    Distributor,
    Erasure,
    Message,
    MessagePreference,
    Order,
    OrderItem,
    PrivacyRequest,
    Product,
    PushSubscription,
    SmsConsent,
    Task,
    User,
    UserProfile,
    WalletEntry,
)
from mlmcrm.services.accounts import api_tokens, auth
from mlmcrm.services.accounts.profile import CONTACT_NOTES_FIELD
from mlmcrm.services.compliance import privacy
from mlmcrm.services.crm.contacts import PRIVATE_NOTE_FIELD
from mlmcrm.services.messaging import outbox
from mlmcrm.services.payouts import methods
from mlmcrm.services.platform import crypto
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.platform.listing import ListQuery
from tests.factories import PASSWORD, make_user
from tests.handlers import nothing_changes
from tests.services.accounts.test_data_protection import certify_w9
from tests.services.conftest import signed_in

TAX_IDS = {"A": "123-45-6781", "B": "123-45-6782"}


@dataclass
class Person:
    """Someone with a bit of everything on file; ``marks`` are strings only their data holds."""

    user: User
    actor: Actor
    distributor_id: int
    order_id: int
    customer_id: int
    contact_id: int
    marks: dict[str, str]


def _product(session) -> Product:
    product = Product(
        sku=f"sku-{uuid.uuid4().hex[:10]}",
        name="Green tea",
        price=Decimal("19.90"),
        pv=Decimal(20),
        cv=Decimal(15),
        status="active",
    )
    session.add(product)
    session.flush()
    return product


def make_person(session, letter: str, *, country: str = "US", two_factor: bool = True) -> Person:
    """A distributor with profile, orders, customers, CRM, messages, money and a W-9 on file.

    With ``two_factor`` the account has a TOTP secret (set after this sign-in); without it the
    person can sign in again with the password alone (the page tests).
    """
    tag = f"{letter}{uuid.uuid4().hex[:8]}"
    user = make_user(session, first_name=f"Ann{tag}", last_name=f"Lee{tag}")
    actor, _token = signed_in(session, user, ip=f"10.1.{ord(letter) % 250}.9")
    user = session.get(User, user.id)
    user.phone = f"+1415555{uuid.uuid4().int % 10000:04d}"
    if two_factor:
        user.totp_secret_enc = crypto.encrypt_field("JBSWY3DPEHPK3PXP", field="users.totp_secret")
    session.add(user)
    profile = session.get(UserProfile, user.id)
    profile.address = {"street": f"{tag} Main St", "city": "Austin", "country": country}
    profile.date_of_birth_enc = crypto.encrypt_field(
        "1984-02-29", field="user_profiles.date_of_birth"
    )
    profile.avatar_url = f"https://avatars.example.com/{tag}.png"
    session.add(profile)
    distributor = session.exec(select(Distributor).where(Distributor.user_id == user.id)).one()
    distributor.country = country
    session.add(distributor)
    session.commit()
    certify_w9(session, actor, TAX_IDS[letter], legal_name=f"Ann{tag} Lee{tag}")

    product = _product(session)
    customer = Customer(
        distributor_id=distributor.id,
        first_name=f"Carl{tag}",
        last_name="Buyer",
        email=f"carl-{tag}@example.com".lower(),
        phone="+14155550100",
        billing_address={"street": f"{tag} Buyer Rd"},
        shipping_addresses=[{"street": f"{tag} Ship Ave"}],
    )
    session.add(customer)
    session.flush()
    orders = []
    for buyer in (None, customer.id):
        order = Order(
            distributor_id=distributor.id,
            customer_id=buyer,
            status="paid",
            subtotal=Decimal("39.80"),
            total=Decimal("39.80"),
            pv_total=Decimal(40),
            cv_total=Decimal(30),
            paid_at=datetime.now(UTC),
        )
        session.add(order)
        session.flush()
        session.add(
            OrderItem(
                order_id=order.id,
                product_id=product.id,
                quantity=2,
                unit_price=Decimal("19.90"),
                pv=Decimal(20),
                cv=Decimal(15),
            )
        )
        orders.append(order)
    contact = Contact(
        owner_id=user.id,
        first_name=f"Dora{tag}",
        last_name="Lead",
        email=f"dora-{tag}@example.com".lower(),
        phone=f"+1415666{uuid.uuid4().int % 10000:04d}",
        private_notes_enc=crypto.encrypt_field(f"secret note {tag}", field=CONTACT_NOTES_FIELD),
    )
    session.add(contact)
    session.flush()
    session.add(
        ContactActivity(
            owner_id=user.id,
            contact_id=contact.id,
            kind="note",
            is_private=True,
            body_enc=crypto.encrypt_field(f"private timeline {tag}", field=PRIVATE_NOTE_FIELD),
        )
    )
    session.add(
        Task(assignee_id=user.id, contact_id=contact.id, description=f"Call Dora{tag} back")
    )
    session.add(
        PushSubscription(
            user_id=user.id,
            endpoint=f"https://push.example.net/send/{tag}secret",
            p256dh="k" * 20,
            auth="a" * 16,
        )
    )
    session.add(MessagePreference(user_id=user.id, kind="order.confirmed", channels=["email"]))
    session.add(SmsConsent(phone=user.phone, source="test", text_shown="Texts from us, ok?"))
    session.add(
        SmsConsent(
            phone=contact.phone, sender_id=user.id, source="test", text_shown="My texts, ok?"
        )
    )
    session.add(
        WalletEntry(
            distributor_id=distributor.id,
            kind="adjustment",
            amount=Decimal("12.34"),
            note=f"Welcome bonus {tag}",
        )
    )
    session.add(
        AutoshipSubscription(
            distributor_id=distributor.id,
            day_of_month=5,
            region="US-TX",
            currency="USD",
            next_run_on=date.today() + timedelta(days=10),
            stripe_customer_id=f"cus_{tag}",
            stripe_payment_method_id=f"pm_{tag}",
        )
    )
    session.execute(
        text(
            "INSERT INTO payout_methods (distributor_id, kind, holder_name, routing_enc,"
            " routing_last4, account_enc, account_last4) VALUES (:d, 'ach', :holder, :routing,"
            " '0021', :account, '6789')"
        ),
        {
            "d": distributor.id,
            "holder": f"Ann{tag} Lee",
            "routing": crypto.encrypt_field("111000021", field=methods.ROUTING_FIELD),
            "account": crypto.encrypt_field("000123456789", field=methods.ACCOUNT_FIELD),
        },
    )
    session.add(
        Message(
            kind="crm.campaign",
            channel="email",
            category="marketing",
            sender_id=user.id,
            contact_id=contact.id,
            to_address=contact.email,
            subject=f"News from Ann{tag}",
            body_enc=crypto.encrypt_field("hello", field=outbox.BODY_FIELD),
            status="sent",
        )
    )
    session.commit()
    api_tokens.create_token(session=session, actor=actor, name=f"laptop {tag}", scopes=["me:read"])
    outbox.notify(
        session=session,
        kind="order.confirmed",
        user_id=user.id,
        params={"order_number": f"{orders[0].id}", "total": f"39.80 USD {tag}"},
    )
    session.commit()
    return Person(
        user=user,
        actor=actor,
        distributor_id=distributor.id,
        order_id=orders[0].id,
        customer_id=customer.id,
        contact_id=contact.id,
        marks={
            "email": user.email,
            "name": f"Ann{tag}",
            "customer": f"Carl{tag}",
            "contact": f"Dora{tag}",
            "note": f"secret note {tag}",
            "timeline": f"private timeline {tag}",
            "message": f"39.80 USD {tag}",
            "wallet": f"Welcome bonus {tag}",
            "token": f"laptop {tag}",
        },
    )


def stale(session, actor: Actor) -> None:
    """The actor's session confirmed the password longer ago than the re-authentication window."""
    session.execute(
        text(
            "UPDATE user_sessions SET reauthenticated_at = now() - interval '10 minutes'"
            " WHERE id = :id"
        ),
        {"id": actor.session_id},
    )
    session.commit()


def staff(session, role: str = "compliance") -> Actor:
    """A staff member of ``role``, signed in just now (fresh re-authentication)."""
    return signed_in(session, make_user(session, role=role))[0]


def _audits(session, action: str, entity_id) -> int:
    return session.execute(
        text("SELECT count(*) FROM audit_logs WHERE action = :a AND entity_id = :e"),
        {"a": action, "e": str(entity_id)},
    ).scalar_one()


# --- The export -------------------------------------------------------------------------------


def test_an_export_holds_the_persons_data_and_nobody_elses(owner_session, redis_url):
    ann = make_person(owner_session, "A")
    bob = make_person(owner_session, "B")
    document = privacy.export_my_data(session=owner_session, actor=ann.actor)
    owner_session.commit()

    assert json.loads(json.dumps(document)) == document, "the export round-trips through JSON"
    assert document["format_version"] == privacy.FORMAT_VERSION
    assert datetime.fromisoformat(document["generated_at"]).tzinfo is not None
    dumped = json.dumps(document)
    for name, mark in ann.marks.items():
        assert mark in dumped, name
    for name, mark in bob.marks.items():
        assert mark not in dumped, f"another person's {name}"

    assert document["account"]["email"] == ann.user.email
    assert document["account"]["phone"] == ann.user.phone and document["account"]["two_factor"]
    profile = document["profile"]
    assert profile["first_name"] == ann.marks["name"] and profile["address"]["country"] == "US"
    assert profile["date_of_birth"] == {"on_file": True}
    assert profile["tax_id"] == {"on_file": True, "last4": "6781", "kind": "ssn"}
    assert "1984-02-29" not in dumped and "123456781" not in dumped and "123-45-6781" not in dumped
    assert "sensitive_fields" in document and "last 4" in document["sensitive_fields"]

    assert document["distributor"]["country"] == "US"
    orders = {order["id"]: order for order in document["orders"]}
    assert set(orders) == {ann.order_id, ann.order_id + 1}
    assert orders[ann.order_id]["total"] == "39.80" and orders[ann.order_id]["buyer"] == "own"
    assert orders[ann.order_id]["items"][0]["quantity"] == 2
    assert orders[ann.order_id]["items"][0]["unit_price"] == "19.90"
    assert document["autoship"][0]["card_on_file"] is True
    assert "pm_" not in dumped, "saved card references stay at the payment provider"

    crm = document["crm"]
    assert [c["id"] for c in crm["customers"]] == [ann.customer_id]
    assert [c["private_notes"] for c in crm["contacts"]] == [ann.marks["note"]]
    assert [a["body"] for a in crm["activities"]] == [ann.marks["timeline"]]
    assert len(crm["tasks"]) == 1 and len(crm["sms_consents_given_to_you"]) == 1

    messages = {m["kind"]: m for m in document["messages_to_you"]}
    assert set(messages) == {"order.confirmed", "account.security"}, "the token's notice too"
    assert ann.marks["message"] in messages["order.confirmed"]["body"]
    assert messages["account.security"]["body"] is None, "security words are never copied out"
    consents = document["consents_and_preferences"]
    assert consents["message_preferences"][0]["channels"] == ["email"]
    assert consents["sms_consents"][0]["sender"] == "the company"
    assert document["push_subscriptions"] == [
        {
            "created_at": document["push_subscriptions"][0]["created_at"],
            "last_sent_at": None,
            "expired_at": None,
            "push_service": "push.example.net",
        }
    ]
    assert "secret" not in json.dumps(document["push_subscriptions"])
    assert [t["name"] for t in document["api_tokens"]] == [ann.marks["token"]]
    assert "token_hash" not in dumped and "mlm_" not in dumped
    assert document["sessions"][0]["ip_address"] == "10.1.65.9"
    assert document["wallet"]["balance"] == "12.34"
    assert document["payout_method"]["account_number"] == {"on_file": True, "last4": "6789"}
    assert document["tax_certifications"][0]["tin_last4"] == "6781"
    assert "tin" not in document["tax_certifications"][0]
    assert any(row["action"] == "user.login" for row in document["audit_trail"])
    assert "you" in {row["actor"] for row in document["audit_trail"]}
    assert all(
        row["ip_address"] is None for row in document["audit_trail"] if row["actor"] != "you"
    ), "staff members' addresses are theirs"

    request = owner_session.exec(
        select(PrivacyRequest).where(PrivacyRequest.user_id == ann.user.id)
    ).one()
    assert (request.kind, request.status, request.regime) == ("export", "completed", "ccpa")
    assert request.completed_at is not None and request.completed_by == ann.user.id
    assert _audits(owner_session, "privacy.data_exported", request.id) == 1
    logged = owner_session.execute(
        text(
            "SELECT after FROM audit_logs WHERE action = 'privacy.data_exported' AND entity_id = :e"
        ),
        {"e": str(request.id)},
    ).scalar_one()
    assert ann.marks["note"] not in json.dumps(logged) and logged["contacts"] == 1


def test_an_export_text_is_json(owner_session, redis_url):
    ann = make_person(owner_session, "A")
    data = privacy.export_json(session=owner_session, actor=ann.actor)
    assert json.loads(data)["account"]["email"] == ann.user.email


def test_an_export_needs_a_fresh_reauthentication(owner_session, redis_url):
    ann = make_person(owner_session, "A")
    stale(owner_session, ann.actor)
    with pytest.raises(ReauthenticationRequired):
        privacy.export_my_data(session=owner_session, actor=ann.actor)
    owner_session.rollback()
    no_session = Actor(user_id=ann.user.id, role="distributor", label=ann.user.email)
    with pytest.raises(ReauthenticationRequired):
        privacy.export_my_data(session=owner_session, actor=no_session)
    owner_session.rollback()
    assert (
        owner_session.exec(
            select(PrivacyRequest).where(PrivacyRequest.user_id == ann.user.id)
        ).first()
        is None
    )


def test_a_staff_member_exports_their_own_data_too(owner_session):
    actor = staff(owner_session, "support")
    document = privacy.export_my_data(session=owner_session, actor=actor)
    assert document["account"]["role"] == "support"
    assert document["distributor"] is None and document["orders"] == []
    assert document["wallet"] is None


# --- Deadlines --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("asked", "due"),
    [
        (datetime(2026, 1, 31, 15, 0, tzinfo=UTC), datetime(2026, 2, 28, 15, 0, tzinfo=UTC)),
        (datetime(2028, 1, 31, 9, 30, tzinfo=UTC), datetime(2028, 2, 29, 9, 30, tzinfo=UTC)),
        (datetime(2026, 3, 15, tzinfo=UTC), datetime(2026, 4, 15, tzinfo=UTC)),
        (datetime(2026, 12, 31, tzinfo=UTC), datetime(2027, 1, 31, tzinfo=UTC)),
    ],
)
def test_the_gdpr_deadline_is_one_calendar_month(asked, due):
    assert privacy.deadline_for("gdpr", asked) == due


def test_the_ccpa_deadline_is_45_days_and_each_law_extends_its_own_way():
    asked = datetime(2026, 1, 31, tzinfo=UTC)
    assert privacy.deadline_for("ccpa", asked) == datetime(2026, 3, 17, tzinfo=UTC)
    assert privacy.extended_deadline("ccpa", datetime(2026, 3, 17, tzinfo=UTC)) == datetime(
        2026, 5, 1, tzinfo=UTC
    )
    assert privacy.extended_deadline("gdpr", datetime(2026, 2, 28, tzinfo=UTC)) == datetime(
        2026, 4, 28, tzinfo=UTC
    )
    with pytest.raises(ValidationFailed):
        privacy.deadline_for("pipeda", asked)


@pytest.mark.parametrize(
    ("country", "regime"),
    [
        ("US", "ccpa"),
        ("us", "ccpa"),
        ("FR", "gdpr"),
        ("GB", "gdpr"),
        ("BR", "gdpr"),
        ("", "gdpr"),
        (None, "gdpr"),
    ],
)
def test_the_default_law_follows_the_country(country, regime):
    assert privacy.default_regime(country) == regime


# --- Asking for erasure -----------------------------------------------------------------------


def test_an_erasure_request_has_its_deadline_is_audited_and_the_person_is_told(
    owner_session, redis_url
):
    ann = make_person(owner_session, "A", country="US")
    asked = datetime.now(UTC)
    shown = privacy.request_erasure(session=owner_session, actor=ann.actor, now=asked)
    owner_session.commit()
    assert (shown.kind, shown.status, shown.regime) == ("erasure", "open", "ccpa")
    assert shown.due_at == asked + timedelta(days=45) and shown.deadline == shown.due_at
    assert shown.days_left == 45 and not shown.overdue and shown.waiting and shown.can_extend
    assert _audits(owner_session, "privacy.erasure_requested", shown.id) == 1
    told = owner_session.exec(
        select(Message).where(
            Message.user_id == ann.user.id, Message.kind == "privacy.erasure_received"
        )
    ).all()
    assert {m.channel for m in told} == {"email", "in_app"}
    email = next(m for m in told if m.channel == "email")
    body = crypto.decrypt_field(email.body_enc, field=outbox.BODY_FIELD)
    assert (
        "CCPA" in body and f"{shown.due_at:%Y-%m-%d}" in body and email.to_address == ann.user.email
    )

    with pytest.raises(ValidationFailed, match="You asked for erasure on"):
        privacy.request_erasure(session=owner_session, actor=ann.actor, regime="gdpr")
    owner_session.rollback()
    assert [r.id for r in privacy.my_requests(session=owner_session, actor=ann.actor)] == [shown.id]


def test_the_law_defaults_to_the_country_and_may_be_chosen(owner_session, redis_url):
    french = make_person(owner_session, "A", country="FR")
    shown = privacy.request_erasure(session=owner_session, actor=french.actor)
    assert shown.regime == "gdpr"
    assert shown.due_at == shown.requested_at + relativedelta(months=1)
    owner_session.commit()
    american = make_person(owner_session, "B", country="US")
    chosen = privacy.request_erasure(session=owner_session, actor=american.actor, regime=" GDPR ")
    assert chosen.regime == "gdpr"
    owner_session.commit()
    with pytest.raises(ValidationFailed, match="Choose GDPR or CCPA"):
        privacy.request_erasure(
            session=owner_session, actor=staff(owner_session, "support"), regime="lgpd"
        )


def test_asking_for_erasure_needs_a_fresh_reauthentication(owner_session, redis_url):
    ann = make_person(owner_session, "A")
    stale(owner_session, ann.actor)
    with pytest.raises(ReauthenticationRequired):
        privacy.request_erasure(session=owner_session, actor=ann.actor)
    owner_session.rollback()
    assert privacy.my_requests(session=owner_session, actor=ann.actor) == []


# --- Answering: extension, refusal, roles -----------------------------------------------------


def _asked(session, person: Person, *, regime: str = "", now: datetime | None = None):
    shown = privacy.request_erasure(session=session, actor=person.actor, regime=regime, now=now)
    session.commit()
    return shown


def test_a_gdpr_request_is_extended_once_by_two_months_before_its_deadline(
    owner_session, redis_url
):
    ann = make_person(owner_session, "A", country="FR")
    asked = datetime(2026, 1, 31, 12, tzinfo=UTC)
    request = _asked(owner_session, ann, now=asked)
    officer = staff(owner_session)
    with pytest.raises(ValidationFailed, match="at least 5 characters"):
        privacy.extend(
            session=owner_session, actor=officer, request_id=request.id, reason="  no ", now=asked
        )
    owner_session.rollback()
    extended = privacy.extend(
        session=owner_session,
        actor=officer,
        request_id=request.id,
        reason="The period closes on the 10th.",
        now=asked + timedelta(days=3),
    )
    owner_session.commit()
    assert extended.status == "extended" and extended.due_at == datetime(
        2026, 2, 28, 12, tzinfo=UTC
    )
    assert extended.extended_until == datetime(2026, 4, 28, 12, tzinfo=UTC)
    assert extended.deadline == extended.extended_until and not extended.can_extend
    assert extended.extension_reason == "The period closes on the 10th."
    assert _audits(owner_session, "privacy.erasure_extended", request.id) == 1
    told = owner_session.exec(
        select(Message).where(
            Message.user_id == ann.user.id,
            Message.kind == "privacy.erasure_extended",
            Message.channel == "email",
        )
    ).one()
    body = crypto.decrypt_field(told.body_enc, field=outbox.BODY_FIELD)
    assert "The period closes on the 10th." in body and "2026-04-28" in body

    with pytest.raises(ValidationFailed, match="extended already"):
        privacy.extend(
            session=owner_session,
            actor=officer,
            request_id=request.id,
            reason="Still closing the period.",
            now=asked + timedelta(days=4),
        )
    owner_session.rollback()


def test_a_ccpa_request_is_extended_by_45_days_but_not_after_its_deadline(owner_session, redis_url):
    ann = make_person(owner_session, "A", country="US")
    asked = datetime.now(UTC) - timedelta(days=50)
    late = _asked(owner_session, ann, now=asked)
    officer = staff(owner_session)
    assert late.deadline < datetime.now(UTC)
    with pytest.raises(ValidationFailed, match="The deadline passed"):
        privacy.extend(
            session=owner_session, actor=officer, request_id=late.id, reason="We were busy."
        )
    owner_session.rollback()
    listed, _ = privacy.list_requests(session=owner_session, actor=officer, search=ann.user.email)
    assert [(r.id, r.overdue, r.days_left) for r in listed] == [(late.id, True, -5)]

    bob = make_person(owner_session, "B", country="US")
    request = _asked(owner_session, bob)
    extended = privacy.extend(
        session=owner_session, actor=officer, request_id=request.id, reason="Audit in progress."
    )
    assert extended.extended_until == request.due_at + timedelta(days=45)


@pytest.mark.parametrize("role", ["distributor", "finance", "support"])
def test_other_roles_cannot_list_or_answer_requests_nor_erase(owner_session, redis_url, role):
    ann = make_person(owner_session, "A")
    request = _asked(owner_session, ann)
    intruder = (
        staff(owner_session, role)
        if role != "distributor"
        else make_person(owner_session, "B").actor
    )
    with nothing_changes(owner_session):
        for attempt in (
            lambda: privacy.list_requests(session=owner_session, actor=intruder),
            lambda: privacy.extend(
                session=owner_session,
                actor=intruder,
                request_id=request.id,
                reason="Because I can.",
            ),
            lambda: privacy.refuse(
                session=owner_session,
                actor=intruder,
                request_id=request.id,
                reason="Because I can.",
            ),
            lambda: privacy.complete_erasure(
                session=owner_session, actor=intruder, request_id=request.id
            ),
            lambda: privacy.erase_person(
                session=owner_session, user_id=ann.user.id, actor=intruder
            ),
            lambda: privacy.reapply_erasures(session=owner_session, actor=intruder),
        ):
            with pytest.raises(PermissionDenied):
                attempt()
            owner_session.rollback()


def test_nobody_answers_their_own_request(owner_session, redis_url):
    officer_user = make_user(owner_session, role="compliance")
    officer = signed_in(owner_session, officer_user)[0]
    mine = privacy.request_erasure(session=owner_session, actor=officer)
    owner_session.commit()
    assert mine.regime == "gdpr", "no country on file: the shorter deadline"
    for attempt in (
        lambda: privacy.complete_erasure(session=owner_session, actor=officer, request_id=mine.id),
        lambda: privacy.refuse(
            session=owner_session, actor=officer, request_id=mine.id, reason="I changed my mind."
        ),
    ):
        with pytest.raises(PermissionDenied, match="their own"):
            attempt()
        owner_session.rollback()
    with pytest.raises(NotFound):
        privacy.refuse(
            session=owner_session, actor=officer, request_id=987654321, reason="Nope nope"
        )
    owner_session.rollback()


def test_a_refusal_says_why_and_tells_the_person(owner_session, redis_url):
    ann = make_person(owner_session, "A")
    request = _asked(owner_session, ann)
    officer = staff(owner_session, "admin")
    refused = privacy.refuse(
        session=owner_session,
        actor=officer,
        request_id=request.id,
        reason="A legal hold applies to your records until 2027.",
    )
    owner_session.commit()
    assert refused.status == "refused" and refused.note.startswith("A legal hold")
    assert not refused.waiting and refused.days_left is None
    assert _audits(owner_session, "privacy.request_refused", request.id) == 1
    told = owner_session.exec(
        select(Message).where(
            Message.user_id == ann.user.id,
            Message.kind == "privacy.erasure_refused",
            Message.channel == "email",
        )
    ).one()
    assert "legal hold" in crypto.decrypt_field(told.body_enc, field=outbox.BODY_FIELD)
    with pytest.raises(ValidationFailed, match="nothing left to decide"):
        privacy.complete_erasure(session=owner_session, actor=officer, request_id=request.id)
    owner_session.rollback()
    again = _asked(owner_session, ann)
    assert again.id != request.id, "a refused request does not block a new one"


def test_the_list_shows_requests_to_answer_nearest_deadline_first(owner_session, redis_url):
    officer = staff(owner_session)
    now = datetime.now(UTC)
    gdpr = make_person(owner_session, "A", country="DE")
    ccpa = make_person(owner_session, "B", country="US")
    first = _asked(owner_session, gdpr, now=now - timedelta(days=20))  # due in ~10 days
    second = _asked(owner_session, ccpa, now=now - timedelta(days=1))  # due in 44 days
    mine = {first.id, second.id}
    rows, total = privacy.list_requests(
        session=owner_session, actor=officer, query=ListQuery(limit=500)
    )
    assert total >= 2
    ours = [row for row in rows if row.id in mine]
    assert [row.id for row in ours] == [first.id, second.id]
    assert ours[1].days_left == 44 and ours[1].regime_name == "CCPA"
    assert ours[0].name == f"{gdpr.marks['name']} Lee{gdpr.marks['name'][3:]}"
    assert ours[0].wallet_balance == Decimal("12.34") and ours[0].payouts_in_progress == 0

    privacy.refuse(
        session=owner_session, actor=officer, request_id=second.id, reason="Duplicate account."
    )
    owner_session.commit()
    waiting, _ = privacy.list_requests(session=owner_session, actor=officer, search=ccpa.user.email)
    assert waiting == []
    refused, _ = privacy.list_requests(
        session=owner_session, actor=officer, status="refused", search=ccpa.marks["name"]
    )
    assert [r.id for r in refused] == [second.id]
    everything, _ = privacy.list_requests(
        session=owner_session, actor=officer, status="all", search=str(ccpa.user.id)
    )
    assert [r.id for r in everything] == [second.id]
    with pytest.raises(ValidationFailed, match="Choose a status"):
        privacy.list_requests(session=owner_session, actor=officer, status="pending")
    with pytest.raises(ValidationFailed):
        privacy.list_requests(session=owner_session, actor=officer, query=ListQuery(sort="email"))


# --- Erasure ----------------------------------------------------------------------------------

PERSONAL_SQL = """
SELECT u.email, u.phone, u.password_hash, u.totp_secret_enc, u.status,
       p.first_name, p.last_name, p.address, p.date_of_birth_enc, p.avatar_url,
       p.tax_id_enc, p.tax_id_last4
FROM users u JOIN user_profiles p ON p.user_id = u.id WHERE u.id = :u
"""


def _footprint(session, person: Person) -> dict:
    """Everything of ``person`` the erasure may touch, as the owner sees it."""
    session.commit()
    u, d = person.user.id, person.distributor_id
    one = {"u": u, "d": d}

    def rows(sql: str) -> list:
        return [tuple(r) for r in session.execute(text(sql), one).all()]

    return {
        "personal": rows(PERSONAL_SQL),
        "contacts": rows("SELECT * FROM contacts WHERE owner_id = :u ORDER BY id"),
        "activities": rows("SELECT id FROM contact_activities WHERE owner_id = :u"),
        "tasks": rows("SELECT id FROM tasks WHERE assignee_id = :u"),
        "customers": rows("SELECT * FROM customers WHERE distributor_id = :d ORDER BY id"),
        "sessions": rows(
            "SELECT revoked_at IS NULL, ip_address FROM user_sessions WHERE user_id = :u"
        ),
        "tokens": rows("SELECT revoked_at IS NULL FROM api_tokens WHERE user_id = :u"),
        "push": rows("SELECT id FROM push_subscriptions WHERE user_id = :u"),
        "preferences": rows("SELECT kind FROM message_preferences WHERE user_id = :u"),
        "consents": rows("SELECT id FROM sms_consents WHERE sender_id = :u"),
        "messages": rows(
            "SELECT to_address, subject, body_enc IS NULL FROM messages"
            " WHERE user_id = :u OR sender_id = :u ORDER BY id"
        ),
        "autoship": rows(
            "SELECT status, stripe_payment_method_id FROM autoship_subscriptions"
            " WHERE distributor_id = :d"
        ),
        "payout_method": rows("SELECT holder_name FROM payout_methods WHERE distributor_id = :d"),
        "orders": rows("SELECT * FROM orders WHERE distributor_id = :d ORDER BY id"),
        "items": rows(
            "SELECT i.* FROM order_items i JOIN orders o ON o.id = i.order_id"
            " WHERE o.distributor_id = :d ORDER BY i.id"
        ),
        "wallet": rows("SELECT * FROM wallet_entries WHERE distributor_id = :d ORDER BY id"),
        "tax": rows("SELECT * FROM tax_certifications WHERE distributor_id = :d ORDER BY id"),
        "distributor": rows("SELECT * FROM distributors WHERE id = :d"),
    }


def test_completing_an_erasure_anonymises_the_person_and_keeps_money_tax_and_audit(
    owner_session, redis_url
):
    ann = make_person(owner_session, "A")
    bob = make_person(owner_session, "B")
    contact_phone = owner_session.get(Contact, ann.contact_id).phone
    request = _asked(owner_session, ann)
    before = _footprint(owner_session, ann)
    bob_before = _footprint(owner_session, bob)
    audit_before = owner_session.execute(text("SELECT * FROM audit_logs ORDER BY id")).all()
    wallet_sum = owner_session.execute(
        text("SELECT sum(amount) FROM wallet_entries WHERE distributor_id = :d"),
        {"d": ann.distributor_id},
    ).scalar_one()

    officer = staff(owner_session)
    done = privacy.complete_erasure(session=owner_session, actor=officer, request_id=request.id)
    owner_session.commit()
    after = _footprint(owner_session, ann)

    assert done.status == "completed" and done.completed_at is not None
    assert done.email == f"erased-{ann.user.id}@erased.invalid" and done.name == ""
    personal = after["personal"][0]
    assert personal[:5] == (
        f"erased-{ann.user.id}@erased.invalid",
        None,
        privacy.UNUSABLE_PASSWORD,
        None,
        "disabled",
    )
    assert personal[5:10] == (None, None, None, None, None)
    assert personal[10:] == before["personal"][0][10:], "the tax id stays (tax law)"
    assert after["contacts"] == [] and after["activities"] == [] and after["tasks"] == []
    customer = owner_session.get(Customer, ann.customer_id)
    owner_session.refresh(customer)
    assert (customer.first_name, customer.email, customer.phone, customer.billing_address) == (
        None,
        None,
        None,
        None,
    )
    assert customer.shipping_addresses == []
    assert all(not live and ip is None for live, ip in after["sessions"]) and after["sessions"]
    assert after["tokens"] == [(False,)]
    assert after["push"] == after["preferences"] == after["consents"] == []
    assert (
        owner_session.execute(
            text("SELECT count(*) FROM sms_consents WHERE phone IN (:a, :b)"),
            {"a": before["personal"][0][1] or "", "b": contact_phone},
        ).scalar_one()
        == 0
    )
    assert after["autoship"] == [("cancelled", None)] and after["payout_method"] == []
    messages = owner_session.exec(
        select(Message)
        .where((Message.user_id == ann.user.id) | (Message.sender_id == ann.user.id))
        .order_by(Message.id)
    ).all()
    erased = [m for m in messages if not m.kind.startswith("privacy.")]
    assert erased and all(
        m.to_address == privacy.REMOVED and m.body_enc is None and m.subject == "" for m in erased
    )
    done_message = next(m for m in messages if m.kind == "privacy.erasure_done")
    assert done_message.to_address == ann.marks["email"] and done_message.status == "queued"

    # Kept: orders and their lines, money, tax records, the distributor record, audit rows.
    for kept in ("orders", "items", "wallet", "tax", "distributor"):
        assert after[kept] == before[kept], kept
    assert (
        owner_session.execute(
            text("SELECT sum(amount) FROM wallet_entries WHERE distributor_id = :d"),
            {"d": ann.distributor_id},
        ).scalar_one()
        == wallet_sum
    )
    audit_after = owner_session.execute(
        text("SELECT * FROM audit_logs WHERE id <= :last ORDER BY id"),
        {"last": audit_before[-1].id},
    ).all()
    assert audit_after == audit_before, "no audit row is changed or removed"
    assert _audits(owner_session, "privacy.erasure_completed", request.id) == 1
    assert _audits(owner_session, "privacy.person_erased", ann.user.id) == 1

    logged = owner_session.exec(select(Erasure).where(Erasure.user_id == ann.user.id)).one()
    assert logged.request_id == request.id and logged.erased_by == officer.user_id
    assert _footprint(owner_session, bob) == bob_before, "nobody else's data changes"
    with pytest.raises(AuthenticationFailed):
        auth.login(session=owner_session, email=before["personal"][0][0], password=PASSWORD)
    owner_session.rollback()
    with pytest.raises(AuthenticationFailed):
        auth.login(session=owner_session, email=personal[0], password=PASSWORD)
    owner_session.rollback()
    assert privacy.is_anonymised(session=owner_session, user_id=ann.user.id)


def test_erasure_is_idempotent(owner_session, redis_url):
    ann = make_person(owner_session, "A")
    officer = staff(owner_session)
    first = privacy.erase_person(session=owner_session, user_id=ann.user.id, actor=officer)
    owner_session.commit()
    assert first["account"] == first["profile"] == first["logged"] == 1
    assert first["contacts"] == 1 and first["customers"] == 1 and first["messages_to_person"] >= 1
    with nothing_changes(owner_session):
        again = privacy.erase_person(session=owner_session, user_id=ann.user.id, actor=officer)
        owner_session.commit()
    assert set(again.values()) == {0}
    assert len(owner_session.exec(select(Erasure).where(Erasure.user_id == ann.user.id)).all()) == 1


def test_an_erasure_waits_for_a_payout_in_progress(owner_session, redis_url):
    ann = make_person(owner_session, "A")
    request = _asked(owner_session, ann)
    officer = staff(owner_session, "admin")
    batch = owner_session.execute(
        text(
            "INSERT INTO payout_batches (status, period_ids, currency, created_by)"
            " VALUES ('executed', '{}', 'USD', :by) RETURNING id"
        ),
        {"by": officer.user_id},
    ).scalar_one()
    payout = owner_session.execute(
        text(
            "INSERT INTO payouts (batch_id, distributor_id, amount, currency, method)"
            " VALUES (:b, :d, 12.34, 'USD', 'ach') RETURNING id"
        ),
        {"b": batch, "d": ann.distributor_id},
    ).scalar_one()
    owner_session.commit()
    listed, _ = privacy.list_requests(session=owner_session, actor=officer, search=ann.user.email)
    assert listed[0].payouts_in_progress == 1
    with nothing_changes(owner_session):
        with pytest.raises(ValidationFailed, match="payout to this person is in progress"):
            privacy.complete_erasure(session=owner_session, actor=officer, request_id=request.id)
        owner_session.rollback()
    owner_session.execute(
        text("UPDATE payouts SET status = 'sent', sent_at = now() WHERE id = :p"), {"p": payout}
    )
    owner_session.commit()
    assert (
        privacy.complete_erasure(session=owner_session, actor=officer, request_id=request.id).status
        == "completed"
    )


def test_completing_an_erasure_needs_the_officers_password_again(owner_session, redis_url):
    ann = make_person(owner_session, "A")
    request = _asked(owner_session, ann)
    officer = staff(owner_session)
    stale(owner_session, officer)
    with nothing_changes(owner_session):
        with pytest.raises(ReauthenticationRequired):
            privacy.complete_erasure(session=owner_session, actor=officer, request_id=request.id)
        owner_session.rollback()


def test_the_last_active_admin_is_not_erased(owner_session):
    admins = (
        owner_session.execute(
            text("SELECT id FROM users WHERE role = 'admin' AND status = 'active'")
        )
        .scalars()
        .all()
    )
    owner_session.execute(
        text("UPDATE users SET status = 'disabled' WHERE id = ANY(:ids)"), {"ids": list(admins)}
    )
    try:
        last = make_user(owner_session, role="admin")
        with pytest.raises(ValidationFailed, match="last active admin"):
            privacy.erase_person(session=owner_session, user_id=last.id, actor=Actor.system("test"))
        owner_session.rollback()
        assert owner_session.get(User, last.id).email == last.email
    finally:
        owner_session.rollback()
        owner_session.execute(
            text("UPDATE users SET status = 'active' WHERE id = ANY(:ids)"), {"ids": list(admins)}
        )
        owner_session.commit()


def test_a_restore_brings_data_back_and_reapplying_erases_it_again(owner_session, redis_url):
    ann = make_person(owner_session, "A")
    before = _footprint(owner_session, ann)
    old = before["personal"][0]
    officer = staff(owner_session)
    privacy.complete_erasure(
        session=owner_session, actor=officer, request_id=_asked(owner_session, ann).id
    )
    owner_session.commit()
    assert privacy.reapply_erasures(session=owner_session, actor=Actor.system("test")) == 0

    # A restore from a backup taken before the erasure: the personal values are back.
    owner_session.execute(
        text(
            "UPDATE users SET email = :email, phone = :phone, password_hash = :hash,"
            " status = 'active' WHERE id = :u"
        ),
        {"email": old[0], "phone": old[1], "hash": old[2], "u": ann.user.id},
    )
    owner_session.execute(
        text(
            "UPDATE user_profiles SET first_name = :first, last_name = :last,"
            " address = CAST(:address AS jsonb) WHERE user_id = :u"
        ),
        {"first": old[5], "last": old[6], "address": json.dumps(old[7]), "u": ann.user.id},
    )
    owner_session.execute(
        text(
            "INSERT INTO contacts (owner_id, first_name, email, stage)"
            " VALUES (:u, :first, 'restored@example.com', 'new')"
        ),
        {"u": ann.user.id, "first": ann.marks["contact"]},
    )
    owner_session.commit()
    assert not privacy.is_anonymised(session=owner_session, user_id=ann.user.id)

    assert privacy.reapply_erasures(session=owner_session, actor=Actor.system("restore")) == 1
    owner_session.commit()
    after = _footprint(owner_session, ann)
    assert after["personal"][0][:2] == (f"erased-{ann.user.id}@erased.invalid", None)
    assert after["personal"][0][5:8] == (None, None, None) and after["contacts"] == []
    assert privacy.is_anonymised(session=owner_session, user_id=ann.user.id)
    assert (
        owner_session.execute(
            text("SELECT count(*) FROM audit_logs WHERE action = 'privacy.erasures_reapplied'")
        ).scalar_one()
        >= 1
    )
    with nothing_changes(owner_session):
        assert privacy.reapply_erasures(session=owner_session, actor=Actor.system("again")) == 0
        owner_session.commit()
