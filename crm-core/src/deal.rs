//! Deals: an opportunity moving through a pipeline, with its full stage history.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::access::Actor;
use crate::command::Ctx;
use crate::custom_field::{self, CustomValues, EntityKind};
use crate::error::CrmError;
use crate::event::Event;
use crate::id::{AnyId, CompanyId, ContactId, DealId, PipelineId, StageId, UserId};
use crate::money::Money;
use crate::payment::{LineItem, Payment};
use crate::pipeline::StageKind;
use crate::validate;

/// Whether a deal is still being worked on, or how it ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum DealStatus {
    Open,
    Won,
    Lost,
}

impl From<StageKind> for DealStatus {
    fn from(kind: StageKind) -> Self {
        match kind {
            StageKind::Open => DealStatus::Open,
            StageKind::Won => DealStatus::Won,
            StageKind::Lost => DealStatus::Lost,
        }
    }
}

/// One move in a deal's stage history (the first entry has no `from`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct StageChange {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<StageId>,
    pub to: StageId,
    #[serde(deserialize_with = "crate::utc::deserialize")]
    pub at: DateTime<Utc>,
    pub by: Actor,
}

/// A stored deal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Deal {
    pub id: DealId,
    pub pipeline: PipelineId,
    pub stage: StageId,
    pub owner: UserId,
    pub status: DealStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lost_reason: Option<String>,
    #[serde(flatten)]
    pub fields: DealFields,
    /// Every stage the deal entered, oldest first.
    pub stage_history: Vec<StageChange>,
    #[serde(deserialize_with = "crate::utc::deserialize")]
    pub created_at: DateTime<Utc>,
    #[serde(deserialize_with = "crate::utc::deserialize")]
    pub updated_at: DateTime<Utc>,
    /// When the deal was won or lost; cleared if it is reopened.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::utc::deserialize_option"
    )]
    pub closed_at: Option<DateTime<Utc>>,
    /// What is sold: products, quantities, prices, discounts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub line_items: Vec<LineItem>,
    /// Payments and refunds, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub payments: Vec<Payment>,
    /// When payments reached the amount; cleared if a refund takes them below it.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::utc::deserialize_option"
    )]
    pub paid_at: Option<DateTime<Utc>>,
}

impl Deal {
    /// The sum of payments and refunds, in the payments' currency (none before the first).
    /// Refuses an amount at `field` in another currency than the deal's payments: once
    /// money has moved, the deal's currency is fixed (a refund must still add up).
    pub(crate) fn require_currency(&self, field: &str, amount: &Money) -> Result<(), CrmError> {
        match self.payments.first() {
            Some(paid) if paid.amount.currency() != amount.currency() => Err(
                CrmError::currency_mismatch(field, paid.amount.currency(), amount.currency()),
            ),
            _ => Ok(()),
        }
    }

    pub fn paid(&self) -> Option<Money> {
        let first = self.payments.first()?;
        Money::sum(
            first.amount.currency(),
            self.payments.iter().map(|p| &p.amount),
        )
        .ok()
    }
}

/// The editable part of a deal, normalised.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DealFields {
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<ContactId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company: Option<CompanyId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<Money>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_close: Option<NaiveDate>,
    /// Where the lead came from, e.g. `"website"`; reports group by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default)]
    pub tags: BTreeSet<String>,
    #[serde(default)]
    pub custom: CustomValues,
}

/// Input for [`crate::Command::CreateDeal`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct NewDeal {
    pub title: String,
    pub pipeline: Option<PipelineId>,
    /// Defaults to the pipeline's first stage; must be an open stage.
    #[serde(default)]
    pub stage: Option<StageId>,
    #[serde(default)]
    pub contact: Option<ContactId>,
    #[serde(default)]
    pub company: Option<CompanyId>,
    /// Defaults to the acting user; required when the actor is `system`.
    #[serde(default)]
    pub owner: Option<UserId>,
    #[serde(default)]
    pub amount: Option<Money>,
    #[serde(default)]
    pub expected_close: Option<NaiveDate>,
    /// Where the lead came from; defaults to the contact's source.
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub custom: BTreeMap<String, Value>,
}

/// Input for [`crate::Command::UpdateDeal`]: absent fields stay, `null` clears.
/// Stage and owner change through `move_deal` and `assign_owner`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default, deny_unknown_fields)]
pub struct DealPatch {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(
        deserialize_with = "validate::nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub contact: Option<Option<ContactId>>,
    #[serde(
        deserialize_with = "validate::nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub company: Option<Option<CompanyId>>,
    #[serde(
        deserialize_with = "validate::nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub amount: Option<Option<Money>>,
    #[serde(
        deserialize_with = "validate::nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub expected_close: Option<Option<NaiveDate>>,
    #[serde(
        deserialize_with = "validate::nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub source: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub custom: BTreeMap<String, Value>,
}

fn apply_patch(ctx: &Ctx<'_>, fields: &mut DealFields, patch: &DealPatch) -> Result<(), CrmError> {
    if let Some(title) = &patch.title {
        fields.title = validate::name("title", title)?;
    }
    if let Some(contact) = patch.contact {
        if let Some(contact) = contact {
            ctx.access.require_read(AnyId::ContactId(contact))?;
        }
        fields.contact = contact;
    }
    if let Some(company) = patch.company {
        if let Some(company) = company {
            ctx.access.require_read(AnyId::CompanyId(company))?;
        }
        fields.company = company;
    }
    if let Some(amount) = patch.amount {
        if let Some(negative) = amount.filter(Money::is_negative) {
            return Err(CrmError::validation(
                "amount",
                format!("{negative} is negative"),
            ));
        }
        fields.amount = amount.map(|a| a.entered("amount", 0)).transpose()?;
    }
    if let Some(expected_close) = patch.expected_close {
        fields.expected_close = expected_close;
    }
    if let Some(source) = &patch.source {
        fields.source = validate::optional_name("source", source.as_deref())?;
    }
    if let Some(tags) = &patch.tags {
        fields.tags = validate::tags("tags", tags)?;
    }
    let definitions = ctx.state.fields.get(&EntityKind::Deal);
    fields.custom =
        custom_field::apply_changes(definitions, &fields.custom, &patch.custom, ctx.region, true)?;
    Ok(())
}

/// Handles [`crate::Command::CreateDeal`].
pub(crate) fn create(ctx: &mut Ctx<'_>, input: &NewDeal) -> Result<Vec<Event>, CrmError> {
    ctx.access.require_sales_role("create deals")?;
    let mut pipelines = ctx.state.pipelines.keys();
    let pipeline_id = match (input.pipeline, pipelines.next(), pipelines.next()) {
        (Some(id), _, _) => id,
        // With a single pipeline there is nothing to choose.
        (None, Some(only), None) => *only,
        (None, _, _) => {
            return Err(CrmError::validation(
                "pipeline",
                "is required when there is not exactly one pipeline",
            ))
        }
    };
    let pipeline = ctx
        .state
        .pipelines
        .get(&pipeline_id)
        .ok_or_else(|| CrmError::not_found("pipeline", pipeline_id))?;
    let stage = match input.stage {
        None => pipeline.stages.first().ok_or_else(|| {
            CrmError::validation("pipeline", format!("{pipeline_id} has no stages"))
        })?,
        Some(id) => pipeline.stage(id).ok_or_else(|| {
            CrmError::validation(
                "stage",
                format!("{id} is not a stage of pipeline {pipeline_id}"),
            )
        })?,
    };
    if stage.kind != StageKind::Open {
        return Err(CrmError::validation(
            "stage",
            format!(
                "{} is a {} stage; deals start in an open stage",
                stage.id,
                validate::json_name(&stage.kind)
            ),
        ));
    }
    let owner = ctx.access.owner_for_new(input.owner)?;
    let patch = DealPatch {
        title: Some(input.title.clone()),
        contact: Some(input.contact),
        company: Some(input.company),
        amount: Some(input.amount),
        expected_close: Some(input.expected_close),
        source: Some(input.source.clone().or_else(|| {
            let contact = input.contact.and_then(|id| ctx.state.contacts.get(&id))?;
            contact.fields.source.clone()
        })),
        tags: Some(input.tags.clone()),
        custom: input.custom.clone(),
    };
    let mut fields = DealFields::default();
    apply_patch(ctx, &mut fields, &patch)?;
    let deal = Deal {
        id: ctx.next_id(),
        pipeline: pipeline_id,
        stage: stage.id,
        owner,
        status: DealStatus::Open,
        lost_reason: None,
        fields,
        stage_history: vec![StageChange {
            from: None,
            to: stage.id,
            at: ctx.now,
            by: ctx.actor(),
        }],
        created_at: ctx.now,
        updated_at: ctx.now,
        closed_at: None,
        line_items: Vec::new(),
        payments: Vec::new(),
        paid_at: None,
    };
    Ok(vec![Event::DealCreated { deal }])
}

/// Handles [`crate::Command::UpdateDeal`]; an update that changes nothing records nothing.
pub(crate) fn update(
    ctx: &mut Ctx<'_>,
    id: DealId,
    patch: &DealPatch,
) -> Result<Vec<Event>, CrmError> {
    ctx.access.require_edit(AnyId::DealId(id))?;
    let deal = &ctx.state.deals[&id];
    let before = &deal.fields;
    let mut fields = before.clone();
    apply_patch(ctx, &mut fields, patch)?;
    if let Some(amount) = &fields.amount {
        deal.require_currency("amount", amount)?;
    }
    let changed = validate::changed_keys(before, &fields);
    if changed.is_empty() {
        return Ok(Vec::new());
    }
    Ok(vec![Event::DealUpdated {
        id,
        fields,
        changed,
    }])
}

/// Handles [`crate::Command::MoveDeal`]: any stage of the deal's pipeline, forward,
/// back or reopening; a lost stage needs a reason (one of the pipeline's, if it lists any).
pub(crate) fn move_to(
    ctx: &mut Ctx<'_>,
    id: DealId,
    to: StageId,
    lost_reason: Option<&str>,
) -> Result<Vec<Event>, CrmError> {
    ctx.access.require_edit(AnyId::DealId(id))?;
    let deal = &ctx.state.deals[&id];
    // Only a journal edited by hand could name a missing pipeline; refuse, never panic.
    let pipeline = ctx
        .state
        .pipelines
        .get(&deal.pipeline)
        .ok_or_else(|| CrmError::not_found("pipeline", deal.pipeline))?;
    let stage = pipeline.stage(to).ok_or_else(|| {
        CrmError::validation(
            "stage",
            format!(
                "{to} is not a stage of pipeline {} ({})",
                pipeline.id, pipeline.name
            ),
        )
    })?;
    if deal.stage == to {
        return Err(CrmError::conflict(format!(
            "deal {id} is already in stage {to} ({})",
            stage.name
        )));
    }
    let lost_reason = validate::optional_name("lost_reason", lost_reason)?;
    match (stage.kind, &lost_reason) {
        (StageKind::Lost, None) => {
            return Err(CrmError::validation(
                "lost_reason",
                format!(
                    "is required to move a deal to {} ({})",
                    stage.id, stage.name
                ),
            ));
        }
        (StageKind::Lost, Some(reason))
            if !pipeline.lost_reasons.is_empty() && !pipeline.lost_reasons.contains(reason) =>
        {
            return Err(CrmError::validation(
                "lost_reason",
                format!("{reason:?} is not one of {:?}", pipeline.lost_reasons),
            ));
        }
        (StageKind::Open | StageKind::Won, Some(reason)) => {
            return Err(CrmError::validation(
                "lost_reason",
                format!("{reason:?} given, but {} is not a lost stage", stage.name),
            ));
        }
        _ => {}
    }
    Ok(vec![Event::DealMoved {
        id,
        from: deal.stage,
        to,
        status: stage.kind.into(),
        lost_reason,
    }])
}
