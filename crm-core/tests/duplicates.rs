//! Duplicate search and merging: the pairs found are the pairs a brute-force
//! comparison finds, the comparison is symmetric, and merge then unmerge leaves the
//! CRM as it was.

use std::collections::BTreeMap;

use chrono::Duration;
use crm_core::compare_contacts as compare;
use crm_core::*;
use proptest::prelude::*;
use serde_json::{json, Value};

mod common;
use common::{at, german_crm, t0};

const ADMIN: &str = "usr-1-1";
const NAMES: [&str; 6] = [
    "Anna Petrova",
    "ANNA PETROVA",
    "Anna Petrowa",
    "Boris Ivanov",
    "Jürgen Müller",
    "Jurgen Muller",
];
const PHONES: [&str; 4] = [
    "+49 30 1234567",
    "030 1234567",
    "+49 40 7654321",
    "+7 495 1234567",
];
const EMAILS: [&str; 4] = [
    "anna@example.com",
    "Anna Petrova <ANNA@example.com>",
    "anna+shop@gmail.com",
    "anna@gmail.com",
];

/// A CRM with an admin, a department of two managers and `companies` companies.
fn crm(companies: usize) -> Crm {
    let mut crm = german_crm();
    let mut run = |actor: &str, command: Value| {
        crm.execute_json(actor, &t0().to_rfc3339(), &command.to_string())
            .unwrap_or_else(|err| panic!("{command}: {err}"));
    };
    run(
        "system",
        json!({"type": "create_user", "name": "Olga", "role": "admin"}),
    );
    run(ADMIN, json!({"type": "create_department", "name": "Sales"}));
    for name in ["Anna", "Boris"] {
        run(
            ADMIN,
            json!({"type": "create_user", "name": name, "role": "manager", "department": "dep-1-2"}),
        );
    }
    for index in 0..companies {
        run(
            ADMIN,
            json!({"type": "create_company", "name": format!("Firma {index} GmbH")}),
        );
    }
    crm
}

#[derive(Clone, Debug)]
struct Person {
    name: u8,
    phone: Option<u8>,
    email: Option<u8>,
    company: Option<u8>,
    owner: u8,
}

fn person() -> impl Strategy<Value = Person> {
    (
        any::<u8>(),
        prop::option::of(any::<u8>()),
        prop::option::of(any::<u8>()),
        prop::option::of(0u8..2),
        0u8..2,
    )
        .prop_map(|(name, phone, email, company, owner)| Person {
            name,
            phone,
            email,
            company,
            owner,
        })
}

fn add(crm: &mut Crm, person: &Person) -> ContactId {
    let pick = |items: &[&'static str], index: u8| items[index as usize % items.len()];
    let command = json!({
        "type": "create_contact",
        "name": pick(&NAMES, person.name),
        "phones": person.phone.map(|p| vec![pick(&PHONES, p)]).unwrap_or_default(),
        "emails": person.email.map(|e| vec![pick(&EMAILS, e)]).unwrap_or_default(),
        // Companies are the IDs after the two managers: com-1-5 and com-1-6.
        "company": person.company.map(|c| format!("com-1-{}", 5 + c)),
        "owner": format!("usr-1-{}", 3 + person.owner),
    });
    let outcome = crm
        .execute_json(ADMIN, &t0().to_rfc3339(), &command.to_string())
        .unwrap();
    serde_json::from_str::<Value>(&outcome).unwrap()["created"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

fn everything() -> DuplicateRequest {
    DuplicateRequest {
        min_score: 0,
        // No cap for the handful of people generated here.
        max_shared: crm_core::MAX_SHARED,
        limit: Some(crm_core::MAX_PAGE),
        email: EmailPolicy {
            fold_plus: vec!["gmail.com".into()],
        },
        ..DuplicateRequest::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Blocking loses nothing: with no caps, the pairs found are exactly the pairs with
    /// a reason among all pairs; and comparing is symmetric.
    #[test]
    fn blocking_finds_what_comparing_every_pair_finds(people in prop::collection::vec(person(), 0..14)) {
        let mut crm = crm(2);
        for person in &people {
            add(&mut crm, person);
        }
        let admin: Actor = ADMIN.parse().unwrap();
        let request = everything();
        let found = crm.find_duplicates(admin, &request).unwrap();
        let contacts: Vec<&Contact> = crm.state().contacts().values().collect();
        let mut expected = Vec::new();
        for (index, a) in contacts.iter().enumerate() {
            for b in &contacts[index + 1..] {
                let (score, reasons) = compare(a, b, &request.email);
                let (score_back, reasons_back) = compare(b, a, &request.email);
                prop_assert_eq!(score, score_back);
                prop_assert_eq!(&reasons, &reasons_back);
                if !reasons.is_empty() {
                    expected.push((a.id, b.id, score));
                }
            }
        }
        let mut got: Vec<(ContactId, ContactId, u8)> =
            found.pairs.iter().map(|pair| (pair.a, pair.b, pair.score)).collect();
        got.sort();
        expected.sort();
        prop_assert_eq!(&got, &expected);
        // Asking about one contact gives exactly its pairs among all of them.
        for contact in &contacts {
            let one = DuplicateRequest { contact: Some(contact.id), ..request.clone() };
            let mut mine: Vec<(ContactId, ContactId, u8)> = crm.find_duplicates(admin, &one).unwrap()
                .pairs.iter().map(|pair| (pair.a, pair.b, pair.score)).collect();
            mine.sort();
            let wanted: Vec<_> = got.iter().filter(|(a, b, _)| *a == contact.id || *b == contact.id).copied().collect();
            prop_assert_eq!(mine, wanted);
        }
    }

    /// Merging two contacts and unmerging them restores contacts, deals, tasks,
    /// activities, the indexes and the reports exactly (only `updated_at` of the
    /// survivor moves on, and timelines record both steps).
    #[test]
    fn merge_then_unmerge_is_identity(
        people in prop::collection::vec(person(), 2..8),
        links in prop::collection::vec((any::<u8>(), 0u8..3), 0..12),
        pair in (any::<u8>(), any::<u8>()),
        keep in prop::collection::btree_map(
            prop::sample::select(vec!["name", "company", "phones", "emails", "tags", "consent"]),
            any::<bool>(), 0..4),
    ) {
        let mut crm = crm(2);
        let ids: Vec<ContactId> = people.iter().map(|p| add(&mut crm, p)).collect();
        let pipeline = crm
            .execute_json(ADMIN, &t0().to_rfc3339(), &json!({"type": "create_pipeline", "name": "Sales",
                "stages": [{"name": "New"}, {"name": "Won", "kind": "won"}, {"name": "Lost", "kind": "lost"}]}).to_string())
            .unwrap();
        let pipeline = serde_json::from_str::<Value>(&pipeline).unwrap()["created"].clone();
        for (minutes, (contact, what)) in links.iter().enumerate() {
            let contact = ids[*contact as usize % ids.len()];
            let command = match what {
                0 => json!({"type": "create_deal", "title": "Windows", "pipeline": pipeline, "contact": contact,
                            "amount": {"amount": "100.00", "currency": "EUR"}}),
                1 => json!({"type": "create_task", "title": "Call back", "link": contact, "due": at(60)}),
                _ => json!({"type": "log_activity", "kind": "call", "direction": "inbound", "link": contact,
                            "occurred_at": at(minutes as i64)}),
            };
            crm.execute_json(ADMIN, &at(minutes as i64).to_rfc3339(), &command.to_string()).unwrap();
        }
        let into = ids[pair.0 as usize % ids.len()];
        let from = ids[pair.1 as usize % ids.len()];
        prop_assume!(into != from);
        let (now, before) = a_day_later(&mut crm);
        crm.execute_json(ADMIN, &now.to_rfc3339(),
            &json!({"type": "merge_contacts", "into": into, "from": from, "keep": sides(keep)}).to_string()).unwrap();
        prop_assert_eq!(crm.state().contacts()[&from].merged_into, Some(into));
        prop_assert!(crm.state().deals().values().all(|deal| deal.fields.contact != Some(from)));
        prop_assert_eq!(crm.projections(), &Projections::build(crm.state()));
        let mut rebuilt = crm.state().clone();
        rebuilt.rebuild_derived();
        prop_assert_eq!(&rebuilt, crm.state(), "the match index after the merge");
        crm.execute_json(ADMIN, &now.to_rfc3339(),
            &json!({"type": "unmerge_contacts", "id": from}).to_string()).unwrap();
        prop_assert_eq!(comparable(&crm), before);
    }

    /// The same for companies: their people, deals, tasks and activities go to the
    /// survivor and come back.
    #[test]
    fn company_merge_then_unmerge_is_identity(
        people in prop::collection::vec(person(), 1..6),
        links in prop::collection::vec((0u8..3, any::<u8>(), 0u8..3), 0..12),
        pair in (0u8..3, 0u8..3),
        keep in prop::collection::btree_map(
            prop::sample::select(vec!["name", "phones", "website", "tags"]),
            any::<bool>(), 0..3),
    ) {
        let mut crm = crm(3);
        let company = |index: u8| format!("com-1-{}", 5 + index);
        crm.execute_json(ADMIN, &t0().to_rfc3339(), &json!({"type": "update_company",
            "id": company(1), "patch": {"phones": ["030 1234567"], "website": "https://okna.example"}}).to_string()).unwrap();
        let ids: Vec<ContactId> = people.iter().map(|p| add(&mut crm, p)).collect();
        let pipeline = crm
            .execute_json(ADMIN, &t0().to_rfc3339(), &json!({"type": "create_pipeline", "name": "Sales",
                "stages": [{"name": "New"}, {"name": "Won", "kind": "won"}]}).to_string())
            .unwrap();
        let pipeline = serde_json::from_str::<Value>(&pipeline).unwrap()["created"].clone();
        for (minutes, (firm, contact, what)) in links.iter().enumerate() {
            let (firm, contact) = (company(*firm), ids[*contact as usize % ids.len()]);
            let command = match what {
                0 => json!({"type": "create_deal", "title": "Office windows", "pipeline": pipeline,
                            "company": firm, "contact": contact}),
                1 => json!({"type": "create_task", "title": "Visit the office", "link": firm, "due": at(60)}),
                _ => json!({"type": "log_activity", "kind": "meeting", "direction": "outbound", "link": firm,
                            "occurred_at": at(minutes as i64)}),
            };
            crm.execute_json(ADMIN, &at(minutes as i64).to_rfc3339(), &command.to_string()).unwrap();
        }
        prop_assume!(pair.0 != pair.1);
        let (into, from) = (company(pair.0), company(pair.1));
        let (now, before) = a_day_later(&mut crm);
        crm.execute_json(ADMIN, &now.to_rfc3339(),
            &json!({"type": "merge_companies", "into": into, "from": from, "keep": sides(keep)}).to_string()).unwrap();
        let state = crm.state();
        let from_id: CompanyId = from.parse().unwrap();
        prop_assert_eq!(state.companies()[&from_id].merged_into, Some(into.parse().unwrap()));
        prop_assert!(state.contacts().values().all(|c| c.fields.company != Some(from_id)));
        prop_assert!(state.deals().values().all(|deal| deal.fields.company != Some(from_id)));
        prop_assert!(state.tasks().values().all(|task| task.link != Some(from_id.into())));
        prop_assert!(state.activities().values().all(|activity| activity.link != from_id.into()));
        prop_assert_eq!(crm.projections(), &Projections::build(state));
        crm.execute_json(ADMIN, &now.to_rfc3339(),
            &json!({"type": "unmerge_companies", "id": from}).to_string()).unwrap();
        prop_assert_eq!(comparable(&crm), before);
    }
}

/// `keep` for a merge command: `true` picks the side merged away.
fn sides(keep: BTreeMap<&str, bool>) -> Value {
    keep.into_iter()
        .map(|(field, from)| (field.to_string(), json!(if from { "from" } else { "into" })))
        .collect::<serde_json::Map<String, Value>>()
        .into()
}

/// A day later, after a tick (tasks fall overdue then, not during the merge), and the
/// state then, so that only the merge and its undoing are compared.
fn a_day_later(crm: &mut Crm) -> (chrono::DateTime<chrono::Utc>, Value) {
    let now = t0() + Duration::days(1);
    crm.execute_json(ADMIN, &now.to_rfc3339(), r#"{"type": "tick"}"#)
        .unwrap();
    (now, comparable(crm))
}

/// The parts of the state a merge touches, without the survivor's `updated_at`.
fn comparable(crm: &Crm) -> Value {
    let state = crm.state();
    let without_updated_at = |records: Value| -> Value {
        let mut records = records;
        for record in records.as_object_mut().unwrap().values_mut() {
            record.as_object_mut().unwrap().remove("updated_at");
        }
        records
    };
    let mut rebuilt = state.clone();
    rebuilt.rebuild_derived();
    let indexes_agree = rebuilt == *state;
    json!({
        "contacts": without_updated_at(serde_json::to_value(state.contacts()).unwrap()),
        "companies": without_updated_at(serde_json::to_value(state.companies()).unwrap()),
        "company_merges": state.company_merges(),
        "deals": state.deals(),
        "tasks": state.tasks(),
        "activities": state.activities(),
        "merges": state.merges(),
        // The indexes (deals by party, tasks by record, match keys) are private; equal
        // records whose indexes agree with a rebuild have equal indexes.
        "indexes_agree_with_records": indexes_agree,
        "reports": format!("{:?}", crm.projections().reports),
    })
}

#[test]
fn a_shared_switchboard_number_is_too_common_to_count() {
    let mut crm = crm(1);
    for index in 0..4 {
        add(
            &mut crm,
            &Person {
                name: index,
                phone: Some(0),
                email: None,
                company: None,
                owner: 0,
            },
        );
    }
    let admin: Actor = ADMIN.parse().unwrap();
    let request = DuplicateRequest {
        max_shared: 3,
        ..DuplicateRequest::default()
    };
    let found = crm.find_duplicates(admin, &request).unwrap();
    assert!(found.pairs.is_empty(), "{found:?}");
    assert_eq!(found.too_common.len(), 1);
    assert_eq!(found.too_common[0].value, "+49301234567");
    assert_eq!(found.too_common[0].contacts, 4);
    // Allowed to count, the shared phone pairs everyone (4 choose 2), and the names
    // "Anna Petrova" / "ANNA PETROVA" add their similarity on top.
    let found = crm
        .find_duplicates(admin, &DuplicateRequest::default())
        .unwrap();
    assert_eq!(found.total, 6);
    assert_eq!(found.pairs[0].score, 100);
    assert_eq!(
        serde_json::to_value(&found.pairs[0].reasons).unwrap(),
        json!([{"reason": "same_phone", "phone": "+49301234567"},
               {"reason": "similar_name", "similarity": 100}])
    );
}

#[test]
fn a_merge_moves_visits_to_one_client_and_unmerging_moves_them_back() {
    let mut crm = crm(0);
    let anna = add(
        &mut crm,
        &Person {
            name: 0,
            phone: Some(0),
            email: None,
            company: None,
            owner: 0,
        },
    );
    let twin = add(
        &mut crm,
        &Person {
            name: 1,
            phone: Some(1),
            email: None,
            company: None,
            owner: 0,
        },
    );
    let pipeline = run(
        &mut crm,
        0,
        json!({"type": "create_pipeline", "name": "Visits",
        "stages": [{"name": "Booked"}, {"name": "Done", "kind": "won"}, {"name": "Lost", "kind": "lost"}]}),
    );
    let pipeline = pipeline["created"].clone();
    let done = {
        let id: PipelineId = pipeline.as_str().unwrap().parse().unwrap();
        crm.state().pipelines()[&id].stages[1].id
    };
    for (minutes, client) in [(10, anna), (20, twin)] {
        let deal = run(
            &mut crm,
            minutes,
            json!({"type": "create_deal", "title": "Haircut", "pipeline": pipeline,
            "contact": client, "amount": {"amount": "40.00", "currency": "EUR"}}),
        )["created"]
            .clone();
        run(
            &mut crm,
            minutes + 1,
            json!({"type": "move_deal", "id": deal, "stage": done}),
        );
    }
    let admin: Actor = ADMIN.parse().unwrap();
    let clients = |crm: &Crm| {
        let report = crm
            .report(admin, at(100), &ReportRequest::new(ReportKind::Clients))
            .unwrap();
        let report = serde_json::to_value(report).unwrap();
        (
            report["visits"].clone(),
            report["clients"].clone(),
            report["between_visits"]["count"].clone(),
        )
    };
    assert_eq!(clients(&crm), (json!(2), json!(2), Value::Null));
    run(
        &mut crm,
        30,
        json!({"type": "merge_contacts", "into": anna, "from": twin}),
    );
    assert_eq!(
        clients(&crm),
        (json!(2), json!(1), json!(1)),
        "one client, two visits"
    );
    let twin_contact = &crm.state().contacts()[&twin];
    assert_eq!(twin_contact.merged_into, Some(anna));
    assert_eq!(
        crm.state().contacts()[&anna].fields.phones,
        ["+49301234567"],
        "the same number typed twice is one phone"
    );
    let listed = crm.contacts(admin, &ContactFilter::default()).unwrap();
    assert_eq!(listed.total, 1, "the merged contact is not listed");
    run(
        &mut crm,
        40,
        json!({"type": "unmerge_contacts", "id": twin}),
    );
    assert_eq!(clients(&crm), (json!(2), json!(2), Value::Null));
    assert_eq!(crm.state().contacts()[&twin].merged_into, None);
}

#[test]
fn merges_are_refused_with_reasons() {
    let mut crm = crm(0);
    let person = |name| Person {
        name,
        phone: None,
        email: None,
        company: None,
        owner: 0,
    };
    let anna = add(&mut crm, &person(0));
    let twin = add(&mut crm, &person(1));
    let third = add(&mut crm, &person(3));
    let mut attempt = |actor: &str, command: Value| {
        crm.execute_json(actor, &t0().to_rfc3339(), &command.to_string())
            .map(|_| ())
    };
    let error = attempt(
        ADMIN,
        json!({"type": "merge_contacts", "into": anna, "from": anna}),
    )
    .unwrap_err();
    assert_eq!(
        (error.code(), error.to_string().contains("into itself")),
        ("validation", true),
        "{error}"
    );
    let error = attempt(
        ADMIN,
        json!({"type": "merge_contacts", "into": anna, "from": twin, "keep": {"colour": "from"}}),
    )
    .unwrap_err();
    assert!(error.to_string().contains("\"colour\""), "{error}");
    let error = attempt(
        ADMIN,
        json!({"type": "merge_contacts", "into": anna, "from": twin, "keep": {"name": "both"}}),
    )
    .unwrap_err();
    assert_eq!(error.code(), "malformed", "{error}");
    let error = attempt(ADMIN, json!({"type": "unmerge_contacts", "id": twin})).unwrap_err();
    assert!(error.to_string().contains("is not merged"), "{error}");
    // Boris (usr-1-4) cannot edit Anna's (usr-1-3) contacts.
    let error = attempt(
        "usr-1-4",
        json!({"type": "merge_contacts", "into": anna, "from": twin}),
    )
    .unwrap_err();
    assert_eq!(error.code(), "permission_denied", "{error}");
    attempt(
        ADMIN,
        json!({"type": "merge_contacts", "into": anna, "from": twin}),
    )
    .unwrap();
    let error = attempt(
        ADMIN,
        json!({"type": "merge_contacts", "into": third, "from": twin}),
    )
    .unwrap_err();
    assert!(error.to_string().contains("already merged into"), "{error}");
    attempt(
        ADMIN,
        json!({"type": "merge_contacts", "into": third, "from": anna}),
    )
    .unwrap();
    let error = attempt(ADMIN, json!({"type": "unmerge_contacts", "id": twin})).unwrap_err();
    assert!(error.to_string().contains("unmerge it first"), "{error}");
    attempt(ADMIN, json!({"type": "unmerge_contacts", "id": anna})).unwrap();
    attempt(ADMIN, json!({"type": "unmerge_contacts", "id": twin})).unwrap();
}

fn run(crm: &mut Crm, minutes: i64, command: Value) -> Value {
    let outcome = crm
        .execute_json(ADMIN, &at(minutes).to_rfc3339(), &command.to_string())
        .unwrap_or_else(|err| panic!("{command}: {err}"));
    serde_json::from_str(&outcome).unwrap()
}
