"""Form pieces shared by the account pages: labelled inputs, messages and a centred card."""

from __future__ import annotations

import reflex as rx

from mlmcrm.components.layout import brand, ready_marker


def labelled_input(
    label: str,
    name: str,
    *,
    type: str = "text",
    auto_complete: str = "off",
    required: bool = False,
    placeholder: str = "",
    **props,
) -> rx.Component:
    """An input with a ``<label>`` tied to it (tests and screen readers find it by the label)."""
    field_id = props.pop("id", name.replace("_", "-"))
    return rx.vstack(
        rx.el.label(
            label,
            html_for=field_id,
            style={"fontSize": "var(--font-size-2)", "fontWeight": "500"},
        ),
        rx.input(
            id=field_id,
            name=name,
            type=type,
            auto_complete=auto_complete,
            required=required,
            placeholder=placeholder,
            width="100%",
            size="3",
            **props,
        ),
        spacing="1",
        width="100%",
    )


def error_message(message: rx.Var) -> rx.Component:
    """A red alert shown while ``message`` is not empty."""
    return rx.cond(
        message != "",
        rx.callout(message, icon="triangle-alert", color_scheme="red", role="alert", width="100%"),
    )


def notice_message(message: rx.Var) -> rx.Component:
    """A green status line shown while ``message`` is not empty."""
    return rx.cond(
        message != "",
        rx.callout(message, icon="circle-check", color_scheme="green", role="status", width="100%"),
    )


def centered_card(*children: rx.Component, max_width: str = "26rem") -> rx.Component:
    """The layout of the signed-out pages: the brand and a card in the middle of the screen."""
    return rx.center(
        ready_marker(),
        rx.card(
            rx.vstack(brand(), *children, spacing="4", width="100%"),
            width="100%",
            max_width=max_width,
            padding="1.5rem",
        ),
        min_height="100vh",
        padding="1rem",
        background=rx.color("gray", 2),
    )


def section(title: str, *children: rx.Component) -> rx.Component:
    """A card with a heading, for one topic of a settings page."""
    return rx.card(
        rx.vstack(rx.heading(title, size="4"), *children, spacing="3", width="100%"),
        width="100%",
    )


def filter_select(name: str, label: str, values: tuple[str, ...]) -> rx.Component:
    """A list filter's drop-down: "Any <label>" or one of ``values`` (submitted as ``name``)."""
    return rx.el.select(
        rx.el.option(f"Any {label.lower()}", value=""),
        *[rx.el.option(value, value=value) for value in values],
        name=name,
        aria_label=f"Filter by {label.lower()}",
        style={"padding": "0.4rem"},
        class_name="touch-target",
    )
