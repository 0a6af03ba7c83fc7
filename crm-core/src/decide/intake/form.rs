//! Web forms: a submission → the contact (matched or new), the lead, the logged request.

use crate::model::intake::*;
use std::collections::BTreeMap;

use serde_json::Value;

use super::{lead, log, plain_text, Caller, Request, RouteSettings};
use crate::common::error::CrmError;
use crate::common::validate;
use crate::decide::Ctx;
use crate::event::Event;
use crate::model::activity::{ActivityKind, Direction};

/// The most fields a submission may carry, and the longest value: a real form has a
/// handful of fields and a message; anything bigger is a bot or an attack.
const MAX_FIELDS: usize = 50;
const MAX_VALUE_CHARS: usize = 5_000;

/// Where a form field goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    Name,
    Phone,
    Email,
    Address,
    Position,
    Message,
    Title,
    ContactCustom(String),
    DealCustom(String),
    Ignore,
}

/// Parses a configured target, naming the setting when it is not one.
pub(crate) fn target(field: &str, text: &str) -> Result<Target, CrmError> {
    Ok(match text {
        "name" => Target::Name,
        "phone" => Target::Phone,
        "email" => Target::Email,
        "address" => Target::Address,
        "position" => Target::Position,
        "message" => Target::Message,
        "title" => Target::Title,
        "ignore" => Target::Ignore,
        other => match other.split_once('.') {
            Some(("contact", key)) => Target::ContactCustom(validate::key(field, key)?),
            Some(("deal", key)) => Target::DealCustom(validate::key(field, key)?),
            _ => {
                return Err(CrmError::validation(
                    field,
                    format!(
                        "{other:?} is not a target (name, phone, email, address, position, \
                         message, title, contact.<key>, deal.<key>, ignore)"
                    ),
                ))
            }
        },
    })
}

/// The usual names of the usual fields, for forms without a mapping.
fn guess(field: &str) -> Option<Target> {
    let name = field.trim().to_lowercase().replace(['-', ' '], "_");
    Some(match name.as_str() {
        "name" | "full_name" | "fullname" | "your_name" | "fio" | "contact_name" => Target::Name,
        "phone" | "tel" | "telephone" | "phone_number" | "mobile" | "your_phone" => Target::Phone,
        "email" | "e_mail" | "mail" | "your_email" | "email_address" => Target::Email,
        "address" | "city" => Target::Address,
        "message" | "comment" | "comments" | "question" | "text" | "your_message" => {
            Target::Message
        }
        _ => return None,
    })
}

/// Handles [`crate::Command::ReceiveForm`].
pub(crate) fn receive(ctx: &mut Ctx<'_>, input: &FormSubmission) -> Result<Vec<Event>, CrmError> {
    super::require_intake_actor(ctx)?;
    let form_id = validate::name("form", &input.form)?;
    if input.fields.len() > MAX_FIELDS {
        return Err(CrmError::too_large(
            "fields",
            MAX_FIELDS,
            input.fields.len(),
        ));
    }
    let settings = ctx
        .state
        .intake
        .forms
        .get(&form_id)
        .cloned()
        .unwrap_or_default();
    let mut caller = Caller::default();
    let mut message = Vec::new();
    let mut title = None;
    let mut deal_custom = BTreeMap::new();
    for (field, value) in &input.fields {
        let path = format!("fields.{field}");
        plain_text(&path, field)?;
        plain_text(&path, value)?;
        let chars = value.chars().count();
        if chars > MAX_VALUE_CHARS {
            return Err(CrmError::too_large(path, MAX_VALUE_CHARS, chars));
        }
        let value = value.trim();
        if value.is_empty() {
            continue;
        }
        let target = match settings.fields.get(field) {
            Some(text) => target(&path, text)?,
            None => guess(field).unwrap_or(Target::Message),
        };
        match target {
            Target::Name => caller.name = Some(validate::name(&path, value)?),
            Target::Phone => caller
                .phones
                .push(validate::phone(&path, value, ctx.region)?),
            Target::Email => caller.emails.push(validate::email(&path, value)?),
            Target::Address => caller.address = Some(value.to_string()),
            Target::Position => caller.position = Some(value.to_string()),
            Target::Title => title = Some(value.to_string()),
            Target::Message if settings.fields.contains_key(field) || guess(field).is_some() => {
                message.push(value.to_string())
            }
            Target::Message => message.push(format!("{field}: {value}")),
            Target::ContactCustom(key) => {
                caller
                    .contact_custom
                    .insert(key, Value::String(value.into()));
            }
            Target::DealCustom(key) => {
                deal_custom.insert(key, Value::String(value.into()));
            }
            Target::Ignore => {}
        }
    }
    if caller.phones.is_empty() && caller.emails.is_empty() {
        return Err(CrmError::validation(
            "fields",
            "the submission has neither a phone number nor an e-mail address to answer",
        ));
    }
    for (key, value) in &input.utm {
        plain_text(&format!("utm.{key}"), value)?;
    }
    let source = settings
        .route
        .source
        .clone()
        .or_else(|| input.utm.get("utm_source").map(|s| s.trim().to_lowercase()))
        .filter(|source| !source.is_empty())
        .unwrap_or_else(|| "website".to_string());
    let route = RouteSettings {
        source: Some(source.clone()),
        ..settings.route.clone()
    };
    let title = title.unwrap_or_else(|| format!("Request from the website ({form_id})"));
    let lead = lead(ctx, caller, &route, source, title, deal_custom)?;
    let mut body = message;
    if let Some(page) = &input.page {
        plain_text("page", page)?;
        body.push(format!("page: {page}"));
    }
    body.extend(
        input
            .utm
            .iter()
            .map(|(key, value)| format!("{key}: {value}")),
    );
    let request = Request {
        kind: ActivityKind::WebForm,
        direction: Direction::Inbound,
        subject: format!("Web form {form_id}"),
        body: (!body.is_empty()).then(|| body.join("\n")),
        duration_seconds: None,
        outcome: None,
        occurred_at: input.received_at.unwrap_or(ctx.now),
        external_id: None,
    };
    let mut events = lead.events;
    events.push(log(ctx, lead.record, request)?);
    Ok(events)
}
