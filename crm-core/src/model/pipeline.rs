//! Pipelines: ordered stages a deal moves through, with won and lost ends.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::common::id::{PipelineId, StageId};

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
