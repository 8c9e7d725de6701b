"""The compliance rule checks on hand-made data, at and around each rule's boundary.

Each test runs on a company of its own (a fresh database, see
``tests/services/commissions/conftest.py``): January 2026 with A, B, C own orders (100, 100 and
60 PV), E's customer order (200 PV), C's earlier own order of December, the plan's ``leader``
rank at 50 PV and 300 GV. The test adds what its rule needs, runs and closes January, then runs
the checks as the worker does (the ``batch`` role).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from mlmcrm.db import session_scope
from mlmcrm.errors import NotFound, PermissionDenied, ValidationFailed
from mlmcrm.models import (
    AutoshipSubscription,
    Contact,
    ContactActivity,
    Customer,
    Message,
    MessageCampaign,
    MessageTemplate,
    PayoutMethod,
)
from mlmcrm.services.commissions import commission_periods as periods
from mlmcrm.services.commissions.commission_run import run_period
from mlmcrm.services.compliance import cases, checks
from mlmcrm.services.compliance.checks import claims, duplicates, policy
from mlmcrm.services.crm.contacts import PRIVATE_NOTE_FIELD
from mlmcrm.services.messaging.outbox import BODY_FIELD
from mlmcrm.services.payouts import methods
from mlmcrm.services.platform import crypto
from mlmcrm.services.platform.actor import Actor
from tests.factories import make_user
from tests.services.commissions.builders import add_order
from tests.services.commissions.conftest import (  # noqa: F401 - fixtures used by these tests
    commission_template,
    company,
    company_url,
    owner,
)
from tests.services.conftest import signed_in

SYSTEM = Actor.system("compliance checks")


def at(day: int, hour: int = 12, *, month: int = 1) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


def close(company) -> None:  # noqa: F811 - a plain argument
    """Run and close January, as finance does."""
    run_period(actor=company.admin, period_id=company.period_id)
    with session_scope("app", actor_id=company.admin_id) as session:
        periods.close_period(session=session, actor=company.admin, period_id=company.period_id)


def run(period_id: int | None = None, actor: Actor = SYSTEM) -> dict:
    with session_scope("batch") as session:
        return checks.run_checks(session=session, actor=actor, period_id=period_id)


def opened(owner, rule: str) -> dict[int | None, dict]:  # noqa: F811 - a plain argument
    """The open cases of ``rule``: evidence by subject id."""
    owner.commit()
    rows = owner.execute(
        text(
            "SELECT subject_id, evidence FROM compliance_cases"
            " WHERE rule = :rule AND status IN ('open', 'investigating')"
        ),
        {"rule": rule},
    ).all()
    return {row.subject_id: row.evidence for row in rows}


def customer_of(owner, company, letter: str) -> int:  # noqa: F811 - plain arguments
    buyer = Customer(distributor_id=company.people[letter], first_name="Rita", last_name="Retail")
    owner.add(buyer)
    owner.flush()
    return buyer.id  # type: ignore[return-value]  # a flushed row has an id


def user_of(owner, company, letter: str) -> int:  # noqa: F811 - plain arguments
    return owner.execute(
        text("SELECT user_id FROM distributors WHERE id = :d"), {"d": company.people[letter]}
    ).scalar_one()


def code_of(owner, company, letter: str) -> str:  # noqa: F811 - plain arguments
    return owner.execute(
        text("SELECT code FROM distributors WHERE id = :d"), {"d": company.people[letter]}
    ).scalar_one()


def reviewer(owner) -> Actor:  # noqa: F811 - a plain argument
    return signed_in(owner, make_user(owner, role="compliance"))[0]


# --- retail share ---------------------------------------------------------------------------


def test_a_retail_share_of_exactly_50_percent_is_not_flagged_and_49_99_percent_is(
    owner,  # noqa: F811
    company,  # noqa: F811
):
    people = company.people
    add_order(owner, people["A"], "100", at(10), customer_of(owner, company, "A"))
    add_order(owner, people["B"], "99.98", at(10), customer_of(owner, company, "B"))
    add_order(owner, people["B"], "0.02", at(11))  # 99.98 of 200 PV: 49.99%
    owner.commit()
    close(company)

    outcome = run()

    flagged = opened(owner, "retail_share")
    assert set(flagged) == {people["B"], people["C"]}, "A at 50% and E at 100% are not flagged"
    assert flagged[people["B"]]["retail_share"] == "49.99%"
    assert flagged[people["B"]]["threshold"] == "50%"
    assert (flagged[people["B"]]["customer_pv"], flagged[people["B"]]["total_pv"]) == (
        "99.98",
        "200",
    )
    assert flagged[people["B"]]["orders"].startswith("/admin/orders?distributor=")
    assert flagged[people["C"]]["retail_share"] == "0%"
    assert outcome["found"]["retail_share"] == 2 and outcome["opened"]["retail_share"] == 2
    assert opened(owner, "retail_share_company") == {}, "399.98 of 660 PV is retail: 60.6%"
    assert outcome["retail_share"] == "60.6%"


def test_the_company_wide_retail_share_is_flagged_below_the_threshold_only(
    owner,  # noqa: F811
    company,  # noqa: F811
):
    close(company)
    compliance = reviewer(owner)
    # 200 of 460 PV is retail: 43.478...%
    policy.set_rules(
        session=owner,
        actor=compliance,
        retail_share_threshold="0.4347",
        inventory_monthly_amount="500",
        last_days="3",
        claim_phrases="quit your job",
    )
    owner.commit()
    assert run()["found"]["retail_share_company"] == 0
    policy.set_rules(
        session=owner,
        actor=compliance,
        retail_share_threshold="0.4348",
        inventory_monthly_amount="500",
        last_days="3",
        claim_phrases="quit your job",
    )
    owner.commit()
    outcome = run()
    assert outcome["found"]["retail_share_company"] == 1
    (evidence,) = opened(owner, "retail_share_company").values()
    assert evidence["retail_share"] == "43.47%" and evidence["threshold"] == "43.48%"
    assert (evidence["customer_pv"], evidence["total_pv"]) == ("200", "460")


# --- inventory loading and rank loading -------------------------------------------------------


def test_personal_orders_of_500_00_in_a_month_are_not_flagged_and_500_01_are(
    owner,  # noqa: F811
    company,  # noqa: F811
):
    people = company.people
    add_order(owner, people["A"], "400.00", at(20))  # 100 + 400.00
    add_order(owner, people["B"], "400.01", at(20))  # 100 + 400.01
    add_order(owner, people["E"], "900", at(20), customer_of(owner, company, "E"))  # retail
    owner.commit()
    close(company)

    run()

    flagged = opened(owner, "inventory_loading")
    assert set(flagged) == {people["B"]}
    assert flagged[people["B"]]["months"] == {"2026-01": "500.01 in 2 orders"}
    assert flagged[people["B"]]["monthly_amount"] == "500"


def test_a_rank_that_rests_on_own_orders_of_the_last_3_days_is_flagged(
    owner,  # noqa: F811
    company,  # noqa: F811
):
    people = company.people
    last_days = datetime(2026, 1, 29, tzinfo=UTC)  # January ends on February 1st, 00:00 UTC
    owner.execute(
        text("UPDATE orders SET created_at = :t, paid_at = :t WHERE id = :o"),
        {"t": last_days, "o": company.orders["b1"]},
    )
    owner.execute(
        text("UPDATE orders SET created_at = :t, paid_at = :t WHERE id = :o"),
        {"t": last_days - timedelta(microseconds=1), "o": company.orders["a1"]},
    )
    add_order(owner, people["A"], "10", at(30))  # A's rank does not rest on it
    owner.commit()
    close(company)
    compliance = reviewer(owner)
    policy.set_rules(
        session=owner,
        actor=compliance,
        retail_share_threshold="0.5",
        inventory_monthly_amount="500",
        last_days="2",
        claim_phrases="quit your job",
    )
    owner.commit()
    assert run()["found"]["rank_loading"] == 0, "with 2 last days B's order is before them"

    policy.set_rules(
        session=owner,
        actor=compliance,
        retail_share_threshold="0.5",
        inventory_monthly_amount="500",
        last_days="3",
        claim_phrases="quit your job",
    )
    owner.commit()
    run()

    flagged = opened(owner, "rank_loading")
    assert set(flagged) == {people["B"]}, "B is a leader on 100 PV, all of it from January 29"
    evidence = flagged[people["B"]]
    assert evidence["paid_as_rank"] == "Leader" and evidence["last_days"] == "3"
    assert (evidence["pv"], evidence["pv_without_last_days"], evidence["rank_min_pv"]) == (
        "100",
        "0",
        "50",
    )
    assert (evidence["gv"], evidence["gv_without_last_days"], evidence["rank_min_gv"]) == (
        "300",
        "200",
        "300",
    )
    assert evidence["order_ids"] == [str(company.orders["b1"])]
    assert "since=2026-01-29" in evidence["orders"]


# --- the 70% rule ---------------------------------------------------------------------------


def test_a_reorder_without_the_self_certification_is_flagged_unless_certified_or_autoship(
    owner,  # noqa: F811
    company,  # noqa: F811
):
    people = company.people
    certified = add_order(owner, people["A"], "20", at(10))  # after a1: a reorder
    owner.execute(
        text("UPDATE orders SET resale_certified_at = created_at WHERE id = :o"), {"o": certified}
    )
    subscription = AutoshipSubscription(
        distributor_id=people["B"],
        day_of_month=12,
        region="US-TX",
        currency="USD",
        next_run_on=at(12, month=2).date(),
    )
    owner.add(subscription)
    owner.flush()
    autoship = add_order(owner, people["B"], "20", at(12))  # after b1, placed by the autoship
    owner.execute(
        text("UPDATE orders SET autoship_id = :s WHERE id = :o"),
        {"s": subscription.id, "o": autoship},
    )
    add_order(owner, people["D"], "20", at(14), status="cancelled")  # never paid: no purchase
    add_order(owner, people["D"], "20", at(15))  # so this is D's first
    add_order(owner, people["E"], "20", at(16))  # E's first own order (E had a customer's)
    owner.commit()
    close(company)

    run()

    flagged = opened(owner, "seventy_percent")
    assert set(flagged) == {people["C"]}, "C's January order follows their December one"
    evidence = flagged[people["C"]]
    assert evidence["uncertified_reorders"] == "1" and evidence["amount"] == "60"
    assert evidence["order_ids"] == [str(company.orders["c1"])]
    assert evidence["first_order"] == f"/admin/orders?order_id={company.orders['c1']}"


# --- duplicate and shell accounts ----------------------------------------------------------


def test_accounts_sharing_a_phone_address_tax_id_or_bank_account_are_one_case_per_group(
    owner,  # noqa: F811
    company,  # noqa: F811
):
    users = {letter: user_of(owner, company, letter) for letter in company.people}
    phones = {"A": "+14155550123", "B": "(415) 555-0123", "E": "+14155550199"}
    for letter, phone in phones.items():
        owner.execute(
            text("UPDATE users SET phone = :p WHERE id = :u"), {"p": phone, "u": users[letter]}
        )
    addresses = {
        "A": {"street": "12 Main Street", "city": "Austin", "region": "TX", "postcode": "78701"},
        "C": {"line1": "12 main st.", "city": "AUSTIN", "state": "tx", "postal_code": "78701"},
        "D": {"line1": "12 Main Street", "city": "Dallas", "region": "TX", "zip": "75201"},
    }
    for letter, address in addresses.items():
        owner.execute(
            text("UPDATE user_profiles SET address = CAST(:a AS jsonb) WHERE user_id = :u"),
            {"a": json.dumps(address), "u": users[letter]},
        )
    for letter, tax_id in {"B": "123-45-6789", "D": "123456789", "E": "987-65-4321"}.items():
        owner.execute(
            text("UPDATE user_profiles SET tax_id_enc = :t WHERE user_id = :u"),
            {"t": crypto.encrypt_field(tax_id, field=duplicates.TAX_ID_FIELD), "u": users[letter]},
        )
    for letter, account in {"C": "000123456789", "E": "0001-2345-6789"}.items():
        owner.add(
            PayoutMethod(
                distributor_id=company.people[letter],
                kind="ach",
                holder_name=f"Holder {letter}",
                routing_enc=crypto.encrypt_field("011000015", field=methods.ROUTING_FIELD),
                account_enc=crypto.encrypt_field(account, field=methods.ACCOUNT_FIELD),
            )
        )
    owner.commit()
    close(company)

    outcome = run()

    assert outcome["found"]["duplicate_account"] == 4
    rows = owner.execute(
        text(
            "SELECT dedupe_key, subject_id, severity, evidence FROM compliance_cases"
            " WHERE rule = 'duplicate_account'"
        )
    ).all()
    by_kind = {row.dedupe_key.split(":")[1]: row for row in rows}
    codes = {letter: code_of(owner, company, letter) for letter in company.people}
    assert set(by_kind) == {"phone", "address", "tax_id", "bank_account"}
    assert by_kind["phone"].evidence["codes"] == [codes["A"], codes["B"]]
    assert by_kind["address"].evidence["codes"] == [codes["A"], codes["C"]], "D is in Dallas"
    assert by_kind["tax_id"].evidence["codes"] == [codes["B"], codes["D"]]
    assert by_kind["bank_account"].evidence["codes"] == [codes["C"], codes["E"]]
    assert by_kind["tax_id"].subject_id == company.people["D"], "about the newest account"
    assert (by_kind["tax_id"].severity, by_kind["address"].severity) == ("high", "low")
    stored = json.dumps([[row.dedupe_key, row.evidence] for row in rows]).casefold()
    # Codes and key hashes are random hex and may hold these digits by chance.
    for token in [*codes.values(), *(row.dedupe_key.rsplit(":", 1)[1] for row in rows)]:
        stored = stored.replace(token.casefold(), "<token>")
    for plaintext in ("6789", "555", "main", "austin", "0110"):
        assert plaintext not in stored, f"{plaintext!r} is stored in a case"


def test_addresses_and_phones_are_normalised_before_they_are_compared():
    street = duplicates.normalise_address({"street": "12 North Main Street, Suite 4"})
    assert street == duplicates.normalise_address({"line1": "12 n. main st. ste 4"})
    assert street == "12 n main st ste 4"
    assert duplicates.normalise_address({"city": "Austin"}) is None, "no street line"
    assert duplicates.normalise_address(None) is None
    assert duplicates.normalise_phone("(415) 555-0123", "US") == "+14155550123"
    assert duplicates.normalise_phone("+14155550123", "GB") == "+14155550123"
    assert duplicates.normalise_phone("not a phone", "US") is None


# --- income and health claims --------------------------------------------------------------


def test_claims_in_a_note_a_private_note_a_message_a_campaign_and_a_template_open_cases(
    owner,  # noqa: F811
    company,  # noqa: F811
):
    users = {letter: user_of(owner, company, letter) for letter in company.people}
    contact = Contact(owner_id=users["A"], first_name="Pat", last_name="Prospect")
    owner.add(contact)
    owner.flush()
    note = ContactActivity(
        owner_id=users["A"],
        contact_id=contact.id,
        kind="note",
        body="Told her she could QUIT  your\njob within a year.",
    )
    secret = ContactActivity(
        owner_id=users["A"],
        contact_id=contact.id,
        kind="note",
        is_private=True,
        body_enc=crypto.encrypt_field("This tea cures colds, honest.", field=PRIVATE_NOTE_FIELD),
    )
    harmless = ContactActivity(
        owner_id=users["A"],
        contact_id=contact.id,
        kind="note",
        body="The lid secures the tea; no cure for anything is promised.",
    )
    contact.private_notes_enc = crypto.encrypt_field(
        "Wants financial freedom.", field=claims.CONTACT_NOTES_FIELD
    )
    owner.add_all([note, secret, harmless, contact])
    message = Message(
        kind="crm.message",
        channel="email",
        category="marketing",
        contact_id=contact.id,
        sender_id=users["B"],
        to_address="pat@example.com",
        subject="Guaranteed income",
        body_enc=crypto.encrypt_field("Join my team.", field=BODY_FIELD),
        status="sent",
    )
    campaign = MessageCampaign(sender_id=users["C"], template_key="promo", channel="email")
    owner.add_all([message, campaign])
    owner.flush()
    for address in ("one@example.com", "two@example.com"):
        owner.add(
            Message(
                kind="crm.campaign",
                channel="email",
                category="marketing",
                sender_id=users["C"],
                campaign_id=campaign.id,
                to_address=address,
                body_enc=crypto.encrypt_field("Passive income, every month.", field=BODY_FIELD),
                status="sent",
            )
        )
    template = MessageTemplate(
        key="compliance-test",
        channel="email",
        category="recruiting",
        name="Opportunity",
        subject="An opportunity",
        body="Hello {{ name }}: it HEALS joints.",
    )
    owner.add(template)
    owner.commit()
    close(company)

    outcome = run()

    rows = owner.execute(
        text(
            "SELECT dedupe_key, subject_type, subject_id, evidence FROM compliance_cases"
            " WHERE rule = 'claims'"
        )
    ).all()
    found = {row.dedupe_key: row for row in rows}
    assert set(found) == {
        f"claims:note:{note.id}",
        f"claims:note:{secret.id}",
        f"claims:contact:{contact.id}",
        f"claims:message:{message.id}",
        f"claims:campaign:{campaign.id}",
        f"claims:template:{template.id}",
    }, "the harmless note is not flagged; the campaign's two messages are one finding"
    assert outcome["found"]["claims"] == 6
    flagged = found[f"claims:note:{note.id}"]
    assert (flagged.subject_type, flagged.subject_id) == ("distributor", company.people["A"])
    assert flagged.evidence["phrases"] == ["quit your job"]
    assert flagged.evidence["excerpt"] == "Told her she could QUIT your job within a year."
    assert flagged.evidence["author"] == code_of(owner, company, "A")
    assert flagged.evidence["where"] == f"/crm/contacts/{contact.id}"
    assert found[f"claims:note:{secret.id}"].evidence["phrases"] == ["cures"]
    assert found[f"claims:message:{message.id}"].subject_id == company.people["B"]
    assert found[f"claims:campaign:{campaign.id}"].subject_id == company.people["C"]
    by_template = found[f"claims:template:{template.id}"]
    assert (by_template.subject_type, by_template.subject_id) == ("template", template.id)
    assert by_template.evidence["phrases"] == ["heals"]


def test_the_claim_matcher_finds_whole_phrases_whatever_the_case_and_spacing():
    matcher = claims.ClaimMatcher(["Quit your job", "cures", "six-figure income"])
    assert matcher.find("Quit\n your   JOB now")[0] == ["quit your job"]
    assert matcher.find("It cures. It secures.")[0] == ["cures"]
    assert matcher.find("a SIX-FIGURE income, and it cures")[0] == ["six-figure income", "cures"]
    assert matcher.find("insecures, curesome, quit your jobs") == ([], "")
    assert matcher.find(None) == ([], "")


# --- runs ----------------------------------------------------------------------------------


def test_running_twice_opens_nothing_new_and_a_closed_case_opens_again_when_its_finding_changes(
    owner,  # noqa: F811
    company,  # noqa: F811
):
    close(company)
    first = run()
    assert first["opened_total"] == sum(first["found"].values()) > 0
    assert first["opened"]["retail_share"] == 3, "A, B and C sell nothing to customers"
    events = owner.execute(
        text("SELECT DISTINCT body FROM compliance_case_events WHERE kind = 'opened'")
    ).all()
    assert [row.body for row in events] == ["Opened by the rule check"]

    again = run()
    assert again["found"] == first["found"] and again["opened_total"] == 0

    compliance = reviewer(owner)
    (case,) = [
        c
        for c in cases.list_cases(session=owner, actor=compliance, rule="retail_share")[0]
        if c.subject_id == company.people["C"]
    ]
    cases.set_status(
        session=owner,
        actor=compliance,
        case_id=case.id,
        status="dismissed",
        reason="Sells at markets: receipts seen",
    )
    owner.commit()
    assert run()["opened_total"] == 0, "the same finding stays closed with the decision"

    add_order(owner, company.people["C"], "20", at(20), customer_of(owner, company, "C"))
    owner.commit()
    changed = run()
    assert changed["opened"] == {**{rule: 0 for rule in first["opened"]}, "retail_share": 1}
    rows = owner.execute(
        text(
            "SELECT status, evidence->>'retail_share' AS share FROM compliance_cases"
            " WHERE rule = 'retail_share' AND subject_id = :c ORDER BY id"
        ),
        {"c": company.people["C"]},
    ).all()
    assert [(r.status, r.share) for r in rows] == [("dismissed", "0%"), ("open", "25%")]


def test_a_run_checks_the_latest_closed_period_and_is_recorded(owner, company):  # noqa: F811
    with pytest.raises(NotFound, match="No commission period is closed"):
        run()
    with pytest.raises(ValidationFailed, match="closed period"):
        run(company.period_id)
    close(company)
    outcome = run()
    assert (outcome["period_id"], outcome["period"]) == (company.period_id, "January 2026")
    assert list(outcome["found"]) == list(cases.RULES)[:-1]
    compliance = reviewer(owner)
    last = checks.last_run(session=owner, actor=compliance)
    assert last is not None and last.by == "compliance checks"
    assert last.outcome["opened_total"] == outcome["opened_total"]

    distributor = signed_in(owner, make_user(owner, role="distributor"))[0]
    for refused in (
        lambda: run(actor=distributor),
        lambda: checks.last_run(session=owner, actor=distributor),
    ):
        with pytest.raises(PermissionDenied):
            refused()
    assert run(actor=compliance)["opened_total"] == 0

    owner.execute(text("SELECT pg_advisory_xact_lock(:cls, 1)"), {"cls": checks.run.RUN_LOCK_CLASS})
    with pytest.raises(ValidationFailed, match="running already"):
        run()
    owner.rollback()


# --- settings ------------------------------------------------------------------------------


def test_the_settings_default_to_the_company_rules_and_are_changed_with_validation(
    owner,  # noqa: F811
    company,  # noqa: F811
):
    rules = checks.get_rules(session=owner)
    assert (rules.retail_share_threshold, rules.inventory_monthly_amount, rules.last_days) == (
        policy.DEFAULT_RULES.retail_share_threshold,
        policy.DEFAULT_RULES.inventory_monthly_amount,
        3,
    )
    assert str(rules.retail_share_threshold) == "0.50" and "financial freedom" in (
        rules.claim_phrases
    )
    compliance = reviewer(owner)
    good = {
        "retail_share_threshold": "0.45",
        "inventory_monthly_amount": "750.00",
        "last_days": "5",
        "claim_phrases": "Quit your job\n\n  guaranteed   income \nquit YOUR job",
    }
    for changes, message in (
        ({"retail_share_threshold": "1.5"}, "from 0 to 100%"),
        ({"retail_share_threshold": "0.12345"}, "at most 4 decimal places"),
        ({"inventory_monthly_amount": "-1"}, "may not be below 0"),
        ({"inventory_monthly_amount": "5,00"}, "unclear"),
        ({"last_days": "0"}, "from 1 to 15"),
        ({"last_days": "16"}, "from 1 to 15"),
        ({"claim_phrases": " \n "}, "at least one claim phrase"),
        ({"claim_phrases": "ok"}, "3 to 100 characters"),
    ):
        with pytest.raises(ValidationFailed, match=message):
            checks.set_rules(session=owner, actor=compliance, **{**good, **changes})
    owner.rollback()
    distributor = signed_in(owner, make_user(owner, role="distributor"))[0]
    with pytest.raises(PermissionDenied):
        checks.set_rules(session=owner, actor=distributor, **good)
    changed = checks.set_rules(session=owner, actor=compliance, **good)
    owner.commit()
    assert changed.claim_phrases == ("quit your job", "guaranteed income")
    assert checks.get_rules(session=owner) == changed
    audit = owner.execute(
        text("SELECT actor_id, after FROM audit_logs WHERE action = 'compliance.rules_changed'")
    ).one()
    assert audit.actor_id == compliance.user_id
    assert audit.after["retail_share_threshold"] == "0.45" and audit.after["last_days"] == 5
