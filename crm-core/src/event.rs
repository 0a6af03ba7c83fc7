//! Events: the facts a command produced. State is a pure fold over them, and they
//! are the audit trail: who did what, when, through which command.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::access::Actor;
use crate::activity::Activity;
use crate::company::{Company, CompanyFields};
use crate::contact::{Contact, ContactFields};
use crate::custom_field::{CustomValues, FieldDefinition};
use crate::deal::{Deal, DealFields, DealStatus};
use crate::id::{AnyId, CompanyId, ContactId, DealId, ReplicaId, StageId, TaskId, UserId};
use crate::pipeline::Pipeline;
use crate::task::Task;
use crate::user::{Department, User};

/// The version of the event JSON schema written by this build (see docs/schema.md).
pub const SCHEMA_VERSION: u32 = 1;

/// What happened. JSON: `{"type": "deal_moved", ...fields}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    DepartmentCreated {
        department: Department,
    },
    UserCreated {
        user: User,
    },
    /// The user as it is now, and which fields changed.
    UserUpdated {
        user: User,
        changed: Vec<String>,
    },
    UserDeactivated {
        id: UserId,
    },
    FieldDefined {
        field: FieldDefinition,
    },
    ContactCreated {
        contact: Contact,
    },
    /// The contact's editable fields as they are now, and which changed.
    ContactUpdated {
        id: ContactId,
        fields: ContactFields,
        changed: Vec<String>,
    },
    CompanyCreated {
        company: Company,
    },
    CompanyUpdated {
        id: CompanyId,
        fields: CompanyFields,
        changed: Vec<String>,
    },
    PipelineCreated {
        pipeline: Pipeline,
    },
    DealCreated {
        deal: Deal,
    },
    DealUpdated {
        id: DealId,
        fields: DealFields,
        changed: Vec<String>,
    },
    /// A stage change; `status` is where the move left the deal (won/lost at the ends).
    DealMoved {
        id: DealId,
        from: StageId,
        to: StageId,
        status: DealStatus,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        lost_reason: Option<String>,
    },
    TaskCreated {
        task: Task,
    },
    TaskCompleted {
        id: TaskId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        outcome: Option<String>,
        fields: CustomValues,
    },
    TaskCancelled {
        id: TaskId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    TaskReassigned {
        id: TaskId,
        from: UserId,
        to: UserId,
    },
    ActivityLogged {
        activity: Activity,
    },
    OwnerAssigned {
        record: AnyId,
        from: UserId,
        to: UserId,
    },
    /// Everything `from` owned (and their open tasks), handed to `to`.
    RecordsReassigned {
        from: UserId,
        to: UserId,
        records: Vec<AnyId>,
    },
}

impl Event {
    /// The IDs this event brings into existence (they advance the ID counters).
    pub fn created_ids(&self) -> Vec<AnyId> {
        match self {
            Event::DepartmentCreated { department } => vec![department.id.into()],
            Event::UserCreated { user } => vec![user.id.into()],
            Event::FieldDefined { field } => vec![field.id.into()],
            Event::ContactCreated { contact } => vec![contact.id.into()],
            Event::CompanyCreated { company } => vec![company.id.into()],
            Event::PipelineCreated { pipeline } => std::iter::once(pipeline.id.into())
                .chain(pipeline.stages.iter().map(|stage| stage.id.into()))
                .collect(),
            Event::DealCreated { deal } => vec![deal.id.into()],
            Event::TaskCreated { task } => vec![task.id.into()],
            Event::ActivityLogged { activity } => vec![activity.id.into()],
            _ => Vec::new(),
        }
    }

    /// The records whose timeline shows this event.
    pub fn records(&self) -> Vec<AnyId> {
        match self {
            Event::DepartmentCreated { department } => vec![department.id.into()],
            Event::UserCreated { user } | Event::UserUpdated { user, .. } => vec![user.id.into()],
            Event::UserDeactivated { id } => vec![(*id).into()],
            Event::FieldDefined { field } => vec![field.id.into()],
            Event::ContactCreated { contact } => vec![contact.id.into()],
            Event::ContactUpdated { id, .. } => vec![(*id).into()],
            Event::CompanyCreated { company } => vec![company.id.into()],
            Event::CompanyUpdated { id, .. } => vec![(*id).into()],
            Event::PipelineCreated { pipeline } => vec![pipeline.id.into()],
            Event::DealCreated { deal } => vec![deal.id.into()],
            Event::DealUpdated { id, .. } | Event::DealMoved { id, .. } => vec![(*id).into()],
            Event::TaskCreated { task } => {
                std::iter::once(task.id.into()).chain(task.link).collect()
            }
            Event::TaskCompleted { id, .. }
            | Event::TaskCancelled { id, .. }
            | Event::TaskReassigned { id, .. } => {
                vec![(*id).into()]
            }
            Event::ActivityLogged { activity } => vec![activity.id.into(), activity.link],
            Event::OwnerAssigned { record, .. } => vec![*record],
            Event::RecordsReassigned { records, .. } => records.clone(),
        }
    }
}

/// An event as stored in the journal: the event and who, when, where and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventEnvelope {
    /// The schema version this envelope was written with.
    pub v: u32,
    /// Position in the journal, from 1, without gaps.
    pub seq: u64,
    /// The replica that recorded the event.
    pub replica: ReplicaId,
    /// The `now` the command was executed with.
    pub at: DateTime<Utc>,
    pub actor: Actor,
    /// The `type` of the command that produced the event.
    pub command: String,
    /// The event that triggered this one through an automation rule, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caused_by: Option<u64>,
    pub event: Event,
}
