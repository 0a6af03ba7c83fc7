//! The JSON entry points: text in, text out, for bindings and hosts in other languages.

use crate::common::error::CrmError;
use crate::common::utc::parse_now;
use crate::journal::Journal;
use crate::model::command::Command;
use crate::model::query::Query;

use super::{to_json, Crm, Outcome};

impl<J: Journal> Crm<J> {
    /// Executes a command given as JSON; returns the [`Outcome`](super::Outcome) as JSON.
    /// `actor` is `"system"` or a user ID; `now` is RFC 3339 with an offset.
    pub fn execute_json(
        &mut self,
        actor: &str,
        now: &str,
        command: &str,
    ) -> Result<String, CrmError> {
        to_json(&self.execute_text(actor, now, command)?)
    }

    /// Answers a query given as JSON, with the result as JSON.
    pub fn query_json(&self, actor: &str, now: &str, query: &str) -> Result<String, CrmError> {
        to_json(&self.query_text(actor, now, query)?)
    }

    /// [`Crm::execute_json`] with the outcome as a value: for a host that reads its
    /// input as text but builds its answer from the engine's values (the Python
    /// binding), so no JSON text is written only to be parsed again.
    pub fn execute_text(
        &mut self,
        actor: &str,
        now: &str,
        command: &str,
    ) -> Result<Outcome, CrmError> {
        let (actor, now) = (actor.parse()?, parse_now(now)?);
        let command: Command = command.parse()?;
        self.execute(actor, now, &command)
    }

    /// [`Crm::query_json`] with the answer as a JSON value.
    pub fn query_text(
        &self,
        actor: &str,
        now: &str,
        query: &str,
    ) -> Result<serde_json::Value, CrmError> {
        let (actor, now) = (actor.parse()?, parse_now(now)?);
        let query: Query = query.parse()?;
        self.query(actor, now, &query)
    }
}
