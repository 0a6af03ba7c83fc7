//! Money on a deal: line items (what is sold) and payments (what came in).
//! A deal is paid when its payments reach its amount; that is a trigger for rules.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::common::id::{DealId, PaymentId};
use crate::common::money::{exact_decimal, Money};
use crate::model::actor::Actor;

/// Most line items on one deal.
pub(crate) const MAX_LINE_ITEMS: usize = 200;
/// Quantities stay below this (a billion units), with at most 6 decimals.
pub(crate) const MAX_QUANTITY: Decimal = Decimal::from_parts(1_000_000_000, 0, 0, false, 0);

/// One line of what a deal sells.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct LineItem {
    pub product: String,
    #[serde(with = "exact_decimal")]
    #[cfg_attr(feature = "schema", schemars(with = "rust_decimal::Decimal"))]
    pub quantity: Decimal,
    pub unit_price: Money,
    /// Percent off, 0–100.
    #[serde(with = "exact_decimal")]
    #[cfg_attr(feature = "schema", schemars(with = "rust_decimal::Decimal"))]
    pub discount_percent: Decimal,
    /// quantity × unit price × (1 − discount), rounded to the currency's minor units.
    pub total: Money,
}

/// Input for one line of [`LineItems`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct NewLineItem {
    pub product: String,
    #[serde(with = "exact_decimal")]
    #[cfg_attr(feature = "schema", schemars(with = "rust_decimal::Decimal"))]
    pub quantity: Decimal,
    pub unit_price: Money,
    #[serde(default, with = "exact_decimal")]
    #[cfg_attr(feature = "schema", schemars(with = "rust_decimal::Decimal"))]
    pub discount_percent: Decimal,
}

/// Input for [`crate::Command::SetLineItems`]: replaces the deal's lines.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct LineItems {
    pub deal: DealId,
    pub items: Vec<NewLineItem>,
    /// Set the deal's amount to the lines' total (default true).
    #[serde(default = "yes")]
    pub set_amount: bool,
}

fn yes() -> bool {
    true
}

/// A payment (positive) or refund (negative) on a deal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Payment {
    pub id: PaymentId,
    pub amount: Money,
    /// When the money moved (may be earlier than when it was recorded).
    #[serde(deserialize_with = "crate::common::utc::deserialize")]
    pub paid_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub recorded_by: Actor,
}

/// Input for [`crate::Command::RecordPayment`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct NewPayment {
    pub deal: DealId,
    /// Negative for a refund.
    pub amount: Money,
    /// Defaults to `now`.
    #[serde(default)]
    pub paid_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub note: Option<String>,
}
