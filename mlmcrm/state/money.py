"""Exact money in page state: a ``Decimal`` reaches the browser as a decimal string.

Reflex serialises ``Decimal`` as a float by default, which turns ``0.1 + 0.2`` into
``0.30000000000000004`` and a large amount into a rounded one. Importing this module (the
shared :mod:`mlmcrm.state.auth` does) replaces that serialiser for the whole app.
"""

from __future__ import annotations

from decimal import Decimal

import reflex as rx


@rx.serializer(overwrite=True, to=str)
def decimal_as_text(value: Decimal) -> str:
    """``value`` as its exact decimal text (``"12.50"``)."""
    return format(value, "f")
