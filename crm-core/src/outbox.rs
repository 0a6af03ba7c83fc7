//! The outbox: notifications, webhooks and documents the host delivers. The engine
//! never sends anything; the host drains pending effects, delivers them and acks them.
//! Until acked an effect is handed out again (at-least-once), so receivers dedupe on
//! its ID, which is its idempotency key.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::command::Ctx;
use crate::document::Format;
use crate::error::CrmError;
use crate::event::Event;
use crate::id::{AnyId, DocumentId, EffectId, UserId};
use crate::rule::Channel;
use crate::validate;

/// Something for the host to deliver.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Effect {
    /// Also the idempotency key: the same effect handed out twice has the same ID.
    pub id: EffectId,
    /// When it was queued (for a rule, the trigger's time).
    #[serde(deserialize_with = "crate::utc::deserialize")]
    pub at: DateTime<Utc>,
    /// The record it is about (not `record`, which tags records in `get` results).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<AnyId>,
    #[serde(flatten)]
    pub body: EffectBody,
}

/// What to deliver. JSON: `{"kind": "notification", ...}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EffectBody {
    Notification {
        to: UserId,
        /// The recipient's address for `email` (absent when the user has none).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        email: Option<String>,
        channel: Channel,
        text: String,
        /// Sent because something went wrong (an overdue task, a breached SLA).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        escalation: bool,
    },
    Webhook {
        url: String,
        name: String,
        payload: Value,
    },
    Document {
        document: DocumentId,
        template: String,
        format: Format,
        content: String,
    },
}

/// Input for [`crate::Command::AckEffects`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Acknowledgement {
    pub ids: Vec<EffectId>,
}

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
