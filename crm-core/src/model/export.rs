//! Asking for an export, and the file it answers with (`export/` writes it).

use serde::{Deserialize, Serialize};

/// Input for the `export` query.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ExportRequest {
    pub entity: ExportEntity,
    /// `csv` (the default) or `xlsx`.
    #[serde(default)]
    pub format: ExportFormat,
}

/// The file an export is written as.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ExportFormat {
    /// UTF-8 text, comma-separated, header row first.
    #[default]
    Csv,
    /// One sheet named after the entity; amounts and durations as number cells.
    Xlsx,
}

/// What to export.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ExportEntity {
    Contacts,
    Companies,
    Deals,
    Tasks,
    Activities,
}

/// The answer: the file (CSV text, or the XLSX bytes base64-encoded) and how many
/// records it holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Export {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csv: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xlsx_base64: Option<String>,
    pub rows: usize,
}
