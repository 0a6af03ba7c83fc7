//! The engine: executes commands, answers queries, keeps state and journal in step.

mod fold;

pub use fold::Projections;

use std::collections::VecDeque;
use std::ops::ControlFlow;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::access::Access;
use crate::common::error::CrmError;
use crate::common::id::{AnyId, DocumentId, EffectId, ReplicaId};
use crate::common::utc::parse_now;
use crate::common::validate;
use crate::decide::{self, Ctx};
use crate::duplicate;
use crate::event::{CascadeLimit, Event, EventEnvelope, SkippedRule, SCHEMA_VERSION};
use crate::export;
use crate::journal::{Journal, MemoryJournal, Snapshot, SNAPSHOT_VERSION};
use crate::model::activity::Activity;
use crate::model::actor::Actor;
use crate::model::command::Command;
use crate::model::company::Company;
use crate::model::contact::Contact;
use crate::model::custom_field::FieldDefinition;
use crate::model::deal::Deal;
use crate::model::duplicate::{DuplicateRequest, Duplicates};
use crate::model::outbox::{Acknowledgement, Effect};
use crate::model::pipeline::Pipeline;
use crate::model::query::{
    self, ActivityFilter, CompanyFilter, ContactFilter, DealFilter, Page, Paging, Query, TaskFilter,
};
use crate::model::rule::{self, NoFields, Rule};
use crate::model::task::Task;
use crate::model::user::{Department, User};
use crate::report::{self, Report, ReportRequest};
use crate::state::State;
use crate::timer::{self, Timer};
use crate::{automation, context, integrity};

/// Engine settings. Every field has a documented default.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default, deny_unknown_fields)]
pub struct CrmOptions {
    /// ISO 3166 country (e.g. `"DE"`) for phone numbers written without a country code.
    /// Default: none, so such numbers are refused rather than guessed.
    pub default_region: Option<String>,
    /// Write a snapshot every this many events (to journals that keep them), so
    /// opening replays at most that many. Default 10,000; 0 turns it off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot_every: Option<u64>,
    /// How many rule reactions may chain (a rule's event setting off another rule, …)
    /// before the engine stops and records `cascade_stopped`. Default 8.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_cascade_depth: Option<u32>,
    /// How many events the rules may add in reaction to one command or one timer
    /// before the engine stops them and records `cascade_stopped` (`limit: "events"`);
    /// what they did until then stands. Timers due at one call fire until the call
    /// holds this many events; the rest fire at the next call. Default 2,000.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_reaction_events: Option<u32>,
}

/// The default of [`CrmOptions::snapshot_every`].
pub const DEFAULT_SNAPSHOT_EVERY: u64 = 10_000;
/// The default of [`CrmOptions::max_cascade_depth`].
pub const DEFAULT_CASCADE_DEPTH: u32 = 8;
/// The default of [`CrmOptions::max_reaction_events`].
pub const DEFAULT_MAX_REACTION_EVENTS: u32 = 2_000;
/// How many warnings [`Crm::warnings`] keeps (the most recent).
pub const MAX_WARNINGS: usize = 100;
/// Most timers one call fires; the rest fire on the next call (a guard against rules
/// that keep scheduling work in the past).
pub const MAX_TIMERS_PER_CALL: usize = 10_000;

/// What a successful command did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Outcome {
    /// The ID of the entity the command created, if it created one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<AnyId>,
    /// The events appended, in order (empty when the command changed nothing).
    pub events: Vec<EventEnvelope>,
    /// What went wrong after the events were safely stored, e.g. a snapshot that could
    /// not be written. The command succeeded; nothing here asks for a retry.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl Outcome {
    /// The ID the command created, or a `conflict` error when it created nothing.
    pub fn require_created(&self) -> Result<AnyId, CrmError> {
        self.created
            .ok_or_else(|| CrmError::conflict("the command created nothing"))
    }

    /// The created ID as its typed kind, e.g. `outcome.created_id::<DealId>()?`.
    pub fn created_id<T: TryFrom<AnyId, Error = CrmError>>(&self) -> Result<T, CrmError> {
        T::try_from(self.require_created()?)
    }
}

/// Any stored entity, as returned by [`Crm::get`]. JSON: `{"record": "deal", ...fields}`
/// (not `kind`: tasks, activities and fields have a `kind` of their own).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "record", rename_all = "snake_case")]
pub enum Record {
    Department(Department),
    User(User),
    Contact(Contact),
    Company(Company),
    Pipeline(Pipeline),
    Deal(Deal),
    Task(Task),
    Activity(Activity),
    Field(FieldDefinition),
    Payment(crate::model::payment::Payment),
    Document(crate::model::document::Document),
    Effect(Effect),
}

/// The CRM engine. Pure: time (`now`) and identity (the replica) come from the host.
///
/// A command is validated against the state and the actor's rights, its events are
/// appended to the journal and only then folded into the state; a refused command
/// or a failed append leaves both exactly as they were.
#[derive(Clone)]
pub struct Crm<J: Journal = MemoryJournal> {
    replica: ReplicaId,
    options: CrmOptions,
    region: Option<rlibphonenumber::Region>,
    state: State,
    /// Kept in step with `state` by [`fold::apply`]; built from it on opening.
    projections: Projections,
    journal: J,
    warnings: Vec<String>,
}

impl<J: Journal> std::fmt::Debug for Crm<J> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Crm")
            .field("replica", &self.replica)
            .field("options", &self.options)
            .field("last_seq", &self.state.last_seq)
            .finish_non_exhaustive()
    }
}

impl Crm<MemoryJournal> {
    /// An empty CRM with an in-memory journal.
    pub fn new(replica: ReplicaId, options: CrmOptions) -> Result<Self, CrmError> {
        Crm::open(replica, options, MemoryJournal::new())
    }

    /// Rebuilds a CRM from events (e.g. exported earlier), checking their order.
    pub fn replay(
        replica: ReplicaId,
        options: CrmOptions,
        events: impl IntoIterator<Item = EventEnvelope>,
    ) -> Result<Self, CrmError> {
        let mut journal = MemoryJournal::new();
        for event in events {
            journal.push(event)?;
        }
        Crm::open(replica, options, journal)
    }
}

impl<J: Journal> Crm<J> {
    /// Opens a CRM over an existing journal: from its latest snapshot if it has a
    /// usable one, replaying the events after it; otherwise replaying every event. A
    /// snapshot that cannot be used is skipped and noted in [`Crm::warnings`].
    pub fn open(replica: ReplicaId, options: CrmOptions, journal: J) -> Result<Self, CrmError> {
        let region = options
            .default_region
            .as_deref()
            .map(validate::region)
            .transpose()?;
        let mut warnings = journal.warnings();
        let state = match snapshot_state(&journal) {
            Ok(Some(state)) => fold_onto(state, &journal, u64::MAX)?,
            Ok(None) => fold_journal(&journal, u64::MAX)?,
            Err(why) => {
                warnings.push(format!("snapshot ignored, journal replayed: {why}"));
                fold_journal(&journal, u64::MAX)?
            }
        };
        let projections = Projections::build(&state);
        Ok(Self {
            replica,
            options,
            region,
            state,
            projections,
            journal,
            warnings,
        })
    }

    /// What opening or a command had to work around (an unusable snapshot, a snapshot
    /// that could not be written), the most recent [`MAX_WARNINGS`]; empty when nothing.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Notes a warning, keeping only the most recent [`MAX_WARNINGS`].
    fn warn(&mut self, warning: String) {
        if self.warnings.len() >= MAX_WARNINGS {
            self.warnings.remove(0);
        }
        self.warnings.push(warning);
    }

    /// Writes a snapshot of the current state to the journal (if it keeps them).
    pub fn snapshot(&mut self) -> Result<(), CrmError> {
        if !self.journal.keeps_snapshots() {
            return Ok(());
        }
        let state = serde_json::to_string(&self.state).map_err(|err| CrmError::Storage {
            reason: format!("cannot serialise the state: {err}"),
        })?;
        self.journal.save_snapshot(&Snapshot {
            v: SNAPSHOT_VERSION,
            seq: self.state.last_seq,
            state,
        })
    }

    pub fn replica(&self) -> ReplicaId {
        self.replica
    }

    pub fn options(&self) -> &CrmOptions {
        &self.options
    }

    /// The current state (read-only; it changes only through commands).
    pub fn state(&self) -> &State {
        &self.state
    }

    /// The reports' aggregates and the timers, as kept in step with the state event by
    /// event (tests compare them with [`Projections::build`]).
    pub fn projections(&self) -> &Projections {
        &self.projections
    }

    pub fn journal(&self) -> &J {
        &self.journal
    }

    /// Appends events recorded elsewhere that continue this journal (another tab, a
    /// host's own store): checked for order and version, then folded. Rules do not run
    /// again — their reactions are among the events. All or nothing.
    pub fn import(&mut self, events: &[EventEnvelope]) -> Result<(), CrmError> {
        let start = self.journal.last_seq();
        for (index, envelope) in events.iter().enumerate() {
            let expected = start + index as u64 + 1;
            if envelope.seq != expected {
                return Err(CrmError::validation(
                    format!("events[{index}]"),
                    format!("is event {} where {expected} was expected", envelope.seq),
                ));
            }
            if envelope.v > SCHEMA_VERSION {
                return Err(CrmError::validation(
                    format!("events[{index}]"),
                    format!(
                        "has schema version {}; this build reads up to {SCHEMA_VERSION}",
                        envelope.v
                    ),
                ));
            }
        }
        // Checked against the state as each event leaves it (later events may name what
        // earlier ones created); the first bad one puts everything back.
        for (index, envelope) in events.iter().enumerate() {
            if let Err(why) = integrity::check(&self.state, &envelope.event) {
                self.reload()?;
                return Err(CrmError::validation(
                    format!("events[{index}]"),
                    format!("({}) {why}", event_type(&envelope.event)),
                ));
            }
            fold::apply(&mut self.state, &mut self.projections, envelope);
        }
        if let Err(err) = self.journal.append(events) {
            self.reload()?;
            return Err(err);
        }
        Ok(())
    }

    /// Events with `seq >= from`, for export, sync and persistence by the host.
    pub fn events_since(&self, from: u64) -> Result<Vec<EventEnvelope>, CrmError> {
        self.journal.read_from(from)
    }

    /// Executes a command as `actor` at `now`.
    ///
    /// First every timer due by `now` fires (so a late or missing tick changes nothing),
    /// then the command's events are folded into the state, then the rules react to
    /// them. Only then is all of it appended to the journal, as one batch, so a reaction
    /// is never stored without its cause. If the append fails, the state is rebuilt
    /// from the journal: a command that is not stored has changed nothing.
    pub fn execute(
        &mut self,
        actor: Actor,
        now: DateTime<Utc>,
        command: &Command,
    ) -> Result<Outcome, CrmError> {
        // Refuse before anything changes.
        let events = self.decide(actor, now, command)?;
        let mut batch = Batch::default();
        let events = if self.fire_timers(&mut batch, now)? {
            // The timers changed the state the command was checked against.
            match self.decide(actor, now, command) {
                Ok(events) => events,
                Err(err) => {
                    self.reload()?;
                    return Err(err);
                }
            }
        } else {
            events
        };
        let first = batch.envelopes.len();
        batch.root = first;
        let origin = Origin {
            actor,
            at: now,
            command: command.name(),
            caused_by: None,
            rule: None,
        };
        for event in events {
            self.record(&mut batch, event, &origin, 0);
        }
        if !command.runs_rules() {
            batch.pending.retain(|(index, _, _)| *index < first);
        }
        let created = batch
            .envelopes
            .get(first)
            .and_then(|e| e.event.created_ids().first().copied());
        self.react(&mut batch)?;
        if let Err(err) = self.journal.append(&batch.envelopes) {
            self.reload()?;
            return Err(err);
        }
        // The events are stored: from here on nothing may turn the answer into a failure,
        // or a host that retries would record the command twice.
        let mut warnings = Vec::new();
        if let Err(err) = self.snapshot_by_policy(batch.envelopes.len() as u64) {
            let warning = format!(
                "the command is saved, but the snapshot after event {} was not written \
                 (opening will replay more events until the next one is): {err}",
                self.state.last_seq
            );
            self.warn(warning.clone());
            warnings.push(warning);
        }
        Ok(Outcome {
            created,
            events: batch.envelopes,
            warnings,
        })
    }

    /// [`Crm::execute`], retried up to `attempts` times while another writer to the same
    /// journal wins the race (`conflict`: the engine has reloaded, so the retry sees
    /// the other writer's events and is checked against them).
    pub fn execute_retrying(
        &mut self,
        actor: Actor,
        now: DateTime<Utc>,
        command: &Command,
        attempts: u32,
    ) -> Result<Outcome, CrmError> {
        let mut left = attempts.max(1);
        loop {
            match self.execute(actor, now, command) {
                Err(err) if err.code() == "conflict" && left > 1 => left -= 1,
                result => return result,
            }
        }
    }

    /// Lets time pass: fires every timer due by `now` and the rules they set off.
    pub fn tick(&mut self, now: DateTime<Utc>) -> Result<Outcome, CrmError> {
        self.execute(Actor::System, now, &Command::Tick(NoFields {}))
    }

    /// When the engine next needs a [`Crm::tick`] (none when nothing is scheduled).
    pub fn next_wakeup(&self) -> Option<DateTime<Utc>> {
        self.projections.timers.first().map(|(at, _)| at)
    }

    fn max_reaction_events(&self) -> usize {
        let limit = self
            .options
            .max_reaction_events
            .unwrap_or(DEFAULT_MAX_REACTION_EVENTS);
        usize::try_from(limit).unwrap_or(usize::MAX)
    }

    /// Writes a snapshot when the last batch crossed a multiple of `snapshot_every`.
    fn snapshot_by_policy(&mut self, appended: u64) -> Result<(), CrmError> {
        let every = self
            .options
            .snapshot_every
            .unwrap_or(DEFAULT_SNAPSHOT_EVERY);
        let last = self.state.last_seq;
        let crossed = every > 0 && appended > 0 && last / every != (last - appended) / every;
        if crossed && self.journal.keeps_snapshots() {
            self.snapshot()?;
        }
        Ok(())
    }

    fn decide(
        &self,
        actor: Actor,
        now: DateTime<Utc>,
        command: &Command,
    ) -> Result<Vec<crate::event::Event>, CrmError> {
        let mut ctx = Ctx::new(&self.state, actor, now, self.replica, self.region)?;
        decide::decide(&mut ctx, command)
    }

    /// Rebuilds the state from the journal (after a failure left them apart, or another
    /// writer appended), from its snapshot when it has a usable one.
    fn reload(&mut self) -> Result<(), CrmError> {
        self.state = match snapshot_state(&self.journal) {
            Ok(Some(state)) => fold_onto(state, &self.journal, u64::MAX)?,
            _ => fold_journal(&self.journal, u64::MAX)?,
        };
        self.projections = Projections::build(&self.state);
        Ok(())
    }

    /// Applies one event to the state and adds it to the batch, noting the facts it
    /// states for the rules.
    fn record(&mut self, batch: &mut Batch, event: Event, origin: &Origin, depth: u32) {
        let facts = automation::facts(&self.state, &event);
        let envelope = EventEnvelope {
            v: SCHEMA_VERSION,
            seq: self.journal.last_seq() + 1 + batch.envelopes.len() as u64,
            replica: self.replica,
            at: origin.at,
            actor: origin.actor,
            command: origin.command.to_string(),
            caused_by: origin.caused_by,
            rule: origin.rule.clone(),
            event,
        };
        fold::apply(&mut self.state, &mut self.projections, &envelope);
        if !facts.is_empty() {
            batch
                .pending
                .push_back((batch.envelopes.len(), depth, facts));
        }
        batch.envelopes.push(envelope);
    }

    /// Fires the timers due by `now`, soonest first, each at its own time; returns
    /// whether any fired.
    fn fire_timers(&mut self, batch: &mut Batch, now: DateTime<Utc>) -> Result<bool, CrmError> {
        let mut fired = 0;
        let budget = self.max_reaction_events();
        while fired < MAX_TIMERS_PER_CALL && batch.envelopes.len() < budget {
            let Some((at, timer)) = self
                .projections
                .timers
                .first()
                .filter(|(at, _)| *at <= now)
                .map(|(at, timer)| (at, timer.clone()))
            else {
                break;
            };
            let Some(event) = timer_event(&self.state, at, &timer) else {
                self.projections.timers.clear(&timer);
                continue;
            };
            let origin = Origin {
                actor: Actor::System,
                at,
                command: "timer",
                caused_by: None,
                rule: None,
            };
            batch.root = batch.envelopes.len();
            self.record(batch, event, &origin, 0);
            self.react(batch)?;
            fired += 1;
        }
        Ok(fired > 0)
    }

    /// Lets the rules react to the pending facts, breadth first, until none are left
    /// or the cascade limit stops them.
    fn react(&mut self, batch: &mut Batch) -> Result<(), CrmError> {
        let max_depth = self
            .options
            .max_cascade_depth
            .unwrap_or(DEFAULT_CASCADE_DEPTH);
        let max_events = self.max_reaction_events();
        while let Some((index, depth, facts)) = batch.pending.pop_front() {
            let (trigger, at) = (batch.envelopes[index].seq, batch.envelopes[index].at);
            for fact in facts {
                let candidates: Vec<Rule> = self
                    .state
                    .rules
                    .iter()
                    .filter(|rule| automation::triggered(&self.state, rule, &fact))
                    .cloned()
                    .collect();
                let Some(first) = candidates.first() else {
                    continue;
                };
                let on = first.when.kind().to_string();
                let data = automation::context_for(&self.state, &fact, at);
                let automation::Verdicts {
                    fired,
                    waiting,
                    skipped,
                } = automation::judge(&candidates, &fact, &data);
                let diagnostic = Origin {
                    actor: Actor::System,
                    at,
                    command: "automation",
                    caused_by: Some(trigger),
                    rule: None,
                };
                let keys: Vec<String> = fired.iter().map(|r| r.key.clone()).collect();
                let subject = fact.subject(&self.state);
                let limit = if depth >= max_depth {
                    Some(CascadeLimit::Depth)
                } else if batch.envelopes.len() - batch.root >= max_events {
                    Some(CascadeLimit::Events)
                } else {
                    None
                };
                if let (Some(limit), false) = (limit, fired.is_empty()) {
                    let stop = Event::CascadeStopped {
                        trigger,
                        subject,
                        depth,
                        rules: keys,
                        limit,
                    };
                    self.record(batch, stop, &diagnostic, depth + 1);
                    if limit == CascadeLimit::Events {
                        // The chain is over: what is still queued would only add to it.
                        batch.pending.clear();
                    }
                    continue;
                }
                let evaluated = Event::RulesEvaluated {
                    trigger,
                    on,
                    subject,
                    fired: keys,
                    scheduled: waiting.iter().map(|r| r.key.clone()).collect(),
                    skipped,
                };
                self.record(batch, evaluated, &diagnostic, depth + 1);
                for rule in waiting {
                    let origin = Origin {
                        rule: Some(rule.key.clone()),
                        ..diagnostic.clone()
                    };
                    let wait = self.schedule(rule, &fact, trigger, subject, at);
                    self.record(batch, wait, &origin, depth + 1);
                }
                for rule in fired {
                    self.run_rule(batch, rule, &fact, &data, trigger, at, depth + 1)?;
                }
            }
        }
        Ok(())
    }

    /// The start of a delayed rule's wait, or why its due time cannot be computed.
    fn schedule(
        &self,
        rule: &Rule,
        fact: &crate::model::fact::Fact,
        trigger: u64,
        subject: AnyId,
        at: DateTime<Utc>,
    ) -> Event {
        let span = rule.delay.unwrap_or_default();
        match self.state.calendar.add_working(at, span) {
            Ok(due) => Event::RuleScheduled {
                rule: rule.key.clone(),
                trigger,
                subject,
                fact: fact.clone(),
                due,
            },
            Err(err) => Event::RuleFailed {
                rule: rule.key.clone(),
                trigger,
                action: 0,
                code: err.code().to_string(),
                reason: err.to_string(),
            },
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn run_rule(
        &mut self,
        batch: &mut Batch,
        rule: &Rule,
        fact: &crate::model::fact::Fact,
        data: &serde_json::Value,
        trigger: u64,
        at: DateTime<Utc>,
        depth: u32,
    ) -> Result<(), CrmError> {
        for (number, action) in rule.then.iter().enumerate() {
            let result = {
                let mut ctx = Ctx::new(&self.state, Actor::System, at, self.replica, self.region)?;
                automation::act(&mut ctx, rule, action, fact, data)
            };
            match result {
                Ok((command, events)) => {
                    let origin = Origin {
                        actor: Actor::System,
                        at,
                        command,
                        caused_by: Some(trigger),
                        rule: Some(rule.key.clone()),
                    };
                    for event in events {
                        self.record(batch, event, &origin, depth);
                    }
                }
                Err(err) => {
                    let failed = Event::RuleFailed {
                        rule: rule.key.clone(),
                        trigger,
                        action: number,
                        code: err.code().to_string(),
                        reason: err.to_string(),
                    };
                    let origin = Origin {
                        actor: Actor::System,
                        at,
                        command: "automation",
                        caused_by: Some(trigger),
                        rule: Some(rule.key.clone()),
                    };
                    self.record(batch, failed, &origin, depth);
                    break;
                }
            }
        }
        Ok(())
    }

    /// Executes a command given as JSON; returns the [`Outcome`] as JSON.
    /// `actor` is `"system"` or a user ID; `now` is RFC 3339 with an offset.
    pub fn execute_json(
        &mut self,
        actor: &str,
        now: &str,
        command: &str,
    ) -> Result<String, CrmError> {
        let (actor, now) = (actor.parse()?, parse_now(now)?);
        let command: Command = command.parse()?;
        let outcome = self.execute(actor, now, &command)?;
        to_json(&outcome)
    }

    /// Answers a query as `actor` at `now`, as a JSON value.
    pub fn query(
        &self,
        actor: Actor,
        now: DateTime<Utc>,
        query: &Query,
    ) -> Result<serde_json::Value, CrmError> {
        let value = match query {
            Query::Get(target) => serde_json::to_value(self.get(actor, target.id)?),
            Query::ListContacts(filter) => serde_json::to_value(self.contacts(actor, filter)?),
            Query::ListCompanies(filter) => serde_json::to_value(self.companies(actor, filter)?),
            Query::ListDeals(filter) => serde_json::to_value(self.deals(actor, filter)?),
            Query::ListTasks(filter) => serde_json::to_value(self.tasks(actor, now, filter)?),
            Query::ListActivities(filter) => serde_json::to_value(self.activities(actor, filter)?),
            Query::ListUsers(paging) => {
                serde_json::to_value(paging.page(self.users(actor)?.into_iter())?)
            }
            Query::ListDepartments(paging) => {
                serde_json::to_value(paging.page(self.departments(actor)?.into_iter())?)
            }
            Query::ListPipelines(paging) => {
                serde_json::to_value(paging.page(self.pipelines(actor)?.into_iter())?)
            }
            Query::ListFields(paging) => {
                serde_json::to_value(paging.page(self.fields(actor)?.into_iter())?)
            }
            Query::Timeline(query) => {
                serde_json::to_value(self.timeline(actor, query.id, query.limit)?)
            }
            Query::Explain(target) => serde_json::to_value(self.explain(actor, target.id)?),
            Query::Outbox(paging) => serde_json::to_value(self.outbox(actor, *paging)?),
            Query::NextWakeup(_) => {
                self.access(actor)?;
                Ok(serde_json::json!({ "next_wakeup": self.next_wakeup() }))
            }
            Query::Rerender(target) => serde_json::to_value(self.rerender(actor, target.id)?),
            Query::ListRules(_) => {
                let access = self.access(actor)?;
                let mut rules = self.state.rules.clone();
                if !access.is_admin() {
                    // A webhook's address often carries its token: admins only.
                    rules.iter_mut().for_each(rule::redact_webhooks);
                }
                Ok(serde_json::json!({ "rules": rules }))
            }
            Query::Calendar(_) => {
                self.access(actor)?;
                serde_json::to_value(&self.state.calendar)
            }
            Query::ListTemplates(paging) => {
                self.access(actor)?;
                serde_json::to_value(paging.page(self.state.templates.values())?)
            }
            Query::ClientStats(target) => {
                let access = self.access(actor)?;
                access.require_read(target.id.into())?;
                serde_json::to_value(context::client_stats(&self.state, target.id, Some(&access)))
            }
            Query::CheckImport(input) => {
                let mut ctx = Ctx::new(&self.state, actor, now, self.replica, self.region)?;
                serde_json::to_value(crate::decide::import::check(&mut ctx, input)?)
            }
            Query::Export(request) => serde_json::to_value(export::export(
                &self.state,
                &self.access(actor)?,
                request,
                now,
            )?),
            Query::FindDuplicates(request) => {
                serde_json::to_value(self.find_duplicates(actor, request)?)
            }
            Query::Report(request) => serde_json::to_value(self.report(actor, now, request)?),
            Query::Chart(request) => serde_json::to_value(self.chart(actor, now, request)?),
        };
        value.map_err(|err| CrmError::Storage {
            reason: format!("could not serialise a query result: {err}"),
        })
    }

    /// Answers a query given as JSON, with the result as JSON.
    pub fn query_json(&self, actor: &str, now: &str, query: &str) -> Result<String, CrmError> {
        let (actor, now) = (actor.parse()?, parse_now(now)?);
        let query: Query = query.parse()?;
        to_json(&self.query(actor, now, &query)?)
    }

    /// Contacts the actor can see that may be one person (see [`crate::duplicate`]).
    pub fn find_duplicates(
        &self,
        actor: Actor,
        request: &DuplicateRequest,
    ) -> Result<Duplicates, CrmError> {
        duplicate::find(&self.state, &self.access(actor)?, request)
    }

    /// A report as of `now`, over the deals in the actor's scope (see [`report::ReportKind`]).
    pub fn report(
        &self,
        actor: Actor,
        now: DateTime<Utc>,
        request: &ReportRequest,
    ) -> Result<Report, CrmError> {
        report::answer(
            &self.state,
            &self.projections.reports,
            &self.access(actor)?,
            request,
            now,
        )
    }

    /// A report as chart-ready series and as an SVG picture.
    pub fn chart(
        &self,
        actor: Actor,
        now: DateTime<Utc>,
        request: &ReportRequest,
    ) -> Result<report::Drawing, CrmError> {
        let chart = report::chart(&self.state, &self.report(actor, now, request)?);
        let svg = report::render(&chart);
        Ok(report::Drawing { chart, svg })
    }

    fn access(&self, actor: Actor) -> Result<Access<'_>, CrmError> {
        Access::new(&self.state, actor)
    }

    /// Any entity by ID, if the actor may see it.
    pub fn get(&self, actor: Actor, id: AnyId) -> Result<Record, CrmError> {
        self.access(actor)?.require_read(id)?;
        let state = &self.state;
        let record = match id {
            AnyId::DepartmentId(id) => state.departments.get(&id).cloned().map(Record::Department),
            AnyId::UserId(id) => state.users.get(&id).cloned().map(Record::User),
            AnyId::ContactId(id) => state.contacts.get(&id).cloned().map(Record::Contact),
            AnyId::CompanyId(id) => state.companies.get(&id).cloned().map(Record::Company),
            AnyId::PipelineId(id) => state.pipelines.get(&id).cloned().map(Record::Pipeline),
            AnyId::StageId(id) => state
                .stages
                .get(&id)
                .and_then(|p| state.pipelines.get(p))
                .cloned()
                .map(Record::Pipeline),
            AnyId::DealId(id) => state.deals.get(&id).cloned().map(Record::Deal),
            AnyId::TaskId(id) => state.tasks.get(&id).cloned().map(Record::Task),
            AnyId::ActivityId(id) => state.activities.get(&id).cloned().map(Record::Activity),
            AnyId::FieldId(id) => state
                .fields
                .values()
                .flat_map(|defs| defs.values())
                .find(|f| f.id == id)
                .cloned()
                .map(Record::Field),
            AnyId::PaymentId(id) => state
                .payments
                .get(&id)
                .and_then(|deal| state.deals.get(deal))
                .and_then(|deal| deal.payments.iter().find(|p| p.id == id))
                .cloned()
                .map(Record::Payment),
            AnyId::DocumentId(id) => state.documents.get(&id).cloned().map(Record::Document),
            AnyId::EffectId(id) => state.effects.get(&id).cloned().map(Record::Effect),
        };
        record.ok_or_else(|| CrmError::not_found(id.kind(), id))
    }

    pub fn contacts(
        &self,
        actor: Actor,
        filter: &ContactFilter,
    ) -> Result<Page<&Contact>, CrmError> {
        crate::list::contacts(&self.state, &self.access(actor)?, filter, self.region)
    }

    pub fn companies(
        &self,
        actor: Actor,
        filter: &CompanyFilter,
    ) -> Result<Page<&Company>, CrmError> {
        crate::list::companies(&self.state, &self.access(actor)?, filter)
    }

    pub fn deals(&self, actor: Actor, filter: &DealFilter) -> Result<Page<&Deal>, CrmError> {
        crate::list::deals(&self.state, &self.access(actor)?, filter)
    }

    /// Tasks; `now` decides which are overdue.
    pub fn tasks(
        &self,
        actor: Actor,
        now: DateTime<Utc>,
        filter: &TaskFilter,
    ) -> Result<Page<&Task>, CrmError> {
        crate::list::tasks(&self.state, &self.access(actor)?, filter, now)
    }

    pub fn activities(
        &self,
        actor: Actor,
        filter: &ActivityFilter,
    ) -> Result<Page<&Activity>, CrmError> {
        crate::list::activities(&self.state, &self.access(actor)?, filter)
    }

    pub fn users(&self, actor: Actor) -> Result<Vec<&User>, CrmError> {
        self.access(actor)?;
        Ok(self.state.users.values().collect())
    }

    pub fn departments(&self, actor: Actor) -> Result<Vec<&Department>, CrmError> {
        self.access(actor)?;
        Ok(self.state.departments.values().collect())
    }

    pub fn pipelines(&self, actor: Actor) -> Result<Vec<&Pipeline>, CrmError> {
        self.access(actor)?;
        Ok(self.state.pipelines.values().collect())
    }

    pub fn fields(&self, actor: Actor) -> Result<Vec<&FieldDefinition>, CrmError> {
        self.access(actor)?;
        Ok(self
            .state
            .fields
            .values()
            .flat_map(|defs| defs.values())
            .collect())
    }

    /// The events of one record the actor may see, newest first: at most `limit`
    /// (default [`query::DEFAULT_PAGE`], at most [`query::MAX_PAGE`]).
    pub fn timeline(
        &self,
        actor: Actor,
        id: AnyId,
        limit: Option<usize>,
    ) -> Result<Vec<EventEnvelope>, CrmError> {
        let access = self.access(actor)?;
        let limit = limit.unwrap_or(query::DEFAULT_PAGE);
        if limit > query::MAX_PAGE {
            return Err(CrmError::too_large("limit", query::MAX_PAGE, limit));
        }
        self.visible_timeline(&access, id, limit)
    }

    /// The newest `limit` events of `id`'s timeline that `access` may see.
    fn visible_timeline(
        &self,
        access: &Access<'_>,
        id: AnyId,
        limit: usize,
    ) -> Result<Vec<EventEnvelope>, CrmError> {
        access.require_read(id)?;
        let seqs = self
            .state
            .timelines
            .get(&id)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let mut events = Vec::new();
        for seq in seqs.iter().rev() {
            if events.len() >= limit {
                break;
            }
            let event = self.journal.get(*seq)?.ok_or_else(|| CrmError::Storage {
                reason: format!("the journal has no event {seq}, which the timeline of {id} lists"),
            })?;
            // The record is readable, but not everything that happened on it is: another
            // user's task on it, or the outbox's notifications and webhooks.
            if access.may_see(&event.event) {
                events.push(event);
            }
        }
        Ok(events)
    }
}

impl<J: Journal> Crm<J> {
    /// Effects not yet acknowledged, oldest first. Admins and the system only: the
    /// outbox holds every user's notifications.
    pub fn outbox(&self, actor: Actor, paging: Paging) -> Result<Page<&Effect>, CrmError> {
        self.access(actor)?.require_admin("read the outbox")?;
        paging.page(
            self.state
                .outbox
                .iter()
                .filter_map(|id| self.state.effects.get(id)),
        )
    }

    /// Every pending effect: what the host should deliver now.
    pub fn drain_outbox(&self) -> Vec<&Effect> {
        self.state
            .outbox
            .iter()
            .filter_map(|id| self.state.effects.get(id))
            .collect()
    }

    /// Marks effects delivered; acknowledging one twice is harmless.
    pub fn ack(&mut self, now: DateTime<Utc>, ids: &[EffectId]) -> Result<Outcome, CrmError> {
        let command = Command::AckEffects(Acknowledgement { ids: ids.to_vec() });
        self.execute(Actor::System, now, &command)
    }

    /// Which rules each event of a record set off, which did not fire and why, and
    /// what the fired ones did — oldest first, over the record's newest
    /// [`query::MAX_PAGE`] timeline events. Its cost grows with what those rules did,
    /// not with the journal after them.
    pub fn explain(&self, actor: Actor, id: AnyId) -> Result<Vec<Explanation>, CrmError> {
        let access = self.access(actor)?;
        let events = self.visible_timeline(&access, id, query::MAX_PAGE)?;
        let mut explanations: Vec<Explanation> = Vec::new();
        for envelope in events.iter().rev() {
            match &envelope.event {
                Event::RulesEvaluated {
                    trigger,
                    on,
                    fired,
                    skipped,
                    scheduled,
                    ..
                } => {
                    let trigger_event = self.journal.get(*trigger)?;
                    let mut explanation = Explanation {
                        trigger: *trigger,
                        at: envelope.at,
                        on: on.clone(),
                        event: trigger_event.map(|e| event_type(&e.event)),
                        fired: fired.iter().map(|key| Fired::rule(key)).collect(),
                        skipped: skipped.clone(),
                        scheduled: scheduled.clone(),
                        stopped: false,
                    };
                    self.attach_effects(&access, envelope.seq, &mut explanation)?;
                    explanations.push(explanation);
                }
                Event::CascadeStopped {
                    trigger,
                    rules,
                    limit,
                    ..
                } => explanations.push(Explanation {
                    trigger: *trigger,
                    at: envelope.at,
                    on: match limit {
                        CascadeLimit::Depth => "cascade_limit",
                        CascadeLimit::Events => "event_limit",
                    }
                    .into(),
                    event: None,
                    fired: rules.iter().map(|key| Fired::rule(key)).collect(),
                    skipped: Vec::new(),
                    scheduled: Vec::new(),
                    stopped: true,
                }),
                _ => {}
            }
        }
        Ok(explanations)
    }

    /// Attaches what the rules fired at `evaluated` (a `rules_evaluated`) did: their
    /// events follow it directly in the journal — the engine records a fact's verdict,
    /// then its rules' actions, before it reacts to anything else — so this reads only
    /// them, however long the journal after them is. Events the reader may not see are
    /// left out.
    fn attach_effects(
        &self,
        access: &Access<'_>,
        evaluated: u64,
        explanation: &mut Explanation,
    ) -> Result<(), CrmError> {
        let trigger = explanation.trigger;
        self.journal.scan_from(evaluated + 1, &mut |envelope| {
            let (Some(rule), Some(cause)) = (&envelope.rule, envelope.caused_by) else {
                return Ok(ControlFlow::Break(()));
            };
            if cause != trigger {
                return Ok(ControlFlow::Break(()));
            }
            if let Some(fired) = explanation.fired.iter_mut().find(|f| &f.rule == rule) {
                match &envelope.event {
                    Event::RuleFailed { reason, .. } => fired.failed = Some(reason.clone()),
                    event if access.may_see(event) => fired.events.push(ExplainedEvent {
                        seq: envelope.seq,
                        event: event_type(event),
                    }),
                    _ => {}
                }
            }
            Ok(ControlFlow::Continue(()))
        })
    }

    /// Renders a stored document again from the template version and the data it was
    /// rendered from (the journal up to `data_seq`), and says whether the text is the same.
    pub fn rerender(&self, actor: Actor, id: DocumentId) -> Result<Rerendering, CrmError> {
        self.access(actor)?.require_read(id.into())?;
        let document = self
            .state
            .documents
            .get(&id)
            .ok_or_else(|| CrmError::not_found("document", id))?;
        let template = match self.journal.get(document.template_version)? {
            Some(EventEnvelope {
                event: Event::TemplateDefined { template },
                ..
            }) => template,
            _ => {
                return Err(CrmError::Storage {
                    reason: format!(
                        "event {} is not the template definition {id} was rendered from",
                        document.template_version
                    ),
                })
            }
        };
        // The data it was rendered from is kept with it; only documents from before that
        // was so are rendered from the journal replayed up to their data position.
        let rendered = match self.state.timelines.get(&AnyId::DocumentId(id)) {
            Some(seqs) => match seqs.first() {
                Some(seq) => self.journal.get(*seq)?,
                None => None,
            },
            None => None,
        };
        let (data, calendar) = match rendered.map(|e| e.event) {
            Some(Event::DocumentRendered {
                data: Some(data), ..
            }) => {
                // Templates read the calendar only for its time zone, which the data
                // records as it was.
                let mut calendar = self.state.calendar.clone();
                if let Some(zone) = context::lookup(&data, "calendar.time_zone")
                    .and_then(serde_json::Value::as_str)
                    .and_then(|name| name.parse().ok())
                {
                    calendar.time_zone = zone;
                }
                (*data, calendar)
            }
            _ => {
                let then = fold_journal(&self.journal, document.data_seq)?;
                let data = context::for_record(
                    &then,
                    document.subject,
                    document.rendered_at,
                    serde_json::Value::Null,
                    document.rendered_by,
                );
                (data, then.calendar)
            }
        };
        let content =
            crate::model::document::render(&template.source, template.format, &data, &calendar)?;
        Ok(Rerendering {
            document: id,
            identical: content == document.content,
            content,
        })
    }
}

/// What [`Crm::explain`] says about one triggering event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Explanation {
    /// The journal position of the triggering event.
    pub trigger: u64,
    pub at: DateTime<Utc>,
    /// The trigger type the rules answered to, e.g. `stage_entered`.
    pub on: String,
    /// The triggering event's type, e.g. `deal_moved`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    pub fired: Vec<Fired>,
    pub skipped: Vec<SkippedRule>,
    /// Delayed rules that started waiting here; they show again when the wait is over.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scheduled: Vec<String>,
    /// True when the cascade limit stopped these rules from running.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub stopped: bool,
}

/// A rule that fired, and what it did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Fired {
    pub rule: String,
    pub events: Vec<ExplainedEvent>,
    /// Why an action failed, if one did (later actions did not run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed: Option<String>,
}

impl Fired {
    /// A rule, before its events are attached.
    fn rule(key: &str) -> Fired {
        Fired {
            rule: key.to_string(),
            events: Vec::new(),
            failed: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ExplainedEvent {
    pub seq: u64,
    pub event: String,
}

/// What [`Crm::rerender`] found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Rerendering {
    pub document: DocumentId,
    pub identical: bool,
    pub content: String,
}

fn event_type(event: &Event) -> String {
    serde_json::to_value(event)
        .ok()
        .and_then(|v| v.get("type").and_then(|t| t.as_str().map(str::to_string)))
        .unwrap_or_default()
}

/// Who, when and why, for the events being recorded.
#[derive(Clone)]
struct Origin {
    actor: Actor,
    at: DateTime<Utc>,
    command: &'static str,
    caused_by: Option<u64>,
    rule: Option<String>,
}

/// The events of one `execute`, not yet in the journal, and the facts awaiting rules.
#[derive(Default)]
struct Batch {
    envelopes: Vec<EventEnvelope>,
    pending: VecDeque<(usize, u32, Vec<crate::model::fact::Fact>)>,
    /// Where the chain being reacted to began (the command's or a timer's first event):
    /// its reactions are counted from here against `max_reaction_events`.
    root: usize,
}

/// The event a due timer stands for (none for a timer whose record is gone, which
/// only a hand-edited journal could cause).
fn timer_event(state: &State, at: DateTime<Utc>, timer: &Timer) -> Option<Event> {
    Some(match timer {
        Timer::TaskDue(id) => Event::TaskOverdue { id: *id, due: at },
        Timer::StageSla(deal) => Event::StageSlaBreached {
            deal: *deal,
            stage: state.deals.get(deal)?.stage,
            deadline: at,
        },
        Timer::Idle { rule, record } => Event::RecordIdle {
            rule: rule.clone(),
            record: *record,
            since: match record {
                AnyId::DealId(id) => timer::deal_since(state, *id),
                AnyId::ContactId(id) => timer::contact_since(state, *id),
                _ => None,
            }?,
        },
        Timer::Delayed(seq) => {
            let scheduled = state.scheduled.get(seq)?;
            Event::RuleDue {
                rule: scheduled.rule.clone(),
                scheduled: *seq,
                subject: scheduled.subject,
                fact: scheduled.fact.clone(),
            }
        }
    })
}

/// The state after the journal's events up to `until`, checking their order.
fn fold_journal<J: Journal>(journal: &J, until: u64) -> Result<State, CrmError> {
    fold_onto(State::default(), journal, until)
}

/// The journal's latest snapshot as a state, `None` without one, or why it is unusable
/// (another format, unreadable, or ahead of the journal).
fn snapshot_state<J: Journal>(journal: &J) -> Result<Option<State>, String> {
    let Some(snapshot) = journal.load_snapshot().map_err(|err| err.to_string())? else {
        return Ok(None);
    };
    if snapshot.v != SNAPSHOT_VERSION {
        return Err(format!(
            "it has format {}, this build writes {SNAPSHOT_VERSION}",
            snapshot.v
        ));
    }
    if snapshot.seq > journal.last_seq() {
        return Err(format!(
            "it is at event {} but the journal ends at {}",
            snapshot.seq,
            journal.last_seq()
        ));
    }
    let mut state: State = serde_json::from_str(&snapshot.state).map_err(|err| err.to_string())?;
    if state.last_seq != snapshot.seq {
        return Err(format!(
            "it says event {} inside but {} outside",
            state.last_seq, snapshot.seq
        ));
    }
    state.rebuild_derived();
    Ok(Some(state))
}

/// `state` with the journal's events after it, up to `until`, checking their order.
fn fold_onto<J: Journal>(mut state: State, journal: &J, until: u64) -> Result<State, CrmError> {
    let start = state.last_seq;
    let mut expected = start + 1;
    journal.scan_from(start + 1, &mut |envelope| {
        if envelope.seq > until {
            return Ok(ControlFlow::Break(()));
        }
        if envelope.seq != expected {
            return Err(CrmError::Storage {
                reason: format!(
                    "journal has seq {} where {expected} was expected",
                    envelope.seq
                ),
            });
        }
        if envelope.v > SCHEMA_VERSION {
            return Err(CrmError::Storage {
                reason: format!(
                    "event {} has schema version {}; this build reads up to {SCHEMA_VERSION}",
                    envelope.seq, envelope.v
                ),
            });
        }
        integrity::check(&state, &envelope.event).map_err(|why| CrmError::Storage {
            reason: format!(
                "event {} ({}) {why}",
                envelope.seq,
                event_type(&envelope.event)
            ),
        })?;
        state.apply(envelope);
        expected += 1;
        Ok(ControlFlow::Continue(()))
    })?;
    Ok(state)
}

pub(crate) fn to_json<T: Serialize>(value: &T) -> Result<String, CrmError> {
    serde_json::to_string(value).map_err(|err| CrmError::Storage {
        reason: format!("could not serialise: {err}"),
    })
}
