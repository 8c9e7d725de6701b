"""``/account/tokens``: personal API tokens for ``/api/v1`` (created, listed, revoked)."""

from __future__ import annotations

import reflex as rx

from mlmcrm.components.forms import error_message, labelled_input, notice_message, section
from mlmcrm.components.layout import app_shell
from mlmcrm.db import session_scope
from mlmcrm.errors import DomainError, NotFound, ReauthenticationRequired
from mlmcrm.services.accounts import api_tokens
from mlmcrm.services.platform import permissions
from mlmcrm.state.account import AccountState
from mlmcrm.state.auth import shows_once
from mlmcrm.state.ids import parse_id


@shows_once("new_token")
class TokensState(AccountState):
    """The tokens page."""

    rows: list[dict[str, str]] = []
    new_token: str = ""

    @rx.event
    def load(self) -> None:
        """List the live tokens (the role is checked again here)."""
        self.new_token = self.error = self.message = ""
        self._list()

    def _list(self) -> None:
        actor = self._account_actor()
        if actor is None:
            self.rows = []
            return
        with session_scope("app", actor_id=actor.user_id) as session:
            listed = api_tokens.list_tokens(session=session, actor=actor)
        self.rows = [
            {
                "id": str(t.id),
                "name": t.name,
                "prefix": t.prefix + "…",
                "scopes": ", ".join(t.scopes),
                "created": t.created_at[:10],
                "last_used": t.last_used_at[:16].replace("T", " ") or "never",
                "expires": t.expires_at[:10],
            }
            for t in listed
        ]

    @rx.event
    def create(self, form_data: dict) -> rx.event.EventSpec | None:
        """Create a token and show it once."""
        self.error = self.message = self.new_token = ""
        actor = self._account_actor()
        if actor is None:
            return self._signed_out()
        scopes = [scope for scope in permissions.API_SCOPES if form_data.get(f"scope_{scope}")]
        lifetime = str(form_data.get("expires_in_days", "") or api_tokens.DEFAULT_LIFETIME_DAYS)
        if lifetime not in {str(days) for days in api_tokens.LIFETIME_CHOICES}:
            self.error = "Choose how long the token lives: " + ", ".join(
                f"{days} days" for days in api_tokens.LIFETIME_CHOICES
            )
            return None
        try:
            with session_scope("app", actor_id=actor.user_id) as session:
                _public, raw = api_tokens.create_token(
                    session=session,
                    actor=actor,
                    name=str(form_data.get("name", "")),
                    scopes=scopes,
                    expires_in_days=int(lifetime),
                )
        except ReauthenticationRequired:
            return self._confirm_first()
        except DomainError as exc:
            self.error = str(exc)
            return None
        self.new_token = raw
        self._list()
        return None

    @rx.event
    def revoke(self, token_id: str) -> rx.event.EventSpec | None:
        """Revoke one of the user's tokens."""
        self.error = self.message = ""
        actor = self._account_actor()
        if actor is None:
            return self._signed_out()
        wanted = parse_id(token_id)
        try:
            if wanted is None:
                raise NotFound("That token does not exist or was already revoked.")
            with session_scope("app", actor_id=actor.user_id) as session:
                api_tokens.revoke_token(session=session, actor=actor, token_id=wanted)
        except DomainError:
            self.error = "That token does not exist or was already revoked."
            return None
        self.message = "The token was revoked."
        self._list()
        return None


def _row(row: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(row["name"]),
        rx.table.cell(rx.code(row["prefix"])),
        rx.table.cell(row["scopes"]),
        rx.table.cell(row["created"]),
        rx.table.cell(row["last_used"]),
        rx.table.cell(row["expires"]),
        rx.table.cell(
            rx.button(
                "Revoke",
                on_click=TokensState.revoke(row["id"]),
                size="1",
                color_scheme="red",
                variant="soft",
            )
        ),
    )


def _content() -> rx.Component:
    scope_boxes = [
        rx.hstack(
            rx.el.input(type="checkbox", id=f"scope-{scope}", name=f"scope_{scope}"),
            rx.el.label(f"{scope}: {text}", html_for=f"scope-{scope}"),
            align="center",
        )
        for scope, text in permissions.API_SCOPES.items()
    ]
    return rx.vstack(
        error_message(TokensState.error),
        notice_message(TokensState.message),
        rx.cond(
            TokensState.new_token != "",
            rx.callout(
                rx.vstack(
                    rx.text("Copy your new token now: it will not be shown again."),
                    rx.code(TokensState.new_token, id="new-token"),
                ),
                icon="key-round",
                color_scheme="amber",
                width="100%",
            ),
        ),
        section(
            "New token",
            rx.form(
                rx.vstack(
                    labelled_input("Token name", "name", required=True, placeholder="Zapier"),
                    *scope_boxes,
                    rx.el.label("Expires after", html_for="expires-in-days"),
                    rx.el.select(
                        *[
                            rx.el.option(f"{days} days", value=str(days))
                            for days in api_tokens.LIFETIME_CHOICES
                        ],
                        id="expires-in-days",
                        name="expires_in_days",
                        default_value=str(api_tokens.DEFAULT_LIFETIME_DAYS),
                    ),
                    rx.button("Create token", type="submit"),
                    width="100%",
                ),
                on_submit=TokensState.create,
                reset_on_submit=True,
            ),
        ),
        rx.scroll_area(
            rx.table.root(
                rx.table.header(
                    rx.table.row(
                        *[
                            rx.table.column_header_cell(h)
                            for h in (
                                "Name",
                                "Token",
                                "Scopes",
                                "Created",
                                "Last used",
                                "Expires",
                                "",
                            )
                        ]
                    )
                ),
                rx.table.body(rx.foreach(TokensState.rows, _row)),
                variant="surface",
                width="100%",
            ),
            type="auto",
            scrollbars="horizontal",
            width="100%",
        ),
        rx.text(
            "Send a token as 'Authorization: Bearer <token>' to /api/v1 (see /api/docs).",
            size="2",
            color=rx.color("gray", 10),
        ),
        spacing="4",
        width="100%",
    )


def tokens_page() -> rx.Component:
    """The page."""
    return app_shell(_content(), title="API tokens", nav=None)
