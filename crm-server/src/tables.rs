//! The server's own tables beside a business's journal — its API keys and its disabled
//! webhook endpoints — in the business's SQLite file, or in the PostgreSQL database
//! the app servers share (so a key made on one server works on all).

use std::path::{Path, PathBuf};

use crm_core::CrmError;
use rusqlite::{params, OptionalExtension};

/// Where a business is kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Storage {
    /// One SQLite file: journal, keys and endpoints.
    Sqlite(PathBuf),
    /// A PostgreSQL database several app servers share, the business by its name.
    Postgres { url: String, tenant: String },
}

impl Storage {
    /// Whether other processes may write the same journal (so each request catches
    /// up first).
    pub fn shared(&self) -> bool {
        matches!(self, Storage::Postgres { .. })
    }
}

impl From<&Path> for Storage {
    fn from(path: &Path) -> Self {
        Storage::Sqlite(path.to_path_buf())
    }
}

impl From<&PathBuf> for Storage {
    fn from(path: &PathBuf) -> Self {
        Storage::Sqlite(path.clone())
    }
}

fn failed(what: &str, err: impl std::fmt::Display) -> CrmError {
    CrmError::Storage {
        reason: format!("the server's tables: {what}: {err}"),
    }
}

fn pg_failed(what: &str, err: postgres::Error) -> CrmError {
    let detail = match err.as_db_error() {
        Some(db) => db.message().to_string(),
        None => err.to_string(),
    };
    failed(what, detail)
}

const SQLITE_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS api_keys (
    id INTEGER PRIMARY KEY,
    user TEXT NOT NULL,
    digest TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE TABLE IF NOT EXISTS disabled_webhooks (
    url TEXT PRIMARY KEY,
    disabled_at TEXT NOT NULL,
    reason TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS replicas (
    id INTEGER PRIMARY KEY,
    user TEXT NOT NULL,
    enrolled_at TEXT NOT NULL
);";

const POSTGRES_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS crm_api_keys (
    id BIGSERIAL PRIMARY KEY,
    tenant TEXT NOT NULL,
    user_id TEXT NOT NULL,
    digest TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE TABLE IF NOT EXISTS crm_disabled_webhooks (
    tenant TEXT NOT NULL,
    url TEXT NOT NULL,
    disabled_at TEXT NOT NULL,
    reason TEXT NOT NULL,
    PRIMARY KEY (tenant, url)
);
CREATE TABLE IF NOT EXISTS crm_replicas (
    tenant TEXT NOT NULL,
    id BIGINT NOT NULL,
    user_id TEXT NOT NULL,
    enrolled_at TEXT NOT NULL,
    PRIMARY KEY (tenant, id)
);";

/// One of the two connections, ready.
enum Conn<'a> {
    Sqlite(&'a rusqlite::Connection),
    Postgres(&'a mut postgres::Client, &'a str),
}

/// A connection to a business's server tables.
pub(crate) enum Tables {
    Sqlite(rusqlite::Connection),
    Postgres {
        client: Box<postgres::Client>,
        url: String,
        tenant: String,
        /// Whether this connection holds the business's delivery lock.
        leading: bool,
    },
}

impl Tables {
    /// Opens (and makes, if missing) the tables of the business kept in `storage`.
    pub(crate) fn open(storage: &Storage) -> Result<Tables, CrmError> {
        match storage {
            Storage::Sqlite(path) => {
                let conn =
                    rusqlite::Connection::open(path).map_err(|err| failed("cannot open", err))?;
                conn.busy_timeout(std::time::Duration::from_secs(5))
                    .and_then(|()| conn.execute_batch(SQLITE_SCHEMA))
                    .map_err(|err| failed("cannot make them", err))?;
                Ok(Tables::Sqlite(conn))
            }
            Storage::Postgres { url, tenant } => {
                let mut client = connect(url)?;
                let mut tx = client
                    .transaction()
                    .map_err(|err| pg_failed("cannot start", err))?;
                // Servers starting together: one makes the tables, the others wait.
                tx.batch_execute("SELECT pg_advisory_xact_lock(7305553401701)")
                    .and_then(|()| tx.batch_execute(POSTGRES_SCHEMA))
                    .map_err(|err| pg_failed("cannot make them", err))?;
                tx.commit().map_err(|err| pg_failed("cannot commit", err))?;
                Ok(Tables::Postgres {
                    client: Box::new(client),
                    url: url.clone(),
                    tenant: tenant.clone(),
                    leading: false,
                })
            }
        }
    }

    /// The connection to use: for PostgreSQL made again if the database restarted
    /// meanwhile.
    fn pick(&mut self) -> Result<Conn<'_>, CrmError> {
        match self {
            Tables::Sqlite(conn) => Ok(Conn::Sqlite(conn)),
            Tables::Postgres {
                client,
                url,
                tenant,
                leading,
            } => {
                if client.is_closed() {
                    **client = connect(url)?;
                    *leading = false;
                }
                Ok(Conn::Postgres(client, tenant.as_str()))
            }
        }
    }

    /// Whether this process delivers the business's outbox: on SQLite always; on a
    /// shared database the one app server holding the business's advisory lock (a
    /// session lock: when that server dies its connection closes and another takes it).
    pub(crate) fn lead(&mut self) -> Result<bool, CrmError> {
        if let Tables::Postgres {
            leading: true,
            client,
            ..
        } = self
        {
            if !client.is_closed() {
                return Ok(true);
            }
        }
        let taken = match self.pick()? {
            Conn::Sqlite(_) => return Ok(true),
            Conn::Postgres(client, tenant) => client
                .query_one(
                    "SELECT pg_try_advisory_lock(hashtext('crm-server deliver ' || $1))",
                    &[&tenant],
                )
                .map_err(|err| pg_failed("cannot take the delivery lock", err))?
                .get::<_, bool>(0),
        };
        if let Tables::Postgres { leading, .. } = self {
            *leading = taken;
        }
        Ok(taken)
    }

    /// Stores a key's digest for `user`; the key's number.
    pub(crate) fn add_key(&mut self, user: &str, digest: &str, now: &str) -> Result<i64, CrmError> {
        match self.pick()? {
            Conn::Postgres(client, tenant) => {
                let row = client
                    .query_one(
                        "INSERT INTO crm_api_keys (tenant, user_id, digest, created_at)
                         VALUES ($1, $2, $3, $4) RETURNING id",
                        &[&tenant, &user, &digest, &now],
                    )
                    .map_err(|err| pg_failed("cannot store a key", err))?;
                Ok(row.get(0))
            }
            Conn::Sqlite(conn) => {
                conn.execute(
                    "INSERT INTO api_keys (user, digest, created_at) VALUES (?1, ?2, ?3)",
                    params![user, digest, now],
                )
                .map_err(|err| failed("cannot store a key", err))?;
                Ok(conn.last_insert_rowid())
            }
        }
    }

    /// The user of a key in force, by its digest.
    pub(crate) fn key_user(&mut self, digest: &str) -> Result<Option<String>, CrmError> {
        match self.pick()? {
            Conn::Postgres(client, tenant) => {
                let row = client
                    .query_opt(
                        "SELECT user_id FROM crm_api_keys
                         WHERE tenant = $1 AND digest = $2 AND revoked_at IS NULL",
                        &[&tenant, &digest],
                    )
                    .map_err(|err| pg_failed("cannot look a key up", err))?;
                Ok(row.map(|row| row.get(0)))
            }
            Conn::Sqlite(conn) => conn
                .query_row(
                    "SELECT user FROM api_keys WHERE digest = ?1 AND revoked_at IS NULL",
                    params![digest],
                    |row| row.get(0),
                )
                .optional()
                .map_err(|err| failed("cannot look a key up", err)),
        }
    }

    /// Revokes key `id`; whether it was in force.
    pub(crate) fn revoke_key(&mut self, id: i64, now: &str) -> Result<bool, CrmError> {
        match self.pick()? {
            Conn::Postgres(client, tenant) => {
                let changed = client
                    .execute(
                        "UPDATE crm_api_keys SET revoked_at = $3
                         WHERE tenant = $1 AND id = $2 AND revoked_at IS NULL",
                        &[&tenant, &id, &now],
                    )
                    .map_err(|err| pg_failed("cannot revoke a key", err))?;
                Ok(changed == 1)
            }
            Conn::Sqlite(conn) => {
                let changed = conn
                    .execute(
                        "UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                        params![id, now],
                    )
                    .map_err(|err| failed("cannot revoke a key", err))?;
                Ok(changed == 1)
            }
        }
    }

    /// Enrols a device of `user` as a replica: the next replica id, above `after` (the
    /// authority's). Two app servers enrolling at once: one loses the primary key and
    /// takes the next number.
    pub(crate) fn enrol_replica(
        &mut self,
        user: &str,
        after: i64,
        now: &str,
    ) -> Result<i64, CrmError> {
        match self.pick()? {
            Conn::Postgres(client, tenant) => {
                let mut last = String::from("no attempt");
                for _ in 0..5 {
                    let row = client.query_one(
                        "INSERT INTO crm_replicas (tenant, id, user_id, enrolled_at)
                         SELECT $1, GREATEST(COALESCE(MAX(id), 0), $2) + 1, $3, $4
                         FROM crm_replicas WHERE tenant = $1
                         ON CONFLICT DO NOTHING RETURNING id",
                        &[&tenant, &after, &user, &now],
                    );
                    match row {
                        Ok(row) => return Ok(row.get(0)),
                        Err(err) => last = err.to_string(),
                    }
                }
                Err(failed("cannot enrol a replica", last))
            }
            Conn::Sqlite(conn) => conn
                .query_row(
                    "INSERT INTO replicas (id, user, enrolled_at)
                     SELECT MAX(COALESCE(MAX(id), 0), ?1) + 1, ?2, ?3 FROM replicas
                     RETURNING id",
                    params![after, user, now],
                    |row| row.get(0),
                )
                .map_err(|err| failed("cannot enrol a replica", err)),
        }
    }

    /// The user replica `id` was enrolled for, if it was.
    pub(crate) fn replica_user(&mut self, id: i64) -> Result<Option<String>, CrmError> {
        match self.pick()? {
            Conn::Postgres(client, tenant) => {
                let row = client
                    .query_opt(
                        "SELECT user_id FROM crm_replicas WHERE tenant = $1 AND id = $2",
                        &[&tenant, &id],
                    )
                    .map_err(|err| pg_failed("cannot look a replica up", err))?;
                Ok(row.map(|row| row.get(0)))
            }
            Conn::Sqlite(conn) => conn
                .query_row(
                    "SELECT user FROM replicas WHERE id = ?1",
                    params![id],
                    |row| row.get(0),
                )
                .optional()
                .map_err(|err| failed("cannot look a replica up", err)),
        }
    }

    /// The digests of the keys in force.
    pub(crate) fn key_digests(&mut self) -> Result<Vec<String>, CrmError> {
        match self.pick()? {
            Conn::Postgres(client, tenant) => {
                let rows = client
                    .query(
                        "SELECT digest FROM crm_api_keys WHERE tenant = $1 AND revoked_at IS NULL",
                        &[&tenant],
                    )
                    .map_err(|err| pg_failed("cannot list keys", err))?;
                Ok(rows.into_iter().map(|row| row.get(0)).collect())
            }
            Conn::Sqlite(conn) => {
                let mut query = conn
                    .prepare("SELECT digest FROM api_keys WHERE revoked_at IS NULL")
                    .map_err(|err| failed("cannot list keys", err))?;
                let rows = query
                    .query_map([], |row| row.get(0))
                    .map_err(|err| failed("cannot list keys", err))?;
                rows.collect::<Result<_, _>>()
                    .map_err(|err| failed("cannot list keys", err))
            }
        }
    }

    /// The disabled webhook endpoints: URL and when.
    pub(crate) fn disabled_webhooks(&mut self) -> Result<Vec<(String, String)>, CrmError> {
        match self.pick()? {
            Conn::Postgres(client, tenant) => {
                let rows = client
                    .query(
                        "SELECT url, disabled_at FROM crm_disabled_webhooks WHERE tenant = $1 ORDER BY url",
                        &[&tenant],
                    )
                    .map_err(|err| pg_failed("cannot list disabled webhooks", err))?;
                Ok(rows
                    .into_iter()
                    .map(|row| (row.get(0), row.get(1)))
                    .collect())
            }
            Conn::Sqlite(conn) => {
                let mut query = conn
                    .prepare("SELECT url, disabled_at FROM disabled_webhooks ORDER BY url")
                    .map_err(|err| failed("cannot list disabled webhooks", err))?;
                let rows = query
                    .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
                    .map_err(|err| failed("cannot list disabled webhooks", err))?;
                rows.collect::<Result<_, _>>()
                    .map_err(|err| failed("cannot list disabled webhooks", err))
            }
        }
    }

    /// Disables an endpoint.
    pub(crate) fn disable_webhook(
        &mut self,
        url: &str,
        now: &str,
        reason: &str,
    ) -> Result<(), CrmError> {
        match self.pick()? {
            Conn::Postgres(client, tenant) => {
                client
                    .execute(
                        "INSERT INTO crm_disabled_webhooks (tenant, url, disabled_at, reason)
                         VALUES ($1, $2, $3, $4) ON CONFLICT (tenant, url) DO NOTHING",
                        &[&tenant, &url, &now, &reason],
                    )
                    .map_err(|err| pg_failed("cannot disable a webhook", err))?;
                Ok(())
            }
            Conn::Sqlite(conn) => {
                conn.execute(
                "INSERT OR IGNORE INTO disabled_webhooks (url, disabled_at, reason) VALUES (?1, ?2, ?3)",
                params![url, now, reason],
            )
            .map_err(|err| failed("cannot disable a webhook", err))?;
                Ok(())
            }
        }
    }

    /// Enables an endpoint again; whether it was disabled.
    pub(crate) fn enable_webhook(&mut self, url: &str) -> Result<bool, CrmError> {
        match self.pick()? {
            Conn::Postgres(client, tenant) => {
                let removed = client
                    .execute(
                        "DELETE FROM crm_disabled_webhooks WHERE tenant = $1 AND url = $2",
                        &[&tenant, &url],
                    )
                    .map_err(|err| pg_failed("cannot enable a webhook", err))?;
                Ok(removed > 0)
            }
            Conn::Sqlite(conn) => {
                let removed = conn
                    .execute("DELETE FROM disabled_webhooks WHERE url = ?1", params![url])
                    .map_err(|err| failed("cannot enable a webhook", err))?;
                Ok(removed > 0)
            }
        }
    }
}

fn connect(url: &str) -> Result<postgres::Client, CrmError> {
    postgres::Client::connect(url, postgres::NoTls).map_err(|err| pg_failed("cannot connect", err))
}
