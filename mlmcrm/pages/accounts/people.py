"""``/admin/people``: the accounts as a list; open one to reveal, disable or change its role.

The list pages, sorts, filters and exports like every list. Finance may reveal a full
sensitive value; admin may disable an account or change its role. Each of those needs a reason
and writes an audit row.
"""

from __future__ import annotations

from typing import ClassVar

import reflex as rx
from sqlmodel import Session

from mlmcrm.components.data_table import data_table, export_button
from mlmcrm.components.forms import error_message, labelled_input, notice_message, section
from mlmcrm.components.layout import STAFF_NAV, app_shell
from mlmcrm.errors import NotFound
from mlmcrm.models.users import USER_ROLES, USER_STATUSES
from mlmcrm.services.accounts import accounts, profile
from mlmcrm.services.platform import permissions
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.platform.listing import ListQuery
from mlmcrm.state.auth import AuthState, shows_once
from mlmcrm.state.handlers import guarded
from mlmcrm.state.ids import parse_id
from mlmcrm.state.paged_list import MAX_FILTER_LENGTH, Column, PagedListState

READ = "distributors.read"


def _masked(last4: str) -> str:
    return "•••• " + last4 if last4 else "not on file"


@shows_once("revealed")
class PeopleState(PagedListState, AuthState):
    """The accounts (a paged list), the one opened, and what the staff member may do with it."""

    person: dict[str, str] = {}
    revealed: str = ""
    message: str = ""
    can_reveal: bool = False
    can_manage: bool = False

    list_permission: ClassVar[str] = READ
    columns: ClassVar[tuple[Column, ...]] = (
        Column("name", "Name", sortable=True),
        Column("email", "Email", sortable=True),
        Column("role", "Role", sortable=True),
        Column("status", "Status", sortable=True),
        Column("created_at", "Since", sortable=True),
    )
    filter_names: ClassVar[tuple[str, ...]] = ("q", "role", "status")
    export_name: ClassVar[str] = "people"

    def _fetch(self, query: ListQuery, *, actor: Actor, session: Session):  # type: ignore[no-untyped-def]  # PagedListState's shape
        return profile.list_people(
            session=session,
            actor=actor,
            search=self.filters.get("q", ""),
            role=self.filters.get("role", ""),
            status=self.filters.get("status", ""),
            query=query,
        )

    def _show(self, found: profile.PersonPublic) -> None:
        self.person = {
            "user_id": str(found.id),
            "email": found.email,
            "name": found.name,
            "role": found.role,
            "status": found.status,
            "two_factor": "on" if found.two_factor else "off",
            "tax_id": _masked(found.tax_id_last4),
            "bank_account": _masked(found.bank_account_last4),
            "date_of_birth": "on file" if found.date_of_birth_on_file else "not on file",
        }

    def _open(self, user_id: int, *, actor: Actor, session: Session) -> None:
        self.person = {}
        self._show(profile.get_person(session=session, actor=actor, user_id=user_id))

    def _target(self) -> int:
        return parse_id(self.person.get("user_id", "")) or 0

    @rx.event
    @guarded(READ, clear=("error", "message", "revealed"))
    def load(self, *, actor: Actor, session: Session) -> None:
        """The newest accounts, none opened, and what this staff member may do."""
        self.person = {}
        self.can_reveal = permissions.can("sensitive.reveal", actor=actor)
        self.can_manage = permissions.can("users.manage", actor=actor)
        self._reset_list()
        self._reload_list(actor=actor, session=session)

    @rx.event
    @guarded(READ, clear=("error", "message", "revealed"))
    def search(self, form_data: dict, *, actor: Actor, session: Session) -> None:
        """Filter the list by the form; open the account when one matches (or its exact email)."""
        data = form_data if isinstance(form_data, dict) else {}
        self.filters = {
            name: str(data.get(name, "") or "").strip()[:MAX_FILTER_LENGTH]
            for name in self.filter_names
        }
        self.offset, self.person = 0, {}
        self._reload_list(actor=actor, session=session)
        wanted = self.filters["q"].lower()
        exact = [row for row in self.rows if row.get("email", "").lower() == wanted]
        if len(self.rows) == 1 or len(exact) == 1:
            self._open(int((exact or self.rows)[0]["id"]), actor=actor, session=session)

    @rx.event
    @guarded(READ, clear=("error", "message", "revealed"))
    def open_person(self, user_id: str, *, actor: Actor, session: Session) -> None:
        """Open one account of the list."""
        wanted = parse_id(user_id)
        if wanted is None:
            self.person = {}
            raise NotFound("That person does not exist.")
        self._open(wanted, actor=actor, session=session)

    @rx.event
    @guarded("sensitive.reveal", clear=("error", "revealed"))
    def reveal(self, form_data: dict, *, actor: Actor, session: Session) -> None:
        """Show one full sensitive value (finance only, with a reason; audited)."""
        self.revealed = profile.reveal_sensitive_field(
            session=session,
            actor=actor,
            user_id=self._target(),
            field=str(form_data.get("field", "")),
            reason=str(form_data.get("reason", "")),
        )

    @rx.event
    @guarded("users.manage", clear=("error", "message"))
    def set_disabled(self, form_data: dict, *, actor: Actor, session: Session) -> None:
        """Disable or re-enable the account (admin only, with a reason)."""
        disable = self.person.get("status") != "disabled"
        accounts.set_account_disabled(
            session=session,
            actor=actor,
            user_id=self._target(),
            disabled=disable,
            reason=str(form_data.get("reason", "")),
        )
        self.message = (
            "Account disabled; it was signed out everywhere." if disable else "Account enabled."
        )
        self._open(self._target(), actor=actor, session=session)
        self._reload_list(actor=actor, session=session)

    @rx.event
    @guarded("users.manage", clear=("error", "message"))
    def change_role(self, form_data: dict, *, actor: Actor, session: Session) -> None:
        """Give the account another role (admin only, with a reason)."""
        accounts.change_role(
            session=session,
            actor=actor,
            user_id=self._target(),
            role=str(form_data.get("role", "")),
            reason=str(form_data.get("reason", "")),
        )
        self.message = "Role changed; the account was signed out everywhere."
        self._open(self._target(), actor=actor, session=session)
        self._reload_list(actor=actor, session=session)


def _details() -> rx.Component:
    p = PeopleState.person
    return section(
        "Account",
        rx.text(rx.text.strong("Name: "), p["name"]),
        rx.text(rx.text.strong("Email: "), p["email"]),
        rx.text(
            rx.text.strong("Role: "),
            p["role"],
            " · ",
            rx.text.strong("Status: "),
            p["status"],
            " · ",
            rx.text.strong("2FA: "),
            p["two_factor"],
        ),
        rx.text(rx.text.strong("Tax id: "), p["tax_id"]),
        rx.text(rx.text.strong("Bank account: "), p["bank_account"]),
        rx.text(rx.text.strong("Date of birth: "), p["date_of_birth"]),
    )


def _reveal() -> rx.Component:
    return section(
        "Reveal a full value (audited)",
        rx.form(
            rx.vstack(
                rx.el.select(
                    rx.el.option("Tax id", value="tax_id"),
                    rx.el.option("Bank account", value="bank_account"),
                    rx.el.option("Date of birth", value="date_of_birth"),
                    name="field",
                    aria_label="Field",
                    style={"padding": "0.4rem"},
                ),
                labelled_input("Reason", "reason", id="reveal-reason", required=True),
                rx.button("Reveal", type="submit", color_scheme="amber"),
                width="100%",
            ),
            on_submit=PeopleState.reveal,
            reset_on_submit=True,
        ),
        rx.cond(PeopleState.revealed != "", rx.code(PeopleState.revealed, id="revealed-value")),
    )


def _manage() -> rx.Component:
    return section(
        "Manage (admin)",
        rx.form(
            rx.hstack(
                labelled_input("Reason", "reason", id="disable-reason", required=True),
                rx.button(
                    rx.cond(PeopleState.person["status"] == "disabled", "Enable", "Disable"),
                    type="submit",
                    color_scheme="red",
                ),
                align="end",
                width="100%",
            ),
            on_submit=PeopleState.set_disabled,
            reset_on_submit=True,
        ),
        rx.form(
            rx.hstack(
                rx.el.select(
                    *[rx.el.option(role, value=role) for role in USER_ROLES],
                    name="role",
                    aria_label="Role",
                    style={"padding": "0.4rem"},
                ),
                labelled_input("Reason", "reason", id="role-reason", required=True),
                rx.button("Change role", type="submit"),
                align="end",
                width="100%",
            ),
            on_submit=PeopleState.change_role,
            reset_on_submit=True,
        ),
    )


def _select(name: str, label: str, values: tuple[str, ...]) -> rx.Component:
    return rx.el.select(
        rx.el.option(f"Any {label.lower()}", value=""),
        *[rx.el.option(value, value=value) for value in values],
        name=name,
        aria_label=f"Filter by {label.lower()}",
        style={"padding": "0.4rem"},
        class_name="touch-target",
    )


def _open_button(row: rx.Var) -> rx.Component:
    return rx.button(
        "Open",
        on_click=PeopleState.open_person(row["id"]),
        size="1",
        variant="soft",
        class_name="touch-target",
    )


def _content() -> rx.Component:
    return rx.vstack(
        rx.form(
            rx.hstack(
                labelled_input("Name or email", "q", id="person-email"),
                _select("role", "Role", USER_ROLES),
                _select("status", "Status", USER_STATUSES),
                rx.button("Find", type="submit", class_name="touch-target"),
                export_button(PeopleState),
                align="end",
                wrap="wrap",
                width="100%",
            ),
            on_submit=PeopleState.search,
            reset_on_submit=False,
        ),
        error_message(PeopleState.error),
        notice_message(PeopleState.message),
        rx.cond(
            PeopleState.person.contains("user_id"),
            rx.vstack(
                _details(),
                rx.cond(PeopleState.can_reveal, _reveal()),
                rx.cond(PeopleState.can_manage, _manage()),
                spacing="4",
                width="100%",
            ),
        ),
        data_table(
            PeopleState,
            row_id="person-row-",
            actions=_open_button,
            empty_text="No account matches.",
        ),
        spacing="4",
        width="100%",
    )


def people_page() -> rx.Component:
    """The page."""
    return app_shell(_content(), title="People", nav=STAFF_NAV)
