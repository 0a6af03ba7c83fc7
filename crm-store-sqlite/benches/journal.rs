//! The SQLite journal's costs, next to raw SQLite on the same bytes in the same run:
//! appends (one command per transaction, batches of 1,000 events), opening (full
//! replay vs. snapshot + tail, about 1M events unless `CRM_BENCH_OPEN_EVENTS` says
//! otherwise) of two histories — a shop's working life (the reports benchmark's
//! generated deals, tasks and activities) and the worst case, every event a new
//! contact — and file size per event (printed).
//!
//! `cargo bench -p crm-store-sqlite --bench journal` (docs/performance.md).

use std::path::{Path, PathBuf};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use crm_core::*;
use crm_store_sqlite::SqliteJournal;

fn temp(name: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("crm-bench-{name}-{}.sqlite", std::process::id()));
    remove(&path);
    path
}

fn remove(path: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

const NOW: &str = "2026-11-27T09:00:00Z";

/// An engine with an admin and a manager, on `journal`.
fn shop<J: Journal>(journal: J, snapshot_every: u64) -> Crm<J> {
    let options = CrmOptions {
        snapshot_every: Some(snapshot_every),
        ..CrmOptions::default()
    };
    let mut crm = Crm::open(ReplicaId::new(1).unwrap(), options, journal).unwrap();
    crm.execute_json(
        "system",
        NOW,
        r#"{"type": "create_user", "name": "Olga", "role": "admin"}"#,
    )
    .unwrap();
    crm.execute_json(
        "usr-1-1",
        NOW,
        r#"{"type": "create_user", "name": "Ivan", "role": "manager"}"#,
    )
    .unwrap();
    crm
}

fn contact(n: u64) -> Command {
    format!(r#"{{"type": "create_contact", "name": "Client {n}", "phones": ["+49 30 {n:07}"], "tags": ["bench"]}}"#)
        .parse()
        .unwrap()
}

/// `count` contact events, as a memory engine wrote them.
fn events(count: u64) -> Vec<EventEnvelope> {
    let mut crm = shop(MemoryJournal::new(), 0);
    let manager: Actor = "usr-1-2".parse().unwrap();
    for n in 0..count {
        crm.execute(manager, parse_now(NOW).unwrap(), &contact(n))
            .unwrap();
    }
    crm.events_since(1).unwrap()
}

fn appends(c: &mut Criterion) {
    let mut group = c.benchmark_group("append");
    group.sample_size(20);
    let path = temp("single");
    let mut crm = shop(SqliteJournal::open_or_create(&path).unwrap(), 0);
    let manager: Actor = "usr-1-2".parse().unwrap();
    let mut n = 0;
    group.bench_function("one_command_per_transaction", |b| {
        b.iter(|| {
            n += 1;
            crm.execute(manager, parse_now(NOW).unwrap(), &contact(n))
                .unwrap()
        })
    });
    drop(crm);
    remove(&path);

    let batch = events(1_000);
    let body_bytes: usize = batch
        .iter()
        .map(|e| serde_json::to_string(e).unwrap().len())
        .sum();
    println!("batch: {} events, {body_bytes} bytes of JSON", batch.len());
    group.bench_function("journal_batch_1000_events", |b| {
        b.iter_batched(
            || {
                let path = temp("batch");
                (SqliteJournal::open_or_create(&path).unwrap(), path)
            },
            |(mut journal, path)| {
                journal.append(&batch).unwrap();
                drop(journal);
                remove(&path);
            },
            BatchSize::PerIteration,
        )
    });
    let bodies: Vec<String> = batch
        .iter()
        .map(|e| serde_json::to_string(e).unwrap())
        .collect();
    group.bench_function("raw_sqlite_batch_1000_rows", |b| {
        b.iter_batched(
            || {
                let path = temp("raw");
                let conn = rusqlite::Connection::open(&path).unwrap();
                conn.pragma_update(None, "journal_mode", "WAL").unwrap();
                conn.pragma_update(None, "synchronous", "FULL").unwrap();
                conn.execute_batch(
                    "CREATE TABLE events (seq INTEGER PRIMARY KEY, body TEXT NOT NULL)",
                )
                .unwrap();
                (conn, path)
            },
            |(mut conn, path)| {
                let tx = conn.transaction().unwrap();
                {
                    let mut insert = tx
                        .prepare("INSERT INTO events (seq, body) VALUES (?1, ?2)")
                        .unwrap();
                    for (seq, body) in bodies.iter().enumerate() {
                        insert
                            .execute(rusqlite::params![seq as i64 + 1, body])
                            .unwrap();
                    }
                }
                tx.commit().unwrap();
                drop(conn);
                remove(&path);
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

/// About how many events the opening benchmarks store: `CRM_BENCH_OPEN_EVENTS`, else 1M
/// under `cargo bench` and 2,000 when `cargo test --all-targets` runs this once as a test.
fn open_count() -> u64 {
    let benchmarking = std::env::args().any(|arg| arg == "--bench");
    std::env::var("CRM_BENCH_OPEN_EVENTS")
        .ok()
        .and_then(|count| count.parse().ok())
        .unwrap_or(if benchmarking { 1_000_000 } else { 2_000 })
}

/// A shop's history of about `count` events: `crm-bench`'s deals with their contacts,
/// stage moves, tasks, activities and payments (about 14.4 events per deal).
fn shop_history(count: u64) -> Vec<EventEnvelope> {
    let deals = (count * 10 / 144).max(10);
    let shop = crm_bench::load(deals, 42).unwrap();
    shop.crm.events_since(1).unwrap()
}

/// Generates about this many events of one kind of history.
type History = fn(u64) -> Vec<EventEnvelope>;

fn opening(c: &mut Criterion) {
    let count = open_count();
    let histories: [(&str, History); 2] =
        [("shop_history", shop_history), ("new_contacts", events)];
    for (history, generate) in histories {
        // One history in memory at a time: the other's million envelopes would only
        // crowd the heap the opening allocates into.
        let all = generate(count);
        let mut group = c.benchmark_group(format!("open_{history}"));
        group.sample_size(10);
        let records = opened_records(&all);
        for (name, snapshot) in [("full_replay", false), ("snapshot_and_tail", true)] {
            let path = temp(name);
            let mut journal = SqliteJournal::open_or_create(&path).unwrap();
            journal.append(&all).unwrap();
            if snapshot {
                let mut crm =
                    Crm::open(ReplicaId::new(1).unwrap(), CrmOptions::default(), journal).unwrap();
                crm.snapshot().unwrap();
                drop(crm);
            } else {
                drop(journal);
            }
            let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            println!(
                "{history}/{name}: {} events, {records} records, file {size} bytes, {} bytes per event",
                all.len(),
                size / all.len() as u64
            );
            // Opening, not tearing down: the engine is dropped outside the timing.
            group.bench_function(name, |b| {
                b.iter_with_large_drop(|| {
                    let crm = Crm::open(
                        ReplicaId::new(1).unwrap(),
                        CrmOptions::default(),
                        SqliteJournal::open_or_create(&path).unwrap(),
                    )
                    .unwrap();
                    assert_eq!(crm.state().last_seq(), all.len() as u64);
                    crm
                })
            });
            remove(&path);
        }
        group.finish();
    }
}

/// How many records (contacts, companies, deals, tasks, activities) the events leave.
fn opened_records(events: &[EventEnvelope]) -> usize {
    let mut journal = MemoryJournal::new();
    journal.append(events).unwrap();
    let crm = Crm::open(ReplicaId::new(1).unwrap(), CrmOptions::default(), journal).unwrap();
    let state = crm.state();
    state.contacts().len()
        + state.companies().len()
        + state.deals().len()
        + state.tasks().len()
        + state.activities().len()
}

criterion_group!(benches, appends, opening);
criterion_main!(benches);
