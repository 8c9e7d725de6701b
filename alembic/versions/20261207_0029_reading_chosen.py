"""Whether a person chose how they read the app, or it is taken from their browser.

``user_profiles.reading_chosen_at``: when the person chose their time zone and locale on their
profile. Until then (NULL) each sign-in takes them from the browser, so a new person sees times
in their own zone without asking; afterwards only the person changes them. A nullable column
without a default: no table rewrite.

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-07 09:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0029"
down_revision: str | Sequence[str] | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the column."""
    op.add_column(
        "user_profiles",
        sa.Column("reading_chosen_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    """Drop the column."""
    op.drop_column("user_profiles", "reading_chosen_at")
