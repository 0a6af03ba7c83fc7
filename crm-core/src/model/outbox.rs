//! The outbox: notifications, webhooks and documents the host delivers. The engine
//! never sends anything; the host drains pending effects, delivers them and acks them.
//! Until acked an effect is handed out again (at-least-once), so receivers dedupe on
//! its ID, which is its idempotency key.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::common::id::{AnyId, ContactId, DocumentId, EffectId, UserId};
use crate::model::document::Format;
use crate::model::rule::Channel;

/// Something for the host to deliver.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Effect {
    /// Also the idempotency key: the same effect handed out twice has the same ID.
    pub id: EffectId,
    /// When it was queued (for a rule, the trigger's time).
    #[serde(deserialize_with = "crate::common::utc::deserialize")]
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
    /// A message to a client (a contact), sent only with their consent for the channel.
    Message {
        contact: ContactId,
        /// `email` or `sms`.
        channel: Channel,
        /// The e-mail address or phone (E.164) it goes to.
        address: String,
        text: String,
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
