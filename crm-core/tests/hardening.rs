//! Regression tests of the hardening issue (docs/access.md, docs/storage.md, docs/schema.md
//! "Limits"): each test names the finding it reproduces. Every one failed before its fix.

mod common;

use std::ops::ControlFlow;

use common::t0;
use crm_core::*;

/// A journal in memory that counts the events read back from it and, when asked,
/// keeps snapshots but cannot write one (a disk that filled up right after the
/// command's events were committed).
#[derive(Default)]
struct Probe {
    inner: MemoryJournal,
    read: std::cell::Cell<usize>,
    snapshots_fail: bool,
}

impl Journal for Probe {
    fn append(&mut self, batch: &[EventEnvelope]) -> Result<(), CrmError> {
        self.inner.append(batch)
    }
    fn read_from(&self, from: u64) -> Result<Vec<EventEnvelope>, CrmError> {
        let events = self.inner.read_from(from)?;
        self.read.set(self.read.get() + events.len());
        Ok(events)
    }
    fn scan_from(
        &self,
        from: u64,
        visit: &mut dyn FnMut(&EventEnvelope) -> Result<ControlFlow<()>, CrmError>,
    ) -> Result<(), CrmError> {
        self.inner.scan_from(from, &mut |event| {
            self.read.set(self.read.get() + 1);
            visit(event)
        })
    }
    fn get(&self, seq: u64) -> Result<Option<EventEnvelope>, CrmError> {
        self.read.set(self.read.get() + 1);
        self.inner.get(seq)
    }
    fn last_seq(&self) -> u64 {
        self.inner.last_seq()
    }
    fn keeps_snapshots(&self) -> bool {
        self.snapshots_fail
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
    let full_disk = Probe {
        snapshots_fail: true,
        ..Probe::default()
    };
    let mut crm = Crm::open(replica, options, full_disk).unwrap();
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

    // Through `import_events`, as another tab or a host's store would hand them over.
    let mut crm = Crm::replay(replica, CrmOptions::default(), envelopes(&events[..1])).unwrap();
    let before = crm.state().clone();
    let err = crm.import_events(&envelopes(&events[1..])).unwrap_err();
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
    let tasks = crm.state().tasks().len();
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
    let deal = crm.state().deals().keys().next().unwrap().to_string();
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
        crm.state().deals().values().next().unwrap().fields.amount,
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

// ---------------------------------------------------------------------------------
// Access: findings 8 and 9, each reproduced on the two-department window shop.

use common::Shop;
use serde_json::json;

/// After the shop's records were made (`common::at(1)` to `at(3)`): commands are
/// recorded in time order.
const SHOP_NOW: &str = "2026-11-27T09:30:00Z";

fn as_user(
    user: UserId,
    shop: &mut Shop,
    command: serde_json::Value,
) -> Result<serde_json::Value, CrmError> {
    shop.crm
        .execute_json(&user.to_string(), SHOP_NOW, &command.to_string())
        .map(|text| serde_json::from_str(&text).unwrap())
}

fn ask(shop: &Shop, user: UserId, query: serde_json::Value) -> Result<serde_json::Value, CrmError> {
    shop.crm
        .query_json(&user.to_string(), SHOP_NOW, &query.to_string())
        .map(|text| serde_json::from_str(&text).unwrap())
}

/// Finding 8: intake matched callers against every contact whoever ran it, logged on
/// other departments' records and, with `reject`, named whose a phone number is.
#[test]
fn intake_runs_only_as_the_system_or_an_admin() {
    let mut shop = Shop::new();
    let boris = shop.boris;
    let client = shop.contact(boris, "Boris's client");
    let settings =
        json!({"type": "configure_intake", "owner": boris.to_string(), "on_duplicate": "reject"});
    as_user(shop.admin, &mut shop, settings).unwrap();
    let form = json!({"type": "receive_form", "form": "contact", "fields": {"name": "X", "phone": "030 1234567"}});
    let call = json!({"type": "receive_call", "call": {"direction": "inbound", "from": "030 1234567", "to": "1",
        "started_at": "2026-11-27T08:00:00Z", "ended_at": "2026-11-27T08:00:30Z", "outcome": "answered"}});
    let email = json!({"type": "receive_email", "raw": "From: x@example.de\r\nTo: shop@example.de\r\nSubject: Hi\r\nMessage-ID: <1@x>\r\n\r\nHello"});
    for user in [shop.anna, shop.measurer, shop.head] {
        for command in [&form, &call, &email] {
            let before = shop.snapshot();
            let err = as_user(user, &mut shop, command.clone()).unwrap_err();
            assert_eq!(err.code(), "permission_denied", "{user}: {err}");
            assert!(!err.to_string().contains(&client.to_string()), "{err}");
            assert_eq!(shop.snapshot(), before);
        }
    }
    // The host's integration (system) and admins run it as before.
    let err = shop
        .crm
        .execute_json("system", SHOP_NOW, &form.to_string())
        .unwrap_err();
    assert!(err.to_string().contains("matches contact"), "{err}");
    let settings = json!({"type": "configure_intake", "owner": boris.to_string()});
    as_user(shop.admin, &mut shop, settings).unwrap();
    as_user(shop.admin, &mut shop, form).unwrap();
}

/// Finding 9: the dry run and the import answered with other people's contacts and
/// linked new contacts to companies the importer may not read.
#[test]
fn imports_match_only_what_the_importer_may_read() {
    let mut shop = Shop::new();
    let (anna, boris, other_head) = (shop.anna, shop.boris, shop.other_head);
    shop.contact(boris, "Boris's client");
    as_user(
        other_head,
        &mut shop,
        json!({"type": "create_company", "name": "Acme GmbH"}),
    )
    .unwrap();
    let csv = "Name,Phone,Company\nNew Person,030 1234567,Acme GmbH\n";
    let report = ask(&shop, anna, json!({"type": "check_import", "csv": csv})).unwrap();
    assert_eq!(report["duplicates"], json!([]), "{report}");
    assert_eq!(
        report["companies"],
        json!(["Acme GmbH"]),
        "a company of her own: {report}"
    );
    as_user(
        anna,
        &mut shop,
        json!({"type": "import_contacts", "csv": csv}),
    )
    .unwrap();
    let person = common::contact_named(&shop.crm, "New Person");
    let company = person.fields.company.unwrap();
    assert_eq!(shop.crm.state().companies()[&company].owner, anna);
    // Boris's own import still finds his contact.
    let report = ask(&shop, boris, json!({"type": "check_import", "csv": csv})).unwrap();
    assert_eq!(
        report["duplicates"].as_array().unwrap().len(),
        1,
        "{report}"
    );
}

/// Finding 9: a timeline showed other users' tasks on a record (which `get` denied)
/// and the outbox's notifications and webhooks (admins only).
#[test]
fn timelines_show_only_what_the_reader_may_read() {
    let mut shop = Shop::new();
    let (anna, boris, measurer) = (shop.anna, shop.boris, shop.measurer);
    let rules = json!({"type": "define_rules", "rules": [{"key": "tell", "when": {"type": "record_created", "record": "deal"},
        "then": [{"type": "notify", "to": "owner", "text": "New deal"},
                 {"type": "webhook", "url": "https://hooks.example/in?token=s3cret"}]}]});
    as_user(shop.admin, &mut shop, rules).unwrap();
    let deal = shop.deal(anna, None, "100.00");
    shop.task_for(anna, measurer, deal.into(), 60);
    let for_boris = shop.task_for(anna, boris, deal.into(), 90);
    let timeline = |shop: &Shop, user: UserId| -> String {
        ask(
            shop,
            user,
            json!({"type": "timeline", "id": deal.to_string()}),
        )
        .unwrap()
        .to_string()
    };
    let seen_by_measurer = timeline(&shop, measurer);
    assert!(
        !seen_by_measurer.contains(&for_boris.to_string()),
        "{seen_by_measurer}"
    );
    assert!(
        seen_by_measurer.contains("task_created"),
        "his own task is there"
    );
    let err = ask(
        &shop,
        measurer,
        json!({"type": "get", "id": for_boris.to_string()}),
    )
    .unwrap_err();
    assert_eq!(err.code(), "permission_denied");
    let seen_by_anna = timeline(&shop, anna);
    assert!(
        !seen_by_anna.contains("effect_queued") && !seen_by_anna.contains("s3cret"),
        "{seen_by_anna}"
    );
    assert!(
        seen_by_anna.contains(&for_boris.to_string()),
        "she gave that task"
    );
    let seen_by_admin = timeline(&shop, shop.admin);
    assert!(seen_by_admin.contains("effect_queued") && seen_by_admin.contains("s3cret"));
    // explain leaves out what the reader may not see, too.
    let explained = ask(
        &shop,
        anna,
        json!({"type": "explain", "id": deal.to_string()}),
    )
    .unwrap()
    .to_string();
    assert!(
        explained.contains("\"tell\"") && !explained.contains("effect_queued"),
        "{explained}"
    );
}

/// Finding 9: `client_stats` and `contact.stats` summed every won deal of a contact,
/// other managers' included.
#[test]
fn client_stats_count_only_deals_the_viewer_may_read() {
    let mut shop = Shop::new();
    let (admin, anna, boris) = (shop.admin, shop.anna, shop.boris);
    let client = shop.contact(anna, "Regular");
    for (owner, amount) in [(anna, "100.00"), (boris, "900.00")] {
        let deal = shop.deal(admin, Some(client), amount);
        as_user(
            admin,
            &mut shop,
            json!({"type": "assign_owner", "record": deal.to_string(), "owner": owner.to_string()}),
        )
        .unwrap();
        let won = shop.stages[3].to_string();
        as_user(
            admin,
            &mut shop,
            json!({"type": "move_deal", "id": deal.to_string(), "stage": won}),
        )
        .unwrap();
    }
    let stats = |user: UserId| {
        ask(
            &shop,
            user,
            json!({"type": "client_stats", "id": client.to_string()}),
        )
        .unwrap()
    };
    assert_eq!(stats(anna)["visits"], 1, "{}", stats(anna));
    assert_eq!(
        stats(anna)["totals"],
        json!([{"amount": "100.00", "currency": "EUR"}])
    );
    assert_eq!(stats(admin)["visits"], 2);
    // In what a rule writes about Anna's deal, Boris's visit is not counted either.
    as_user(admin, &mut shop, json!({"type": "define_rules", "rules": [{"key": "stats", "when": {"type": "record_created", "record": "deal"},
        "then": [{"type": "notify", "to": "owner", "text": "Visits: {{ contact.stats.visits }}"}]}]})).unwrap();
    shop.deal(anna, Some(client), "50.00");
    let texts: Vec<String> = shop
        .crm
        .drain_outbox()
        .iter()
        .map(|e| serde_json::to_string(&e.body).unwrap())
        .collect();
    assert!(texts.iter().any(|t| t.contains("Visits: 1")), "{texts:?}");
}

/// Finding 9: whoever could merely read a record could give anyone a task on it (who
/// then read it too), and a head's hand-over moved a specialist's tasks on another
/// department's deals to the head.
#[test]
fn tasks_on_a_record_are_given_only_by_who_may_change_it() {
    let mut shop = Shop::new();
    let (admin, anna, boris, measurer, head, other_head) = (
        shop.admin,
        shop.anna,
        shop.boris,
        shop.measurer,
        shop.head,
        shop.other_head,
    );
    let deal = shop.deal(anna, None, "100.00");
    let task = shop.task_for(anna, measurer, deal.into(), 60);
    let new_task = |assignee: UserId| json!({"type": "create_task", "title": "Look", "link": deal.to_string(), "assignee": assignee.to_string()});
    for (actor, assignee) in [(measurer, boris), (measurer, other_head)] {
        let err = as_user(actor, &mut shop, new_task(assignee)).unwrap_err();
        assert_eq!(err.code(), "permission_denied", "{err}");
    }
    let err = as_user(
        measurer,
        &mut shop,
        json!({"type": "reassign_task", "id": task.to_string(), "assignee": boris.to_string()}),
    )
    .unwrap_err();
    assert_eq!(err.code(), "permission_denied", "{err}");
    assert!(ask(&shop, boris, json!({"type": "get", "id": deal.to_string()})).is_err());
    // A reminder for oneself on a record one reads is fine; the owner sends anyone.
    as_user(measurer, &mut shop, new_task(measurer)).unwrap();
    as_user(anna, &mut shop, new_task(boris)).unwrap();

    // A specialist of Sales sent to a Wholesale deal; Sales' head hands over her work.
    let sales = shop.crm.state().users()[&head]
        .department
        .unwrap()
        .to_string();
    let sam: UserId = as_user(
        admin,
        &mut shop,
        json!({"type": "create_user", "name": "Sam", "role": "specialist",
        "department": sales}),
    )
    .unwrap()["created"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let wholesale_deal = shop.deal(other_head, None, "500.00");
    let job = shop.task_for(other_head, sam, wholesale_deal.into(), 60);
    as_user(
        head,
        &mut shop,
        json!({"type": "reassign_owner", "from": sam.to_string(), "to": head.to_string()}),
    )
    .ok();
    assert_eq!(
        shop.crm.state().tasks()[&job].assignee,
        sam,
        "the wholesale job stays with Sam"
    );
    let err = ask(
        &shop,
        head,
        json!({"type": "get", "id": wholesale_deal.to_string()}),
    )
    .unwrap_err();
    assert_eq!(err.code(), "permission_denied");
}

/// Finding 9: `list_rules` showed every user the webhook addresses with their tokens.
#[test]
fn webhook_addresses_are_for_admins() {
    let mut shop = Shop::new();
    let rules = json!({"type": "define_rules", "rules": [{"key": "hook", "when": {"type": "deal_won"},
        "then": [{"type": "webhook", "url": "https://bot:pa55@hooks.example/in/abc?token=s3cret"}]}]});
    as_user(shop.admin, &mut shop, rules).unwrap();
    let seen = ask(&shop, shop.measurer, json!({"type": "list_rules"})).unwrap();
    assert_eq!(
        seen["rules"][0]["then"][0]["url"], "https://hooks.example/…",
        "{seen}"
    );
    let seen = ask(&shop, shop.admin, json!({"type": "list_rules"})).unwrap();
    assert_eq!(
        seen["rules"][0]["then"][0]["url"],
        "https://bot:pa55@hooks.example/in/abc?token=s3cret"
    );
    // And a user ID spelled another way is not the same actor.
    let err = shop
        .crm
        .query_json("usr-01-1", SHOP_NOW, r#"{"type": "list_rules"}"#)
        .unwrap_err();
    assert_eq!(err.code(), "validation", "{err}");
}

// ---------------------------------------------------------------------------------
// Finding 3: the smaller levers, each with its bound.

#[test]
fn answers_have_a_size_budget() {
    let mut shop = Shop::new();
    let anna = shop.anna;
    for n in 0..150 {
        shop.contact(anna, &format!("Client {n}"));
    }
    let page = ask(&shop, anna, json!({"type": "list_contacts"})).unwrap();
    assert_eq!(
        (
            page["items"].as_array().unwrap().len(),
            page["total"].as_u64()
        ),
        (100, Some(150))
    );
    let page = ask(
        &shop,
        anna,
        json!({"type": "list_contacts", "offset": 100, "limit": 1000}),
    )
    .unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 50);
    for query in [
        json!({"type": "list_contacts", "limit": 1001}),
        json!({"type": "list_deals", "limit": 5000}),
        json!({"type": "list_users", "limit": 100000}),
        json!({"type": "timeline", "id": anna.to_string(), "limit": 2000}),
        json!({"type": "find_duplicates", "limit": 1001}),
        json!({"type": "find_duplicates", "max_shared": 5000}),
    ] {
        let err = ask(&shop, shop.admin, query.clone()).unwrap_err();
        assert_eq!(err.code(), "too_large", "{query}: {err}");
    }
}

/// Found by the `command_json` fuzz target: the system actor could log an activity on
/// (and so name) a contact that does not exist, which the journal then refused to
/// replay. A record that is not there is `not_found` for every actor.
#[test]
fn nobody_acts_on_a_record_that_does_not_exist() {
    let mut shop = Shop::new();
    let missing = "con-3-16";
    for actor in [
        "system".to_string(),
        shop.admin.to_string(),
        shop.anna.to_string(),
    ] {
        for command in [
            json!({"type": "log_activity", "kind": "call", "link": missing}),
            json!({"type": "create_task", "title": "Call", "link": missing, "assignee": shop.anna.to_string()}),
            json!({"type": "render_document", "template": "offer", "record": missing}),
        ] {
            let err = shop
                .crm
                .execute_json(&actor, SHOP_NOW, &command.to_string())
                .unwrap_err();
            assert_eq!(err.code(), "not_found", "{actor}: {command}: {err}");
        }
        let err = shop
            .crm
            .query_json(
                &actor,
                SHOP_NOW,
                &json!({"type": "timeline", "id": missing}).to_string(),
            )
            .unwrap_err();
        assert_eq!(err.code(), "not_found");
    }
}

/// Finding 3: `explain` copied the journal from its trigger to the end (4.1 s on
/// 200,000 events) and `rerender` replayed it from the first event. Both now read what
/// they need, however long the journal grows after.
#[test]
fn explain_and_rerender_read_what_they_need_not_the_journal() {
    let replica = ReplicaId::new(1).unwrap();
    let mut crm = Crm::open(replica, CrmOptions::default(), Probe::default()).unwrap();
    common::sales_team(&mut crm, NOW);
    common::run_all(
        &mut crm,
        NOW,
        vec![
            (
                "usr-1-1",
                json!({"type": "create_pipeline", "name": "Sales", "stages": [{"name": "New"}]}),
            ),
            (
                "usr-1-1",
                json!({"type": "define_template", "key": "offer", "name": "Offer", "source": "Offer: {{ deal.title }}"}),
            ),
            (
                "usr-1-1",
                json!({"type": "define_rules", "rules": [{"key": "call", "when": {"type": "record_created", "record": "deal"},
                "then": [{"type": "create_task", "title": "Call", "assignee": "owner"}, {"type": "render_document", "template": "offer"}]}]}),
            ),
            (
                "usr-1-3",
                json!({"type": "create_deal", "title": "Windows"}),
            ),
        ],
    );
    let deal = crm.state().deals().keys().next().unwrap().to_string();
    let document = crm.state().documents().keys().next().unwrap().to_string();
    for n in 0..3_000 {
        let command = json!({"type": "create_contact", "name": format!("Someone {n}")});
        crm.execute_json("usr-1-3", NOW, &command.to_string())
            .unwrap();
    }
    crm.journal().read.set(0);
    let explained = crm
        .query_json(
            "usr-1-3",
            NOW,
            &json!({"type": "explain", "id": deal}).to_string(),
        )
        .unwrap();
    assert!(
        explained.contains("task_created") && explained.contains("document_rendered"),
        "{explained}"
    );
    let read = crm.journal().read.replace(0);
    assert!(read < 20, "explain read {read} events");
    let rerendered = crm
        .query_json(
            "usr-1-1",
            NOW,
            &json!({"type": "rerender", "id": document}).to_string(),
        )
        .unwrap();
    assert!(rerendered.contains("\"identical\":true"), "{rerendered}");
    let read = crm.journal().read.replace(0);
    assert!(read < 5, "rerender read {read} events");
}
