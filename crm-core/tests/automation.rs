//! Property tests of automation over random timelines on the window shop's rules
//! (the top-level examples/window_shop/setup.json): (a) the same timeline gives byte-identical
//! events on every run, (b) ticking every few minutes or once at the end gives the
//! same state, journal and outbox, (c) no trigger sets off a rule twice, no task
//! goes overdue twice for one due time (however it is rescheduled, snoozed or
//! reopened) nor misses one, no quiet spell or delayed rule fires twice — and replay
//! equals the live state.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use crm_core::*;
use proptest::prelude::*;
use serde_json::{json, Value};

const SETUP: &str = include_str!("../../examples/window_shop/setup.json");

fn start() -> DateTime<Utc> {
    parse_now("2026-11-27T06:00:00Z").unwrap()
}

/// The window shop, configured, with a rotting and a delayed rule added so idle and
/// delay timers run too.
fn shop() -> Crm {
    let mut crm = Crm::new(ReplicaId::new(1).unwrap(), CrmOptions::default()).unwrap();
    let config: Value = serde_json::from_str(SETUP).unwrap();
    for step in config["setup"].as_array().unwrap() {
        let mut command = step["command"].clone();
        if command["type"] == "define_rules" {
            let rules = command["rules"].as_array_mut().unwrap();
            rules.push(json!({
                "key": "rotting", "when": {"type": "deal_rotting", "after": "2d"},
                "then": [{"type": "notify", "to": "owner", "text": "{{ deal.title }} is quiet"}]
            }));
            rules.push(json!({
                "key": "call-soon", "when": {"type": "task_due_soon", "before": "10m", "kind": "call"},
                "then": [{"type": "notify", "to": "assignee", "text": "Soon: {{ task.title }}"}]
            }));
            rules.push(json!({
                "key": "due-today", "when": {"type": "task_due_soon", "before": "2h", "working": true},
                "then": [{"type": "notify", "to": "assignee", "text": "Today: {{ task.title }}"}]
            }));
            rules.push(json!({
                "key": "still-clarifying", "when": {"type": "stage_entered", "stage": "Clarify"},
                "delay": "3h", "if": {"field": "deal.stage_name", "eq": "Clarify"},
                "then": [{"type": "escalate", "text": "{{ deal.title }} is still being clarified"}]
            }));
        }
        let command: Command = command.to_string().parse().unwrap();
        crm.execute(
            step["actor"].as_str().unwrap().parse().unwrap(),
            start(),
            &command,
        )
        .unwrap();
    }
    crm
}

/// One thing that happens in the shop, `minutes` after the previous one. Indexes pick
/// among what exists when it runs, so every generated timeline is meaningful.
#[derive(Clone, Debug)]
enum Op {
    WebRequest,
    CompleteTask {
        task: u8,
        reached: bool,
    },
    SetVisit {
        deal: u8,
        in_hours: u8,
    },
    MoveDeal {
        deal: u8,
        stage: u8,
    },
    Pay {
        deal: u8,
        cents: u32,
    },
    Note {
        deal: u8,
    },
    /// A new due time `minutes` from now (before now when negative).
    Reschedule {
        task: u8,
        minutes: i16,
    },
    Snooze {
        task: u8,
        minutes: u16,
        working: bool,
    },
    Reopen {
        task: u8,
    },
    /// Archives the deal (restores it when archived), or deletes it.
    PutAway {
        deal: u8,
        delete: bool,
    },
    /// A repeating task for the admin: every `interval` days, weeks (on the weekdays of
    /// `weekdays`' bits) or months, days off as `days_off` picks, `count` times.
    Repeating {
        every: u8,
        interval: u8,
        weekdays: u8,
        days_off: u8,
        count: u8,
        due_in: u16,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => Just(Op::WebRequest),
        3 => (any::<u8>(), any::<bool>()).prop_map(|(task, reached)| Op::CompleteTask { task, reached }),
        2 => (any::<u8>(), 1u8..72).prop_map(|(deal, in_hours)| Op::SetVisit { deal, in_hours }),
        2 => (any::<u8>(), any::<u8>()).prop_map(|(deal, stage)| Op::MoveDeal { deal, stage }),
        1 => (any::<u8>(), 1u32..20_000_000).prop_map(|(deal, cents)| Op::Pay { deal, cents }),
        1 => any::<u8>().prop_map(|deal| Op::Note { deal }),
        2 => (any::<u8>(), -600i16..600).prop_map(|(task, minutes)| Op::Reschedule { task, minutes }),
        1 => (any::<u8>(), 1u16..900, any::<bool>()).prop_map(|(task, minutes, working)| Op::Snooze { task, minutes, working }),
        1 => any::<u8>().prop_map(|task| Op::Reopen { task }),
        1 => (any::<u8>(), any::<bool>()).prop_map(|(deal, delete)| Op::PutAway { deal, delete }),
        1 => (0u8..3, 1u8..4, any::<u8>(), 0u8..4, 0u8..6, 1u16..3000).prop_map(
            |(every, interval, weekdays, days_off, count, due_in)| Op::Repeating { every, interval, weekdays, days_off, count, due_in }
        ),
    ]
}

fn timeline() -> impl Strategy<Value = Vec<(u32, Op)>> {
    prop::collection::vec((0u32..900, op()), 1..25)
}

fn pick<T: Copy>(items: &[T], index: u8) -> Option<T> {
    (!items.is_empty()).then(|| items[index as usize % items.len()])
}

/// The command an op stands for in the current state, as (actor, command JSON).
fn command(crm: &Crm, now: DateTime<Utc>, op: &Op) -> Vec<(String, Value)> {
    let state = crm.state();
    let deals: Vec<DealId> = state.deals().keys().copied().collect();
    let open_tasks: Vec<TaskId> = state
        .tasks()
        .values()
        .filter(|t| t.status == TaskStatus::Open)
        .map(|t| t.id)
        .collect();
    let closed_tasks: Vec<TaskId> = state
        .tasks()
        .values()
        .filter(|t| t.status != TaskStatus::Open)
        .map(|t| t.id)
        .collect();
    let assignee = |task: TaskId| state.tasks()[&task].assignee.to_string();
    let owner = |deal: DealId| state.deals()[&deal].owner.to_string();
    match op {
        // Three commands, each naming what the one before created: see `run`.
        Op::WebRequest => Vec::new(),
        Op::CompleteTask { task, reached } => pick(&open_tasks, *task)
            .map(|id| {
                let task = &state.tasks()[&id];
                let outcome = if *reached { "reached" } else { "no_answer" };
                vec![(task.assignee.to_string(), json!({"type": "complete_task", "id": id, "outcome": outcome,
                    "fields": if task.kind == "measurement" { json!({"width_mm": 1000}) } else { json!({}) }}))]
            })
            .unwrap_or_default(),
        Op::SetVisit { deal, in_hours } => pick(&deals, *deal)
            .map(|id| {
                let visit = now + Duration::hours(i64::from(*in_hours));
                vec![(owner(id), json!({"type": "update_deal", "id": id,
                    "patch": {"custom": {"visit_at": visit, "install_at": visit}}}))]
            })
            .unwrap_or_default(),
        Op::MoveDeal { deal, stage } => pick(&deals, *deal)
            .map(|id| {
                let pipeline = &state.pipelines()[&state.deals()[&id].pipeline];
                let stage = &pipeline.stages[*stage as usize % pipeline.stages.len()];
                let reason = (stage.kind == StageKind::Lost).then_some("No answer");
                vec![(owner(id), json!({"type": "move_deal", "id": id, "stage": stage.id, "lost_reason": reason}))]
            })
            .unwrap_or_default(),
        Op::Pay { deal, cents } => pick(&deals, *deal)
            .map(|id| {
                let amount = Decimal::new(i64::from(*cents), 2);
                vec![(owner(id), json!({"type": "record_payment", "deal": id,
                    "amount": {"amount": amount.to_string(), "currency": "RUB"}}))]
            })
            .unwrap_or_default(),
        Op::Note { deal } => pick(&deals, *deal)
            .map(|id| vec![(owner(id), json!({"type": "log_activity", "kind": "note", "link": id, "body": "called"}))])
            .unwrap_or_default(),
        Op::PutAway { deal, delete } => pick(&deals, *deal)
            .map(|id| {
                let verb = match (delete, state.deals()[&id].archived_at) {
                    (true, _) => "delete_record",
                    (false, None) => "archive_record",
                    (false, Some(_)) => "restore_record",
                };
                vec![(owner(id), json!({"type": verb, "id": id}))]
            })
            .unwrap_or_default(),
        Op::Reschedule { task, minutes } => pick(&open_tasks, *task)
            .map(|id| {
                let due = now + Duration::minutes(i64::from(*minutes));
                vec![(assignee(id), json!({"type": "reschedule_task", "id": id, "due": due}))]
            })
            .unwrap_or_default(),
        Op::Snooze { task, minutes, working } => pick(&open_tasks, *task)
            .map(|id| vec![(assignee(id), json!({"type": "snooze_task", "id": id, "by": format!("{minutes}m"), "working": working}))])
            .unwrap_or_default(),
        Op::Repeating { every, interval, weekdays, days_off, count, due_in } => {
            let every = ["day", "week", "month"][*every as usize % 3];
            let days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
            let on: Vec<&str> = if every == "week" {
                days.iter().enumerate().filter(|(i, _)| weekdays & (1 << i) != 0).map(|(_, d)| *d).collect()
            } else {
                Vec::new()
            };
            let days_off = ["next", "previous", "skip", "keep"][*days_off as usize % 4];
            let mut repeat = json!({"every": every, "interval": interval, "on": on, "days_off": days_off});
            if *count > 0 {
                repeat["count"] = json!(count);
            }
            let due = now + Duration::minutes(i64::from(*due_in));
            vec![("usr-1-1".into(), json!({"type": "create_task", "title": "Every so often", "due": due, "repeat": repeat}))]
        }
        Op::Reopen { task } => pick(&closed_tasks, *task)
            .map(|id| vec![(assignee(id), json!({"type": "reopen_task", "id": id}))])
            .unwrap_or_default(),
    }
}

/// A request from the website: a contact, a deal for it, the form as an activity.
fn web_request(crm: &mut Crm, now: DateTime<Utc>) {
    let n = crm.state().contacts().len() + 1;
    let mut created = None;
    for command in [
        json!({"type": "create_contact", "name": format!("Client {n}"), "address": "Main st", "owner": "usr-1-1"}),
        json!({"type": "create_deal", "title": format!("Order {n}"), "contact": created, "owner": "usr-1-1",
            "amount": {"amount": "1000.00", "currency": "RUB"}}),
        json!({"type": "log_activity", "kind": "web_form", "direction": "inbound", "link": created}),
    ] {
        let mut command = command;
        if let Some(id) = created {
            for key in ["contact", "link"] {
                if command.get(key).is_some() {
                    command[key] = json!(id);
                }
            }
        }
        let command: Command = command.to_string().parse().unwrap();
        created = crm.execute(Actor::System, now, &command).unwrap().created;
    }
}

/// Runs a timeline; with `tick_every`, the host also ticks at that interval between
/// commands. Refused commands (a move to the current stage, say) are part of life.
fn run(ops: &[(u32, Op)], tick_every: Option<i64>) -> (Crm, DateTime<Utc>) {
    let mut crm = shop();
    let mut now = start() + Duration::hours(1);
    let mut last_tick = now;
    for (minutes, op) in ops {
        let next = now + Duration::minutes(i64::from(*minutes));
        if let Some(every) = tick_every {
            while last_tick + Duration::minutes(every) <= next {
                last_tick += Duration::minutes(every);
                crm.tick(last_tick).unwrap();
            }
        }
        now = next;
        if let Op::WebRequest = op {
            web_request(&mut crm, now);
        }
        for (actor, command) in command(&crm, now, op) {
            let command: Command = command.to_string().parse().unwrap();
            let _ = crm.execute(actor.parse().unwrap(), now, &command);
        }
    }
    let end = now + Duration::days(10);
    crm.tick(end).unwrap();
    (crm, end)
}

fn journal_json(crm: &Crm) -> String {
    serde_json::to_string(&crm.events_since(1).unwrap()).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// (a) Deterministic: two runs of one timeline write the same bytes; replay agrees,
    /// and the timers kept in step event by event (idle, delayed, overdue, SLA) are
    /// those built from the final state.
    #[test]
    fn the_same_timeline_gives_the_same_events(ops in timeline()) {
        let (first, _) = run(&ops, None);
        let (second, _) = run(&ops, None);
        prop_assert_eq!(journal_json(&first), journal_json(&second));
        let replayed = Crm::replay(ReplicaId::new(1).unwrap(), CrmOptions::default(), first.events_since(1).unwrap()).unwrap();
        prop_assert_eq!(replayed.state(), first.state());
        prop_assert_eq!(first.projections(), &Projections::build(first.state()));
    }

    /// (b) Ticking every few minutes or only at the end: the same journal, state and outbox.
    #[test]
    fn tick_granularity_does_not_matter(ops in timeline(), every in 1i64..240) {
        let (rare, _) = run(&ops, None);
        let (frequent, _) = run(&ops, Some(every));
        prop_assert_eq!(journal_json(&rare), journal_json(&frequent));
        prop_assert_eq!(rare.state(), frequent.state());
        prop_assert_eq!(rare.drain_outbox(), frequent.drain_outbox());
        prop_assert_eq!(rare.next_wakeup(), frequent.next_wakeup());
    }

    /// (c) No trigger sets off a rule twice; every rule event names a rule that fired
    /// for its trigger; timers fire once.
    #[test]
    fn no_trigger_fires_a_rule_twice(ops in timeline()) {
        let (crm, end) = run(&ops, Some(37));
        let events = crm.events_since(1).unwrap();
        let mut fired: BTreeMap<(u64, String), usize> = BTreeMap::new();
        // Each task's last overdue due time, and whether it was given a new due time since.
        let mut overdue: BTreeMap<TaskId, (DateTime<Utc>, bool)> = BTreeMap::new();
        // The same for each reminder rule and task.
        let mut reminded: BTreeMap<(String, TaskId), (DateTime<Utc>, bool)> = BTreeMap::new();
        let mut dues: BTreeMap<TaskId, Option<DateTime<Utc>>> = BTreeMap::new();
        let mut idle = BTreeSet::new();
        let mut due = BTreeSet::new();
        for envelope in &events {
            match &envelope.event {
                Event::RulesEvaluated { trigger, fired: rules, scheduled, .. } => {
                    for rule in rules.iter().chain(scheduled) {
                        *fired.entry((*trigger, rule.clone())).or_default() += 1;
                    }
                }
                // Rescheduling never makes an escalation fire twice: a task goes overdue
                // again only after a new due time, and not for the one it last went
                // overdue at.
                Event::TaskOverdue { id, due } => {
                    if let Some((last, rescheduled)) = overdue.get(id) {
                        prop_assert!(*rescheduled && last != due, "{id} overdue twice for {due}");
                    }
                    prop_assert!(*due <= envelope.at, "{id} overdue at {} before its due {due}", envelope.at);
                    overdue.insert(*id, (*due, false));
                }
                Event::TaskDueSoon { id, rule, due } => {
                    let key = (rule.clone(), *id);
                    if let Some((last, rescheduled)) = reminded.get(&key) {
                        prop_assert!(*rescheduled && last != due, "{rule} reminded {id} twice of {due}");
                    }
                    prop_assert!(envelope.at < *due, "{id} reminded at {} of {due}", envelope.at);
                    reminded.insert(key, (*due, false));
                }
                // A repeating task's follower comes after the due time its predecessor
                // had when it was completed.
                Event::TaskCreated { task } => {
                    if let Some(previous) = task.repeat.as_ref().and_then(|series| series.previous) {
                        let before = dues.get(&previous).copied().flatten();
                        prop_assert!(task.due > before, "{} due {:?}, after {previous} due {before:?}", task.id, task.due);
                    }
                    dues.insert(task.id, task.due);
                }
                Event::TaskRescheduled { id, to, .. } => {
                    dues.insert(*id, *to);
                    if let Some((_, rescheduled)) = overdue.get_mut(id) {
                        *rescheduled = true;
                    }
                    for ((_, task), (_, rescheduled)) in reminded.iter_mut() {
                        if task == id {
                            *rescheduled = true;
                        }
                    }
                }
                Event::RuleDue { scheduled, .. } => prop_assert!(due.insert(*scheduled), "delay {scheduled} fired twice"),
                Event::RecordIdle { rule, record, since } => {
                    prop_assert!(idle.insert((rule.clone(), *record, *since)), "{rule} fired twice for {record}");
                }
                _ => {}
            }
        }
        prop_assert!(fired.values().all(|count| *count == 1), "{fired:?}");
        for envelope in events.iter().filter(|e| e.rule.is_some()) {
            let key = (envelope.caused_by.unwrap_or(0), envelope.rule.clone().unwrap_or_default());
            prop_assert!(fired.contains_key(&key), "seq {} names {key:?}, which was not set off", envelope.seq);
        }
        prop_assert!(crm.next_wakeup().is_none_or(|at| at > end), "a timer due by {end} did not fire");
        // A repeating task is followed once, by the next occurrence, later.
        let tasks = crm.state().tasks();
        let mut followed = BTreeSet::new();
        for task in tasks.values() {
            let Some(previous) = task.repeat.as_ref().and_then(|series| series.previous) else {
                continue;
            };
            prop_assert!(followed.insert(previous), "{previous} followed twice");
            let before = &tasks[&previous];
            let (series, earlier) = (task.repeat.as_ref().unwrap(), before.repeat.as_ref().unwrap());
            prop_assert_eq!(series.occurrence, earlier.occurrence + 1);
            prop_assert_eq!(earlier.next, Some(task.id));
            prop_assert!(series.rule.count.is_none_or(|count| series.occurrence <= count));
        }
        // Nor is one lost: every open task past its due time went overdue for it.
        for task in crm.state().tasks().values() {
            if task.is_overdue(end) {
                prop_assert_eq!(task.overdue_at, task.due, "{} never went overdue for its due time", task.id);
                prop_assert_eq!(overdue.get(&task.id).map(|(due, _)| Some(*due)), Some(task.due));
            }
        }
    }
}

#[test]
fn the_window_shop_rules_react_in_this_harness() {
    // Guards the properties against passing vacuously: a web request must set rules off.
    let (crm, _) = run(
        &[
            (0, Op::WebRequest),
            (10, Op::MoveDeal { deal: 0, stage: 1 }),
        ],
        None,
    );
    let events = crm.events_since(1).unwrap();
    let kinds: Vec<&str> = events.iter().filter_map(|e| e.rule.as_deref()).collect();
    assert!(kinds.contains(&"assign-web-lead"), "{kinds:?}");
    assert!(kinds.contains(&"escalate-late-call"), "{kinds:?}");
    assert!(kinds.contains(&"call-soon"), "{kinds:?}");
    let delayed = events
        .iter()
        .filter(|e| e.rule.as_deref() == Some("still-clarifying"));
    assert_eq!(
        delayed.count(),
        2,
        "scheduled, then the escalation when the wait is over"
    );
    assert!(!crm.drain_outbox().is_empty());
    // Rescheduled after going overdue, the call is reminded and goes overdue once more.
    let (crm, _) = run(
        &[
            (0, Op::WebRequest),
            (
                60,
                Op::Reschedule {
                    task: 0,
                    minutes: 120,
                },
            ),
        ],
        None,
    );
    let events = crm.events_since(1).unwrap();
    let count = |rule: &str| {
        events
            .iter()
            .filter(|e| e.rule.as_deref() == Some(rule))
            .count()
    };
    assert_eq!(
        count("escalate-late-call"),
        2,
        "before and after the new due time"
    );
    assert_eq!(count("call-soon"), 2);
    // A repeating task completed again and again: three tasks in all (its count).
    let repeating = Op::Repeating {
        every: 1,
        interval: 1,
        weekdays: 0b1001,
        days_off: 0,
        count: 3,
        due_in: 60,
    };
    let complete = || Op::CompleteTask {
        task: 0,
        reached: true,
    };
    let (crm, _) = run(
        &[
            (0, repeating),
            (30, complete()),
            (30, complete()),
            (30, complete()),
            (30, complete()),
        ],
        None,
    );
    let series: Vec<&Task> = crm
        .state()
        .tasks()
        .values()
        .filter(|t| t.repeat.is_some())
        .collect();
    assert_eq!(series.len(), 3);
    assert!(series.iter().all(|t| t.status == TaskStatus::Done));
}
