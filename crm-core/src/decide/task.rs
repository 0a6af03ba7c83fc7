//! Handlers for task (the data is in `crate::model::task`).

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::common::calendar::Span;
use crate::common::diff;
use crate::common::error::CrmError;
use crate::common::hlc::Hlc;
use crate::common::id::{AnyId, TaskId, UserId};
use crate::common::validate;
use crate::decide::Ctx;
use crate::event::Event;
use crate::model::custom_field::{self, CustomValues, EntityKind};
use crate::model::task::*;

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
    let repeat = match (&input.repeat, input.due) {
        (None, _) => None,
        (Some(_), None) => {
            return Err(CrmError::validation(
                "repeat",
                "needs a due time to repeat from; give the task a `due`",
            ))
        }
        (Some(rule), Some(due)) => Some(Box::new(TaskSeries {
            rule: check_repeat(rule)?,
            first_due: due,
            occurrence: 1,
            previous: None,
            next: None,
        })),
    };
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
        repeat,
    };
    Ok(vec![Event::TaskCreated { task }])
}

/// The most a repetition's interval or count may be (a typo, not a schedule, beyond).
const MAX_REPEAT: u32 = 1_000;

fn check_repeat(rule: &Repeat) -> Result<Repeat, CrmError> {
    if !(1..=MAX_REPEAT).contains(&rule.interval) {
        return Err(CrmError::validation(
            "repeat.interval",
            format!("{} is not between 1 and {MAX_REPEAT}", rule.interval),
        ));
    }
    if let Some(count) = rule.count.filter(|count| !(1..=MAX_REPEAT).contains(count)) {
        return Err(CrmError::validation(
            "repeat.count",
            format!("{count} is not between 1 and {MAX_REPEAT}"),
        ));
    }
    if !rule.on.is_empty() && rule.every != Every::Week {
        return Err(CrmError::validation(
            "repeat.on",
            "weekdays are for weekly repeats (`\"every\": \"week\"`)",
        ));
    }
    let mut rule = rule.clone();
    rule.on.sort();
    rule.on.dedup();
    Ok(rule)
}

/// The task that follows a repeating task completed now: same title, kind, description,
/// assignee and link, due at the series' next occurrence; none when the series is
/// over or already went on (a task reopened and completed again).
fn next_in_series(ctx: &mut Ctx<'_>, task: &Task) -> Option<Task> {
    let series = task
        .repeat
        .as_ref()
        .filter(|series| series.next.is_none())?;
    let previous = task.due?;
    let (occurrence, due) = series.next_due(&ctx.state.calendar, previous)?;
    Some(Task {
        id: ctx.next_id(),
        kind: task.kind.clone(),
        title: task.title.clone(),
        description: task.description.clone(),
        assignee: task.assignee,
        due: Some(due),
        link: task.link,
        status: TaskStatus::Open,
        outcome: None,
        fields: CustomValues::new(),
        created_at: ctx.now,
        created_by: ctx.actor(),
        closed_at: None,
        closed_by: None,
        overdue_at: None,
        repeat: Some(Box::new(TaskSeries {
            rule: series.rule.clone(),
            first_due: series.first_due,
            occurrence,
            previous: Some(task.id),
            next: None,
        })),
    })
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
    if let Some(events) = completed_meanwhile(ctx, completion)? {
        return Ok(events);
    }
    let task = open_task(ctx, id)?;
    let outcome = match completion.outcome.as_deref() {
        None => None,
        Some(outcome) => Some(validate::key("outcome", outcome)?),
    };
    let fields = completed_fields(ctx, task, completion)?;
    let mut events = vec![Event::TaskCompleted {
        id,
        outcome,
        fields,
    }];
    // A repeating task: the next one, exactly once (the series remembers it).
    let task = task.clone();
    if let Some(next) = next_in_series(ctx, &task) {
        events.push(Event::TaskCreated { task: next });
    }
    Ok(events)
}

/// A replica's completion (with [`Ctx::hlc`]) of a task completed meanwhile — on
/// another replica or at the office: the task stays completed once and nothing fires
/// again (docs/sync.md); what this completion says differently (its outcome, its
/// figures) is kept on the task's timeline as `field_conflict`s. `None` when the task
/// is not done, or the completion is local.
fn completed_meanwhile(
    ctx: &Ctx<'_>,
    completion: &TaskCompletion,
) -> Result<Option<Vec<Event>>, CrmError> {
    let Some(hlc) = ctx.hlc else {
        return Ok(None);
    };
    let id = completion.id;
    ctx.access.require_edit(AnyId::TaskId(id))?;
    let task = &ctx.state.tasks[&id];
    if task.status != TaskStatus::Done {
        return Ok(None);
    }
    let kept = Hlc::at(task.closed_at.unwrap_or(task.created_at));
    let conflict = |field: String, value: Value| Event::FieldConflict {
        record: id.into(),
        field,
        value,
        hlc,
        kept,
    };
    let mut events = Vec::new();
    if let Some(outcome) = completion.outcome.as_deref() {
        let outcome = validate::key("outcome", outcome)?;
        if task.outcome.as_ref() != Some(&outcome) {
            events.push(conflict("outcome".into(), Value::String(outcome)));
        }
    }
    for (key, value) in &completed_fields(ctx, task, completion)? {
        if task.fields.get(key) != Some(value) {
            let value = serde_json::to_value(value).map_err(|err| CrmError::Storage {
                reason: format!("a field of {id}: {err}"),
            })?;
            events.push(conflict(format!("custom.{key}"), value));
        }
    }
    Ok(Some(events))
}

/// The task's fields with a completion's figures checked and applied. Task fields are
/// per-kind results, so `required` is not enforced across all kinds.
fn completed_fields(
    ctx: &Ctx<'_>,
    task: &Task,
    completion: &TaskCompletion,
) -> Result<CustomValues, CrmError> {
    custom_field::apply_changes(
        ctx.state.fields.get(&EntityKind::Task),
        &task.fields,
        &completion.fields,
        ctx.region,
        false,
    )
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

/// Handles [`crate::Command::UpdateTask`]: whoever may edit the task, open or closed.
pub(crate) fn update(
    ctx: &mut Ctx<'_>,
    id: TaskId,
    patch: &TaskPatch,
) -> Result<Vec<Event>, CrmError> {
    ctx.access.require_edit(AnyId::TaskId(id))?;
    let task = &ctx.state.tasks[&id];
    let before = TaskFields {
        title: task.title.clone(),
        kind: task.kind.clone(),
        description: task.description.clone(),
    };
    let mut fields = before.clone();
    if let Some(title) = &patch.title {
        fields.title = validate::name("title", title)?;
    }
    if let Some(kind) = &patch.kind {
        fields.kind = validate::key("kind", kind)?;
    }
    if let Some(description) = &patch.description {
        fields.description = validate::optional_text("description", description.as_deref())?;
    }
    let mut events = ctx.keep_later_edits(AnyId::TaskId(id), &before, &mut fields)?;
    let changed = diff::changed_keys(&before, &fields);
    if changed.is_empty() {
        return Ok(events);
    }
    events.push(Event::TaskUpdated {
        id,
        fields,
        changed,
        hlc: ctx.hlc,
    });
    Ok(events)
}

/// Handles [`crate::Command::RescheduleTask`]: an open task gets a new due time (or
/// none). The same due time again changes nothing.
pub(crate) fn reschedule(
    ctx: &mut Ctx<'_>,
    id: TaskId,
    due: Option<DateTime<Utc>>,
) -> Result<Vec<Event>, CrmError> {
    let task = open_task(ctx, id)?;
    if task.due == due {
        return Ok(Vec::new());
    }
    Ok(vec![Event::TaskRescheduled {
        id,
        from: task.due,
        to: due,
    }])
}

/// Handles [`crate::Command::SnoozeTask`]: due again `by` from now, in clock time or
/// (`working`) in the business calendar's working time.
pub(crate) fn snooze(ctx: &mut Ctx<'_>, input: &TaskSnooze) -> Result<Vec<Event>, CrmError> {
    if input.by == Span::ZERO {
        return Err(CrmError::validation(
            "by",
            "is zero; snooze by at least a minute",
        ));
    }
    let due = if input.working {
        ctx.state.calendar.add_working(ctx.now, input.by)?
    } else {
        ctx.now + input.by.as_duration()
    };
    reschedule(ctx, input.id, Some(due))
}

/// Handles [`crate::Command::ReopenTask`]: a completed or cancelled task is open again
/// (its outcome cleared; its results stay until it is completed again).
pub(crate) fn reopen(ctx: &mut Ctx<'_>, id: TaskId) -> Result<Vec<Event>, CrmError> {
    ctx.access.require_edit(AnyId::TaskId(id))?;
    let task = &ctx.state.tasks[&id];
    if task.status == TaskStatus::Open {
        return Err(CrmError::conflict(format!("task {id} is already open")));
    }
    ctx.access.require_assignable("assignee", task.assignee)?;
    Ok(vec![Event::TaskReopened { id }])
}
