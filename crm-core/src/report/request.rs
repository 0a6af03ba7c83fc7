//! Converting a report's sums between currencies at the request's rates (the request
//! itself is `model::report`).

use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::common::error::CrmError;

use super::measure::Sums;
use crate::model::report::Conversion;

impl Conversion {
    /// `sums` in the target currency at the rates of `day`.
    pub(crate) fn convert(&self, sums: &Sums, day: NaiveDate) -> Result<Decimal, CrmError> {
        let mut total = Decimal::ZERO;
        for money in sums.totals() {
            let rate = if money.currency() == self.to {
                Decimal::ONE
            } else {
                self.rates
                    .range(..=day)
                    .rev()
                    .find_map(|(_, rates)| rates.get(&money.currency()).copied())
                    .ok_or_else(|| {
                        CrmError::validation(
                            "convert.rates",
                            format!(
                                "no {} rate to {} on or before {day}",
                                money.currency().code(),
                                self.to.code()
                            ),
                        )
                    })?
            };
            total = total.saturating_add(money.amount().saturating_mul(rate));
        }
        Ok(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::money::Money;
    use crate::report::measure::Sign;

    #[test]
    fn conversion_uses_the_latest_rates_on_or_before_the_day_and_never_guesses() {
        let conversion: Conversion = serde_json::from_str(
            r#"{"to": "EUR", "rates": {"2026-11-01": {"USD": "0.90"}, "2026-11-20": {"USD": "0.95", "RUB": "0.011"}}}"#,
        )
        .unwrap();
        let mut sums = Sums::default();
        sums.add(&Money::parse("100", "USD").unwrap(), Sign::Add);
        sums.add(&Money::parse("10", "EUR").unwrap(), Sign::Add);
        let day = |text: &str| text.parse::<NaiveDate>().unwrap();
        assert_eq!(
            conversion
                .convert(&sums, day("2026-11-19"))
                .unwrap()
                .to_string(),
            "100.00"
        );
        assert_eq!(
            conversion
                .convert(&sums, day("2026-11-27"))
                .unwrap()
                .to_string(),
            "105.00"
        );
        let err = conversion.convert(&sums, day("2026-10-31")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "convert.rates: no USD rate to EUR on or before 2026-10-31"
        );
    }
}
