"""Contacts gain the organisation they work for and their job title.

- ``contacts.organization`` and ``contacts.title``; a contact may be an organisation alone (no
  person's name), shown and searched by the organisation's name;
- the contacts' search trigger reads the organisation with the names (weight A) and the title
  with the source and tags (weight C); search vectors of the rows already there are computed
  again.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-06 12:30:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0026"
down_revision: str | Sequence[str] | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STRAIGHT = "'\u2019\u2018\u02bc\u2032', ''''''''''"
"""``translate`` arguments making the typographic apostrophes ’ ‘ ʼ ′ straight."""


def _search_function(names: str, others: str) -> str:
    """The trigger function; ``others`` is used as given (0025 left it as typed)."""
    return rf"""
CREATE OR REPLACE FUNCTION crm_contacts_search() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.phone_e164 IS NULL AND NEW.phone LIKE '+%' THEN
    NEW.phone_e164 := '+' || regexp_replace(NEW.phone, '\D', '', 'g');
  END IF;
  NEW.search_vector :=
    setweight(to_tsvector('simple', translate({names}, {STRAIGHT})), 'A')
    || setweight(to_tsvector('simple',
      coalesce(NEW.email, '') || ' ' || regexp_replace(coalesce(NEW.email, ''), '[@._+-]', ' ', 'g')
      || ' ' || regexp_replace(coalesce(NEW.phone_e164, ''), '\D', '', 'g')
      || ' ' || regexp_replace(coalesce(NEW.phone, ''), '\D', '', 'g')), 'B')
    || setweight(to_tsvector('simple', {others}), 'C');
  RETURN NEW;
END $$;
"""


NAMES = (
    "coalesce(NEW.display_name, '') || ' ' || coalesce(NEW.first_name, '') || ' '"
    " || coalesce(NEW.last_name, '')"
)
OTHERS = "coalesce(NEW.source, '') || ' ' || array_to_string(NEW.tags, ' ')"


def upgrade() -> None:
    """Add ``organization`` and ``title`` and search them."""
    op.add_column("contacts", sa.Column("organization", sa.Text(), nullable=True))
    op.add_column("contacts", sa.Column("title", sa.Text(), nullable=True))
    op.execute(
        _search_function(
            f"{NAMES} || ' ' || coalesce(NEW.organization, '')",
            f"translate(coalesce(NEW.title, ''), {STRAIGHT}) || ' ' || {OTHERS}",
        )
    )
    op.execute("UPDATE contacts SET search_vector = NULL")


def downgrade() -> None:
    """Drop ``organization`` and ``title``; search as revision 0025 did."""
    op.execute(_search_function(NAMES, OTHERS))
    op.drop_column("contacts", "title")
    op.drop_column("contacts", "organization")
    op.execute("UPDATE contacts SET search_vector = NULL")
