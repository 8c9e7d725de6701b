"""Wrong 2FA codes counted per user; failed sign-ins counted per client key.

- ``two_factor_failures``: one row per wrong TOTP or recovery code, counted against the user
  on their own (a correct password never clears them); 10 in 15 minutes lock the account's
  sign-in for the rest of the window;
- ``login_attempts.client_key``: what the per-client throttle counts by (an IPv4 address or
  the /64 network of an IPv6 address), beside ``ip_address``, which keeps the real address.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 23:40:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RUNTIME_ROLES = "mlmcrm_app, mlmcrm_batch"


def upgrade() -> None:
    op.create_table(
        "two_factor_failures",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("ip_address", postgresql.INET(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_two_factor_failures_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_two_factor_failures")),
    )
    op.create_index(
        "ix_two_factor_failures_user_id_created_at",
        "two_factor_failures",
        ["user_id", "created_at"],
        unique=False,
    )
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON two_factor_failures TO {RUNTIME_ROLES}")
    op.add_column("login_attempts", sa.Column("client_key", sa.Text(), nullable=True))
    op.execute(
        "UPDATE login_attempts SET client_key = CASE"
        " WHEN family(ip_address) = 6 THEN network(set_masklen(ip_address, 64))::text"
        " ELSE host(ip_address) END"
        " WHERE ip_address IS NOT NULL"
    )
    op.create_index(
        "ix_login_attempts_client_key_created_at",
        "login_attempts",
        ["client_key", "created_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_login_attempts_client_key_created_at", table_name="login_attempts")
    op.drop_column("login_attempts", "client_key")
    op.drop_index("ix_two_factor_failures_user_id_created_at", table_name="two_factor_failures")
    op.drop_table("two_factor_failures")
