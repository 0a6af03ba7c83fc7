//! The business calendar: time zone, working days and hours, holidays — and durations
//! counted in working time ("due in 15 minutes" of a shop that closes at 18:00).

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::common::error::CrmError;

/// How far ahead a working-time sum may look before the calendar counts as empty.
const MAX_SEARCH_DAYS: u32 = 3_700;

/// When the business works. The default is UTC, every day, around the clock, so
/// working time equals clock time until a calendar is set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Calendar {
    /// IANA time zone, e.g. `"Europe/Berlin"`; people read times in it.
    #[cfg_attr(
        feature = "schema",
        schemars(with = "String", example = "Europe/Berlin")
    )]
    pub time_zone: Tz,
    /// E.g. `["mon", "tue", "wed", "thu", "fri"]`.
    pub working_days: BTreeSet<Day>,
    /// Opening hours of a working day, in local time, e.g. `[{"from": "09:00", "to": "18:00"}]`.
    pub hours: Vec<Hours>,
    /// Days off on top of the non-working weekdays, as `YYYY-MM-DD`.
    #[serde(default)]
    pub holidays: BTreeSet<NaiveDate>,
}

impl Default for Calendar {
    fn default() -> Self {
        Self {
            time_zone: Tz::UTC,
            working_days: Day::ALL.into_iter().collect(),
            hours: vec![Hours {
                from: ClockTime(0),
                to: ClockTime(24 * 60),
            }],
            holidays: BTreeSet::new(),
        }
    }
}

/// A weekday, written `"mon"` … `"sun"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Day {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl Day {
    const ALL: [Day; 7] = [
        Day::Mon,
        Day::Tue,
        Day::Wed,
        Day::Thu,
        Day::Fri,
        Day::Sat,
        Day::Sun,
    ];

    pub(crate) fn of(weekday: Weekday) -> Day {
        Day::ALL[weekday.num_days_from_monday() as usize]
    }

    /// Days since Monday (0 for Monday).
    pub(crate) fn index(self) -> u32 {
        self as u32
    }
}

/// One span of opening hours, local time; `to` may be `"24:00"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Hours {
    pub from: ClockTime,
    pub to: ClockTime,
}

/// A time of day as minutes since midnight, written `"HH:MM"` (`"24:00"` is the end of day).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ClockTime(u16);

impl ClockTime {
    /// 09:00, when the working day usually starts.
    pub const NINE: ClockTime = ClockTime(9 * 60);

    pub fn minutes(self) -> u16 {
        self.0
    }

    /// The clock time of a local instant (to the minute).
    pub(crate) fn of<T: chrono::Timelike>(time: &T) -> ClockTime {
        ClockTime((time.hour() * 60 + time.minute()) as u16)
    }
}

impl FromStr for ClockTime {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let bad = || format!("{text:?} is not a time of day like \"09:00\" or \"24:00\"");
        let (h, m) = text.split_once(':').ok_or_else(bad)?;
        if h.len() != 2 || m.len() != 2 {
            return Err(bad());
        }
        let (h, m): (u16, u16) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
        if m > 59 || h > 24 || (h == 24 && m != 0) {
            return Err(bad());
        }
        Ok(ClockTime(h * 60 + m))
    }
}

impl fmt::Display for ClockTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.0 / 60, self.0 % 60)
    }
}

impl Serialize for ClockTime {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ClockTime {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        crate::common::id::deserialize_text(deserializer)
    }
}

#[cfg(feature = "schema")]
impl schemars::JsonSchema for ClockTime {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ClockTime".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$",
            "description": "a time of day, HH:MM"
        })
    }
}

/// A length of time written like `"15m"`, `"2h"`, `"1h30m"`, `"3d"` or `"1w"`.
/// In working time, days count working days (same local time, N working days on).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span {
    pub days: u32,
    pub minutes: u32,
}

impl Span {
    pub const ZERO: Span = Span {
        days: 0,
        minutes: 0,
    };

    pub fn minutes(minutes: u32) -> Self {
        Span { days: 0, minutes }
    }

    pub fn days(days: u32) -> Self {
        Span { days, minutes: 0 }
    }

    /// As clock time (a day is 24 hours).
    pub fn as_duration(self) -> Duration {
        Duration::days(self.days.into()) + Duration::minutes(self.minutes.into())
    }
}

impl FromStr for Span {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let bad = || format!("expected duration like \"15m\", \"2h\" or \"3d\", got {text:?}");
        let text = text.trim();
        if text.is_empty() || text.len() > 16 {
            return Err(bad());
        }
        let mut span = Span::ZERO;
        let mut number = String::new();
        for c in text.chars() {
            if c.is_ascii_digit() {
                number.push(c);
                continue;
            }
            let n: u32 = number.parse().map_err(|_| bad())?;
            number.clear();
            let add = |total: u32, n: u32, per: u32| {
                n.checked_mul(per)
                    .and_then(|v| total.checked_add(v))
                    .ok_or_else(bad)
            };
            match c {
                'w' => span.days = add(span.days, n, 7)?,
                'd' => span.days = add(span.days, n, 1)?,
                'h' => span.minutes = add(span.minutes, n, 60)?,
                'm' => span.minutes = add(span.minutes, n, 1)?,
                _ => return Err(bad()),
            }
        }
        if !number.is_empty() || span.days > 3650 || span.minutes > 3650 * 24 * 60 {
            return Err(bad());
        }
        Ok(span)
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.days > 0 {
            write!(f, "{}d", self.days)?;
        }
        let (h, m) = (self.minutes / 60, self.minutes % 60);
        if h > 0 {
            write!(f, "{h}h")?;
        }
        if m > 0 || *self == Span::ZERO {
            write!(f, "{m}m")?;
        }
        Ok(())
    }
}

impl Serialize for Span {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Failing inside the visitor keeps the error's position, hence its path, on the value.
        struct SpanVisitor;
        impl serde::de::Visitor<'_> for SpanVisitor {
            type Value = Span;
            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("a duration like \"15m\", \"2h\" or \"3d\"")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Span, E> {
                text.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_str(SpanVisitor)
    }
}

#[cfg(feature = "schema")]
impl schemars::JsonSchema for Span {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Span".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^([0-9]+[wdhm])+$",
            "description": "a duration like 15m, 2h, 1h30m, 3d or 1w"
        })
    }
}

impl Calendar {
    /// Checks that the calendar has working time at all and sane hours.
    pub fn validate(&self) -> Result<(), CrmError> {
        if self.working_days.is_empty() {
            return Err(CrmError::validation(
                "working_days",
                "at least one working day is needed",
            ));
        }
        if self.hours.is_empty() || self.hours.len() > 8 {
            return Err(CrmError::validation(
                "hours",
                "between 1 and 8 spans of opening hours are needed",
            ));
        }
        let mut previous_end = 0;
        for (index, hours) in self.hours.iter().enumerate() {
            if hours.from >= hours.to || hours.from.0 < previous_end {
                return Err(CrmError::validation(
                    format!("hours[{index}]"),
                    format!(
                        "{}–{} must start after the previous span and end after it starts",
                        hours.from, hours.to
                    ),
                ));
            }
            previous_end = hours.to.0;
        }
        if self.holidays.len() > 3_660 {
            return Err(CrmError::too_large("holidays", 3_660, self.holidays.len()));
        }
        Ok(())
    }

    /// `at` as the business reads it: local date and time with the zone's offset.
    pub fn local(&self, at: DateTime<Utc>) -> DateTime<Tz> {
        at.with_timezone(&self.time_zone)
    }

    pub(crate) fn is_working_day(&self, date: NaiveDate) -> bool {
        self.working_days.contains(&Day::of(date.weekday())) && !self.holidays.contains(&date)
    }

    /// The instant a local clock time on `date` names. In a DST gap the clock jumps
    /// forward, so the first instant after the gap; in an overlap, the earlier one.
    pub(crate) fn instant(&self, date: NaiveDate, clock: ClockTime) -> DateTime<Utc> {
        let midnight = NaiveDateTime::from(date);
        let naive = midnight + Duration::minutes(clock.0.into());
        let mut probe = naive;
        for _ in 0..4 {
            if let Some(local) = self.time_zone.from_local_datetime(&probe).earliest() {
                return local.with_timezone(&Utc);
            }
            probe += Duration::minutes(30);
        }
        // No zone has a gap longer than two hours; treat the name as UTC if one did.
        Utc.from_utc_datetime(&naive)
    }

    /// The working spans of `date` as UTC instants (empty on days off).
    fn spans(&self, date: NaiveDate) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        if !self.is_working_day(date) {
            return Vec::new();
        }
        self.hours
            .iter()
            .map(|h| (self.instant(date, h.from), self.instant(date, h.to)))
            .filter(|(from, to)| from < to)
            .collect()
    }

    /// `start` plus `span` of working time: first whole working days (same local time
    /// on the N-th next working day), then minutes counted only inside opening hours.
    pub fn add_working(&self, start: DateTime<Utc>, span: Span) -> Result<DateTime<Utc>, CrmError> {
        let mut at = start;
        if span.days > 0 {
            at = self.working_days_away(self.add_minutes(at, 0)?, span.days, true)?;
        }
        self.add_minutes(at, span.minutes)
    }

    /// The same local time `days` working days after (or, not `forward`, before) `at`.
    fn working_days_away(
        &self,
        at: DateTime<Utc>,
        days: u32,
        forward: bool,
    ) -> Result<DateTime<Utc>, CrmError> {
        let local = self.local(at);
        let clock = ClockTime((local.hour_minute()).min(24 * 60 - 1) as u16);
        let mut date = local.date_naive();
        let mut left = days;
        let mut steps = 0;
        while left > 0 {
            let next = if forward {
                date.succ_opt()
            } else {
                date.pred_opt()
            };
            date = next.ok_or_else(too_far)?;
            steps += 1;
            if steps > MAX_SEARCH_DAYS {
                return Err(too_far());
            }
            if self.is_working_day(date) {
                left -= 1;
            }
        }
        Ok(self.instant(date, clock))
    }

    /// `end` minus `span` of working time, the mirror of [`Calendar::add_working`]: first
    /// whole working days back (same local time on the N-th working day before), then
    /// minutes counted back only inside opening hours.
    pub fn sub_working(&self, end: DateTime<Utc>, span: Span) -> Result<DateTime<Utc>, CrmError> {
        let mut at = end;
        if span.days > 0 {
            at = self.working_days_away(self.sub_minutes(at, 0)?, span.days, false)?;
        }
        self.sub_minutes(at, span.minutes)
    }

    /// `end` minus `minutes` of opening hours; with 0, the last working instant at or
    /// before `end`.
    fn sub_minutes(&self, end: DateTime<Utc>, minutes: u32) -> Result<DateTime<Utc>, CrmError> {
        let mut left = Duration::minutes(minutes.into());
        let mut date = self.local(end).date_naive();
        // A span may end the local day after (a night shift seen from UTC); look one day on.
        date = date.succ_opt().unwrap_or(date);
        for _ in 0..MAX_SEARCH_DAYS {
            for (from, to) in self.spans(date).into_iter().rev() {
                if from >= end {
                    continue;
                }
                let finish = to.min(end);
                let available = finish - from;
                if left <= available {
                    return Ok(finish - left);
                }
                left -= available;
            }
            date = date.pred_opt().ok_or_else(too_far)?;
        }
        Err(too_far())
    }

    /// `start` plus `minutes` of opening hours; with 0, the first working instant at or
    /// after `start`.
    fn add_minutes(&self, start: DateTime<Utc>, minutes: u32) -> Result<DateTime<Utc>, CrmError> {
        let mut left = Duration::minutes(minutes.into());
        let mut date = self.local(start).date_naive();
        // A span may begin the local day before (a night shift seen from UTC); look back one day.
        date = date.pred_opt().unwrap_or(date);
        for _ in 0..MAX_SEARCH_DAYS {
            for (from, to) in self.spans(date) {
                if to <= start {
                    continue;
                }
                let begin = from.max(start);
                let available = to - begin;
                if left <= available {
                    return Ok(begin + left);
                }
                left -= available;
            }
            date = date.succ_opt().ok_or_else(too_far)?;
        }
        Err(too_far())
    }
}

trait HourMinute {
    fn hour_minute(&self) -> u32;
}

impl HourMinute for DateTime<Tz> {
    fn hour_minute(&self) -> u32 {
        use chrono::Timelike;
        self.hour() * 60 + self.minute()
    }
}

fn too_far() -> CrmError {
    CrmError::validation(
        "calendar",
        format!("has no working time within {MAX_SEARCH_DAYS} days"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shop() -> Calendar {
        serde_json::from_str(
            r#"{"time_zone": "Europe/Berlin", "working_days": ["mon","tue","wed","thu","fri"],
                "hours": [{"from": "09:00", "to": "18:00"}], "holidays": ["2026-12-25"]}"#,
        )
        .unwrap()
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn friday_evening_lead_is_due_monday_morning() {
        // Friday 2026-11-27 17:55 Berlin (16:55Z) + 15 working minutes = Monday 09:10.
        let due = shop()
            .add_working(at("2026-11-27T16:55:00Z"), "15m".parse().unwrap())
            .unwrap();
        assert_eq!(due, at("2026-11-30T08:10:00Z"));
    }

    #[test]
    fn working_time_counts_back_as_it_counts_forward() {
        let cal = shop();
        // Monday 09:10 in Berlin: 10 minutes that morning, the rest before Friday's close.
        assert_eq!(
            cal.sub_working(at("2026-11-30T08:10:00Z"), Span::minutes(30))
                .unwrap(),
            at("2026-11-27T16:40:00Z")
        );
        // A day back from Monday 10:00 is Friday 10:00; from Saturday, Friday's close.
        assert_eq!(
            cal.sub_working(at("2026-11-30T09:00:00Z"), Span::days(1))
                .unwrap(),
            at("2026-11-27T09:00:00Z")
        );
        assert_eq!(
            cal.sub_working(at("2026-11-28T10:00:00Z"), Span::minutes(0))
                .unwrap(),
            at("2026-11-27T17:00:00Z")
        );
        // Inside opening hours, adding back what was taken off lands where it started.
        for (end, span) in [
            ("2026-11-30T08:10:00Z", Span::minutes(30)),
            ("2026-12-02T12:00:00Z", Span::minutes(600)),
            (
                "2026-12-01T09:00:00Z",
                Span {
                    days: 2,
                    minutes: 45,
                },
            ),
        ] {
            let start = cal.sub_working(at(end), span).unwrap();
            assert_eq!(
                cal.add_working(start, span).unwrap(),
                at(end),
                "{end} - {span}"
            );
        }
    }

    #[test]
    fn holidays_and_days_count_working_days() {
        let cal = shop();
        // Thursday 24 Dec 10:00 + 1 working day skips Christmas (Fri) and the weekend.
        let due = cal
            .add_working(at("2026-12-24T09:00:00Z"), "1d".parse().unwrap())
            .unwrap();
        assert_eq!(due, at("2026-12-28T09:00:00Z"));
    }

    #[test]
    fn working_hours_follow_daylight_saving_time() {
        let cal = shop();
        // Berlin switches to summer time on Sunday 29 March 2026: 09:00 local is 08:00Z
        // on Friday the 27th and 07:00Z on Monday the 30th.
        let due = cal
            .add_working(at("2026-03-27T16:30:00Z"), "1h".parse().unwrap())
            .unwrap();
        assert_eq!(due, at("2026-03-30T07:30:00Z"));
    }

    #[test]
    fn the_default_calendar_is_clock_time() {
        let due = Calendar::default()
            .add_working(at("2026-11-28T23:50:00Z"), "1d30m".parse().unwrap())
            .unwrap();
        assert_eq!(due, at("2026-11-30T00:20:00Z"));
    }

    #[test]
    fn spans_parse_strictly() {
        assert_eq!("1h30m".parse::<Span>().unwrap(), Span::minutes(90));
        assert_eq!("2w".parse::<Span>().unwrap(), Span::days(14));
        assert_eq!(Span::minutes(90).to_string(), "1h30m");
        for bad in ["", "15", "m", "15x", "-1h", "99999999999m", "1.5h"] {
            let err = bad.parse::<Span>().unwrap_err();
            assert!(err.contains("expected duration like"), "{bad}: {err}");
        }
    }

    #[test]
    fn a_calendar_without_working_time_is_refused() {
        let mut cal = shop();
        cal.hours = vec![Hours {
            from: ClockTime(600),
            to: ClockTime(540),
        }];
        assert_eq!(cal.validate().unwrap_err().code(), "validation");
        cal.working_days.clear();
        assert_eq!(cal.validate().unwrap_err().code(), "validation");
    }
}
