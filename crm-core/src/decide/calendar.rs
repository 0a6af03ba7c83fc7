//! Handlers for calendar (the data is in `crate::model::calendar`).

use crate::common::calendar::*;
use crate::common::error::CrmError;
use crate::decide::Ctx;
use crate::event::Event;

/// Handles [`crate::Command::SetCalendar`]: admins only.
pub(crate) fn set(ctx: &mut Ctx<'_>, calendar: &Calendar) -> Result<Vec<Event>, CrmError> {
    ctx.access.require_admin("set the business calendar")?;
    calendar.validate()?;
    if *calendar == ctx.state.calendar {
        return Ok(Vec::new());
    }
    Ok(vec![Event::CalendarSet {
        calendar: calendar.clone(),
    }])
}
