//! The conformance suite (crm-conformance) against a real PostgreSQL: the one the
//! test command started (`CRM_POSTGRES_URL`), or else the repository's own
//! `scripts/postgres start` (idempotent), so `cargo test` works on its own too.

use crm_conformance::Store;
use crm_core::Journal;
use crm_store_postgres::PostgresJournal;

/// The database to test against.
pub fn database() -> String {
    if let Ok(url) = std::env::var("CRM_POSTGRES_URL") {
        return url;
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/postgres");
    let started = std::process::Command::new(script)
        .arg("start")
        .output()
        .expect("scripts/postgres runs");
    assert!(
        started.status.success(),
        "no PostgreSQL: scripts/postgres start failed (scripts/setup installs it): {}",
        String::from_utf8_lossy(&started.stderr)
    );
    String::from_utf8(started.stdout)
        .unwrap()
        .trim()
        .to_string()
}

/// One business in the test database, emptied first.
struct Business {
    url: String,
    name: String,
}

impl Business {
    fn open(&self) -> PostgresJournal {
        <Self as Store>::open(self)
    }
}

impl Business {
    fn fresh(url: &str, check: &str) -> Business {
        let name = format!("conformance-{check}");
        let mut client = postgres::Client::connect(url, postgres::NoTls).unwrap();
        // The tables may not exist yet: opening a journal makes them.
        drop(
            PostgresJournal::with_client(
                postgres::Client::connect(url, postgres::NoTls).unwrap(),
                &name,
            )
            .unwrap(),
        );
        for table in ["crm_events", "crm_snapshots"] {
            client
                .execute(&format!("DELETE FROM {table} WHERE tenant = $1"), &[&name])
                .unwrap();
        }
        client
            .execute(
                "UPDATE crm_heads SET position = 0 WHERE tenant = $1",
                &[&name],
            )
            .unwrap();
        Business {
            url: url.to_string(),
            name,
        }
    }
}

impl Store for Business {
    type Journal = PostgresJournal;
    fn open(&self) -> PostgresJournal {
        PostgresJournal::connect(&self.url, &self.name).unwrap()
    }
}

#[test]
fn the_postgres_journal_conforms() {
    let url = database();
    crm_conformance::run(&|check| Business::fresh(&url, check));
}

/// The bug class the head row rules out: a transaction that has taken the next position
/// and not committed holds back every later append, so no reader can see a later event
/// while an earlier one is still invisible, and none is skipped when it commits.
#[test]
fn a_long_transaction_holds_back_later_appends_so_no_reader_skips() {
    let url = database();
    let business = Business::fresh(&url, "long_transaction");
    let mut first = crm_core::Crm::open(
        crm_core::ReplicaId::new(1).unwrap(),
        crm_core::CrmOptions::default(),
        business.open(),
    )
    .unwrap();
    first
        .execute_json(
            "system",
            "2026-12-05T09:00:00Z",
            r#"{"type": "create_user", "name": "Olga", "role": "admin"}"#,
        )
        .unwrap();
    let before = business.open().last_seq();
    // The reader and the second writer have their connections before the slow one
    // starts (opening is not what is tested).
    let reader = business.open();
    let second_journal = business.open();

    // A writer takes position before+1 and keeps its transaction open.
    let mut slow = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let mut held = slow.transaction().unwrap();
    let next = i64::try_from(before + 1).unwrap();
    let moved = held
        .execute(
            "UPDATE crm_heads SET position = $3 WHERE tenant = $1 AND position = $2",
            &[&business.name, &(next - 1), &next],
        )
        .unwrap();
    assert_eq!(moved, 1);
    // Its event: another user made (the last event, the admin's, with a new ID).
    let last = crm_core::collect_from(&reader, 1).unwrap().pop().unwrap();
    let mut envelope = serde_json::to_value(&last).unwrap();
    envelope["seq"] = serde_json::json!(before + 1);
    envelope["event"]["user"]["id"] = serde_json::json!("usr-1-50");
    envelope["event"]["user"]["name"] = serde_json::json!("Petr");
    held.execute(
        "INSERT INTO crm_events (tenant, seq, body) VALUES ($1, $2, $3)",
        &[&business.name, &next, &envelope.to_string()],
    )
    .unwrap();

    // Meanwhile another writer appends: it waits on the head row.
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut second = crm_core::Crm::open(
            crm_core::ReplicaId::new(1).unwrap(),
            crm_core::CrmOptions::default(),
            second_journal,
        )
        .unwrap();
        let command = r#"{"type": "create_user", "name": "Ivan", "role": "manager"}"#
            .parse()
            .unwrap();
        let result = second.execute_retrying(
            crm_core::Actor::System,
            "2026-12-05T09:01:00Z".parse().unwrap(),
            &command,
            5,
        );
        done.send(result.map(|outcome| outcome.events.len()))
            .unwrap();
    });
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(
        finished.try_recv().is_err(),
        "the second writer waits for the open transaction"
    );
    // A reader now sees exactly what is committed: nothing after `before`.
    let seen = crm_core::collect_from(&reader, 1).unwrap();
    assert_eq!(seen.len() as u64, before);

    // The slow writer commits; the second finds the head moved, catches up, appends.
    held.commit().unwrap();
    let appended = finished
        .recv_timeout(std::time::Duration::from_secs(20))
        .unwrap()
        .unwrap();
    assert!(appended > 0);
    let all = crm_core::collect_from(&reader, 1).unwrap();
    for (index, event) in all.iter().enumerate() {
        assert_eq!(event.seq, index as u64 + 1, "no gap, nothing skipped");
    }
    assert_eq!(all.len() as u64, before + 1 + appended as u64);
}
