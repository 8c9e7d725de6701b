"""``/account/notifications``: how the person hears from us, kind by kind.

For each kind of message: the channels it goes by (email, SMS, in-app, push) and whether a daily
digest replaces the single emails. Messages the account needs keep their email.
"""

from __future__ import annotations

import reflex as rx
from sqlmodel import Session

from mlmcrm.components.forms import error_message, notice_message, section
from mlmcrm.components.layout import app_shell
from mlmcrm.services.messaging import inbox
from mlmcrm.services.platform.actor import Actor
from mlmcrm.state.account import AccountState, account_handler
from mlmcrm.state.auth import PageOpener

CHANNEL_LABELS = {"email": "Email", "sms": "SMS", "in_app": "In the app", "push": "Push"}


class NotificationsState(PageOpener, AccountState):
    """The person's choices, one row per kind of message."""

    rows: list[dict[str, str]] = []

    def _load(self, *, actor: Actor, session: Session) -> None:
        self.rows = [
            {
                "kind": p.kind,
                "label": p.label,
                "digest": "yes" if p.digest else "",
                "switchable": "yes" if p.switchable else "",
                **{f"has_{c}": "yes" if c in p.channels else "" for c in CHANNEL_LABELS},
                **{f"on_{c}": "yes" if c in p.chosen else "" for c in CHANNEL_LABELS},
            }
            for p in inbox.preferences(session=session, actor=actor)
        ]

    @rx.event
    @account_handler()
    def load(self, *, actor: Actor, session: Session) -> None:
        """Read the person's choices."""
        self._load(actor=actor, session=session)

    @rx.event
    @account_handler()
    def save(self, form_data: dict, *, actor: Actor, session: Session) -> None:
        """Keep the channels ticked for one kind of message."""
        data = form_data if isinstance(form_data, dict) else {}
        ticked = [c for c in CHANNEL_LABELS if data.get(c) in ("on", True, "true")]
        chosen = inbox.set_preference(
            session=session,
            actor=actor,
            kind=str(data.get("kind", "")),
            channels=ticked,
            digest=data.get("digest") in ("on", True, "true"),
        )
        self.message = f"Saved: {chosen.label}."
        self._load(actor=actor, session=session)


def _channel(row: rx.Var, channel: str) -> rx.Component:
    return rx.cond(
        row[f"has_{channel}"] != "",
        rx.el.label(
            rx.el.input(
                type="checkbox",
                name=channel,
                default_checked=row[f"on_{channel}"] != "",
                disabled=(row["switchable"] == "") & (channel == "email"),
            ),
            " ",
            CHANNEL_LABELS[channel],
            class_name="touch-target",
            style={"display": "inline-flex", "alignItems": "center", "gap": "0.3rem"},
        ),
    )


def _row(row: rx.Var) -> rx.Component:
    return rx.form(
        rx.el.input(type="hidden", name="kind", value=row["kind"]),
        rx.hstack(
            rx.text(row["label"], weight="medium", min_width="14rem"),
            *[_channel(row, channel) for channel in CHANNEL_LABELS],
            rx.el.label(
                rx.el.input(type="checkbox", name="digest", default_checked=row["digest"] != ""),
                " Daily digest",
                class_name="touch-target",
                style={"display": "inline-flex", "alignItems": "center", "gap": "0.3rem"},
            ),
            rx.button("Save", type="submit", size="1", class_name="touch-target"),
            rx.cond(row["switchable"] == "", rx.text("(the account needs its email)", size="1")),
            wrap="wrap",
            align="center",
            width="100%",
        ),
        on_submit=NotificationsState.save,
        reset_on_submit=False,
        key=row["kind"],
        width="100%",
        padding_y="0.5rem",
        border_bottom=f"1px solid {rx.color('gray', 4)}",
    )


def notifications_page() -> rx.Component:
    """The page."""
    return app_shell(
        rx.vstack(
            error_message(NotificationsState.error),
            notice_message(NotificationsState.message),
            section(
                "How you hear from us",
                rx.text(
                    "Choose, for each kind of message, how it reaches you. Texts (SMS) go only "
                    "to a mobile number that agreed to them; reply STOP to any text to stop them.",
                    size="2",
                    color=rx.color("gray", 11),
                ),
                rx.foreach(NotificationsState.rows, _row),
            ),
            spacing="4",
            width="100%",
        ),
        title="Notifications",
        nav=None,
    )
