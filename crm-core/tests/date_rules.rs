//! Property tests of `date_reached` rules over random birthdays and contract dates
//! (29 February included) in a time zone with daylight saving, edited and ticked at
//! random granularity: each occurrence fires exactly once, at its own local time,
//! none is lost, a tick every hour and one tick at the end give the same journal, and
//! the timers kept in step equal the timers built.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Europe::Berlin;
use crm_core::*;
use proptest::prelude::*;
use serde_json::{json, Value};

const ADMIN: &str = "usr-1-1";

fn start() -> DateTime<Utc> {
    parse_now("2027-01-01T06:00:00Z").unwrap()
}

fn end() -> DateTime<Utc> {
    start() + Duration::days(3 * 365)
}

/// A business in Berlin with a yearly birthday rule and a "30 days before the
/// contract ends, at 10:00" rule.
fn business() -> Crm {
    let mut crm = Crm::new(ReplicaId::new(1).unwrap(), CrmOptions::default()).unwrap();
    let now = start().to_rfc3339();
    let setup = [
        (
            "system",
            json!({"type": "create_user", "name": "Olga", "role": "admin"}),
        ),
        (
            ADMIN,
            json!({"type": "set_calendar", "time_zone": "Europe/Berlin",
            "working_days": ["mon", "tue", "wed", "thu", "fri"], "hours": [{"from": "09:00", "to": "18:00"}]}),
        ),
        (
            ADMIN,
            json!({"type": "define_field", "entity": "contact", "key": "birthday", "label": "Birthday", "kind": "date"}),
        ),
        (
            ADMIN,
            json!({"type": "define_field", "entity": "deal", "key": "contract_end", "label": "Contract ends", "kind": "date"}),
        ),
        (
            ADMIN,
            json!({"type": "create_pipeline", "name": "Service", "stages": [{"name": "Active"}, {"name": "Renewed", "kind": "won"}]}),
        ),
        (
            ADMIN,
            json!({"type": "define_rules", "rules": [
            {"key": "birthday", "when": {"type": "date_reached", "record": "contact", "field": "custom.birthday", "yearly": true},
             "then": [{"type": "notify", "to": "owner", "text": "Birthday"}]},
            {"key": "renewal", "when": {"type": "date_reached", "record": "deal", "field": "custom.contract_end", "days": -30, "at": "10:00"},
             "then": [{"type": "notify", "to": "owner", "text": "Renewal"}]}]}),
        ),
    ];
    for (actor, command) in setup {
        crm.execute_json(actor, &now, &command.to_string()).unwrap();
    }
    crm
}

#[derive(Clone, Debug)]
enum Op {
    /// A client with a birthday (`leap`: 29 February).
    Client { day: u16, leap: bool },
    /// A contract ending `in_days` from now.
    Contract { in_days: u16 },
    /// A client's birthday or a contract's end changed.
    Edit { record: u8, day: u16 },
    /// Nothing but time passing.
    Wait,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (0u16..366, any::<bool>()).prop_map(|(day, leap)| Op::Client { day, leap }),
        2 => (0u16..500).prop_map(|in_days| Op::Contract { in_days }),
        1 => (any::<u8>(), 0u16..700).prop_map(|(record, day)| Op::Edit { record, day }),
        2 => Just(Op::Wait),
    ]
}

fn birthday(day: u16, leap: bool) -> NaiveDate {
    if leap {
        NaiveDate::from_ymd_opt(1992, 2, 29).unwrap()
    } else {
        NaiveDate::from_ymd_opt(1985, 1, 1).unwrap() + Duration::days(day.into())
    }
}

fn command(crm: &Crm, now: DateTime<Utc>, op: &Op) -> Option<Value> {
    let state = crm.state();
    let records: Vec<AnyId> = state
        .contacts()
        .keys()
        .map(|id| AnyId::from(*id))
        .chain(state.deals().keys().map(|id| AnyId::from(*id)))
        .collect();
    Some(match op {
        Op::Client { day, leap } => json!({"type": "create_contact", "name": "Client",
            "custom": {"birthday": birthday(*day, *leap)}}),
        Op::Contract { in_days } => json!({"type": "create_deal", "title": "Contract",
            "custom": {"contract_end": (now + Duration::days((*in_days).into())).date_naive()}}),
        Op::Edit { record, day } => {
            let id = *records.get(*record as usize % records.len().max(1))?;
            match id {
                AnyId::ContactId(_) => json!({"type": "update_contact", "id": id,
                    "patch": {"custom": {"birthday": birthday(*day, day % 5 == 0)}}}),
                _ => json!({"type": "update_deal", "id": id,
                    "patch": {"custom": {"contract_end": (now + Duration::days((*day).into())).date_naive()}}}),
            }
        }
        Op::Wait => return None,
    })
}

/// Runs the ops `gaps` hours apart, ticking every `tick_hours` in between (0: never),
/// then ticks once at the end (or after the last op, if later); returns that time too.
fn run(ops: &[(u16, Op)], tick_hours: i64) -> (Crm, DateTime<Utc>) {
    let mut crm = business();
    let mut now = start();
    for (gap, op) in ops {
        let next = now + Duration::hours((*gap).into());
        if tick_hours > 0 {
            while now + Duration::hours(tick_hours) < next {
                now += Duration::hours(tick_hours);
                crm.tick(now).unwrap();
            }
        }
        now = next;
        if let Some(command) = command(&crm, now, op) {
            crm.execute_json(ADMIN, &now.to_rfc3339(), &command.to_string())
                .unwrap_or_else(|err| panic!("{command}: {err}"));
        }
    }
    let last = now.max(end());
    crm.tick(last).unwrap();
    (crm, last)
}

/// The `date_reached` events: (rule, record) → [(occurrence, recorded at)].
type Fired = BTreeMap<(String, AnyId), Vec<(NaiveDate, DateTime<Utc>)>>;

fn fired(crm: &Crm) -> Fired {
    let mut fired: BTreeMap<_, Vec<_>> = BTreeMap::new();
    for envelope in crm.events_since(1).unwrap() {
        if let Event::DateReached { rule, record, date } = envelope.event {
            fired
                .entry((rule, record))
                .or_default()
                .push((date, envelope.at));
        }
    }
    fired
}

/// Berlin local time on a day, as UTC.
fn local(date: NaiveDate, hour: u32) -> DateTime<Utc> {
    Berlin
        .from_local_datetime(&date.and_hms_opt(hour, 0, 0).unwrap())
        .earliest()
        .unwrap()
        .with_timezone(&Utc)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn each_occurrence_fires_once_on_time_and_none_is_lost(
        ops in prop::collection::vec((0u16..2_000, op()), 1..25),
        tick_hours in prop_oneof![Just(0i64), 1i64..200],
    ) {
        let (crm, last) = run(&ops, tick_hours);
        for ((rule, record), occurrences) in fired(&crm) {
            // Never twice, always forward.
            for pair in occurrences.windows(2) {
                prop_assert!(pair[0].0 < pair[1].0, "{rule} {record}: {occurrences:?}");
            }
            // Each at its own local time: 09:00 on the anniversary, 10:00 thirty days
            // before a contract's end.
            for (date, at) in &occurrences {
                let expected = match rule.as_str() {
                    "birthday" => local(*date, 9),
                    _ => local(*date - Duration::days(30), 10),
                };
                prop_assert_eq!(*at, expected, "{} {}", rule, record);
                if rule == "birthday" {
                    prop_assert!(date.month() != 2 || date.day() != 29 || date.leap_year());
                }
            }
        }
        // Not lost: a client never edited fires for every anniversary from the one after
        // it was created to the end.
        let edited: Vec<AnyId> = crm.events_since(1).unwrap().into_iter()
            .filter(|e| matches!(e.event, Event::ContactUpdated { .. }))
            .flat_map(|e| e.event.records())
            .collect();
        let fired = fired(&crm);
        for contact in crm.state().contacts().values().filter(|c| !edited.contains(&AnyId::from(c.id))) {
            let Some(FieldValue::Date(born)) = contact.fields.custom.get("birthday") else { continue };
            let expected = (2027..=2031)
                .filter_map(|year| born.with_year(year).or_else(|| NaiveDate::from_ymd_opt(year, 2, 28)))
                .filter(|day| local(*day, 9) >= contact.created_at && local(*day, 9) <= last)
                .count();
            let got = fired.get(&("birthday".to_string(), contact.id.into())).map_or(0, Vec::len);
            prop_assert_eq!(got, expected, "{} born {}", contact.id, born);
        }
        prop_assert_eq!(crm.projections(), &Projections::build(crm.state()));
    }

    /// Ticking every hour or only at the end gives the same journal.
    #[test]
    fn tick_granularity_changes_nothing(ops in prop::collection::vec((0u16..2_000, op()), 1..15)) {
        let (hourly, _) = run(&ops, 1);
        let (once, _) = run(&ops, 0);
        let fired_hourly = fired(&hourly);
        prop_assert_eq!(&fired_hourly, &fired(&once));
        let replayed = Crm::replay(ReplicaId::new(1).unwrap(), CrmOptions::default(),
            once.events_since(1).unwrap()).unwrap();
        prop_assert_eq!(
            serde_json::to_string(replayed.state()).unwrap(),
            serde_json::to_string(once.state()).unwrap()
        );
    }
}

/// The harness reaches what the properties check: birthdays (one on 29 February)
/// and contract ends fire.
#[test]
fn the_harness_fires_birthdays_and_renewals() {
    let ops = [
        (
            1,
            Op::Client {
                day: 40,
                leap: false,
            },
        ),
        (1, Op::Client { day: 0, leap: true }),
        (1, Op::Contract { in_days: 100 }),
        (24 * 400, Op::Wait),
    ];
    let (crm, _) = run(&ops, 0);
    let fired = fired(&crm);
    let count = |rule: &str| {
        fired
            .iter()
            .filter(|((r, _), _)| r == rule)
            .map(|(_, v)| v.len())
            .sum::<usize>()
    };
    assert_eq!(count("birthday"), 2 * 3, "{fired:?}");
    assert_eq!(count("renewal"), 1, "{fired:?}");
}
