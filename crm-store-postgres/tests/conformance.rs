//! The conformance suite (crm-conformance) against a real PostgreSQL: the one the
//! test command started (`CRM_POSTGRES_URL`), or else the repository's own
//! `scripts/postgres start` (idempotent), so `cargo test` works on its own too.

use crm_conformance::Store;
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
