"""``/admin/people``: look an account up, reveal a sensitive value, disable, change a role.

Finance may reveal a full sensitive value; admin may disable an account or change its role.
Each of those needs a reason and writes an audit row.
"""

from __future__ import annotations

import reflex as rx

from mlmcrm.components.forms import error_message, labelled_input, notice_message, section
from mlmcrm.components.layout import STAFF_NAV, app_shell
from mlmcrm.db import session_scope
from mlmcrm.errors import NO_ACCESS, DomainError
from mlmcrm.models.users import USER_ROLES
from mlmcrm.services.accounts import accounts, profile
from mlmcrm.state.auth import AuthState, shows_once


@shows_once("revealed")
class PeopleState(AuthState):
    """The account found and what the staff member may do with it."""

    person: dict[str, str] = {}
    revealed: str = ""
    error: str = ""
    message: str = ""
    can_reveal: bool = False
    can_manage: bool = False

    def _find(self, email: str) -> None:
        actor = self.actor_for("distributors.read")
        if actor is None:
            return
        self.can_reveal = self.actor_for("sensitive.reveal") is not None
        self.can_manage = self.actor_for("users.manage") is not None
        try:
            with session_scope("app", actor_id=actor.user_id) as session:
                found = profile.find_person(session=session, actor=actor, email=email)
        except DomainError as exc:
            self.person = {}
            self.error = str(exc)
            return
        shown = found.profile
        self.person = {
            "user_id": str(shown.user_id),
            "email": shown.email,
            "name": f"{shown.first_name} {shown.last_name}".strip(),
            "role": shown.role,
            "status": found.status,
            "two_factor": "on" if found.two_factor else "off",
            "tax_id": shown.tax_id_last4 and "•••• " + shown.tax_id_last4 or "not on file",
            "bank_account": shown.bank_account_last4
            and "•••• " + shown.bank_account_last4
            or "not on file",
            "date_of_birth": "on file" if shown.date_of_birth_on_file else "not on file",
        }

    @rx.event
    def load(self) -> None:
        """Start empty (the role is checked again in every handler)."""
        self.person, self.revealed, self.error, self.message = {}, "", "", ""
        self.can_reveal = self.actor_for("sensitive.reveal") is not None
        self.can_manage = self.actor_for("users.manage") is not None

    @rx.event
    def search(self, form_data: dict) -> None:
        """Find the account with the email typed."""
        self.error = self.message = self.revealed = ""
        self._find(str(form_data.get("email", "")))

    def _target(self) -> int:
        return int(self.person.get("user_id", "0") or 0)

    @rx.event
    def reveal(self, form_data: dict) -> None:
        """Show one full sensitive value (finance only, with a reason; audited)."""
        self.error = self.revealed = ""
        actor = self.actor_for("sensitive.reveal")
        if actor is None:
            self.error = NO_ACCESS
            return
        try:
            with session_scope("app", actor_id=actor.user_id) as session:
                value = profile.reveal_sensitive_field(
                    session=session,
                    actor=actor,
                    user_id=self._target(),
                    field=str(form_data.get("field", "")),
                    reason=str(form_data.get("reason", "")),
                )
        except DomainError as exc:
            self.error = str(exc)
            return
        self.revealed = value

    @rx.event
    def set_disabled(self, form_data: dict) -> None:
        """Disable or re-enable the account (admin only, with a reason)."""
        self.error = self.message = ""
        actor = self.actor_for("users.manage")
        if actor is None:
            self.error = NO_ACCESS
            return
        disable = self.person.get("status") != "disabled"
        try:
            with session_scope("app", actor_id=actor.user_id) as session:
                accounts.set_account_disabled(
                    session=session,
                    actor=actor,
                    user_id=self._target(),
                    disabled=disable,
                    reason=str(form_data.get("reason", "")),
                )
        except DomainError as exc:
            self.error = str(exc)
            return
        self.message = (
            "Account disabled; it was signed out everywhere." if disable else ("Account enabled.")
        )
        self._find(self.person.get("email", ""))

    @rx.event
    def change_role(self, form_data: dict) -> None:
        """Give the account another role (admin only, with a reason)."""
        self.error = self.message = ""
        actor = self.actor_for("users.manage")
        if actor is None:
            self.error = NO_ACCESS
            return
        try:
            with session_scope("app", actor_id=actor.user_id) as session:
                accounts.change_role(
                    session=session,
                    actor=actor,
                    user_id=self._target(),
                    role=str(form_data.get("role", "")),
                    reason=str(form_data.get("reason", "")),
                )
        except DomainError as exc:
            self.error = str(exc)
            return
        self.message = "Role changed; the account was signed out everywhere."
        self._find(self.person.get("email", ""))


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


def _content() -> rx.Component:
    return rx.vstack(
        rx.form(
            rx.hstack(
                labelled_input("Email", "email", type="email", id="person-email", required=True),
                rx.button("Find", type="submit"),
                align="end",
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
        spacing="4",
        width="100%",
        max_width="44rem",
    )


def people_page() -> rx.Component:
    """The page."""
    return app_shell(_content(), title="People", nav=STAFF_NAV)
