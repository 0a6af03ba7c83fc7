"""Replicas on one authority from Python (docs/sync.md): offline work runs at once,
the office runs it once as the connection's user, its rule fires once, and a refused
command is kept for its user."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

import crm_core
from crm_core import Crm, Replica

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=timezone.utc)


def office() -> tuple[Crm, str, str]:
    crm = Crm(replica_id=1)
    admin = crm.create_user("system", NOW, "Olga", role="admin")
    manager = crm.create_user(admin, NOW, "Anton", role="manager")
    crm.define_rules(admin, NOW, [{"key": "price", "when": {"type": "task_completed", "kind": "measure"},
                                   "then": [{"type": "create_task", "title": "Price the job", "due_in": "1d"}]}])
    return crm, admin, manager


def test_offline_work_is_pushed_once_and_pulled_back_with_what_the_rules_did() -> None:
    crm, admin, _ = office()
    phone = Replica(7)
    phone.receive_pull(crm.pull(admin, phone.cursor))
    later = NOW + timedelta(minutes=10)
    contact = phone.execute(admin, later, {"type": "create_contact", "name": "Anna"})["created"]
    assert contact == "con-7-1"
    task = phone.execute(admin, later, {"type": "create_task", "title": "Measure", "kind": "measure", "link": contact})["created"]
    phone.execute(admin, later, {"type": "complete_task", "id": task})
    assert [p["command"]["seq"] for p in phone.pending()] == [1, 2, 3]
    # Stored before sending; restored after a crash, nothing is lost.
    phone = Replica.restore(phone.events(), phone.log())
    batch = phone.push_batch()
    answer = crm.push(admin, later, batch)
    assert crm.push(admin, later, batch) == answer, "a batch delivered twice changes nothing"
    assert [r["result"] for r in json.loads(answer)["results"]] == ["accepted"] * 3
    phone.receive_push_result(answer)
    phone.receive_pull(crm.pull(admin, phone.cursor))
    assert phone.pending() == []
    tasks = phone.query(admin, later, {"type": "list_tasks"})["items"]
    assert sorted(t["title"] for t in tasks) == ["Measure", "Price the job"]


def test_a_replica_file_keeps_its_pending_commands_across_restarts(tmp_path: Path) -> None:
    crm, admin, _ = office()
    path = tmp_path / "phone.sqlite"
    phone = Replica.open(str(path), 9)
    phone.receive_pull(crm.pull(admin, phone.cursor))
    phone.execute(admin, NOW, {"type": "create_contact", "name": "Anna"})
    del phone
    again = Replica.open(str(path), 9)
    assert [p["command"]["seq"] for p in again.pending()] == [1]
    again.receive_push_result(crm.push(admin, NOW, again.push_batch()))
    again.receive_pull(crm.pull(admin, again.cursor))
    assert again.pending() == []
    assert Replica.open(str(path), 9).query(admin, NOW, {"type": "list_contacts"})["total"] == 1
    with pytest.raises(crm_core.ValidationError, match="replica"):
        Replica.open(str(path), 10)


def test_a_refused_command_waits_for_its_user_and_the_connection_decides_who_runs_it() -> None:
    crm, admin, manager = office()
    phone = Replica(8)
    phone.receive_pull(crm.pull(admin, phone.cursor))
    phone.execute(admin, NOW, {"type": "define_rules", "rules": []})
    answer = json.loads(crm.push(manager, NOW, phone.push_batch()))
    assert answer["results"][0]["code"] == "permission_denied"
    phone.receive_push_result(json.dumps(answer))
    [rejected] = phone.rejected()
    assert (rejected["code"], rejected["command"]["command"]["type"]) == ("permission_denied", "define_rules")
    assert phone.discard(1)["code"] == "permission_denied"
    with pytest.raises(crm_core.NotFoundError):
        phone.discard(1)
    with pytest.raises(crm_core.ValidationError, match="whole journal"):
        phone.receive_pull(crm.pull(manager, 0))
    with pytest.raises(crm_core.MalformedError, match="batch"):
        crm.push(admin, NOW, "{")


def test_a_managers_replica_holds_his_view_in_its_file(tmp_path: Path) -> None:
    crm, admin, manager = office()
    crm.execute(admin, NOW, {"type": "create_contact", "name": "Olga's client"})
    mine = crm.execute(admin, NOW, {"type": "create_contact", "name": "Anton's client", "owner": manager})["created"]
    path = tmp_path / "desk.sqlite"
    desk = Replica.open(str(path), 11)
    desk.receive_pull(crm.pull(manager, desk.cursor))
    assert [c["id"] for c in desk.query(manager, NOW, {"type": "list_contacts"})["items"]] == [mine]
    desk.execute(manager, NOW, {"type": "update_contact", "id": mine, "patch": {"position": "Buyer"}})
    with pytest.raises(crm_core.PermissionDeniedError):
        desk.execute(admin, NOW, {"type": "create_contact", "name": "X"})
    # Restarted from its file: the view and the pending edit are there.
    desk = Replica.open(str(path), 11)
    assert desk.query(manager, NOW, {"type": "get", "id": mine})["position"] == "Buyer"
    desk.receive_push_result(crm.push(manager, NOW, desk.push_batch()))
    # The client given to Olga leaves the desk.
    crm.execute(admin, NOW + timedelta(minutes=1), {"type": "assign_owner", "record": mine, "owner": admin})
    desk.receive_pull(crm.pull(manager, desk.cursor))
    assert desk.pending() == []
    assert desk.query(manager, NOW, {"type": "list_contacts"})["total"] == 0
    with pytest.raises(crm_core.ValidationError, match="cursor"):
        crm.pull(manager, 10_000)


def test_a_person_erased_at_the_office_is_forgotten_by_a_replica() -> None:
    crm, admin, _ = office()
    dora = crm.execute(admin, NOW, {"type": "create_contact", "name": "Dorothea Quist"})["created"]
    laptop = Replica(12)
    laptop.receive_pull(crm.pull(admin, laptop.cursor))
    assert "Quist" in laptop.events()
    crm.execute(admin, NOW + timedelta(minutes=1), {"type": "erase_contact", "id": dora})
    laptop.receive_pull(crm.pull(admin, laptop.cursor))
    assert laptop.scrubs == 1, "store events() and log() whole again"
    assert "Quist" not in laptop.events()
