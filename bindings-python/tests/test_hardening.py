"""The binding's own findings of the hardening issue (docs/access.md, docs/schema.md)."""

from __future__ import annotations

import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import pytest

import crm_core
from crm_core import Crm, Money

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=timezone.utc)


def shop() -> tuple[Crm, str, str]:
    crm = Crm(replica_id=1, default_region="DE")
    admin = crm.create_user("system", NOW, "Olga", role="admin")
    manager = crm.create_user(admin, NOW, "Ivan", role="manager")
    return crm, admin, manager


def test_values_are_typed_by_the_schema_not_by_their_key() -> None:
    """Finding 10: a CSV column `created_at` made check_import raise ValueError; a deal
    field keyed `due` plus a webhook rule made execute raise after the command was
    saved, and drain_outbox raise on every call after that."""
    crm, admin, manager = shop()
    report = crm.check_import(manager, NOW, "name,created_at,due\nAnna,yesterday,{amount}\n")
    assert report["mapping"] == {"name": "name", "created_at": "ignore", "due": "ignore"}
    crm.execute(admin, NOW, {"type": "define_field", "entity": "deal", "key": "due", "label": "Due", "kind": "text"})
    crm.create_pipeline(admin, NOW, "Sales", ["New"])
    crm.define_rules(admin, NOW, [{"key": "hook", "when": {"type": "record_created", "record": "deal"},
                                   "then": [{"type": "webhook", "url": "https://hooks.example/in"}]}])
    outcome = crm.execute(manager, NOW, {"type": "create_deal", "title": "X", "custom": {"due": "soon"},
                                         "amount": Money(Decimal("10.00"), "EUR")})
    [effect] = crm.drain_outbox()
    payload: dict[str, Any] = effect["payload"]
    assert payload["deal"]["custom"]["due"] == "soon"
    # Where the schema says so, values are typed: the event's time, the deal's amount.
    assert outcome["events"][0]["at"] == NOW
    created = outcome["events"][0]["event"]
    assert created["type"] == "deal_created"
    assert created["deal"].get("amount") == Money(Decimal("10.00"), "EUR")
    assert effect["at"] == NOW
    # The webhook's payload is the rule's context, opaque JSON: it stays as sent.
    assert payload["deal"]["amount"] == {"amount": "10.00", "currency": "EUR"}


def test_floats_are_refused_as_amounts() -> None:
    """Finding 11: Money(0.1 + 0.2, "EUR") was stored as 0.30000000000000004."""
    crm, admin, manager = shop()
    crm.create_pipeline(admin, NOW, "Sales", ["New"])
    with pytest.raises(crm_core.ValidationError, match=r"command\.amount\.amount: 0\.30000000000000004 is a float"):
        crm.create_deal(manager, NOW, "X", amount=Money(0.1 + 0.2, "EUR"))  # type: ignore[arg-type]
    with pytest.raises(crm_core.ValidationError, match="not a finite number"):
        crm.create_deal(manager, NOW, "X", amount=Money(Decimal("NaN"), "EUR"))
    assert crm.list_deals(manager, NOW) == []
    crm.create_deal(manager, NOW, "X", amount=Money(Decimal("0.30"), "EUR"))


def test_an_engine_is_shared_by_threads() -> None:
    """Finding 11: a second thread got pyo3's PanicException, which `except Exception`
    does not catch; an engine may now be used from any thread."""
    crm, _, manager = shop()
    with ThreadPoolExecutor(max_workers=4) as pool:
        ids = list(pool.map(lambda n: crm.create_contact(manager, NOW, f"Client {n}"), range(40)))
    assert len(set(ids)) == 40
    assert crm.query(manager, NOW, {"type": "list_contacts"})["total"] == 40


def test_the_gil_is_released_while_the_engine_works() -> None:
    """Finding 11: another thread stalled for the whole of a 140 ms export. With a switch
    interval far longer than the export, the other thread can only run during it if
    the engine lets go of the GIL."""
    crm, _, manager = shop()
    for n in range(3_000):
        crm.create_contact(manager, NOW, f"Client {n}", phones=[f"030 {1_000_000 + n}"])
    inside = threading.Event()
    done = threading.Event()
    ran_inside = 0

    def other() -> None:
        nonlocal ran_inside
        while not done.is_set():
            if inside.is_set():
                ran_inside += 1
            threading.Event().wait(0.0005)

    previous = sys.getswitchinterval()
    sys.setswitchinterval(10.0)
    try:
        thread = threading.Thread(target=other)
        thread.start()
        inside.set()
        for _ in range(5):
            crm.export(manager, NOW, "contacts")
        inside.clear()
        done.set()
        thread.join()
    finally:
        sys.setswitchinterval(previous)
    assert ran_inside > 0


def test_a_spreadsheet_claiming_billions_of_cells_is_refused_not_a_crash() -> None:
    """Finding 1, as the binding saw it: the interpreter exited with status 134 (the
    allocation of 512 GiB aborted the process). Now it is a TooLargeError."""
    from pathlib import Path

    crm, _, manager = shop()
    far = Path(__file__).resolve().parents[2] / "fuzz/regressions/import_spreadsheet/finding-1-a1-xfd1048576.xlsx"
    with pytest.raises(crm_core.TooLargeError, match=r"spreadsheet_base64 \(rows\)"):
        crm.check_import(manager, NOW, far.read_bytes())
    with pytest.raises(crm_core.TooLargeError):
        crm.import_contacts(manager, NOW, far.read_bytes())
    assert crm.query(manager, NOW, {"type": "list_contacts"})["total"] == 0


def test_a_lone_surrogate_in_a_typed_command_is_malformed_with_its_path() -> None:
    crm, admin, _ = shop()
    with pytest.raises(crm_core.MalformedError, match=r"command\.name") as refused:
        crm.execute(admin, NOW, {"type": "create_department", "name": "Sales\ud800"})
    assert refused.value.code == "malformed"
    assert crm.query(admin, NOW, {"type": "list_departments"})["total"] == 0
