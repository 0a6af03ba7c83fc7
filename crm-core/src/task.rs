//! Tasks: work for a user, with a due time, linked to a contact, company or deal.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::access::Actor;
use crate::command::Ctx;
use crate::custom_field::{self, CustomValues, EntityKind};
use crate::error::CrmError;
use crate::event::Event;
use crate::id::{AnyId, TaskId, UserId};
use crate::validate;

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
        deserialize_with = "crate::utc::deserialize_option"
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
    #[serde(deserialize_with = "crate::utc::deserialize")]
    pub created_at: DateTime<Utc>,
    pub created_by: Actor,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::utc::deserialize_option"
    )]
    pub closed_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_by: Option<Actor>,
    /// When it went overdue while open (set once, by the engine's timers).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::utc::deserialize_option"
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

/// Checks that a link points at a contact, company or deal the actor can see.
pub(crate) fn check_link(ctx: &Ctx<'_>, field: &str, link: AnyId) -> Result<(), CrmError> {
    if !matches!(
        link,
        AnyId::ContactId(_) | AnyId::CompanyId(_) | AnyId::DealId(_)
    ) {
        return Err(CrmError::validation(
            field,
            format!(
                "{link} is a {}; link a contact, company or deal",
                link.kind()
            ),
        ));
    }
    ctx.access.require_read(link)
}

/// A task on a record lets its assignee read the record; so only who may change the
/// record may give someone else a task on it (a reminder for oneself needs only read).
fn require_may_send(ctx: &Ctx<'_>, link: Option<AnyId>, assignee: UserId) -> Result<(), CrmError> {
    match link {
        Some(link) if Some(assignee) != ctx.access.user_id() && !ctx.access.can_edit(link) => {
            Err(CrmError::denied(
                ctx.actor(),
                format!(
                    "give {assignee} a task on {} {link} (only who may change the {} may)",
                    link.kind(),
                    link.kind()
                ),
            ))
        }
        _ => Ok(()),
    }
}

/// Handles [`crate::Command::CreateTask`].
pub(crate) fn create(ctx: &mut Ctx<'_>, input: &NewTask) -> Result<Vec<Event>, CrmError> {
    let title = validate::name("title", &input.title)?;
    let kind = validate::key("kind", input.kind.as_deref().unwrap_or("todo"))?;
    let description = validate::optional_text("description", input.description.as_deref())?;
    let assignee = match (input.assignee, ctx.access.user_id()) {
        (Some(user), _) | (None, Some(user)) => user,
        (None, None) => {
            return Err(CrmError::validation(
                "assignee",
                "is required when the actor is system",
            ))
        }
    };
    ctx.access.require_assignable("assignee", assignee)?;
    if let Some(link) = input.link {
        check_link(ctx, "link", link)?;
    }
    require_may_send(ctx, input.link, assignee)?;
    let task = Task {
        id: ctx.next_id(),
        kind,
        title,
        description,
        assignee,
        due: input.due,
        link: input.link,
        status: TaskStatus::Open,
        outcome: None,
        fields: CustomValues::new(),
        created_at: ctx.now,
        created_by: ctx.actor(),
        closed_at: None,
        closed_by: None,
        overdue_at: None,
    };
    Ok(vec![Event::TaskCreated { task }])
}

fn open_task<'s>(ctx: &Ctx<'s>, id: TaskId) -> Result<&'s Task, CrmError> {
    ctx.access.require_edit(AnyId::TaskId(id))?;
    let task = &ctx.state.tasks[&id];
    if task.status != TaskStatus::Open {
        return Err(CrmError::conflict(format!(
            "task {id} is already {}",
            validate::json_name(&task.status)
        )));
    }
    Ok(task)
}

/// Handles [`crate::Command::CompleteTask`]: the assignee, or whoever may edit the linked record.
pub(crate) fn complete(
    ctx: &mut Ctx<'_>,
    completion: &TaskCompletion,
) -> Result<Vec<Event>, CrmError> {
    let id = completion.id;
    let task = open_task(ctx, id)?;
    let outcome = match completion.outcome.as_deref() {
        None => None,
        Some(outcome) => Some(validate::key("outcome", outcome)?),
    };
    // Task fields are per-kind results, so `required` is not enforced across all kinds.
    let definitions = ctx.state.fields.get(&EntityKind::Task);
    let fields = custom_field::apply_changes(
        definitions,
        &task.fields,
        &completion.fields,
        ctx.region,
        false,
    )?;
    Ok(vec![Event::TaskCompleted {
        id,
        outcome,
        fields,
    }])
}

/// Handles [`crate::Command::CancelTask`].
pub(crate) fn cancel(
    ctx: &mut Ctx<'_>,
    id: TaskId,
    reason: Option<&str>,
) -> Result<Vec<Event>, CrmError> {
    open_task(ctx, id)?;
    let reason = validate::optional_text("reason", reason)?;
    Ok(vec![Event::TaskCancelled { id, reason }])
}

/// Handles [`crate::Command::ReassignTask`].
pub(crate) fn reassign(
    ctx: &mut Ctx<'_>,
    id: TaskId,
    assignee: UserId,
) -> Result<Vec<Event>, CrmError> {
    let task = open_task(ctx, id)?;
    ctx.access.require_assignable("assignee", assignee)?;
    if task.assignee == assignee {
        return Ok(Vec::new());
    }
    require_may_send(ctx, task.link, assignee)?;
    Ok(vec![Event::TaskReassigned {
        id,
        from: task.assignee,
        to: assignee,
    }])
}
