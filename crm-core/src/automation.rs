//! Automation: which facts an event states, which rules they set off, whether the
//! rules' conditions hold, and the events their actions produce. The engine drives
//! it (`engine/execute.rs`): an action that a user could take as a command (create a
//! task, move a deal, set a field, assign an owner, render a document) becomes that
//! `Command` and runs through the one dispatcher, `decide::decide`, acting as
//! `system`; only what has no command (notify, escalate, webhook) is queued here as an
//! effect. Every event an action produces names its rule and trigger.

use std::cmp::Ordering;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::{json, Value};

use crate::common::diff;
use crate::common::error::CrmError;
use crate::common::id::{AnyId, ContactId, DealId, StageId, TaskId, UserId};
use crate::common::validate;
use crate::context;
use crate::decide::Ctx;
use crate::event::{Event, SkippedRule};
use crate::model::activity::{ActivityKind, Direction};
use crate::model::command::{Command, DealMove, OwnerAssignment, Update};
use crate::model::deal::DealStatus;
use crate::model::document::{self, Format, RenderRequest};
use crate::model::fact::Fact;
use crate::model::outbox::{Effect, EffectBody};
use crate::model::rule::{
    Action, Assignee, Channel, Condition, InboundChannel, Op, RecordKind, Rule, Trigger,
};
use crate::model::task::NewTask;
use crate::model::user::Role;
use crate::state::State;

impl Fact {
    /// The record the fact is about; actions work on it (or, for a task, its record).
    pub fn subject(&self, state: &State) -> AnyId {
        match self {
            Fact::Created(id)
            | Fact::FieldChanged { record: id, .. }
            | Fact::Idle { record: id, .. }
            | Fact::DateReached { record: id, .. } => *id,
            Fact::StageEntered { deal, .. }
            | Fact::StageLeft { deal, .. }
            | Fact::PaymentRecorded { deal, .. }
            | Fact::DealPaid(deal)
            | Fact::DealWon(deal)
            | Fact::DealLost { deal, .. }
            | Fact::SlaBreached { deal, .. } => (*deal).into(),
            Fact::TaskCompleted(id)
            | Fact::TaskOverdue(id)
            | Fact::TaskDueSoon { task: id, .. } => (*id).into(),
            Fact::Inbound(id) => state
                .activities
                .get(id)
                .map_or((*id).into(), |activity| activity.link),
            Fact::Delayed { fact, .. } => fact.subject(state),
        }
    }

    /// What the rule context shows as `trigger`.
    fn describe(&self, state: &State) -> Value {
        if let Fact::Delayed { fact, .. } = self {
            let mut value = fact.describe(state);
            value["delayed"] = json!(true);
            return value;
        }
        let stage_name = |id: &StageId| {
            state
                .stages
                .get(id)
                .and_then(|p| state.pipelines.get(p))
                .and_then(|p| p.stage(*id))
                .map(|s| s.name.clone())
        };
        let mut value = match self {
            Fact::StageEntered { stage, .. }
            | Fact::StageLeft { stage, .. }
            | Fact::SlaBreached { stage, .. } => {
                json!({"stage": stage, "stage_name": stage_name(stage)})
            }
            Fact::FieldChanged {
                field, from, to, ..
            } => json!({"field": field, "from": from, "to": to}),
            Fact::PaymentRecorded { amount, .. } => json!({"amount": amount}),
            Fact::DealLost { reason, .. } => json!({"reason": reason}),
            Fact::Inbound(id) => json!({"activity": state.activities.get(id)}),
            Fact::Idle { rule, .. }
            | Fact::TaskDueSoon { rule, .. }
            | Fact::DateReached { rule, .. } => json!({"rule": rule}),
            _ => json!({}),
        };
        value["type"] = json!(self.name());
        value
    }
}

/// The facts `event` states, read against the state *before* it is applied (so field
/// changes know their old values).
pub(crate) fn facts(before: &State, event: &Event) -> Vec<Fact> {
    match event {
        Event::ContactCreated { contact } => vec![Fact::Created(contact.id.into())],
        Event::CompanyCreated { company } => vec![Fact::Created(company.id.into())],
        Event::TaskCreated { task } => vec![Fact::Created(task.id.into())],
        Event::DealCreated { deal } => vec![
            Fact::Created(deal.id.into()),
            Fact::StageEntered {
                deal: deal.id,
                stage: deal.stage,
            },
        ],
        Event::ContactUpdated { id, fields, .. } => changes(
            (*id).into(),
            before.contacts.get(id).map(|c| &c.fields),
            fields,
        ),
        Event::CompanyUpdated { id, fields, .. } => changes(
            (*id).into(),
            before.companies.get(id).map(|c| &c.fields),
            fields,
        ),
        Event::DealUpdated { id, fields, .. } => changes(
            (*id).into(),
            before.deals.get(id).map(|d| &d.fields),
            fields,
        ),
        Event::OwnerAssigned { record, from, to } => vec![Fact::FieldChanged {
            record: *record,
            field: "owner".into(),
            from: json!(from),
            to: json!(to),
        }],
        Event::DealMoved {
            id,
            from,
            to,
            status,
            lost_reason,
            ..
        } => {
            let mut facts = vec![
                Fact::StageLeft {
                    deal: *id,
                    stage: *from,
                },
                Fact::StageEntered {
                    deal: *id,
                    stage: *to,
                },
            ];
            match status {
                DealStatus::Won => facts.push(Fact::DealWon(*id)),
                DealStatus::Lost => facts.push(Fact::DealLost {
                    deal: *id,
                    reason: lost_reason.clone(),
                }),
                DealStatus::Open => {}
            }
            facts
        }
        Event::TaskCompleted { id, .. } => vec![Fact::TaskCompleted(*id)],
        Event::TaskOverdue { id, .. } => vec![Fact::TaskOverdue(*id)],
        Event::DateReached { rule, record, .. } => vec![Fact::DateReached {
            rule: rule.clone(),
            record: *record,
        }],
        Event::TaskDueSoon { id, rule, .. } => vec![Fact::TaskDueSoon {
            rule: rule.clone(),
            task: *id,
        }],
        Event::PaymentRecorded { deal, payment } => vec![Fact::PaymentRecorded {
            deal: *deal,
            amount: payment.amount,
        }],
        Event::DealPaid { deal, .. } => vec![Fact::DealPaid(*deal)],
        Event::ActivityLogged { activity }
            if activity.direction == Some(Direction::Inbound)
                && channel_of(activity.kind).is_some() =>
        {
            vec![Fact::Inbound(activity.id)]
        }
        Event::StageSlaBreached { deal, stage, .. } => vec![Fact::SlaBreached {
            deal: *deal,
            stage: *stage,
        }],
        Event::RecordIdle { rule, record, .. } => vec![Fact::Idle {
            rule: rule.clone(),
            record: *record,
        }],
        Event::RuleDue { rule, fact, .. } => vec![Fact::Delayed {
            rule: rule.clone(),
            fact: Box::new(fact.clone()),
        }],
        _ => Vec::new(),
    }
}

fn channel_of(kind: ActivityKind) -> Option<InboundChannel> {
    match kind {
        ActivityKind::Call => Some(InboundChannel::Call),
        ActivityKind::Email => Some(InboundChannel::Email),
        ActivityKind::WebForm => Some(InboundChannel::WebForm),
        ActivityKind::Meeting | ActivityKind::Note => None,
    }
}

/// One fact per changed field (`common::diff`): standard fields by name, custom ones as
/// `custom.<key>`, their values as rules compare them.
fn changes<T: Serialize>(record: AnyId, before: Option<&T>, after: &T) -> Vec<Fact> {
    let Some(before) = before else {
        return Vec::new();
    };
    diff::changes(before, after)
        .into_iter()
        .map(|change| {
            let custom = change.field.starts_with("custom.");
            let value = |value: Value| if custom { untag(Some(&value)) } else { value };
            Fact::FieldChanged {
                record,
                from: value(change.from),
                to: value(change.to),
                field: change.field,
            }
        })
        .collect()
}

/// `{"decimal": "1.2"}` → `"1.2"`: custom values as rules compare them.
fn untag(value: Option<&Value>) -> Value {
    match value {
        Some(Value::Object(tagged)) => tagged.values().next().cloned().unwrap_or(Value::Null),
        Some(other) => other.clone(),
        None => Value::Null,
    }
}

/// Whether `rule`'s trigger (type and filters) answers to `fact`.
pub(crate) fn triggered(state: &State, rule: &Rule, fact: &Fact) -> bool {
    let task = |id: &TaskId| state.tasks.get(id);
    let kind_ok = |want: &Option<String>, id: &TaskId| {
        want.as_ref()
            .is_none_or(|kind| task(id).is_some_and(|t| &t.kind == kind))
    };
    let stage_ok = |reference: &Option<String>, pipeline: &Option<String>, stage: &StageId| {
        reference
            .as_ref()
            .is_none_or(|r| state.stage_matches(r, pipeline.as_deref(), *stage))
    };
    match (&rule.when, fact) {
        (Trigger::RecordCreated(created), Fact::Created(id)) => {
            record_kind(*id) == Some(created.record)
        }
        (Trigger::StageEntered(m), Fact::StageEntered { stage, .. })
        | (Trigger::StageLeft(m), Fact::StageLeft { stage, .. }) => {
            state.stage_matches(&m.stage, m.pipeline.as_deref(), *stage)
        }
        (
            Trigger::FieldChanged(change),
            Fact::FieldChanged {
                record,
                field,
                from,
                to,
            },
        ) => {
            record_kind(*record) == Some(change.record)
                && &change.field == field
                && change.from.as_ref().is_none_or(|want| loose_eq(from, want))
                && change.to.as_ref().is_none_or(|want| loose_eq(to, want))
        }
        (Trigger::TaskCompleted(m), Fact::TaskCompleted(id)) => {
            kind_ok(&m.kind, id)
                && m.outcome
                    .as_ref()
                    .is_none_or(|want| task(id).is_some_and(|t| t.outcome.as_ref() == Some(want)))
        }
        (Trigger::TaskOverdue(m), Fact::TaskOverdue(id)) => kind_ok(&m.kind, id),
        (Trigger::PaymentRecorded(_), Fact::PaymentRecorded { .. })
        | (Trigger::DealPaid(_), Fact::DealPaid(_))
        | (Trigger::DealWon(_), Fact::DealWon(_)) => true,
        (Trigger::DealLost(m), Fact::DealLost { reason, .. }) => m
            .reason
            .as_ref()
            .is_none_or(|want| reason.as_ref() == Some(want)),
        (Trigger::Inbound(m), Fact::Inbound(id)) => state.activities.get(id).is_some_and(|a| {
            channel_of(a.kind) == Some(m.channel)
                && m.outcome
                    .as_ref()
                    .is_none_or(|want| a.outcome.as_ref() == Some(want))
        }),
        (Trigger::StageSlaBreached(filter), Fact::SlaBreached { stage, .. }) => {
            stage_ok(&filter.stage, &filter.pipeline, stage)
        }
        (Trigger::DealRotting(_) | Trigger::ContactInactive(_), Fact::Idle { rule: key, .. })
        | (Trigger::TaskDueSoon(_), Fact::TaskDueSoon { rule: key, .. })
        | (Trigger::DateReached(_), Fact::DateReached { rule: key, .. }) => *key == rule.key,
        (_, Fact::Delayed { rule: key, fact }) => *key == rule.key && triggered(state, rule, fact),
        _ => false,
    }
}

fn record_kind(id: AnyId) -> Option<RecordKind> {
    match id {
        AnyId::ContactId(_) => Some(RecordKind::Contact),
        AnyId::CompanyId(_) => Some(RecordKind::Company),
        AnyId::DealId(_) => Some(RecordKind::Deal),
        AnyId::TaskId(_) => Some(RecordKind::Task),
        _ => None,
    }
}

/// The context a fact's rules see.
pub(crate) fn context_for(state: &State, fact: &Fact, at: chrono::DateTime<chrono::Utc>) -> Value {
    let trigger = fact.describe(state);
    context::for_record(
        state,
        fact.subject(state),
        at,
        trigger,
        crate::model::actor::Actor::System,
    )
}

/// What the rules a fact set off do now: fire, wait (delayed rules, whose condition is
/// checked when the wait is over), or nothing, with the reason.
pub(crate) struct Verdicts<'r> {
    pub fired: Vec<&'r Rule>,
    pub waiting: Vec<&'r Rule>,
    pub skipped: Vec<SkippedRule>,
}

/// Sorts `candidates` (rules whose trigger matched `fact`) by their verdicts on `data`.
pub(crate) fn judge<'r>(candidates: &'r [Rule], fact: &Fact, data: &Value) -> Verdicts<'r> {
    let mut verdicts = Verdicts {
        fired: Vec::new(),
        waiting: Vec::new(),
        skipped: Vec::new(),
    };
    let wait_is_over = matches!(fact, Fact::Delayed { .. });
    for rule in candidates {
        if rule.enabled && rule.delay.is_some() && !wait_is_over {
            verdicts.waiting.push(rule);
            continue;
        }
        let verdict = if rule.enabled {
            rule.condition.as_ref().map_or(Ok(()), |c| check(c, data))
        } else {
            Err("the rule is disabled".to_string())
        };
        match verdict {
            Ok(()) => verdicts.fired.push(rule),
            Err(reason) => verdicts.skipped.push(SkippedRule {
                rule: rule.key.clone(),
                reason,
            }),
        }
    }
    verdicts
}

/// `Ok` when the condition holds, or the reason it does not.
pub(crate) fn check(condition: &Condition, data: &Value) -> Result<(), String> {
    match condition {
        Condition::All(items) => items.iter().try_for_each(|item| check(item, data)),
        Condition::Any(items) => {
            let mut reasons = Vec::new();
            for item in items {
                match check(item, data) {
                    Ok(()) => return Ok(()),
                    Err(reason) => reasons.push(reason),
                }
            }
            Err(format!("none of: {}", reasons.join("; ")))
        }
        Condition::Not(inner) => match check(inner, data) {
            Ok(()) => Err(format!("not expected: {}", describe(inner))),
            Err(_) => Ok(()),
        },
        Condition::Test(test) => {
            let actual = context::lookup(data, &test.field).filter(|v| !v.is_null());
            let holds = match (test.op, actual) {
                (Op::Exists, found) => found.is_some() == (test.value == Value::Bool(true)),
                (_, None) => false,
                (Op::Eq, Some(v)) => loose_eq(v, &test.value),
                (Op::Ne, Some(v)) => !loose_eq(v, &test.value),
                (Op::Gt, Some(v)) => compare(v, &test.value) == Some(Ordering::Greater),
                (Op::Gte, Some(v)) => matches!(
                    compare(v, &test.value),
                    Some(Ordering::Greater | Ordering::Equal)
                ),
                (Op::Lt, Some(v)) => compare(v, &test.value) == Some(Ordering::Less),
                (Op::Lte, Some(v)) => matches!(
                    compare(v, &test.value),
                    Some(Ordering::Less | Ordering::Equal)
                ),
                (Op::In, Some(v)) => test
                    .value
                    .as_array()
                    .is_some_and(|items| items.iter().any(|item| loose_eq(v, item))),
                (Op::Contains, Some(Value::Array(items))) => {
                    items.iter().any(|item| loose_eq(item, &test.value))
                }
                (Op::Contains, Some(Value::String(text))) => {
                    test.value.as_str().is_some_and(|part| text.contains(part))
                }
                (Op::Contains, Some(_)) => false,
            };
            if holds {
                Ok(())
            } else {
                let shown = actual.map_or("absent".to_string(), |v| format!("{v}"));
                Err(format!(
                    "{} is {shown}; wanted {}",
                    test.field,
                    describe(condition)
                ))
            }
        }
    }
}

fn describe(condition: &Condition) -> String {
    serde_json::to_string(condition).unwrap_or_default()
}

/// A number, a decimal string, or a money amount, as an exact decimal.
fn decimal_of(value: &Value) -> Option<Decimal> {
    match value {
        Value::Number(n) => Decimal::from_str(&n.to_string())
            .or_else(|_| Decimal::from_scientific(&n.to_string()))
            .ok(),
        Value::String(s) => Decimal::from_str(s.trim()).ok(),
        Value::Object(map) => map.get("amount").and_then(decimal_of),
        _ => None,
    }
}

fn loose_eq(actual: &Value, wanted: &Value) -> bool {
    match (decimal_of(actual), decimal_of(wanted)) {
        (Some(a), Some(b)) if !actual.is_object() || !wanted.is_object() => a == b,
        _ => actual == wanted,
    }
}

fn compare(actual: &Value, wanted: &Value) -> Option<Ordering> {
    match (decimal_of(actual), decimal_of(wanted)) {
        (Some(a), Some(b)) => Some(a.cmp(&b)),
        _ => match (actual, wanted) {
            (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
            _ => None,
        },
    }
}

/// Runs one action of `rule` for `fact`; returns the command name it acted as and the
/// events. `ctx` acts as `system` at the trigger's time.
pub(crate) fn act(
    ctx: &mut Ctx<'_>,
    rule: &Rule,
    action: &Action,
    fact: &Fact,
    data: &Value,
) -> Result<(&'static str, Vec<Event>), CrmError> {
    let state = ctx.state;
    let subject = fact.subject(state);
    let focus = match subject {
        AnyId::TaskId(id) => state.tasks.get(&id).and_then(|t| t.link),
        other => Some(other),
    };
    let text = |source: &str| document::render(source, Format::Text, data, &state.calendar);
    // What a user could do as a command is done as that command, through the one
    // dispatcher; `events` holds what choosing an assignee produced (a round robin's turn).
    let (commands, mut events) = match action {
        Action::CreateTask(spec) => {
            let (assignee, events) = resolve_one(ctx, &spec.assignee, subject)?;
            let base = match &spec.due_from {
                Some(path) => Some(time_at(data, path)?),
                None => None,
            };
            let due = match (base, spec.due_in) {
                (base, Some(span)) => {
                    Some(state.calendar.add_working(base.unwrap_or(ctx.now), span)?)
                }
                (Some(base), None) => Some(base),
                (None, None) => None,
            };
            let task = NewTask {
                title: text(&spec.title)?,
                kind: spec.kind.clone(),
                description: spec.description.as_deref().map(text).transpose()?,
                assignee: Some(assignee),
                due,
                link: focus,
                repeat: None,
            };
            (vec![Command::CreateTask(task)], events)
        }
        Action::MoveStage(step) => {
            let deal_id = focus_deal(focus)?;
            let deal = state
                .deals
                .get(&deal_id)
                .ok_or_else(|| CrmError::not_found("deal", deal_id))?;
            let stage = state
                .pipelines
                .get(&deal.pipeline)
                .and_then(|p| {
                    p.stages
                        .iter()
                        .find(|s| s.name == step.stage || s.id.to_string() == step.stage)
                })
                .map(|s| s.id)
                .ok_or_else(|| {
                    CrmError::validation(
                        "stage",
                        format!("the pipeline of {deal_id} has no stage {:?}", step.stage),
                    )
                })?;
            let move_deal = DealMove {
                id: deal_id,
                stage,
                lost_reason: step.lost_reason.clone(),
            };
            (vec![Command::MoveDeal(move_deal)], Vec::new())
        }
        Action::SetField(set) => {
            let record = focus.ok_or_else(|| no_record("set_field"))?;
            (vec![set_field(record, &set.field, &set.value)?], Vec::new())
        }
        Action::AssignOwner(assign) => {
            let focus = focus.ok_or_else(|| no_record("assign_owner"))?;
            let records = if assign.records.is_empty() {
                vec![focus]
            } else {
                assign
                    .records
                    .iter()
                    .map(|kind| linked(state, focus, *kind))
                    .collect::<Result<Vec<_>, _>>()?
            };
            let (owner, events) = resolve_one(ctx, &assign.to, subject)?;
            let commands = records
                .into_iter()
                .map(|record| Command::AssignOwner(OwnerAssignment { record, owner }))
                .collect();
            (commands, events)
        }
        Action::RenderDocument(render) => {
            let request = RenderRequest {
                template: render.template.clone(),
                record: focus.unwrap_or(subject),
            };
            (vec![Command::RenderDocument(request)], Vec::new())
        }
        Action::Notify(_) | Action::Escalate(_) | Action::Webhook(_) => {
            return effect(ctx, rule, action, subject, data);
        }
    };
    let name = commands
        .first()
        .map_or_else(|| action.name(), Command::name);
    for command in &commands {
        events.extend(crate::decide::decide(ctx, command)?);
    }
    Ok((name, events))
}

/// `set_field` as the update command of the record's kind; the value is read as that
/// command's patch reads it.
fn set_field(record: AnyId, field: &str, value: &Value) -> Result<Command, CrmError> {
    let patch = match field.strip_prefix("custom.") {
        Some(key) => json!({"custom": {key: value}}),
        None => json!({field: value}),
    };
    let read = |err: serde_json::Error| CrmError::validation(field, err.to_string());
    Ok(match record {
        AnyId::DealId(id) => Command::UpdateDeal(Update {
            id,
            patch: serde_json::from_value(patch).map_err(read)?,
        }),
        AnyId::ContactId(id) => Command::UpdateContact(Update {
            id,
            patch: serde_json::from_value(patch).map_err(read)?,
        }),
        AnyId::CompanyId(id) => Command::UpdateCompany(Update {
            id,
            patch: serde_json::from_value(patch).map_err(read)?,
        }),
        other => {
            return Err(CrmError::validation(
                "field",
                format!(
                    "{other} is a {}; set_field works on contacts, companies and deals",
                    other.kind()
                ),
            ))
        }
    })
}

/// What has no command: notifications, escalations and webhooks, queued as effects.
fn effect(
    ctx: &mut Ctx<'_>,
    rule: &Rule,
    action: &Action,
    subject: AnyId,
    data: &Value,
) -> Result<(&'static str, Vec<Event>), CrmError> {
    let text = |source: &str| document::render(source, Format::Text, data, &ctx.state.calendar);
    match action {
        Action::Notify(notify) if notify.to == Assignee::Client => {
            let body = text(&notify.text)?;
            Ok((
                "notify",
                vec![client_message(ctx, notify.channel, &body, subject)?],
            ))
        }
        Action::Notify(notify) => {
            let (recipients, mut events) = resolve_many(ctx, &notify.to, subject)?;
            let body = text(&notify.text)?;
            events.extend(crate::decide::outbox::notifications(
                ctx,
                &recipients,
                notify.channel,
                &body,
                Some(subject),
                false,
            )?);
            Ok(("notify", events))
        }
        Action::Escalate(escalate) => {
            let to = escalate.to.clone().unwrap_or(match subject {
                AnyId::TaskId(_) => Assignee::AssigneesHead,
                _ => Assignee::OwnersHead,
            });
            let (recipients, mut events) = resolve_many(ctx, &to, subject)?;
            let body = text(escalate.text.as_deref().unwrap_or(DEFAULT_ESCALATION))?;
            events.extend(crate::decide::outbox::notifications(
                ctx,
                &recipients,
                escalate.channel,
                &body,
                Some(subject),
                true,
            )?);
            Ok(("escalate", events))
        }
        Action::Webhook(hook) => {
            let effect = Effect {
                id: ctx.next_id(),
                at: ctx.now,
                subject: Some(subject),
                body: EffectBody::Webhook {
                    url: hook.url.clone(),
                    name: hook.name.clone().unwrap_or_else(|| rule.key.clone()),
                    payload: data.clone(),
                },
            };
            Ok(("webhook", vec![Event::EffectQueued { effect }]))
        }
        _ => Err(CrmError::validation(
            "then",
            format!("{} is done as a command, not an effect", action.name()),
        )),
    }
}

/// What an escalation says when the rule gives no text.
const DEFAULT_ESCALATION: &str = "Needs attention ({{ trigger.type }}): \
{% if task %}task \"{{ task.title }}\" for {{ assignee.name }}{% if task.due %}, due {{ task.due | local }}{% endif %}\
{% elif deal %}deal \"{{ deal.title }}\" in {{ deal.stage_name }}, owner {{ owner.name }}\
{% else %}{{ record.kind }} {{ record.id }}{% endif %}";

/// The record of `kind` that `focus` is or links to (a deal's contact, a contact's company).
fn linked(state: &State, focus: AnyId, kind: RecordKind) -> Result<AnyId, CrmError> {
    let deal = match focus {
        AnyId::DealId(id) => state.deals.get(&id),
        _ => None,
    };
    let contact = match focus {
        AnyId::ContactId(id) => Some(id),
        _ => deal.and_then(|d| d.fields.contact),
    };
    let found: Option<AnyId> = match kind {
        RecordKind::Deal => deal.map(|d| d.id.into()),
        RecordKind::Contact => contact.map(AnyId::from),
        RecordKind::Company => match focus {
            AnyId::CompanyId(id) => Some(id.into()),
            _ => deal
                .and_then(|d| d.fields.company)
                .or_else(|| {
                    contact
                        .and_then(|c| state.contacts.get(&c))
                        .and_then(|c| c.fields.company)
                })
                .map(AnyId::from),
        },
        RecordKind::Task => None,
    };
    found.ok_or_else(|| {
        CrmError::validation(
            "records",
            format!("{focus} has no linked {}", validate::json_name(&kind)),
        )
    })
}

fn focus_deal(focus: Option<AnyId>) -> Result<DealId, CrmError> {
    match focus {
        Some(AnyId::DealId(id)) => Ok(id),
        _ => Err(CrmError::validation(
            "stage",
            "move_stage needs a deal (the trigger's record or the task's deal)",
        )),
    }
}

fn no_record(action: &str) -> CrmError {
    CrmError::validation(
        "record",
        format!("{action} needs a contact, company or deal (this task is linked to none)"),
    )
}

/// The time at `path` in the context (an RFC 3339 string, e.g. a datetime custom field).
fn time_at(data: &Value, path: &str) -> Result<chrono::DateTime<chrono::Utc>, CrmError> {
    let value = context::lookup(data, path)
        .and_then(Value::as_str)
        .ok_or_else(|| CrmError::validation("due_from", format!("{path} holds no time")))?;
    crate::common::utc::parse_now(value)
        .map_err(|_| CrmError::validation("due_from", format!("{path} is {value:?}, not a time")))
}

/// The owner of a record; for a task, of the record it is about (or its assignee).
fn owner_of(state: &State, record: AnyId) -> Option<UserId> {
    match record {
        AnyId::ContactId(id) => state.contacts.get(&id).map(|c| c.owner),
        AnyId::CompanyId(id) => state.companies.get(&id).map(|c| c.owner),
        AnyId::DealId(id) => state.deals.get(&id).map(|d| d.owner),
        AnyId::TaskId(id) => state.tasks.get(&id).and_then(|t| {
            t.link
                .and_then(|link| owner_of(state, link))
                .or(Some(t.assignee))
        }),
        AnyId::ActivityId(id) => state
            .activities
            .get(&id)
            .and_then(|a| owner_of(state, a.link)),
        _ => None,
    }
}

/// The first active head of `user`'s department.
fn head_of(state: &State, user: UserId) -> Result<UserId, CrmError> {
    let department = state.users.get(&user).and_then(|u| u.department);
    state
        .users
        .values()
        .find(|u| {
            u.active
                && u.role == Role::HeadOfDepartment
                && department.is_some()
                && u.department == department
        })
        .map(|u| u.id)
        .ok_or_else(|| {
            CrmError::validation(
                "assignee",
                format!("{user} has no active head of department"),
            )
        })
}

/// Active users holding `role`: a role name (`manager`) or a specialty (`measurer`).
fn holders(state: &State, role: &str) -> Vec<UserId> {
    state
        .users
        .values()
        .filter(|u| u.active)
        .filter(|u| validate::json_name(&u.role) == role || u.specialty.as_deref() == Some(role))
        .map(|u| u.id)
        .collect()
}

fn resolve_one(
    ctx: &Ctx<'_>,
    who: &Assignee,
    subject: AnyId,
) -> Result<(UserId, Vec<Event>), CrmError> {
    let state = ctx.state;
    match who {
        Assignee::RoundRobin(pool) => {
            let candidates = holders(state, pool);
            let last = state.round_robin.get(pool);
            let next = candidates
                .iter()
                .find(|id| last.is_none_or(|last| *id > last))
                .or(candidates.first())
                .copied()
                .ok_or_else(|| nobody(pool))?;
            Ok((
                next,
                vec![Event::RoundRobinAdvanced {
                    pool: pool.clone(),
                    user: next,
                }],
            ))
        }
        Assignee::Role(role) => {
            // The least busy holder; ties go to the earliest user.
            let user = holders(state, role)
                .into_iter()
                .min_by_key(|user| (state.task_index.open_tasks(*user), *user))
                .ok_or_else(|| nobody(role))?;
            Ok((user, Vec::new()))
        }
        other => Ok((resolve_many(ctx, other, subject)?.0[0], Vec::new())),
    }
}

/// A message to the record's client, queued only with their consent for the channel
/// and an address for it; otherwise the reason it was not sent, as an event of its own
/// (so `explain` shows it).
fn client_message(
    ctx: &mut Ctx<'_>,
    channel: Channel,
    text: &str,
    subject: AnyId,
) -> Result<Event, CrmError> {
    let state = ctx.state;
    let contact = client_of(state, subject).and_then(|id| state.contacts.get(&id));
    let withheld = |contact: Option<ContactId>, reason: String| Event::MessageWithheld {
        subject,
        contact,
        channel,
        reason,
    };
    let Some(contact) = contact else {
        return Ok(withheld(None, format!("{subject} has no client")));
    };
    let (consent, address, what) = match channel {
        Channel::Email => (
            contact.fields.consent.email,
            contact.fields.emails.first(),
            "e-mail",
        ),
        Channel::Sms => (
            contact.fields.consent.sms,
            contact.fields.phones.first(),
            "SMS",
        ),
        Channel::Push | Channel::InApp => {
            return Ok(withheld(
                Some(contact.id),
                "a client is reached by email or sms".to_string(),
            ))
        }
    };
    if !consent {
        return Ok(withheld(
            Some(contact.id),
            format!("{} has not consented to {what}", contact.id),
        ));
    }
    let Some(address) = address.cloned() else {
        let kind = if channel == Channel::Email {
            "e-mail address"
        } else {
            "phone"
        };
        return Ok(withheld(
            Some(contact.id),
            format!("{} has no {kind}", contact.id),
        ));
    };
    let text = validate::optional_text("text", Some(text))?
        .ok_or_else(|| CrmError::validation("text", "the rendered text is empty"))?;
    Ok(Event::EffectQueued {
        effect: Effect {
            id: ctx.next_id(),
            at: ctx.now,
            subject: Some(subject),
            body: EffectBody::Message {
                contact: contact.id,
                channel,
                address,
                text,
            },
        },
    })
}

/// The contact a record is about: itself, a deal's contact, or that of the record a
/// task or activity is on.
fn client_of(state: &State, record: AnyId) -> Option<ContactId> {
    match record {
        AnyId::ContactId(id) => Some(id),
        AnyId::DealId(id) => state.deals.get(&id)?.fields.contact,
        AnyId::TaskId(id) => client_of(state, state.tasks.get(&id)?.link?),
        AnyId::ActivityId(id) => client_of(state, state.activities.get(&id)?.link),
        _ => None,
    }
}

fn resolve_many(
    ctx: &Ctx<'_>,
    who: &Assignee,
    subject: AnyId,
) -> Result<(Vec<UserId>, Vec<Event>), CrmError> {
    let state = ctx.state;
    let owner = || {
        owner_of(state, subject)
            .ok_or_else(|| CrmError::validation("assignee", format!("{subject} has no owner")))
    };
    let assignee = || match subject {
        AnyId::TaskId(id) => state
            .tasks
            .get(&id)
            .map(|t| t.assignee)
            .ok_or_else(|| CrmError::not_found("task", id)),
        other => Err(CrmError::validation(
            "assignee",
            format!("{other} is not a task, so it has no assignee"),
        )),
    };
    match who {
        Assignee::Owner => Ok((vec![owner()?], Vec::new())),
        Assignee::OwnersHead => Ok((vec![head_of(state, owner()?)?], Vec::new())),
        Assignee::Assignee => Ok((vec![assignee()?], Vec::new())),
        Assignee::AssigneesHead => Ok((vec![head_of(state, assignee()?)?], Vec::new())),
        Assignee::User(user) => Ok((vec![*user], Vec::new())),
        Assignee::Role(role) => {
            let all = holders(state, role);
            if all.is_empty() {
                return Err(nobody(role));
            }
            Ok((all, Vec::new()))
        }
        Assignee::RoundRobin(_) => {
            let (user, events) = resolve_one(ctx, who, subject)?;
            Ok((vec![user], events))
        }
        Assignee::Client => Err(CrmError::validation(
            "to",
            "a client gets messages (notify by email or sms), not tasks or records",
        )),
    }
}

fn nobody(role: &str) -> CrmError {
    CrmError::validation(
        "assignee",
        format!("no active user has the role or specialty {role:?}"),
    )
}
