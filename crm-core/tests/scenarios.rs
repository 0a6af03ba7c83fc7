//! Runs the shared scenario files in `tests/scenarios/` through the JSON entry points,
//! exactly as the Python, JavaScript and Kotlin runners do (see tests/scenarios/README.md).

use std::collections::BTreeMap;
use std::path::PathBuf;

use crm_core::{Crm, CrmError, CrmOptions, Replica, ReplicaId, MAX_PUSH_COMMANDS};
use serde_json::Value;

fn scenario_files() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|err| panic!("cannot read {}: {err}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    files
}

/// `expected` is contained in `actual`: objects by key (extra keys allowed), arrays
/// element by element with equal length, scalars equal.
fn contains(expected: &Value, actual: &Value) -> bool {
    match (expected, actual) {
        (Value::Object(want), Value::Object(have)) => want
            .iter()
            .all(|(key, value)| have.get(key).is_some_and(|found| contains(value, found))),
        (Value::Array(want), Value::Array(have)) => {
            want.len() == have.len() && want.iter().zip(have).all(|(w, h)| contains(w, h))
        }
        _ => expected == actual,
    }
}

fn run_scenario(path: &PathBuf) -> usize {
    let name = path.file_name().unwrap().to_string_lossy().to_string();
    let scenario: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let replica = ReplicaId::new(scenario["replica"].as_u64().unwrap()).unwrap();
    let options: CrmOptions = serde_json::from_value(scenario["options"].clone()).unwrap();
    let mut crm = Crm::new(replica, options.clone()).unwrap();
    // Replicas of this CRM by name (docs/sync.md), for scenarios that sync.
    let mut replicas: BTreeMap<String, Replica> = BTreeMap::new();
    for (name, id) in scenario["replicas"].as_object().into_iter().flatten() {
        let id = ReplicaId::new(id.as_u64().unwrap()).unwrap();
        replicas.insert(name.clone(), Replica::new(id, options.clone()).unwrap());
    }
    let mut now = String::new();
    let steps = scenario["steps"].as_array().unwrap();
    for (index, step) in steps.iter().enumerate() {
        let here = format!("{name} step {index}");
        if let Some(at) = step["at"].as_str() {
            now = at.to_string();
        }
        let actor = step["actor"].as_str().unwrap();
        let on = step["on"].as_str();
        let result = if let Some(name) = step["push"].as_str() {
            let replica = replicas.get_mut(name).unwrap();
            let batch = replica.push_batch_json(MAX_PUSH_COMMANDS).unwrap();
            crm.push_json(actor, &now, &batch).inspect(|answer| {
                replica.receive_push_result_json(answer).unwrap();
            })
        } else if let Some(name) = step["pull"].as_str() {
            let replica = replicas.get_mut(name).unwrap();
            pull(&crm, replica, actor)
        } else if let Some(name) = on {
            let replica = replicas.get_mut(name).unwrap();
            if let Some(seq) = step["discard"].as_u64() {
                replica.discard_json(seq)
            } else if let Some(seq) = step["retry"].as_u64() {
                replica.retry_json(seq, &now)
            } else if !step["execute"].is_null() {
                replica.execute_json(actor, &now, &step["execute"].to_string())
            } else {
                replica.query_json(actor, &now, &step["query"].to_string())
            }
        } else if !step["batch"].is_null() {
            let key = step["idempotency_key"].as_str();
            crm.execute_batch_json(actor, &now, &step["batch"].to_string(), key)
        } else if let Some(raw) = step["execute_raw"].as_str() {
            crm.execute_json(actor, &now, raw)
        } else if !step["execute"].is_null() {
            crm.execute_json(actor, &now, &step["execute"].to_string())
        } else {
            crm.query_json(actor, &now, &step["query"].to_string())
        };
        let expect = &step["expect"];
        if let Some(error) = expect.get("error") {
            let err = result
                .err()
                .unwrap_or_else(|| panic!("{here}: expected error {error}"));
            assert_eq!(err.code(), error["code"].as_str().unwrap(), "{here}: {err}");
            if let Some(part) = error["contains"].as_str() {
                assert!(
                    err.to_string().contains(part),
                    "{here}: {err:?} does not contain {part:?}"
                );
            }
            continue;
        }
        let output: Value =
            serde_json::from_str(&result.unwrap_or_else(|err| panic!("{here}: {err}"))).unwrap();
        if let Some(created) = expect.get("created") {
            assert_eq!(&output["created"], created, "{here}");
        }
        if let Some(types) = expect.get("events") {
            let actual: Vec<Value> = output["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["event"]["type"].clone())
                .collect();
            assert_eq!(&Value::Array(actual), types, "{here}");
        }
        if let Some(wanted) = expect.get("result") {
            assert!(
                contains(wanted, &output),
                "{here}: expected {wanted}\n got {output}"
            );
        }
    }
    steps.len()
}

/// A `pull` step: every canonical event after the replica's cursor, then what it still
/// waits for — `{"cursor", "pending", "rejected"}` as JSON.
fn pull(crm: &Crm, replica: &mut Replica, actor: &str) -> Result<String, CrmError> {
    loop {
        let batch = crm.pull_json(actor, replica.cursor(), None)?;
        replica.receive_pull_json(&batch)?;
        let more: Value = serde_json::from_str(&batch).unwrap();
        if more["more"] != Value::Bool(true) {
            break;
        }
    }
    let pending: Value = serde_json::from_str(&replica.pending_json()?).unwrap();
    let rejected: Value = serde_json::from_str(&replica.rejected_json()?).unwrap();
    Ok(
        serde_json::json!({"cursor": replica.cursor(), "pending": pending, "rejected": rejected})
            .to_string(),
    )
}

#[test]
fn every_scenario_passes() {
    let files = scenario_files();
    assert!(
        files.len() >= 3,
        "expected the shared scenarios, found {files:?}"
    );
    for file in &files {
        let steps = run_scenario(file);
        println!("scenario {}: {steps} steps ok", file.display());
    }
}

#[test]
fn the_matcher_is_strict_where_it_should_be() {
    let actual = serde_json::json!({"a": [1, {"b": 2, "c": 3}], "d": "x"});
    assert!(contains(&serde_json::json!({"a": [1, {"b": 2}]}), &actual));
    assert!(!contains(&serde_json::json!({"a": [1]}), &actual));
    assert!(!contains(&serde_json::json!({"d": "y"}), &actual));
    assert!(!contains(&serde_json::json!({"e": null}), &actual));
}
