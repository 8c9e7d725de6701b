"""Money out: wallets, payout holds, payout methods, batches and payouts.

A distributor's balance is the sum of their ``wallet_entries``; nothing stores a balance. Each
entry points to what it comes from: a closed period (its ledger lines of that distributor:
``earnings`` for the bonuses, ``clawback`` for the ``clawback:*`` lines), a payout (``payout``,
``fee``, ``reversal``, ``return``, ``forfeit``) or a person's decision (``adjustment``, with the
reason and who made it).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from mlmcrm.models.base import (
    JSONB,
    MONEY,
    column_field,
    created_at_field,
    fk_field,
    id_field,
    in_values,
    timestamp_field,
)

WALLET_ENTRY_KINDS = (
    "earnings",
    "clawback",
    "adjustment",
    "payout",
    "fee",
    "reversal",
    "return",
    "forfeit",
    "withholding",
    "withholding_refund",
)
PAYOUT_METHODS = ("stripe", "ach")
PAYOUT_STATUSES = ("pending", "sent", "failed", "cancelled", "returned", "reversed")
BATCH_STATUSES = ("draft", "approved", "executing", "executed", "cancelled")
HOLD_KINDS = ("finance", "compliance", "sanctions", "method_change")
ACCOUNT_TYPES = ("checking", "savings")


class WalletEntry(SQLModel, table=True):
    """One movement of a distributor's money, with what it comes from."""

    __tablename__ = "wallet_entries"
    __table_args__ = (
        sa.CheckConstraint(in_values("kind", WALLET_ENTRY_KINDS), name="kind"),
        sa.CheckConstraint("amount <> 0", name="amount_nonzero"),
        sa.CheckConstraint(
            "(kind IN ('earnings', 'clawback')) = (period_id IS NOT NULL)", name="period_source"
        ),
        sa.CheckConstraint(
            "(kind IN ('payout', 'fee', 'reversal', 'return', 'forfeit', 'withholding',"
            " 'withholding_refund')) = "
            "(payout_id IS NOT NULL OR (kind = 'forfeit' AND batch_id IS NOT NULL))",
            name="payout_source",
        ),
        sa.CheckConstraint(
            "kind <> 'adjustment' OR length(btrim(note)) > 0", name="adjustment_reason"
        ),
        sa.Index("ix_wallet_entries_distributor_id_id", "distributor_id", "id"),
        sa.Index(
            "uq_wallet_entries_period",
            "period_id",
            "distributor_id",
            "kind",
            unique=True,
            postgresql_where=sa.text("period_id IS NOT NULL"),
        ),
        sa.Index(
            "uq_wallet_entries_payout",
            "payout_id",
            "kind",
            unique=True,
            postgresql_where=sa.text("payout_id IS NOT NULL"),
        ),
    )

    id: int | None = id_field()
    distributor_id: int = fk_field("distributors.id")
    kind: str = column_field(sa.Text, nullable=False)
    amount: Decimal = column_field(MONEY, nullable=False)
    period_id: int | None = fk_field("commission_periods.id", nullable=True)
    payout_id: int | None = fk_field("payouts.id", nullable=True)
    batch_id: int | None = fk_field("payout_batches.id", nullable=True)
    note: str = column_field(sa.Text, nullable=False, default="", server_default="")
    created_by: int | None = fk_field("users.id", nullable=True)
    created_at: datetime = created_at_field()


class PayoutHold(SQLModel, table=True):
    """A reason set by a person (or a rule) not to pay someone until it is released.

    ``until`` ends a hold by itself (the cooling period after bank details change); ``source``
    names what raised it (``sdn:<entry>:<name key>`` for a sanctions match, ``case:<id>`` for a
    compliance case), so the same finding never raises a second hold once reviewed.
    """

    __tablename__ = "payout_holds"
    __table_args__ = (
        sa.CheckConstraint(in_values("kind", HOLD_KINDS), name="kind"),
        sa.CheckConstraint("length(btrim(reason)) > 0", name="reason_given"),
        sa.Index("ix_payout_holds_distributor_id", "distributor_id"),
        sa.Index(
            "ix_payout_holds_active",
            "distributor_id",
            postgresql_where=sa.text("released_at IS NULL"),
        ),
        sa.Index(
            "uq_payout_holds_source",
            "distributor_id",
            "source",
            unique=True,
            postgresql_where=sa.text("source IS NOT NULL"),
        ),
    )

    id: int | None = id_field()
    distributor_id: int = fk_field("distributors.id")
    kind: str = column_field(sa.Text, nullable=False)
    reason: str = column_field(sa.Text, nullable=False)
    source: str | None = column_field(sa.Text)
    until: datetime | None = timestamp_field()
    set_by: int | None = fk_field("users.id", nullable=True)
    set_at: datetime = created_at_field()
    released_by: int | None = fk_field("users.id", nullable=True)
    released_at: datetime | None = timestamp_field()
    release_note: str | None = column_field(sa.Text)


class PayoutMethod(SQLModel, table=True):
    """How a distributor is paid: a Stripe connected account or a US bank account (ACH)."""

    __tablename__ = "payout_methods"
    __table_args__ = (
        sa.CheckConstraint(in_values("kind", PAYOUT_METHODS), name="kind"),
        sa.CheckConstraint(in_values("account_type", ACCOUNT_TYPES), name="account_type"),
        sa.CheckConstraint(
            "kind <> 'ach' OR (routing_enc IS NOT NULL AND account_enc IS NOT NULL"
            " AND holder_name IS NOT NULL)",
            name="ach_complete",
        ),
    )

    distributor_id: int = Field(
        sa_column=sa.Column(
            sa.BigInteger, sa.ForeignKey("distributors.id", ondelete="CASCADE"), primary_key=True
        )
    )
    kind: str = column_field(sa.Text, nullable=False)
    stripe_account_id: str | None = column_field(sa.Text, unique=True)
    stripe_ready: bool = column_field(
        sa.Boolean, nullable=False, default=False, server_default=sa.false()
    )
    holder_name: str | None = column_field(sa.Text)
    business: bool = column_field(
        sa.Boolean, nullable=False, default=False, server_default=sa.false()
    )
    routing_enc: str | None = column_field(sa.Text)
    routing_last4: str | None = column_field(sa.CHAR(4))
    account_enc: str | None = column_field(sa.Text)
    account_last4: str | None = column_field(sa.CHAR(4))
    account_type: str = column_field(
        sa.Text, nullable=False, default="checking", server_default="checking"
    )
    returned_code: str | None = column_field(sa.Text)
    changed_at: datetime = created_at_field()


class PayoutBatch(SQLModel, table=True):
    """Everyone payable for one or more closed periods, built by one person, approved by another."""

    __tablename__ = "payout_batches"
    __table_args__ = (
        sa.CheckConstraint(in_values("status", BATCH_STATUSES), name="status"),
        sa.CheckConstraint("approved_by IS NULL OR approved_by <> created_by", name="two_people"),
        sa.Index(
            "uq_payout_batches_one_open",
            sa.text("(true)"),
            unique=True,
            postgresql_where=sa.text("status IN ('draft', 'approved', 'executing')"),
        ),
    )

    id: int | None = id_field()
    status: str = column_field(sa.Text, nullable=False, default="draft", server_default="draft")
    period_ids: list[int] = column_field(sa.ARRAY(sa.BigInteger), nullable=False)
    currency: str = column_field(sa.CHAR(3), nullable=False)
    totals: dict[str, Any] = column_field(
        JSONB, nullable=False, default_factory=dict, server_default=sa.text("'{}'::jsonb")
    )
    created_by: int = fk_field("users.id")
    created_at: datetime = created_at_field()
    approved_by: int | None = fk_field("users.id", nullable=True)
    approved_at: datetime | None = timestamp_field()
    rechecked_at: datetime | None = timestamp_field()
    executed_at: datetime | None = timestamp_field()
    cancelled_by: int | None = fk_field("users.id", nullable=True)
    cancelled_at: datetime | None = timestamp_field()
    job_id: int | None = fk_field("jobs.id", nullable=True)
    ach_effective_date: date | None = column_field(sa.Date)
    ach_file_sha256: str | None = column_field(sa.Text)


class Payout(SQLModel, table=True):
    """What one batch pays one distributor, and what happened to it."""

    __tablename__ = "payouts"
    __table_args__ = (
        sa.CheckConstraint("amount > 0", name="amount_positive"),
        sa.CheckConstraint("fee >= 0", name="fee_nonnegative"),
        sa.CheckConstraint("withheld >= 0", name="withheld_nonnegative"),
        sa.CheckConstraint(in_values("method", PAYOUT_METHODS), name="method"),
        sa.CheckConstraint(in_values("status", PAYOUT_STATUSES), name="status"),
        sa.UniqueConstraint("batch_id", "distributor_id"),
        sa.Index("ix_payouts_distributor_id_id", "distributor_id", "id"),
        sa.Index("uq_payouts_ach_trace", "ach_trace", unique=True),
        sa.Index("uq_payouts_stripe_transfer_id", "stripe_transfer_id", unique=True),
    )

    id: int | None = id_field()
    batch_id: int = fk_field("payout_batches.id")
    distributor_id: int = fk_field("distributors.id")
    amount: Decimal = column_field(MONEY, nullable=False)
    fee: Decimal = column_field(MONEY, nullable=False, default=Decimal(0), server_default="0")
    # Backup withholding kept from the payment (a payee without a tax id, when the policy
    # withholds rather than holds); the payee receives ``amount``.
    withheld: Decimal = column_field(MONEY, nullable=False, default=Decimal(0), server_default="0")
    currency: str = column_field(sa.CHAR(3), nullable=False)
    method: str = column_field(sa.Text, nullable=False)
    status: str = column_field(sa.Text, nullable=False, default="pending", server_default="pending")
    stripe_account_id: str | None = column_field(sa.Text)
    stripe_transfer_id: str | None = column_field(sa.Text)
    # The bank account a bank payout goes to, copied from the payout method (still encrypted)
    # when the batch's execution checks it, so that the ACH file pays the account that was
    # checked, and a second run writes the same file whatever changed since.
    ach_holder_name: str | None = column_field(sa.Text)
    ach_routing_enc: str | None = column_field(sa.Text)
    ach_account_enc: str | None = column_field(sa.Text)
    ach_account_type: str | None = column_field(sa.Text)
    ach_business: bool | None = column_field(sa.Boolean)
    attempted_at: datetime | None = timestamp_field()
    ach_trace: str | None = column_field(sa.Text)
    sent_at: datetime | None = timestamp_field()
    failure_reason: str | None = column_field(sa.Text)
    return_code: str | None = column_field(sa.Text)
    finished_at: datetime | None = timestamp_field()
    created_at: datetime = created_at_field()


class PayoutBatchHold(SQLModel, table=True):
    """Someone with money who is not paid by a batch, and why (the batch's held list)."""

    __tablename__ = "payout_batch_holds"

    batch_id: int = Field(
        sa_column=sa.Column(
            sa.BigInteger,
            sa.ForeignKey("payout_batches.id", ondelete="CASCADE"),
            primary_key=True,
        )
    )
    distributor_id: int = Field(sa_column=sa.Column(sa.BigInteger, primary_key=True))
    balance: Decimal = column_field(MONEY, nullable=False)
    reasons: list[str] = column_field(sa.ARRAY(sa.Text), nullable=False)


class SanctionsEntry(SQLModel, table=True):
    """A name (or alias) of the imported sanctions list, with its comparison key."""

    __tablename__ = "sanctions_entries"
    __table_args__ = (sa.Index("ix_sanctions_entries_name_key", "name_key"),)

    id: int | None = id_field()
    ent_num: int = column_field(sa.Integer, nullable=False)
    name: str = column_field(sa.Text, nullable=False)
    name_key: str = column_field(sa.Text, nullable=False)
    kind: str = column_field(sa.Text, nullable=False)
    programs: str = column_field(sa.Text, nullable=False, default="", server_default="")
