//! A replica's SQLite file (docs/sync.md): a phone killed at any moment loses no command
//! it acknowledged to its user and never sends one twice as two commands.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command as Process, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crm_core::*;
use crm_store_sqlite::ReplicaFile;

fn office() -> Crm {
    let mut crm = Crm::new(ReplicaId::new(1).unwrap(), CrmOptions::default()).unwrap();
    crm.execute_json(
        "system",
        "2026-12-01T08:00:00Z",
        r#"{"type": "create_user", "name": "Olga", "role": "admin"}"#,
    )
    .unwrap();
    crm
}

fn olga() -> UserId {
    "usr-1-1".parse().unwrap()
}

struct Files(PathBuf);

impl Drop for Files {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.0.display()));
        }
    }
}

/// Runs the writer until it has acknowledged `at_least` more commands, then kills it
/// mid-write; the sequences it acknowledged.
fn type_until_killed(path: &str, at_least: usize) -> Vec<u64> {
    let mut child = Process::new(env!("CARGO_BIN_EXE_replica_writer"))
        .arg(path)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if let Ok(seq) = line.parse::<u64>() {
                sink.lock().unwrap().push(seq);
            }
        }
    });
    // Give it time to get `at_least` through, however busy the machine; then kill it,
    // whatever it is doing.
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline && seen.lock().unwrap().len() < at_least {
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    reader.join().unwrap();
    let acknowledged = seen.lock().unwrap().clone();
    acknowledged
}

#[test]
fn a_killed_phone_keeps_every_acknowledged_command_and_sends_each_once() {
    let path = std::env::temp_dir().join(format!("crm-replica-{}.sqlite", std::process::id()));
    let files = Files(path.clone());
    let text = path.to_str().unwrap().to_string();
    let mut office = office();
    {
        let mut file =
            ReplicaFile::open_or_create(&path, ReplicaId::new(7).unwrap(), CrmOptions::default())
                .unwrap();
        file.receive_pull(&office.pull(olga(), 0, None).unwrap())
            .unwrap();
    }
    let mut acknowledged = type_until_killed(&text, 20);
    acknowledged.extend(type_until_killed(&text, 20));
    assert!(
        acknowledged.len() >= 10,
        "the writer got through: {}",
        acknowledged.len()
    );

    let mut file =
        ReplicaFile::open_or_create(&path, ReplicaId::new(7).unwrap(), CrmOptions::default())
            .unwrap();
    let pending: Vec<u64> = file
        .replica()
        .pending()
        .iter()
        .map(|p| p.command.seq)
        .collect();
    for seq in &acknowledged {
        assert!(pending.contains(seq), "acknowledged command {seq} was lost");
    }
    let expected: Vec<u64> = (1..file.replica().log().next_seq).collect();
    assert_eq!(
        pending, expected,
        "pending commands are one gapless sequence"
    );
    // Pushed, with the answer lost once, and again: each runs once.
    let now: chrono::DateTime<chrono::Utc> = "2026-12-02T09:00:00Z".parse().unwrap();
    let batch = file.replica().push_batch(MAX_PUSH_COMMANDS);
    office.push(olga(), now, &batch).unwrap();
    let answer = office.push(olga(), now, &batch).unwrap();
    file.receive_push_result(&answer).unwrap();
    file.receive_pull(&office.pull(olga(), file.replica().cursor(), None).unwrap())
        .unwrap();
    assert!(file.replica().pending().is_empty());
    assert_eq!(office.state().contacts().len(), expected.len());
    drop(file);
    let again =
        ReplicaFile::open_or_create(&path, ReplicaId::new(7).unwrap(), CrmOptions::default())
            .unwrap();
    assert!(again.replica().pending().is_empty());
    assert_eq!(
        serde_json::to_value(again.replica().view().state()).unwrap(),
        serde_json::to_value(office.state()).unwrap()
    );
    let other =
        ReplicaFile::open_or_create(&path, ReplicaId::new(8).unwrap(), CrmOptions::default());
    assert_eq!(other.unwrap_err().code(), "validation");
    drop(files);
}

/// Faults between the two ends: the authority stores a push and dies before it
/// answers; a pull arrives before the push's answer; a push is cut off halfway.
#[test]
fn an_authority_killed_before_it_answers_and_answers_out_of_order_lose_nothing() {
    let dir = std::env::temp_dir().join(format!("crm-faults-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let office_path = dir.join("office.sqlite");
    let _cleanup = Files(office_path.clone());
    let open_office = || {
        Crm::open(
            ReplicaId::new(1).unwrap(),
            CrmOptions::default(),
            crm_store_sqlite::SqliteJournal::open_or_create(&office_path).unwrap(),
        )
        .unwrap()
    };
    let mut office = open_office();
    office
        .execute_json(
            "system",
            "2026-12-01T08:00:00Z",
            r#"{"type": "create_user", "name": "Olga", "role": "admin"}"#,
        )
        .unwrap();
    let mut phone = Replica::new(ReplicaId::new(7).unwrap(), CrmOptions::default()).unwrap();
    phone
        .receive_pull(&office.pull(olga(), 0, None).unwrap())
        .unwrap();
    let now: chrono::DateTime<chrono::Utc> = "2026-12-01T09:00:00Z".parse().unwrap();
    for name in ["Anna", "Boris", "Clara"] {
        let command: Command = format!(r#"{{"type": "create_contact", "name": "{name}"}}"#)
            .parse()
            .unwrap();
        phone.execute(olga(), now, &command).unwrap();
    }
    // A push cut off after its first command: only that one arrives.
    let mut cut = phone.push_batch(10);
    cut.commands.truncate(1);
    office.push(olga(), now, &cut).unwrap();
    // The whole batch, stored by the office, which dies before it answers.
    let batch = phone.push_batch(10);
    office.push(olga(), now, &batch).unwrap();
    drop(office);
    let mut office = open_office();
    assert_eq!(office.state().contacts().len(), 3);
    // The pull arrives before any push answer: decided commands leave the queue.
    phone
        .receive_pull(&office.pull(olga(), phone.cursor(), None).unwrap())
        .unwrap();
    assert!(phone.pending().is_empty());
    // The phone pushes again what it had not heard about; the late answer comes after.
    let answer = office.push(olga(), now, &batch).unwrap();
    assert!(answer
        .results
        .iter()
        .all(|r| matches!(r, CommandResult::Accepted { .. })));
    phone.receive_push_result(&answer).unwrap();
    assert_eq!(office.state().contacts().len(), 3, "nothing ran twice");
    assert!(phone.rejected().is_empty());
    assert_eq!(
        serde_json::to_value(phone.view().state()).unwrap(),
        serde_json::to_value(office.state()).unwrap()
    );
    drop(office);
    let _ = std::fs::remove_dir_all(&dir);
}

/// What of `needles` the file at `path` (and its write-ahead log) still holds.
fn left_in(path: &std::path::Path, needles: &[&'static str]) -> Vec<&'static str> {
    let mut bytes = std::fs::read(path).unwrap_or_default();
    bytes.extend(std::fs::read(format!("{}-wal", path.display())).unwrap_or_default());
    let text = String::from_utf8_lossy(&bytes).to_lowercase();
    needles
        .iter()
        .copied()
        .filter(|needle| text.contains(&needle.to_lowercase()))
        .collect()
}

#[test]
fn a_person_erased_at_the_office_leaves_every_replica_file() {
    let dir = std::env::temp_dir().join(format!("crm-erased-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut office = office();
    let run = |office: &mut Crm, actor: &str, at: &str, command: &str| -> String {
        let outcome: serde_json::Value =
            serde_json::from_str(&office.execute_json(actor, at, command).unwrap()).unwrap();
        outcome["created"].as_str().unwrap_or_default().to_string()
    };
    let manager = run(
        &mut office,
        "usr-1-1",
        "2026-12-01T08:01:00Z",
        r#"{"type": "create_user", "name": "Anton", "role": "manager"}"#,
    );
    let dora = run(
        &mut office,
        &manager,
        "2026-12-01T08:02:00Z",
        r#"{"type": "create_contact", "name": "Dorothea Quist", "phones": ["+49 30 9876543"], "emails": ["dora.quist@example.com"]}"#,
    );
    run(
        &mut office,
        &manager,
        "2026-12-01T08:03:00Z",
        &format!(
            r#"{{"type": "log_activity", "kind": "note", "link": "{dora}", "body": "Dorothea Quist wants a quote"}}"#
        ),
    );
    let needles = ["Dorothea", "Quist", "9876543", "dora.quist@example.com"];
    // The admin's laptop holds the whole journal, Anton's phone his view.
    let laptop_path = dir.join("laptop.sqlite");
    let phone_path = dir.join("phone.sqlite");
    let _cleanup = (Files(laptop_path.clone()), Files(phone_path.clone()));
    let mut laptop = ReplicaFile::open_or_create(
        &laptop_path,
        ReplicaId::new(7).unwrap(),
        CrmOptions::default(),
    )
    .unwrap();
    let mut phone = ReplicaFile::open_or_create(
        &phone_path,
        ReplicaId::new(8).unwrap(),
        CrmOptions::default(),
    )
    .unwrap();
    let anton: UserId = manager.parse().unwrap();
    laptop
        .receive_pull(&office.pull(olga(), 0, None).unwrap())
        .unwrap();
    phone
        .receive_pull(&office.pull(anton, 0, None).unwrap())
        .unwrap();
    assert_eq!(left_in(&laptop_path, &needles), needles);
    assert_eq!(left_in(&phone_path, &needles), needles);
    // Erased at the office; both pull.
    run(
        &mut office,
        "usr-1-1",
        "2026-12-01T09:00:00Z",
        &format!(r#"{{"type": "erase_contact", "id": "{dora}"}}"#),
    );
    laptop
        .receive_pull(
            &office
                .pull(olga(), laptop.replica().cursor(), None)
                .unwrap(),
        )
        .unwrap();
    phone
        .receive_pull(&office.pull(anton, phone.replica().cursor(), None).unwrap())
        .unwrap();
    assert_eq!(laptop.replica().scrubs(), 1);
    assert_eq!(
        left_in(&laptop_path, &needles),
        Vec::<&str>::new(),
        "the laptop's file"
    );
    assert_eq!(
        left_in(&phone_path, &needles),
        Vec::<&str>::new(),
        "the phone's file"
    );
    // Opened again, each holds what the office holds of its user's view.
    drop((laptop, phone));
    let laptop = ReplicaFile::open_or_create(
        &laptop_path,
        ReplicaId::new(7).unwrap(),
        CrmOptions::default(),
    )
    .unwrap();
    let phone = ReplicaFile::open_or_create(
        &phone_path,
        ReplicaId::new(8).unwrap(),
        CrmOptions::default(),
    )
    .unwrap();
    assert_eq!(
        serde_json::to_value(laptop.replica().view().state()).unwrap(),
        serde_json::to_value(office.state()).unwrap()
    );
    assert_eq!(
        serde_json::to_value(phone.replica().view().state()).unwrap(),
        serde_json::to_value(office.state().restricted_to(anton)).unwrap()
    );
    let _ = std::fs::remove_dir(&dir);
}
