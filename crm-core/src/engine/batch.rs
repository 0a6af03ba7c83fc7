//! Batches: several commands stored as one journal batch or not at all, optionally
//! under an idempotency key (answered again, never run twice) and an expected position
//! (refused if anything happened since the client read).

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::common::error::CrmError;
use crate::common::id::AnyId;
use crate::event::{Event, EventEnvelope};
use crate::journal::Journal;
use crate::model::actor::Actor;
use crate::model::batch::{CommandBatch, MAX_BATCH_COMMANDS, MAX_IDEMPOTENCY_KEY_BYTES};
use crate::model::command::Command;
use crate::state::idempotency::KeyedRequest;

use super::execute::{Batch, Origin};
use super::Crm;

/// Gives the `index`th command of a batch, knowing what the ones before it created.
type NextCommand<'a> = dyn FnMut(usize, &[Option<AnyId>]) -> Result<Command, CrmError> + 'a;

/// What a batch did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct BatchOutcome {
    /// What each command created, in the order of `commands` (`null` where a command
    /// created nothing).
    pub created: Vec<Option<AnyId>>,
    /// Every event appended: timers that fell due first, then each command's events
    /// and the rules' reactions, then the idempotency key's record.
    pub events: Vec<EventEnvelope>,
    /// The journal position after the batch: the next `expected_position`.
    pub position: u64,
    /// The answer to an earlier request with the same idempotency key: nothing ran now.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub replayed: bool,
    /// As [`crate::Outcome::warnings`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl<J: Journal> Crm<J> {
    /// Runs `batch.commands` as `actor` at `now` as one: timers due by `now` fire
    /// first, then each command is decided against the state the ones before it left
    /// and the rules react to it; all of it is appended as one journal batch. The first
    /// refusal refuses the batch (its error names `commands[i]`) with nothing changed.
    ///
    /// With an `idempotency_key`, the key and what the batch did are recorded in the
    /// same journal batch (`idempotency_key_used`): the same actor sending the same
    /// batch with the same key within a day gets that answer again
    /// (`replayed: true`) and nothing runs; the key with a different batch is refused.
    /// A refused batch records nothing, so sending it again decides it again.
    pub fn execute_batch(
        &mut self,
        actor: Actor,
        now: DateTime<Utc>,
        batch: &CommandBatch,
        idempotency_key: Option<&str>,
    ) -> Result<BatchOutcome, CrmError> {
        let plan = Plan {
            names: batch.commands.iter().map(Command::name).collect(),
            expected_position: batch.expected_position,
            digest: digest(batch)?,
        };
        self.run_batch(actor, now, &plan, idempotency_key, &mut |index, _| {
            Ok(batch.commands[index].clone())
        })
    }

    /// [`Crm::execute_batch`] with the batch as JSON and the outcome as JSON: for
    /// bindings and hosts in other languages. Here a command may name what an earlier
    /// one in the batch created: `{"$ref": 0}` where an ID goes stands for the ID
    /// `commands[0]` created (an order's contact, then its deal, then a task on it).
    pub fn execute_batch_json(
        &mut self,
        actor: &str,
        now: &str,
        batch: &str,
        idempotency_key: Option<&str>,
    ) -> Result<String, CrmError> {
        let (actor, now) = (actor.parse()?, crate::common::utc::parse_now(now)?);
        let raw: RawBatch = crate::common::tagged::read_document("batch", batch)?;
        let plan = Plan {
            names: raw
                .commands
                .iter()
                .map(|command| command.get("type").and_then(|t| t.as_str()).unwrap_or(""))
                .collect(),
            expected_position: raw.expected_position,
            digest: digest(&raw)?,
        };
        let outcome =
            self.run_batch(actor, now, &plan, idempotency_key, &mut |index, created| {
                let at = format!("commands[{index}]");
                let command = resolve(raw.commands[index].clone(), &at, created)?;
                crate::common::tagged::read_value(&at, command)
            })?;
        super::to_json(&outcome)
    }

    /// The batch whose `index`th command `command` gives (knowing what the ones before
    /// it created).
    fn run_batch(
        &mut self,
        actor: Actor,
        now: DateTime<Utc>,
        plan: &Plan<'_>,
        idempotency_key: Option<&str>,
        command: &mut NextCommand<'_>,
    ) -> Result<BatchOutcome, CrmError> {
        let keyed = match idempotency_key {
            Some(key) => {
                if let Some(done) = self.state.idempotency.get(actor, key) {
                    return self.answer_again(key, &plan.digest, done);
                }
                Some(checked_key(key)?)
            }
            None => None,
        };
        check(&plan.names)?;
        if let Some(expected) = plan.expected_position {
            if expected != self.state.last_seq {
                return Err(CrmError::conflict(format!(
                    "expected_position is {expected} but the journal is at {}: read again \
                     and decide again",
                    self.state.last_seq
                )));
            }
        }
        let mut staged = Batch::default();
        let created = match self.stage(actor, now, plan.names.len(), command, &mut staged) {
            Ok(created) => created,
            Err(err) => {
                self.reload()?;
                return Err(err);
            }
        };
        if let Some(key) = keyed {
            let marker = Event::IdempotencyKeyUsed {
                key,
                digest: plan.digest.clone(),
                events: staged.envelopes.len() as u64,
                created: created.clone(),
            };
            let origin = Origin {
                actor,
                at: now.max(self.state.last_at.unwrap_or(now)),
                command: "batch",
                caused_by: None,
                rule: None,
            };
            self.record(&mut staged, marker, &origin, 0);
            staged.pending.clear();
        }
        let outcome = self.commit(staged, None)?;
        Ok(BatchOutcome {
            created,
            events: outcome.events,
            position: self.state.last_seq,
            replayed: false,
            warnings: outcome.warnings,
        })
    }

    /// Timers, then each command and the rules' reactions, into `staged`; what each
    /// command created. The state holds the staged events; on failure the caller
    /// reloads.
    fn stage(
        &mut self,
        actor: Actor,
        now: DateTime<Utc>,
        count: usize,
        next: &mut NextCommand<'_>,
        staged: &mut Batch,
    ) -> Result<Vec<Option<AnyId>>, CrmError> {
        if self.automates() {
            self.fire_timers(staged, now)?;
        }
        let mut created = Vec::with_capacity(count);
        for index in 0..count {
            let command = next(index, &created)?;
            check_alone(index, &command)?;
            let events = self
                .decide(actor, now, &command)
                .map_err(|err| err.within(&format!("commands[{index}]")))?;
            created.push(self.record_command(staged, actor, now, &command, events)?);
        }
        Ok(created)
    }

    /// The answer an earlier request with this key got, read back from the journal.
    fn answer_again(
        &self,
        key: &str,
        digest: &str,
        done: &KeyedRequest,
    ) -> Result<BatchOutcome, CrmError> {
        if done.digest != digest {
            return Err(CrmError::validation(
                "idempotency_key",
                format!(
                    "{key:?} was used at {} for another request: a new request needs a new key",
                    done.at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
                ),
            ));
        }
        let mut events = Vec::new();
        self.journal.scan_from(done.first, &mut |event| {
            if event.seq > done.last {
                return Ok(std::ops::ControlFlow::Break(()));
            }
            events.push(event.clone());
            Ok(std::ops::ControlFlow::Continue(()))
        })?;
        Ok(BatchOutcome {
            created: done.created.clone(),
            events,
            position: done.last,
            replayed: true,
            warnings: Vec::new(),
        })
    }
}

/// A batch's size: not empty, not absurd.
fn check(names: &[&str]) -> Result<(), CrmError> {
    if names.is_empty() {
        return Err(CrmError::validation("commands", "is empty: nothing to run"));
    }
    if names.len() > MAX_BATCH_COMMANDS {
        return Err(CrmError::too_large(
            "commands",
            MAX_BATCH_COMMANDS,
            names.len(),
        ));
    }
    Ok(())
}

/// Refuses a command that must run alone: each is a batch of its own.
fn check_alone(index: usize, command: &Command) -> Result<(), CrmError> {
    if matches!(
        command,
        Command::ImportRecords(_)
            | Command::ImportHistory(_)
            | Command::EraseContact(_)
            | Command::EraseUser(_)
            | Command::Tick(_)
    ) {
        return Err(CrmError::validation(
            format!("commands[{index}]"),
            format!(
                "is {:?}, which runs alone (it is a batch of its own): send it by itself",
                command.name()
            ),
        ));
    }
    Ok(())
}

/// `{"$ref": i}` anywhere in `value` replaced by the ID `commands[i]` created.
fn resolve(
    value: serde_json::Value,
    at: &str,
    created: &[Option<AnyId>],
) -> Result<serde_json::Value, CrmError> {
    use serde_json::Value;
    Ok(match value {
        Value::Object(fields) if fields.len() == 1 && fields.contains_key("$ref") => {
            let target = fields["$ref"].as_u64();
            let id = target
                .and_then(|i| usize::try_from(i).ok())
                .and_then(|i| created.get(i).copied().flatten());
            match id {
                Some(id) => Value::String(id.to_string()),
                None => {
                    return Err(CrmError::validation(
                        at,
                        format!(
                            "{{\"$ref\": {}}} names no ID: a reference is the index of an \
                             earlier command of the batch that created something",
                            fields["$ref"]
                        ),
                    ))
                }
            }
        }
        Value::Object(fields) => Value::Object(
            fields
                .into_iter()
                .map(|(name, inner)| {
                    let path = crate::common::validate::join_path(at, &name);
                    resolve(inner, &path, created).map(|inner| (name, inner))
                })
                .collect::<Result<_, _>>()?,
        ),
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .enumerate()
                .map(|(i, inner)| resolve(inner, &format!("{at}[{i}]"), created))
                .collect::<Result<_, _>>()?,
        ),
        other => other,
    })
}

/// A batch as it is planned: its commands' names (to check its shape before anything
/// runs), its expected position and its digest.
struct Plan<'a> {
    names: Vec<&'a str>,
    expected_position: Option<u64>,
    digest: String,
}

/// A batch as JSON, its commands read one by one as they run (so a command can name
/// what an earlier one created).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBatch {
    commands: Vec<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expected_position: Option<u64>,
}

/// A key as a client may send it: 1 to 255 bytes of visible ASCII (it travels in an
/// HTTP header).
fn checked_key(key: &str) -> Result<String, CrmError> {
    if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY_BYTES {
        return Err(CrmError::validation(
            "idempotency_key",
            format!(
                "{key:?} is {} bytes long; a key has 1 to {MAX_IDEMPOTENCY_KEY_BYTES}",
                key.len()
            ),
        ));
    }
    if !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(CrmError::validation(
            "idempotency_key",
            format!("{key:?} holds a character other than visible ASCII"),
        ));
    }
    Ok(key.to_string())
}

/// FNV-1a (64 bits) of the batch's canonical JSON: the same request however it was
/// spaced, without a hashing dependency. Not a defence against an attacker, who could
/// only collide with their own key.
fn digest(batch: &impl Serialize) -> Result<String, CrmError> {
    let text = serde_json::to_string(batch).map_err(|err| CrmError::Storage {
        reason: format!("cannot serialise the batch: {err}"),
    })?;
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    Ok(format!("{hash:016x}"))
}
