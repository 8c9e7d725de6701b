"""``/account/2fa``: set up an authenticator app, recovery codes, turning 2FA off.

Staff land here right after their password until 2FA is on; nothing else opens before.
"""

from __future__ import annotations

import base64

import reflex as rx
from sqlmodel import Session

from mlmcrm import routes
from mlmcrm.components.forms import (
    centered_card,
    error_message,
    labelled_input,
    notice_message,
    section,
)
from mlmcrm.components.layout import sign_out_form
from mlmcrm.services.accounts import two_factor
from mlmcrm.services.platform import permissions
from mlmcrm.services.platform.actor import Actor
from mlmcrm.state.account import AccountState, account_handler
from mlmcrm.state.auth import PageOpener, shows_once

ENROL = "two_factor.enrol"
"""The permission of the enrolment handlers: staff who must still set up 2FA hold it too."""


@shows_once("secret", "qr_data_uri", "recovery_codes")
class TwoFactorState(PageOpener, AccountState):
    """Enrolment and management of 2FA."""

    enabled: bool = False
    is_staff: bool = False
    recovery_left: int = 0
    secret: str = ""
    qr_data_uri: str = ""
    recovery_codes: list[str] = []

    def actor_for(self, permission: str) -> Actor | None:
        """As everywhere, except that enrolling needs only a password and an answered challenge.

        Staff land here right after their password, before they have a second factor; this is
        the one page whose handlers act for them then.
        """
        if permission != ENROL:
            return super().actor_for(permission)
        user = self._current_user()
        if user is None or user.needs_two_factor:
            return None
        actor = user.actor(self._client_ip())
        return actor if permissions.can(ENROL, actor=actor) else None

    def _refused(self) -> rx.event.EventSpec:
        user = self._current_user()
        if user is not None and user.needs_two_factor:
            return rx.redirect(
                routes.with_next(routes.TWO_FACTOR_CHALLENGE, routes.TWO_FACTOR_SETUP)
            )
        return self._signed_out()

    def _refresh(self, *, actor: Actor, session: Session) -> None:
        self.enabled, self.recovery_left = two_factor.two_factor_status(
            session=session, actor=actor
        )
        self.is_staff = actor.is_staff

    def _begin(self, *, actor: Actor, session: Session) -> None:
        shown = two_factor.begin_enrolment(session=session, actor=actor)
        self.secret = shown.secret
        self.qr_data_uri = "data:image/svg+xml;base64," + base64.b64encode(
            shown.qr_svg.encode()
        ).decode("ascii")

    @rx.event
    @account_handler(
        ENROL,
        clear=("error", "message", "secret", "qr_data_uri"),
        refused=lambda state: state._refused(),
    )
    def load(self, *, actor: Actor, session: Session) -> None:
        """Show the QR code at once when 2FA is off; the status when it is on."""
        self.recovery_codes = []
        self._refresh(actor=actor, session=session)
        if not self.enabled:
            self._begin(actor=actor, session=session)

    @rx.event
    @account_handler(ENROL, clear=())
    def replace(self, *, actor: Actor, session: Session) -> None:
        """Start moving 2FA to a new authenticator app (needs re-authentication)."""
        self._begin(actor=actor, session=session)

    @rx.event
    @account_handler(ENROL, clear=("error",))
    def confirm(self, form_data: dict, *, actor: Actor, session: Session) -> None:
        """Turn 2FA on with a code from the app; show the recovery codes once."""
        self.recovery_codes = two_factor.confirm_enrolment(
            session=session, actor=actor, code=str(form_data.get("code", ""))
        )
        self.secret = self.qr_data_uri = ""
        self._refresh(actor=actor, session=session)
        self.message = "Two-factor authentication is on."

    @rx.event
    @account_handler(clear=("error",))
    def new_recovery_codes(self, *, actor: Actor, session: Session) -> None:
        """Replace the recovery codes (needs re-authentication)."""
        self.recovery_codes = two_factor.regenerate_recovery_codes(session=session, actor=actor)
        self._refresh(actor=actor, session=session)

    @rx.event
    @account_handler(clear=("error",))
    def turn_off(self, *, actor: Actor, session: Session) -> None:
        """Turn 2FA off (distributors only; needs re-authentication)."""
        two_factor.disable(session=session, actor=actor)
        self._refresh(actor=actor, session=session)
        self.message = "Two-factor authentication is off."

    @rx.event
    def done(self) -> rx.event.EventSpec:
        """Leave the page once the recovery codes are saved."""
        self.recovery_codes = []
        role = self.user_role or "distributor"
        return rx.redirect(self._next_path(permissions.home_path(role)))


def _recovery_codes() -> rx.Component:
    return rx.vstack(
        rx.callout(
            "Save these recovery codes somewhere safe. Each works once if you lose your phone. "
            "They are shown only now.",
            icon="key-round",
            color_scheme="amber",
            width="100%",
        ),
        rx.grid(
            rx.foreach(
                TwoFactorState.recovery_codes,
                lambda code: rx.code(code, size="3", class_name="recovery-code"),
            ),
            columns="2",
            spacing="2",
            aria_label="Recovery codes",
        ),
        rx.button("I saved my recovery codes", on_click=TwoFactorState.done, size="3"),
        spacing="3",
        width="100%",
    )


def _enrolment() -> rx.Component:
    return rx.vstack(
        rx.text(
            "Scan this QR code with an authenticator app (such as Google Authenticator, 1Password "
            "or Aegis), then enter the 6-digit code it shows.",
        ),
        rx.image(
            src=TwoFactorState.qr_data_uri,
            alt="QR code for your authenticator app",
            width="12rem",
            height="12rem",
        ),
        rx.text("Or type this key: ", rx.code(TwoFactorState.secret, id="totp-secret"), size="2"),
        rx.form(
            rx.vstack(
                labelled_input(
                    "Code from the app", "code", auto_complete="one-time-code", required=True
                ),
                rx.button("Turn on two-factor authentication", type="submit", size="3"),
                spacing="3",
                width="100%",
            ),
            on_submit=TwoFactorState.confirm,
            reset_on_submit=True,
        ),
        spacing="3",
        width="100%",
    )


def _status() -> rx.Component:
    return section(
        "Status",
        rx.text("Two-factor authentication is on."),
        rx.text(TwoFactorState.recovery_left.to_string() + " unused recovery codes left."),
        rx.hstack(
            rx.button(
                "Use a new authenticator app", on_click=TwoFactorState.replace, variant="soft"
            ),
            rx.button(
                "New recovery codes", on_click=TwoFactorState.new_recovery_codes, variant="soft"
            ),
            rx.cond(
                ~TwoFactorState.is_staff,
                rx.button(
                    "Turn off", on_click=TwoFactorState.turn_off, color_scheme="red", variant="soft"
                ),
            ),
            wrap="wrap",
        ),
    )


def two_factor_page() -> rx.Component:
    """The page."""
    return centered_card(
        rx.heading("Two-factor authentication", size="6"),
        rx.cond(
            TwoFactorState.is_staff & ~TwoFactorState.enabled,
            rx.text(
                "Company staff must use two-factor authentication. Set it up to continue.",
                color=rx.color("gray", 11),
            ),
        ),
        error_message(TwoFactorState.error),
        notice_message(TwoFactorState.message),
        rx.cond(
            TwoFactorState.recovery_codes.length() > 0,
            _recovery_codes(),
            rx.cond(
                TwoFactorState.secret != "",
                _enrolment(),
                rx.cond(TwoFactorState.enabled, _status()),
            ),
        ),
        rx.hstack(
            rx.link("Back to my account", href=routes.ACCOUNT, size="2"),
            rx.spacer(),
            sign_out_form(variant="ghost", size="2"),
            width="100%",
        ),
        max_width="32rem",
    )
