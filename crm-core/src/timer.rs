//! Scheduled wake-ups: overdue tasks, task reminders, stage SLAs, idle records (rotting
//! deals, inactive clients) and delayed rules. The index is derived from the state and kept in step on every
//! event, so `next_wakeup` and the engine's catch-up are a look at its first entry.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, NaiveDate, Utc};

use crate::common::calendar::{ClockTime, Span};
use crate::common::id::{AnyId, ContactId, DealId, TaskId};
use crate::model::custom_field::FieldValue;
use crate::model::deal::DealStatus;
use crate::model::rule::{DateMatch, DueSoon, RecordKind, Trigger};
use crate::model::task::{Task, TaskStatus};
use crate::state::State;

/// Something that will need the engine's attention at a given time.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Timer {
    /// An open task reaches its due time.
    TaskDue(TaskId),
    /// A deal's time in its stage reaches the stage's SLA.
    StageSla(DealId),
    /// A record has been quiet for as long as an idle rule waits.
    Idle { rule: String, record: AnyId },
    /// A delayed rule's wait ends (the journal position of its `rule_scheduled`).
    Delayed(u64),
    /// A `task_due_soon` rule's reminder time for an open task.
    Reminder { rule: String, task: TaskId },
    /// A `date_reached` rule's next time for a contact, company or deal.
    Date { rule: String, record: AnyId },
}

/// The pending timers, soonest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Timers {
    queue: BTreeSet<(DateTime<Utc>, Timer)>,
    due: BTreeMap<Timer, DateTime<Utc>>,
    /// The rules each record has an idle timer for, so that recomputing a record's
    /// timers finds its own without walking every timer.
    idle: BTreeSet<(AnyId, String)>,
}

impl Timers {
    /// The soonest timer.
    pub fn first(&self) -> Option<(DateTime<Utc>, &Timer)> {
        self.queue.first().map(|(at, timer)| (*at, timer))
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    fn set(&mut self, timer: Timer, at: Option<DateTime<Utc>>) {
        if self.due.get(&timer).copied() == at {
            return;
        }
        if let Some(old) = self.due.remove(&timer) {
            self.queue.remove(&(old, timer.clone()));
        }
        if let Timer::Idle { rule, record } = &timer {
            let key = (*record, rule.clone());
            if at.is_some() {
                self.idle.insert(key);
            } else {
                self.idle.remove(&key);
            }
        }
        if let Some(at) = at {
            self.queue.insert((at, timer.clone()));
            self.due.insert(timer, at);
        }
    }

    /// Drops a timer that has nothing left to fire.
    pub(crate) fn clear(&mut self, timer: &Timer) {
        self.set(timer.clone(), None);
    }

    /// Sets or clears a delayed rule's timer.
    pub(crate) fn delay(&mut self, scheduled: u64, due: Option<DateTime<Utc>>) {
        self.set(Timer::Delayed(scheduled), due);
    }

    /// Drops `record`'s idle timers of rules not in `keep`.
    fn clear_idle(&mut self, record: AnyId, keep: &BTreeSet<String>) {
        let stale: Vec<Timer> = self
            .idle
            .range((record, String::new())..)
            .take_while(|(r, _)| *r == record)
            .filter(|(_, rule)| !keep.contains(rule))
            .map(|(_, rule)| Timer::Idle {
                rule: rule.clone(),
                record,
            })
            .collect();
        for timer in stale {
            self.set(timer, None);
        }
    }
}

impl Timers {
    /// Every timer the state calls for: on opening, and after the rules or the
    /// calendar changed.
    pub(crate) fn build(state: &State) -> Timers {
        let mut timers = Timers::default();
        for id in state.tasks.keys() {
            timers.refresh(state, (*id).into());
        }
        for id in state.deals.keys() {
            timers.refresh(state, (*id).into());
        }
        for id in state.contacts.keys() {
            timers.refresh(state, (*id).into());
        }
        if date_rules(state).next().is_some() {
            for id in state.companies.keys() {
                timers.refresh(state, (*id).into());
            }
        }
        for (seq, scheduled) in &state.scheduled {
            timers.delay(*seq, Some(scheduled.due));
        }
        timers
    }

    /// Recomputes the timers of one record.
    pub(crate) fn refresh(&mut self, state: &State, record: AnyId) {
        if !matches!(record, AnyId::TaskId(_)) {
            for (rule, watched) in date_rules(state) {
                let at = next_date(state, record, rule, watched).map(|(_, at)| at);
                let timer = Timer::Date {
                    rule: rule.clone(),
                    record,
                };
                self.set_live(state, timer, at);
            }
        }
        match record {
            AnyId::TaskId(id) => {
                let open = state
                    .tasks
                    .get(&id)
                    .filter(|t| t.status == TaskStatus::Open);
                // Once per due time: not again for the one it already went overdue at
                // (a rescheduled task is armed for its new one).
                let due = open.filter(|t| t.overdue_at != t.due).and_then(|t| t.due);
                self.set_live(state, Timer::TaskDue(id), due);
                for (rule, soon) in reminder_rules(state) {
                    let at = open.and_then(|task| reminder_at(state, task, rule, soon));
                    let timer = Timer::Reminder {
                        rule: rule.clone(),
                        task: id,
                    };
                    self.set_live(state, timer, at);
                }
            }
            // An archived record is put away: nothing about it reminds anyone.
            AnyId::DealId(id)
                if state
                    .deals
                    .get(&id)
                    .is_some_and(|d| d.archived_at.is_some()) =>
            {
                self.set_live(state, Timer::StageSla(id), None);
                self.set_idle(state, record, Vec::new());
            }
            AnyId::ContactId(id)
                if state
                    .contacts
                    .get(&id)
                    .is_some_and(|c| c.archived_at.is_some()) =>
            {
                self.set_idle(state, record, Vec::new());
            }
            AnyId::DealId(id) => {
                let sla = sla_deadline(state, id);
                self.set_live(state, Timer::StageSla(id), sla);
                let idle: Vec<(String, Option<DateTime<Utc>>)> = idle_rules(state, false)
                    .map(|(key, after, stage)| {
                        (key.clone(), deal_idle_at(state, id, key, after, stage))
                    })
                    .collect();
                self.set_idle(state, record, idle);
            }
            AnyId::ContactId(id) => {
                let idle: Vec<(String, Option<DateTime<Utc>>)> = idle_rules(state, true)
                    .map(|(key, after, _)| (key.clone(), contact_idle_at(state, id, key, after)))
                    .collect();
                self.set_idle(state, record, idle);
            }
            _ => {}
        }
    }

    fn set_idle(
        &mut self,
        state: &State,
        record: AnyId,
        idle: Vec<(String, Option<DateTime<Utc>>)>,
    ) {
        let keep: BTreeSet<String> = idle.iter().map(|(key, _)| key.clone()).collect();
        self.clear_idle(record, &keep);
        for (rule, at) in idle {
            self.set_live(state, Timer::Idle { rule, record }, at);
        }
    }

    /// Sets a record's timer, unless its time is in the past a history import settled
    /// (the import recorded what happened then; nothing fires for it now).
    fn set_live(&mut self, state: &State, timer: Timer, at: Option<DateTime<Utc>>) {
        let settled = state.settled_until;
        self.set(
            timer,
            at.filter(|at| settled.is_none_or(|until| *at > until)),
        );
    }
}

/// Enabled `date_reached` rules: (key, what they watch).
fn date_rules(state: &State) -> impl Iterator<Item = (&String, &DateMatch)> {
    state
        .rules
        .iter()
        .filter(|r| r.enabled)
        .filter_map(|r| match &r.when {
            Trigger::DateReached(watched) => Some((&r.key, watched)),
            _ => None,
        })
}

/// The date a record's field holds (a datetime's local date), with the record's last
/// change; `None` for another kind of record, an archived one or an empty field.
fn watched_date(
    state: &State,
    record: AnyId,
    watched: &DateMatch,
) -> Option<(NaiveDate, DateTime<Utc>)> {
    let (kind, custom, updated_at, expected_close) = match record {
        AnyId::ContactId(id) => {
            let c = state
                .contacts
                .get(&id)
                .filter(|c| c.archived_at.is_none())?;
            (RecordKind::Contact, &c.fields.custom, c.updated_at, None)
        }
        AnyId::CompanyId(id) => {
            let c = state
                .companies
                .get(&id)
                .filter(|c| c.archived_at.is_none())?;
            (RecordKind::Company, &c.fields.custom, c.updated_at, None)
        }
        AnyId::DealId(id) => {
            let d = state.deals.get(&id).filter(|d| d.archived_at.is_none())?;
            (
                RecordKind::Deal,
                &d.fields.custom,
                d.updated_at,
                d.fields.expected_close,
            )
        }
        _ => return None,
    };
    if kind != watched.record {
        return None;
    }
    let date = match watched.field.strip_prefix("custom.") {
        Some(key) => match custom.get(key)? {
            FieldValue::Date(date) => *date,
            FieldValue::Datetime(at) => at.with_timezone(&state.calendar.time_zone).date_naive(),
            _ => return None,
        },
        None if watched.field == "expected_close" => expected_close?,
        None => return None,
    };
    Some((date, updated_at))
}

/// The occurrence a `date_reached` rule next fires for on a record, and when: `days` from the date (its
/// anniversary for a yearly rule) at the rule's local time — once per occurrence, and
/// not for one whose time had passed when the rules were defined or the record last
/// changed (a birthday entered today does not fire for the years before).
pub(crate) fn next_date(
    state: &State,
    record: AnyId,
    rule: &str,
    watched: &DateMatch,
) -> Option<(NaiveDate, DateTime<Utc>)> {
    let (date, updated_at) = watched_date(state, record, watched)?;
    let since = state
        .rules_defined_at
        .max(state.settled_until)
        .max(Some(updated_at))?;
    let fired = state
        .date_fired
        .get(rule)
        .and_then(|fired| fired.get(&record));
    let clock = watched.at.unwrap_or(ClockTime::NINE);
    let fires = |occurrence: NaiveDate| -> Option<DateTime<Utc>> {
        let day = occurrence.checked_add_signed(chrono::Duration::days(watched.days.into()))?;
        Some(state.calendar.instant(day, clock))
    };
    let due = |occurrence: NaiveDate| {
        fired.is_none_or(|fired| occurrence > *fired)
            && fires(occurrence).is_some_and(|at| at >= since)
    };
    let occurs = |occurrence: NaiveDate| Some((occurrence, fires(occurrence)?));
    if !watched.yearly {
        return due(date).then(|| occurs(date)).flatten();
    }
    // The next occurrence is near the later of the year `since` falls in and the year
    // last fired for: search a few years around it, the offset either way.
    let since_year = since.with_timezone(&state.calendar.time_zone).year();
    let year = fired.map_or(since_year, |fired| fired.year().max(since_year));
    let slack = watched.days.abs() / 365 + 1;
    ((year - slack).max(date.year())..=year + slack + 1)
        .filter_map(|year| anniversary(date, year))
        .find(|occurrence| due(*occurrence))
        .and_then(occurs)
}

/// `date` in `year`; 29 February is the 28th in other years.
fn anniversary(date: NaiveDate, year: i32) -> Option<NaiveDate> {
    date.with_year(year)
        .or_else(|| NaiveDate::from_ymd_opt(year, date.month(), date.day() - 1))
}

/// Enabled `task_due_soon` rules: (key, when).
fn reminder_rules(state: &State) -> impl Iterator<Item = (&String, &DueSoon)> {
    state
        .rules
        .iter()
        .filter(|r| r.enabled)
        .filter_map(|r| match &r.when {
            Trigger::TaskDueSoon(soon) => Some((&r.key, soon)),
            _ => None,
        })
}

/// When `rule` reminds of an open task: `before` its due time, unless it already did
/// for this due time, or the task is of another kind. Never before the task got its due
/// time (a task created or rescheduled inside the window is reminded at once), and
/// not at all when that was already its due time.
fn reminder_at(state: &State, task: &Task, rule: &str, soon: &DueSoon) -> Option<DateTime<Utc>> {
    let due = task.due?;
    if soon.kind.as_ref().is_some_and(|kind| *kind != task.kind) {
        return None;
    }
    let reminded = state
        .reminded
        .get(rule)
        .and_then(|tasks| tasks.get(&task.id));
    if reminded == Some(&due) {
        return None;
    }
    let since = state
        .rescheduled_at
        .get(&task.id)
        .copied()
        .unwrap_or(task.created_at);
    let at = if soon.working {
        state.calendar.sub_working(due, soon.before).ok()?
    } else {
        due - soon.before.as_duration()
    };
    let at = at.max(since);
    (at < due).then_some(at)
}

/// Enabled idle rules: (key, wait, stage filter) for deals or for contacts.
fn idle_rules(
    state: &State,
    contacts: bool,
) -> impl Iterator<Item = (&String, Span, Option<&String>)> {
    state
        .rules
        .iter()
        .filter(|r| r.enabled)
        .filter_map(move |r| match &r.when {
            Trigger::DealRotting(idle) if !contacts => {
                Some((&r.key, idle.after, idle.stage.as_ref()))
            }
            Trigger::ContactInactive(idle) if contacts => Some((&r.key, idle.after, None)),
            _ => None,
        })
}

/// When a deal breaches its stage's SLA: `sla_hours` of working time after it entered
/// the stage; once per stage visit.
fn sla_deadline(state: &State, id: DealId) -> Option<DateTime<Utc>> {
    let deal = state
        .deals
        .get(&id)
        .filter(|d| d.status == DealStatus::Open)?;
    let visit = deal.stage_history.len();
    if state.sla_breached.get(&id) == Some(&visit) {
        return None;
    }
    let hours = state
        .pipelines
        .get(&deal.pipeline)
        .and_then(|p| p.stage(deal.stage))
        .and_then(|s| s.sla_hours)?;
    let entered = deal.stage_history.last()?.at;
    state
        .calendar
        .add_working(entered, Span::minutes(hours.saturating_mul(60)))
        .ok()
}

/// A deal's last sign of life: entering its stage, or its latest activity.
pub(crate) fn deal_since(state: &State, id: DealId) -> Option<DateTime<Utc>> {
    let deal = state.deals.get(&id)?;
    let entered = deal.stage_history.last()?.at;
    Some(
        state
            .last_touch
            .get(&AnyId::DealId(id))
            .map_or(entered, |touched| entered.max(*touched)),
    )
}

/// A client's last sign of life: their latest won deal or activity.
pub(crate) fn contact_since(state: &State, id: ContactId) -> Option<DateTime<Utc>> {
    let won = state
        .deals_by_party
        .of(AnyId::ContactId(id))
        .filter_map(|deal| state.deals.get(&deal))
        .filter(|deal| deal.status == DealStatus::Won)
        .filter_map(|deal| deal.closed_at)
        .max();
    let touched = state.last_touch.get(&AnyId::ContactId(id)).copied();
    won.max(touched)
}

fn deal_idle_at(
    state: &State,
    id: DealId,
    rule: &str,
    after: Span,
    stage: Option<&String>,
) -> Option<DateTime<Utc>> {
    let deal = state
        .deals
        .get(&id)
        .filter(|d| d.status == DealStatus::Open)?;
    if stage.is_some_and(|s| !state.stage_matches(s, None, deal.stage)) {
        return None;
    }
    let since = deal_since(state, id)?;
    not_yet_fired(state, rule, id.into(), since).map(|since| since + after.as_duration())
}

fn contact_idle_at(state: &State, id: ContactId, rule: &str, after: Span) -> Option<DateTime<Utc>> {
    let since = contact_since(state, id)?;
    not_yet_fired(state, rule, id.into(), since).map(|since| since + after.as_duration())
}

/// `since`, unless the rule already fired for this record's quiet spell since then.
fn not_yet_fired(
    state: &State,
    rule: &str,
    record: AnyId,
    since: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let fired = state
        .idle_fired
        .get(rule)
        .and_then(|by_record| by_record.get(&record));
    (fired != Some(&since)).then_some(since)
}
