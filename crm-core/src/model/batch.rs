//! Several commands run as one: all of them are stored, in one journal batch, or none.
//! What an HTTP client sends to `POST /v1/commands` when one order makes a contact, a
//! deal and a task, and what a host uses to make a retried request harmless.

use serde::{Deserialize, Serialize};

/// Most commands in one batch (a spreadsheet goes through `import_records` instead).
pub const MAX_BATCH_COMMANDS: usize = 100;

/// Longest idempotency key, in bytes (a UUID is 36).
pub const MAX_IDEMPOTENCY_KEY_BYTES: usize = 255;

/// How long a request's idempotency key is remembered, in hours, after which the same
/// key may be used again (as Stripe and the IETF draft do: retries come within minutes).
pub const IDEMPOTENCY_RETENTION_HOURS: i64 = 24;

/// Commands to run as one. JSON: `{"commands": [{"type": ...}, ...],
/// "expected_position": 41}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct CommandBatch {
    /// Run in order, each decided against the state the ones before it left; the
    /// first refusal refuses the batch (its error names `commands[i]`).
    pub commands: Vec<crate::model::command::Command>,
    /// Refuse the batch (`conflict`) unless the journal still ends at this position:
    /// the client's "nothing changed since I read" (an optimistic lock over the whole
    /// business, as `If-Match` is over one resource).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_position: Option<u64>,
}
