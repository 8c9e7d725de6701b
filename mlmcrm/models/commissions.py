"""Compensation plans, commission periods, the ledger and the per-period state.

``commission_ledger`` is partitioned by LIST (``period_id``): one partition per period, named
``commission_ledger_p<period id>``. Inserting a period creates its partition (a trigger calls the
SQL function ``create_ledger_partition(period_id)``, which runs as the schema owner), so a
re-run of a period can replace its lines by truncating one partition, and old periods can be
detached and archived whole.

The ledger and the stats have no foreign keys. Their ids come from the run's own snapshot of
``distributors`` (or, for adjustments, from ``commission_adjustments``, which has its keys), and
a period's rows live in the period's own partition, which exists only for an existing period.
Deletes are guarded instead: a trigger refuses deleting a distributor who has ledger lines or
stats, or a period that has either. Keys would cost every run dearly: checked row by row,
1,000,000 lines took 18 s instead of 3.2 s on this project's 2-core test machine; checked at
ATTACH they cost a join over every line (2-3 s for a month of a million distributors); and
attaching or dropping a partition with keys takes an exclusive lock on ``distributors`` and
``commission_periods``, so a run's swap would wait for, and then hold back, every order being
written.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlmodel import Field, SQLModel

from mlmcrm.models.base import (
    JSONB,
    VOLUME,
    column_field,
    created_at_field,
    fk_field,
    id_field,
    in_values,
    timestamp_field,
)

PLAN_STATUSES = ("draft", "active", "retired")
PERIOD_STATUSES = ("open", "previewed", "closed")
LEDGER_SEQUENCE = sa.Sequence("commission_ledger_id_seq", metadata=SQLModel.metadata)
LEDGER_PARTITION_PREFIX = "commission_ledger_p"
STATS_PARTITION_PREFIX = "commission_period_stats_p"
ESTIMATE_PARTITION_PREFIX = "commission_estimate_stats_p"


class CompPlan(SQLModel, table=True):
    """A version of the compensation plan, stored as the YAML the engine reads."""

    __tablename__ = "comp_plans"
    __table_args__ = (
        sa.CheckConstraint(in_values("status", PLAN_STATUSES), name="status"),
        sa.CheckConstraint("version >= 1", name="version_positive"),
        sa.UniqueConstraint("name", "version"),
        sa.Index(
            "uq_comp_plans_one_active",
            "status",
            unique=True,
            postgresql_where=sa.text("status = 'active'"),
        ),
    )

    id: int | None = id_field()
    name: str = column_field(sa.Text, nullable=False)
    version: int = column_field(sa.Integer, nullable=False, default=1)
    yaml: str = column_field(sa.Text, nullable=False)
    status: str = column_field(sa.Text, nullable=False, default="draft", server_default="draft")
    created_by: int | None = fk_field("users.id", nullable=True)
    created_at: datetime = created_at_field()
    activated_at: datetime | None = timestamp_field()


class CommissionPeriod(SQLModel, table=True):
    """A half-open period ``[starts_at, ends_at)``; the service keeps periods from overlapping."""

    __tablename__ = "commission_periods"
    __table_args__ = (
        sa.CheckConstraint("ends_at > starts_at", name="ends_after_starts"),
        sa.CheckConstraint(in_values("status", PERIOD_STATUSES), name="status"),
        sa.UniqueConstraint("starts_at"),
    )

    id: int | None = id_field()
    starts_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    ends_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    status: str = column_field(sa.Text, nullable=False, default="open", server_default="open")
    plan_id: int | None = fk_field("comp_plans.id", nullable=True)
    closed_at: datetime | None = timestamp_field()
    closed_by: int | None = fk_field("users.id", nullable=True)
    last_run_at: datetime | None = timestamp_field()
    runs: int = column_field(sa.Integer, nullable=False, default=0, server_default="0")
    created_at: datetime = created_at_field()
    # What the last preview saw: when its snapshot was taken, the snapshot itself (the text of a
    # ``pg_snapshot``: which transactions it saw), and how many of the period's orders and
    # refunds it loaded. Closing compares the data with them.
    snapshot_at: datetime | None = timestamp_field()
    snapshot_xids: str | None = column_field(sa.Text)
    snapshot_seen: dict[str, Any] | None = column_field(JSONB)


class CommissionLedger(SQLModel, table=True):
    """One line of pay: a bonus to a distributor for a period, with its explanation.

    ``id`` comes from ``commission_ledger_id_seq`` (identity columns cannot be used on partitioned
    tables before PostgreSQL 17): the ORM calls ``nextval`` itself and the column's server default
    (set by the migration, seen by reflection as a serial) serves plain SQL and COPY.
    """

    __tablename__ = "commission_ledger"
    __table_args__ = (
        # One index serves both: a distributor's lines in a period, and each line's identity.
        sa.PrimaryKeyConstraint("period_id", "distributor_id", "id"),
        {"postgresql_partition_by": "LIST (period_id)"},
    )

    period_id: int = column_field(sa.BigInteger, nullable=False)
    id: int | None = Field(
        default=None,
        sa_column=sa.Column(
            sa.BigInteger,
            LEDGER_SEQUENCE,
            nullable=False,
            autoincrement=False,
        ),
    )
    distributor_id: int = column_field(sa.BigInteger, nullable=False)
    bonus: str = column_field(sa.Text, nullable=False)
    amount: Decimal = column_field(VOLUME, nullable=False)
    source_order_id: int | None = column_field(sa.BigInteger)
    source_distributor_id: int | None = column_field(sa.BigInteger)
    level: int | None = column_field(sa.Integer)
    basis: Decimal | None = column_field(sa.Numeric(30, 12))
    # Millionths of the percent, fixed amount or refund ratio applied (an integer: cheaper to
    # load by the million than a NUMERIC); statements divide by 1,000,000.
    rate_micros: int | None = column_field(sa.BigInteger)
    skipped_inactive: int = column_field(sa.Integer, nullable=False, default=0, server_default="0")
    skipped_suspended: int = column_field(sa.Integer, nullable=False, default=0, server_default="0")
    skipped_terminated: int = column_field(
        sa.Integer, nullable=False, default=0, server_default="0"
    )
    note: str = column_field(sa.Text, nullable=False, default="", server_default="")
    details: dict[str, Any] | None = column_field(JSONB)
    created_at: datetime = created_at_field()


class CommissionPeriodStat(SQLModel, table=True):
    """A distributor's volumes, activity and ranks in a period (the engine's ``state.csv``).

    Partitioned by LIST (``period_id``) like the ledger: a run loads a period's rows into a fresh
    table ``commission_period_stats_p<period id>`` and attaches it. Like the ledger it has no
    foreign keys (see the module docstring).
    """

    __tablename__ = "commission_period_stats"
    __table_args__ = ({"postgresql_partition_by": "LIST (period_id)"},)

    period_id: int = Field(sa_column=sa.Column(sa.BigInteger, primary_key=True))
    distributor_id: int = Field(sa_column=sa.Column(sa.BigInteger, primary_key=True))
    pv: Decimal = column_field(VOLUME, nullable=False, default=Decimal(0), server_default="0")
    gv: Decimal = column_field(VOLUME, nullable=False, default=Decimal(0), server_default="0")
    active: bool = column_field(
        sa.Boolean, nullable=False, default=False, server_default=sa.false()
    )
    paid_as_rank_id: int | None = column_field(sa.SmallInteger)
    title_rank_id: int | None = column_field(sa.SmallInteger)
    bonus_rank_id: int | None = column_field(sa.SmallInteger)
    left_volume: Decimal = column_field(
        VOLUME, nullable=False, default=Decimal(0), server_default="0"
    )
    right_volume: Decimal = column_field(
        VOLUME, nullable=False, default=Decimal(0), server_default="0"
    )
    carry_left: Decimal = column_field(
        VOLUME, nullable=False, default=Decimal(0), server_default="0"
    )
    carry_right: Decimal = column_field(
        VOLUME, nullable=False, default=Decimal(0), server_default="0"
    )
    team_size: int | None = column_field(sa.Integer)
    """People in the distributor's sponsor downline (themselves not counted); None in figures
    stored before the engine counted them."""
    team_active: int | None = column_field(sa.Integer)
    """Of them, those active (qualified) in the period; None like ``team_size``."""
    held_leg_rank_id: int | None = column_field(sa.SmallInteger)
    """The highest rank named by the plan's leg requirements that someone in the distributor's
    sponsor subtree (themselves included) is paid as or above; None like ``team_size``."""


class CommissionEstimate(SQLModel, table=True):
    """The live estimate of an open period: when it was computed, from what, and its totals.

    One row per period that has an estimate; the per-distributor figures are in
    :class:`CommissionEstimateStat`. Replaced as a whole by each estimate, never by a run.
    """

    __tablename__ = "commission_estimates"

    period_id: int = Field(
        sa_column=sa.Column(
            sa.BigInteger,
            sa.ForeignKey("commission_periods.id", ondelete="CASCADE"),
            primary_key=True,
        )
    )
    computed_at: datetime = timestamp_field(nullable=False)
    snapshot_at: datetime = timestamp_field(nullable=False)
    plan_id: int = column_field(sa.BigInteger, nullable=False)
    provisional: bool = column_field(
        sa.Boolean, nullable=False, default=False, server_default=sa.false()
    )
    fingerprint: str = column_field(sa.Text, nullable=False)
    bonus_ids: list[str] = column_field(sa.ARRAY(sa.Text), nullable=False)
    places: int = column_field(sa.SmallInteger, nullable=False)
    distributors: int = column_field(sa.Integer, nullable=False)
    total: Decimal = column_field(VOLUME, nullable=False)
    seconds: float = column_field(sa.Float, nullable=False)


class CommissionPeriodFigures(SQLModel, table=True):
    """A period's figures as the Commissions page shows them, kept until its ledger changes.

    Summing a period's millions of ledger lines takes seconds, and the figures change only
    when the ledger does: ``stamp`` names the ledger they were computed from (the period's
    runs, status and adjustments, and what it was compared with); a view whose stamp differs
    computes them again and replaces the row. See
    :func:`mlmcrm.services.commissions.commission_periods.period_figures`.
    """

    __tablename__ = "commission_period_figures"

    period_id: int = Field(
        sa_column=sa.Column(
            sa.BigInteger,
            sa.ForeignKey("commission_periods.id", ondelete="CASCADE"),
            primary_key=True,
        )
    )
    stamp: str = column_field(sa.Text, nullable=False)
    figures: dict[str, Any] = column_field(JSONB, nullable=False)
    computed_at: datetime = created_at_field()


class CommissionEstimateStat(SQLModel, table=True):
    """A distributor's estimated state and earnings in an open period.

    The same columns as :class:`CommissionPeriodStat`, plus ``earnings``: the estimated amount
    of each bonus of the estimate's ``bonus_ids`` (same order), in units of
    ``10**-places`` of the plan's currency, and their sum. Partitioned by LIST (``period_id``);
    each estimate loads a fresh table and swaps it in as ``commission_estimate_stats_p<id>``.
    """

    __tablename__ = "commission_estimate_stats"
    __table_args__ = ({"postgresql_partition_by": "LIST (period_id)"},)

    period_id: int = Field(sa_column=sa.Column(sa.BigInteger, primary_key=True))
    distributor_id: int = Field(sa_column=sa.Column(sa.BigInteger, primary_key=True))
    pv: Decimal = column_field(VOLUME, nullable=False, default=Decimal(0), server_default="0")
    gv: Decimal = column_field(VOLUME, nullable=False, default=Decimal(0), server_default="0")
    active: bool = column_field(
        sa.Boolean, nullable=False, default=False, server_default=sa.false()
    )
    paid_as_rank_id: int | None = column_field(sa.SmallInteger)
    title_rank_id: int | None = column_field(sa.SmallInteger)
    bonus_rank_id: int | None = column_field(sa.SmallInteger)
    left_volume: Decimal = column_field(
        VOLUME, nullable=False, default=Decimal(0), server_default="0"
    )
    right_volume: Decimal = column_field(
        VOLUME, nullable=False, default=Decimal(0), server_default="0"
    )
    carry_left: Decimal = column_field(
        VOLUME, nullable=False, default=Decimal(0), server_default="0"
    )
    carry_right: Decimal = column_field(
        VOLUME, nullable=False, default=Decimal(0), server_default="0"
    )
    team_size: int | None = column_field(sa.Integer)
    """People in the distributor's sponsor downline (themselves not counted); None in figures
    stored before the engine counted them."""
    team_active: int | None = column_field(sa.Integer)
    """Of them, those active (qualified) in the period; None like ``team_size``."""
    held_leg_rank_id: int | None = column_field(sa.SmallInteger)
    """The highest rank named by the plan's leg requirements that someone in the distributor's
    sponsor subtree (themselves included) is paid as or above; None like ``team_size``."""
    earnings: list[int] = column_field(sa.ARRAY(sa.BigInteger), nullable=False)
    earnings_total: Decimal = column_field(
        VOLUME, nullable=False, default=Decimal(0), server_default="0"
    )


class CommissionPeriodInputs(SQLModel, table=True):
    """The compressed engine inputs of a period's latest run (kept at the close), for what-ifs."""

    __tablename__ = "commission_period_inputs"

    period_id: int = Field(
        sa_column=sa.Column(
            sa.BigInteger,
            sa.ForeignKey("commission_periods.id", ondelete="CASCADE"),
            primary_key=True,
        )
    )
    run: int = column_field(sa.Integer, nullable=False)
    plan_id: int = column_field(sa.BigInteger, nullable=False)
    codec: str = column_field(sa.Text, nullable=False)
    size_bytes: int = column_field(sa.BigInteger, nullable=False)
    data: bytes = column_field(sa.LargeBinary, nullable=False)
    created_at: datetime = created_at_field()


class CommissionWhatIf(SQLModel, table=True):
    """A draft plan run on a closed period's stored inputs: its summary and differences."""

    __tablename__ = "commission_whatifs"
    __table_args__ = (
        sa.Index("ix_commission_whatifs_period_id_created_at", "period_id", "created_at"),
    )

    id: int | None = id_field()
    period_id: int = Field(
        sa_column=sa.Column(
            sa.BigInteger,
            sa.ForeignKey("commission_periods.id", ondelete="CASCADE"),
            nullable=False,
        )
    )
    plan_id: int = Field(
        sa_column=sa.Column(
            sa.BigInteger, sa.ForeignKey("comp_plans.id", ondelete="CASCADE"), nullable=False
        )
    )
    created_by: int | None = fk_field("users.id", nullable=True)
    created_at: datetime = created_at_field()
    summary: dict[str, Any] = column_field(JSONB, nullable=False)
    differences: bytes = column_field(sa.LargeBinary, nullable=False)


class CommissionAdjustment(SQLModel, table=True):
    """A manual ledger line of a period, with the reason; every run of the period repeats it."""

    __tablename__ = "commission_adjustments"
    __table_args__ = (
        sa.CheckConstraint("amount <> 0", name="amount_nonzero"),
        sa.CheckConstraint("length(btrim(reason)) > 0", name="reason_given"),
        sa.Index("ix_commission_adjustments_period_id", "period_id"),
    )

    id: int | None = id_field()
    period_id: int = fk_field("commission_periods.id")
    distributor_id: int = fk_field("distributors.id")
    amount: Decimal = column_field(VOLUME, nullable=False)
    reason: str = column_field(sa.Text, nullable=False)
    created_by: int | None = fk_field("users.id", nullable=True)
    created_at: datetime = created_at_field()


NEWEST_FIGURES_CTE = """
newest_source AS (
    SELECT period_id, kind, as_of, provisional FROM (
        SELECT e.period_id, 'estimate' AS kind, e.snapshot_at AS as_of, e.provisional,
               p.starts_at, 0 AS preference
        FROM commission_estimates e JOIN commission_periods p ON p.id = e.period_id
        WHERE p.status <> 'closed'
        UNION ALL
        SELECT p.id, CASE WHEN p.status = 'closed' THEN 'closed' ELSE 'preview' END,
               p.last_run_at, false, p.starts_at, 1
        FROM commission_periods p WHERE p.runs > 0 AND (p.status = 'closed' OR :with_previews)
    ) candidates ORDER BY starts_at DESC, preference LIMIT 1
),
newest_figures AS (
    SELECT s.period_id, s.distributor_id, s.pv, s.gv, s.active, s.paid_as_rank_id,
           s.title_rank_id, s.left_volume, s.right_volume, s.carry_left, s.carry_right
    FROM commission_estimate_stats s
    JOIN newest_source n ON n.kind = 'estimate' AND n.period_id = s.period_id
    UNION ALL
    SELECT s.period_id, s.distributor_id, s.pv, s.gv, s.active, s.paid_as_rank_id,
           s.title_rank_id, s.left_volume, s.right_volume, s.carry_left, s.carry_right
    FROM commission_period_stats s
    JOIN newest_source n ON n.kind <> 'estimate' AND n.period_id = s.period_id
)
"""
"""The engine's newest figures, for a ``WITH`` clause: ``newest_source`` (one row: the
period, ``estimate``/``preview``/``closed``, its time, provisional or not) and
``newest_figures`` (that output's per-distributor state). The newest period wins; within a
period the live estimate comes before the stored run. ``:with_previews`` says whether a
preview may be shown (staff) or only closed periods (distributors). The standing of the
commissions package and the genealogy below it both choose their figures with it; nothing
recomputes a volume from orders."""


def figures_label(
    kind: str | None,
    as_of: datetime | None,
    provisional: bool,
    clock: Callable[[datetime], str] | None = None,
) -> str:
    """How a screen says where engine figures come from: "as of 14:15 UTC", "closed", or "".

    ``clock`` writes the estimate's moment as the reader reads it (their zone and locale);
    without it the time is UTC's.
    """
    if kind is None:
        return ""
    if kind != "estimate":
        return str(kind)
    if as_of is None:
        label = "estimate"
    else:
        label = f"as of {clock(as_of)}" if clock is not None else f"as of {as_of:%H:%M} UTC"
    return f"provisional, {label}" if provisional else label


def ledger_partition_name(period_id: int) -> str:
    """The name of the ledger partition of a period."""
    return f"{LEDGER_PARTITION_PREFIX}{int(period_id)}"


def stats_partition_name(period_id: int) -> str:
    """The name of the stats partition of a period."""
    return f"{STATS_PARTITION_PREFIX}{int(period_id)}"


def estimate_partition_name(period_id: int) -> str:
    """The name of the estimate stats partition of a period."""
    return f"{ESTIMATE_PARTITION_PREFIX}{int(period_id)}"


def create_ledger_partition(connection: Connection, period_id: int) -> str:
    """Create the ledger partition of a period if it is missing.

    Inserting a period already does this (by trigger); call it for periods loaded with the
    trigger disabled or after dropping a partition.

    Args:
        connection: A connection (or ``session.connection()``) of any mlmcrm role.
        period_id: The period.

    Returns:
        The partition's table name.
    """
    return connection.execute(
        sa.text("SELECT create_ledger_partition(:period_id)"), {"period_id": int(period_id)}
    ).scalar_one()
