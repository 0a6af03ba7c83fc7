//! API keys: one or more per user, shown once when made, stored as SHA-256 digests in
//! the business's own store beside its journal, revocable. A key acts as its user,
//! with that user's role — never as anyone a request names. Beside them, the replica
//! ids handed to a user's devices (docs/sync.md).

use chrono::{DateTime, Utc};
use crm_core::{CrmError, UserId};
use sha2::{Digest, Sha256};

use crate::tables::{Storage, Tables};

/// What every key starts with, so a leaked one is recognisable in logs and scanners.
const PREFIX: &str = "crm_";

/// The keys of one business.
pub struct KeyStore {
    tables: Tables,
}

impl KeyStore {
    /// The key table of the business kept in `storage` (made if missing).
    pub fn open(storage: &Storage) -> Result<KeyStore, CrmError> {
        Ok(KeyStore {
            tables: Tables::open(storage)?,
        })
    }

    /// Makes a key for `user`: its number (to revoke it by) and the key itself, which
    /// is not stored and cannot be shown again.
    pub fn create(&mut self, user: UserId, now: DateTime<Utc>) -> Result<(i64, String), CrmError> {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).map_err(|err| CrmError::Storage {
            reason: format!("no randomness for a key: {err}"),
        })?;
        let key = format!("{PREFIX}{}", hex(&secret));
        let id = self
            .tables
            .add_key(&user.to_string(), &digest(&key), &now.to_rfc3339())?;
        Ok((id, key))
    }

    /// The user a key acts as; `None` for an unknown or revoked key.
    pub fn user_of(&mut self, key: &str) -> Result<Option<UserId>, CrmError> {
        if !well_formed(key) {
            return Ok(None);
        }
        self.tables
            .key_user(&digest(key))?
            .map(|user| user.parse())
            .transpose()
    }

    /// The digests of the keys in force (the hub's index of which business a key is
    /// for).
    pub fn digests(&mut self) -> Result<Vec<String>, CrmError> {
        self.tables.key_digests()
    }

    /// A replica id of its own for a device of `user`, above `authority`'s.
    pub fn enrol_replica(
        &mut self,
        user: UserId,
        authority: u64,
        now: DateTime<Utc>,
    ) -> Result<u64, CrmError> {
        let after = i64::try_from(authority).map_err(|_| CrmError::Overflow {
            operation: "replica ids".into(),
        })?;
        let id = self
            .tables
            .enrol_replica(&user.to_string(), after, &now.to_rfc3339())?;
        u64::try_from(id).map_err(|_| CrmError::Overflow {
            operation: "replica ids".into(),
        })
    }

    /// The user replica `id` was enrolled for; `None` when it never was.
    pub fn replica_user(&mut self, id: u64) -> Result<Option<UserId>, CrmError> {
        let Ok(id) = i64::try_from(id) else {
            return Ok(None);
        };
        self.tables
            .replica_user(id)?
            .map(|user| user.parse())
            .transpose()
    }

    /// Revokes key number `id`; whether there was such a key still in force.
    pub fn revoke(&mut self, id: i64, now: DateTime<Utc>) -> Result<bool, CrmError> {
        self.tables.revoke_key(id, &now.to_rfc3339())
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
