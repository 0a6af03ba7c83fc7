//! E-mail: a raw RFC 5322 message (parsed by `mail-parser`) → logged on the
//! correspondent's thread, open deal or contact; an unknown sender made a lead when
//! the business wants that. Each Message-ID is logged once.

use crate::model::intake::*;
use chrono::{DateTime, Utc};
use mail_parser::{Address, HeaderValue, MessageParser};

use super::{already_logged, find_contact, lead, log, open_deal, Caller, Request, RouteSettings};
use crate::common::error::CrmError;
use crate::common::id::AnyId;
use crate::common::validate;
use crate::decide::Ctx;
use crate::event::Event;
use crate::model::activity::{ActivityKind, Direction};

/// Subjects and bodies longer than the activity's limits are cut, not refused: a long
/// newsletter quote should not lose the client's reply above it.
const MAX_SUBJECT_CHARS: usize = 200;
const MAX_BODY_CHARS: usize = 10_000;

/// Handles [`crate::Command::ReceiveEmail`].
pub(crate) fn receive(ctx: &mut Ctx<'_>, input: &EmailMessage) -> Result<Vec<Event>, CrmError> {
    super::require_intake_actor(ctx)?;
    let bytes = match (&input.raw, &input.raw_base64) {
        (Some(raw), None) => raw.as_bytes().to_vec(),
        (None, Some(encoded)) => {
            let compact: Vec<u8> = encoded
                .bytes()
                .filter(|b| !b.is_ascii_whitespace())
                .collect();
            mail_parser::decoders::base64::base64_decode(&compact)
                .ok_or_else(|| CrmError::validation("raw_base64", "is not valid base64"))?
        }
        _ => {
            return Err(CrmError::validation(
                "raw",
                "give exactly one of `raw` (the message as text) and `raw_base64`",
            ))
        }
    };
    let message = MessageParser::default()
        .parse(&bytes)
        .filter(|message| message.from().is_some())
        .ok_or_else(|| {
            CrmError::validation("raw", "is not an e-mail message: it has no From header")
        })?;
    let external_id = message.message_id().map(|id| format!("<{id}>"));
    if already_logged(ctx, external_id.as_deref()) {
        return Ok(Vec::new());
    }
    let sender = first_address(message.from());
    let from = sender
        .as_ref()
        .map(|(address, _)| validate::email("from", address))
        .transpose()?
        .ok_or_else(|| CrmError::validation("from", "the message has no sender address"))?;
    let mailbox = input
        .mailbox
        .iter()
        .enumerate()
        .map(|(index, address)| validate::email(&format!("mailbox[{index}]"), address))
        .collect::<Result<Vec<_>, _>>()?;
    let direction = if mailbox.contains(&from) {
        Direction::Outbound
    } else {
        Direction::Inbound
    };
    let correspondents: Vec<String> = match direction {
        Direction::Inbound => vec![from.clone()],
        Direction::Outbound => addresses(message.to())
            .chain(addresses(message.cc()))
            .filter_map(|(address, _)| validate::email("to", &address).ok())
            .filter(|address| !mailbox.contains(address))
            .collect(),
    };
    let thread = thread_record(ctx, message.in_reply_to(), message.references());
    let contact = correspondents
        .iter()
        .find_map(|address| find_contact(ctx, &[], std::slice::from_ref(address)));
    let mut events = Vec::new();
    let record = match (thread, contact) {
        (Some(record), _) => record,
        (None, Some(contact)) => {
            let pipeline = ctx.state.intake.pipeline;
            open_deal(ctx, contact, pipeline)
                .map(AnyId::DealId)
                .unwrap_or(AnyId::ContactId(contact))
        }
        (None, None) if direction == Direction::Inbound && ctx.state.intake.leads_from_email => {
            let name = sender
                .and_then(|(_, name)| name)
                .filter(|name| !name.trim().is_empty());
            let caller = Caller {
                name,
                emails: vec![from.clone()],
                ..Caller::default()
            };
            let subject = message.subject().unwrap_or("(no subject)");
            let title = format!("E-mail: {}", cut(subject, 150));
            let route = RouteSettings::default();
            let lead = lead(
                ctx,
                caller,
                &route,
                "email".to_string(),
                title,
                Default::default(),
            )?;
            events.extend(lead.events);
            lead.record
        }
        // Nobody the CRM knows, and unknown senders are not leads: the message stays
        // in the mailbox only.
        (None, None) => return Ok(Vec::new()),
    };
    let occurred_at = message
        .date()
        .filter(|date| date.is_valid())
        .and_then(|date| DateTime::<Utc>::from_timestamp(date.to_timestamp(), 0))
        .unwrap_or(ctx.now);
    let subject = message
        .subject()
        .map(|subject| cut(subject.trim(), MAX_SUBJECT_CHARS))
        .filter(|subject| !subject.is_empty())
        .unwrap_or_else(|| "(no subject)".to_string());
    let body = message
        .body_text(0)
        .map(|text| cut(text.trim(), MAX_BODY_CHARS))
        .filter(|text| !text.is_empty());
    let request = Request {
        kind: ActivityKind::Email,
        direction,
        subject,
        body,
        duration_seconds: None,
        outcome: None,
        occurred_at,
        external_id,
    };
    events.push(log(ctx, record, request)?);
    Ok(events)
}

/// The record of the earliest logged message this one answers or refers to.
fn thread_record(
    ctx: &Ctx<'_>,
    in_reply_to: &HeaderValue<'_>,
    references: &HeaderValue<'_>,
) -> Option<AnyId> {
    [in_reply_to, references]
        .into_iter()
        .flat_map(|header| match header {
            HeaderValue::Text(id) => vec![id.to_string()],
            HeaderValue::TextList(ids) => ids.iter().map(|id| id.to_string()).collect(),
            _ => Vec::new(),
        })
        .find_map(|id| {
            let activity = ctx.state.external_ids.get(&format!("<{id}>"))?;
            Some(ctx.state.activities.get(activity)?.link)
        })
}

/// The first address of a header with its display name.
fn first_address(header: Option<&Address<'_>>) -> Option<(String, Option<String>)> {
    addresses(header).next()
}

fn addresses<'a>(
    header: Option<&'a Address<'_>>,
) -> impl Iterator<Item = (String, Option<String>)> + 'a {
    header.into_iter().flat_map(|address| {
        address
            .iter()
            .filter_map(|addr| Some((addr.address()?.to_string(), addr.name().map(str::to_string))))
    })
}

/// At most `limit` characters of `text`, marked with an ellipsis when cut.
fn cut(text: &str, limit: usize) -> String {
    match text.char_indices().nth(limit.saturating_sub(1)) {
        Some((end, _)) if text.chars().count() > limit => format!("{}…", &text[..end]),
        _ => text.to_string(),
    }
}
