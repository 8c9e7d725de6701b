"""Form pieces shared by the account pages: labelled inputs, messages and a centred card."""

from __future__ import annotations

from collections.abc import Sequence

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


def info_message(message: rx.Var, *, message_id: str = "") -> rx.Component:
    """A blue callout shown while ``message`` is not empty: information, not an error.

    For what is simply not there yet (a period the engine has not run): say what will happen
    and when.
    """
    return rx.cond(
        message != "",
        rx.callout(
            message,
            icon="info",
            color_scheme="blue",
            role="status",
            width="100%",
            **({"id": message_id} if message_id else {}),
        ),
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


Choices = Sequence[tuple[str, str]] | rx.Var
"""A select's choices: ``(value, label)`` pairs, or a list var of ``{"value", "label"}`` dicts."""


def _options(choices: Choices) -> list[rx.Component]:
    if isinstance(choices, rx.Var):
        return [
            rx.foreach(
                choices,
                lambda choice: rx.el.option(choice["label"], value=choice["value"]),
            )
        ]
    return [rx.el.option(text, value=value) for value, text in choices]


def value_choices(values: Sequence[str]) -> list[tuple[str, str]]:
    """``(value, label)`` pairs of value constants ("partly_refunded": "Partly refunded")."""
    return [(value, value.replace("_", " ").capitalize()) for value in values]


def labelled_select(
    label: str,
    name: str,
    choices: Choices,
    *,
    any_label: str | None = None,
    **props,
) -> rx.Component:
    """A drop-down of known values with a ``<label>`` tied to it (a list filter, a form field).

    The choices come from where the values live (a service's or model's constants, the
    database), never typed again in the page; the handler still checks what is sent.

    Args:
        label: The visible label.
        name: The form field's name.
        choices: ``(value, label)`` pairs, or a list var of ``{"value", "label"}`` dicts.
        any_label: When given, a first choice with this text and the value ``""`` (no filter).
        **props: Passed to the ``<select>`` (``id`` defaults to ``name``).
    """
    field_id = props.pop("id", name.replace("_", "-"))
    first = [rx.el.option(any_label, value="")] if any_label is not None else []
    return rx.vstack(
        rx.el.label(
            label,
            html_for=field_id,
            style={"fontSize": "var(--font-size-2)", "fontWeight": "500"},
        ),
        rx.el.select(
            *first,
            *_options(choices),
            id=field_id,
            name=name,
            style={
                "padding": "0.4rem 0.6rem",
                "minHeight": "2.5rem",
                "border": "1px solid var(--gray-a7)",
                "borderRadius": "var(--radius-2)",
                "background": "var(--color-surface)",
                "color": "var(--gray-12)",
            },
            class_name="touch-target",
            **props,
        ),
        spacing="1",
    )
