//! Contacts: the people a business deals with.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::common::id::{CompanyId, ContactId, UserId};
use crate::common::validate;
use crate::model::custom_field::CustomValues;

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
    #[serde(deserialize_with = "crate::common::utc::deserialize")]
    pub created_at: DateTime<Utc>,
    #[serde(deserialize_with = "crate::common::utc::deserialize")]
    pub updated_at: DateTime<Utc>,
    /// Set when this contact was merged into another (`merge_contacts`): it is kept,
    /// with its history, but left out of lists and duplicate searches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_into: Option<ContactId>,
    /// When it was archived (`archive`): left out of lists unless they ask for it.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::common::utc::deserialize_option"
    )]
    pub archived_at: Option<DateTime<Utc>>,
    /// When the person was erased (`erase_contact`): their personal data is blanked
    /// here and in every stored event; the record stays for the business's counts.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::common::utc::deserialize_option"
    )]
    pub erased_at: Option<DateTime<Utc>>,
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
