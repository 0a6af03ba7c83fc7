//! The measures the aggregates are made of: counts, money per currency and multisets
//! of durations. Each is updated by adding or taking out one deal's contributions, and keeps
//! no empty entries, so an aggregate built incrementally equals one built from scratch.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::Serialize;

use super::small_map::SmallMap;
use crate::common::money::{Currency, Money};

/// Whether a deal's contributions go in or come out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Sign {
    Add,
    Retract,
}

/// A count that a fact raises or lowers.
pub(crate) fn count(value: &mut u64, sign: Sign) {
    match sign {
        Sign::Add => *value += 1,
        Sign::Retract => *value = value.saturating_sub(1),
    }
}

/// A map of counts: a B-tree, or a [`SmallMap`] for the many small ones.
pub(crate) trait Counts<K> {
    fn count_mut(&mut self, key: &K) -> Option<&mut u64>;
    fn insert_count(&mut self, key: K, count: u64);
    fn remove_count(&mut self, key: &K);
}

impl<K: Ord> Counts<K> for BTreeMap<K, u64> {
    fn count_mut(&mut self, key: &K) -> Option<&mut u64> {
        self.get_mut(key)
    }
    fn insert_count(&mut self, key: K, count: u64) {
        self.insert(key, count);
    }
    fn remove_count(&mut self, key: &K) {
        self.remove(key);
    }
}

impl<K: Ord> Counts<K> for SmallMap<K, u64> {
    fn count_mut(&mut self, key: &K) -> Option<&mut u64> {
        self.get_mut(key)
    }
    fn insert_count(&mut self, key: K, count: u64) {
        *self.entry_or_default(key) = count;
    }
    fn remove_count(&mut self, key: &K) {
        self.remove(key);
    }
}

/// A count per key; keys that reach zero are removed.
pub(crate) fn count_key<K: Ord>(map: &mut impl Counts<K>, key: K, sign: Sign) {
    match (map.count_mut(&key), sign) {
        (Some(value), sign) => {
            count(value, sign);
            if *value == 0 {
                map.remove_count(&key);
            }
        }
        (None, Sign::Add) => map.insert_count(key, 1),
        (None, Sign::Retract) => {}
    }
}

/// Money per currency, never mixed, with how many amounts each total holds (for
/// averages). Amounts are bounded on input, so totals cannot overflow in practice; if
/// one ever did it would saturate rather than panic. JSON: `{"EUR": "1500.00"}`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sums(BTreeMap<Currency, (Decimal, u64)>);

impl Sums {
    pub(crate) fn add(&mut self, money: &Money, sign: Sign) {
        let entry = self.0.entry(money.currency()).or_default();
        match sign {
            Sign::Add => entry.0 = entry.0.saturating_add(money.amount()),
            Sign::Retract => entry.0 = entry.0.saturating_sub(money.amount()),
        }
        count(&mut entry.1, sign);
        if entry.1 == 0 {
            self.0.remove(&money.currency());
        }
    }

    /// Adds every currency's total of `other`.
    pub(crate) fn merge(&mut self, other: &Sums) {
        for (currency, (amount, times)) in &other.0 {
            let entry = self.0.entry(*currency).or_default();
            entry.0 = entry.0.saturating_add(*amount);
            entry.1 += times;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The totals, by currency.
    pub fn totals(&self) -> impl Iterator<Item = Money> + '_ {
        self.0
            .iter()
            .map(|(currency, (amount, _))| Money::new(*amount, *currency))
    }

    /// The total in `currency` (zero when there is none).
    pub fn get(&self, currency: Currency) -> Decimal {
        self.0
            .get(&currency)
            .map_or(Decimal::ZERO, |(amount, _)| *amount)
    }

    /// Each currency's total divided by how many amounts it holds.
    pub fn averages(&self) -> Sums {
        Sums(
            self.0
                .iter()
                .map(|(currency, (amount, times))| {
                    let digits = currency.minor_units();
                    let mut average = (*amount / Decimal::from(*times)).round_dp(digits);
                    average.rescale(digits);
                    (*currency, (average, 1))
                })
                .collect(),
        )
    }

    /// Each total multiplied by `factor` (e.g. a stage's probability), rounded to the
    /// currency's minor units.
    pub(crate) fn scaled(&self, factor: Decimal) -> Sums {
        Sums(
            self.0
                .iter()
                .map(|(currency, (amount, times))| {
                    let digits = currency.minor_units();
                    let mut scaled = amount.saturating_mul(factor).round_dp(digits);
                    scaled.rescale(digits);
                    (*currency, (scaled, *times))
                })
                .collect(),
        )
    }
}

#[cfg(feature = "schema")]
impl schemars::JsonSchema for Sums {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Sums".into()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let amount = generator.subschema_for::<Decimal>();
        schemars::json_schema!({
            "type": "object",
            "additionalProperties": amount,
            "description": "decimal amounts by ISO 4217 currency code: {\"EUR\": \"12.50\"}"
        })
    }
}

impl Serialize for Sums {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (currency, (amount, _)) in &self.0 {
            map.serialize_entry(currency.code(), &amount.to_string())?;
        }
        map.end()
    }
}

/// How many deals, and their amounts per currency (deals without an amount count but
/// add no money).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Tally {
    pub count: u64,
    pub amount: Sums,
}

impl Tally {
    pub(crate) fn add(&mut self, amount: Option<&Money>, sign: Sign) {
        count(&mut self.count, sign);
        if let Some(amount) = amount {
            self.amount.add(amount, sign);
        }
    }

    pub(crate) fn merge(&mut self, other: &Tally) {
        self.count += other.count;
        self.amount.merge(&other.amount);
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0 && self.amount.is_empty()
    }
}

/// A multiset of durations in seconds, for exact means and medians.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Durations(SmallMap<i64, u64>);

impl Durations {
    pub(crate) fn add(&mut self, seconds: i64, sign: Sign) {
        count_key(&mut self.0, seconds, sign);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Several slices' durations read as one multiset without merging them into one: a
/// two-year report reads a few thousand slices, and inserting every duration into a
/// fresh ordered map cost more than the whole rest of the report.
#[derive(Default)]
pub(crate) struct DurationPool<'a>(Vec<&'a Durations>);

impl<'a> DurationPool<'a> {
    pub(crate) fn add(&mut self, durations: &'a Durations) {
        if !durations.is_empty() {
            self.0.push(durations);
        }
    }

    /// How many, the mean and the median (the mean of the middle two for an even
    /// count), in seconds, over every added multiset; `None` when empty.
    pub(crate) fn summary(&self) -> Option<DurationSummary> {
        let mut pairs: Vec<(i64, u64)> = self
            .0
            .iter()
            .flat_map(|durations| {
                durations
                    .0
                    .iter()
                    .map(|(seconds, times)| (*seconds, *times))
            })
            .collect();
        let count: u64 = pairs.iter().map(|(_, times)| times).sum();
        if count == 0 {
            return None;
        }
        let total: i128 = pairs
            .iter()
            .map(|(seconds, times)| i128::from(*seconds) * i128::from(*times))
            .sum();
        let mean = Decimal::from_i128_with_scale(total, 0) / Decimal::from(count);
        let lower = weighted_nth(&mut pairs, (count - 1) / 2);
        let upper = weighted_nth(&mut pairs, count / 2);
        let median = (Decimal::from(lower) + Decimal::from(upper)) / Decimal::TWO;
        Some(DurationSummary {
            count,
            mean_seconds: mean.round_dp(0),
            median_seconds: median.round_dp(0),
        })
    }
}

/// The `index`-th smallest value (from 0) of (value, times) pairs: a quickselect that
/// weighs each pair by its count, linear on average instead of a sort. `index` must be
/// below the total count; the pairs are reordered.
fn weighted_nth(pairs: &mut [(i64, u64)], mut index: u64) -> i64 {
    let mut rest = pairs;
    loop {
        let middle = rest.len() / 2;
        let (below, pivot, above) =
            std::mem::take(&mut rest).select_nth_unstable_by_key(middle, |pair| pair.0);
        let below_count: u64 = below.iter().map(|(_, times)| times).sum();
        if index < below_count {
            rest = below;
        } else if index < below_count + pivot.1 {
            return pivot.0;
        } else {
            index -= below_count + pivot.1;
            rest = above;
        }
    }
}

/// How long things took: how many, mean and median, in whole seconds (rounded half
/// to even).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DurationSummary {
    pub count: u64,
    pub mean_seconds: Decimal,
    pub median_seconds: Decimal,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary_of(durations: &Durations) -> Option<DurationSummary> {
        let mut pool = DurationPool::default();
        pool.add(durations);
        pool.summary()
    }

    #[test]
    fn sums_keep_currencies_apart_and_drop_those_taken_out_again() {
        let mut sums = Sums::default();
        let eur = Money::parse("100.50", "EUR").unwrap();
        sums.add(&eur, Sign::Add);
        sums.add(&Money::parse("49.50", "EUR").unwrap(), Sign::Add);
        sums.add(&Money::parse("3", "USD").unwrap(), Sign::Add);
        assert_eq!(
            serde_json::to_string(&sums.averages()).unwrap(),
            r#"{"EUR":"75.00","USD":"3.00"}"#
        );
        sums.add(&Money::parse("3", "USD").unwrap(), Sign::Retract);
        sums.add(&eur, Sign::Retract);
        assert_eq!(serde_json::to_string(&sums).unwrap(), r#"{"EUR":"49.50"}"#);
    }

    #[test]
    fn medians_take_the_middle_and_means_are_exact() {
        let mut durations = Durations::default();
        for seconds in [10, 40, 20, 20] {
            durations.add(seconds, Sign::Add);
        }
        let summary = summary_of(&durations).unwrap();
        assert_eq!(summary.count, 4);
        assert_eq!(summary.median_seconds, Decimal::from(20));
        assert_eq!(summary.mean_seconds, Decimal::from(22)); // 22.5, to even
        durations.add(40, Sign::Retract);
        assert_eq!(
            summary_of(&durations).unwrap().median_seconds,
            Decimal::from(20)
        );
        durations.add(20, Sign::Retract);
        assert_eq!(
            summary_of(&durations).unwrap().median_seconds,
            Decimal::from(15)
        );
    }

    proptest::proptest! {
        /// The weighted quickselect over several slices agrees with sorting every
        /// duration written out one by one.
        #[test]
        fn pooled_medians_equal_a_sort_of_everything(
            slices in proptest::collection::vec(
                proptest::collection::vec(-50i64..50, 0..20), 1..6),
        ) {
            let multisets: Vec<Durations> = slices
                .iter()
                .map(|values| {
                    let mut durations = Durations::default();
                    for value in values {
                        durations.add(*value, Sign::Add);
                    }
                    durations
                })
                .collect();
            let mut pool = DurationPool::default();
            for durations in &multisets {
                pool.add(durations);
            }
            let mut all: Vec<i64> = slices.concat();
            all.sort_unstable();
            match pool.summary() {
                None => proptest::prop_assert!(all.is_empty()),
                Some(summary) => {
                    let n = all.len();
                    let median = (Decimal::from(all[(n - 1) / 2]) + Decimal::from(all[n / 2]))
                        / Decimal::TWO;
                    proptest::prop_assert_eq!(summary.count, n as u64);
                    proptest::prop_assert_eq!(summary.median_seconds, median.round_dp(0));
                }
            }
        }
    }
}
