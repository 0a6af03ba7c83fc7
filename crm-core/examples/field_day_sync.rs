//! The size of a field day's sync batches (docs/sync.md, docs/performance.md): an
//! office with a history of 200 clients and their deals and tasks. Two field days:
//! an admin's replica of the whole journal, and a measurer's replica of his view
//! (eight jobs given to him). Each pulls in the morning, measures eight jobs offline
//! (each a measurement task completed with its outcome, a call logged and a note),
//! pushes, and pulls the office's answer (the pricing tasks its rule created, which
//! the measurer does not see). Writes each batch as JSON to the directory given
//! (default `target/sync-sizes`) and prints their sizes; `scripts/sync-sizes` adds the
//! gzipped sizes.

use chrono::{DateTime, Duration, Utc};
use crm_core::*;
use serde_json::{json, Value};

fn at(minutes: i64) -> DateTime<Utc> {
    "2026-12-01T06:00:00Z".parse::<DateTime<Utc>>().unwrap() + Duration::minutes(minutes)
}

fn run(crm: &mut Crm, actor: &str, minutes: i64, command: Value) -> Option<String> {
    let outcome: Value = serde_json::from_str(
        &crm.execute_json(actor, &at(minutes).to_rfc3339(), &command.to_string())
            .unwrap_or_else(|err| panic!("{command}: {err}")),
    )
    .unwrap();
    outcome["created"].as_str().map(str::to_string)
}

fn main() -> Result<(), CrmError> {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "target/sync-sizes".into());
    std::fs::create_dir_all(&dir).map_err(|err| CrmError::Storage {
        reason: err.to_string(),
    })?;
    let mut office = Crm::new(
        ReplicaId::new(1)?,
        CrmOptions {
            default_region: Some("RU".into()),
            ..CrmOptions::default()
        },
    )?;
    let admin = run(
        &mut office,
        "system",
        0,
        json!({"type": "create_user", "name": "Olga", "role": "admin"}),
    )
    .unwrap();
    let manager = run(
        &mut office,
        &admin,
        0,
        json!({"type": "create_user", "name": "Anton", "role": "manager"}),
    )
    .unwrap();
    let measurer = run(
        &mut office,
        &admin,
        0,
        json!({"type": "create_user", "name": "Sergey", "role": "specialist"}),
    )
    .unwrap();
    run(
        &mut office,
        &admin,
        0,
        json!({"type": "create_pipeline", "name": "Windows", "stages": [
        {"name": "New"}, {"name": "Measurement"}, {"name": "Pricing"}, {"name": "Done", "kind": "won"}, {"name": "Lost", "kind": "lost"}]}),
    );
    run(
        &mut office,
        &admin,
        0,
        json!({"type": "define_rules", "rules": [{"key": "price", "when": {"type": "task_completed", "kind": "measure"},
        "then": [{"type": "create_task", "title": "Price {{ contact.name }}'s windows", "kind": "price", "assignee": {"user": manager}, "due_in": "4h"}]}]}),
    );
    // The office's history: 200 clients, each with a deal and a measurement task.
    let mut jobs = Vec::new();
    let mut measurer_jobs = Vec::new();
    for n in 0..200i64 {
        let contact = run(&mut office, &manager, 10 + n, json!({"type": "create_contact", "name": format!("Client {n}"),
            "phones": [format!("+7 916 {:03}-{:02}-{:02}", n % 1000, n % 100, (n * 7) % 100)], "address": format!("Lenina {n}, Moscow")})).unwrap();
        let deal = run(
            &mut office,
            &manager,
            10 + n,
            json!({"type": "create_deal", "title": format!("Windows for client {n}"),
            "contact": contact, "amount": {"amount": "85000", "currency": "RUB"}}),
        )
        .unwrap();
        let task = run(
            &mut office,
            &manager,
            10 + n,
            json!({"type": "create_task", "title": "Measure the windows", "kind": "measure",
            "link": deal, "due": at(24 * 60 + n).to_rfc3339(),
            "assignee": if (8..16).contains(&n) { &measurer } else { &manager }}),
        )
        .unwrap();
        if n < 8 {
            jobs.push((deal, task));
        } else if n < 16 {
            measurer_jobs.push((deal, task));
        }
    }
    let rows = field_day(&mut office, 7, admin.parse()?, &jobs, 26 * 60)?;
    let view_rows = field_day(&mut office, 8, measurer.parse()?, &measurer_jobs, 40 * 60)?;
    let write = |name: &str, text: &str| -> Result<usize, CrmError> {
        std::fs::write(format!("{dir}/{name}.json"), text).map_err(|err| CrmError::Storage {
            reason: err.to_string(),
        })?;
        Ok(text.len())
    };
    println!("batch\tcommands/events/records\tbytes");
    for (prefix, rows) in [("", rows), ("view_", view_rows)] {
        for (name, count, text) in rows {
            let name = format!("{prefix}{name}");
            println!("{name}\t{count}\t{}", write(&name, &text)?);
        }
    }
    Ok(())
}

/// One replica's field day (its own replica id) as `user`: the morning pull, the jobs measured offline,
/// the push and its answer, the afternoon pull. Each batch with its size in
/// commands, events or (for a view) records, as JSON.
fn field_day(
    office: &mut Crm,
    replica: u64,
    user: UserId,
    jobs: &[(String, String)],
    mut minute: i64,
) -> Result<Vec<(&'static str, usize, String)>, CrmError> {
    let mut phone = Replica::new(
        ReplicaId::new(replica)?,
        CrmOptions {
            default_region: Some("RU".into()),
            ..CrmOptions::default()
        },
    )?;
    let morning = office.pull(user, 0, None)?;
    phone.receive_pull(&morning)?;
    for (deal, task) in jobs {
        minute += 45;
        let now = at(minute);
        let commands = [
            json!({"type": "log_activity", "kind": "call", "direction": "outbound", "link": deal, "duration_seconds": 95, "outcome": "reached"}),
            json!({"type": "log_activity", "kind": "note", "link": deal, "body": "3 windows, 1450x1200, 1450x1200, 900x1200; old frames to take away; 5th floor, no lift"}),
            json!({"type": "complete_task", "id": task, "outcome": "measured"}),
        ];
        for command in commands {
            let command: Command = command.to_string().parse()?;
            phone.execute(user, now, &command)?;
        }
    }
    let push = phone.push_batch(MAX_PUSH_COMMANDS);
    let answer = office.push(user, at(minute + 60), &push)?;
    phone.receive_push_result(&answer)?;
    let afternoon = office.pull(user, phone.cursor(), None)?;
    phone.receive_pull(&afternoon)?;
    assert!(phone.pending().is_empty());
    Ok(vec![
        ("morning_pull", size(&morning), json(&morning)),
        ("push", push.commands.len(), json(&push)),
        ("push_result", answer.results.len(), json(&answer)),
        ("afternoon_pull", size(&afternoon), json(&afternoon)),
    ])
}

/// What a pull carries: its events, or the records of a view.
fn size(batch: &PullBatch) -> usize {
    batch.view.as_ref().map_or(batch.events.len(), |view| {
        let state = &view.records;
        state.contacts().len()
            + state.deals().len()
            + state.tasks().len()
            + state.activities().len()
            + state.companies().len()
            + state.documents().len()
    })
}

/// A batch as the transport carries it.
fn json<T: serde::Serialize>(batch: &T) -> String {
    serde_json::to_string(batch).unwrap_or_default()
}
