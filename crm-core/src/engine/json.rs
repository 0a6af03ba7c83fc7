//! The JSON entry points: text in, text out, for bindings and hosts in other languages.

use crate::common::error::CrmError;
use crate::common::utc::parse_now;
use crate::journal::Journal;
use crate::model::command::Command;
use crate::model::query::Query;

use super::{to_json, Crm};

impl<J: Journal> Crm<J> {
    /// Executes a command given as JSON; returns the [`Outcome`](super::Outcome) as JSON.
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

    /// Answers a query given as JSON, with the result as JSON.
    pub fn query_json(&self, actor: &str, now: &str, query: &str) -> Result<String, CrmError> {
        let (actor, now) = (actor.parse()?, parse_now(now)?);
        let query: Query = query.parse()?;
        to_json(&self.query(actor, now, &query)?)
    }
}
