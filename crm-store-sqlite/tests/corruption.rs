//! Damaged files: truncated at random offsets, a flipped byte in the last record, a
//! deleted WAL. Each gives a clear error or a prefix of the true journal — never a
//! panic, never wrong data — and recovery keeps every intact event.

use std::path::{Path, PathBuf};

use crm_core::*;
use crm_store_sqlite::SqliteJournal;

struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("crm-corrupt-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Dir(dir)
    }
    fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A journal of 1 user and `contacts` contacts, closed cleanly (WAL checkpointed).
fn journal(path: &Path, contacts: usize) -> Vec<EventEnvelope> {
    let journal = SqliteJournal::open_or_create(path).unwrap();
    let mut crm = Crm::open(ReplicaId::new(1).unwrap(), CrmOptions::default(), journal).unwrap();
    let now = "2026-11-27T09:00:00Z";
    crm.execute_json(
        "system",
        now,
        r#"{"type": "create_user", "name": "Olga", "role": "admin"}"#,
    )
    .unwrap();
    for n in 0..contacts {
        let command = format!(r#"{{"type": "create_contact", "name": "Client number {n:04}"}}"#);
        crm.execute_json("usr-1-1", now, &command).unwrap();
    }
    crm.events_since(1).unwrap()
}

/// Opens and reads a possibly damaged file (without writing to it): the events, or
/// the error's code.
fn read(path: &Path) -> Result<Vec<EventEnvelope>, String> {
    let journal =
        SqliteJournal::open_read_only(path).map_err(|err| format!("{}: {err}", err.code()))?;
    journal
        .read_from(1)
        .map_err(|err| format!("{}: {err}", err.code()))
}

#[test]
fn a_truncated_file_gives_an_error_or_a_true_prefix() {
    let dir = Dir::new("truncate");
    let original = dir.file("journal.sqlite");
    let events = journal(&original, 300);
    let bytes = std::fs::read(&original).unwrap();
    let (mut errors, mut prefixes) = (0, 0);
    for step in 1..40u64 {
        let cut = (bytes.len() as u64 * step / 40) as usize;
        let copy = dir.file(&format!("cut-{step}.sqlite"));
        std::fs::write(&copy, &bytes[..cut]).unwrap();
        match read(&copy) {
            Ok(found) => {
                assert!(
                    found.len() <= events.len() && found[..] == events[..found.len()],
                    "cut at {cut}: not a prefix"
                );
                prefixes += 1;
            }
            Err(err) => {
                assert!(err.starts_with("storage: "), "cut at {cut}: {err}");
                errors += 1;
            }
        }
    }
    println!("truncation: {errors} clear errors, {prefixes} true prefixes, 0 wrong");
}

#[test]
fn a_flipped_byte_in_the_last_record_is_named_and_recovery_keeps_the_rest() {
    let dir = Dir::new("flip");
    let original = dir.file("journal.sqlite");
    let events = journal(&original, 50);
    let mut bytes = std::fs::read(&original).unwrap();
    let needle = b"Client number 0049";
    let at = bytes
        .windows(needle.len())
        .rposition(|w| w == needle)
        .expect("the last contact's name is in the file");
    bytes[at + 7] ^= 0x20;
    std::fs::write(&original, &bytes).unwrap();
    let err = read(&original).unwrap_err();
    assert!(
        err.contains(&format!("event {} is damaged", events.len())),
        "{err}"
    );

    let recovered = dir.file("recovered.sqlite");
    let report = SqliteJournal::recover(&original, &recovered).unwrap();
    assert_eq!(report.kept, events.len() as u64 - 1);
    assert_eq!(report.not_kept, 0);
    assert!(report.problems[0].contains("is damaged"), "{report:?}");
    assert_eq!(read(&recovered).unwrap()[..], events[..events.len() - 1]);
    // The damaged file is left as it was.
    assert_eq!(std::fs::read(&original).unwrap(), bytes);
}

#[test]
fn a_deleted_wal_loses_nothing_after_a_clean_close_and_leaves_a_true_prefix_otherwise() {
    let dir = Dir::new("wal");
    let path = dir.file("journal.sqlite");
    let events = journal(&path, 20);
    let _ = std::fs::remove_file(format!("{}-wal", path.display()));
    assert_eq!(read(&path).unwrap(), events);

    // A writer still open (as if the machine died): copy the files, drop the WAL copy.
    let mut crm = Crm::open(
        ReplicaId::new(1).unwrap(),
        CrmOptions::default(),
        SqliteJournal::open_or_create(&path).unwrap(),
    )
    .unwrap();
    crm.execute_json(
        "usr-1-1",
        "2026-11-27T10:00:00Z",
        r#"{"type": "create_contact", "name": "In the WAL"}"#,
    )
    .unwrap();
    let copy = dir.file("copy.sqlite");
    std::fs::copy(&path, &copy).unwrap();
    let found = read(&copy).unwrap();
    assert!(
        found[..] == crm.events_since(1).unwrap()[..found.len()],
        "not a prefix"
    );
    drop(crm);
}

#[test]
fn recovering_an_intact_journal_copies_it_all() {
    let dir = Dir::new("intact");
    let original = dir.file("journal.sqlite");
    let events = journal(&original, 10);
    let report = SqliteJournal::recover(&original, dir.file("copy.sqlite")).unwrap();
    assert_eq!(
        (report.kept, report.not_kept, report.problems.len()),
        (events.len() as u64, 0, 0)
    );
    let err = SqliteJournal::recover(&original, &original).unwrap_err();
    assert_eq!(err.code(), "conflict");
}

/// Finding 6 of the hardening issue: a file cut short (even by its last 4 KiB) used to
/// yield nothing ("database disk image is malformed"); its intact prefix is recovered.
#[test]
fn recovery_salvages_the_intact_prefix_of_a_truncated_file() {
    let dir = Dir::new("recover-truncated");
    let original = dir.file("journal.sqlite");
    let events = journal(&original, 3_000);
    let bytes = std::fs::read(&original).unwrap();
    let mut salvaged = Vec::new();
    for (index, missing) in [4_096usize, 8_192, 65_536, bytes.len() / 4, bytes.len() / 2]
        .into_iter()
        .enumerate()
    {
        let cut = dir.file(&format!("cut-{index}.sqlite"));
        std::fs::write(&cut, &bytes[..bytes.len() - missing]).unwrap();
        let into = dir.file(&format!("recovered-{index}.sqlite"));
        let report = SqliteJournal::recover(&cut, &into).unwrap();
        let found = read(&into).unwrap();
        assert_eq!(found.len() as u64, report.kept);
        assert!(found[..] == events[..found.len()], "not a prefix");
        salvaged.push((missing, report.kept));
    }
    println!(
        "salvaged (bytes missing, events kept of {}): {salvaged:?}",
        events.len()
    );
    assert!(
        salvaged[0].1 as usize > events.len() / 2,
        "the last 4 KiB missing must not lose most of the journal: {salvaged:?}"
    );
}

/// An engine on the existing journal at `path`.
fn engine(path: &Path) -> Crm<SqliteJournal> {
    let journal = SqliteJournal::open(path).unwrap();
    Crm::open(ReplicaId::new(1).unwrap(), CrmOptions::default(), journal).unwrap()
}

/// Finding 7: a deleted WAL reopened silently as an older journal, and opening a
/// misspelt path created a new, empty one.
#[test]
fn a_lost_wal_and_a_missing_file_are_said_out_loud() {
    let dir = Dir::new("lost-wal");
    let path = dir.file("journal.sqlite");
    let err = SqliteJournal::open(&path).unwrap_err();
    assert!(err.to_string().contains("there is no journal at"), "{err}");
    assert!(!path.exists(), "nothing was created");
    drop(SqliteJournal::create(&path).unwrap());
    assert_eq!(SqliteJournal::create(&path).unwrap_err().code(), "conflict");
    journal(&path, 5);
    // Closed cleanly: no WAL, no warning.
    let crm = engine(&path);
    assert_eq!(crm.warnings(), &[] as &[String]);
    drop(crm);

    // A writer dies with events in its WAL; the WAL is then lost.
    let mut crm = engine(&path);
    crm.execute_json(
        "usr-1-1",
        "2026-11-27T10:00:00Z",
        r#"{"type": "create_contact", "name": "In the WAL"}"#,
    )
    .unwrap();
    let copy = dir.file("copy.sqlite");
    std::fs::copy(&path, &copy).unwrap();
    drop(crm);
    let reopened = engine(&copy);
    let warnings = reopened.warnings();
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("was not closed cleanly") && w.contains("write-ahead log")),
        "{warnings:?}"
    );
    // The same file with its WAL (a crash, nothing lost) opens without a warning.
    let crashed = dir.file("crashed.sqlite");
    let mut crm = engine(&path);
    crm.execute_json(
        "usr-1-1",
        "2026-11-27T10:00:00Z",
        r#"{"type": "create_contact", "name": "Also in the WAL"}"#,
    )
    .unwrap();
    std::fs::copy(&path, &crashed).unwrap();
    std::fs::copy(
        format!("{}-wal", path.display()),
        format!("{}-wal", crashed.display()),
    )
    .unwrap();
    drop(crm);
    let reopened = engine(&crashed);
    assert_eq!(reopened.warnings(), &[] as &[String]);
    assert!(reopened
        .state()
        .contacts()
        .values()
        .any(|c| c.fields.name == "Also in the WAL"));
}

/// Recovery keeps only what an engine will open: an intact record that names a record
/// that does not exist (a journal edited by hand) ends the recovered prefix, as damage
/// does, so the recovered file always opens.
#[test]
fn recovery_stops_before_an_event_that_cannot_follow_the_ones_before_it() {
    let dir = Dir::new("recover-insane");
    let original = dir.file("journal.sqlite");
    let events = journal(&original, 5);
    let raw = rusqlite::Connection::open(&original).unwrap();
    let mut envelope = serde_json::to_value(&events[3]).unwrap();
    envelope["event"]["contact"]["owner"] = "usr-1-99".into();
    let body = envelope.to_string();
    raw.execute(
        "UPDATE events SET body = ?1, crc = ?2 WHERE seq = 4",
        rusqlite::params![body, i64::from(crc32fast::hash(body.as_bytes()))],
    )
    .unwrap();
    drop(raw);
    let err = Crm::open(
        ReplicaId::new(1).unwrap(),
        CrmOptions::default(),
        SqliteJournal::open(&original).unwrap(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("names user usr-1-99"), "{err}");
    let recovered = dir.file("recovered.sqlite");
    let report = SqliteJournal::recover(&original, &recovered).unwrap();
    assert_eq!((report.kept, report.not_kept), (3, 2), "{report:?}");
    assert!(
        report.problems[0].contains("event 4 cannot follow"),
        "{report:?}"
    );
    assert_eq!(engine(&recovered).journal().last_seq(), 3);
}
