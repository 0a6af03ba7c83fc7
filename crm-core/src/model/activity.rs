//! Activities: calls, e-mails, meetings and notes logged on a contact, company or deal.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::common::id::{ActivityId, AnyId};
use crate::common::validate;
use crate::model::actor::Actor;

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ActivityKind {
    Call,
    Email,
    Meeting,
    Note,
    /// A request left on the website.
    WebForm,
}

impl ActivityKind {
    /// Its JSON name, e.g. `"web_form"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ActivityKind::Call => "call",
            ActivityKind::Email => "email",
            ActivityKind::Meeting => "meeting",
            ActivityKind::Note => "note",
            ActivityKind::WebForm => "web_form",
        }
    }
}

/// Who started a call or e-mail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Inbound,
    Outbound,
}

/// A stored activity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Activity {
    pub id: ActivityId,
    pub kind: ActivityKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<Direction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    pub link: AnyId,
    /// When it happened (may be earlier than when it was logged).
    #[serde(deserialize_with = "crate::common::utc::deserialize")]
    pub occurred_at: DateTime<Utc>,
    #[serde(deserialize_with = "crate::common::utc::deserialize")]
    pub logged_at: DateTime<Utc>,
    pub logged_by: Actor,
    /// The source system's own ID (a PBX call ID, an e-mail's Message-ID): intake logs
    /// each once however often it is delivered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// When its text was last edited (`update_activity`); the journal keeps every version.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::common::utc::deserialize_option"
    )]
    pub edited_at: Option<DateTime<Utc>>,
}

impl Activity {
    /// The text its author may edit.
    pub fn text(&self) -> ActivityText {
        ActivityText {
            subject: self.subject.clone(),
            body: self.body.clone(),
            outcome: self.outcome.clone(),
        }
    }
}

/// An activity's editable text, as it is after an edit (in `activity_updated`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ActivityText {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
}

/// Changes to an activity's text for [`crate::Command::UpdateActivity`]; a field left
/// out stays, `null` clears it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ActivityPatch {
    #[serde(
        default,
        deserialize_with = "validate::nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub subject: Option<Option<String>>,
    #[serde(
        default,
        deserialize_with = "validate::nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub body: Option<Option<String>>,
    #[serde(
        default,
        deserialize_with = "validate::nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub outcome: Option<Option<String>>,
}

/// Input for [`crate::Command::LogActivity`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct NewActivity {
    pub kind: ActivityKind,
    pub link: AnyId,
    #[serde(default)]
    pub direction: Option<Direction>,
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub duration_seconds: Option<u32>,
    #[serde(default)]
    pub outcome: Option<String>,
    /// Defaults to `now`.
    #[serde(default)]
    pub occurred_at: Option<DateTime<Utc>>,
}
