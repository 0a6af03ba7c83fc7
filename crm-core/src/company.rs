//! Companies: the organisations a business deals with.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::command::Ctx;
use crate::custom_field::{self, CustomValues, EntityKind};
use crate::error::CrmError;
use crate::event::Event;
use crate::id::{AnyId, CompanyId, UserId};
use crate::validate;

/// A stored company.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Company {
    pub id: CompanyId,
    pub owner: UserId,
    #[serde(flatten)]
    pub fields: CompanyFields,
    #[serde(deserialize_with = "crate::utc::deserialize")]
    pub created_at: DateTime<Utc>,
    #[serde(deserialize_with = "crate::utc::deserialize")]
    pub updated_at: DateTime<Utc>,
    /// Set when this company was merged into another (`merge_companies`): it is kept,
    /// with its history, but left out of lists and of matching by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_into: Option<CompanyId>,
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

fn apply_patch(
    ctx: &Ctx<'_>,
    fields: &mut CompanyFields,
    patch: &CompanyPatch,
) -> Result<(), CrmError> {
    if let Some(name) = &patch.name {
        fields.name = validate::name("name", name)?;
    }
    if let Some(phones) = &patch.phones {
        (fields.phones, fields.phones_as_typed) =
            validate::phones_as_typed("phones", phones, ctx.region)?;
    }
    if let Some(emails) = &patch.emails {
        fields.emails = validate::emails("emails", emails)?;
    }
    if let Some(website) = patch.website.as_deref() {
        fields.website = match website.trim() {
            "" => None,
            url => Some(validate::url("website", url)?),
        };
    }
    if let Some(address) = &patch.address {
        fields.address = validate::optional_text("address", Some(address))?;
    }
    if let Some(source) = &patch.source {
        fields.source = validate::optional_name("source", Some(source))?;
    }
    if let Some(tags) = &patch.tags {
        fields.tags = validate::tags("tags", tags)?;
    }
    let definitions = ctx.state.fields.get(&EntityKind::Company);
    fields.custom =
        custom_field::apply_changes(definitions, &fields.custom, &patch.custom, ctx.region, true)?;
    Ok(())
}

/// Handles [`crate::Command::CreateCompany`].
pub(crate) fn create(ctx: &mut Ctx<'_>, input: &NewCompany) -> Result<Vec<Event>, CrmError> {
    ctx.access.require_sales_role("create companies")?;
    let owner = ctx.access.owner_for_new(input.owner)?;
    let patch = CompanyPatch {
        name: Some(input.name.clone()),
        phones: Some(input.phones.clone()),
        emails: Some(input.emails.clone()),
        website: input.website.clone(),
        address: input.address.clone(),
        source: input.source.clone(),
        tags: Some(input.tags.clone()),
        custom: input.custom.clone(),
    };
    let mut fields = CompanyFields::default();
    apply_patch(ctx, &mut fields, &patch)?;
    let company = Company {
        id: ctx.next_id(),
        owner,
        fields,
        created_at: ctx.now,
        updated_at: ctx.now,
        merged_into: None,
    };
    Ok(vec![Event::CompanyCreated { company }])
}

/// Handles [`crate::Command::UpdateCompany`]; an update that changes nothing records nothing.
pub(crate) fn update(
    ctx: &mut Ctx<'_>,
    id: CompanyId,
    patch: &CompanyPatch,
) -> Result<Vec<Event>, CrmError> {
    ctx.access.require_edit(AnyId::CompanyId(id))?;
    let before = &ctx.state.companies[&id].fields;
    let mut fields = before.clone();
    apply_patch(ctx, &mut fields, patch)?;
    let changed = validate::changed_keys(before, &fields);
    if changed.is_empty() {
        return Ok(Vec::new());
    }
    Ok(vec![Event::CompanyUpdated {
        id,
        fields,
        changed,
    }])
}
