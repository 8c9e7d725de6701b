"""``/account/2fa``: set up an authenticator app, recovery codes, turning 2FA off.

Staff land here right after their password until 2FA is on; nothing else opens before.
"""

from __future__ import annotations

import base64

import reflex as rx

from mlmcrm import routes
from mlmcrm.components.forms import (
    centered_card,
    error_message,
    labelled_input,
    notice_message,
    section,
)
from mlmcrm.components.layout import sign_out_form
from mlmcrm.db import session_scope
from mlmcrm.errors import DomainError, ReauthenticationRequired
from mlmcrm.services.accounts import two_factor
from mlmcrm.services.platform import permissions
from mlmcrm.services.platform.actor import Actor
from mlmcrm.state.account import AccountState
from mlmcrm.state.auth import shows_once


@shows_once("secret", "qr_data_uri", "recovery_codes")
class TwoFactorState(AccountState):
    """Enrolment and management of 2FA."""

    enabled: bool = False
    is_staff: bool = False
    recovery_left: int = 0
    secret: str = ""
    qr_data_uri: str = ""
    recovery_codes: list[str] = []

    def _enrolment_actor(self) -> Actor | None:
        """Signed in and past the 2FA challenge; staff who must enrol are let in here."""
        user = self._current_user()
        if user is None or user.needs_two_factor:
            return None
        return user.actor(self._client_ip())

    def _refresh(self, actor: Actor) -> None:
        with session_scope("app", actor_id=actor.user_id) as session:
            self.enabled, self.recovery_left = two_factor.two_factor_status(
                session=session, actor=actor
            )
        self.is_staff = actor.is_staff

    def _begin(self, actor: Actor) -> rx.event.EventSpec | None:
        try:
            with session_scope("app", actor_id=actor.user_id) as session:
                shown = two_factor.begin_enrolment(session=session, actor=actor)
        except ReauthenticationRequired:
            return self._confirm_first()
        self.secret = shown.secret
        self.qr_data_uri = "data:image/svg+xml;base64," + base64.b64encode(
            shown.qr_svg.encode()
        ).decode("ascii")
        return None

    @rx.event
    def load(self) -> rx.event.EventSpec | None:
        """Show the QR code at once when 2FA is off; the status when it is on."""
        self.error = self.message = ""
        self.recovery_codes = []
        self.secret = self.qr_data_uri = ""
        user = self._current_user()
        if user is None:
            return self._signed_out()
        if user.needs_two_factor:
            return rx.redirect(
                routes.with_next(routes.TWO_FACTOR_CHALLENGE, routes.TWO_FACTOR_SETUP)
            )
        actor = user.actor(self._client_ip())
        self._refresh(actor)
        if not self.enabled:
            return self._begin(actor)
        return None

    @rx.event
    def replace(self) -> rx.event.EventSpec | None:
        """Start moving 2FA to a new authenticator app (needs re-authentication)."""
        actor = self._enrolment_actor()
        if actor is None:
            return self._signed_out()
        return self._begin(actor)

    @rx.event
    def confirm(self, form_data: dict) -> rx.event.EventSpec | None:
        """Turn 2FA on with a code from the app; show the recovery codes once."""
        self.error = ""
        actor = self._enrolment_actor()
        if actor is None:
            return self._signed_out()
        try:
            with session_scope("app", actor_id=actor.user_id) as session:
                codes = two_factor.confirm_enrolment(
                    session=session, actor=actor, code=str(form_data.get("code", ""))
                )
        except ReauthenticationRequired:
            return self._confirm_first()
        except DomainError as exc:
            self.error = str(exc)
            return None
        self.recovery_codes = codes
        self.secret = self.qr_data_uri = ""
        self._refresh(actor)
        self.message = "Two-factor authentication is on."
        return None

    @rx.event
    def new_recovery_codes(self) -> rx.event.EventSpec | None:
        """Replace the recovery codes (needs re-authentication)."""
        self.error = ""
        actor = self.actor_for("account.self")
        if actor is None:
            return self._signed_out()
        try:
            with session_scope("app", actor_id=actor.user_id) as session:
                self.recovery_codes = two_factor.regenerate_recovery_codes(
                    session=session, actor=actor
                )
        except ReauthenticationRequired:
            return self._confirm_first()
        except DomainError as exc:
            self.error = str(exc)
            return None
        self._refresh(actor)
        return None

    @rx.event
    def turn_off(self) -> rx.event.EventSpec | None:
        """Turn 2FA off (distributors only; needs re-authentication)."""
        self.error = ""
        actor = self.actor_for("account.self")
        if actor is None:
            return self._signed_out()
        try:
            with session_scope("app", actor_id=actor.user_id) as session:
                two_factor.disable(session=session, actor=actor)
        except ReauthenticationRequired:
            return self._confirm_first()
        except DomainError as exc:
            self.error = str(exc)
            return None
        self._refresh(actor)
        self.message = "Two-factor authentication is off."
        return None

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
