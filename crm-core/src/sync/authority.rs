//! The authority's side of sync (docs/sync.md): replicas' pending commands run here,
//! once each, in one total order, as the user of the connection they came on; the
//! canonical events go back out by position.

use chrono::{DateTime, Utc};

use super::protocol::*;
use super::syncable;
use crate::access::Access;
use crate::common::error::CrmError;
use crate::common::id::{ReplicaId, UserId};
use crate::engine::{Crm, Stamp};
use crate::event::Event;
use crate::journal::Journal;
use crate::model::actor::Actor;
use crate::state::SyncRecord;

impl<J: Journal> Crm<J> {
    /// Runs a replica's pushed commands as `user` — the user the host authenticated
    /// the connection as; no batch names who runs them. Each command runs once: one
    /// delivered again is answered as it was the first time (`command_synced` and
    /// `command_rejected` in the journal keep the answers). A replica's commands run in
    /// its order: one whose predecessor has not arrived is `deferred`, as is the rest
    /// of its batch. A refusal is final and recorded; a storage failure is an error of
    /// the whole push (the commands before it stand; pushing again is safe).
    pub fn push(
        &mut self,
        user: UserId,
        now: DateTime<Utc>,
        batch: &PushBatch,
    ) -> Result<PushResult, CrmError> {
        if batch.v != SYNC_VERSION {
            return Err(CrmError::validation(
                "v",
                format!("version {} is not {SYNC_VERSION}", batch.v),
            ));
        }
        if batch.replica == self.replica() {
            return Err(CrmError::validation(
                "replica",
                format!("{} is the authority's own replica id", batch.replica.get()),
            ));
        }
        if batch.commands.len() > MAX_PUSH_COMMANDS {
            return Err(CrmError::too_large(
                "commands",
                MAX_PUSH_COMMANDS,
                batch.commands.len(),
            ));
        }
        Access::new(self.state(), Actor::User(user))?;
        // The authority's own clock going back is the host's fault, not the commands':
        // refuse the push whole rather than record refusals of good commands.
        if let Some(last) = self.state().last_at().filter(|last| now < *last) {
            return Err(CrmError::validation(
                "now",
                format!(
                    "{} is before {}, the time of the journal's last event",
                    now.to_rfc3339(),
                    last.to_rfc3339()
                ),
            ));
        }
        let mut results = Vec::with_capacity(batch.commands.len());
        let mut waiting = false;
        for pending in &batch.commands {
            let seq = pending.seq;
            if let Some(record) = self.synced(batch.replica, seq) {
                results.push(record);
                continue;
            }
            if waiting || seq != self.last_synced(batch.replica) + 1 {
                waiting = true;
                results.push(CommandResult::Deferred { seq });
                continue;
            }
            let result = self.run_pushed(user, now, batch.replica, pending)?;
            results.push(result);
        }
        Ok(PushResult {
            v: SYNC_VERSION,
            results,
        })
    }

    /// What a replica of `user` receives after `cursor`. A user who may read every
    /// record (an admin) gets the canonical events, at most `limit` (and
    /// [`MAX_PULL_EVENTS`]) at a time; anyone else gets how their view changed, as of
    /// now, in one batch (`view`; docs/sync.md, "Partial replication").
    pub fn pull(
        &self,
        user: UserId,
        cursor: u64,
        limit: Option<usize>,
    ) -> Result<PullBatch, CrmError> {
        let access = Access::new(self.state(), Actor::User(user))?;
        if !access.is_admin() {
            let view = self.view_since(user, cursor)?;
            return Ok(PullBatch {
                v: SYNC_VERSION,
                events: Vec::new(),
                cursor: self.state().last_seq(),
                more: false,
                view: Some(view),
            });
        }
        let limit = limit.unwrap_or(MAX_PULL_EVENTS).clamp(1, MAX_PULL_EVENTS);
        let mut events = self.events_since(cursor.saturating_add(1))?;
        let more = events.len() > limit;
        events.truncate(limit);
        let cursor = events.last().map_or(cursor, |e| e.seq);
        Ok(PullBatch {
            v: SYNC_VERSION,
            events,
            cursor,
            more,
            view: None,
        })
    }

    /// What was decided on a replica's command, if it was.
    fn synced(&self, replica: ReplicaId, seq: u64) -> Option<CommandResult> {
        let record = self.state().synced.get(&replica)?.get(&seq)?;
        Some(match record {
            SyncRecord::Accepted { position } => CommandResult::Accepted {
                seq,
                position: *position,
            },
            SyncRecord::Rejected {
                code,
                field,
                message,
            } => CommandResult::Rejected {
                seq,
                code: code.clone(),
                field: field.clone(),
                message: message.clone(),
            },
        })
    }

    /// The last of a replica's commands decided here (0 before its first).
    fn last_synced(&self, replica: ReplicaId) -> u64 {
        self.state()
            .synced
            .get(&replica)
            .and_then(|decided| decided.keys().next_back().copied())
            .unwrap_or(0)
    }

    /// Runs one pushed command, or records why not.
    fn run_pushed(
        &mut self,
        user: UserId,
        now: DateTime<Utc>,
        replica: ReplicaId,
        pending: &PendingCommand,
    ) -> Result<CommandResult, CrmError> {
        let seq = pending.seq;
        let followed = super::follow_merges(self.state(), &pending.command);
        let refusal = if let Err(reason) = syncable(&pending.command) {
            Some(CrmError::validation("command", reason))
        } else if let Err(err) = &followed {
            Some(err.clone())
        } else if pending.first_id < self.state().next_seq(replica) {
            Some(CrmError::conflict(format!(
                "IDs from {}-{} on are already taken: a replica never hands out an ID twice",
                replica.get(),
                pending.first_id
            )))
        } else {
            let stamp = Stamp {
                replica,
                first_id: pending.first_id,
                marker: Some(Event::CommandSynced { replica, seq }),
                hlc: Some(pending.hlc),
            };
            let before = self.state().last_seq();
            let command = followed.as_ref().unwrap_or(&pending.command);
            match self.execute_stamped(Actor::User(user), now, command, &stamp) {
                Ok(outcome) => {
                    let position = outcome
                        .events
                        .iter()
                        .find(|e| matches!(e.event, Event::CommandSynced { .. }))
                        .map_or(self.state().last_seq(), |e| e.seq);
                    return Ok(CommandResult::Accepted { seq, position });
                }
                // Storage failed, or another writer appended first (the engine has
                // reloaded their events): nothing of this command is recorded, and
                // it is not refused — the replica pushes it again.
                Err(err) if err.code() == "storage" || self.state().last_seq() != before => {
                    return Err(err)
                }
                Err(err) => Some(err),
            }
        };
        let Some(err) = refusal else {
            return Err(CrmError::Storage {
                reason: "a pushed command was neither run nor refused".into(),
            });
        };
        let (field, message) = match &err {
            CrmError::Validation { field, reason } => (Some(field.clone()), reason.clone()),
            CrmError::Malformed { path, reason } => (Some(path.clone()), reason.clone()),
            other => (None, other.to_string()),
        };
        let code = err.code().to_string();
        self.record_alone(
            Actor::User(user),
            now,
            "push",
            Event::CommandRejected {
                replica,
                seq,
                code: code.clone(),
                field: field.clone(),
                message: message.clone(),
            },
        )?;
        Ok(CommandResult::Rejected {
            seq,
            code,
            field,
            message,
        })
    }
}
