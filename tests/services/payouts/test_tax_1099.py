"""Form 1099-NEC: each year's figures, the forms issued and corrected, the copies, the filing file.

Payouts are written as rows (``sent`` with their ``sent_at``) rather than paid by batches: what
counts is what the payout rows say. Tax certifications go through the real service.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pypdf
import pytest
from sqlalchemy import text

from mlmcrm.errors import NotFound, PermissionDenied, ValidationFailed
from mlmcrm.models import User
from mlmcrm.services.payouts import tax_1099, tax_status
from mlmcrm.services.payouts.tax_status import Address
from mlmcrm.services.platform.actor import Actor
from tests.factories import make_user
from tests.services.commissions.builders import add_order
from tests.services.conftest import signed_in

HOME = Address("1 Main St", "Austin", "TX", "78701", "US")
ABROAD = Address("10 Downing Street", "London", "", "SW1A 2AA", "GB")
SSNS = {"A": "536-90-4399", "B": "212-34-5678", "C": "401-22-7788", "F": "318-44-9012"}
CORPORATE_EIN = "04-2103594"
PAYER_EIN = "91-1144442"


def at(year: int, month: int, day: int, hour: int = 12, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def _user_of(owner, distributor_id: int) -> User:
    user_id = owner.execute(
        text("SELECT user_id FROM distributors WHERE id = :d"), {"d": distributor_id}
    ).scalar()
    return owner.get(User, user_id)


def person(owner, distributor_id: int) -> Actor:
    """The distributor, signed in just now (re-authenticated)."""
    return signed_in(owner, _user_of(owner, distributor_id))[0]


def staff(owner, role: str) -> Actor:
    user = make_user(owner, role=role)
    return Actor(user_id=user.id, role=role, label=user.email)


def paid(
    owner,
    distributor_id: int,
    amount: str,
    when: datetime,
    *,
    fee: str = "0",
    withheld: str = "0",
    status: str = "sent",
) -> int:
    """A payout row of its own batch, as execution leaves it."""
    batch = owner.execute(
        text(
            "INSERT INTO payout_batches (status, period_ids, currency, created_by)"
            " VALUES ('executed', CAST('{}' AS bigint[]), 'USD',"
            " (SELECT min(id) FROM users WHERE role = 'admin')) RETURNING id"
        )
    ).scalar()
    payout = owner.execute(
        text(
            "INSERT INTO payouts (batch_id, distributor_id, amount, fee, withheld, currency,"
            " method, status, sent_at) VALUES (:b, :d, :amount, :fee, :withheld, 'USD', 'ach',"
            " :status, :sent) RETURNING id"
        ),
        {
            "b": batch,
            "d": distributor_id,
            "amount": Decimal(amount),
            "fee": Decimal(fee),
            "withheld": Decimal(withheld),
            "status": status,
            "sent": when,
        },
    ).scalar()
    owner.commit()
    return payout


def certify_w9(owner, distributor_id: int, name: str, tin: str, **changes) -> None:
    values: dict[str, Any] = {
        "classification": "individual",
        "legal_name": name,
        "business_name": "",
        "tin_kind": "ssn",
        "tin": tin,
        "address": HOME,
        "signature": name,
        "certified": True,
    }
    values.update(changes)
    tax_status.certify_w9(session=owner, actor=person(owner, distributor_id), **values)
    owner.commit()


def certify_w8ben(owner, distributor_id: int, name: str) -> None:
    tax_status.certify_w8ben(
        session=owner,
        actor=person(owner, distributor_id),
        legal_name=name,
        citizenship="GB",
        address=ABROAD,
        foreign_tin="AB123456C",
        date_of_birth="1980-02-29",
        signature=name,
        certified=True,
    )
    owner.commit()


def consent(owner, distributor_id: int) -> None:
    tax_status.set_edelivery_consent(
        session=owner, actor=person(owner, distributor_id), consent=True
    )
    owner.commit()


def set_payer(owner, actor: Actor) -> None:
    tax_1099.set_payer(
        session=owner,
        actor=actor,
        name="Acme Wellness Inc",
        ein=PAYER_EIN,
        address="100 Congress Ave\nAustin, TX 78701",
        phone="+1 512 555 0100",
    )
    owner.commit()


def by_code(rows) -> dict[str, tax_1099.PayeeYear]:
    return {row.code: row for row in rows}


def codes(owner, company) -> dict[str, str]:
    return {
        letter: owner.execute(
            text("SELECT code FROM distributors WHERE id = :d"), {"d": distributor_id}
        ).scalar()
        for letter, distributor_id in company.people.items()
    }


def audits(owner, action: str) -> list:
    return owner.execute(
        text("SELECT * FROM audit_logs WHERE action = :a ORDER BY id"), {"a": action}
    ).all()


def forms(owner) -> list:
    return owner.execute(text("SELECT * FROM tax_forms_1099 ORDER BY id")).all()


def form_messages(owner) -> list:
    return owner.execute(
        text(
            "SELECT user_id, subject FROM messages WHERE kind = 'tax.form_available'"
            " AND channel = 'email' ORDER BY id"
        )
    ).all()


# --- the threshold ------------------------------------------------------------------------------


def test_the_box_1_threshold_of_each_year(owner, company, finance):
    builder = finance[0]
    assert tax_1099.threshold(session=owner, year=2020) == (Decimal("600.00"), True)
    assert tax_1099.threshold(session=owner, year=2025) == (Decimal("600.00"), True)
    assert tax_1099.threshold(session=owner, year=2026) == (Decimal("2000.00"), True)
    assert tax_1099.threshold(session=owner, year=2027) == (Decimal("2000.00"), False), (
        "not known until finance enters the indexed figure"
    )
    for year, amount, message in (
        (2026, "2000", "set by law"),
        (2025, "600", "set by law"),
        (2101, "2100", "set by law"),
        (2027, "50", "between \\$1,000 and \\$10,000"),
        (2027, "999.99", "between"),
        (2027, "10000.01", "between"),
        (2027, "-2100", None),
        (2027, "two thousand", None),
        (2027, "", None),
    ):
        with pytest.raises(ValidationFailed, match=message):
            tax_1099.set_threshold(session=owner, actor=builder, year=year, amount=amount)
        owner.rollback()
    for actor in (
        staff(owner, "compliance"),
        staff(owner, "support"),
        person(owner, company.people["A"]),
    ):
        with pytest.raises(PermissionDenied):
            tax_1099.set_threshold(session=owner, actor=actor, year=2027, amount="2100")
        owner.rollback()
    assert audits(owner, "tax.threshold_set") == []

    assert tax_1099.set_threshold(
        session=owner, actor=builder, year=2027, amount="2,100.00"
    ) == Decimal("2100.00")
    owner.commit()
    assert tax_1099.threshold(session=owner, year=2027) == (Decimal("2100.00"), True)
    assert tax_1099.threshold(session=owner, year=2028) == (Decimal("2100.00"), False)
    assert tax_1099.threshold(session=owner, year=2026) == (Decimal("2000.00"), True)
    (row,) = audits(owner, "tax.threshold_set")
    assert row.actor_id == builder.user_id and row.after == {"2027": "2100.00"}


# --- the year's figures -------------------------------------------------------------------------


@dataclass
class Year:
    """The 2025 of the tests' payees, by letter (their distributor ids)."""

    people: dict[str, int]
    codes: dict[str, str]


def payees_2025(owner, company) -> Year:
    """A: $600.00 in all (ready) · B: $599.99 (below) · C: $100 of which $24 withheld, no W-9
    (missing_tin: box 4) · D: a corporation (exempt) · E: W-8BEN (foreign) · F: $650, no W-9
    (missing_tin)."""
    people = dict(company.people)
    fay = make_user(owner, role="distributor", first_name="Fay", last_name="Few")
    people["F"] = owner.execute(
        text("SELECT id FROM distributors WHERE user_id = :u"), {"u": fay.id}
    ).scalar()
    a, b, c, d, e, f = (people[letter] for letter in "ABCDEF")
    paid(owner, a, "500.00", at(2025, 3, 1), fee="0.50")
    paid(owner, a, "99.50", at(2025, 12, 31, 23, 59))
    paid(owner, a, "1000.00", at(2025, 6, 1), status="returned")
    paid(owner, a, "1000.00", at(2025, 7, 1), status="reversed")
    paid(owner, a, "1000.00", at(2025, 8, 1), status="failed")
    paid(owner, a, "700.00", at(2026, 1, 1, 0, 1))
    paid(owner, a, "50.00", at(2024, 12, 31, 23, 59))
    paid(owner, b, "599.99", at(2025, 5, 5))
    paid(owner, c, "76.00", at(2025, 9, 9), withheld="24.00")
    paid(owner, d, "5000.00", at(2025, 4, 4))
    paid(owner, e, "2500.00", at(2025, 4, 4))
    paid(owner, f, "650.00", at(2025, 10, 10))
    certify_w9(owner, a, "Anna Root", SSNS["A"])
    certify_w9(owner, b, "Ben Brown", SSNS["B"])
    certify_w9(
        owner,
        d,
        "Dorm Holdings Inc",
        CORPORATE_EIN,
        classification="c_corporation",
        tin_kind="ein",
    )
    certify_w8ben(owner, e, "Jane Doe")
    all_codes = codes(owner, company)
    all_codes["F"] = owner.execute(
        text("SELECT code FROM distributors WHERE id = :d"), {"d": f}
    ).scalar()
    return Year(people=people, codes=all_codes)


def test_the_year_figures_count_payments_sent_in_the_year_gross(owner, company, finance):
    year = payees_2025(owner, company)
    rows = tax_1099.year_payees(session=owner, actor=finance[0], year=2025)
    found = by_code(rows)
    letter = {code: name for name, code in year.codes.items()}
    assert [letter[r.code] for r in rows] == ["D", "E", "F", "A", "B", "C"], "largest first"
    anna = found[year.codes["A"]]
    assert anna.box1 == Decimal("600.00"), "amount + fee, sent in 2025; returns do not count"
    assert (anna.box2, anna.box4, anna.state) == (False, Decimal("0.00"), "ready")
    assert anna.tin_masked == "***-**-4399" and anna.legal_name == "Anna Root"
    assert anna.name == "Anna Root" and anna.certification_id is not None
    assert (found[year.codes["B"]].box1, found[year.codes["B"]].state) == (
        Decimal("599.99"),
        "below",
    )
    cara = found[year.codes["C"]]
    assert (cara.box1, cara.box4, cara.state) == (
        Decimal("100.00"),
        Decimal("24.00"),
        "missing_tin",
    )
    assert found[year.codes["D"]].state == "exempt"
    assert found[year.codes["D"]].tin_masked == "**-***3594"
    assert found[year.codes["E"]].state == "foreign" and found[year.codes["E"]].tin_masked == ""
    assert found[year.codes["F"]].state == "missing_tin"
    assert all(row.state_label == tax_1099.STATES[row.state] for row in rows)

    ready = tax_1099.year_payees(session=owner, actor=finance[0], year=2025, state="ready")
    assert [r.code for r in ready] == [year.codes["A"]]
    in_2024 = tax_1099.year_payees(session=owner, actor=finance[0], year=2024)
    assert [(r.code, r.box1, r.state) for r in in_2024] == [
        (year.codes["A"], Decimal("50.00"), "below")
    ]
    with pytest.raises(ValidationFailed, match="state"):
        tax_1099.year_payees(session=owner, actor=finance[0], year=2025, state="all")
    with pytest.raises(ValidationFailed, match="calendar year"):
        tax_1099.year_payees(session=owner, actor=finance[0], year=date.today().year + 1)
    with pytest.raises(ValidationFailed, match="calendar year"):
        tax_1099.year_payees(session=owner, actor=finance[0], year=1999)
    for role in ("compliance", "support"):
        with pytest.raises(PermissionDenied):
            tax_1099.year_payees(session=owner, actor=staff(owner, role), year=2025)
    with pytest.raises(PermissionDenied):
        tax_1099.year_payees(session=owner, actor=person(owner, year.people["A"]), year=2025)


def test_from_2026_the_threshold_is_2000(owner, company, finance):
    a, b = company.people["A"], company.people["B"]
    paid(owner, a, "1999.99", at(2026, 2, 1))
    paid(owner, b, "1000.00", at(2026, 2, 1))
    paid(owner, b, "999.00", at(2026, 3, 1), fee="1.00")
    certify_w9(owner, a, "Anna Root", SSNS["A"])
    certify_w9(owner, b, "Ben Brown", SSNS["B"])
    found = {
        r.distributor_id: r
        for r in tax_1099.year_payees(session=owner, actor=finance[0], year=2026)
    }
    assert (found[a].box1, found[a].state) == (Decimal("1999.99"), "below")
    assert (found[b].box1, found[b].state) == (Decimal("2000.00"), "ready")


def test_a_payments_year_is_the_companys_calendar_year(owner, company, finance):
    a = company.people["A"]
    owner.execute(
        text(
            "INSERT INTO company_settings (key, value) VALUES ('company.profile',"
            " CAST(:v AS jsonb)) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"
        ),
        {"v": json.dumps({"timezone": "America/Chicago"})},
    )
    owner.commit()
    paid(owner, a, "600.00", at(2026, 1, 1, 3, 0))  # 9 pm on December 31 in Texas
    paid(owner, a, "10.00", at(2025, 1, 1, 3, 0))  # still 2024 there
    (row,) = tax_1099.year_payees(session=owner, actor=finance[0], year=2025)
    assert row.box1 == Decimal("600.00")
    (row,) = tax_1099.year_payees(session=owner, actor=finance[0], year=2024)
    assert row.box1 == Decimal("10.00")
    assert tax_1099.year_payees(session=owner, actor=finance[0], year=2026) == []


def test_box_2_is_checked_by_5000_dollars_of_the_payees_own_purchases(owner, company, finance):
    a, b, c, d, e = (company.people[letter] for letter in "ABCDE")
    customer = owner.execute(text("SELECT min(id) FROM customers")).scalar()
    add_order(owner, a, "3000.00", at(2025, 2, 2))
    add_order(owner, a, "2000.00", at(2025, 11, 30))
    add_order(owner, b, "4999.99", at(2025, 6, 6))
    add_order(owner, b, "6000.00", at(2025, 6, 7), customer_id=customer)  # a customer's order
    # C bought $999 on 2025-12-30 (the company's builder) and $4,500 + $360 tax here, of which
    # $499 + $39.92 tax was refunded: $5,000.00 before tax in all.
    order = add_order(owner, c, "4500.00", at(2025, 3, 3))
    owner.execute(
        text(
            "UPDATE orders SET tax_total = 360, total = 4860, refunded_total = 538.92,"
            " status = 'partially_refunded' WHERE id = :o"
        ),
        {"o": order},
    )
    add_order(owner, d, "6000.00", at(2025, 5, 5), status="cancelled")
    add_order(owner, d, "6000.00", at(2025, 5, 5), status="pending")
    add_order(owner, e, "6000.00", at(2026, 1, 2))
    owner.commit()
    certify_w9(owner, a, "Anna Root", SSNS["A"])
    rows = {
        r.distributor_id: r
        for r in tax_1099.year_payees(session=owner, actor=finance[0], year=2025)
    }
    assert set(rows) == {a, c}
    assert (rows[a].box1, rows[a].box2, rows[a].state) == (Decimal("0"), True, "ready")
    assert (rows[c].box2, rows[c].state) == (True, "missing_tin"), (
        "refunds are taken off before tax: their tax is no purchase"
    )


# --- issuing ------------------------------------------------------------------------------------


def test_issuing_refuses_a_year_not_over_and_a_missing_payer(owner, company, finance):
    payees_2025(owner, company)
    builder = finance[0]
    with pytest.raises(ValidationFailed, match="is not over"):
        tax_1099.issue_year(session=owner, actor=builder, year=date.today().year)
    owner.rollback()
    with pytest.raises(ValidationFailed, match="payer first"):
        tax_1099.issue_year(session=owner, actor=builder, year=2025)
    owner.rollback()
    for ein in ("", "07-1144442", "91-114444"):
        with pytest.raises(ValidationFailed):
            tax_1099.set_payer(
                session=owner, actor=builder, name="Acme", ein=ein, address="1 Way", phone=""
            )
        owner.rollback()
    with pytest.raises(ValidationFailed, match="address"):
        tax_1099.set_payer(
            session=owner, actor=builder, name="Acme", ein=PAYER_EIN, address=" ", phone=""
        )
    owner.rollback()
    with pytest.raises(PermissionDenied):
        set_payer(owner, staff(owner, "compliance"))
    owner.rollback()
    assert tax_1099.get_payer(session=owner) is None
    for actor in (staff(owner, "compliance"), person(owner, company.people["A"])):
        with pytest.raises(PermissionDenied):
            tax_1099.issue_year(session=owner, actor=actor, year=2025)
        owner.rollback()
    assert forms(owner) == []


def _issued(owner, year: Year, finance) -> tax_1099.IssueResult:
    """Fay certifies her W-9 (but does not consent to e-delivery), Anna consents; issue 2025."""
    certify_w9(owner, year.people["F"], "Fay Few", SSNS["F"])
    consent(owner, year.people["A"])
    set_payer(owner, finance[0])
    result = tax_1099.issue_year(session=owner, actor=finance[0], year=2025)
    owner.commit()
    return result


def test_issuing_makes_forms_for_ready_payees_and_delivers_to_those_who_consented(
    owner, company, finance
):
    year = payees_2025(owner, company)
    a, c, f = (year.people[letter] for letter in "ACF")
    result = _issued(owner, year, finance)
    assert result == tax_1099.IssueResult(
        issued=2, corrected=0, unchanged=0, delivered=1, paper=1, missing_tin=1
    )
    issued = {row.distributor_id: row for row in forms(owner)}
    assert set(issued) == {a, f}, "the ready payees alone"
    assert issued[a].delivered_at is not None and issued[f].delivered_at is None
    assert (issued[a].box1, issued[a].box2, issued[a].box4) == (Decimal("600.00"), False, 0)
    assert issued[f].box1 == Decimal("650.00") and not issued[a].corrected
    anna_user = _user_of(owner, a).id
    assert [(m.user_id, m.subject) for m in form_messages(owner)] == [
        (anna_user, "Your Form 1099-NEC for 2025 is available")
    ]
    listed = tax_1099.issued_forms(session=owner, actor=finance[0], year=2025)
    assert [form.distributor_id for form in listed] == [f, a], "largest first"
    assert listed[1].name == "Anna Root"
    (audit,) = audits(owner, "tax.1099_issued")
    assert audit.entity_id == "2025" and audit.after["issued"] == 2

    again = tax_1099.issue_year(session=owner, actor=finance[0], year=2025)
    owner.commit()
    assert again == tax_1099.IssueResult(
        issued=0, corrected=0, unchanged=2, delivered=0, paper=0, missing_tin=1
    )
    assert len(forms(owner)) == 2 and len(form_messages(owner)) == 1, "nothing new"

    paid(owner, a, "100.00", at(2025, 12, 1))
    certify_w9(owner, c, "Cara Cole", SSNS["C"])
    changed = tax_1099.issue_year(session=owner, actor=finance[0], year=2025)
    owner.commit()
    assert (changed.issued, changed.corrected, changed.unchanged) == (1, 1, 1)
    assert (changed.delivered, changed.paper, changed.missing_tin) == (1, 1, 0)
    rows = forms(owner)
    old, new = [r for r in rows if r.distributor_id == a]
    assert old.superseded_at is not None and not old.corrected
    assert new.superseded_at is None and new.corrected and new.box1 == Decimal("700.00")
    cara = next(r for r in rows if r.distributor_id == c)
    assert (cara.box1, cara.box4, cara.delivered_at) == (Decimal("100.00"), Decimal("24.00"), None)
    assert [m.subject for m in form_messages(owner)][-1] == (
        "Your Corrected Form 1099-NEC for 2025 is available"
    )
    assert len(tax_1099.issued_forms(session=owner, actor=finance[0], year=2025)) == 3


def test_a_form_no_longer_due_is_voided_by_a_corrected_form_of_zeros(owner, company, finance):
    year = payees_2025(owner, company)
    a, f = year.people["A"], year.people["F"]
    _issued(owner, year, finance)
    owner.execute(
        text("UPDATE payouts SET status = 'returned' WHERE distributor_id = :d AND amount = 500"),
        {"d": a},
    )
    result = tax_1099.issue_year(session=owner, actor=finance[0], year=2025)
    owner.commit()
    assert (result.issued, result.corrected, result.voided, result.unchanged) == (0, 0, 1, 1)
    assert result.delivered == 1, "Anna consented: the void reaches her like the form did"
    old, void = [r for r in forms(owner) if r.distributor_id == a]
    assert old.superseded_at is not None
    assert (void.box1, void.box2, void.box4, void.corrected) == (0, False, 0, True)
    assert [m.subject for m in form_messages(owner)][-1] == (
        "Your Corrected Form 1099-NEC for 2025 is available"
    )
    again = tax_1099.issue_year(session=owner, actor=finance[0], year=2025)
    owner.commit()
    assert (again.voided, again.unchanged) == (0, 1), "a void is not voided again"
    assert {r.distributor_id for r in forms(owner) if r.superseded_at is None} == {a, f}


# --- copies and the filing file -----------------------------------------------------------------


def _pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data)).pages)


def test_a_recipient_copy_is_the_payees_own_when_delivered_and_finances_always(
    owner, company, finance
):
    year = payees_2025(owner, company)
    a, c, f = (year.people[letter] for letter in "ACF")
    _issued(owner, year, finance)
    issued = {row.distributor_id: row for row in forms(owner)}
    anna, cara, fay = (person(owner, d) for d in (a, c, f))

    assert [form.id for form in tax_1099.my_forms(session=owner, actor=anna)] == [issued[a].id]
    assert tax_1099.my_forms(session=owner, actor=fay) == [], "not delivered: sent on paper"
    data, name = tax_1099.recipient_copy(session=owner, actor=anna, form_id=issued[a].id)
    assert name == f"1099-NEC-2025-{year.codes['A']}.pdf" and data.startswith(b"%PDF-")
    words = _pdf_text(data)
    assert "***-**-4399" in words and "Anna Root" in words and "Acme Wellness Inc" in words
    assert "600.00" in words
    digits = "".join(ch for ch in words if ch.isdigit())
    assert "536904399" not in digits and b"536904399" not in data and b"536-90" not in data
    assert audits(owner, "tax.1099_copy_downloaded") == [], "one's own copy is not audited"

    with pytest.raises(NotFound, match="sent on paper"):
        tax_1099.recipient_copy(session=owner, actor=fay, form_id=issued[f].id)
    for actor, form_id in (
        (cara, issued[a].id),
        (fay, issued[a].id),
        (anna, issued[f].id),
        (staff(owner, "support"), issued[a].id),
        (staff(owner, "compliance"), issued[a].id),
        (anna, 999999),
    ):
        with pytest.raises(NotFound, match="does not exist"):
            tax_1099.recipient_copy(session=owner, actor=actor, form_id=form_id)
        owner.rollback()

    copy, _ = tax_1099.recipient_copy(session=owner, actor=finance[0], form_id=issued[f].id)
    owner.commit()
    assert "***-**-9012" in _pdf_text(copy) and b"318449012" not in copy
    (audit,) = audits(owner, "tax.1099_copy_downloaded")
    assert audit.actor_id == finance[0].user_id and audit.entity_id == str(f)

    paid(owner, a, "1.00", at(2025, 12, 2))
    tax_1099.issue_year(session=owner, actor=finance[0], year=2025)
    owner.commit()
    with pytest.raises(NotFound, match="does not exist"):
        tax_1099.recipient_copy(session=owner, actor=anna, form_id=issued[a].id)
    (current,) = tax_1099.my_forms(session=owner, actor=anna)
    assert (
        current.corrected
        and "CORRECTED"
        in _pdf_text(
            tax_1099.recipient_copy(session=owner, actor=anna, form_id=current.id)[0]
        ).upper()
    )


def test_the_filing_file_with_full_tax_ids_is_finances_alone_and_audited(owner, company, finance):
    year = payees_2025(owner, company)
    _issued(owner, year, finance)
    for actor in (
        staff(owner, "admin"),
        staff(owner, "compliance"),
        staff(owner, "support"),
        person(owner, year.people["A"]),
    ):
        with pytest.raises(PermissionDenied):
            tax_1099.filing_file(session=owner, actor=actor, year=2025)
        owner.rollback()
    assert audits(owner, "tax.1099_filing_exported") == []

    content, name = tax_1099.filing_file(session=owner, actor=finance[1], year=2025)
    owner.commit()
    assert name == "1099-NEC-2025-filing.csv"
    lines = list(csv.DictReader(io.StringIO(content)))
    by_account = {line["account_number"]: line for line in lines}
    assert set(by_account) == {year.codes["A"], year.codes["F"]}
    anna = by_account[year.codes["A"]]
    assert (anna["recipient_tin_type"], anna["recipient_tin"]) == ("SSN", "536904399")
    assert anna["payer_tin"] == "911144442" and anna["recipient_name"] == "Anna Root"
    assert anna["box1_nonemployee_compensation"] == "600.00"
    assert anna["box4_federal_income_tax_withheld"] == "0.00" and anna["box2_direct_sales"] == ""
    assert (anna["state"], anna["zip"], anna["tax_year"]) == ("TX", "78701", "2025")
    assert by_account[year.codes["F"]]["recipient_tin"] == "318449012"
    (audit,) = audits(owner, "tax.1099_filing_exported")
    assert audit.actor_id == finance[1].user_id and audit.after == {"forms": 2}
    assert "536904399" not in json.dumps([audit.before, audit.after, audit.reason])
    with pytest.raises(ValidationFailed, match="No forms are issued for 2024"):
        tax_1099.filing_file(session=owner, actor=finance[1], year=2024)


def test_the_forms_are_due_on_january_31_or_the_next_business_day():
    assert tax_1099.filing_deadline(2024) == date(2025, 1, 31)  # a Friday
    assert tax_1099.filing_deadline(2025) == date(2026, 2, 2)  # January 31 is a Saturday
    assert tax_1099.filing_deadline(2026) == date(2027, 2, 1)  # a Sunday
    assert tax_1099.filing_deadline(2027) == date(2028, 1, 31)  # a Monday
