"""Reading a cart form: the shop page and a distributor's own order share one form shape."""

from __future__ import annotations

from typing import Any

from mlmcrm.errors import ValidationFailed


def cart_from_form(form_data: dict[str, Any]) -> tuple[list[tuple[str, str]], int | None]:
    """The ``(sku, quantity)`` lines and the autoship day of a submitted cart form.

    Quantities are the ``qty_<sku>`` fields as typed (the order service validates them); empty
    and zero quantities are left out.

    Raises:
        ValidationFailed: Autoship is ticked without a day of the month.
    """
    lines = [
        (name.removeprefix("qty_"), str(value).strip())
        for name, value in form_data.items()
        if name.startswith("qty_") and str(value).strip() not in ("", "0")
    ]
    autoship_day = None
    if is_ticked(form_data, "autoship"):
        day = str(form_data.get("autoship_day", "")).strip()
        if not day.isdigit():
            raise ValidationFailed("Choose the day of the month for your autoship (1 to 28).")
        autoship_day = int(day)
    return lines, autoship_day


def is_ticked(form_data: dict[str, Any], name: str) -> bool:
    """Whether the form's checkbox ``name`` was ticked (browsers send ``on``)."""
    return form_data.get(name) in ("on", True, "true")
