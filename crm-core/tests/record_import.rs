//! Importing companies, deals, tasks and activities from spreadsheets: the exports of
//! amoCRM and Bitrix24 as fixtures (tests/fixtures/), every row at its own time, names
//! resolved to records, every problem by row and column, all or nothing.

use serde_json::{json, Value};

use crm_core::*;

mod common;
use common::run_all;

const ADMIN: &str = "usr-1-1";
const ANTON: &str = "usr-1-3";
const NOW: &str = "2026-11-27T09:00:00Z";

/// A Moscow window shop: the admin Olga, managers Антон Смирнов (usr-1-3) and Мария
/// Иванова (usr-1-4), a pipeline named `pipeline` with its stages, and the contacts
/// Ирина Соколова and Пётр Кузнецов. Returns the CRM and the pipeline's ID.
fn shop(pipeline: &str, lost_reasons: Value) -> (Crm, String) {
    let mut crm = Crm::new(
        ReplicaId::new(1).unwrap(),
        CrmOptions {
            default_region: Some("RU".into()),
            ..CrmOptions::default()
        },
    )
    .unwrap();
    let setup = vec![
        (
            "system",
            json!({"type": "create_user", "name": "Olga", "role": "admin"}),
        ),
        (
            ADMIN,
            json!({"type": "create_department", "name": "Продажи"}),
        ),
        (
            ADMIN,
            json!({"type": "create_user", "name": "Антон Смирнов", "role": "manager", "department": "dep-1-2"}),
        ),
        (
            ADMIN,
            json!({"type": "create_user", "name": "Мария Иванова", "email": "maria@okna.example", "role": "manager", "department": "dep-1-2"}),
        ),
        (
            ADMIN,
            json!({"type": "set_calendar", "time_zone": "Europe/Moscow", "working_days": ["mon","tue","wed","thu","fri"], "hours": [{"from": "09:00", "to": "18:00"}]}),
        ),
        (
            ADMIN,
            json!({"type": "create_pipeline", "name": pipeline, "lost_reasons": lost_reasons, "stages": [
            {"name": "Первичный контакт"}, {"name": "В работе"}, {"name": "Переговоры"},
            {"name": "Выиграна", "kind": "won"}, {"name": "Проиграна", "kind": "lost"}]}),
        ),
        (
            ADMIN,
            json!({"type": "define_rules", "rules": [
            {"key": "thanks", "when": {"type": "deal_won"}, "then": [{"type": "create_task", "title": "Thank the client", "due_in": "1d"}]},
            {"key": "welcome", "when": {"type": "record_created", "record": "deal"}, "then": [{"type": "create_task", "title": "Call", "due_in": "15m"}]}]}),
        ),
        (
            ANTON,
            json!({"type": "create_contact", "name": "Ирина Соколова", "phones": ["+7 916 111-22-33"]}),
        ),
        (
            "usr-1-4",
            json!({"type": "create_contact", "name": "Пётр Кузнецов", "phones": ["+7 812 555-12-34"]}),
        ),
    ];
    // The shop was set up long ago: the import brings in what happened since.
    run_all(&mut crm, "2024-01-10T09:00:00Z", setup);
    let id = crm
        .state()
        .pipelines()
        .values()
        .next()
        .map(|p| p.id.to_string())
        .unwrap();
    (crm, id)
}

fn check(crm: &Crm, actor: &str, input: Value) -> Value {
    let mut query = input;
    query["type"] = json!("check_record_import");
    serde_json::from_str(&crm.query_json(actor, NOW, &query.to_string()).unwrap()).unwrap()
}

fn import(crm: &mut Crm, actor: &str, input: Value) -> Result<Value, CrmError> {
    let mut command = input;
    command["type"] = json!("import_records");
    Ok(serde_json::from_str(&crm.execute_json(actor, NOW, &command.to_string())?).unwrap())
}

fn fixture(path: &str) -> String {
    let path = format!("{}/tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{path}: {err}"))
}

fn deal_titled<'c>(crm: &'c Crm, title: &str) -> &'c Deal {
    crm.state()
        .deals()
        .values()
        .find(|deal| deal.fields.title == title)
        .unwrap_or_else(|| panic!("no deal {title:?}"))
}

fn at(text: &str) -> chrono::DateTime<chrono::Utc> {
    text.parse().unwrap()
}

#[test]
fn an_amocrm_export_comes_in_with_its_stages_owners_links_and_times() {
    let (mut crm, pipeline) = shop("Воронка", json!(["Дорого", "Выбрали конкурента"]));
    let companies =
        json!({"kind": "companies", "preset": "amocrm", "csv": fixture("amocrm/companies.csv")});
    let report = check(&crm, ADMIN, companies.clone());
    assert_eq!(report["problems"], json!([]), "{report}");
    assert_eq!(
        (report["rows"].clone(), report["records"].clone()),
        (json!(2), json!(2))
    );
    import(&mut crm, ADMIN, companies).unwrap();

    let deals = json!({"kind": "deals", "preset": "amocrm", "currency": "RUB", "csv": fixture("amocrm/deals.csv")});
    let report = check(&crm, ADMIN, deals.clone());
    assert_eq!(report["problems"], json!([]), "{report}");
    assert_eq!(
        report["mapping"],
        json!({
            "ID": "ignore", "Название сделки": "title", "Бюджет": "amount",
            "Ответственный": "owner", "Дата создания": "created_at", "Кем создана": "ignore",
            "Дата редактирования": "ignore", "Кем изменена": "ignore",
            "Дата закрытия": "closed_at", "Теги": "tags", "Этап сделки": "stage",
            "Воронка": "pipeline", "Основной контакт": "contact", "Компания": "company",
            "Причина отказа": "lost_reason"
        })
    );
    assert_eq!(report["records"], 4);
    assert_eq!(report["closed"], 2);
    assert_eq!(report["history"], true);
    let tasks_before = crm.state().tasks().len();
    import(&mut crm, ADMIN, deals).unwrap();

    let won = deal_titled(&crm, "Окна на дачу");
    assert_eq!(won.status, DealStatus::Won);
    assert_eq!(
        won.created_at,
        at("2025-03-15T07:12:00Z"),
        "Moscow is UTC+3"
    );
    assert_eq!(won.closed_at, Some(at("2025-04-20T13:00:00Z")));
    assert_eq!(won.owner.to_string(), ANTON);
    assert_eq!(
        won.fields.amount.as_ref().unwrap().to_string(),
        "185000 RUB"
    );
    assert_eq!(won.pipeline.to_string(), pipeline);
    let irina = won.fields.contact.unwrap();
    assert_eq!(crm.state().contacts()[&irina].fields.name, "Ирина Соколова");
    let company = won.fields.company.unwrap();
    assert_eq!(
        crm.state().companies()[&company].fields.name,
        "ООО «Окна Плюс»"
    );

    let lost = deal_titled(&crm, "Балкон под ключ");
    assert_eq!(lost.status, DealStatus::Lost);
    assert_eq!(lost.lost_reason.as_deref(), Some("Дорого"));
    assert_eq!(lost.owner.to_string(), "usr-1-4");

    let open = deal_titled(&crm, "Остекление офиса");
    assert_eq!(open.status, DealStatus::Open);
    assert_eq!(
        open.fields.amount.as_ref().unwrap().to_string(),
        "1250000.50 RUB"
    );
    let stage = crm
        .state()
        .pipelines()
        .values()
        .next()
        .unwrap()
        .stage(open.stage)
        .unwrap();
    assert_eq!(stage.name, "Переговоры");
    // Matched by the phone in the contact column.
    let by_phone = deal_titled(&crm, "Москитные сетки");
    assert_eq!(by_phone.fields.contact, Some(irina));

    // No rule reacted to the imported past: no welcome or thank-you task.
    assert_eq!(crm.state().tasks().len(), tasks_before);
    // Won in April 2025: the revenue report puts it there.
    let revenue: Value = serde_json::from_str(
        &crm.query_json(
            ADMIN,
            NOW,
            &json!({"type": "report", "report": "revenue",
            "from": "2025-04-01", "to": "2025-04-30"})
            .to_string(),
        )
        .unwrap(),
    )
    .unwrap();
    assert!(revenue.to_string().contains("185000"), "{revenue}");
}

#[test]
fn a_bitrix24_export_of_deals_and_tasks_comes_in() {
    let (mut crm, _) = shop("Общее", json!([]));
    let companies = "Название компании;Ответственный\nООО «Окна Плюс»;Мария Иванова\n";
    import(
        &mut crm,
        ADMIN,
        json!({"kind": "companies", "preset": "bitrix24", "csv": companies}),
    )
    .unwrap();
    let deals =
        json!({"kind": "deals", "preset": "bitrix24", "csv": fixture("bitrix24/deals.csv")});
    let report = check(&crm, ADMIN, deals.clone());
    assert_eq!(report["problems"], json!([]), "{report}");
    assert_eq!(report["mapping"]["Дата завершения"], "close_date");
    assert_eq!(report["mapping"]["Направление"], "pipeline");
    import(&mut crm, ADMIN, deals).unwrap();

    let won = deal_titled(&crm, "Окна в коттедж");
    let won_id = won.id;
    assert_eq!(won.status, DealStatus::Won);
    assert_eq!(
        won.closed_at,
        Some(at("2025-09-30T21:00:00Z")),
        "01.10.2025, Moscow midnight"
    );
    assert_eq!(won.fields.source.as_deref(), Some("Сайт"));
    let open = deal_titled(&crm, "Замена стеклопакета");
    assert_eq!(open.status, DealStatus::Open);
    assert_eq!(
        open.fields.expected_close,
        Some("2026-12-15".parse().unwrap()),
        "an open deal's close date is its expected one"
    );
    let lost = deal_titled(&crm, "Ремонт фурнитуры");
    assert_eq!(lost.status, DealStatus::Lost);

    let tasks =
        json!({"kind": "tasks", "preset": "bitrix24", "csv": fixture("bitrix24/tasks.csv")});
    let report = check(&crm, ADMIN, tasks.clone());
    assert_eq!(report["problems"], json!([]), "{report}");
    assert_eq!(
        (report["records"].clone(), report["closed"].clone()),
        (json!(2), json!(1))
    );
    import(&mut crm, ADMIN, tasks).unwrap();
    let state = crm.state();
    let call = state
        .tasks()
        .values()
        .find(|t| t.title == "Позвонить клиенту")
        .unwrap();
    assert_eq!(call.status, TaskStatus::Done);
    assert_eq!(call.closed_at, Some(at("2025-09-06T09:00:00Z")));
    assert_eq!(
        call.closed_by.map(|a| a.to_string()).as_deref(),
        Some("usr-1-4")
    );
    assert_eq!(call.link, Some(won_id.into()));
    let next = state
        .tasks()
        .values()
        .find(|t| t.title == "Согласовать замер")
        .unwrap();
    assert_eq!(next.status, TaskStatus::Open);
    assert_eq!(next.due, Some(at("2026-11-30T15:00:00Z")));
    assert_eq!(next.assignee.to_string(), ANTON);
    // The past is settled: the task done in 2025 never goes overdue.
    let outcome = crm.tick(at("2026-12-01T09:00:00Z")).unwrap();
    let overdue: Vec<_> = outcome
        .events
        .iter()
        .filter(|e| matches!(e.event, Event::TaskOverdue { .. }))
        .collect();
    assert_eq!(
        overdue.len(),
        1,
        "only the open task due on 30 November: {overdue:?}"
    );
}

#[test]
fn every_problem_is_named_by_row_and_column_and_nothing_is_imported() {
    let (mut crm, _) = shop("Воронка", json!(["Дорого"]));
    let csv = "Название,Бюджет,Этап,Ответственный,Дата создания,Контакт,Причина отказа\n\
               Окна,100,Замер,Антон Смирнов,01.02.2025,,\n\
               Двери,сто,Первичный контакт,Иван Грозный,01.02.2025,,\n\
               Балкон,100,Проиграна,Мария Иванова,01.02.2030,Никто,\n\
               Крыша,100,Проиграна,maria@okna.example,01.02.2025,,Скучно\n\
               ,,,,,,\n\
               Веранда,200,В работе,Антон Смирнов,15.02.2025,,\n";
    let input = json!({"kind": "deals", "csv": csv, "currency": "RUB"});
    let report = check(&crm, ADMIN, input.clone());
    assert_eq!(report["rows"], 5);
    assert_eq!(report["records"], 1, "only Веранда is fine: {report}");
    let problems: Vec<(u64, String)> = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["row"].as_u64().unwrap(),
                p["column"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(
        problems,
        vec![
            (2, "Этап".to_string()),
            (3, "Ответственный".to_string()),
            (3, "Бюджет".to_string()),
            (4, "Контакт".to_string()),
            (4, "Дата создания".to_string()),
            (5, "Причина отказа".to_string()),
        ],
        "{report}"
    );
    let messages = report["problems"].to_string();
    assert!(
        messages.contains("\\\"Замер\\\" is not a stage of pipeline \\\"Воронка\\\""),
        "{messages}"
    );
    assert!(
        messages.contains("no user is \\\"Иван Грозный\\\""),
        "{messages}"
    );
    assert!(messages.contains("is in the future"), "{messages}");
    assert!(
        messages.contains("\\\"Скучно\\\" is not a lost reason"),
        "{messages}"
    );

    let before = crm.state().last_seq();
    let error = import(&mut crm, ADMIN, input).unwrap_err();
    assert_eq!(error.code(), "validation");
    assert!(
        error.to_string().contains("6 problem(s), nothing imported"),
        "{error}"
    );
    assert_eq!(crm.state().last_seq(), before);
}

#[test]
fn a_manager_imports_todays_rows_but_only_an_admin_brings_in_the_past() {
    let (mut crm, _) = shop("Воронка", json!([]));
    let today = "Title,Amount,Currency\nNew windows,900,EUR\n";
    import(&mut crm, ANTON, json!({"kind": "deals", "csv": today})).unwrap();
    let deal = deal_titled(&crm, "New windows");
    assert_eq!(deal.created_at, at(NOW));
    assert_eq!(deal.owner.to_string(), ANTON);

    let past = "Title,Created\nOld windows,2025-05-01 10:00\n";
    let report = check(&crm, ANTON, json!({"kind": "deals", "csv": past}));
    assert_eq!(report["history"], true);
    let error = import(&mut crm, ANTON, json!({"kind": "deals", "csv": past})).unwrap_err();
    assert_eq!(error.code(), "permission_denied", "{error}");
    import(&mut crm, ADMIN, json!({"kind": "deals", "csv": past})).unwrap();
    assert_eq!(
        deal_titled(&crm, "Old windows").created_at,
        at("2025-05-01T07:00:00Z")
    );
}

#[test]
fn activities_come_in_at_their_times_by_their_authors() {
    let (mut crm, _) = shop("Воронка", json!([]));
    let csv = "Тип,Дата,Автор,Контакт,Направление,Длительность,Текст\n\
               Звонок,12.03.2025 10:00,Антон Смирнов,Ирина Соколова,входящий,3:25,Хочет окна на дачу\n\
               Примечание,13.03.2025 09:30,Мария Иванова,+7 812 555-12-34,,,Перезвонить в апреле\n";
    let report = check(&crm, ADMIN, json!({"kind": "activities", "csv": csv}));
    assert_eq!(report["problems"], json!([]), "{report}");
    import(&mut crm, ADMIN, json!({"kind": "activities", "csv": csv})).unwrap();
    let state = crm.state();
    let mut activities: Vec<&Activity> = state.activities().values().collect();
    activities.sort_by_key(|a| a.occurred_at);
    assert_eq!(activities.len(), 2);
    let call = activities[0];
    assert_eq!(call.kind, ActivityKind::Call);
    assert_eq!(call.occurred_at, at("2025-03-12T07:00:00Z"));
    assert_eq!(call.duration_seconds, Some(205));
    assert_eq!(call.direction, Some(Direction::Inbound));
    assert_eq!(call.logged_by.to_string(), ANTON);
    let note = activities[1];
    assert_eq!(note.kind, ActivityKind::Note);
    assert_eq!(note.logged_by.to_string(), "usr-1-4");
}

#[test]
fn a_hand_mapping_wins_over_guesses_and_a_bad_one_is_refused() {
    let (crm, _) = shop("Воронка", json!([]));
    let csv = "Deal,Sum\nWindows,100\n";
    let report = check(
        &crm,
        ADMIN,
        json!({"kind": "deals", "csv": csv, "mapping": {"Sum": "ignore"}}),
    );
    assert_eq!(report["mapping"], json!({"Deal": "title", "Sum": "ignore"}));
    assert_eq!(report["guessed"], json!(["Deal"]));
    let error = crm
        .query_json(
            ADMIN,
            NOW,
            &json!({"type": "check_record_import", "kind": "tasks", "csv": csv, "mapping": {"Sum": "amount"}}).to_string(),
        )
        .unwrap_err();
    assert_eq!(error.code(), "validation");
    assert!(error.to_string().contains("mapping.Sum"), "{error}");
    assert!(
        error.to_string().contains("\"amount\" is not a target"),
        "{error}"
    );
}

#[test]
fn deals_exported_as_xlsx_come_back_the_same_into_another_crm() {
    let (mut crm, _) = shop("Воронка", json!(["Дорого", "Выбрали конкурента"]));
    let companies =
        json!({"kind": "companies", "preset": "amocrm", "csv": fixture("amocrm/companies.csv")});
    import(&mut crm, ADMIN, companies.clone()).unwrap();
    let deals = json!({"kind": "deals", "preset": "amocrm", "currency": "RUB", "csv": fixture("amocrm/deals.csv")});
    import(&mut crm, ADMIN, deals).unwrap();
    let export: Value = serde_json::from_str(
        &crm.query_json(
            ADMIN,
            NOW,
            &json!({"type": "export", "entity": "deals", "format": "xlsx"}).to_string(),
        )
        .unwrap(),
    )
    .unwrap();
    let workbook = export["xlsx_base64"].as_str().unwrap();

    let (mut other, _) = shop("Воронка", json!(["Дорого", "Выбрали конкурента"]));
    import(&mut other, ADMIN, companies).unwrap();
    let input = json!({"kind": "deals", "spreadsheet_base64": workbook});
    let report = check(&other, ADMIN, input.clone());
    assert_eq!(report["problems"], json!([]), "{report}");
    assert_eq!(report["mapping"]["id"], "ignore");
    assert_eq!(report["mapping"]["closed_at (Europe/Moscow)"], "closed_at");
    import(&mut other, ADMIN, input).unwrap();
    let summary = |crm: &Crm| {
        let mut deals: Vec<String> = crm
            .state()
            .deals()
            .values()
            .map(|d| {
                let contact = d
                    .fields
                    .contact
                    .map(|c| crm.state().contacts()[&c].fields.name.clone());
                let company = d
                    .fields
                    .company
                    .map(|c| crm.state().companies()[&c].fields.name.clone());
                // An XLSX number cell keeps the value, not the typed scale (1250000.50).
                let amount = d
                    .fields
                    .amount
                    .map(|m| (m.amount().normalize(), m.currency()));
                format!(
                    "{} {:?} {:?} {} {} {:?} {:?} {:?} {:?}",
                    d.fields.title,
                    d.status,
                    amount,
                    d.owner,
                    d.created_at,
                    d.closed_at,
                    d.lost_reason,
                    contact,
                    company
                )
            })
            .collect();
        deals.sort();
        deals
    };
    // The export has no tags column: what it carries comes back.
    let (expected, got) = (summary(&crm), summary(&other));
    assert_eq!(got, expected);
}

mod all_or_nothing {
    use super::*;
    use proptest::prelude::*;

    // The first values of each list are fine in any row; the rest are problems.
    const TITLES: [&str; 4] = ["Окна", "Балкон", "Двери", ""];
    const STAGES: [&str; 5] = [
        "Первичный контакт",
        "Переговоры",
        "Успешно реализовано",
        "Проиграна",
        "Замер",
    ];
    const OWNERS: [&str; 4] = ["Антон Смирнов", "maria@okna.example", "", "Иван Грозный"];
    const AMOUNTS: [&str; 4] = ["1 500", "", "12,50", "сто"];
    const CREATED: [&str; 4] = ["", "01.02.2025 10:00", "31.02.2025", "2030-01-01"];
    const CLOSED: [&str; 4] = ["", "2025-03-01", "2030-01-01", "01.01.2020"];
    const REASONS: [&str; 2] = ["Дорого", "Скучно"];

    /// A row: mostly fine, sometimes with one or more problems.
    fn row() -> impl Strategy<Value = String> {
        (prop::bool::weighted(0.75), any::<[u8; 7]>()).prop_map(|(fine, picks)| {
            let pick = |values: &[&'static str], good: usize, at: usize| {
                let n = if fine { good } else { values.len() };
                values[picks[at] as usize % n]
            };
            format!(
                "{},{},{},\"{}\",{},{},{}",
                pick(&TITLES, 3, 0),
                pick(&STAGES, 4, 1),
                pick(&OWNERS, 3, 2),
                pick(&AMOUNTS, 3, 3),
                pick(&CREATED, 2, 4),
                pick(&CLOSED, 2, 5),
                pick(&REASONS, 1, 6)
            )
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        /// Whatever the rows: the dry run without problems means the import creates
        /// exactly the records it counted; any problem means nothing changes.
        #[test]
        fn an_import_takes_every_row_or_none(rows in prop::collection::vec(row(), 1..6)) {
            let (mut crm, _) = shop("Воронка", json!(["Дорого"]));
            let csv = format!(
                "Название,Этап,Ответственный,Бюджет,Дата создания,Дата закрытия,Причина отказа\n{}\n",
                rows.join("\n")
            );
            let input = json!({"kind": "deals", "currency": "RUB", "csv": csv});
            let report = check(&crm, ADMIN, input.clone());
            let (seq, deals) = (crm.state().last_seq(), crm.state().deals().len());
            match import(&mut crm, ADMIN, input) {
                Ok(_) => {
                    prop_assert_eq!(&report["problems"], &json!([]));
                    let records = report["records"].as_u64().unwrap() as usize;
                    prop_assert_eq!(crm.state().deals().len(), deals + records);
                    let closed = crm.state().deals().values().filter(|d| d.status != DealStatus::Open).count();
                    prop_assert_eq!(closed as u64, report["closed"].as_u64().unwrap());
                    let replayed = Crm::replay(ReplicaId::new(1).unwrap(), CrmOptions::default(), crm.events_since(1).unwrap()).unwrap();
                    prop_assert_eq!(serde_json::to_string(replayed.state()).unwrap(), serde_json::to_string(crm.state()).unwrap());
                }
                Err(err) => {
                    prop_assert_ne!(&report["problems"], &json!([]), "refused after a clean dry run: {}", err);
                    prop_assert_eq!(err.code(), "validation");
                    prop_assert_eq!(crm.state().last_seq(), seq);
                    prop_assert_eq!(crm.state().deals().len(), deals);
                }
            }
        }
    }
}
