"""What people hear when a commission period closes: their statement is ready, a new rank.

Closing a period records who advanced (their title rank's level went up) and, once the close
commits, hands :data:`NOTIFY_CLOSED_JOB` to the worker: each distributor who advanced hears of
their new rank, and each distributor with figures in the period hears their statement is ready,
each on the channels they chose (or in their daily digest). The work is done in batches so a
company of a million distributors does not hold one long transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import text
from sqlmodel import Session

from mlmcrm.db import session_scope
from mlmcrm.models import CommissionPeriod
from mlmcrm.services.messaging import outbox
from mlmcrm.services.platform import mail
from mlmcrm.services.platform.jobs import declare_job

NOTIFY_CLOSED_JOB = declare_job("commissions.notify_closed", queue=mail.EMAIL_QUEUE)
BATCH = 10_000


def advanced(*, session: Session, period_id: int) -> list[list[Any]]:
    """``[user_id, rank name]`` of the distributors whose title rank goes up at this close.

    Read before the close moves the ranks onto the distributors.
    """
    rows = session.execute(
        text(
            "SELECT d.user_id, r_new.name FROM commission_period_stats s"
            " JOIN distributors d ON d.id = s.distributor_id"
            " JOIN ranks r_new ON r_new.id = s.title_rank_id"
            " LEFT JOIN ranks r_old ON r_old.id = d.rank_id"
            " WHERE s.period_id = :id AND (r_old.id IS NULL OR r_new.level > r_old.level)"
            " ORDER BY d.user_id"
        ),
        {"id": period_id},
    ).all()
    return [[row[0], row[1]] for row in rows]


def queue_after_close(
    *, session: Session, period_id: int, label: str, advanced_to: list[list[Any]]
) -> None:
    """Hand the close's messages to the worker once the close commits."""
    mail.queue_after_commit(
        session=session,
        kind=NOTIFY_CLOSED_JOB,
        params={"period_id": period_id, "label": label, "advanced": advanced_to},
    )


def notify_closed(
    progress: Callable[[float, str], None],
    *,
    period_id: int,
    label: str = "",
    advanced: list[list[Any]] | None = None,
    **_: Any,
) -> dict[str, int]:
    """The job: new ranks, then statements ready, in batches of :data:`BATCH` people."""
    with session_scope("batch") as session:
        period = session.get(CommissionPeriod, period_id)
        if period is None or period.status != "closed":
            return {"ranks": 0, "statements": 0}
        people = [
            row[0]
            for row in session.execute(
                text(
                    "SELECT DISTINCT d.user_id FROM commission_period_stats s"
                    " JOIN distributors d ON d.id = s.distributor_id"
                    " WHERE s.period_id = :id AND d.status = 'active' ORDER BY d.user_id"
                ),
                {"id": period_id},
            ).all()
        ]
    ranks = advanced or []
    for start in range(0, len(ranks), BATCH):
        chunk = ranks[start : start + BATCH]
        with session_scope("batch") as session:
            outbox.notify_many(
                session=session,
                kind="commissions.rank_advanced",
                user_ids=[int(row[0]) for row in chunk],
                params={int(row[0]): {"rank": str(row[1])} for row in chunk},
                common={"period": label},
            )
    progress(20, f"{len(ranks):,} new ranks told")
    for start in range(0, len(people), BATCH):
        with session_scope("batch") as session:
            outbox.notify_many(
                session=session,
                kind="commissions.statement_ready",
                user_ids=people[start : start + BATCH],
                common={"period": label},
            )
        progress(20 + 80 * min(1.0, (start + BATCH) / max(1, len(people))), "Statements")
    return {"ranks": len(ranks), "statements": len(people)}
