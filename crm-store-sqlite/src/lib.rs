#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

use std::io::{BufRead, Write};
use std::ops::ControlFlow;
use std::path::Path;

use crm_core::{envelope_from_json, CrmError, EventEnvelope, Journal, Snapshot};

mod replica;
pub use replica::ReplicaFile;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};

/// The on-disk format this build writes (the `format` row of the `meta` table).
pub const FORMAT: u32 = 1;

/// A crm-core journal in one SQLite file: every event a row with its JSON and a CRC32.
///
/// Durability: WAL mode with `synchronous = FULL`, so a batch is on disk (WAL fsynced)
/// before `append` returns and the engine reports success; `NORMAL` would be faster
/// but may lose the last commits on power failure.
#[derive(Debug)]
pub struct SqliteJournal {
    conn: Connection,
    last_seq: u64,
    /// Whether this connection writes (and so marks the file open and, at drop, closed).
    writer: bool,
    /// What opening noticed that an operator should know (see [`Journal::warnings`]).
    warnings: Vec<String>,
}

impl SqliteJournal {
    /// Opens the existing journal at `path`; a missing file is an error, so a misspelt
    /// path never silently starts an empty CRM. [`SqliteJournal::create`] makes a new
    /// one, [`SqliteJournal::open_or_create`] does either.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, CrmError> {
        let path = path.as_ref();
        if !path.exists() {
            return Err(CrmError::Storage {
                reason: format!(
                    "there is no journal at {} (create one with `create`, or `open_or_create`)",
                    path.display()
                ),
            });
        }
        Self::open_file(path)
    }

    /// Creates a new journal at `path`; an existing file there is refused (`conflict`).
    pub fn create(path: impl AsRef<Path>) -> Result<Self, CrmError> {
        let path = path.as_ref();
        if path.exists() {
            return Err(CrmError::conflict(format!(
                "{} already exists; open it, or create the journal elsewhere",
                path.display()
            )));
        }
        Self::open_file(path)
    }

    /// Opens the journal at `path`, creating it when there is none.
    pub fn open_or_create(path: impl AsRef<Path>) -> Result<Self, CrmError> {
        Self::open_file(path.as_ref())
    }

    fn open_file(path: &Path) -> Result<Self, CrmError> {
        let wal_missing = !wal_of(path).exists();
        let conn = Connection::open(path)
            .map_err(|err| storage(format!("cannot open {}", path.display()), err))?;
        let mut journal = Self::prepare(conn)?;
        journal.mark_open(path, wal_missing)?;
        Ok(journal)
    }

    /// Notes in the file itself (checkpointed, so it survives without the WAL) that a
    /// writer has it open; [`Drop`] notes the clean close. A file marked open whose WAL
    /// is gone lost whatever that WAL held: say so rather than open an older journal
    /// as if it were the whole one.
    fn mark_open(&mut self, path: &Path, wal_missing: bool) -> Result<(), CrmError> {
        if wal_missing && Self::marked_open(&self.conn)? {
            self.warnings.push(format!(
                "{} was not closed cleanly and its write-ahead log ({}) is missing: events \
                 committed after the last checkpoint may be lost; the journal ends at event {}. \
                 Restore the -wal file if it was moved, or restore a backup (docs/storage.md)",
                path.display(),
                wal_of(path).display(),
                self.last_seq
            ));
        }
        self.conn
            .execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('writer', 'open')",
                [],
            )
            .map_err(|err| storage("cannot mark the journal open", err))?;
        self.conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
            .map_err(|err| storage("cannot checkpoint", err))?;
        self.writer = true;
        Ok(())
    }

    fn marked_open(conn: &Connection) -> Result<bool, CrmError> {
        let value: Option<String> = conn
            .query_row("SELECT value FROM meta WHERE key = 'writer'", [], |row| {
                row.get(0)
            })
            .optional()
            .map_err(|err| storage("cannot read the journal's open mark", err))?;
        Ok(value.as_deref() == Some("open"))
    }

    /// Opens an existing journal for reading only: a reporting replica or an external
    /// consumer following `read_from` while the owner writes. Appends and snapshots
    /// fail with a `storage` error; the file is never changed.
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Self, CrmError> {
        let path = path.as_ref();
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|err| storage(format!("cannot open {}", path.display()), err))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(|err| storage("cannot set the busy timeout", err))?;
        Self::check_format(&conn)?;
        let mut warnings = Vec::new();
        if !wal_of(path).exists() && Self::marked_open(&conn)? {
            warnings.push(format!(
                "{} was not closed cleanly and its write-ahead log is missing: events \
                 committed after the last checkpoint may be lost",
                path.display()
            ));
        }
        let mut journal = Self {
            conn,
            last_seq: 0,
            writer: false,
            warnings,
        };
        journal.last_seq = journal.stored_last_seq()?;
        Ok(journal)
    }

    /// A journal in memory (for tests; nothing survives the process).
    pub fn in_memory() -> Result<Self, CrmError> {
        let conn = Connection::open_in_memory().map_err(|err| storage("cannot open", err))?;
        Self::prepare(conn)
    }

    fn prepare(conn: Connection) -> Result<Self, CrmError> {
        // A second process may hold the write lock for a moment; wait rather than fail.
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(|err| storage("cannot set the busy timeout", err))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(|err| storage("cannot switch to WAL", err))?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(|err| storage("cannot set synchronous = FULL", err))?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
             CREATE TABLE IF NOT EXISTS events (
                 seq INTEGER PRIMARY KEY, v INTEGER NOT NULL, body TEXT NOT NULL, crc INTEGER NOT NULL
             ) STRICT;
             CREATE TABLE IF NOT EXISTS snapshots (
                 seq INTEGER PRIMARY KEY, v INTEGER NOT NULL, body TEXT NOT NULL, crc INTEGER NOT NULL
             ) STRICT;",
        )
        .map_err(|err| storage("cannot create the tables", err))?;
        if Self::check_format(&conn)?.is_none() {
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('format', ?1)",
                params![FORMAT.to_string()],
            )
            .map_err(|err| storage("cannot write the format", err))?;
        }
        let mut journal = Self {
            conn,
            last_seq: 0,
            writer: false,
            warnings: Vec::new(),
        };
        journal.last_seq = journal.stored_last_seq()?;
        Ok(journal)
    }

    /// The file's format, `None` for a new file; a newer format than this build's is
    /// refused rather than misread.
    fn check_format(conn: &Connection) -> Result<Option<u32>, CrmError> {
        let format: Option<String> = conn
            .query_row("SELECT value FROM meta WHERE key = 'format'", [], |row| {
                row.get(0)
            })
            .optional()
            .map_err(|err| storage("cannot read the format", err))?;
        match format.as_deref().map(str::parse::<u32>) {
            None => Ok(None),
            Some(Ok(found)) if found <= FORMAT => Ok(Some(found)),
            Some(other) => Err(CrmError::Storage {
                reason: format!("the file has format {other:?}; this build reads up to {FORMAT}"),
            }),
        }
    }

    /// Copies every intact event of a damaged journal at `damaged`, in order, into a
    /// new journal at `into`, stopping at the first event that is missing, unreadable,
    /// fails its checksum, or cannot follow the ones before it (crm-core's checks of
    /// stored events): later events cannot be applied without it, and the recovered
    /// journal always opens. The damaged file is only read; the report says what was
    /// kept and what was not.
    pub fn recover(
        damaged: impl AsRef<Path>,
        into: impl AsRef<Path>,
    ) -> Result<Recovery, CrmError> {
        let damaged = damaged.as_ref();
        let source = Connection::open_with_flags(damaged, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|err| storage(format!("cannot open {}", damaged.display()), err))?;
        // A file cut short usually keeps its schema page but has lost pages the schema
        // points at (an index, the snapshots); with the schema taken as written, the
        // events table is still read in order up to the first page that is gone.
        source
            .pragma_update(None, "writable_schema", "ON")
            .map_err(|err| storage("cannot read the damaged schema", err))?;
        let mut target = SqliteJournal::open_or_create(into)?;
        if target.last_seq() > 0 {
            return Err(CrmError::conflict(
                "recovery writes into a new, empty journal; the target already has events",
            ));
        }
        let mut report = Recovery::default();
        // Every event passes the checks an engine makes when it opens the journal, so
        // what is recovered opens.
        let mut checker = crm_core::Crm::new(crm_core::ReplicaId::new(0)?, Default::default())?;
        let mut select = source
            .prepare("SELECT seq, body, crc FROM events ORDER BY seq")
            .map_err(|err| storage("cannot read the damaged journal", err))?;
        let mut rows = select
            .query([])
            .map_err(|err| storage("cannot read the damaged journal", err))?;
        let mut batch = Vec::new();
        loop {
            let row = match rows.next() {
                Ok(Some(row)) => row,
                Ok(None) => break,
                Err(err) => {
                    report.problems.push(format!(
                        "reading stopped after event {}: {err}",
                        report.kept + batch.len() as u64
                    ));
                    break;
                }
            };
            let read = (
                row.get::<_, i64>(0),
                row.get::<_, String>(1),
                row.get::<_, i64>(2),
            );
            let (Ok(seq), Ok(body), Ok(crc)) = read else {
                report.problems.push(format!(
                    "an unreadable row after event {}",
                    report.kept + batch.len() as u64
                ));
                break;
            };
            let expected = report.kept + batch.len() as u64 + 1;
            if report.problems.is_empty() {
                match Self::decode(seq, &body, crc) {
                    Ok(envelope) if envelope.seq == expected => {
                        // An intact record can still name what is not there (a journal
                        // edited by hand): kept, it would stop every later open.
                        if let Err(err) = checker.import_events(std::slice::from_ref(&envelope)) {
                            report.problems.push(format!(
                                "event {expected} cannot follow the ones before it: {err}"
                            ));
                            continue;
                        }
                        batch.push(envelope);
                        if batch.len() == 1_000 {
                            target.append(&batch)?;
                            report.kept += batch.len() as u64;
                            batch.clear();
                        }
                        continue;
                    }
                    Ok(envelope) => report.problems.push(format!(
                        "event {expected} is missing (the next stored is {})",
                        envelope.seq
                    )),
                    Err(err) => report.problems.push(err.to_string()),
                }
            } else {
                report.not_kept += 1;
            }
        }
        target.append(&batch)?;
        report.kept += batch.len() as u64;
        Ok(report)
    }

    /// Caps the file at `pages` pages (of 4 KiB by default): a quota, and the way the
    /// tests make a disk "full". Appends beyond it fail with a `storage` error.
    pub fn limit_pages(&self, pages: u64) -> Result<(), CrmError> {
        self.conn
            .pragma_update(
                None,
                "max_page_count",
                i64::try_from(pages).unwrap_or(i64::MAX),
            )
            .map_err(|err| storage("cannot set the page limit", err))
    }

    /// A consistent copy of the journal (events and snapshots) at `path`, taken with
    /// SQLite's online backup while the engine keeps working.
    pub fn backup_to(&self, path: impl AsRef<Path>) -> Result<(), CrmError> {
        let path = path.as_ref();
        let mut target = Connection::open(path)
            .map_err(|err| storage(format!("cannot open {}", path.display()), err))?;
        let backup = rusqlite::backup::Backup::new(&self.conn, &mut target)
            .map_err(|err| storage("cannot start the backup", err))?;
        backup
            .run_to_completion(256, std::time::Duration::from_millis(5), None)
            .map_err(|err| storage(format!("cannot back up to {}", path.display()), err))
    }

    /// Restores a backup made with [`SqliteJournal::backup_to`] to `path` (which must
    /// not hold a journal with events) and opens it.
    pub fn restore(backup: impl AsRef<Path>, path: impl AsRef<Path>) -> Result<Self, CrmError> {
        let source = SqliteJournal::open(backup)?;
        let existing = SqliteJournal::open_or_create(path.as_ref())?;
        if existing.last_seq() > 0 {
            return Err(CrmError::conflict(format!(
                "{} already holds {} events; restore into a new file",
                path.as_ref().display(),
                existing.last_seq()
            )));
        }
        drop(existing);
        source.backup_to(path.as_ref())?;
        SqliteJournal::open(path)
    }

    fn stored_last_seq(&self) -> Result<u64, CrmError> {
        let last: i64 = self
            .conn
            .query_row("SELECT COALESCE(MAX(seq), 0) FROM events", [], |row| {
                row.get(0)
            })
            .map_err(|err| storage("cannot read the last sequence number", err))?;
        u64::try_from(last).map_err(|_| CrmError::Storage {
            reason: format!("the journal's last sequence number {last} is negative"),
        })
    }

    fn decode(seq: i64, body: &str, crc: i64) -> Result<EventEnvelope, CrmError> {
        let damaged = |why: String| CrmError::Storage {
            reason: format!("event {seq} is damaged: {why}"),
        };
        if i64::from(crc32fast::hash(body.as_bytes())) != crc {
            return Err(damaged("its checksum does not match".into()));
        }
        let envelope = envelope_from_json(body).map_err(|err| damaged(err.to_string()))?;
        if i64::try_from(envelope.seq).ok() != Some(seq) {
            return Err(damaged(format!("it says it is event {}", envelope.seq)));
        }
        Ok(envelope)
    }
}

impl Drop for SqliteJournal {
    /// A clean close: the file is marked closed, so a later open without its WAL is
    /// not taken for a lost one. Nothing here can fail loudly; a mark left `open` only
    /// makes that later open more careful.
    fn drop(&mut self) {
        if self.writer {
            let _ = self
                .conn
                .execute("UPDATE meta SET value = 'closed' WHERE key = 'writer'", []);
        }
    }
}

/// The write-ahead log SQLite keeps beside `path`.
fn wal_of(path: &Path) -> std::path::PathBuf {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    wal.into()
}

impl Journal for SqliteJournal {
    fn warnings(&self) -> Vec<String> {
        self.warnings.clone()
    }

    /// Appends the batch in one transaction, after checking that nobody else appended
    /// since this journal last looked: otherwise `conflict`, and the next read sees
    /// the other writer's events (the engine reloads; the caller retries).
    fn append(&mut self, batch: &[EventEnvelope]) -> Result<(), CrmError> {
        let Some(first) = batch.first() else {
            return Ok(());
        };
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|err| storage("cannot start a write", err))?;
        let stored: i64 = tx
            .query_row("SELECT COALESCE(MAX(seq), 0) FROM events", [], |row| {
                row.get(0)
            })
            .map_err(|err| storage("cannot read the last sequence number", err))?;
        let stored = u64::try_from(stored).unwrap_or_default();
        if first.seq != stored + 1 {
            self.last_seq = stored;
            return Err(CrmError::conflict(format!(
                "the journal is at event {stored} but this engine expected {}: another writer appended; reload and retry",
                first.seq.saturating_sub(1)
            )));
        }
        {
            let mut insert = tx
                .prepare_cached("INSERT INTO events (seq, v, body, crc) VALUES (?1, ?2, ?3, ?4)")
                .map_err(|err| storage("cannot prepare the insert", err))?;
            // One buffer for the whole batch: serialising is most of an append's work.
            let mut body = String::new();
            for envelope in batch {
                body.clear();
                write_json(&mut body, envelope, envelope.seq)?;
                let crc = i64::from(crc32fast::hash(body.as_bytes()));
                let seq = i64::try_from(envelope.seq).map_err(|_| CrmError::Storage {
                    reason: format!("event {} is beyond SQLite's integers", envelope.seq),
                })?;
                insert
                    .execute(params![seq, envelope.v, body.as_str(), crc])
                    .map_err(|err| storage(format!("cannot write event {seq}"), err))?;
            }
        }
        tx.commit()
            .map_err(|err| storage("cannot commit the batch", err))?;
        self.last_seq = batch.last().map_or(self.last_seq, |e| e.seq);
        Ok(())
    }

    fn read_from(&self, from: u64) -> Result<Vec<EventEnvelope>, CrmError> {
        crm_core::collect_from(self, from)
    }

    /// Streams the rows: opening a million-event file never holds them all at once.
    fn scan_from(
        &self,
        from: u64,
        visit: &mut dyn FnMut(&EventEnvelope) -> Result<ControlFlow<()>, CrmError>,
    ) -> Result<(), CrmError> {
        let from = i64::try_from(from).unwrap_or(i64::MAX);
        let mut select = self
            .conn
            .prepare_cached("SELECT seq, body, crc FROM events WHERE seq >= ?1 ORDER BY seq")
            .map_err(|err| storage("cannot prepare the read", err))?;
        let mut rows = select
            .query(params![from])
            .map_err(|err| storage("cannot read events", err))?;
        while let Some(row) = rows
            .next()
            .map_err(|err| storage("cannot read an event", err))?
        {
            let seq: i64 = row
                .get(0)
                .map_err(|err| storage("cannot read an event", err))?;
            let body = row
                .get_ref(1)
                .and_then(|value| Ok(value.as_str()?))
                .map_err(|err| storage(format!("cannot read event {seq}"), err))?;
            let crc: i64 = row
                .get(2)
                .map_err(|err| storage(format!("cannot read event {seq}"), err))?;
            let event = Self::decode(seq, body, crc)?;
            if visit(&event)?.is_break() {
                break;
            }
        }
        Ok(())
    }

    fn get(&self, seq: u64) -> Result<Option<EventEnvelope>, CrmError> {
        let Ok(seq) = i64::try_from(seq) else {
            return Ok(None);
        };
        let row: Option<(String, i64)> = self
            .conn
            .prepare_cached("SELECT body, crc FROM events WHERE seq = ?1")
            .and_then(|mut select| {
                select
                    .query_row(params![seq], |row| Ok((row.get(0)?, row.get(1)?)))
                    .optional()
            })
            .map_err(|err| storage(format!("cannot read event {seq}"), err))?;
        row.map(|(body, crc)| Self::decode(seq, &body, crc))
            .transpose()
    }

    fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// The newest snapshot; a damaged one is an error, which the engine reports as a
    /// warning before replaying the journal instead.
    fn load_snapshot(&self) -> Result<Option<Snapshot>, CrmError> {
        let row: Option<(i64, u32, String, i64)> = self
            .conn
            .query_row(
                "SELECT seq, v, body, crc FROM snapshots ORDER BY seq DESC LIMIT 1",
                [],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
            )
            .optional()
            .map_err(|err| storage("cannot read the snapshot", err))?;
        let Some((seq, v, state, crc)) = row else {
            return Ok(None);
        };
        if i64::from(crc32fast::hash(state.as_bytes())) != crc {
            return Err(CrmError::Storage {
                reason: format!(
                    "the snapshot at event {seq} is damaged: its checksum does not match"
                ),
            });
        }
        Ok(Some(Snapshot {
            v,
            seq: u64::try_from(seq).unwrap_or_default(),
            state,
        }))
    }

    fn keeps_snapshots(&self) -> bool {
        true
    }

    /// Rewrites the changed events in one transaction (checksums recomputed), drops
    /// every snapshot, then vacuums with `secure_delete` on and truncates the
    /// write-ahead log, so no free page or log frame keeps the old text.
    fn rewrite(
        &mut self,
        redact: &mut dyn FnMut(&EventEnvelope) -> Option<EventEnvelope>,
    ) -> Result<u64, CrmError> {
        let changed = crm_core::collect_redacted(&*self, redact)?
            .iter()
            .map(|redacted| {
                let mut body = String::new();
                write_json(&mut body, redacted, redacted.seq)?;
                let seq = i64::try_from(redacted.seq).map_err(|_| CrmError::Storage {
                    reason: format!("event {} is beyond SQLite's integers", redacted.seq),
                })?;
                Ok((seq, body))
            })
            .collect::<Result<Vec<(i64, String)>, CrmError>>()?;
        self.conn
            .pragma_update(None, "secure_delete", "ON")
            .map_err(|err| storage("cannot turn secure_delete on", err))?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|err| storage("cannot start the rewrite", err))?;
        {
            let mut update = tx
                .prepare_cached("UPDATE events SET body = ?1, crc = ?2 WHERE seq = ?3")
                .map_err(|err| storage("cannot prepare the rewrite", err))?;
            for (seq, body) in &changed {
                let crc = i64::from(crc32fast::hash(body.as_bytes()));
                update
                    .execute(params![body.as_str(), crc, seq])
                    .map_err(|err| storage(format!("cannot rewrite event {seq}"), err))?;
            }
        }
        tx.execute("DELETE FROM snapshots", [])
            .map_err(|err| storage("cannot drop the snapshots", err))?;
        tx.commit()
            .map_err(|err| storage("cannot commit the rewrite", err))?;
        self.conn
            .execute_batch("VACUUM")
            .map_err(|err| storage("cannot vacuum after the rewrite", err))?;
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .map_err(|err| storage("cannot truncate the write-ahead log", err))?;
        Ok(changed.len() as u64)
    }

    fn rewrites(&self) -> bool {
        true
    }

    /// Stores the snapshot and keeps only it and the one before.
    fn save_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), CrmError> {
        let seq = i64::try_from(snapshot.seq).map_err(|_| CrmError::Storage {
            reason: format!("snapshot at {} is beyond SQLite's integers", snapshot.seq),
        })?;
        let crc = i64::from(crc32fast::hash(snapshot.state.as_bytes()));
        let tx = self
            .conn
            .transaction()
            .map_err(|err| storage("cannot start the snapshot", err))?;
        tx.execute(
            "INSERT OR REPLACE INTO snapshots (seq, v, body, crc) VALUES (?1, ?2, ?3, ?4)",
            params![seq, snapshot.v, snapshot.state, crc],
        )
        .map_err(|err| storage("cannot write the snapshot", err))?;
        tx.execute(
            "DELETE FROM snapshots WHERE seq NOT IN (SELECT seq FROM snapshots ORDER BY seq DESC LIMIT 2)",
            [],
        )
        .map_err(|err| storage("cannot prune old snapshots", err))?;
        tx.commit()
            .map_err(|err| storage("cannot commit the snapshot", err))
    }
}

/// Writes every event of `journal` as JSON Lines (one envelope per line, oldest first):
/// the migration path to other systems. Returns how many were written.
pub fn export_jsonl(journal: &impl Journal, mut out: impl Write) -> Result<u64, CrmError> {
    let events = journal.read_from(1)?;
    for envelope in &events {
        let line = serde_json::to_string(envelope).map_err(|err| CrmError::Storage {
            reason: format!("cannot serialise event {}: {err}", envelope.seq),
        })?;
        writeln!(out, "{line}").map_err(|err| CrmError::Storage {
            reason: format!("cannot write event {}: {err}", envelope.seq),
        })?;
    }
    Ok(events.len() as u64)
}

/// [`export_jsonl`] into a new file at `path` (an existing file is replaced).
pub fn export_jsonl_file(journal: &impl Journal, path: impl AsRef<Path>) -> Result<u64, CrmError> {
    let path = path.as_ref();
    let cannot = |err: std::io::Error| CrmError::Storage {
        reason: format!("cannot write {}: {err}", path.display()),
    };
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).map_err(cannot)?);
    let written = export_jsonl(journal, &mut out)?;
    out.flush().map_err(cannot)?;
    Ok(written)
}

/// [`read_jsonl`] from the file at `path`.
pub fn read_jsonl_file(
    path: impl AsRef<Path>,
    first_seq: u64,
) -> Result<Vec<EventEnvelope>, CrmError> {
    let path = path.as_ref();
    let file = std::fs::File::open(path).map_err(|err| CrmError::Storage {
        reason: format!("cannot read {}: {err}", path.display()),
    })?;
    read_jsonl(std::io::BufReader::new(file), first_seq)
}

/// Appends JSON Lines written by [`export_jsonl`] to `journal`, which must continue
/// where the lines start (an empty journal for a whole export). All or nothing: a bad
/// line (named by its number), a gap in the sequence, or an event that cannot follow
/// the ones before it (naming a record that does not exist, say: the checks of
/// `Crm::import_events`) imports none of them.
pub fn import_jsonl(input: impl BufRead, journal: &mut impl Journal) -> Result<u64, CrmError> {
    let events = read_jsonl(input, journal.last_seq() + 1)?;
    // The same checks an engine makes, on a scratch engine, before a byte is written:
    // a journal that cannot be opened afterwards is worse than a refused import.
    let replica = crm_core::ReplicaId::new(0)?;
    let mut scratch = crm_core::Crm::replay(replica, Default::default(), journal.read_from(1)?)?;
    scratch.import_events(&events)?;
    journal.append(&events)?;
    Ok(events.len() as u64)
}

/// Reads JSON Lines written by [`export_jsonl`] (older schema versions upcast), checking
/// that they are the events from `first_seq` on, without gaps; errors name the line.
/// For a [`crm_core::Crm`], pass them to `Crm::import_events`, which also folds them.
pub fn read_jsonl(input: impl BufRead, first_seq: u64) -> Result<Vec<EventEnvelope>, CrmError> {
    let mut events = Vec::new();
    for (index, line) in input.lines().enumerate() {
        let number = index + 1;
        let line = line.map_err(|err| CrmError::Storage {
            reason: format!("cannot read line {number}: {err}"),
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let envelope = envelope_from_json(&line).map_err(|err| CrmError::Malformed {
            path: format!("line {number}"),
            reason: err.to_string(),
        })?;
        let expected = first_seq + events.len() as u64;
        if envelope.seq != expected {
            return Err(CrmError::validation(
                format!("line {number}"),
                format!("holds event {} where {expected} was expected", envelope.seq),
            ));
        }
        events.push(envelope);
    }
    Ok(events)
}

/// What [`SqliteJournal::recover`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Events copied, 1..=kept, all intact.
    pub kept: u64,
    /// Rows after the first damage that were not copied (they may be intact, but
    /// cannot be applied without what came before them).
    pub not_kept: u64,
    /// What was wrong, in order found; empty when the journal was intact.
    pub problems: Vec<String>,
}

/// Appends `envelope` as JSON to `out`.
fn write_json(out: &mut String, envelope: &EventEnvelope, seq: u64) -> Result<(), CrmError> {
    let mut bytes = std::mem::take(out).into_bytes();
    let written = serde_json::to_writer(&mut bytes, envelope);
    // serde_json writes UTF-8 only; the check is cheap next to the serialisation.
    *out = String::from_utf8(bytes).unwrap_or_default();
    written.map_err(|err| CrmError::Storage {
        reason: format!("cannot serialise event {seq}: {err}"),
    })
}

fn storage(what: impl std::fmt::Display, err: rusqlite::Error) -> CrmError {
    CrmError::Storage {
        reason: format!("{what}: {err}"),
    }
}
