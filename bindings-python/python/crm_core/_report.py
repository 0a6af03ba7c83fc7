"""Reports in Python terms: the query from keyword options, and the rows as a
DataFrame when pandas or polars is installed (amounts, percentages and durations are
already ``Decimal``: the results schema says where they are)."""

from __future__ import annotations

import importlib
from typing import Any, Mapping

#: Where each report keeps its rows.
ROWS = {"funnel": "stages", "rotting": "deals"}


def report_query(report: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """``{"type": "report", "report": ..., **options}``; ``from_`` stands for ``from``."""
    query: dict[str, Any] = {"type": "report", "report": report}
    for key, value in options.items():
        query[key.rstrip("_")] = value
    return query


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
