"""The two walls around owner-scoped data: the scoping function and PostgreSQL RLS."""

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, ProgrammingError
from sqlmodel import Session, select

from mlmcrm.db import get_engine, set_actor
from mlmcrm.models import Contact, Customer, Distributor, Task
from mlmcrm.services.platform import scoping
from mlmcrm.services.platform.actor import Actor
from tests.factories import make_user


@pytest.fixture()
def two_distributors(owner_session):
    """Two distributors with a contact, a customer and a task each, and a downline member."""
    people = []
    for _ in range(2):
        user = make_user(owner_session)
        distributor = owner_session.exec(
            select(Distributor).where(Distributor.user_id == user.id)
        ).one()
        contact = Contact(owner_id=user.id, first_name="Lead")
        customer = Customer(distributor_id=distributor.id, first_name="Buyer")
        owner_session.add_all([contact, customer])
        owner_session.flush()
        task = Task(assignee_id=user.id, contact_id=contact.id, description="call")
        owner_session.add(task)
        owner_session.commit()
        actor = Actor(user_id=user.id, role="distributor", distributor_id=distributor.id)
        people.append((actor, contact.id, customer.id, task.id))
    recruit = make_user(owner_session, sponsor_id=people[0][0].distributor_id)
    recruit_id = owner_session.exec(
        select(Distributor.id).where(Distributor.user_id == recruit.id)
    ).one()
    return people, recruit_id


def _app_ids(table: str, actor_id: int | None) -> set[int]:
    with Session(get_engine("app")) as session:
        if actor_id is not None:
            set_actor(session, actor_id)
        return set(session.execute(text(f"SELECT id FROM {table}")).scalars())


@pytest.mark.parametrize("table", ["contacts", "customers", "tasks"])
def test_with_no_acting_user_the_app_role_sees_nothing(two_distributors, table):
    assert _app_ids(table, None) == set()


@pytest.mark.parametrize(("table", "index"), [("contacts", 1), ("customers", 2), ("tasks", 3)])
def test_a_distributor_sees_only_their_own_rows_through_rls(two_distributors, table, index):
    (mine, theirs), _ = two_distributors
    visible = _app_ids(table, mine[0].user_id)
    assert mine[index] in visible and theirs[index] not in visible


def test_the_app_role_cannot_write_another_owners_rows(two_distributors):
    (mine, theirs), _ = two_distributors
    with Session(get_engine("app")) as session:
        set_actor(session, mine[0].user_id)
        changed = session.execute(
            text("UPDATE contacts SET first_name = 'hijacked' WHERE id = :id"), {"id": theirs[1]}
        ).rowcount
        assert changed == 0
        with pytest.raises(ProgrammingError):
            session.execute(
                text("INSERT INTO contacts (owner_id, first_name) VALUES (:owner, 'planted')"),
                {"owner": theirs[0].user_id},
            )
        session.rollback()


def test_the_app_role_cannot_bypass_rls(two_distributors, database_url):
    with Session(get_engine("app")) as session:
        row = session.execute(
            text("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
        ).one()
        assert current_user(session) == "mlmcrm_app" and not row.rolsuper and not row.rolbypassrls
        with pytest.raises(DBAPIError):
            session.execute(text("SET row_security = off"))
            session.execute(text("SELECT id FROM contacts")).all()
        session.rollback()
        with pytest.raises(DBAPIError):
            session.execute(text("ALTER TABLE contacts DISABLE ROW LEVEL SECURITY"))
        session.rollback()
    owner = get_engine("owner")
    with owner.connect() as connection:
        tables = connection.execute(
            text(
                "SELECT c.relname, c.relrowsecurity, pg_get_userbyid(c.relowner) AS owner"
                " FROM pg_class c WHERE c.relname IN ('contacts', 'customers', 'tasks')"
                " ORDER BY c.relname"
            )
        ).all()
    assert [(t.relname, t.relrowsecurity) for t in tables] == [
        ("contacts", True),
        ("customers", True),
        ("tasks", True),
    ]
    # RLS binds every role but the tables' owner; the runtime roles own nothing.
    assert {t.owner for t in tables}.isdisjoint({"mlmcrm_app", "mlmcrm_batch"})


def current_user(session) -> str:
    return session.execute(text("SELECT current_user")).scalar_one()


@pytest.mark.parametrize(
    ("role", "sees"),
    [
        ("admin", {"contacts", "customers", "tasks"}),
        ("support", {"contacts", "customers", "tasks"}),
        ("compliance", {"contacts", "customers", "tasks"}),
        ("finance", {"customers"}),
    ],
)
def test_staff_read_what_their_role_allows(owner_session, two_distributors, role, sees):
    (mine, _theirs), _ = two_distributors
    staff = make_user(owner_session, role=role)
    for table, index in (("contacts", 1), ("customers", 2), ("tasks", 3)):
        visible = mine[index] in _app_ids(table, staff.id)
        assert visible == (table in sees), (role, table)


def test_the_batch_role_reads_every_owner(two_distributors):
    (mine, theirs), _ = two_distributors
    with Session(get_engine("batch")) as session:
        ids = set(session.execute(text("SELECT id FROM contacts")).scalars())
    assert {mine[1], theirs[1]} <= ids


def test_scoping_narrows_every_entity_for_a_distributor(owner_session, two_distributors):
    (mine, theirs), recruit_id = two_distributors
    actor = mine[0]
    for entity, model, index in (
        ("contact", Contact, 1),
        ("customer", Customer, 2),
        ("task", Task, 3),
    ):
        ids = set(
            owner_session.exec(scoping.restrict(select(model.id), actor=actor, entity=entity))
        )
        assert mine[index] in ids and theirs[index] not in ids, entity
    downline = set(
        owner_session.exec(
            scoping.restrict(select(Distributor.id), actor=actor, entity="distributor")
        )
    )
    assert downline == {actor.distributor_id, recruit_id}
    assert theirs[0].distributor_id not in downline


def test_scoping_shows_nothing_to_nobody_and_audit_only_to_its_roles(owner_session):
    for entity in scoping.ENTITIES:
        assert str(scoping.condition(actor=None, entity=entity)) == "false"
    for role, allowed in (("admin", True), ("compliance", True), ("finance", False)):
        condition = scoping.condition(actor=Actor(user_id=1, role=role), entity="audit_log")
        assert (str(condition) == "true") is allowed
