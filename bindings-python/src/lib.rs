//! Python bindings for crm-core: `crm_core._native`, a private module under the
//! idiomatic `crm_core` package. Commands, queries and results cross as JSON text;
//! the Python layer converts `Decimal`, `datetime` and `Money`. No logic lives here.

mod errors;

use crm_core::{Crm, CrmOptions, Journal, MemoryJournal, ReplicaId};
use crm_store_sqlite::SqliteJournal;
use pyo3::prelude::*;

use crate::errors::{to_py, IntoPyResult};

/// The engine over whichever journal the host chose: memory or a SQLite file.
type EngineCrm = Crm<Box<dyn Journal>>;

/// One CRM engine; `None` once closed (its file released).
#[pyclass(module = "crm_core._native", unsendable)]
struct Engine {
    crm: Option<EngineCrm>,
    /// The journal's file, for engines opened from one.
    path: Option<String>,
}

impl Engine {
    fn crm(&self, py: Python<'_>) -> PyResult<&EngineCrm> {
        self.crm.as_ref().ok_or_else(|| to_py(py, closed()))
    }

    fn crm_mut(&mut self, py: Python<'_>) -> PyResult<&mut EngineCrm> {
        self.crm.as_mut().ok_or_else(|| to_py(py, closed()))
    }
}

fn closed() -> crm_core::CrmError {
    crm_core::CrmError::Storage {
        reason: "the CRM is closed".into(),
    }
}

fn boxed<J: Journal + 'static>(journal: J) -> Box<dyn Journal> {
    Box::new(journal)
}

fn options(py: Python<'_>, options_json: &str) -> PyResult<CrmOptions> {
    serde_json::from_str(options_json)
        .map_err(|err| crm_core::CrmError::Malformed {
            path: "options".into(),
            reason: err.to_string(),
        })
        .into_py_result(py)
}

#[pymethods]
impl Engine {
    #[new]
    #[pyo3(signature = (replica_id, options_json = "{}"))]
    fn new(py: Python<'_>, replica_id: u64, options_json: &str) -> PyResult<Self> {
        let replica = ReplicaId::new(replica_id).into_py_result(py)?;
        let journal = boxed(MemoryJournal::new());
        let crm = Crm::open(replica, options(py, options_json)?, journal).into_py_result(py)?;
        Ok(Self {
            crm: Some(crm),
            path: None,
        })
    }

    /// Rebuilds an engine from exported events (JSON array of envelopes).
    #[staticmethod]
    #[pyo3(signature = (replica_id, events_json, options_json = "{}"))]
    fn replay(
        py: Python<'_>,
        replica_id: u64,
        events_json: &str,
        options_json: &str,
    ) -> PyResult<Self> {
        let replica = ReplicaId::new(replica_id).into_py_result(py)?;
        let events = crm_core::upcast::envelopes_from_json(events_json).into_py_result(py)?;
        let mut journal = MemoryJournal::new();
        journal.append(&events).into_py_result(py)?;
        let crm =
            Crm::open(replica, options(py, options_json)?, boxed(journal)).into_py_result(py)?;
        Ok(Self {
            crm: Some(crm),
            path: None,
        })
    }

    /// Opens (or creates) the SQLite journal at `path` and replays it; `read_only`
    /// opens an existing file for reading only (a reporting replica).
    #[staticmethod]
    #[pyo3(signature = (path, replica_id, options_json = "{}", read_only = false))]
    fn open(
        py: Python<'_>,
        path: &str,
        replica_id: u64,
        options_json: &str,
        read_only: bool,
    ) -> PyResult<Self> {
        let replica = ReplicaId::new(replica_id).into_py_result(py)?;
        let journal = if read_only {
            SqliteJournal::open_read_only(path)
        } else {
            SqliteJournal::open(path)
        }
        .into_py_result(py)?;
        let crm =
            Crm::open(replica, options(py, options_json)?, boxed(journal)).into_py_result(py)?;
        Ok(Self {
            crm: Some(crm),
            path: Some(path.to_string()),
        })
    }

    /// A consistent online copy of the journal file at `target` (file journals only).
    fn backup(&self, py: Python<'_>, target: &str) -> PyResult<()> {
        self.crm(py)?;
        let Some(path) = &self.path else {
            return Err(to_py(
                py,
                crm_core::CrmError::Storage {
                    reason: "only a journal opened from a file can be backed up; export its events instead".into(),
                },
            ));
        };
        SqliteJournal::open(path)
            .and_then(|journal| journal.backup_to(target))
            .into_py_result(py)
    }

    /// Writes every event as JSON Lines to `target`; returns how many.
    fn export_jsonl(&self, py: Python<'_>, target: &str) -> PyResult<u64> {
        crm_store_sqlite::export_jsonl_file(self.crm(py)?.journal(), target).into_py_result(py)
    }

    /// Appends the events of a JSON Lines file that continue this journal (all or
    /// nothing); returns how many.
    fn import_jsonl(&mut self, py: Python<'_>, source: &str) -> PyResult<u64> {
        let crm = self.crm_mut(py)?;
        let events = crm_store_sqlite::read_jsonl_file(source, crm.state().last_seq + 1)
            .into_py_result(py)?;
        crm.import(&events).into_py_result(py)?;
        Ok(events.len() as u64)
    }

    /// Releases the journal (and its file); later calls fail with StorageError.
    fn close(&mut self) {
        self.crm = None;
    }

    /// Writes a snapshot (kept by file journals) so the next open replays less.
    fn snapshot(&mut self, py: Python<'_>) -> PyResult<()> {
        self.crm_mut(py)?.snapshot().into_py_result(py)
    }

    fn execute_json(
        &mut self,
        py: Python<'_>,
        actor: &str,
        now: &str,
        command: &str,
    ) -> PyResult<String> {
        self.crm_mut(py)?
            .execute_json(actor, now, command)
            .into_py_result(py)
    }

    fn query_json(&self, py: Python<'_>, actor: &str, now: &str, query: &str) -> PyResult<String> {
        self.crm(py)?
            .query_json(actor, now, query)
            .into_py_result(py)
    }

    /// Events with `seq >= from_seq`, as a JSON array.
    fn events_json(&self, py: Python<'_>, from_seq: u64) -> PyResult<String> {
        let events = self.crm(py)?.events_since(from_seq).into_py_result(py)?;
        json(py, &events)
    }

    /// Fires every timer due by `now`; the outcome as JSON.
    fn tick(&mut self, py: Python<'_>, now: &str) -> PyResult<String> {
        let now = crm_core::parse_now(now).into_py_result(py)?;
        let outcome = self.crm_mut(py)?.tick(now).into_py_result(py)?;
        json(py, &outcome)
    }

    /// When the engine next needs a tick (RFC 3339), or None.
    fn next_wakeup(&self, py: Python<'_>) -> PyResult<Option<String>> {
        Ok(self.crm(py)?.next_wakeup().map(|at| at.to_rfc3339()))
    }

    /// Every effect not yet acknowledged, as a JSON array.
    fn drain_outbox(&self, py: Python<'_>) -> PyResult<String> {
        json(py, &self.crm(py)?.drain_outbox())
    }

    /// Marks effects delivered (IDs as a JSON array); the outcome as JSON.
    fn ack(&mut self, py: Python<'_>, now: &str, ids_json: &str) -> PyResult<String> {
        let now = crm_core::parse_now(now).into_py_result(py)?;
        let ids: Vec<crm_core::EffectId> = serde_json::from_str(ids_json).map_err(|err| {
            to_py(
                py,
                crm_core::CrmError::Malformed {
                    path: "ids".into(),
                    reason: err.to_string(),
                },
            )
        })?;
        let outcome = self.crm_mut(py)?.ack(now, &ids).into_py_result(py)?;
        json(py, &outcome)
    }

    #[getter]
    fn replica_id(&self, py: Python<'_>) -> PyResult<u64> {
        Ok(self.crm(py)?.replica().get())
    }

    #[getter]
    fn last_seq(&self, py: Python<'_>) -> PyResult<u64> {
        Ok(self.crm(py)?.state().last_seq)
    }
}

fn json<T: serde::Serialize + ?Sized>(py: Python<'_>, value: &T) -> PyResult<String> {
    serde_json::to_string(value).map_err(|err| {
        to_py(
            py,
            crm_core::CrmError::Storage {
                reason: err.to_string(),
            },
        )
    })
}

/// Copies every intact event of a damaged journal file into a new one; the report as
/// JSON: `{"kept", "not_kept", "problems"}`.
#[pyfunction]
fn recover(py: Python<'_>, damaged: &str, into: &str) -> PyResult<String> {
    let report = SqliteJournal::recover(damaged, into).into_py_result(py)?;
    let report = serde_json::json!({
        "kept": report.kept, "not_kept": report.not_kept, "problems": report.problems
    });
    json(py, &report)
}

/// Restores a backup made with `Crm.backup` into a new file; the number of events in it.
#[pyfunction]
fn restore(py: Python<'_>, backup: &str, into: &str) -> PyResult<u64> {
    let journal = SqliteJournal::restore(backup, into).into_py_result(py)?;
    Ok(journal.last_seq())
}

#[pymodule]
fn _native(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<Engine>()?;
    module.add_function(wrap_pyfunction!(recover, module)?)?;
    module.add_function(wrap_pyfunction!(restore, module)?)?;
    errors::register(module)?;
    Ok(())
}
