"""Contacts keep the name as their source formats it, and search reads apostrophes as one.

- ``contacts.display_name``: the formatted name of a vCard (``FN``) or a CSV "Name",
  "Display Name" or "File As" column, shown instead of the joined first and last names;
- the contacts' search trigger reads the display name too (weight A, like the names), and maps
  the typographic apostrophes ’ ‘ ʼ ′ to the straight one, as the app does with what is typed;
  search vectors of the rows already there are computed again.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-06 12:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0025"
down_revision: str | Sequence[str] | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _search_function(names: str, straighten: bool) -> str:
    text = f"translate({names}, '\u2019\u2018\u02bc\u2032', '''''''''')" if straighten else names
    return rf"""
CREATE OR REPLACE FUNCTION crm_contacts_search() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.phone_e164 IS NULL AND NEW.phone LIKE '+%' THEN
    NEW.phone_e164 := '+' || regexp_replace(NEW.phone, '\D', '', 'g');
  END IF;
  NEW.search_vector :=
    setweight(to_tsvector('simple', {text}), 'A')
    || setweight(to_tsvector('simple',
      coalesce(NEW.email, '') || ' ' || regexp_replace(coalesce(NEW.email, ''), '[@._+-]', ' ', 'g')
      || ' ' || regexp_replace(coalesce(NEW.phone_e164, ''), '\D', '', 'g')
      || ' ' || regexp_replace(coalesce(NEW.phone, ''), '\D', '', 'g')), 'B')
    || setweight(to_tsvector('simple',
      coalesce(NEW.source, '') || ' ' || array_to_string(NEW.tags, ' ')), 'C');
  RETURN NEW;
END $$;
"""


NAMES = (
    "coalesce(NEW.display_name, '') || ' ' || coalesce(NEW.first_name, '') || ' '"
    " || coalesce(NEW.last_name, '')"
)
FORMER_NAMES = "coalesce(NEW.first_name, '') || ' ' || coalesce(NEW.last_name, '')"


def upgrade() -> None:
    """Add ``display_name`` and search it, apostrophes straightened."""
    op.add_column("contacts", sa.Column("display_name", sa.Text(), nullable=True))
    op.execute(_search_function(NAMES, straighten=True))
    op.execute("UPDATE contacts SET search_vector = NULL")


def downgrade() -> None:
    """Drop ``display_name`` and put the former search back."""
    op.execute(_search_function(FORMER_NAMES, straighten=False))
    op.drop_column("contacts", "display_name")
    op.execute("UPDATE contacts SET search_vector = NULL")
