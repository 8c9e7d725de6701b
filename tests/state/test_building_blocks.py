"""The page building blocks: guarded handlers, the paged list and its export, money as text.

They run through a real list page (the customers page) with the handler helper, so what is
tested is what a browser gets.
"""

from __future__ import annotations

import base64
import csv
import io
import json
from decimal import Decimal

import pytest
import reflex as rx
from sqlalchemy import text
from sqlmodel import select

from mlmcrm.models import Customer, Distributor
from mlmcrm.pages.commerce.customers import CustomersState
from mlmcrm.state.handlers import NO_ACCESS, guarded
from tests.factories import make_user
from tests.handlers import HandlerClient, nothing_changes, unchanged


@pytest.fixture()
def book(owner_session):
    """A distributor with 60 customers (three of them "Zed …") and another distributor."""
    user = make_user(owner_session)
    distributor_id = owner_session.exec(
        select(Distributor.id).where(Distributor.user_id == user.id)
    ).one()
    for n in range(60):
        first = f"Zed{n:02d}" if n % 20 == 0 else f"Ann{n:02d}"
        owner_session.add(
            Customer(
                distributor_id=distributor_id,
                first_name=first,
                last_name="Book",
                email=f"c{n:02d}@example.com" if n != 7 else "odd%_one@example.com",
            )
        )
    owner_session.commit()
    return user


def _csv(call) -> list[list[str]]:
    (event,) = call.events
    url = dict((str(k), v) for k, v in event.args)["url"]._var_value
    assert url.startswith("data:text/csv;base64,")
    return list(csv.reader(io.StringIO(base64.b64decode(url.split(",", 1)[1]).decode())))


def test_a_list_pages_and_sorts_and_refuses_a_column_it_does_not_offer(owner_session, book):
    client = HandlerClient.sign_in(owner_session, book)
    state = client.call(CustomersState.load_list).state
    assert (len(state.rows), state.total, state.offset) == (50, 60, 0)
    state = client.call(CustomersState.next_page).state
    assert (len(state.rows), state.offset) == (10, 50)
    assert client.call(CustomersState.next_page).state.offset == 50, "no page after the last"
    state = client.call(CustomersState.sort_by, key="name").state
    names = [row["name"] for row in state.rows]
    assert state.offset == 0 and names[0] == "Ann01 Book" and names == sorted(names)
    state = client.call(CustomersState.sort_by, key="name").state
    assert state.descending and state.rows[0]["name"] == "Zed40 Book"
    before = [row["id"] for row in state.rows]
    for bad in ("phone", "id; DROP TABLE customers", ""):
        after = client.call(CustomersState.sort_by, key=bad).state
        assert after.error == "The list cannot be sorted by that column."
        assert [row["id"] for row in after.rows] == before


def test_filters_keep_only_the_named_fields_and_match_text_literally(owner_session, book):
    client = HandlerClient.sign_in(owner_session, book)
    state = client.call(
        CustomersState.apply_filters, form_data={"q": "zed", "owner": "1", "sql": "x"}
    ).state
    assert state.filters == {"q": "zed"} and state.total == 3
    state = client.call(CustomersState.apply_filters, form_data={"q": "%_"}).state
    assert [row["email"] for row in state.rows] == ["odd%_one@example.com"]
    state = client.call(CustomersState.apply_filters, form_data={"q": "x" * 5000}).state
    assert len(state.filters["q"]) == 200 and state.total == 0 and state.error == ""


def test_the_export_holds_exactly_what_the_list_shows_and_is_audited(owner_session, book):
    client = HandlerClient.sign_in(owner_session, book)
    client.call(CustomersState.apply_filters, form_data={"q": "book"})
    client.call(CustomersState.sort_by, key="email")
    shown = client.call(CustomersState.sort_by, key="email").state  # descending
    call = client.call(CustomersState.export_csv)
    table = _csv(call)
    assert table[0] == [column.label for column in CustomersState.columns]
    assert len(table) == 1 + 60, "every page, not only the one shown"
    keys = [column.key for column in CustomersState.columns]
    assert table[1:51] == [[row[k] for k in keys] for row in shown.rows]
    logged = owner_session.execute(
        text("SELECT after FROM audit_logs WHERE action = 'customers.exported' AND actor_id = :u"),
        {"u": book.id},
    ).scalar_one()
    assert logged["rows"] == 60 and logged["sort"] == "email" and logged["descending"] is True


def test_another_distributors_list_and_export_show_none_of_the_book(owner_session, book):
    intruder = HandlerClient.sign_in(owner_session, make_user(owner_session))
    assert intruder.call(CustomersState.load_list).state.rows == []
    assert _csv(intruder.call(CustomersState.export_csv)) == [
        [column.label for column in CustomersState.columns]
    ]


def test_a_user_without_the_permission_is_refused_in_place_and_nothing_changes(owner_session, book):
    staff = HandlerClient.sign_in(owner_session, make_user(owner_session, role="support"))
    form = {"first_name": "A", "last_name": "B", "email": "ab@example.com"}
    with nothing_changes(owner_session):
        for handler, payload in (
            (CustomersState.load_list, {}),
            (CustomersState.export_csv, {}),
            (CustomersState.add, {"form_data": form}),
        ):
            call = staff.call(handler, **payload)
            assert call.state.error == NO_ACCESS and call.events == []
            assert call.state.rows == []


def test_a_domain_error_shows_in_place_and_rolls_the_unit_of_work_back(owner_session, book):
    client = HandlerClient.sign_in(owner_session, book)
    client.call(CustomersState.load_list)
    with unchanged(owner_session, "customers", "audit_logs"):
        call = client.call(
            CustomersState.add,
            form_data={"first_name": "A", "last_name": "", "email": "a@example.com"},
        )
    assert "first and last name" in call.state.error and call.state.notice == ""


def test_the_browser_cannot_pass_the_actor_or_the_unit_of_work(owner_session, book):
    import inspect

    for handler in (CustomersState.add, CustomersState.load_list, CustomersState.sort_by):
        assert not {"actor", "session"} & set(inspect.signature(handler.fn).parameters)
    client = HandlerClient.sign_in(owner_session, book)
    admin = make_user(owner_session, role="admin")
    state = client.call(CustomersState.load_list, actor=str(admin.id), session="x").state
    assert state.error == "" and state.total == 60, "the signed-in distributor's own list"


def test_guarded_handlers_name_their_permission():
    class Probe:
        error = ""

        @guarded("crm.own")
        def act(self, *, actor, session):  # pragma: no cover - only its signature is read
            return None

    assert Probe.act.__guarded_permission__ == "crm.own"


def test_money_reaches_the_browser_as_exact_decimal_text():
    """Reflex's own serialiser sends a Decimal as a float; the app's sends its exact text."""
    from reflex_base.utils.format import json_dumps

    from mlmcrm.services.platform.public import Money  # noqa: F401
    from mlmcrm.state import money  # noqa: F401

    sent = json.loads(
        json_dumps({"price": Decimal("12.10"), "big": Decimal("12345678901234567.89")})
    )
    assert sent == {"price": "12.10", "big": "12345678901234567.89"}
    assert isinstance(rx.Var.create(Decimal("0.1")), rx.Var)


def test_the_audit_log_is_a_paged_list_for_compliance_only(owner_session):
    from mlmcrm.pages.compliance.audit import AuditLogState
    from mlmcrm.services.platform import audit
    from mlmcrm.services.platform.actor import Actor

    officer = make_user(owner_session, role="compliance")
    for n in range(3):
        audit.record(
            session=owner_session,
            actor=Actor(user_id=officer.id, role="compliance", label=officer.email),
            action=("tax.threshold_set", "tax.payer_changed", "tax.certified")[n],
            entity_type="tax_year",
            entity_id=str(n),
            reason='=HYPERLINK("x")' if n == 0 else None,
        )
    owner_session.commit()
    client = HandlerClient.sign_in(owner_session, officer)
    state = client.call(
        AuditLogState.apply_filters, form_data={"entity_type": "tax_year", "actor": officer.email}
    ).state
    actions = ["tax.certified", "tax.payer_changed", "tax.threshold_set"]
    assert state.error == "" and [r["action"] for r in state.rows] == actions
    state = client.call(AuditLogState.sort_by, key="action").state
    assert [r["action"] for r in state.rows] == actions
    bad = client.call(AuditLogState.apply_filters, form_data={"since": "yesterday"}).state
    assert "YYYY-MM-DD" in bad.error and bad.rows == state.rows, "a refused filter changes nothing"
    client.call(
        AuditLogState.apply_filters, form_data={"entity_type": "tax_year", "actor": officer.email}
    )
    table = _csv(client.call(AuditLogState.export_csv))
    assert table[0][:3] == ["When", "Actor", "Action"]
    assert [row[2] for row in table[1:]] == actions, "still sorted"
    assert table[3][6].startswith("'="), "a formula in a cell is neutralised"
    finance = HandlerClient.sign_in(owner_session, make_user(owner_session, role="finance"))
    with nothing_changes(owner_session):
        refused = finance.call(AuditLogState.load_list).state
    assert refused.error == NO_ACCESS and refused.rows == []


def test_a_visitor_handler_runs_one_unit_of_work_shows_errors_and_ignores_a_session_argument(
    owner_session,
):
    import inspect

    from mlmcrm.pages.accounts.reset_password import ResetPasswordState

    signature = inspect.signature(ResetPasswordState.submit.fn)
    assert "session" not in signature.parameters, "the browser cannot pass a unit of work"
    tab = HandlerClient("", path="/reset-password?token=not-a-real-token")
    with nothing_changes(owner_session):
        call = tab.call(
            ResetPasswordState.submit,
            form_data={"password": "a long new passphrase", "confirm": "a long new passphrase"},
            session="an attacker's object",
        )
    assert call.state.error != "" and "Traceback" not in call.state.error
    assert call.state.message == ""
    mismatch = tab.call(
        ResetPasswordState.submit, form_data={"password": "one passphrase", "confirm": "other"}
    ).state
    assert mismatch.error == "The two passwords are not the same."


def test_a_list_filter_cannot_choose_the_time_zone_its_days_are_read_in(owner_session):
    from mlmcrm.pages.commerce.admin_orders import AdminOrdersState
    from mlmcrm.pages.compliance.audit import AuditLogState

    officer = make_user(owner_session, role="admin")
    client = HandlerClient.sign_in(owner_session, officer)
    for state_cls in (AuditLogState, AdminOrdersState):
        state = client.call(
            state_cls.apply_filters, form_data={"zone": "Pacific/Kiritimati", "since": ""}
        ).state
        assert state.error == "" and "zone" not in state.filters
