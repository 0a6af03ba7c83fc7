//! The conformance suite (crm-conformance) against SQLite files: the same checks the
//! PostgreSQL journal passes.

use std::path::PathBuf;

use crm_conformance::Store;
use crm_store_sqlite::SqliteJournal;

/// A fresh file, removed (with its WAL and SHM) afterwards.
struct File(PathBuf);

impl Drop for File {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.0.display()));
        }
    }
}

impl Store for File {
    type Journal = SqliteJournal;
    fn open(&self) -> SqliteJournal {
        SqliteJournal::open_or_create(&self.0).unwrap()
    }
}

#[test]
fn the_sqlite_journal_conforms() {
    crm_conformance::run(&|check| {
        let path = std::env::temp_dir().join(format!(
            "crm-conformance-{check}-{}.sqlite",
            std::process::id()
        ));
        let file = File(path);
        drop(file.open());
        file
    });
}
