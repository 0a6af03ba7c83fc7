"""The window shop written only with the typed forms (crm_core.types): every command and
every query of the engine, each checked by ``mypy --strict`` (the suite's mypy run) and
run here. Types whose keys are Python keywords (``from``) are written as literals, which
mypy checks against the same TypedDict through ``execute``'s parameter. A command typed wrong — a misspelt field, a float amount, a naive string
where a time belongs — fails the type check before it can fail the engine.
"""

from __future__ import annotations

import base64
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

from crm_core import Crm, Money, types

T0 = datetime(2026, 11, 30, 6, 0, tzinfo=timezone.utc)
RUB = "RUB"


def created(outcome: types.Outcome) -> str:
    record = outcome.get("created")
    assert record is not None
    return record


def test_the_window_shop_with_every_command_and_query_typed() -> None:
    crm = Crm(replica_id=1, default_region="RU")
    admin = created(crm.execute("system", T0, types.CreateUser(type="create_user", name="Olga", role="admin")))
    sales = created(crm.execute(admin, T0, types.CreateDepartment(type="create_department", name="Sales")))
    head = created(crm.execute(admin, T0, types.CreateUser(
        type="create_user", name="Irina", role="head_of_department", department=sales, email="irina@okna.example")))
    anton = created(crm.execute(admin, T0, types.CreateUser(
        type="create_user", name="Anton", role="manager", department=sales)))
    boris = created(crm.execute(admin, T0, types.CreateUser(
        type="create_user", name="Boris", role="manager", department=sales)))
    misha = created(crm.execute(admin, T0, types.CreateUser(
        type="create_user", name="Misha", role="specialist", specialty="measurer", department=sales)))
    crm.execute(admin, T0, types.UpdateUser(type="update_user", id=anton, patch={"email": "anton@okna.example"}))

    crm.execute(admin, T0, types.SetCalendar(
        type="set_calendar", time_zone="Europe/Moscow", working_days=["mon", "tue", "wed", "thu", "fri"],
        hours=[{"from": "09:00", "to": "18:00"}], holidays=[date(2026, 12, 31)]))
    crm.execute(admin, T0, types.DefineField(
        type="define_field", entity="task", key="width_mm", label="Width, mm", kind="number"))
    pipeline = created(crm.execute(admin, T0, types.CreatePipeline(
        type="create_pipeline", name="Windows", lost_reasons=["Too expensive"],
        stages=[{"name": "New request", "sla_hours": 2}, {"name": "Measurement"}, {"name": "Offer"},
                {"name": "Done", "kind": "won"}, {"name": "Lost", "kind": "lost"}])))
    stages = crm.query(admin, T0, types.GetQuery(type="get", id=pipeline))
    assert stages["record"] == "pipeline"
    new, measurement, offer, done, lost = (stage["id"] for stage in stages["stages"])
    crm.execute(admin, T0, types.DefineTemplate(
        type="define_template", key="offer", name="Offer", format="markdown",
        source="# Offer: {{ deal.title }} for {{ contact.name }}"))
    crm.execute(admin, T0, types.DefineRules(type="define_rules", rules=[{
        "key": "call-web-lead",
        "when": {"type": "inbound", "channel": "web_form"},
        "then": [{"type": "create_task", "title": "Call the new lead", "kind": "call", "due_in": "15m"}],
    }]))
    crm.execute(admin, T0, types.ConfigureIntake(
        type="configure_intake", owner=anton, pipeline=pipeline, forms={"order": {"fields": {"name": "name", "phone": "phone"}}}))

    # Intake: a web form, a call, an e-mail, a spreadsheet.
    form = crm.execute("system", T0, types.ReceiveForm(
        type="receive_form", form="order", fields={"name": "Pyotr Ivanov", "phone": "+7 916 123-45-67"}))
    assert any(event["event"]["type"] == "task_created" for event in form["events"])
    lead = next(e["event"]["deal"]["id"] for e in form["events"] if e["event"]["type"] == "deal_created")
    crm.execute("system", T0, types.ReceiveCall(type="receive_call", call={
        "direction": "inbound", "from": "+7 916 123-45-67", "to": "+7 495 000-00-00", "started_at": T0,
        "ended_at": T0 + timedelta(minutes=1), "outcome": "answered"}))
    mail = "From: Anna <anna@example.com>\r\nTo: shop@okna.example\r\nSubject: Windows\r\nMessage-ID: <1@example.com>\r\n\r\nHello"
    crm.execute("system", T0, types.ReceiveEmail(type="receive_email", raw=mail, mailbox=["shop@okna.example"]))
    sheet = "name,phone\nVera Petrova,+7 916 000-00-01\n"
    check = crm.query(anton, T0, types.CheckImportQuery(type="check_import", csv=sheet))
    assert check["contacts"] == 1 and check["problems"] == []
    crm.execute(anton, T0, types.ImportContacts(type="import_contacts", csv=sheet))

    # The everyday records.
    firm = created(crm.execute(anton, T0, types.CreateCompany(type="create_company", name="Okna Plus")))
    twin = created(crm.execute(anton, T0, types.CreateCompany(type="create_company", name="OKNA Plus")))
    crm.execute(anton, T0, types.UpdateCompany(type="update_company", id=firm, patch={"website": "https://okna.example"}))
    crm.execute(anton, T0, {"type": "merge_companies", "into": firm, "from": twin})
    crm.execute(anton, T0, types.UnmergeCompanies(type="unmerge_companies", id=twin))
    client = created(crm.execute(anton, T0, types.CreateContact(
        type="create_contact", name="Pavel Sidorov", phones=["+7 916 555-55-55"], company=firm,
        consent={"email": True})))
    double = created(crm.execute(anton, T0, types.CreateContact(
        type="create_contact", name="P. Sidorov", phones=["+7 916 555-55-55"])))
    crm.execute(anton, T0, types.UpdateContact(type="update_contact", id=client, patch={"address": "ul. Lenina 5"}))
    pairs = crm.query(anton, T0, types.FindDuplicatesQuery(type="find_duplicates", contact=client))
    assert [pair["b"] for pair in pairs["pairs"]] == [double]
    crm.execute(anton, T0, {"type": "merge_contacts", "into": client, "from": double})
    crm.execute(anton, T0, types.UnmergeContacts(type="unmerge_contacts", id=double))

    deal = created(crm.execute(anton, T0, types.CreateDeal(
        type="create_deal", title="3 windows", pipeline=pipeline, contact=client,
        amount=Money(Decimal("70000.00"), RUB), expected_close=date(2026, 12, 20))))
    crm.execute(anton, T0, types.UpdateDeal(type="update_deal", id=deal, patch={"tags": ["flat"]}))
    crm.execute(anton, T0, types.MoveDeal(type="move_deal", id=deal, stage=measurement))
    visit = created(crm.execute(anton, T0, types.CreateTask(
        type="create_task", title="Measure", kind="measurement", assignee=anton, link=deal,
        due=T0 + timedelta(days=1))))
    crm.execute(anton, T0, types.ReassignTask(type="reassign_task", id=visit, assignee=misha))
    crm.execute(misha, T0, types.CompleteTask(
        type="complete_task", id=visit, outcome="measured", fields={"width_mm": 1450}))
    spare = created(crm.execute(anton, T0, types.CreateTask(type="create_task", title="Spare visit", link=deal)))
    crm.execute(anton, T0, types.CancelTask(type="cancel_task", id=spare, reason="not needed"))
    crm.execute(anton, T0, types.LogActivity(
        type="log_activity", kind="call", direction="outbound", link=deal, subject="Agreed the price",
        duration_seconds=120))
    crm.execute(anton, T0, types.SetLineItems(type="set_line_items", deal=deal, items=[
        {"product": "PVC window", "quantity": Decimal(3), "unit_price": Money(Decimal("24500.00"), RUB),
         "discount_percent": Decimal(5)}]))
    crm.execute(anton, T0, types.MoveDeal(type="move_deal", id=deal, stage=offer))
    document = created(crm.execute(anton, T0, types.RenderDocument(
        type="render_document", template="offer", record=deal)))
    assert crm.query(anton, T0, types.RerenderQuery(type="rerender", id=document))["identical"]
    crm.execute(anton, T0, types.RecordPayment(
        type="record_payment", deal=deal, amount=Money(Decimal("69825.00"), RUB), paid_at=T0))
    crm.execute(anton, T0, types.MoveDeal(type="move_deal", id=deal, stage=done))
    crm.execute(admin, T0, types.AssignOwner(type="assign_owner", record=client, owner=boris))

    # Time passes: the call task is overdue; the host delivers and acknowledges effects.
    later = T0 + timedelta(hours=2)
    crm.execute("system", later, types.Tick(type="tick"))
    effects = crm.query(admin, later, types.OutboxQuery(type="outbox"))
    crm.execute("system", later, types.AckEffects(type="ack_effects", ids=[e["id"] for e in effects["items"]]))
    assert crm.query(admin, later, types.OutboxQuery(type="outbox"))["total"] == 0
    wakeup = crm.query(admin, later, types.NextWakeupQuery(type="next_wakeup"))
    assert wakeup["next_wakeup"] is None or wakeup["next_wakeup"] > later

    # Every query, each answering its own type.
    the_deal = crm.query(anton, later, types.GetQuery(type="get", id=deal))
    assert the_deal["record"] == "deal" and the_deal["status"] == "won"
    assert the_deal.get("amount") == Money(Decimal("69825.00"), RUB)
    assert crm.query(boris, later, types.ListContactsQuery(type="list_contacts", owner=boris))["total"] == 1
    assert crm.query(anton, later, types.ListCompaniesQuery(type="list_companies"))["total"] >= 1
    assert crm.query(anton, later, types.ListDealsQuery(type="list_deals", status="won"))["items"][0]["id"] == deal
    assert crm.query(misha, later, types.ListTasksQuery(type="list_tasks", assignee=misha))["total"] == 1
    assert crm.query(anton, later, types.ListActivitiesQuery(type="list_activities", link=deal))["total"] >= 1
    assert crm.query(admin, later, types.ListUsersQuery(type="list_users"))["total"] == 5
    assert crm.query(admin, later, types.ListDepartmentsQuery(type="list_departments"))["total"] == 1
    assert crm.query(admin, later, types.ListPipelinesQuery(type="list_pipelines"))["items"][0]["id"] == pipeline
    assert crm.query(admin, later, types.ListFieldsQuery(type="list_fields"))["total"] == 1
    timeline = crm.query(anton, later, types.TimelineQuery(type="timeline", id=deal))
    assert timeline[0]["at"] == T0
    [explained] = crm.query(admin, later, types.ExplainQuery(type="explain", id=lead))
    assert [fired["rule"] for fired in explained["fired"]] == ["call-web-lead"]
    assert crm.query(admin, later, types.ListRulesQuery(type="list_rules"))["rules"][0]["key"] == "call-web-lead"
    assert crm.query(admin, later, types.CalendarQuery(type="calendar"))["time_zone"] == "Europe/Moscow"
    assert crm.query(admin, later, types.ListTemplatesQuery(type="list_templates"))["total"] == 1
    stats = crm.query(admin, later, types.ClientStatsQuery(type="client_stats", id=client))
    assert stats["visits"] == 1
    export = crm.query(anton, later, types.ExportQuery(type="export", entity="deals", format="xlsx"))
    assert base64.b64decode(export.get("xlsx_base64") or "")[:2] == b"PK"
    revenue = crm.query(head, later, types.ReportQuery(type="report", report="revenue", by="month"))
    assert revenue["report"] == "revenue"
    assert revenue["rows"][0]["won_amount"] == {RUB: Decimal("69825.00")}
    chart = crm.query(head, later, types.ChartQuery(type="chart", report="funnel", pipeline=pipeline))
    assert chart["svg"].startswith("<svg")

    # Handing over and leaving.
    crm.execute(admin, later, {"type": "reassign_owner", "from": boris, "to": anton})
    crm.execute(admin, later, types.DeactivateUser(type="deactivate_user", id=boris))
    assert crm.query(admin, later, types.GetQuery(type="get", id=client)).get("owner") == anton
