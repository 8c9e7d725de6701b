"""Changes made offline on a phone, each applied once by the key the phone gave it.

``offline_changes`` keeps one row per key: who sent it, what kind of change it was and its
outcome (applied, conflict or refused, the message and the ``current`` record of a conflict), so
that a key sent again is answered with the stored outcome and changes nothing. The key (a UUID
made on the phone) is the primary key: unique across everybody, so a concurrent duplicate waits
on it and a key of another person is refused.

Row-level security as on the CRM tables: the runtime role ``mlmcrm_app`` reaches only the acting
user's rows; ``mlmcrm_batch`` reads every row and deletes the old ones (the clean-up job). Staff
get no policy: nothing of the company's back office reads this table. The runtime roles get their
privileges from the schema's default privileges.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06 09:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "0023"
down_revision: str | Sequence[str] | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OWNS = "user_id = mlmcrm_acting_user()"
ROW_LEVEL_SECURITY = (
    "ALTER TABLE offline_changes ENABLE ROW LEVEL SECURITY",
    f"CREATE POLICY owner_all ON offline_changes FOR ALL TO mlmcrm_app"
    f" USING ({OWNS}) WITH CHECK ({OWNS})",
    "CREATE POLICY batch_read ON offline_changes FOR SELECT TO mlmcrm_batch USING (true)",
    "CREATE POLICY batch_purge ON offline_changes FOR DELETE TO mlmcrm_batch USING (true)",
)


def upgrade() -> None:
    """Create ``offline_changes`` with its row-level security."""
    op.create_table(
        "offline_changes",
        sa.Column("key", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("message", sa.Text(), server_default="", nullable=False),
        sa.Column("result", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column(
            "received_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "kind IN ('note', 'call', 'complete_task', 'stage')",
            name=op.f("ck_offline_changes_kind"),
        ),
        sa.CheckConstraint(
            "status IN ('applied', 'conflict', 'refused')",
            name=op.f("ck_offline_changes_status"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_offline_changes_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_offline_changes")),
    )
    op.create_index("ix_offline_changes_user_id", "offline_changes", ["user_id"], unique=False)
    op.create_index(
        "ix_offline_changes_received_at", "offline_changes", ["received_at"], unique=False
    )
    for statement in ROW_LEVEL_SECURITY:
        op.execute(statement)


def downgrade() -> None:
    """Drop ``offline_changes`` (its policies go with it)."""
    op.drop_index("ix_offline_changes_received_at", table_name="offline_changes")
    op.drop_index("ix_offline_changes_user_id", table_name="offline_changes")
    op.drop_table("offline_changes")
