//! Handlers for pipeline (the data is in `crate::model::pipeline`).

use crate::common::diff;
use crate::common::error::CrmError;
use crate::common::id::{DealId, PipelineId, StageId};
use crate::common::validate;
use crate::decide::Ctx;
use crate::event::Event;
use crate::model::deal::DealStatus;
use crate::model::pipeline::*;

/// Handles [`crate::Command::CreatePipeline`]: admins only. The first stage must be
/// open (deals start there); names are unique; won is 100 %, lost 0 %.
pub(crate) fn create(ctx: &mut Ctx<'_>, input: &NewPipeline) -> Result<Vec<Event>, CrmError> {
    ctx.access.require_admin("create pipelines")?;
    let name = pipeline_name(ctx, "name", &input.name, None)?;
    validate::list_len("stages", input.stages.len())?;
    if input
        .stages
        .first()
        .is_none_or(|stage| stage.kind != StageKind::Open)
    {
        return Err(CrmError::validation(
            "stages[0]",
            "the first stage must be an open stage (deals start there)",
        ));
    }
    let id = ctx.next_id();
    let mut stages: Vec<Stage> = Vec::with_capacity(input.stages.len());
    for (index, stage) in input.stages.iter().enumerate() {
        let field = format!("stages[{index}]");
        let stage_name = stage_name(&format!("{field}.name"), &stage.name, &stages, None)?;
        let probability = probability(
            &format!("{field}.probability"),
            stage.kind,
            stage.probability,
            index,
        )?;
        let sla_hours = sla_hours(&format!("{field}.sla_hours"), stage.sla_hours)?;
        stages.push(Stage {
            id: ctx.next_id(),
            name: stage_name,
            kind: stage.kind,
            probability,
            sla_hours,
            archived: false,
        });
    }
    let lost_reasons = lost_reasons("lost_reasons", &input.lost_reasons)?;
    let pipeline = Pipeline {
        id,
        name,
        stages,
        lost_reasons,
        created_at: ctx.now,
    };
    Ok(vec![Event::PipelineCreated { pipeline }])
}

/// A pipeline name no other pipeline has (any case).
fn pipeline_name(
    ctx: &Ctx<'_>,
    field: &str,
    name: &str,
    this: Option<PipelineId>,
) -> Result<String, CrmError> {
    let name = validate::name(field, name)?;
    let taken = ctx
        .state
        .pipelines
        .values()
        .any(|p| Some(p.id) != this && p.name.to_lowercase() == name.to_lowercase());
    if taken {
        return Err(CrmError::conflict(format!(
            "a pipeline named {name:?} already exists"
        )));
    }
    Ok(name)
}

/// A stage name no other stage of the pipeline has (any case).
fn stage_name(
    field: &str,
    name: &str,
    stages: &[Stage],
    this: Option<StageId>,
) -> Result<String, CrmError> {
    let name = validate::name(field, name)?;
    if stages
        .iter()
        .any(|s| Some(s.id) != this && s.name.to_lowercase() == name.to_lowercase())
    {
        return Err(CrmError::validation(
            field,
            format!("{name:?} is used twice"),
        ));
    }
    Ok(name)
}

/// A stage's probability: given, or the default for its kind and position; won is
/// always 100 and lost 0.
fn probability(
    field: &str,
    kind: StageKind,
    given: Option<u8>,
    position: usize,
) -> Result<u8, CrmError> {
    let default = match kind {
        StageKind::Open => (10 * (position + 1)).min(90) as u8,
        StageKind::Won => 100,
        StageKind::Lost => 0,
    };
    let probability = given.unwrap_or(default);
    let fixed = matches!(kind, StageKind::Won | StageKind::Lost) && probability != default;
    if probability > 100 || fixed {
        return Err(CrmError::validation(
            field,
            format!(
                "{probability} is not allowed for a {} stage",
                validate::json_name(&kind)
            ),
        ));
    }
    Ok(probability)
}

fn sla_hours(field: &str, hours: Option<u32>) -> Result<Option<u32>, CrmError> {
    if hours == Some(0) {
        return Err(CrmError::validation(field, "must be at least 1 hour"));
    }
    Ok(hours)
}

fn lost_reasons(field: &str, given: &[String]) -> Result<Vec<String>, CrmError> {
    validate::list_len(field, given.len())?;
    let mut reasons: Vec<String> = Vec::with_capacity(given.len());
    for (index, reason) in given.iter().enumerate() {
        let reason = validate::name(&format!("{field}[{index}]"), reason)?;
        if !reasons.contains(&reason) {
            reasons.push(reason);
        }
    }
    Ok(reasons)
}

fn pipeline<'s>(ctx: &Ctx<'s>, id: PipelineId) -> Result<&'s Pipeline, CrmError> {
    ctx.state
        .pipelines
        .get(&id)
        .ok_or_else(|| CrmError::not_found("pipeline", id))
}

/// The stage and its pipeline.
fn stage<'s>(ctx: &Ctx<'s>, id: StageId) -> Result<(&'s Pipeline, &'s Stage), CrmError> {
    let pipeline = ctx
        .state
        .stages
        .get(&id)
        .and_then(|pipeline| ctx.state.pipelines.get(pipeline))
        .ok_or_else(|| CrmError::not_found("stage", id))?;
    let stage = pipeline
        .stage(id)
        .ok_or_else(|| CrmError::not_found("stage", id))?;
    Ok((pipeline, stage))
}

/// Handles [`crate::Command::UpdatePipeline`]: admins; a new name, or new lost reasons
/// (deals lost before keep theirs).
pub(crate) fn update(
    ctx: &mut Ctx<'_>,
    id: PipelineId,
    patch: &PipelinePatch,
) -> Result<Vec<Event>, CrmError> {
    ctx.access.require_admin("change pipelines")?;
    let pipeline = pipeline(ctx, id)?;
    let name = match &patch.name {
        Some(name) => pipeline_name(ctx, "patch.name", name, Some(id))?,
        None => pipeline.name.clone(),
    };
    let lost_reasons = match &patch.lost_reasons {
        Some(reasons) => lost_reasons("patch.lost_reasons", reasons)?,
        None => pipeline.lost_reasons.clone(),
    };
    let mut changed = Vec::new();
    if name != pipeline.name {
        changed.push("name".to_string());
    }
    if lost_reasons != pipeline.lost_reasons {
        changed.push("lost_reasons".to_string());
    }
    if changed.is_empty() {
        return Ok(Vec::new());
    }
    Ok(vec![Event::PipelineUpdated {
        id,
        name,
        lost_reasons,
        changed,
    }])
}

/// Handles [`crate::Command::AddStage`]: admins; at the end or before a given stage
/// (the first stage stays an open one).
pub(crate) fn add_stage(ctx: &mut Ctx<'_>, input: &StageAddition) -> Result<Vec<Event>, CrmError> {
    ctx.access.require_admin("change pipelines")?;
    let pipeline = pipeline(ctx, input.pipeline)?;
    validate::list_len("stages", pipeline.stages.len() + 1)?;
    let position = match input.before {
        None => pipeline.stages.len(),
        Some(before) => pipeline.position(before).ok_or_else(|| {
            CrmError::validation(
                "before",
                format!("{before} is not a stage of pipeline {}", pipeline.id),
            )
        })?,
    };
    let entry = pipeline.stages[..position]
        .iter()
        .all(|stage| stage.archived);
    if entry && input.kind != StageKind::Open {
        return Err(CrmError::validation(
            "kind",
            "the first stage must be an open stage (deals start there)",
        ));
    }
    let stage = Stage {
        id: ctx.next_id(),
        name: stage_name("name", &input.name, &pipeline.stages, None)?,
        kind: input.kind,
        probability: probability("probability", input.kind, input.probability, position)?,
        sla_hours: sla_hours("sla_hours", input.sla_hours)?,
        archived: false,
    };
    Ok(vec![Event::StageAdded {
        pipeline: pipeline.id,
        stage,
        position,
    }])
}

/// Handles [`crate::Command::UpdateStage`]: admins; a stage's name, probability (open
/// stages) and SLA. Deals in it stay; reports name it anew.
pub(crate) fn update_stage(
    ctx: &mut Ctx<'_>,
    id: StageId,
    patch: &StagePatch,
) -> Result<Vec<Event>, CrmError> {
    ctx.access.require_admin("change pipelines")?;
    let (pipeline, before) = stage(ctx, id)?;
    let mut stage = before.clone();
    if let Some(name) = &patch.name {
        stage.name = stage_name("patch.name", name, &pipeline.stages, Some(id))?;
    }
    if let Some(given) = patch.probability {
        let position = pipeline.position(id).unwrap_or_default();
        stage.probability = probability("patch.probability", stage.kind, Some(given), position)?;
    }
    if let Some(hours) = patch.sla_hours {
        stage.sla_hours = sla_hours("patch.sla_hours", hours)?;
    }
    let changed = diff::changed_keys(before, &stage);
    if changed.is_empty() {
        return Ok(Vec::new());
    }
    Ok(vec![Event::StageUpdated {
        pipeline: pipeline.id,
        stage,
        changed,
    }])
}

/// Handles [`crate::Command::ReorderStages`]: admins; every stage once, the first an
/// open one in use. Reports follow the new order (a deal has reached every open stage
/// up to the furthest it was in).
pub(crate) fn reorder(ctx: &mut Ctx<'_>, input: &StageOrder) -> Result<Vec<Event>, CrmError> {
    ctx.access.require_admin("change pipelines")?;
    let pipeline = pipeline(ctx, input.pipeline)?;
    let mut seen = std::collections::BTreeSet::new();
    for (index, id) in input.stages.iter().enumerate() {
        if pipeline.stage(*id).is_none() || !seen.insert(*id) {
            return Err(CrmError::validation(
                format!("stages[{index}]"),
                format!(
                    "{id} is not a stage of pipeline {} or is named twice",
                    pipeline.id
                ),
            ));
        }
    }
    if seen.len() != pipeline.stages.len() {
        let missing: Vec<String> = pipeline
            .stages
            .iter()
            .filter(|stage| !seen.contains(&stage.id))
            .map(|stage| stage.id.to_string())
            .collect();
        return Err(CrmError::validation(
            "stages",
            format!("must name every stage once; missing {}", missing.join(", ")),
        ));
    }
    let entry = input
        .stages
        .iter()
        .filter_map(|id| pipeline.stage(*id))
        .find(|stage| !stage.archived);
    if entry.is_none_or(|stage| stage.kind != StageKind::Open) {
        return Err(CrmError::validation(
            "stages",
            "the first stage in use must be an open stage (deals start there)",
        ));
    }
    let current: Vec<StageId> = pipeline.stages.iter().map(|stage| stage.id).collect();
    if current == input.stages {
        return Ok(Vec::new());
    }
    Ok(vec![Event::StagesReordered {
        pipeline: pipeline.id,
        stages: input.stages.clone(),
    }])
}

/// Handles [`crate::Command::ArchiveStage`]: admins. No deal moves into an archived
/// stage; it stays in the pipeline for history and reports. The open deals in it move
/// to `move_to` in the same command (each a `deal_moved`), or it is refused while
/// there are any; closed deals in a won or lost stage stay where they closed. The
/// pipeline keeps an open entry stage and a stage of each kind it had in use.
pub(crate) fn archive_stage(
    ctx: &mut Ctx<'_>,
    input: &StageArchive,
) -> Result<Vec<Event>, CrmError> {
    ctx.access.require_admin("change pipelines")?;
    let (pipeline, stage) = stage(ctx, input.id)?;
    if stage.archived {
        return Ok(Vec::new());
    }
    let in_use = |kind: StageKind| {
        pipeline
            .stages
            .iter()
            .filter(|s| s.id != stage.id && !s.archived && s.kind == kind)
            .count()
    };
    if in_use(stage.kind) == 0 {
        return Err(CrmError::conflict(format!(
            "{} ({}) is the last {} stage in use of pipeline {}",
            stage.id,
            stage.name,
            validate::json_name(&stage.kind),
            pipeline.id
        )));
    }
    let entry_after = pipeline
        .stages
        .iter()
        .find(|s| s.id != stage.id && !s.archived);
    if entry_after.is_none_or(|s| s.kind != StageKind::Open) {
        return Err(CrmError::conflict(format!(
            "archiving {} would leave pipeline {} without an open first stage: reorder first",
            stage.id, pipeline.id
        )));
    }
    let open_deals: Vec<DealId> = ctx
        .state
        .deals
        .values()
        .filter(|deal| deal.stage == stage.id && deal.status == DealStatus::Open)
        .map(|deal| deal.id)
        .collect();
    let mut events = Vec::new();
    match input.move_to {
        None if !open_deals.is_empty() => {
            return Err(CrmError::conflict(format!(
                "{} open deals are in {} ({}): move them first, or name move_to",
                open_deals.len(),
                stage.id,
                stage.name
            )));
        }
        None => {}
        Some(to) => {
            let target = pipeline
                .stage(to)
                .filter(|target| {
                    target.id != stage.id && !target.archived && target.kind == StageKind::Open
                })
                .ok_or_else(|| {
                    CrmError::validation(
                        "move_to",
                        format!(
                            "{to} is not another open stage in use of pipeline {}",
                            pipeline.id
                        ),
                    )
                })?;
            for id in open_deals {
                events.push(Event::DealMoved {
                    id,
                    from: stage.id,
                    to: target.id,
                    status: DealStatus::Open,
                    lost_reason: None,
                    pipeline: None,
                });
            }
        }
    }
    events.push(Event::StageArchived {
        pipeline: pipeline.id,
        id: stage.id,
    });
    Ok(events)
}
