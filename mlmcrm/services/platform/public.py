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

PUBLIC_CONFIG = ConfigDict(frozen=True, from_attributes=True)
"""The configuration every public model uses: immutable, buildable from a row."""
