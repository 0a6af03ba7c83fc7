//! Data quality at scale: importing a 100k-row CSV, and duplicate search over 500k
//! contacts. Run: `cargo bench -p crm-core --bench intake`; figures go in
//! docs/performance.md. Under `cargo test --all-targets` it runs once on 2,000 rows.

use std::fmt::Write;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use crm_core::*;

const FIRST: [&str; 16] = [
    "Anna", "Boris", "Petra", "Jürgen", "Olga", "Ivan", "Marie", "Lukas", "Sofia", "Max", "Elena",
    "Paul", "Irina", "Jonas", "Nina", "Felix",
];
const LAST: [&str; 16] = [
    "Petrova",
    "Ivanov",
    "Schulz",
    "Müller",
    "Smirnova",
    "Weber",
    "Fischer",
    "Kuznetsov",
    "Wagner",
    "Becker",
    "Popova",
    "Hoffmann",
    "Sokolov",
    "Koch",
    "Richter",
    "Volkova",
];

/// How many rows: `CRM_BENCH_ROWS`, else `full` under `cargo bench` and 2,000 as a test.
fn rows(full: usize) -> usize {
    let benchmarking = std::env::args().any(|arg| arg == "--bench");
    std::env::var("CRM_BENCH_ROWS")
        .ok()
        .and_then(|rows| rows.parse().ok())
        .unwrap_or(if benchmarking { full } else { 2_000 })
}

/// `count` contacts from row `start` on, as CSV: names from 256 combinations with a
/// row number, one company per 20 rows, and about 1 % of rows repeating an earlier
/// row's phone (the duplicates the search should find). Deterministic.
fn csv(start: usize, count: usize) -> String {
    let mut text = String::from("Name,Phone,Email,Company\n");
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15 ^ start as u64;
    for row in start..start + count {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1);
        let pick = (state >> 33) as usize;
        let phone_row = if pick.is_multiple_of(100) && row > 0 {
            pick % row
        } else {
            row
        };
        let _ = writeln!(
            text,
            "{} {} {row},+49 30 {:08},c{row}@example.de,Firma {} GmbH",
            FIRST[pick % 16],
            LAST[(pick / 16) % 16],
            10_000_000 + phone_row,
            row / 20
        );
    }
    text
}

fn crm() -> Crm {
    let mut crm = Crm::new(
        ReplicaId::new(1).unwrap(),
        CrmOptions {
            default_region: Some("DE".into()),
            ..CrmOptions::default()
        },
    )
    .unwrap();
    let admin = NewUser {
        name: "Admin".into(),
        email: None,
        role: Role::Admin,
        department: None,
        specialty: None,
    };
    crm.execute(Actor::System, now(), &Command::CreateUser(admin))
        .unwrap();
    crm
}

fn now() -> chrono::DateTime<chrono::Utc> {
    "2026-11-27T09:00:00Z".parse().unwrap()
}

fn admin() -> Actor {
    "usr-1-1".parse().unwrap()
}

fn import(crm: &mut Crm, text: String) -> Outcome {
    let input = ContactImport {
        csv: Some(text),
        on_duplicate: DuplicatePolicy::CreateAndFlag,
        ..ContactImport::default()
    };
    crm.execute(admin(), now(), &Command::ImportContacts(input))
        .unwrap()
}

fn importing(c: &mut Criterion) {
    let count = rows(100_000);
    let text = csv(0, count);
    let mut group = c.benchmark_group(format!("import_{count}_rows"));
    group.sample_size(10);
    group.throughput(Throughput::Elements(count as u64));
    group.bench_function("csv", |b| {
        b.iter_batched(
            crm,
            |mut crm| black_box(import(&mut crm, text.clone())),
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

fn searching(c: &mut Criterion) {
    let count = rows(500_000);
    let mut crm = crm();
    let part = 100_000.min(count);
    let mut start = 0;
    while start < count {
        import(&mut crm, csv(start, part.min(count - start)));
        start += part;
    }
    let mut group = c.benchmark_group(format!("find_duplicates_{count}_contacts"));
    group.sample_size(10);
    group.bench_function("all_pairs", |b| {
        b.iter(|| {
            black_box(
                crm.find_duplicates(admin(), &DuplicateRequest::default())
                    .unwrap(),
            )
        })
    });
    let one = crm.state().contacts().keys().nth(count / 2).copied();
    let request = DuplicateRequest {
        contact: one,
        ..DuplicateRequest::default()
    };
    group.bench_function("one_contact", |b| {
        b.iter(|| black_box(crm.find_duplicates(admin(), &request).unwrap()))
    });
    group.finish();
    let found = crm
        .find_duplicates(admin(), &DuplicateRequest::default())
        .unwrap();
    eprintln!(
        "{count} contacts: {} candidate pairs (score ≥ 50), {} values too common",
        found.total,
        found.too_common.len()
    );
}

criterion_group!(benches, importing, searching);
criterion_main!(benches);
