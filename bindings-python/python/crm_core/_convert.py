"""The one place where Python values become engine JSON and back.

In: ``Decimal`` -> decimal string, aware ``datetime`` -> RFC 3339, ``date`` -> ISO date,
``Money`` -> ``{"amount", "currency"}``. Out: money objects -> ``Money`` with a
``Decimal`` amount; timestamp fields (see docs/schema.md) -> aware ``datetime``.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any, NamedTuple

from ._native import ValidationError

#: Fields that hold an instant in the engine's JSON.
TIMESTAMP_FIELDS = frozenset(
    {"at", "created_at", "updated_at", "closed_at", "due", "occurred_at", "logged_at"}
)


class Money(NamedTuple):
    """An exact amount in an ISO 4217 currency."""

    amount: Decimal
    currency: str


def now_text(now: datetime) -> str:
    """An aware datetime as RFC 3339; naive datetimes are refused, never guessed."""
    if not isinstance(now, datetime):
        error = ValidationError(f"now: expected a datetime, got {now!r}")
        error.code = "validation"
        raise error
    if now.tzinfo is None or now.utcoffset() is None:
        error = ValidationError(f"now: {now.isoformat()!r} has no time zone; pass an aware datetime")
        error.code = "validation"
        raise error
    return now.isoformat()


def _default(value: Any) -> Any:
    if isinstance(value, Money):
        return {"amount": str(value.amount), "currency": value.currency}
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return now_text(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"cannot send {type(value).__name__} to crm-core: {value!r}")


def to_json(value: Any) -> str:
    return json.dumps(_convert_money_tuples(value), default=_default)


def _convert_money_tuples(value: Any) -> Any:
    # json.dumps writes NamedTuples as arrays before `default` sees them.
    if isinstance(value, Money):
        return _default(value)
    if isinstance(value, dict):
        return {key: _convert_money_tuples(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_convert_money_tuples(item) for item in value]
    return value


def _hook(obj: dict[str, Any]) -> Any:
    if obj.keys() == {"amount", "currency"} and isinstance(obj["amount"], str):
        return Money(Decimal(obj["amount"]), obj["currency"])
    for key in TIMESTAMP_FIELDS.intersection(obj):
        text = obj[key]
        if isinstance(text, str):
            obj[key] = datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)
    return obj


def from_json(text: str) -> Any:
    return json.loads(text, object_hook=_hook)
