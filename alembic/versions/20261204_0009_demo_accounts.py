"""Demo accounts are marked: ``users.is_demo``.

The demo seed sets it on every account it creates; production refuses to start while an
active demo account exists, and the development 2FA helpers work only on demo accounts.
Accounts an earlier seed made are recognised by their ``@example.com`` address (a domain
reserved for examples, RFC 2606, so no real person has one): a database seeded before this
migration, then promoted to production, is refused like a new one.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 23:30:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add ``users.is_demo``, true for the accounts an earlier demo seed made."""
    op.add_column(
        "users",
        sa.Column("is_demo", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.execute("UPDATE users SET is_demo = true WHERE lower(email) LIKE '%@example.com'")


def downgrade() -> None:
    """Drop ``users.is_demo``."""
    op.drop_column("users", "is_demo")
