//! The engine: executes commands, answers queries, keeps state and journal in step.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::access::{Access, Actor};
use crate::activity::Activity;
use crate::command::{self, Command, Ctx};
use crate::company::Company;
use crate::contact::Contact;
use crate::custom_field::FieldDefinition;
use crate::deal::Deal;
use crate::error::CrmError;
use crate::event::{EventEnvelope, SCHEMA_VERSION};
use crate::id::{AnyId, ReplicaId};
use crate::journal::{Journal, MemoryJournal};
use crate::pipeline::Pipeline;
use crate::query::{
    self, ActivityFilter, CompanyFilter, ContactFilter, DealFilter, Page, Query, TaskFilter,
};
use crate::state::State;
use crate::task::Task;
use crate::user::{Department, User};
use crate::validate;

/// Engine settings. Every field has a documented default.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CrmOptions {
    /// ISO 3166 country (e.g. `"DE"`) for phone numbers written without a country code.
    /// Default: none, so such numbers are refused rather than guessed.
    pub default_region: Option<String>,
}

/// What a successful command did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// The ID of the entity the command created, if it created one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<AnyId>,
    /// The events appended, in order (empty when the command changed nothing).
    pub events: Vec<EventEnvelope>,
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

/// Any stored entity, as returned by [`Crm::get`]. JSON: `{"record": "deal", ...fields}`
/// (not `kind`: tasks, activities and fields have a `kind` of their own).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "record", rename_all = "snake_case")]
pub enum Record {
    Department(Department),
    User(User),
    Contact(Contact),
    Company(Company),
    Pipeline(Pipeline),
    Deal(Deal),
    Task(Task),
    Activity(Activity),
    Field(FieldDefinition),
}

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
    journal: J,
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
        let mut journal = MemoryJournal::new();
        for event in events {
            journal.append(std::slice::from_ref(&event))?;
        }
        Crm::open(replica, options, journal)
    }
}

impl<J: Journal> Crm<J> {
    /// Opens a CRM over an existing journal, replaying every event in it.
    pub fn open(replica: ReplicaId, options: CrmOptions, journal: J) -> Result<Self, CrmError> {
        let region = options
            .default_region
            .as_deref()
            .map(validate::region)
            .transpose()?;
        let mut state = State::default();
        for (index, envelope) in journal.read_from(1)?.iter().enumerate() {
            let expected = index as u64 + 1;
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
            state.apply(envelope);
        }
        Ok(Self {
            replica,
            options,
            region,
            state,
            journal,
        })
    }

    pub fn replica(&self) -> ReplicaId {
        self.replica
    }

    pub fn options(&self) -> &CrmOptions {
        &self.options
    }

    /// The current state (read-only; it changes only through commands).
    pub fn state(&self) -> &State {
        &self.state
    }

    pub fn journal(&self) -> &J {
        &self.journal
    }

    /// Events with `seq >= from`, for export, sync and persistence by the host.
    pub fn events_since(&self, from: u64) -> Result<Vec<EventEnvelope>, CrmError> {
        self.journal.read_from(from)
    }

    /// Executes a command as `actor` at `now`.
    pub fn execute(
        &mut self,
        actor: Actor,
        now: DateTime<Utc>,
        command: &Command,
    ) -> Result<Outcome, CrmError> {
        let mut ctx = Ctx::new(&self.state, actor, now, self.replica, self.region)?;
        let events = command::decide(&mut ctx, command)?;
        let first_seq = self.journal.last_seq() + 1;
        let envelopes: Vec<EventEnvelope> = events
            .into_iter()
            .enumerate()
            .map(|(index, event)| EventEnvelope {
                v: SCHEMA_VERSION,
                seq: first_seq + index as u64,
                replica: self.replica,
                at: now,
                actor,
                command: command.name().to_string(),
                caused_by: None,
                event,
            })
            .collect();
        self.journal.append(&envelopes)?;
        for envelope in &envelopes {
            self.state.apply(envelope);
        }
        let created = envelopes
            .first()
            .and_then(|e| e.event.created_ids().first().copied());
        Ok(Outcome {
            created,
            events: envelopes,
        })
    }

    /// Executes a command given as JSON; returns the [`Outcome`] as JSON.
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

    /// Answers a query as `actor` at `now`, as a JSON value.
    pub fn query(
        &self,
        actor: Actor,
        now: DateTime<Utc>,
        query: &Query,
    ) -> Result<serde_json::Value, CrmError> {
        let value = match query {
            Query::Get(target) => serde_json::to_value(self.get(actor, target.id)?),
            Query::ListContacts(filter) => serde_json::to_value(self.contacts(actor, filter)?),
            Query::ListCompanies(filter) => serde_json::to_value(self.companies(actor, filter)?),
            Query::ListDeals(filter) => serde_json::to_value(self.deals(actor, filter)?),
            Query::ListTasks(filter) => serde_json::to_value(self.tasks(actor, now, filter)?),
            Query::ListActivities(filter) => serde_json::to_value(self.activities(actor, filter)?),
            Query::ListUsers(paging) => {
                serde_json::to_value(paging.page(self.users(actor)?.into_iter()))
            }
            Query::ListDepartments(paging) => {
                serde_json::to_value(paging.page(self.departments(actor)?.into_iter()))
            }
            Query::ListPipelines(paging) => {
                serde_json::to_value(paging.page(self.pipelines(actor)?.into_iter()))
            }
            Query::ListFields(paging) => {
                serde_json::to_value(paging.page(self.fields(actor)?.into_iter()))
            }
            Query::Timeline(query) => {
                serde_json::to_value(self.timeline(actor, query.id, query.limit)?)
            }
        };
        value.map_err(|err| CrmError::Storage {
            reason: format!("could not serialise a query result: {err}"),
        })
    }

    /// Answers a query given as JSON, with the result as JSON.
    pub fn query_json(&self, actor: &str, now: &str, query: &str) -> Result<String, CrmError> {
        let (actor, now) = (actor.parse()?, parse_now(now)?);
        let query: Query = query.parse()?;
        to_json(&self.query(actor, now, &query)?)
    }

    fn access(&self, actor: Actor) -> Result<Access<'_>, CrmError> {
        Access::new(&self.state, actor)
    }

    /// Any entity by ID, if the actor may see it.
    pub fn get(&self, actor: Actor, id: AnyId) -> Result<Record, CrmError> {
        self.access(actor)?.require_read(id)?;
        let state = &self.state;
        let record = match id {
            AnyId::DepartmentId(id) => state.departments.get(&id).cloned().map(Record::Department),
            AnyId::UserId(id) => state.users.get(&id).cloned().map(Record::User),
            AnyId::ContactId(id) => state.contacts.get(&id).cloned().map(Record::Contact),
            AnyId::CompanyId(id) => state.companies.get(&id).cloned().map(Record::Company),
            AnyId::PipelineId(id) => state.pipelines.get(&id).cloned().map(Record::Pipeline),
            AnyId::StageId(id) => state
                .stages
                .get(&id)
                .and_then(|p| state.pipelines.get(p))
                .cloned()
                .map(Record::Pipeline),
            AnyId::DealId(id) => state.deals.get(&id).cloned().map(Record::Deal),
            AnyId::TaskId(id) => state.tasks.get(&id).cloned().map(Record::Task),
            AnyId::ActivityId(id) => state.activities.get(&id).cloned().map(Record::Activity),
            AnyId::FieldId(id) => state
                .fields
                .values()
                .flat_map(|defs| defs.values())
                .find(|f| f.id == id)
                .cloned()
                .map(Record::Field),
        };
        record.ok_or_else(|| CrmError::not_found(id.kind(), id))
    }

    pub fn contacts(
        &self,
        actor: Actor,
        filter: &ContactFilter,
    ) -> Result<Page<&Contact>, CrmError> {
        query::contacts(&self.state, &self.access(actor)?, filter, self.region)
    }

    pub fn companies(
        &self,
        actor: Actor,
        filter: &CompanyFilter,
    ) -> Result<Page<&Company>, CrmError> {
        Ok(query::companies(&self.state, &self.access(actor)?, filter))
    }

    pub fn deals(&self, actor: Actor, filter: &DealFilter) -> Result<Page<&Deal>, CrmError> {
        Ok(query::deals(&self.state, &self.access(actor)?, filter))
    }

    /// Tasks; `now` decides which are overdue.
    pub fn tasks(
        &self,
        actor: Actor,
        now: DateTime<Utc>,
        filter: &TaskFilter,
    ) -> Result<Page<&Task>, CrmError> {
        Ok(query::tasks(&self.state, &self.access(actor)?, filter, now))
    }

    pub fn activities(
        &self,
        actor: Actor,
        filter: &ActivityFilter,
    ) -> Result<Page<&Activity>, CrmError> {
        Ok(query::activities(&self.state, &self.access(actor)?, filter))
    }

    pub fn users(&self, actor: Actor) -> Result<Vec<&User>, CrmError> {
        self.access(actor)?;
        Ok(self.state.users.values().collect())
    }

    pub fn departments(&self, actor: Actor) -> Result<Vec<&Department>, CrmError> {
        self.access(actor)?;
        Ok(self.state.departments.values().collect())
    }

    pub fn pipelines(&self, actor: Actor) -> Result<Vec<&Pipeline>, CrmError> {
        self.access(actor)?;
        Ok(self.state.pipelines.values().collect())
    }

    pub fn fields(&self, actor: Actor) -> Result<Vec<&FieldDefinition>, CrmError> {
        self.access(actor)?;
        Ok(self
            .state
            .fields
            .values()
            .flat_map(|defs| defs.values())
            .collect())
    }

    /// The events of one record, newest first (at most `limit`).
    pub fn timeline(
        &self,
        actor: Actor,
        id: AnyId,
        limit: Option<usize>,
    ) -> Result<Vec<EventEnvelope>, CrmError> {
        self.access(actor)?.require_read(id)?;
        let seqs = self
            .state
            .timelines
            .get(&id)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let mut events = Vec::new();
        for seq in seqs.iter().rev().take(limit.unwrap_or(usize::MAX)) {
            let event = self.journal.get(*seq)?.ok_or_else(|| CrmError::Storage {
                reason: format!("the journal has no event {seq}, which the timeline of {id} lists"),
            })?;
            events.push(event);
        }
        Ok(events)
    }
}

/// Parses the `now` argument of the JSON entry points.
pub fn parse_now(now: &str) -> Result<DateTime<Utc>, CrmError> {
    DateTime::parse_from_rfc3339(now.trim())
        .map(|time| time.with_timezone(&Utc))
        .map_err(|_| {
            CrmError::validation(
                "now",
                format!("{now:?} is not an RFC 3339 time like \"2026-11-27T09:30:00Z\""),
            )
        })
}

pub(crate) fn to_json<T: Serialize>(value: &T) -> Result<String, CrmError> {
    serde_json::to_string(value).map_err(|err| CrmError::Storage {
        reason: format!("could not serialise: {err}"),
    })
}
