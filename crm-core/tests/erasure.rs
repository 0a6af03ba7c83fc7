//! Property test of erasure (docs/adr/0003-erasure.md): over random clients, deals,
//! notes that mention other clients, merges and messages, erasing one never leaves
//! their name, phone or e-mail in any event stored up to the erasure, nor in the state
//! a snapshot would store, and replaying the rewritten journal gives the live state and
//! projections; the business's deals and amounts stay.

use crm_core::*;
use proptest::prelude::*;
use serde_json::{json, Value};

const ADMIN: &str = "usr-1-1";
const MANAGER: &str = "usr-1-2";

const NAMES: [&str; 6] = [
    "Anna Petrova",
    "Boris Ivanov",
    "Clara Schmidt",
    "Dmitri Orlov",
    "Elena Sokolova",
    "Fjodor Wagner",
];

/// Each client's phone as typed, e-mail and E.164 phone.
fn identity(index: usize) -> (String, String, String) {
    let digits = format!("30 55{index:02}{:03}", index * 7);
    let e164 = format!("+49{}", digits.replace(' ', ""));
    (
        format!("+49 {digits}"),
        format!("client{index}@example.com"),
        e164,
    )
}

#[derive(Clone, Debug)]
enum Op {
    Client(u8),
    Deal {
        client: u8,
        cents: u32,
        won: bool,
    },
    /// A note on one client that mentions another, in capitals or not.
    Note {
        on: u8,
        about: u8,
        shout: bool,
    },
    Merge {
        into: u8,
        from: u8,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u8..6).prop_map(Op::Client),
        2 => (any::<u8>(), 1u32..1_000_000, any::<bool>()).prop_map(|(client, cents, won)| Op::Deal { client, cents, won }),
        2 => (any::<u8>(), 0u8..6, any::<bool>()).prop_map(|(on, about, shout)| Op::Note { on, about, shout }),
        1 => (any::<u8>(), any::<u8>()).prop_map(|(into, from)| Op::Merge { into, from }),
    ]
}

fn business() -> Crm {
    let mut crm = Crm::new(ReplicaId::new(1).unwrap(), CrmOptions::default()).unwrap();
    let t = "2026-12-01T07:00:00Z";
    for (actor, command) in [
        (
            "system",
            json!({"type": "create_user", "name": "Olga", "role": "admin"}),
        ),
        (
            ADMIN,
            json!({"type": "create_user", "name": "Anton", "role": "manager"}),
        ),
        (
            ADMIN,
            json!({"type": "create_pipeline", "name": "Windows", "stages": [{"name": "New"}, {"name": "Done", "kind": "won"}]}),
        ),
        (
            ADMIN,
            json!({"type": "define_rules", "rules": [{"key": "hello", "when": {"type": "record_created", "record": "deal"},
            "then": [{"type": "notify", "to": "client", "channel": "email", "text": "Dear {{ contact.name }}, thank you."},
                     {"type": "create_task", "title": "Call {{ contact.name }}", "due_in": "1h"}]}]}),
        ),
    ] {
        crm.execute_json(actor, t, &command.to_string()).unwrap();
    }
    crm
}

/// The clients by name index, as created (a name is used once).
fn clients(crm: &Crm) -> Vec<(usize, ContactId)> {
    crm.state()
        .contacts()
        .values()
        .filter(|c| c.merged_into.is_none() && c.erased_at.is_none())
        .filter_map(|c| Some((NAMES.iter().position(|n| *n == c.fields.name)?, c.id)))
        .collect()
}

fn command(crm: &Crm, op: &Op) -> Option<Value> {
    let existing = clients(crm);
    let pick = |i: u8| existing.get(i as usize % existing.len().max(1)).copied();
    Some(match *op {
        Op::Client(index) => {
            let index = index as usize;
            if existing.iter().any(|(i, _)| *i == index) {
                return None;
            }
            let (phone, email, _) = identity(index);
            json!({"type": "create_contact", "name": NAMES[index], "phones": [phone], "emails": [email], "consent": {"email": true}})
        }
        Op::Deal { client, cents, won } => {
            let (_, id) = pick(client)?;
            let stage = if won { "stg-1-5" } else { "stg-1-4" };
            json!({"type": "create_deal", "title": "Windows", "contact": id, "stage": "stg-1-4",
                   "amount": {"amount": format!("{}.{:02}", cents / 100, cents % 100), "currency": "EUR"},
                   "custom": {}, "tags": [stage]})
        }
        Op::Note { on, about, shout } => {
            let (_, id) = pick(on)?;
            let name = NAMES[about as usize];
            let name = if shout {
                name.to_uppercase()
            } else {
                name.to_string()
            };
            json!({"type": "log_activity", "kind": "note", "link": id, "body": format!("Spoke about {name}, {}", identity(about as usize).1)})
        }
        Op::Merge { into, from } => {
            let ((_, into), (_, from)) = (pick(into)?, pick(from)?);
            if into == from {
                return None;
            }
            json!({"type": "merge_contacts", "into": into, "from": from})
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn an_erased_person_never_comes_back(
        before in prop::collection::vec(op(), 1..30),
        victim in any::<u8>(),
        after in prop::collection::vec(op(), 0..10),
    ) {
        let mut crm = business();
        let mut minute = 0;
        let mut now = || { minute += 1; format!("2026-12-01T08:{:02}:00Z", minute.min(59)) };
        for op in &before {
            if let Some(command) = command(&crm, op) {
                let _ = crm.execute_json(MANAGER, &now(), &command.to_string());
            }
        }
        let existing = clients(&crm);
        prop_assume!(!existing.is_empty());
        let (index, id) = existing[victim as usize % existing.len()];
        let deals_before: Vec<_> = crm.state().deals().values().map(|d| (d.id, d.fields.amount)).collect();
        crm.execute_json(ADMIN, "2026-12-01T09:00:00Z", &json!({"type": "erase_contact", "id": id}).to_string()).unwrap();
        let erased_at = crm.last_seq();
        // A new client may take the name later; what was stored up to the erasure may not hold it.
        let mut later = 0;
        for op in &after {
            if let Some(command) = command(&crm, op) {
                later += 1;
                let _ = crm.execute_json(MANAGER, &format!("2026-12-01T10:{later:02}:00Z"), &command.to_string());
            }
        }
        let (phone, email, e164) = identity(index);
        let needles = [NAMES[index].to_lowercase(), phone, email, e164];
        let stored: Vec<String> = crm.events_since(1).unwrap().iter()
            .filter(|e| e.seq <= erased_at)
            .map(|e| serde_json::to_string(e).unwrap().to_lowercase())
            .collect();
        for needle in &needles {
            prop_assert!(!stored.iter().any(|e| e.contains(needle.as_str())), "{needle} left in the journal");
        }
        if after.is_empty() {
            let snapshot = serde_json::to_string(crm.state()).unwrap().to_lowercase();
            for needle in &needles {
                prop_assert!(!snapshot.contains(needle.as_str()), "{needle} left in the state");
            }
        }
        let deals_after: Vec<_> = crm.state().deals().values().filter(|d| deals_before.iter().any(|(id, _)| *id == d.id))
            .map(|d| (d.id, d.fields.amount)).collect();
        prop_assert_eq!(deals_before, deals_after);
        let replayed = Crm::replay(ReplicaId::new(1).unwrap(), CrmOptions::default(), crm.events_since(1).unwrap()).unwrap();
        prop_assert_eq!(serde_json::to_string(replayed.state()).unwrap(), serde_json::to_string(crm.state()).unwrap());
        prop_assert_eq!(replayed.projections(), crm.projections());
        prop_assert_eq!(crm.projections(), &Projections::build(crm.state()));
    }
}

#[test]
fn an_erased_employee_stays_erased_through_replay_and_keeps_their_records() {
    let mut crm = business();
    let run = |crm: &mut Crm, actor: &str, now: &str, command: Value| -> Value {
        serde_json::from_str(&crm.execute_json(actor, now, &command.to_string()).unwrap()).unwrap()
    };
    let t = "2026-12-01T08:00:00Z";
    let klara = run(
        &mut crm,
        ADMIN,
        t,
        json!({"type": "create_user", "name": "Klara Zetkina",
        "email": "klara@shop.example", "role": "manager"}),
    )["created"]
        .clone();
    let contact = run(
        &mut crm,
        ADMIN,
        t,
        json!({"type": "create_contact", "name": "Boris", "owner": klara}),
    )["created"]
        .clone();
    run(
        &mut crm,
        ADMIN,
        t,
        json!({"type": "create_task", "title": "Klara Zetkina calls Boris", "assignee": klara, "link": contact}),
    );
    run(
        &mut crm,
        ADMIN,
        t,
        json!({"type": "deactivate_user", "id": klara}),
    );
    run(
        &mut crm,
        ADMIN,
        t,
        json!({"type": "erase_user", "id": klara}),
    );
    let stored = serde_json::to_string(&crm.events_since(1).unwrap())
        .unwrap()
        .to_lowercase();
    let state = serde_json::to_string(crm.state()).unwrap().to_lowercase();
    for needle in ["klara zetkina", "klara@shop.example"] {
        assert!(!stored.contains(needle), "{needle} left in the journal");
        assert!(!state.contains(needle), "{needle} left in the state");
    }
    let id: UserId = klara.as_str().unwrap().parse().unwrap();
    let contact: ContactId = contact.as_str().unwrap().parse().unwrap();
    assert_eq!(
        crm.state().contacts()[&contact].owner,
        id,
        "her records stay hers"
    );
    assert!(crm
        .state()
        .tasks()
        .values()
        .any(|t| t.assignee == id && t.title == "[erased] calls Boris"));
    let replayed = Crm::replay(
        ReplicaId::new(1).unwrap(),
        CrmOptions::default(),
        crm.events_since(1).unwrap(),
    )
    .unwrap();
    assert_eq!(
        serde_json::to_string(replayed.state()).unwrap(),
        serde_json::to_string(crm.state()).unwrap()
    );
    assert_eq!(replayed.projections(), crm.projections());
}
