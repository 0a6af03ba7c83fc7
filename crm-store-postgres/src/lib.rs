#![doc = include_str!("../README.md")]

use std::cell::{Cell, RefCell};
use std::ops::ControlFlow;

use crm_core::{envelope_from_json, CrmError, EventEnvelope, Journal, Snapshot};
use postgres::{Client, NoTls};

/// Rows read per round trip while scanning, so opening a big journal never holds it
/// all at once.
const PAGE: i64 = 1_000;

/// The channel appends notify on (`LISTEN crm_journal`): the payload is
/// `<tenant>:<position>`. Only a hint to wake up sooner; a lost one costs latency.
pub const NOTIFY_CHANNEL: &str = "crm_journal";

/// The tables, made if missing. One head row per business holds its last position;
/// an append moves it with a compare-and-set in the same transaction as the events.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS crm_heads (
    tenant TEXT PRIMARY KEY,
    position BIGINT NOT NULL CHECK (position >= 0)
);
CREATE TABLE IF NOT EXISTS crm_events (
    tenant TEXT NOT NULL,
    seq BIGINT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (tenant, seq)
);
CREATE TABLE IF NOT EXISTS crm_snapshots (
    tenant TEXT NOT NULL,
    seq BIGINT NOT NULL,
    v INTEGER NOT NULL,
    state TEXT NOT NULL,
    PRIMARY KEY (tenant, seq)
);
";

fn storage(what: impl std::fmt::Display, err: impl Into<Failure>) -> CrmError {
    CrmError::Storage {
        reason: format!("PostgreSQL: {what}: {}", err.into().0),
    }
}

/// What went wrong, with the server's own message (a `postgres::Error` shows only
/// "db error" by itself).
struct Failure(String);

impl From<postgres::Error> for Failure {
    fn from(err: postgres::Error) -> Self {
        Failure(match err.as_db_error() {
            Some(db) => format!("{} ({})", db.message(), db.code().code()),
            None => err.to_string(),
        })
    }
}

impl From<serde_json::Error> for Failure {
    fn from(err: serde_json::Error) -> Self {
        Failure(err.to_string())
    }
}

fn position(seq: u64) -> Result<i64, CrmError> {
    i64::try_from(seq).map_err(|_| CrmError::Storage {
        reason: format!("event {seq} is beyond PostgreSQL's BIGINT"),
    })
}

/// One business's journal in a PostgreSQL database that several app servers share.
///
/// Positions are gap-free and in commit order: an append moves the business's head row
/// from the position it expects with `UPDATE … WHERE position = $expected` in the
/// same transaction as its events, so a second writer waits on the row, then finds it
/// moved and gets `conflict` (the engine reloads and `execute_retrying` tries again).
/// No sequence numbers the events: a sequence hands out numbers before commit, so a
/// reader could see event 11 while 10's transaction is still open and skip 10 for
/// good — the bug Marten, Eventuous and Axon each had to fix.
pub struct PostgresJournal {
    client: RefCell<Client>,
    tenant: String,
    /// The last position this handle wrote or read (another writer may be ahead).
    last_seq: Cell<u64>,
}

impl std::fmt::Debug for PostgresJournal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresJournal")
            .field("tenant", &self.tenant)
            .field("last_seq", &self.last_seq.get())
            .finish_non_exhaustive()
    }
}

impl PostgresJournal {
    /// Connects to `url` (`postgresql://user:password@host:port/database`; no TLS:
    /// use a private network or a TLS tunnel) and opens business `tenant`'s journal,
    /// making the tables and its head row if missing.
    pub fn connect(url: &str, tenant: &str) -> Result<PostgresJournal, CrmError> {
        let client = Client::connect(url, NoTls).map_err(|err| storage("cannot connect", err))?;
        PostgresJournal::with_client(client, tenant)
    }

    /// Opens business `tenant`'s journal over a connection the host made.
    pub fn with_client(mut client: Client, tenant: &str) -> Result<PostgresJournal, CrmError> {
        if tenant.is_empty() || tenant.len() > 64 {
            return Err(CrmError::validation(
                "tenant",
                format!("{tenant:?}: a business name has 1 to 64 characters"),
            ));
        }
        // Two servers starting at once may both create the tables: the second waits on
        // the first's lock, then finds them there.
        let mut tx = client
            .transaction()
            .map_err(|err| storage("cannot start", err))?;
        tx.batch_execute("SELECT pg_advisory_xact_lock(7305553401700)")
            .and_then(|()| tx.batch_execute(SCHEMA))
            .map_err(|err| storage("cannot make the tables", err))?;
        // Only a new business's head row is inserted: inserting over an existing one
        // would wait for any append in flight to commit.
        let exists = tx
            .query_opt("SELECT 1 FROM crm_heads WHERE tenant = $1", &[&tenant])
            .map_err(|err| storage("cannot read the head row", err))?
            .is_some();
        if !exists {
            tx.execute(
                "INSERT INTO crm_heads (tenant, position) VALUES ($1, 0) ON CONFLICT DO NOTHING",
                &[&tenant],
            )
            .map_err(|err| storage("cannot make the head row", err))?;
        }
        tx.commit().map_err(|err| storage("cannot commit", err))?;
        let journal = PostgresJournal {
            client: RefCell::new(client),
            tenant: tenant.to_string(),
            last_seq: Cell::new(0),
        };
        journal.last_seq.set(journal.head()?);
        Ok(journal)
    }

    /// The business's last committed position, asked of the database.
    pub fn head(&self) -> Result<u64, CrmError> {
        let row = self
            .client
            .borrow_mut()
            .query_one(
                "SELECT position FROM crm_heads WHERE tenant = $1",
                &[&self.tenant],
            )
            .map_err(|err| storage("cannot read the head", err))?;
        Ok(u64::try_from(row.get::<_, i64>(0)).unwrap_or_default())
    }

    /// The business this journal is of.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    fn decode(&self, seq: i64, body: &str) -> Result<EventEnvelope, CrmError> {
        let envelope = envelope_from_json(body).map_err(|err| CrmError::Storage {
            reason: format!("event {seq} of {} is unreadable: {err}", self.tenant),
        })?;
        if i64::try_from(envelope.seq).ok() != Some(seq) {
            return Err(CrmError::Storage {
                reason: format!(
                    "the row at position {seq} of {} holds event {}",
                    self.tenant, envelope.seq
                ),
            });
        }
        Ok(envelope)
    }
}

impl Journal for PostgresJournal {
    fn append(&mut self, batch: &[EventEnvelope]) -> Result<(), CrmError> {
        let (Some(first), Some(last)) = (batch.first(), batch.last()) else {
            return Ok(());
        };
        let expected = position(first.seq.saturating_sub(1))?;
        let new_head = position(last.seq)?;
        let client = self.client.get_mut();
        let mut tx = client
            .transaction()
            .map_err(|err| storage("cannot start a write", err))?;
        let moved = tx
            .query_opt(
                "UPDATE crm_heads SET position = $3 WHERE tenant = $1 AND position = $2 RETURNING position",
                &[&self.tenant, &expected, &new_head],
            )
            .map_err(|err| storage("cannot move the head", err))?;
        if moved.is_none() {
            let stored: i64 = tx
                .query_one(
                    "SELECT position FROM crm_heads WHERE tenant = $1",
                    &[&self.tenant],
                )
                .map_err(|err| storage("cannot read the head", err))?
                .get(0);
            self.last_seq.set(u64::try_from(stored).unwrap_or_default());
            return Err(CrmError::conflict(format!(
                "the journal is at event {stored} but this engine expected {expected}: another writer appended; reload and retry"
            )));
        }
        let insert = tx
            .prepare("INSERT INTO crm_events (tenant, seq, body) VALUES ($1, $2, $3)")
            .map_err(|err| storage("cannot prepare the insert", err))?;
        for (index, envelope) in batch.iter().enumerate() {
            if envelope.seq != first.seq + index as u64 {
                return Err(CrmError::Storage {
                    reason: format!("a batch with a gap at event {}", envelope.seq),
                });
            }
            let body = serde_json::to_string(envelope)
                .map_err(|err| storage(format!("cannot write event {}", envelope.seq), err))?;
            tx.execute(&insert, &[&self.tenant, &position(envelope.seq)?, &body])
                .map_err(|err| storage(format!("cannot write event {}", envelope.seq), err))?;
        }
        // Delivered at commit, to listeners of other processes: a wake-up hint.
        let payload = format!("{}:{}", self.tenant, last.seq);
        tx.execute("SELECT pg_notify($1, $2)", &[&NOTIFY_CHANNEL, &payload])
            .map_err(|err| storage("cannot notify", err))?;
        tx.commit()
            .map_err(|err| storage("cannot commit the batch", err))?;
        self.last_seq.set(last.seq);
        Ok(())
    }

    fn read_from(&self, from: u64) -> Result<Vec<EventEnvelope>, CrmError> {
        crm_core::collect_from(self, from)
    }

    /// Pages of [`PAGE`] rows: a big journal is never held at once.
    fn scan_from(
        &self,
        from: u64,
        visit: &mut dyn FnMut(&EventEnvelope) -> Result<ControlFlow<()>, CrmError>,
    ) -> Result<(), CrmError> {
        let mut next = i64::try_from(from.max(1)).unwrap_or(i64::MAX);
        loop {
            let rows = self
                .client
                .borrow_mut()
                .query(
                    "SELECT seq, body FROM crm_events WHERE tenant = $1 AND seq >= $2 ORDER BY seq LIMIT $3",
                    &[&self.tenant, &next, &PAGE],
                )
                .map_err(|err| storage("cannot read events", err))?;
            let full = rows.len() as i64 == PAGE;
            for row in rows {
                let seq: i64 = row.get(0);
                let event = self.decode(seq, row.get(1))?;
                self.last_seq.set(self.last_seq.get().max(event.seq));
                next = seq + 1;
                if visit(&event)?.is_break() {
                    return Ok(());
                }
            }
            if !full {
                return Ok(());
            }
        }
    }

    fn get(&self, seq: u64) -> Result<Option<EventEnvelope>, CrmError> {
        let Ok(seq) = i64::try_from(seq) else {
            return Ok(None);
        };
        let row = self
            .client
            .borrow_mut()
            .query_opt(
                "SELECT body FROM crm_events WHERE tenant = $1 AND seq = $2",
                &[&self.tenant, &seq],
            )
            .map_err(|err| storage(format!("cannot read event {seq}"), err))?;
        row.map(|row| self.decode(seq, row.get(0))).transpose()
    }

    fn last_seq(&self) -> u64 {
        self.last_seq.get()
    }

    fn load_snapshot(&self) -> Result<Option<Snapshot>, CrmError> {
        let row = self
            .client
            .borrow_mut()
            .query_opt(
                "SELECT seq, v, state FROM crm_snapshots WHERE tenant = $1 ORDER BY seq DESC LIMIT 1",
                &[&self.tenant],
            )
            .map_err(|err| storage("cannot read the snapshot", err))?;
        Ok(row.map(|row| Snapshot {
            seq: u64::try_from(row.get::<_, i64>(0)).unwrap_or_default(),
            v: u32::try_from(row.get::<_, i32>(1)).unwrap_or_default(),
            state: row.get(2),
        }))
    }

    /// Stores the snapshot and keeps only it and the one before.
    fn save_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), CrmError> {
        let seq = position(snapshot.seq)?;
        let v = i32::try_from(snapshot.v).unwrap_or(i32::MAX);
        let mut tx = self
            .client
            .get_mut()
            .transaction()
            .map_err(|err| storage("cannot start the snapshot", err))?;
        tx.execute(
            "INSERT INTO crm_snapshots (tenant, seq, v, state) VALUES ($1, $2, $3, $4)
             ON CONFLICT (tenant, seq) DO UPDATE SET v = EXCLUDED.v, state = EXCLUDED.state",
            &[&self.tenant, &seq, &v, &snapshot.state],
        )
        .map_err(|err| storage("cannot store the snapshot", err))?;
        tx.execute(
            "DELETE FROM crm_snapshots WHERE tenant = $1 AND seq < (
                 SELECT MIN(seq) FROM (SELECT seq FROM crm_snapshots WHERE tenant = $1
                                       ORDER BY seq DESC LIMIT 2) AS kept)",
            &[&self.tenant],
        )
        .map_err(|err| storage("cannot drop old snapshots", err))?;
        tx.commit()
            .map_err(|err| storage("cannot commit the snapshot", err))
    }

    fn keeps_snapshots(&self) -> bool {
        true
    }

    /// Rewrites the changed events in one transaction that holds the head row (no
    /// append runs meanwhile), drops the business's snapshots, then vacuums the
    /// tables so no dead row version keeps the old text. (Old WAL segments and
    /// backups still hold it until they are recycled: docs/server.md.)
    fn rewrite(
        &mut self,
        redact: &mut dyn FnMut(&EventEnvelope) -> Option<EventEnvelope>,
    ) -> Result<u64, CrmError> {
        let changed = crm_core::collect_redacted(&*self, redact)?
            .iter()
            .map(|redacted| {
                let body = serde_json::to_string(redacted)
                    .map_err(|err| storage("cannot write a rewritten event", err))?;
                Ok((position(redacted.seq)?, body))
            })
            .collect::<Result<Vec<(i64, String)>, CrmError>>()?;
        let client = self.client.get_mut();
        let mut tx = client
            .transaction()
            .map_err(|err| storage("cannot start the rewrite", err))?;
        tx.execute(
            "SELECT position FROM crm_heads WHERE tenant = $1 FOR UPDATE",
            &[&self.tenant],
        )
        .map_err(|err| storage("cannot hold the head", err))?;
        for (seq, body) in &changed {
            tx.execute(
                "UPDATE crm_events SET body = $3 WHERE tenant = $1 AND seq = $2",
                &[&self.tenant, seq, body],
            )
            .map_err(|err| storage(format!("cannot rewrite event {seq}"), err))?;
        }
        tx.execute(
            "DELETE FROM crm_snapshots WHERE tenant = $1",
            &[&self.tenant],
        )
        .map_err(|err| storage("cannot drop the snapshots", err))?;
        tx.commit()
            .map_err(|err| storage("cannot commit the rewrite", err))?;
        client
            .batch_execute("VACUUM crm_events")
            .and_then(|()| client.batch_execute("VACUUM crm_snapshots"))
            .map_err(|err| storage("cannot vacuum after the rewrite", err))?;
        Ok(changed.len() as u64)
    }

    fn rewrites(&self) -> bool {
        true
    }
}
