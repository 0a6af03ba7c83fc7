//! Behaviour of the engine through its public Rust API.

mod common;

use common::{at, t0, Shop};
use crm_core::*;

fn me(user: UserId) -> Actor {
    Actor::User(user)
}

#[test]
fn a_contact_is_normalised_and_owned_by_its_creator() {
    let mut shop = Shop::new();
    let input = NewContact {
        name: "  Petra Schulz ".into(),
        phones: vec!["030 1234567".into(), "+49 30 1234567".into()],
        emails: vec!["Petra@Example.DE".into()],
        tags: vec!["VIP".into()],
        ..NewContact::default()
    };
    let outcome = shop
        .crm
        .execute(me(shop.anna), t0(), &Command::CreateContact(input))
        .unwrap();
    let id: ContactId = common::created(outcome);
    let contact = &shop.crm.state().contacts()[&id];
    assert_eq!(contact.fields.name, "Petra Schulz");
    assert_eq!(contact.fields.phones, vec!["+49301234567"]);
    assert_eq!(contact.fields.emails, vec!["petra@example.de"]);
    assert_eq!(contact.owner, shop.anna);
    let found = shop
        .crm
        .contacts(
            me(shop.anna),
            &ContactFilter {
                phone: Some("(030) 123-4567".into()),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(
        found.items.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![id]
    );
}

#[test]
fn deals_keep_their_stage_history_and_close_as_won_or_lost() {
    let mut shop = Shop::new();
    let deal = shop.deal(shop.anna, None, "1500.00");
    let stages = shop.stages.clone();
    let move_to = |shop: &mut Shop, stage: StageId, reason: Option<&str>, minutes: i64| {
        let command = Command::MoveDeal(DealMove {
            id: deal,
            stage,
            lost_reason: reason.map(String::from),
        });
        shop.crm.execute(me(shop.anna), at(minutes), &command)
    };
    move_to(&mut shop, stages[1], None, 10).unwrap();
    let err = move_to(&mut shop, stages[4], None, 20).unwrap_err();
    assert_eq!(err.code(), "validation");
    assert!(err.to_string().starts_with("lost_reason:"), "{err}");
    let err = move_to(&mut shop, stages[4], Some("Weather"), 20).unwrap_err();
    assert!(err.to_string().contains("\"Weather\""), "{err}");
    move_to(&mut shop, stages[4], Some("Too expensive"), 30).unwrap();
    let lost = &shop.crm.state().deals()[&deal];
    assert_eq!(
        (lost.status, lost.lost_reason.as_deref(), lost.closed_at),
        (DealStatus::Lost, Some("Too expensive"), Some(at(30)))
    );
    move_to(&mut shop, stages[3], None, 40).unwrap();
    let won = &shop.crm.state().deals()[&deal];
    assert_eq!(
        (won.status, won.lost_reason.as_deref()),
        (DealStatus::Won, None)
    );
    let path: Vec<(Option<StageId>, StageId)> =
        won.stage_history.iter().map(|c| (c.from, c.to)).collect();
    assert_eq!(
        path,
        vec![
            (None, stages[0]),
            (Some(stages[0]), stages[1]),
            (Some(stages[1]), stages[4]),
            (Some(stages[4]), stages[3])
        ]
    );
    assert_eq!(
        move_to(&mut shop, stages[3], None, 50).unwrap_err().code(),
        "conflict"
    );
}

#[test]
fn a_rejected_command_changes_neither_state_nor_journal() {
    let mut shop = Shop::new();
    let deal = shop.deal(shop.anna, None, "10");
    let before = shop.snapshot();
    let attempts = [
        (
            me(shop.boris),
            Command::MoveDeal(DealMove {
                id: deal,
                stage: shop.stages[1],
                lost_reason: None,
            }),
        ),
        (
            me(shop.anna),
            Command::CreateContact(NewContact {
                name: "X".into(),
                phones: vec!["12".into()],
                ..Default::default()
            }),
        ),
        (
            me(shop.anna),
            Command::CreatePipeline(NewPipeline {
                name: "Mine".into(),
                ..Default::default()
            }),
        ),
        (
            me(shop.measurer),
            Command::CreateDeal(NewDeal {
                title: "t".into(),
                ..Default::default()
            }),
        ),
    ];
    let codes: Vec<&str> = attempts
        .iter()
        .map(|(actor, command)| shop.crm.execute(*actor, at(5), command).unwrap_err().code())
        .collect();
    assert_eq!(
        codes,
        vec![
            "permission_denied",
            "validation",
            "permission_denied",
            "permission_denied"
        ]
    );
    assert_eq!(shop.snapshot(), before);
}

#[test]
fn each_role_sees_exactly_its_scope() {
    let mut shop = Shop::new();
    let anna_client = shop.contact(shop.anna, "Anna's client");
    let boris_client = shop.contact(shop.boris, "Boris's client");
    let anna_deal = shop.deal(shop.anna, Some(anna_client), "100");
    let names = |shop: &Shop, actor: UserId| -> Vec<ContactId> {
        shop.crm
            .contacts(me(actor), &ContactFilter::default())
            .unwrap()
            .items
            .iter()
            .map(|c| c.id)
            .collect()
    };
    assert_eq!(names(&shop, shop.anna), vec![anna_client]);
    assert_eq!(names(&shop, shop.boris), vec![boris_client]);
    assert_eq!(names(&shop, shop.head), vec![anna_client, boris_client]);
    assert_eq!(names(&shop, shop.admin), vec![anna_client, boris_client]);
    assert!(names(&shop, shop.other_head).is_empty());
    assert!(names(&shop, shop.measurer).is_empty());

    let err = shop
        .crm
        .get(me(shop.boris), anna_client.into())
        .unwrap_err();
    assert_eq!(err.code(), "permission_denied");

    // A measurement task opens the deal, and through it the client, to the measurer (read only).
    let task = shop.task_for(shop.anna, shop.measurer, anna_deal.into(), 120);
    assert_eq!(names(&shop, shop.measurer), vec![anna_client]);
    assert!(shop.crm.get(me(shop.measurer), anna_deal.into()).is_ok());
    let rename = Command::UpdateContact(Update {
        id: anna_client,
        patch: ContactPatch {
            name: Some("Mine".into()),
            ..Default::default()
        },
    });
    assert_eq!(
        shop.crm
            .execute(me(shop.measurer), at(10), &rename)
            .unwrap_err()
            .code(),
        "permission_denied"
    );
    let done = Command::CompleteTask(TaskCompletion {
        id: task,
        outcome: Some("measured".into()),
        fields: Default::default(),
    });
    shop.crm.execute(me(shop.measurer), at(100), &done).unwrap();
    assert_eq!(shop.crm.state().tasks()[&task].status, TaskStatus::Done);
}

#[test]
fn reassigning_a_departed_managers_clients_is_one_command() {
    let mut shop = Shop::new();
    let client = shop.contact(shop.anna, "Client");
    let deal = shop.deal(shop.anna, Some(client), "100");
    let task = shop.task_for(shop.anna, shop.anna, deal.into(), 30);
    let command = Command::ReassignOwner(OwnerHandover {
        from: shop.anna,
        to: shop.boris,
    });
    assert_eq!(
        shop.crm
            .execute(me(shop.boris), at(5), &command)
            .unwrap_err()
            .code(),
        "permission_denied"
    );
    assert_eq!(
        shop.crm
            .execute(me(shop.other_head), at(5), &command)
            .unwrap_err()
            .code(),
        "permission_denied"
    );
    let outcome = shop.crm.execute(me(shop.head), at(5), &command).unwrap();
    assert_eq!(outcome.events.len(), 1);
    let state = shop.crm.state();
    assert_eq!(
        (
            state.contacts()[&client].owner,
            state.deals()[&deal].owner,
            state.tasks()[&task].assignee
        ),
        (shop.boris, shop.boris, shop.boris)
    );
    shop.crm
        .execute(
            me(shop.admin),
            at(6),
            &Command::DeactivateUser(Target { id: shop.anna }),
        )
        .unwrap();
    let err = shop
        .crm
        .contacts(me(shop.anna), &ContactFilter::default())
        .unwrap_err();
    assert_eq!(err.code(), "permission_denied");
}

#[test]
fn overdue_tasks_are_judged_at_the_query_time() {
    let mut shop = Shop::new();
    let client = shop.contact(shop.anna, "Client");
    let soon = shop.task_for(shop.anna, shop.anna, client.into(), 15);
    let later = shop.task_for(shop.anna, shop.anna, client.into(), 60);
    let overdue = |shop: &Shop, minutes| -> Vec<TaskId> {
        let filter = TaskFilter {
            overdue: true,
            ..Default::default()
        };
        shop.crm
            .tasks(me(shop.anna), at(minutes), &filter)
            .unwrap()
            .items
            .iter()
            .map(|t| t.id)
            .collect()
    };
    assert!(overdue(&shop, 10).is_empty());
    assert_eq!(overdue(&shop, 16), vec![soon]);
    assert_eq!(overdue(&shop, 61), vec![soon, later]);
}

#[test]
fn a_timeline_lists_a_records_events_newest_first() {
    let mut shop = Shop::new();
    let client = shop.contact(shop.anna, "Client");
    let deal = shop.deal(shop.anna, Some(client), "100");
    shop.task_for(shop.anna, shop.anna, deal.into(), 30);
    let note = NewActivity {
        kind: ActivityKind::Note,
        link: deal.into(),
        direction: None,
        subject: None,
        body: Some("Wants white frames".into()),
        duration_seconds: None,
        outcome: None,
        occurred_at: None,
    };
    shop.crm
        .execute(me(shop.anna), at(4), &Command::LogActivity(note))
        .unwrap();
    let types: Vec<String> = shop
        .crm
        .timeline(me(shop.anna), deal.into(), None)
        .unwrap()
        .iter()
        .map(|e| {
            serde_json::to_value(&e.event).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        types,
        vec!["activity_logged", "task_created", "deal_created"]
    );
    assert_eq!(
        shop.crm
            .timeline(me(shop.boris), deal.into(), None)
            .unwrap_err()
            .code(),
        "permission_denied"
    );
}

#[test]
fn custom_fields_are_checked_on_write() {
    let mut shop = Shop::new();
    let field = NewField {
        entity: EntityKind::Deal,
        key: "width_mm".into(),
        label: "Width, mm".into(),
        kind: FieldKind::Number,
        required: false,
        choices: vec![],
    };
    assert_eq!(
        shop.crm
            .execute(me(shop.anna), t0(), &Command::DefineField(field.clone()))
            .unwrap_err()
            .code(),
        "permission_denied"
    );
    shop.crm
        .execute(me(shop.admin), t0(), &Command::DefineField(field.clone()))
        .unwrap();
    assert_eq!(
        shop.crm
            .execute(me(shop.admin), t0(), &Command::DefineField(field))
            .unwrap_err()
            .code(),
        "conflict"
    );
    let deal = shop.deal(shop.anna, None, "100");
    let set = |value: serde_json::Value| {
        Command::UpdateDeal(Update {
            id: deal,
            patch: DealPatch {
                custom: [("width_mm".to_string(), value)].into(),
                ..Default::default()
            },
        })
    };
    let err = shop
        .crm
        .execute(me(shop.anna), at(3), &set(serde_json::json!("wide")))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "custom.width_mm: expected a whole number, got \"wide\""
    );
    let outcome = shop
        .crm
        .execute(me(shop.anna), at(3), &set(serde_json::json!(1200)))
        .unwrap();
    assert!(
        matches!(&outcome.events[0].event, Event::DealUpdated { changed, .. } if changed == &["custom"])
    );
    assert_eq!(
        shop.crm.state().deals()[&deal].fields.custom["width_mm"],
        FieldValue::Number(1200)
    );
    // The same value again changes nothing and records nothing.
    assert!(shop
        .crm
        .execute(me(shop.anna), at(4), &set(serde_json::json!("1200")))
        .unwrap()
        .events
        .is_empty());
}

#[test]
fn the_json_entry_points_report_the_path_of_bad_input() {
    let mut shop = Shop::new();
    let anna = shop.anna.to_string();
    let now = "2026-11-27T10:00:00+01:00";
    let err = shop
        .crm
        .execute_json(
            &anna,
            now,
            r#"{"type":"create_contact","name":"A","phones":[1]}"#,
        )
        .unwrap_err();
    assert_eq!(err.code(), "malformed");
    assert_eq!(
        err.to_string(),
        "malformed input at command.phones[0]: invalid type: integer `1`, expected a string"
    );
    let err = shop
        .crm
        .execute_json(
            &anna,
            now,
            r#"{"type":"update_contact","id":"con-1-1","patch":{"nmae":"A"}}"#,
        )
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("malformed input at command.patch.nmae: unknown field `nmae`"),
        "{err}"
    );
    let err = shop
        .crm
        .execute_json(&anna, now, r#"{"type":"fly_to_moon"}"#)
        .unwrap_err();
    assert!(err.to_string().contains("fly_to_moon"), "{err}");
    assert_eq!(
        shop.crm.execute_json(&anna, now, "{").unwrap_err().code(),
        "malformed"
    );
    assert_eq!(
        shop.crm
            .execute_json(&anna, "yesterday", "{}")
            .unwrap_err()
            .code(),
        "validation"
    );
    assert_eq!(
        shop.crm
            .execute_json("usr-9-9", now, r#"{"type":"create_contact","name":"A"}"#)
            .unwrap_err()
            .code(),
        "not_found"
    );
    let huge = format!(
        r#"{{"type":"create_contact","name":"{}"}}"#,
        "x".repeat(2 << 20)
    );
    assert_eq!(
        shop.crm.execute_json(&anna, now, &huge).unwrap_err().code(),
        "too_large"
    );
    let ok = shop
        .crm
        .execute_json(
            &anna,
            now,
            r#"{"type":"create_contact","name":"Anna's client"}"#,
        )
        .unwrap();
    let ok: serde_json::Value = serde_json::from_str(&ok).unwrap();
    assert_eq!(ok["events"][0]["at"], "2026-11-27T09:00:00Z");
    assert_eq!(ok["created"], ok["events"][0]["event"]["contact"]["id"]);
}

#[test]
fn replaying_the_journal_rebuilds_the_same_state() {
    let mut shop = Shop::new();
    let client = shop.contact(shop.anna, "Client");
    let deal = shop.deal(shop.anna, Some(client), "100");
    shop.task_for(shop.anna, shop.measurer, deal.into(), 30);
    let events = shop.crm.events_since(1).unwrap();
    let replica = shop.crm.replica();
    let replayed = Crm::replay(replica, shop.crm.options().clone(), events.clone()).unwrap();
    assert_eq!(replayed.state(), shop.crm.state());
    // A gap in the sequence is refused, not silently accepted.
    let mut gapped = events;
    gapped.remove(3);
    assert_eq!(
        Crm::replay(replica, CrmOptions::default(), gapped)
            .unwrap_err()
            .code(),
        "conflict"
    );
}

#[test]
fn created_id_is_typed_and_refuses_a_wrong_kind_or_nothing() {
    let mut shop = Shop::new();
    let input = NewContact {
        name: "Client".into(),
        ..NewContact::default()
    };
    let outcome = shop
        .crm
        .execute(me(shop.anna), t0(), &Command::CreateContact(input))
        .unwrap();
    let contact: ContactId = outcome.created_id().unwrap();
    assert_eq!(outcome.created, Some(contact.into()));
    assert_eq!(
        outcome.created_id::<DealId>().unwrap_err().code(),
        "validation"
    );
    let rename = Command::UpdateContact(Update {
        id: contact,
        patch: ContactPatch {
            name: Some("New".into()),
            ..Default::default()
        },
    });
    let outcome = shop.crm.execute(me(shop.anna), t0(), &rename).unwrap();
    assert_eq!(
        outcome.created_id::<ContactId>().unwrap_err().code(),
        "conflict"
    );
}

#[test]
fn imported_events_continue_the_journal_all_or_nothing() {
    let mut shop = common::Shop::new();
    let mut copy = Crm::replay(
        ReplicaId::new(2).unwrap(),
        CrmOptions::default(),
        shop.crm.events_since(1).unwrap(),
    )
    .unwrap();
    let cursor = shop.crm.journal().last_seq();
    let manager = shop.anna;
    let contact = Command::CreateContact(NewContact {
        name: "Later".into(),
        ..Default::default()
    });
    shop.crm
        .execute(Actor::User(manager), common::at(10), &contact)
        .unwrap();
    let new = shop.crm.events_since(cursor + 1).unwrap();
    let err = copy
        .import_events(&shop.crm.events_since(cursor).unwrap())
        .unwrap_err();
    assert_eq!(err.code(), "validation");
    assert_eq!(
        copy.journal().last_seq(),
        cursor,
        "a refused import changes nothing"
    );
    copy.import_events(&new).unwrap();
    assert_eq!(copy.state(), shop.crm.state());
}

/// `name()` is written by hand in `tagged_enum!`; serde derives its own name.
/// They must agree, or `name()` would record a type the JSON reader rejects.
#[test]
fn declared_names_are_the_serde_names() {
    for name in Command::NAMES {
        let err = format!(r#"{{"type": "{name}"}}"#)
            .parse::<Command>()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(!err.contains("unknown variant"), "command {name}: {err}");
    }
    for name in Query::NAMES {
        let err = format!(r#"{{"type": "{name}"}}"#)
            .parse::<Query>()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(!err.contains("unknown variant"), "query {name}: {err}");
    }
    let err = r#"{"type": "create_contacts"}"#.parse::<Command>().unwrap_err().to_string();
    assert!(err.contains("unknown variant"), "{err}");
}

/// The text entry points that answer with values read the same JSON as `execute_json`
/// and `query_json`, refuse the same way, and answer what those write as text.
#[test]
fn the_text_entries_answer_with_the_values_the_json_entries_write() {
    let mut crm = Crm::new(ReplicaId::new(1).unwrap(), CrmOptions::default()).unwrap();
    let now = "2026-11-27T09:00:00Z";
    let admin = crm
        .execute_text(
            "system",
            now,
            r#"{"type": "create_user", "name": "Olga", "role": "admin"}"#,
        )
        .unwrap()
        .require_created()
        .unwrap()
        .to_string();
    let contact = r#"{"type": "create_contact", "name": "Anna"}"#;
    let as_text: serde_json::Value =
        serde_json::from_str(&crm.execute_json(&admin, now, contact).unwrap()).unwrap();
    let outcome = crm.execute_text(&admin, now, contact).unwrap();
    assert_eq!(as_text["events"][0]["event"]["type"], "contact_created");
    assert_eq!(
        serde_json::to_value(&outcome).unwrap()["events"][0]["event"]["contact"]["name"],
        "Anna"
    );
    let list = r#"{"type": "list_contacts"}"#;
    let listed: serde_json::Value =
        serde_json::from_str(&crm.query_json(&admin, now, list).unwrap()).unwrap();
    assert_eq!(crm.query_text(&admin, now, list).unwrap(), listed);
    assert_eq!(listed["total"], 2);
    let seq = crm.last_seq();
    let bad = r#"{"type": "create_contact", "name": 7}"#;
    let (text_err, value_err) = (
        crm.execute_json(&admin, now, bad).unwrap_err(),
        crm.execute_text(&admin, now, bad).unwrap_err(),
    );
    assert_eq!(text_err, value_err);
    assert_eq!(value_err.code(), "malformed");
    assert!(
        value_err.to_string().contains("command.name"),
        "{value_err}"
    );
    assert_eq!(crm.last_seq(), seq);
}
