//! The command pipeline: timers due first, then the command's events, the rules'
//! reactions, and the append of the whole batch.

use std::borrow::Cow;
use std::collections::{BTreeMap, VecDeque};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::automation;
use crate::common::error::CrmError;
use crate::common::id::{AnyId, EffectId};
use crate::decide::history::{Step, StepAction};
use crate::decide::{self, Ctx};
use crate::event::{CascadeLimit, Event, EventEnvelope, SCHEMA_VERSION};
use crate::journal::Journal;
use crate::model::actor::Actor;
use crate::model::command::Command;
use crate::model::outbox::Acknowledgement;
use crate::model::rule::{NoFields, Rule};
use crate::state::erasure::Erasure;
use crate::state::State;
use crate::timer::{self, Timer};

use super::{
    fold, Crm, DEFAULT_CASCADE_DEPTH, DEFAULT_MAX_REACTION_EVENTS, DEFAULT_SNAPSHOT_EVERY,
    MAX_TIMERS_PER_CALL,
};

impl<J: Journal> Crm<J> {
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
        if let Command::ImportRecords(input) = command {
            return self.import_records(actor, now, command, input);
        }
        // Refuse before anything changes.
        let events = self.decide(actor, now, command)?;
        if let Command::ImportHistory(import) = command {
            return self.import_history(actor, now, import);
        }
        if let Command::EraseContact(target) = command {
            let erasure = Erasure::of(&self.state, target.id);
            return self.erase(actor, now, command, erasure);
        }
        if let Command::EraseUser(target) = command {
            let erasure = Erasure::of_user(&self.state, target.id);
            return self.erase(actor, now, command, erasure);
        }
        self.run(actor, now, command, events, None)
    }

    /// Erases a person (docs/adr/0003-erasure.md). The journal is rewritten first, so a
    /// journal that cannot be rewritten refuses the command with nothing changed; the
    /// state is then rebuilt from it (text naming the person elsewhere was scrubbed),
    /// the command recorded as usual, and anything its batch wrote about the person (a
    /// timer's reminder) rewritten too. The old snapshots are gone; a new one is written.
    fn erase(
        &mut self,
        actor: Actor,
        now: DateTime<Utc>,
        command: &Command,
        erasure: Erasure,
    ) -> Result<Outcome, CrmError> {
        if !self.journal.rewrites() {
            return Err(CrmError::Storage {
                reason: "this journal cannot rewrite its events, so it cannot erase a person"
                    .into(),
            });
        }
        self.journal.rewrite(&mut |event| erasure.redact(event))?;
        self.reload()?;
        let events = self.decide(actor, now, command)?;
        let mut outcome = self.run(actor, now, command, events, None)?;
        if self.journal.rewrite(&mut |event| erasure.redact(event))? > 0 {
            self.reload()?;
            for event in &mut outcome.events {
                if let Some(redacted) = erasure.redact(event) {
                    *event = redacted;
                }
            }
        }
        if let Err(err) = self.snapshot() {
            let warning = format!("the person is erased, but no new snapshot was written: {err}");
            self.warn(warning.clone());
            outcome.warnings.push(warning);
        }
        Ok(outcome)
    }

    /// Takes an erasure made at the authority into this engine's own journal: a
    /// replica that pulled the person's events before has them rewritten the same way
    /// and its state rebuilt (docs/sync.md). Whether anything was rewritten.
    pub(crate) fn forget(&mut self, erasure: &Erasure) -> Result<bool, CrmError> {
        if !self.journal.rewrites()
            || self.journal.rewrite(&mut |event| erasure.redact(event))? == 0
        {
            return Ok(false);
        }
        self.reload()?;
        Ok(true)
    }

    /// Executes a replica's command (`crate::sync`): in the replica's ID space from the
    /// ID it used when it was typed, with the stamp's marker event after the command's
    /// own events, in the same batch.
    pub(crate) fn execute_stamped(
        &mut self,
        actor: Actor,
        now: DateTime<Utc>,
        command: &Command,
        stamp: &Stamp,
    ) -> Result<Outcome, CrmError> {
        let events = self.decide_stamped(actor, now, command, Some(stamp))?;
        self.run(actor, now, command, events, Some(stamp))
    }

    /// Records one event on its own, with no timer firing and no rule reacting: a
    /// decision about a command that did not run (`command_rejected`).
    pub(crate) fn record_alone(
        &mut self,
        actor: Actor,
        now: DateTime<Utc>,
        command: &'static str,
        event: Event,
    ) -> Result<Outcome, CrmError> {
        let mut batch = Batch::default();
        let origin = Origin {
            actor,
            at: now.max(self.state.last_at.unwrap_or(now)),
            command,
            caused_by: None,
            rule: None,
        };
        self.record(&mut batch, event, &origin, 0);
        batch.pending.clear();
        self.commit(batch, None)
    }

    /// Whether rules and timers run here (not on a replica of an authority).
    pub(super) fn automates(&self) -> bool {
        self.options.automation.unwrap_or(true)
    }

    /// The command pipeline once the command is decided: timers, events, reactions,
    /// append.
    fn run(
        &mut self,
        actor: Actor,
        now: DateTime<Utc>,
        command: &Command,
        events: Vec<crate::event::Event>,
        stamp: Option<&Stamp>,
    ) -> Result<Outcome, CrmError> {
        let mut batch = Batch::default();
        let events = if self.automates() && self.fire_timers(&mut batch, now)? {
            // The timers changed the state the command was checked against.
            match self.decide_stamped(actor, now, command, stamp) {
                Ok(events) => events,
                Err(err) => {
                    self.reload()?;
                    return Err(err);
                }
            }
        } else {
            events
        };
        let created = self.record_command(&mut batch, actor, now, command, events)?;
        self.commit(batch, created)
    }

    /// Records a decided command's events into `batch` and lets the rules react (when
    /// it runs rules and they run here); what it created.
    pub(super) fn record_command(
        &mut self,
        batch: &mut Batch,
        actor: Actor,
        now: DateTime<Utc>,
        command: &Command,
        events: Vec<Event>,
    ) -> Result<Option<AnyId>, CrmError> {
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
            self.record(batch, event, &origin, 0);
        }
        if !command.runs_rules() {
            batch.pending.retain(|(index, _, _)| *index < first);
        }
        let created = batch
            .envelopes
            .get(first)
            .and_then(|e| e.event.created_ids().first().copied());
        if self.automates() {
            self.react(batch)?;
        }
        Ok(created)
    }

    /// Runs a history import: its items as steps (see [`Crm::run_steps`]), an item's
    /// refusal named by its place in `items`.
    fn import_history(
        &mut self,
        actor: Actor,
        now: DateTime<Utc>,
        import: &crate::model::command::HistoryImport,
    ) -> Result<Outcome, CrmError> {
        let steps: Vec<Step> = import
            .items
            .iter()
            .enumerate()
            .map(|(index, item)| Step::create(item.at, item.actor, index, item.command.clone()))
            .collect();
        self.run_steps(actor, now, "import_history", &steps, &|step, err| {
            err.within(&format!("items[{}].command", step.row))
        })
    }

    /// Runs a record import (decide/import/records.rs plans its steps), a step's
    /// refusal named by its spreadsheet row.
    fn import_records(
        &mut self,
        actor: Actor,
        now: DateTime<Utc>,
        command: &Command,
        input: &crate::model::import::RecordImport,
    ) -> Result<Outcome, CrmError> {
        let steps = {
            let ctx = self.context(actor, now, command)?;
            decide::import::records::steps(&ctx, input)?
        };
        self.run_steps(actor, now, "import_records", &steps, &|step, err| {
            CrmError::validation(
                "import",
                format!("row {}: {err}; nothing imported", step.row),
            )
        })
    }

    /// Runs an import's steps: the timers due by `now` fire first, as for any command;
    /// then each step is decided at its own time as its user and recorded at that
    /// time, with no timer firing in between and no rule reacting; a last event
    /// settles the past (no timer due by `now` fires afterwards). All steps or none:
    /// the first refusal leaves state and journal as they were.
    fn run_steps(
        &mut self,
        actor: Actor,
        now: DateTime<Utc>,
        name: &'static str,
        steps: &[Step],
        refusal: &dyn Fn(&Step, CrmError) -> CrmError,
    ) -> Result<Outcome, CrmError> {
        let mut batch = Batch::default();
        if self.automates() {
            self.fire_timers(&mut batch, now)?;
        }
        let first = batch.envelopes.len();
        // The record each row's create step made, for the row's close step.
        let mut made: BTreeMap<usize, AnyId> = BTreeMap::new();
        for step in steps {
            let who = step.actor.map_or(actor, Actor::User);
            let command = match &step.action {
                StepAction::Create(command) => Cow::Borrowed(command),
                StepAction::Close { stage, lost_reason } => {
                    let closing = made.get(&step.row).and_then(|id| {
                        decide::import::records::close(*id, *stage, lost_reason.clone())
                    });
                    match closing {
                        Some(command) => Cow::Owned(command),
                        None => {
                            self.reload()?;
                            return Err(refusal(
                                step,
                                CrmError::Storage {
                                    reason: "a close step ran before its record was made".into(),
                                },
                            ));
                        }
                    }
                }
            };
            let decided = Ctx::new(&self.state, who, step.at, self.replica, self.region)
                .and_then(|mut ctx| decide::decide(&mut ctx, &command));
            let events = match decided {
                Ok(events) => events,
                Err(err) => {
                    self.reload()?;
                    return Err(refusal(step, err));
                }
            };
            if let (StepAction::Create(_), Some(id)) = (
                &step.action,
                events
                    .first()
                    .and_then(|e| e.created_ids().first().copied()),
            ) {
                made.insert(step.row, id);
            }
            let origin = Origin {
                actor: who,
                at: step.at,
                command: name,
                caused_by: None,
                rule: None,
            };
            for event in events {
                self.record(&mut batch, event, &origin, 0);
            }
            batch.pending.clear();
        }
        let created = batch
            .envelopes
            .get(first)
            .and_then(|e| e.event.created_ids().first().copied());
        let settled = Event::HistoryImported {
            until: now,
            items: steps.len() as u64,
        };
        let origin = Origin {
            actor,
            at: now,
            command: name,
            caused_by: None,
            rule: None,
        };
        self.record(&mut batch, settled, &origin, 0);
        batch.pending.clear();
        self.commit(batch, created)
    }

    /// Appends a batch to the journal (the state already holds it) and answers.
    pub(super) fn commit(
        &mut self,
        batch: Batch,
        created: Option<AnyId>,
    ) -> Result<Outcome, CrmError> {
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

    pub(super) fn max_reaction_events(&self) -> usize {
        let limit = self
            .options
            .max_reaction_events
            .unwrap_or(DEFAULT_MAX_REACTION_EVENTS);
        usize::try_from(limit).unwrap_or(usize::MAX)
    }

    /// Writes a snapshot when the last batch crossed a multiple of `snapshot_every`.
    pub(super) fn snapshot_by_policy(&mut self, appended: u64) -> Result<(), CrmError> {
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

    pub(super) fn decide(
        &self,
        actor: Actor,
        now: DateTime<Utc>,
        command: &Command,
    ) -> Result<Vec<crate::event::Event>, CrmError> {
        self.decide_stamped(actor, now, command, None)
    }

    fn decide_stamped(
        &self,
        actor: Actor,
        now: DateTime<Utc>,
        command: &Command,
        stamp: Option<&Stamp>,
    ) -> Result<Vec<crate::event::Event>, CrmError> {
        let mut ctx = self.context(actor, now, command)?;
        if let Some(stamp) = stamp {
            ctx.use_ids(stamp.replica, stamp.first_id);
            ctx.hlc = stamp.hlc;
        }
        let mut events = decide::decide(&mut ctx, command)?;
        if let Some(marker) = stamp.and_then(|stamp| stamp.marker.clone()) {
            events.push(marker);
        }
        Ok(events)
    }

    /// The context a command is decided in, once it is known to come in time order.
    fn context(
        &self,
        actor: Actor,
        now: DateTime<Utc>,
        command: &Command,
    ) -> Result<Ctx<'_>, CrmError> {
        // A tick before the last event has nothing left to fire and records nothing, so
        // it is let through: a host's timer loop need not order its clock against
        // commands.
        let tick = matches!(command, Command::Tick(_));
        if let Some(last) = self.state.last_at.filter(|last| now < *last && !tick) {
            return Err(CrmError::validation(
                "now",
                format!(
                    "{} is before {}, the time of the journal's last event: commands are \
                     recorded in time order",
                    now.to_rfc3339_opts(SecondsFormat::AutoSi, true),
                    last.to_rfc3339_opts(SecondsFormat::AutoSi, true)
                ),
            ));
        }
        Ctx::new(&self.state, actor, now, self.replica, self.region)
    }

    /// Applies one event to the state and adds it to the batch, noting the facts it
    /// states for the rules.
    pub(super) fn record(&mut self, batch: &mut Batch, event: Event, origin: &Origin, depth: u32) {
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
    pub(super) fn fire_timers(
        &mut self,
        batch: &mut Batch,
        now: DateTime<Utc>,
    ) -> Result<bool, CrmError> {
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
    pub(super) fn react(&mut self, batch: &mut Batch) -> Result<(), CrmError> {
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
    pub(super) fn schedule(
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
    pub(super) fn run_rule(
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

    /// Marks effects delivered as `actor` (an admin, or `system` for the host's
    /// delivery worker); acknowledging one twice is harmless.
    pub fn ack_as(
        &mut self,
        actor: Actor,
        now: DateTime<Utc>,
        ids: &[EffectId],
    ) -> Result<Outcome, CrmError> {
        let command = Command::AckEffects(Acknowledgement { ids: ids.to_vec() });
        self.execute(actor, now, &command)
    }

    /// [`Crm::ack_as`] as `system`: the form hosts written before `ack_as` use.
    pub fn ack(&mut self, now: DateTime<Utc>, ids: &[EffectId]) -> Result<Outcome, CrmError> {
        self.ack_as(Actor::System, now, ids)
    }
}

/// How a replica's command runs at the authority and in a replica's rebase
/// (`crate::sync`).
pub(crate) struct Stamp {
    /// The replica whose ID space the command's records get IDs in …
    pub replica: crate::common::id::ReplicaId,
    /// … from this sequence on: the IDs it got when it was typed.
    pub first_id: u64,
    /// Recorded after the command's events, in the same batch (`command_synced`).
    pub marker: Option<Event>,
    /// When the command was typed, on the replica's hybrid clock: its edits give way
    /// to later ones, field by field.
    pub hlc: Option<crate::common::hlc::Hlc>,
}

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

/// Who, when and why, for the events being recorded.
#[derive(Clone)]
pub(super) struct Origin {
    pub(super) actor: Actor,
    pub(super) at: DateTime<Utc>,
    pub(super) command: &'static str,
    pub(super) caused_by: Option<u64>,
    pub(super) rule: Option<String>,
}

/// The events of one `execute`, not yet in the journal, and the facts awaiting rules.
#[derive(Default)]
pub(super) struct Batch {
    pub(super) envelopes: Vec<EventEnvelope>,
    pub(super) pending: VecDeque<(usize, u32, Vec<crate::model::fact::Fact>)>,
    /// Where the chain being reacted to began (the command's or a timer's first event):
    /// its reactions are counted from here against `max_reaction_events`.
    pub(super) root: usize,
}

/// The event a due timer stands for (none for a timer whose record is gone, which
/// only a hand-edited journal could cause).
pub(super) fn timer_event(state: &State, at: DateTime<Utc>, timer: &Timer) -> Option<Event> {
    Some(match timer {
        Timer::TaskDue(id) => Event::TaskOverdue { id: *id, due: at },
        Timer::Reminder { rule, task } => Event::TaskDueSoon {
            id: *task,
            rule: rule.clone(),
            due: state.tasks.get(task)?.due?,
        },
        Timer::StageSla(deal) => Event::StageSlaBreached {
            deal: *deal,
            stage: state.deals.get(deal)?.stage,
            deadline: at,
        },
        Timer::Date { rule, record } => {
            let watched = state.rules.iter().find_map(|r| match &r.when {
                crate::model::rule::Trigger::DateReached(watched) if r.key == *rule => {
                    Some(watched)
                }
                _ => None,
            })?;
            Event::DateReached {
                rule: rule.clone(),
                record: *record,
                date: timer::next_date(state, *record, rule, watched)?.0,
            }
        }
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
