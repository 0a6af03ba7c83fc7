//! Deals: an opportunity moving through a pipeline, with its full stage history.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::common::error::CrmError;
use crate::common::id::{AnyId, CompanyId, ContactId, DealId, PipelineId, StageId, UserId};
use crate::common::money::Money;
use crate::common::validate;
use crate::model::actor::Actor;
use crate::model::custom_field::CustomValues;
use crate::model::payment::{LineItem, Payment};
use crate::model::pipeline::StageKind;

/// Whether a deal is still being worked on, or how it ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum DealStatus {
    Open,
    Won,
    Lost,
}

impl From<StageKind> for DealStatus {
    fn from(kind: StageKind) -> Self {
        match kind {
            StageKind::Open => DealStatus::Open,
            StageKind::Won => DealStatus::Won,
            StageKind::Lost => DealStatus::Lost,
        }
    }
}

/// One move in a deal's stage history (the first entry has no `from`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct StageChange {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<StageId>,
    pub to: StageId,
    #[serde(deserialize_with = "crate::common::utc::deserialize")]
    pub at: DateTime<Utc>,
    pub by: Actor,
    /// Set when the move took the deal into another pipeline (this one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline: Option<PipelineId>,
}

/// A stored deal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Deal {
    pub id: DealId,
    pub pipeline: PipelineId,
    pub stage: StageId,
    pub owner: UserId,
    pub status: DealStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lost_reason: Option<String>,
    #[serde(flatten)]
    pub fields: DealFields,
    /// Every stage the deal entered, oldest first.
    pub stage_history: Vec<StageChange>,
    #[serde(deserialize_with = "crate::common::utc::deserialize")]
    pub created_at: DateTime<Utc>,
    #[serde(deserialize_with = "crate::common::utc::deserialize")]
    pub updated_at: DateTime<Utc>,
    /// When the deal was won or lost; cleared if it is reopened.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::common::utc::deserialize_option"
    )]
    pub closed_at: Option<DateTime<Utc>>,
    /// What is sold: products, quantities, prices, discounts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub line_items: Vec<LineItem>,
    /// Payments and refunds, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub payments: Vec<Payment>,
    /// When payments reached the amount; cleared if a refund takes them below it.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::common::utc::deserialize_option"
    )]
    pub paid_at: Option<DateTime<Utc>>,
    /// When it was archived (`archive`): left out of lists unless they ask for it.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::common::utc::deserialize_option"
    )]
    pub archived_at: Option<DateTime<Utc>>,
}

impl Deal {
    /// The sum of payments and refunds, in the payments' currency (none before the first).
    /// Refuses an amount at `field` in another currency than the deal's payments: once
    /// money has moved, the deal's currency is fixed (a refund must still add up).
    pub(crate) fn require_currency(&self, field: &str, amount: &Money) -> Result<(), CrmError> {
        match self.payments.first() {
            Some(paid) if paid.amount.currency() != amount.currency() => Err(
                CrmError::currency_mismatch(field, paid.amount.currency(), amount.currency()),
            ),
            _ => Ok(()),
        }
    }

    pub fn paid(&self) -> Option<Money> {
        let first = self.payments.first()?;
        Money::sum(
            first.amount.currency(),
            self.payments.iter().map(|p| &p.amount),
        )
        .ok()
    }

    /// What is left to pay: the amount less what has been paid (the amount itself
    /// before any payment; `None` without an amount).
    pub fn balance(&self) -> Option<Money> {
        let amount = self.fields.amount?;
        match self.paid() {
            None => Some(amount),
            Some(paid) => amount.checked_sub(&paid).ok(),
        }
    }
}

/// A deal as `get` and `list_deals` answer: the stored deal with what has been paid
/// and what is left — the same figures rules see as `deal.paid` and `deal.balance`.
/// It dereferences to the [`Deal`], so `view.fields.title` reads as before.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DealView {
    #[serde(flatten)]
    pub deal: Deal,
    /// The payments' sum (absent before the first payment).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paid: Option<Money>,
    /// The amount less what has been paid (absent without an amount).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub balance: Option<Money>,
}

impl From<&Deal> for DealView {
    fn from(deal: &Deal) -> Self {
        DealView {
            paid: deal.paid(),
            balance: deal.balance(),
            deal: deal.clone(),
        }
    }
}

impl std::ops::Deref for DealView {
    type Target = Deal;
    fn deref(&self) -> &Deal {
        &self.deal
    }
}

/// The editable part of a deal, normalised.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DealFields {
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<ContactId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company: Option<CompanyId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<Money>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_close: Option<NaiveDate>,
    /// Where the lead came from, e.g. `"website"`; reports group by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default)]
    pub tags: BTreeSet<String>,
    #[serde(default)]
    pub custom: CustomValues,
}

impl DealFields {
    /// The deal's contact and company, those it has.
    pub fn parties(&self) -> impl Iterator<Item = AnyId> {
        [self.contact.map(AnyId::from), self.company.map(AnyId::from)]
            .into_iter()
            .flatten()
    }
}

/// Input for [`crate::Command::CreateDeal`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct NewDeal {
    pub title: String,
    pub pipeline: Option<PipelineId>,
    /// Defaults to the pipeline's first stage; must be an open stage.
    #[serde(default)]
    pub stage: Option<StageId>,
    #[serde(default)]
    pub contact: Option<ContactId>,
    #[serde(default)]
    pub company: Option<CompanyId>,
    /// Defaults to the acting user; required when the actor is `system`.
    #[serde(default)]
    pub owner: Option<UserId>,
    #[serde(default)]
    pub amount: Option<Money>,
    #[serde(default)]
    pub expected_close: Option<NaiveDate>,
    /// Where the lead came from; defaults to the contact's source.
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub custom: BTreeMap<String, Value>,
}

/// Input for [`crate::Command::UpdateDeal`]: absent fields stay, `null` clears.
/// Stage and owner change through `move_deal` and `assign_owner`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default, deny_unknown_fields)]
pub struct DealPatch {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(
        deserialize_with = "validate::nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub contact: Option<Option<ContactId>>,
    #[serde(
        deserialize_with = "validate::nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub company: Option<Option<CompanyId>>,
    #[serde(
        deserialize_with = "validate::nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub amount: Option<Option<Money>>,
    #[serde(
        deserialize_with = "validate::nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub expected_close: Option<Option<NaiveDate>>,
    #[serde(
        deserialize_with = "validate::nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub source: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub custom: BTreeMap<String, Value>,
}
