//! The crash test's child process (tests/crash.rs): opens the journal at the given
//! path and executes commands until it is killed, printing the journal position of
//! every command that was acknowledged — the promise the test then checks.
//!
//! Usage: `crash_writer <path> <replica> [pause_ms]` — with a pause, the writer waits
//! that long after each acknowledged command, as an occasional writer does (optimistic
//! appends are not fair to a writer competing with one in a tight loop: storage.md).

use std::io::Write;

use chrono::Duration;
use crm_core::{parse_now, Actor, Crm, CrmError, CrmOptions, Journal, ReplicaId};
use crm_store_sqlite::SqliteJournal;

fn main() -> Result<(), CrmError> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or_else(|| usage("the journal's path"))?;
    let replica: u64 = args
        .next()
        .and_then(|r| r.parse().ok())
        .ok_or_else(|| usage("a replica id"))?;
    let pause =
        std::time::Duration::from_millis(args.next().and_then(|ms| ms.parse().ok()).unwrap_or(0));
    let options = CrmOptions {
        snapshot_every: Some(50),
        ..CrmOptions::default()
    };
    let mut crm = Crm::open(
        ReplicaId::new(replica)?,
        options,
        SqliteJournal::open_or_create(&path)?,
    )?;
    let start = parse_now("2026-11-27T09:00:00Z")?;
    let mut now = start + Duration::seconds(crm.journal().last_seq() as i64);
    if crm.state().users().is_empty() {
        let admin = r#"{"type": "create_user", "name": "Olga", "role": "admin"}"#;
        crm.execute_json("system", &now.to_rfc3339(), admin)?;
    }
    let admin = *crm
        .state()
        .users()
        .keys()
        .next()
        .ok_or_else(|| usage("an admin"))?;
    let mut out = std::io::stdout().lock();
    for n in 0u64.. {
        // The other writer's clock may be ahead: commands are recorded in time order,
        // so each one is after the last event either writer recorded.
        now = (now + Duration::seconds(1)).max(crm.state().last_at().unwrap_or(now));
        let command = format!(
            r#"{{"type": "create_contact", "name": "Client {replica}-{n}", "owner": "{admin}"}}"#
        );
        match crm.execute_json(&Actor::User(admin).to_string(), &now.to_rfc3339(), &command) {
            Ok(_) => {
                // Acknowledged: the batch is committed; from here on it must survive.
                writeln!(out, "{}", crm.journal().last_seq()).ok();
                out.flush().ok();
                std::thread::sleep(pause);
            }
            // Another writer appended: the engine has reloaded; try the next one.
            Err(err) if err.code() == "conflict" => continue,
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

fn usage(what: &str) -> CrmError {
    CrmError::validation(
        "arguments",
        format!("missing {what}; usage: crash_writer <path> <replica>"),
    )
}
