"""The one place where Python values become engine JSON and back.

In: ``Decimal`` -> decimal string, aware ``datetime`` -> RFC 3339, ``date`` -> ISO date,
``Money`` -> ``{"amount", "currency"}``; floats are refused (``0.1 + 0.2`` is not an
amount). Out: by the results schema generated from the engine's types
(``_results.schema.json``, docs/schemas/results.schema.json) — money objects become
``Money``, instants aware ``datetime``, dates ``date``, decimals ``Decimal`` — exactly
where the schema puts them, never by a key's name: a custom field keyed ``due`` or a
CSV column named ``created_at`` stays the text it is.
"""

from __future__ import annotations

import json
import math
from datetime import date, datetime, timezone
from decimal import Decimal
from importlib import resources
from typing import Any, Mapping, NamedTuple, Optional

from ._native import ValidationError


class Money(NamedTuple):
    """An exact amount in an ISO 4217 currency."""

    amount: Decimal
    currency: str


def _refuse(message: str) -> ValidationError:
    error = ValidationError(message)
    error.code = "validation"
    return error


def now_text(now: datetime) -> str:
    """An aware datetime as RFC 3339; naive datetimes are refused, never guessed."""
    if not isinstance(now, datetime):
        raise _refuse(f"now: expected a datetime, got {now!r}")
    if now.tzinfo is None or now.utcoffset() is None:
        raise _refuse(f"now: {now.isoformat()!r} has no time zone; pass an aware datetime")
    return now.isoformat()


def _amount(value: Any, path: str) -> str:
    """An exact decimal as text; a float (or NaN, infinity) is refused, naming the path."""
    if isinstance(value, bool):
        raise _refuse(f"{path}: expected a decimal, got {value!r}")
    if isinstance(value, float):
        raise _refuse(
            f"{path}: {value!r} is a float, which cannot hold an amount exactly; "
            f"pass a Decimal or a string like \"12.50\""
        )
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise _refuse(f"{path}: {value} is not a finite number")
        return str(value)
    if isinstance(value, (int, str)):
        return str(value)
    raise _refuse(f"{path}: expected a Decimal or a decimal string, got {type(value).__name__}")


def _to_plain(value: Any, path: str) -> Any:
    if isinstance(value, Money):
        return {"amount": _amount(value.amount, f"{path}.amount"), "currency": value.currency}
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _refuse(f"{path}: {value!r} is not a number JSON can carry")
        return value
    if isinstance(value, Decimal):
        return _amount(value, path)
    if isinstance(value, datetime):
        return now_text(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(key): _to_plain(item, f"{path}.{key}") for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_to_plain(item, f"{path}[{index}]") for index, item in enumerate(value)]
    raise TypeError(f"cannot send {type(value).__name__} to crm-core: {value!r}")


def to_json(value: Any, path: str = "command") -> str:
    """JSON text for the engine; ``path`` names where a refused value was."""
    return json.dumps(_to_plain(value, path), allow_nan=False)


# --- Out: by the results schema -------------------------------------------------------

_SCHEMA: dict[str, Any] = json.loads(
    resources.files(__package__).joinpath("_results.schema.json").read_text(encoding="utf-8")
)
_DEFS: dict[str, Any] = _SCHEMA["$defs"]
_MONEY = "#/$defs/Money"


def _types(schema: Mapping[str, Any]) -> set[str]:
    kind = schema.get("type")
    if kind is None:
        return set()
    return {kind} if isinstance(kind, str) else set(kind)


def _is_decimal(schema: Mapping[str, Any]) -> bool:
    return {"string", "number"} <= _types(schema) and "pattern" in schema


def _resolve(schema: Any) -> Any:
    """The schema with a ``$ref`` replaced by its definition; a ``$ref`` beside other
    keys (a tagged variant: the type plus its tag) becomes both, as an ``allOf``."""
    while isinstance(schema, dict) and "$ref" in schema and schema["$ref"] != _MONEY:
        target = _DEFS[schema["$ref"].rsplit("/", 1)[-1]]
        rest = {key: value for key, value in schema.items() if key != "$ref"}
        if rest:
            return {"allOf": [target, rest]}
        schema = target
    return schema


def _fits(branch: Any, value: Any) -> bool:
    """Whether ``value`` is of this branch of a ``oneOf``/``anyOf``."""
    branch = _resolve(branch)
    if not isinstance(branch, dict):
        return True
    if branch.get("$ref") == _MONEY:
        return isinstance(value, dict)
    kinds = _types(branch)
    if value is None:
        return "null" in kinds or not kinds and not branch.get("properties")
    if isinstance(value, dict):
        if kinds and "object" not in kinds:
            return False
        properties = branch.get("properties", {})
        for key, rule in properties.items():
            if isinstance(rule, dict) and "const" in rule and value.get(key) != rule["const"]:
                return False
        if any(key not in value for key in branch.get("required", [])):
            return False
        if branch.get("additionalProperties") is False and any(key not in properties for key in value):
            return False
        return all(_fits(part, value) for part in branch.get("allOf", []))
    if isinstance(value, list):
        return not kinds or "array" in kinds
    if isinstance(value, bool):
        return not kinds or "boolean" in kinds
    if isinstance(value, (int, float)):
        return not kinds or bool({"integer", "number"} & kinds)
    if isinstance(value, str):
        return not kinds or "string" in kinds or ("const" in branch and branch["const"] == value)
    return True


def convert(value: Any, schema: Any) -> Any:
    """``value`` (plain JSON) with its money, instants, dates and decimals typed, as
    ``schema`` says they are."""
    if value is None or not isinstance(schema, dict):
        return value
    if schema.get("$ref") == _MONEY:
        if isinstance(value, dict) and isinstance(value.get("amount"), str):
            return Money(Decimal(value["amount"]), value["currency"])
        return value
    schema = _resolve(schema)
    for union in ("oneOf", "anyOf"):
        if union in schema:
            branch = next((b for b in schema[union] if _fits(b, value)), None)
            if branch is None:
                return value
            value = convert(value, branch)
            rest = {key: item for key, item in schema.items() if key != union}
            return convert(value, rest) if rest.get("properties") or rest.get("allOf") else value
    for part in schema.get("allOf", []):
        value = convert(value, part)
    if isinstance(value, str):
        form = schema.get("format")
        if form == "date-time":
            return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(timezone.utc)
        if form == "date":
            return date.fromisoformat(value)
        if _is_decimal(schema):
            return Decimal(value)
        return value
    if isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, dict):
            return [convert(item, items) for item in value]
        return value
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        others = schema.get("additionalProperties")
        typed = {}
        for key, item in value.items():
            rule = properties.get(key, others if isinstance(others, dict) else None)
            typed[key] = convert(item, rule) if rule is not None else item
        return typed
    return value


def answer(entry: str) -> Any:
    """The schema of an entry point's answer: ``outcome``, ``events``, ``effects`` or
    ``query.<type>``."""
    return _SCHEMA["properties"].get(entry)


def from_json(text: str, entry: Optional[str] = None) -> Any:
    """An answer of the engine, typed by its entry point's schema (plain JSON without one)."""
    value = json.loads(text)
    schema = answer(entry) if entry else None
    return convert(value, schema) if schema is not None else value
