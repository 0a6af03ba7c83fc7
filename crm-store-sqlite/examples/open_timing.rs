//! How long a fresh process takes to open a large journal from its snapshot, page faults
//! included (the criterion benchmark in `benches/journal.rs` opens in a warm process).
//!
//! ```text
//! cargo run --release -p crm-store-sqlite --example open_timing -- prepare FILE [EVENTS]
//! cargo run --release -p crm-store-sqlite --example open_timing -- FILE [RUNS]
//! ```
//! `prepare` writes about EVENTS (default 1,000,000) events of the generated shop history
//! with a snapshot at the end; the second form opens FILE in RUNS (default 5) fresh
//! processes and prints each time and the median.

use std::process::Command;
use std::time::Instant;

use crm_core::{Crm, CrmOptions, Journal, ReplicaId};
use crm_store_sqlite::SqliteJournal;

type Failure = Box<dyn std::error::Error>;

fn main() -> Result<(), Failure> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["prepare", file, ref rest @ ..] => {
            let events = rest.first().map_or(Ok(1_000_000), |n| n.parse())?;
            prepare(file, events)
        }
        ["--once", file] => {
            let started = Instant::now();
            let crm = Crm::open(
                ReplicaId::new(1)?,
                CrmOptions::default(),
                SqliteJournal::open_or_create(file)?,
            )?;
            let opened = started.elapsed();
            println!("{} {}", opened.as_secs_f64(), crm.last_seq());
            // The process ends here; tearing the state down is not part of opening.
            std::mem::forget(crm);
            Ok(())
        }
        [file, ref rest @ ..] => {
            let runs: usize = rest.first().map_or(Ok(5), |n| n.parse())?;
            let mut times = Vec::new();
            for _ in 0..runs {
                let output = Command::new(std::env::current_exe()?)
                    .args(["--once", file])
                    .output()?;
                let text = String::from_utf8(output.stdout)?;
                let mut words = text.split_whitespace();
                let seconds: f64 = words.next().ok_or("no time printed")?.parse()?;
                let events = words.next().unwrap_or("?");
                println!("opened {events} events in {seconds:.3} s");
                times.push(seconds);
            }
            times.sort_by(f64::total_cmp);
            println!("median of {runs}: {:.3} s", times[times.len() / 2]);
            Ok(())
        }
        _ => Err("usage: open_timing prepare FILE [EVENTS] | open_timing FILE [RUNS]".into()),
    }
}

/// About `count` events of `crm-bench`'s shop (about 14.4 events per deal) in a new
/// journal at `file`, with a snapshot of the state after the last one.
fn prepare(file: &str, count: u64) -> Result<(), Failure> {
    let shop = crm_bench::load((count * 10 / 144).max(10), 42)?;
    let events = shop.crm.events_since(1)?;
    drop(shop);
    let _ = std::fs::remove_file(file);
    let mut journal = SqliteJournal::open_or_create(file)?;
    journal.append(&events)?;
    let mut crm = Crm::open(ReplicaId::new(1)?, CrmOptions::default(), journal)?;
    crm.snapshot()?;
    println!("{file}: {} events and a snapshot", events.len());
    Ok(())
}
