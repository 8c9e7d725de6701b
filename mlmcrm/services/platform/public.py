"""Field types of the public models: what the API and the pages show of an entity.

Each entity has one ``XPublic`` Pydantic model in its domain package; ``/api/v1`` returns it and
page states fill their rows from it. Money in it is :data:`Money`: exact in Python, an exact
decimal string in JSON and in what a page sends to the browser, never a float.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import ConfigDict, PlainSerializer, WithJsonSchema

Money = Annotated[
    Decimal,
    PlainSerializer(lambda value: format(value, "f"), return_type=str, when_used="always"),
    WithJsonSchema({"type": "string", "format": "decimal", "examples": ["12.50"]}),
]
"""An exact amount; serialised as a decimal string such as ``"12.50"``."""


def exact_amount(value: Decimal) -> Decimal:
    """``value`` with cents always shown and no trailing zeros beyond them.

    ``Decimal("10.000000")`` becomes ``10.00`` and ``Decimal("0.123400")`` becomes ``0.1234``:
    the same number, written as a person reads an amount.
    """
    cents = value.quantize(Decimal("0.01"))
    if cents == value:
        return cents
    return value.normalize()


PUBLIC_CONFIG = ConfigDict(frozen=True, from_attributes=True)
"""The configuration every public model uses: immutable, buildable from a row."""
