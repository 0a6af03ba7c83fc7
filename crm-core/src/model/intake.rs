//! What intake carries: how intake is configured, and what the host hands over — a web
//! form's submission, a PBX's call record, a raw e-mail (decide/intake/ reads them).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::common::id::{PipelineId, UserId};
use crate::common::normalize::EmailPolicy;
use crate::model::activity::Direction;

/// The tag a contact gets when it was created beside a likely duplicate.
pub(crate) const POSSIBLE_DUPLICATE_TAG: &str = "possible-duplicate";

/// How intake works for this business: `configure_intake` (admin). Everything has a
/// default, so intake works unconfigured as long as an owner for new leads is known.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default, deny_unknown_fields)]
pub struct IntakeSettings {
    /// Who owns the contacts and deals intake creates (a form or line may name
    /// another). Needed before intake can create anything.
    pub owner: Option<UserId>,
    /// The pipeline new leads become deals in (its first stage); without one, intake
    /// creates the contact and logs the request, and no deal.
    pub pipeline: Option<PipelineId>,
    /// What happens when what arrived matches an existing contact.
    pub on_duplicate: DuplicatePolicy,
    /// How e-mail addresses are matched (plus-address folding per domain).
    pub email: EmailPolicy,
    /// Web forms by their ID: where their leads go and how their fields map.
    pub forms: BTreeMap<String, FormSettings>,
    /// Telephone lines (numbers or extensions) and where their callers' leads go.
    pub lines: BTreeMap<String, RouteSettings>,
    /// Calls from numbers no contact has stay unlogged instead of becoming leads.
    pub ignore_unknown_callers: bool,
    /// E-mail from addresses no contact has becomes a lead (off by default: most
    /// unknown mail is not a client).
    pub leads_from_email: bool,
}

/// On a match with an existing contact: use it (the default), create a new contact
/// tagged `possible-duplicate` for someone to merge or keep, or refuse the request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum DuplicatePolicy {
    #[default]
    Attach,
    CreateAndFlag,
    Reject,
}

/// Where one form's or line's leads go (each falls back to the intake-wide setting).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default, deny_unknown_fields)]
pub struct RouteSettings {
    pub owner: Option<UserId>,
    pub pipeline: Option<PipelineId>,
    /// The lead source recorded on contact and deal (forms default to the page's
    /// `utm_source`, then `"website"`; calls to `"phone"`).
    pub source: Option<String>,
}

/// One web form: its route and its field mapping.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default, deny_unknown_fields)]
pub struct FormSettings {
    #[serde(flatten)]
    pub route: RouteSettings,
    /// The form's field names → where each goes: `name`, `phone`, `email`, `address`,
    /// `position`, `message`, `title` (the deal's), `contact.<custom key>`,
    /// `deal.<custom key>`, or `ignore`. Unmapped fields are guessed by common names
    /// (`name`, `phone`/`tel`, `email`, `message`/`comment`…), and what is left goes
    /// into the logged request's text.
    pub fields: BTreeMap<String, String>,
}

// Telephony.

/// How a call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum CallOutcome {
    Answered,
    Missed,
    Busy,
    Voicemail,
}

/// A call in the generic webhook format (docs/integrations.md).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct IncomingCall {
    pub direction: Direction,
    /// The calling and the called number, as the PBX gives them.
    pub from: String,
    pub to: String,
    /// The line or extension it came in on or went out from.
    #[serde(default)]
    pub line: Option<String>,
    pub started_at: DateTime<Utc>,
    #[serde(default)]
    pub answered_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub ended_at: Option<DateTime<Utc>>,
    pub outcome: CallOutcome,
    /// Where the recording is (a URL or the PBX's file name).
    #[serde(default)]
    pub recording: Option<String>,
    /// The PBX's ID of the call: a call delivered twice is logged once.
    #[serde(default)]
    pub call_id: Option<String>,
}

/// The fields of an Asterisk AMI `Cdr` event (`Source`, `Destination`, `StartTime`,
/// `AnswerTime`, `EndTime`, `Disposition`, `UniqueID`, `LastApplication`, …), split
/// into a map by the host. Times are the PBX's local time, read in the business
/// calendar's time zone.
pub(crate) type AmiCdr = BTreeMap<String, String>;

/// Input for [`crate::Command::ReceiveCall`]: exactly one of the formats.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default, deny_unknown_fields)]
pub struct CallReport {
    pub call: Option<IncomingCall>,
    pub asterisk_cdr: Option<AmiCdr>,
}

// E-mail.

/// Input for [`crate::Command::ReceiveEmail`]: one message, exactly one of `raw` (the
/// message as text) and `raw_base64` (its bytes, for 8-bit bodies in other charsets).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default, deny_unknown_fields)]
pub struct EmailMessage {
    pub raw: Option<String>,
    pub raw_base64: Option<String>,
    /// The business's own addresses: a message from one of them was sent (outbound)
    /// and is logged on the recipient.
    pub mailbox: Vec<String>,
}

// Web forms.

/// Input for [`crate::Command::ReceiveForm`]: one submission, as the website got it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct FormSubmission {
    /// The form's ID, as configured in `configure_intake` (any form is accepted).
    pub form: String,
    /// The submitted fields, as text.
    pub fields: BTreeMap<String, String>,
    /// The page the form was on.
    #[serde(default)]
    pub page: Option<String>,
    /// Campaign tags from the page's address: `utm_source`, `utm_medium`, ….
    #[serde(default)]
    pub utm: BTreeMap<String, String>,
    /// When the website received it (defaults to `now`).
    #[serde(default)]
    pub received_at: Option<DateTime<Utc>>,
}
