//! Reports, kept up to date as events are applied: a report is read, not recomputed.
//!
//! Every deal contributes figures (`contribution.rs`): the day it was created and the stages it
//! reached, when and how it closed, its payments, its stage visits, its open amount,
//! its first contact, its place among its client's visits; tasks and activities
//! contribute who did what when. The aggregates here are the sums of those contributions by
//! business day (and by month, for long periods), pipeline and owner. When an event
//! touches a record, its old contributions are taken out and its new ones put in (of a
//! deal's stage visits and payments, which only grow, just those the event added), so the
//! aggregates always equal a from-scratch sum over the state (property-tested); the
//! owner's department, the actor's rights and the stage probabilities are applied when
//! a report is read (`rows`), which is also where the charts (`chart`, `svg`) start.

mod chart;
mod contribution;
mod measure;
mod request;
mod rows;
mod small_map;
mod svg;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};

use crate::common::id::{
    ActivityId, AnyId, ContactId, DealId, PipelineId, StageId, TaskId, UserId,
};
use crate::event::{Event, EventEnvelope};
use crate::model::activity::ActivityKind;
use crate::model::deal::DealStatus;
use crate::state::State;

use contribution::{
    ActivityContribution, Counted, DealContribution, Progress, Tail, TaskContribution,
};
use measure::{count, count_key, Durations, Sign};
use small_map::SmallMap;

pub use crate::model::report::{Bucket, Conversion, ReportKind, ReportRequest};
pub(crate) use chart::chart;
pub use chart::{Chart, ChartKind, Series};
pub use measure::{DurationSummary, Sums, Tally};
pub use rows::{
    ClientsSummary, CycleRow, ForecastRow, FunnelStage, LostReason, Report, RevenueRow,
    RottingDeal, SlaRow, SourceRow, StageTimeRow, WinRateRow,
};
pub(crate) use svg::render;

pub(crate) use rows::answer;

/// A report drawn: its series, and the same as an SVG document.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Drawing {
    pub chart: Chart,
    pub svg: String,
}

/// The incremental aggregates behind every report.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reports {
    /// By business day, then pipeline and owner.
    days: Slices,
    /// The same by month (keyed by its first day), so long periods merge months.
    months: Slices,
    /// Open deals by pipeline, owner, stage and expected closing month.
    open: BTreeMap<OpenKey, Tally>,
    /// Open deals by pipeline and owner, then by when they entered their current stage
    /// (for rotting deals: a report walks only the pipelines and owners it may see).
    open_since: BTreeMap<(PipelineId, UserId), Waiting>,
    /// Work done by each user, by business day.
    people: BTreeMap<NaiveDate, BTreeMap<UserId, PersonDay>>,
    /// Open tasks with a due time, per assignee, by due time.
    open_due: BTreeMap<UserId, BTreeMap<DateTime<Utc>, u64>>,
    /// How far each deal's stage history is counted in, so that an event reads only the
    /// entries it adds (`contribution.rs`).
    progress: BTreeMap<DealId, Progress>,
}

/// One user's work on one business day.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct PersonDay {
    tasks_done: u64,
    /// Of those, completed after their due time.
    tasks_late: u64,
    activities: SmallMap<ActivityKind, u64>,
}

/// The records an event touches whose contributions may change: deals with their client's
/// other deals (a visit's gap depends on the client's previous one), tasks and
/// activities. Found before the event is applied, so their contributions can be taken out
/// first; the event itself names a client the state does not link yet.
#[derive(Clone, Debug, Default)]
pub(crate) struct Touched {
    deals: BTreeSet<DealId>,
    tasks: BTreeSet<TaskId>,
    activities: BTreeSet<ActivityId>,
}

impl Touched {
    /// What the event may change, looked up before it is applied: only events that
    /// change a deal, a task or an activity (or a deal's first contact) touch anything.
    pub(crate) fn of(state: &State, records: &[AnyId], envelope: &EventEnvelope) -> Self {
        let mut touched = Self::default();
        let event = &envelope.event;
        let changes_deals = matches!(
            event,
            Event::DealCreated { .. }
                | Event::DealUpdated { .. }
                | Event::DealMoved { .. }
                | Event::OwnerAssigned { .. }
                | Event::RecordsReassigned { .. }
                | Event::LineItemsSet { .. }
                | Event::PaymentRecorded { .. }
                | Event::RecordDeleted { .. }
        );
        let changes_tasks = matches!(
            event,
            Event::TaskCreated { .. }
                | Event::TaskCompleted { .. }
                | Event::TaskCancelled { .. }
                | Event::TaskReassigned { .. }
                | Event::TaskRescheduled { .. }
                | Event::TaskReopened { .. }
                | Event::OwnerAssigned { .. }
                | Event::RecordsReassigned { .. }
                | Event::RecordDeleted { .. }
        );
        // Outreach may be the first contact of the deal, or of each of the client's (a
        // contact's or a company's) deals.
        let outreach = match event {
            Event::ActivityLogged { activity } => Some(activity.occurred_at),
            Event::TaskCompleted { .. } => Some(envelope.at),
            _ => None,
        };
        for record in records {
            match record {
                AnyId::TaskId(id) if changes_tasks => {
                    touched.tasks.insert(*id);
                }
                AnyId::ActivityId(id) => {
                    touched.activities.insert(*id);
                }
                AnyId::DealId(id) if changes_deals => {
                    touched.deals.insert(*id);
                }
                AnyId::DealId(_) | AnyId::ContactId(_) | AnyId::CompanyId(_) => {
                    let Some(at) = outreach else { continue };
                    let later = |deal: &DealId| {
                        state
                            .first_contact
                            .get(deal)
                            .is_none_or(|first| *first > at)
                    };
                    touched
                        .deals
                        .extend(state.deals_of(*record).into_iter().filter(later));
                }
                _ => {}
            }
        }
        // A merge (or its undoing) moves deals between two clients: all of both change.
        let clients = match event {
            Event::ContactsMerged { merge } => Some([merge.into, merge.from]),
            Event::ContactsUnmerged { into, from, .. } => Some([*into, *from]),
            _ => None,
        };
        if let Some(clients) = clients {
            for client in clients {
                touched
                    .deals
                    .extend(state.deals_of(AnyId::ContactId(client)));
            }
            return touched;
        }
        // Winning, reopening or re-linking a deal moves the gaps between its client's
        // visits: the client's other deals (old client and new) change too. Nothing
        // else a deal's event does changes them, so a client with many deals does not
        // make every move of each cost in proportion.
        let new_client = match event {
            Event::DealMoved { id, status, .. } => {
                let was_won = state
                    .deals
                    .get(id)
                    .is_some_and(|deal| deal.status == DealStatus::Won);
                if !was_won && *status != DealStatus::Won {
                    return touched;
                }
                None
            }
            Event::DealUpdated {
                fields, changed, ..
            } if changed.iter().any(|field| field == "contact") => fields.contact,
            // A won deal deleted is a visit less for its client.
            Event::RecordDeleted {
                record: AnyId::DealId(_),
                ..
            } => None,
            _ => return touched,
        };
        let clients = touched
            .deals
            .iter()
            .filter_map(|id| state.deals.get(id)?.fields.contact)
            .chain(new_client)
            .collect::<Vec<_>>();
        for client in clients {
            touched
                .deals
                .extend(state.deals_of(AnyId::ContactId(client)));
        }
        touched
    }
}

/// The contributions of the touched records at one moment.
#[derive(Clone, Debug, Default)]
pub(crate) struct Contributions {
    deals: Vec<DealContribution>,
    tasks: Vec<TaskContribution>,
    activities: Vec<ActivityContribution>,
}

/// Statistics by date (a day, or a month's first day), then pipeline and owner.
type Slices = BTreeMap<NaiveDate, BTreeMap<(PipelineId, UserId), DayStats>>;

/// Pipeline, owner, stage and the first day of the expected closing month.
type OpenKey = (PipelineId, UserId, StageId, Option<NaiveDate>);

/// Open deals by when they entered their current stage, longest waiting first.
type Waiting = BTreeSet<(DateTime<Utc>, DealId)>;

/// What happened on one business day in one pipeline for one owner's deals. Each
/// measure is dated by its own event: creation, closing, payment or leaving a stage.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct DayStats {
    /// Deals created this day…
    created: u64,
    /// …of which so many reached each stage…
    reached: SmallMap<StageId, u64>,
    /// …so many were lost from each stage, for each reason…
    lost_at: SmallMap<(StageId, String), u64>,
    /// …and, by lead source (`None`: not recorded), created and won.
    sources: SmallMap<Option<String>, SourceStats>,
    /// Deals won this day, with their amounts.
    won: Tally,
    /// Deals lost this day.
    lost: u64,
    /// How long the deals won this day took, from creation.
    cycle: Durations,
    /// Payments that moved this day (refunds negative).
    paid: Tally,
    /// Of the deals created this day, how long until their first outreach.
    first_contact: Durations,
    /// Won deals with a contact (a client's visits) closed this day: per client, and
    /// their amounts…
    clients: SmallMap<ContactId, u64>,
    visits: Tally,
    /// …and how long after the client's previous visit each came.
    between_visits: Durations,
    /// Stage visits that ended this day, by stage.
    stage_time: SmallMap<StageId, Durations>,
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
        // One record at a time, in the maps' order: nothing is collected, so a million
        // deals cost no second copy of their contributions while opening.
        let mut reports = Self::default();
        for id in state.deals.keys() {
            let Some(deal) = contribution::of(state, *id, None) else {
                continue;
            };
            reports.apply_deal(&deal, Sign::Add);
            // The tail is read from the state the contribution was just read from.
            let read =
                reports.apply_tail(state, &deal, Counted::default(), deal.counted, Sign::Add);
            debug_assert!(read, "deal {id} cannot be read as it was counted");
            reports.progress.insert(deal.id, deal.progress());
        }
        for id in state.tasks.keys() {
            if let Some(task) = contribution::of_task(state, *id) {
                reports.apply_task(&task, Sign::Add);
            }
        }
        for id in state.activities.keys() {
            if let Some(activity) = contribution::of_activity(state, *id) {
                reports.apply_activity(&activity, Sign::Add);
            }
        }
        reports
    }

    /// The contributions of the touched records as they are in `state` (reading each
    /// deal's stage history only past what these aggregates have counted of it).
    pub(crate) fn contributions(&self, state: &State, touched: &Touched) -> Contributions {
        Contributions {
            deals: touched
                .deals
                .iter()
                .filter_map(|id| contribution::of(state, *id, self.progress.get(id).copied()))
                .collect(),
            tasks: touched
                .tasks
                .iter()
                .filter_map(|id| contribution::of_task(state, *id))
                .collect(),
            activities: touched
                .activities
                .iter()
                .filter_map(|id| contribution::of_activity(state, *id))
                .collect(),
        }
    }

    /// Takes the `before` contributions out and puts the `after` contributions in;
    /// `state` is the state after, whose deals' histories hold what both count.
    pub(crate) fn update(&mut self, state: &State, before: &Contributions, after: &Contributions) {
        if !self.update_deals(state, &before.deals, &after.deals) {
            // A deal no longer holds the history its aggregates counted. No event does
            // that (histories and payments only grow); if one ever does, the aggregates
            // are built again rather than left wrong.
            *self = Self::build(state);
            return;
        }
        for (facts, sign) in [(before, Sign::Retract), (after, Sign::Add)] {
            for task in &facts.tasks {
                self.apply_task(task, sign);
            }
            for activity in &facts.activities {
                self.apply_activity(activity, sign);
            }
        }
    }

    /// The deals' part of [`Reports::update`]; `false` when a deal's history cannot be
    /// read as counted.
    fn update_deals(
        &mut self,
        state: &State,
        before: &[DealContribution],
        after: &[DealContribution],
    ) -> bool {
        for old in before {
            match find(after, old.id).filter(|new| continues(old, new)) {
                // The usual case: the same deal, its lists grown (or not) in place. Only
                // what the event added is read and put in.
                Some(new) => {
                    if !old.same_but_counted(new) {
                        self.apply_deal(old, Sign::Retract);
                        self.apply_deal(new, Sign::Add);
                    }
                    if !self.apply_tail(state, new, old.counted, new.counted, Sign::Add) {
                        return false;
                    }
                }
                // Gone, or counted under another owner or pipeline: all of it comes out.
                None => {
                    self.apply_deal(old, Sign::Retract);
                    if !self.apply_tail(state, old, Counted::default(), old.counted, Sign::Retract)
                    {
                        return false;
                    }
                    self.progress.remove(&old.id);
                }
            }
        }
        for new in after {
            let continued = find(before, new.id).is_some_and(|old| continues(old, new));
            if !continued {
                self.apply_deal(new, Sign::Add);
                if !self.apply_tail(state, new, Counted::default(), new.counted, Sign::Add) {
                    return false;
                }
            }
            self.progress.insert(new.id, new.progress());
        }
        true
    }

    /// Puts in (or takes out) a deal's stage visits and payments between `from` and `to`,
    /// read from the deal in `state`; `false` when it does not hold them.
    fn apply_tail(
        &mut self,
        state: &State,
        facts: &DealContribution,
        from: Counted,
        to: Counted,
        sign: Sign,
    ) -> bool {
        if from == to {
            return true;
        }
        let deal = state.deals.get(&facts.id);
        let pipeline = state.pipelines.get(&facts.pipeline);
        let tail = deal.zip(pipeline).and_then(|(deal, pipeline)| {
            contribution::tail(deal, pipeline, state.calendar.time_zone, from, to)
        });
        let Some(tail) = tail else {
            return false;
        };
        let key = (facts.pipeline, facts.owner);
        apply_tail_dated(&mut self.days, key, &tail, sign, |day| day);
        apply_tail_dated(&mut self.months, key, &tail, sign, contribution::month_of);
        true
    }

    fn apply_task(&mut self, task: &TaskContribution, sign: Sign) {
        if let Some((day, late)) = task.completed {
            let person = self.person(day, task.assignee);
            count(&mut person.tasks_done, sign);
            if late {
                count(&mut person.tasks_late, sign);
            }
            self.prune_person(day, task.assignee);
        }
        if let Some(due) = task.open_due {
            let dues = self.open_due.entry(task.assignee).or_default();
            count_key(dues, due, sign);
            if dues.is_empty() {
                self.open_due.remove(&task.assignee);
            }
        }
    }

    fn apply_activity(&mut self, activity: &ActivityContribution, sign: Sign) {
        let person = self.person(activity.day, activity.user);
        count_key(&mut person.activities, activity.kind, sign);
        self.prune_person(activity.day, activity.user);
    }

    fn person(&mut self, day: NaiveDate, user: UserId) -> &mut PersonDay {
        self.people.entry(day).or_default().entry(user).or_default()
    }

    fn prune_person(&mut self, day: NaiveDate, user: UserId) {
        let Some(users) = self.people.get_mut(&day) else {
            return;
        };
        if users
            .get(&user)
            .is_some_and(|person| *person == PersonDay::default())
        {
            users.remove(&user);
        }
        if users.is_empty() {
            self.people.remove(&day);
        }
    }

    fn apply_deal(&mut self, facts: &DealContribution, sign: Sign) {
        apply_dated(&mut self.days, facts, sign, |day| day);
        apply_dated(&mut self.months, facts, sign, contribution::month_of);
        if let Some(open) = &facts.open {
            let key = (facts.pipeline, facts.owner, open.stage, open.close_month);
            let tally = self.open.entry(key).or_default();
            tally.add(open.amount.as_ref(), sign);
            if tally.is_empty() {
                self.open.remove(&key);
            }
            let owner_key = (facts.pipeline, facts.owner);
            let waiting = self.open_since.entry(owner_key).or_default();
            match sign {
                Sign::Add => waiting.insert((open.since, facts.id)),
                Sign::Retract => waiting.remove(&(open.since, facts.id)),
            };
            if waiting.is_empty() {
                self.open_since.remove(&owner_key);
            }
        }
    }
}

/// The dated part of a deal's contributions into `slices`, each date mapped by `period` (the day
/// itself, or its month).
fn apply_dated(
    slices: &mut Slices,
    facts: &DealContribution,
    sign: Sign,
    period: fn(NaiveDate) -> NaiveDate,
) {
    let key = (facts.pipeline, facts.owner);
    {
        let created = stats(slices, period(facts.created), key);
        count(&mut created.created, sign);
        for stage in &facts.reached {
            count_key(&mut created.reached, *stage, sign);
        }
        if let Some(lost_at) = &facts.lost_at {
            count_key(&mut created.lost_at, lost_at.clone(), sign);
        }
        let source = created.sources.entry_or_default(facts.source.clone());
        count(&mut source.created, sign);
        if let Some(closed) = facts.closed.as_ref().filter(|closed| closed.won) {
            source.won.add(closed.amount.as_ref(), sign);
        }
        if *source == SourceStats::default() {
            created.sources.remove(&facts.source);
        }
        if let Some(seconds) = facts.first_contact_seconds {
            created.first_contact.add(seconds, sign);
        }
    }
    prune(slices, period(facts.created), key);
    if let Some(closed) = &facts.closed {
        let day = stats(slices, period(closed.day), key);
        if closed.won {
            day.won.add(closed.amount.as_ref(), sign);
            day.cycle.add(closed.cycle_seconds, sign);
            if let Some(visit) = &facts.visit {
                count_key(&mut day.clients, visit.client, sign);
                day.visits.add(closed.amount.as_ref(), sign);
                if let Some(seconds) = visit.since_previous_seconds {
                    day.between_visits.add(seconds, sign);
                }
            }
        } else {
            count(&mut day.lost, sign);
        }
        prune(slices, period(closed.day), key);
    }
}

/// The contribution of deal `id` among `facts` (sorted by ID).
fn find(facts: &[DealContribution], id: DealId) -> Option<&DealContribution> {
    facts
        .binary_search_by_key(&id, |f| f.id)
        .ok()
        .map(|i| &facts[i])
}

/// Whether `new` is `old` later on: the same deal, counted under the same pipeline and
/// owner, its history and payments only grown.
fn continues(old: &DealContribution, new: &DealContribution) -> bool {
    old.id == new.id
        && old.pipeline == new.pipeline
        && old.owner == new.owner
        && old.counted.within(new.counted)
}

/// A deal's stage visits and payments into `slices`, dated by `period`.
fn apply_tail_dated(
    slices: &mut Slices,
    key: (PipelineId, UserId),
    tail: &Tail,
    sign: Sign,
    period: fn(NaiveDate) -> NaiveDate,
) {
    for (paid_on, amount) in &tail.payments {
        let day = stats(slices, period(*paid_on), key);
        day.paid.amount.add(amount, sign);
        count(&mut day.paid.count, sign);
        prune(slices, period(*paid_on), key);
    }
    for (stage, left_on, seconds) in &tail.visits {
        let day = stats(slices, period(*left_on), key);
        let durations = day.stage_time.entry_or_default(*stage);
        durations.add(*seconds, sign);
        if durations.is_empty() {
            day.stage_time.remove(stage);
        }
        prune(slices, period(*left_on), key);
    }
}

fn stats(slices: &mut Slices, date: NaiveDate, key: (PipelineId, UserId)) -> &mut DayStats {
    slices.entry(date).or_default().entry(key).or_default()
}

/// Removes the date's entry for `key` (and the date) once nothing is left in it.
fn prune(slices: &mut Slices, date: NaiveDate, key: (PipelineId, UserId)) {
    let Some(keys) = slices.get_mut(&date) else {
        return;
    };
    if keys
        .get(&key)
        .is_some_and(|stats| *stats == DayStats::default())
    {
        keys.remove(&key);
    }
    if keys.is_empty() {
        slices.remove(&date);
    }
}
