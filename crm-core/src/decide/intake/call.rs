//! Telephony: a call record → the call logged on the caller's open deal or contact, and
//! an unknown caller made a lead. Missed calls carry the outcome `missed`, which the
//! `inbound` trigger with `"outcome": "missed"` turns into a callback task.

use crate::model::intake::*;
use std::collections::BTreeMap;

use chrono::{DateTime, LocalResult, NaiveDateTime, TimeZone, Utc};

use super::{already_logged, find_contact, lead, log, open_deal, plain_text, Caller, Request};
use crate::common::error::CrmError;
use crate::common::id::AnyId;
use crate::common::validate;
use crate::decide::Ctx;
use crate::event::Event;
use crate::model::activity::{ActivityKind, Direction};

/// Handles [`crate::Command::ReceiveCall`].
pub(crate) fn receive(ctx: &mut Ctx<'_>, input: &CallReport) -> Result<Vec<Event>, CrmError> {
    super::require_intake_actor(ctx)?;
    let call = match (&input.call, &input.asterisk_cdr) {
        (Some(call), None) => call.clone(),
        (None, Some(fields)) => from_asterisk(ctx, fields)?,
        _ => {
            return Err(CrmError::validation(
                "call",
                "give exactly one of `call` (the generic format) and `asterisk_cdr`",
            ))
        }
    };
    for (field, value) in [
        ("call.from", Some(&call.from)),
        ("call.to", Some(&call.to)),
        ("call.line", call.line.as_ref()),
        ("call.recording", call.recording.as_ref()),
        ("call.call_id", call.call_id.as_ref()),
    ] {
        if let Some(value) = value {
            plain_text(field, value)?;
            if value.chars().count() > 2_000 {
                return Err(CrmError::too_large(field, 2_000, value.chars().count()));
            }
        }
    }
    if already_logged(ctx, call.call_id.as_deref()) {
        return Ok(Vec::new());
    }
    let (field, number) = match call.direction {
        Direction::Inbound => ("call.from", &call.from),
        Direction::Outbound => ("call.to", &call.to),
    };
    let phone = validate::phone(field, number, ctx.region)?;
    let duration = match (call.answered_at, call.ended_at) {
        (Some(answered), Some(ended)) if ended < answered => {
            return Err(CrmError::validation(
                "call.ended_at",
                format!("{ended} is before the call was answered ({answered})"),
            ))
        }
        (Some(answered), Some(ended)) => Some(
            u32::try_from((ended - answered).num_seconds())
                .ok()
                .filter(|seconds| *seconds <= 7 * 24 * 3600)
                .ok_or_else(|| {
                    CrmError::validation("call.ended_at", "the call lasted over a week")
                })?,
        ),
        _ => None,
    };
    let route = call
        .line
        .as_ref()
        .and_then(|line| ctx.state.intake.lines.get(line))
        .cloned()
        .unwrap_or_default();
    let mut events = Vec::new();
    let record = match find_contact(ctx, std::slice::from_ref(&phone), &[]) {
        Some(contact) => {
            let pipeline = route.pipeline.or(ctx.state.intake.pipeline);
            open_deal(ctx, contact, pipeline)
                .map(AnyId::DealId)
                .unwrap_or(AnyId::ContactId(contact))
        }
        None if call.direction == Direction::Outbound => {
            return Err(CrmError::validation(
                "call.to",
                format!("no contact has the number {phone}: outbound calls are logged on contacts"),
            ))
        }
        None if ctx.state.intake.ignore_unknown_callers => return Ok(Vec::new()),
        None => {
            let source = route.source.clone().unwrap_or_else(|| "phone".to_string());
            let caller = Caller {
                phones: vec![phone.clone()],
                ..Caller::default()
            };
            let title = format!("Call from {phone}");
            let lead = lead(ctx, caller, &route, source, title, BTreeMap::new())?;
            events.extend(lead.events);
            lead.record
        }
    };
    let subject = match (call.direction, call.outcome) {
        (Direction::Inbound, CallOutcome::Missed) => format!("Missed call from {phone}"),
        (Direction::Inbound, _) => format!("Call from {phone}"),
        (Direction::Outbound, _) => format!("Call to {phone}"),
    };
    let body: Vec<String> = [
        call.line.as_ref().map(|line| format!("line: {line}")),
        call.recording.as_ref().map(|r| format!("recording: {r}")),
    ]
    .into_iter()
    .flatten()
    .collect();
    let request = Request {
        kind: ActivityKind::Call,
        direction: call.direction,
        subject,
        body: (!body.is_empty()).then(|| body.join("\n")),
        duration_seconds: duration,
        outcome: Some(validate::json_name(&call.outcome)),
        occurred_at: call.started_at,
        external_id: call.call_id.clone(),
    };
    events.push(log(ctx, record, request)?);
    Ok(events)
}

/// Reads an Asterisk `Cdr` event. Direction: a call from a short internal extension
/// (up to 6 digits) is outbound, anything else inbound. `Disposition` ANSWERED is
/// answered — or voicemail when `LastApplication` is `VoiceMail` — NO ANSWER, FAILED
/// and CONGESTION are missed, BUSY busy.
fn from_asterisk(ctx: &Ctx<'_>, fields: &AmiCdr) -> Result<IncomingCall, CrmError> {
    let field = |name: &str| -> Option<&str> {
        fields
            .get(name)
            .map(|value| value.trim())
            .filter(|value| !value.is_empty())
    };
    let required = |name: &str| {
        field(name).ok_or_else(|| {
            CrmError::validation(format!("asterisk_cdr.{name}"), "is missing or empty")
        })
    };
    let time = |name: &str| -> Result<Option<DateTime<Utc>>, CrmError> {
        field(name)
            .map(|text| local_time(ctx, name, text))
            .transpose()
    };
    let source = required("Source")?;
    let destination = required("Destination")?;
    let extension = source.len() <= 6 && source.chars().all(|c| c.is_ascii_digit());
    let direction = if extension {
        Direction::Outbound
    } else {
        Direction::Inbound
    };
    let disposition = required("Disposition")?.to_ascii_uppercase();
    let outcome = match disposition.as_str() {
        "ANSWERED"
            if field("LastApplication").is_some_and(|a| a.eq_ignore_ascii_case("voicemail")) =>
        {
            CallOutcome::Voicemail
        }
        "ANSWERED" => CallOutcome::Answered,
        "NO ANSWER" | "FAILED" | "CONGESTION" => CallOutcome::Missed,
        "BUSY" => CallOutcome::Busy,
        other => {
            return Err(CrmError::validation(
                "asterisk_cdr.Disposition",
                format!("{other:?} is not ANSWERED, NO ANSWER, BUSY, FAILED or CONGESTION"),
            ))
        }
    };
    Ok(IncomingCall {
        direction,
        from: source.to_string(),
        to: destination.to_string(),
        line: Some(if extension { source } else { destination }.to_string()),
        started_at: time("StartTime")?
            .ok_or_else(|| CrmError::validation("asterisk_cdr.StartTime", "is missing or empty"))?,
        answered_at: time("AnswerTime")?,
        ended_at: time("EndTime")?,
        outcome,
        recording: field("RecordingFile").map(str::to_string),
        call_id: field("UniqueID").map(str::to_string),
    })
}

/// A PBX time (`2026-11-27 10:00:00`) in the business time zone, as UTC; in the hour
/// that repeats when clocks go back, the first.
fn local_time(ctx: &Ctx<'_>, name: &str, text: &str) -> Result<DateTime<Utc>, CrmError> {
    let field = format!("asterisk_cdr.{name}");
    let naive = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").map_err(|_| {
        CrmError::validation(
            &field,
            format!("{text:?} is not a time like \"2026-11-27 10:00:00\""),
        )
    })?;
    match ctx.state.calendar.time_zone.from_local_datetime(&naive) {
        LocalResult::Single(time) | LocalResult::Ambiguous(time, _) => Ok(time.with_timezone(&Utc)),
        LocalResult::None => Err(CrmError::validation(
            field,
            format!(
                "{text} does not exist in {} (the clocks skip it)",
                ctx.state.calendar.time_zone
            ),
        )),
    }
}
