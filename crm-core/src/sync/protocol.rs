//! What replicas and their authority exchange (docs/sync.md): versioned JSON batches
//! that any transport carries — HTTP, a file, a QR code.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::common::hlc::Hlc;
use crate::common::id::{AnyId, ReplicaId, UserId};
use crate::event::EventEnvelope;
use crate::model::command::Command;
use crate::state::State;

/// The version of the batches below; a batch of another version is refused whole.
pub const SYNC_VERSION: u32 = 1;

/// Most commands one push carries (a replica offline for a week pushes in parts).
pub const MAX_PUSH_COMMANDS: usize = 1_000;

/// Most events one pull answers with (the replica pulls again while `more`).
pub const MAX_PULL_EVENTS: usize = 5_000;

/// A command a replica ran locally and keeps until the authority has decided it. Its
/// author is not in it: the authority runs it as the user of the connection it came
/// on, never as anyone a batch names.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct PendingCommand {
    /// The replica's own sequence of pending commands, from 1, without gaps.
    pub seq: u64,
    /// When it was typed, on the replica's hybrid clock (later edits win).
    pub hlc: Hlc,
    /// The last canonical position the replica had seen when it was typed.
    pub base: u64,
    /// The first ID sequence its records got on the replica (IDs are the replica's
    /// own, `con-<replica>-<seq>`); the authority gives them the same IDs.
    pub first_id: u64,
    /// The replica's clock when it was typed.
    #[serde(deserialize_with = "crate::common::utc::deserialize")]
    pub at: DateTime<Utc>,
    pub command: Command,
}

/// What a replica sends: its pending commands, oldest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct PushBatch {
    pub v: u32,
    pub replica: ReplicaId,
    pub commands: Vec<PendingCommand>,
}

/// What became of one pushed command.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum CommandResult {
    /// Recorded; `position` is the journal position of its last event.
    Accepted { seq: u64, position: u64 },
    /// Refused, for good (the replica keeps it for its user: `rejected()`); the code,
    /// field and message are the engine's.
    Rejected {
        seq: u64,
        code: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        field: Option<String>,
        message: String,
    },
    /// Not looked at: an earlier command of the replica has not arrived yet (a batch
    /// overtook another). Push it again.
    Deferred { seq: u64 },
}

impl CommandResult {
    pub fn seq(&self) -> u64 {
        match self {
            CommandResult::Accepted { seq, .. }
            | CommandResult::Rejected { seq, .. }
            | CommandResult::Deferred { seq } => *seq,
        }
    }
}

/// The authority's answer to a push, one result per command, in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PushResult {
    pub v: u32,
    pub results: Vec<CommandResult>,
}

/// What a replica receives: for a user who may read everything, the canonical events
/// after its cursor; for anyone else, how their view changed (`view`, and no events).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PullBatch {
    pub v: u32,
    pub events: Vec<EventEnvelope>,
    /// The position to pull from next.
    pub cursor: u64,
    /// Whether more events wait after these.
    pub more: bool,
    /// For a replica of one user's view: the records that moved in or changed, and
    /// those that moved out (docs/sync.md, "Partial replication").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub view: Option<ViewChange>,
}

/// How one user's view changed between two positions of the canonical log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ViewChange {
    /// Whose view it is; a replica holds one user's view.
    pub user: UserId,
    /// The cursor the change is from (the replica must hold at least that much).
    pub since: u64,
    /// The whole view, to replace what the replica holds (a first pull; a user's
    /// rights changed; someone was erased, and nothing of them may stay behind).
    pub reset: bool,
    /// Whether `records` carries the shared reference data (users, departments,
    /// pipelines, fields, the calendar, templates), which replaces the replica's.
    pub reference: bool,
    /// The records that moved in or changed, each as it is now, with what the state
    /// keeps about it, in the state's own form (`State::restricted_to` of the
    /// authority, for these records only).
    #[cfg_attr(feature = "schema", schemars(with = "serde_json::Value"))]
    pub records: Box<State>,
    /// Records changed since the cursor that the user may not see now: the replica
    /// drops any of them it holds, with what hangs on them that the user can no
    /// longer see either.
    pub removed: Vec<AnyId>,
}

/// A command of this replica's user that the authority refused, kept until the user
/// retries or discards it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RejectedCommand {
    pub author: UserId,
    pub command: PendingCommand,
    pub code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub message: String,
}

/// A command waiting for the authority, with the user who typed it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Pending {
    pub author: UserId,
    pub command: PendingCommand,
    /// The position of its last event, once the authority has said it accepted it:
    /// a replica of one user's view drops it when it has pulled that far (it never
    /// receives the authority's `command_synced` events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted: Option<u64>,
}
