"""``/admin/users``: every account as a list; open one to help its person or to manage it.

The list pages, sorts, filters and exports like every list; it finds people by name, email,
phone or distributor code. An opened account shows support's read-only view (profile, sponsor
and placement, recent orders, sign-ins, open cases). Support unlocks and sends reset or
confirmation emails; finance may reveal a full sensitive value; admins invite staff, disable
accounts, change roles and reset a lost 2FA (those two after re-entering their password). Each
action needs a reason and writes an audit row.
"""

from __future__ import annotations

from typing import ClassVar

import reflex as rx
from sqlmodel import Session

from mlmcrm import routes
from mlmcrm.components.data_table import data_table, export_button, simple_table
from mlmcrm.components.forms import (
    error_message,
    labelled_input,
    labelled_select,
    notice_message,
    section,
    value_choices,
)
from mlmcrm.components.layout import STAFF_NAV, app_shell
from mlmcrm.errors import NotFound
from mlmcrm.models.users import STAFF_ROLES, USER_ROLES, USER_STATUSES
from mlmcrm.services.accounts import profile, user_admin
from mlmcrm.services.platform import permissions
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.platform.listing import ListQuery
from mlmcrm.state.account import AccountState, account_handler
from mlmcrm.state.auth import PageOpener, shows_once
from mlmcrm.state.handlers import guarded
from mlmcrm.state.ids import parse_id
from mlmcrm.state.paged_list import MAX_FILTER_LENGTH, Column, PagedListState

READ = "distributors.read"
MANAGE = "users.manage"
ASSIST = "accounts.assist"


def _stay(state: object) -> None:
    """A refused change stays on the page, with the refusal shown (no redirect)."""
    return None


def _masked(last4: str) -> str:
    return "•••• " + last4 if last4 else "not on file"


SIGN_IN_COLUMNS = (
    Column("at", "When"),
    Column("ip_address", "Address"),
    Column("device", "Browser"),
    Column("state", "Now"),
)
ORDER_COLUMNS = (
    Column("number", "Order"),
    Column("placed", "Placed"),
    Column("status", "Status"),
    Column("total", "Total", numeric=True),
)
CASE_COLUMNS = (
    Column("id", "Case"),
    Column("rule", "Rule"),
    Column("severity", "Severity"),
    Column("opened", "Opened"),
)


@shows_once("revealed")
class UsersState(PageOpener, PagedListState, AccountState):
    """The accounts (a paged list), the one opened, and what the staff member may do with it."""

    person: dict[str, str] = {}
    sign_ins: list[dict[str, str]] = []
    orders: list[dict[str, str]] = []
    cases: list[dict[str, str]] = []
    revealed: str = ""
    can_reveal: bool = False
    can_manage: bool = False
    can_assist: bool = False

    list_permission: ClassVar[str] = READ
    columns: ClassVar[tuple[Column, ...]] = (
        Column("name", "Name", sortable=True),
        Column("email", "Email", sortable=True),
        Column("role", "Role", sortable=True),
        Column("status", "Status", sortable=True),
        Column("two_factor", "2FA"),
        Column("distributor_code", "Code", sortable=True),
        Column("last_sign_in", "Last sign-in", sortable=True),
        Column("created_at", "Since", sortable=True),
    )
    filter_names: ClassVar[tuple[str, ...]] = ("q", "role", "status")
    export_name: ClassVar[str] = "users"

    def _fetch(self, query: ListQuery, *, actor: Actor, session: Session):  # type: ignore[no-untyped-def]  # PagedListState's shape
        return profile.list_people(
            session=session,
            actor=actor,
            search=self.filters.get("q", ""),
            role=self.filters.get("role", ""),
            status=self.filters.get("status", ""),
            query=query,
        )

    def _show(self, view: user_admin.AccountViewPublic) -> None:
        found = view.person
        self.person = {
            "user_id": str(found.id),
            "email": found.email,
            "name": found.name,
            "role": found.role,
            "status": found.status,
            "locked": "yes" if found.locked else "",
            "two_factor": "on" if found.two_factor else "off",
            "phone": found.phone or "none",
            "code": found.distributor_code,
            "email_confirmed": "yes" if view.email_confirmed else "no",
            "awaiting": "yes" if view.pending_application or not view.email_confirmed else "",
            "distributor_status": view.distributor_status,
            "sponsor": view.sponsor or "none",
            "placement": view.placement or "none",
            "last_sign_in": found.last_sign_in,
            "tax_id": _masked(found.tax_id_last4),
            "bank_account": _masked(found.bank_account_last4),
            "date_of_birth": "on file" if found.date_of_birth_on_file else "not on file",
        }
        self.sign_ins = [row.model_dump(mode="json") for row in view.sign_ins]
        self.orders = [row.model_dump(mode="json") for row in view.orders]
        self.cases = [
            {key: str(value) for key, value in row.model_dump(mode="json").items()}
            for row in view.cases
        ]

    def _open(self, user_id: int, *, actor: Actor, session: Session) -> None:
        self.person, self.sign_ins, self.orders, self.cases = {}, [], [], []
        self._show(user_admin.account_view(session=session, actor=actor, user_id=user_id))

    def _after_change(self, message: str, *, actor: Actor, session: Session) -> None:
        self.message = message
        self._open(self._target(), actor=actor, session=session)
        self._reload_list(actor=actor, session=session)

    def _target(self) -> int:
        return parse_id(self.person.get("user_id", "")) or 0

    @rx.event
    @guarded(READ, clear=("error", "message", "revealed"))
    def load(self, *, actor: Actor, session: Session) -> None:
        """The newest accounts, none opened, and what this staff member may do."""
        self.person, self.sign_ins, self.orders, self.cases = {}, [], [], []
        self.can_reveal = permissions.can("sensitive.reveal", actor=actor)
        self.can_manage = permissions.can(MANAGE, actor=actor)
        self.can_assist = permissions.can(ASSIST, actor=actor)
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
        self.sign_ins, self.orders, self.cases = [], [], []
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
    @guarded(MANAGE, clear=("error", "message"))
    def set_disabled(self, form_data: dict, *, actor: Actor, session: Session) -> None:
        """Disable or re-enable the account (admin only, with a reason)."""
        disable = self.person.get("status") != "disabled"
        user_admin.set_account_disabled(
            session=session,
            actor=actor,
            user_id=self._target(),
            disabled=disable,
            reason=str(form_data.get("reason", "")),
        )
        self._after_change(
            "Account disabled; it was signed out everywhere." if disable else "Account enabled.",
            actor=actor,
            session=session,
        )

    @rx.event
    @account_handler(MANAGE, refused=_stay)
    def change_role(self, form_data: dict, *, actor: Actor, session: Session) -> None:
        """Give the account another role (admin only, re-authenticated, with a reason)."""
        user_admin.change_role(
            session=session,
            actor=actor,
            user_id=self._target(),
            role=str(form_data.get("role", "")),
            reason=str(form_data.get("reason", "")),
        )
        self._after_change(
            "Role changed; the account was signed out everywhere.", actor=actor, session=session
        )

    @rx.event
    @account_handler(MANAGE, refused=_stay)
    def reset_two_factor(self, form_data: dict, *, actor: Actor, session: Session) -> None:
        """Turn off a lost 2FA (admin only, re-authenticated, with a reason)."""
        user_admin.reset_two_factor(
            session=session,
            actor=actor,
            user_id=self._target(),
            reason=str(form_data.get("reason", "")),
        )
        self._after_change(
            "Two-factor authentication was reset; the person sets it up again at the next "
            "sign-in and was told by email.",
            actor=actor,
            session=session,
        )

    @rx.event
    @guarded(ASSIST, clear=("error", "message"))
    def unlock(self, form_data: dict, *, actor: Actor, session: Session) -> None:
        """Lift the account's sign-in lock (with a reason)."""
        user_admin.unlock_account(
            session=session,
            actor=actor,
            user_id=self._target(),
            reason=str(form_data.get("reason", "")),
        )
        self._after_change("The account is unlocked.", actor=actor, session=session)

    @rx.event
    @guarded(ASSIST, clear=("error", "message"))
    def send_reset(self, form_data: dict, *, actor: Actor, session: Session) -> None:
        """Email the account a new password-reset link (with a reason)."""
        message = user_admin.send_password_reset(
            session=session,
            actor=actor,
            user_id=self._target(),
            reason=str(form_data.get("reason", "")),
        )
        self._after_change(message, actor=actor, session=session)

    @rx.event
    @guarded(ASSIST, clear=("error", "message"))
    def send_verification(self, form_data: dict, *, actor: Actor, session: Session) -> None:
        """Email a new confirmation link to an applicant or an unconfirmed address."""
        message = user_admin.resend_verification(
            session=session,
            actor=actor,
            user_id=self._target(),
            reason=str(form_data.get("reason", "")),
        )
        self._after_change(message, actor=actor, session=session)

    @rx.event
    @guarded(MANAGE, clear=("error", "message"))
    def invite(self, form_data: dict, *, actor: Actor, session: Session) -> None:
        """Invite a staff member by email with a role."""
        data = form_data if isinstance(form_data, dict) else {}
        email = str(data.get("email", ""))
        user_admin.invite_staff(
            session=session,
            actor=actor,
            email=email,
            role=str(data.get("role", "")),
            first_name=str(data.get("first_name", "")),
            last_name=str(data.get("last_name", "")),
        )
        self.message = f"Invitation sent to {email.strip()}: the link works once, for 72 hours."
        self._reload_list(actor=actor, session=session)


def _line(*parts: rx.Component | str) -> rx.Component:
    return rx.text(*parts)


def _details() -> rx.Component:
    p = UsersState.person
    return section(
        "Account",
        _line(rx.text.strong("Name: "), p["name"], " · ", rx.text.strong("Email: "), p["email"]),
        _line(
            rx.text.strong("Role: "),
            p["role"],
            " · ",
            rx.text.strong("Status: "),
            p["status"],
            rx.cond(p["locked"] != "", " (locked after failed sign-ins)", ""),
            " · ",
            rx.text.strong("2FA: "),
            p["two_factor"],
        ),
        _line(
            rx.text.strong("Phone: "),
            p["phone"],
            " · ",
            rx.text.strong("Email confirmed: "),
            p["email_confirmed"],
            " · ",
            rx.text.strong("Last sign-in: "),
            p["last_sign_in"],
        ),
        rx.cond(
            p["code"] != "",
            _line(
                rx.text.strong("Distributor: "),
                p["code"],
                " (",
                p["distributor_status"],
                ") · ",
                rx.text.strong("Sponsor: "),
                p["sponsor"],
                " · ",
                rx.text.strong("Placement: "),
                p["placement"],
            ),
        ),
        _line(
            rx.text.strong("Tax id: "),
            p["tax_id"],
            " · ",
            rx.text.strong("Bank account: "),
            p["bank_account"],
            " · ",
            rx.text.strong("Date of birth: "),
            p["date_of_birth"],
        ),
    )


def _history() -> rx.Component:
    return section(
        "History",
        rx.heading("Recent orders", size="3"),
        simple_table(ORDER_COLUMNS, UsersState.orders, empty_text="No order."),
        rx.heading("Sign-ins", size="3"),
        simple_table(SIGN_IN_COLUMNS, UsersState.sign_ins, empty_text="Never signed in."),
        rx.heading("Open compliance cases", size="3"),
        simple_table(CASE_COLUMNS, UsersState.cases, empty_text="No open case."),
    )


def _reason_form(
    label: str | rx.Var, handler: rx.EventHandler, *, field_id: str, color: str = "gray"
) -> rx.Component:
    return rx.form(
        rx.hstack(
            labelled_input("Reason", "reason", id=field_id, required=True),
            rx.button(label, type="submit", color_scheme=color, class_name="touch-target"),
            align="end",
            wrap="wrap",
            width="100%",
        ),
        on_submit=handler,
        reset_on_submit=True,
    )


def _assist() -> rx.Component:
    p = UsersState.person
    return section(
        "Help (audited, with a reason)",
        rx.cond(
            p["locked"] != "",
            _reason_form("Unlock", UsersState.unlock, field_id="unlock-reason", color="amber"),
        ),
        rx.cond(
            p["status"] == "active",
            _reason_form(
                "Send a password-reset email", UsersState.send_reset, field_id="reset-reason"
            ),
        ),
        rx.cond(
            p["awaiting"] != "",
            _reason_form(
                "Send a new confirmation email",
                UsersState.send_verification,
                field_id="verification-reason",
            ),
        ),
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
            on_submit=UsersState.reveal,
            reset_on_submit=True,
        ),
        rx.cond(UsersState.revealed != "", rx.code(UsersState.revealed, id="revealed-value")),
    )


def _manage() -> rx.Component:
    p = UsersState.person
    return section(
        "Manage (admin)",
        rx.text(
            "Changing a role or resetting 2FA asks for your password again first.",
            size="2",
            color=rx.color("gray", 11),
        ),
        _reason_form(
            rx.cond(p["status"] == "disabled", "Enable", "Disable"),
            UsersState.set_disabled,
            field_id="disable-reason",
            color="red",
        ),
        rx.cond(
            p["role"] != "distributor",
            rx.form(
                rx.hstack(
                    rx.el.select(
                        *[rx.el.option(role, value=role) for role in STAFF_ROLES],
                        name="role",
                        aria_label="Role",
                        style={"padding": "0.4rem"},
                        class_name="touch-target",
                    ),
                    labelled_input("Reason", "reason", id="role-reason", required=True),
                    rx.button("Change role", type="submit", class_name="touch-target"),
                    align="end",
                    wrap="wrap",
                    width="100%",
                ),
                on_submit=UsersState.change_role,
                reset_on_submit=True,
            ),
        ),
        rx.cond(
            p["two_factor"] == "on",
            _reason_form(
                "Reset lost 2FA", UsersState.reset_two_factor, field_id="two-factor-reason"
            ),
        ),
    )


def _invite() -> rx.Component:
    return section(
        "Invite a staff member",
        rx.form(
            rx.hstack(
                labelled_input("Email", "email", id="invite-email", type="email", required=True),
                labelled_input("First name", "first_name", id="invite-first-name"),
                labelled_input("Last name", "last_name", id="invite-last-name"),
                rx.el.select(
                    *[rx.el.option(role, value=role) for role in STAFF_ROLES],
                    name="role",
                    aria_label="Invite as",
                    style={"padding": "0.4rem"},
                    class_name="touch-target",
                ),
                rx.button("Send invitation", type="submit", class_name="touch-target"),
                align="end",
                wrap="wrap",
                width="100%",
            ),
            on_submit=UsersState.invite,
            reset_on_submit=True,
        ),
    )


def _open_button(row: rx.Var) -> rx.Component:
    return rx.button(
        "Open",
        on_click=UsersState.open_person(row["id"]),
        size="1",
        variant="soft",
        class_name="touch-target",
    )


def _content() -> rx.Component:
    return rx.vstack(
        rx.form(
            rx.hstack(
                labelled_input("Name, email, phone or code", "q", id="person-email"),
                labelled_select(
                    "Role",
                    "role",
                    value_choices(USER_ROLES),
                    any_label="Any role",
                    id="person-role-filter",
                ),
                labelled_select(
                    "Status",
                    "status",
                    value_choices(USER_STATUSES),
                    any_label="Any status",
                    id="person-status-filter",
                ),
                rx.button("Find", type="submit", class_name="touch-target"),
                export_button(UsersState),
                rx.cond(
                    UsersState.can_assist,
                    rx.link(
                        rx.button("Enrol a distributor", variant="soft", class_name="touch-target"),
                        href=routes.ADMIN_ENROL,
                    ),
                ),
                align="end",
                wrap="wrap",
                width="100%",
            ),
            on_submit=UsersState.search,
            reset_on_submit=False,
        ),
        error_message(UsersState.error),
        notice_message(UsersState.message),
        rx.cond(
            UsersState.person.contains("user_id"),
            rx.vstack(
                _details(),
                rx.cond(UsersState.can_assist, _assist()),
                rx.cond(UsersState.can_reveal, _reveal()),
                rx.cond(UsersState.can_manage, _manage()),
                _history(),
                spacing="4",
                width="100%",
            ),
        ),
        data_table(
            UsersState,
            row_id="person-row-",
            actions=_open_button,
            empty_text="No account matches: clear the search or choose “Any role” and “Any "
            "status”; invite a staff member below.",
        ),
        rx.cond(UsersState.can_manage, _invite()),
        spacing="4",
        width="100%",
    )


def users_page() -> rx.Component:
    """The page."""
    return app_shell(_content(), title="Users", nav=STAFF_NAV)
