"""Staff invitations, and the slot an admin chooses for someone they enrol.

An admin invites a staff member by email; the link (purpose ``staff_invite``) works once, for
72 hours, and lets the invitee choose a password. An admin enrolling a distributor from the
genealogy may choose the placement slot; the application keeps it until the agreement is
accepted (``placement_parent_id``, ``placement_slot``).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05 16:40:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _purposes(values: str) -> None:
    op.drop_constraint(op.f("ck_account_tokens_purpose"), "account_tokens", type_="check")
    op.create_check_constraint(
        op.f("ck_account_tokens_purpose"), "account_tokens", f"purpose IN ({values})"
    )


def upgrade() -> None:
    """Allow the ``staff_invite`` purpose; let an application hold a chosen slot."""
    _purposes("'verify_email', 'reset_password', 'staff_invite'")
    op.add_column(
        "enrolment_applications", sa.Column("placement_parent_id", sa.BigInteger(), nullable=True)
    )
    op.add_column(
        "enrolment_applications", sa.Column("placement_slot", sa.SmallInteger(), nullable=True)
    )
    op.create_foreign_key(
        op.f("fk_enrolment_applications_placement_parent_id_distributors"),
        "enrolment_applications",
        "distributors",
        ["placement_parent_id"],
        ["id"],
    )


def downgrade() -> None:
    """Forget chosen slots and unused invitations, then allow only the earlier purposes."""
    op.drop_constraint(
        op.f("fk_enrolment_applications_placement_parent_id_distributors"),
        "enrolment_applications",
        type_="foreignkey",
    )
    op.drop_column("enrolment_applications", "placement_slot")
    op.drop_column("enrolment_applications", "placement_parent_id")
    op.execute("DELETE FROM account_tokens WHERE purpose = 'staff_invite'")
    _purposes("'verify_email', 'reset_password'")
