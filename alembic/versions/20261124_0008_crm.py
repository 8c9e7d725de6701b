"""CRM: contacts pipeline, tasks, timeline, search and imports.

- the pipeline's stages become the company setting ``crm.stages`` (defaults: new, contacted,
  interested, customer, distributor, not interested); contacts in the former stages
  ``enrolled`` and ``lost`` move to ``distributor`` and ``not_interested``;
- contacts gain ``phone_e164`` (the key imports match phones by), ``stage_changed_at``,
  ``import_id`` and a ``search_vector`` kept by a trigger; tasks gain ``customer_id``,
  ``auto_key`` (one automatic follow-up per key) and a ``search_vector``;
- ``contact_activities`` (the timeline), ``contact_imports`` and ``contact_import_changes``
  (what an import did, so that it can be undone), all owner-scoped with row-level security
  like contacts.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24 05:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RUNTIME_ROLES = "mlmcrm_app, mlmcrm_batch"
NEW_TABLES = ("contact_imports", "contact_import_changes", "contact_activities")
STAFF_READERS = "'admin', 'compliance', 'support'"
DEFAULT_STAGES = (
    '[{"key": "new", "label": "New"}, {"key": "contacted", "label": "Contacted"},'
    ' {"key": "interested", "label": "Interested"}, {"key": "customer", "label": "Customer"},'
    ' {"key": "distributor", "label": "Distributor"},'
    ' {"key": "not_interested", "label": "Not interested"}]'
)

SEARCH_FUNCTIONS = r"""
CREATE FUNCTION crm_contacts_search() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.phone_e164 IS NULL AND NEW.phone LIKE '+%' THEN
    NEW.phone_e164 := '+' || regexp_replace(NEW.phone, '\D', '', 'g');
  END IF;
  NEW.search_vector :=
    setweight(to_tsvector('simple',
      coalesce(NEW.first_name, '') || ' ' || coalesce(NEW.last_name, '')), 'A')
    || setweight(to_tsvector('simple',
      coalesce(NEW.email, '') || ' ' || regexp_replace(coalesce(NEW.email, ''), '[@._+-]', ' ', 'g')
      || ' ' || regexp_replace(coalesce(NEW.phone_e164, ''), '\D', '', 'g')
      || ' ' || regexp_replace(coalesce(NEW.phone, ''), '\D', '', 'g')), 'B')
    || setweight(to_tsvector('simple',
      coalesce(NEW.source, '') || ' ' || array_to_string(NEW.tags, ' ')), 'C');
  RETURN NEW;
END $$;

CREATE FUNCTION crm_tasks_search() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.search_vector := to_tsvector('simple', coalesce(NEW.description, ''));
  RETURN NEW;
END $$;

CREATE FUNCTION crm_activities_search() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.search_vector := CASE WHEN NEW.is_private THEN NULL
    ELSE to_tsvector('simple', coalesce(NEW.body, '')) END;
  RETURN NEW;
END $$;

CREATE TRIGGER contacts_search BEFORE INSERT OR UPDATE ON contacts
  FOR EACH ROW EXECUTE FUNCTION crm_contacts_search();
CREATE TRIGGER tasks_search BEFORE INSERT OR UPDATE OF description ON tasks
  FOR EACH ROW EXECUTE FUNCTION crm_tasks_search();
CREATE TRIGGER contact_activities_search BEFORE INSERT OR UPDATE ON contact_activities
  FOR EACH ROW EXECUTE FUNCTION crm_activities_search();
"""


# ``(SELECT mlmcrm_acting_role())`` is computed once per query (an InitPlan); called bare, the
# function looks the user up again for every row a policy checks, which made a search over a
# distributor's 20,000 contacts take 100 ms in the policy alone.
ROLE_ONCE = "(SELECT mlmcrm_acting_role())"
FASTER_POLICIES = ("contacts", "tasks")


def _rls(table: str) -> list[str]:
    owns = "owner_id = mlmcrm_acting_user()"
    return [
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
        f"CREATE POLICY owner_all ON {table} FOR ALL TO mlmcrm_app"
        f" USING ({owns}) WITH CHECK ({owns})",
        f"CREATE POLICY staff_read ON {table} FOR SELECT TO mlmcrm_app"
        f" USING ({ROLE_ONCE} IN ({STAFF_READERS}))",
        f"CREATE POLICY admin_all ON {table} FOR ALL TO mlmcrm_app"
        f" USING ({ROLE_ONCE} = 'admin') WITH CHECK ({ROLE_ONCE} = 'admin')",
        f"CREATE POLICY batch_read ON {table} FOR SELECT TO mlmcrm_batch USING (true)",
    ]


def _staff_policies(role: str) -> list[str]:
    statements = []
    for table in FASTER_POLICIES:
        statements += [
            f"ALTER POLICY staff_read ON {table} USING ({role} IN ({STAFF_READERS}))",
            f"ALTER POLICY admin_all ON {table} USING ({role} = 'admin')"
            f" WITH CHECK ({role} = 'admin')",
        ]
    return statements


def _now() -> sa.TextClause:
    return sa.text("now()")


def upgrade() -> None:
    """Apply the revision."""
    op.create_table(
        "contact_imports",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("owner_id", sa.BigInteger(), nullable=False),
        sa.Column("filename", sa.Text(), server_default="", nullable=False),
        sa.Column("format", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), server_default="imported", nullable=False),
        sa.Column("created_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("updated_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("skipped_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "report",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column("job_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.Column("undone_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("format IN ('vcard', 'csv')", name=op.f("ck_contact_imports_format")),
        sa.CheckConstraint(
            "status IN ('imported', 'undone')", name=op.f("ck_contact_imports_status")
        ),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["jobs.id"],
            name=op.f("fk_contact_imports_job_id_jobs"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_contact_imports_owner_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_imports")),
    )
    op.create_index("ix_contact_imports_owner_id", "contact_imports", ["owner_id"], unique=False)

    op.add_column("contacts", sa.Column("phone_e164", sa.Text(), nullable=True))
    op.add_column(
        "contacts", sa.Column("stage_changed_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column("contacts", sa.Column("import_id", sa.BigInteger(), nullable=True))
    op.add_column("contacts", sa.Column("search_vector", postgresql.TSVECTOR(), nullable=True))
    op.create_foreign_key(
        op.f("fk_contacts_import_id_contact_imports"),
        "contacts",
        "contact_imports",
        ["import_id"],
        ["id"],
        ondelete="SET NULL",
    )
    op.create_index("ix_contacts_owner_id_email", "contacts", ["owner_id", "email"], unique=False)
    op.create_index(
        "ix_contacts_owner_id_phone_e164", "contacts", ["owner_id", "phone_e164"], unique=False
    )
    op.create_index("ix_contacts_import_id", "contacts", ["import_id"], unique=False)
    op.create_index(
        "ix_contacts_search_vector",
        "contacts",
        ["search_vector"],
        unique=False,
        postgresql_using="gin",
    )

    op.add_column("tasks", sa.Column("customer_id", sa.BigInteger(), nullable=True))
    op.add_column("tasks", sa.Column("auto_key", sa.Text(), nullable=True))
    op.add_column("tasks", sa.Column("search_vector", postgresql.TSVECTOR(), nullable=True))
    op.create_foreign_key(
        op.f("fk_tasks_customer_id_customers"),
        "tasks",
        "customers",
        ["customer_id"],
        ["id"],
        ondelete="CASCADE",
    )
    op.create_unique_constraint(op.f("uq_tasks_auto_key"), "tasks", ["auto_key"])
    op.create_index("ix_tasks_contact_id", "tasks", ["contact_id"], unique=False)
    op.create_index(
        "ix_tasks_search_vector", "tasks", ["search_vector"], unique=False, postgresql_using="gin"
    )

    op.create_table(
        "contact_import_changes",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("import_id", sa.BigInteger(), nullable=False),
        sa.Column("owner_id", sa.BigInteger(), nullable=False),
        sa.Column("contact_id", sa.BigInteger(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("before", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.CheckConstraint(
            "action IN ('created', 'updated')", name=op.f("ck_contact_import_changes_action")
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_contact_import_changes_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["import_id"],
            ["contact_imports.id"],
            name=op.f("fk_contact_import_changes_import_id_contact_imports"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_contact_import_changes_owner_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_import_changes")),
    )
    op.create_index(
        "ix_contact_import_changes_import_id", "contact_import_changes", ["import_id"], unique=False
    )

    op.create_table(
        "contact_activities",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("owner_id", sa.BigInteger(), nullable=False),
        sa.Column("contact_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.Text(), server_default="note", nullable=False),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("body_enc", sa.Text(), nullable=True),
        sa.Column("is_private", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("details", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("search_vector", postgresql.TSVECTOR(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('note', 'call', 'message', 'meeting', 'stage_change', 'task', 'linked')",
            name=op.f("ck_contact_activities_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_contact_activities_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_contact_activities_created_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_contact_activities_owner_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_activities")),
    )
    op.create_index(
        "ix_contact_activities_contact_id_created_at",
        "contact_activities",
        ["contact_id", "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_contact_activities_owner_id", "contact_activities", ["owner_id"], unique=False
    )
    op.create_index(
        "ix_contact_activities_search_vector",
        "contact_activities",
        ["search_vector"],
        unique=False,
        postgresql_using="gin",
    )

    for table in NEW_TABLES:
        op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {RUNTIME_ROLES}")
        for statement in _rls(table):
            op.execute(statement)
    for statement in _staff_policies(ROLE_ONCE):
        op.execute(statement)
    op.execute(SEARCH_FUNCTIONS)
    # The former stage names, and search vectors for the rows already there.
    op.execute("UPDATE contacts SET stage = 'distributor' WHERE stage = 'enrolled'")
    op.execute("UPDATE contacts SET stage = 'not_interested' WHERE stage = 'lost'")
    op.execute("UPDATE contacts SET search_vector = NULL")
    op.execute("UPDATE tasks SET description = description")
    op.execute(
        "INSERT INTO company_settings (key, value) VALUES"
        f" ('crm.stages', CAST('{DEFAULT_STAGES}' AS jsonb)) ON CONFLICT (key) DO NOTHING"
    )


def downgrade() -> None:
    """Revert the revision."""
    op.execute("DELETE FROM company_settings WHERE key = 'crm.stages'")
    for statement in _staff_policies("mlmcrm_acting_role()"):
        op.execute(statement)
    op.execute("DROP TRIGGER IF EXISTS contacts_search ON contacts")
    op.execute("DROP TRIGGER IF EXISTS tasks_search ON tasks")
    op.execute("DROP FUNCTION IF EXISTS crm_contacts_search()")
    op.execute("DROP FUNCTION IF EXISTS crm_tasks_search()")
    op.drop_table("contact_activities")
    op.execute("DROP FUNCTION IF EXISTS crm_activities_search()")
    op.drop_table("contact_import_changes")
    op.drop_index("ix_tasks_search_vector", table_name="tasks")
    op.drop_index("ix_tasks_contact_id", table_name="tasks")
    op.drop_constraint(op.f("uq_tasks_auto_key"), "tasks", type_="unique")
    op.drop_constraint(op.f("fk_tasks_customer_id_customers"), "tasks", type_="foreignkey")
    op.drop_column("tasks", "search_vector")
    op.drop_column("tasks", "auto_key")
    op.drop_column("tasks", "customer_id")
    op.drop_index("ix_contacts_search_vector", table_name="contacts")
    op.drop_index("ix_contacts_import_id", table_name="contacts")
    op.drop_index("ix_contacts_owner_id_phone_e164", table_name="contacts")
    op.drop_index("ix_contacts_owner_id_email", table_name="contacts")
    op.drop_constraint(
        op.f("fk_contacts_import_id_contact_imports"), "contacts", type_="foreignkey"
    )
    op.drop_column("contacts", "search_vector")
    op.drop_column("contacts", "import_id")
    op.drop_column("contacts", "stage_changed_at")
    op.drop_column("contacts", "phone_e164")
    op.drop_table("contact_imports")
    op.execute("UPDATE contacts SET stage = 'enrolled' WHERE stage = 'distributor'")
    op.execute("UPDATE contacts SET stage = 'lost' WHERE stage = 'not_interested'")
