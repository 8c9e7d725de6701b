"""Public pages that cannot be abused: throttle counters and applications awaiting their link.

- ``throttle_hits``: how often one client (IPv4 address or IPv6 /64) or one email address used
  a public page in a fixed window; keys are stored as keyed hashes, never as addresses;
- ``enrolment_applications`` keep what the sign-up form gave (names, phone, country) until the
  emailed link is opened and the agreement accepted; ``status`` says where the application
  stands (``pending``, ``accepted``, ``expired``), and the agreement's version and acceptance
  time stay empty until then. Applications already there were accepted at sign-up.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 23:40:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RUNTIME_ROLES = "mlmcrm_app, mlmcrm_batch"
APPLICATION_STATUSES = "status IN ('pending', 'accepted', 'expired')"


def upgrade() -> None:
    """Apply the revision."""
    op.create_table(
        "throttle_hits",
        sa.Column("bucket", sa.Text(), nullable=False),
        sa.Column("key_hash", sa.Text(), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("hits", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("bucket", "key_hash", "window_start", name="pk_throttle_hits"),
    )
    op.create_index("ix_throttle_hits_window_start", "throttle_hits", ["window_start"])
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON throttle_hits TO {RUNTIME_ROLES}")

    op.add_column(
        "enrolment_applications",
        sa.Column("status", sa.Text(), server_default="accepted", nullable=False),
    )
    op.alter_column("enrolment_applications", "status", server_default="pending")
    op.create_check_constraint(
        "ck_enrolment_applications_status", "enrolment_applications", APPLICATION_STATUSES
    )
    for column in ("first_name", "last_name", "phone", "country"):
        op.add_column("enrolment_applications", sa.Column(column, sa.Text(), nullable=True))
    op.alter_column("enrolment_applications", "agreement_version", nullable=True)
    op.alter_column("enrolment_applications", "agreement_accepted_at", nullable=True)
    op.create_index(
        "ix_enrolment_applications_status_created_at",
        "enrolment_applications",
        ["status", "created_at"],
    )


def downgrade() -> None:
    """Revert the revision."""
    op.execute("DELETE FROM enrolment_applications WHERE status <> 'accepted'")
    op.drop_index(
        "ix_enrolment_applications_status_created_at", table_name="enrolment_applications"
    )
    op.alter_column("enrolment_applications", "agreement_accepted_at", nullable=False)
    op.alter_column("enrolment_applications", "agreement_version", nullable=False)
    for column in ("country", "phone", "last_name", "first_name"):
        op.drop_column("enrolment_applications", column)
    op.drop_constraint("ck_enrolment_applications_status", "enrolment_applications", type_="check")
    op.drop_column("enrolment_applications", "status")
    op.drop_index("ix_throttle_hits_window_start", table_name="throttle_hits")
    op.drop_table("throttle_hits")
