"""A worker killed in the middle of a commission run: nothing of it shows, and a retry completes.

The run is held just before its last step (the one transaction that swaps the new ledger in) by
a lock this test keeps on the period's row, so that the worker is killed while the run is
observably in progress: its new ledger and stats are written, not yet visible.
"""

from __future__ import annotations

import psycopg

from mlmcrm.db import session_scope
from mlmcrm.errors import DomainError
from mlmcrm.models.commissions import ledger_partition_name, stats_partition_name
from mlmcrm.services.commissions import commission_periods
from mlmcrm.services.commissions.commission_run import RUN_LOCK_CLASS
from mlmcrm.services.platform.actor import Actor
from tests.faults.conftest import ADMIN_EMAIL, Stack, wait_for


def _finance(stack: Stack) -> Actor:
    (user_id,) = stack.query("SELECT id FROM users WHERE email = %s", ADMIN_EMAIL)[0]
    return Actor(user_id=user_id, role="admin", label=ADMIN_EMAIL)


def _start_run(actor: Actor, period_id: int) -> int:
    """Queue a run as the commissions page does; the job's id."""
    with session_scope("app", actor_id=actor.user_id) as session:
        return commission_periods.start_run(session=session, actor=actor, period_id=period_id)


def _try_start_run(actor: Actor, period_id: int) -> int | None:
    try:
        return _start_run(actor, period_id)
    except DomainError:
        return None


def _what_the_period_shows(stack: Stack, period_id: int) -> dict:
    """Everything a reader of the period sees: its row, ledger, stats and audit trail."""
    return {
        "period": stack.query(
            "SELECT status, runs, last_run_at, plan_id, snapshot_at FROM commission_periods"
            " WHERE id = %s",
            period_id,
        ),
        "ledger": _results(stack, period_id),
        "inputs": stack.query(
            "SELECT run, size_bytes FROM commission_period_inputs WHERE period_id = %s", period_id
        ),
        "previews": stack.query(
            "SELECT count(*) FROM audit_logs WHERE action = 'commission_period.previewed'"
            " AND entity_id = %s",
            str(period_id),
        ),
    }


def _results(stack: Stack, period_id: int) -> dict:
    """The period's results, independent of row ids: ledger lines and stats per distributor."""
    return {
        "lines": sorted(
            stack.query(
                "SELECT distributor_id, bonus, amount::text, coalesce(source_order_id, 0)"
                " FROM commission_ledger WHERE period_id = %s",
                period_id,
            )
        ),
        "stats": sorted(
            stack.query(
                "SELECT distributor_id, paid_as_rank_id, title_rank_id, bonus_rank_id, pv::text,"
                " gv::text"
                " FROM commission_period_stats WHERE period_id = %s",
                period_id,
            )
        ),
    }


def _stage_tables(stack: Stack, period_id: int) -> int:
    """The run's new tables, written but not swapped in."""
    return stack.query(
        "SELECT count(*) FROM pg_class WHERE relkind IN ('r', 'p') AND NOT relispartition"
        " AND (relname LIKE %s OR relname LIKE %s)",
        ledger_partition_name(period_id).replace("_", "\\_") + "\\_r%",
        stats_partition_name(period_id).replace("_", "\\_") + "\\_r%",
    )[0][0]


def _run_lock_held(stack: Stack, period_id: int) -> bool:
    return (
        stack.query(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND objsubid = 2 AND classid::bigint = %s AND objid::bigint = %s",
            RUN_LOCK_CLASS,
            period_id,
        )[0][0]
        > 0
    )


def _swap_waiting(stack: Stack) -> bool:
    return (
        stack.query(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND query LIKE %s AND pid <> pg_backend_pid()",
            "%FROM commission_periods WHERE id = % FOR UPDATE%",
        )[0][0]
        > 0
    )


def test_a_worker_killed_mid_run_changes_nothing_and_a_retry_completes_the_same(stack: Stack):
    actor = _finance(stack)
    ((period_id,),) = stack.query(
        "SELECT id FROM commission_periods WHERE status <> 'closed' ORDER BY starts_at LIMIT 1"
    )
    # An undisturbed run: the results every later run must give.
    status, *_rest, error = stack.wait_for_job(_start_run(actor, period_id))
    assert status == "succeeded", error
    before = _what_the_period_shows(stack, period_id)
    assert before["period"][0][0] == "previewed" and before["ledger"]["lines"]

    with psycopg.connect(stack.pg.libpq_url) as blocker:
        blocker.execute("SELECT 1 FROM commission_periods WHERE id = %s FOR UPDATE", (period_id,))
        killed = _start_run(actor, period_id)
        wait_for(
            lambda: (
                stack.job(killed)[1] >= 92
                and _stage_tables(stack, period_id) > 0
                and _run_lock_held(stack, period_id)
                and _swap_waiting(stack)
            ),
            timeout=180,
            what="the run to wait before its swap",
        )
        stack.kill_worker()
        blocker.rollback()

    # Nothing of the killed run shows; its lock went with its connections.
    assert _what_the_period_shows(stack, period_id) == before
    wait_for(lambda: not _run_lock_held(stack, period_id), what="the run lock to be released")
    assert stack.job(killed)[0] == "running"

    # Finance runs the period again (the supervisor has restarted the worker): the dead run is
    # recognised and taken over.
    stack.start_worker()
    retry = wait_for(
        lambda: _try_start_run(actor, period_id), timeout=120, interval=1, what="a retry to start"
    )
    status, _progress, _message, error = stack.job(killed)
    assert status == "failed" and "stopped before the run finished" in error
    status, *_rest, error = stack.wait_for_job(retry)
    assert status == "succeeded", error

    after = _what_the_period_shows(stack, period_id)
    assert after["ledger"] == before["ledger"]
    assert after["period"][0][1] == before["period"][0][1] + 1
    assert after["previews"][0][0] == before["previews"][0][0] + 1
    assert _stage_tables(stack, period_id) == 0
