"""Python values to engine JSON and back: the work is done natively (the extension's
``conversion`` module); this module holds ``Money`` and the names the package uses.

In: ``Decimal`` -> decimal string, aware ``datetime`` -> RFC 3339, ``date`` -> ISO date,
``Money`` -> ``{"amount", "currency"}``; floats are refused where an amount belongs
(``0.1 + 0.2`` is not an amount). Out: by the results schema generated from the
engine's types (``_results.schema.json``, docs/schemas/results.schema.json) — money
objects become ``Money``, instants aware ``datetime``, dates ``date``, decimals
``Decimal`` — exactly where the schema puts them, never by a key's name: a custom field
keyed ``due`` or a CSV column named ``created_at`` stays the text it is.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple, Optional


class Money(NamedTuple):
    """An exact amount in an ISO 4217 currency."""

    amount: Decimal
    currency: str


# Imported after Money: the extension looks Money up here when it first converts one.
from . import _native  # noqa: E402


def now_text(now: datetime) -> str:
    """An aware datetime as RFC 3339; naive datetimes are refused, never guessed."""
    return _native.instant_text(now, "now")


def to_json(value: Any, path: str = "command") -> str:
    """JSON text for the engine; ``path`` names where a refused value was."""
    return _native.to_json(value, path)


def from_json(text: str, entry: Optional[str] = None) -> Any:
    """An answer of the engine, typed by its entry point's schema (plain JSON without one)."""
    return _native.typed(entry, text) if entry else json.loads(text)
