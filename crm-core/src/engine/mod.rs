//! The engine: executes commands, answers queries, keeps state and journal in step.
//! `mod.rs` holds the engine and its lifecycle (open, replay, import, snapshots,
//! reload); `execute.rs` the command pipeline (timers, decide, fold, react, append);
//! `read.rs` the queries; `diagnose.rs` `explain` and `rerender`; `json.rs` the JSON
//! entry points; `fold.rs` the one fold of state and projections.

mod batch;
mod diagnose;
mod execute;
mod fold;
mod json;
mod read;

pub use batch::BatchOutcome;
pub use diagnose::{ExplainedEvent, Explanation, Fired, Rerendering};
pub use execute::Outcome;
pub(crate) use execute::Stamp;
pub use fold::Projections;
pub use read::{PersonExport, Record};

use std::ops::ControlFlow;

use serde::{Deserialize, Serialize};

use crate::common::error::CrmError;
use crate::common::id::ReplicaId;
use crate::common::validate;
use crate::event::{Event, EventEnvelope, SCHEMA_VERSION};
use crate::integrity;
use crate::journal::{
    Journal, MemoryJournal, Snapshot, OLDEST_READABLE_SNAPSHOT, SNAPSHOT_VERSION,
};
use crate::state::State;

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
    /// Run the automation rules and timers (default `true`). A replica of an authority
    /// (docs/sync.md) runs neither: its rules fire at the authority, once, and their
    /// results come back with the canonical events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub automation: Option<bool>,
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
pub(crate) const MAX_TIMERS_PER_CALL: usize = 10_000;

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
        let journal = MemoryJournal::from_events(events.into_iter().collect())?;
        Crm::open(replica, options, journal)
    }

    /// A CRM that continues `state`, brought from elsewhere without the events before
    /// it (a replica of one user's view): its next event follows the state's last.
    pub(crate) fn continuing(
        replica: ReplicaId,
        options: CrmOptions,
        state: &State,
    ) -> Result<Self, CrmError> {
        let json = serde_json::to_string(state).map_err(|err| CrmError::Storage {
            reason: format!("cannot serialise the state: {err}"),
        })?;
        let start = Snapshot {
            v: SNAPSHOT_VERSION,
            seq: state.last_seq,
            state: json,
        };
        Crm::open(replica, options, MemoryJournal::continuing(start))
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

    /// The journal position of the newest event this engine has applied (0 when empty).
    pub fn last_seq(&self) -> u64 {
        self.state.last_seq
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

    /// The journal, giving the engine up (a host moving its history elsewhere).
    pub fn into_journal(self) -> J {
        self.journal
    }

    /// Appends events recorded elsewhere that continue this journal (another tab, a
    /// host's own store): checked for order and version, then folded. Rules do not run
    /// again — their reactions are among the events. All or nothing.
    pub fn import_events(&mut self, events: &[EventEnvelope]) -> Result<(), CrmError> {
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

    /// Folds what other writers appended to a shared journal since this engine's last
    /// event (several app servers on one database): cheap when nothing is new, and
    /// what a host calls before each request so every process answers alike. Rules do
    /// not run again; their reactions are among the events. How many events it took.
    /// (An erasure by another writer rewrites events in place: reopen to see it.)
    pub fn catch_up(&mut self) -> Result<u64, CrmError> {
        let mut next = self.state.last_seq + 1;
        let mut taken = 0;
        let (state, projections) = (&mut self.state, &mut self.projections);
        self.journal.scan_from(next, &mut |envelope| {
            if envelope.seq != next {
                return Err(CrmError::Storage {
                    reason: format!(
                        "the journal skips from event {} to {}",
                        next - 1,
                        envelope.seq
                    ),
                });
            }
            fold::apply(state, projections, envelope);
            next += 1;
            taken += 1;
            Ok(ControlFlow::Continue(()))
        })?;
        Ok(taken)
    }

    /// Events with `seq >= from`, for export, sync and persistence by the host.
    pub fn events_since(&self, from: u64) -> Result<Vec<EventEnvelope>, CrmError> {
        self.journal.read_from(from)
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
}

fn event_type(event: &Event) -> String {
    serde_json::to_value(event)
        .ok()
        .and_then(|v| v.get("type").and_then(|t| t.as_str().map(str::to_string)))
        .unwrap_or_default()
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
    if !(OLDEST_READABLE_SNAPSHOT..=SNAPSHOT_VERSION).contains(&snapshot.v) {
        return Err(format!(
            "it has format {}, this build reads {OLDEST_READABLE_SNAPSHOT} to {SNAPSHOT_VERSION}",
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
    if state.last_at.is_none() && state.last_seq > 0 {
        // Written before snapshots kept it (format 3 and older): the time of the event
        // the snapshot ends at.
        journal
            .scan_from(state.last_seq, &mut |envelope| {
                state.last_at = Some(envelope.at);
                Ok(ControlFlow::Break(()))
            })
            .map_err(|err| err.to_string())?;
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
