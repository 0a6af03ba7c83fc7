//! Pipelines: ordered stages a deal moves through, with won and lost ends.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::common::id::{PipelineId, StageId};
use crate::common::validate;

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
    /// Archived (`archive_stage`): no deal moves into it; it stays for history and
    /// reports.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub archived: bool,
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

    /// Where new deals start: the first stage not archived (always an open one).
    pub fn entry(&self) -> Option<&Stage> {
        self.stages.iter().find(|stage| !stage.archived)
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

/// Input for [`crate::Command::UpdatePipeline`]: absent fields stay.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default, deny_unknown_fields)]
pub struct PipelinePatch {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The reasons a deal may be lost for from now on (deals lost before keep theirs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lost_reasons: Option<Vec<String>>,
}

/// Input for [`crate::Command::AddStage`]: a [`NewStage`]'s fields beside `pipeline`
/// and `before`, spelled out because serde's `flatten` would lose
/// `deny_unknown_fields` (a misspelt field must be refused, not ignored).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct StageAddition {
    pub pipeline: PipelineId,
    pub name: String,
    #[serde(default)]
    pub kind: StageKind,
    /// Defaults as in `create_pipeline`, by the position it takes.
    #[serde(default)]
    pub probability: Option<u8>,
    #[serde(default)]
    pub sla_hours: Option<u32>,
    /// The stage it goes before; default: the end.
    #[serde(default)]
    pub before: Option<StageId>,
}

/// Input for [`crate::Command::UpdateStage`]: absent fields stay, `null` clears the SLA.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default, deny_unknown_fields)]
pub struct StagePatch {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Open stages only (won is 100, lost 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probability: Option<u8>,
    #[serde(
        deserialize_with = "validate::nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub sla_hours: Option<Option<u32>>,
}

/// An update of one stage: `{"id": ..., "patch": {...}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct StageUpdate {
    pub id: StageId,
    pub patch: StagePatch,
}

/// Input for [`crate::Command::ReorderStages`]: every stage of the pipeline, once, in
/// the new order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct StageOrder {
    pub pipeline: PipelineId,
    pub stages: Vec<StageId>,
}

/// Input for [`crate::Command::ArchiveStage`]: the open deals in an open stage move to
/// `move_to` (an open stage of the same pipeline), or the command is refused while
/// there are any.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct StageArchive {
    pub id: StageId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub move_to: Option<StageId>,
}
