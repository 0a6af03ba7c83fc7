//! The report benchmark: one run, one dataset, three engines.
//!
//! `scripts/bench-reports [DEALS]` (default 100,000): generates the history through the
//! engine, ingests its events into a fresh engine (events/s), reads the memory it holds,
//! times every report — the whole history, one month, one department's half year — in
//! crm-core, then the same reports as SQL in SQLite (in memory, indexed) and in DuckDB
//! (its Python package, on CSV exports of the same tables), and prints the table for
//! docs/performance.md. `--ingest-only` stops after the ingest and memory figures;
//! `--memory-parts` adds what each part of the state holds.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use crm_bench::heap::{self, Counting};
use crm_bench::sql::{self, Filter};
use crm_core::{Actor, Crm, CrmOptions, ReplicaId, ReportKind};
use serde_json::{json, Value};

#[global_allocator]
static HEAP: Counting = Counting;

const FILTERS: [(&str, Filter); 3] = [
    ("all", Filter::ALL),
    (
        "one month",
        Filter {
            from: "2026-06-01",
            to: "2026-06-30",
            department: None,
        },
    ),
    (
        "dept, half year",
        Filter {
            from: "2026-01-01",
            to: "2026-06-30",
            department: Some("dep-1-2"),
        },
    ),
];

/// The median of `runs` timings of `work`, after one warm-up run; the first error stops it.
fn median<E>(runs: usize, mut work: impl FnMut() -> Result<(), E>) -> Result<Duration, E> {
    work()?;
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        work()?;
        times.push(start.elapsed());
    }
    times.sort();
    Ok(times[times.len() / 2])
}

/// A line of /proc/self/status in MiB (Linux), e.g. `VmRSS`.
fn memory_mib(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|line| line.starts_with(field))
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|kib| kib.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

fn micros(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e6
}

/// Errors end the run with their message (`main` returning `Err`), never a panic.
type Failure = Box<dyn std::error::Error>;

fn main() -> Result<(), Failure> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let deals: u64 = args
        .iter()
        .find_map(|arg| arg.replace('_', "").parse().ok())
        .unwrap_or(100_000);
    // `--ingest-only`: stop after the ingest and memory figures (profiling).
    let ingest_only = args.iter().any(|arg| arg == "--ingest-only");
    // `--memory-parts`: also what each part of the state holds (clones each part once).
    let memory_parts = args.iter().any(|arg| arg == "--memory-parts");
    let python = std::env::var("CRM_BENCH_PYTHON").unwrap_or_else(|_| "python3".into());

    let started = Instant::now();
    let shop = crm_bench::load(deals, 42)?;
    let generated = started.elapsed();
    let now = shop.now;
    let commands = shop.commands;
    // The generator's journal is taken over, not copied, so that only one history is
    // in memory when the replay starts.
    let mut events = shop.crm.into_journal().into_events();
    events.shrink_to_fit();
    let event_count = events.len();
    let journal_bytes = heap::live();

    let calls = heap::calls();
    let started = Instant::now();
    let crm = Crm::replay(ReplicaId::new(1)?, CrmOptions::default(), events)?;
    let ingest = started.elapsed();
    let ingest_calls = heap::calls() - calls;
    let rss = memory_mib("VmRSS");
    let engine_bytes = heap::live();
    let state = crm.state();
    println!(
        "dataset: {deals} deals, {} contacts, {} companies, {} stage entries, {} tasks, {} activities; {event_count} events from {commands} commands",
        state.contacts().len(),
        state.companies().len(),
        state.deals().values().map(|d| d.stage_history.len()).sum::<usize>(),
        state.tasks().len(),
        state.activities().len(),
    );
    println!(
        "generated through the engine in {:.1} s ({:.0} commands/s)",
        generated.as_secs_f64(),
        commands as f64 / generated.as_secs_f64()
    );
    println!(
        "ingest (replay into a fresh engine): {:.2} s, {:.0} events/s; RSS afterwards {:.0} MiB (state and in-memory journal), peak {:.0} MiB",
        ingest.as_secs_f64(),
        event_count as f64 / ingest.as_secs_f64(),
        rss,
        memory_mib("VmHWM")
    );
    print_memory(
        &crm,
        event_count,
        journal_bytes,
        engine_bytes,
        ingest_calls,
        memory_parts,
    );
    if ingest_only {
        return Ok(());
    }

    let admin: Actor = "usr-1-1".parse()?;
    let sales = state
        .pipelines()
        .keys()
        .next()
        .ok_or("the generated history has no pipeline")?
        .to_string();
    let mut results: Vec<(String, &str, f64, f64)> = Vec::new();
    for kind in ReportKind::ALL {
        for (label, filter) in &FILTERS {
            let mut request = filter.request(kind);
            if kind == ReportKind::Funnel {
                request.pipeline = sales.parse().ok();
            }
            let engine = median(25, || crm.report(admin, now, &request).map(drop))?;
            results.push((name(kind), label, micros(engine), 0.0));
        }
    }

    let started = Instant::now();
    let db = sql::load(state)?;
    println!(
        "SQLite: loaded and indexed in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let mut queries = Vec::new();
    for (index, kind) in ReportKind::ALL.into_iter().enumerate() {
        for (f, (label, filter)) in FILTERS.iter().enumerate() {
            let statements = sql::statements(kind, filter, &sales, now);
            let time = median(5, || -> rusqlite::Result<()> {
                for statement in &statements {
                    let mut select = db.prepare_cached(statement)?;
                    let columns = select.column_count();
                    let mut rows = select.query([])?;
                    while let Some(row) = rows.next()? {
                        for column in 0..columns {
                            row.get_ref(column)?;
                        }
                    }
                }
                Ok(())
            })?;
            results[index * FILTERS.len() + f].3 = micros(time);
            queries.push(json!({"report": name(kind), "filter": label, "statements": statements}));
        }
    }

    let duckdb = run_duckdb(&db, &python, deals, &queries);
    println!();
    println!(
        "| report | slice | crm-core | SQLite | DuckDB | SQLite ÷ crm-core | DuckDB ÷ crm-core |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|");
    for (report, label, engine, sqlite) in &results {
        let duck = duckdb
            .iter()
            .find(|r| r["report"] == report.as_str() && r["filter"] == *label)
            .and_then(|r| r["micros"].as_f64());
        println!(
            "| {report} | {label} | {} | {} | {} | {:.0}× | {} |",
            format_micros(*engine),
            format_micros(*sqlite),
            duck.map_or("—".into(), format_micros),
            sqlite / engine,
            duck.map_or("—".into(), |d| format!("{:.0}×", d / engine)),
        );
    }
    Ok(())
}

/// Where the engine's memory goes, in bytes per event: the heap it holds (counted by the
/// allocator), of which the in-memory journal and the rest (state and projections);
/// with `parts`, also each part of the state, measured as the heap a clone of that part
/// takes (one clone at a time: the whole state's clone doubles the peak for a moment).
fn print_memory(crm: &Crm, events: usize, journal: u64, engine: u64, calls: u64, parts: bool) {
    let per_event = |bytes: u64| bytes as f64 / events as f64;
    let mib = |bytes: u64| bytes as f64 / 1048576.0;
    println!(
        "heap: {:.0} MiB held by the engine, {:.0} B/event: in-memory journal {:.0} B/event, state and projections {:.0} B/event; {:.1} allocation calls per event during ingest; peak heap so far {:.0} MiB",
        mib(engine),
        per_event(engine),
        per_event(journal),
        per_event(engine.saturating_sub(journal)),
        calls as f64 / events as f64,
        mib(heap::peak()),
    );
    if !parts {
        return;
    }
    let state = crm.state();
    let parts: [(&str, &dyn Fn() -> u64); 7] = [
        ("state", &|| heap::held_by(|| state.clone())),
        ("projections (reports, timers)", &|| {
            heap::held_by(|| crm.projections().clone())
        }),
        ("  contacts", &|| heap::held_by(|| state.contacts().clone())),
        ("  companies", &|| {
            heap::held_by(|| state.companies().clone())
        }),
        ("  deals", &|| heap::held_by(|| state.deals().clone())),
        ("  tasks", &|| heap::held_by(|| state.tasks().clone())),
        ("  activities", &|| {
            heap::held_by(|| state.activities().clone())
        }),
    ];
    for (part, measure) in parts {
        let bytes = measure();
        println!(
            "heap: {part}: {:.0} MiB, {:.0} B/event",
            mib(bytes),
            per_event(bytes)
        );
    }
}

fn name(kind: ReportKind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|value| value.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn format_micros(value: f64) -> String {
    if value >= 1_000.0 {
        format!("{:.1} ms", value / 1_000.0)
    } else {
        format!("{value:.0} µs")
    }
}

/// Times the same statements in DuckDB through its Python package; empty (with a note)
/// when the package is missing.
fn run_duckdb(
    db: &rusqlite::Connection,
    python: &str,
    deals: u64,
    queries: &[Value],
) -> Vec<Value> {
    let dir = PathBuf::from(format!("target/bench-data/{deals}"));
    let started = Instant::now();
    if let Err(err) = sql::export_csv(db, &dir) {
        println!(
            "DuckDB: skipped, cannot write CSV to {}: {err}",
            dir.display()
        );
        return Vec::new();
    }
    println!(
        "CSV export for DuckDB: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let plan = json!({
        "csv_dir": dir,
        "tables": sql::TABLES,
        "queries": queries,
    });
    let plan_path = dir.join("plan.json");
    if let Err(err) = std::fs::write(&plan_path, plan.to_string()) {
        println!(
            "DuckDB: skipped, cannot write {}: {err}",
            plan_path.display()
        );
        return Vec::new();
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/duckdb_bench.py");
    match Command::new(python).arg(script).arg(&plan_path).output() {
        Ok(output) if output.status.success() => {
            let text = String::from_utf8_lossy(&output.stdout);
            let mut lines = text.lines();
            if let Some(note) = lines.next() {
                println!("DuckDB: {note}");
            }
            lines
                .filter_map(|line| serde_json::from_str(line).ok())
                .collect()
        }
        Ok(output) => {
            println!(
                "DuckDB: skipped: {}",
                String::from_utf8_lossy(&output.stderr)
                    .lines()
                    .last()
                    .unwrap_or("")
            );
            Vec::new()
        }
        Err(err) => {
            println!("DuckDB: skipped, cannot run {python}: {err}");
            Vec::new()
        }
    }
}
