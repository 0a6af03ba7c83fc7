//! Reading the aggregates as report rows, within the actor's scope (a manager sees
//! their own deals, a head their department's, an admin all). One JSON shape per
//! report, tagged by `report`.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::Serialize;

use crate::access::Access;
use crate::common::error::CrmError;
use crate::common::id::{DealId, PipelineId, StageId, UserId};
use crate::common::money::Money;
use crate::model::activity::ActivityKind;
use crate::model::pipeline::{Pipeline, StageKind};
use crate::state::State;

use super::contribution::month_of;
use super::measure::{DurationPool, DurationSummary, Sums, Tally};
use super::{DayStats, PersonDay, Reports, Slices, SourceStats};
use crate::model::report::{Bucket, ReportKind, ReportRequest};

/// The rotting-deals report lists at most this many deals, the longest-waiting first.
const MAX_ROTTING: usize = 1_000;

/// A report's rows. JSON: `{"report": "funnel", ...}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "report", rename_all = "snake_case")]
pub enum Report {
    Funnel {
        pipeline: PipelineId,
        /// Deals created in the period.
        created: u64,
        stages: Vec<FunnelStage>,
    },
    Revenue {
        by: Bucket,
        rows: Vec<RevenueRow>,
    },
    WinRate {
        rows: Vec<WinRateRow>,
        total: WinRateRow,
    },
    Forecast {
        rows: Vec<ForecastRow>,
    },
    Cycle {
        rows: Vec<CycleRow>,
        total: Option<DurationSummary>,
    },
    StageTime {
        rows: Vec<StageTimeRow>,
    },
    Sources {
        rows: Vec<SourceRow>,
    },
    Rotting {
        days: u32,
        deals: Vec<RottingDeal>,
        /// Deals beyond the first 1,000 that also qualify.
        more: u64,
    },
    Sla {
        rows: Vec<SlaRow>,
    },
    Clients(ClientsSummary),
}

/// One user's responsiveness and work.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SlaRow {
    /// The user, keyed `owner` as every other report's rows are.
    pub owner: UserId,
    /// The same as `owner`: the name this row's key had before (CHANGELOG.md); kept for
    /// hosts that read it.
    pub user: UserId,
    /// Deals they own that were created in the period…
    pub new_deals: u64,
    /// …and how long until the first outreach on the ones contacted so far.
    pub first_contact: Option<DurationSummary>,
    /// Tasks they completed in the period, of which so many after their due time.
    pub tasks_done: u64,
    pub tasks_late: u64,
    /// Percent of completed tasks that were late (one decimal).
    pub late_share: Option<Decimal>,
    /// Their open tasks past due at `now`.
    pub overdue_now: u64,
    /// Activities they logged in the period, by kind.
    pub activities: BTreeMap<ActivityKind, u64>,
}

/// The salon's view: won deals with a contact as visits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ClientsSummary {
    pub visits: u64,
    /// Distinct clients among them.
    pub clients: u64,
    pub revenue: Sums,
    /// With `convert`: the revenue in its currency.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revenue_converted: Option<Money>,
    /// Per currency: revenue per visit with an amount.
    pub average_bill: Sums,
    /// Visits per client (two decimals).
    pub visits_per_client: Option<Decimal>,
    /// For visits after a client's earlier one: how long after it.
    pub between_visits: Option<DurationSummary>,
}

/// One stage of a funnel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct FunnelStage {
    pub stage: StageId,
    pub name: String,
    pub kind: StageKind,
    /// Deals that entered or passed this stage (for the lost stage: deals lost).
    pub reached: u64,
    /// Percent of the previous open stage's deals that got here (one decimal), or
    /// `null` when none reached the previous stage or this is the lost stage.
    pub conversion: Option<Decimal>,
    /// Deals lost while in this stage, by reason, most first.
    pub lost: Vec<LostReason>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct LostReason {
    pub reason: String,
    pub count: u64,
}

/// Won and paid amounts of one owner in one period.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RevenueRow {
    /// The first day of the period.
    pub period: NaiveDate,
    pub owner: UserId,
    /// Deals won (with and without an amount).
    pub won: u64,
    pub won_amount: Sums,
    /// Payments received, refunds subtracted.
    pub paid: Sums,
    /// With `convert`: the won amount and the payments in its currency.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub won_converted: Option<Money>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paid_converted: Option<Money>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct WinRateRow {
    /// `null` in the total row.
    pub owner: Option<UserId>,
    pub won: u64,
    pub lost: u64,
    /// Percent of closed deals that were won (one decimal); `null` when none closed.
    pub win_rate: Option<Decimal>,
    pub won_amount: Sums,
    /// Per currency: the won amount divided by the won deals that had an amount in it.
    pub average_won: Sums,
    /// With `convert`: the won amount in its currency.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub won_converted: Option<Money>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ForecastRow {
    pub pipeline: PipelineId,
    /// The first day of the expected closing month; `null` when not set.
    pub close_month: Option<NaiveDate>,
    pub stage: StageId,
    pub stage_name: String,
    /// Percent.
    pub probability: u8,
    pub count: u64,
    pub amount: Sums,
    /// Amount × probability.
    pub weighted: Sums,
    /// With `convert`: both in its currency, at the closing month's rates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount_converted: Option<Money>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weighted_converted: Option<Money>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CycleRow {
    pub owner: UserId,
    #[serde(flatten)]
    pub summary: DurationSummary,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct StageTimeRow {
    pub pipeline: PipelineId,
    pub stage: StageId,
    pub name: String,
    #[serde(flatten)]
    pub summary: DurationSummary,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SourceRow {
    /// `null` for deals whose source was not recorded.
    pub source: Option<String>,
    pub created: u64,
    pub won: u64,
    /// Percent of the source's deals that were won (one decimal).
    pub conversion: Option<Decimal>,
    pub won_amount: Sums,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RottingDeal {
    pub deal: DealId,
    pub title: String,
    pub pipeline: PipelineId,
    pub stage: StageId,
    pub owner: UserId,
    /// When it entered its current stage.
    pub since: DateTime<Utc>,
    /// Whole days since then.
    pub days: i64,
}

/// Answers `request` for `access`'s actor at `now`.
pub(crate) fn answer(
    state: &State,
    reports: &Reports,
    access: &Access<'_>,
    request: &ReportRequest,
    now: DateTime<Utc>,
) -> Result<Report, CrmError> {
    let scope = Scope::new(state, access, request)?;
    Ok(match request.report {
        ReportKind::Funnel => funnel(&scope, reports)?,
        ReportKind::Revenue => revenue(&scope, reports, request.by.unwrap_or_default())?,
        ReportKind::WinRate => win_rate(&scope, reports)?,
        ReportKind::Forecast => forecast(
            &scope,
            reports,
            super::contribution::day(state.calendar.time_zone, now),
        )?,
        ReportKind::Cycle => cycle(&scope, reports),
        ReportKind::StageTime => stage_time(&scope, reports),
        ReportKind::Sources => sources(&scope, reports),
        ReportKind::Rotting => rotting(&scope, reports, request.days.unwrap_or(14), now)?,
        ReportKind::Sla => sla(&scope, reports, now),
        ReportKind::Clients => clients(&scope, reports)?,
    })
}

/// Which days, pipelines and owners a report covers.
struct Scope<'a> {
    state: &'a State,
    access: &'a Access<'a>,
    request: &'a ReportRequest,
}

impl<'a> Scope<'a> {
    fn new(
        state: &'a State,
        access: &'a Access<'a>,
        request: &'a ReportRequest,
    ) -> Result<Self, CrmError> {
        if let Some(pipeline) = request
            .pipeline
            .filter(|id| !state.pipelines.contains_key(id))
        {
            return Err(CrmError::not_found("pipeline", pipeline));
        }
        if let Some(owner) = request.owner.filter(|id| !state.users.contains_key(id)) {
            return Err(CrmError::not_found("user", owner));
        }
        if let Some(department) = request
            .department
            .filter(|id| !state.departments.contains_key(id))
        {
            return Err(CrmError::not_found("department", department));
        }
        for (day, rates) in request.convert.iter().flat_map(|c| &c.rates) {
            if let Some((currency, rate)) = rates
                .iter()
                .find(|(_, rate)| !rate.is_sign_positive() || rate.is_zero())
            {
                return Err(CrmError::validation(
                    format!("convert.rates.{day}.{}", currency.code()),
                    format!("{rate} is not a positive rate"),
                ));
            }
        }
        if let (Some(from), Some(to)) = (request.from, request.to) {
            if from > to {
                return Err(CrmError::validation(
                    "to",
                    format!("{to} is before from ({from})"),
                ));
            }
        }
        Ok(Self {
            state,
            access,
            request,
        })
    }

    fn owner(&self, owner: UserId) -> bool {
        self.access.owns_scope(owner)
            && self.request.owner.is_none_or(|wanted| wanted == owner)
            && self.request.department.is_none_or(|wanted| {
                self.state
                    .users
                    .get(&owner)
                    .is_some_and(|user| user.department == Some(wanted))
            })
    }

    /// `sums` in the requested currency at `day`'s rates (zero without a conversion).
    fn convert(&self, sums: &Sums, day: NaiveDate) -> Result<Decimal, CrmError> {
        match &self.request.convert {
            Some(conversion) => conversion.convert(sums, day),
            None => Ok(Decimal::ZERO),
        }
    }

    /// A converted total as money, rounded to the currency's minor units.
    fn converted(&self, total: Decimal) -> Option<Money> {
        self.request.convert.as_ref().map(|conversion| {
            let digits = conversion.to.minor_units();
            let mut total = total.round_dp(digits);
            total.rescale(digits);
            Money::new(total, conversion.to)
        })
    }

    fn pipeline(&self, pipeline: PipelineId) -> bool {
        self.request
            .pipeline
            .is_none_or(|wanted| wanted == pipeline)
    }

    /// The statistics in the period, pipeline and owners asked for: whole months from
    /// the monthly aggregates and the days at either edge from the daily ones (a month's
    /// figures come dated by its first day), or every day when the report needs days —
    /// revenue by day or week, and conversion at each day's rates.
    fn days<'r>(
        &'r self,
        reports: &'r Reports,
    ) -> impl Iterator<Item = (NaiveDate, UserId, PipelineId, &'r DayStats)> + 'r {
        let from = self.request.from.unwrap_or(NaiveDate::MIN);
        let to = self.request.to.unwrap_or(NaiveDate::MAX);
        let daily = self.request.convert.is_some()
            || (self.request.report == ReportKind::Revenue
                && matches!(self.request.by, Some(Bucket::Day | Bucket::Week)));
        let pieces = if daily {
            vec![(&reports.days, from, to)]
        } else {
            pieces(reports, from, to)
        };
        pieces
            .into_iter()
            .filter(|(_, from, to)| from <= to)
            .flat_map(|(slices, from, to)| slices.range(from..=to))
            .flat_map(move |(day, slices)| {
                slices
                    .iter()
                    .filter(|((pipeline, owner), _)| self.pipeline(*pipeline) && self.owner(*owner))
                    .map(move |((pipeline, owner), stats)| (*day, *owner, *pipeline, stats))
            })
    }

    /// The pipeline asked for, or the only one.
    fn one_pipeline(&self) -> Result<&'a Pipeline, CrmError> {
        let pipelines = &self.state.pipelines;
        let id = match (self.request.pipeline, pipelines.keys().next()) {
            (Some(id), _) => id,
            (None, Some(only)) if pipelines.len() == 1 => *only,
            (None, _) => {
                return Err(CrmError::validation(
                    "pipeline",
                    "is required for this report when there is not exactly one pipeline",
                ))
            }
        };
        self.state
            .pipelines
            .get(&id)
            .ok_or_else(|| CrmError::not_found("pipeline", id))
    }
}

/// `from..=to` as day ranges and month ranges: the days before the first whole month,
/// the whole months, the days after the last (empty ranges have `from > to`).
fn pieces(
    reports: &Reports,
    from: NaiveDate,
    to: NaiveDate,
) -> Vec<(&Slices, NaiveDate, NaiveDate)> {
    let month = chrono::Months::new(1);
    let first = if from.day() == 1 {
        Some(from)
    } else {
        month_of(from).checked_add_months(month)
    };
    let last = if to.succ_opt().is_none_or(|next| next.day() == 1) {
        Some(month_of(to))
    } else {
        month_of(to).checked_sub_months(month)
    };
    match (first, last) {
        (Some(first), Some(last)) if first <= last => {
            let mut pieces = vec![(&reports.months, first, last)];
            if let Some(before) = first.pred_opt() {
                pieces.push((&reports.days, from, before));
            }
            if let Some(after) = last.checked_add_months(month) {
                pieces.push((&reports.days, after, to));
            }
            pieces
        }
        _ => vec![(&reports.days, from, to)],
    }
}

/// `part` as a percentage of `whole`, one decimal; `None` when `whole` is 0.
fn percent(part: u64, whole: u64) -> Option<Decimal> {
    (whole > 0).then(|| {
        let mut percent =
            (Decimal::from(part) * Decimal::ONE_HUNDRED / Decimal::from(whole)).round_dp(1);
        percent.rescale(1);
        percent
    })
}

fn funnel(scope: &Scope<'_>, reports: &Reports) -> Result<Report, CrmError> {
    let pipeline = scope.one_pipeline()?;
    let mut created = 0;
    let mut reached: BTreeMap<StageId, u64> = BTreeMap::new();
    let mut lost: BTreeMap<StageId, BTreeMap<&str, u64>> = BTreeMap::new();
    for (_, _, _, stats) in scope
        .days(reports)
        .filter(|(_, _, id, _)| *id == pipeline.id)
    {
        created += stats.created;
        for (stage, count) in &stats.reached {
            *reached.entry(*stage).or_default() += count;
        }
        for ((stage, reason), count) in &stats.lost_at {
            *lost.entry(*stage).or_default().entry(reason).or_default() += count;
        }
    }
    let lost_total: u64 = lost.values().flat_map(|reasons| reasons.values()).sum();
    let mut previous: Option<u64> = None;
    let stages = pipeline
        .stages
        .iter()
        .map(|stage| {
            let count = match stage.kind {
                StageKind::Lost => lost_total,
                _ => reached.get(&stage.id).copied().unwrap_or_default(),
            };
            let conversion = match stage.kind {
                StageKind::Lost => None,
                _ => previous.and_then(|previous| percent(count, previous)),
            };
            if stage.kind == StageKind::Open {
                previous = Some(count);
            }
            let mut reasons: Vec<LostReason> = lost
                .get(&stage.id)
                .into_iter()
                .flatten()
                .map(|(reason, count)| LostReason {
                    reason: (*reason).to_string(),
                    count: *count,
                })
                .collect();
            reasons.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.reason.cmp(&b.reason)));
            FunnelStage {
                stage: stage.id,
                name: stage.name.clone(),
                kind: stage.kind,
                reached: count,
                conversion,
                lost: reasons,
            }
        })
        .collect();
    Ok(Report::Funnel {
        pipeline: pipeline.id,
        created,
        stages,
    })
}

fn revenue(scope: &Scope<'_>, reports: &Reports, by: Bucket) -> Result<Report, CrmError> {
    #[derive(Default)]
    struct Period {
        won: Tally,
        paid: Sums,
        won_converted: Decimal,
        paid_converted: Decimal,
    }
    let mut rows: BTreeMap<(NaiveDate, UserId), Period> = BTreeMap::new();
    for (day, owner, _, stats) in scope.days(reports) {
        if stats.won.is_empty() && stats.paid.is_empty() {
            continue;
        }
        let period = rows.entry((by.start(day), owner)).or_default();
        period.won.merge(&stats.won);
        period.paid.merge(&stats.paid.amount);
        period.won_converted += scope.convert(&stats.won.amount, day)?;
        period.paid_converted += scope.convert(&stats.paid.amount, day)?;
    }
    Ok(Report::Revenue {
        by,
        rows: rows
            .into_iter()
            .map(|((period, owner), totals)| RevenueRow {
                period,
                owner,
                won: totals.won.count,
                won_amount: totals.won.amount,
                paid: totals.paid,
                won_converted: scope.converted(totals.won_converted),
                paid_converted: scope.converted(totals.paid_converted),
            })
            .collect(),
    })
}

fn win_rate(scope: &Scope<'_>, reports: &Reports) -> Result<Report, CrmError> {
    #[derive(Default)]
    struct Owner {
        won: Tally,
        lost: u64,
        converted: Decimal,
    }
    let mut owners: BTreeMap<UserId, Owner> = BTreeMap::new();
    for (day, owner, _, stats) in scope.days(reports) {
        if stats.won.is_empty() && stats.lost == 0 {
            continue;
        }
        let totals = owners.entry(owner).or_default();
        totals.won.merge(&stats.won);
        totals.lost += stats.lost;
        totals.converted += scope.convert(&stats.won.amount, day)?;
    }
    let row = |owner: Option<UserId>, totals: &Owner| WinRateRow {
        owner,
        won: totals.won.count,
        lost: totals.lost,
        win_rate: percent(totals.won.count, totals.won.count + totals.lost),
        won_amount: totals.won.amount.clone(),
        average_won: totals.won.amount.averages(),
        won_converted: scope.converted(totals.converted),
    };
    let mut all = Owner::default();
    let rows = owners
        .iter()
        .map(|(owner, totals)| {
            all.won.merge(&totals.won);
            all.lost += totals.lost;
            all.converted += totals.converted;
            row(Some(*owner), totals)
        })
        .collect();
    Ok(Report::WinRate {
        rows,
        total: row(None, &all),
    })
}

fn forecast(scope: &Scope<'_>, reports: &Reports, today: NaiveDate) -> Result<Report, CrmError> {
    let months = |month: &Option<NaiveDate>| match (scope.request.from, scope.request.to, month) {
        (None, None, _) => true,
        (_, _, None) => false,
        (from, to, Some(month)) => {
            from.is_none_or(|from| *month >= super::contribution::month_of(from))
                && to.is_none_or(|to| *month <= to)
        }
    };
    let mut rows: BTreeMap<(PipelineId, Option<NaiveDate>, usize), Tally> = BTreeMap::new();
    for ((pipeline, owner, stage, month), tally) in &reports.open {
        if !(scope.pipeline(*pipeline) && scope.owner(*owner) && months(month)) {
            continue;
        }
        let Some(position) = scope
            .state
            .pipelines
            .get(pipeline)
            .and_then(|p| p.position(*stage))
        else {
            continue;
        };
        rows.entry((*pipeline, *month, position))
            .or_default()
            .merge(tally);
    }
    let mut out = Vec::new();
    for ((pipeline, close_month, position), tally) in rows {
        let Some(stage) = scope
            .state
            .pipelines
            .get(&pipeline)
            .and_then(|p| p.stages.get(position))
        else {
            continue;
        };
        let weighted = tally
            .amount
            .scaled(Decimal::from(stage.probability) / Decimal::ONE_HUNDRED);
        // Amounts expected in a month at that month's rates; undated ones at today's.
        let day = close_month.unwrap_or(today);
        out.push(ForecastRow {
            pipeline,
            close_month,
            stage: stage.id,
            stage_name: stage.name.clone(),
            probability: stage.probability,
            count: tally.count,
            amount_converted: scope.converted(scope.convert(&tally.amount, day)?),
            weighted_converted: scope.converted(scope.convert(&weighted, day)?),
            amount: tally.amount,
            weighted,
        });
    }
    Ok(Report::Forecast { rows: out })
}

fn cycle(scope: &Scope<'_>, reports: &Reports) -> Report {
    let mut owners: BTreeMap<UserId, DurationPool<'_>> = BTreeMap::new();
    let mut all = DurationPool::default();
    for (_, owner, _, stats) in scope.days(reports) {
        if !stats.cycle.is_empty() {
            owners.entry(owner).or_default().add(&stats.cycle);
            all.add(&stats.cycle);
        }
    }
    Report::Cycle {
        rows: owners
            .into_iter()
            .filter_map(|(owner, durations)| {
                Some(CycleRow {
                    owner,
                    summary: durations.summary()?,
                })
            })
            .collect(),
        total: all.summary(),
    }
}

fn stage_time(scope: &Scope<'_>, reports: &Reports) -> Report {
    let mut stages: BTreeMap<StageId, DurationPool<'_>> = BTreeMap::new();
    for (_, _, _, stats) in scope.days(reports) {
        for (stage, durations) in &stats.stage_time {
            stages.entry(*stage).or_default().add(durations);
        }
    }
    let rows = scope
        .state
        .pipelines
        .values()
        .filter(|pipeline| scope.pipeline(pipeline.id))
        .flat_map(|pipeline| pipeline.stages.iter().map(move |stage| (pipeline, stage)))
        .filter_map(|(pipeline, stage)| {
            Some(StageTimeRow {
                pipeline: pipeline.id,
                stage: stage.id,
                name: stage.name.clone(),
                summary: stages.get(&stage.id)?.summary()?,
            })
        })
        .collect();
    Report::StageTime { rows }
}

fn sources(scope: &Scope<'_>, reports: &Reports) -> Report {
    let mut sources: BTreeMap<Option<String>, SourceStats> = BTreeMap::new();
    for (_, _, _, stats) in scope.days(reports) {
        for (source, counts) in &stats.sources {
            let total = sources.entry(source.clone()).or_default();
            total.created += counts.created;
            total.won.merge(&counts.won);
        }
    }
    Report::Sources {
        rows: sources
            .into_iter()
            .map(|(source, stats)| SourceRow {
                source,
                created: stats.created,
                won: stats.won.count,
                conversion: percent(stats.won.count, stats.created),
                won_amount: stats.won.amount,
            })
            .collect(),
    }
}

fn rotting(
    scope: &Scope<'_>,
    reports: &Reports,
    days: u32,
    now: DateTime<Utc>,
) -> Result<Report, CrmError> {
    if days > 36_500 {
        return Err(CrmError::validation(
            "days",
            format!("{days} is more than 100 years"),
        ));
    }
    let cutoff = now - chrono::Duration::days(i64::from(days));
    // Each pipeline and owner's longest-waiting deals are already in order: keep up to
    // the cap from each, count the rest, then take the longest-waiting overall.
    let mut waiting = Vec::new();
    let mut total = 0;
    for (_, deals) in reports
        .open_since
        .iter()
        .filter(|((pipeline, owner), _)| scope.pipeline(*pipeline) && scope.owner(*owner))
    {
        let rotting = deals.iter().take_while(|(since, _)| *since <= cutoff);
        total += rotting.clone().count();
        waiting.extend(rotting.take(MAX_ROTTING));
    }
    waiting.sort_unstable();
    waiting.truncate(MAX_ROTTING);
    let more = (total - waiting.len()) as u64;
    let deals = waiting
        .into_iter()
        .filter_map(|(since, id)| {
            let deal = scope.state.deals.get(&id)?;
            Some(RottingDeal {
                deal: deal.id,
                title: deal.fields.title.clone(),
                pipeline: deal.pipeline,
                stage: deal.stage,
                owner: deal.owner,
                since,
                days: (now - since).num_days(),
            })
        })
        .collect();
    Ok(Report::Rotting { days, deals, more })
}

fn sla(scope: &Scope<'_>, reports: &Reports, now: DateTime<Utc>) -> Report {
    #[derive(Default)]
    struct Person<'a> {
        new_deals: u64,
        first_contact: DurationPool<'a>,
        work: PersonDay,
        overdue_now: u64,
    }
    let mut people: BTreeMap<UserId, Person> = BTreeMap::new();
    for (_, owner, _, stats) in scope.days(reports) {
        if stats.created > 0 {
            let person = people.entry(owner).or_default();
            person.new_deals += stats.created;
            person.first_contact.add(&stats.first_contact);
        }
    }
    let from = scope.request.from.unwrap_or(NaiveDate::MIN);
    let to = scope.request.to.unwrap_or(NaiveDate::MAX);
    for users in reports.people.range(from..=to).map(|(_, users)| users) {
        for (user, work) in users.iter().filter(|(user, _)| scope.owner(**user)) {
            let person = &mut people.entry(*user).or_default().work;
            person.tasks_done += work.tasks_done;
            person.tasks_late += work.tasks_late;
            for (kind, count) in &work.activities {
                *person.activities.entry_or_default(*kind) += count;
            }
        }
    }
    for (user, dues) in reports
        .open_due
        .iter()
        .filter(|(user, _)| scope.owner(**user))
    {
        let overdue: u64 = dues.range(..now).map(|(_, count)| count).sum();
        if overdue > 0 {
            people.entry(*user).or_default().overdue_now = overdue;
        }
    }
    Report::Sla {
        rows: people
            .into_iter()
            .map(|(user, person)| SlaRow {
                owner: user,
                user,
                new_deals: person.new_deals,
                first_contact: person.first_contact.summary(),
                tasks_done: person.work.tasks_done,
                tasks_late: person.work.tasks_late,
                late_share: percent(person.work.tasks_late, person.work.tasks_done),
                overdue_now: person.overdue_now,
                activities: person
                    .work
                    .activities
                    .iter()
                    .map(|(kind, count)| (*kind, *count))
                    .collect(),
            })
            .collect(),
    }
}

fn clients(scope: &Scope<'_>, reports: &Reports) -> Result<Report, CrmError> {
    // Sorting and deduplicating a vector beats inserting into a set by far here.
    let mut clients: Vec<crate::common::id::ContactId> = Vec::new();
    let mut visits = Tally::default();
    let mut between = DurationPool::default();
    let mut converted = Decimal::ZERO;
    for (day, _, _, stats) in scope.days(reports) {
        clients.extend(stats.clients.keys());
        visits.merge(&stats.visits);
        between.add(&stats.between_visits);
        converted += scope.convert(&stats.visits.amount, day)?;
    }
    clients.sort_unstable();
    clients.dedup();
    let distinct = clients.len() as u64;
    Ok(Report::Clients(ClientsSummary {
        visits: visits.count,
        clients: distinct,
        average_bill: visits.amount.averages(),
        revenue: visits.amount,
        revenue_converted: scope.converted(converted),
        visits_per_client: (distinct > 0).then(|| {
            let mut ratio = (Decimal::from(visits.count) / Decimal::from(distinct)).round_dp(2);
            ratio.rescale(2);
            ratio
        }),
        between_visits: between.summary(),
    }))
}
