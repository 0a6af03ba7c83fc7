//! API keys: one or more per user, shown once when made, stored as SHA-256 digests in
//! the business's SQLite file beside its journal, revocable. A key acts as its user,
//! with that user's role — never as anyone a request names.

use std::path::Path;

use chrono::{DateTime, Utc};
use crm_core::{CrmError, UserId};
use rusqlite::{params, Connection, OptionalExtension};
use sha2::{Digest, Sha256};

/// What every key starts with, so a leaked one is recognisable in logs and scanners.
const PREFIX: &str = "crm_";

fn storage(what: &str, err: impl std::fmt::Display) -> CrmError {
    CrmError::Storage {
        reason: format!("the key table: {what}: {err}"),
    }
}

/// The keys of one business.
#[derive(Debug)]
pub struct KeyStore {
    conn: Connection,
}

impl KeyStore {
    /// The key table in the SQLite file at `path` (made if missing).
    pub fn open(path: impl AsRef<Path>) -> Result<KeyStore, CrmError> {
        let conn = Connection::open(path).map_err(|err| storage("cannot open", err))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(|err| storage("busy timeout", err))?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS api_keys (
                 id INTEGER PRIMARY KEY,
                 user TEXT NOT NULL,
                 digest TEXT NOT NULL UNIQUE,
                 created_at TEXT NOT NULL,
                 revoked_at TEXT
             );",
        )
        .map_err(|err| storage("cannot create it", err))?;
        Ok(KeyStore { conn })
    }

    /// Makes a key for `user`: its number (to revoke it by) and the key itself, which
    /// is not stored and cannot be shown again.
    pub fn create(&mut self, user: UserId, now: DateTime<Utc>) -> Result<(i64, String), CrmError> {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).map_err(|err| storage("no randomness", err))?;
        let key = format!("{PREFIX}{}", hex(&secret));
        self.conn
            .execute(
                "INSERT INTO api_keys (user, digest, created_at) VALUES (?1, ?2, ?3)",
                params![user.to_string(), digest(&key), now.to_rfc3339()],
            )
            .map_err(|err| storage("cannot store a key", err))?;
        Ok((self.conn.last_insert_rowid(), key))
    }

    /// The user a key acts as; `None` for an unknown or revoked key.
    pub fn user_of(&self, key: &str) -> Result<Option<UserId>, CrmError> {
        if !well_formed(key) {
            return Ok(None);
        }
        let user: Option<String> = self
            .conn
            .query_row(
                "SELECT user FROM api_keys WHERE digest = ?1 AND revoked_at IS NULL",
                params![digest(key)],
                |row| row.get(0),
            )
            .optional()
            .map_err(|err| storage("cannot look a key up", err))?;
        user.map(|user| user.parse()).transpose()
    }

    /// The digests of the keys in force (the hub's index of which business a key is
    /// for).
    pub fn digests(&self) -> Result<Vec<String>, CrmError> {
        let mut query = self
            .conn
            .prepare("SELECT digest FROM api_keys WHERE revoked_at IS NULL")
            .map_err(|err| storage("cannot list keys", err))?;
        let rows = query
            .query_map([], |row| row.get(0))
            .map_err(|err| storage("cannot list keys", err))?;
        rows.collect::<Result<_, _>>()
            .map_err(|err| storage("cannot list keys", err))
    }

    /// Revokes key number `id`; whether there was such a key still in force.
    pub fn revoke(&mut self, id: i64, now: DateTime<Utc>) -> Result<bool, CrmError> {
        let changed = self
            .conn
            .execute(
                "UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                params![id, now.to_rfc3339()],
            )
            .map_err(|err| storage("cannot revoke a key", err))?;
        Ok(changed == 1)
    }
}

/// Whether `key` looks like a key this server makes (`crm_` and 64 hex digits): others
/// are refused before any table is asked.
pub(crate) fn well_formed(key: &str) -> bool {
    key.strip_prefix(PREFIX)
        .is_some_and(|rest| rest.len() == 64 && rest.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A key as it is stored and indexed.
pub(crate) fn digest(key: &str) -> String {
    hex(&Sha256::digest(key.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}
