"""The bell: unread in-app messages, the newest in a popover, and a link to the choices."""

from __future__ import annotations

import reflex as rx

from mlmcrm import routes
from mlmcrm.state.bell import BellState


def _item(item: rx.Var) -> rx.Component:
    return rx.box(
        rx.hstack(
            rx.text(item["title"], weight=rx.cond(item["read"] == "", "bold", "regular"), size="2"),
            rx.spacer(),
            rx.text(item["when"], size="1", color=rx.color("gray", 10)),
            width="100%",
        ),
        rx.text(item["body"], size="2", white_space="pre-wrap"),
        on_click=BellState.mark_read(item["id"]),
        padding="0.5rem",
        min_height="44px",
        border_bottom=f"1px solid {rx.color('gray', 4)}",
        cursor="pointer",
        width="100%",
    )


def bell() -> rx.Component:
    """The bell button with its unread count; the list opens in a popover."""
    return rx.popover.root(
        rx.popover.trigger(
            rx.box(
                rx.icon_button(
                    rx.icon("bell"),
                    variant="ghost",
                    aria_label="Notifications",
                    class_name="touch-target",
                    id="bell",
                ),
                rx.cond(
                    BellState.unread > 0,
                    rx.badge(
                        BellState.unread,
                        color_scheme="red",
                        radius="full",
                        id="bell-count",
                        position="absolute",
                        top="-4px",
                        right="-4px",
                    ),
                ),
                position="relative",
            )
        ),
        rx.popover.content(
            rx.vstack(
                rx.hstack(
                    rx.text("Notifications", weight="bold"),
                    rx.spacer(),
                    rx.button(
                        "Mark all read",
                        variant="ghost",
                        size="1",
                        on_click=BellState.mark_all_read,
                    ),
                    width="100%",
                ),
                rx.cond(
                    BellState.items.length() > 0,  # type: ignore[attr-defined]  # a list Var has length() at run time
                    rx.vstack(rx.foreach(BellState.items, _item), spacing="0", width="100%"),
                    rx.text("Nothing new.", size="2", color=rx.color("gray", 11)),
                ),
                rx.link("Choose how you hear from us", href=routes.ACCOUNT_NOTIFICATIONS, size="2"),
                spacing="2",
                width="100%",
                max_height="70vh",
                overflow_y="auto",
            ),
            width="22rem",
            max_width="95vw",
        ),
        on_open_change=lambda _open: BellState.load(),
    )
