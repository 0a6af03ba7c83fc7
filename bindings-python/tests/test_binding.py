"""The Python boundary: names, types, conversions and error mapping."""

from __future__ import annotations

import json
from xml.etree import ElementTree
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import pytest

import crm_core
from crm_core import Crm, Money, types

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=timezone.utc)


@pytest.fixture()
def shop() -> tuple[Crm, str, str, str]:
    crm = Crm(replica_id=3, default_region="DE")
    admin = crm.create_user("system", NOW, "Olga", role="admin")
    manager = crm.create_user(admin, NOW, "Ivan", role="manager")
    pipeline = crm.create_pipeline(
        admin, NOW, "Windows", ["New", "Measured", {"name": "Done", "kind": "won"}, {"name": "Lost", "kind": "lost"}]
    )
    return crm, admin, manager, pipeline


def test_a_deal_moves_through_the_pipeline_with_decimal_money(shop: tuple[Crm, str, str, str]) -> None:
    crm, _, manager, pipeline = shop
    contact = crm.create_contact(manager, NOW, "Petra", phones=["030 1234567"], emails=["Petra@Example.DE"])
    deal = crm.create_deal(
        manager, NOW, "Three windows", pipeline=pipeline, contact=contact,
        amount=Money(Decimal("1499.99"), "EUR"), expected_close=date(2026, 12, 24),
    )
    stages = crm.query(manager, NOW, {"type": "list_pipelines"})["items"][0]["stages"]
    crm.move_deal(manager, NOW + timedelta(hours=1), deal, stages[2]["id"])
    [won] = crm.list_deals(manager, NOW, status="won")
    assert won["id"] == deal
    assert won["amount"] == Money(Decimal("1499.99"), "EUR")
    assert isinstance(won["amount"].amount, Decimal)
    assert won["closed_at"] == NOW + timedelta(hours=1)
    assert won["closed_at"].tzinfo is not None
    assert crm.get(manager, NOW, contact)["phones"] == ["+49301234567"]


def test_errors_are_exception_classes_with_stable_codes(shop: tuple[Crm, str, str, str]) -> None:
    crm, _, manager, pipeline = shop
    with pytest.raises(crm_core.PermissionDeniedError) as denied:
        crm.create_pipeline(manager, NOW, "Mine", ["A"])
    assert denied.value.code == "permission_denied"
    assert denied.value.field is None
    assert isinstance(denied.value, crm_core.CrmError)
    with pytest.raises(crm_core.ValidationError, match=r'phones\[0\]: "12"') as invalid:
        crm.create_contact(manager, NOW, "A", phones=["12"])
    assert invalid.value.code == "validation"
    assert invalid.value.field == "phones[0]"
    with pytest.raises(crm_core.NotFoundError) as missing:
        crm.create_deal(manager, NOW, "x", pipeline="pip-3-999")
    assert missing.value.code == "not_found"
    with pytest.raises(crm_core.MalformedError, match=r"command\.emails\[0\]") as malformed:
        not_an_email: Any = {"type": "create_contact", "name": "A", "emails": [1]}
        crm.execute(manager, NOW, not_an_email)
    assert malformed.value.field == "command.emails[0]"
    with pytest.raises(crm_core.ConflictError):
        crm.create_pipeline("system", NOW, "Windows", ["A"])
    assert crm.list_deals(manager, NOW) == []


def test_naive_datetimes_are_refused_not_guessed(shop: tuple[Crm, str, str, str]) -> None:
    crm, _, manager, _ = shop
    with pytest.raises(crm_core.ValidationError, match="no time zone") as naive:
        crm.create_contact(manager, datetime(2026, 11, 27, 9, 0), "A")
    assert naive.value.code == "validation"


def test_bad_replica_ids_and_options_raise_crm_errors() -> None:
    with pytest.raises(crm_core.ValidationError):
        Crm(replica_id=2**60)
    with pytest.raises(crm_core.ValidationError, match="default_region"):
        Crm(replica_id=1, default_region="Atlantis")


def test_exported_events_replay_to_the_same_answers(shop: tuple[Crm, str, str, str]) -> None:
    crm, _, manager, pipeline = shop
    crm.create_deal(manager, NOW, "Door", pipeline=pipeline, amount=Money(Decimal("10"), "EUR"))
    events = crm.events()
    assert [event["seq"] for event in events] == list(range(1, crm.last_seq + 1))
    assert events[0]["at"] == NOW
    copy = Crm.replay(3, events, default_region="DE")
    assert copy.list_deals(manager, NOW) == crm.list_deals(manager, NOW)


def test_rules_timers_and_the_outbox(shop: tuple[Crm, str, str, str]) -> None:
    crm, admin, manager, _ = shop
    crm.define_rules(
        admin,
        NOW,
        [
            {
                "key": "call-new-contact",
                "when": {"type": "record_created", "record": "contact"},
                "then": [{"type": "create_task", "title": "Call {{ contact.name }}", "kind": "call", "due_in": "15m"}],
            },
            {"key": "late", "when": {"type": "task_overdue"}, "then": [{"type": "notify", "to": "assignee", "text": "Late: {{ task.title }}"}]},
        ],
    )
    contact = crm.create_contact(manager, NOW, "Anna")
    wakeup = crm.next_wakeup()
    assert wakeup == NOW + timedelta(minutes=15)
    assert crm.tick(NOW + timedelta(minutes=10))["events"] == []
    fired = crm.tick(NOW + timedelta(hours=1))
    assert [e["event"]["type"] for e in fired["events"]] == ["task_overdue", "rules_evaluated", "effect_queued"]
    effects = crm.drain_outbox()
    assert [(e["kind"], e["to"], e["text"]) for e in effects] == [("notification", manager, "Late: Call Anna")]
    # Acknowledged after the tick that queued it: commands are recorded in time order.
    delivered = NOW + timedelta(hours=1)
    assert crm.ack(delivered, [effects[0]["id"]])["events"][0]["event"]["type"] == "effects_acknowledged"
    assert crm.drain_outbox() == []
    assert crm.ack(delivered, [effects[0]["id"]])["events"] == []
    # The form with an actor, like every other call: admins and the system acknowledge.
    with pytest.raises(crm_core.PermissionDeniedError, match="acknowledge"):
        crm.ack_as(manager, delivered, [effects[0]["id"]])
    assert crm.ack_as(admin, delivered, [effects[0]["id"]])["events"] == []
    explained = crm.explain(manager, NOW, contact)
    assert [entry["on"] for entry in explained] == ["record_created", "task_overdue"]
    with pytest.raises(crm_core.MalformedError, match=r"rules\[0\]\.then\[0\]\.due_in"):
        crm.define_rules(admin, NOW, [{"key": "x", "when": {"type": "deal_won"}, "then": [{"type": "create_task", "title": "x", "due_in": "soon"}]}])
    assert crm.next_wakeup() is None


def test_a_file_journal_survives_closing_and_reopening(tmp_path: Path) -> None:
    path = str(tmp_path / "shop.sqlite")
    # A path with no journal is an error (a misspelt path never starts an empty CRM).
    with pytest.raises(crm_core.StorageError, match="there is no journal"):
        Crm.open(path, replica_id=1)
    with Crm.open(path, replica_id=1, default_region="DE", create=True) as crm:
        assert crm.warnings == []
        admin = crm.create_user("system", NOW, "Olga", role="admin")
        manager = crm.create_user(admin, NOW, "Ivan", role="manager")
        crm.create_contact(manager, NOW, "Petra", phones=["030 1234567"])
        crm.snapshot()
        crm.create_contact(manager, NOW, "Paul")
        events = crm.events()
    with pytest.raises(crm_core.StorageError, match="closed"):
        crm.events()
    with Crm.open(path, replica_id=1) as again:
        assert again.events() == events
        names = [c["name"] for c in again.query(manager, NOW, {"type": "list_contacts"})["items"]]
        assert names == ["Petra", "Paul"]
    with pytest.raises(crm_core.StorageError):
        Crm.open(str(tmp_path / "missing-dir" / "x.sqlite"), replica_id=1, create=True)
    with Crm.open(path, replica_id=2, read_only=True) as replica:
        assert replica.events() == events
        with pytest.raises(crm_core.StorageError):
            replica.create_contact(manager, NOW, "Nobody")
        assert replica.events() == events


def test_backup_and_recovery_of_a_file_journal(tmp_path: Path) -> None:
    path, copy = str(tmp_path / "shop.sqlite"), str(tmp_path / "backup.sqlite")
    with Crm.open(path, replica_id=1, create=True) as crm:
        crm.create_user("system", NOW, "Olga", role="admin")
        crm.backup(copy)
        events = crm.events()
    report = crm_core.recover(copy, str(tmp_path / "recovered.sqlite"))
    assert report == {"kept": len(events), "not_kept": 0, "problems": []}
    with Crm.open(str(tmp_path / "recovered.sqlite"), replica_id=1) as recovered:
        assert recovered.events() == events
    restored = str(tmp_path / "restored.sqlite")
    assert crm_core.restore(copy, restored) == len(events)
    with Crm.open(restored, replica_id=1) as again:
        assert again.events() == events
    with pytest.raises(crm_core.ConflictError, match="restore into a new file"):
        crm_core.restore(copy, restored)
    with pytest.raises(crm_core.StorageError, match="from a file"):
        Crm(replica_id=1).backup(copy)


def test_journal_moves_to_and_from_json_lines(tmp_path: Path) -> None:
    lines = tmp_path / "journal.jsonl"
    with Crm.open(str(tmp_path / "shop.sqlite"), replica_id=1, create=True) as crm:
        crm.create_user("system", NOW, "Olga", role="admin")
        crm.create_contact("usr-1-1", NOW, "Anna Petrova", phones=["+49 30 1234567"])
        assert crm.export_jsonl(str(lines)) == 2
        events = crm.events()
    written = [json.loads(line) for line in lines.read_text().splitlines()]
    assert [(line["seq"], line["event"]["type"]) for line in written] == [
        (event["seq"], event["event"]["type"]) for event in events
    ]

    copy = Crm(replica_id=1)
    assert copy.import_jsonl(str(lines)) == 2
    assert copy.events() == events
    assert copy.get("usr-1-1", NOW, "con-1-2")["name"] == "Anna Petrova"
    # Importing the same lines again would leave a gap behind event 2: nothing is taken.
    with pytest.raises(crm_core.ValidationError, match="line 1"):
        copy.import_jsonl(str(lines))
    lines.write_text(lines.read_text().replace('"v":1', '"v":9', 1))
    with pytest.raises(crm_core.MalformedError, match="schema version 9"):
        Crm(replica_id=1).import_jsonl(str(lines))
    assert copy.events() == events


def test_reports_come_back_as_decimals_and_as_a_data_frame() -> None:
    crm = Crm(replica_id=1)
    crm.create_user("system", NOW, "Olga", role="admin")
    stages: list[str | dict[str, str]] = ["New", "Offer", {"name": "Won", "kind": "won"}, {"name": "Lost", "kind": "lost"}]
    crm.create_pipeline("usr-1-1", NOW, "Sales", stages)  # pip-1-2, stages stg-1-3 to stg-1-6
    deal = crm.create_deal("usr-1-1", NOW, "Windows", amount=Money(Decimal("1500.00"), "EUR"))
    crm.move_deal("usr-1-1", NOW, deal, "stg-1-5")

    report = crm.report("usr-1-1", NOW, "win_rate", from_=date(2026, 1, 1))
    assert report["total"]["won_amount"] == {"EUR": Decimal("1500.00")}
    assert report["total"]["win_rate"] == Decimal("100.0")

    frame = crm.report_frame("usr-1-1", NOW, "revenue", by="month")
    assert list(frame["won_amount.EUR"]) == [Decimal("1500.00")]
    assert list(frame["owner"]) == ["usr-1-1"]
    funnel = crm.report_frame("usr-1-1", NOW, "funnel")
    assert list(funnel["name"]) == ["New", "Offer", "Won", "Lost"]
    assert list(funnel["reached"]) == [1, 1, 1, 0]

    with pytest.raises(crm_core.ValidationError, match="before from"):
        crm.report("usr-1-1", NOW, "revenue", from_=date(2026, 2, 1), to=date(2026, 1, 1))

    drawing = crm.chart("usr-1-1", NOW, "funnel")
    assert drawing["chart"]["labels"] == ["New", "Offer", "Won"]
    root = ElementTree.fromstring(drawing["svg"])
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert len([e for e in root.iter() if e.get("class") == "bar"]) == 3


def test_duplicates_are_found_merged_and_unmerged(shop: tuple[Crm, str, str, str]) -> None:
    crm, _, manager, _ = shop
    anna = crm.create_contact(manager, NOW, "Anna Petrova", phones=["+49 30 1234567"], tags=["vip"])
    twin = crm.create_contact(
        manager, NOW, "ANNA PETROWA", phones=["030 1234567"], emails=["Anna <Anna+Shop@Gmail.com>"]
    )
    found = crm.find_duplicates(manager, NOW, email={"fold_plus": ["gmail.com"]})
    [pair] = found["pairs"]
    assert (pair["a"], pair["b"], pair["score"]) == (anna, twin, 100)
    assert {reason["reason"] for reason in pair["reasons"]} == {"same_phone", "similar_name"}
    assert crm.find_duplicates(manager, NOW, min_score=100, contact=twin)["total"] == 1

    crm.merge_contacts(manager, NOW, anna, twin, keep={"name": "into"})
    survivor = crm.get(manager, NOW, anna)
    assert survivor["emails"] == ["anna+shop@gmail.com"]
    assert crm.get(manager, NOW, twin)["merged_into"] == anna
    assert crm.find_duplicates(manager, NOW)["total"] == 0

    crm.unmerge_contacts(manager, NOW, twin)
    assert crm.get(manager, NOW, anna)["emails"] == []
    with pytest.raises(crm_core.ValidationError, match="not merged"):
        crm.unmerge_contacts(manager, NOW, twin)


def test_companies_entered_twice_are_merged_with_their_people(shop: tuple[Crm, str, str, str]) -> None:
    crm, _, manager, _ = shop
    firm = crm.create(manager, NOW, {"type": "create_company", "name": "Okna Berlin GmbH"})
    twin = crm.create(manager, NOW, {"type": "create_company", "name": "OKNA Berlin", "phones": ["030 7654321"]})
    petra = crm.create_contact(manager, NOW, "Petra Schmidt", company=twin)

    crm.merge_companies(manager, NOW, firm, twin)
    assert crm.get(manager, NOW, petra)["company"] == firm
    assert crm.get(manager, NOW, firm)["phones_as_typed"] == {"+49307654321": "030 7654321"}
    assert crm.get(manager, NOW, twin)["merged_into"] == firm

    crm.unmerge_companies(manager, NOW, twin)
    assert crm.get(manager, NOW, petra)["company"] == twin
    with pytest.raises(crm_core.ValidationError, match="not merged"):
        crm.unmerge_companies(manager, NOW, twin)


def test_a_web_form_and_a_missed_call_become_leads(shop: tuple[Crm, str, str, str]) -> None:
    crm, admin, manager, pipeline = shop
    crm.configure_intake(admin, NOW, owner=manager, pipeline=pipeline)
    outcome = crm.receive_form(
        NOW, "callback", {"name": "Petra", "phone": "030 2345678", "message": "Three windows"},
        utm={"utm_source": "google"}, received_at=NOW - timedelta(minutes=2),
    )
    assert [e["event"]["type"] for e in outcome["events"]] == ["contact_created", "deal_created", "activity_logged"]
    [request] = crm.query(manager, NOW, {"type": "list_activities"})["items"]
    assert request["occurred_at"] == NOW - timedelta(minutes=2)
    call = {"direction": "inbound", "from": "+49 30 2345678", "to": "100", "started_at": NOW,
            "outcome": "missed", "call_id": "pbx-7"}
    crm.receive_call(NOW, call=call)
    assert crm.receive_call(NOW, call=call)["events"] == []
    with pytest.raises(crm_core.ValidationError, match="neither a phone"):
        crm.receive_form(NOW, "callback", {"name": "Bot"})


def test_an_email_in_bytes_is_logged_once(shop: tuple[Crm, str, str, str]) -> None:
    crm, _, manager, _ = shop
    crm.create_contact(manager, NOW, "Petra", emails=["petra@example.de"])
    raw = (b"From: Petra <petra@example.de>\r\nSubject: Preis\r\nMessage-ID: <p1@example.de>\r\n"
           b"Content-Type: text/plain; charset=iso-8859-1\r\n\r\nGr\xfc\xdfe\r\n")
    assert [e["event"]["type"] for e in crm.receive_email(NOW, raw)["events"]] == ["activity_logged"]
    assert crm.receive_email(NOW, raw)["events"] == []
    [mail] = crm.query(manager, NOW, {"type": "list_activities"})["items"]
    assert (mail["subject"], mail["body"]) == ("Preis", "Grüße")


def test_contacts_come_in_from_csv_and_go_out_again(shop: tuple[Crm, str, str, str]) -> None:
    crm, _, manager, _ = shop
    bad = "Name;Telefon\r\nPetra;030 2345678\r\nAnna;no phone\r\n"
    check = crm.check_import(manager, NOW, bad)
    assert check["problems"] == [{"row": 3, "column": "Telefon", "message": '"no phone" is not a phone number'}]
    with pytest.raises(crm_core.ValidationError, match="nothing imported"):
        crm.import_contacts(manager, NOW, bad)
    outcome = crm.import_contacts(manager, NOW, bad.replace("no phone", "030 7654321"))
    assert [e["event"]["type"] for e in outcome["events"]] == ["contact_created", "contact_created"]
    exported = crm.export(manager, NOW, "contacts")
    assert exported.splitlines()[0].startswith("id,name,company")
    assert "+49302345678" in exported
    workbook = crm.export_xlsx(manager, NOW, "contacts")
    assert workbook[:2] == b"PK"
    again = crm.check_import(manager, NOW, workbook, mapping={"id": "ignore", "owner": "ignore"})
    assert again["problems"] == [] and again["rows"] == 2


def test_deals_and_tasks_come_in_from_a_spreadsheet_at_their_own_times(shop: tuple[Crm, str, str, str]) -> None:
    crm, admin, manager, _ = shop
    deals = ("Title;Stage;Owner;Amount;Currency;Created;Closed\r\n"
             "Windows;Done;Ivan;1500;EUR;2026-03-01 10:00;2026-03-20 12:00\r\n"
             "Door;Measured;Ivan;;;;\r\n")
    check = crm.check_record_import(admin, NOW, "deals", deals)
    assert check["problems"] == [], check
    assert (check["records"], check["closed"], check["history"]) == (2, 1, True)
    with pytest.raises(crm_core.PermissionDeniedError, match="past times"):
        crm.import_records(manager, NOW, "deals", deals)
    outcome = crm.import_records(admin, NOW, "deals", deals)
    assert [e["event"]["type"] for e in outcome["events"]] == ["deal_created", "deal_moved", "deal_created", "history_imported"]
    won = crm.get(admin, NOW, outcome["created"])
    assert (won["status"], won["owner"], won["amount"]) == ("won", manager, Money(Decimal("1500"), "EUR"))
    assert won["closed_at"] == datetime(2026, 3, 20, 12, 0, tzinfo=timezone.utc)
    tasks = "Task;Deal;Due;Done\r\nCall back;Door;2026-12-01;no\r\nCall back;Nowhere;;\r\n"
    check = crm.check_record_import(admin, NOW, "tasks", tasks)
    assert check["problems"] == [{"row": 3, "column": "Deal", "message": 'no deal is "Nowhere" (import deals before the records that refer to them)'}]


def test_helpers_give_only_the_id_and_answers_keep_their_own_instants(shop: tuple[Crm, str, str, str]) -> None:
    crm, _, manager, pipeline = shop
    # The ID helpers skip converting events; what they created is what execute reports.
    anna = crm.create_contact(manager, NOW, "Anna")
    outcome = crm.execute(manager, NOW + timedelta(minutes=1), {"type": "create_contact", "name": "Berta"})
    berta = outcome["created"]
    event = outcome["events"][0]["event"]
    assert event["type"] == "contact_created"
    assert event["contact"]["id"] == berta
    assert crm.get(manager, NOW, anna)["name"] == "Anna"
    later = NOW + timedelta(minutes=1)  # commands are recorded in time order
    deal = crm.create_deal(manager, later, "Windows", pipeline=pipeline)
    stages = crm.get(manager, NOW, pipeline)["stages"]
    before = crm.last_seq
    with pytest.raises(crm_core.ValidationError, match="creates no record"):
        crm.create(manager, later, {"type": "move_deal", "id": deal, "stage": stages[1]["id"]})
    assert crm.last_seq == before + 1  # the move ran; it just created nothing
    with pytest.raises(crm_core.NotFoundError):
        crm.move_deal(manager, later, "deal-3-999", stages[1]["id"])
    assert crm.last_seq == before + 1
    # One datetime may be shared by equal instants, never by different ones.
    contacts = crm.query(manager, NOW, {"type": "list_contacts"})["items"]
    created = {contact["name"]: contact["created_at"] for contact in contacts}
    assert created == {"Anna": NOW, "Berta": NOW + timedelta(minutes=1)}
    assert crm.get(manager, NOW, berta)["created_at"] == NOW + timedelta(minutes=1)
    assert crm.get(manager, NOW, anna)["updated_at"] == NOW


def test_raw_json_text_goes_in_and_comes_out_unconverted(shop: tuple[Crm, str, str, str]) -> None:
    crm, admin, manager, _ = shop
    at = "2026-11-27T09:05:00Z"
    outcome = json.loads(crm.execute_json(manager, at, '{"type": "create_contact", "name": "Anna", "phones": ["030 1234567"]}'))
    contact = outcome["created"]
    assert outcome["events"][0]["event"]["type"] == "contact_created"
    page = json.loads(crm.query_json(manager, at, '{"type": "list_contacts"}'))
    assert [c["id"] for c in page["items"]] == [contact]
    assert page["items"][0]["phones"] == ["+49301234567"]
    # The same typed errors as the converting entry points, and nothing is stored.
    before = crm.last_seq
    with pytest.raises(crm_core.MalformedError) as malformed:
        crm.execute_json(manager, at, '{"type": "create_contact", "name": 5}')
    assert malformed.value.code == "malformed"
    assert "name" in str(malformed.value)
    with pytest.raises(crm_core.ValidationError) as bad_time:
        crm.execute_json(manager, "yesterday", '{"type": "create_contact", "name": "Bo"}')
    assert "now" in str(bad_time.value)
    with pytest.raises(crm_core.CrmError):
        crm.query_json(manager, at, '{"type": "list_contacts", "limit": 5000}')
    # A lone surrogate cannot become UTF-8 text: refused with its path, not mangled.
    with pytest.raises(crm_core.MalformedError) as surrogate:
        crm.execute_json(manager, at, '{"type": "create_contact", "name": "Anna \ud800", "tags": ["a"]}')
    assert "command.name" in str(surrogate.value)
    assert "U+D800" in str(surrogate.value)
    assert crm.last_seq == before



def test_a_batch_runs_as_one_and_a_retried_key_is_answered_not_run_again() -> None:
    now = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
    crm = Crm(replica_id=1)
    admin = crm.create_user("system", now, "Olga", role="admin")
    crm.execute(admin, now, {"type": "create_pipeline", "name": "Sales", "stages": [{"name": "New"}]})
    order = cast(types.CommandBatch, {"commands": [
        {"type": "create_contact", "name": "Anna"},
        {"type": "create_deal", "title": "Order 1001", "contact": {"$ref": 0}},
    ]})
    outcome = crm.execute_batch(admin, now, order, idempotency_key="woo-1001")
    contact, deal = outcome["created"]
    assert str(contact).startswith("con-") and str(deal).startswith("deal-")
    assert isinstance(outcome["events"][0]["at"], datetime)
    assert outcome["position"] == crm.execute_batch(admin, now, order, "woo-1001")["position"]
    assert crm.execute_batch(admin, now, order, "woo-1001").get("replayed") is True
    with pytest.raises(crm_core.ValidationError) as refused:
        crm.execute_batch(admin, now, {"commands": [{"type": "create_contact", "name": "Boris"}]}, "woo-1001")
    assert "idempotency_key" in str(refused.value)
