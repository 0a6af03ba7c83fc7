//! A replica (docs/sync.md): the canonical events it has pulled, and on top of them
//! the commands its user typed that the authority has not decided yet. Its state is
//! always "canonical log + my pending commands"; nothing typed is dropped — a refused
//! command waits in `rejected()` until its user retries or discards it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::protocol::*;
use super::syncable;
use crate::common::error::CrmError;
use crate::common::hlc::Hlc;
use crate::common::id::{ReplicaId, UserId};
use crate::engine::{Crm, CrmOptions, Outcome, Stamp};
use crate::event::{Event, EventEnvelope};
use crate::model::actor::Actor;
use crate::model::command::Command;
use crate::state::erasure::Erasure;
use crate::state::State;

/// What a replica keeps besides the canonical events, to be stored with them (a
/// phone killed at any moment must find its pending commands again, and never send
/// one twice as two commands).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ReplicaLog {
    pub replica: ReplicaId,
    pub pending: Vec<Pending>,
    pub rejected: Vec<RejectedCommand>,
    /// The sequence the next pending command gets.
    pub next_seq: u64,
    /// The last ID sequence handed out here: IDs are never handed out twice, even
    /// when the records they went to are not in this replica's view.
    pub last_id: u64,
    pub clock: Hlc,
    /// For a replica of one user's view (docs/sync.md, "Partial replication"): whose
    /// view, and the canonical state it holds of it. `None` for a replica of the whole
    /// journal, which keeps canonical events instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub view: Option<HeldView>,
}

/// What a replica of one user's view holds of the canonical state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct HeldView {
    pub user: UserId,
    /// `State::restricted_to(user)` of the authority at the replica's cursor.
    #[cfg_attr(feature = "schema", schemars(with = "serde_json::Value"))]
    pub state: Box<State>,
}

/// A replica of one authority's CRM.
#[derive(Clone, Debug)]
pub struct Replica {
    canonical: Crm,
    view: Crm,
    log: ReplicaLog,
    /// How many times this replica forgot what it held of a person erased at the
    /// authority (since it was opened): a store that keeps old copies scrubs them.
    scrubs: u64,
}

impl Replica {
    /// An empty replica; rules and timers never run on it (they run at the authority).
    pub fn new(replica: ReplicaId, options: CrmOptions) -> Result<Replica, CrmError> {
        let log = ReplicaLog {
            replica,
            pending: Vec::new(),
            rejected: Vec::new(),
            next_seq: 1,
            last_id: 0,
            clock: Hlc::start(replica),
            view: None,
        };
        Replica::restore(options, Vec::new(), log)
    }

    /// A replica as it was stored: its canonical events and its log.
    pub fn restore(
        options: CrmOptions,
        canonical: Vec<EventEnvelope>,
        log: ReplicaLog,
    ) -> Result<Replica, CrmError> {
        let options = CrmOptions {
            automation: Some(false),
            ..options
        };
        let canonical = match &log.view {
            None => Crm::replay(log.replica, options, canonical)?,
            Some(_) if !canonical.is_empty() => {
                return Err(CrmError::validation(
                    "events",
                    "a replica of one user's view keeps its state in its log, not events",
                ))
            }
            Some(held) => Crm::continuing(log.replica, options, &held.state)?,
        };
        let mut replica = Replica {
            view: canonical.clone(),
            canonical,
            log,
            scrubs: 0,
        };
        replica.rebase();
        Ok(replica)
    }

    /// What to store with the canonical events.
    pub fn log(&self) -> &ReplicaLog {
        &self.log
    }

    /// The CRM as this replica's user sees it now: the canonical state with the
    /// pending commands applied. Queries go here.
    pub fn view(&self) -> &Crm {
        &self.view
    }

    /// The canonical events only (what to store; the position to pull from).
    pub fn canonical(&self) -> &Crm {
        &self.canonical
    }

    /// The position to pull from.
    pub fn cursor(&self) -> u64 {
        self.canonical.state().last_seq()
    }

    /// Commands waiting for the authority, oldest first.
    pub fn pending(&self) -> &[Pending] {
        &self.log.pending
    }

    /// Commands the authority refused, with why; kept until retried or discarded.
    pub fn rejected(&self) -> &[RejectedCommand] {
        &self.log.rejected
    }

    /// Runs a command here at once and queues it for the authority. A command this
    /// replica refuses is not queued: the user sees the refusal now.
    pub fn execute(
        &mut self,
        author: UserId,
        now: DateTime<Utc>,
        command: &Command,
    ) -> Result<Outcome, CrmError> {
        syncable(command).map_err(|reason| CrmError::validation("command", reason))?;
        if let Some(held) = self.log.view.as_ref().filter(|held| held.user != author) {
            return Err(CrmError::denied(
                Actor::User(author),
                format!("type on a replica of {}'s view", held.user),
            ));
        }
        let replica = self.log.replica;
        let first_id = self
            .view
            .state()
            .next_seq(replica)
            .max(self.log.last_id + 1);
        let mut clock = self.log.clock;
        let hlc = clock.tick(now);
        let stamp = Stamp {
            replica,
            first_id,
            marker: None,
            hlc: Some(hlc),
        };
        let at = self.at(&self.view, now);
        let outcome = self
            .view
            .execute_stamped(Actor::User(author), at, command, &stamp)?;
        self.log.clock = clock;
        self.log.last_id = self
            .log
            .last_id
            .max(self.view.state().next_seq(replica) - 1);
        self.log.pending.push(Pending {
            author,
            command: PendingCommand {
                seq: self.log.next_seq,
                hlc,
                base: self.cursor(),
                first_id,
                at: now,
                command: command.clone(),
            },
            accepted: None,
        });
        self.log.next_seq += 1;
        Ok(outcome)
    }

    /// The pending commands to send, oldest first, at most `limit`.
    pub fn push_batch(&self, limit: usize) -> PushBatch {
        PushBatch {
            v: SYNC_VERSION,
            replica: self.log.replica,
            commands: self
                .log
                .pending
                .iter()
                .take(limit.min(MAX_PUSH_COMMANDS))
                .map(|pending| pending.command.clone())
                .collect(),
        }
    }

    /// Takes in the authority's answer to a push: refused commands move to
    /// `rejected()`. Accepted ones stay pending until their canonical events are
    /// pulled, so the view never loses them in between.
    pub fn receive_push_result(&mut self, result: &PushResult) -> Result<(), CrmError> {
        if result.v != SYNC_VERSION {
            return Err(CrmError::validation(
                "v",
                format!("version {} is not {SYNC_VERSION}", result.v),
            ));
        }
        let mut changed = false;
        let cursor = self.cursor();
        let by_view = self.log.view.is_some();
        for outcome in &result.results {
            match outcome {
                CommandResult::Rejected {
                    seq,
                    code,
                    field,
                    message,
                } => changed |= self.reject(*seq, code, field.as_deref(), message),
                CommandResult::Accepted { seq, position } => {
                    let before = self.log.pending.len();
                    // A view's replica never sees `command_synced`: once it has pulled
                    // past the command's events, they are in what it holds.
                    self.log
                        .pending
                        .retain(|p| !(by_view && p.command.seq == *seq && *position <= cursor));
                    changed |= self.log.pending.len() != before;
                    if let Some(pending) =
                        self.log.pending.iter_mut().find(|p| p.command.seq == *seq)
                    {
                        pending.accepted = Some(*position);
                    }
                }
                CommandResult::Deferred { .. } => {}
            }
        }
        if changed {
            self.rebase();
        }
        Ok(())
    }

    /// Takes in canonical events: they must continue the canonical log (events this
    /// replica already holds are skipped, so a pull answered twice is harmless). The
    /// pending commands the authority has decided leave the queue, and the rest are
    /// applied again on top.
    pub fn receive_pull(&mut self, batch: &PullBatch) -> Result<(), CrmError> {
        if batch.v != SYNC_VERSION {
            return Err(CrmError::validation(
                "v",
                format!("version {} is not {SYNC_VERSION}", batch.v),
            ));
        }
        match (&batch.view, &self.log.view) {
            (Some(change), _) => return self.receive_view(batch.cursor, change),
            (None, Some(held)) => {
                return Err(CrmError::validation(
                    "view",
                    format!(
                        "is missing: this replica holds {}'s view, not the whole journal",
                        held.user
                    ),
                ))
            }
            (None, None) => {}
        }
        let cursor = self.cursor();
        let new: Vec<EventEnvelope> = batch
            .events
            .iter()
            .filter(|e| e.seq > cursor)
            .cloned()
            .collect();
        if new.is_empty() {
            return Ok(());
        }
        self.import_forgetting(&new)?;
        let me = self.log.replica;
        for envelope in &new {
            // Whatever this replica has seen, its next edit comes after, however slow
            // its own clock.
            self.log.clock.observe(Hlc::at(envelope.at));
            if let Some(seen) = envelope.event.edit_clock() {
                self.log.clock.observe(seen);
            }
            match &envelope.event {
                Event::CommandSynced { replica, seq } if *replica == me => {
                    self.log.pending.retain(|p| p.command.seq != *seq);
                }
                Event::CommandRejected {
                    replica,
                    seq,
                    code,
                    field,
                    message,
                } if *replica == me => {
                    self.reject(*seq, code, field.as_deref(), message);
                }
                _ => {}
            }
        }
        self.rebase();
        Ok(())
    }

    /// How many times this replica has forgotten what it held of a person erased at
    /// the authority, since it was opened or restored (its canonical events rewritten,
    /// or its view replaced whole after an erasure). A host that keeps copies of the
    /// replica elsewhere scrubs them when this changes; `ReplicaFile` does.
    pub fn scrubs(&self) -> u64 {
        self.scrubs
    }

    /// Appends canonical events; at each erasure among them, what this replica pulled
    /// before about the person is rewritten as the authority rewrote its journal
    /// (the erasure is worked out on the state just before it, as there).
    fn import_forgetting(&mut self, events: &[EventEnvelope]) -> Result<(), CrmError> {
        let mut rest = events;
        while let Some(at) = rest.iter().position(|e| {
            matches!(
                e.event,
                Event::ContactErased { .. } | Event::UserErased { .. }
            )
        }) {
            self.canonical.import_events(&rest[..at])?;
            let erasure = erasure_of(self.canonical.state(), &rest[at].event);
            self.canonical.import_events(&rest[at..=at])?;
            if let Some(erasure) = erasure {
                if self.canonical.forget(&erasure)? {
                    self.scrubs += 1;
                }
            }
            rest = &rest[at + 1..];
        }
        self.canonical.import_events(rest)
    }

    /// Takes in how this replica's user's view changed (docs/sync.md).
    fn receive_view(&mut self, cursor: u64, change: &ViewChange) -> Result<(), CrmError> {
        match &self.log.view {
            None if self.cursor() > 0 => return Err(CrmError::validation(
                "view",
                "this replica holds the whole journal; a replica of one user's view starts empty",
            )),
            Some(held) if held.user != change.user => {
                return Err(CrmError::validation(
                    "view.user",
                    format!(
                        "is {}, but this replica holds {}'s view",
                        change.user, held.user
                    ),
                ))
            }
            _ => {}
        }
        if cursor < self.cursor() || (cursor == self.cursor() && !change.reset) {
            // Answered twice, or overtaken by a later pull: nothing new.
            return Ok(());
        }
        if !change.reset && change.since > self.cursor() {
            return Err(CrmError::validation(
                "view.since",
                format!(
                    "is {}, after this replica's cursor {}: the changes between are missing",
                    change.since,
                    self.cursor()
                ),
            ));
        }
        if change.reset && self.log.view.is_some() {
            // Whatever the reason, what was held is replaced whole: a store that kept
            // it scrubs the old copy (an erasure is one reason).
            self.scrubs += 1;
        }
        let mut state = super::view::absorb(self.canonical.state(), change);
        state.last_seq = cursor;
        self.canonical =
            Crm::continuing(self.log.replica, self.canonical.options().clone(), &state)?;
        if let Some(last) = state.last_at() {
            self.log.clock.observe(Hlc::at(last));
        }
        for clocks in state.field_clocks.values() {
            for seen in clocks.values() {
                self.log.clock.observe(*seen);
            }
        }
        self.log
            .pending
            .retain(|p| p.accepted.is_none_or(|position| position > cursor));
        self.log.view = Some(HeldView {
            user: change.user,
            state: Box::new(state),
        });
        self.rebase();
        Ok(())
    }

    /// Sends a refused command again, as a new pending command typed now (the user
    /// may have fixed what was wrong first, e.g. asked for the right to do it).
    pub fn retry(&mut self, seq: u64, now: DateTime<Utc>) -> Result<Outcome, CrmError> {
        let index = self.rejected_index(seq)?;
        let rejected = self.log.rejected[index].clone();
        let outcome = self.execute(rejected.author, now, &rejected.command.command)?;
        self.log.rejected.remove(index);
        Ok(outcome)
    }

    /// Gives up a refused command; its text is returned one last time.
    pub fn discard(&mut self, seq: u64) -> Result<RejectedCommand, CrmError> {
        let index = self.rejected_index(seq)?;
        Ok(self.log.rejected.remove(index))
    }

    fn rejected_index(&self, seq: u64) -> Result<usize, CrmError> {
        self.log
            .rejected
            .iter()
            .position(|r| r.command.seq == seq)
            .ok_or_else(|| CrmError::not_found("rejected command", seq))
    }

    /// Moves a pending command to `rejected`; whether it was pending.
    fn reject(&mut self, seq: u64, code: &str, field: Option<&str>, message: &str) -> bool {
        let Some(index) = self.log.pending.iter().position(|p| p.command.seq == seq) else {
            return false;
        };
        let pending = self.log.pending.remove(index);
        self.log.rejected.push(RejectedCommand {
            author: pending.author,
            command: pending.command,
            code: code.to_string(),
            field: field.map(str::to_string),
            message: message.to_string(),
        });
        true
    }

    /// The view again: the canonical state with every pending command applied, each
    /// with the IDs it got when it was typed. One that no longer applies (the record
    /// it edits was deleted at the authority) shows no effect until the authority
    /// decides it.
    fn rebase(&mut self) {
        let mut view = self.canonical.clone();
        for pending in &self.log.pending {
            let stamp = Stamp {
                replica: self.log.replica,
                first_id: pending.command.first_id,
                marker: None,
                hlc: Some(pending.command.hlc),
            };
            let at = self.at(&view, pending.command.at);
            let Ok(command) = super::follow_merges(view.state(), &pending.command.command) else {
                continue;
            };
            let _ = view.execute_stamped(Actor::User(pending.author), at, &command, &stamp);
        }
        self.view = view;
    }

    /// The time a command is recorded at locally: when it was typed, or the last
    /// event's time when the canonical log is already past it (the authority's clock
    /// may run ahead of the phone's).
    fn at(&self, crm: &Crm, typed: DateTime<Utc>) -> DateTime<Utc> {
        crm.state().last_at().map_or(typed, |last| last.max(typed))
    }
}

/// What an erasure event blanks, worked out on the state just before it (as the
/// authority worked it out); `None` for any other event.
fn erasure_of(state: &State, event: &Event) -> Option<Erasure> {
    match event {
        Event::ContactErased { id, .. } => Some(Erasure::of(state, *id)),
        Event::UserErased { id } => Some(Erasure::of_user(state, *id)),
        _ => None,
    }
}
