"""Reading the pay form: the shop page and a distributor's own order share its fields."""

from __future__ import annotations

from typing import Any

from mlmcrm.errors import ValidationFailed


def autoship_day_from(form_data: dict[str, Any]) -> int | None:
    """The autoship day of a submitted pay form, or None when autoship is not ticked.

    The order service checks that the day is from 1 to 28.

    Raises:
        ValidationFailed: Autoship is ticked without a whole day of the month.
    """
    if not is_ticked(form_data, "autoship"):
        return None
    day = str(form_data.get("autoship_day", "")).strip()
    if not day.isdigit() or len(day) > 2:
        raise ValidationFailed("Choose the day of the month for your autoship (1 to 28).")
    return int(day)


def is_ticked(form_data: dict[str, Any], name: str) -> bool:
    """Whether the form's checkbox ``name`` was ticked (browsers send ``on``)."""
    return form_data.get(name) in ("on", True, "true")
