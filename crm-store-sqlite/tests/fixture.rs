//! A journal written by this version, committed, and opened by every later version:
//! the window-shop scenario (tests/scenarios/window_shop_process.json) in a SQLite file.
//! Regenerate only when the on-disk format deliberately changes (and then keep the
//! old file too): `UPDATE_FIXTURES=1 cargo test -p crm-store-sqlite --test fixture`.

use std::path::PathBuf;

use crm_core::*;
use crm_store_sqlite::SqliteJournal;
use serde_json::Value;

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/window-shop-v1.sqlite")
}

fn write_fixture(path: &PathBuf) {
    let _ = std::fs::remove_file(path);
    let scenario: Value = serde_json::from_str(include_str!(
        "../../tests/scenarios/window_shop_process.json"
    ))
    .unwrap();
    let options = CrmOptions {
        snapshot_every: Some(20),
        ..CrmOptions::default()
    };
    let mut crm = Crm::open(
        ReplicaId::new(1).unwrap(),
        options,
        SqliteJournal::open_or_create(path).unwrap(),
    )
    .unwrap();
    let mut now = String::new();
    for step in scenario["steps"].as_array().unwrap() {
        if let Some(at) = step["at"].as_str() {
            now = at.to_string();
        }
        if !step["execute"].is_null() {
            let _ = crm.execute_json(
                step["actor"].as_str().unwrap(),
                &now,
                &step["execute"].to_string(),
            );
        }
    }
}

#[test]
fn the_version_1_journal_opens_forever() {
    let committed = fixture();
    if std::env::var_os("UPDATE_FIXTURES").is_some() {
        write_fixture(&committed);
    }
    // Opened from a copy: opening may add WAL files next to it.
    let copy = std::env::temp_dir().join(format!("crm-fixture-{}.sqlite", std::process::id()));
    std::fs::copy(&committed, &copy).expect("the committed fixture exists");
    let crm = Crm::open(
        ReplicaId::new(9).unwrap(),
        CrmOptions::default(),
        SqliteJournal::open(&copy).unwrap(),
    )
    .unwrap();
    // Its snapshot is of format 1; this build keeps more in its state, so it ignores
    // that snapshot and replays the journal instead — and says so.
    assert_eq!(
        crm.warnings(),
        ["snapshot ignored, journal replayed: it has format 1, this build reads 4 to 4"],
    );
    let state = crm.state();
    let deal = state
        .deals()
        .values()
        .find(|d| d.fields.title == "3 windows, flat 12")
        .expect("the deal");
    assert_eq!(deal.status, DealStatus::Won);
    assert_eq!(
        deal.fields.amount,
        Some(Money::parse("81825.00", "RUB").unwrap())
    );
    assert_eq!(deal.payments.len(), 2);
    assert_eq!(state.rules().len(), 8);
    assert_eq!(state.documents().len(), 2);
    assert_eq!(
        crm.drain_outbox().len(),
        2,
        "two effects left unacknowledged"
    );
    let replayed = Crm::replay(
        ReplicaId::new(9).unwrap(),
        CrmOptions::default(),
        crm.events_since(1).unwrap(),
    )
    .unwrap();
    assert_eq!(replayed.state(), state);
    drop(crm);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", copy.display()));
    }
}

/// The same journal with snapshots of format 2 (at events 41 and 63), written by the
/// build before the links between records stopped being stored. Format 4 keeps when
/// each field was last edited, which a format 2 snapshot does not have: the snapshot
/// is set aside with a warning and the journal replayed, to the state a replay reaches.
#[test]
fn a_format_2_snapshot_is_replayed_past_to_the_state_of_a_replay() {
    let committed = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/window-shop-snapshot-v2.sqlite");
    let copy = std::env::temp_dir().join(format!(
        "crm-fixture-snapshot-{}.sqlite",
        std::process::id()
    ));
    std::fs::copy(&committed, &copy).expect("the committed fixture exists");
    let journal = SqliteJournal::open(&copy).unwrap();
    let snapshot = journal.load_snapshot().unwrap().expect("a stored snapshot");
    assert_eq!((snapshot.v, snapshot.seq), (2, 63));
    let crm = Crm::open(ReplicaId::new(9).unwrap(), CrmOptions::default(), journal).unwrap();
    assert_eq!(
        crm.warnings(),
        ["snapshot ignored, journal replayed: it has format 2, this build reads 4 to 4"]
    );
    assert_eq!(crm.last_seq(), 64);
    let replayed = Crm::replay(
        ReplicaId::new(9).unwrap(),
        CrmOptions::default(),
        crm.events_since(1).unwrap(),
    )
    .unwrap();
    assert_eq!(replayed.state(), crm.state());
    assert_eq!(replayed.projections(), crm.projections());
    drop(crm);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", copy.display()));
    }
}
