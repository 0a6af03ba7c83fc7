//! Replicas on one authority (docs/sync.md): commands typed offline run locally at
//! once, the authority runs each once as the connection's user, rules fire there
//! once, and every replica converges on the canonical log without losing anything.

use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;
use serde_json::{json, Value};

use crm_core::*;

const OLGA: &str = "usr-1-1";
const PETR: &str = "usr-1-2";
const ANTON: &str = "usr-1-3";

fn t(minutes: i64) -> DateTime<Utc> {
    "2026-12-01T08:00:00Z".parse::<DateTime<Utc>>().unwrap() + Duration::minutes(minutes)
}

fn user(id: &str) -> UserId {
    id.parse().unwrap()
}

fn command(value: Value) -> Command {
    serde_json::from_value(value).unwrap()
}

/// The office: admins Olga and Petr, manager Anton, a pipeline, and the rule "when a
/// measurement is done, the manager prices the job".
fn office() -> Crm {
    let mut crm = Crm::new(ReplicaId::new(1).unwrap(), CrmOptions::default()).unwrap();
    let setup = [
        (
            "system",
            json!({"type": "create_user", "name": "Olga", "role": "admin"}),
        ),
        (
            OLGA,
            json!({"type": "create_user", "name": "Petr", "role": "admin"}),
        ),
        (
            OLGA,
            json!({"type": "create_user", "name": "Anton", "role": "manager"}),
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

fn pull_all(office: &Crm, replica: &mut Replica, as_user: &str) {
    loop {
        let batch = office.pull(user(as_user), replica.cursor(), None).unwrap();
        replica.receive_pull(&batch).unwrap();
        if !batch.more {
            break;
        }
    }
}

fn push_all(
    office: &mut Crm,
    replica: &mut Replica,
    as_user: &str,
    now: DateTime<Utc>,
) -> PushResult {
    let result = office
        .push(user(as_user), now, &replica.push_batch(100))
        .unwrap();
    replica.receive_push_result(&result).unwrap();
    result
}

fn same_state(a: &Crm, b: &Crm) {
    assert_eq!(
        serde_json::to_value(a.state()).unwrap(),
        serde_json::to_value(b.state()).unwrap()
    );
    assert_eq!(a.projections(), b.projections());
}

#[test]
fn work_typed_offline_runs_once_at_the_office_and_its_rule_fires_once() {
    let mut office = office();
    let mut laptop = Replica::new(ReplicaId::new(7).unwrap(), CrmOptions::default()).unwrap();
    pull_all(&office, &mut laptop, PETR);
    same_state(laptop.view(), &office);

    // Offline: a client, a deal, a measurement task done, a call logged.
    let contact = laptop
        .execute(
            user(PETR),
            t(10),
            &command(
                json!({"type": "create_contact", "name": "Anna", "phones": ["+49 30 1234567"]}),
            ),
        )
        .unwrap()
        .created
        .unwrap();
    assert_eq!(contact.to_string(), "con-7-1", "the replica's own ID space");
    let deal = laptop
        .execute(
            user(PETR),
            t(11),
            &command(
                json!({"type": "create_deal", "title": "Windows", "contact": contact.to_string()}),
            ),
        )
        .unwrap()
        .created
        .unwrap();
    let task = laptop
        .execute(user(PETR), t(12), &command(json!({"type": "create_task", "title": "Measure", "kind": "measure", "link": deal.to_string()})))
        .unwrap()
        .created
        .unwrap();
    laptop
        .execute(
            user(PETR),
            t(40),
            &command(
                json!({"type": "complete_task", "id": task.to_string(), "outcome": "measured"}),
            ),
        )
        .unwrap();
    laptop
        .execute(user(PETR), t(41), &command(json!({"type": "log_activity", "kind": "call", "link": deal.to_string(), "direction": "outbound"})))
        .unwrap();
    assert_eq!(laptop.pending().len(), 5);
    assert!(
        laptop
            .view()
            .state()
            .tasks()
            .values()
            .all(|t| t.title != "Price the job"),
        "rules run at the office only"
    );

    // Back online: push (twice — the second delivery changes nothing), then pull.
    let first = push_all(&mut office, &mut laptop, PETR, t(60));
    assert!(
        first
            .results
            .iter()
            .all(|r| matches!(r, CommandResult::Accepted { .. })),
        "{first:?}"
    );
    let seq = office.state().last_seq();
    let again = office
        .push(user(PETR), t(61), &laptop.push_batch(100))
        .unwrap();
    assert_eq!(again, first);
    assert_eq!(
        office.state().last_seq(),
        seq,
        "a batch delivered twice records nothing"
    );
    let pricing: Vec<_> = office
        .state()
        .tasks()
        .values()
        .filter(|t| t.title == "Price the job")
        .collect();
    assert_eq!(pricing.len(), 1, "the rule fired once");
    assert_eq!(
        office
            .state()
            .contacts()
            .keys()
            .map(|id| id.to_string())
            .collect::<Vec<_>>(),
        ["con-7-1"]
    );

    pull_all(&office, &mut laptop, PETR);
    assert!(laptop.pending().is_empty());
    same_state(laptop.view(), &office);
    assert_eq!(
        laptop
            .view()
            .state()
            .tasks()
            .values()
            .filter(|t| t.title == "Price the job")
            .count(),
        1
    );
}

#[test]
fn a_refused_command_is_kept_for_its_user_until_retried_or_discarded() {
    let mut office = office();
    let mut laptop = Replica::new(ReplicaId::new(7).unwrap(), CrmOptions::default()).unwrap();
    let created: Value = serde_json::from_str(
        &office
            .execute_json(
                OLGA,
                "2026-12-01T07:30:00Z",
                &json!({"type": "create_contact", "name": "Boris"}).to_string(),
            )
            .unwrap(),
    )
    .unwrap();
    pull_all(&office, &mut laptop, PETR);
    let boris = created["created"].as_str().unwrap();
    laptop
        .execute(
            user(PETR),
            t(10),
            &command(json!({"type": "update_contact", "id": boris, "patch": {"position": "CEO"}})),
        )
        .unwrap();
    laptop
        .execute(
            user(PETR),
            t(11),
            &command(json!({"type": "create_contact", "name": "Clara"})),
        )
        .unwrap();
    // Meanwhile at the office, Boris is deleted.
    office
        .execute_json(
            OLGA,
            "2026-12-01T08:20:00Z",
            &json!({"type": "delete_record", "id": boris}).to_string(),
        )
        .unwrap();
    let result = push_all(&mut office, &mut laptop, PETR, t(30));
    assert!(
        matches!(&result.results[0], CommandResult::Rejected { code, .. } if code == "not_found"),
        "{result:?}"
    );
    assert!(matches!(result.results[1], CommandResult::Accepted { .. }));
    assert_eq!(laptop.rejected().len(), 1);
    assert_eq!(laptop.rejected()[0].code, "not_found");
    assert_eq!(laptop.pending().len(), 1, "Clara waits for the pull");
    pull_all(&office, &mut laptop, PETR);
    assert!(laptop.pending().is_empty());
    same_state(laptop.view(), &office);
    // The rejection is in the journal too: a replica that lost the push answer learns
    // it from the pull.
    assert!(office
        .events_since(1)
        .unwrap()
        .iter()
        .any(|e| matches!(&e.event, Event::CommandRejected { seq: 1, .. })));
    let kept = laptop.discard(1).unwrap();
    assert_eq!(
        kept.command.command,
        command(json!({"type": "update_contact", "id": boris, "patch": {"position": "CEO"}}))
    );
    assert!(laptop.rejected().is_empty());
    assert_eq!(laptop.discard(1).unwrap_err().code(), "not_found");
}

#[test]
fn the_connections_user_runs_the_commands_and_bad_pushes_are_typed_refusals() {
    let mut office = office();
    let mut phone = Replica::new(ReplicaId::new(9).unwrap(), CrmOptions::default()).unwrap();
    pull_all(&office, &mut phone, OLGA);
    // Typed by an admin on the phone, pushed on Anton's connection: it runs as Anton.
    phone
        .execute(
            user(OLGA),
            t(5),
            &command(json!({"type": "define_rules", "rules": []})),
        )
        .unwrap();
    let result = office
        .push(user(ANTON), t(6), &phone.push_batch(10))
        .unwrap();
    assert!(
        matches!(&result.results[0], CommandResult::Rejected { code, .. } if code == "permission_denied"),
        "{result:?}"
    );
    assert_eq!(office.state().rules().len(), 1, "nothing changed");

    let mut batch = phone.push_batch(10);
    batch.v = 2;
    assert_eq!(
        office.push(user(OLGA), t(7), &batch).unwrap_err().code(),
        "validation"
    );
    let mut batch = phone.push_batch(10);
    batch.replica = ReplicaId::new(1).unwrap();
    assert_eq!(
        office.push(user(OLGA), t(7), &batch).unwrap_err().code(),
        "validation"
    );
    let mut huge = phone.push_batch(10);
    huge.commands = vec![huge.commands[0].clone(); MAX_PUSH_COMMANDS + 1];
    assert_eq!(
        office.push(user(OLGA), t(7), &huge).unwrap_err().code(),
        "too_large"
    );
    assert_eq!(
        office
            .push(user("usr-1-99"), t(7), &phone.push_batch(10))
            .unwrap_err()
            .code(),
        "not_found"
    );
    let seq = office.state().last_seq();
    let late = office
        .push(user(OLGA), t(-60), &phone.push_batch(10))
        .unwrap_err();
    assert_eq!(
        (late.code(), office.state().last_seq()),
        ("validation", seq),
        "the authority's clock went back: {late}"
    );

    // A batch that overtook an earlier one waits; IDs may not be handed out twice.
    let mut other = Replica::new(ReplicaId::new(5).unwrap(), CrmOptions::default()).unwrap();
    pull_all(&office, &mut other, OLGA);
    other
        .execute(
            user(OLGA),
            t(8),
            &command(json!({"type": "create_contact", "name": "A"})),
        )
        .unwrap();
    other
        .execute(
            user(OLGA),
            t(8),
            &command(json!({"type": "create_contact", "name": "B"})),
        )
        .unwrap();
    let mut second_only = other.push_batch(10);
    second_only.commands.remove(0);
    let result = office.push(user(OLGA), t(9), &second_only).unwrap();
    assert_eq!(result.results, vec![CommandResult::Deferred { seq: 2 }]);
    let mut reused = other.push_batch(10);
    reused.commands[1].first_id = 1;
    let result = office.push(user(OLGA), t(9), &reused).unwrap();
    assert!(matches!(result.results[0], CommandResult::Accepted { .. }));
    assert!(
        matches!(&result.results[1], CommandResult::Rejected { code, .. } if code == "conflict"),
        "{result:?}"
    );
    // Commands that rewrite history are not taken from a replica.
    let refused = other
        .execute(
            user(OLGA),
            t(10),
            &command(json!({"type": "erase_contact", "id": "con-5-1"})),
        )
        .unwrap_err();
    assert_eq!(refused.code(), "validation");
    // Only a user who sees everything pulls the whole journal; anyone else gets
    // their view (tests/sync_views.rs), and a cursor past the end is refused.
    let anton = office.pull(user(ANTON), 0, None).unwrap();
    assert!(anton.events.is_empty() && anton.view.is_some());
    let past = office.state().last_seq() + 1;
    assert_eq!(
        office.pull(user(ANTON), past, None).unwrap_err().code(),
        "validation"
    );
    // A replica of the whole journal does not take a view, nor the other way round.
    let mut whole = Replica::new(ReplicaId::new(9).unwrap(), CrmOptions::default()).unwrap();
    whole
        .receive_pull(&office.pull(user(OLGA), 0, None).unwrap())
        .unwrap();
    assert_eq!(whole.receive_pull(&anton).unwrap_err().code(), "validation");
    let mut view = Replica::new(ReplicaId::new(12).unwrap(), CrmOptions::default()).unwrap();
    view.receive_pull(&anton).unwrap();
    assert_eq!(
        view.receive_pull(&office.pull(user(OLGA), 0, None).unwrap())
            .unwrap_err()
            .code(),
        "validation"
    );
    // A view replica types as its user only.
    assert_eq!(
        view.execute(
            user(OLGA),
            t(11),
            &command(json!({"type": "create_contact", "name": "X"}))
        )
        .unwrap_err()
        .code(),
        "permission_denied"
    );
}

#[test]
fn a_task_completed_on_two_phones_is_completed_once_and_stage_moves_apply_in_order() {
    let mut office = office();
    office
        .execute_json(OLGA, "2026-12-01T07:30:00Z", &json!({"type": "define_field", "entity": "task", "key": "area", "label": "Area", "kind": "decimal"}).to_string())
        .unwrap();
    let run = |office: &mut Crm, value: Value| {
        office
            .execute(Actor::User(user(OLGA)), t(1), &command(value))
            .unwrap()
            .created
            .unwrap()
            .to_string()
    };
    let contact = run(
        &mut office,
        json!({"type": "create_contact", "name": "Anna"}),
    );
    let deal = run(
        &mut office,
        json!({"type": "create_deal", "title": "Windows", "contact": contact}),
    );
    let task = run(
        &mut office,
        json!({"type": "create_task", "title": "Measure", "kind": "measure", "link": deal}),
    );
    let mut phone = Replica::new(ReplicaId::new(7).unwrap(), CrmOptions::default()).unwrap();
    let mut tab = Replica::new(ReplicaId::new(8).unwrap(), CrmOptions::default()).unwrap();
    pull_all(&office, &mut phone, PETR);
    pull_all(&office, &mut tab, PETR);
    // Both complete the measurement offline, with different figures; both move the
    // deal, to different stages and then to the same one.
    phone
        .execute(user(PETR), t(10), &command(json!({"type": "complete_task", "id": task, "outcome": "measured", "fields": {"area": "4.32"}})))
        .unwrap();
    tab.execute(user(PETR), t(12), &command(json!({"type": "complete_task", "id": task, "outcome": "measured", "fields": {"area": "4.5"}})))
        .unwrap();
    phone
        .execute(
            user(PETR),
            t(13),
            &command(json!({"type": "move_deal", "id": deal, "stage": "stg-1-6"})),
        )
        .unwrap();
    tab.execute(
        user(PETR),
        t(14),
        &command(json!({"type": "move_deal", "id": deal, "stage": "stg-1-7"})),
    )
    .unwrap();
    tab.execute(
        user(PETR),
        t(15),
        &command(json!({"type": "move_deal", "id": deal, "stage": "stg-1-6"})),
    )
    .unwrap();
    for replica in [&mut phone, &mut tab] {
        let result = push_all(&mut office, replica, PETR, t(30));
        assert!(
            result
                .results
                .iter()
                .all(|r| matches!(r, CommandResult::Accepted { .. })),
            "nothing to refuse: {result:?}"
        );
    }
    let state = office.state();
    let done = &state.tasks()[&task.parse().unwrap()];
    assert_eq!(
        serde_json::to_value(&done.fields).unwrap(),
        json!({"area": {"decimal": "4.32"}}),
        "the first completion stands"
    );
    assert_eq!(
        state
            .tasks()
            .values()
            .filter(|t| t.title == "Price the job")
            .count(),
        1,
        "the rule fired once"
    );
    let timeline = office
        .timeline(Actor::User(user(OLGA)), task.parse().unwrap(), None)
        .unwrap();
    let conflicts: Vec<Value> = timeline
        .iter()
        .filter_map(|e| match &e.event {
            Event::FieldConflict { field, value, .. } => Some(json!([field, value])),
            _ => None,
        })
        .collect();
    assert_eq!(
        conflicts,
        [json!(["custom.area", {"decimal": "4.5"}])],
        "the second figure is on the timeline"
    );
    // Phone to Measured, tab to Done: the office's order; the tab's move back to
    // Measured then applies too — every move is in the history.
    let moved = &state.deals()[&deal.parse().unwrap()];
    let stages: Vec<String> = moved
        .stage_history
        .iter()
        .map(|c| c.to.to_string())
        .collect();
    assert_eq!(stages, ["stg-1-5", "stg-1-6", "stg-1-7", "stg-1-6"]);
    pull_all(&office, &mut phone, PETR);
    pull_all(&office, &mut tab, PETR);
    same_state(phone.view(), &office);
    same_state(tab.view(), &office);
}

/// An authority's journal whose disk fills up after a number of appends, until freed.
struct FillingDisk {
    inner: MemoryJournal,
    appends_left: std::rc::Rc<std::cell::Cell<usize>>,
}

impl Journal for FillingDisk {
    fn append(&mut self, batch: &[EventEnvelope]) -> Result<(), CrmError> {
        let left = self.appends_left.get();
        if left == 0 {
            return Err(CrmError::Storage {
                reason: "database or disk is full".into(),
            });
        }
        self.appends_left.set(left - 1);
        self.inner.append(batch)
    }
    fn read_from(&self, from: u64) -> Result<Vec<EventEnvelope>, CrmError> {
        self.inner.read_from(from)
    }
    fn scan_from(
        &self,
        from: u64,
        visit: &mut dyn FnMut(&EventEnvelope) -> Result<std::ops::ControlFlow<()>, CrmError>,
    ) -> Result<(), CrmError> {
        self.inner.scan_from(from, visit)
    }
    fn get(&self, seq: u64) -> Result<Option<EventEnvelope>, CrmError> {
        self.inner.get(seq)
    }
    fn last_seq(&self) -> u64 {
        self.inner.last_seq()
    }
}

#[test]
fn a_push_cut_off_midway_is_pushed_again_and_each_command_runs_once() {
    let setup = office();
    let appends_left = std::rc::Rc::new(std::cell::Cell::new(usize::MAX));
    let journal = FillingDisk {
        inner: MemoryJournal::from_events(setup.events_since(1).unwrap()).unwrap(),
        appends_left: appends_left.clone(),
    };
    let mut office = Crm::open(ReplicaId::new(1).unwrap(), CrmOptions::default(), journal).unwrap();
    let mut phone = Replica::new(ReplicaId::new(7).unwrap(), CrmOptions::default()).unwrap();
    phone
        .receive_pull(&office.pull(user(PETR), 0, None).unwrap())
        .unwrap();
    for n in 0..4 {
        phone
            .execute(
                user(PETR),
                t(10 + n),
                &command(json!({"type": "create_contact", "name": format!("Client {n}")})),
            )
            .unwrap();
    }
    // The disk fills after two commands: the push fails whole, no answer reaches the
    // phone (as if the connection dropped), the first two stand at the office.
    appends_left.set(2);
    let batch = phone.push_batch(100);
    let cut = office.push(user(PETR), t(30), &batch).unwrap_err();
    assert_eq!(cut.code(), "storage");
    assert_eq!(office.state().contacts().len(), 2);
    assert_eq!(phone.pending().len(), 4, "nothing is lost on the phone");
    // A pull before any answer: the two decided leave the queue, the view is whole.
    phone
        .receive_pull(&office.pull(user(PETR), phone.cursor(), None).unwrap())
        .unwrap();
    assert_eq!(phone.pending().len(), 2);
    assert_eq!(phone.view().state().contacts().len(), 4);
    // Disk freed: the same batch again — the first two answered from the record, the
    // others run now; every command ran once.
    appends_left.set(usize::MAX);
    let result = office.push(user(PETR), t(31), &batch).unwrap();
    assert!(
        result
            .results
            .iter()
            .all(|r| matches!(r, CommandResult::Accepted { .. })),
        "{result:?}"
    );
    assert_eq!(office.state().contacts().len(), 4);
    phone.receive_push_result(&result).unwrap();
    phone
        .receive_pull(&office.pull(user(PETR), phone.cursor(), None).unwrap())
        .unwrap();
    assert!(phone.pending().is_empty());
    assert_eq!(
        serde_json::to_value(phone.view().state()).unwrap(),
        serde_json::to_value(office.state()).unwrap()
    );
}

#[test]
fn concurrent_edits_keep_different_fields_and_the_later_edit_of_the_same_one() {
    let mut office = office();
    let created: Value = serde_json::from_str(
        &office
            .execute_json(
                OLGA,
                "2026-12-01T07:30:00Z",
                &json!({"type": "create_contact", "name": "Anna"}).to_string(),
            )
            .unwrap(),
    )
    .unwrap();
    let anna = created["created"].as_str().unwrap().to_string();
    let mut phone = Replica::new(ReplicaId::new(7).unwrap(), CrmOptions::default()).unwrap();
    pull_all(&office, &mut phone, PETR);
    let edit =
        |patch: Value| command(json!({"type": "update_contact", "id": anna, "patch": patch}));
    // Offline at 08:10: a new name and a position.
    phone
        .execute(
            user(PETR),
            t(10),
            &edit(json!({"name": "Anna P.", "position": "Buyer"})),
        )
        .unwrap();
    // At the office at 08:20: the name again, and the address.
    let at = t(20).to_rfc3339();
    office
        .execute_json(OLGA, &at, &json!({"type": "update_contact", "id": anna, "patch": {"name": "Anna Petrova", "address": "Lenina 5"}}).to_string())
        .unwrap();
    // At 08:30 on the phone, typed later than the office's edit: the phone's wins.
    phone
        .execute(user(PETR), t(30), &edit(json!({"address": "Lenina 7"})))
        .unwrap();
    let result = push_all(&mut office, &mut phone, PETR, t(60));
    assert!(
        result
            .results
            .iter()
            .all(|r| matches!(r, CommandResult::Accepted { .. })),
        "{result:?}"
    );
    let fields = &office.state().contacts()[&anna.parse::<ContactId>().unwrap()].fields;
    assert_eq!(
        fields.name, "Anna Petrova",
        "the later edit of the name (the office's) stays"
    );
    assert_eq!(
        fields.position.as_deref(),
        Some("Buyer"),
        "a field only the phone edited"
    );
    assert_eq!(
        fields.address.as_deref(),
        Some("Lenina 7"),
        "the phone's later edit"
    );
    // The lost value is on the contact's timeline, with both clock readings.
    let conflicts: Vec<Event> = office
        .events_since(1)
        .unwrap()
        .into_iter()
        .filter(|e| matches!(e.event, Event::FieldConflict { .. }))
        .map(|e| e.event)
        .collect();
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    let Event::FieldConflict {
        field,
        value,
        hlc,
        kept,
        ..
    } = &conflicts[0]
    else {
        unreachable!()
    };
    assert_eq!((field.as_str(), value), ("name", &json!("Anna P.")));
    assert!(kept > hlc);
    let timeline: Value = serde_json::from_str(
        &office
            .query_json(
                OLGA,
                &t(61).to_rfc3339(),
                &json!({"type": "timeline", "id": anna}).to_string(),
            )
            .unwrap(),
    )
    .unwrap();
    assert!(
        timeline.to_string().contains("field_conflict"),
        "{timeline}"
    );
    pull_all(&office, &mut phone, PETR);
    same_state(phone.view(), &office);

    // A phone whose clock runs an hour slow has seen the office's edit: what its user
    // types afterwards is later, and wins.
    let mut slow = Replica::new(ReplicaId::new(8).unwrap(), CrmOptions::default()).unwrap();
    pull_all(&office, &mut slow, PETR);
    slow.execute(
        user(PETR),
        t(65) - Duration::hours(1),
        &edit(json!({"name": "Anna Sokolova"})),
    )
    .unwrap();
    push_all(&mut office, &mut slow, PETR, t(70));
    assert_eq!(
        office.state().contacts()[&anna.parse::<ContactId>().unwrap()]
            .fields
            .name,
        "Anna Sokolova"
    );
}

#[test]
fn work_on_a_contact_merged_away_follows_it_and_work_on_an_erased_person_is_refused() {
    let mut office = office();
    let create = |office: &mut Crm, name: &str| -> String {
        let outcome: Value = serde_json::from_str(
            &office
                .execute_json(
                    OLGA,
                    "2026-12-01T07:30:00Z",
                    &json!({"type": "create_contact", "name": name}).to_string(),
                )
                .unwrap(),
        )
        .unwrap();
        outcome["created"].as_str().unwrap().to_string()
    };
    let (anna, anna_again, boris) = (
        create(&mut office, "Anna"),
        create(&mut office, "Anna P."),
        create(&mut office, "Boris"),
    );
    let mut phone = Replica::new(ReplicaId::new(7).unwrap(), CrmOptions::default()).unwrap();
    pull_all(&office, &mut phone, PETR);
    phone
        .execute(user(PETR), t(10), &command(json!({"type": "log_activity", "kind": "call", "link": anna_again, "direction": "inbound"})))
        .unwrap();
    phone
        .execute(
            user(PETR),
            t(11),
            &command(json!({"type": "update_contact", "id": boris, "patch": {"position": "CEO"}})),
        )
        .unwrap();
    // Meanwhile the office merges the two Annas and erases Boris at his request.
    let at = t(20).to_rfc3339();
    office
        .execute_json(
            OLGA,
            &at,
            &json!({"type": "merge_contacts", "into": anna, "from": anna_again}).to_string(),
        )
        .unwrap();
    office
        .execute_json(
            OLGA,
            &at,
            &json!({"type": "erase_contact", "id": boris}).to_string(),
        )
        .unwrap();
    let result = push_all(&mut office, &mut phone, PETR, t(30));
    assert!(
        matches!(result.results[0], CommandResult::Accepted { .. }),
        "{result:?}"
    );
    assert!(
        matches!(&result.results[1], CommandResult::Rejected { code, message, .. } if code == "conflict" && message.contains("erased")),
        "{result:?}"
    );
    let call = office.state().activities().values().next().unwrap().clone();
    assert_eq!(
        call.link.to_string(),
        anna,
        "the call is on the contact Anna was merged into"
    );
    let boris_now = &office.state().contacts()[&boris.parse::<ContactId>().unwrap()];
    assert_eq!(
        boris_now.fields.position, None,
        "nothing typed offline brings his data back"
    );
    assert_eq!(phone.rejected().len(), 1);
    pull_all(&office, &mut phone, PETR);
    same_state(phone.view(), &office);
}

#[test]
fn commands_on_records_the_user_may_not_see_and_tampered_sequences_change_nothing() {
    let mut office = office();
    // Olga's own contact; Anton (a manager without a department) may not read it.
    let secret: Value = serde_json::from_str(
        &office
            .execute_json(
                OLGA,
                "2026-12-01T07:30:00Z",
                &json!({"type": "create_contact", "name": "Secret client"}).to_string(),
            )
            .unwrap(),
    )
    .unwrap();
    let secret = secret["created"].as_str().unwrap().to_string();
    let mut phone = Replica::new(ReplicaId::new(7).unwrap(), CrmOptions::default()).unwrap();
    pull_all(&office, &mut phone, PETR);
    phone
        .execute(
            user(PETR),
            t(10),
            &command(json!({"type": "update_contact", "id": secret, "patch": {"position": "CEO"}})),
        )
        .unwrap();
    // Pushed on Anton's connection: he may not edit (or see) it.
    let result = office
        .push(user(ANTON), t(20), &phone.push_batch(10))
        .unwrap();
    assert!(
        matches!(&result.results[0], CommandResult::Rejected { code, .. } if code == "permission_denied"),
        "{result:?}"
    );
    let contact = &office.state().contacts()[&secret.parse::<ContactId>().unwrap()];
    assert_eq!(contact.fields.position, None);
    // Tampered sequences: one that skips ahead, one that was never sent (0).
    let seq = office.state().last_seq();
    for tampered in [99, 0] {
        let mut batch = phone.push_batch(10);
        batch.replica = ReplicaId::new(8).unwrap();
        batch.commands[0].seq = tampered;
        let result = office.push(user(PETR), t(21), &batch).unwrap();
        assert_eq!(
            result.results,
            vec![CommandResult::Deferred { seq: tampered }]
        );
    }
    assert_eq!(office.state().last_seq(), seq, "nothing recorded");
}

#[test]
fn a_refused_command_retried_on_the_right_connection_runs_once() {
    let mut office = office();
    let mut phone = Replica::new(ReplicaId::new(7).unwrap(), CrmOptions::default()).unwrap();
    pull_all(&office, &mut phone, PETR);
    let rules = json!({"type": "define_rules", "rules": []});
    phone
        .execute(user(PETR), t(10), &command(rules.clone()))
        .unwrap();
    // Sent on Anton's connection by mistake: refused and kept.
    let refused = office
        .push(user(ANTON), t(11), &phone.push_batch(10))
        .unwrap();
    phone.receive_push_result(&refused).unwrap();
    assert_eq!(phone.rejected().len(), 1);
    // The user retries: a new pending command with the same text, sent on the right
    // connection, runs once.
    phone.retry(1, t(12)).unwrap();
    assert!(phone.rejected().is_empty());
    let pending: Vec<(u64, Command)> = phone
        .pending()
        .iter()
        .map(|p| (p.command.seq, p.command.command.clone()))
        .collect();
    assert_eq!(pending, vec![(2, command(rules))]);
    assert_eq!(phone.retry(1, t(12)).unwrap_err().code(), "not_found");
    push_all(&mut office, &mut phone, PETR, t(13));
    pull_all(&office, &mut phone, PETR);
    assert!(phone.pending().is_empty());
    assert!(office.state().rules().is_empty(), "the retried command ran");
    same_state(phone.view(), &office);
}

#[derive(Clone, Debug)]
enum Step {
    /// A replica's user types a command (which one, and about what).
    Type {
        replica: usize,
        what: u8,
        pick: u8,
    },
    /// The office's own staff change something.
    Office {
        what: u8,
        pick: u8,
    },
    Push {
        replica: usize,
        deliver_twice: bool,
        lose_answer: bool,
    },
    Pull {
        replica: usize,
    },
    /// The replica process dies: what it had stored survives, nothing else.
    Crash {
        replica: usize,
    },
    /// The replica stores its log and canonical events.
    Save {
        replica: usize,
    },
}

fn step(replicas: usize) -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (0..replicas, any::<u8>(), any::<u8>()).prop_map(|(replica, what, pick)| Step::Type { replica, what, pick }),
        2 => (any::<u8>(), any::<u8>()).prop_map(|(what, pick)| Step::Office { what, pick }),
        2 => (0..replicas, any::<bool>(), any::<bool>()).prop_map(|(replica, deliver_twice, lose_answer)| Step::Push { replica, deliver_twice, lose_answer }),
        2 => (0..replicas).prop_map(|replica| Step::Pull { replica }),
        1 => (0..replicas).prop_map(|replica| Step::Crash { replica }),
        2 => (0..replicas).prop_map(|replica| Step::Save { replica }),
    ]
}

/// A command about the records the CRM holds now (some of them refused: a deleted
/// contact, a stage move back).
fn typed(crm: &Crm, what: u8, pick: u8) -> Value {
    let contacts: Vec<String> = crm
        .state()
        .contacts()
        .keys()
        .map(|id| id.to_string())
        .collect();
    let deals: Vec<String> = crm
        .state()
        .deals()
        .keys()
        .map(|id| id.to_string())
        .collect();
    let one = |ids: &[String], missing: &str| {
        ids.get(pick as usize % ids.len().max(1))
            .cloned()
            .unwrap_or_else(|| missing.into())
    };
    match what % 7 {
        0 | 6 => json!({"type": "create_contact", "name": format!("Client {pick}")}),
        1 => {
            json!({"type": "update_contact", "id": one(&contacts, "con-1-999"), "patch": {"position": format!("P{pick}")}})
        }
        2 => {
            json!({"type": "create_deal", "title": format!("Deal {pick}"), "contact": one(&contacts, "con-1-999")})
        }
        3 => {
            let stage = ["stg-1-5", "stg-1-6", "stg-1-7"][pick as usize % 3];
            json!({"type": "move_deal", "id": one(&deals, "deal-1-999"), "stage": stage})
        }
        4 => {
            json!({"type": "log_activity", "kind": "note", "link": one(&contacts, "con-1-999"), "body": format!("note {pick}")})
        }
        _ => json!({"type": "delete_record", "id": one(&contacts, "con-1-999")}),
    }
}

struct Device {
    live: Replica,
    saved: (Vec<EventEnvelope>, ReplicaLog),
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// One authority, two or three replicas, random work and random deliveries:
    /// duplicated pushes, lost answers, pulls at any time, crashes that lose what was
    /// not stored. After everyone has pushed and pulled: every replica's view is the
    /// office's state, nothing is pending, and every command typed and stored was
    /// decided exactly once.
    #[test]
    fn replicas_converge_and_every_command_is_decided_once(
        count in 2usize..4,
        steps in prop::collection::vec(step(3), 1..60),
    ) {
        let mut office = office();
        let mut devices: Vec<Device> = (0..count)
            .map(|index| {
                let mut live = Replica::new(ReplicaId::new(10 + index as u64).unwrap(), CrmOptions::default()).unwrap();
                pull_all(&office, &mut live, PETR);
                let saved = (live.canonical().events_since(1).unwrap(), live.log().clone());
                Device { live, saved }
            })
            .collect();
        let mut minute = 0i64;
        for step in steps {
            minute += 1;
            let now = t(minute);
            match step {
                Step::Type { replica, what, pick } => {
                    let device = &mut devices[replica % count];
                    let value = typed(device.live.view(), what, pick);
                    let _ = device.live.execute(user(PETR), now, &command(value));
                }
                Step::Office { what, pick } => {
                    let value = typed(&office, what, pick);
                    let _ = office.execute_json(OLGA, &now.to_rfc3339(), &value.to_string());
                }
                Step::Push { replica, deliver_twice, lose_answer } => {
                    // A host stores what it sends before it sends it (docs/sync.md).
                    let device = &mut devices[replica % count];
                    device.saved = (device.live.canonical().events_since(1).unwrap(), device.live.log().clone());
                    let batch = device.live.push_batch(100);
                    let result = office.push(user(PETR), now, &batch).unwrap();
                    if deliver_twice {
                        let again = office.push(user(PETR), now, &batch).unwrap();
                        prop_assert_eq!(&again, &result);
                    }
                    if !lose_answer {
                        device.live.receive_push_result(&result).unwrap();
                    }
                }
                Step::Pull { replica } => pull_all(&office, &mut devices[replica % count].live, PETR),
                Step::Crash { replica } => {
                    let device = &mut devices[replica % count];
                    let (events, log) = device.saved.clone();
                    device.live = Replica::restore(CrmOptions::default(), events, log).unwrap();
                }
                Step::Save { replica } => {
                    let device = &mut devices[replica % count];
                    device.saved = (device.live.canonical().events_since(1).unwrap(), device.live.log().clone());
                }
            }
        }
        // The same pending commands on the same canonical log give the same state: a
        // replica rebuilt from what it stores sees what the live one sees.
        for device in &devices {
            let copy = Replica::restore(
                CrmOptions::default(),
                device.live.canonical().events_since(1).unwrap(),
                device.live.log().clone(),
            )
            .unwrap();
            prop_assert_eq!(
                serde_json::to_value(copy.view().state()).unwrap(),
                serde_json::to_value(device.live.view().state()).unwrap()
            );
        }
        // Quiescence: everyone pushes what is pending, then everyone pulls.
        for device in &mut devices {
            minute += 1;
            pull_all(&office, &mut device.live, PETR);
            let result = office.push(user(PETR), t(minute), &device.live.push_batch(1000)).unwrap();
            prop_assert!(result.results.iter().all(|r| !matches!(r, CommandResult::Deferred { .. })), "{:?}", result);
            device.live.receive_push_result(&result).unwrap();
        }
        for device in &mut devices {
            pull_all(&office, &mut device.live, PETR);
            prop_assert!(device.live.pending().is_empty());
        }
        for device in &devices {
            prop_assert_eq!(
                serde_json::to_value(device.live.view().state()).unwrap(),
                serde_json::to_value(office.state()).unwrap()
            );
            // Every command the device still knows of was decided exactly once.
            let log = device.live.log();
            let decided: Vec<u64> = office
                .events_since(1)
                .unwrap()
                .iter()
                .filter_map(|e| match &e.event {
                    Event::CommandSynced { replica, seq } | Event::CommandRejected { replica, seq, .. }
                        if *replica == log.replica => Some(*seq),
                    _ => None,
                })
                .collect();
            let mut unique = decided.clone();
            unique.dedup();
            prop_assert_eq!(&unique, &decided, "a command decided twice");
            prop_assert_eq!(decided, (1..log.next_seq).collect::<Vec<_>>());
            for rejected in device.live.rejected() {
                prop_assert!(!rejected.message.is_empty());
            }
        }
    }
}
