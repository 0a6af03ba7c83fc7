//! Replicas of one user's view (docs/sync.md, "Partial replication"): a measurer's
//! phone holds their jobs and those clients; records move in when they become
//! visible and out when they stop being; the replica always holds the office's state
//! restricted to its user's view, and never a record outside it.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;
use serde_json::{json, Value};

use crm_core::*;

const OLGA: &str = "usr-1-1";
const HANNA: &str = "usr-1-3";
const ANTON: &str = "usr-1-4";
const BORIS: &str = "usr-1-5";
const SERGEY: &str = "usr-1-6";
const VERA: &str = "usr-1-7";

fn t(minutes: i64) -> DateTime<Utc> {
    "2026-12-01T08:00:00Z".parse::<DateTime<Utc>>().unwrap() + Duration::minutes(minutes)
}

fn user(id: &str) -> UserId {
    id.parse().unwrap()
}

fn command(value: Value) -> Command {
    serde_json::from_value(value).unwrap()
}

/// The office: admin Olga; the Sales department with its head Hanna and manager
/// Anton; manager Boris outside it; measurers Sergey and Vera; a pipeline; and the
/// rule "when a measurement is done, Anton prices the job".
fn office() -> Crm {
    let mut crm = Crm::new(ReplicaId::new(1).unwrap(), CrmOptions::default()).unwrap();
    let setup = [
        (
            "system",
            json!({"type": "create_user", "name": "Olga", "role": "admin"}),
        ),
        (OLGA, json!({"type": "create_department", "name": "Sales"})),
        (
            OLGA,
            json!({"type": "create_user", "name": "Hanna", "role": "head_of_department", "department": "dep-1-2"}),
        ),
        (
            OLGA,
            json!({"type": "create_user", "name": "Anton", "role": "manager", "department": "dep-1-2"}),
        ),
        (
            OLGA,
            json!({"type": "create_user", "name": "Boris", "role": "manager"}),
        ),
        (
            OLGA,
            json!({"type": "create_user", "name": "Sergey", "role": "specialist"}),
        ),
        (
            OLGA,
            json!({"type": "create_user", "name": "Vera", "role": "specialist"}),
        ),
        (
            OLGA,
            json!({"type": "create_pipeline", "name": "Windows", "stages": [
            {"name": "New"}, {"name": "Measured"}, {"name": "Done", "kind": "won"}]}),
        ),
        (
            OLGA,
            json!({"type": "define_rules", "rules": [{"key": "price", "when": {"type": "task_completed", "kind": "measure"},
            "then": [{"type": "create_task", "title": "Price the job", "kind": "price", "assignee": {"user": ANTON}, "due_in": "1d"}]}]}),
        ),
    ];
    for (actor, command) in setup {
        crm.execute_json(actor, "2026-12-01T07:00:00Z", &command.to_string())
            .unwrap_or_else(|err| panic!("{command}: {err}"));
    }
    crm
}

fn run(office: &mut Crm, actor: &str, minute: i64, value: Value) -> Option<AnyId> {
    office
        .execute(Actor::User(user(actor)), t(minute), &command(value.clone()))
        .unwrap_or_else(|err| panic!("{value}: {err}"))
        .created
}

/// Pulls until caught up; every record a batch carries is one the user may read at
/// the office now.
fn pull(office: &Crm, replica: &mut Replica, as_user: &str) -> PullBatch {
    let batch = office.pull(user(as_user), replica.cursor(), None).unwrap();
    let view = batch.view.as_ref().expect("a view");
    let allowed = office.state().restricted_to(user(as_user));
    for id in record_ids(&view.records) {
        assert!(
            record_ids(&allowed).contains(&id),
            "{id} sent to {as_user}, who may not see it"
        );
    }
    replica.receive_pull(&batch).unwrap();
    batch
}

fn record_ids(state: &State) -> BTreeSet<String> {
    let ids = state.contacts().keys().map(|id| id.to_string());
    ids.chain(state.companies().keys().map(|id| id.to_string()))
        .chain(state.deals().keys().map(|id| id.to_string()))
        .chain(state.tasks().keys().map(|id| id.to_string()))
        .chain(state.activities().keys().map(|id| id.to_string()))
        .chain(state.documents().keys().map(|id| id.to_string()))
        .collect()
}

/// The replica holds the office's state restricted to its user's view.
fn holds_its_view(office: &Crm, replica: &Replica, as_user: &str) {
    assert_eq!(
        serde_json::to_value(replica.canonical().state()).unwrap(),
        serde_json::to_value(office.state().restricted_to(user(as_user))).unwrap()
    );
}

fn ids(state: &State) -> Vec<String> {
    record_ids(state).into_iter().collect()
}

#[test]
fn a_measurers_phone_holds_their_jobs_and_those_clients_and_nothing_else() {
    let mut office = office();
    let anna = run(
        &mut office,
        ANTON,
        1,
        json!({"type": "create_contact", "name": "Anna", "phones": ["+49 30 1234567"]}),
    )
    .unwrap();
    let boris_client = run(
        &mut office,
        BORIS,
        2,
        json!({"type": "create_contact", "name": "Bruno"}),
    )
    .unwrap();
    let anna_deal = run(
        &mut office,
        ANTON,
        3,
        json!({"type": "create_deal", "title": "Anna's windows", "contact": anna.to_string()}),
    )
    .unwrap();
    let bruno_deal = run(&mut office, BORIS, 4, json!({"type": "create_deal", "title": "Bruno's door", "contact": boris_client.to_string()})).unwrap();
    let note = run(&mut office, BORIS, 5, json!({"type": "log_activity", "kind": "note", "link": boris_client.to_string(), "body": "Gate code 1234"})).unwrap();
    let measure = run(&mut office, ANTON, 6, json!({"type": "create_task", "title": "Measure", "kind": "measure", "assignee": SERGEY, "link": anna_deal.to_string()})).unwrap();

    let mut phone = Replica::new(ReplicaId::new(7).unwrap(), CrmOptions::default()).unwrap();
    pull(&office, &mut phone, SERGEY);
    holds_its_view(&office, &phone, SERGEY);
    assert_eq!(
        record_ids(phone.canonical().state()),
        BTreeSet::from([anna.to_string(), anna_deal.to_string(), measure.to_string()]),
        "the job, its deal and its client — not Boris's client"
    );
    assert_eq!(
        phone.view().state().users().len(),
        6,
        "reference data is whole"
    );

    // The job goes to Vera: it leaves the phone, and so do the deal and the client.
    run(
        &mut office,
        ANTON,
        10,
        json!({"type": "reassign_task", "id": measure.to_string(), "assignee": VERA}),
    );
    pull(&office, &mut phone, SERGEY);
    holds_its_view(&office, &phone, SERGEY);
    assert!(
        ids(phone.canonical().state()).is_empty(),
        "{:?}",
        ids(phone.canonical().state())
    );

    // A job on Bruno's door moves in: the deal, the client, and the note written on
    // the client before (which no event since the cursor names).
    let door = run(&mut office, BORIS, 20, json!({"type": "create_task", "title": "Measure the door", "kind": "measure", "assignee": SERGEY, "link": bruno_deal.to_string()})).unwrap();
    pull(&office, &mut phone, SERGEY);
    holds_its_view(&office, &phone, SERGEY);
    assert_eq!(
        record_ids(phone.canonical().state()),
        BTreeSet::from([
            boris_client.to_string(),
            bruno_deal.to_string(),
            door.to_string(),
            note.to_string()
        ])
    );

    // Offline: the measurement done with its figures, a call logged; then pushed.
    phone
        .execute(
            user(SERGEY),
            t(40),
            &command(
                json!({"type": "complete_task", "id": door.to_string(), "outcome": "measured"}),
            ),
        )
        .unwrap();
    phone
        .execute(user(SERGEY), t(41), &command(json!({"type": "log_activity", "kind": "call", "link": bruno_deal.to_string(), "direction": "outbound"})))
        .unwrap();
    let result = office
        .push(user(SERGEY), t(60), &phone.push_batch(100))
        .unwrap();
    assert!(
        result
            .results
            .iter()
            .all(|r| matches!(r, CommandResult::Accepted { .. })),
        "{result:?}"
    );
    phone.receive_push_result(&result).unwrap();
    assert_eq!(phone.pending().len(), 2, "kept until pulled");
    let pricing: Vec<_> = office
        .state()
        .tasks()
        .values()
        .filter(|t| t.title == "Price the job")
        .collect();
    assert_eq!(pricing.len(), 1, "the rule fired once, at the office");

    pull(&office, &mut phone, SERGEY);
    holds_its_view(&office, &phone, SERGEY);
    assert!(phone.pending().is_empty());
    assert!(
        phone
            .view()
            .state()
            .tasks()
            .values()
            .all(|t| t.title != "Price the job"),
        "Anton's pricing task is not the measurer's to see"
    );
    assert_eq!(
        serde_json::to_value(phone.view().state()).unwrap(),
        serde_json::to_value(phone.canonical().state()).unwrap()
    );

    // Anton's phone sees the pricing task; Hanna's (his head) sees Anton's records;
    // Boris's sees his own.
    for (who, replica_id) in [(ANTON, 8), (HANNA, 9), (BORIS, 10)] {
        let mut replica =
            Replica::new(ReplicaId::new(replica_id).unwrap(), CrmOptions::default()).unwrap();
        pull(&office, &mut replica, who);
        holds_its_view(&office, &replica, who);
    }

    // A pull answered twice, and the same pull again, change nothing.
    let batch = office.pull(user(SERGEY), 0, None).unwrap();
    let before = serde_json::to_value(phone.canonical().state()).unwrap();
    phone.receive_pull(&batch).unwrap();
    assert_eq!(
        serde_json::to_value(phone.canonical().state()).unwrap(),
        before
    );
}

#[derive(Clone, Debug)]
enum Step {
    /// A replica's user types a command (which one, and about what).
    Type {
        replica: usize,
        what: u8,
        pick: u8,
        other: u8,
    },
    /// The office changes something: records created, given to others, deleted.
    Office {
        what: u8,
        pick: u8,
        other: u8,
    },
    /// `overtaking`: the batch without its first command arrives first (reordered
    /// deliveries: what it carries waits, `deferred`).
    Push {
        replica: usize,
        deliver_twice: bool,
        lose_answer: bool,
        overtaking: bool,
    },
    /// `stale`: the replica's previous pull answer arrives again, late.
    Pull {
        replica: usize,
        stale: bool,
    },
    /// The replica process dies: what it had stored survives, nothing else.
    Crash {
        replica: usize,
    },
    Save {
        replica: usize,
    },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        5 => (0..4usize, any::<u8>(), any::<u8>(), any::<u8>()).prop_map(|(replica, what, pick, other)| Step::Type { replica, what, pick, other }),
        5 => (any::<u8>(), any::<u8>(), any::<u8>()).prop_map(|(what, pick, other)| Step::Office { what, pick, other }),
        2 => (0..4usize, any::<bool>(), any::<bool>(), any::<bool>()).prop_map(|(replica, deliver_twice, lose_answer, overtaking)| Step::Push { replica, deliver_twice, lose_answer, overtaking }),
        3 => (0..4usize, any::<bool>()).prop_map(|(replica, stale)| Step::Pull { replica, stale }),
        1 => (0..4usize).prop_map(|replica| Step::Crash { replica }),
        2 => (0..4usize).prop_map(|replica| Step::Save { replica }),
    ]
}

/// A command about records `crm` holds (the office's, or what a replica shows its
/// user); some are refused — another user's task, a deleted record, a stage back.
fn typed(crm: &Crm, what: u8, pick: u8, other: u8) -> Value {
    let state = crm.state();
    let one = |ids: Vec<String>, missing: &str| {
        ids.get(pick as usize % ids.len().max(1))
            .cloned()
            .unwrap_or_else(|| missing.into())
    };
    let contact = one(
        state.contacts().keys().map(|id| id.to_string()).collect(),
        "con-1-999",
    );
    let deal = one(
        state.deals().keys().map(|id| id.to_string()).collect(),
        "deal-1-999",
    );
    let task = one(
        state.tasks().keys().map(|id| id.to_string()).collect(),
        "task-1-999",
    );
    let manager = [ANTON, BORIS, HANNA][other as usize % 3];
    let anyone = [SERGEY, VERA, ANTON, BORIS][other as usize % 4];
    let doer = [SERGEY, VERA, ANTON][other as usize % 3];
    let party = [contact.clone(), deal.clone()][other as usize % 2].clone();
    let deletable = [contact.clone(), deal.clone(), task.clone()][other as usize % 3].clone();
    match what % 11 {
        0 => json!({"type": "create_contact", "name": format!("Client {pick}"), "owner": manager}),
        1 => {
            json!({"type": "create_deal", "title": format!("Deal {pick}"), "contact": contact, "owner": manager})
        }
        2 => {
            json!({"type": "create_task", "title": "Measure", "kind": "measure", "assignee": doer, "link": deal})
        }
        3 => json!({"type": "reassign_task", "id": task, "assignee": anyone}),
        4 => {
            json!({"type": "assign_owner", "record": party, "owner": manager})
        }
        5 => {
            json!({"type": "log_activity", "kind": "note", "link": party, "body": format!("note {pick}")})
        }
        6 => {
            json!({"type": "delete_record", "id": deletable})
        }
        7 => json!({"type": "complete_task", "id": task, "outcome": "done"}),
        8 => {
            json!({"type": "update_contact", "id": contact, "patch": {"position": format!("P{pick}")}})
        }
        9 => json!({"type": "log_activity", "kind": "call", "direction": "outbound", "link": deal}),
        _ => {
            let stage = ["stg-1-9", "stg-1-10", "stg-1-11"][other as usize % 3];
            json!({"type": "move_deal", "id": deal, "stage": stage})
        }
    }
}

/// Clients of Anton, Boris and Hanna, deals on three, measurements for Sergey and
/// Vera: every replica starts with something in view and something outside it.
fn seed(office: &mut Crm) {
    let mut minute = -60;
    let mut next = |office: &mut Crm, actor: &str, value: Value| {
        minute += 1;
        run(office, actor, minute, value).unwrap().to_string()
    };
    let clients: Vec<String> = [ANTON, ANTON, BORIS, HANNA]
        .iter()
        .enumerate()
        .map(|(n, owner)| {
            next(
                office,
                OLGA,
                json!({"type": "create_contact", "name": format!("Seed {n}"), "owner": owner}),
            )
        })
        .collect();
    let deals: Vec<String> = clients[..3]
        .iter()
        .zip([ANTON, ANTON, BORIS])
        .map(|(client, owner)| next(office, OLGA, json!({"type": "create_deal", "title": "Seed deal", "contact": client, "owner": owner})))
        .collect();
    next(
        office,
        ANTON,
        json!({"type": "create_task", "title": "Measure", "kind": "measure", "assignee": SERGEY, "link": deals[0]}),
    );
    next(
        office,
        BORIS,
        json!({"type": "create_task", "title": "Measure", "kind": "measure", "assignee": VERA, "link": deals[2]}),
    );
    next(
        office,
        BORIS,
        json!({"type": "log_activity", "kind": "note", "link": clients[2], "body": "Gate code"}),
    );
}

/// The sequences of a replica's commands the office decided, in the order it did.
fn decided(office: &Crm, replica_id: ReplicaId) -> Vec<u64> {
    office
        .events_since(1)
        .unwrap()
        .iter()
        .filter_map(|e| match &e.event {
            Event::CommandSynced { replica, seq } | Event::CommandRejected { replica, seq, .. }
                if *replica == replica_id =>
            {
                Some(*seq)
            }
            _ => None,
        })
        .collect()
}

struct Device {
    who: &'static str,
    live: Replica,
    saved: ReplicaLog,
    /// The last pull answer it received.
    last_pull: Option<PullBatch>,
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// One office and two to four replicas of different users' views (measurers, a
    /// manager, a head of department), random work at the office and on the
    /// replicas, random deliveries (pushes twice, answers lost), pulls at any time,
    /// crashes. Every batch carries only records its user may read then; a replica
    /// rebuilt from what it stored sees what the live one sees; after everyone has
    /// pushed and pulled, every replica holds exactly the office's state restricted
    /// to its user's view, and every command it stored was decided once.
    #[test]
    fn views_converge_on_the_office_restricted_to_each_user(
        count in 2usize..5,
        steps in prop::collection::vec(step(), 1..80),
    ) {
        let mut office = office();
        seed(&mut office);
        let mut devices: Vec<Device> = [SERGEY, ANTON, VERA, HANNA][..count]
            .iter()
            .enumerate()
            .map(|(index, who)| {
                let mut live = Replica::new(ReplicaId::new(10 + index as u64).unwrap(), CrmOptions::default()).unwrap();
                pull(&office, &mut live, who);
                let saved = live.log().clone();
                Device { who, live, saved, last_pull: None }
            })
            .collect();
        let mut minute = 0i64;
        for step in steps {
            minute += 1;
            let now = t(minute);
            match step {
                Step::Type { replica, what, pick, other } => {
                    let device = &mut devices[replica % count];
                    let value = typed(device.live.view(), what, pick, other);
                    let _ = device.live.execute(user(device.who), now, &command(value));
                }
                Step::Office { what, pick, other } => {
                    let value = typed(&office, what, pick, other);
                    let _ = office.execute_json(OLGA, &now.to_rfc3339(), &value.to_string());
                }
                Step::Push { replica, deliver_twice, lose_answer, overtaking } => {
                    let device = &mut devices[replica % count];
                    device.saved = device.live.log().clone();
                    let batch = device.live.push_batch(100);
                    if overtaking && batch.commands.len() > 1 {
                        let mut later = batch.clone();
                        later.commands.remove(0);
                        let first_decided = decided(&office, device.live.log().replica).contains(&batch.commands[0].seq);
                        let waiting = office.push(user(device.who), now, &later).unwrap();
                        if !first_decided {
                            prop_assert!(
                                waiting.results.iter().all(|r| matches!(r, CommandResult::Deferred { .. })),
                                "{:?}", waiting
                            );
                        }
                        device.live.receive_push_result(&waiting).unwrap();
                    }
                    let result = office.push(user(device.who), now, &batch).unwrap();
                    if deliver_twice {
                        let again = office.push(user(device.who), now, &batch).unwrap();
                        prop_assert_eq!(&again, &result);
                    }
                    if !lose_answer {
                        device.live.receive_push_result(&result).unwrap();
                    }
                }
                Step::Pull { replica, stale } => {
                    let device = &mut devices[replica % count];
                    match (stale, &device.last_pull) {
                        (true, Some(old)) => {
                            // Late: ignored, or refused whole when the replica (restored
                            // from what it stored) lacks what came before it.
                            let before = serde_json::to_value(device.live.view().state()).unwrap();
                            if let Err(err) = device.live.receive_pull(old) {
                                prop_assert_eq!(err.code(), "validation");
                                prop_assert_eq!(serde_json::to_value(device.live.view().state()).unwrap(), before);
                            }
                        }
                        _ => device.last_pull = Some(pull(&office, &mut device.live, device.who)),
                    }
                }
                Step::Crash { replica } => {
                    let device = &mut devices[replica % count];
                    device.live = Replica::restore(CrmOptions::default(), Vec::new(), device.saved.clone()).unwrap();
                }
                Step::Save { replica } => {
                    let device = &mut devices[replica % count];
                    device.saved = device.live.log().clone();
                }
            }
        }
        for device in &devices {
            let copy = Replica::restore(CrmOptions::default(), Vec::new(), device.live.log().clone()).unwrap();
            prop_assert_eq!(
                serde_json::to_value(copy.view().state()).unwrap(),
                serde_json::to_value(device.live.view().state()).unwrap()
            );
        }
        for device in &mut devices {
            minute += 1;
            pull(&office, &mut device.live, device.who);
            let result = office.push(user(device.who), t(minute), &device.live.push_batch(1000)).unwrap();
            prop_assert!(result.results.iter().all(|r| !matches!(r, CommandResult::Deferred { .. })), "{:?}", result);
            device.live.receive_push_result(&result).unwrap();
        }
        for device in &mut devices {
            pull(&office, &mut device.live, device.who);
            prop_assert!(device.live.pending().is_empty(), "{:?}", device.live.pending());
        }
        for device in &devices {
            let restricted = serde_json::to_value(office.state().restricted_to(user(device.who))).unwrap();
            prop_assert_eq!(&serde_json::to_value(device.live.canonical().state()).unwrap(), &restricted, "{}", device.who);
            prop_assert_eq!(&serde_json::to_value(device.live.view().state()).unwrap(), &restricted, "{}", device.who);
            let log = device.live.log();
            prop_assert_eq!(decided(&office, log.replica), (1..log.next_seq).collect::<Vec<_>>());
        }
        // The rule fired once for each measurement completed, wherever it was typed.
        let events = office.events_since(1).unwrap();
        let measures: BTreeSet<TaskId> = events
            .iter()
            .filter_map(|e| match &e.event {
                Event::TaskCreated { task } if task.kind == "measure" => Some(task.id),
                _ => None,
            })
            .collect();
        let completed = events
            .iter()
            .filter(|e| matches!(&e.event, Event::TaskCompleted { id, .. } if measures.contains(id)))
            .count();
        let priced = events.iter().filter(|e| e.rule.as_deref() == Some("price") && matches!(e.event, Event::TaskCreated { .. })).count();
        prop_assert_eq!(completed, priced);
    }
}
