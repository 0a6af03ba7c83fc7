//! Asking for a report: which one, for which period, pipeline, owner or department.

use std::collections::BTreeMap;

use chrono::{Datelike, Duration, NaiveDate};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::common::id::{DepartmentId, PipelineId, UserId};
use crate::common::money::Currency;

/// Input for [`crate::Query::Report`]. JSON:
/// `{"type": "report", "report": "revenue", "from": "2026-01-01", "to": "2026-03-31", "by": "month"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ReportRequest {
    pub report: ReportKind,
    /// The first business day (in the calendar's time zone), inclusive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<NaiveDate>,
    /// The last business day, inclusive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline: Option<PipelineId>,
    /// Only deals owned by this user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<UserId>,
    /// Only deals owned by members of this department.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<DepartmentId>,
    /// Revenue periods: `day`, `week` (from Monday), `month` (the default) or `quarter`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<Bucket>,
    /// Rotting deals: at least this many days in their current stage (default 14).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<u32>,
    /// Also give money totals in one currency, at the host's rates (revenue, win rate,
    /// forecast, clients). Without it, totals stay per currency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub convert: Option<Conversion>,
}

/// Converting totals into one currency at host-supplied rates: each amount at the
/// rates of its day (the latest snapshot on or before it). A missing rate is an error
/// naming the currency and day, never a silent mix.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Conversion {
    pub to: Currency,
    /// Rate snapshots by day: how many units of `to` one unit of each currency is worth,
    /// e.g. `{"2026-11-01": {"EUR": "1.08"}}`.
    pub rates: BTreeMap<NaiveDate, BTreeMap<Currency, Decimal>>,
}

impl ReportRequest {
    pub fn new(report: ReportKind) -> Self {
        Self {
            report,
            from: None,
            to: None,
            pipeline: None,
            owner: None,
            department: None,
            by: None,
            days: None,
            convert: None,
        }
    }
}

/// The reports there are. Periods date each figure by its own event: funnels and
/// sources by when the deal was created (a cohort), wins, losses and cycles by when
/// the deal closed, payments by when the money moved, stage times by when the stage
/// was left; the forecast and rotting deals are as of now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ReportKind {
    /// Deals created in the period: how many reached each stage, conversion from the
    /// stage before, and where and why the lost ones dropped out.
    Funnel,
    /// Won amounts and payments received per period, owner and currency.
    Revenue,
    /// Won and lost deals, win rate and average won amount per owner.
    WinRate,
    /// Open deals: amount and amount × stage probability, per pipeline, expected closing
    /// month and stage.
    Forecast,
    /// Days from creation to winning, mean and median, per owner.
    Cycle,
    /// Time spent in each stage, mean and median.
    StageTime,
    /// Leads per source: how many, how many were won, for how much.
    Sources,
    /// Open deals that have sat in their stage for `days` or longer.
    Rotting,
    /// Per user: time to first contact for their new deals, tasks completed and how
    /// many late, open tasks overdue now, activities logged by kind.
    Sla,
    /// Won deals with a contact as a client's visits: visits, clients, average bill,
    /// visits per client and the time between a client's visits.
    Clients,
}

impl ReportKind {
    /// Every report, in the order docs/reports.md presents them.
    pub const ALL: [ReportKind; 10] = [
        ReportKind::Funnel,
        ReportKind::Revenue,
        ReportKind::WinRate,
        ReportKind::Forecast,
        ReportKind::Cycle,
        ReportKind::StageTime,
        ReportKind::Sources,
        ReportKind::Rotting,
        ReportKind::Sla,
        ReportKind::Clients,
    ];
}

/// How revenue is grouped in time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Bucket {
    Day,
    Week,
    #[default]
    Month,
    Quarter,
}

impl Bucket {
    /// The first day of the period `day` falls in.
    pub fn start(self, day: NaiveDate) -> NaiveDate {
        match self {
            Bucket::Day => day,
            Bucket::Week => day - Duration::days(i64::from(day.weekday().num_days_from_monday())),
            Bucket::Month => day.with_day(1).unwrap_or(day),
            Bucket::Quarter => {
                let month = (day.month() - 1) / 3 * 3 + 1;
                NaiveDate::from_ymd_opt(day.year(), month, 1).unwrap_or(day)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_start_on_monday_the_first_and_the_quarter() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 27).unwrap(); // a Friday
        let start = |bucket: Bucket| bucket.start(day).to_string();
        assert_eq!(start(Bucket::Day), "2026-11-27");
        assert_eq!(start(Bucket::Week), "2026-11-23");
        assert_eq!(start(Bucket::Month), "2026-11-01");
        assert_eq!(start(Bucket::Quarter), "2026-10-01");
    }
}
