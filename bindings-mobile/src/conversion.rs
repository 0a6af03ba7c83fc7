//! The one place where UniFFI records become engine inputs and engine values become
//! records. Amounts cross as decimal strings (Kotlin `BigDecimal(amount)`), IDs as
//! strings, `now` as an instant (`java.time.Instant`, Swift `Date`).

use std::collections::{BTreeMap, HashMap};
use std::time::SystemTime;

use chrono::{DateTime, NaiveDate, Utc};
use crm_core::CrmError as CoreError;

use crate::errors::{CrmError, IntoFfi};

pub(crate) fn instant(now: SystemTime) -> Result<DateTime<Utc>, CrmError> {
    let (seconds, nanos) = match now.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(after) => (i64::try_from(after.as_secs()).ok(), after.subsec_nanos()),
        Err(before) => {
            let before = before.duration();
            let (secs, nanos) = (before.as_secs(), before.subsec_nanos());
            // -1.25 s is -2 s + 0.75 s.
            let secs = i64::try_from(secs)
                .ok()
                .map(|s| if nanos > 0 { -s - 1 } else { -s });
            (secs, if nanos > 0 { 1_000_000_000 - nanos } else { 0 })
        }
    };
    seconds
        .and_then(|seconds| DateTime::from_timestamp(seconds, nanos))
        .ok_or_else(|| CoreError::validation("now", "is outside the representable range").into())
}

/// An engine time as the platform's instant (the inverse of [`instant`]).
pub(crate) fn system_time(at: DateTime<Utc>) -> SystemTime {
    // `timestamp` is floored, so the sub-second part is always added.
    let seconds = std::time::Duration::from_secs(at.timestamp().unsigned_abs());
    let nanos = std::time::Duration::from_nanos(at.timestamp_subsec_nanos().into());
    if at.timestamp() >= 0 {
        SystemTime::UNIX_EPOCH + seconds + nanos
    } else {
        SystemTime::UNIX_EPOCH - seconds + nanos
    }
}

/// An actor or ID from its string form; the core's error names the kind and the value.
pub(crate) fn parse<T: std::str::FromStr<Err = CoreError>>(text: &str) -> Result<T, CrmError> {
    text.parse().ffi()
}

fn optional_id<T: std::str::FromStr<Err = CoreError>>(
    text: Option<String>,
) -> Result<Option<T>, CrmError> {
    text.map(|text| parse(&text)).transpose()
}

/// The actor, `now` and JSON request of a report or chart.
pub(crate) fn report_input(
    actor: &str,
    now: SystemTime,
    request_json: &str,
) -> Result<(crm_core::Actor, DateTime<Utc>, crm_core::ReportRequest), CrmError> {
    let request = serde_json::from_str(request_json).map_err(|err| CoreError::Malformed {
        path: "request".into(),
        reason: err.to_string(),
    });
    Ok((parse(actor)?, instant(now)?, request.ffi()?))
}

pub(crate) fn write_json<T: serde::Serialize>(value: &T) -> Result<String, CrmError> {
    serde_json::to_string(value).map_err(|err| {
        CoreError::Storage {
            reason: err.to_string(),
        }
        .into()
    })
}

/// An amount in a currency; `amount` is a decimal string such as `"1499.99"`.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Money {
    pub amount: String,
    pub currency: String,
}

impl TryFrom<Money> for crm_core::Money {
    type Error = CrmError;
    fn try_from(money: Money) -> Result<Self, CrmError> {
        crm_core::Money::parse(&money.amount, &money.currency).ffi()
    }
}

impl From<crm_core::Money> for Money {
    fn from(money: crm_core::Money) -> Self {
        Money {
            amount: money.amount().to_string(),
            currency: money.currency().to_string(),
        }
    }
}

/// Input for `Crm.createContact`: every field of a contact.
#[derive(Debug, Clone, uniffi::Record)]
pub struct NewContact {
    pub name: String,
    #[uniffi(default)]
    pub phones: Vec<String>,
    #[uniffi(default)]
    pub emails: Vec<String>,
    #[uniffi(default = None)]
    pub company: Option<String>,
    #[uniffi(default = None)]
    pub position: Option<String>,
    #[uniffi(default = None)]
    pub owner: Option<String>,
    #[uniffi(default = None)]
    pub source: Option<String>,
    #[uniffi(default = None)]
    pub address: Option<String>,
    #[uniffi(default)]
    pub tags: Vec<String>,
    /// Custom field values by key, checked against the contact field definitions.
    #[uniffi(default)]
    pub custom: HashMap<String, FieldInput>,
    /// Marketing consent; all `false` when not given.
    #[uniffi(default = None)]
    pub consent: Option<Consent>,
}

impl TryFrom<NewContact> for crm_core::NewContact {
    type Error = CrmError;
    fn try_from(input: NewContact) -> Result<Self, CrmError> {
        Ok(crm_core::NewContact {
            name: input.name,
            company: optional_id(input.company)?,
            position: input.position,
            phones: input.phones,
            emails: input.emails,
            address: input.address,
            source: input.source,
            owner: optional_id(input.owner)?,
            tags: input.tags,
            custom: field_values(input.custom),
            consent: input.consent.map(Into::into).unwrap_or_default(),
        })
    }
}

/// What a contact agreed to be contacted by for marketing.
#[derive(Debug, Clone, Copy, uniffi::Record)]
pub struct Consent {
    #[uniffi(default = false)]
    pub email: bool,
    #[uniffi(default = false)]
    pub sms: bool,
    #[uniffi(default = false)]
    pub calls: bool,
}

impl From<Consent> for crm_core::Consent {
    fn from(consent: Consent) -> Self {
        crm_core::Consent {
            email: consent.email,
            sms: consent.sms,
            calls: consent.calls,
        }
    }
}

/// A value for a custom field or a task's outcome field, typed as the field is.
#[derive(Debug, Clone, uniffi::Enum)]
pub enum FieldInput {
    Text {
        value: String,
    },
    Number {
        value: i64,
    },
    /// An exact decimal as text, e.g. `"1450.5"`.
    Decimal {
        value: String,
    },
    Bool {
        value: bool,
    },
    /// A day, `YYYY-MM-DD`.
    Date {
        value: String,
    },
    Instant {
        value: SystemTime,
    },
    /// One of the field's choices.
    Choice {
        value: String,
    },
}

/// Custom values as the engine reads them (the same JSON as every other binding sends).
fn field_values(values: HashMap<String, FieldInput>) -> BTreeMap<String, serde_json::Value> {
    values
        .into_iter()
        .map(|(key, value)| {
            let value = match value {
                FieldInput::Text { value }
                | FieldInput::Decimal { value }
                | FieldInput::Date { value }
                | FieldInput::Choice { value } => serde_json::Value::String(value),
                FieldInput::Number { value } => value.into(),
                FieldInput::Bool { value } => value.into(),
                FieldInput::Instant { value } => match instant(value) {
                    Ok(at) => at
                        .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
                        .into(),
                    // Out of range: sent as it is, so the engine names the field.
                    Err(_) => serde_json::Value::String(format!("{value:?}")),
                },
            };
            (key, value)
        })
        .collect()
}

/// Input for `Crm.createTask`.
#[derive(Debug, Clone, uniffi::Record)]
pub struct NewTask {
    pub title: String,
    /// E.g. `"call"`, `"measurement"`; what rules and reports group tasks by.
    #[uniffi(default = None)]
    pub kind: Option<String>,
    #[uniffi(default = None)]
    pub description: Option<String>,
    /// Default: the acting user.
    #[uniffi(default = None)]
    pub assignee: Option<String>,
    #[uniffi(default = None)]
    pub due: Option<SystemTime>,
    /// The contact, company or deal it is about.
    #[uniffi(default = None)]
    pub link: Option<String>,
    /// Repeat it: completing one task of the series creates the next (needs `due`).
    #[uniffi(default = None)]
    pub repeat: Option<Repeat>,
}

/// How often a task repeats (`docs/schema.md`, "Repeating tasks").
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum Every {
    Day,
    Week,
    Month,
}

/// Where an occurrence on a day off of the business calendar goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum DaysOff {
    Next,
    Previous,
    Skip,
    Keep,
}

/// A task's repetition: every `interval` days, weeks or months, until a local date or
/// for `count` tasks in all.
#[derive(Debug, Clone, uniffi::Record)]
pub struct Repeat {
    pub every: Every,
    #[uniffi(default = 1)]
    pub interval: u32,
    /// Weekly only: `"mon"`, `"thu"`, ...
    #[uniffi(default)]
    pub on: Vec<String>,
    /// The last local date an occurrence may fall on, `YYYY-MM-DD`.
    #[uniffi(default = None)]
    pub until: Option<String>,
    #[uniffi(default = None)]
    pub count: Option<u32>,
    #[uniffi(default = None)]
    pub days_off: Option<DaysOff>,
}

impl TryFrom<Repeat> for crm_core::Repeat {
    type Error = CrmError;
    fn try_from(repeat: Repeat) -> Result<Self, CrmError> {
        let on = repeat
            .on
            .iter()
            .enumerate()
            .map(|(index, day)| {
                serde_json::from_value(serde_json::Value::String(day.clone())).map_err(|_| {
                    CoreError::validation(
                        format!("repeat.on[{index}]"),
                        format!("{day:?} is not a weekday (mon … sun)"),
                    )
                })
            })
            .collect::<Result<Vec<crm_core::Day>, _>>()?;
        let until = repeat
            .until
            .map(|date| {
                date.parse::<NaiveDate>().map_err(|_| {
                    CoreError::validation(
                        "repeat.until",
                        format!("{date:?} is not a YYYY-MM-DD date"),
                    )
                })
            })
            .transpose()?;
        Ok(crm_core::Repeat {
            every: match repeat.every {
                Every::Day => crm_core::Every::Day,
                Every::Week => crm_core::Every::Week,
                Every::Month => crm_core::Every::Month,
            },
            interval: repeat.interval,
            on,
            until,
            count: repeat.count,
            days_off: match repeat.days_off {
                None | Some(DaysOff::Next) => crm_core::DaysOff::Next,
                Some(DaysOff::Previous) => crm_core::DaysOff::Previous,
                Some(DaysOff::Skip) => crm_core::DaysOff::Skip,
                Some(DaysOff::Keep) => crm_core::DaysOff::Keep,
            },
        })
    }
}

impl TryFrom<NewTask> for crm_core::NewTask {
    type Error = CrmError;
    fn try_from(task: NewTask) -> Result<Self, CrmError> {
        Ok(crm_core::NewTask {
            title: task.title,
            kind: task.kind,
            description: task.description,
            assignee: optional_id(task.assignee)?,
            due: task.due.map(instant).transpose()?,
            link: optional_id(task.link)?,
            repeat: task.repeat.map(TryInto::try_into).transpose()?,
        })
    }
}

/// What an activity was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ActivityKind {
    Call,
    Email,
    Meeting,
    Note,
    WebForm,
}

/// Who started a call or e-mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum Direction {
    Inbound,
    Outbound,
}

/// Input for `Crm.logActivity`.
#[derive(Debug, Clone, uniffi::Record)]
pub struct NewActivity {
    pub kind: ActivityKind,
    /// The contact, company or deal it is about.
    pub link: String,
    #[uniffi(default = None)]
    pub direction: Option<Direction>,
    #[uniffi(default = None)]
    pub subject: Option<String>,
    #[uniffi(default = None)]
    pub body: Option<String>,
    #[uniffi(default = None)]
    pub duration_seconds: Option<u32>,
    #[uniffi(default = None)]
    pub outcome: Option<String>,
    /// Default: `now`.
    #[uniffi(default = None)]
    pub occurred_at: Option<SystemTime>,
}

impl TryFrom<NewActivity> for crm_core::NewActivity {
    type Error = CrmError;
    fn try_from(activity: NewActivity) -> Result<Self, CrmError> {
        Ok(crm_core::NewActivity {
            kind: match activity.kind {
                ActivityKind::Call => crm_core::ActivityKind::Call,
                ActivityKind::Email => crm_core::ActivityKind::Email,
                ActivityKind::Meeting => crm_core::ActivityKind::Meeting,
                ActivityKind::Note => crm_core::ActivityKind::Note,
                ActivityKind::WebForm => crm_core::ActivityKind::WebForm,
            },
            link: parse(&activity.link)?,
            direction: activity.direction.map(|direction| match direction {
                Direction::Inbound => crm_core::Direction::Inbound,
                Direction::Outbound => crm_core::Direction::Outbound,
            }),
            subject: activity.subject,
            body: activity.body,
            duration_seconds: activity.duration_seconds,
            outcome: activity.outcome,
            occurred_at: activity.occurred_at.map(instant).transpose()?,
        })
    }
}

/// Input for `Crm.completeTask`: how it went and what was found (a measurer's sizes).
#[derive(Debug, Clone, uniffi::Record)]
pub struct TaskCompletion {
    pub task: String,
    #[uniffi(default = None)]
    pub outcome: Option<String>,
    /// Values for the task's custom fields, by key.
    #[uniffi(default)]
    pub fields: HashMap<String, FieldInput>,
}

impl TryFrom<TaskCompletion> for crm_core::TaskCompletion {
    type Error = CrmError;
    fn try_from(completion: TaskCompletion) -> Result<Self, CrmError> {
        Ok(crm_core::TaskCompletion {
            id: parse(&completion.task)?,
            outcome: completion.outcome,
            fields: field_values(completion.fields),
        })
    }
}

/// Whether a stage is a working stage or one of the ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum StageKind {
    Open,
    Won,
    Lost,
}

/// One stage of `Crm.createPipeline`.
#[derive(Debug, Clone, uniffi::Record)]
pub struct NewStage {
    pub name: String,
    /// Default: open.
    #[uniffi(default = None)]
    pub kind: Option<StageKind>,
    #[uniffi(default = None)]
    pub probability: Option<u8>,
    #[uniffi(default = None)]
    pub sla_hours: Option<u32>,
}

impl From<NewStage> for crm_core::NewStage {
    fn from(stage: NewStage) -> Self {
        let kind = match stage.kind.unwrap_or(StageKind::Open) {
            StageKind::Open => crm_core::StageKind::Open,
            StageKind::Won => crm_core::StageKind::Won,
            StageKind::Lost => crm_core::StageKind::Lost,
        };
        crm_core::NewStage {
            name: stage.name,
            kind,
            probability: stage.probability,
            sla_hours: stage.sla_hours,
        }
    }
}

/// Input for `Crm.createDeal`; `expected_close` is an ISO date (`2026-12-24`).
#[derive(Debug, Clone, uniffi::Record)]
pub struct NewDeal {
    pub title: String,
    #[uniffi(default = None)]
    pub pipeline: Option<String>,
    #[uniffi(default = None)]
    pub stage: Option<String>,
    #[uniffi(default = None)]
    pub contact: Option<String>,
    #[uniffi(default = None)]
    pub company: Option<String>,
    #[uniffi(default = None)]
    pub owner: Option<String>,
    #[uniffi(default = None)]
    pub amount: Option<Money>,
    #[uniffi(default = None)]
    pub expected_close: Option<String>,
}

impl TryFrom<NewDeal> for crm_core::NewDeal {
    type Error = CrmError;
    fn try_from(input: NewDeal) -> Result<Self, CrmError> {
        let expected_close = input
            .expected_close
            .map(|text| {
                NaiveDate::parse_from_str(&text, "%Y-%m-%d").map_err(|_| {
                    CrmError::from(CoreError::validation(
                        "expected_close",
                        format!("{text:?} is not a date like \"2026-12-24\""),
                    ))
                })
            })
            .transpose()?;
        Ok(crm_core::NewDeal {
            title: input.title,
            pipeline: optional_id(input.pipeline)?,
            stage: optional_id(input.stage)?,
            contact: optional_id(input.contact)?,
            company: optional_id(input.company)?,
            owner: optional_id(input.owner)?,
            amount: input.amount.map(TryInto::try_into).transpose()?,
            expected_close,
            ..crm_core::NewDeal::default()
        })
    }
}

/// Whether a deal is open, won or lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum DealStatus {
    Open,
    Won,
    Lost,
}

impl From<crm_core::DealStatus> for DealStatus {
    fn from(status: crm_core::DealStatus) -> Self {
        match status {
            crm_core::DealStatus::Open => DealStatus::Open,
            crm_core::DealStatus::Won => DealStatus::Won,
            crm_core::DealStatus::Lost => DealStatus::Lost,
        }
    }
}

impl From<DealStatus> for crm_core::DealStatus {
    fn from(status: DealStatus) -> Self {
        match status {
            DealStatus::Open => crm_core::DealStatus::Open,
            DealStatus::Won => crm_core::DealStatus::Won,
            DealStatus::Lost => crm_core::DealStatus::Lost,
        }
    }
}

/// Filter for `Crm.listDeals`; every given criterion must match.
#[derive(Debug, Clone, Default, uniffi::Record)]
pub struct DealFilter {
    #[uniffi(default = None)]
    pub pipeline: Option<String>,
    #[uniffi(default = None)]
    pub stage: Option<String>,
    #[uniffi(default = None)]
    pub owner: Option<String>,
    #[uniffi(default = None)]
    pub status: Option<DealStatus>,
    #[uniffi(default = None)]
    pub contact: Option<String>,
    #[uniffi(default = None)]
    pub limit: Option<u32>,
    #[uniffi(default = 0)]
    pub offset: u32,
    /// Default: archived deals are left out.
    #[uniffi(default = None)]
    pub archived: Option<Archived>,
}

/// Which records a list shows by their archived state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum Archived {
    Exclude,
    Include,
    Only,
}

impl TryFrom<DealFilter> for crm_core::DealFilter {
    type Error = CrmError;
    fn try_from(filter: DealFilter) -> Result<Self, CrmError> {
        Ok(crm_core::DealFilter {
            pipeline: optional_id(filter.pipeline)?,
            stage: optional_id(filter.stage)?,
            owner: optional_id(filter.owner)?,
            status: filter.status.map(Into::into),
            contact: optional_id(filter.contact)?,
            offset: filter.offset as usize,
            limit: filter.limit.map(|limit| limit as usize),
            archived: match filter.archived {
                None | Some(Archived::Exclude) => crm_core::Archived::Exclude,
                Some(Archived::Include) => crm_core::Archived::Include,
                Some(Archived::Only) => crm_core::Archived::Only,
            },
            ..crm_core::DealFilter::default()
        })
    }
}

/// A deal as the list shows it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DealSummary {
    pub id: String,
    pub title: String,
    pub pipeline: String,
    pub stage: String,
    pub owner: String,
    pub status: DealStatus,
    pub amount: Option<Money>,
    pub contact: Option<String>,
    pub lost_reason: Option<String>,
    pub stage_changes: u32,
    /// What has been paid (absent before the first payment).
    pub paid: Option<Money>,
    /// The amount less what has been paid.
    pub balance: Option<Money>,
}

impl From<&crm_core::Deal> for DealSummary {
    fn from(deal: &crm_core::Deal) -> Self {
        DealSummary {
            id: deal.id.to_string(),
            title: deal.fields.title.clone(),
            pipeline: deal.pipeline.to_string(),
            stage: deal.stage.to_string(),
            owner: deal.owner.to_string(),
            status: deal.status.into(),
            amount: deal.fields.amount.map(Money::from),
            contact: deal.fields.contact.map(|id| id.to_string()),
            lost_reason: deal.lost_reason.clone(),
            stage_changes: deal.stage_history.len() as u32,
            paid: deal.paid().map(Money::from),
            balance: deal.balance().map(Money::from),
        }
    }
}
