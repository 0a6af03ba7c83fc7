//! The data a rule's conditions test and a template renders: the record, its linked
//! records, its owner, the trigger — as one JSON object with documented names
//! (docs/rules.md, "What a rule can look at").

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::access::Access;
use crate::common::id::{AnyId, ContactId, UserId};
use crate::common::money::{Currency, Money};
use crate::model::actor::Actor;
use crate::model::deal::{Deal, DealStatus};
use crate::state::State;

/// A client's visits (won deals) as the salon reads them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ClientStats {
    /// Won deals with this contact.
    pub visits: u64,
    /// Their amounts, per currency.
    pub totals: Vec<Money>,
    /// The mean amount, when all visits are in one currency.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub average_bill: Option<Money>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_visit: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_visit: Option<DateTime<Utc>>,
    /// Mean days between consecutive visits (two visits or more), to one decimal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub days_between_visits: Option<Decimal>,
}

/// Visits and average bill of one contact, from their won deals — those `scope` may
/// read (every one without a scope), as reports count only deals in their reader's scope.
pub(crate) fn client_stats(
    state: &State,
    contact: ContactId,
    scope: Option<&Access<'_>>,
) -> ClientStats {
    let mut visits: Vec<(DateTime<Utc>, Option<&Money>)> = state
        .deals_by_party
        .of(AnyId::ContactId(contact))
        .filter_map(|id| state.deals.get(&id))
        .filter(|deal| deal.status == DealStatus::Won)
        .filter(|deal| scope.is_none_or(|access| access.can_read(deal.id.into())))
        .map(|deal| {
            (
                deal.closed_at.unwrap_or(deal.updated_at),
                deal.fields.amount.as_ref(),
            )
        })
        .collect();
    visits.sort_by_key(|(at, _)| *at);
    let mut totals: BTreeMap<Currency, Decimal> = BTreeMap::new();
    for amount in visits.iter().filter_map(|(_, amount)| *amount) {
        *totals.entry(amount.currency()).or_default() += amount.amount();
    }
    let count = visits.len() as u64;
    let average_bill = match (totals.len(), totals.iter().next()) {
        (1, Some((currency, total))) => {
            let billed = visits.iter().filter(|(_, a)| a.is_some()).count() as i64;
            Some(Money::new(total / Decimal::from(billed), *currency).in_minor_units())
        }
        _ => None,
    };
    let first_visit = visits.first().map(|(at, _)| *at);
    let last_visit = visits.last().map(|(at, _)| *at);
    let days_between_visits = match (first_visit, last_visit) {
        (Some(first), Some(last)) if count > 1 => {
            let seconds = Decimal::from((last - first).num_seconds());
            Some(
                (seconds / Decimal::from(86_400 * (count as i64 - 1)))
                    .round_dp(1)
                    .normalize(),
            )
        }
        _ => None,
    };
    ClientStats {
        visits: count,
        totals: totals
            .into_iter()
            .map(|(currency, amount)| Money::new(amount, currency))
            .collect(),
        average_bill,
        first_visit,
        last_visit,
        days_between_visits,
    }
}

/// The context for `record` at `now`, with `trigger` describing what happened, as
/// `viewer` may see it: `contact.stats` counts the won deals the viewer may read — a
/// user rendering a document, or, for the system (rules, webhooks), the owner of the
/// record in focus, so a notification about Anna's deal never sums Boris's.
pub(crate) fn for_record(
    state: &State,
    record: AnyId,
    now: DateTime<Utc>,
    trigger: Value,
    viewer: Actor,
) -> Value {
    let mut context = Map::new();
    context.insert(
        "record".into(),
        json!({"kind": record.kind(), "id": record}),
    );
    let mut focus = Some(record);
    if let AnyId::TaskId(id) = record {
        if let Some(task) = state.tasks.get(&id) {
            context.insert("task".into(), plain(task, "fields"));
            context.insert("assignee".into(), user(state, task.assignee));
            focus = task.link;
        }
    }
    let mut owner = None;
    let mut contact = None;
    let mut company = None;
    match focus {
        Some(AnyId::DealId(id)) => {
            if let Some(deal) = state.deals.get(&id) {
                context.insert("deal".into(), deal_value(state, deal));
                if let Some(pipeline) = state.pipelines.get(&deal.pipeline) {
                    context.insert(
                        "pipeline".into(),
                        json!({"id": pipeline.id, "name": pipeline.name}),
                    );
                    if let Some(stage) = pipeline.stage(deal.stage) {
                        context.insert("stage".into(), to_value(stage));
                    }
                }
                owner = Some(deal.owner);
                contact = deal.fields.contact;
                company = deal.fields.company;
            }
        }
        Some(AnyId::ContactId(id)) => contact = Some(id),
        Some(AnyId::CompanyId(id)) => company = Some(id),
        _ => {}
    }
    if let Some(found) = contact.and_then(|id| state.contacts.get(&id)) {
        let mut value = plain(found, "custom");
        let eyes = match viewer {
            Actor::User(user) => Some(user),
            Actor::System => owner.or(Some(found.owner)),
        };
        let scope = eyes.and_then(|user| Access::viewer(state, user));
        value["stats"] = to_value(&client_stats(state, found.id, scope.as_ref()));
        context.insert("contact".into(), value);
        owner = owner.or(Some(found.owner));
        company = company.or(found.fields.company);
    }
    if let Some(found) = company.and_then(|id| state.companies.get(&id)) {
        context.insert("company".into(), plain(found, "custom"));
        owner = owner.or(Some(found.owner));
    }
    if let AnyId::TaskId(id) = record {
        owner = owner.or(state.tasks.get(&id).map(|t| t.assignee));
    }
    if let Some(focus) = focus {
        context.insert("results".into(), results(state, focus));
    }
    if let Some(owner) = owner {
        context.insert("owner".into(), user(state, owner));
        let department = state
            .users
            .get(&owner)
            .and_then(|u| u.department)
            .and_then(|d| state.departments.get(&d));
        if let Some(department) = department {
            context.insert(
                "department".into(),
                json!({"id": department.id, "name": department.name}),
            );
        }
    }
    context.insert("trigger".into(), trigger);
    context.insert("now".into(), json!(now));
    context.insert(
        "calendar".into(),
        json!({"time_zone": state.calendar.time_zone.name()}),
    );
    Value::Object(context)
}

/// What the record's completed tasks recorded, by task kind (the latest of each kind):
/// `results.measurement.width_mm`, `results.call.outcome`.
fn results(state: &State, record: AnyId) -> Value {
    let mut by_kind = Map::new();
    let latest = state.task_index.latest_done(record);
    for task in latest
        .into_iter()
        .filter_map(|(_, id)| state.tasks.get(&id))
    {
        let mut fields = plain(task, "fields")["fields"].clone();
        if let (Value::Object(map), Some(outcome)) = (&mut fields, &task.outcome) {
            map.insert("outcome".into(), json!(outcome));
        }
        by_kind.insert(task.kind.clone(), fields);
    }
    Value::Object(by_kind)
}

/// How many of a deal's latest stage changes and payments rules and templates see
/// (`deal.stage_history`, `deal.payments`): a rule on a deal moved a hundred thousand
/// times costs what it costs on a new one. `deal.paid` still sums every payment.
pub(crate) const CONTEXT_HISTORY: usize = 100;

fn deal_value(state: &State, deal: &Deal) -> Value {
    let recent = |len: usize| len.saturating_sub(CONTEXT_HISTORY);
    // Field by field, so the long vectors are never copied whole (and a new field of
    // `Deal` cannot be forgotten here: the literal would not compile).
    let view = Deal {
        id: deal.id,
        pipeline: deal.pipeline,
        stage: deal.stage,
        owner: deal.owner,
        status: deal.status,
        lost_reason: deal.lost_reason.clone(),
        fields: deal.fields.clone(),
        stage_history: deal.stage_history[recent(deal.stage_history.len())..].to_vec(),
        created_at: deal.created_at,
        updated_at: deal.updated_at,
        closed_at: deal.closed_at,
        line_items: deal.line_items.clone(),
        payments: deal.payments[recent(deal.payments.len())..].to_vec(),
        paid_at: deal.paid_at,
        archived_at: deal.archived_at,
    };
    let mut value = plain(&view, "custom");
    if let Some(paid) = deal.paid() {
        value["paid"] = to_value(&paid);
    }
    if let Some(balance) = deal.balance() {
        value["balance"] = to_value(&balance);
    }
    if let Some(name) = state
        .pipelines
        .get(&deal.pipeline)
        .and_then(|p| p.stage(deal.stage))
        .map(|s| s.name.clone())
    {
        value["stage_name"] = json!(name);
    }
    value
}

fn user(state: &State, id: UserId) -> Value {
    state.users.get(&id).map_or(json!({"id": id}), to_value)
}

fn to_value<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// The record as JSON with its typed custom values (`{"decimal": "1.2"}`) unwrapped to
/// plain values (`"1.2"`), so rules and templates write `deal.custom.width`.
fn plain<T: Serialize>(record: &T, custom_key: &str) -> Value {
    let mut value = to_value(record);
    if let Some(Value::Object(custom)) = value.get_mut(custom_key) {
        for field in custom.values_mut() {
            if let Value::Object(tagged) = field {
                if let Some(inner) = tagged.values().next().cloned() {
                    *field = inner;
                }
            }
        }
    }
    value
}

/// The value at a dotted path, e.g. `deal.custom.width` (`None` when absent).
pub(crate) fn lookup<'v>(context: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('.')
        .try_fold(context, |value, part| match value {
            Value::Object(map) => map.get(part),
            Value::Array(items) => part.parse::<usize>().ok().and_then(|i| items.get(i)),
            _ => None,
        })
}
