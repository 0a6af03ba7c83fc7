//! Handlers for activity (the data is in `crate::model::activity`).

use crate::common::diff;
use crate::common::error::CrmError;
use crate::common::id::{ActivityId, AnyId};
use crate::common::validate;
use crate::decide::Ctx;
use crate::event::Event;
use crate::model::activity::*;

/// Longest activity the engine accepts: one week.
const MAX_DURATION_SECONDS: u32 = 7 * 24 * 3600;

/// Handles [`crate::Command::LogActivity`]: anyone who can see the linked record.
pub(crate) fn log(ctx: &mut Ctx<'_>, input: &NewActivity) -> Result<Vec<Event>, CrmError> {
    super::task::check_link(ctx, "link", input.link)?;
    let subject = validate::optional_name("subject", input.subject.as_deref())?;
    let body = validate::optional_text("body", input.body.as_deref())?;
    if input.kind == ActivityKind::Note && subject.is_none() && body.is_none() {
        return Err(CrmError::validation(
            "body",
            "a note needs a subject or a body",
        ));
    }
    if let Some(seconds) = input.duration_seconds.filter(|s| *s > MAX_DURATION_SECONDS) {
        return Err(CrmError::validation(
            "duration_seconds",
            format!("{seconds} is longer than a week"),
        ));
    }
    let outcome = match input.outcome.as_deref() {
        None => None,
        Some(outcome) => Some(validate::key("outcome", outcome)?),
    };
    let activity = Activity {
        id: ctx.next_id(),
        kind: input.kind,
        direction: input.direction,
        subject,
        body,
        duration_seconds: input.duration_seconds,
        outcome,
        link: input.link,
        occurred_at: input.occurred_at.unwrap_or(ctx.now),
        logged_at: ctx.now,
        logged_by: ctx.actor(),
        external_id: None,
        edited_at: None,
    };
    Ok(vec![Event::ActivityLogged { activity }])
}

/// Handles [`crate::Command::UpdateActivity`]: its author changes its subject, body or
/// outcome (nobody rewrites another's words, admins included); the journal keeps each
/// version. The same text again changes nothing.
pub(crate) fn update(
    ctx: &mut Ctx<'_>,
    id: ActivityId,
    patch: &ActivityPatch,
) -> Result<Vec<Event>, CrmError> {
    let activity = authored(ctx, id, "edit")?;
    let before = activity.text();
    let mut text = before.clone();
    if let Some(subject) = &patch.subject {
        text.subject = validate::optional_name("patch.subject", subject.as_deref())?;
    }
    if let Some(body) = &patch.body {
        text.body = validate::optional_text("patch.body", body.as_deref())?;
    }
    if let Some(outcome) = &patch.outcome {
        text.outcome = match outcome.as_deref() {
            None => None,
            Some(outcome) => Some(validate::key("patch.outcome", outcome)?),
        };
    }
    if activity.kind == ActivityKind::Note && text.subject.is_none() && text.body.is_none() {
        return Err(CrmError::validation(
            "patch.body",
            "a note needs a subject or a body (delete_activity removes the note)",
        ));
    }
    let changed = diff::changed_keys(&before, &text);
    if changed.is_empty() {
        return Ok(Vec::new());
    }
    Ok(vec![Event::ActivityUpdated {
        id,
        link: activity.link,
        text,
        changed,
    }])
}

/// Handles [`crate::Command::DeleteActivity`]: a note, by its author or an admin.
/// Calls, e-mails and meetings are the record of work done that reports count; they
/// are corrected with `update_activity`, not deleted.
pub(crate) fn delete(ctx: &mut Ctx<'_>, id: ActivityId) -> Result<Vec<Event>, CrmError> {
    let activity = if ctx.access.is_admin() {
        ctx.access.require_read(AnyId::ActivityId(id))?;
        &ctx.state.activities[&id]
    } else {
        authored(ctx, id, "delete")?
    };
    if activity.kind != ActivityKind::Note {
        return Err(CrmError::validation(
            "id",
            format!(
                "{id} is a {} and only notes are deleted: calls, e-mails, meetings and \
                 requests are the record of work done (correct their text with update_activity)",
                activity.kind.as_str()
            ),
        ));
    }
    Ok(vec![Event::ActivityDeleted {
        id,
        link: activity.link,
    }])
}

/// The activity, if the actor logged it and may still see it.
fn authored<'s>(ctx: &Ctx<'s>, id: ActivityId, verb: &str) -> Result<&'s Activity, CrmError> {
    ctx.access.require_read(AnyId::ActivityId(id))?;
    let activity = &ctx.state.activities[&id];
    if activity.logged_by != ctx.actor() {
        return Err(CrmError::denied(
            ctx.actor(),
            format!(
                "{verb} {id}, which {} logged: only its author may",
                activity.logged_by
            ),
        ));
    }
    Ok(activity)
}
