"""What the typed Python layer costs over the engine: each call timed typed (Python
values in and out) and raw (``execute_json``/``query_json``: JSON text in and out, the
engine's own cost plus the crossing), on the same engine, side by side.

Run with a release build of the extension (scripts/bench-python does both):
    .venv/bin/python crm-bench/python_bench.py
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Callable

from crm_core import Crm, Money

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=timezone.utc)
T0_TEXT = T0.isoformat()


def side_by_side(typed: Callable[[], Any], raw: Callable[[], Any], *, repeat: int = 5,
                 number: int = 500) -> tuple[float, float]:
    """The best mean time of one call, in microseconds, typed and raw: batches of
    `number` calls, alternating, `repeat` times each (so both see the same history)."""
    best = [float("inf"), float("inf")]
    for _ in range(repeat):
        for which, fn in enumerate((typed, raw)):
            start = time.perf_counter()
            for _ in range(number):
                fn()
            best[which] = min(best[which], (time.perf_counter() - start) / number)
    return best[0] * 1e6, best[1] * 1e6


def shop() -> tuple[Crm, str, str, list[str], str]:
    crm = Crm(replica_id=1, default_region="DE")
    admin = crm.create_user("system", T0, "Olga", role="admin")
    manager = crm.create_user(admin, T0, "Anton", role="manager")
    pipeline = crm.create_pipeline(admin, T0, "Windows", ["New", "Offer", {"name": "Won", "kind": "won"}])
    stages = [stage["id"] for stage in crm.get(admin, T0, pipeline)["stages"]]
    deal = crm.create_deal(manager, T0, "3 windows", pipeline=pipeline, amount=Money(Decimal("1250.00"), "EUR"))
    for n in range(200):
        other = crm.create_deal(manager, T0, f"deal {n}", pipeline=pipeline, amount=Money(Decimal(n), "EUR"))
        if n % 3 == 0:
            crm.move_deal(manager, T0, other, stages[2])
    return crm, manager, deal, stages, pipeline


def main() -> None:
    crm, manager, deal, stages, pipeline = shop()
    other = crm.create_deal(manager, T0, "4 windows", pipeline=pipeline)
    counter = iter(range(10**9))
    rows = []

    def contact() -> dict[str, Any]:
        return {"type": "create_contact", "name": f"Anna {next(counter)}", "phones": ["+49 30 1234567"],
                "tags": ["web"]}

    # Commands: typed (Python values both ways) against the JSON entry point fed ready
    # text (the engine's own cost, its JSON included, plus the crossing).
    texts = [json.dumps(contact()) for _ in range(20000)]
    rows.append(("create_contact", *side_by_side(
        lambda: crm.execute(manager, T0, contact()),  # type: ignore[arg-type]
        lambda: crm.execute_json(manager, T0_TEXT, texts.pop()))))

    # The helper returns only the new ID, so it builds no Python values for the events.
    texts = [json.dumps(contact()) for _ in range(20000)]
    rows.append(("create_contact helper", *side_by_side(
        lambda: crm.create_contact(manager, T0, f"Anna {next(counter)}", phones=["+49 30 1234567"], tags=["web"]),
        lambda: crm.execute_json(manager, T0_TEXT, texts.pop()))))

    # Each side moves its own deal, so both deals' histories grow alike.
    flips = {deal: 0, other: 0}

    def move(which: str) -> dict[str, Any]:
        flips[which] ^= 1
        return {"type": "move_deal", "id": which, "stage": stages[flips[which]]}

    moves = [json.dumps({"type": "move_deal", "id": other, "stage": stages[n % 2]}) for n in range(1000)]
    rows.append(("move_deal", *side_by_side(
        lambda: crm.execute(manager, T0, move(deal)),  # type: ignore[arg-type]
        lambda: crm.execute_json(manager, T0_TEXT, moves.pop()), number=100)))

    # Fresh deals: a move's cost grows with the deal's history (the compact-state issue).
    deal = crm.create_deal(manager, T0, "5 windows", pipeline=pipeline)
    other = crm.create_deal(manager, T0, "6 windows", pipeline=pipeline)
    flips.update({deal: 0, other: 0})
    moves = [json.dumps({"type": "move_deal", "id": other, "stage": stages[n % 2]}) for n in range(1000)]
    rows.append(("move_deal helper", *side_by_side(
        lambda: crm.move_deal(manager, T0, deal, move(deal)["stage"]),
        lambda: crm.execute_json(manager, T0_TEXT, moves.pop()), number=100)))

    # Queries: typed against the JSON entry point plus json.loads (untyped Python values).
    for name, query, number in (
        ("report funnel", {"type": "report", "report": "funnel", "pipeline": pipeline}, 1000),
        ("report revenue", {"type": "report", "report": "revenue", "by": "month"}, 1000),
        ("list_deals 50", {"type": "list_deals", "limit": 50}, 20),
    ):
        text = json.dumps(query)
        rows.append((name, *side_by_side(
            lambda: crm.query(manager, T0, query),  # type: ignore[call-overload]
            lambda: json.loads(crm.query_json(manager, T0_TEXT, text)), number=number)))
    start = time.perf_counter()
    for _ in range(20000):
        crm.last_seq
    rows.append(("crossing (last_seq)", (time.perf_counter() - start) / 20000 * 1e6, float("nan")))

    print(f"{'call':<24}{'typed µs':>10}{'raw µs':>10}{'typed - raw':>13}")
    for name, typed, raw in rows:
        print(f"{name:<24}{typed:>10.1f}{raw:>10.1f}{typed - raw:>13.1f}")
    print("raw: commands = execute_json fed ready JSON text (the engine's cost plus the crossing);")
    print("     queries = query_json plus json.loads (plain Python values, nothing typed)")


if __name__ == "__main__":
    main()
