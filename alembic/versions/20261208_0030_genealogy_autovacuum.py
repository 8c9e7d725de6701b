"""Autovacuum keeps the genealogy index's pages all-visible after a period close.

The team pages and the distributor's home count a subtree with an index-only scan of
``genealogy_nodes``; it stays index-only only while the visibility map marks the table's pages
all-visible. Closing a period gives every promoted distributor a new rank, which the genealogy
trigger copies to both of their nodes: about 65,000 updated rows for a 1,000,000-person company,
spread over most of the table's pages. At PostgreSQL's default threshold (20% of the rows) no
autovacuum followed, and a 760,000-person team took 820 ms to count instead of 140 ms until
one did. At 1% a close is followed by a vacuum within autovacuum's next round (a minute by
default), and so is a month of enrolments (inserts: PostgreSQL 13 and later).

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-08 09:00:00.000000+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0030"
down_revision: str | Sequence[str] | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCALE_FACTOR = 0.01
"""Share of the table's rows changed (or inserted) that starts an autovacuum of it."""
OPTIONS = ("autovacuum_vacuum_scale_factor", "autovacuum_vacuum_insert_scale_factor")


def upgrade() -> None:
    """Set the table's own thresholds (a catalogue change: no rewrite, and its lock blocks no
    reader or writer)."""
    settings = ", ".join(f"{option} = {SCALE_FACTOR}" for option in OPTIONS)
    op.execute(f"ALTER TABLE genealogy_nodes SET ({settings})")


def downgrade() -> None:
    """Back to the server's defaults."""
    op.execute(f"ALTER TABLE genealogy_nodes RESET ({', '.join(OPTIONS)})")
