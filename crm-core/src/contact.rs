//! Contacts: the people a business deals with.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::command::Ctx;
use crate::custom_field::{self, CustomValues, EntityKind};
use crate::error::CrmError;
use crate::event::Event;
use crate::id::{AnyId, CompanyId, ContactId, UserId};
use crate::validate;

/// What a contact agreed to be contacted by for marketing. All `false` by default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default, deny_unknown_fields)]
pub struct Consent {
    pub email: bool,
    pub sms: bool,
    pub calls: bool,
}

/// A stored contact.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Contact {
    pub id: ContactId,
    pub owner: UserId,
    #[serde(flatten)]
    pub fields: ContactFields,
    #[serde(deserialize_with = "crate::utc::deserialize")]
    pub created_at: DateTime<Utc>,
    #[serde(deserialize_with = "crate::utc::deserialize")]
    pub updated_at: DateTime<Utc>,
    /// Set when this contact was merged into another (`merge_contacts`): it is kept,
    /// with its history, but left out of lists and duplicate searches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_into: Option<ContactId>,
}

/// The editable part of a contact, normalised.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ContactFields {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company: Option<CompanyId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<String>,
    /// E.164, e.g. `+4930123456`.
    #[serde(default)]
    pub phones: Vec<String>,
    /// How numbers were typed where that differs from their E.164 form, by number
    /// (`{"+4930123456": "030 123456"}`): what people read; matching uses `phones`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub phones_as_typed: BTreeMap<String, String>,
    /// Lower-cased.
    #[serde(default)]
    pub emails: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Where the contact came from, e.g. `"website"` or `"phone"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default)]
    pub tags: BTreeSet<String>,
    #[serde(default)]
    pub custom: CustomValues,
    #[serde(default)]
    pub consent: Consent,
}

/// Input for [`crate::Command::CreateContact`]. Only `name` is required.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default, deny_unknown_fields)]
pub struct NewContact {
    pub name: String,
    pub company: Option<CompanyId>,
    pub position: Option<String>,
    pub phones: Vec<String>,
    pub emails: Vec<String>,
    pub address: Option<String>,
    pub source: Option<String>,
    /// Defaults to the acting user; required when the actor is `system`.
    pub owner: Option<UserId>,
    pub tags: Vec<String>,
    /// Raw values by field key, checked against the contact field definitions.
    pub custom: BTreeMap<String, Value>,
    pub consent: Consent,
}

/// Input for [`crate::Command::UpdateContact`]: absent fields stay, an empty text or
/// `null` clears, lists replace, `custom` keys merge (`null` removes one).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default, deny_unknown_fields)]
pub struct ContactPatch {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(
        deserialize_with = "validate::nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub company: Option<Option<CompanyId>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phones: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub emails: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub custom: BTreeMap<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consent: Option<Consent>,
}

impl From<&NewContact> for ContactPatch {
    fn from(input: &NewContact) -> Self {
        ContactPatch {
            name: Some(input.name.clone()),
            company: Some(input.company),
            position: input.position.clone(),
            phones: Some(input.phones.clone()),
            emails: Some(input.emails.clone()),
            address: input.address.clone(),
            source: input.source.clone(),
            tags: Some(input.tags.clone()),
            custom: input.custom.clone(),
            consent: Some(input.consent),
        }
    }
}

fn apply_patch(
    ctx: &Ctx<'_>,
    fields: &mut ContactFields,
    patch: &ContactPatch,
) -> Result<(), CrmError> {
    if let Some(name) = &patch.name {
        fields.name = validate::name("name", name)?;
    }
    if let Some(company) = patch.company {
        if let Some(company) = company {
            ctx.access.require_read(AnyId::CompanyId(company))?;
        }
        fields.company = company;
    }
    if let Some(position) = &patch.position {
        fields.position = validate::optional_name("position", Some(position))?;
    }
    if let Some(phones) = &patch.phones {
        (fields.phones, fields.phones_as_typed) =
            validate::phones_as_typed("phones", phones, ctx.region)?;
    }
    if let Some(emails) = &patch.emails {
        fields.emails = validate::emails("emails", emails)?;
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
    let definitions = ctx.state.fields.get(&EntityKind::Contact);
    fields.custom =
        custom_field::apply_changes(definitions, &fields.custom, &patch.custom, ctx.region, true)?;
    if let Some(consent) = patch.consent {
        fields.consent = consent;
    }
    Ok(())
}

/// Handles [`crate::Command::CreateContact`].
pub(crate) fn create(ctx: &mut Ctx<'_>, input: &NewContact) -> Result<Vec<Event>, CrmError> {
    ctx.access.require_sales_role("create contacts")?;
    let owner = ctx.access.owner_for_new(input.owner)?;
    let mut fields = ContactFields::default();
    apply_patch(ctx, &mut fields, &ContactPatch::from(input))?;
    let contact = Contact {
        id: ctx.next_id(),
        owner,
        fields,
        created_at: ctx.now,
        updated_at: ctx.now,
        merged_into: None,
    };
    Ok(vec![Event::ContactCreated { contact }])
}

/// Handles [`crate::Command::UpdateContact`]; an update that changes nothing records nothing.
pub(crate) fn update(
    ctx: &mut Ctx<'_>,
    id: ContactId,
    patch: &ContactPatch,
) -> Result<Vec<Event>, CrmError> {
    ctx.access.require_edit(AnyId::ContactId(id))?;
    let before = &ctx.state.contacts[&id].fields;
    let mut fields = before.clone();
    apply_patch(ctx, &mut fields, patch)?;
    let changed = validate::changed_keys(before, &fields);
    if changed.is_empty() {
        return Ok(Vec::new());
    }
    Ok(vec![Event::ContactUpdated {
        id,
        fields,
        changed,
    }])
}
