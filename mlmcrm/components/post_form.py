"""Forms the browser submits itself, for posts that must end in a full page load."""

from __future__ import annotations

import reflex as rx
from reflex_base.vars.base import Var
from reflex_components_core.el.elements.base import BaseHTML


class PostForm(BaseHTML):
    """A plain ``<form>`` that the browser itself submits (Reflex's form always cancels that).

    For the posts that must end in a full page load: signing in and out, where the server sets
    or clears an HttpOnly cookie that page scripts never see.
    """

    tag = "form"

    action: Var[str]
    method: Var[str]


def post_form(*children: rx.Component, action: str, **props) -> rx.Component:  # type: ignore[no-untyped-def]  # style props
    """A :class:`PostForm` posting to ``action``."""
    return PostForm.create(*children, action=action, method="post", **props)
