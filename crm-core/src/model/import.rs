//! What a contact import carries and what its dry run answers (decide/import/ reads
//! the file and plans the rows).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::common::id::{ContactId, UserId};
use crate::model::intake::DuplicatePolicy;

/// Rows beyond this are refused: a bigger base is imported in parts.
pub(crate) const MAX_ROWS: usize = 200_000;

/// Input for the `check_import` query and the `import_contacts` command.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default, deny_unknown_fields)]
pub struct ContactImport {
    /// The file as CSV text (the first row holds the headers).
    pub csv: Option<String>,
    /// Or an XLSX or ODS file's bytes, base64-encoded (Excel 97–2003 `.xls` is refused).
    pub spreadsheet_base64: Option<String>,
    /// The sheet to read (default: the first).
    pub sheet: Option<String>,
    /// Header → target: `name`, `phone`, `email`, `company`, `position`, `address`,
    /// `source`, `tags` (separated by `,` or `;`), `contact.<custom key>`, `ignore`.
    /// Headers not named here are guessed; `check_import` shows the guesses.
    pub mapping: BTreeMap<String, String>,
    /// A row matching an existing contact (or an earlier row) by phone or e-mail:
    /// `attach` — not imported, reported; `create_and_flag` — imported tagged
    /// `possible-duplicate`; `reject` — a problem that stops the import.
    pub on_duplicate: DuplicatePolicy,
    /// Owner of the imported contacts and companies (default: the importing user).
    pub owner: Option<UserId>,
    /// Let the automation rules react to the imported records (off by default: an
    /// import of old data should not create a welcome task for every row).
    pub run_rules: bool,
}

/// What an import would do: the answer of `check_import`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ImportCheck {
    /// Data rows read (the header row not counted).
    pub rows: usize,
    /// The mapping used, header by header, guesses included.
    pub mapping: BTreeMap<String, String>,
    /// The headers whose target was guessed (to confirm).
    pub guessed: Vec<String>,
    /// Every problem; the import goes ahead only when there are none.
    pub problems: Vec<ImportProblem>,
    /// Contacts the import would create.
    pub contacts: usize,
    /// Companies it would create (by name; existing ones are matched).
    pub companies: Vec<String>,
    /// Rows matching an existing contact or an earlier row.
    pub duplicates: Vec<ImportDuplicate>,
}

/// A problem in one cell (or the whole file when `row` is 0).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ImportProblem {
    /// The spreadsheet row (the header is row 1, data starts at 2).
    pub row: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    pub message: String,
}

/// A row that matches a contact already there or an earlier row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ImportDuplicate {
    pub row: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<ContactId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub same_as_row: Option<usize>,
}

/// What a record import brings in (contacts have their own `import_contacts`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ImportKind {
    #[default]
    Companies,
    Deals,
    Tasks,
    Activities,
}

/// The export a file comes from, for guessing its columns (docs/migration.md lists
/// them); any header can still be mapped by hand.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ImportPreset {
    /// Headers in English, German or Russian as a spreadsheet kept by hand has them.
    #[default]
    Spreadsheet,
    /// amoCRM's CSV/XLSX export (Russian interface).
    Amocrm,
    /// Bitrix24's CSV/XLSX export of a CRM list (Russian interface).
    Bitrix24,
}

/// Input for the `check_record_import` query and the `import_records` command.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default, deny_unknown_fields)]
pub struct RecordImport {
    pub kind: ImportKind,
    /// The file as CSV text (the first row holds the headers).
    pub csv: Option<String>,
    /// Or an XLSX or ODS file's bytes, base64-encoded.
    pub spreadsheet_base64: Option<String>,
    /// The sheet to read (default: the first).
    pub sheet: Option<String>,
    /// Header → target (docs/migration.md lists each kind's targets, e.g. `title`,
    /// `stage`, `owner`, `created_at`, `deal.<custom key>`, `ignore`). Headers not named
    /// here are guessed from the preset; the dry run shows the guesses.
    pub mapping: BTreeMap<String, String>,
    pub preset: ImportPreset,
    /// The currency of amounts when no column gives one.
    pub currency: Option<String>,
    /// Owner (or assignee) of rows whose own column is empty or absent (default: the
    /// importing user).
    pub owner: Option<UserId>,
}

/// What a record import would do: the answer of `check_record_import`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RecordImportCheck {
    /// Data rows read (the header row not counted).
    pub rows: usize,
    /// The mapping used, header by header, guesses included.
    pub mapping: BTreeMap<String, String>,
    /// The headers whose target was guessed (to confirm).
    pub guessed: Vec<String>,
    /// Every problem; the import goes ahead only when there are none.
    pub problems: Vec<ImportProblem>,
    /// Records the import would create.
    pub records: usize,
    /// Of those, deals it would close (won or lost) or tasks it would complete.
    pub closed: usize,
    /// Whether rows carry past times, making the import a history import (admin; no
    /// timer fires for the past).
    pub history: bool,
}
