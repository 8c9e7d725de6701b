"""Several phones, emails and addresses per contact: ``contact_points``.

- ``contact_points``: one row per phone, email or postal address of a contact, with its label
  (mobile, work, home, main, other …), its value as written, its ``key`` (E.164 for a phone, the
  lower-cased email, the lower-cased address with spaces collapsed), whether it is the primary
  one of its kind (at most one per contact and kind), its position and the import that added
  it (undoing the import removes it). A contact holds a key of
  a kind once. Deleting a contact deletes its points.
- ``contacts.email``, ``phone`` and ``phone_e164`` stay: they hold the primary values, which the
  app keeps in step, so that messaging, compliance and the offline app read them as before.
  Each contact's email and phone move into points (label ``other``, primary).
- Row-level security as on ``contacts``, through the contact: the runtime role ``mlmcrm_app``
  reaches the points of the contacts the acting user owns, staff read them, admins write them;
  ``mlmcrm_batch`` reads every row. The runtime roles get their privileges from the schema's
  default privileges.
- ``contacts.points_search``: the search text of a contact's points, kept by a statement-level
  trigger on ``contact_points`` (one join per statement); the contacts' search trigger reads it
  (weight B), so search finds every value.

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-06 13:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0027"
down_revision: str | Sequence[str] | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STAFF_READERS = "'admin', 'compliance', 'support'"
ROLE_ONCE = "(SELECT mlmcrm_acting_role())"
OWNS_CONTACT = (
    "EXISTS (SELECT 1 FROM contacts c WHERE c.id = contact_points.contact_id"
    " AND c.owner_id = mlmcrm_acting_user())"
)
ROW_LEVEL_SECURITY = (
    "ALTER TABLE contact_points ENABLE ROW LEVEL SECURITY",
    f"CREATE POLICY owner_all ON contact_points FOR ALL TO mlmcrm_app"
    f" USING ({OWNS_CONTACT}) WITH CHECK ({OWNS_CONTACT})",
    f"CREATE POLICY staff_read ON contact_points FOR SELECT TO mlmcrm_app"
    f" USING ({ROLE_ONCE} IN ({STAFF_READERS}))",
    f"CREATE POLICY admin_all ON contact_points FOR ALL TO mlmcrm_app"
    f" USING ({ROLE_ONCE} = 'admin') WITH CHECK ({ROLE_ONCE} = 'admin')",
    "CREATE POLICY batch_read ON contact_points FOR SELECT TO mlmcrm_batch USING (true)",
)
STRAIGHT = "'\u2019\u2018\u02bc\u2032', ''''''''''"

POINTS_TEXT = " || ' ' || coalesce(NEW.points_search, '')"
POINT_SEARCH = r"""
  SELECT d.contact_id, coalesce(string_agg(CASE p.kind
      WHEN 'email' THEN p.key || ' ' || regexp_replace(p.key, '[@._+-]', ' ', 'g')
      WHEN 'phone' THEN regexp_replace(p.key, '\D', '', 'g') || ' '
        || regexp_replace(p.value, '\D', '', 'g')
      ELSE p.value END, ' '), '') AS text
  FROM (SELECT DISTINCT contact_id FROM {ids}) d
  LEFT JOIN contact_points p ON p.contact_id = d.contact_id
  GROUP BY d.contact_id"""


def _search_function(points: str) -> str:
    return rf"""
CREATE OR REPLACE FUNCTION crm_contacts_search() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.phone_e164 IS NULL AND NEW.phone LIKE '+%' THEN
    NEW.phone_e164 := '+' || regexp_replace(NEW.phone, '\D', '', 'g');
  END IF;
  NEW.search_vector :=
    setweight(to_tsvector('simple', translate(
      coalesce(NEW.display_name, '') || ' ' || coalesce(NEW.first_name, '') || ' '
      || coalesce(NEW.last_name, '') || ' ' || coalesce(NEW.organization, ''), {STRAIGHT})), 'A')
    || setweight(to_tsvector('simple',
      coalesce(NEW.email, '') || ' ' || regexp_replace(coalesce(NEW.email, ''), '[@._+-]', ' ', 'g')
      || ' ' || regexp_replace(coalesce(NEW.phone_e164, ''), '\D', '', 'g')
      || ' ' || regexp_replace(coalesce(NEW.phone, ''), '\D', '', 'g'){points}), 'B')
    || setweight(to_tsvector('simple', translate(coalesce(NEW.title, ''), {STRAIGHT})
      || ' ' || coalesce(NEW.source, '') || ' ' || array_to_string(NEW.tags, ' ')), 'C');
  RETURN NEW;
END $$;
"""


# Set-based (one join per statement, never a look-up per contact), and as the schema owner: it
# only recomputes the search text of the contacts whose points the statement changed, which the
# acting user could change.
POINT_TRIGGERS = f"""
CREATE FUNCTION crm_contact_points_changed() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  UPDATE contacts c SET points_search = s.text
  FROM ({POINT_SEARCH.format(ids="changed")}) s
  WHERE c.id = s.contact_id;
  RETURN NULL;
END $$;

CREATE TRIGGER contact_points_inserted AFTER INSERT ON contact_points
  REFERENCING NEW TABLE AS changed FOR EACH STATEMENT
  EXECUTE FUNCTION crm_contact_points_changed();
CREATE TRIGGER contact_points_updated AFTER UPDATE ON contact_points
  REFERENCING NEW TABLE AS changed FOR EACH STATEMENT
  EXECUTE FUNCTION crm_contact_points_changed();
CREATE TRIGGER contact_points_deleted AFTER DELETE ON contact_points
  REFERENCING OLD TABLE AS changed FOR EACH STATEMENT
  EXECUTE FUNCTION crm_contact_points_changed();
"""


def upgrade() -> None:
    """Create ``contact_points``, move each contact's email and phone into it, search it."""
    op.create_table(
        "contact_points",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("contact_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("label", sa.Text(), server_default="other", nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("is_primary", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("position", sa.Integer(), server_default="0", nullable=False),
        sa.Column("import_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "kind IN ('phone', 'email', 'address')", name=op.f("ck_contact_points_kind")
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_contact_points_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["import_id"],
            ["contact_imports.id"],
            name=op.f("fk_contact_points_import_id_contact_imports"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_points")),
        sa.UniqueConstraint(
            "contact_id", "kind", "key", name=op.f("uq_contact_points_contact_id_kind_key")
        ),
    )
    op.create_index("ix_contact_points_kind_key", "contact_points", ["kind", "key"], unique=False)
    op.create_index("ix_contact_points_import_id", "contact_points", ["import_id"], unique=False)
    op.create_index(
        "uq_contact_points_contact_id_kind_primary",
        "contact_points",
        ["contact_id", "kind"],
        unique=True,
        postgresql_where=sa.text("is_primary"),
    )
    for statement in ROW_LEVEL_SECURITY:
        op.execute(statement)
    op.execute(
        "INSERT INTO contact_points (contact_id, kind, label, value, key, is_primary)"
        " SELECT id, 'email', 'other', email, lower(email), true FROM contacts"
        " WHERE coalesce(email, '') <> ''"
    )
    op.execute(
        "INSERT INTO contact_points (contact_id, kind, label, value, key, is_primary)"
        " SELECT id, 'phone', 'other', phone, coalesce(phone_e164, phone), true FROM contacts"
        " WHERE coalesce(phone, '') <> ''"
    )
    op.add_column("contacts", sa.Column("points_search", sa.Text(), nullable=True))
    op.execute(_search_function(POINTS_TEXT))
    op.execute(POINT_TRIGGERS)
    op.execute(
        "UPDATE contacts c SET points_search = s.text"
        f" FROM ({POINT_SEARCH.format(ids='contact_points')}) s WHERE c.id = s.contact_id"
    )
    op.execute("UPDATE contacts SET search_vector = NULL WHERE points_search IS NULL")


def downgrade() -> None:
    """Drop ``contact_points`` (the primary values stay on the contacts); search as in 0026."""
    op.execute("DROP TRIGGER IF EXISTS contact_points_inserted ON contact_points")
    op.execute("DROP TRIGGER IF EXISTS contact_points_updated ON contact_points")
    op.execute("DROP TRIGGER IF EXISTS contact_points_deleted ON contact_points")
    op.execute("DROP FUNCTION IF EXISTS crm_contact_points_changed()")
    op.execute(_search_function(""))
    op.drop_index("uq_contact_points_contact_id_kind_primary", table_name="contact_points")
    op.drop_index("ix_contact_points_import_id", table_name="contact_points")
    op.drop_index("ix_contact_points_kind_key", table_name="contact_points")
    op.drop_table("contact_points")
    op.drop_column("contacts", "points_search")
    op.execute("UPDATE contacts SET search_vector = NULL")
