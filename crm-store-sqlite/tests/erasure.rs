//! Erasing a person from a SQLite journal (docs/adr/0003-erasure.md): afterwards no
//! byte of their name, phone, e-mail or address is left in the file, its write-ahead
//! log, its snapshots, a backup, a recovered copy or a JSON Lines export made after;
//! the business's counts and sums stay; reopening, replaying and recovering give the
//! same state.

use std::path::{Path, PathBuf};

use crm_core::*;
use crm_store_sqlite::{export_jsonl, SqliteJournal};
use serde_json::{json, Value};

const ADMIN: &str = "usr-1-1";
const MANAGER: &str = "usr-1-2";

/// What identifies Anna, in every form the engine may have stored it.
const ANNA: [&str; 6] = [
    "Anna Petrova",
    "+49301234567",
    "+49 30 1234567",
    "anna.petrova@example.com",
    "Lenina 5, Berlin",
    "anna.petrova",
];

struct Files(PathBuf);

impl Files {
    fn new(name: &str) -> Files {
        let path =
            std::env::temp_dir().join(format!("crm-erasure-{name}-{}.sqlite", std::process::id()));
        let files = Files(path);
        files.remove();
        files
    }
    fn wal(&self) -> PathBuf {
        PathBuf::from(format!("{}-wal", self.0.display()))
    }
    fn remove(&self) {
        for path in [
            self.0.clone(),
            self.wal(),
            PathBuf::from(format!("{}-shm", self.0.display())),
        ] {
            let _ = std::fs::remove_file(path);
        }
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        self.remove();
    }
}

fn run(crm: &mut Crm<SqliteJournal>, actor: &str, now: &str, command: Value) -> Value {
    let outcome = crm
        .execute_json(actor, now, &command.to_string())
        .unwrap_or_else(|err| panic!("{command}: {err}"));
    serde_json::from_str(&outcome).unwrap()
}

/// A shop where Anna is a client with a deal, a task, notes, a message sent to her,
/// and a mention in another client's note.
fn shop(path: &Path) -> Crm<SqliteJournal> {
    let options = CrmOptions {
        snapshot_every: Some(5),
        ..CrmOptions::default()
    };
    let mut crm = Crm::open(
        ReplicaId::new(1).unwrap(),
        options,
        SqliteJournal::open_or_create(path).unwrap(),
    )
    .unwrap();
    let t = "2026-12-01T08:00:00Z";
    run(
        &mut crm,
        "system",
        t,
        json!({"type": "create_user", "name": "Olga", "role": "admin"}),
    );
    run(
        &mut crm,
        ADMIN,
        t,
        json!({"type": "create_user", "name": "Anton", "role": "manager"}),
    );
    run(
        &mut crm,
        ADMIN,
        t,
        json!({"type": "create_pipeline", "name": "Windows",
        "stages": [{"name": "New"}, {"name": "Done", "kind": "won"}]}),
    );
    run(
        &mut crm,
        ADMIN,
        t,
        json!({"type": "define_rules", "rules": [
        {"key": "call", "when": {"type": "record_created", "record": "deal"},
         "then": [{"type": "create_task", "title": "Call {{ contact.name }}", "kind": "call", "due_in": "1h"},
                  {"type": "notify", "to": "client", "channel": "sms", "text": "Dear {{ contact.name }}, we will call you."}]}]}),
    );
    let anna = run(&mut crm, MANAGER, t, json!({"type": "create_contact", "name": "Anna Petrova",
        "phones": ["+49 30 1234567"], "emails": ["Anna.Petrova@example.com"], "address": "Lenina 5, Berlin",
        "consent": {"sms": true}}))["created"].clone();
    let boris = run(
        &mut crm,
        MANAGER,
        t,
        json!({"type": "create_contact", "name": "Boris Ivanov"}),
    )["created"]
        .clone();
    let deal = run(
        &mut crm,
        MANAGER,
        t,
        json!({"type": "create_deal", "title": "Windows",
        "contact": anna, "amount": {"amount": "1500", "currency": "EUR"}}),
    )["created"]
        .clone();
    run(
        &mut crm,
        MANAGER,
        t,
        json!({"type": "log_activity", "kind": "note", "link": anna,
        "body": "Anna Petrova prefers calls in the morning: +49 30 1234567"}),
    );
    run(
        &mut crm,
        MANAGER,
        t,
        json!({"type": "log_activity", "kind": "note", "link": boris,
        "body": "Neighbour of Anna Petrova (anna.petrova@example.com)"}),
    );
    run(
        &mut crm,
        MANAGER,
        "2026-12-01T09:00:00Z",
        json!({"type": "move_deal", "id": deal, "stage": "stg-1-5"}),
    );
    crm.snapshot().unwrap();
    crm
}

/// Which of Anna's strings a file's bytes still hold.
fn left_in(path: &Path) -> Vec<&'static str> {
    let bytes = std::fs::read(path).unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes).to_lowercase();
    ANNA.iter()
        .copied()
        .filter(|needle| text.contains(&needle.to_lowercase()))
        .collect()
}

#[test]
fn an_erased_person_is_nowhere_in_the_file_its_log_snapshots_backups_or_exports() {
    let files = Files::new("file");
    let mut crm = shop(&files.0);
    assert!(
        !left_in(&files.0).is_empty() || !left_in(&files.wal()).is_empty(),
        "the shop holds Anna before"
    );
    let won_before = crm
        .report(
            ADMIN.parse().unwrap(),
            parse_now("2026-12-02T00:00:00Z").unwrap(),
            &ReportRequest::new(ReportKind::WinRate),
        )
        .unwrap();

    let anna: ContactId = "con-1-6".parse().unwrap();
    let outcome = run(
        &mut crm,
        ADMIN,
        "2026-12-02T10:00:00Z",
        json!({"type": "erase_contact", "id": anna}),
    );
    assert_eq!(
        outcome["events"][0]["event"]["type"], "contact_erased",
        "{outcome}"
    );

    // Nothing left: the file, its log, the new snapshot, a backup and an export made after.
    assert_eq!(
        left_in(&files.0),
        Vec::<&str>::new(),
        "in the database file"
    );
    assert_eq!(
        left_in(&files.wal()),
        Vec::<&str>::new(),
        "in the write-ahead log"
    );
    let snapshot = crm
        .journal()
        .load_snapshot()
        .unwrap()
        .expect("a snapshot after the erasure");
    let snapshot_text = snapshot.state.to_lowercase();
    for needle in ANNA {
        assert!(
            !snapshot_text.contains(&needle.to_lowercase()),
            "{needle} in the snapshot"
        );
    }
    let backup = Files::new("backup");
    crm.journal().backup_to(&backup.0).unwrap();
    assert_eq!(
        left_in(&backup.0),
        Vec::<&str>::new(),
        "in a backup made after"
    );
    let mut lines = Vec::new();
    export_jsonl(crm.journal(), &mut lines).unwrap();
    let lines = String::from_utf8(lines).unwrap().to_lowercase();
    for needle in ANNA {
        assert!(
            !lines.contains(&needle.to_lowercase()),
            "{needle} in the export"
        );
    }

    // The record stays, blank; the business's counts and sums do not move.
    let state = crm.state();
    let contact = &state.contacts()[&anna];
    assert_eq!(contact.fields.name, ERASED);
    assert!(contact.erased_at.is_some() && contact.fields.phones.is_empty());
    assert_eq!(state.deals().len(), 1);
    let won_after = crm
        .report(
            ADMIN.parse().unwrap(),
            parse_now("2026-12-02T00:00:00Z").unwrap(),
            &ReportRequest::new(ReportKind::WinRate),
        )
        .unwrap();
    assert_eq!(won_before, won_after);
    // Nothing finds her by phone any more.
    let found = crm
        .query_json(
            MANAGER,
            "2026-12-02T10:00:00Z",
            &json!({"type": "list_contacts", "phone": "+49 30 1234567"}).to_string(),
        )
        .unwrap();
    assert!(found.contains("\"total\":0"), "{found}");

    // Reopening, replaying, and recovering the file give the same state, and the
    // recovered copy holds nothing of her either.
    let live = serde_json::to_string(crm.state()).unwrap();
    drop(crm);
    let recovered = Files::new("recovered");
    let recovery = SqliteJournal::recover(&files.0, &recovered.0).unwrap();
    assert!(recovery.problems.is_empty(), "{:?}", recovery.problems);
    let from_recovery = Crm::open(
        ReplicaId::new(1).unwrap(),
        CrmOptions::default(),
        SqliteJournal::open(&recovered.0).unwrap(),
    )
    .unwrap();
    assert_eq!(serde_json::to_string(from_recovery.state()).unwrap(), live);
    drop(from_recovery);
    assert_eq!(
        left_in(&recovered.0),
        Vec::<&str>::new(),
        "in a recovered copy"
    );
    assert_eq!(
        left_in(&recovered.wal()),
        Vec::<&str>::new(),
        "in a recovered copy's log"
    );
    let reopened = Crm::open(
        ReplicaId::new(1).unwrap(),
        CrmOptions::default(),
        SqliteJournal::open(&files.0).unwrap(),
    )
    .unwrap();
    assert_eq!(serde_json::to_string(reopened.state()).unwrap(), live);
    let replayed = Crm::replay(
        ReplicaId::new(1).unwrap(),
        CrmOptions::default(),
        reopened.events_since(1).unwrap(),
    )
    .unwrap();
    assert_eq!(serde_json::to_string(replayed.state()).unwrap(), live);
    assert_eq!(replayed.projections(), reopened.projections());
}

#[test]
fn erasing_needs_an_admin_and_a_journal_that_can_rewrite() {
    let files = Files::new("refusals");
    let mut crm = shop(&files.0);
    let denied = crm.execute_json(
        MANAGER,
        "2026-12-02T10:00:00Z",
        &json!({"type": "erase_contact", "id": "con-1-6"}).to_string(),
    );
    assert_eq!(denied.unwrap_err().code(), "permission_denied");
    let events = crm.last_seq();
    // A journal that keeps no rewrite (the trait's default) refuses, changing nothing.
    struct AppendOnly(MemoryJournal);
    impl Journal for AppendOnly {
        fn append(&mut self, batch: &[EventEnvelope]) -> Result<(), CrmError> {
            self.0.append(batch)
        }
        fn read_from(&self, from: u64) -> Result<Vec<EventEnvelope>, CrmError> {
            self.0.read_from(from)
        }
        fn get(&self, seq: u64) -> Result<Option<EventEnvelope>, CrmError> {
            self.0.get(seq)
        }
        fn last_seq(&self) -> u64 {
            self.0.last_seq()
        }
    }
    let copy = MemoryJournal::from_events(crm.events_since(1).unwrap()).unwrap();
    let mut other = Crm::open(
        ReplicaId::new(1).unwrap(),
        CrmOptions::default(),
        AppendOnly(copy),
    )
    .unwrap();
    let refused = other.execute_json(
        ADMIN,
        "2026-12-02T10:00:00Z",
        &json!({"type": "erase_contact", "id": "con-1-6"}).to_string(),
    );
    assert_eq!(refused.unwrap_err().code(), "storage");
    assert_eq!(other.last_seq(), events);
    assert_eq!(crm.last_seq(), events);
}

#[test]
fn a_former_employees_name_and_email_are_nowhere_in_the_file_and_their_deals_stay_counted() {
    const KLARA: [&str; 2] = ["Klara Zetkina", "klara.zetkina@shop.example"];
    let files = Files::new("employee");
    let mut crm = shop(&files.0);
    let t = "2026-12-02T08:00:00Z";
    let klara = run(
        &mut crm,
        ADMIN,
        t,
        json!({"type": "create_user", "name": "Klara Zetkina",
        "email": "klara.zetkina@shop.example", "role": "manager"}),
    )["created"]
        .clone();
    let deal = run(
        &mut crm,
        ADMIN,
        t,
        json!({"type": "create_deal", "title": "Balcony", "owner": klara,
        "amount": {"amount": "700", "currency": "EUR"}}),
    )["created"]
        .clone();
    // Her name in free text elsewhere: a colleague's note and the rule's notification.
    run(
        &mut crm,
        ADMIN,
        t,
        json!({"type": "log_activity", "kind": "note", "link": deal,
        "body": "Klara Zetkina (klara.zetkina@shop.example) measured on Monday"}),
    );
    run(
        &mut crm,
        ADMIN,
        t,
        json!({"type": "move_deal", "id": deal, "stage": "stg-1-5"}),
    );
    crm.snapshot().unwrap();
    let left = |path: &Path| -> Vec<&'static str> {
        let text = String::from_utf8_lossy(&std::fs::read(path).unwrap_or_default()).to_lowercase();
        KLARA
            .iter()
            .copied()
            .filter(|n| text.contains(&n.to_lowercase()))
            .collect()
    };
    assert!(
        !left(&files.0).is_empty() || !left(&files.wal()).is_empty(),
        "the file names her before"
    );
    let revenue = |crm: &Crm<SqliteJournal>| {
        crm.query_json(
            ADMIN,
            "2026-12-03T08:00:00Z",
            r#"{"type": "report", "report": "revenue", "from": "2026-12-01", "to": "2026-12-31"}"#,
        )
        .unwrap()
    };
    let before = revenue(&crm);

    let at = "2026-12-03T08:00:00Z";
    let refused = crm
        .execute_json(
            ADMIN,
            at,
            &json!({"type": "erase_user", "id": klara}).to_string(),
        )
        .unwrap_err();
    assert_eq!(
        refused.code(),
        "conflict",
        "an active employee is deactivated first"
    );
    run(
        &mut crm,
        ADMIN,
        at,
        json!({"type": "deactivate_user", "id": klara}),
    );
    let outcome = run(
        &mut crm,
        ADMIN,
        at,
        json!({"type": "erase_user", "id": klara}),
    );
    assert_eq!(outcome["events"][0]["event"]["type"], "user_erased");

    let user: Value = serde_json::from_str(
        &crm.query_json(ADMIN, at, &json!({"type": "get", "id": klara}).to_string())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        (user["name"].as_str(), user.get("email")),
        (Some("[erased]"), None)
    );
    let deal_now: Value = serde_json::from_str(
        &crm.query_json(ADMIN, at, &json!({"type": "get", "id": deal}).to_string())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(deal_now["owner"], klara, "her deals stay hers by ID");
    assert_eq!(revenue(&crm), before, "reports keep their sums");
    assert_eq!(left(&files.0), Vec::<&str>::new(), "the file");
    assert_eq!(
        left(&files.wal()),
        Vec::<&str>::new(),
        "the write-ahead log"
    );
    // Anna, the client, is untouched.
    assert!(!left_in(&files.0).is_empty());
    drop(crm);
    let reopened = Crm::open(
        ReplicaId::new(1).unwrap(),
        CrmOptions::default(),
        SqliteJournal::open_or_create(&files.0).unwrap(),
    )
    .unwrap();
    assert_eq!(
        reopened.state().users()[&klara.as_str().unwrap().parse().unwrap()].name,
        "[erased]"
    );
    assert_eq!(revenue(&reopened), before);
}
