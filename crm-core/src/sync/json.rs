//! The sync entry points as JSON text, for the bindings and hosts in other languages.

use super::protocol::{PullBatch, PushBatch, PushResult};
use super::replica::{Replica, ReplicaLog};
use crate::common::error::CrmError;
use crate::common::id::UserId;
use crate::common::tagged::read_document;
use crate::common::utc::parse_now;
use crate::engine::{to_json, Crm, CrmOptions};
use crate::journal::Journal;

impl<J: Journal> Crm<J> {
    /// [`Crm::push`] with the batch and the answer as JSON; `user` is the user the
    /// host authenticated the connection as.
    pub fn push_json(&mut self, user: &str, now: &str, batch: &str) -> Result<String, CrmError> {
        let user: UserId = user.parse()?;
        let now = parse_now(now)?;
        let batch: PushBatch = read_document("batch", batch)?;
        to_json(&self.push(user, now, &batch)?)
    }

    /// [`Crm::pull`] with the answer as JSON.
    pub fn pull_json(
        &self,
        user: &str,
        cursor: u64,
        limit: Option<usize>,
    ) -> Result<String, CrmError> {
        let user: UserId = user.parse()?;
        to_json(&self.pull(user, cursor, limit)?)
    }
}

impl Replica {
    /// [`Replica::restore`] from the stored events (a JSON array) and log (JSON).
    pub fn restore_json(options: CrmOptions, events: &str, log: &str) -> Result<Replica, CrmError> {
        let events = crate::upcast::envelopes_from_json(events)?;
        let log: ReplicaLog = read_document("log", log)?;
        Replica::restore(options, events, log)
    }

    /// [`Replica::execute`] with the command and the outcome as JSON.
    pub fn execute_json(
        &mut self,
        author: &str,
        now: &str,
        command: &str,
    ) -> Result<String, CrmError> {
        let author: UserId = author.parse()?;
        let now = parse_now(now)?;
        let command = command.parse()?;
        to_json(&self.execute(author, now, &command)?)
    }

    /// A query on [`Replica::view`], as JSON.
    pub fn query_json(&self, actor: &str, now: &str, query: &str) -> Result<String, CrmError> {
        self.view().query_json(actor, now, query)
    }

    /// [`Replica::push_batch`] as JSON.
    pub fn push_batch_json(&self, limit: usize) -> Result<String, CrmError> {
        to_json(&self.push_batch(limit))
    }

    /// [`Replica::receive_push_result`] from JSON.
    pub fn receive_push_result_json(&mut self, result: &str) -> Result<(), CrmError> {
        let result: PushResult = read_document("result", result)?;
        self.receive_push_result(&result)
    }

    /// [`Replica::receive_pull`] from JSON.
    pub fn receive_pull_json(&mut self, batch: &str) -> Result<(), CrmError> {
        let batch: PullBatch = read_document("batch", batch)?;
        self.receive_pull(&batch)
    }

    /// [`Replica::pending`] as a JSON array.
    pub fn pending_json(&self) -> Result<String, CrmError> {
        to_json(&self.pending())
    }

    /// [`Replica::rejected`] as a JSON array.
    pub fn rejected_json(&self) -> Result<String, CrmError> {
        to_json(&self.rejected())
    }

    /// [`Replica::log`] as JSON (to store beside the canonical events).
    pub fn log_json(&self) -> Result<String, CrmError> {
        to_json(self.log())
    }

    /// The canonical events with `seq >= from`, as a JSON array (to store).
    pub fn events_json(&self, from: u64) -> Result<String, CrmError> {
        to_json(&self.canonical().events_since(from)?)
    }

    /// [`Replica::retry`], the outcome as JSON.
    pub fn retry_json(&mut self, seq: u64, now: &str) -> Result<String, CrmError> {
        let now = parse_now(now)?;
        to_json(&self.retry(seq, now)?)
    }

    /// [`Replica::discard`], the discarded command as JSON.
    pub fn discard_json(&mut self, seq: u64) -> Result<String, CrmError> {
        to_json(&self.discard(seq)?)
    }
}
