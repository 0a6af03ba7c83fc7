//! Keyset paging: a list read page by page with `after` (each page's `next`) returns
//! every record that was there all along exactly once and in the list's order, however
//! records are added and deleted between the pages — where `offset` would repeat or
//! skip some.

use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;
use serde_json::{json, Value};

use crm_core::*;

const ADMIN: &str = "usr-1-1";

fn at(minutes: i64) -> String {
    ("2026-12-01T08:00:00Z".parse::<DateTime<Utc>>().unwrap() + Duration::minutes(minutes))
        .to_rfc3339()
}

fn run(crm: &mut Crm, minutes: i64, command: Value) -> Value {
    serde_json::from_str(
        &crm.execute_json(ADMIN, &at(minutes), &command.to_string())
            .unwrap_or_else(|err| panic!("{command}: {err}")),
    )
    .unwrap()
}

fn query(crm: &Crm, minutes: i64, query: &Value) -> Result<Value, CrmError> {
    crm.query_json(ADMIN, &at(minutes), &query.to_string())
        .map(|text| serde_json::from_str(&text).unwrap())
}

fn office() -> Crm {
    let mut crm = Crm::new(ReplicaId::new(1).unwrap(), CrmOptions::default()).unwrap();
    crm.execute_json(
        "system",
        &at(0),
        r#"{"type": "create_user", "name": "Olga", "role": "admin"}"#,
    )
    .unwrap();
    crm
}

/// What each step between two pages does.
#[derive(Clone, Debug)]
enum Change {
    Add,
    DeleteFirst,
    DeleteLast,
    Nothing,
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        Just(Change::Add),
        Just(Change::DeleteFirst),
        Just(Change::DeleteLast),
        Just(Change::Nothing)
    ]
}

/// Reads `list` (a list query) with `after`, applying a change between pages; the IDs
/// seen, in order.
fn read_changing(
    crm: &mut Crm,
    list: Value,
    limit: usize,
    changes: &[Change],
    make: &dyn Fn(usize) -> Value,
    remove: &dyn Fn(&Value) -> Value,
) -> Vec<String> {
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    let mut step = 0;
    loop {
        let mut request = list.clone();
        request["limit"] = json!(limit);
        if let Some(cursor) = &after {
            request["after"] = json!(cursor);
        }
        let page = query(crm, 1_000, &request).unwrap();
        for item in page["items"].as_array().unwrap() {
            seen.push(item["id"].as_str().unwrap().to_string());
        }
        let Some(next) = page["next"].as_str() else {
            return seen;
        };
        after = Some(next.to_string());
        match changes.get(step).unwrap_or(&Change::Nothing) {
            Change::Add => {
                run(crm, 1_000, make(10_000 + step));
            }
            Change::DeleteFirst | Change::DeleteLast => {
                let mut everything = list.clone();
                everything["limit"] = json!(1000);
                let everything = query(crm, 1_000, &everything).unwrap();
                let items = everything["items"].as_array().unwrap();
                let victim = if matches!(changes[step], Change::DeleteFirst) {
                    items.first()
                } else {
                    items.last()
                };
                if let Some(victim) = victim {
                    run(crm, 1_000, remove(&victim["id"]));
                }
            }
            Change::Nothing => {}
        }
        step += 1;
    }
}

/// The IDs a list holds now, in order.
fn all(crm: &Crm, list: &Value) -> Vec<String> {
    let mut request = list.clone();
    request["limit"] = json!(1000);
    query(crm, 1_000, &request).unwrap()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect()
}

/// What keyset paging promises: the records there from the first page to the last are
/// each seen exactly once, in the list's order; none is seen twice.
fn check(before: &[String], after: &[String], seen: &[String]) -> Result<(), TestCaseError> {
    let mut unique = seen.to_vec();
    unique.sort();
    unique.dedup();
    prop_assert_eq!(unique.len(), seen.len(), "an item seen twice: {:?}", seen);
    let stayed: Vec<&String> = before.iter().filter(|id| after.contains(id)).collect();
    let kept: Vec<&String> = seen.iter().filter(|id| stayed.contains(id)).collect();
    prop_assert_eq!(
        kept,
        stayed,
        "every record there all along, once and in order"
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn contacts_paged_by_cursor_neither_repeat_nor_skip(count in 1usize..40, limit in 1usize..7, changes in prop::collection::vec(change(), 0..12)) {
        let mut crm = office();
        let make = |n: usize| json!({"type": "create_contact", "name": format!("C{n}"), "owner": ADMIN});
        for n in 0..count {
            run(&mut crm, 1, make(n));
        }
        let list = json!({"type": "list_contacts"});
        let before = all(&crm, &list);
        let delete = |id: &Value| json!({"type": "delete_record", "id": id});
        let seen = read_changing(&mut crm, list.clone(), limit, &changes, &make, &delete);
        let after = all(&crm, &list);
        check(&before, &after, &seen)?;
    }

    #[test]
    fn tasks_by_due_date_paged_by_cursor_neither_repeat_nor_skip(dues in prop::collection::vec(prop::option::of(0i64..50), 1..30), limit in 1usize..6, changes in prop::collection::vec(change(), 0..10)) {
        let mut crm = office();
        let due_of = |n: usize| dues.get(n % dues.len()).copied().flatten();
        let make = |n: usize| {
            let mut task = json!({"type": "create_task", "title": format!("T{n}"), "assignee": ADMIN});
            if let Some(minutes) = due_of(n) {
                task["due"] = json!(at(2_000 + minutes * 60));
            }
            task
        };
        for n in 0..dues.len() {
            run(&mut crm, 1, make(n));
        }
        // Open tasks: a cancelled one leaves the list.
        let list = json!({"type": "list_tasks", "status": "open"});
        let before = all(&crm, &list);
        let cancel = |id: &Value| json!({"type": "cancel_task", "id": id});
        let seen = read_changing(&mut crm, list.clone(), limit, &changes, &make, &cancel);
        let after = all(&crm, &list);
        check(&before, &after, &seen)?;
    }
}

#[test]
fn activities_newest_first_page_by_cursor_and_bad_cursors_are_refused() {
    let mut crm = office();
    let contact = run(
        &mut crm,
        1,
        json!({"type": "create_contact", "name": "Anna", "owner": ADMIN}),
    )["created"]
        .clone();
    for n in 0..7 {
        // Two at each time: the ID breaks the tie.
        run(
            &mut crm,
            1,
            json!({"type": "log_activity", "kind": "note", "link": contact, "body": format!("N{n}"),
                                "occurred_at": at(10 + (n / 2))}),
        );
    }
    let list = json!({"type": "list_activities"});
    let expected = all(&crm, &list);
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut request = json!({"type": "list_activities", "limit": 3});
        if let Some(cursor) = &after {
            request["after"] = json!(cursor);
        }
        let page = query(&crm, 100, &request).unwrap();
        assert_eq!(page["total"], 7);
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["id"].as_str().unwrap().to_string()),
        );
        match page["next"].as_str() {
            Some(next) => after = Some(next.to_string()),
            None => break,
        }
    }
    assert_eq!(seen, expected);

    for (request, says) in [
        (
            json!({"type": "list_contacts", "after": "tsk-1-2"}),
            "not a cursor",
        ),
        (
            json!({"type": "list_tasks", "after": "yesterday|tsk-1-2"}),
            "not a cursor",
        ),
        (
            json!({"type": "list_activities", "after": "x"}),
            "not a cursor",
        ),
        (
            json!({"type": "list_contacts", "after": "con-1-2", "offset": 3}),
            "not both",
        ),
    ] {
        let err = query(&crm, 100, &request).unwrap_err();
        assert_eq!(err.code(), "validation", "{request}");
        assert!(
            err.to_string().contains("after") && err.to_string().contains(says),
            "{err}"
        );
    }
}
