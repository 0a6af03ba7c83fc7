//! The SQLite journal against real files: reopening, concurrent engines, damage.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use crm_core::*;
use crm_store_sqlite::SqliteJournal;

/// A fresh file path under the system temp dir, removed (with WAL and SHM) on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn new() -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "crm-store-test-{}-{}.sqlite",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        TempFile(std::env::temp_dir().join(name))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.0.display()));
        }
    }
}

const NOW: &str = "2026-11-27T09:00:00Z";

fn open(file: &TempFile, replica: u64) -> Crm<SqliteJournal> {
    let journal = SqliteJournal::open_or_create(&file.0).unwrap();
    Crm::open(
        ReplicaId::new(replica).unwrap(),
        CrmOptions::default(),
        journal,
    )
    .unwrap()
}

fn setup(crm: &mut Crm<SqliteJournal>) {
    for command in [
        r#"{"type": "create_user", "name": "Olga", "role": "admin"}"#,
        r#"{"type": "create_user", "name": "Ivan", "role": "manager"}"#,
        r#"{"type": "create_pipeline", "name": "Windows", "stages": [{"name": "New"}, {"name": "Done", "kind": "won"}]}"#,
        r#"{"type": "define_rules", "rules": [{"key": "call", "when": {"type": "record_created", "record": "contact"},
            "then": [{"type": "create_task", "title": "Call {{ contact.name }}", "kind": "call", "due_in": "15m"}]}]}"#,
    ] {
        let actor = if command.contains("Olga") {
            "system"
        } else {
            "usr-1-1"
        };
        crm.execute_json(actor, NOW, command).unwrap();
    }
}

#[test]
fn a_reopened_file_has_every_event_and_the_same_state() {
    let file = TempFile::new();
    let (events, state) = {
        let mut crm = open(&file, 1);
        setup(&mut crm);
        crm.execute_json(
            "usr-1-2",
            NOW,
            r#"{"type": "create_contact", "name": "Anna"}"#,
        )
        .unwrap();
        crm.tick(parse_now("2026-11-27T10:00:00Z").unwrap())
            .unwrap();
        (crm.events_since(1).unwrap(), crm.state().clone())
    };
    assert!(events
        .iter()
        .any(|e| matches!(e.event, Event::TaskOverdue { .. })));
    let reopened = open(&file, 1);
    assert_eq!(reopened.events_since(1).unwrap(), events);
    assert_eq!(reopened.state(), &state);
    assert_eq!(reopened.journal().last_seq(), events.len() as u64);
}

#[test]
fn two_engines_on_one_file_never_interleave_silently() {
    let file = TempFile::new();
    let mut first = open(&file, 1);
    setup(&mut first);
    let mut second = open(&file, 2);
    first
        .execute_json(
            "usr-1-2",
            NOW,
            r#"{"type": "create_contact", "name": "From the first"}"#,
        )
        .unwrap();
    let command = r#"{"type": "create_contact", "name": "From the second"}"#;
    let err = second.execute_json("usr-1-2", NOW, command).unwrap_err();
    assert_eq!(err.code(), "conflict", "{err}");
    // The loser has reloaded: a retry lands after the winner's events.
    second.execute_json("usr-1-2", NOW, command).unwrap();
    let err = first
        .execute_json(
            "usr-1-2",
            NOW,
            r#"{"type": "create_contact", "name": "Again"}"#,
        )
        .unwrap_err();
    assert_eq!(err.code(), "conflict");
    let reopened = open(&file, 3);
    let names: Vec<&str> = reopened
        .state()
        .contacts()
        .values()
        .map(|c| c.fields.name.as_str())
        .collect();
    assert_eq!(names, ["From the first", "From the second"]);
    let seqs: Vec<u64> = reopened
        .events_since(1)
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
    assert_eq!(reopened.state(), second.state());
}

#[test]
fn a_damaged_record_is_reported_by_its_sequence_number() {
    let file = TempFile::new();
    {
        let mut crm = open(&file, 1);
        setup(&mut crm);
    }
    let raw = rusqlite_connection(&file);
    raw.execute(
        "UPDATE events SET body = replace(body, 'Ivan', 'Ivar') WHERE seq = 2",
        [],
    )
    .unwrap();
    drop(raw);
    let journal = SqliteJournal::open_or_create(&file.0).unwrap();
    let err = Crm::open(ReplicaId::new(1).unwrap(), CrmOptions::default(), journal).unwrap_err();
    assert_eq!(err.code(), "storage");
    assert!(err.to_string().contains("event 2 is damaged"), "{err}");
}

#[test]
fn a_file_from_a_newer_build_is_refused() {
    let file = TempFile::new();
    drop(SqliteJournal::open_or_create(&file.0).unwrap());
    let raw = rusqlite_connection(&file);
    raw.execute("UPDATE meta SET value = '99' WHERE key = 'format'", [])
        .unwrap();
    drop(raw);
    let err = SqliteJournal::open_or_create(&file.0).unwrap_err();
    assert_eq!(err.code(), "storage");
    assert!(err.to_string().contains("reads up to 1"), "{err}");
}

/// A second, plain connection to the file, to damage it the way a disk or a person might.
fn rusqlite_connection(file: &TempFile) -> rusqlite::Connection {
    rusqlite::Connection::open(&file.0).unwrap()
}

#[test]
fn opening_from_a_snapshot_equals_replaying_everything() {
    let file = TempFile::new();
    let options = CrmOptions {
        snapshot_every: Some(7),
        ..CrmOptions::default()
    };
    let replica = ReplicaId::new(1).unwrap();
    let journal = SqliteJournal::open_or_create(&file.0).unwrap();
    let mut crm = Crm::open(replica, options.clone(), journal).unwrap();
    setup(&mut crm);
    for n in 0..20 {
        let command = format!(r#"{{"type": "create_contact", "name": "Client {n}"}}"#);
        crm.execute_json("usr-1-2", NOW, &command).unwrap();
    }
    crm.tick(parse_now("2026-11-30T10:00:00Z").unwrap())
        .unwrap();
    drop(crm);
    // More events with snapshots off, so the latest snapshot has a tail to replay.
    let no_snapshots = CrmOptions {
        snapshot_every: Some(0),
        ..CrmOptions::default()
    };
    let mut crm = Crm::open(
        replica,
        no_snapshots,
        SqliteJournal::open_or_create(&file.0).unwrap(),
    )
    .unwrap();
    crm.execute_json(
        "usr-1-2",
        "2026-11-30T10:05:00Z",
        r#"{"type": "create_contact", "name": "After"}"#,
    )
    .unwrap();
    drop(crm);
    let snapshot = SqliteJournal::open_or_create(&file.0)
        .unwrap()
        .load_snapshot()
        .unwrap()
        .unwrap();
    let last = SqliteJournal::open_or_create(&file.0).unwrap().last_seq();
    assert!(
        snapshot.seq > 0 && snapshot.seq < last,
        "a snapshot mid-journal: {} of {last}",
        snapshot.seq
    );
    let reopened = Crm::open(
        replica,
        options.clone(),
        SqliteJournal::open_or_create(&file.0).unwrap(),
    )
    .unwrap();
    assert!(reopened.warnings().is_empty(), "{:?}", reopened.warnings());
    let replayed = Crm::replay(replica, options, reopened.events_since(1).unwrap()).unwrap();
    assert_eq!(reopened.state(), replayed.state());
    assert_eq!(reopened.next_wakeup(), replayed.next_wakeup());
}

#[test]
fn a_damaged_snapshot_is_skipped_with_a_warning() {
    let file = TempFile::new();
    let replica = ReplicaId::new(1).unwrap();
    let mut crm = open(&file, 1);
    setup(&mut crm);
    crm.snapshot().unwrap();
    let state = crm.state().clone();
    drop(crm);
    let raw = rusqlite_connection(&file);
    raw.execute(
        "UPDATE snapshots SET body = replace(body, 'Ivan', 'Ivar')",
        [],
    )
    .unwrap();
    drop(raw);
    let reopened = Crm::open(
        replica,
        CrmOptions::default(),
        SqliteJournal::open_or_create(&file.0).unwrap(),
    )
    .unwrap();
    assert_eq!(reopened.state(), &state);
    assert!(
        reopened.warnings()[0].contains("snapshot ignored"),
        "{:?}",
        reopened.warnings()
    );
}

#[test]
fn an_online_backup_restores_to_the_moment_it_was_taken() {
    let file = TempFile::new();
    let backup = TempFile::new();
    let restored = TempFile::new();
    let mut crm = open(&file, 1);
    setup(&mut crm);
    crm.journal().backup_to(&backup.0).unwrap();
    let at_backup = crm.events_since(1).unwrap();
    crm.execute_json(
        "usr-1-2",
        NOW,
        r#"{"type": "create_contact", "name": "After the backup"}"#,
    )
    .unwrap();
    let journal = SqliteJournal::restore(&backup.0, &restored.0).unwrap();
    assert_eq!(journal.read_from(1).unwrap(), at_backup);
    let err = SqliteJournal::restore(&backup.0, &file.0).unwrap_err();
    assert_eq!(err.code(), "conflict");
}

#[test]
fn json_lines_export_and_import_round_trip_all_or_nothing() {
    let file = TempFile::new();
    let mut crm = open(&file, 1);
    setup(&mut crm);
    let mut lines = Vec::new();
    let written = crm_store_sqlite::export_jsonl(crm.journal(), &mut lines).unwrap();
    assert_eq!(written, crm.journal().last_seq());

    let copy = TempFile::new();
    let mut journal = SqliteJournal::open_or_create(&copy.0).unwrap();
    let read = crm_store_sqlite::import_jsonl(&lines[..], &mut journal).unwrap();
    assert_eq!(read, written);
    let imported = Crm::open(ReplicaId::new(1).unwrap(), CrmOptions::default(), journal).unwrap();
    assert_eq!(imported.state(), crm.state());

    let text = String::from_utf8(lines).unwrap();
    let broken = text.replacen("\"seq\":3", "\"seq\":30", 1);
    let mut empty = SqliteJournal::in_memory().unwrap();
    let err = crm_store_sqlite::import_jsonl(broken.as_bytes(), &mut empty).unwrap_err();
    assert!(
        err.to_string().contains("line 3") && err.code() == "validation",
        "{err}"
    );
    let garbled = text.replacen("{", "[", 1);
    let err = crm_store_sqlite::import_jsonl(garbled.as_bytes(), &mut empty).unwrap_err();
    assert_eq!((err.code(), empty.last_seq()), ("malformed", 0));
}

#[test]
fn a_full_disk_is_a_storage_error_and_changes_nothing() {
    let file = TempFile::new();
    let mut crm = open(&file, 1);
    setup(&mut crm);
    crm.journal()
        .limit_pages(crm.journal().last_seq() + 12)
        .unwrap();
    let mut refused = None;
    for n in 0..2_000 {
        let before = (crm.state().clone(), crm.journal().last_seq());
        let command = format!(
            r#"{{"type": "create_contact", "name": "Client {n} {}"}}"#,
            "x".repeat(150)
        );
        if let Err(err) = crm.execute_json("usr-1-2", NOW, &command) {
            assert_eq!(crm.state(), &before.0, "a refused append changed the state");
            assert_eq!(crm.journal().last_seq(), before.1);
            refused = Some(err);
            break;
        }
    }
    let err = refused.expect("the quota was reached");
    assert_eq!(err.code(), "storage");
    assert!(err.to_string().contains("full"), "{err}");
    drop(crm);
    let reopened = open(&file, 1);
    let replayed = Crm::replay(
        ReplicaId::new(1).unwrap(),
        CrmOptions::default(),
        reopened.events_since(1).unwrap(),
    )
    .unwrap();
    assert_eq!(reopened.state(), replayed.state());
}

#[test]
fn a_read_only_journal_follows_the_writer_and_refuses_to_write() {
    let file = TempFile::new();
    let mut writer = open(&file, 1);
    setup(&mut writer);
    let mut reader = Crm::open(
        ReplicaId::new(2).unwrap(),
        CrmOptions::default(),
        SqliteJournal::open_read_only(&file.0).unwrap(),
    )
    .unwrap();
    assert_eq!(reader.state(), writer.state());

    let before = (reader.state().clone(), reader.journal().last_seq());
    let err = reader
        .execute_json(
            "usr-1-2",
            NOW,
            r#"{"type": "create_contact", "name": "Anna"}"#,
        )
        .unwrap_err();
    assert_eq!(err.code(), "storage");
    assert!(err.to_string().contains("readonly"), "{err}");
    assert_eq!(
        reader.state(),
        &before.0,
        "a refused append changed the state"
    );
    assert_eq!(reader.journal().last_seq(), before.1);
    assert_eq!(reader.snapshot().unwrap_err().code(), "storage");

    writer
        .execute_json(
            "usr-1-2",
            NOW,
            r#"{"type": "create_contact", "name": "Boris"}"#,
        )
        .unwrap();
    let fresh = SqliteJournal::open_read_only(&file.0).unwrap();
    assert_eq!(fresh.read_from(1).unwrap(), writer.events_since(1).unwrap());
    let missing = file.0.with_extension("missing");
    assert_eq!(
        SqliteJournal::open_read_only(&missing).unwrap_err().code(),
        "storage"
    );
}

#[test]
fn execute_retrying_lands_after_the_other_writer() {
    let file = TempFile::new();
    let mut first = open(&file, 1);
    setup(&mut first);
    let mut second = open(&file, 2);
    first
        .execute_json(
            "usr-1-2",
            NOW,
            r#"{"type": "create_contact", "name": "First"}"#,
        )
        .unwrap();
    let command: Command = r#"{"type": "create_contact", "name": "Second"}"#.parse().unwrap();
    let actor: Actor = "usr-1-2".parse().unwrap();
    let outcome = second
        .execute_retrying(actor, parse_now(NOW).unwrap(), &command, 3)
        .unwrap();
    assert_eq!(outcome.events[0].seq, first.journal().last_seq() + 1);
}

#[test]
fn a_snapshot_that_does_not_fit_is_a_warning_and_the_command_stands() {
    // The disk fills exactly between the batch's commit and the snapshot after it: the
    // command must be reported as done (it is), or a host that retries records it twice.
    let file = TempFile::new();
    let options = CrmOptions {
        snapshot_every: Some(500),
        ..CrmOptions::default()
    };
    let mut crm = Crm::open(
        ReplicaId::new(1).unwrap(),
        options.clone(),
        SqliteJournal::open_or_create(&file.0).unwrap(),
    )
    .unwrap();
    crm.execute_json(
        "system",
        NOW,
        r#"{"type": "create_user", "name": "Olga", "role": "admin"}"#,
    )
    .unwrap();
    for n in 0..498 {
        let command = format!(
            r#"{{"type": "create_contact", "name": "Client {n} {}"}}"#,
            "x".repeat(100)
        );
        crm.execute_json("usr-1-1", NOW, &command).unwrap();
    }
    assert_eq!(crm.journal().last_seq(), 499);
    let pages: i64 = rusqlite::Connection::open(&file.0)
        .unwrap()
        .query_row("SELECT page_count FROM pragma_page_count()", [], |row| {
            row.get(0)
        })
        .unwrap();
    // Room for one more event, not for a snapshot of ~500 contacts.
    crm.journal().limit_pages(pages as u64 + 2).unwrap();
    let outcome = crm
        .execute_json(
            "usr-1-1",
            NOW,
            r#"{"type": "create_contact", "name": "Paying client"}"#,
        )
        .expect("the event is committed, so the command succeeded");
    let outcome: serde_json::Value = serde_json::from_str(&outcome).unwrap();
    let warnings = outcome["warnings"]
        .as_array()
        .expect("the outcome carries the warning");
    assert!(
        warnings[0].as_str().unwrap().contains("snapshot"),
        "{warnings:?}"
    );
    assert!(crm.warnings()[0].contains("snapshot"));
    assert_eq!(crm.journal().last_seq(), 500);
    drop(crm);
    let reopened = Crm::open(
        ReplicaId::new(1).unwrap(),
        options,
        SqliteJournal::open_or_create(&file.0).unwrap(),
    )
    .unwrap();
    assert_eq!(reopened.journal().last_seq(), 500, "the event survived");
    assert!(reopened
        .state()
        .contacts()
        .values()
        .any(|c| c.fields.name == "Paying client"));
}
