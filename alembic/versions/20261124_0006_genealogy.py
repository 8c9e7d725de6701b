"""Genealogy: tree storage for upline, downline and subtree queries.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 05:00:00.000000+00:00
"""

from collections.abc import Sequence

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply the revision."""


def downgrade() -> None:
    """Revert the revision."""
