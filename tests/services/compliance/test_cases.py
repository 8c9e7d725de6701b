"""Compliance cases: a finding opens one case, which is worked to an outcome."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from mlmcrm.errors import NotFound, PermissionDenied, ValidationFailed
from mlmcrm.services.compliance import cases
from mlmcrm.services.compliance.cases import Finding
from mlmcrm.services.messaging import outbox
from mlmcrm.services.payouts import holds
from mlmcrm.services.platform import crypto
from mlmcrm.services.platform.actor import Actor
from tests.factories import make_user
from tests.services.commissions.conftest import (  # noqa: F401 - fixtures used by these tests
    commission_template,
    company,
    company_url,
    owner,
)
from tests.services.conftest import signed_in

SYSTEM = Actor.system("compliance checks")


def staff(owner, role: str) -> Actor:  # noqa: F811 - plain arguments
    return signed_in(owner, make_user(owner, role=role))[0]


def finding(who: int, key: str = "", rule: str = "retail_share", **changes) -> Finding:
    values = {
        "rule": rule,
        "subject_type": "distributor",
        "subject_id": who,
        "severity": "medium",
        "title": "Retail share 20% in January (threshold 50%)",
        "dedupe_key": key or f"{rule}:1:{who}",
        "evidence": {"retail_share": "0.20", "orders": f"/admin/orders?q={who}"},
        "period_id": None,
    }
    values.update(changes)
    return Finding(**values)


def count(owner, sql: str, **params) -> int:  # noqa: F811 - plain arguments
    return int(owner.execute(text(sql), params).scalar())


def told(owner, user_id: int, kind: str) -> list[str]:  # noqa: F811 - plain arguments
    rows = owner.execute(
        text(
            "SELECT body_enc FROM messages WHERE user_id = :u AND kind = :k AND channel = 'email'"
        ),
        {"u": user_id, "k": kind},
    ).all()
    return [crypto.decrypt_field(r.body_enc, field=outbox.BODY_FIELD) for r in rows]


def test_a_finding_opens_one_case_and_never_a_duplicate_of_an_open_one(owner, company):  # noqa: F811
    a, b = company.people["A"], company.people["B"]
    opened = cases.open_findings(
        session=owner, actor=SYSTEM, findings=[finding(a), finding(a), finding(b)]
    )
    owner.commit()
    assert opened == 2, "the same finding twice in one run opens one case"
    again = cases.open_findings(session=owner, actor=SYSTEM, findings=[finding(a), finding(b)])
    owner.commit()
    assert again == 0
    assert count(owner, "SELECT count(*) FROM compliance_cases") == 2
    assert count(owner, "SELECT count(*) FROM compliance_case_events WHERE kind = 'opened'") == 2
    reviewer = staff(owner, "compliance")
    (case_a,) = [c for c in cases.list_cases(session=owner, actor=reviewer)[0] if c.subject_id == a]
    cases.set_status(
        session=owner,
        actor=reviewer,
        case_id=case_a.id,
        status="dismissed",
        reason="Seasonal: sells at markets in spring",
    )
    owner.commit()
    assert cases.open_findings(session=owner, actor=SYSTEM, findings=[finding(a)]) == 1, (
        "a closed case lets the same finding open again"
    )
    owner.commit()
    with pytest.raises(ValidationFailed, match="same finding"):
        cases.set_status(
            session=owner, actor=reviewer, case_id=case_a.id, status="open", reason="Reopened x"
        )
    owner.rollback()
    with pytest.raises(ValueError):
        cases.open_findings(session=owner, actor=SYSTEM, findings=[finding(a, rule="nonsense")])


def test_only_compliance_works_cases(owner, company):  # noqa: F811
    a = company.people["A"]
    cases.open_findings(session=owner, actor=SYSTEM, findings=[finding(a)])
    owner.commit()
    case_id = count(owner, "SELECT max(id) FROM compliance_cases")
    for role in ("distributor", "finance", "support"):
        actor = staff(owner, role)
        for call in (
            lambda actor=actor: cases.list_cases(session=owner, actor=actor),
            lambda actor=actor: cases.get_case(session=owner, actor=actor, case_id=case_id),
            lambda actor=actor: cases.comment(
                session=owner, actor=actor, case_id=case_id, body="hello"
            ),
            lambda actor=actor: cases.set_status(
                session=owner, actor=actor, case_id=case_id, status="investigating"
            ),
            lambda actor=actor: cases.act(
                session=owner, actor=actor, case_id=case_id, action="suspend", note="Because so"
            ),
            lambda actor=actor: cases.open_findings(
                session=owner, actor=actor, findings=[finding(a, "x")]
            ),
        ):
            with pytest.raises(PermissionDenied):
                call()
    admin = staff(owner, "admin")
    assert cases.get_case(session=owner, actor=admin, case_id=case_id).case.id == case_id


def test_a_case_is_worked_to_an_outcome_with_its_history(owner, company):  # noqa: F811
    a = company.people["A"]
    user_a = count(owner, "SELECT user_id FROM distributors WHERE id = :d", d=a)
    reviewer = staff(owner, "compliance")
    colleague = staff(owner, "compliance")
    cases.open_findings(session=owner, actor=SYSTEM, findings=[finding(a)])
    owner.commit()
    (row,), total = cases.list_cases(session=owner, actor=reviewer, search="retail share")
    assert total == 1 and row.rule_label == "Retail share below the threshold"
    case_id = row.id

    with pytest.raises(ValidationFailed):
        cases.assign(session=owner, actor=reviewer, case_id=case_id, user_id=user_a)
    cases.assign(session=owner, actor=reviewer, case_id=case_id, user_id=colleague.user_id)
    with pytest.raises(ValidationFailed):
        cases.comment(session=owner, actor=reviewer, case_id=case_id, body="   ")
    cases.comment(session=owner, actor=reviewer, case_id=case_id, body="Asked for receipts.")
    cases.set_status(session=owner, actor=reviewer, case_id=case_id, status="investigating")
    owner.commit()
    mine = cases.list_cases(session=owner, actor=colleague, assigned="me")[0]
    assert [c.id for c in mine] == [case_id]
    assert cases.list_cases(session=owner, actor=reviewer, assigned="nobody")[0] == []

    with pytest.raises(ValidationFailed, match="outcome"):
        cases.set_status(
            session=owner, actor=reviewer, case_id=case_id, status="resolved", reason="Fixed now"
        )
    with pytest.raises(ValidationFailed, match="why"):
        cases.set_status(
            session=owner, actor=reviewer, case_id=case_id, status="resolved", outcome="warning"
        )
    with pytest.raises(ValidationFailed):
        cases.set_status(session=owner, actor=reviewer, case_id=case_id, status="closed")
    owner.rollback()

    done = cases.act(
        session=owner,
        actor=reviewer,
        case_id=case_id,
        action="message",
        subject="Your retail sales",
        note="Please send us your retail receipts for January.",
    )
    assert done.startswith("Message sent")
    (words,) = told(owner, user_a, "compliance.notice")
    assert "retail receipts" in words
    cases.act(
        session=owner, actor=reviewer, case_id=case_id, action="payout_hold", note="Until receipts"
    )
    owner.commit()
    (hold,) = holds.holds_of(session=owner, distributor_id=a)
    assert (hold.kind, hold.active, hold.reason) == (
        "compliance",
        True,
        f"Case #{case_id}: Until receipts",
    )
    with pytest.raises(ValidationFailed, match="held the payouts already"):
        cases.act(
            session=owner, actor=reviewer, case_id=case_id, action="payout_hold", note="Again now"
        )
    owner.rollback()
    cases.act(session=owner, actor=reviewer, case_id=case_id, action="suspend", note="No answer")
    owner.commit()
    assert (
        owner.execute(text("SELECT status FROM distributors WHERE id = :d"), {"d": a}).scalar()
        == "suspended"
    )
    assert count(owner, "SELECT count(*) FROM audit_logs WHERE action = 'distributor.suspend'") == 1
    with pytest.raises(ValidationFailed):
        cases.act(session=owner, actor=reviewer, case_id=case_id, action="delete", note="x" * 9)

    cases.set_status(
        session=owner,
        actor=reviewer,
        case_id=case_id,
        status="resolved",
        outcome="suspended",
        reason="Suspended until the receipts come",
    )
    owner.commit()
    detail = cases.get_case(session=owner, actor=reviewer, case_id=case_id)
    assert detail.case.status == "resolved" and detail.case.outcome == "Suspended"
    assert detail.resolution_reason == "Suspended until the receipts come"
    assert [e.kind for e in detail.events] == [
        "opened",
        "assigned",
        "comment",
        "status",
        "action",
        "action",
        "action",
        "status",
    ]
    assert detail.evidence["retail_share"] == "0.20"
    figures = cases.stats(session=owner, actor=reviewer)
    assert figures.by_status["resolved"] == 1 and figures.median_days_to_close is not None
    audited = count(
        owner, "SELECT count(*) FROM audit_logs WHERE action = 'compliance_case.status_changed'"
    )
    assert audited == 2

    cases.open_findings(
        session=owner,
        actor=SYSTEM,
        findings=[finding(a, "claims:note:1", rule="claims", title="Income claim in a note")],
    )
    owner.commit()
    later = cases.list_cases(session=owner, actor=reviewer, rule="claims")[0][0]
    history = cases.get_case(session=owner, actor=reviewer, case_id=later.id).history
    assert [c.id for c in history] == [case_id], "the distributor's earlier case"


def test_a_case_opened_by_hand_and_bad_input(owner, company):  # noqa: F811
    reviewer = staff(owner, "compliance")
    a = company.people["A"]
    with pytest.raises(ValidationFailed):
        cases.open_case(
            session=owner, actor=reviewer, subject_type="distributor", subject_id=a, title="x"
        )
    with pytest.raises(ValidationFailed):
        cases.open_case(
            session=owner,
            actor=reviewer,
            subject_type="distributor",
            subject_id=a,
            title="Complaint from a customer",
            severity="apocalyptic",
        )
    with pytest.raises(ValidationFailed):
        cases.open_case(
            session=owner,
            actor=reviewer,
            subject_type="distributor",
            subject_id=10**12,
            title="Complaint from a customer",
        )
    case_id = cases.open_case(
        session=owner,
        actor=reviewer,
        subject_type="distributor",
        subject_id=a,
        title="Complaint from a customer",
        severity="high",
    )
    owner.commit()
    detail = cases.get_case(session=owner, actor=reviewer, case_id=case_id)
    assert detail.case.rule == "manual" and detail.case.severity == "high"
    assert detail.events[0].actor != "the rule check"
    with pytest.raises(NotFound):
        cases.get_case(session=owner, actor=reviewer, case_id=10**12)
    for bad in ({"status": "nonsense"}, {"rule": "nonsense"}, {"severity": "x"}, {"assigned": "x"}):
        with pytest.raises(ValidationFailed):
            cases.list_cases(session=owner, actor=reviewer, **bad)
