//! One business: its journal and its keys, in one SQLite file.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use crm_core::{Actor, Crm, CrmError, CrmOptions, Effect, EffectId, ReplicaId, Role, UserId};
use crm_store_sqlite::SqliteJournal;

use crate::config::DeliveryConfig;
use crate::delivery::{Delivery, Round, Tried};
use crate::keys::KeyStore;
use crate::limits::{Buckets, RateLimit};
use crate::problem::Problem;

/// Where the server's `now` comes from (the wall clock; tests set their own).
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// How a business is opened.
#[derive(Clone, Default)]
pub struct TenantOptions {
    /// The engine's options (phone region, …).
    pub crm: CrmOptions,
    /// `None`: the wall clock.
    pub clock: Option<Clock>,
    /// Per-key rate limit; `None`: [`RateLimit::default`].
    pub rate_limit: Option<RateLimit>,
    /// How the outbox is delivered (nothing is sent by default).
    pub delivery: DeliveryConfig,
}

/// A business served by this process.
pub struct Tenant {
    crm: Mutex<Crm<SqliteJournal>>,
    keys: Mutex<KeyStore>,
    clock: Clock,
    /// Rings when a request may have moved the next timer (`keep_time`).
    changed: tokio::sync::Notify,
    rate_limit: RateLimit,
    buckets: Mutex<Buckets>,
    /// The outbox's deliverer, when any channel is configured.
    delivery: Option<Delivery>,
    /// Rings when a request may have queued an effect (`deliver`).
    queued: tokio::sync::Notify,
}

/// The longest the timekeeper sleeps without looking again (the wall clock may jump).
const LONGEST_SLEEP: std::time::Duration = std::time::Duration::from_secs(60);

/// A business opened: the tenant, and on its first start the first admin's key
/// (shown once: only its digest is kept).
pub struct Opened {
    pub tenant: Tenant,
    pub first_admin_key: Option<String>,
}

/// The authority's replica id: replicas get their own (docs/sync.md).
const AUTHORITY: u64 = 1;

impl Tenant {
    /// Opens the business whose file is `path`, making it if missing. A business with
    /// no users yet gets its first admin ("Admin") and a key for them.
    pub fn open(path: impl AsRef<Path>, options: TenantOptions) -> Result<Opened, CrmError> {
        let path = path.as_ref();
        let journal = SqliteJournal::open_or_create(path)?;
        let mut crm = Crm::open(ReplicaId::new(AUTHORITY)?, options.crm, journal)?;
        let mut keys = KeyStore::open(path)?;
        let clock = options.clock.unwrap_or_else(|| Arc::new(Utc::now));
        let delivery =
            Delivery::open(&options.delivery, path).map_err(|reason| CrmError::Validation {
                field: "delivery".into(),
                reason,
            })?;
        let first_admin_key = if crm.state().users().is_empty() {
            let now = clock();
            let outcome = crm.execute_json(
                "system",
                &now.to_rfc3339(),
                r#"{"type": "create_user", "name": "Admin", "role": "admin"}"#,
            )?;
            let admin: UserId = created(&outcome)?;
            Some(keys.create(admin, now)?.1)
        } else {
            None
        };
        Ok(Opened {
            tenant: Tenant {
                crm: Mutex::new(crm),
                keys: Mutex::new(keys),
                clock,
                changed: tokio::sync::Notify::new(),
                rate_limit: options.rate_limit.unwrap_or_default(),
                buckets: Mutex::new(Buckets::default()),
                delivery,
                queued: tokio::sync::Notify::new(),
            },
            first_admin_key,
        })
    }

    /// Runs `work` on the engine at the server's `now`, off the async threads (the
    /// engine and SQLite block).
    pub(crate) async fn run<T: Send + 'static>(
        self: &Arc<Self>,
        work: impl FnOnce(&mut Crm<SqliteJournal>, DateTime<Utc>) -> Result<T, CrmError>
            + Send
            + 'static,
    ) -> Result<T, Problem> {
        self.blocking(move |tenant| {
            let now = (tenant.clock)();
            work(&mut lock(&tenant.crm), now).map_err(Problem::from)
        })
        .await
    }

    /// Runs `work` on a blocking thread (the engine, SQLite and the key table block).
    async fn blocking<T: Send + 'static>(
        self: &Arc<Self>,
        work: impl FnOnce(&Tenant) -> Result<T, Problem> + Send + 'static,
    ) -> Result<T, Problem> {
        let tenant = Arc::clone(self);
        tokio::task::spawn_blocking(move || work(&tenant))
            .await
            .map_err(|err| {
                Problem::from(CrmError::Storage {
                    reason: format!("the request's work stopped: {err}"),
                })
            })?
    }

    /// Tells the timekeeper that a request may have set or moved a timer, and the
    /// deliverer that it may have queued an effect.
    pub(crate) fn changed(&self) {
        self.changed.notify_one();
        self.queued.notify_one();
    }

    /// The outbox's deliverer, if this business delivers anything.
    pub(crate) fn delivery(&self) -> Option<&Delivery> {
        self.delivery.as_ref()
    }

    /// Delivers the outbox as effects are queued (docs/server.md): each round takes
    /// what is due, sends it concurrently, and acknowledges what was delivered in one
    /// journal batch. Runs until the process stops; returns at once when nothing is
    /// configured to be delivered.
    pub async fn deliver(self: Arc<Self>) {
        if self.delivery.is_none() {
            return;
        }
        loop {
            let round = self
                .run(|crm, now| {
                    let outbox: Vec<Effect> = crm.drain_outbox().into_iter().cloned().collect();
                    Ok((outbox, now))
                })
                .await
                .map(|(outbox, now)| {
                    let effects =
                        |id: &EffectId| lock(&self.crm).state().effects().get(id).cloned();
                    self.delivery
                        .as_ref()
                        .map(|delivery| delivery.round(outbox, &effects, now))
                });
            let round = match round {
                Ok(Some(round)) => round,
                Ok(None) => return,
                Err(problem) => {
                    tracing::warn!(code = problem.code, detail = %problem.detail, "outbox unreadable");
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    continue;
                }
            };
            if round.due.is_empty() {
                let wake = round
                    .next
                    .unwrap_or_else(|| tokio::time::Instant::now() + LONGEST_SLEEP);
                tokio::select! {
                    () = tokio::time::sleep_until(wake) => {}
                    () = self.queued.notified() => {}
                }
                continue;
            }
            self.deliver_round(round).await;
        }
    }

    /// Sends one round's effects concurrently; acknowledges the delivered ones that
    /// were pending (a replayed webhook was acknowledged before).
    async fn deliver_round(self: &Arc<Self>, round: Round) {
        let mut sending = tokio::task::JoinSet::new();
        for effect in round.due {
            let tenant = Arc::clone(self);
            sending.spawn(async move {
                let tried = match tenant.delivery() {
                    Some(delivery) => delivery.deliver(&effect).await,
                    None => Tried::Failed("delivery is off".into()),
                };
                (effect, tried)
            });
        }
        let mut delivered = Vec::new();
        while let Some(joined) = sending.join_next().await {
            let Ok((effect, tried)) = joined else {
                continue;
            };
            if let Some(delivery) = self.delivery() {
                delivery.note(&effect, &tried);
            }
            if matches!(tried, Tried::Delivered) && !round.replays.contains(&effect.id) {
                delivered.push(effect.id);
            }
        }
        if delivered.is_empty() {
            return;
        }
        let count = delivered.len();
        match self
            .run(move |crm, now| crm.ack_as(Actor::System, now, &delivered))
            .await
        {
            Ok(_) => tracing::info!(effects = count, "delivered and acknowledged"),
            // Sent but not acknowledged: they are sent again (at least once).
            Err(problem) => {
                tracing::warn!(code = problem.code, detail = %problem.detail, "delivered, but the acknowledgement was not stored")
            }
        }
    }

    /// Ticks the business whenever its next timer is due, so no overdue task or
    /// delayed rule waits for a request to arrive. Runs until the process stops;
    /// `crm-server` spawns it beside the HTTP server.
    pub async fn keep_time(self: Arc<Self>) {
        loop {
            let wait = match self.run(|crm, _| Ok(crm.next_wakeup())).await {
                Ok(Some(due)) if due <= (self.clock)() => {
                    match self.run(|crm, now| crm.tick(now)).await {
                        Ok(outcome) if !outcome.events.is_empty() => {
                            tracing::info!(events = outcome.events.len(), "timers fired");
                            continue;
                        }
                        // Nothing fired though a timer was due (the clock stands still,
                        // as in tests): look again a little later, never in a spin.
                        Ok(_) => std::time::Duration::from_secs(1),
                        Err(problem) => {
                            tracing::warn!(code = problem.code, detail = %problem.detail, "tick failed");
                            std::time::Duration::from_secs(1)
                        }
                    }
                }
                Ok(Some(due)) => (due - (self.clock)())
                    .to_std()
                    .unwrap_or_default()
                    .min(LONGEST_SLEEP),
                Ok(None) => LONGEST_SLEEP,
                Err(problem) => {
                    tracing::warn!(code = problem.code, detail = %problem.detail, "timers unreadable");
                    std::time::Duration::from_secs(1)
                }
            };
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = self.changed.notified() => {}
            }
        }
    }

    /// The user an API key acts as, if it is a key in force of an active user.
    pub(crate) async fn caller(self: &Arc<Self>, key: String) -> Result<UserId, Problem> {
        self.blocking(move |tenant| {
            let user = lock(&tenant.keys)
                .user_of(&key)?
                .ok_or_else(|| Problem::unauthenticated("unknown or revoked API key"))?;
            lock(&tenant.buckets)
                .take(&key, tenant.rate_limit, (tenant.clock)())
                .map_err(Problem::rate_limited)?;
            let crm = lock(&tenant.crm);
            match crm.state().users().get(&user) {
                Some(found) if found.active => Ok(user),
                _ => Err(Problem::unauthenticated("the key's user is deactivated")),
            }
        })
        .await
    }

    /// The digests of this business's keys in force.
    pub(crate) fn key_digests(&self) -> Result<Vec<String>, CrmError> {
        lock(&self.keys).digests()
    }

    /// Whether `key` is one of this business's keys in force.
    pub(crate) async fn knows(self: &Arc<Self>, key: String) -> Result<bool, Problem> {
        self.blocking(move |tenant| Ok(lock(&tenant.keys).user_of(&key)?.is_some()))
            .await
    }

    /// Makes a key for `user` (admins only); its number and the key, shown once.
    pub(crate) async fn create_key(
        self: &Arc<Self>,
        caller: UserId,
        user: UserId,
    ) -> Result<(i64, String), Problem> {
        self.blocking(move |tenant| {
            tenant.require_admin(caller, "make API keys")?;
            if !lock(&tenant.crm).state().users().contains_key(&user) {
                return Err(CrmError::not_found("user", user).into());
            }
            Ok(lock(&tenant.keys).create(user, (tenant.clock)())?)
        })
        .await
    }

    /// Revokes key number `id` (admins only).
    pub(crate) async fn revoke_key(
        self: &Arc<Self>,
        caller: UserId,
        id: i64,
    ) -> Result<(), Problem> {
        self.blocking(move |tenant| {
            tenant.require_admin(caller, "revoke API keys")?;
            if lock(&tenant.keys).revoke(id, (tenant.clock)())? {
                Ok(())
            } else {
                Err(CrmError::not_found("API key", id).into())
            }
        })
        .await
    }

    /// `permission_denied` unless `user` is an admin.
    pub(crate) fn require_admin(&self, user: UserId, action: &str) -> Result<(), Problem> {
        let crm = lock(&self.crm);
        match crm.state().users().get(&user) {
            Some(found) if found.role == Role::Admin => Ok(()),
            _ => Err(CrmError::denied(Actor::User(user), format!("{action} (admins only)")).into()),
        }
    }
}

/// A lock whose holder panicked is still usable: the engine rebuilds its state from
/// the journal on any failure, so what it guards is never half-changed.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The ID an outcome says was created.
fn created<T: std::str::FromStr<Err = CrmError>>(outcome: &str) -> Result<T, CrmError> {
    let outcome: serde_json::Value =
        serde_json::from_str(outcome).map_err(|err| CrmError::Storage {
            reason: format!("an outcome that is not JSON: {err}"),
        })?;
    outcome["created"]
        .as_str()
        .ok_or_else(|| CrmError::Storage {
            reason: "the first admin was not created".into(),
        })?
        .parse()
}
