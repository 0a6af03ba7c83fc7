//! Money: an exact decimal amount and an ISO 4217 currency. Never a float.
//!
//! Arithmetic is checked: adding two currencies is a [`CrmError::CurrencyMismatch`],
//! leaving the decimal range is a [`CrmError::Overflow`], and neither is ever silent.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::common::error::CrmError;

/// Entered amounts stay below this (10^15, a quadrillion in any currency), so that
/// sums over any number of them stay far inside the range of [`Decimal`].
pub(crate) const MAX_AMOUNT: Decimal = Decimal::from_parts(2_764_472_320, 232_830, 0, false, 0);

/// How many decimals beyond its currency's minor units a line item's unit price may
/// carry (`0.0035 EUR` a screw); amounts, payments and money fields may carry none.
pub(crate) const EXTRA_PRICE_DECIMALS: u32 = 4;

/// An ISO 4217 currency code such as `EUR`, validated against the ISO list.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency(iso_currency::Currency);

impl Currency {
    /// The three-letter code, e.g. `"EUR"`.
    pub fn code(self) -> &'static str {
        self.0.code()
    }

    /// Digits after the decimal point in everyday use (2 for EUR, 0 for JPY).
    pub fn minor_units(self) -> u32 {
        self.0.exponent().map(u32::from).unwrap_or(0)
    }
}

impl FromStr for Currency {
    type Err = CrmError;
    fn from_str(code: &str) -> Result<Self, CrmError> {
        iso_currency::Currency::from_code(code)
            .map(Currency)
            .ok_or_else(|| {
                CrmError::validation(
                    "currency",
                    format!("{code:?} is not an ISO 4217 currency code"),
                )
            })
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[cfg(feature = "schema")]
impl schemars::JsonSchema for Currency {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Currency".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^[A-Z]{3}$",
            "description": "an ISO 4217 currency code like \"EUR\""
        })
    }
}

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        crate::common::id::deserialize_text(deserializer)
    }
}

/// An amount of money. Serialized as `{"amount": "12.50", "currency": "EUR"}`:
/// the amount is a string so no JSON parser anywhere turns it into a float.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Money {
    #[serde(with = "exact_decimal")]
    #[cfg_attr(feature = "schema", schemars(with = "rust_decimal::Decimal"))]
    amount: Decimal,
    currency: Currency,
}

impl Money {
    pub fn new(amount: Decimal, currency: Currency) -> Self {
        Self { amount, currency }
    }

    /// Parses an amount such as `"1250.00"` in a currency such as `"EUR"`.
    pub fn parse(amount: &str, currency: &str) -> Result<Self, CrmError> {
        Ok(Self {
            amount: parse_decimal("amount", amount)?,
            currency: currency.parse()?,
        })
    }

    pub fn zero(currency: Currency) -> Self {
        Self {
            amount: Decimal::ZERO,
            currency,
        }
    }

    pub fn amount(&self) -> Decimal {
        self.amount
    }

    pub fn currency(&self) -> Currency {
        self.currency
    }

    /// Rounded (half to even) and written with exactly the currency's minor units:
    /// `25.0 EUR` → `25.00 EUR`, `1500.4 JPY` → `1500 JPY`.
    pub fn in_minor_units(&self) -> Money {
        let units = self.currency.minor_units();
        let mut amount = self.amount.round_dp(units);
        amount.rescale(units);
        Money::new(amount, self.currency)
    }

    pub fn is_negative(&self) -> bool {
        self.amount.is_sign_negative() && !self.amount.is_zero()
    }

    fn same_currency(&self, other: &Money) -> Result<(), CrmError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(CrmError::currency_mismatch("", self, other))
        }
    }

    /// An amount as a person may enter it at `field`: below [`MAX_AMOUNT`], and with no
    /// more decimals than the currency's minor units plus `extra` (a unit price may be
    /// `0.0035 EUR`, an amount or payment not `0.001 EUR`: a cent that is not there
    /// would vanish or appear as the amount is rounded for display).
    pub(crate) fn entered(self, field: &str, extra: u32) -> Result<Money, CrmError> {
        if self.amount.abs() >= MAX_AMOUNT {
            return Err(CrmError::validation(
                field,
                format!("{self} is beyond the largest amount, {MAX_AMOUNT}"),
            ));
        }
        let allowed = self.currency.minor_units() + extra;
        if self.amount.normalize().scale() > allowed {
            return Err(CrmError::validation(
                field,
                format!(
                    "{self} has more decimals than {} allows here ({allowed})",
                    self.currency
                ),
            ));
        }
        Ok(self)
    }

    pub fn checked_add(&self, other: &Money) -> Result<Money, CrmError> {
        self.same_currency(other)?;
        self.amount
            .checked_add(other.amount)
            .map(|amount| Money::new(amount, self.currency))
            .ok_or_else(|| CrmError::Overflow {
                operation: format!("{self} + {other}"),
            })
    }

    pub fn checked_sub(&self, other: &Money) -> Result<Money, CrmError> {
        self.same_currency(other)?;
        self.amount
            .checked_sub(other.amount)
            .map(|amount| Money::new(amount, self.currency))
            .ok_or_else(|| CrmError::Overflow {
                operation: format!("{self} - {other}"),
            })
    }

    /// Multiplies by a quantity or rate, e.g. a unit price by a quantity.
    pub fn checked_mul(&self, factor: Decimal) -> Result<Money, CrmError> {
        self.amount
            .checked_mul(factor)
            .map(|amount| Money::new(amount, self.currency))
            .ok_or_else(|| CrmError::Overflow {
                operation: format!("{self} * {factor}"),
            })
    }

    /// Sums amounts that must all be in `currency`; an empty sum is zero.
    pub fn sum<'a>(
        currency: Currency,
        items: impl IntoIterator<Item = &'a Money>,
    ) -> Result<Money, CrmError> {
        items
            .into_iter()
            .try_fold(Money::zero(currency), |total, item| total.checked_add(item))
    }

    /// Splits into `parts` amounts in the currency's minor units that add up exactly;
    /// the remainder cents go to the first parts.
    pub fn allocate(&self, parts: u32) -> Result<Vec<Money>, CrmError> {
        if parts == 0 {
            return Err(CrmError::validation(
                "parts",
                "cannot allocate into 0 parts",
            ));
        }
        let scale = self.currency.minor_units();
        let unit = Decimal::new(1, scale);
        let share = (self.amount / Decimal::from(parts)).trunc_with_scale(scale);
        let mut remainder = self.amount - share * Decimal::from(parts);
        let step = if remainder.is_sign_negative() {
            -unit
        } else {
            unit
        };
        let mut result = Vec::with_capacity(parts as usize);
        for _ in 0..parts {
            let mut amount = share;
            if !remainder.is_zero() && remainder.abs() >= unit {
                amount += step;
                remainder -= step;
            }
            result.push(Money::new(amount, self.currency));
        }
        // A sub-minor-unit rest (e.g. 0.005 EUR) stays on the first part, so nothing is lost.
        if !remainder.is_zero() {
            result[0].amount += remainder;
        }
        Ok(result)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.amount, self.currency)
    }
}

/// Parses an exact decimal from text; `field` names it in the error.
pub(crate) fn parse_decimal(field: &str, text: &str) -> Result<Decimal, CrmError> {
    let trimmed = text.trim();
    if trimmed.len() > 40 {
        return Err(CrmError::validation(
            field,
            format!("{text:?} is too long for an amount"),
        ));
    }
    Decimal::from_str_exact(trimmed).map_err(|_| {
        CrmError::validation(
            field,
            format!("{text:?} is not a decimal number like \"12.50\""),
        )
    })
}

/// Serde for decimals: written as a string; read from a string or a JSON integer,
/// never from a JSON fraction, which a parser may already have rounded.
pub(crate) mod exact_decimal {
    use rust_decimal::Decimal;

    use crate::common::error::CrmError;
    use serde::de::{self, Visitor};
    use serde::{Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(
        value: &Decimal,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_str(value)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Decimal, D::Error> {
        deserializer.deserialize_any(ExactDecimal)
    }

    struct ExactDecimal;

    impl Visitor<'_> for ExactDecimal {
        type Value = Decimal;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a decimal string like \"12.50\" or an integer")
        }
        fn visit_str<E: de::Error>(self, text: &str) -> Result<Decimal, E> {
            // The path of the value is the reader's to name (`items[0].quantity`).
            super::parse_decimal("", text).map_err(|err| match err {
                CrmError::Validation { reason, .. } => E::custom(reason),
                other => E::custom(other),
            })
        }
        fn visit_i64<E: de::Error>(self, value: i64) -> Result<Decimal, E> {
            Ok(Decimal::from(value))
        }
        fn visit_u64<E: de::Error>(self, value: u64) -> Result<Decimal, E> {
            Ok(Decimal::from(value))
        }
        fn visit_f64<E: de::Error>(self, value: f64) -> Result<Decimal, E> {
            Err(E::custom(format!(
                "{value} is a JSON fraction; write decimals as strings like \"{value}\" so they stay exact"
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eur(amount: &str) -> Money {
        Money::parse(amount, "EUR").unwrap()
    }

    #[test]
    fn addition_is_exact() {
        assert_eq!(eur("0.1").checked_add(&eur("0.2")).unwrap(), eur("0.3"));
    }

    #[test]
    fn currencies_never_mix() {
        let err = eur("1")
            .checked_add(&Money::parse("1", "USD").unwrap())
            .unwrap_err();
        assert_eq!(err.code(), "currency_mismatch");
        assert!(err.to_string().contains("USD"));
    }

    #[test]
    fn overflow_is_an_error() {
        let max = Money::new(Decimal::MAX, "EUR".parse().unwrap());
        assert_eq!(max.checked_add(&eur("1")).unwrap_err().code(), "overflow");
        assert_eq!(
            max.checked_mul(Decimal::from(2)).unwrap_err().code(),
            "overflow"
        );
    }

    #[test]
    fn unknown_currencies_and_bad_amounts_are_named() {
        let err = Money::parse("1", "EUX").unwrap_err();
        assert!(err.to_string().contains("EUX"), "{err}");
        let err = Money::parse("1,5", "EUR").unwrap_err();
        assert!(err.to_string().contains("1,5"), "{err}");
    }

    #[test]
    fn json_fractions_are_refused_and_strings_accepted() {
        let ok: Money = serde_json::from_str(r#"{"amount":"10.10","currency":"EUR"}"#).unwrap();
        assert_eq!(ok, eur("10.10"));
        let int: Money = serde_json::from_str(r#"{"amount":10,"currency":"EUR"}"#).unwrap();
        assert_eq!(int, eur("10"));
        assert!(serde_json::from_str::<Money>(r#"{"amount":10.1,"currency":"EUR"}"#).is_err());
        assert_eq!(
            serde_json::to_string(&ok).unwrap(),
            r#"{"amount":"10.10","currency":"EUR"}"#
        );
    }

    #[test]
    fn allocation_adds_up_exactly() {
        let parts = eur("100").allocate(3).unwrap();
        assert_eq!(parts, vec![eur("33.34"), eur("33.33"), eur("33.33")]);
        let yen = Money::parse("10", "JPY").unwrap().allocate(4).unwrap();
        assert_eq!(
            yen.iter().map(|m| m.amount()).sum::<Decimal>(),
            Decimal::from(10)
        );
    }
}
