//! The harnesses of crm-core's fuzz targets. Each takes arbitrary bytes, feeds them to
//! one way input enters the engine — the JSON entry points raw and mutated, the rule
//! loader, e-mail, CSV and spreadsheet import, the call parsers, templates, replay of
//! a journal — and checks what must hold whatever the input:
//! - nothing panics (a panic is the fuzzer's crash);
//! - a refusal carries one of the stable codes and leaves state and journal exactly as
//!   they were;
//! - what is accepted replays to the same state.
//!
//! `cargo fuzz run <target>` (fuzz_targets/, feature `libfuzzer`) explores; the corpus
//! it keeps and every crash found are committed under `corpus/` and `regressions/`
//! and replayed by `tests/corpus.rs` in CI on the stable toolchain (README.md).

use std::sync::OnceLock;

use crm_core::{Crm, CrmError, CrmOptions, Journal, ReplicaId};
use serde_json::{json, Value};

/// A target's harness: the bytes the fuzzer made.
pub type Harness = fn(&[u8]);

/// Every target: its name (the folder of its corpus) and its harness.
pub const TARGETS: &[(&str, Harness)] = &[
    ("command_json", command_json),
    ("command_mutated", command_mutated),
    ("query_json", query_json),
    ("rules", rules),
    ("email", email),
    ("import_csv", import_csv),
    ("import_spreadsheet", import_spreadsheet),
    ("calls", calls),
    ("templates", templates),
    ("journal", journal),
];

/// When every input is tried.
const NOW: &str = "2026-12-01T10:00:00Z";

/// The shop's actors: the host, the admin, a head, a manager, a measurer.
const ACTORS: [&str; 5] = ["system", "usr-1-1", "usr-1-3", "usr-1-4", "usr-1-6"];

/// The window shop after its whole reference process
/// (tests/scenarios/window_shop_process.json), with intake configured and a template
/// of its own: what every target works on, cloned per input.
fn shop() -> &'static Crm {
    static SHOP: OnceLock<Crm> = OnceLock::new();
    SHOP.get_or_init(|| {
        let scenario: Value = serde_json::from_str(include_str!(
            "../../tests/scenarios/window_shop_process.json"
        ))
        .expect("the scenario is JSON");
        let options: CrmOptions =
            serde_json::from_value(scenario["options"].clone()).unwrap_or_default();
        let replica = ReplicaId::new(1).expect("1 is a replica id");
        let mut crm = Crm::new(replica, options).expect("an empty CRM opens");
        let mut now = String::from(NOW);
        for step in scenario["steps"].as_array().into_iter().flatten() {
            if let Some(at) = step["at"].as_str() {
                now = at.to_string();
            }
            if let (Some(actor), Some(command)) = (step["actor"].as_str(), step.get("execute")) {
                let _ = crm.execute_json(actor, &now, &command.to_string());
            }
        }
        for setup in [
            json!({"type": "configure_intake", "owner": "usr-1-4", "leads_from_email": true}),
            json!({"type": "define_template", "key": "fuzz", "name": "Fuzz", "source": "{{ deal.title }}"}),
        ] {
            let _ = crm.execute_json("usr-1-1", &now, &setup.to_string());
        }
        crm
    })
}

/// Whether `crm` is still exactly the shop it was cloned from: its journal and its
/// state, derived indexes included.
fn unchanged(crm: &Crm) -> bool {
    let shop = shop();
    crm.journal().last_seq() == shop.journal().last_seq() && crm.state() == shop.state()
}

/// Runs one command as each actor on a copy of the shop: a refusal must carry a
/// known code and change nothing; an accepted command must replay to the same state.
fn command_as_everyone(command: &str) {
    for actor in ACTORS {
        let mut crm = shop().clone();
        match crm.execute_json(actor, NOW, command) {
            Err(err) => {
                known(&err);
                assert!(unchanged(&crm), "a refusal changed something: {err}");
            }
            Ok(_) => {
                let events = crm.events_since(1).expect("the journal reads");
                let replayed = Crm::replay(crm.replica(), crm.options().clone(), events)
                    .expect("accepted events replay");
                assert_eq!(
                    serde_json::to_string(replayed.state()).unwrap_or_default(),
                    serde_json::to_string(crm.state()).unwrap_or_default(),
                    "replay differs after {command}"
                );
            }
        }
    }
}

fn known(err: &CrmError) {
    assert!(
        CrmError::CODES.contains(&err.code()),
        "unknown code: {err:?}"
    );
    assert!(!err.to_string().is_empty());
}

fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

/// Raw bytes as a command (`execute_json`).
pub fn command_json(data: &[u8]) {
    command_as_everyone(&text(data));
}

/// A valid command of the scenario files, broken by the bytes: the first two pick the
/// command, the rest splice odd values into it — structure-aware, so the fuzzer spends
/// its time past the JSON parser, in the handlers.
pub fn command_mutated(data: &[u8]) {
    let commands = scenario_commands();
    if commands.is_empty() || data.len() < 2 {
        return;
    }
    let index = usize::from(u16::from_le_bytes([data[0], data[1]])) % commands.len();
    let mutated = mutate(&commands[index], &data[2..]);
    command_as_everyone(&mutated);
}

/// Raw bytes as a query (`query_json`), asked by each actor (a query borrows the
/// engine immutably, so it cannot change anything).
pub fn query_json(data: &[u8]) {
    let query = text(data);
    let crm = shop();
    for actor in ACTORS {
        if let Err(err) = crm.query_json(actor, NOW, &query) {
            known(&err);
        }
    }
}

/// Bytes as a rule set: read on its own, then defined by the admin.
pub fn rules(data: &[u8]) {
    let source = text(data);
    if let Err(err) = source.parse::<crm_core::RuleSet>() {
        known(&err);
    }
    let command = match serde_json::from_str::<Value>(&source) {
        Ok(Value::Object(mut rules)) => {
            rules.insert("type".into(), json!("define_rules"));
            Value::Object(rules).to_string()
        }
        _ => json!({"type": "define_rules", "rules": source}).to_string(),
    };
    command_as_everyone(&command);
}

/// Bytes as a raw e-mail, as text and as base64.
pub fn email(data: &[u8]) {
    command_as_everyone(&json!({"type": "receive_email", "raw": text(data)}).to_string());
    let encoded = base64(data);
    command_as_everyone(&json!({"type": "receive_email", "raw_base64": encoded}).to_string());
}

/// Bytes as a CSV file: the dry run and the import.
pub fn import_csv(data: &[u8]) {
    let csv = text(data);
    let crm = shop();
    if let Err(err) = crm.query_json(
        "usr-1-4",
        NOW,
        &json!({"type": "check_import", "csv": csv}).to_string(),
    ) {
        known(&err);
    }
    command_as_everyone(&json!({"type": "import_contacts", "csv": csv}).to_string());
}

/// Bytes as a spreadsheet file (XLSX, ODS, anything): the dry run and the import.
pub fn import_spreadsheet(data: &[u8]) {
    let file = base64(data);
    let crm = shop();
    let query = json!({"type": "check_import", "spreadsheet_base64": file});
    if let Err(err) = crm.query_json("usr-1-4", NOW, &query.to_string()) {
        known(&err);
    }
    command_as_everyone(
        &json!({"type": "import_contacts", "spreadsheet_base64": file}).to_string(),
    );
}

/// Bytes as a call record: generic JSON, or an Asterisk CDR's fields.
pub fn calls(data: &[u8]) {
    let value: Value = serde_json::from_slice(data).unwrap_or_else(|_| json!(text(data)));
    command_as_everyone(&json!({"type": "receive_call", "call": value}).to_string());
    command_as_everyone(&json!({"type": "receive_call", "asterisk_cdr": value}).to_string());
}

/// Bytes as a template: defined, then rendered for a deal.
pub fn templates(data: &[u8]) {
    let source = text(data);
    let define =
        json!({"type": "define_template", "key": "fuzz", "name": "Fuzz", "source": source});
    let mut crm = shop().clone();
    match crm.execute_json("usr-1-1", NOW, &define.to_string()) {
        Err(err) => known(&err),
        Ok(_) => {
            let deal = crm.state().deals().keys().next().map(ToString::to_string);
            if let Some(deal) = deal {
                let render = json!({"type": "render_document", "template": "fuzz", "record": deal});
                if let Err(err) = crm.execute_json("usr-1-1", NOW, &render.to_string()) {
                    known(&err);
                }
            }
        }
    }
}

/// Bytes as a journal (a JSON array of events, or the shop's journal broken by them):
/// whatever replays must then answer commands and queries without panicking.
pub fn journal(data: &[u8]) {
    let source = match serde_json::from_slice::<Value>(data) {
        Ok(value @ Value::Array(_)) => value.to_string(),
        _ => {
            let journal = serde_json::to_string(&shop().events_since(1).unwrap_or_default())
                .unwrap_or_default();
            mutate(&journal, data)
        }
    };
    let Ok(events) = crm_core::envelopes_from_json(&source) else {
        return;
    };
    let replica = ReplicaId::new(1).expect("1 is a replica id");
    let mut crm = match Crm::replay(replica, CrmOptions::default(), events) {
        Ok(crm) => crm,
        Err(err) => return known(&err),
    };
    for command in [
        json!({"type": "create_deal", "title": "After replay"}),
        json!({"type": "tick"}),
        json!({"type": "create_task", "title": "Call", "assignee": "usr-1-4"}),
    ] {
        for actor in ACTORS {
            if let Err(err) = crm.execute_json(actor, NOW, &command.to_string()) {
                known(&err);
            }
        }
    }
    for query in [
        json!({"type": "list_deals"}),
        json!({"type": "report", "report": "funnel"}),
        json!({"type": "export", "entity": "deals"}),
    ] {
        if let Err(err) = crm.query_json("usr-1-1", NOW, &query.to_string()) {
            known(&err);
        }
    }
}

/// Every command of the shared scenario files, as JSON text.
fn scenario_commands() -> &'static [String] {
    static COMMANDS: OnceLock<Vec<String>> = OnceLock::new();
    COMMANDS.get_or_init(|| {
        let folder = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/scenarios");
        let mut files: Vec<_> = std::fs::read_dir(folder)
            .into_iter()
            .flatten()
            .flatten()
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
            .collect();
        files.sort();
        files
            .iter()
            .filter_map(|path| std::fs::read_to_string(path).ok())
            .filter_map(|text| serde_json::from_str::<Value>(&text).ok())
            .flat_map(|scenario| {
                scenario["steps"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|step| step.get("execute").map(Value::to_string))
            })
            .collect()
    })
}

/// Values that have broken engines before: wrong types, extremes, odd text.
const ODD: &[&str] = &[
    "null",
    "true",
    "-1",
    "0",
    "1e400",
    "-1e-400",
    "18446744073709551616",
    "4294967296",
    "\"\"",
    "[]",
    "{}",
    "[[[[[[[[[[]]]]]]]]]]",
    "\"\\u0000\"",
    "\"\\ud800\"",
    "\"deal-1-1\"",
    "\"usr-01-1\"",
    "\"con-1-999999\"",
    "\"2026-13-45T99:00:00Z\"",
    "\"9999-12-31T23:59:59Z\"",
    "\"-262143-01-01T00:00:00Z\"",
    "\"79228162514264337593543950335\"",
    "\"0.000000001\"",
    "{\"amount\": \"1e3\", \"currency\": \"EUR\"}",
    "{\"amount\": \"1\", \"currency\": \"XXX\"}",
    "\"{{ 1/0 }}\"",
    "\"{% for x in range(99999999) %}{% endfor %}\"",
];

/// `text` with the edits the bytes describe: each pair of bytes replaces the value after
/// one of its colons with an odd one, deletes a character, or inserts one.
fn mutate(text: &str, data: &[u8]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for edit in data.chunks(3).take(8) {
        if chars.is_empty() {
            break;
        }
        let at =
            usize::from(*edit.get(1).unwrap_or(&0)) * 256 + usize::from(*edit.get(2).unwrap_or(&0));
        match edit[0] % 4 {
            0 => {
                let colons: Vec<usize> = (0..chars.len()).filter(|i| chars[*i] == ':').collect();
                if let Some(&colon) = colons.get(at % colons.len().max(1)) {
                    let end = (colon + 1..chars.len())
                        .find(|&j| chars[j] == ',' || chars[j] == '}')
                        .unwrap_or(chars.len());
                    let odd = ODD[usize::from(edit[0] / 4) % ODD.len()];
                    chars.splice(colon + 1..end, odd.chars());
                }
            }
            1 => {
                chars.remove(at % chars.len());
            }
            2 => chars.insert(
                at % (chars.len() + 1),
                ['"', '{', '[', ',', ':', '\\', 'é', '\u{1F600}'][usize::from(edit[0] / 4) % 8],
            ),
            _ => chars.truncate(at % (chars.len() + 1)),
        }
    }
    chars.into_iter().collect()
}

/// Standard base64, written out so the harness needs no encoder of its own.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}
