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
