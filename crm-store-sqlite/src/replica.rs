//! A replica's SQLite file (docs/sync.md): its canonical events and its log (pending
//! and rejected commands, sequences, clock), written together in one transaction, so
//! a phone killed at any moment finds every command it acknowledged to its user and
//! never sends one twice as two commands. Each command is a row of its own: storing
//! one more costs the same however many wait.

use std::collections::BTreeSet;
use std::path::Path;

use chrono::{DateTime, Utc};
use crm_core::{
    envelope_from_json, Command, CrmError, CrmOptions, EventEnvelope, HeldView, Hlc, Outcome,
    Pending, PullBatch, PushResult, RejectedCommand, Replica, ReplicaId, ReplicaLog, UserId,
};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde::{Deserialize, Serialize};

fn storage(what: &str, err: impl std::fmt::Display) -> CrmError {
    CrmError::Storage {
        reason: format!("the replica file: {what}: {err}"),
    }
}

/// A [`Replica`] kept in a SQLite file: every call that changes it is stored before it
/// returns.
#[derive(Debug)]
pub struct ReplicaFile {
    conn: Connection,
    replica: Replica,
    /// The last canonical event stored.
    stored: u64,
    /// The cursor of the view stored (a replica of one user's view).
    stored_view: u64,
    /// The replica's scrubs stored: when it forgets a person erased at the authority,
    /// the file's copies of its canonical events and view are rewritten and scrubbed.
    stored_scrubs: u64,
    /// The pending and rejected commands the file holds, by sequence.
    stored_pending: BTreeSet<u64>,
    stored_rejected: BTreeSet<u64>,
    options: CrmOptions,
}

/// The log's scalars, one small row.
#[derive(Serialize, Deserialize)]
struct Counters {
    replica: ReplicaId,
    next_seq: u64,
    last_id: u64,
    clock: Hlc,
}

impl ReplicaFile {
    /// Opens the replica stored at `path`, or makes a new one for `replica` there
    /// (WAL, `synchronous = FULL`: stored means on disk). A file of another replica id
    /// is refused.
    pub fn open_or_create(
        path: impl AsRef<Path>,
        replica: ReplicaId,
        options: CrmOptions,
    ) -> Result<ReplicaFile, CrmError> {
        let conn = Connection::open(path.as_ref()).map_err(|err| storage("cannot open", err))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(|err| storage("busy timeout", err))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(|err| storage("WAL", err))?;
        // Deleted and overwritten content is zeroed, not left in free pages: a person
        // erased at the authority must not stay readable in a phone's file.
        conn.pragma_update(None, "secure_delete", "ON")
            .map_err(|err| storage("secure_delete", err))?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(|err| storage("synchronous", err))?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS canonical (seq INTEGER PRIMARY KEY, event TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS pending (seq INTEGER PRIMARY KEY, command TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS rejected (seq INTEGER PRIMARY KEY, command TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS counters (id INTEGER PRIMARY KEY CHECK (id = 1), counters TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS view (id INTEGER PRIMARY KEY CHECK (id = 1), cursor INTEGER NOT NULL, view TEXT NOT NULL);",
        )
        .map_err(|err| storage("cannot create its tables", err))?;
        let (replica, stored) = match load(&conn, replica, options.clone())? {
            Some(found) => found,
            None => (Replica::new(replica, options.clone())?, 0),
        };
        let stored_pending = replica.pending().iter().map(|p| p.command.seq).collect();
        let stored_rejected = replica.rejected().iter().map(|r| r.command.seq).collect();
        let mut file = ReplicaFile {
            conn,
            stored_view: view_cursor(&replica),
            stored_scrubs: replica.scrubs(),
            replica,
            stored,
            stored_pending,
            stored_rejected,
            options,
        };
        file.store()?;
        Ok(file)
    }

    /// The replica, to query its view, read its pending and rejected commands, or make
    /// a push batch.
    pub fn replica(&self) -> &Replica {
        &self.replica
    }

    /// [`Replica::execute`], stored before it returns.
    pub fn execute(
        &mut self,
        author: UserId,
        now: DateTime<Utc>,
        command: &Command,
    ) -> Result<Outcome, CrmError> {
        self.change(|replica| replica.execute(author, now, command))
    }

    /// [`Replica::receive_push_result`], stored before it returns.
    pub fn receive_push_result(&mut self, result: &PushResult) -> Result<(), CrmError> {
        self.change(|replica| replica.receive_push_result(result))
    }

    /// [`Replica::receive_pull`], stored before it returns.
    pub fn receive_pull(&mut self, batch: &PullBatch) -> Result<(), CrmError> {
        self.change(|replica| replica.receive_pull(batch))
    }

    /// [`Replica::retry`], stored before it returns.
    pub fn retry(&mut self, seq: u64, now: DateTime<Utc>) -> Result<Outcome, CrmError> {
        self.change(|replica| replica.retry(seq, now))
    }

    /// [`Replica::discard`], stored before it returns.
    pub fn discard(&mut self, seq: u64) -> Result<crm_core::RejectedCommand, CrmError> {
        self.change(|replica| replica.discard(seq))
    }

    /// Any change to the replica (its JSON entry points, say), stored before it
    /// returns; a failed write leaves the replica as the file has it.
    pub fn change<T>(
        &mut self,
        work: impl FnOnce(&mut Replica) -> Result<T, CrmError>,
    ) -> Result<T, CrmError> {
        let answer = work(&mut self.replica)?;
        if let Err(err) = self.store() {
            // What the file has is what counts: read it again (rare; no copy of the
            // replica is made on the common path).
            let (replica, stored) =
                load(&self.conn, self.replica.log().replica, self.options.clone())?
                    .ok_or_else(|| storage("the file lost its replica", &err))?;
            self.stored_pending = replica.pending().iter().map(|p| p.command.seq).collect();
            self.stored_rejected = replica.rejected().iter().map(|r| r.command.seq).collect();
            self.replica = replica;
            self.stored = stored;
            self.stored_view = view_cursor(&self.replica);
            self.stored_scrubs = self.replica.scrubs();
            return Err(err);
        }
        Ok(answer)
    }

    /// Writes what changed since the last store — new canonical events, commands that
    /// came or went, the counters — in one transaction.
    fn store(&mut self) -> Result<(), CrmError> {
        let scrub = self.replica.scrubs() != self.stored_scrubs;
        if scrub {
            // Every canonical event again, as the replica now holds them (rewritten).
            self.stored = 0;
        }
        let events = self.replica.canonical().events_since(self.stored + 1)?;
        let log = self.replica.log();
        let pending: BTreeSet<u64> = log.pending.iter().map(|p| p.command.seq).collect();
        let rejected: BTreeSet<u64> = log.rejected.iter().map(|r| r.command.seq).collect();
        let counters = text(&Counters {
            replica: log.replica,
            next_seq: log.next_seq,
            last_id: log.last_id,
            clock: log.clock,
        })?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|err| storage("cannot begin", err))?;
        if scrub {
            tx.execute("DELETE FROM canonical", [])
                .map_err(|err| storage("cannot drop the old events", err))?;
        }
        for envelope in &events {
            tx.execute(
                "INSERT INTO canonical (seq, event) VALUES (?1, ?2)",
                params![envelope.seq as i64, text(envelope)?],
            )
            .map_err(|err| storage("cannot store an event", err))?;
        }
        for (table, now, before) in [
            ("pending", &pending, &self.stored_pending),
            ("rejected", &rejected, &self.stored_rejected),
        ] {
            for seq in before.difference(now) {
                tx.execute(
                    &format!("DELETE FROM {table} WHERE seq = ?1"),
                    params![*seq as i64],
                )
                .map_err(|err| storage("cannot drop a decided command", err))?;
            }
        }
        for entry in log
            .pending
            .iter()
            .filter(|p| !self.stored_pending.contains(&p.command.seq))
        {
            tx.execute(
                "INSERT INTO pending (seq, command) VALUES (?1, ?2)",
                params![entry.command.seq as i64, text(entry)?],
            )
            .map_err(|err| storage("cannot store a pending command", err))?;
        }
        for entry in log
            .rejected
            .iter()
            .filter(|r| !self.stored_rejected.contains(&r.command.seq))
        {
            tx.execute(
                "INSERT INTO rejected (seq, command) VALUES (?1, ?2)",
                params![entry.command.seq as i64, text(entry)?],
            )
            .map_err(|err| storage("cannot store a rejected command", err))?;
        }
        tx.execute(
            "INSERT INTO counters (id, counters) VALUES (1, ?1)
             ON CONFLICT (id) DO UPDATE SET counters = ?1",
            params![counters],
        )
        .map_err(|err| storage("cannot store the counters", err))?;
        let view = log
            .view
            .as_ref()
            .filter(|held| scrub || held.state.last_seq() != self.stored_view);
        if let Some(held) = view {
            tx.execute(
                "INSERT INTO view (id, cursor, view) VALUES (1, ?1, ?2)
                 ON CONFLICT (id) DO UPDATE SET cursor = ?1, view = ?2",
                params![held.state.last_seq() as i64, text(held)?],
            )
            .map_err(|err| storage("cannot store the view", err))?;
        }
        tx.commit().map_err(|err| storage("cannot commit", err))?;
        if let Some(held) = view {
            self.stored_view = held.state.last_seq();
        }
        if scrub {
            // No free page or log frame keeps the old text.
            self.conn
                .execute_batch("VACUUM")
                .map_err(|err| storage("cannot vacuum after an erasure", err))?;
            self.conn
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
                .map_err(|err| storage("cannot truncate the write-ahead log", err))?;
            self.stored_scrubs = self.replica.scrubs();
        }
        self.stored = events.last().map_or(self.stored, |e| e.seq);
        self.stored_pending = pending;
        self.stored_rejected = rejected;
        Ok(())
    }
}

/// The replica the file holds, and its last stored canonical position; `None` for a
/// new file.
fn load(
    conn: &Connection,
    replica: ReplicaId,
    options: CrmOptions,
) -> Result<Option<(Replica, u64)>, CrmError> {
    let counters: Option<String> = conn
        .query_row("SELECT counters FROM counters WHERE id = 1", [], |row| {
            row.get(0)
        })
        .optional()
        .map_err(|err| storage("cannot read its counters", err))?;
    let Some(counters) = counters else {
        return Ok(None);
    };
    let counters: Counters = serde_json::from_str(&counters)
        .map_err(|err| storage("the stored counters are not readable", err))?;
    if counters.replica != replica {
        return Err(CrmError::validation(
            "replica",
            format!(
                "the file holds replica {}, not {}",
                counters.replica.get(),
                replica.get()
            ),
        ));
    }
    let log = ReplicaLog {
        replica,
        pending: read_rows::<Pending>(conn, "pending")?,
        rejected: read_rows::<RejectedCommand>(conn, "rejected")?,
        next_seq: counters.next_seq,
        last_id: counters.last_id,
        clock: counters.clock,
        view: conn
            .query_row("SELECT view FROM view WHERE id = 1", [], |row| {
                row.get::<_, String>(0)
            })
            .optional()
            .map_err(|err| storage("cannot read its view", err))?
            .map(|text| serde_json::from_str::<HeldView>(&text))
            .transpose()
            .map_err(|err| storage("the stored view is not readable", err))?,
    };
    let events = read_events(conn)?;
    let stored = events.last().map_or(0, |e| e.seq);
    Ok(Some((Replica::restore(options, events, log)?, stored)))
}

/// The cursor of the view a replica holds (0 for a replica of the whole journal).
fn view_cursor(replica: &Replica) -> u64 {
    replica
        .log()
        .view
        .as_ref()
        .map_or(0, |held| held.state.last_seq())
}

fn text<T: Serialize>(value: &T) -> Result<String, CrmError> {
    serde_json::to_string(value).map_err(|err| storage("cannot write", err))
}

fn read_rows<T: for<'de> Deserialize<'de>>(
    conn: &Connection,
    table: &str,
) -> Result<Vec<T>, CrmError> {
    let mut statement = conn
        .prepare(&format!("SELECT command FROM {table} ORDER BY seq"))
        .map_err(|err| storage("cannot read its commands", err))?;
    let rows = statement
        .query_map([], |row| row.get::<_, String>(0))
        .map_err(|err| storage("cannot read its commands", err))?;
    let mut found = Vec::new();
    for row in rows {
        let text = row.map_err(|err| storage("cannot read a command", err))?;
        found.push(
            serde_json::from_str(&text)
                .map_err(|err| storage("a stored command is not readable", err))?,
        );
    }
    Ok(found)
}

fn read_events(conn: &Connection) -> Result<Vec<EventEnvelope>, CrmError> {
    let mut statement = conn
        .prepare("SELECT event FROM canonical ORDER BY seq")
        .map_err(|err| storage("cannot read the events", err))?;
    let rows = statement
        .query_map([], |row| row.get::<_, String>(0))
        .map_err(|err| storage("cannot read the events", err))?;
    let mut events = Vec::new();
    for row in rows {
        let text = row.map_err(|err| storage("cannot read an event", err))?;
        events.push(envelope_from_json(&text)?);
    }
    Ok(events)
}
