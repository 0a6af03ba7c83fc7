//! Handlers for activity (the data is in `crate::model::activity`).

use crate::common::error::CrmError;
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
    };
    Ok(vec![Event::ActivityLogged { activity }])
}
