//! The replica crash test's child process (tests/replica_file.rs): opens a replica
//! file the test has set up (the office's users pulled into it) and types commands
//! until it is killed, printing the pending sequence of every command acknowledged to
//! its user.
//!
//! Usage: `replica_writer <path>`.

use std::io::Write;

use chrono::Duration;
use crm_core::{parse_now, Command, CrmError, CrmOptions, ReplicaId};
use crm_store_sqlite::ReplicaFile;

fn main() -> Result<(), CrmError> {
    let path = std::env::args()
        .nth(1)
        .ok_or_else(|| CrmError::validation("arguments", "usage: replica_writer <path>"))?;
    let mut file = ReplicaFile::open_or_create(&path, ReplicaId::new(7)?, CrmOptions::default())?;
    let author = "usr-1-1".parse()?;
    let start = parse_now("2026-12-01T09:00:00Z")?;
    let mut out = std::io::stdout().lock();
    loop {
        let next = file.replica().log().next_seq;
        let now = start + Duration::seconds(next as i64);
        let command: Command =
            format!(r#"{{"type": "create_contact", "name": "Client {next}"}}"#).parse()?;
        file.execute(author, now, &command)?;
        // Acknowledged: the command is stored; from here on it must survive.
        writeln!(out, "{next}").ok();
        out.flush().ok();
    }
}
