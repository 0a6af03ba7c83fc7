//! Regression tests of the hardening issue (docs/access.md, docs/storage.md, docs/schema.md
//! "Limits"): each test names the finding it reproduces. Every one failed before its fix.

mod common;

use std::ops::ControlFlow;

use common::t0;
use crm_core::*;

/// A journal in memory that keeps snapshots but cannot write one: a disk that filled up
/// right after the command's events were committed.
#[derive(Default)]
struct SnapshotsFail(MemoryJournal);

impl Journal for SnapshotsFail {
    fn append(&mut self, batch: &[EventEnvelope]) -> Result<(), CrmError> {
        self.0.append(batch)
    }
    fn read_from(&self, from: u64) -> Result<Vec<EventEnvelope>, CrmError> {
        self.0.read_from(from)
    }
    fn scan_from(
        &self,
        from: u64,
        visit: &mut dyn FnMut(&EventEnvelope) -> Result<ControlFlow<()>, CrmError>,
    ) -> Result<(), CrmError> {
        self.0.scan_from(from, visit)
    }
    fn get(&self, seq: u64) -> Result<Option<EventEnvelope>, CrmError> {
        self.0.get(seq)
    }
    fn last_seq(&self) -> u64 {
        self.0.last_seq()
    }
    fn keeps_snapshots(&self) -> bool {
        true
    }
    fn save_snapshot(&mut self, _: &Snapshot) -> Result<(), CrmError> {
        Err(CrmError::Storage {
            reason: "cannot write the snapshot: database or disk is full".into(),
        })
    }
}

/// Finding 5: a command whose events are committed is never reported as failed.
#[test]
fn a_failed_snapshot_is_a_warning_and_the_command_stands() {
    let options = CrmOptions {
        snapshot_every: Some(1),
        ..CrmOptions::default()
    };
    let replica = ReplicaId::new(1).unwrap();
    let mut crm = Crm::open(replica, options, SnapshotsFail::default()).unwrap();
    let outcome = crm
        .execute_json(
            "system",
            "2026-11-27T09:00:00Z",
            r#"{"type": "create_user", "name": "Olga", "role": "admin"}"#,
        )
        .expect("the event is stored, so the command succeeded");
    assert!(outcome.contains("\"warnings\""), "{outcome}");
    assert_eq!(crm.journal().last_seq(), 1);
    assert_eq!(crm.warnings().len(), 1);
    assert!(
        crm.warnings()[0].contains("disk is full"),
        "{:?}",
        crm.warnings()
    );
    // Warnings are bounded: a disk that stays full does not grow them without end.
    for n in 0..150 {
        let command = Command::CreateContact(NewContact {
            name: format!("Client {n}"),
            owner: Some("usr-1-1".parse().unwrap()),
            ..NewContact::default()
        });
        let outcome = crm.execute(Actor::System, t0(), &command).unwrap();
        assert_eq!(outcome.warnings.len(), 1);
    }
    assert_eq!(crm.warnings().len(), MAX_WARNINGS);
    assert_eq!(crm.journal().last_seq(), 151);
}

/// The events of a small shop (an admin, a pipeline, a deal), as JSON values to tamper with.
fn shop_events() -> Vec<serde_json::Value> {
    let mut crm = common::german_crm();
    common::run_all(
        &mut crm,
        "2026-11-27T09:00:00Z",
        vec![
            (
                "system",
                serde_json::json!({"type": "create_user", "name": "Olga", "role": "admin"}),
            ),
            (
                "usr-1-1",
                serde_json::json!({"type": "create_pipeline", "name": "Sales",
                "stages": [{"name": "New"}, {"name": "Won", "kind": "won"}]}),
            ),
            (
                "usr-1-1",
                serde_json::json!({"type": "create_deal", "title": "Windows"}),
            ),
        ],
    );
    crm.events_since(1)
        .unwrap()
        .iter()
        .map(|e| serde_json::to_value(e).unwrap())
        .collect()
}

fn envelopes(values: &[serde_json::Value]) -> Vec<EventEnvelope> {
    values
        .iter()
        .map(|v| serde_json::from_value(v.clone()).unwrap())
        .collect()
}

/// Finding 4: a stored `pipeline_created` without stages used to make `create_deal`
/// panic (index out of bounds); stored events are now checked like commands.
#[test]
fn a_journal_with_a_stageless_pipeline_is_refused_not_a_panic() {
    let mut events = shop_events();
    events.truncate(2);
    events[1]["event"]["pipeline"]["stages"] = serde_json::json!([]);
    let replica = ReplicaId::new(1).unwrap();
    let err = Crm::replay(replica, CrmOptions::default(), envelopes(&events)).unwrap_err();
    assert_eq!(err.code(), "storage");
    assert!(
        err.to_string().contains("event 2 (pipeline_created)"),
        "{err}"
    );

    // Through `import`, as another tab or a host's store would hand them over.
    let mut crm = Crm::replay(replica, CrmOptions::default(), envelopes(&events[..1])).unwrap();
    let before = crm.state().clone();
    let err = crm.import(&envelopes(&events[1..])).unwrap_err();
    assert_eq!(err.code(), "validation");
    assert!(
        err.to_string().starts_with("events[0]: (pipeline_created)"),
        "{err}"
    );
    assert_eq!(crm.state(), &before);
    assert_eq!(crm.journal().last_seq(), 1);
    // And the command that used to panic is refused cleanly.
    let err = crm
        .execute_json(
            "usr-1-1",
            "2026-11-27T09:00:00Z",
            r#"{"type": "create_deal", "title": "X"}"#,
        )
        .unwrap_err();
    assert_eq!(err.code(), "validation");
}

/// Finding 4, the general guard: an event naming a record that does not exist, or
/// creating one that does, is refused wherever stored events come in.
#[test]
fn stored_events_must_name_records_that_exist() {
    let replica = ReplicaId::new(1).unwrap();
    let events = shop_events();
    type Tamper = Box<dyn Fn(&mut Vec<serde_json::Value>)>;
    let cases: Vec<(&str, Tamper)> = vec![
        (
            "a deal in a missing pipeline",
            Box::new(|e| e[2]["event"]["deal"]["pipeline"] = "pip-1-99".into()),
        ),
        (
            "a deal in another pipeline's stage",
            Box::new(|e| e[2]["event"]["deal"]["stage"] = "stg-1-99".into()),
        ),
        (
            "a deal owned by nobody",
            Box::new(|e| e[2]["event"]["deal"]["owner"] = "usr-1-99".into()),
        ),
        (
            "a deal created twice",
            Box::new(|e| {
                let mut again = e[2].clone();
                again["seq"] = 4.into();
                e.push(again);
            }),
        ),
    ];
    for (case, tamper) in cases {
        let mut tampered = events.clone();
        tamper(&mut tampered);
        let err = Crm::replay(replica, CrmOptions::default(), envelopes(&tampered)).unwrap_err();
        assert_eq!(err.code(), "storage", "{case}: {err}");
    }
    // Untampered, the same events replay.
    Crm::replay(replica, CrmOptions::default(), envelopes(&events)).unwrap();
}

proptest::proptest! {
    /// Finding 9: every ID the engine accepts has exactly one spelling, the one it
    /// writes, so a host filtering actors by text cannot be bypassed with `usr-01-1`.
    #[test]
    fn every_accepted_id_is_written_back_as_given(text in "(usr|deal|con)-[0-9+ -]{1,4}-[0-9+]{1,4}") {
        if let Ok(id) = text.parse::<AnyId>() {
            proptest::prop_assert_eq!(id.to_string(), text.clone());
        }
        if let Ok(actor) = text.parse::<Actor>() {
            proptest::prop_assert_eq!(actor.to_string(), text);
        }
    }
}

const NOW: &str = "2026-11-27T09:00:00Z";

/// A CRM with the admin Olga (usr-1-1), the Sales department and its manager Anton (usr-1-3).
fn sales() -> Crm {
    let mut crm = common::german_crm();
    common::sales_team(&mut crm, NOW);
    crm
}

fn check_import(crm: &Crm, file: &[u8]) -> Result<serde_json::Value, CrmError> {
    let query =
        serde_json::json!({"type": "check_import", "spreadsheet_base64": common::base64(file)});
    crm.query_json("usr-1-3", NOW, &query.to_string())
        .map(|text| serde_json::from_str(&text).unwrap())
}

fn too_large(result: Result<serde_json::Value, CrmError>, what: &str) {
    match result {
        Err(err) => {
            assert_eq!(err.code(), "too_large", "{err}");
            assert!(err.to_string().contains(what), "{err}");
        }
        Ok(answer) => panic!("accepted: {answer}"),
    }
}

/// Finding 1: a 1.4 KB XLSX with cells at A1 and XFD1048576 made calamine allocate
/// 512 GiB and abort the process; A1 and ZZ199999 took 34 s and 7.5 GiB; an 816-byte
/// ODS of repeated rows and columns took 3.5 GiB. Each is now refused before anything
/// of the claimed size is allocated.
#[test]
fn a_spreadsheet_cannot_make_the_reader_allocate_what_it_claims() {
    use common::{ods_cell, ods_with, xlsx_cell, xlsx_with};
    let crm = sales();
    let far = xlsx_with(&format!(
        r#"<row r="1">{}</row><row r="1048576">{}</row>"#,
        xlsx_cell("A1", "name"),
        xlsx_cell("XFD1048576", "x")
    ));
    assert!(far.len() < 2_000, "{} bytes", far.len());
    too_large(check_import(&crm, &far), "(rows)");
    let wide = xlsx_with(&format!(
        r#"<row r="1">{}</row><row r="199999">{}</row>"#,
        xlsx_cell("A1", "name"),
        xlsx_cell("ZZ199999", "x")
    ));
    too_large(check_import(&crm, &wide), "(columns)");
    let repeated = ods_with(
        r#"<table:table-row table:number-rows-repeated="1000000"><table:table-cell table:number-columns-repeated="1000" office:value-type="float" office:value="1"><text:p>1</text:p></table:table-cell></table:table-row>"#,
    );
    assert!(repeated.len() < 1_500, "{} bytes", repeated.len());
    too_large(check_import(&crm, &repeated), "(cells)");
    // The same refusal from the command, which changes nothing.
    let mut crm = crm;
    let before = crm.journal().last_seq();
    let command =
        serde_json::json!({"type": "import_contacts", "spreadsheet_base64": common::base64(&far)});
    let err = crm
        .execute_json("usr-1-3", NOW, &command.to_string())
        .unwrap_err();
    assert_eq!(err.code(), "too_large");
    assert_eq!(crm.journal().last_seq(), before);

    // What LibreOffice writes — trailing empty cells and rows repeated to the sheet's
    // edge — costs nothing and reads.
    let saved = ods_with(&format!(
        r#"<table:table-row>{}{}<table:table-cell table:number-columns-repeated="16382"/></table:table-row><table:table-row>{}{}<table:table-cell table:number-columns-repeated="16382"/></table:table-row><table:table-row table:number-rows-repeated="1048574"><table:table-cell table:number-columns-repeated="16384"/></table:table-row>"#,
        ods_cell("Name"),
        ods_cell("Phone"),
        ods_cell("Anna Schmidt"),
        ods_cell("030 1234567"),
    ));
    let report = check_import(&crm, &saved).unwrap();
    assert_eq!(report["rows"], 1, "{report}");
    assert_eq!(report["contacts"], 1, "{report}");
    // A sparse XLSX with a gap reads as before: empty rows are skipped.
    let gap = xlsx_with(&format!(
        r#"<row r="1">{}</row><row r="5">{}</row>"#,
        xlsx_cell("B1", "Name"),
        xlsx_cell("B5", "Jürgen Müller")
    ));
    let report = check_import(&crm, &gap).unwrap();
    assert_eq!(
        (report["rows"].as_u64(), report["contacts"].as_u64()),
        (Some(1), Some(1)),
        "{report}"
    );
}

/// Finding 1: Excel 97–2003 files are refused with a hint (their reader sizes buffers
/// from the file's own claims), and so is anything that is not a ZIP container.
#[test]
fn old_excel_files_are_refused_with_a_hint() {
    let crm = sales();
    let mut xls = vec![0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
    xls.resize(4096, 0);
    let err = check_import(&crm, &xls).unwrap_err();
    assert_eq!(err.code(), "validation");
    assert!(
        err.to_string().contains("save it as .xlsx, .ods or .csv"),
        "{err}"
    );
    let err = check_import(&crm, b"PK\x03\x04 not really").unwrap_err();
    assert!(
        err.to_string().contains("not a readable XLSX or ODS file"),
        "{err}"
    );
}

/// Finding 2: a rule that fans out ("when a task is created, create 4 tasks") turned
/// one `create_task` into ~4^8 tasks and ran for minutes; the chain now stops at
/// `max_reaction_events` with `cascade_stopped` (`limit: "events"`), and what it did
/// until then stands.
#[test]
fn a_rule_that_fans_out_stops_at_the_event_budget() {
    let mut crm = sales();
    let create = serde_json::json!({"type": "create_task", "title": "Again", "kind": "fan", "assignee": "owner"});
    let rules = serde_json::json!({"type": "define_rules", "rules": [{
        "key": "fan_out", "when": {"type": "record_created", "record": "task"},
        "then": [create.clone(), create.clone(), create.clone(), create]
    }]});
    crm.execute_json("usr-1-1", NOW, &rules.to_string())
        .unwrap();
    let outcome = crm
        .execute(
            Actor::User("usr-1-3".parse().unwrap()),
            t0(),
            &Command::CreateTask(NewTask {
                title: "Call".into(),
                ..NewTask::default()
            }),
        )
        .unwrap();
    let budget = DEFAULT_MAX_REACTION_EVENTS as usize;
    assert!(
        outcome.events.len() <= budget + 100,
        "{} events",
        outcome.events.len()
    );
    let stopped: Vec<&EventEnvelope> = outcome
        .events
        .iter()
        .filter(|e| {
            matches!(
                e.event,
                Event::CascadeStopped {
                    limit: CascadeLimit::Events,
                    ..
                }
            )
        })
        .collect();
    assert_eq!(stopped.len(), 1, "one record of the stop");
    let tasks = crm.state().tasks.len();
    assert!(tasks > 100 && tasks < budget, "{tasks} tasks");

    // A smaller budget is an option, as documented.
    let mut small = Crm::new(
        ReplicaId::new(1).unwrap(),
        CrmOptions {
            max_reaction_events: Some(50),
            ..CrmOptions::default()
        },
    )
    .unwrap();
    common::sales_team(&mut small, NOW);
    small
        .execute_json("usr-1-1", NOW, &rules.to_string())
        .unwrap();
    let outcome = small
        .execute_json(
            "usr-1-3",
            NOW,
            r#"{"type": "create_task", "title": "Call"}"#,
        )
        .unwrap();
    let outcome: serde_json::Value = serde_json::from_str(&outcome).unwrap();
    let events = outcome["events"].as_array().unwrap();
    let types: Vec<&str> = events
        .iter()
        .map(|e| e["event"]["type"].as_str().unwrap())
        .collect();
    assert!(events.len() < 50 + 30, "{types:?}");
    assert!(
        events
            .iter()
            .any(|e| e["event"]["type"] == "cascade_stopped" && e["event"]["limit"] == "events"),
        "{types:?}"
    );
}

/// A sales CRM with a pipeline and one deal of 40.00 EUR owned by Anton, and its ID.
fn with_deal() -> (Crm, String) {
    let mut crm = sales();
    common::run_all(
        &mut crm,
        NOW,
        vec![
            (
                "usr-1-1",
                serde_json::json!({"type": "create_pipeline", "name": "Sales",
                "stages": [{"name": "New"}, {"name": "Won", "kind": "won"}]}),
            ),
            (
                "usr-1-3",
                serde_json::json!({"type": "create_deal", "title": "Windows",
                "amount": {"amount": "40.00", "currency": "EUR"}}),
            ),
        ],
    );
    let deal = crm.state().deals.keys().next().unwrap().to_string();
    (crm, deal)
}

fn refused(crm: &mut Crm, command: serde_json::Value) -> CrmError {
    let before = (crm.state().clone(), crm.journal().last_seq());
    let err = crm
        .execute_json("usr-1-3", NOW, &command.to_string())
        .expect_err(&command.to_string());
    assert_eq!(
        (crm.state().clone(), crm.journal().last_seq()),
        before,
        "{err}"
    );
    err
}

/// Finding 13: once money moved on a deal, neither line items nor a new amount may
/// change its currency (40.00 EUR paid, then 5.00 RUB of line items, then the refund
/// of the 40.00 EUR failed).
#[test]
fn a_deal_with_payments_keeps_its_currency() {
    let (mut crm, deal) = with_deal();
    let deal = deal.as_str();
    common::run_all(
        &mut crm,
        NOW,
        vec![(
            "usr-1-3",
            serde_json::json!({"type": "record_payment",
        "deal": deal, "amount": {"amount": "40.00", "currency": "EUR"}}),
        )],
    );
    let err = refused(
        &mut crm,
        serde_json::json!({"type": "set_line_items", "deal": deal,
        "items": [{"product": "Window", "quantity": "1", "unit_price": {"amount": "5.00", "currency": "RUB"}}]}),
    );
    assert_eq!(err.code(), "currency_mismatch");
    assert!(
        err.to_string()
            .starts_with("items[0].unit_price: currency mismatch"),
        "{err}"
    );
    let err = refused(
        &mut crm,
        serde_json::json!({"type": "update_deal", "id": deal,
        "patch": {"amount": {"amount": "5.00", "currency": "RUB"}}}),
    );
    assert!(
        err.to_string().starts_with("amount: currency mismatch"),
        "{err}"
    );
    // The refund still adds up.
    common::run_all(
        &mut crm,
        NOW,
        vec![(
            "usr-1-3",
            serde_json::json!({"type": "record_payment",
        "deal": deal, "amount": {"amount": "-40.00", "currency": "EUR"}}),
        )],
    );
}

/// Finding 14: amounts below the currency's minor unit were accepted silently. They
/// are refused, naming the field; a unit price may carry four more decimals.
#[test]
fn amounts_below_the_minor_unit_are_refused() {
    let (mut crm, deal) = with_deal();
    let deal = deal.as_str();
    let err = refused(
        &mut crm,
        serde_json::json!({"type": "record_payment", "deal": deal,
        "amount": {"amount": "0.001", "currency": "EUR"}}),
    );
    assert_eq!(
        err.to_string(),
        "amount: 0.001 EUR has more decimals than EUR allows here (2)"
    );
    let err = refused(
        &mut crm,
        serde_json::json!({"type": "update_deal", "id": deal,
        "patch": {"amount": {"amount": "10.005", "currency": "EUR"}}}),
    );
    assert!(
        err.to_string()
            .starts_with("amount: 10.005 EUR has more decimals"),
        "{err}"
    );
    let err = refused(
        &mut crm,
        serde_json::json!({"type": "update_deal", "id": deal,
        "patch": {"amount": {"amount": "1.5", "currency": "JPY"}}}),
    );
    assert!(
        err.to_string()
            .contains("more decimals than JPY allows here (0)"),
        "{err}"
    );
    // Trailing zeros are not precision.
    common::run_all(
        &mut crm,
        NOW,
        vec![(
            "usr-1-3",
            serde_json::json!({"type": "update_deal", "id": deal,
        "patch": {"amount": {"amount": "12.5000", "currency": "EUR"}}}),
        )],
    );
    // A screw at 0.0035 EUR: the line total is rounded to cents, as documented.
    common::run_all(
        &mut crm,
        NOW,
        vec![(
            "usr-1-3",
            serde_json::json!({"type": "set_line_items", "deal": deal,
        "items": [{"product": "Screw", "quantity": "1000", "unit_price": {"amount": "0.0035", "currency": "EUR"}}]}),
        )],
    );
    assert_eq!(
        crm.state().deals.values().next().unwrap().fields.amount,
        Some(Money::parse("3.50", "EUR").unwrap())
    );
    let err = refused(
        &mut crm,
        serde_json::json!({"type": "set_line_items", "deal": deal,
        "items": [{"product": "Screw", "quantity": "1", "unit_price": {"amount": "0.0000001", "currency": "EUR"}}]}),
    );
    assert!(
        err.to_string().starts_with(
            "items[0].unit_price: 0.0000001 EUR has more decimals than EUR allows here (6)"
        ),
        "{err}"
    );
    // Absurd sizes, where a sum of them would leave Decimal's range.
    let err = refused(
        &mut crm,
        serde_json::json!({"type": "update_deal", "id": deal,
        "patch": {"amount": {"amount": "79228162514264337593543950335", "currency": "EUR"}}}),
    );
    assert!(
        err.to_string().contains("beyond the largest amount"),
        "{err}"
    );
}

/// Finding 15: every refusal names the JSON path of the offending value — a number
/// too large for its type, a currency mismatch, a string where a quantity belongs.
#[test]
fn refusals_name_the_path_of_the_value() {
    let (mut crm, deal) = with_deal();
    let deal = deal.as_str();
    let err = refused(
        &mut crm,
        serde_json::json!({"type": "set_line_items", "deal": deal,
        "items": [{"product": "Window", "quantity": "lots", "unit_price": {"amount": "5.00", "currency": "EUR"}}]}),
    );
    assert_eq!(err.code(), "malformed");
    assert!(
        err.to_string().contains("command.items[0].quantity"),
        "{err}"
    );
    assert!(!err.to_string().contains("amount:"), "{err}");
    let text = format!(
        r#"{{"type": "set_line_items", "deal": "{deal}", "items": [{{"product": "W", "quantity": 1e400, "unit_price": {{"amount": "5.00", "currency": "EUR"}}}}]}}"#
    );
    let err = crm.execute_json("usr-1-3", NOW, &text).unwrap_err();
    assert!(
        err.to_string()
            .contains("at command.items[0].quantity: number out of range"),
        "{err}"
    );
    let err = crm
        .execute_json(
            "usr-1-3",
            NOW,
            r#"{"type": "create_contact", "name": "A", "phones": ["1" "2"]}"#,
        )
        .unwrap_err();
    assert!(err.to_string().contains("at command.phones["), "{err}");
    let err = refused(
        &mut crm,
        serde_json::json!({"type": "set_line_items", "deal": deal, "items": [
        {"product": "A", "quantity": "1", "unit_price": {"amount": "5.00", "currency": "EUR"}},
        {"product": "B", "quantity": "1", "unit_price": {"amount": "5.00", "currency": "RUB"}}]}),
    );
    assert!(
        err.to_string()
            .starts_with("items[1].unit_price: currency mismatch: EUR and RUB"),
        "{err}"
    );
}
