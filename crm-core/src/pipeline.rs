//! Pipelines: ordered stages a deal moves through, with won and lost ends.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::command::Ctx;
use crate::error::CrmError;
use crate::event::Event;
use crate::id::{PipelineId, StageId};
use crate::validate;

/// Whether a stage is a working stage or one of the two ends.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum StageKind {
    #[default]
    Open,
    Won,
    Lost,
}

/// A stage of a pipeline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Stage {
    pub id: StageId,
    pub name: String,
    pub kind: StageKind,
    /// Chance of winning a deal in this stage, in percent (0–100); won = 100, lost = 0.
    pub probability: u8,
    /// "Leave this stage within N hours" (enforced by automation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sla_hours: Option<u32>,
}

/// A stored pipeline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Pipeline {
    pub id: PipelineId,
    pub name: String,
    /// In the order deals move through them; the first is where new deals start.
    pub stages: Vec<Stage>,
    /// The reasons a deal may be lost for; empty means any non-empty reason.
    #[serde(default)]
    pub lost_reasons: Vec<String>,
    pub created_at: DateTime<Utc>,
}

impl Pipeline {
    pub fn stage(&self, id: StageId) -> Option<&Stage> {
        self.stages.iter().find(|stage| stage.id == id)
    }

    /// Where a stage sits in the pipeline's order.
    pub fn position(&self, id: StageId) -> Option<usize> {
        self.stages.iter().position(|stage| stage.id == id)
    }
}

/// Input for one stage of [`NewPipeline`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct NewStage {
    pub name: String,
    #[serde(default)]
    pub kind: StageKind,
    /// Defaults: open 10 × position (capped at 90), won 100, lost 0.
    #[serde(default)]
    pub probability: Option<u8>,
    #[serde(default)]
    pub sla_hours: Option<u32>,
}

impl NewStage {
    pub fn open(name: &str) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }
    pub fn won(name: &str) -> Self {
        Self {
            name: name.into(),
            kind: StageKind::Won,
            ..Self::default()
        }
    }
    pub fn lost(name: &str) -> Self {
        Self {
            name: name.into(),
            kind: StageKind::Lost,
            ..Self::default()
        }
    }
}

/// Input for [`crate::Command::CreatePipeline`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct NewPipeline {
    pub name: String,
    pub stages: Vec<NewStage>,
    #[serde(default)]
    pub lost_reasons: Vec<String>,
}

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
