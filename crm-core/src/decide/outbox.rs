//! Handlers for outbox (the data is in `crate::model::outbox`).

use crate::common::error::CrmError;
use crate::common::id::{AnyId, UserId};
use crate::common::validate;
use crate::decide::Ctx;
use crate::event::Event;
use crate::model::outbox::*;
use crate::model::rule::Channel;

/// Handles [`crate::Command::AckEffects`]: admins and the system. Acking an effect
/// twice is fine (deliveries may be repeated); acking one that never existed is not.
pub(crate) fn ack(ctx: &mut Ctx<'_>, input: &Acknowledgement) -> Result<Vec<Event>, CrmError> {
    ctx.access.require_admin("acknowledge outbox effects")?;
    if input.ids.len() > 10_000 {
        return Err(CrmError::too_large("ids", 10_000, input.ids.len()));
    }
    let mut pending = Vec::new();
    for (index, id) in input.ids.iter().enumerate() {
        if !ctx.state.effects.contains_key(id) {
            return Err(CrmError::validation(
                format!("ids[{index}]"),
                format!("no effect {id} was ever queued"),
            ));
        }
        if ctx.state.outbox.contains(id) && !pending.contains(id) {
            pending.push(*id);
        }
    }
    if pending.is_empty() {
        return Ok(Vec::new());
    }
    Ok(vec![Event::EffectsAcknowledged { ids: pending }])
}

/// The notification effects for `recipients`, one each.
pub(crate) fn notifications(
    ctx: &mut Ctx<'_>,
    recipients: &[UserId],
    channel: Channel,
    text: &str,
    record: Option<AnyId>,
    escalation: bool,
) -> Result<Vec<Event>, CrmError> {
    let text = validate::optional_text("text", Some(text))?
        .ok_or_else(|| CrmError::validation("text", "the rendered text is empty"))?;
    Ok(recipients
        .iter()
        .map(|to| Event::EffectQueued {
            effect: Effect {
                id: ctx.next_id(),
                at: ctx.now,
                subject: record,
                body: EffectBody::Notification {
                    to: *to,
                    email: ctx.state.users.get(to).and_then(|u| u.email.clone()),
                    channel,
                    text: text.clone(),
                    escalation,
                },
            },
        })
        .collect())
}
