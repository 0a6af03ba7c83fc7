//! Tasks: work for a user, with a due time, linked to a contact, company or deal.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::common::calendar::Span;
use crate::common::id::{AnyId, TaskId, UserId};
use crate::common::validate;
use crate::model::actor::Actor;
use crate::model::custom_field::CustomValues;

/// Where a task stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    Open,
    Done,
    Cancelled,
}

/// A stored task.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Task {
    pub id: TaskId,
    /// What sort of work, e.g. `"call"` or `"measurement"`; rules match on it.
    pub kind: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub assignee: UserId,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::common::utc::deserialize_option"
    )]
    pub due: Option<DateTime<Utc>>,
    /// The contact, company or deal the task is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<AnyId>,
    pub status: TaskStatus,
    /// How it went, e.g. `"reached"` or `"no_answer"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// Results entered on completion, typed by the task field definitions.
    #[serde(default)]
    pub fields: CustomValues,
    #[serde(deserialize_with = "crate::common::utc::deserialize")]
    pub created_at: DateTime<Utc>,
    pub created_by: Actor,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::common::utc::deserialize_option"
    )]
    pub closed_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_by: Option<Actor>,
    /// The due time at which it last went overdue while open (set by the engine's
    /// timers; a task rescheduled to a new due time can go overdue again, once).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::common::utc::deserialize_option"
    )]
    pub overdue_at: Option<DateTime<Utc>>,
}

impl Task {
    /// Open and at or past its due time at `now` (a task due 10:00 is late from 10:00).
    pub fn is_overdue(&self, now: DateTime<Utc>) -> bool {
        self.status == TaskStatus::Open && self.due.is_some_and(|due| due <= now)
    }
}

/// Input for [`crate::Command::CreateTask`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct NewTask {
    pub title: String,
    /// Defaults to `"todo"`.
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// Defaults to the acting user; required when the actor is `system`.
    #[serde(default)]
    pub assignee: Option<UserId>,
    #[serde(default)]
    pub due: Option<DateTime<Utc>>,
    #[serde(default)]
    pub link: Option<AnyId>,
}

/// Input for [`crate::Command::CompleteTask`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct TaskCompletion {
    pub id: TaskId,
    #[serde(default)]
    pub outcome: Option<String>,
    /// Raw values by key, checked against the task field definitions.
    #[serde(default)]
    pub fields: BTreeMap<String, Value>,
}

/// A task's editable fields as they are after an update (`task_updated`; the due time
/// changes through `reschedule_task` and `snooze_task`, the assignee through
/// `reassign_task`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct TaskFields {
    pub title: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// Input for [`crate::Command::UpdateTask`]: absent fields stay, `null` clears the
/// description.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default, deny_unknown_fields)]
pub struct TaskPatch {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(
        deserialize_with = "validate::nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub description: Option<Option<String>>,
}

/// Input for [`crate::Command::RescheduleTask`]: the new due time (`null`: none).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct TaskReschedule {
    pub id: TaskId,
    pub due: Option<DateTime<Utc>>,
}

/// Input for [`crate::Command::SnoozeTask`]: due again `by` from now, in clock time,
/// or in the business calendar's working time with `working`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct TaskSnooze {
    pub id: TaskId,
    pub by: Span,
    #[serde(default)]
    pub working: bool,
}
