"""API tokens follow the session rules: ``api_tokens.role`` and a required ``expires_at``.

- ``role`` is the role of the user when the token was made; a token whose user has another role
  since is refused, so a token never acts with more than the role it was created under. Rows
  made before this migration take their user's current role.
- ``expires_at`` becomes required: a token lives at most 90 days. A token made before this
  migration keeps its expiry when that is within 90 days of its creation; otherwise (no expiry,
  or a longer one) it expires 90 days after it was made, which for an old token is at once: its
  owner makes a new one, under the new rules.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 23:45:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add ``api_tokens.role`` and make ``api_tokens.expires_at`` required (90 days at most)."""
    op.add_column("api_tokens", sa.Column("role", sa.Text(), nullable=True))
    op.execute("UPDATE api_tokens t SET role = u.role FROM users u WHERE u.id = t.user_id")
    op.alter_column("api_tokens", "role", nullable=False)
    op.execute(
        "UPDATE api_tokens SET expires_at = LEAST("
        "COALESCE(expires_at, created_at + interval '90 days'), created_at + interval '90 days')"
    )
    op.alter_column("api_tokens", "expires_at", nullable=False)


def downgrade() -> None:
    """Drop ``api_tokens.role``; ``expires_at`` may be empty again."""
    op.alter_column("api_tokens", "expires_at", nullable=True)
    op.drop_column("api_tokens", "role")
