"""Paid history for the demo company: every past period run and closed by the engine.

Seeding writes the orders of several months; this module then does what finance would have
done each month: run the period with the engine, close it (ledger, ranks, carry, statements),
and finally compute the live estimate of the open period. Nothing here invents a figure: every
amount a distributor sees in the demo comes from the engine's run of the seeded orders.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text

from mlmcrm.db import get_engine, session_scope
from mlmcrm.services.commissions import commission_periods, estimates
from mlmcrm.services.commissions.commission_run import run_period
from mlmcrm.services.demo.seed_data import ADMIN_EMAIL
from mlmcrm.services.platform.actor import Actor

HISTORY_ACTOR_LABEL = "demo-history"


@contextmanager
def database(url: str | None) -> Iterator[None]:
    """Point the app's engines at ``url`` (the configured database when None) for a while."""
    import os

    from mlmcrm import db, settings

    if url is None:
        yield
        return
    previous = os.environ.get("DATABASE_URL")
    os.environ["DATABASE_URL"] = url
    settings.get_settings.cache_clear()
    db.dispose_engines()
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("DATABASE_URL", None)
        else:
            os.environ["DATABASE_URL"] = previous
        settings.get_settings.cache_clear()
        db.dispose_engines()


def _finance() -> Actor:
    """The demo company's administrator, who runs and closes the periods."""
    with get_engine("owner").connect() as connection:
        row = connection.execute(
            text("SELECT id, email FROM users WHERE email = :email"), {"email": ADMIN_EMAIL}
        ).first()
    if row is None:
        return Actor.system(HISTORY_ACTOR_LABEL)
    return Actor(user_id=row.id, role="admin", label=row.email)


def close_past_periods(
    *, now: datetime | None = None, progress: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """Run and close each ended period in order, then estimate the open one.

    Returns:
        ``closed_periods``, ``paid`` (the total of the closed ledgers, as text) and
        ``seconds``.
    """
    started = time.perf_counter()
    moment = now or datetime.now(UTC)
    actor = _finance()
    with get_engine("owner").connect() as connection:
        due = connection.execute(
            text(
                "SELECT id FROM commission_periods WHERE status <> 'closed' AND ends_at <= :now"
                " ORDER BY starts_at"
            ),
            {"now": moment},
        ).scalars()
        period_ids = list(due)
    paid = []
    for period_id in period_ids:
        run_period(actor=actor, period_id=period_id)
        with session_scope("app", actor_id=actor.user_id) as session:
            closed = commission_periods.close_period(
                session=session, actor=actor, period_id=period_id
            )
        paid.append(closed.total)
        if progress is not None:
            progress(f"closed {closed.label}: {closed.total} paid in {closed.lines:,} lines")
    estimates.estimate_period(actor=Actor.system(HISTORY_ACTOR_LABEL), force=True)
    return {
        "closed_periods": len(period_ids),
        "paid": str(sum(paid)),
        "seconds": round(time.perf_counter() - started, 2),
    }
