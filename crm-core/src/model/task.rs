//! Tasks: work for a user, with a due time, linked to a contact, company or deal.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, Months, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::common::calendar::{Calendar, ClockTime, Day, Span};
use crate::common::id::{AnyId, TaskId, UserId};
use crate::common::validate;
use crate::model::actor::Actor;
use crate::model::custom_field::CustomValues;

/// Where a task stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    Open,
    Done,
    Cancelled,
}

/// A stored task.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Task {
    pub id: TaskId,
    /// What sort of work, e.g. `"call"` or `"measurement"`; rules match on it.
    pub kind: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub assignee: UserId,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::common::utc::deserialize_option"
    )]
    pub due: Option<DateTime<Utc>>,
    /// The contact, company or deal the task is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<AnyId>,
    pub status: TaskStatus,
    /// How it went, e.g. `"reached"` or `"no_answer"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// Results entered on completion, typed by the task field definitions.
    #[serde(default)]
    pub fields: CustomValues,
    #[serde(deserialize_with = "crate::common::utc::deserialize")]
    pub created_at: DateTime<Utc>,
    pub created_by: Actor,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::common::utc::deserialize_option"
    )]
    pub closed_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_by: Option<Actor>,
    /// The due time at which it last went overdue while open (set by the engine's
    /// timers; a task rescheduled to a new due time can go overdue again, once).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::common::utc::deserialize_option"
    )]
    pub overdue_at: Option<DateTime<Utc>>,
    /// For a repeating task: its series and place in it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat: Option<Box<TaskSeries>>,
}

impl Task {
    /// Open and at or past its due time at `now` (a task due 10:00 is late from 10:00).
    pub fn is_overdue(&self, now: DateTime<Utc>) -> bool {
        self.status == TaskStatus::Open && self.due.is_some_and(|due| due <= now)
    }
}

/// Input for [`crate::Command::CreateTask`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct NewTask {
    pub title: String,
    /// Defaults to `"todo"`.
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// Defaults to the acting user; required when the actor is `system`.
    #[serde(default)]
    pub assignee: Option<UserId>,
    #[serde(default)]
    pub due: Option<DateTime<Utc>>,
    #[serde(default)]
    pub link: Option<AnyId>,
    /// Repeat the task: completing one creates the next (needs `due`).
    #[serde(default)]
    pub repeat: Option<Repeat>,
}

/// Input for [`crate::Command::CompleteTask`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct TaskCompletion {
    pub id: TaskId,
    #[serde(default)]
    pub outcome: Option<String>,
    /// Raw values by key, checked against the task field definitions.
    #[serde(default)]
    pub fields: BTreeMap<String, Value>,
}

/// A task's editable fields as they are after an update (`task_updated`; the due time
/// changes through `reschedule_task` and `snooze_task`, the assignee through
/// `reassign_task`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct TaskFields {
    pub title: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// Input for [`crate::Command::UpdateTask`]: absent fields stay, `null` clears the
/// description.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default, deny_unknown_fields)]
pub struct TaskPatch {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(
        deserialize_with = "validate::nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub description: Option<Option<String>>,
}

/// Input for [`crate::Command::RescheduleTask`]: the new due time (`null`: none).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct TaskReschedule {
    pub id: TaskId,
    pub due: Option<DateTime<Utc>>,
}

/// Input for [`crate::Command::SnoozeTask`]: due again `by` from now, in clock time,
/// or in the business calendar's working time with `working`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct TaskSnooze {
    pub id: TaskId,
    pub by: Span,
    #[serde(default)]
    pub working: bool,
}

/// How often a task repeats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Every {
    Day,
    Week,
    Month,
}

/// What an occurrence that falls on a day off (a non-working weekday or a holiday of
/// the business calendar) does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum DaysOff {
    /// Moves to the next working day (default).
    #[default]
    Next,
    /// Moves to the working day before.
    Previous,
    /// Is left out; the series goes on with the one after.
    Skip,
    /// Stays on the day off.
    Keep,
}

/// A task's repetition: every `interval` days, weeks (on `on`, default the first task's
/// weekday) or months (the first task's day of the month, or the month's last day when
/// it is shorter), at the first task's local time in the business time zone, until a
/// date (`until`, inclusive, local) or for `count` tasks in all.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Repeat {
    pub every: Every,
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub interval: u32,
    /// Weekly only: the weekdays, e.g. `["mon", "thu"]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub on: Vec<Day>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<NaiveDate>,
    /// How many tasks the series has in all, the first included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    #[serde(default, skip_serializing_if = "is_next")]
    pub days_off: DaysOff,
}

fn one() -> u32 {
    1
}

fn is_one(value: &u32) -> bool {
    *value == 1
}

fn is_next(value: &DaysOff) -> bool {
    *value == DaysOff::Next
}

/// A repeating task's series: the rule, the first task's due time (the schedule's
/// anchor), this task's place (1 for the first), and the tasks before and after it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct TaskSeries {
    pub rule: Repeat,
    #[serde(deserialize_with = "crate::common::utc::deserialize")]
    pub first_due: DateTime<Utc>,
    pub occurrence: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<TaskId>,
    /// Set once the next task of the series exists: completing this one again (after
    /// reopening it) creates no other.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<TaskId>,
}

/// How far ahead the next occurrence is looked for (a rule whose every occurrence is
/// skipped ends instead of searching forever).
const MAX_OCCURRENCES_SEARCHED: u32 = 3_660;

impl TaskSeries {
    /// The next task's place and due time after one due at `previous`, or `None` when
    /// the series is over. Dates are the first task's local dates moved by the rule, at
    /// its local clock time (so 09:00 stays 09:00 across daylight saving changes); an
    /// occurrence on a day off follows `days_off`; the result is always after `previous`,
    /// so two moved occurrences never give two tasks at one time.
    pub fn next_due(
        &self,
        calendar: &Calendar,
        previous: DateTime<Utc>,
    ) -> Option<(u32, DateTime<Utc>)> {
        let rule = &self.rule;
        let occurrence = self.occurrence.checked_add(1)?;
        if rule.count.is_some_and(|count| occurrence > count) {
            return None;
        }
        let first = calendar.local(self.first_due);
        let clock = ClockTime::of(&first);
        let anchor = first.date_naive();
        let mut weekdays = rule.on.clone();
        if weekdays.is_empty() {
            weekdays.push(Day::of(anchor.weekday()));
        }
        weekdays.sort();
        let week_start = anchor - Duration::days(anchor.weekday().num_days_from_monday().into());
        let interval = rule.interval.max(1);
        let mut candidates = (1..=MAX_OCCURRENCES_SEARCHED).flat_map(|n| -> Vec<NaiveDate> {
            let step = n.saturating_mul(interval);
            match rule.every {
                Every::Day => anchor
                    .checked_add_signed(Duration::days(step.into()))
                    .into_iter()
                    .collect(),
                Every::Month => anchor
                    .with_day(1)
                    .and_then(|month| month.checked_add_months(Months::new(step)))
                    .map(|month| last_day_clamped(month, anchor.day()))
                    .into_iter()
                    .collect(),
                // Weeks from the anchor's week (the first week included, for the
                // weekdays after the anchor).
                Every::Week => {
                    let week = (n - 1).saturating_mul(interval);
                    weekdays
                        .iter()
                        .filter_map(|day| {
                            week_start.checked_add_signed(Duration::days(
                                i64::from(week) * 7 + i64::from(day.index()),
                            ))
                        })
                        .filter(|date| *date > anchor)
                        .collect()
                }
            }
        });
        candidates.find_map(|date| {
            let date = if calendar.is_working_day(date) {
                date
            } else {
                match rule.days_off {
                    DaysOff::Keep => date,
                    DaysOff::Skip => return None,
                    DaysOff::Next => step_to_working(calendar, date, 1)?,
                    DaysOff::Previous => step_to_working(calendar, date, -1)?,
                }
            };
            if rule.until.is_some_and(|until| date > until) {
                // Past the end: no later candidate can be before it (dates only grow,
                // but a moved one may jump ahead of the next): stop the search.
                return Some(None);
            }
            let at = calendar.instant(date, clock);
            (at > previous).then_some(Some((occurrence, at)))
        })?
    }
}

/// The `day`-th of `month`'s month, or its last day when the month is shorter.
fn last_day_clamped(month: NaiveDate, day: u32) -> NaiveDate {
    (1..=day)
        .rev()
        .find_map(|day| month.with_day(day))
        .unwrap_or(month)
}

/// The nearest working day from `date` in `direction` (+1 or -1), within a year.
fn step_to_working(calendar: &Calendar, date: NaiveDate, direction: i64) -> Option<NaiveDate> {
    (1..=366)
        .filter_map(|days| date.checked_add_signed(Duration::days(days * direction)))
        .find(|date| calendar.is_working_day(*date))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn series(rule: serde_json::Value, first_due: &str) -> TaskSeries {
        TaskSeries {
            rule: serde_json::from_value(rule).unwrap(),
            first_due: at(first_due),
            occurrence: 1,
            previous: None,
            next: None,
        }
    }

    /// The due times of a series' first `n` tasks (fewer when it ends).
    fn dues(series: &mut TaskSeries, calendar: &Calendar, n: usize) -> Vec<String> {
        let mut due = series.first_due;
        let mut out = vec![due.to_rfc3339()];
        while out.len() < n {
            let Some((occurrence, next)) = series.next_due(calendar, due) else {
                break;
            };
            series.occurrence = occurrence;
            due = next;
            out.push(due.to_rfc3339());
        }
        out
    }

    #[test]
    fn local_time_holds_across_daylight_saving_and_months_clamp_to_their_last_day() {
        let berlin: Calendar = serde_json::from_value(serde_json::json!({
            "time_zone": "Europe/Berlin", "working_days": ["mon","tue","wed","thu","fri","sat","sun"],
            "hours": [{"from": "00:00", "to": "24:00"}]}))
        .unwrap();
        // 09:00 in Berlin, the day before and after the change to summer time.
        let mut daily = series(serde_json::json!({"every": "day"}), "2026-03-28T08:00:00Z");
        assert_eq!(
            dues(&mut daily, &berlin, 3),
            [
                "2026-03-28T08:00:00+00:00",
                "2026-03-29T07:00:00+00:00",
                "2026-03-30T07:00:00+00:00"
            ]
        );
        // The 31st, then the last day of February in a leap year, then the 31st again.
        let mut monthly = series(
            serde_json::json!({"every": "month", "days_off": "keep"}),
            "2028-01-31T11:00:00Z",
        );
        assert_eq!(
            dues(&mut monthly, &berlin, 3),
            [
                "2028-01-31T11:00:00+00:00",
                "2028-02-29T11:00:00+00:00",
                "2028-03-31T10:00:00+00:00"
            ]
        );
        // Every other week on Monday and Friday, three times in all.
        let mut weekly = series(
            serde_json::json!({"every": "week", "interval": 2, "on": ["mon", "fri"], "count": 3}),
            "2026-11-30T08:00:00Z",
        );
        assert_eq!(
            dues(&mut weekly, &berlin, 5),
            [
                "2026-11-30T08:00:00+00:00",
                "2026-12-04T08:00:00+00:00",
                "2026-12-14T08:00:00+00:00"
            ]
        );
    }
}
