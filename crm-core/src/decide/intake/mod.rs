//! Intake: what arrives from the website, the telephone and the mailbox becomes
//! contacts, leads and logged activities. Each adapter is a command — the host hands
//! over what arrived (a form's fields, a PBX's call record, a raw e-mail), the engine matches it to a contact by
//! normalised phone or e-mail address, creates what is missing, logs the request, and
//! the automation rules react as to any other command. Nothing here touches a network.

mod call;
#[cfg(feature = "email")]
mod email;
mod form;

use crate::model::intake::*;
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::common::error::CrmError;
use crate::common::id::{AnyId, ContactId, DealId, PipelineId};
use crate::common::validate;
use crate::decide::Ctx;
use crate::event::Event;
use crate::model::activity::{Activity, ActivityKind, Direction};
use crate::model::contact::NewContact;
use crate::model::custom_field::EntityKind;
use crate::model::deal::{DealStatus, NewDeal};

#[cfg(feature = "email")]
pub(crate) use email::receive as receive_email;
pub(crate) use {call::receive as receive_call, form::receive as receive_form};

/// Without the `email` feature (the browser's office build, docs/javascript.md), a raw
/// message is refused before anything is read; the full build reads it.
#[cfg(not(feature = "email"))]
pub(crate) fn receive_email(_: &mut Ctx<'_>, _: &EmailMessage) -> Result<Vec<Event>, CrmError> {
    Err(CrmError::validation(
        "raw",
        "this build does not read e-mail (crm-core without its `email` feature)",
    ))
}

/// Handles [`crate::Command::ConfigureIntake`].
pub(crate) fn configure(
    ctx: &mut Ctx<'_>,
    settings: &IntakeSettings,
) -> Result<Vec<Event>, CrmError> {
    ctx.access.require_admin("configure intake")?;
    let routes = std::iter::once(("intake".to_string(), settings.owner, settings.pipeline))
        .chain(
            settings
                .forms
                .iter()
                .map(|(id, form)| (format!("forms.{id}"), form.route.owner, form.route.pipeline)),
        )
        .chain(
            settings
                .lines
                .iter()
                .map(|(line, route)| (format!("lines.{line}"), route.owner, route.pipeline)),
        );
    for (path, owner, pipeline) in routes {
        if let Some(owner) = owner {
            let active = ctx.state.users.get(&owner).is_some_and(|user| user.active);
            if !active {
                return Err(CrmError::validation(
                    format!("{path}.owner"),
                    format!("{owner} is not an active user"),
                ));
            }
        }
        if let Some(pipeline) = pipeline.filter(|id| !ctx.state.pipelines.contains_key(id)) {
            return Err(CrmError::not_found("pipeline", pipeline));
        }
    }
    for (id, form) in &settings.forms {
        validate::key("forms", id)?;
        for (field, target) in &form.fields {
            let path = format!("forms.{id}.fields.{field}");
            let (entity, key) = match form::target(&path, target)? {
                form::Target::ContactCustom(key) => (EntityKind::Contact, key),
                form::Target::DealCustom(key) => (EntityKind::Deal, key),
                _ => continue,
            };
            let defined = ctx
                .state
                .fields
                .get(&entity)
                .is_some_and(|fields| fields.contains_key(&key));
            if !defined {
                return Err(CrmError::validation(
                    path,
                    format!("{target} names no defined custom field (define_field first)"),
                ));
            }
        }
    }
    Ok(vec![Event::IntakeConfigured {
        settings: settings.clone(),
    }])
}

/// Intake acts for the business, not for a user: it matches callers against every
/// contact, logs on records of every department and can say whose a phone number is.
/// So it runs as the host's `system` actor (a web form handler, a PBX webhook, a
/// mailbox poller) or an admin, never as a user of the CRM with a narrower scope.
fn require_intake_actor(ctx: &Ctx<'_>) -> Result<(), CrmError> {
    ctx.access.require_admin(
        "receive forms, calls or e-mail (intake runs as the system actor or an admin)",
    )
}

/// Who a request is from, as far as it says.
#[derive(Debug, Default)]
struct Caller {
    name: Option<String>,
    phones: Vec<String>,
    emails: Vec<String>,
    address: Option<String>,
    position: Option<String>,
    contact_custom: BTreeMap<String, serde_json::Value>,
}

/// The lead a request becomes, before the request itself is logged.
struct Lead {
    events: Vec<Event>,
    /// Where to log the request: the new or open deal, else the contact.
    record: AnyId,
}

/// Matches the caller to a contact (by phone, then address) or creates one, and finds
/// or creates the deal the request belongs to.
fn lead(
    ctx: &mut Ctx<'_>,
    caller: Caller,
    route: &RouteSettings,
    source: String,
    title: String,
    deal_custom: BTreeMap<String, serde_json::Value>,
) -> Result<Lead, CrmError> {
    let settings = &ctx.state.intake;
    let owner = route.owner.or(settings.owner);
    let pipeline = route.pipeline.or(settings.pipeline);
    let existing = find_contact(ctx, &caller.phones, &caller.emails);
    let mut events = Vec::new();
    let mut tags = Vec::new();
    let contact = match (existing, settings.on_duplicate) {
        (Some(found), DuplicatePolicy::Attach) => Some(found),
        (Some(found), DuplicatePolicy::Reject) => {
            return Err(CrmError::validation(
                "intake",
                format!(
                    "the request matches contact {found} and the intake policy rejects duplicates"
                ),
            ))
        }
        (Some(_), DuplicatePolicy::CreateAndFlag) => {
            tags.push(POSSIBLE_DUPLICATE_TAG.to_string());
            None
        }
        (None, _) => None,
    };
    let contact = match contact {
        Some(found) => found,
        None => {
            let owner = owner.ok_or_else(|| {
                CrmError::validation(
                    "intake.owner",
                    "no owner is configured for new leads (configure_intake)",
                )
            })?;
            let name = caller
                .name
                .clone()
                .filter(|name| !name.trim().is_empty())
                .or_else(|| caller.phones.first().cloned())
                .or_else(|| caller.emails.first().cloned())
                .unwrap_or_default();
            let created = crate::decide::contact::create(
                ctx,
                &NewContact {
                    name,
                    phones: caller.phones.clone(),
                    emails: caller.emails.clone(),
                    address: caller.address.clone(),
                    position: caller.position.clone(),
                    source: Some(source.clone()),
                    owner: Some(owner),
                    tags: tags.clone(),
                    custom: caller.contact_custom.clone(),
                    ..NewContact::default()
                },
            )?;
            let id = match created.first() {
                Some(Event::ContactCreated { contact }) => contact.id,
                _ => no_created_record()?,
            };
            events.extend(created);
            id
        }
    };
    let open_deal = open_deal(ctx, contact, pipeline);
    let record = match (open_deal, pipeline) {
        (Some(deal), _) => AnyId::DealId(deal),
        (None, Some(pipeline)) => {
            let deal_owner = owner
                .or_else(|| ctx.state.contacts.get(&contact).map(|c| c.owner))
                .ok_or_else(|| {
                    CrmError::validation("intake.owner", "no owner is configured for new leads")
                })?;
            let new_contact = !ctx.state.contacts.contains_key(&contact);
            let mut created = crate::decide::deal::create(
                ctx,
                &NewDeal {
                    title,
                    pipeline: Some(pipeline),
                    // A contact created by this same request is not in the state yet:
                    // the deal is linked to it below.
                    contact: (!new_contact).then_some(contact),
                    owner: Some(deal_owner),
                    source: Some(source),
                    custom: deal_custom,
                    ..NewDeal::default()
                },
            )?;
            let Some(Event::DealCreated { deal }) = created.first_mut() else {
                return no_created_record();
            };
            deal.fields.contact = Some(contact);
            let id = deal.id;
            events.extend(created);
            AnyId::DealId(id)
        }
        (None, None) => AnyId::ContactId(contact),
    };
    Ok(Lead { events, record })
}

fn no_created_record<T>() -> Result<T, CrmError> {
    Err(CrmError::Storage {
        reason: String::from("intake: a create command returned no created record"),
    })
}

/// The first contact (oldest ID) with one of the phones, else one of the addresses
/// (compared by the intake's e-mail policy); contacts merged away do not count.
fn find_contact(ctx: &Ctx<'_>, phones: &[String], emails: &[String]) -> Option<ContactId> {
    let state = ctx.state;
    let policy = &state.intake.email;
    let by_phone = phones
        .iter()
        .filter_map(|phone| state.contacts_with(phone).next())
        .min();
    by_phone.or_else(|| {
        emails
            .iter()
            .filter_map(|email| {
                let key = policy.key(email);
                state.contacts_with(email).find(|id| {
                    state.contacts.get(id).is_some_and(|contact| {
                        contact.fields.emails.iter().any(|e| policy.key(e) == key)
                    })
                })
            })
            .min()
    })
}

/// The contact's most recent open deal, in `pipeline` when one is given.
fn open_deal(ctx: &Ctx<'_>, contact: ContactId, pipeline: Option<PipelineId>) -> Option<DealId> {
    ctx.state
        .deals_by_party
        .of(AnyId::ContactId(contact))
        .rev()
        .filter_map(|id| ctx.state.deals.get(&id))
        .find(|deal| {
            deal.status == DealStatus::Open && pipeline.is_none_or(|wanted| deal.pipeline == wanted)
        })
        .map(|deal| deal.id)
}

/// What was received, as an activity on `record`.
struct Request {
    kind: ActivityKind,
    direction: Direction,
    subject: String,
    body: Option<String>,
    duration_seconds: Option<u32>,
    outcome: Option<String>,
    occurred_at: DateTime<Utc>,
    external_id: Option<String>,
}

fn log(ctx: &mut Ctx<'_>, record: AnyId, request: Request) -> Result<Event, CrmError> {
    let subject = validate::optional_name("subject", Some(&request.subject))?;
    let body = validate::optional_text("body", request.body.as_deref())?;
    Ok(Event::ActivityLogged {
        activity: Activity {
            id: ctx.next_id(),
            kind: request.kind,
            direction: Some(request.direction),
            subject,
            body,
            duration_seconds: request.duration_seconds,
            outcome: request.outcome,
            link: record,
            occurred_at: request.occurred_at,
            logged_at: ctx.now,
            logged_by: ctx.actor(),
            external_id: request.external_id,
            edited_at: None,
        },
    })
}

/// Refuses text a person did not type: control characters other than line breaks and
/// tabs (a sign of binary junk or an injection attempt), naming the field.
fn plain_text(field: &str, value: &str) -> Result<(), CrmError> {
    match value
        .chars()
        .find(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        Some(c) => Err(CrmError::validation(
            field,
            format!("contains the control character U+{:04X}", u32::from(c)),
        )),
        None => Ok(()),
    }
}

/// Whether an activity with this external ID (a call's or message's own ID) was
/// already logged: a host that delivers twice must not log twice.
fn already_logged(ctx: &Ctx<'_>, external_id: Option<&str>) -> bool {
    external_id.is_some_and(|id| ctx.state.external_ids.contains_key(id))
}
