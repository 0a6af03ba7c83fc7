//! What one deal contributes to the reports: a pure function of the deal, its
//! pipeline's stage order and the business time zone, so its facts can be taken out
//! before an event and put back after it.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use chrono_tz::Tz;

use crate::deal::{Deal, DealStatus};
use crate::id::{DealId, PipelineId, StageId, UserId};
use crate::money::Money;
use crate::pipeline::{Pipeline, StageKind};
use crate::state::State;

/// One deal's contribution, dated in the business time zone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DealFacts {
    pub id: DealId,
    pub pipeline: PipelineId,
    pub owner: UserId,
    /// The day the deal was created: the cohort its funnel and source figures go to.
    pub created: NaiveDate,
    pub source: Option<String>,
    /// Every open stage the deal entered or passed (a won deal passed them all), and
    /// the won stage if it was won.
    pub reached: Vec<StageId>,
    /// For a lost deal: the stage it was lost from and the reason.
    pub lost_at: Option<(StageId, String)>,
    pub closed: Option<Closed>,
    pub open: Option<Open>,
    /// Payments (refunds negative), by the day the money moved.
    pub payments: Vec<(NaiveDate, Money)>,
    /// Finished stage visits: the stage, the day it was left, how long it lasted.
    pub visits: Vec<(StageId, NaiveDate, i64)>,
}

/// A won or lost deal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Closed {
    pub day: NaiveDate,
    pub won: bool,
    pub amount: Option<Money>,
    /// From creation to closing.
    pub cycle_seconds: i64,
}

/// A deal still open: where it is, what it may bring and when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Open {
    pub stage: StageId,
    /// The first day of the expected closing month.
    pub close_month: Option<NaiveDate>,
    pub amount: Option<Money>,
    /// When it entered its current stage.
    pub since: DateTime<Utc>,
}

/// The deal's facts, or `None` if there is no such deal (or its pipeline is gone).
pub(crate) fn of(state: &State, id: DealId) -> Option<DealFacts> {
    let deal = state.deals.get(&id)?;
    let pipeline = state.pipelines.get(&deal.pipeline)?;
    Some(deal_facts(deal, pipeline, state.calendar.time_zone))
}

/// The first day of `date`'s month.
pub(crate) fn month_of(date: NaiveDate) -> NaiveDate {
    date.with_day(1).unwrap_or(date)
}

/// The business day of an instant.
pub(crate) fn day(zone: Tz, at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&zone).date_naive()
}

fn deal_facts(deal: &Deal, pipeline: &Pipeline, zone: Tz) -> DealFacts {
    let history = &deal.stage_history;
    let furthest_open = history
        .iter()
        .filter_map(|change| pipeline.position(change.to))
        .filter(|position| pipeline.stages[*position].kind == StageKind::Open)
        .max();
    let won = deal.status == DealStatus::Won;
    let reached = pipeline
        .stages
        .iter()
        .enumerate()
        .filter(|(position, stage)| match stage.kind {
            StageKind::Open => won || furthest_open.is_some_and(|furthest| *position <= furthest),
            StageKind::Won => won,
            StageKind::Lost => false,
        })
        .map(|(_, stage)| stage.id)
        .collect();
    let lost_at = (deal.status == DealStatus::Lost).then(|| {
        let from = history
            .last()
            .and_then(|change| change.from)
            .unwrap_or(pipeline.stages[0].id);
        (from, deal.lost_reason.clone().unwrap_or_default())
    });
    let closed = match (deal.status, deal.closed_at) {
        (DealStatus::Open, _) | (_, None) => None,
        (status, Some(at)) => Some(Closed {
            day: day(zone, at),
            won: status == DealStatus::Won,
            amount: deal.fields.amount,
            cycle_seconds: (at - deal.created_at).num_seconds(),
        }),
    };
    let open = (deal.status == DealStatus::Open).then(|| Open {
        stage: deal.stage,
        close_month: deal.fields.expected_close.map(month_of),
        amount: deal.fields.amount,
        since: history.last().map_or(deal.created_at, |change| change.at),
    });
    let visits = history
        .windows(2)
        .filter(|pair| pipeline.position(pair[0].to).is_some())
        .map(|pair| {
            (
                pair[0].to,
                day(zone, pair[1].at),
                (pair[1].at - pair[0].at).num_seconds(),
            )
        })
        .collect();
    DealFacts {
        id: deal.id,
        pipeline: deal.pipeline,
        owner: deal.owner,
        created: day(zone, deal.created_at),
        source: deal.fields.source.clone(),
        reached,
        lost_at,
        closed,
        open,
        payments: deal
            .payments
            .iter()
            .map(|payment| (day(zone, payment.paid_at), payment.amount))
            .collect(),
        visits,
    }
}
