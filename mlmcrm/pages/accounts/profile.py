"""``/account``: the user's own details, sign-in settings and payout details (last 4 only)."""

from __future__ import annotations

import reflex as rx

from mlmcrm import routes
from mlmcrm.components.forms import error_message, labelled_input, notice_message, section
from mlmcrm.components.layout import app_shell
from mlmcrm.db import session_scope
from mlmcrm.errors import DomainError, ReauthenticationRequired
from mlmcrm.services.accounts import accounts, profile
from mlmcrm.state.account import AccountState


class ProfileState(AccountState):
    """The profile page."""

    email: str = ""
    phone: str = ""
    name: str = ""
    tax_id_last4: str = ""
    bank_account_last4: str = ""
    date_of_birth_on_file: bool = False

    @rx.event
    def load(self) -> None:
        """Read the profile (the role is checked again here)."""
        self.error = self.message = ""
        self._load()

    def _load(self) -> None:
        actor = self._account_actor()
        if actor is None:
            return
        with session_scope("app", actor_id=actor.user_id) as session:
            shown = profile.get_profile(session=session, actor=actor, user_id=actor.user_id)  # type: ignore[arg-type]  # a signed-in actor has a user id
        self.email, self.phone = shown.email, shown.phone
        self.name = f"{shown.first_name} {shown.last_name}".strip()
        self.tax_id_last4 = shown.tax_id_last4
        self.bank_account_last4 = shown.bank_account_last4
        self.date_of_birth_on_file = shown.date_of_birth_on_file

    def _run(self, change, success: str) -> rx.event.EventSpec | None:
        self.error = self.message = ""
        actor = self._account_actor()
        if actor is None:
            return self._signed_out()
        try:
            with session_scope("app", actor_id=actor.user_id) as session:
                result = change(session, actor)
        except ReauthenticationRequired:
            return self._confirm_first()
        except DomainError as exc:
            self.error = str(exc)
            return None
        self.message = result if isinstance(result, str) else success
        self._load()
        return None

    @rx.event
    def change_email(self, form_data: dict) -> rx.event.EventSpec | None:
        """Change the login email (needs re-authentication)."""
        new_email = str(form_data.get("new_email", ""))
        return self._run(
            lambda s, a: accounts.change_email(session=s, actor=a, new_email=new_email),
            "Email changed.",
        )

    @rx.event
    def change_phone(self, form_data: dict) -> rx.event.EventSpec | None:
        """Change the phone number (needs re-authentication)."""
        phone = str(form_data.get("phone", ""))
        return self._run(
            lambda s, a: accounts.change_phone(session=s, actor=a, phone=phone),
            "Phone number saved.",
        )

    @rx.event
    def change_password(self, form_data: dict) -> rx.event.EventSpec | None:
        """Change the password (needs re-authentication); every browser is signed out."""
        password = str(form_data.get("new_password", ""))
        if password != str(form_data.get("confirm_password", "")):
            self.error = "The two passwords are not the same."
            return None
        outcome = self._run(
            lambda s, a: accounts.change_password(session=s, actor=a, new_password=password),
            "changed",
        )
        if outcome is None and not self.error:
            # Every session is revoked; the login page then forgets this tab's state.
            return rx.redirect(routes.LOGIN)
        return outcome

    @rx.event
    def save_payout_details(self, form_data: dict) -> rx.event.EventSpec | None:
        """Save the tax id and/or bank account, encrypted (needs re-authentication)."""
        tax_id = str(form_data.get("tax_id", "")).strip() or None
        bank = str(form_data.get("bank_account", "")).strip() or None
        return self._run(
            lambda s, a: profile.update_payout_details(
                session=s, actor=a, tax_id=tax_id, bank_account=bank
            ),
            "Payout details saved.",
        )

    @rx.event
    def save_date_of_birth(self, form_data: dict) -> rx.event.EventSpec | None:
        """Save the date of birth, encrypted."""
        value = str(form_data.get("date_of_birth", ""))
        return self._run(
            lambda s, a: profile.update_date_of_birth(session=s, actor=a, date_of_birth=value),
            "Date of birth saved.",
        )


def _masked(last4: rx.Var) -> rx.Component:
    return rx.cond(last4 != "", rx.text("•••• " + last4), rx.text("Not on file"))


def _one_field_form(label: str, name: str, handler, button: str, **props) -> rx.Component:
    return rx.form(
        rx.hstack(
            labelled_input(label, name, **props),
            rx.button(button, type="submit"),
            align="end",
            width="100%",
        ),
        on_submit=handler,
        reset_on_submit=True,
    )


def _content() -> rx.Component:
    return rx.vstack(
        error_message(ProfileState.error),
        notice_message(ProfileState.message),
        section(
            "You",
            rx.text(rx.text.strong("Name: "), ProfileState.name),
            rx.text(rx.text.strong("Email: "), ProfileState.email),
            rx.text(rx.text.strong("Phone: "), ProfileState.phone),
            _one_field_form(
                "New email", "new_email", ProfileState.change_email, "Change email", type="email"
            ),
            _one_field_form("Phone", "phone", ProfileState.change_phone, "Save phone", type="tel"),
        ),
        section(
            "Password",
            rx.form(
                rx.vstack(
                    labelled_input(
                        "New password",
                        "new_password",
                        type="password",
                        auto_complete="new-password",
                    ),
                    labelled_input(
                        "New password again",
                        "confirm_password",
                        type="password",
                        auto_complete="new-password",
                    ),
                    rx.button("Change password", type="submit"),
                    rx.text(
                        "Changing your password signs you out on every device.",
                        size="1",
                        color=rx.color("gray", 10),
                    ),
                    width="100%",
                ),
                on_submit=ProfileState.change_password,
                reset_on_submit=True,
            ),
        ),
        section(
            "Payout and tax details",
            rx.hstack(rx.text.strong("Tax id: "), _masked(ProfileState.tax_id_last4)),
            rx.hstack(rx.text.strong("Bank account: "), _masked(ProfileState.bank_account_last4)),
            rx.hstack(
                rx.text.strong("Date of birth: "),
                rx.cond(
                    ProfileState.date_of_birth_on_file, rx.text("On file"), rx.text("Not on file")
                ),
            ),
            rx.form(
                rx.vstack(
                    labelled_input("New tax id", "tax_id"),
                    labelled_input("New bank account or IBAN", "bank_account"),
                    rx.button("Save payout details", type="submit"),
                    width="100%",
                ),
                on_submit=ProfileState.save_payout_details,
                reset_on_submit=True,
            ),
            _one_field_form(
                "Date of birth",
                "date_of_birth",
                ProfileState.save_date_of_birth,
                "Save date of birth",
                type="date",
            ),
        ),
        section(
            "Security",
            rx.hstack(
                rx.link("Two-factor authentication", href=routes.TWO_FACTOR_SETUP),
                rx.link("Signed-in devices", href=routes.ACCOUNT_SESSIONS),
                rx.link("API tokens", href=routes.ACCOUNT_TOKENS),
                spacing="4",
                wrap="wrap",
            ),
        ),
        spacing="4",
        width="100%",
        max_width="44rem",
    )


def profile_page() -> rx.Component:
    """The page."""
    return app_shell(_content(), title="My account", nav=None)
