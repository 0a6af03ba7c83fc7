//! Merging duplicate contacts or companies, and undoing a merge.
//!
//! A merge keeps both records: the one merged away (`from`) is marked `merged_into`
//! and drops out of lists and duplicate searches, but it, its history and its ID stay,
//! so links held outside the CRM still resolve. The survivor (`into`) takes the chosen
//! field values; what pointed at `from` — deals, tasks and activities, and for a
//! company its contacts — is re-pointed to it. The event records the survivor's fields
//! before and after and every re-pointed record, so an unmerge can put things back:
//! fields the merge set and nobody changed since return to their earlier values, and
//! records still pointing at the survivor go back to `from`. Nothing else changes in
//! between → exactly the state before.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::common::id::{ActivityId, CompanyId, ContactId, DealId, TaskId};
use crate::model::company::CompanyFields;
use crate::model::contact::ContactFields;

/// Input for [`crate::Command::MergeContacts`] and [`crate::Command::MergeCompanies`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct MergeRequest<Id> {
    /// The record that stays.
    pub into: Id,
    /// The record merged away.
    pub from: Id,
    /// Which side's value to keep, by field (contacts: `name`, `company`, `position`,
    /// `phones`, `emails`, `address`, `source`, `tags`, `custom`, `consent`; companies:
    /// `name`, `phones`, `emails`, `website`, `address`, `source`, `tags`, `custom`).
    /// Unnamed fields: the survivor's value, or the other's where the survivor has none;
    /// phones, e-mail addresses and tags are united; custom values united key by key (the
    /// survivor's win); a contact's consent stays the survivor's — a merge never widens
    /// consent by itself.
    #[serde(default)]
    pub keep: BTreeMap<String, Side>,
}

/// Input for [`crate::Command::MergeContacts`].
pub type ContactMerge = MergeRequest<ContactId>;
/// Input for [`crate::Command::MergeCompanies`].
pub type CompanyMerge = MergeRequest<CompanyId>;

/// One side of a merge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Into,
    From,
}

/// What a merge did, kept with the merged-away record until it is undone. Without
/// type parameters: a merge of contacts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", schemars(rename = "MergeOf{Fields}"))]
pub struct Merge<Id = ContactId, Fields = ContactFields> {
    pub into: Id,
    pub from: Id,
    /// The survivor's fields before and after the merge.
    pub before: Fields,
    pub fields: Fields,
    /// The fields whose value the merge changed.
    pub changed: Vec<String>,
    /// The records that pointed at `from` and were re-pointed to `into` (contacts: only
    /// when companies merge).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contacts: Vec<ContactId>,
    pub deals: Vec<DealId>,
    pub tasks: Vec<TaskId>,
    pub activities: Vec<ActivityId>,
}

/// What a merge of two companies did.
pub type CompanyMergeRecord = Merge<CompanyId, CompanyFields>;
