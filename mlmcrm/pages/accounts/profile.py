"""``/account``: the user's own details and sign-in settings.

A distributor also sees the last 4 of their tax id, with links to where payout details are kept:
the Identity and tax page (the tax id, set by certifying Form W-9 or W-8BEN) and the wallet (the
bank account payouts go to).
"""

from __future__ import annotations

import reflex as rx
from sqlmodel import Session

from mlmcrm import routes
from mlmcrm.components.forms import error_message, labelled_input, notice_message, section
from mlmcrm.components.layout import app_shell
from mlmcrm.errors import ValidationFailed
from mlmcrm.services.accounts import accounts, profile
from mlmcrm.services.platform import permissions
from mlmcrm.services.platform.actor import Actor
from mlmcrm.state.account import AccountState, account_handler


class ProfileState(AccountState):
    """The profile page."""

    email: str = ""
    phone: str = ""
    name: str = ""
    tax_id_last4: str = ""
    date_of_birth_on_file: bool = False
    payouts_card: bool = False

    def _load(self, *, actor: Actor, session: Session) -> None:
        shown = profile.get_profile(session=session, actor=actor, user_id=actor.user_id)  # type: ignore[arg-type]  # a signed-in actor has a user id
        self.email, self.phone = shown.email, shown.phone
        self.name = f"{shown.first_name} {shown.last_name}".strip()
        self.tax_id_last4 = shown.tax_id_last4
        self.date_of_birth_on_file = shown.date_of_birth_on_file
        self.payouts_card = actor.distributor_id is not None and permissions.can(
            "back_office.view", actor=actor
        )

    @rx.event
    @account_handler()
    def load(self, *, actor: Actor, session: Session) -> None:
        """Read the profile."""
        self._load(actor=actor, session=session)

    @rx.event
    @account_handler()
    def change_email(self, form_data: dict, *, actor: Actor, session: Session) -> None:
        """Change the login email (needs re-authentication)."""
        self.message = accounts.change_email(
            session=session, actor=actor, new_email=str(form_data.get("new_email", ""))
        )
        self._load(actor=actor, session=session)

    @rx.event
    @account_handler()
    def change_phone(self, form_data: dict, *, actor: Actor, session: Session) -> None:
        """Change the phone number (needs re-authentication)."""
        accounts.change_phone(session=session, actor=actor, phone=str(form_data.get("phone", "")))
        self.message = "Phone number saved."
        self._load(actor=actor, session=session)

    @rx.event
    @account_handler()
    def change_password(
        self, form_data: dict, *, actor: Actor, session: Session
    ) -> rx.event.EventSpec:
        """Change the password (needs re-authentication); every browser is signed out."""
        password = str(form_data.get("new_password", ""))
        if password != str(form_data.get("confirm_password", "")):
            raise ValidationFailed("The two passwords are not the same.")
        accounts.change_password(session=session, actor=actor, new_password=password)
        # Every session is revoked; the login page then forgets this tab's state.
        return rx.redirect(routes.LOGIN)

    @rx.event
    @account_handler()
    def save_date_of_birth(self, form_data: dict, *, actor: Actor, session: Session) -> None:
        """Save the date of birth, encrypted."""
        profile.update_date_of_birth(
            session=session, actor=actor, date_of_birth=str(form_data.get("date_of_birth", ""))
        )
        self.message = "Date of birth saved."
        self._load(actor=actor, session=session)


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


def _payouts_card() -> rx.Component:
    """Where a distributor's tax id and payout bank account are kept, with the tax id's last 4."""
    return section(
        "Payouts and taxes",
        rx.hstack(rx.text.strong("Tax id: "), _masked(ProfileState.tax_id_last4)),
        rx.text(
            "Your tax id comes from the tax form you certify (Form W-9, or W-8BEN outside the "
            "US); your payouts go to the bank account in your wallet.",
            size="2",
            color=rx.color("gray", 10),
        ),
        rx.hstack(
            rx.link("Identity and tax", href=routes.DISTRIBUTOR_TAX),
            rx.link("Wallet", href=routes.DISTRIBUTOR_WALLET),
            spacing="4",
            wrap="wrap",
        ),
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
        rx.cond(ProfileState.payouts_card, _payouts_card()),
        section(
            "Date of birth",
            rx.hstack(
                rx.text.strong("Date of birth: "),
                rx.cond(
                    ProfileState.date_of_birth_on_file, rx.text("On file"), rx.text("Not on file")
                ),
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
