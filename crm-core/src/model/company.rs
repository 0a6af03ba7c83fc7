//! Companies: the organisations a business deals with.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::common::id::{CompanyId, UserId};
use crate::model::custom_field::CustomValues;

/// A stored company.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Company {
    pub id: CompanyId,
    pub owner: UserId,
    #[serde(flatten)]
    pub fields: CompanyFields,
    #[serde(deserialize_with = "crate::common::utc::deserialize")]
    pub created_at: DateTime<Utc>,
    #[serde(deserialize_with = "crate::common::utc::deserialize")]
    pub updated_at: DateTime<Utc>,
    /// Set when this company was merged into another (`merge_companies`): it is kept,
    /// with its history, but left out of lists and of matching by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_into: Option<CompanyId>,
    /// When it was archived (`archive`): left out of lists unless they ask for it.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::common::utc::deserialize_option"
    )]
    pub archived_at: Option<DateTime<Utc>>,
}

/// The editable part of a company, normalised.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CompanyFields {
    pub name: String,
    #[serde(default)]
    pub phones: Vec<String>,
    /// How numbers were typed where that differs from their E.164 form, by number
    /// (`{"+4930123456": "030 123456"}`): what people read; matching uses `phones`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub phones_as_typed: BTreeMap<String, String>,
    #[serde(default)]
    pub emails: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub website: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default)]
    pub tags: BTreeSet<String>,
    #[serde(default)]
    pub custom: CustomValues,
}

/// Input for [`crate::Command::CreateCompany`]. Only `name` is required.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default, deny_unknown_fields)]
pub struct NewCompany {
    pub name: String,
    pub phones: Vec<String>,
    pub emails: Vec<String>,
    pub website: Option<String>,
    pub address: Option<String>,
    pub source: Option<String>,
    /// Defaults to the acting user; required when the actor is `system`.
    pub owner: Option<UserId>,
    pub tags: Vec<String>,
    pub custom: BTreeMap<String, Value>,
}

/// Input for [`crate::Command::UpdateCompany`], with the same rules as a contact patch.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default, deny_unknown_fields)]
pub struct CompanyPatch {
    pub name: Option<String>,
    pub phones: Option<Vec<String>>,
    pub emails: Option<Vec<String>>,
    pub website: Option<String>,
    pub address: Option<String>,
    pub source: Option<String>,
    pub tags: Option<Vec<String>>,
    pub custom: BTreeMap<String, Value>,
}
