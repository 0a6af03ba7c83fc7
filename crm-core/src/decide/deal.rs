//! Handlers for deal (the data is in `crate::model::deal`).

use crate::common::diff;
use crate::common::error::CrmError;
use crate::common::id::{AnyId, DealId, StageId};
use crate::common::money::Money;
use crate::common::validate;
use crate::decide::Ctx;
use crate::event::Event;
use crate::model::custom_field::{self, EntityKind};
use crate::model::deal::*;
use crate::model::pipeline::StageKind;

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
        None => pipeline.entry().ok_or_else(|| {
            CrmError::validation("pipeline", format!("{pipeline_id} has no stages"))
        })?,
        Some(id) => pipeline.stage(id).ok_or_else(|| {
            CrmError::validation(
                "stage",
                format!("{id} is not a stage of pipeline {pipeline_id}"),
            )
        })?,
    };
    if stage.archived {
        return Err(CrmError::validation(
            "stage",
            format!(
                "{} ({}) is archived: no deal starts in it",
                stage.id, stage.name
            ),
        ));
    }
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
            pipeline: None,
        }],
        created_at: ctx.now,
        updated_at: ctx.now,
        closed_at: None,
        line_items: Vec::new(),
        payments: Vec::new(),
        paid_at: None,
        archived_at: None,
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
    let mut events = ctx.keep_later_edits(AnyId::DealId(id), before, &mut fields)?;
    let changed = diff::changed_keys(before, &fields);
    if changed.is_empty() {
        return Ok(events);
    }
    events.push(Event::DealUpdated {
        id,
        fields,
        changed,
        hlc: ctx.hlc,
    });
    Ok(events)
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
    // The stage's pipeline: the deal's own, or another it moves into (its stage history
    // says so). Only a journal edited by hand could name a missing one; refuse, never panic.
    let pipeline = ctx
        .state
        .stages
        .get(&to)
        .and_then(|pipeline| ctx.state.pipelines.get(pipeline))
        .ok_or_else(|| {
            CrmError::validation("stage", format!("{to} is not a stage of any pipeline"))
        })?;
    let stage = pipeline
        .stage(to)
        .ok_or_else(|| CrmError::not_found("stage", to))?;
    if stage.archived {
        return Err(CrmError::validation(
            "stage",
            format!("{to} ({}) is archived: no deal moves into it", stage.name),
        ));
    }
    if deal.stage == to && ctx.hlc.is_some() {
        // Moved there meanwhile (another replica, the office): a replica's move that
        // is already done is done once (docs/sync.md).
        return Ok(Vec::new());
    }
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
        pipeline: (pipeline.id != deal.pipeline).then_some(pipeline.id),
    }])
}
