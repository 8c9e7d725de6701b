"""Initial schema: every table, the runtime roles and their grants.

The tables of ``mlmcrm.models`` (users, network, CRM, catalogue, orders, commissions, payouts,
compliance, audit, jobs, settings), plus what the models cannot express:

- the runtime roles ``mlmcrm_app`` (no superuser, no BYPASSRLS) and ``mlmcrm_batch``, created when
  missing and granted to the migrating role so that it can ``SET ROLE``. Roles belong to the
  whole server and are shared by its databases: a downgrade revokes this database's grants but
  leaves the roles.
- table privileges for both roles (and default privileges for tables created later); audit rows
  are insert-only for them.
- the ledger's id sequence and ``create_ledger_partition(period_id)``, which a trigger on
  ``commission_periods`` calls to give each new period its partition ``commission_ledger_p<id>``.
- a trigger refusing UPDATE, DELETE and TRUNCATE of ``audit_logs``, whoever asks.

Revision ID: 0001
Revises:
Create Date: 2026-11-24 02:49:20.244733+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import context, op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RUNTIME_ROLES = ("mlmcrm_app", "mlmcrm_batch")

CREATE_ROLES = """
DO $$
DECLARE
    role_name text;
BEGIN
    FOREACH role_name IN ARRAY ARRAY['mlmcrm_app', 'mlmcrm_batch'] LOOP
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = role_name) THEN
            BEGIN
                EXECUTE format(
                    'CREATE ROLE %I NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE',
                    role_name
                );
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL;  -- another database's migration created it at the same moment
            END;
        END IF;
        IF NOT pg_has_role(current_user, role_name, 'MEMBER') THEN
            EXECUTE format('GRANT %I TO %I', role_name, current_user);
        END IF;
    END LOOP;
END
$$
"""

CREATE_LEDGER_PARTITION_FUNCTION = """
CREATE FUNCTION create_ledger_partition(p_period_id bigint) RETURNS text
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path FROM CURRENT
AS $$
DECLARE
    partition_name text := 'commission_ledger_p' || p_period_id;
BEGIN
    IF p_period_id IS NULL OR p_period_id < 1 THEN
        RAISE EXCEPTION 'create_ledger_partition: invalid period id %', p_period_id;
    END IF;
    EXECUTE format(
        'CREATE TABLE IF NOT EXISTS %I PARTITION OF commission_ledger FOR VALUES IN (%s)',
        partition_name, p_period_id
    );
    RETURN partition_name;
END
$$
"""

CREATE_PERIOD_PARTITION_TRIGGER = """
CREATE FUNCTION commission_periods_create_ledger_partition() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM create_ledger_partition(NEW.id);
    RETURN NULL;
END
$$;
CREATE TRIGGER create_ledger_partition
    AFTER INSERT ON commission_periods
    FOR EACH ROW EXECUTE FUNCTION commission_periods_create_ledger_partition();
"""

CREATE_AUDIT_GUARD = """
CREATE FUNCTION audit_logs_refuse_change() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    RAISE EXCEPTION 'audit_logs is append-only: % of audit rows is refused', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Record a correction as a new audit row.';
END
$$;
CREATE TRIGGER refuse_update_delete
    BEFORE UPDATE OR DELETE ON audit_logs
    FOR EACH ROW EXECUTE FUNCTION audit_logs_refuse_change();
CREATE TRIGGER refuse_truncate
    BEFORE TRUNCATE ON audit_logs
    FOR EACH STATEMENT EXECUTE FUNCTION audit_logs_refuse_change();
"""


def _schema() -> str:
    """The quoted name of the schema the tables are created in (``public`` for offline SQL)."""
    if context.is_offline_mode():
        return "public"
    bind = op.get_bind()
    return bind.execute(sa.text("SELECT quote_ident(current_schema())")).scalar_one()


def _grant_runtime_privileges() -> None:
    schema = _schema()
    roles = ", ".join(RUNTIME_ROLES)
    for statement in (
        f"GRANT USAGE ON SCHEMA {schema} TO {roles}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {roles}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {roles}",
        f"REVOKE UPDATE, DELETE ON audit_logs FROM {roles}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} "
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {roles}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT USAGE, SELECT ON SEQUENCES TO {roles}",
        "REVOKE ALL ON FUNCTION create_ledger_partition(bigint) FROM PUBLIC",
        f"GRANT EXECUTE ON FUNCTION create_ledger_partition(bigint) TO {roles}",
    ):
        op.execute(statement)


def _revoke_runtime_privileges() -> None:
    schema = _schema()
    roles = ", ".join(RUNTIME_ROLES)
    for statement in (
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} "
        f"REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLES FROM {roles}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} "
        f"REVOKE USAGE, SELECT ON SEQUENCES FROM {roles}",
        f"REVOKE ALL ON ALL TABLES IN SCHEMA {schema} FROM {roles}",
        f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {schema} FROM {roles}",
        f"REVOKE USAGE ON SCHEMA {schema} FROM {roles}",
    ):
        op.execute(statement)


def upgrade() -> None:
    op.execute(CREATE_ROLES)
    op.create_table(
        "company_settings",
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("value", postgresql.JSONB(), nullable=True),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_company_settings")),
    )
    op.create_table(
        "product_categories",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_categories")),
        sa.UniqueConstraint("name", name=op.f("uq_product_categories_name")),
    )
    op.create_table(
        "ranks",
        sa.Column("id", sa.SmallInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("min_pv", sa.Numeric(precision=18, scale=6), server_default="0", nullable=False),
        sa.Column("min_gv", sa.Numeric(precision=18, scale=6), server_default="0", nullable=False),
        sa.Column(
            "requirements",
            postgresql.JSONB(),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "benefits",
            postgresql.JSONB(),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.CheckConstraint("min_gv >= 0", name=op.f("ck_ranks_min_gv_nonnegative")),
        sa.CheckConstraint("min_pv >= 0", name=op.f("ck_ranks_min_pv_nonnegative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ranks")),
        sa.UniqueConstraint("code", name=op.f("uq_ranks_code")),
        sa.UniqueConstraint("level", name=op.f("uq_ranks_level")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("email", sa.Text(), nullable=False),
        sa.Column("phone", sa.Text(), nullable=True),
        sa.Column("password_hash", sa.Text(), nullable=True),
        sa.Column("role", sa.Text(), server_default="distributor", nullable=False),
        sa.Column("status", sa.Text(), server_default="active", nullable=False),
        sa.Column("email_verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("totp_secret_enc", sa.Text(), nullable=True),
        sa.Column("totp_last_step", sa.BigInteger(), nullable=True),
        sa.Column("failed_logins", sa.Integer(), server_default="0", nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "role IN ('admin', 'finance', 'compliance', 'support', 'distributor')",
            name=op.f("ck_users_role"),
        ),
        sa.CheckConstraint(
            "status IN ('active', 'pending', 'disabled')", name=op.f("ck_users_status")
        ),
        sa.CheckConstraint("failed_logins >= 0", name=op.f("ck_users_failed_logins_nonnegative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
    )
    op.create_index(
        "uq_users_lower_email", "users", [sa.literal_column("lower(email)")], unique=True
    )
    op.create_table(
        "audit_logs",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("actor_id", sa.BigInteger(), nullable=True),
        sa.Column("actor_label", sa.Text(), nullable=True),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("entity_type", sa.Text(), nullable=False),
        sa.Column("entity_id", sa.Text(), nullable=True),
        sa.Column("before", postgresql.JSONB(), nullable=True),
        sa.Column("after", postgresql.JSONB(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("ip_address", postgresql.INET(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["users.id"], name=op.f("fk_audit_logs_actor_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_logs")),
    )
    op.create_index(
        "ix_audit_logs_actor_id_created_at", "audit_logs", ["actor_id", "created_at"], unique=False
    )
    op.create_index("ix_audit_logs_created_at", "audit_logs", ["created_at"], unique=False)
    op.create_index(
        "ix_audit_logs_entity_type_entity_id",
        "audit_logs",
        ["entity_type", "entity_id"],
        unique=False,
    )
    op.create_table(
        "comp_plans",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("yaml", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), server_default="draft", nullable=False),
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('draft', 'active', 'retired')", name=op.f("ck_comp_plans_status")
        ),
        sa.CheckConstraint("version >= 1", name=op.f("ck_comp_plans_version_positive")),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_comp_plans_created_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_comp_plans")),
        sa.UniqueConstraint("name", "version", name=op.f("uq_comp_plans_name_version")),
    )
    op.create_table(
        "compliance_cases",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("subject_type", sa.Text(), nullable=False),
        sa.Column("subject_id", sa.BigInteger(), nullable=True),
        sa.Column("rule", sa.Text(), nullable=False),
        sa.Column("severity", sa.Text(), server_default="medium", nullable=False),
        sa.Column("status", sa.Text(), server_default="open", nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("assigned_to", sa.BigInteger(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "severity IN ('low', 'medium', 'high', 'critical')",
            name=op.f("ck_compliance_cases_severity"),
        ),
        sa.CheckConstraint(
            "status IN ('open', 'investigating', 'resolved', 'dismissed')",
            name=op.f("ck_compliance_cases_status"),
        ),
        sa.ForeignKeyConstraint(
            ["assigned_to"], ["users.id"], name=op.f("fk_compliance_cases_assigned_to_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_compliance_cases")),
    )
    op.create_index(
        "ix_compliance_cases_status_created_at",
        "compliance_cases",
        ["status", "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_compliance_cases_subject_type_subject_id",
        "compliance_cases",
        ["subject_type", "subject_id"],
        unique=False,
    )
    op.create_table(
        "distributors",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("sponsor_id", sa.BigInteger(), nullable=True),
        sa.Column("placement_id", sa.BigInteger(), nullable=True),
        sa.Column("position", sa.SmallInteger(), nullable=True),
        sa.Column(
            "joined_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("rank_id", sa.SmallInteger(), nullable=True),
        sa.Column("status", sa.Text(), server_default="active", nullable=False),
        sa.Column("country", sa.CHAR(length=2), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "status IN ('active', 'suspended', 'terminated')", name=op.f("ck_distributors_status")
        ),
        sa.CheckConstraint(
            "(placement_id IS NULL) = (position IS NULL)",
            name=op.f("ck_distributors_placement_has_position"),
        ),
        sa.CheckConstraint("placement_id <> id", name=op.f("ck_distributors_not_own_placement")),
        sa.CheckConstraint("position >= 1", name=op.f("ck_distributors_position_positive")),
        sa.CheckConstraint("sponsor_id <> id", name=op.f("ck_distributors_not_own_sponsor")),
        sa.ForeignKeyConstraint(
            ["placement_id"],
            ["distributors.id"],
            name=op.f("fk_distributors_placement_id_distributors"),
        ),
        sa.ForeignKeyConstraint(
            ["rank_id"], ["ranks.id"], name=op.f("fk_distributors_rank_id_ranks")
        ),
        sa.ForeignKeyConstraint(
            ["sponsor_id"],
            ["distributors.id"],
            name=op.f("fk_distributors_sponsor_id_distributors"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_distributors_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_distributors")),
        sa.UniqueConstraint("code", name=op.f("uq_distributors_code")),
        sa.UniqueConstraint(
            "placement_id", "position", name=op.f("uq_distributors_placement_id_position")
        ),
        sa.UniqueConstraint("user_id", name=op.f("uq_distributors_user_id")),
    )
    op.create_index("ix_distributors_placement_id", "distributors", ["placement_id"], unique=False)
    op.create_index("ix_distributors_rank_id", "distributors", ["rank_id"], unique=False)
    op.create_index("ix_distributors_sponsor_id", "distributors", ["sponsor_id"], unique=False)
    op.create_table(
        "jobs",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), server_default="queued", nullable=False),
        sa.Column("progress", sa.Numeric(precision=5, scale=2), server_default="0", nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("params", postgresql.JSONB(), nullable=True),
        sa.Column("result", postgresql.JSONB(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("rq_job_id", sa.Text(), nullable=True),
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')",
            name=op.f("ck_jobs_status"),
        ),
        sa.CheckConstraint(
            "progress >= 0 AND progress <= 100", name=op.f("ck_jobs_progress_in_range")
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_jobs_created_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
    )
    op.create_index("ix_jobs_kind_created_at", "jobs", ["kind", "created_at"], unique=False)
    op.create_table(
        "products",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("sku", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("price", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("currency", sa.CHAR(length=3), server_default="USD", nullable=False),
        sa.Column("pv", sa.Numeric(precision=18, scale=6), server_default="0", nullable=False),
        sa.Column("cv", sa.Numeric(precision=18, scale=6), server_default="0", nullable=False),
        sa.Column("status", sa.Text(), server_default="draft", nullable=False),
        sa.Column("category_id", sa.BigInteger(), nullable=True),
        sa.Column("is_starter_kit", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("image_path", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "status IN ('draft', 'active', 'retired')", name=op.f("ck_products_status")
        ),
        sa.CheckConstraint("cv >= 0", name=op.f("ck_products_cv_nonnegative")),
        sa.CheckConstraint("price >= 0", name=op.f("ck_products_price_nonnegative")),
        sa.CheckConstraint("pv >= 0", name=op.f("ck_products_pv_nonnegative")),
        sa.ForeignKeyConstraint(
            ["category_id"],
            ["product_categories.id"],
            name=op.f("fk_products_category_id_product_categories"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_products")),
        sa.UniqueConstraint("sku", name=op.f("uq_products_sku")),
    )
    op.create_index("ix_products_category_id", "products", ["category_id"], unique=False)
    op.create_table(
        "user_profiles",
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("first_name", sa.Text(), nullable=True),
        sa.Column("last_name", sa.Text(), nullable=True),
        sa.Column("avatar_url", sa.Text(), nullable=True),
        sa.Column("timezone", sa.Text(), server_default="UTC", nullable=False),
        sa.Column("locale", sa.Text(), server_default="en", nullable=False),
        sa.Column("date_of_birth_enc", sa.Text(), nullable=True),
        sa.Column("tax_id_enc", sa.Text(), nullable=True),
        sa.Column("tax_id_last4", sa.CHAR(length=4), nullable=True),
        sa.Column("bank_account_enc", sa.Text(), nullable=True),
        sa.Column("bank_account_last4", sa.CHAR(length=4), nullable=True),
        sa.Column("address", postgresql.JSONB(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_user_profiles_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_user_profiles")),
    )
    op.create_table(
        "user_sessions",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("token_hash", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("idle_timeout_seconds", sa.Integer(), nullable=False),
        sa.Column("ip_address", postgresql.INET(), nullable=True),
        sa.Column("user_agent", sa.Text(), nullable=True),
        sa.Column("two_factor_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_reason", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "expires_at > created_at", name=op.f("ck_user_sessions_expires_after_created")
        ),
        sa.CheckConstraint(
            "idle_timeout_seconds > 0", name=op.f("ck_user_sessions_idle_timeout_positive")
        ),
        sa.CheckConstraint(
            "length(token_hash) = 64", name=op.f("ck_user_sessions_token_hash_sha256_hex")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_user_sessions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_user_sessions_token_hash")),
    )
    op.create_index("ix_user_sessions_user_id", "user_sessions", ["user_id"], unique=False)
    op.create_table(
        "commission_periods",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.Text(), server_default="open", nullable=False),
        sa.Column("plan_id", sa.BigInteger(), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_by", sa.BigInteger(), nullable=True),
        sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "status IN ('open', 'previewed', 'closed')", name=op.f("ck_commission_periods_status")
        ),
        sa.CheckConstraint(
            "ends_at > starts_at", name=op.f("ck_commission_periods_ends_after_starts")
        ),
        sa.ForeignKeyConstraint(
            ["closed_by"], ["users.id"], name=op.f("fk_commission_periods_closed_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["comp_plans.id"], name=op.f("fk_commission_periods_plan_id_comp_plans")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_commission_periods")),
        sa.UniqueConstraint("starts_at", name=op.f("uq_commission_periods_starts_at")),
    )
    op.create_table(
        "customers",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("distributor_id", sa.BigInteger(), nullable=False),
        sa.Column("first_name", sa.Text(), nullable=True),
        sa.Column("last_name", sa.Text(), nullable=True),
        sa.Column("email", sa.Text(), nullable=True),
        sa.Column("phone", sa.Text(), nullable=True),
        sa.Column(
            "billing_address",
            postgresql.JSONB(),
            nullable=True,
        ),
        sa.Column(
            "shipping_addresses",
            postgresql.JSONB(),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["distributor_id"],
            ["distributors.id"],
            name=op.f("fk_customers_distributor_id_distributors"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customers")),
    )
    op.create_index("ix_customers_distributor_id", "customers", ["distributor_id"], unique=False)
    op.create_table(
        "payouts",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("distributor_id", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("currency", sa.CHAR(length=3), server_default="USD", nullable=False),
        sa.Column("method", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), server_default="requested", nullable=False),
        sa.Column(
            "requested_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reference", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "method IN ('bank_transfer', 'stripe', 'check', 'wallet')",
            name=op.f("ck_payouts_method"),
        ),
        sa.CheckConstraint(
            "status IN ('requested', 'approved', 'processing', 'paid', 'failed', 'cancelled')",
            name=op.f("ck_payouts_status"),
        ),
        sa.CheckConstraint("amount > 0", name=op.f("ck_payouts_amount_positive")),
        sa.ForeignKeyConstraint(
            ["distributor_id"],
            ["distributors.id"],
            name=op.f("fk_payouts_distributor_id_distributors"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payouts")),
    )
    op.create_index(
        "ix_payouts_distributor_id_requested_at",
        "payouts",
        ["distributor_id", "requested_at"],
        unique=False,
    )
    op.create_index("ix_payouts_status", "payouts", ["status"], unique=False)
    op.execute("CREATE SEQUENCE commission_ledger_id_seq AS bigint")
    op.create_table(
        "commission_ledger",
        sa.Column("period_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "id",
            sa.BigInteger(),
            server_default=sa.text("nextval('commission_ledger_id_seq')"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("distributor_id", sa.BigInteger(), nullable=False),
        sa.Column("bonus", sa.Text(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=18, scale=6), nullable=False),
        sa.Column("source_order_id", sa.BigInteger(), nullable=True),
        sa.Column("source_distributor_id", sa.BigInteger(), nullable=True),
        sa.Column("level", sa.Integer(), nullable=True),
        sa.Column("details", postgresql.JSONB(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["distributor_id"],
            ["distributors.id"],
            name=op.f("fk_commission_ledger_distributor_id_distributors"),
        ),
        sa.ForeignKeyConstraint(
            ["period_id"],
            ["commission_periods.id"],
            name=op.f("fk_commission_ledger_period_id_commission_periods"),
        ),
        sa.PrimaryKeyConstraint("period_id", "id", name=op.f("pk_commission_ledger")),
        postgresql_partition_by="LIST (period_id)",
    )
    op.create_index(
        "ix_commission_ledger_period_id_distributor_id",
        "commission_ledger",
        ["period_id", "distributor_id"],
        unique=False,
    )
    op.execute("ALTER SEQUENCE commission_ledger_id_seq OWNED BY commission_ledger.id")
    op.create_table(
        "commission_period_stats",
        sa.Column("period_id", sa.BigInteger(), nullable=False),
        sa.Column("distributor_id", sa.BigInteger(), nullable=False),
        sa.Column("pv", sa.Numeric(precision=18, scale=6), server_default="0", nullable=False),
        sa.Column("gv", sa.Numeric(precision=18, scale=6), server_default="0", nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("paid_as_rank_id", sa.SmallInteger(), nullable=True),
        sa.Column("title_rank_id", sa.SmallInteger(), nullable=True),
        sa.Column("bonus_rank_id", sa.SmallInteger(), nullable=True),
        sa.Column(
            "left_volume", sa.Numeric(precision=18, scale=6), server_default="0", nullable=False
        ),
        sa.Column(
            "right_volume", sa.Numeric(precision=18, scale=6), server_default="0", nullable=False
        ),
        sa.Column(
            "carry_left", sa.Numeric(precision=18, scale=6), server_default="0", nullable=False
        ),
        sa.Column(
            "carry_right", sa.Numeric(precision=18, scale=6), server_default="0", nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["bonus_rank_id"],
            ["ranks.id"],
            name=op.f("fk_commission_period_stats_bonus_rank_id_ranks"),
        ),
        sa.ForeignKeyConstraint(
            ["distributor_id"],
            ["distributors.id"],
            name=op.f("fk_commission_period_stats_distributor_id_distributors"),
        ),
        sa.ForeignKeyConstraint(
            ["paid_as_rank_id"],
            ["ranks.id"],
            name=op.f("fk_commission_period_stats_paid_as_rank_id_ranks"),
        ),
        sa.ForeignKeyConstraint(
            ["period_id"],
            ["commission_periods.id"],
            name=op.f("fk_commission_period_stats_period_id_commission_periods"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["title_rank_id"],
            ["ranks.id"],
            name=op.f("fk_commission_period_stats_title_rank_id_ranks"),
        ),
        sa.PrimaryKeyConstraint(
            "period_id", "distributor_id", name=op.f("pk_commission_period_stats")
        ),
    )
    op.create_table(
        "contacts",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("owner_id", sa.BigInteger(), nullable=False),
        sa.Column("first_name", sa.Text(), nullable=True),
        sa.Column("last_name", sa.Text(), nullable=True),
        sa.Column("email", sa.Text(), nullable=True),
        sa.Column("phone", sa.Text(), nullable=True),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column("stage", sa.Text(), server_default="new", nullable=False),
        sa.Column(
            "tags",
            postgresql.ARRAY(sa.Text()),
            server_default=sa.text("'{}'::text[]"),
            nullable=False,
        ),
        sa.Column("customer_id", sa.BigInteger(), nullable=True),
        sa.Column("distributor_id", sa.BigInteger(), nullable=True),
        sa.Column("last_touched_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_contacts_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["distributor_id"],
            ["distributors.id"],
            name=op.f("fk_contacts_distributor_id_distributors"),
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_contacts_owner_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contacts")),
    )
    op.create_index("ix_contacts_owner_id_stage", "contacts", ["owner_id", "stage"], unique=False)
    op.create_table(
        "orders",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("distributor_id", sa.BigInteger(), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.Text(), server_default="pending", nullable=False),
        sa.Column("currency", sa.CHAR(length=3), server_default="USD", nullable=False),
        sa.Column(
            "subtotal", sa.Numeric(precision=14, scale=2), server_default="0", nullable=False
        ),
        sa.Column(
            "tax_total", sa.Numeric(precision=14, scale=2), server_default="0", nullable=False
        ),
        sa.Column("total", sa.Numeric(precision=14, scale=2), server_default="0", nullable=False),
        sa.Column(
            "pv_total", sa.Numeric(precision=18, scale=6), server_default="0", nullable=False
        ),
        sa.Column(
            "cv_total", sa.Numeric(precision=18, scale=6), server_default="0", nullable=False
        ),
        sa.Column(
            "refunded_total", sa.Numeric(precision=14, scale=2), server_default="0", nullable=False
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("stripe_checkout_session_id", sa.Text(), nullable=True),
        sa.Column("stripe_payment_intent_id", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'paid', 'fulfilled', 'cancelled', 'refunded', "
            "'partially_refunded')",
            name=op.f("ck_orders_status"),
        ),
        sa.CheckConstraint("cv_total >= 0", name=op.f("ck_orders_cv_total_nonnegative")),
        sa.CheckConstraint("pv_total >= 0", name=op.f("ck_orders_pv_total_nonnegative")),
        sa.CheckConstraint(
            "refunded_total >= 0 AND refunded_total <= total",
            name=op.f("ck_orders_refunded_within_total"),
        ),
        sa.CheckConstraint("subtotal >= 0", name=op.f("ck_orders_subtotal_nonnegative")),
        sa.CheckConstraint("tax_total >= 0", name=op.f("ck_orders_tax_total_nonnegative")),
        sa.CheckConstraint("total >= 0", name=op.f("ck_orders_total_nonnegative")),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_orders_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["distributor_id"],
            ["distributors.id"],
            name=op.f("fk_orders_distributor_id_distributors"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
        sa.UniqueConstraint(
            "stripe_checkout_session_id", name=op.f("uq_orders_stripe_checkout_session_id")
        ),
    )
    op.create_index("ix_orders_created_at", "orders", ["created_at"], unique=False)
    op.create_index("ix_orders_customer_id", "orders", ["customer_id"], unique=False)
    op.create_index(
        "ix_orders_distributor_id_created_at",
        "orders",
        ["distributor_id", "created_at"],
        unique=False,
    )
    op.create_table(
        "order_items",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("order_id", sa.BigInteger(), nullable=False),
        sa.Column("product_id", sa.BigInteger(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_price", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("pv", sa.Numeric(precision=18, scale=6), server_default="0", nullable=False),
        sa.Column("cv", sa.Numeric(precision=18, scale=6), server_default="0", nullable=False),
        sa.CheckConstraint("cv >= 0", name=op.f("ck_order_items_cv_nonnegative")),
        sa.CheckConstraint("pv >= 0", name=op.f("ck_order_items_pv_nonnegative")),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_order_items_quantity_positive")),
        sa.CheckConstraint("unit_price >= 0", name=op.f("ck_order_items_unit_price_nonnegative")),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name=op.f("fk_order_items_order_id_orders"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_order_items_product_id_products")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_items")),
    )
    op.create_index("ix_order_items_order_id", "order_items", ["order_id"], unique=False)
    op.create_table(
        "order_refunds",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("order_id", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("ratio", sa.Numeric(precision=12, scale=10), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column(
            "refunded_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("stripe_refund_id", sa.Text(), nullable=True),
        sa.CheckConstraint("amount > 0", name=op.f("ck_order_refunds_amount_positive")),
        sa.CheckConstraint(
            "ratio > 0 AND ratio <= 1", name=op.f("ck_order_refunds_ratio_in_range")
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_order_refunds_order_id_orders")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_refunds")),
        sa.UniqueConstraint("stripe_refund_id", name=op.f("uq_order_refunds_stripe_refund_id")),
    )
    op.create_index("ix_order_refunds_order_id", "order_refunds", ["order_id"], unique=False)
    op.create_index("ix_order_refunds_refunded_at", "order_refunds", ["refunded_at"], unique=False)
    op.create_table(
        "tasks",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("assignee_id", sa.BigInteger(), nullable=False),
        sa.Column("contact_id", sa.BigInteger(), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("type", sa.Text(), server_default="follow_up", nullable=False),
        sa.Column("status", sa.Text(), server_default="open", nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("status IN ('open', 'done', 'cancelled')", name=op.f("ck_tasks_status")),
        sa.CheckConstraint(
            "type IN ('call', 'message', 'meeting', 'follow_up')", name=op.f("ck_tasks_type")
        ),
        sa.ForeignKeyConstraint(
            ["assignee_id"], ["users.id"], name=op.f("fk_tasks_assignee_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_tasks_contact_id_contacts"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tasks")),
    )
    op.create_index(
        "ix_tasks_assignee_id_status_due_at",
        "tasks",
        ["assignee_id", "status", "due_at"],
        unique=False,
    )

    op.execute(CREATE_LEDGER_PARTITION_FUNCTION)
    op.execute(CREATE_PERIOD_PARTITION_TRIGGER)
    op.execute(CREATE_AUDIT_GUARD)
    _grant_runtime_privileges()


def downgrade() -> None:
    _revoke_runtime_privileges()
    op.drop_index("ix_tasks_assignee_id_status_due_at", table_name="tasks")
    op.drop_table("tasks")
    op.drop_index("ix_order_refunds_refunded_at", table_name="order_refunds")
    op.drop_index("ix_order_refunds_order_id", table_name="order_refunds")
    op.drop_table("order_refunds")
    op.drop_index("ix_order_items_order_id", table_name="order_items")
    op.drop_table("order_items")
    op.drop_index("ix_orders_distributor_id_created_at", table_name="orders")
    op.drop_index("ix_orders_customer_id", table_name="orders")
    op.drop_index("ix_orders_created_at", table_name="orders")
    op.drop_table("orders")
    op.drop_index("ix_contacts_owner_id_stage", table_name="contacts")
    op.drop_table("contacts")
    op.drop_table("commission_period_stats")
    op.drop_index("ix_commission_ledger_period_id_distributor_id", table_name="commission_ledger")
    op.drop_table("commission_ledger")
    op.drop_index("ix_payouts_status", table_name="payouts")
    op.drop_index("ix_payouts_distributor_id_requested_at", table_name="payouts")
    op.drop_table("payouts")
    op.drop_index("ix_customers_distributor_id", table_name="customers")
    op.drop_table("customers")
    op.drop_table("commission_periods")
    op.drop_index("ix_user_sessions_user_id", table_name="user_sessions")
    op.drop_table("user_sessions")
    op.drop_table("user_profiles")
    op.drop_index("ix_products_category_id", table_name="products")
    op.drop_table("products")
    op.drop_index("ix_jobs_kind_created_at", table_name="jobs")
    op.drop_table("jobs")
    op.drop_index("ix_distributors_sponsor_id", table_name="distributors")
    op.drop_index("ix_distributors_rank_id", table_name="distributors")
    op.drop_index("ix_distributors_placement_id", table_name="distributors")
    op.drop_table("distributors")
    op.drop_index("ix_compliance_cases_subject_type_subject_id", table_name="compliance_cases")
    op.drop_index("ix_compliance_cases_status_created_at", table_name="compliance_cases")
    op.drop_table("compliance_cases")
    op.drop_table("comp_plans")
    op.drop_index("ix_audit_logs_entity_type_entity_id", table_name="audit_logs")
    op.drop_index("ix_audit_logs_created_at", table_name="audit_logs")
    op.drop_index("ix_audit_logs_actor_id_created_at", table_name="audit_logs")
    op.drop_table("audit_logs")
    op.drop_index("uq_users_lower_email", table_name="users")
    op.drop_table("users")
    op.drop_table("ranks")
    op.drop_table("product_categories")
    op.drop_table("company_settings")
    op.execute("DROP FUNCTION commission_periods_create_ledger_partition()")
    op.execute("DROP FUNCTION create_ledger_partition(bigint)")
    op.execute("DROP FUNCTION audit_logs_refuse_change()")
