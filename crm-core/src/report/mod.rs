//! Reports, kept up to date as events are applied: a report is read, not recomputed.
//!
//! Every deal contributes facts ([`facts`]): the day it was created and the stages it
//! reached, when and how it closed, its payments, its stage visits, its open amount.
//! The aggregates here are the sums of those facts by business day, pipeline and
//! owner. When an event touches a deal, its old facts are taken out and its new ones
//! put in, so the aggregates always equal a from-scratch sum over the state
//! (property-tested); the owner's department, the actor's rights and the stage
//! probabilities are applied when a report is read.

mod facts;
mod measure;
mod request;
mod rows;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};

use crate::id::{DealId, PipelineId, StageId, UserId};
use crate::state::State;

use facts::DealFacts;
use measure::{count, count_key, Durations, Sign};

pub use measure::{DurationSummary, Sums, Tally};
pub use request::{Bucket, ReportKind, ReportRequest};
pub use rows::{
    CycleRow, ForecastRow, FunnelStage, LostReason, Report, RevenueRow, RottingDeal, SourceRow,
    StageTimeRow, WinRateRow,
};

pub(crate) use rows::answer;

/// The incremental aggregates behind every report.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reports {
    /// By business day, then pipeline and owner.
    days: BTreeMap<NaiveDate, BTreeMap<(PipelineId, UserId), DayStats>>,
    /// Open deals by pipeline, owner, stage and expected closing month.
    open: BTreeMap<OpenKey, Tally>,
    /// Open deals by when they entered their current stage (for rotting deals).
    open_since: BTreeSet<(DateTime<Utc>, DealId)>,
}

/// Pipeline, owner, stage and the first day of the expected closing month.
type OpenKey = (PipelineId, UserId, StageId, Option<NaiveDate>);

/// What happened on one business day in one pipeline for one owner's deals. Each
/// measure is dated by its own event: creation, closing, payment or leaving a stage.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct DayStats {
    /// Deals created this day…
    created: u64,
    /// …of which so many reached each stage…
    reached: BTreeMap<StageId, u64>,
    /// …so many were lost from each stage, for each reason…
    lost_at: BTreeMap<(StageId, String), u64>,
    /// …and, by lead source (`None`: not recorded), created and won.
    sources: BTreeMap<Option<String>, SourceStats>,
    /// Deals won this day, with their amounts.
    won: Tally,
    /// Deals lost this day.
    lost: u64,
    /// How long the deals won this day took, from creation.
    cycle: Durations,
    /// Payments that moved this day (refunds negative).
    paid: Tally,
    /// Stage visits that ended this day, by stage.
    stage_time: BTreeMap<StageId, Durations>,
}

/// Deals from one source created on one day: how many, and how many of them were won,
/// for how much.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct SourceStats {
    created: u64,
    won: Tally,
}

impl Reports {
    /// The aggregates of a whole state, from scratch (after loading a snapshot, after
    /// the time zone changed, and in the tests as the reference).
    pub fn build(state: &State) -> Self {
        let mut reports = Self::default();
        for id in state.deals.keys() {
            if let Some(facts) = facts::of(state, *id) {
                reports.apply(&facts, Sign::Add);
            }
        }
        reports
    }

    /// The facts of these deals as they are now, to be taken out before an event.
    pub(crate) fn facts_before(state: &State, deals: &[DealId]) -> Vec<DealFacts> {
        deals
            .iter()
            .filter_map(|id| facts::of(state, *id))
            .collect()
    }

    /// Replaces the deals' old facts by their facts in `state`, after an event.
    pub(crate) fn update(&mut self, state: &State, before: &[DealFacts], deals: &[DealId]) {
        for facts in before {
            self.apply(facts, Sign::Retract);
        }
        for facts in Self::facts_before(state, deals) {
            self.apply(&facts, Sign::Add);
        }
    }

    fn apply(&mut self, facts: &DealFacts, sign: Sign) {
        let key = (facts.pipeline, facts.owner);
        {
            let created = self.day(facts.created, key);
            count(&mut created.created, sign);
            for stage in &facts.reached {
                count_key(&mut created.reached, *stage, sign);
            }
            if let Some(lost_at) = &facts.lost_at {
                count_key(&mut created.lost_at, lost_at.clone(), sign);
            }
            let source = created.sources.entry(facts.source.clone()).or_default();
            count(&mut source.created, sign);
            if let Some(closed) = facts.closed.as_ref().filter(|closed| closed.won) {
                source.won.add(closed.amount.as_ref(), sign);
            }
            if *source == SourceStats::default() {
                created.sources.remove(&facts.source);
            }
        }
        self.prune(facts.created, key);
        if let Some(closed) = &facts.closed {
            let day = self.day(closed.day, key);
            if closed.won {
                day.won.add(closed.amount.as_ref(), sign);
                day.cycle.add(closed.cycle_seconds, sign);
            } else {
                count(&mut day.lost, sign);
            }
            self.prune(closed.day, key);
        }
        for (paid_on, amount) in &facts.payments {
            let day = self.day(*paid_on, key);
            day.paid.amount.add(amount, sign);
            count(&mut day.paid.count, sign);
            self.prune(*paid_on, key);
        }
        for (stage, left_on, seconds) in &facts.visits {
            let day = self.day(*left_on, key);
            let durations = day.stage_time.entry(*stage).or_default();
            durations.add(*seconds, sign);
            if durations.is_empty() {
                day.stage_time.remove(stage);
            }
            self.prune(*left_on, key);
        }
        if let Some(open) = &facts.open {
            let key = (facts.pipeline, facts.owner, open.stage, open.close_month);
            let tally = self.open.entry(key).or_default();
            tally.add(open.amount.as_ref(), sign);
            if tally.is_empty() {
                self.open.remove(&key);
            }
            match sign {
                Sign::Add => self.open_since.insert((open.since, facts.id)),
                Sign::Retract => self.open_since.remove(&(open.since, facts.id)),
            };
        }
    }

    fn day(&mut self, day: NaiveDate, key: (PipelineId, UserId)) -> &mut DayStats {
        self.days.entry(day).or_default().entry(key).or_default()
    }

    /// Removes the day's entry for `key` (and the day) once nothing is left in it.
    fn prune(&mut self, day: NaiveDate, key: (PipelineId, UserId)) {
        let Some(slices) = self.days.get_mut(&day) else {
            return;
        };
        if slices
            .get(&key)
            .is_some_and(|stats| *stats == DayStats::default())
        {
            slices.remove(&key);
        }
        if slices.is_empty() {
            self.days.remove(&day);
        }
    }
}
