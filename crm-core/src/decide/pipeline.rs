//! Handlers for pipeline (the data is in `crate::model::pipeline`).

use crate::common::error::CrmError;
use crate::common::validate;
use crate::decide::Ctx;
use crate::event::Event;
use crate::model::pipeline::*;

/// Handles [`crate::Command::CreatePipeline`]: admins only. The first stage must be
/// open (deals start there); names are unique; won is 100 %, lost 0 %.
pub(crate) fn create(ctx: &mut Ctx<'_>, input: &NewPipeline) -> Result<Vec<Event>, CrmError> {
    ctx.access.require_admin("create pipelines")?;
    let name = validate::name("name", &input.name)?;
    if ctx
        .state
        .pipelines
        .values()
        .any(|p| p.name.to_lowercase() == name.to_lowercase())
    {
        return Err(CrmError::conflict(format!(
            "a pipeline named {name:?} already exists"
        )));
    }
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
        let stage_name = validate::name(&format!("{field}.name"), &stage.name)?;
        if stages
            .iter()
            .any(|s| s.name.to_lowercase() == stage_name.to_lowercase())
        {
            return Err(CrmError::validation(
                format!("{field}.name"),
                format!("{stage_name:?} is used twice"),
            ));
        }
        let default = match stage.kind {
            StageKind::Open => (10 * (index + 1)).min(90) as u8,
            StageKind::Won => 100,
            StageKind::Lost => 0,
        };
        let probability = stage.probability.unwrap_or(default);
        let fixed =
            matches!(stage.kind, StageKind::Won | StageKind::Lost) && probability != default;
        if probability > 100 || fixed {
            return Err(CrmError::validation(
                format!("{field}.probability"),
                format!(
                    "{probability} is not allowed for a {} stage",
                    validate::json_name(&stage.kind)
                ),
            ));
        }
        if stage.sla_hours == Some(0) {
            return Err(CrmError::validation(
                format!("{field}.sla_hours"),
                "must be at least 1 hour",
            ));
        }
        stages.push(Stage {
            id: ctx.next_id(),
            name: stage_name,
            kind: stage.kind,
            probability,
            sla_hours: stage.sla_hours,
        });
    }
    validate::list_len("lost_reasons", input.lost_reasons.len())?;
    let mut lost_reasons: Vec<String> = Vec::with_capacity(input.lost_reasons.len());
    for (index, reason) in input.lost_reasons.iter().enumerate() {
        let reason = validate::name(&format!("lost_reasons[{index}]"), reason)?;
        if !lost_reasons.contains(&reason) {
            lost_reasons.push(reason);
        }
    }
    let pipeline = Pipeline {
        id,
        name,
        stages,
        lost_reasons,
        created_at: ctx.now,
    };
    Ok(vec![Event::PipelineCreated { pipeline }])
}
