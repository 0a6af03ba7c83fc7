//! The conformance suite of crm-core journals (docs/server.md): what every store
//! behind the `Journal` trait must do, checked the same way for each. A store's test
//! calls [`run`] with a way to make a fresh, empty store and to open handles on it
//! (each handle as if it were another process).
//!
//! The checks: an empty journal; events read back as written, gap-free, by any handle;
//! a batch at the wrong position refused with nothing stored; a stale writer refused
//! with `conflict`, catching up and retrying; snapshots; rewriting (erasure); several
//! writers at once, none losing or duplicating a command; a reader that never sees a
//! gap while they write.

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Barrier;

use crm_core::{Crm, CrmError, CrmOptions, EventEnvelope, Journal, ReplicaId, Snapshot};

/// A store under test: one empty database (a file, a tenant in PostgreSQL).
pub trait Store: Sync {
    type Journal: Journal + Send;
    /// A new handle on this store, as another process would open it.
    fn open(&self) -> Self::Journal;
}

/// How many writers [`run`]'s concurrency checks start, and how many commands each.
pub const WRITERS: usize = 4;
pub const COMMANDS_PER_WRITER: usize = 25;

/// A named check of a store.
type Check<S> = (&'static str, fn(&S));

/// Runs every check, each on a fresh store from `fresh` (given the check's name).
pub fn run<S: Store>(fresh: &dyn Fn(&str) -> S) {
    let checks: [Check<S>; 8] = [
        ("empty", empty),
        ("written_is_read", written_is_read),
        (
            "wrong_position_stores_nothing",
            wrong_position_stores_nothing,
        ),
        ("stale_writer_catches_up", stale_writer_catches_up),
        ("snapshots", snapshots),
        ("rewrite", rewrite),
        ("concurrent_writers", concurrent_writers),
        ("reader_never_skips", reader_never_skips),
    ];
    for (name, check) in checks {
        eprintln!("conformance: {name}");
        check(&fresh(name));
    }
}

const NOW: &str = "2026-12-05T09:00:00Z";

fn engine<J: Journal>(journal: J) -> Crm<J> {
    Crm::open(
        ReplicaId::new(1).expect("1 is a replica"),
        CrmOptions::default(),
        journal,
    )
    .expect("the journal opens")
}

/// An admin, a manager, a pipeline and a rule that reacts to every contact.
fn setup<J: Journal>(crm: &mut Crm<J>) {
    let commands = [
        (
            "system",
            r#"{"type": "create_user", "name": "Olga", "role": "admin"}"#,
        ),
        (
            "usr-1-1",
            r#"{"type": "create_user", "name": "Ivan", "role": "manager"}"#,
        ),
        (
            "usr-1-1",
            r#"{"type": "create_pipeline", "name": "Windows", "stages": [{"name": "New"}, {"name": "Done", "kind": "won"}]}"#,
        ),
        (
            "usr-1-1",
            r#"{"type": "define_rules", "rules": [{"key": "call", "when": {"type": "record_created", "record": "contact"},
            "then": [{"type": "create_task", "title": "Call {{ contact.name }}", "kind": "call", "due_in": "15m"}]}]}"#,
        ),
    ];
    for (actor, command) in commands {
        crm.execute_json(actor, NOW, command)
            .expect("the setup runs");
    }
}

fn contact(name: &str) -> String {
    format!(r#"{{"type": "create_contact", "name": "{name}"}}"#)
}

fn state<J: Journal>(crm: &Crm<J>) -> serde_json::Value {
    serde_json::to_value(crm.state()).expect("a state serialises")
}

fn all(journal: &impl Journal) -> Vec<EventEnvelope> {
    journal.read_from(1).expect("the journal reads")
}

/// Positions 1..=n with no gap.
fn assert_gap_free(events: &[EventEnvelope]) {
    for (index, event) in events.iter().enumerate() {
        assert_eq!(
            event.seq,
            index as u64 + 1,
            "position {} holds event {}",
            index + 1,
            event.seq
        );
    }
}

fn empty<S: Store>(store: &S) {
    let journal = store.open();
    assert_eq!(journal.last_seq(), 0);
    assert!(all(&journal).is_empty());
    assert_eq!(journal.get(1).expect("get answers"), None);
    assert_eq!(
        journal.load_snapshot().expect("no snapshot is no error"),
        None
    );
}

fn written_is_read<S: Store>(store: &S) {
    let mut crm = engine(store.open());
    setup(&mut crm);
    crm.execute_json("usr-1-2", NOW, &contact("Anna"))
        .expect("a contact");
    let written = crm.events_since(1).expect("events");
    let other = store.open();
    let read = all(&other);
    assert_eq!(read, written, "another handle reads what was written");
    assert_gap_free(&read);
    assert_eq!(other.last_seq(), written.len() as u64);
    for event in &written {
        assert_eq!(other.get(event.seq).expect("get").as_ref(), Some(event));
    }
    let reopened = engine(store.open());
    assert_eq!(
        state(&reopened),
        state(&crm),
        "reopening gives the same state"
    );
}

fn wrong_position_stores_nothing<S: Store>(store: &S) {
    let mut crm = engine(store.open());
    setup(&mut crm);
    let before = all(&store.open());
    let mut journal = store.open();
    let mut ahead = before.last().expect("events").clone();
    ahead.seq += 2;
    let err = journal.append(&[ahead]).expect_err("a gap is refused");
    assert_eq!(err.code(), "conflict", "{err}");
    let mut behind = before.last().expect("events").clone();
    behind.seq -= 1;
    let err = journal
        .append(&[behind])
        .expect_err("an overwrite is refused");
    assert_eq!(err.code(), "conflict", "{err}");
    assert_eq!(all(&store.open()), before, "nothing was stored");
}

fn stale_writer_catches_up<S: Store>(store: &S) {
    let mut first = engine(store.open());
    setup(&mut first);
    let mut second = engine(store.open());
    first
        .execute_json("usr-1-2", NOW, &contact("Anna"))
        .expect("first writes");
    let err = second
        .execute_json("usr-1-2", NOW, &contact("Boris"))
        .expect_err("the stale writer is refused");
    assert_eq!(err.code(), "conflict", "{err}");
    let command = contact("Boris").parse().expect("a command");
    let actor = "usr-1-2".parse().expect("an actor");
    let now = NOW.parse().expect("a time");
    second
        .execute_retrying(actor, now, &command, 3)
        .expect("caught up, it writes");
    assert!(
        first.catch_up().expect("catch up") > 0,
        "the other writer's events are taken"
    );
    assert_eq!(state(&first), state(&second));
    assert_gap_free(&all(&store.open()));
}

fn snapshots<S: Store>(store: &S) {
    let mut journal = store.open();
    if !journal.keeps_snapshots() {
        return;
    }
    let mut crm = engine(store.open());
    setup(&mut crm);
    for seq in [2, 4] {
        journal
            .save_snapshot(&Snapshot {
                v: crm_core::SNAPSHOT_VERSION,
                seq,
                state: format!("{{\"at\": {seq}}}"),
            })
            .expect("a snapshot is stored");
    }
    let newest = store
        .open()
        .load_snapshot()
        .expect("it reads")
        .expect("one is kept");
    assert_eq!((newest.seq, newest.state.as_str()), (4, "{\"at\": 4}"));
    // A real one, then an engine opened from it equals one replaying everything.
    crm.snapshot().expect("the engine's snapshot");
    let from_snapshot = engine(store.open());
    let replayed = Crm::replay(
        ReplicaId::new(1).expect("1"),
        CrmOptions::default(),
        all(&journal),
    )
    .expect("replay");
    assert_eq!(state(&from_snapshot), state(&replayed));
}

fn rewrite<S: Store>(store: &S) {
    let mut journal = store.open();
    if !journal.rewrites() {
        return;
    }
    let mut crm = engine(store.open());
    setup(&mut crm);
    crm.execute_json("usr-1-2", NOW, &contact("Secret Name"))
        .expect("a contact");
    crm.snapshot().expect("a snapshot");
    let changed = journal
        .rewrite(&mut |event| {
            let text = serde_json::to_string(event).ok()?;
            text.contains("Secret Name").then(|| {
                serde_json::from_str(&text.replace("Secret Name", "[erased]"))
                    .expect("still an event")
            })
        })
        .expect("the rewrite runs");
    assert!(changed >= 1);
    let after = store.open();
    let text = serde_json::to_string(&all(&after)).expect("JSON");
    assert!(!text.contains("Secret Name") && text.contains("[erased]"));
    assert_eq!(
        after.load_snapshot().expect("reads"),
        None,
        "snapshots are dropped"
    );
}

/// Each writer's command, told apart by writer and number.
fn name(writer: usize, number: usize) -> String {
    format!("W{writer}C{number}")
}

/// Writes as a writer would: catch up, then execute, retrying on `conflict`.
fn write<J: Journal>(crm: &mut Crm<J>, command: &str) -> Result<(), CrmError> {
    let command = command.parse()?;
    let (actor, now) = (
        "usr-1-2".parse()?,
        NOW.parse().map_err(|_| CrmError::conflict("time"))?,
    );
    crm.catch_up()?;
    crm.execute_retrying(actor, now, &command, 100).map(drop)
}

fn concurrent_writers<S: Store>(store: &S) {
    setup(&mut engine(store.open()));
    let start = Barrier::new(WRITERS);
    let writers: Vec<Crm<S::Journal>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..WRITERS)
            .map(|writer| {
                let (start, journal) = (&start, store.open());
                scope.spawn(move || {
                    let mut crm = engine(journal);
                    start.wait();
                    for number in 0..COMMANDS_PER_WRITER {
                        write(&mut crm, &contact(&name(writer, number))).unwrap_or_else(|err| {
                            panic!("writer {writer}, command {number}: {err}")
                        });
                    }
                    crm
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().expect("a writer finishes"))
            .collect()
    });
    // Only now that all have finished does catching up reach the end.
    let states: Vec<serde_json::Value> = writers
        .into_iter()
        .map(|mut crm| {
            crm.catch_up().expect("catch up");
            state(&crm)
        })
        .collect();
    let events = all(&store.open());
    assert_gap_free(&events);
    let text = serde_json::to_string(&events).expect("JSON");
    for writer in 0..WRITERS {
        for number in 0..COMMANDS_PER_WRITER {
            let made = format!("\"name\":\"{}\"", name(writer, number));
            assert_eq!(text.matches(&made).count(), 1, "{made} stored exactly once");
        }
    }
    let fresh = state(&engine(store.open()));
    for other in &states {
        assert_eq!(other, &fresh, "every writer ends where a fresh reader does");
    }
}

fn reader_never_skips<S: Store>(store: &S) {
    setup(&mut engine(store.open()));
    let finished = AtomicUsize::new(0);
    let writers = 2;
    std::thread::scope(|scope| {
        for writer in 0..writers {
            let (journal, finished) = (store.open(), &finished);
            scope.spawn(move || {
                let mut crm = engine(journal);
                for number in 0..COMMANDS_PER_WRITER {
                    write(&mut crm, &contact(&name(writer, number))).expect("a write");
                }
                finished.fetch_add(1, Ordering::AcqRel);
            });
        }
        // Reads what is there, again and again, while they write: each read must go
        // on exactly where the last one stopped.
        let reader = store.open();
        let mut seen = 0u64;
        loop {
            let last_round = finished.load(Ordering::Acquire) == writers;
            reader
                .scan_from(seen + 1, &mut |event| {
                    assert_eq!(
                        event.seq,
                        seen + 1,
                        "the reader skipped from {seen} to {}",
                        event.seq
                    );
                    seen = event.seq;
                    Ok(ControlFlow::Continue(()))
                })
                .expect("the reader reads");
            if last_round {
                break;
            }
        }
        assert_eq!(
            seen,
            all(&store.open()).len() as u64,
            "the reader saw every event"
        );
    });
}
