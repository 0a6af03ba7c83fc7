//! Batches (docs/server.md): several commands stored as one or not at all, references
//! to what an earlier command created, idempotency keys that answer a retried request
//! instead of running it twice, and the expected position as an optimistic lock.

use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;
use serde_json::{json, Value};

use crm_core::*;

const OLGA: &str = "usr-1-1";
const ANTON: &str = "usr-1-2";

fn t(minutes: i64) -> DateTime<Utc> {
    "2026-12-01T08:00:00Z".parse::<DateTime<Utc>>().unwrap() + Duration::minutes(minutes)
}

fn at(minutes: i64) -> String {
    t(minutes).to_rfc3339()
}

/// Admin Olga, manager Anton, a pipeline, and a rule that makes a call task for every
/// new deal (so batches carry the rules' reactions too).
fn office() -> Crm {
    let mut crm = Crm::new(ReplicaId::new(1).unwrap(), CrmOptions::default()).unwrap();
    let setup = [
        (
            "system",
            json!({"type": "create_user", "name": "Olga", "role": "admin"}),
        ),
        (
            OLGA,
            json!({"type": "create_user", "name": "Anton", "role": "manager"}),
        ),
        (
            OLGA,
            json!({"type": "create_pipeline", "name": "Windows", "stages": [
            {"name": "New"}, {"name": "Measured"}, {"name": "Done", "kind": "won"}]}),
        ),
        (
            OLGA,
            json!({"type": "define_rules", "rules": [{"key": "call", "when": {"type": "record_created", "record": "deal"},
            "then": [{"type": "create_task", "title": "Call the client", "kind": "call", "assignee": "owner", "due_in": "15m"}]}]}),
        ),
    ];
    for (actor, command) in setup {
        crm.execute_json(actor, &at(-60), &command.to_string())
            .unwrap_or_else(|err| panic!("{command}: {err}"));
    }
    crm
}

fn order(name: &str) -> Value {
    json!({"commands": [
        {"type": "create_contact", "name": name, "phones": ["+49 30 1234567"]},
        {"type": "create_deal", "title": "Windows", "contact": {"$ref": 0}},
        {"type": "log_activity", "kind": "note", "body": "Order from the shop", "link": {"$ref": 1}},
    ]})
}

fn run(
    crm: &mut Crm,
    actor: &str,
    minutes: i64,
    batch: &Value,
    key: Option<&str>,
) -> Result<Value, CrmError> {
    crm.execute_batch_json(actor, &at(minutes), &batch.to_string(), key)
        .map(|text| serde_json::from_str(&text).unwrap())
}

fn snapshot(crm: &Crm) -> (u64, Value) {
    (crm.last_seq(), serde_json::to_value(crm.state()).unwrap())
}

#[test]
fn an_order_is_stored_as_one_batch_its_commands_naming_what_the_earlier_ones_made() {
    let mut crm = office();
    let before = crm.last_seq();
    let outcome = run(&mut crm, ANTON, 0, &order("Anna"), None).unwrap();

    let created = outcome["created"].as_array().unwrap();
    assert_eq!(created.len(), 3);
    let (contact, deal) = (created[0].as_str().unwrap(), created[1].as_str().unwrap());
    assert!(
        contact.starts_with("con-") && deal.starts_with("deal-"),
        "{created:?}"
    );
    let found = crm.get(Actor::System, deal.parse().unwrap()).unwrap();
    let found = serde_json::to_value(found).unwrap();
    assert_eq!(found["contact"], contact);
    // The rule's call task is in the same batch, after the deal that set it off.
    let events = outcome["events"].as_array().unwrap();
    let types: Vec<&str> = events
        .iter()
        .map(|e| e["event"]["type"].as_str().unwrap())
        .collect();
    assert!(types.contains(&"task_created"), "{types:?}");
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, ((before + 1)..=crm.last_seq()).collect::<Vec<_>>());
    assert_eq!(outcome["position"], crm.last_seq());
    assert_eq!(outcome.get("replayed"), None);
}

#[test]
fn a_refused_command_refuses_the_batch_naming_its_place_and_changes_nothing() {
    let mut crm = office();
    let before = snapshot(&crm);
    let mut batch = order("Anna");
    batch["commands"][2]["kind"] = json!("telepathy");
    let err = run(&mut crm, ANTON, 0, &batch, Some("order-1")).unwrap_err();
    assert_eq!(err.code(), "malformed");
    assert!(err.to_string().contains("commands[2].kind"), "{err}");
    assert_eq!(snapshot(&crm), before);

    // A decision refused (not a shape): also named, also nothing stored.
    let mut batch = order("Anna");
    batch["commands"][1]["contact"] = json!("con-1-999");
    let err = run(&mut crm, ANTON, 0, &batch, Some("order-1")).unwrap_err();
    assert_eq!(err.code(), "not_found", "{err}");
    assert!(err.to_string().contains("con-1-999"), "{err}");
    assert_eq!(snapshot(&crm), before);

    // The refused requests stored nothing, so the key is still free.
    let outcome = run(&mut crm, ANTON, 1, &order("Anna"), Some("order-1")).unwrap();
    assert_eq!(outcome.get("replayed"), None);
}

#[test]
fn a_reference_must_name_an_earlier_command_that_created_something() {
    let mut crm = office();
    let before = snapshot(&crm);
    for target in [json!(1), json!(7), json!("zero"), json!(-1)] {
        let batch = json!({"commands": [
            {"type": "create_contact", "name": "Anna"},
            {"type": "create_deal", "title": "Windows", "contact": {"$ref": target}},
        ]});
        let err = run(&mut crm, ANTON, 0, &batch, None).unwrap_err();
        assert_eq!(err.code(), "validation", "{target}: {err}");
        assert!(err.to_string().contains("commands[1].contact"), "{err}");
        assert_eq!(snapshot(&crm), before);
    }
}

#[test]
fn the_same_key_and_request_again_is_answered_not_run_twice() {
    let mut crm = office();
    let first = run(&mut crm, ANTON, 0, &order("Anna"), Some("woo-order-1001")).unwrap();
    let after_first = snapshot(&crm);

    // The shop lost the answer and retries, spaced differently: the same answer.
    let spaced = serde_json::to_string_pretty(&order("Anna")).unwrap();
    let again: Value = serde_json::from_str(
        &crm.execute_batch_json(ANTON, &at(5), &spaced, Some("woo-order-1001"))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(again["replayed"], true);
    assert_eq!(again["created"], first["created"]);
    assert_eq!(again["events"], first["events"]);
    assert_eq!(again["position"], first["position"]);
    assert_eq!(snapshot(&crm), after_first, "nothing ran the second time");

    // The key with another request is a client's bug: refused, not answered.
    let err = run(&mut crm, ANTON, 6, &order("Boris"), Some("woo-order-1001")).unwrap_err();
    assert_eq!(err.code(), "validation");
    assert!(err.to_string().contains("idempotency_key"), "{err}");
    assert_eq!(snapshot(&crm), after_first);

    // Keys are each caller's own: Olga's "woo-order-1001" is another request.
    let hers = run(&mut crm, OLGA, 7, &order("Boris"), Some("woo-order-1001")).unwrap();
    assert_eq!(hers.get("replayed"), None);

    // The key survives reopening: it is in the journal, not in memory.
    let reopened = Crm::replay(
        ReplicaId::new(1).unwrap(),
        CrmOptions::default(),
        crm.events_since(1).unwrap(),
    );
    let mut reopened = reopened.unwrap();
    let third = run(
        &mut reopened,
        ANTON,
        8,
        &order("Anna"),
        Some("woo-order-1001"),
    )
    .unwrap();
    assert_eq!(third["replayed"], true);
    assert_eq!(third["events"], first["events"]);
}

#[test]
fn a_key_is_forgotten_after_a_day_and_may_then_be_used_again() {
    let mut crm = office();
    run(&mut crm, ANTON, 0, &order("Anna"), Some("k")).unwrap();
    let hours = IDEMPOTENCY_RETENTION_HOURS * 60;
    let replayed = run(&mut crm, ANTON, hours - 1, &order("Anna"), Some("k")).unwrap();
    assert_eq!(replayed["replayed"], true);
    // Another keyed request a day later sweeps the old key out …
    run(&mut crm, ANTON, hours + 1, &order("Boris"), Some("other")).unwrap();
    // … so the old key runs again.
    let again = run(&mut crm, ANTON, hours + 2, &order("Anna"), Some("k")).unwrap();
    assert_eq!(again.get("replayed"), None);
}

#[test]
fn bad_keys_shapes_and_lone_commands_are_refused_with_nothing_changed() {
    let mut crm = office();
    let before = snapshot(&crm);
    let long = "k".repeat(MAX_IDEMPOTENCY_KEY_BYTES + 1);
    for key in ["", "with space", "ключ", long.as_str()] {
        let err = run(&mut crm, ANTON, 0, &order("Anna"), Some(key)).unwrap_err();
        assert_eq!(err.code(), "validation", "{key:?}");
        assert!(err.to_string().contains("idempotency_key"), "{err}");
    }
    let err = run(&mut crm, ANTON, 0, &json!({"commands": []}), None).unwrap_err();
    assert!(err.to_string().contains("commands"), "{err}");
    let many: Vec<Value> = (0..=MAX_BATCH_COMMANDS)
        .map(|i| json!({"type": "create_contact", "name": format!("C{i}")}))
        .collect();
    let err = run(&mut crm, ANTON, 0, &json!({"commands": many}), None).unwrap_err();
    assert_eq!(err.code(), "too_large");
    let lone = json!({"commands": [{"type": "create_contact", "name": "A"}, {"type": "tick"}]});
    let err = run(&mut crm, OLGA, 0, &lone, None).unwrap_err();
    assert!(err.to_string().contains("commands[1]"), "{err}");
    for text in [
        "{",
        "[]",
        r#"{"commands": [], "extra": 1}"#,
        r#"{"commands": [{"name": "x"}]}"#,
    ] {
        let err = crm
            .execute_batch_json(ANTON, &at(0), text, None)
            .unwrap_err();
        assert_eq!(err.code(), "malformed", "{text}: {err}");
    }
    assert_eq!(snapshot(&crm), before);
}

#[test]
fn an_expected_position_refuses_a_batch_decided_on_an_old_read() {
    let mut crm = office();
    let read = crm.last_seq();
    let mut batch = order("Anna");
    batch["expected_position"] = json!(read);
    let outcome = run(&mut crm, ANTON, 0, &batch, None).unwrap();
    let now_at = outcome["position"].as_u64().unwrap();

    // Someone else wrote meanwhile: the same read position is stale.
    let before = snapshot(&crm);
    let err = run(&mut crm, ANTON, 1, &batch, None).unwrap_err();
    assert_eq!(err.code(), "conflict");
    assert!(err.to_string().contains(&now_at.to_string()), "{err}");
    assert_eq!(snapshot(&crm), before);
}

#[test]
fn the_typed_api_runs_a_batch_as_the_json_one_does() {
    let mut crm = office();
    let batch = CommandBatch {
        commands: vec![
            serde_json::from_value(json!({"type": "create_contact", "name": "Anna"})).unwrap(),
            serde_json::from_value(json!({"type": "create_company", "name": "Glas GmbH"})).unwrap(),
        ],
        expected_position: Some(crm.last_seq()),
    };
    let actor: Actor = ANTON.parse().unwrap();
    let outcome = crm.execute_batch(actor, t(0), &batch, Some("k1")).unwrap();
    assert!(matches!(
        outcome.created[..],
        [Some(AnyId::ContactId(_)), Some(AnyId::CompanyId(_))]
    ));
    let again = crm.execute_batch(actor, t(1), &batch, Some("k1")).unwrap();
    assert!(again.replayed);
    assert_eq!(again.events, outcome.events);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Whatever mix of good and bad batches arrives, each is stored whole or not at
    /// all: the journal holds exactly the good ones' events, and the state is what
    /// replaying that journal gives.
    #[test]
    fn batches_are_all_or_nothing(plan in prop::collection::vec((1usize..5, prop::option::of(0usize..5)), 1..8)) {
        let mut crm = office();
        for (round, (size, bad)) in plan.iter().enumerate() {
            let commands: Vec<Value> = (0..*size)
                .map(|i| if Some(i) == *bad {
                    json!({"type": "create_deal", "title": "x", "contact": "con-1-999"})
                } else {
                    json!({"type": "create_contact", "name": format!("R{round}C{i}")})
                })
                .collect();
            let before = snapshot(&crm);
            let result = run(&mut crm, ANTON, round as i64, &json!({"commands": commands}), Some(&format!("r{round}")));
            match bad.filter(|b| b < size) {
                Some(_) => {
                    prop_assert!(result.is_err());
                    prop_assert_eq!(snapshot(&crm), before);
                }
                None => {
                    let outcome = result.unwrap();
                    prop_assert_eq!(outcome["created"].as_array().unwrap().len(), *size);
                    prop_assert_eq!(crm.last_seq(), before.0 + *size as u64 + 1);
                }
            }
        }
        let replayed = Crm::replay(ReplicaId::new(1).unwrap(), CrmOptions::default(), crm.events_since(1).unwrap()).unwrap();
        prop_assert_eq!(snapshot(&replayed), snapshot(&crm));
    }
}
