"""Lists that guide: filters on known values, what an empty list says, and "Show more".

Each filter on known values offers the values where they live (a service's constants, the
plan's ranks, the contacts' own tags and sources); a value the form never offered, sent by hand,
is refused with a clear message and changes nothing: the filters, the rows and later reloads
stay as they were.
"""

from __future__ import annotations

import pytest
from sqlalchemy import text

from mlmcrm import routes
from mlmcrm.components import data_table as tables
from mlmcrm.models import Contact
from mlmcrm.pages.compliance import cases as cases_page
from mlmcrm.pages.compliance import privacy as privacy_page
from mlmcrm.pages.compliance.privacy import PrivacyRequestsState
from mlmcrm.pages.crm import contacts as contacts_page
from mlmcrm.pages.crm.contacts import ContactsState
from mlmcrm.pages.network import genealogy as genealogy_page
from mlmcrm.pages.network.genealogy_state import GenealogyState
from mlmcrm.services.compliance import cases, privacy
from mlmcrm.state.paged_list import Column
from tests.factories import make_user
from tests.handlers import HandlerClient, unchanged
from tests.services.compliance.test_privacy import make_person
from tests.services.network.test_handlers import network  # noqa: F401 - the fixture

CRM_TABLES = ("contacts", "tasks", "contact_activities", "audit_logs")


# --- the privacy requests' status ------------------------------------------------------------


def test_the_privacy_status_filter_offers_what_the_service_accepts(owner_session, redis_url):
    assert [value for value, _ in privacy.STATUS_FILTER_CHOICES] == list(privacy.STATUS_FILTERS)
    page = str(privacy_page._filters())
    for _value, label in privacy.STATUS_FILTER_CHOICES:
        assert label in page
    ann = make_person(owner_session, "A", country="US", two_factor=False)
    privacy.request_erasure(session=owner_session, actor=ann.actor)
    owner_session.commit()
    officer = HandlerClient.sign_in(
        owner_session, make_user(owner_session, role="compliance"), path=routes.ADMIN_PRIVACY
    )
    officer.call(PrivacyRequestsState.load)
    shown = officer.call(
        PrivacyRequestsState.apply_filters, form_data={"q": ann.user.email, "status": "open"}
    ).state
    assert shown.error == "" and [row["status"] for row in shown.rows] == ["Open"]
    done = officer.call(
        PrivacyRequestsState.apply_filters, form_data={"q": ann.user.email, "status": "completed"}
    ).state
    assert done.error == "" and done.rows == [] and done.total == 0
    shown = officer.call(
        PrivacyRequestsState.apply_filters, form_data={"q": ann.user.email, "status": "all"}
    ).state
    with unchanged(owner_session, "privacy_requests", "audit_logs"):
        for bad in ("lost", "OPEN", "open' OR 1=1", "x" * 5000):
            refused = officer.call(
                PrivacyRequestsState.apply_filters, form_data={"q": "", "status": bad}
            ).state
            assert refused.error == "Choose a status from the list."
            assert refused.filters == shown.filters and refused.rows == shown.rows
            assert refused.total == shown.total
    again = officer.call(PrivacyRequestsState.next_page).state
    assert again.filters == shown.filters, "a later reload keeps the filters that were shown"


# --- the compliance queue's choices -----------------------------------------------------------


def test_the_case_queue_offers_the_services_statuses_rules_and_assignees():
    page = str(cases_page._filters())
    for _value, label in (
        *cases.STATUS_FILTER_CHOICES,
        *cases.ASSIGNED_FILTER_CHOICES,
        *cases.RULES.items(),
    ):
        assert label in page, label
    assert "Any severity" in page and 'name:"severity"' in page.replace(" ", "")


# --- the downline's rank --------------------------------------------------------------------


@pytest.fixture()
def ranked(owner_session, network):  # noqa: F811 - the fixture above
    """Two ranks of the plan; the member holds the second."""
    ids = {}
    for level, code in enumerate(("bronze_test", "silver_test")):
        ids[code] = owner_session.execute(
            text(
                "INSERT INTO ranks (code, name, level) VALUES (:c, :n, :l + 1000)"
                " ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name RETURNING id"
            ),
            {"c": code, "n": code.replace("_", " ").title(), "l": level},
        ).scalar_one()
    member = network["member"][1]
    owner_session.execute(
        text("UPDATE distributors SET rank_id = :r WHERE id = :d"),
        {"r": ids["silver_test"], "d": member},
    )
    owner_session.execute(
        text("UPDATE genealogy_nodes SET rank_id = :r WHERE distributor_id = :d"),
        {"r": ids["silver_test"], "d": member},
    )
    owner_session.commit()
    return ids


def test_the_downline_filters_by_a_rank_of_the_plan_and_refuses_others(
    owner_session,
    network,  # noqa: F811 - the fixture above
    ranked,
):
    assert 'name:"rank"' in str(genealogy_page._table()).replace(" ", "")
    admin = make_user(owner_session, role="admin")
    client = HandlerClient.sign_in(owner_session, admin, path="/admin/genealogy")
    loaded = client.call(GenealogyState.load).state
    offered = {option["label"]: option["value"] for option in loaded.rank_options}
    assert offered["Silver Test"] == str(ranked["silver_test"])
    assert list(offered).index("Bronze Test") < list(offered).index("Silver Test"), "plan order"
    client.call(GenealogyState.jump, distributor_id=str(network["root"][1]))
    silver = client.call(
        GenealogyState.filter_table, form_data={"rank": str(ranked["silver_test"])}
    ).state
    assert silver.error == "" and [row["name"] for row in silver.table] == ["Member Z"]
    every = client.call(GenealogyState.filter_table, form_data={"rank": ""}).state
    assert len(every.table) == 3
    for bad in ("999", "abc", "-1", "1 OR 1=1", ["1"]):
        refused = client.call(GenealogyState.filter_table, form_data={"rank": bad}).state
        assert refused.error == "Choose a rank from the list.", bad
        assert refused.filters == every.filters and refused.table == every.table
    exported = client.call(GenealogyState.export).state
    assert exported.error == "" and exported.filters["rank"] == "", "the refused rank is not kept"
    junk = client.call(GenealogyState.filter_table, form_data={f"x{n}": "y" for n in range(500)})
    assert set(junk.state.filters) == {
        "level_from",
        "level_to",
        "rank",
        "active",
        "joined_from",
        "joined_to",
        "name",
    }, "fields the form does not have are ignored"


# --- the contacts' stage, tag and source -----------------------------------------------------


@pytest.fixture()
def book(owner_session):
    """A distributor with three contacts, and a stranger whose tag and source are their own."""
    user = make_user(owner_session)
    for first, tags, source, stage in (
        ("Gina", ["yoga"], "Instagram", "new"),
        ("Hal", ["golf"], "Referral", "contacted"),
        ("Ivo", ["yoga", "golf"], "referral", "new"),
    ):
        owner_session.add(
            Contact(owner_id=user.id, first_name=first, tags=tags, source=source, stage=stage)
        )
    stranger = make_user(owner_session)
    owner_session.add(
        Contact(owner_id=stranger.id, first_name="Zed", tags=["secret"], source="Fair")
    )
    owner_session.commit()
    return user


def _names(state) -> list[str]:
    return sorted(row["name"] for row in state.rows)


def test_the_contact_filters_offer_the_contacts_own_tags_and_sources(owner_session, book):
    client = HandlerClient.sign_in(owner_session, book, path="/crm")
    loaded = client.call(ContactsState.load).state
    assert [o["value"] for o in loaded.tag_options] == ["golf", "yoga"], "the most used first"
    assert [o["value"] for o in loaded.source_options] == ["referral", "instagram"]
    assert "secret" not in str(loaded.tag_options), "another person's tags are not offered"
    client.call(ContactsState.set_view, view="list")
    assert _names(client.call(ContactsState.filter_tag, value="yoga").state) == ["Gina", "Ivo"]
    both = client.call(ContactsState.filter_source, value="referral").state
    assert _names(both) == ["Ivo"] and both.narrowed
    staged = client.call(ContactsState.filter_stage, value="contacted").state
    assert staged.error == "" and staged.rows == [] and staged.total == 0, "no such mix: empty"
    shown = client.call(ContactsState.clear_filters).state
    assert _names(shown) == ["Gina", "Hal", "Ivo"] and not shown.narrowed
    shown = client.call(ContactsState.filter_tag, value="golf").state
    with unchanged(owner_session, *CRM_TABLES):
        for view in ("list", "board"):
            shown = client.call(ContactsState.set_view, view=view).state
            rows, counts = list(shown.rows), [c.count for c in shown.board_columns]
            assert rows if view == "list" else counts
            for handler, value, message in (
                (ContactsState.filter_tag, "secret", "Choose a tag from the list"),
                (ContactsState.filter_tag, "tennis", "Choose a tag from the list"),
                (ContactsState.filter_source, "Fair", "Choose a source from the list"),
                (ContactsState.filter_stage, "won' OR 1=1", "Unknown stage"),
            ):
                refused = client.call(handler, value=value).state
                assert refused.error.startswith(message), (value, refused.error)
                assert refused.filters == shown.filters and refused.rows == rows
                assert [c.count for c in refused.board_columns] == counts
        client.call(ContactsState.set_view, view="list")
        refused = client.call(
            ContactsState.apply_filters, form_data={"tag": "secret", "source": "referral"}
        ).state
        assert refused.error.startswith("Choose a tag") and refused.filters == shown.filters
    assert _names(client.call(ContactsState.next_page).state) == ["Hal", "Ivo"]


def test_an_empty_contact_book_says_what_to_do_next(owner_session):
    client = HandlerClient.sign_in(owner_session, make_user(owner_session), path="/crm")
    empty = client.call(ContactsState.load).state
    assert empty.total == 0 and not empty.narrowed
    page = str(contacts_page.contacts_page())
    assert "No contacts yet: add one, or import a CSV" in page
    assert "Import a CSV" in page and routes.CRM_IMPORT in page
    assert "No contact matches: clear the filters" in page and "crm-board-empty" in page


# --- the shared table ------------------------------------------------------------------------


def test_a_short_list_shows_fifty_rows_then_show_more_and_an_empty_one_guides():
    shown = str(
        tables.simple_table(
            (Column("name", "Name"),),
            ContactsState.tag_options,
            empty_text="No tags yet: tag a contact.",
            empty_action=tables.rx.button("Open a contact"),
            table_id="tags",
        )
    )
    assert ".slice(undefined, 50)" in shown and ".slice(50, undefined)" in shown
    assert "Show " in shown and " more" in shown and "details" in shown
    assert "No tags yet: tag a contact." in shown and "Open a contact" in shown
    assert "tags-empty" in shown
    assert tables.SHOW_FIRST == 50


def test_long_task_lists_and_timelines_show_fifty_then_show_more():
    from mlmcrm.pages.crm import contact as contact_page
    from mlmcrm.pages.crm import today as today_page

    for page in (str(today_page.today_page()), str(contact_page._timeline())):
        assert ".slice(undefined, 50)" in page and ".slice(50, undefined)" in page
        assert "details" in page and " more" in page


def test_the_disclosure_year_is_a_choice_of_the_years_the_service_accepts(owner_session):
    from mlmcrm.pages.reports.income_disclosure import IncomeDisclosureState
    from mlmcrm.services.reports import income_disclosure as ids

    officer = make_user(owner_session, role="compliance")
    tab = HandlerClient.sign_in(owner_session, officer, path=routes.ADMIN_INCOME_DISCLOSURE)
    shown = tab.call(IncomeDisclosureState.load).state
    offered = [option["value"] for option in shown.year_options]
    assert offered == [str(year) for year in ids.year_choices()]
    assert offered[-1] == str(ids.FIRST_YEAR)
    for year in offered[:3] + offered[-1:]:
        assert ids.check_year(year) == int(year), "every year offered is accepted"
    refused = tab.call(IncomeDisclosureState.show, form_data={"year": "1999"}).state
    assert refused.error.startswith("Choose a calendar year between")
    assert refused.year_options == shown.year_options


# --- the audit log's action and entity type ---------------------------------------------------


def test_the_audit_filters_offer_the_registered_actions_and_refuse_others(owner_session):
    from mlmcrm.pages.compliance import audit as audit_page
    from mlmcrm.pages.compliance.audit import AuditLogState
    from mlmcrm.services.platform import audit, audit_actions
    from mlmcrm.services.platform.actor import Actor

    page = str(audit_page._filters()).replace(" ", "")
    assert 'name:"action"' in page and 'name:"entity_type"' in page
    for value in ("user.login", "payout_batch.approved", "autoship_subscription"):
        assert f'value:"{value}"' in page, value
    officer = make_user(owner_session, role="compliance")
    who = Actor(user_id=officer.id, role="compliance", label=officer.email)
    for action in ("tax.certified", "tax.payer_changed"):
        audit.record(session=owner_session, actor=who, action=action, entity_type="tax_year")
    owner_session.commit()
    client = HandlerClient.sign_in(owner_session, officer, path=routes.ADMIN_AUDIT)
    shown = client.call(
        AuditLogState.apply_filters,
        form_data={"actor": officer.email, "action": "tax.certified", "entity_type": "tax_year"},
    ).state
    assert shown.error == "" and [row["action"] for row in shown.rows] == ["tax.certified"]
    with unchanged(owner_session, "audit_logs"):
        for field, bad, message in (
            ("action", "tax.", "Choose an action from the list."),
            ("action", "tax.certified' OR 1=1", "Choose an action from the list."),
            ("action", "x" * 5000, "Choose an action from the list."),
            ("entity_type", "widget", "Choose an entity type from the list."),
            ("entity_type", "TAX_YEAR", "Choose an entity type from the list."),
        ):
            form = {"actor": officer.email, "action": "", "entity_type": "", field: bad}
            refused = client.call(AuditLogState.apply_filters, form_data=form).state
            assert refused.error == message, (field, bad)
            assert refused.filters == shown.filters and refused.rows == shown.rows
    again = client.call(AuditLogState.next_page).state
    assert again.filters == shown.filters, "a later reload keeps the filters that were shown"
    assert set(audit_actions.ACTIONS) >= {"tax.certified", "tax.payer_changed"}


def test_the_downline_table_and_its_csv_name_the_rank(
    owner_session,
    network,  # noqa: F811 - the fixture above
    ranked,
):
    from tests.services.network.test_handlers import _csv

    admin = make_user(owner_session, role="admin")
    client = HandlerClient.sign_in(owner_session, admin, path="/admin/genealogy")
    client.call(GenealogyState.load)
    client.call(GenealogyState.jump, distributor_id=str(network["root"][1]))
    shown = client.call(
        GenealogyState.filter_table, form_data={"rank": str(ranked["silver_test"])}
    ).state
    assert [(row["name"], row["rank"]) for row in shown.table] == [("Member Z", "Silver Test")]
    every = client.call(GenealogyState.filter_table, form_data={"rank": ""}).state
    assert {row["rank"] for row in every.table} == {"Silver Test", ""}, "no rank: empty"
    table = _csv(client.call(GenealogyState.export))
    assert table[0][3] == "rank"
    ranks = {row[2]: row[3] for row in table[1:]}
    assert ranks["Member Z"] == "Silver Test" and str(ranked["silver_test"]) not in ranks.values()


# --- short lists capped at 50 with "Show more" -----------------------------------------------


def _capped(page: str) -> bool:
    return ".slice(undefined, 50)" in page and ".slice(50, undefined)" in page and " more" in page


def test_the_holding_tank_autoships_and_buyback_show_fifty_then_show_more():
    from mlmcrm.pages.commerce import distributor_orders as orders_page

    for name, page in (
        ("holding tank", str(genealogy_page._tank())),
        ("slot chooser", str(genealogy_page._slot_chooser())),
        ("autoships", str(orders_page._autoships())),
        ("buyback", str(orders_page._buyback())),
    ):
        assert _capped(page), name
    assert "No autoship yet" in str(orders_page._autoships())
    assert "Nothing to return" in str(orders_page._buyback())


def test_a_contacts_open_tasks_show_fifty_then_show_more(owner_session):
    from datetime import UTC, datetime, timedelta

    from mlmcrm.models import Task
    from mlmcrm.pages.crm import contact as contact_page
    from mlmcrm.pages.crm.contact import ContactState
    from tests.services.crm.test_contact_page import _open

    page = str(contact_page._tasks())
    assert _capped(page) and "No open task: add a follow-up below." in page
    user = make_user(owner_session)
    contact = Contact(owner_id=user.id, first_name="Mara")
    owner_session.add(contact)
    owner_session.flush()
    start = datetime(2030, 1, 1, tzinfo=UTC)
    for n in range(53):
        owner_session.add(
            Task(
                assignee_id=user.id,
                contact_id=contact.id,
                description=f"Call {n}",
                due_at=start + timedelta(days=n),
            )
        )
    owner_session.commit()
    state = _open(owner_session, user, contact.id).call(ContactState.load).state
    assert [task.description for task in state.open_tasks] == [f"Call {n}" for n in range(53)], (
        "every open task reaches the page: 50 show, Show more opens the other 3"
    )
