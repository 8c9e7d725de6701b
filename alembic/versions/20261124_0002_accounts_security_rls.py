"""Account security and the second wall: new tables, row-level security on the owner-scoped tables.

- tables for sign-up applications, one-time emailed tokens, failed login attempts, pending TOTP
  enrolments, recovery codes and personal API tokens; ``user_sessions.reauthenticated_at`` and
  ``contacts.private_notes_enc``;
- ``mlmcrm_acting_user()`` and ``mlmcrm_acting_role()``, which read the acting user that the app
  sets per transaction (``mlmcrm.user_id``);
- row-level security on ``contacts``, ``customers`` and ``tasks``: the runtime role
  ``mlmcrm_app`` sees a row when the acting user owns it, or when the acting user's role is a
  staff role allowed to read it; only an admin may change another owner's rows; ``mlmcrm_batch``
  reads every row; with no acting user nothing is visible. RLS is enabled, not forced: the app
  never runs as the schema owner, and the owner bulk-loads these tables with ``COPY``, which
  PostgreSQL refuses under forced RLS for an owner that is not a superuser.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 03:00:35.348444+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RUNTIME_ROLES = ("mlmcrm_app", "mlmcrm_batch")
NEW_TABLES = (
    "login_attempts",
    "account_tokens",
    "api_tokens",
    "recovery_codes",
    "totp_enrolments",
    "enrolment_applications",
)
OWNER_SCOPED_TABLES = ("contacts", "customers", "tasks")

ACTING_USER_FUNCTIONS = """
CREATE FUNCTION mlmcrm_acting_user() RETURNS bigint
LANGUAGE sql STABLE
AS $$ SELECT NULLIF(current_setting('mlmcrm.user_id', true), '')::bigint $$;

CREATE FUNCTION mlmcrm_acting_role() RETURNS text
LANGUAGE sql STABLE
AS $$ SELECT role FROM users WHERE id = mlmcrm_acting_user() AND status = 'active' $$;
"""

# Who owns a row of each owner-scoped table, and which staff roles may read it.
OWNER_CONDITIONS = {
    "contacts": "owner_id = mlmcrm_acting_user()",
    "tasks": "assignee_id = mlmcrm_acting_user()",
    "customers": (
        "distributor_id IN (SELECT d.id FROM distributors d WHERE d.user_id = mlmcrm_acting_user())"
    ),
}
STAFF_READERS = {
    "contacts": ("admin", "compliance", "support"),
    "tasks": ("admin", "compliance", "support"),
    "customers": ("admin", "finance", "compliance", "support"),
}


def _row_level_security_statements() -> list[str]:
    statements = []
    for table in OWNER_SCOPED_TABLES:
        owns = OWNER_CONDITIONS[table]
        readers = ", ".join(f"'{role}'" for role in STAFF_READERS[table])
        statements += [
            f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
            f"CREATE POLICY owner_all ON {table} FOR ALL TO mlmcrm_app"
            f" USING ({owns}) WITH CHECK ({owns})",
            f"CREATE POLICY staff_read ON {table} FOR SELECT TO mlmcrm_app"
            f" USING (mlmcrm_acting_role() IN ({readers}))",
            f"CREATE POLICY admin_all ON {table} FOR ALL TO mlmcrm_app"
            " USING (mlmcrm_acting_role() = 'admin') WITH CHECK (mlmcrm_acting_role() = 'admin')",
            f"CREATE POLICY batch_read ON {table} FOR SELECT TO mlmcrm_batch USING (true)",
        ]
    return statements


def upgrade() -> None:
    op.create_table(
        "login_attempts",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("email", sa.Text(), nullable=False),
        sa.Column("ip_address", postgresql.INET(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_attempts")),
    )
    op.create_index(
        "ix_login_attempts_email_created_at",
        "login_attempts",
        ["email", "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_login_attempts_ip_address_created_at",
        "login_attempts",
        ["ip_address", "created_at"],
        unique=False,
    )
    op.create_table(
        "account_tokens",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("token_hash", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "purpose IN ('verify_email', 'reset_password')", name=op.f("ck_account_tokens_purpose")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_account_tokens_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_account_tokens_token_hash")),
    )
    op.create_index("ix_account_tokens_user_id", "account_tokens", ["user_id"], unique=False)
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("token_prefix", sa.Text(), nullable=False),
        sa.Column("token_hash", sa.Text(), nullable=False),
        sa.Column(
            "scopes",
            postgresql.ARRAY(sa.Text()),
            server_default=sa.text("'{}'::text[]"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_api_tokens_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    op.create_index("ix_api_tokens_user_id", "api_tokens", ["user_id"], unique=False)
    op.create_table(
        "recovery_codes",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("code_hash", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_recovery_codes_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recovery_codes")),
        sa.UniqueConstraint(
            "user_id", "code_hash", name=op.f("uq_recovery_codes_user_id_code_hash")
        ),
    )
    op.create_table(
        "totp_enrolments",
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("secret_enc", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_totp_enrolments_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_totp_enrolments")),
    )
    op.create_table(
        "enrolment_applications",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("sponsor_id", sa.BigInteger(), nullable=False),
        sa.Column("placement_preference", sa.Text(), server_default="auto", nullable=False),
        sa.Column("agreement_version", sa.Text(), nullable=False),
        sa.Column("agreement_accepted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ip_address", postgresql.INET(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "placement_preference IN ('auto', 'left', 'right')",
            name=op.f("ck_enrolment_applications_placement_preference"),
        ),
        sa.ForeignKeyConstraint(
            ["sponsor_id"],
            ["distributors.id"],
            name=op.f("fk_enrolment_applications_sponsor_id_distributors"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_enrolment_applications_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enrolment_applications")),
        sa.UniqueConstraint("user_id", name=op.f("uq_enrolment_applications_user_id")),
    )
    op.add_column("contacts", sa.Column("private_notes_enc", sa.Text(), nullable=True))
    op.add_column(
        "user_sessions", sa.Column("reauthenticated_at", sa.DateTime(timezone=True), nullable=True)
    )
    roles = ", ".join(RUNTIME_ROLES)
    for table in NEW_TABLES:
        op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {roles}")
    op.execute(ACTING_USER_FUNCTIONS)
    for statement in _row_level_security_statements():
        op.execute(statement)


def downgrade() -> None:
    for table in OWNER_SCOPED_TABLES:
        for policy in ("owner_all", "staff_read", "admin_all", "batch_read"):
            op.execute(f"DROP POLICY IF EXISTS {policy} ON {table}")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    op.execute("DROP FUNCTION mlmcrm_acting_role()")
    op.execute("DROP FUNCTION mlmcrm_acting_user()")
    op.drop_column("user_sessions", "reauthenticated_at")
    op.drop_column("contacts", "private_notes_enc")
    op.drop_table("enrolment_applications")
    op.drop_table("totp_enrolments")
    op.drop_table("recovery_codes")
    op.drop_index("ix_api_tokens_user_id", table_name="api_tokens")
    op.drop_table("api_tokens")
    op.drop_index("ix_account_tokens_user_id", table_name="account_tokens")
    op.drop_table("account_tokens")
    op.drop_index("ix_login_attempts_ip_address_created_at", table_name="login_attempts")
    op.drop_index("ix_login_attempts_email_created_at", table_name="login_attempts")
    op.drop_table("login_attempts")
