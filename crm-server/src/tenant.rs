//! One business: its engine over its journal (a SQLite file, or PostgreSQL shared by
//! several app servers), its keys, its timekeeper and its outbox's deliverer.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use crm_core::{
    Actor, Crm, CrmError, CrmOptions, Effect, EffectId, Journal, ReplicaId, Role, UserId,
};
use crm_store_postgres::PostgresJournal;
use crm_store_sqlite::SqliteJournal;

use crate::config::{DeliveryConfig, IntakeConfig};
use crate::delivery::{Delivery, Round, Tried};
use crate::guard::lock;
use crate::jobs::Jobs;
use crate::keys::KeyStore;
use crate::limits::{Buckets, RateLimit};
use crate::problem::Problem;
use crate::tables::Storage;

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
    /// The intake endpoints (off by default).
    pub intake: IntakeConfig,
}

/// A business served by this process.
pub struct Tenant {
    storage: Storage,
    options: CrmOptions,
    /// `None` after a storage failure: the engine is opened again from the journal
    /// before the next request, so no event whose append failed half-way is kept.
    crm: Mutex<Option<Engine>>,
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
    /// The key digests read at opening, for the hub's index.
    opening_digests: Mutex<Vec<String>>,
    intake: IntakeConfig,
    /// Import jobs started here (`files.rs`).
    jobs: Mutex<Jobs>,
}

/// How often an app server that does not deliver a business's outbox checks whether
/// the one that does has stopped.
const FOLLOWER_LOOKS_AGAIN: std::time::Duration = std::time::Duration::from_secs(10);

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

/// How often a command runs again after losing the append race to another app server.
const RACES: u32 = 20;

/// A random pause of up to 2^attempt milliseconds (at most 64).
fn jitter(attempt: u32) -> std::time::Duration {
    let mut byte = [0u8; 2];
    let random = getrandom::fill(&mut byte).map_or(0, |()| u64::from(u16::from_le_bytes(byte)));
    let ceiling = 1u64 << attempt.min(6);
    std::time::Duration::from_micros(random % (ceiling * 1000))
}

/// The engine over whichever journal the business is kept in.
pub(crate) type Engine = Crm<Box<dyn Journal + Send>>;

/// Opens the engine of the business kept in `storage`.
fn open_engine(storage: &Storage, options: &CrmOptions) -> Result<Engine, CrmError> {
    let journal: Box<dyn Journal + Send> = match storage {
        Storage::Sqlite(path) => Box::new(SqliteJournal::open_or_create(path)?),
        Storage::Postgres { url, tenant } => Box::new(PostgresJournal::connect(url, tenant)?),
    };
    Crm::open(ReplicaId::new(AUTHORITY)?, options.clone(), journal)
}

impl Tenant {
    /// Opens the business kept in `storage` (a SQLite file's path, or
    /// [`Storage::Postgres`]), making it if missing. A business with no users yet gets
    /// its first admin ("Admin") and a key for them. Blocks: call it off the async
    /// threads (PostgreSQL's client runs its own).
    pub fn open(storage: impl Into<Storage>, options: TenantOptions) -> Result<Opened, CrmError> {
        let storage = storage.into();
        let mut crm = open_engine(&storage, &options.crm)?;
        let mut keys = KeyStore::open(&storage)?;
        let clock = options.clock.unwrap_or_else(|| Arc::new(Utc::now));
        let delivery =
            Delivery::open(&options.delivery, &storage).map_err(|reason| CrmError::Validation {
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
        let opening_digests = Mutex::new(keys.digests()?);
        Ok(Opened {
            tenant: Tenant {
                storage,
                options: options.crm,
                crm: Mutex::new(Some(crm)),
                keys: Mutex::new(keys),
                clock,
                changed: tokio::sync::Notify::new(),
                rate_limit: options.rate_limit.unwrap_or_default(),
                buckets: Mutex::new(Buckets::default()),
                delivery,
                queued: tokio::sync::Notify::new(),
                opening_digests,
                intake: options.intake,
                jobs: Mutex::new(Jobs::default()),
            },
            first_admin_key,
        })
    }

    /// Runs `work` on the engine at the server's `now`, off the async threads (the
    /// engine and its journal block). On a shared journal the engine first takes what
    /// other app servers appended, and a command that lost the race to one of them
    /// (`conflict`: the engine has reloaded) runs again, a few times at most. After a
    /// storage failure the engine is dropped and opened afresh on the next request.
    pub(crate) async fn run<T: Send + 'static>(
        self: &Arc<Self>,
        mut work: impl FnMut(&mut Engine, DateTime<Utc>) -> Result<T, CrmError> + Send + 'static,
    ) -> Result<T, Problem> {
        self.blocking(move |tenant| {
            let mut attempts = 0;
            loop {
                attempts += 1;
                match tenant.with_engine(|crm| work(crm, (tenant.clock)())) {
                    Err(err)
                        if err.code() == "conflict"
                            && tenant.storage.shared()
                            && attempts < RACES =>
                    {
                        // Two servers that lost to each other must not collide again in
                        // step: a random pause, growing with each loss.
                        std::thread::sleep(jitter(attempts));
                    }
                    result => return result.map_err(Problem::from),
                }
            }
        })
        .await
    }

    /// `f` on the engine (opened again if a failure dropped it), caught up first with
    /// what other app servers appended to a shared journal. A storage failure drops
    /// the engine.
    /// The time of the journal's last event (a demo clock never goes back before it).
    pub(crate) fn last_event_at(&self) -> Result<Option<DateTime<Utc>>, CrmError> {
        self.with_engine(|crm| Ok(crm.state().last_at()))
    }

    fn with_engine<T>(
        &self,
        f: impl FnOnce(&mut Engine) -> Result<T, CrmError>,
    ) -> Result<T, CrmError> {
        let mut guard = lock(&self.crm);
        let result = self.engine(&mut guard).and_then(|crm| {
            if self.storage.shared() {
                crm.catch_up()?;
            }
            f(crm)
        });
        if matches!(&result, Err(err) if err.code() == "storage") {
            *guard = None;
        }
        result
    }

    /// The engine, opened again if a failure dropped it.
    fn engine<'a>(&self, slot: &'a mut Option<Engine>) -> Result<&'a mut Engine, CrmError> {
        if slot.is_none() {
            tracing::info!("opening the journal again");
            *slot = Some(open_engine(&self.storage, &self.options)?);
        }
        slot.as_mut().ok_or_else(|| CrmError::Storage {
            reason: "the journal could not be opened".into(),
        })
    }

    /// Runs `work` on a blocking thread (the engine, SQLite and the key table block).
    pub(crate) async fn blocking<T: Send + 'static>(
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
    /// deliverer that it may have queued an effect (a request here, or an append by
    /// another app server: `listen`).
    pub fn changed(&self) {
        self.changed.notify_one();
        self.queued.notify_one();
    }

    /// The import jobs started in this process.
    pub(crate) fn jobs(&self) -> &Mutex<Jobs> {
        &self.jobs
    }

    /// The intake endpoints' settings.
    pub(crate) fn intake(&self) -> &IntakeConfig {
        &self.intake
    }

    /// The server's `now` for this business.
    pub(crate) fn now(&self) -> DateTime<Utc> {
        (self.clock)()
    }

    /// Takes one request from the bucket named `key` (an API key, a form and an
    /// address), or `429` with how long to wait.
    pub(crate) fn take_token(&self, key: &str, limit: RateLimit) -> Result<(), Problem> {
        lock(&self.buckets)
            .take(key, limit, (self.clock)())
            .map_err(Problem::rate_limited)
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
            let leads = self
                .blocking(|tenant| match tenant.delivery() {
                    Some(delivery) => delivery.leads().map_err(Problem::from),
                    None => Ok(false),
                })
                .await;
            match leads {
                Ok(true) => {}
                Ok(false) => {
                    // Another app server delivers; look again now and then, to take
                    // over when it stops.
                    tokio::time::sleep(FOLLOWER_LOOKS_AGAIN).await;
                    continue;
                }
                Err(problem) => {
                    tracing::warn!(code = problem.code, detail = %problem.detail, "delivery lock unreadable");
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    continue;
                }
            }
            let round = self
                .run(|crm, now| {
                    let outbox: Vec<Effect> = crm.drain_outbox().into_iter().cloned().collect();
                    Ok((outbox, now))
                })
                .await
                .map(|(outbox, now)| {
                    let effects = |id: &EffectId| {
                        lock(&self.crm)
                            .as_ref()
                            .and_then(|crm| crm.state().effects().get(id).cloned())
                    };
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
            if matches!(tried, Tried::Delivered) && !round.replays.contains(&effect.id) {
                delivered.push(effect.id);
            }
            // Noting a gone endpoint writes to the server's tables: off the async threads.
            let noted = self
                .blocking(move |tenant| {
                    if let Some(delivery) = tenant.delivery() {
                        delivery.note(&effect, &tried);
                    }
                    Ok(())
                })
                .await;
            if let Err(problem) = noted {
                tracing::warn!(detail = %problem.detail, "a delivery could not be noted");
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
            tenant.take_token(&key, tenant.rate_limit)?;
            let active = tenant.with_engine(|crm| {
                Ok(crm
                    .state()
                    .users()
                    .get(&user)
                    .is_some_and(|found| found.active))
            })?;
            if active {
                Ok(user)
            } else {
                Err(Problem::unauthenticated("the key's user is deactivated"))
            }
        })
        .await
    }

    /// The digests of this business's keys in force when it was opened (the hub's
    /// index); later keys are indexed as they are made or first used.
    pub(crate) fn opening_key_digests(&self) -> Vec<String> {
        std::mem::take(&mut lock(&self.opening_digests))
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
            tenant.admin_only(caller, "make API keys")?;
            if !tenant.with_engine(|crm| Ok(crm.state().users().contains_key(&user)))? {
                return Err(CrmError::not_found("user", user).into());
            }
            Ok(lock(&tenant.keys).create(user, (tenant.clock)())?)
        })
        .await
    }

    /// Enrols a device of `user` as a replica: its own replica id (docs/sync.md).
    pub(crate) async fn enrol_replica(self: &Arc<Self>, user: UserId) -> Result<u64, Problem> {
        self.blocking(move |tenant| {
            Ok(lock(&tenant.keys).enrol_replica(user, AUTHORITY, (tenant.clock)())?)
        })
        .await
    }

    /// Refuses a push from replica `id` unless it was enrolled for `user`: the answers
    /// name another device's commands, and a replica id is bound to its device.
    pub(crate) async fn require_replica_of(
        self: &Arc<Self>,
        user: UserId,
        id: u64,
    ) -> Result<(), Problem> {
        self.blocking(move |tenant| match lock(&tenant.keys).replica_user(id)? {
            Some(owner) if owner == user => Ok(()),
            _ => Err(CrmError::denied(
                user,
                format!(
                    "push as replica {id}: it is not enrolled for this user (POST /v1/sync/replicas)"
                ),
            )
            .into()),
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
            tenant.admin_only(caller, "revoke API keys")?;
            if lock(&tenant.keys).revoke(id, (tenant.clock)())? {
                Ok(())
            } else {
                Err(CrmError::not_found("API key", id).into())
            }
        })
        .await
    }

    /// `permission_denied` unless `user` is an admin.
    pub(crate) async fn require_admin(
        self: &Arc<Self>,
        user: UserId,
        action: &'static str,
    ) -> Result<(), Problem> {
        self.blocking(move |tenant| tenant.admin_only(user, action))
            .await
    }

    /// [`Tenant::require_admin`] on a blocking thread already.
    fn admin_only(&self, user: UserId, action: &str) -> Result<(), Problem> {
        let admin = self.with_engine(|crm| {
            Ok(crm
                .state()
                .users()
                .get(&user)
                .is_some_and(|found| found.role == Role::Admin))
        })?;
        if admin {
            Ok(())
        } else {
            Err(CrmError::denied(Actor::User(user), format!("{action} (admins only)")).into())
        }
    }
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
