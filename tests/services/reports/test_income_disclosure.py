"""The income disclosure statement of a year, on a company of hand-made data.

The statement reads every distributor, wallet entry and order of the database, so these tests
run on a database of their own (a fresh copy of the migrated template per test, as the
commission tests do). The year is 2025:

- periods: January 2025 and December 2025 closed (December ends on January 1, 2026: it is
  2025's), November 2025 still open, December 2024 closed (2024's);
- ranks member < leader < director; T is a leader in January and a member in December, U a
  member in January and a director in December (the highest counts);
- earnings: Z nothing in 2025 (500.00 in December 2024), N 50.00 less a clawback of 80.00
  (-30.00), R 10.01, Q 25.01, M1 1.00, M2 3.00, M3 1,000.00, T exactly 1,000.00, U 1,000.01;
- who counts: R was terminated in 2024 and reinstated in 2025, Q is terminated with no audit row
  (counted), X was terminated in 2024 (not counted), L joined in 2026 (not counted).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal

import pypdf
import pytest
from sqlalchemy import text

from mlmcrm.errors import PermissionDenied, ValidationFailed
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.reports import income_disclosure as ids
from tests.factories import make_user
from tests.services.commissions.conftest import (  # noqa: F401 - fixtures used by these tests
    commission_template,
    company_url,
    owner,
)

YEAR = 2025


def _at(text_value: str) -> datetime:
    return datetime.fromisoformat(text_value).replace(tzinfo=UTC)


@dataclass
class Company:
    """The hand-made company: the admin, people by letter, periods by name, ranks by code."""

    admin: Actor
    people: dict[str, int] = field(default_factory=dict)
    periods: dict[str, int] = field(default_factory=dict)
    ranks: dict[str, int] = field(default_factory=dict)


def _period(owner, starts: str, ends: str, status: str) -> int:  # noqa: F811 - a plain argument
    period_id = owner.execute(
        text(
            "INSERT INTO commission_periods (starts_at, ends_at, status, closed_at)"
            " VALUES (:s, :e, :status, CASE WHEN :status = 'closed' THEN now() END) RETURNING id"
        ),
        {"s": _at(starts), "e": _at(ends), "status": status},
    ).scalar_one()
    owner.execute(
        text(
            f"CREATE TABLE commission_period_stats_p{int(period_id)} PARTITION OF"
            f" commission_period_stats FOR VALUES IN ({int(period_id)})"
        )
    )
    return int(period_id)


def _person(owner, joined: str, status: str = "active") -> int:  # noqa: F811 - a plain argument
    user = make_user(owner, role="distributor")
    return int(
        owner.execute(
            text(
                "UPDATE distributors SET joined_at = :j, status = :status WHERE user_id = :u"
                " RETURNING id"
            ),
            {"j": _at(joined), "status": status, "u": user.id},
        ).scalar_one()
    )


def earn(owner, company, letter: str, period: str, amount: str, kind="earnings") -> None:  # noqa: F811
    """A wallet entry of a period for a person (as closing the period posts it)."""
    owner.execute(
        text(
            "INSERT INTO wallet_entries (distributor_id, kind, amount, period_id)"
            " VALUES (:d, :kind, :amount, :p)"
        ),
        {
            "d": company.people[letter],
            "kind": kind,
            "amount": Decimal(amount),
            "p": company.periods[period],
        },
    )


def rank(owner, company, letter: str, period: str, code: str | None) -> None:  # noqa: F811
    """A person's stats row of a period, with their paid-as rank."""
    owner.execute(
        text(
            "INSERT INTO commission_period_stats (period_id, distributor_id, paid_as_rank_id)"
            " VALUES (:p, :d, :r)"
        ),
        {
            "p": company.periods[period],
            "d": company.people[letter],
            "r": company.ranks[code] if code else None,
        },
    )


def audit_row(owner, company, letter: str, action: str, at: str) -> None:  # noqa: F811
    owner.execute(
        text(
            "INSERT INTO audit_logs (actor_label, action, entity_type, entity_id, created_at)"
            " VALUES ('test', :a, 'distributor', :d, :at)"
        ),
        {"a": action, "d": str(company.people[letter]), "at": _at(at)},
    )


def order(  # noqa: PLR0913 - the columns of a hand-made order
    owner,  # noqa: F811 - a plain argument
    company,
    letter: str,
    subtotal: str,
    paid: str,
    *,
    status: str = "paid",
    customer: bool = False,
    refunds: tuple[tuple[str, str], ...] = (),
) -> None:
    """An order of the person's (or of a customer of theirs), with its refunds (ratio, when)."""
    value = Decimal(subtotal)
    customer_id = None
    if customer:
        customer_id = owner.execute(
            text(
                "INSERT INTO customers (distributor_id, first_name, last_name)"
                " VALUES (:d, 'Carl', 'Buyer') RETURNING id"
            ),
            {"d": company.people[letter]},
        ).scalar_one()
    order_id = owner.execute(
        text(
            "INSERT INTO orders (distributor_id, customer_id, status, subtotal, tax_total, total,"
            " created_at, paid_at) VALUES (:d, :c, :status, :sub, :tax, :total, :paid, :paid)"
            " RETURNING id"
        ),
        {
            "d": company.people[letter],
            "c": customer_id,
            "status": status,
            "sub": value,
            "tax": value * Decimal("0.08"),
            "total": value * Decimal("1.08"),
            "paid": _at(paid),
        },
    ).scalar_one()
    for ratio, when in refunds:
        owner.execute(
            text(
                "INSERT INTO order_refunds (order_id, amount, ratio, refunded_at)"
                " VALUES (:o, :amount, :ratio, :at)"
            ),
            {
                "o": order_id,
                "amount": (value * Decimal("1.08") * Decimal(ratio)).quantize(Decimal("0.01")),
                "ratio": Decimal(ratio),
                "at": _at(when),
            },
        )


def fee(owner, company, letter: str, amount: str, sent: str) -> None:  # noqa: F811
    """A payout sent on ``sent`` with its fee (the wallet's ``payout`` and ``fee`` entries)."""
    batch = owner.execute(
        text(
            "INSERT INTO payout_batches (status, period_ids, currency, created_by)"
            " VALUES ('executed', CAST(:p AS bigint[]), 'USD', :u) RETURNING id"
        ),
        {"p": [company.periods["january"]], "u": company.admin.user_id},
    ).scalar_one()
    payout = owner.execute(
        text(
            "INSERT INTO payouts (batch_id, distributor_id, amount, fee, currency, method, status,"
            " sent_at) VALUES (:b, :d, 100, :fee, 'USD', 'stripe', 'sent', :at) RETURNING id"
        ),
        {"b": batch, "d": company.people[letter], "fee": Decimal(amount), "at": _at(sent)},
    ).scalar_one()
    for kind, value in (("payout", Decimal(100)), ("fee", Decimal(amount))):
        owner.execute(
            text(
                "INSERT INTO wallet_entries (distributor_id, kind, amount, payout_id, batch_id,"
                " created_at) VALUES (:d, :kind, :amount, :p, :b, :at)"
            ),
            {
                "d": company.people[letter],
                "kind": kind,
                "amount": -value,
                "p": payout,
                "b": batch,
                "at": _at(sent),
            },
        )


def build(owner) -> Company:  # noqa: F811 - a plain argument
    """The company of the module docstring, committed."""
    admin = make_user(owner, role="admin")
    company = Company(admin=Actor(user_id=admin.id, role="admin", label=admin.email))
    for level, code in enumerate(("member", "leader", "director")):
        company.ranks[code] = owner.execute(
            text("INSERT INTO ranks (code, name, level) VALUES (:c, :n, :l) RETURNING id"),
            {"c": code, "n": code.title(), "l": level},
        ).scalar_one()
    company.periods = {
        "december_2024": _period(owner, "2024-12-01", "2025-01-01", "closed"),
        "january": _period(owner, "2025-01-01", "2025-02-01", "closed"),
        "november": _period(owner, "2025-11-01", "2025-12-01", "open"),
        "december": _period(owner, "2025-12-01", "2026-01-01", "closed"),
    }
    joined = {
        "Z": "2025-03-01",
        "N": "2024-02-01",
        "R": "2023-05-01",
        "Q": "2024-01-01",
        "M1": "2024-01-01",
        "M2": "2024-01-01",
        "M3": "2024-01-01",
        "T": "2024-01-01",
        "U": "2024-01-01",
        "X": "2023-01-01",
        "L": "2026-01-05",
    }
    for letter, when in joined.items():
        status = "terminated" if letter in ("Q", "X") else "active"
        company.people[letter] = _person(owner, when, status)
    audit_row(owner, company, "X", "distributor.terminate", "2024-06-01")
    audit_row(owner, company, "R", "distributor.terminate", "2024-03-01")
    audit_row(owner, company, "R", "distributor.reinstate", "2025-05-01")

    earn(owner, company, "Z", "december_2024", "500.00")
    earn(owner, company, "X", "december_2024", "40.00")
    earn(owner, company, "N", "january", "50.00")
    earn(owner, company, "N", "december", "-80.00", kind="clawback")
    earn(owner, company, "R", "december", "10.01")
    earn(owner, company, "Q", "january", "25.01")
    earn(owner, company, "M1", "january", "1.00")
    earn(owner, company, "M2", "december", "3.00")
    earn(owner, company, "M3", "january", "1200.00")
    earn(owner, company, "M3", "december", "-200.00", kind="clawback")
    earn(owner, company, "T", "january", "600.00")
    earn(owner, company, "T", "december", "400.00")
    earn(owner, company, "U", "january", "0.01")
    earn(owner, company, "U", "december", "1000.00")

    rank(owner, company, "Z", "january", None)
    rank(owner, company, "X", "december_2024", "director")
    rank(owner, company, "Z", "december_2024", "director")
    for letter in ("M1", "M2", "M3"):
        rank(owner, company, letter, "january", "member")
    rank(owner, company, "T", "january", "leader")
    rank(owner, company, "T", "december", "member")
    rank(owner, company, "U", "january", "member")
    rank(owner, company, "U", "december", "director")

    # Q: 100.00 bought, a quarter refunded in the year (75.00); 40.00 refunded after it (kept).
    order(owner, company, "Q", "100.00", "2025-07-01", refunds=(("0.25", "2025-08-01"),))
    order(owner, company, "Q", "80.00", "2025-10-01", refunds=(("0.5", "2026-02-01"),))
    order(owner, company, "Q", "500.00", "2025-07-02", customer=True)  # a customer's
    order(owner, company, "Q", "70.00", "2025-07-03", status="pending")  # never paid
    order(owner, company, "Q", "60.00", "2024-12-31")  # the year before
    order(owner, company, "T", "19.99", "2025-12-31T23:59:59")
    fee(owner, company, "T", "2.50", "2025-06-15")
    fee(owner, company, "T", "1.25", "2026-01-15")  # the next year
    owner.commit()
    return company


@pytest.fixture()
def company(owner):  # noqa: F811 - the fixture imported above
    return build(owner)


def _rows(disclosure: ids.IncomeDisclosure) -> dict[str, ids.RankRow]:
    return {row.rank: row for row in disclosure.rows}


def test_the_year_by_highest_rank_with_every_participant(owner, company):  # noqa: F811
    disclosure = ids.statement(session=owner, actor=company.admin, year=YEAR)
    assert [p.label for p in disclosure.periods] == ["January 2025", "December 2025"]
    assert disclosure.not_closed == ("November 2025",)
    assert [row.rank for row in disclosure.rows] == [ids.NO_RANK, "Member", "Leader", "Director"]
    everyone = disclosure.everyone
    # Z N R Q M1 M2 M3 T U; not X (terminated in 2024) nor L (joined in 2026).
    assert everyone.participants == 9 and everyone.share_of_all == Decimal("100.0")
    # -30.00 0 1.00 3.00 10.01 25.01 1000.00 1000.00 1000.01: the fifth is the median.
    assert everyone.median == Decimal("10.01")
    assert everyone.mean == Decimal("334.34")  # 3009.03 / 9 = 334.336...
    assert (everyone.at_zero, everyone.share_at_zero) == (2, Decimal("22.2"))
    assert (everyone.at_most_1000, everyone.share_at_most_1000) == (8, Decimal("88.9"))
    # Purchases: Q 75.00 + 80.00, T 19.99; fees: T 2.50.
    assert everyone.mean_purchases == Decimal("19.44")  # 174.99 / 9
    assert everyone.mean_fees == Decimal("0.28")  # 2.50 / 9 = 0.2777...

    rows = _rows(disclosure)
    none = rows[ids.NO_RANK]
    # Z 0, N -30.00, R 10.01, Q 25.01: an even count, the mean of 0 and 10.01 is 5.005.
    assert none.participants == 4 and none.share_of_all == Decimal("44.4")
    assert none.median == Decimal("5.01") and none.mean == Decimal("1.26")  # 5.02 / 4
    assert (none.at_zero, none.at_most_1000) == (2, 4)
    assert none.mean_purchases == Decimal("38.75") and none.mean_fees == Decimal("0.00")
    member = rows["Member"]
    # M1 1.00, M2 3.00, M3 1000.00 (1200.00 less a 200.00 clawback): an odd count.
    assert (member.participants, member.median, member.mean) == (
        3,
        Decimal("3.00"),
        Decimal("334.67"),
    )
    assert member.rank_code == "member"
    assert (member.at_zero, member.share_at_zero) == (0, Decimal("0.0"))
    assert (member.at_most_1000, member.share_at_most_1000) == (3, Decimal("100.0"))
    leader, director = rows["Leader"], rows["Director"]
    assert (leader.participants, leader.median, leader.at_most_1000) == (1, Decimal("1000.00"), 1)
    assert (leader.mean_purchases, leader.mean_fees) == (Decimal("19.99"), Decimal("2.50"))
    assert (director.participants, director.median, director.at_most_1000) == (
        1,
        Decimal("1000.01"),
        0,
    )
    assert sum(row.participants for row in disclosure.rows) == everyone.participants


def test_a_zero_earner_enrolled_in_the_year_counts_and_one_who_joined_after_does_not(
    owner,  # noqa: F811
    company,
):
    before = ids.statement(session=owner, actor=company.admin, year=YEAR).everyone.participants
    owner.execute(
        text("UPDATE distributors SET joined_at = :j WHERE id = :d"),
        {"j": _at("2025-12-31T23:59:59"), "d": company.people["L"]},
    )
    owner.commit()
    after = ids.statement(session=owner, actor=company.admin, year=YEAR)
    assert after.everyone.participants == before + 1
    assert after.everyone.at_zero == 3
    owner.execute(
        text("UPDATE distributors SET joined_at = :j WHERE id = :d"),
        {"j": _at("2026-01-01"), "d": company.people["L"]},
    )
    owner.commit()
    assert ids.statement(session=owner, actor=company.admin, year=YEAR).everyone.participants == (
        before
    )


def test_a_terminated_distributor_counts_while_enrolled_or_paid(owner, company):  # noqa: F811
    # X was terminated in 2024: not a 2025 participant, but one of 2024 (December's 40.00).
    year_2024 = ids.statement(session=owner, actor=company.admin, year=2024)
    # The nine who joined before 2025 (X and R among them), and Z, paid for December 2024.
    assert year_2024.everyone.participants == 10
    assert _rows(year_2024)["Director"].participants == 2  # Z and X, each at director
    # Paid for a 2025 period after a termination before it: counted, with that pay.
    earn(owner, company, "X", "december", "7.00")
    owner.commit()
    disclosure = ids.statement(session=owner, actor=company.admin, year=YEAR)
    assert disclosure.everyone.participants == 10
    assert _rows(disclosure)[ids.NO_RANK].participants == 5


def test_a_year_without_closed_periods_and_years_out_of_range(owner, company):  # noqa: F811
    with pytest.raises(ValidationFailed) as missing:
        ids.statement(session=owner, actor=company.admin, year=2023)
    assert str(missing.value) == (
        "No commission period of 2023 is closed, so there are no earnings to disclose for it"
        " yet. Choose another year, or close its periods first."
    )
    this_year = date.today().year
    for year in (1999, this_year + 1):
        with pytest.raises(ValidationFailed) as refused:
            ids.statement(session=owner, actor=company.admin, year=year)
        assert str(refused.value) == f"Choose a calendar year between 2000 and {this_year}."
    with pytest.raises(ValidationFailed, match="four digits"):
        ids.check_year("last year")


def test_who_may_read_it(owner, company):  # noqa: F811
    for role in ("finance", "compliance"):
        user = make_user(owner, role=role)
        actor = Actor(user_id=user.id, role=role)
        assert ids.statement(session=owner, actor=actor, year=YEAR).everyone.participants == 9
    for role in ("support", "distributor"):
        user = make_user(owner, role=role)
        actor = Actor(user_id=user.id, role=role)
        with pytest.raises(PermissionDenied):
            ids.statement(session=owner, actor=actor, year=YEAR)
        with pytest.raises(PermissionDenied):
            ids.statement_csv(session=owner, actor=actor, year=YEAR)


def _audits(owner) -> list[dict]:  # noqa: F811 - a plain argument
    return [
        dict(row)
        for row in owner.execute(
            text(
                "SELECT entity_type, entity_id, after FROM audit_logs"
                " WHERE action = 'reports.ids_exported' ORDER BY id"
            )
        ).mappings()
    ]


def test_the_csv_and_the_pdf_are_audited_and_reproducible(owner, company):  # noqa: F811
    data, name = ids.statement_csv(session=owner, actor=company.admin, year=YEAR)
    owner.commit()
    assert name == "income-disclosure-2025.csv"
    table = list(csv.DictReader(io.StringIO(data)))
    assert [row["rank"] for row in table] == [
        ids.NO_RANK,
        "Member",
        "Leader",
        "Director",
        ids.EVERYONE,
    ]
    none = table[0]
    assert (none["year"], none["participants"], none["median_earnings"]) == ("2025", "4", "5.01")
    assert (none["mean_earnings"], none["earning_zero"], none["earning_zero_percent"]) == (
        "1.26",
        "2",
        "50.0",
    )
    assert table[-1]["earning_at_most_1000"] == "8"
    assert table[-1]["mean_purchases"] == "19.44" and table[-1]["mean_fees"] == "0.28"

    pdf, pdf_name = ids.statement_pdf(session=owner, actor=company.admin, year=YEAR)
    owner.commit()
    assert pdf_name == "income-disclosure-2025.pdf" and pdf.startswith(b"%PDF-")
    again, _ = ids.statement_pdf(session=owner, actor=company.admin, year=YEAR)
    owner.commit()
    assert again == pdf, "the same year gives the same bytes"
    words = " ".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages)
    assert "Income disclosure statement 2025" in words
    assert "$5.01" in words and "$1,000.01" in words and "$334.34" in words
    assert "November 2025" in words, "the method names the periods not closed yet"
    assert "How these figures are made" in words

    audits = _audits(owner)
    assert [a["after"]["format"] for a in audits] == ["csv", "pdf", "pdf"]
    assert audits[0]["entity_type"] == "income_disclosure" and audits[0]["entity_id"] == "2025"
    assert audits[0]["after"]["participants"] == 9
    assert audits[0]["after"]["periods"] == [
        company.periods["january"],
        company.periods["december"],
    ]


def test_the_method_is_written_on_the_statement(owner, company):  # noqa: F811
    disclosure = ids.statement(session=owner, actor=company.admin, year=YEAR)
    method = " ".join(disclosure.method)
    assert "January 2025, December 2025" in method
    assert "Not counted yet: November 2025" in method
    assert "highest paid-as rank" in method and "as earning $0" in method
    assert "$1,000.00 or less" in method and "payout fees" in method
