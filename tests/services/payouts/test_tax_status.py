"""Tax status: the W-9 and W-8BEN a payee certifies, consent to e-delivery, and what payouts make
of them (held without a form, or paid less the backup withholding when the policy says so)."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text

from mlmcrm import settings
from mlmcrm.errors import PermissionDenied, ReauthenticationRequired, ValidationFailed
from mlmcrm.integrations import storage
from mlmcrm.models import User
from mlmcrm.services.payouts import (
    batches,
    execution,
    holds,
    methods,
    payout_settings,
    returns,
    tax_status,
    wallet,
)
from mlmcrm.services.payouts.tax_status import Address
from mlmcrm.services.platform import crypto
from mlmcrm.services.platform.actor import Actor
from tests.factories import make_user
from tests.services.conftest import signed_in
from tests.services.payouts.ach_reader import read_ach_file
from tests.services.payouts.test_ach_payouts import ORIGINATOR, ROUTING, _return_file

SSN = "536-90-4399"
SSN_DIGITS = "536904399"
EIN = "91-1144442"
HOME = Address("1 Main St", "Austin", "TX", "78701", "US")
ABROAD = Address("10 Downing Street", "London", "", "SW1A 2AA", "GB")


def person(owner, company, letter: str) -> Actor:
    """The distributor ``letter`` of the company, signed in just now (re-authenticated)."""
    user_id = owner.execute(
        text("SELECT user_id FROM distributors WHERE id = :d"), {"d": company.people[letter]}
    ).scalar()
    return signed_in(owner, owner.get(User, user_id))[0]


def w9(owner, actor: Actor, **changes):
    values: dict[str, Any] = {
        "classification": "individual",
        "legal_name": "Anna Root",
        "business_name": "",
        "tin_kind": "ssn",
        "tin": SSN,
        "address": HOME,
        "signature": "Anna Root",
        "certified": True,
    }
    values.update(changes)
    shown = tax_status.certify_w9(session=owner, actor=actor, **values)
    owner.commit()
    return shown


def w8ben(owner, actor: Actor, **changes):
    values: dict[str, Any] = {
        "legal_name": "Anna Root",
        "citizenship": "GB",
        "address": ABROAD,
        "foreign_tin": "AB 12 34 56 C",
        "date_of_birth": "1980-02-29",
        "signature": "Anna Root",
        "certified": True,
    }
    values.update(changes)
    shown = tax_status.certify_w8ben(session=owner, actor=actor, **values)
    owner.commit()
    return shown


def stored_tax_id(owner, actor: Actor):
    return owner.execute(
        text(
            "SELECT tax_id_enc, tax_id_last4, tax_id_kind, date_of_birth_enc,"
            " tax_edelivery_consent_at FROM user_profiles WHERE user_id = :u"
        ),
        {"u": actor.user_id},
    ).one()


def certifications(owner, distributor_id: int) -> list:
    return owner.execute(
        text("SELECT * FROM tax_certifications WHERE distributor_id = :d ORDER BY id"),
        {"d": distributor_id},
    ).all()


def audits(owner, action: str) -> list:
    return owner.execute(
        text("SELECT * FROM audit_logs WHERE action = :a ORDER BY id"), {"a": action}
    ).all()


def reasons(owner, distributor_id: int) -> list[str]:
    return [r.code for r in holds.blockers(session=owner, distributor_id=distributor_id)[0]]


# --- W-9 ----------------------------------------------------------------------------------------


def test_a_w9_needs_a_fresh_sign_in(owner, company):
    anna = person(owner, company, "A")
    owner.execute(
        text(
            "UPDATE user_sessions SET reauthenticated_at = now() - interval '6 minutes'"
            " WHERE id = :s"
        ),
        {"s": anna.session_id},
    )
    owner.commit()
    with pytest.raises(ReauthenticationRequired):
        w9(owner, anna)
    owner.rollback()
    with pytest.raises(ReauthenticationRequired):
        w8ben(owner, anna)
    owner.rollback()
    unsigned_in = Actor(
        user_id=anna.user_id, role="distributor", distributor_id=anna.distributor_id
    )
    with pytest.raises(ReauthenticationRequired):
        w9(owner, unsigned_in)
    owner.rollback()
    assert certifications(owner, company.people["A"]) == []
    assert stored_tax_id(owner, anna).tax_id_enc is None


def test_only_a_distributor_certifies_their_own(owner, company):
    for role in ("admin", "finance", "compliance", "support"):
        user = make_user(owner, role=role)
        staff = signed_in(owner, user)[0]
        with pytest.raises(PermissionDenied):
            w9(owner, staff)
        owner.rollback()
        with pytest.raises(PermissionDenied):
            tax_status.set_edelivery_consent(session=owner, actor=staff, consent=True)
        owner.rollback()
    assert owner.execute(text("SELECT count(*) FROM tax_certifications")).scalar() == 0


BAD_W9 = [
    pytest.param({"tin": "536-90-439"}, "An SSN has 9 digits", id="eight digits"),
    pytest.param({"tin": "536-90-43990"}, "An SSN has 9 digits", id="ten digits"),
    pytest.param({"tin": "123-45-678"}, "An SSN has 9 digits", id="123-45-678"),
    pytest.param({"tin": "000-12-3456"}, "first three digits cannot be 000", id="area 000"),
    pytest.param({"tin": "666-12-3456"}, "first three digits cannot be 000, 666", id="area 666"),
    pytest.param({"tin": "936-12-3456"}, "900 to 999", id="an ITIN-like area"),
    pytest.param({"tin": "536-00-4399"}, "middle two digits cannot be 00", id="group 00"),
    pytest.param({"tin": "536-90-0000"}, "last four digits cannot be 0000", id="serial 0000"),
    pytest.param({"tin": "078-05-1120"}, "widely published", id="the wallet SSN"),
    pytest.param({"tin": "53a-90-4399"}, "An SSN has 9 digits", id="letters"),
    pytest.param({"tin": ""}, "Enter the SSN", id="no number"),
    pytest.param({"tin": "536904399' OR '1'='1"}, "An SSN has 9 digits", id="sql"),
    pytest.param(
        {"classification": "c_corporation", "tin_kind": "ein", "tin": "07-1144442"},
        "not a prefix the IRS uses",
        id="an EIN with an unused prefix",
    ),
    pytest.param(
        {"classification": "c_corporation", "tin_kind": "ein", "tin": "00-1234567"},
        "not a prefix the IRS uses",
        id="an EIN starting 00",
    ),
    pytest.param(
        {"classification": "c_corporation"},
        "A business is identified by its EIN, not an SSN",
        id="an SSN for a corporation",
    ),
    pytest.param(
        {"classification": "llc_p"}, "identified by its EIN", id="an SSN for a partnership"
    ),
    pytest.param({"classification": "nonprofit"}, "classification", id="unknown class"),
    pytest.param({"tin_kind": "itin"}, "SSN or an EIN", id="an ITIN"),
    pytest.param(
        {"address": Address("1 Main St", "Austin", "Texas", "78701", "US")},
        "two-letter code",
        id="the state spelled out",
    ),
    pytest.param(
        {"address": Address("1 Main St", "Austin", "XX", "78701", "US")},
        "two-letter code",
        id="no such state",
    ),
    pytest.param(
        {"address": Address("1 Main St", "Austin", "TX", "7870", "US")},
        "ZIP code",
        id="a four-digit ZIP",
    ),
    pytest.param(
        {"address": Address("1 Main St", "Austin", "TX", "78701-12", "US")},
        "ZIP code",
        id="a broken ZIP+4",
    ),
    pytest.param(
        {"address": Address("1 Main St", "Austin", "TX", "SW1A 2AA", "US")},
        "ZIP code",
        id="a UK postcode",
    ),
    pytest.param({"address": Address("", "Austin", "TX", "78701", "US")}, "street", id="street"),
    pytest.param({"certified": False}, "Tick the certification", id="unticked"),
    pytest.param({"signature": ""}, "signature", id="unsigned"),
    pytest.param({"signature": "A. Root"}, "Sign by typing your legal name", id="initials"),
    pytest.param(
        {"signature": "Mallory Evil"}, "Sign by typing your legal name", id="another name"
    ),
    pytest.param({"legal_name": ""}, "Enter the legal name", id="no legal name"),
    pytest.param(
        {"legal_name": "Anna\x00Root", "signature": "Anna\x00Root"},
        "control characters",
        id="a control character",
    ),
    pytest.param({"legal_name": "A" * 120, "signature": "A" * 120}, "under 100", id="a long name"),
]


@pytest.mark.parametrize(("changes", "message"), BAD_W9)
def test_a_w9_with_a_mistake_is_refused_and_changes_nothing(owner, company, changes, message):
    anna = person(owner, company, "A")
    with pytest.raises(ValidationFailed, match=message) as refused:
        w9(owner, anna, **changes)
    owner.rollback()
    typed = "".join(ch for ch in changes.get("tin", "") if ch.isdigit())
    said = str(refused.value).replace("123-45-6789", "").replace("12-3456789", "")  # examples
    if len(typed) >= 4:
        assert typed not in "".join(ch for ch in said if ch.isdigit()), "never the number"
    assert certifications(owner, company.people["A"]) == []
    assert stored_tax_id(owner, anna).tax_id_enc is None
    assert audits(owner, "tax.certified") == []


def test_a_w9_keeps_the_tax_id_encrypted_shows_its_last_4_and_audits_without_it(owner, company):
    anna = person(owner, company, "A")
    a = company.people["A"]
    status = w9(
        owner,
        anna,
        legal_name="  Anna   Root ",
        signature="anna root",
        tin="536 90 4399",
        address=Address(" 1 Main St ", "Austin", " tx ", "78701 1234", "US"),
    )
    assert (status.form, status.classification, status.legal_name) == (
        "W-9",
        "individual",
        "Anna Root",
    )
    assert status.tin_masked == "***-**-4399" and not status.exempt and status.needs == ""
    stored = stored_tax_id(owner, anna)
    assert SSN_DIGITS not in stored.tax_id_enc and "4399" not in stored.tax_id_enc
    assert stored.tax_id_enc.startswith("v1:")
    assert crypto.decrypt_field(stored.tax_id_enc, field=tax_status.TAX_ID_FIELD) == SSN_DIGITS
    assert (stored.tax_id_last4, stored.tax_id_kind) == ("4399", "ssn")
    (cert,) = certifications(owner, a)
    assert (cert.tin_kind, cert.tin_last4, cert.country) == ("ssn", "4399", "US")
    assert cert.address == {
        "street": "1 Main St",
        "city": "Austin",
        "region": "TX",
        "postcode": "78701-1234",
        "country": "US",
    }
    assert cert.signature == "anna root" and cert.certified_ip == anna.ip_address
    assert cert.superseded_at is None
    (row,) = audits(owner, "tax.certified")
    assert row.actor_id == anna.user_id and row.entity_id == str(a)
    assert row.after["tax_id"] == "changed" and row.after["tin_kind"] == "ssn"
    whole = json.dumps([row.before, row.after, row.reason])
    assert SSN_DIGITS not in whole and "536-90" not in whole
    assert tax_status.my_status(session=owner, actor=anna) == tax_status.status_of(
        session=owner, distributor_id=a
    )


def test_a_new_certification_supersedes_the_last(owner, company):
    anna = person(owner, company, "A")
    a = company.people["A"]
    w9(owner, anna)
    w9(owner, anna, address=Address("2 Oak Ave", "Dallas", "TX", "75201", "US"))
    status = w9(
        owner,
        anna,
        classification="llc_p",
        business_name="Root Wellness LLC",
        tin_kind="ein",
        tin=EIN,
    )
    rows = certifications(owner, a)
    assert len(rows) == 3
    assert [r.superseded_at is None for r in rows] == [False, False, True], "one current"
    assert status.tin_masked == "**-***4442" and status.business_name == "Root Wellness LLC"
    assert status.classification_label == "LLC taxed as a partnership" and not status.exempt
    stored = stored_tax_id(owner, anna)
    assert crypto.decrypt_field(stored.tax_id_enc, field=tax_status.TAX_ID_FIELD) == "911144442"
    assert stored.tax_id_kind == "ein"
    second, third = audits(owner, "tax.certified")[1:]
    assert second.after["tax_id"] == "unchanged" and second.after["legal_name"] == "unchanged"
    assert third.after["tax_id"] == "changed"
    assert third.before == {"form": "W-9", "certification_id": rows[1].id}

    corporation = w9(
        owner,
        anna,
        classification="c_corporation",
        legal_name="Root Inc",
        signature="Root Inc",
        tin_kind="ein",
        tin=EIN,
    )
    assert corporation.exempt, "a corporation is an exempt payee"


def test_a_w8ben_is_for_people_outside_the_us(owner, company):
    anna = person(owner, company, "A")
    a = company.people["A"]
    for changes, message in (
        ({"citizenship": "US"}, "US citizens and residents certify Form W-9"),
        ({"address": HOME}, "US citizens and residents certify Form W-9"),
        ({"citizenship": "us"}, "certify Form W-9"),
        ({"citizenship": "United Kingdom"}, "two-letter code"),
        ({"address": Address("10 Downing Street", "London", "", "SW1A 2AA", "")}, "residence"),
        ({"date_of_birth": "29/02/1980"}, "YYYY-MM-DD"),
        ({"date_of_birth": "1981-02-29"}, "YYYY-MM-DD"),
        ({"date_of_birth": "1899-12-31"}, "between 1900 and today"),
        ({"date_of_birth": date.today().replace(year=date.today().year + 1).isoformat()}, "today"),
        ({"foreign_tin": "A1"}, "4 to 30 letters or digits"),
        ({"foreign_tin": "<script>alert(1)</script>"}, "4 to 30 letters or digits"),
        ({"signature": "Someone Else"}, "Sign by typing your legal name"),
        ({"certified": False}, "Tick the certification"),
    ):
        with pytest.raises(ValidationFailed, match=message):
            w8ben(owner, anna, **changes)
        owner.rollback()
    assert certifications(owner, a) == []
    assert stored_tax_id(owner, anna).date_of_birth_enc is None

    status = w8ben(owner, anna)
    assert (status.form, status.tin_masked, status.exempt) == ("W-8BEN", "", False)
    (cert,) = certifications(owner, a)
    assert (cert.country, cert.tin_kind, cert.tin_last4) == ("GB", "foreign", "456C")
    assert cert.address["country"] == "GB" and cert.address["postcode"] == "SW1A 2AA"
    stored = stored_tax_id(owner, anna)
    assert "1980" not in stored.date_of_birth_enc
    assert (
        crypto.decrypt_field(stored.date_of_birth_enc, field=tax_status.DATE_OF_BIRTH_FIELD)
        == "1980-02-29"
    )
    assert crypto.decrypt_field(stored.tax_id_enc, field=tax_status.TAX_ID_FIELD) == "AB123456C"
    assert "AB123456C" not in json.dumps(audits(owner, "tax.certified")[0].after)

    w8ben(owner, anna, foreign_tin="")
    assert stored_tax_id(owner, anna).tax_id_enc is None, "no foreign tax id: none kept"
    assert len(certifications(owner, a)) == 2


def test_consent_to_tax_forms_by_email_is_recorded_and_audited(owner, company):
    anna = person(owner, company, "A")
    assert tax_status.my_status(session=owner, actor=anna).edelivery_consent_at is None
    given = tax_status.set_edelivery_consent(session=owner, actor=anna, consent=True)
    owner.commit()
    assert given.edelivery_consent_at is not None
    assert stored_tax_id(owner, anna).tax_edelivery_consent_at is not None
    tax_status.set_edelivery_consent(session=owner, actor=anna, consent=True)
    owner.commit()
    withdrawn = tax_status.set_edelivery_consent(session=owner, actor=anna, consent=False)
    owner.commit()
    assert withdrawn.edelivery_consent_at is None
    assert [(r.action, r.actor_id) for r in _consent_audits(owner)] == [
        ("tax.edelivery_consent_given", anna.user_id),
        ("tax.edelivery_consent_withdrawn", anna.user_id),
    ], "a change is audited once"


def _consent_audits(owner) -> list:
    return owner.execute(
        text("SELECT * FROM audit_logs WHERE action LIKE 'tax.edelivery%' ORDER BY id")
    ).all()


# --- what payouts make of it --------------------------------------------------------------------


def _money(owner, company, *letters: str, amount: str = "80.00") -> None:
    for letter in letters:
        wallet.adjust(
            session=owner,
            actor=Actor(user_id=None, role="finance", label="test"),
            distributor_id=company.people[letter],
            amount=amount,
            reason="Test earnings",
        )
    owner.commit()


def test_a_payee_without_a_tax_form_is_held_with_the_reason(owner, company):
    a, b, c = (company.people[letter] for letter in "ABC")
    owner.execute(text("UPDATE distributors SET country = 'GB' WHERE id = :c"), {"c": c})
    owner.commit()
    _money(owner, company, "A", "B", "C")
    assert "tax_id" in reasons(owner, a) and "tax_form" not in reasons(owner, a)
    assert "tax_form" in reasons(owner, c) and "tax_id" not in reasons(owner, c)
    assert tax_status.status_of(session=owner, distributor_id=a).needs.startswith(
        "Certify Form W-9"
    )
    assert "W-8BEN" in tax_status.status_of(session=owner, distributor_id=c).needs

    w9(owner, person(owner, company, "B"), legal_name="Ben Brown", signature="Ben Brown")
    assert not {"tax_id", "tax_form"} & set(reasons(owner, b))
    w8ben(owner, person(owner, company, "C"), legal_name="Cara Cole", signature="Cara Cole")
    assert not {"tax_id", "tax_form"} & set(reasons(owner, c))
    assert "identity" in reasons(owner, b), "a tax form is not an identity check"


@pytest.fixture()
def files(tmp_path, monkeypatch):
    """Stored files (the ACH file) go to a folder of the test's own."""
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    settings.get_settings.cache_clear()
    yield tmp_path
    monkeypatch.undo()
    settings.get_settings.cache_clear()


def test_backup_withholding_pays_76_percent_and_a_return_gives_the_withholding_back(
    owner, closed, finance, files
):
    builder, approver = finance
    a = closed.people["A"]
    payout_settings.set_originator(session=owner, actor=builder, **ORIGINATOR)
    policy: dict[str, Any] = {
        "currency": "USD",
        "threshold": "25",
        "cooling_days": 0,
        "forfeit_terminated": False,
        "fee_stripe": "0",
        "fee_ach": "0",
    }
    payout_settings.set_policy(session=owner, actor=builder, **policy)
    owner.commit()
    owner.execute(
        text(
            "UPDATE user_profiles SET identity_verified_at = now() WHERE user_id ="
            " (SELECT user_id FROM distributors WHERE id = :a)"
        ),
        {"a": a},
    )
    owner.commit()
    anna = person(owner, closed, "A")
    methods.set_bank_account(
        session=owner,
        actor=anna,
        holder_name="Anna Root",
        routing_number=ROUTING,
        account_number="111122223333",
        account_type="checking",
    )
    wallet.adjust(
        session=owner, actor=builder, distributor_id=a, amount="123.45", reason="Test earnings"
    )
    owner.commit()
    balance = wallet.balance(session=owner, distributor_id=a)
    assert reasons(owner, a) == ["tax_id"], "held for the W-9 while the policy holds"

    payout_settings.set_policy(session=owner, actor=builder, backup_withholding=True, **policy)
    owner.commit()
    found, row = holds.blockers(session=owner, distributor_id=a)
    assert found == [] and row is not None and row["withhold"] is True
    withheld = (balance * Decimal("0.24")).quantize(Decimal("0.01"))
    assert row["withholding"] == withheld

    batch = batches.build(session=owner, actor=builder, period_ids=[closed.period_id])
    owner.commit()
    batches.approve(session=owner, actor=approver, batch_id=batch.id)
    owner.commit()
    payout = owner.execute(
        text("SELECT * FROM payouts WHERE batch_id = :b AND distributor_id = :a"),
        {"b": batch.id, "a": a},
    ).one()
    assert payout.withheld == withheld and payout.fee == 0
    assert payout.amount == balance - withheld, "76% is paid"
    assert payout.amount + payout.withheld == balance

    execution.execute_batch(batch.id, progress=lambda *_: None, actor=builder)
    owner.commit()
    (entry,) = read_ach_file(storage.get("ach", execution.ach_file_name(batch.id)).decode()).entries
    assert entry.amount_cents == int(payout.amount * 100), "the bank is sent the 76%"
    kinds = dict(
        owner.execute(
            text("SELECT kind, amount FROM wallet_entries WHERE payout_id = :p"), {"p": payout.id}
        ).all()
    )
    assert kinds == {"payout": -payout.amount, "withholding": -withheld}
    assert wallet.balance(session=owner, distributor_id=a) == 0

    trace = owner.execute(
        text("SELECT ach_trace FROM payouts WHERE id = :p"), {"p": payout.id}
    ).scalar()
    done = returns.import_return_file(
        session=owner,
        actor=builder,
        content=_return_file(trace, int(payout.amount * 100)),
    )
    owner.commit()
    assert done.returned == 1
    kinds = dict(
        owner.execute(
            text("SELECT kind, amount FROM wallet_entries WHERE payout_id = :p"), {"p": payout.id}
        ).all()
    )
    assert kinds["return"] == payout.amount and kinds["withholding_refund"] == withheld
    assert wallet.balance(session=owner, distributor_id=a) == balance, "no payment, no withholding"

    w9(owner, anna)
    found, row = holds.blockers(session=owner, distributor_id=a)
    assert row is not None and not row["withhold"] and row["withholding"] == 0, "a W-9 ends it"
