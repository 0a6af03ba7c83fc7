"""Reports in Python terms: the query from keyword options, amounts and durations as
``Decimal``, and the rows as a DataFrame when pandas or polars is installed."""

from __future__ import annotations

import importlib
from decimal import Decimal
from typing import Any, Mapping

#: Fields that hold money per currency, e.g. ``{"EUR": "1500.00"}``.
SUM_FIELDS = frozenset(
    {"won_amount", "paid", "amount", "weighted", "average_won", "revenue", "average_bill"}
)
#: Fields that hold one decimal number as a string.
NUMBER_FIELDS = frozenset(
    {"conversion", "win_rate", "late_share", "visits_per_client", "mean_seconds", "median_seconds"}
)
#: Where each report keeps its rows.
ROWS = {"funnel": "stages", "rotting": "deals"}


def report_query(report: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """``{"type": "report", "report": ..., **options}``; ``from_`` stands for ``from``."""
    query: dict[str, Any] = {"type": "report", "report": report}
    for key, value in options.items():
        query[key.rstrip("_")] = value
    return query


def report_values(value: Any) -> Any:
    """The report with its amounts, percentages and durations as ``Decimal``."""
    if isinstance(value, list):
        return [report_values(item) for item in value]
    if not isinstance(value, dict):
        return value
    converted: dict[str, Any] = {}
    for key, item in value.items():
        if key in SUM_FIELDS and isinstance(item, dict):
            converted[key] = {currency: Decimal(amount) for currency, amount in item.items()}
        elif key in NUMBER_FIELDS and isinstance(item, str):
            converted[key] = Decimal(item)
        else:
            converted[key] = report_values(item)
    return converted


def _flatten(row: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in row.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}."))
        elif isinstance(value, tuple) and hasattr(value, "_asdict"):
            flat.update(_flatten(value._asdict(), f"{name}."))
        else:
            flat[name] = value
    return flat


def report_frame(report: Mapping[str, Any]) -> Any:
    """The rows of a report (its single summary for ``clients``) as a DataFrame."""
    kind = report["report"]
    rows = [report] if kind == "clients" else report[ROWS.get(kind, "rows")]
    flat = [_flatten({k: v for k, v in row.items() if k != "report"}) for row in rows]
    for module in ("pandas", "polars"):
        try:
            library = importlib.import_module(module)
        except ImportError:
            continue
        return library.DataFrame(flat)
    raise ImportError("report_frame needs pandas or polars: pip install pandas")
