//! Reports as chart-ready series: category labels and named series of numbers, for a
//! host's charting library or for the built-in SVG renderer ([`super::svg`]).

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::Serialize;

use crate::common::id::UserId;
use crate::model::pipeline::StageKind;
use crate::state::State;

use super::measure::{DurationSummary, Sums};
use super::rows::Report;

/// How a chart draws its series.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ChartKind {
    /// One series, one bar per stage, narrowing.
    Funnel,
    /// Grouped vertical bars: one group per label, one bar per series.
    Bars,
    /// One line per series across the labels (periods).
    Lines,
}

/// A report ready to draw. `series[i].values[j]` belongs to `labels[j]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Chart {
    pub kind: ChartKind,
    pub title: String,
    /// What the values count or measure, e.g. `"deals"`, `"amount"`, `"days"`.
    pub unit: String,
    pub labels: Vec<String>,
    pub series: Vec<Series>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Series {
    pub name: String,
    pub values: Vec<Decimal>,
}

const DAY_SECONDS: i64 = 86_400;
const HOUR_SECONDS: i64 = 3_600;

/// The chart for a report; users are named by their names in `state`.
pub(crate) fn chart(state: &State, report: &Report) -> Chart {
    let name = |user: &UserId| {
        state
            .users
            .get(user)
            .map_or_else(|| user.to_string(), |user| user.name.clone())
    };
    match report {
        Report::Funnel { stages, .. } => {
            // Lost deals are the drop-off, not a step of the funnel.
            let steps = || stages.iter().filter(|stage| stage.kind != StageKind::Lost);
            Chart {
                kind: ChartKind::Funnel,
                title: "Funnel".into(),
                unit: "deals".into(),
                labels: steps().map(|stage| stage.name.clone()).collect(),
                series: vec![series("Deals", steps().map(|s| Decimal::from(s.reached)))],
            }
        }
        Report::Revenue { rows, .. } => {
            let mut periods: BTreeMap<String, (Sums, Sums)> = BTreeMap::new();
            for row in rows {
                let (won, paid) = periods.entry(row.period.to_string()).or_default();
                won.merge(&row.won_amount);
                paid.merge(&row.paid);
            }
            let labels: Vec<String> = periods.keys().cloned().collect();
            let mut series = per_currency("Won", periods.values().map(|(won, _)| won));
            series.extend(per_currency("Paid", periods.values().map(|(_, paid)| paid)));
            Chart {
                kind: ChartKind::Lines,
                title: "Revenue".into(),
                unit: "amount".into(),
                labels,
                series,
            }
        }
        Report::WinRate { rows, .. } => Chart {
            kind: ChartKind::Bars,
            title: "Won and lost deals".into(),
            unit: "deals".into(),
            labels: rows
                .iter()
                .filter_map(|row| row.owner.as_ref())
                .map(name)
                .collect(),
            series: vec![
                series("Won", rows.iter().map(|row| Decimal::from(row.won))),
                series("Lost", rows.iter().map(|row| Decimal::from(row.lost))),
            ],
        },
        Report::Forecast { rows } => {
            let mut months: BTreeMap<String, Sums> = BTreeMap::new();
            for row in rows {
                let month = row
                    .close_month
                    .map_or_else(|| "no date".to_string(), |m| m.format("%Y-%m").to_string());
                months.entry(month).or_default().merge(&row.weighted);
            }
            Chart {
                kind: ChartKind::Bars,
                title: "Weighted pipeline by expected closing month".into(),
                unit: "amount".into(),
                labels: months.keys().cloned().collect(),
                series: per_currency("Weighted", months.values()),
            }
        }
        Report::Cycle { rows, .. } => durations(
            "Sales cycle",
            "days",
            DAY_SECONDS,
            rows.iter().map(|row| (name(&row.owner), &row.summary)),
        ),
        Report::StageTime { rows } => durations(
            "Time in stage",
            "hours",
            HOUR_SECONDS,
            rows.iter().map(|row| (row.name.clone(), &row.summary)),
        ),
        Report::Sources { rows } => Chart {
            kind: ChartKind::Bars,
            title: "Lead sources".into(),
            unit: "deals".into(),
            labels: rows
                .iter()
                .map(|row| row.source.clone().unwrap_or_else(|| "(none)".into()))
                .collect(),
            series: vec![
                series("Leads", rows.iter().map(|row| Decimal::from(row.created))),
                series("Won", rows.iter().map(|row| Decimal::from(row.won))),
            ],
        },
        Report::Rotting { deals, .. } => Chart {
            kind: ChartKind::Bars,
            title: "Days in the current stage".into(),
            unit: "days".into(),
            labels: deals.iter().map(|deal| deal.title.clone()).collect(),
            series: vec![series(
                "Days",
                deals.iter().map(|deal| Decimal::from(deal.days)),
            )],
        },
        Report::Sla { rows } => Chart {
            kind: ChartKind::Bars,
            title: "Tasks per person".into(),
            unit: "tasks".into(),
            labels: rows.iter().map(|row| name(&row.owner)).collect(),
            series: vec![
                series("Done", rows.iter().map(|row| Decimal::from(row.tasks_done))),
                series("Late", rows.iter().map(|row| Decimal::from(row.tasks_late))),
                series(
                    "Overdue now",
                    rows.iter().map(|row| Decimal::from(row.overdue_now)),
                ),
            ],
        },
        Report::Clients(summary) => Chart {
            kind: ChartKind::Bars,
            title: "Visits and clients".into(),
            unit: "count".into(),
            labels: vec!["Visits".into(), "Clients".into()],
            series: vec![series(
                "Count",
                [summary.visits, summary.clients]
                    .into_iter()
                    .map(Decimal::from),
            )],
        },
    }
}

fn series(name: &str, values: impl Iterator<Item = Decimal>) -> Series {
    Series {
        name: name.into(),
        values: values.collect(),
    }
}

/// One series per currency found in any of `sums` (never added across currencies).
fn per_currency<'a>(name: &str, sums: impl Iterator<Item = &'a Sums> + Clone) -> Vec<Series> {
    let mut currencies: Vec<_> = sums
        .clone()
        .flat_map(|sums| sums.totals().map(|money| money.currency()))
        .collect();
    currencies.sort();
    currencies.dedup();
    currencies
        .into_iter()
        .map(|currency| Series {
            name: format!("{name} {}", currency.code()),
            values: sums.clone().map(|sums| sums.get(currency)).collect(),
        })
        .collect()
}

/// Median and mean per label, in `unit`s of `seconds` each (two decimals).
fn durations<'a>(
    title: &str,
    unit: &str,
    seconds: i64,
    rows: impl Iterator<Item = (String, &'a DurationSummary)> + Clone,
) -> Chart {
    let scale = |value: Decimal| (value / Decimal::from(seconds)).round_dp(2);
    Chart {
        kind: ChartKind::Bars,
        title: title.into(),
        unit: unit.into(),
        labels: rows.clone().map(|(label, _)| label).collect(),
        series: vec![
            series("Median", rows.clone().map(|(_, s)| scale(s.median_seconds))),
            series("Mean", rows.map(|(_, s)| scale(s.mean_seconds))),
        ],
    }
}
