"""``/account/tokens``: personal API tokens for ``/api/v1`` (created, listed, revoked)."""

from __future__ import annotations

import reflex as rx
from sqlmodel import Session

from mlmcrm.components.data_table import simple_table
from mlmcrm.components.forms import error_message, labelled_input, notice_message, section
from mlmcrm.components.layout import app_shell
from mlmcrm.errors import NotFound, ValidationFailed
from mlmcrm.services.accounts import api_tokens
from mlmcrm.services.platform import permissions
from mlmcrm.services.platform.actor import Actor
from mlmcrm.state.account import AccountState, account_handler
from mlmcrm.state.auth import PageOpener, shows_once
from mlmcrm.state.ids import parse_id
from mlmcrm.state.paged_list import Column

COLUMNS = (
    Column("name", "Name"),
    Column("prefix", "Token"),
    Column("scopes", "Scopes"),
    Column("created", "Created"),
    Column("last_used", "Last used"),
    Column("expires", "Expires"),
)
GONE = "That token does not exist or was already revoked."


@shows_once("new_token")
class TokensState(PageOpener, AccountState):
    """The tokens page."""

    rows: list[dict[str, str]] = []
    new_token: str = ""

    def _list(self, *, actor: Actor, session: Session) -> None:
        self.rows = [
            {
                "id": str(t.id),
                "name": t.name,
                "prefix": t.prefix + "…",
                "scopes": ", ".join(t.scopes),
                "created": t.created_at[:10],
                "last_used": self.reader().moment(t.last_used_at) or "never",
                "expires": t.expires_at[:10],
            }
            for t in api_tokens.list_tokens(session=session, actor=actor)
        ]

    @rx.event
    @account_handler(clear=("error", "message", "new_token"))
    def load(self, *, actor: Actor, session: Session) -> None:
        """List the live tokens."""
        self._list(actor=actor, session=session)

    @rx.event
    @account_handler(clear=("error", "message", "new_token"))
    def create(self, form_data: dict, *, actor: Actor, session: Session) -> None:
        """Create a token and show it once (needs re-authentication)."""
        scopes = [scope for scope in permissions.API_SCOPES if form_data.get(f"scope_{scope}")]
        lifetime = str(form_data.get("expires_in_days", "") or api_tokens.DEFAULT_LIFETIME_DAYS)
        if lifetime not in {str(days) for days in api_tokens.LIFETIME_CHOICES}:
            raise ValidationFailed(
                "Choose how long the token lives: "
                + ", ".join(f"{days} days" for days in api_tokens.LIFETIME_CHOICES)
            )
        _public, raw = api_tokens.create_token(
            session=session,
            actor=actor,
            name=str(form_data.get("name", "")),
            scopes=scopes,
            expires_in_days=int(lifetime),
        )
        self.new_token = raw
        self._list(actor=actor, session=session)

    @rx.event
    @account_handler()
    def revoke(self, token_id: str, *, actor: Actor, session: Session) -> None:
        """Revoke one of the user's tokens (another's is 'not found')."""
        wanted = parse_id(token_id)
        if wanted is None:
            raise NotFound(GONE)
        api_tokens.revoke_token(session=session, actor=actor, token_id=wanted)
        self.message = "The token was revoked."
        self._list(actor=actor, session=session)


def _revoke_button(row: rx.Var) -> rx.Component:
    return rx.button(
        "Revoke",
        on_click=TokensState.revoke(row["id"]),
        size="1",
        color_scheme="red",
        variant="soft",
        class_name="touch-target",
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
        simple_table(
            COLUMNS,
            TokensState.rows,
            row_id="token-row-",
            actions=_revoke_button,
            empty_text="No API tokens yet.",
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
