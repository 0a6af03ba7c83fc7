//! Kotlin and Swift bindings for crm-core through UniFFI proc-macros: the `Crm` class
//! (Kotlin package `dev.crmcore`, Swift module `CrmCore`). Conversions live in
//! `conversion`, error mapping in `errors`; no business logic here.

mod conversion;
mod errors;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use crm_core::{Command, DealMove, Journal, MemoryJournal, NewPipeline, ReplicaId};
use crm_store_sqlite::SqliteJournal;

pub use crate::conversion::{
    ActivityKind, Consent, DealFilter, DealStatus, DealSummary, Direction, FieldInput, Money,
    NewActivity, NewContact, NewDeal, NewStage, NewTask, StageKind, TaskCompletion,
};
pub use crate::errors::CrmError;
use crate::errors::IntoFfi;

uniffi::setup_scaffolding!();

/// The engine over whichever journal the app chose: memory or a SQLite file.
type Engine = crm_core::Crm<Box<dyn Journal + Send>>;

/// One CRM engine, in memory or on a SQLite file (`Crm.open`). Thread-safe: calls
/// are serialised.
#[derive(uniffi::Object)]
pub struct Crm {
    inner: Mutex<Engine>,
    /// The journal's file, for engines opened from one.
    path: Option<String>,
}

impl Crm {
    fn wrap(
        replica_id: u64,
        options: crm_core::CrmOptions,
        journal: Box<dyn Journal + Send>,
        path: Option<String>,
    ) -> Result<Arc<Self>, CrmError> {
        let engine =
            crm_core::Crm::open(ReplicaId::new(replica_id).ffi()?, options, journal).ffi()?;
        Ok(Arc::new(Self {
            inner: Mutex::new(engine),
            path,
        }))
    }

    fn engine(&self) -> MutexGuard<'_, Engine> {
        // A panic cannot happen inside the engine on any input; if one ever did,
        // the state is still consistent (commands apply only after validation).
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn create(&self, actor: &str, now: SystemTime, command: Command) -> Result<String, CrmError> {
        let outcome = self.outcome(actor, now, command)?;
        Ok(outcome.require_created().ffi()?.to_string())
    }

    fn run(&self, actor: &str, now: SystemTime, command: Command) -> Result<(), CrmError> {
        self.outcome(actor, now, command).map(drop)
    }

    fn outcome(
        &self,
        actor: &str,
        now: SystemTime,
        command: Command,
    ) -> Result<crm_core::Outcome, CrmError> {
        self.engine()
            .execute(
                conversion::parse::<crm_core::Actor>(actor)?,
                conversion::instant(now)?,
                &command,
            )
            .ffi()
    }
}

fn options(
    default_region: Option<String>,
    max_cascade_depth: Option<u32>,
    max_reaction_events: Option<u32>,
) -> crm_core::CrmOptions {
    crm_core::CrmOptions {
        default_region,
        max_cascade_depth,
        max_reaction_events,
        ..Default::default()
    }
}

#[uniffi::export]
impl Crm {
    /// An empty engine. `replica_id` (0..2^53-1) is chosen by the app, unique per device.
    /// `max_cascade_depth` bounds chains of rules setting each other off (default 8),
    /// `max_reaction_events` the events they may add to one command (default 2,000).
    #[uniffi::constructor(default(
        default_region = None,
        max_cascade_depth = None,
        max_reaction_events = None
    ))]
    pub fn new(
        replica_id: u64,
        default_region: Option<String>,
        max_cascade_depth: Option<u32>,
        max_reaction_events: Option<u32>,
    ) -> Result<Arc<Self>, CrmError> {
        let journal = Box::new(MemoryJournal::new());
        Self::wrap(
            replica_id,
            options(default_region, max_cascade_depth, max_reaction_events),
            journal,
            None,
        )
    }

    /// Opens the durable journal at `path` (SQLite; docs/storage.md), e.g. in the app's
    /// files directory, and replays it. A missing file is an error unless `create`
    /// (default false), so a misspelt path never starts an empty CRM.
    #[uniffi::constructor(default(
        default_region = None,
        max_cascade_depth = None,
        max_reaction_events = None,
        create = false
    ))]
    pub fn open(
        path: String,
        replica_id: u64,
        default_region: Option<String>,
        max_cascade_depth: Option<u32>,
        max_reaction_events: Option<u32>,
        create: bool,
    ) -> Result<Arc<Self>, CrmError> {
        let journal = if create {
            SqliteJournal::open_or_create(&path)
        } else {
            SqliteJournal::open(&path)
        };
        let journal = Box::new(journal.ffi()?);
        Self::wrap(
            replica_id,
            options(default_region, max_cascade_depth, max_reaction_events),
            journal,
            Some(path),
        )
    }

    /// Opens an existing journal for reading only: a reporting replica beside the app's
    /// writer; commands fail with `Storage`.
    #[uniffi::constructor(default(default_region = None, max_cascade_depth = None))]
    pub fn open_read_only(
        path: String,
        replica_id: u64,
        default_region: Option<String>,
        max_cascade_depth: Option<u32>,
    ) -> Result<Arc<Self>, CrmError> {
        let journal = Box::new(SqliteJournal::open_read_only(&path).ffi()?);
        Self::wrap(
            replica_id,
            options(default_region, max_cascade_depth, None),
            journal,
            Some(path),
        )
    }

    /// Rebuilds an engine from events exported with `events_json`.
    #[uniffi::constructor(default(
        default_region = None,
        max_cascade_depth = None,
        max_reaction_events = None
    ))]
    pub fn replay(
        replica_id: u64,
        events_json: String,
        default_region: Option<String>,
        max_cascade_depth: Option<u32>,
        max_reaction_events: Option<u32>,
    ) -> Result<Arc<Self>, CrmError> {
        let events = crm_core::envelopes_from_json(&events_json).ffi()?;
        let mut journal = MemoryJournal::new();
        journal.append(&events).ffi()?;
        Self::wrap(
            replica_id,
            options(default_region, max_cascade_depth, max_reaction_events),
            Box::new(journal),
            None,
        )
    }

    /// A consistent online copy of the journal file at `target` (file journals only).
    pub fn backup(&self, target: String) -> Result<(), CrmError> {
        let path = self.path.as_ref().ok_or_else(|| {
            CrmError::from(crm_core::CrmError::Storage {
                reason:
                    "only a journal opened from a file can be backed up; export its events instead"
                        .into(),
            })
        })?;
        SqliteJournal::open_read_only(path)
            .and_then(|journal| journal.backup_to(&target))
            .ffi()
    }

    /// What opening or a command had to work around (an unusable snapshot, a file not
    /// closed cleanly whose write-ahead log is gone), most recent last.
    pub fn warnings(&self) -> Vec<String> {
        self.engine().warnings().to_vec()
    }

    /// Writes a snapshot so the next `open` replays less (file journals keep it).
    pub fn snapshot(&self) -> Result<(), CrmError> {
        self.engine().snapshot().ffi()
    }

    /// Writes every event as JSON Lines to `target`; returns how many.
    pub fn export_jsonl(&self, target: String) -> Result<u64, CrmError> {
        crm_store_sqlite::export_jsonl_file(self.engine().journal(), &target).ffi()
    }

    /// Appends the events of a JSON Lines file that continue this journal (all or
    /// nothing; older schema versions upcast); returns how many.
    pub fn import_jsonl(&self, source: String) -> Result<u64, CrmError> {
        let mut engine = self.engine();
        let events = crm_store_sqlite::read_jsonl_file(&source, engine.last_seq() + 1).ffi()?;
        engine.import_events(&events).ffi()?;
        Ok(events.len() as u64)
    }

    /// Executes any command given as JSON (`now` in RFC 3339); returns the outcome as JSON.
    pub fn execute_json(
        &self,
        actor: String,
        now: String,
        command_json: String,
    ) -> Result<String, CrmError> {
        self.engine()
            .execute_json(&actor, &now, &command_json)
            .ffi()
    }

    /// Runs several commands as one (`{"commands": [...]}`): all stored or none (an
    /// error names `commands[i]`). `{"$ref": i}` where an ID goes stands for what
    /// command `i` created. With an idempotency key the same batch sent again within a
    /// day is answered (`replayed`), never run twice. The outcome as JSON.
    pub fn execute_batch_json(
        &self,
        actor: String,
        now: String,
        batch_json: String,
        idempotency_key: Option<String>,
    ) -> Result<String, CrmError> {
        self.engine()
            .execute_batch_json(&actor, &now, &batch_json, idempotency_key.as_deref())
            .ffi()
    }

    /// Answers any query given as JSON; returns the result as JSON.
    pub fn query_json(
        &self,
        actor: String,
        now: String,
        query_json: String,
    ) -> Result<String, CrmError> {
        self.engine().query_json(&actor, &now, &query_json).ffi()
    }

    /// Runs a replica's pushed commands (`CrmReplica.pushBatch`, JSON) as `user`, the
    /// user the host authenticated the connection as; the answer as JSON (docs/sync.md).
    pub fn push(&self, user: String, now: SystemTime, batch: String) -> Result<String, CrmError> {
        let now = conversion::instant(now)?.to_rfc3339();
        self.engine().push_json(&user, &now, &batch).ffi()
    }

    /// The canonical events after `cursor` for `user`'s replica, as JSON.
    #[uniffi::method(default(limit = None))]
    pub fn pull(&self, user: String, cursor: u64, limit: Option<u32>) -> Result<String, CrmError> {
        let limit = limit.map(|limit| limit as usize);
        self.engine().pull_json(&user, cursor, limit).ffi()
    }

    /// Events with `seq >= since`, as a JSON array, for the app to persist or sync.
    pub fn events_json(&self, since: u64) -> Result<String, CrmError> {
        let events = self.engine().events_since(since).ffi()?;
        conversion::write_json(&events)
    }

    pub fn last_seq(&self) -> u64 {
        self.engine().last_seq()
    }

    /// Fires every timer due by `now` (overdue tasks, SLAs, idle records) and the rules
    /// they set off; the outcome as JSON.
    pub fn tick(&self, now: SystemTime) -> Result<String, CrmError> {
        let outcome = self.engine().tick(conversion::instant(now)?).ffi()?;
        conversion::write_json(&outcome)
    }

    /// A report over the deals in the actor's scope; the request and the report as JSON
    /// (`{"report": "revenue", "by": "month"}`, docs/reports.md).
    pub fn report_json(
        &self,
        actor: String,
        now: SystemTime,
        request_json: String,
    ) -> Result<String, CrmError> {
        let (actor, now, request) = conversion::report_input(&actor, now, &request_json)?;
        let report = self.engine().report(actor, now, &request).ffi()?;
        conversion::write_json(&report)
    }

    /// The report as chart series and an SVG picture, as JSON: `{"chart": ..., "svg": ...}`.
    pub fn chart_json(
        &self,
        actor: String,
        now: SystemTime,
        request_json: String,
    ) -> Result<String, CrmError> {
        let (actor, now, request) = conversion::report_input(&actor, now, &request_json)?;
        let drawing = self.engine().chart(actor, now, &request).ffi()?;
        conversion::write_json(&drawing)
    }

    /// When the engine next needs a `tick`, or null when nothing is scheduled.
    pub fn next_wakeup(&self) -> Option<SystemTime> {
        self.engine().next_wakeup().map(conversion::system_time)
    }

    /// Effects not yet acknowledged, as a JSON array: deliver them, then `ack` their IDs.
    pub fn drain_outbox_json(&self) -> Result<String, CrmError> {
        conversion::write_json(&self.engine().drain_outbox())
    }

    /// Marks effects delivered (acknowledging twice is harmless); the outcome as JSON.
    pub fn ack(&self, now: SystemTime, ids: Vec<String>) -> Result<String, CrmError> {
        let ids = ids
            .iter()
            .map(|id| conversion::parse::<crm_core::EffectId>(id))
            .collect::<Result<Vec<_>, _>>()?;
        let outcome = self.engine().ack(conversion::instant(now)?, &ids).ffi()?;
        conversion::write_json(&outcome)
    }

    /// Marks effects delivered as `actor` (an admin, or `"system"`), like every other
    /// call; `ack(now, ids)` is the same as `"system"`.
    pub fn ack_as(
        &self,
        actor: &str,
        now: SystemTime,
        ids: Vec<String>,
    ) -> Result<String, CrmError> {
        let actor = conversion::parse::<crm_core::Actor>(actor)?;
        let ids = ids
            .iter()
            .map(|id| conversion::parse::<crm_core::EffectId>(id))
            .collect::<Result<Vec<_>, _>>()?;
        let outcome = self
            .engine()
            .ack_as(actor, conversion::instant(now)?, &ids)
            .ffi()?;
        conversion::write_json(&outcome)
    }

    /// Creates a contact; returns its ID.
    pub fn create_contact(
        &self,
        actor: String,
        now: SystemTime,
        contact: NewContact,
    ) -> Result<String, CrmError> {
        self.create(&actor, now, Command::CreateContact(contact.try_into()?))
    }

    /// Creates a task; returns its ID.
    pub fn create_task(
        &self,
        actor: String,
        now: SystemTime,
        task: NewTask,
    ) -> Result<String, CrmError> {
        self.create(&actor, now, Command::CreateTask(task.try_into()?))
    }

    /// Completes a task with its outcome and outcome fields (what the rules react to).
    pub fn complete_task(
        &self,
        actor: String,
        now: SystemTime,
        completion: TaskCompletion,
    ) -> Result<(), CrmError> {
        self.run(&actor, now, Command::CompleteTask(completion.try_into()?))
    }

    /// Logs a call, e-mail, meeting or note on a record; returns its ID.
    pub fn log_activity(
        &self,
        actor: String,
        now: SystemTime,
        activity: NewActivity,
    ) -> Result<String, CrmError> {
        self.create(&actor, now, Command::LogActivity(activity.try_into()?))
    }

    /// Creates a pipeline (admins only); returns its ID.
    pub fn create_pipeline(
        &self,
        actor: String,
        now: SystemTime,
        name: String,
        stages: Vec<NewStage>,
        lost_reasons: Vec<String>,
    ) -> Result<String, CrmError> {
        let stages = stages.into_iter().map(Into::into).collect();
        self.create(
            &actor,
            now,
            Command::CreatePipeline(NewPipeline {
                name,
                stages,
                lost_reasons,
            }),
        )
    }

    /// Creates a deal; returns its ID.
    pub fn create_deal(
        &self,
        actor: String,
        now: SystemTime,
        deal: NewDeal,
    ) -> Result<String, CrmError> {
        self.create(&actor, now, Command::CreateDeal(deal.try_into()?))
    }

    /// Moves a deal to a stage; a lost stage needs `lost_reason`.
    #[uniffi::method(default(lost_reason = None))]
    pub fn move_deal(
        &self,
        actor: String,
        now: SystemTime,
        deal: String,
        stage: String,
        lost_reason: Option<String>,
    ) -> Result<(), CrmError> {
        let command = DealMove {
            id: conversion::parse(&deal)?,
            stage: conversion::parse(&stage)?,
            lost_reason,
        };
        self.run(&actor, now, Command::MoveDeal(command))
    }

    /// The deals the actor may see that match the filter.
    pub fn list_deals(
        &self,
        actor: String,
        filter: DealFilter,
    ) -> Result<Vec<DealSummary>, CrmError> {
        let filter = filter.try_into()?;
        let engine = self.engine();
        let page = engine
            .deals(conversion::parse::<crm_core::Actor>(&actor)?, &filter)
            .ffi()?;
        Ok(page.items.into_iter().map(DealSummary::from).collect())
    }
}

/// Restores a backup made with `Crm.backup` into a new file (one that holds events is
/// refused with `Conflict`); the number of events restored. Open it with `Crm.open`.
#[uniffi::export]
pub fn restore_journal(backup: String, into: String) -> Result<u64, CrmError> {
    Ok(SqliteJournal::restore(&backup, &into).ffi()?.last_seq())
}

/// Copies every intact event of a damaged journal file into a new file (docs/storage.md);
/// the report as JSON: `{"kept", "not_kept", "problems"}`. The damaged file is only read.
#[uniffi::export]
pub fn recover_journal(damaged: String, into: String) -> Result<String, CrmError> {
    let report = SqliteJournal::recover(&damaged, &into).ffi()?;
    conversion::write_json(&serde_json::json!({
        "kept": report.kept, "not_kept": report.not_kept, "problems": report.problems
    }))
}

/// A replica of an authority's CRM (docs/sync.md): the field rep's phone. Commands run
/// here at once and wait in `pendingJson()` until the authority has decided them;
/// batches are JSON text, as the transport carries them. In memory, or in a SQLite
/// file (`CrmReplica.open`) that stores every change before the call returns.
#[derive(uniffi::Object)]
pub struct CrmReplica {
    inner: Mutex<Backing>,
}

enum Backing {
    Memory(Box<crm_core::Replica>),
    File(Box<crm_store_sqlite::ReplicaFile>),
}

impl CrmReplica {
    fn wrap(backing: Backing) -> Arc<Self> {
        Arc::new(Self {
            inner: Mutex::new(backing),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Backing> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Reads the replica.
    fn read<T>(
        &self,
        work: impl FnOnce(&crm_core::Replica) -> Result<T, crm_core::CrmError>,
    ) -> Result<T, CrmError> {
        match &*self.lock() {
            Backing::Memory(replica) => work(replica),
            Backing::File(file) => work(file.replica()),
        }
        .ffi()
    }

    /// Runs a typed command here and queues it.
    fn typed(
        &self,
        author: &str,
        now: SystemTime,
        command: Command,
    ) -> Result<crm_core::Outcome, CrmError> {
        let author = conversion::parse::<crm_core::UserId>(author)?;
        let now = conversion::instant(now)?;
        self.change(|replica| replica.execute(author, now, &command))
    }

    /// Changes the replica (stored first, for a file).
    fn change<T>(
        &self,
        work: impl FnOnce(&mut crm_core::Replica) -> Result<T, crm_core::CrmError>,
    ) -> Result<T, CrmError> {
        match &mut *self.lock() {
            Backing::Memory(replica) => work(replica),
            Backing::File(file) => file.change(work),
        }
        .ffi()
    }
}

#[uniffi::export]
impl CrmReplica {
    /// An empty replica with the device's own `replica_id`; rules and timers run at the
    /// authority only.
    #[uniffi::constructor(default(default_region = None))]
    pub fn new(replica_id: u64, default_region: Option<String>) -> Result<Arc<Self>, CrmError> {
        let replica = crm_core::Replica::new(
            ReplicaId::new(replica_id).ffi()?,
            options(default_region, None, None),
        )
        .ffi()?;
        Ok(Self::wrap(Backing::Memory(Box::new(replica))))
    }

    /// The replica stored in the SQLite file at `path`, or a new one there; every
    /// change is stored before the call returns, so a phone killed at any moment
    /// loses no command it acknowledged and never sends one twice.
    #[uniffi::constructor(default(default_region = None))]
    pub fn open(
        path: String,
        replica_id: u64,
        default_region: Option<String>,
    ) -> Result<Arc<Self>, CrmError> {
        let file = crm_store_sqlite::ReplicaFile::open_or_create(
            path,
            ReplicaId::new(replica_id).ffi()?,
            options(default_region, None, None),
        )
        .ffi()?;
        Ok(Self::wrap(Backing::File(Box::new(file))))
    }

    /// A replica as stored: `eventsJson()` and `logJson()` (store both before every push).
    #[uniffi::constructor(default(default_region = None))]
    pub fn restore(
        events_json: String,
        log_json: String,
        default_region: Option<String>,
    ) -> Result<Arc<Self>, CrmError> {
        let replica = crm_core::Replica::restore_json(
            options(default_region, None, None),
            &events_json,
            &log_json,
        )
        .ffi()?;
        Ok(Self::wrap(Backing::Memory(Box::new(replica))))
    }

    /// Runs a command (JSON) here at once and queues it; the outcome as JSON. A
    /// refusal is thrown and queues nothing.
    pub fn execute_json(
        &self,
        author: String,
        now: SystemTime,
        command_json: String,
    ) -> Result<String, CrmError> {
        let now = conversion::instant(now)?.to_rfc3339();
        self.change(|replica| replica.execute_json(&author, &now, &command_json))
    }

    /// Completes a task here at once (with its outcome fields — a measurer's figures)
    /// and queues it.
    pub fn complete_task(
        &self,
        author: String,
        now: SystemTime,
        completion: TaskCompletion,
    ) -> Result<(), CrmError> {
        self.typed(&author, now, Command::CompleteTask(completion.try_into()?))
            .map(drop)
    }

    /// Logs a call, e-mail, meeting or note here at once and queues it; returns its ID
    /// (in this replica's own ID space).
    pub fn log_activity(
        &self,
        author: String,
        now: SystemTime,
        activity: NewActivity,
    ) -> Result<String, CrmError> {
        let outcome = self.typed(&author, now, Command::LogActivity(activity.try_into()?))?;
        Ok(outcome.require_created().ffi()?.to_string())
    }

    /// A query (JSON) on the view: the canonical state with the pending commands.
    pub fn query_json(
        &self,
        actor: String,
        now: SystemTime,
        query_json: String,
    ) -> Result<String, CrmError> {
        let now = conversion::instant(now)?.to_rfc3339();
        self.read(|replica| replica.query_json(&actor, &now, &query_json))
    }

    /// The pending commands to send, as JSON.
    #[uniffi::method(default(limit = 100))]
    pub fn push_batch(&self, limit: u32) -> Result<String, CrmError> {
        self.read(|replica| replica.push_batch_json(limit as usize))
    }

    /// The authority's answer to a push: refused commands move to `rejectedJson()`.
    pub fn receive_push_result(&self, result: String) -> Result<(), CrmError> {
        self.change(|replica| replica.receive_push_result_json(&result))
    }

    /// Canonical events from the authority; decided commands leave the queue.
    pub fn receive_pull(&self, batch: String) -> Result<(), CrmError> {
        self.change(|replica| replica.receive_pull_json(&batch))
    }

    /// Commands waiting for the authority, as JSON.
    pub fn pending_json(&self) -> Result<String, CrmError> {
        self.read(|replica| replica.pending_json())
    }

    /// Commands the authority refused, with `code`, `field` and `message`, as JSON.
    pub fn rejected_json(&self) -> Result<String, CrmError> {
        self.read(|replica| replica.rejected_json())
    }

    /// Sends a refused command again, as a new pending command typed now.
    pub fn retry(&self, seq: u64, now: SystemTime) -> Result<String, CrmError> {
        let now = conversion::instant(now)?.to_rfc3339();
        self.change(|replica| replica.retry_json(seq, &now))
    }

    /// Gives up a refused command; its text (JSON) is returned one last time.
    pub fn discard(&self, seq: u64) -> Result<String, CrmError> {
        self.change(|replica| replica.discard_json(seq))
    }

    /// The canonical events, as JSON (to store).
    pub fn events_json(&self) -> Result<String, CrmError> {
        self.read(|replica| replica.events_json(1))
    }

    /// Pending and rejected commands, sequences and clock, as JSON (to store).
    pub fn log_json(&self) -> Result<String, CrmError> {
        self.read(|replica| replica.log_json())
    }

    /// The position to pull from.
    pub fn cursor(&self) -> u64 {
        match &*self.lock() {
            Backing::Memory(replica) => replica.cursor(),
            Backing::File(file) => file.replica().cursor(),
        }
    }

    /// How many times this replica forgot a person erased at the authority since it
    /// was opened: a host storing `eventsJson()` and `logJson()` itself stores them
    /// whole again when this changes (`open` keeps its file scrubbed).
    pub fn scrubs(&self) -> u64 {
        match &*self.lock() {
            Backing::Memory(replica) => replica.scrubs(),
            Backing::File(file) => file.replica().scrubs(),
        }
    }
}
