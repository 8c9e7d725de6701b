"""Shown when a signed-in user opens a page their role does not include."""

from __future__ import annotations

import reflex as rx

from mlmcrm import routes
from mlmcrm.components.layout import brand, ready_marker
from mlmcrm.state.auth import AuthState


def forbidden_page() -> rx.Component:
    """The page."""
    return rx.center(
        ready_marker(),
        rx.card(
            rx.vstack(
                brand(),
                rx.heading("You don't have access to that page", size="5"),
                rx.text(
                    "Your role does not include it. If you think it should, ask your company's "
                    "administrator.",
                    color=rx.color("gray", 11),
                ),
                rx.button("Go to my home page", on_click=AuthState.route_home),
                spacing="4",
            ),
            max_width="28rem",
            padding="1.5rem",
        ),
        min_height="100vh",
        padding="1rem",
    )


def index_page() -> rx.Component:
    """``/``: sends the visitor on to their home page or to the login page."""
    return rx.center(ready_marker(), rx.spinner(size="3"), min_height="100vh")


__all__ = ["forbidden_page", "index_page", "routes"]
