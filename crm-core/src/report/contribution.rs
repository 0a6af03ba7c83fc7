//! What one deal contributes to the reports: a pure function of the deal, its
//! pipeline's stage order and the business time zone, so its contributions can be taken out
//! before an event and put back after it.
//!
//! A deal's stage history and its payments only grow, and may grow long (a deal moved
//! back and forth for years). Their items are not copied into the contribution: it
//! says how many of each it counts ([`Counted`]), and the reports read the items past
//! that from the deal itself ([`tail`]), so an event costs the same however long the
//! history it extends.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use chrono_tz::Tz;

use crate::common::id::{
    ActivityId, AnyId, ContactId, DealId, PipelineId, StageId, TaskId, UserId,
};
use crate::common::money::Money;
use crate::model::activity::ActivityKind;
use crate::model::actor::Actor;
use crate::model::deal::{Deal, DealStatus};
use crate::model::pipeline::{Pipeline, StageKind};
use crate::model::task::TaskStatus;
use crate::state::State;

/// One deal's contribution, dated in the business time zone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DealContribution {
    pub id: DealId,
    pub pipeline: PipelineId,
    pub owner: UserId,
    /// The day the deal was created: the cohort its funnel and source figures go to.
    pub created: NaiveDate,
    pub source: Option<String>,
    /// Every open stage the deal entered or passed (a won deal passed them all), and
    /// the won stage if it was won.
    pub reached: Vec<StageId>,
    /// The furthest open stage (its position) the counted history has entered.
    pub furthest_open: Option<usize>,
    /// For a lost deal: the stage it was lost from and the reason.
    pub lost_at: Option<(StageId, String)>,
    pub closed: Option<Closed>,
    pub open: Option<Open>,
    /// How much of the stage history and of the payments these contributions count.
    pub counted: Counted,
    /// From creation to the first outreach (an outbound call, e-mail or meeting, or a
    /// completed task, on the deal or its contact).
    pub first_contact_seconds: Option<i64>,
    /// A won deal with a contact is a client's visit (the salon's view).
    pub visit: Option<Visit>,
}

impl DealContribution {
    /// How far these contributions read the deal's stage history.
    pub(crate) fn progress(&self) -> Progress {
        Progress {
            pipeline: self.pipeline,
            stages: self.counted.stages,
            furthest_open: self.furthest_open,
        }
    }

    /// Whether the two are the same but for how much of the growing lists they count.
    /// (Every field is named, so that a new one cannot be forgotten here.)
    pub(crate) fn same_but_counted(&self, other: &DealContribution) -> bool {
        let DealContribution {
            id,
            pipeline,
            owner,
            created,
            source,
            reached,
            furthest_open,
            lost_at,
            closed,
            open,
            counted: _,
            first_contact_seconds,
            visit,
        } = self;
        *id == other.id
            && *pipeline == other.pipeline
            && *owner == other.owner
            && *created == other.created
            && *source == other.source
            && *reached == other.reached
            && *furthest_open == other.furthest_open
            && *lost_at == other.lost_at
            && *closed == other.closed
            && *open == other.open
            && *first_contact_seconds == other.first_contact_seconds
            && *visit == other.visit
    }
}

/// How many entries of a deal's stage history and of its payments are counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Counted {
    pub stages: usize,
    pub payments: usize,
}

impl Counted {
    /// Whether `self` counts no more of either list than `other`.
    pub(crate) fn within(self, other: Counted) -> bool {
        self.stages <= other.stages && self.payments <= other.payments
    }
}

/// The dated items of a deal's growing lists past `from` and up to `to`: the stage
/// visits that ended (the stage, the day it was left, how long it lasted; a visit ends
/// when the next entry begins, so it is counted with that entry) and the payments
/// (refunds negative), by the day the money moved. `None` when the deal no longer
/// holds what `to` counts.
pub(crate) fn tail(
    deal: &Deal,
    pipeline: &Pipeline,
    zone: Tz,
    from: Counted,
    to: Counted,
) -> Option<Tail> {
    let history = deal.stage_history.get(..to.stages)?;
    let payments = deal.payments.get(from.payments..to.payments)?;
    let visits = history
        .get(from.stages.saturating_sub(1)..)?
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
    Some(Tail {
        visits,
        payments: payments
            .iter()
            .map(|payment| (day(zone, payment.paid_at), payment.amount))
            .collect(),
    })
}

/// Stage visits and payments, dated, as [`tail`] reads them.
#[derive(Debug, Default)]
pub(crate) struct Tail {
    pub visits: Vec<(StageId, NaiveDate, i64)>,
    pub payments: Vec<(NaiveDate, Money)>,
}

/// A client's won deal, and how long after their previous one it came.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Visit {
    pub client: ContactId,
    pub since_previous_seconds: Option<i64>,
}

/// What one task contributes: its completion (and whether it was late), or, while
/// open, its due time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TaskContribution {
    pub assignee: UserId,
    pub completed: Option<(NaiveDate, bool)>,
    pub open_due: Option<DateTime<Utc>>,
}

/// What one activity contributes: who logged it, when it happened, of which kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ActivityContribution {
    pub user: UserId,
    pub day: NaiveDate,
    pub kind: ActivityKind,
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

/// How far a deal's stage history has been read: in which pipeline, how many entries,
/// and the furthest open stage among them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Progress {
    pub pipeline: PipelineId,
    pub stages: usize,
    pub furthest_open: Option<usize>,
}

/// The deal's contributions, or `None` if there is no such deal (or its pipeline is gone).
/// `known`: how far its history was read before, so that only the entries after that
/// are read (ignored when it does not fit the deal as it is).
pub(crate) fn of(state: &State, id: DealId, known: Option<Progress>) -> Option<DealContribution> {
    let deal = state.deals.get(&id)?;
    let pipeline = state.pipelines.get(&deal.pipeline)?;
    let mut facts = deal_contribution(deal, pipeline, state.calendar.time_zone, known);
    facts.first_contact_seconds = state
        .first_contact
        .get(&id)
        .map(|at| (*at - deal.created_at).num_seconds());
    facts.visit = visit(state, deal);
    Some(facts)
}

/// The task's contributions, or `None` if there is no such task or it was cancelled.
pub(crate) fn of_task(state: &State, id: TaskId) -> Option<TaskContribution> {
    let task = state.tasks.get(&id)?;
    let zone = state.calendar.time_zone;
    Some(TaskContribution {
        assignee: task.assignee,
        completed: match (task.status, task.closed_at) {
            (TaskStatus::Done, Some(at)) => {
                Some((day(zone, at), task.due.is_some_and(|due| at > due)))
            }
            _ => None,
        },
        open_due: task.due.filter(|_| task.status == TaskStatus::Open),
    })
    .filter(|facts| facts.completed.is_some() || facts.open_due.is_some())
}

/// The activity's contributions, or `None` for one logged by the system.
pub(crate) fn of_activity(state: &State, id: ActivityId) -> Option<ActivityContribution> {
    let activity = state.activities.get(&id)?;
    let Actor::User(user) = activity.logged_by else {
        return None;
    };
    Some(ActivityContribution {
        user,
        day: day(state.calendar.time_zone, activity.occurred_at),
        kind: activity.kind,
    })
}

/// A won deal with a contact, as a visit, with the gap since the client's previous
/// won deal (by closing time, then ID).
fn visit(state: &State, deal: &Deal) -> Option<Visit> {
    let client = deal.fields.contact?;
    let closed = deal.closed_at.filter(|_| deal.status == DealStatus::Won)?;
    let previous = state
        .deals_by_party
        .of(AnyId::ContactId(client))
        .filter_map(|id| state.deals.get(&id))
        .filter(|other| other.status == DealStatus::Won && other.fields.contact == Some(client))
        .filter_map(|other| Some((other.closed_at?, other.id)))
        .filter(|earlier| *earlier < (closed, deal.id))
        .max();
    Some(Visit {
        client,
        since_previous_seconds: previous.map(|(at, _)| (closed - at).num_seconds()),
    })
}

/// The first day of `date`'s month.
pub(crate) fn month_of(date: NaiveDate) -> NaiveDate {
    date.with_day(1).unwrap_or(date)
}

/// The business day of an instant.
pub(crate) fn day(zone: Tz, at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&zone).date_naive()
}

fn deal_contribution(
    deal: &Deal,
    pipeline: &Pipeline,
    zone: Tz,
    known: Option<Progress>,
) -> DealContribution {
    let history = &deal.stage_history;
    let (seen, furthest_seen) = known
        .filter(|known| known.pipeline == deal.pipeline && known.stages <= history.len())
        .map_or((0, None), |known| (known.stages, known.furthest_open));
    let furthest_open = history[seen..]
        .iter()
        .filter_map(|change| pipeline.position(change.to))
        .filter(|position| {
            pipeline
                .stages
                .get(*position)
                .is_some_and(|stage| stage.kind == StageKind::Open)
        })
        .max()
        .max(furthest_seen);
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
            .or(pipeline.stages.first().map(|stage| stage.id))
            .unwrap_or(deal.stage);
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
    DealContribution {
        id: deal.id,
        pipeline: deal.pipeline,
        owner: deal.owner,
        created: day(zone, deal.created_at),
        source: deal.fields.source.clone(),
        reached,
        furthest_open,
        lost_at,
        closed,
        open,
        counted: Counted {
            stages: history.len(),
            payments: deal.payments.len(),
        },
        first_contact_seconds: None,
        visit: None,
    }
}
