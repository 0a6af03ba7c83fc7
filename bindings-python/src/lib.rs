//! Python bindings for crm-core: `crm_core._native`, a private module under the
//! idiomatic `crm_core` package. Commands, queries and answers cross as Python values,
//! converted here (`conversion`: `Decimal`, `datetime`, `date`, `Money` where the schema
//! puts them), or as JSON text for hosts that hold JSON. No logic lives here.
//!
//! One engine may be shared by threads: calls are serialised by a lock, and the GIL is
//! released while the engine works (an open, an import or a report does not stall the
//! interpreter's other threads).

mod conversion;
mod errors;

use std::sync::{Mutex, PoisonError};

use crm_core::{Crm, CrmError, CrmOptions, Journal, MemoryJournal, Outcome, ReplicaId};
use crm_store_sqlite::SqliteJournal;
use pyo3::prelude::*;
use pyo3::types::PyString;

use crate::errors::IntoPyResult;

/// The engine over whichever journal the host chose: memory or a SQLite file.
type EngineCrm = Crm<Box<dyn Journal + Send>>;

/// One CRM engine; `None` once closed (its file released).
#[pyclass(module = "crm_core._native", frozen)]
struct Engine {
    crm: Mutex<Option<EngineCrm>>,
    /// The journal's file, for engines opened from one.
    path: Option<String>,
}

impl Engine {
    fn wrap(crm: EngineCrm, path: Option<String>) -> Self {
        Self {
            crm: Mutex::new(Some(crm)),
            path,
        }
    }

    /// Runs `work` on the engine with the GIL released, one caller at a time.
    fn with<T: Send>(
        &self,
        py: Python<'_>,
        work: impl FnOnce(&mut EngineCrm) -> Result<T, CrmError> + Send,
    ) -> PyResult<T> {
        py.detach(|| {
            // A panic cannot happen inside the engine on any input; if one ever did,
            // the state is still consistent (commands apply only after validation).
            let mut guard = self.crm.lock().unwrap_or_else(PoisonError::into_inner);
            let crm = guard.as_mut().ok_or_else(closed)?;
            work(crm)
        })
        .into_py_result(py)
    }

    /// Executes a command given as Python values; `keep` takes what the caller needs
    /// from the outcome while the engine is still held.
    fn run<T: Send>(
        &self,
        py: Python<'_>,
        actor: &str,
        now: &Bound<'_, PyAny>,
        command: &Bound<'_, PyAny>,
        keep: impl FnOnce(Outcome) -> Result<T, CrmError> + Send,
    ) -> PyResult<T> {
        let now = conversion::instant_text(now, "now")?;
        let command = conversion::json_of(command, "command")?;
        self.with(py, |crm| keep(crm.execute_text(actor, &now, &command)?))
    }
}

fn closed() -> CrmError {
    CrmError::Storage {
        reason: "the CRM is closed".into(),
    }
}

fn boxed<J: Journal + Send + 'static>(journal: J) -> Box<dyn Journal + Send> {
    Box::new(journal)
}

fn options(options_json: &str) -> Result<CrmOptions, CrmError> {
    serde_json::from_str(options_json).map_err(|err| CrmError::Malformed {
        path: "options".into(),
        reason: err.to_string(),
    })
}

/// An answer as a JSON value, for [`conversion::answer`].
fn value_of<T: serde::Serialize + ?Sized>(value: &T) -> Result<serde_json::Value, CrmError> {
    serde_json::to_value(value).map_err(|err| CrmError::Storage {
        reason: err.to_string(),
    })
}

fn json<T: serde::Serialize + ?Sized>(value: &T) -> Result<String, CrmError> {
    serde_json::to_string(value).map_err(|err| CrmError::Storage {
        reason: err.to_string(),
    })
}

#[pymethods]
impl Engine {
    #[new]
    #[pyo3(signature = (replica_id, options_json = "{}"))]
    fn new(py: Python<'_>, replica_id: u64, options_json: &str) -> PyResult<Self> {
        let crm = (|| {
            let replica = ReplicaId::new(replica_id)?;
            Crm::open(replica, options(options_json)?, boxed(MemoryJournal::new()))
        })()
        .into_py_result(py)?;
        Ok(Self::wrap(crm, None))
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
        let crm = py
            .detach(|| {
                let replica = ReplicaId::new(replica_id)?;
                let events = crm_core::envelopes_from_json(events_json)?;
                let mut journal = MemoryJournal::new();
                journal.append(&events)?;
                Crm::open(replica, options(options_json)?, boxed(journal))
            })
            .into_py_result(py)?;
        Ok(Self::wrap(crm, None))
    }

    /// Opens the SQLite journal at `path` and replays it: an existing file, or a new
    /// one with `create`; `read_only` opens an existing file for reading only (a
    /// reporting replica).
    #[staticmethod]
    #[pyo3(signature = (path, replica_id, options_json = "{}", read_only = false, create = false))]
    fn open(
        py: Python<'_>,
        path: &str,
        replica_id: u64,
        options_json: &str,
        read_only: bool,
        create: bool,
    ) -> PyResult<Self> {
        let crm = py
            .detach(|| {
                let replica = ReplicaId::new(replica_id)?;
                let journal = match (read_only, create) {
                    (true, _) => SqliteJournal::open_read_only(path),
                    (false, true) => SqliteJournal::open_or_create(path),
                    (false, false) => SqliteJournal::open(path),
                }?;
                Crm::open(replica, options(options_json)?, boxed(journal))
            })
            .into_py_result(py)?;
        Ok(Self::wrap(crm, Some(path.to_string())))
    }

    /// A consistent online copy of the journal file at `target` (file journals only).
    fn backup(&self, py: Python<'_>, target: &str) -> PyResult<()> {
        let path = self.path.clone();
        self.with(py, move |_| {
            let path = path.ok_or_else(|| CrmError::Storage {
                reason:
                    "only a journal opened from a file can be backed up; export its events instead"
                        .into(),
            })?;
            SqliteJournal::open_read_only(path)?.backup_to(target)
        })
    }

    /// Writes every event as JSON Lines to `target`; returns how many.
    fn export_jsonl(&self, py: Python<'_>, target: &str) -> PyResult<u64> {
        self.with(py, |crm| {
            crm_store_sqlite::export_jsonl_file(crm.journal(), target)
        })
    }

    /// Appends the events of a JSON Lines file that continue this journal (all or
    /// nothing); returns how many.
    fn import_jsonl(&self, py: Python<'_>, source: &str) -> PyResult<u64> {
        self.with(py, |crm| {
            let events = crm_store_sqlite::read_jsonl_file(source, crm.journal().last_seq() + 1)?;
            crm.import_events(&events)?;
            Ok(events.len() as u64)
        })
    }

    /// Releases the journal (and its file); later calls fail with StorageError.
    fn close(&self, py: Python<'_>) {
        py.detach(|| {
            let mut guard = self.crm.lock().unwrap_or_else(PoisonError::into_inner);
            *guard = None;
        })
    }

    /// Writes a snapshot (kept by file journals) so the next open replays less.
    fn snapshot(&self, py: Python<'_>) -> PyResult<()> {
        self.with(py, |crm| crm.snapshot())
    }

    /// Executes a command given as Python values; the outcome as Python values.
    fn execute<'py>(
        &self,
        py: Python<'py>,
        actor: &str,
        now: &Bound<'py, PyAny>,
        command: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        // The outcome goes from the engine's values to Python values with no JSON text
        // between them (serialising and parsing it again cost more than the engine).
        let outcome = self.run(py, actor, now, command, |outcome| value_of(&outcome))?;
        conversion::answer(py, "outcome", &outcome)
    }

    /// Executes a command given as Python values; only the ID it created (or None).
    /// The helpers that return an ID, or nothing, do not pay for converting events
    /// they would throw away.
    fn execute_created(
        &self,
        py: Python<'_>,
        actor: &str,
        now: &Bound<'_, PyAny>,
        command: &Bound<'_, PyAny>,
    ) -> PyResult<Option<String>> {
        self.run(py, actor, now, command, |outcome| {
            Ok(outcome.created.map(|id| id.to_string()))
        })
    }

    /// Answers a query given as Python values, typed by the query's `type`.
    fn query<'py>(
        &self,
        py: Python<'py>,
        actor: &str,
        now: &Bound<'py, PyAny>,
        query: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let now = conversion::instant_text(now, "now")?;
        let entry = match query.get_item("type") {
            Ok(kind) => format!("query.{kind}"),
            Err(_) => String::from("query"),
        };
        let query = conversion::json_of(query, "query")?;
        let answer = self.with(py, |crm| crm.query_text(actor, &now, &query))?;
        conversion::answer(py, &entry, &answer)
    }

    /// Runs several commands as one (`Crm::execute_batch_json`); the outcome as Python
    /// values.
    #[pyo3(signature = (actor, now, batch, idempotency_key = None))]
    fn execute_batch<'py>(
        &self,
        py: Python<'py>,
        actor: &str,
        now: &Bound<'py, PyAny>,
        batch: &Bound<'py, PyAny>,
        idempotency_key: Option<&str>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let now = conversion::instant_text(now, "now")?;
        let batch = conversion::json_of(batch, "batch")?;
        let outcome = self.with(py, |crm| {
            crm.execute_batch_json(actor, &now, &batch, idempotency_key)
        })?;
        conversion::answer_text(py, "batch_outcome", &outcome)
    }

    fn execute_json(
        &self,
        py: Python<'_>,
        actor: &str,
        now: &str,
        command: &Bound<'_, PyString>,
    ) -> PyResult<String> {
        let command = json_text(py, "command", command)?;
        self.with(py, |crm| crm.execute_json(actor, now, &command))
    }

    #[pyo3(signature = (actor, now, batch, idempotency_key = None))]
    fn execute_batch_json(
        &self,
        py: Python<'_>,
        actor: &str,
        now: &str,
        batch: &Bound<'_, PyString>,
        idempotency_key: Option<&str>,
    ) -> PyResult<String> {
        let batch = json_text(py, "batch", batch)?;
        self.with(py, |crm| {
            crm.execute_batch_json(actor, now, &batch, idempotency_key)
        })
    }

    fn query_json(
        &self,
        py: Python<'_>,
        actor: &str,
        now: &str,
        query: &Bound<'_, PyString>,
    ) -> PyResult<String> {
        let query = json_text(py, "query", query)?;
        self.with(py, |crm| crm.query_json(actor, now, &query))
    }

    /// Events with `seq >= from_seq`, as a JSON array.
    fn events_json(&self, py: Python<'_>, from_seq: u64) -> PyResult<String> {
        self.with(py, |crm| json(&crm.events_since(from_seq)?))
    }

    /// Fires every timer due by `now`; the outcome as JSON.
    fn tick(&self, py: Python<'_>, now: &str) -> PyResult<String> {
        self.with(py, |crm| {
            let now = crm_core::parse_now(now)?;
            json(&crm.tick(now)?)
        })
    }

    /// When the engine next needs a tick (RFC 3339), or None.
    fn next_wakeup(&self, py: Python<'_>) -> PyResult<Option<String>> {
        self.with(py, |crm| Ok(crm.next_wakeup().map(|at| at.to_rfc3339())))
    }

    /// Every effect not yet acknowledged, as a JSON array.
    fn drain_outbox(&self, py: Python<'_>) -> PyResult<String> {
        self.with(py, |crm| json(&crm.drain_outbox()))
    }

    /// Marks effects delivered (IDs as a JSON array); the outcome as JSON.
    fn ack(&self, py: Python<'_>, now: &str, ids_json: &str) -> PyResult<String> {
        self.with(py, |crm| {
            let now = crm_core::parse_now(now)?;
            let ids: Vec<crm_core::EffectId> =
                serde_json::from_str(ids_json).map_err(|err| CrmError::Malformed {
                    path: "ids".into(),
                    reason: err.to_string(),
                })?;
            json(&crm.ack(now, &ids)?)
        })
    }

    /// Runs a replica's pushed commands as `user` (docs/sync.md); batch and answer
    /// as JSON.
    fn push_json(&self, py: Python<'_>, user: &str, now: &str, batch: &str) -> PyResult<String> {
        self.with(py, |crm| crm.push_json(user, now, batch))
    }

    /// The canonical events after `cursor` for `user`'s replica, as JSON.
    #[pyo3(signature = (user, cursor, limit = None))]
    fn pull_json(
        &self,
        py: Python<'_>,
        user: &str,
        cursor: u64,
        limit: Option<usize>,
    ) -> PyResult<String> {
        self.with(py, |crm| crm.pull_json(user, cursor, limit))
    }

    #[getter]
    fn replica_id(&self, py: Python<'_>) -> PyResult<u64> {
        self.with(py, |crm| Ok(crm.replica().get()))
    }

    /// What opening or a command had to work around, most recent last.
    #[getter]
    fn warnings(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        self.with(py, |crm| Ok(crm.warnings().to_vec()))
    }

    #[getter]
    fn last_seq(&self, py: Python<'_>) -> PyResult<u64> {
        self.with(py, |crm| Ok(crm.journal().last_seq()))
    }
}

/// A replica of an authority's CRM (docs/sync.md): JSON text in and out; in memory, or
/// in a SQLite file that stores every change before the call returns.
#[pyclass(module = "crm_core._native", frozen)]
struct ReplicaEngine {
    replica: Mutex<Backing>,
}

enum Backing {
    Memory(Box<crm_core::Replica>),
    File(Box<crm_store_sqlite::ReplicaFile>),
}

impl ReplicaEngine {
    fn wrap(backing: Backing) -> Self {
        Self {
            replica: Mutex::new(backing),
        }
    }

    /// Reads the replica.
    fn read<T: Send>(
        &self,
        py: Python<'_>,
        work: impl FnOnce(&crm_core::Replica) -> Result<T, CrmError> + Send,
    ) -> PyResult<T> {
        py.detach(|| {
            let guard = self.replica.lock().unwrap_or_else(PoisonError::into_inner);
            match &*guard {
                Backing::Memory(replica) => work(replica),
                Backing::File(file) => work(file.replica()),
            }
        })
        .into_py_result(py)
    }

    /// Changes the replica (stored first, for a file).
    fn with<T: Send>(
        &self,
        py: Python<'_>,
        work: impl FnOnce(&mut crm_core::Replica) -> Result<T, CrmError> + Send,
    ) -> PyResult<T> {
        py.detach(|| {
            let mut guard = self.replica.lock().unwrap_or_else(PoisonError::into_inner);
            match &mut *guard {
                Backing::Memory(replica) => work(replica),
                Backing::File(file) => file.change(work),
            }
        })
        .into_py_result(py)
    }
}

#[pymethods]
impl ReplicaEngine {
    #[new]
    #[pyo3(signature = (replica_id, options_json = "{}"))]
    fn new(py: Python<'_>, replica_id: u64, options_json: &str) -> PyResult<Self> {
        let replica =
            (|| crm_core::Replica::new(ReplicaId::new(replica_id)?, options(options_json)?))()
                .into_py_result(py)?;
        Ok(Self::wrap(Backing::Memory(Box::new(replica))))
    }

    /// The replica stored in the SQLite file at `path`, or a new one there; every
    /// change is stored before the call returns.
    #[staticmethod]
    #[pyo3(signature = (path, replica_id, options_json = "{}"))]
    fn open(py: Python<'_>, path: &str, replica_id: u64, options_json: &str) -> PyResult<Self> {
        let file = py
            .detach(|| {
                crm_store_sqlite::ReplicaFile::open_or_create(
                    path,
                    ReplicaId::new(replica_id)?,
                    options(options_json)?,
                )
            })
            .into_py_result(py)?;
        Ok(Self::wrap(Backing::File(Box::new(file))))
    }

    /// A replica as stored: its canonical events and its log, both JSON.
    #[staticmethod]
    #[pyo3(signature = (events_json, log_json, options_json = "{}"))]
    fn restore(
        py: Python<'_>,
        events_json: &str,
        log_json: &str,
        options_json: &str,
    ) -> PyResult<Self> {
        let replica = py
            .detach(|| {
                crm_core::Replica::restore_json(options(options_json)?, events_json, log_json)
            })
            .into_py_result(py)?;
        Ok(Self::wrap(Backing::Memory(Box::new(replica))))
    }

    fn execute_json(
        &self,
        py: Python<'_>,
        author: &str,
        now: &str,
        command: &str,
    ) -> PyResult<String> {
        self.with(py, |replica| replica.execute_json(author, now, command))
    }

    fn query_json(&self, py: Python<'_>, actor: &str, now: &str, query: &str) -> PyResult<String> {
        self.read(py, |replica| replica.query_json(actor, now, query))
    }

    fn push_batch_json(&self, py: Python<'_>, limit: usize) -> PyResult<String> {
        self.read(py, |replica| replica.push_batch_json(limit))
    }

    fn receive_push_result_json(&self, py: Python<'_>, result: &str) -> PyResult<()> {
        self.with(py, |replica| replica.receive_push_result_json(result))
    }

    fn receive_pull_json(&self, py: Python<'_>, batch: &str) -> PyResult<()> {
        self.with(py, |replica| replica.receive_pull_json(batch))
    }

    fn pending_json(&self, py: Python<'_>) -> PyResult<String> {
        self.read(py, |replica| replica.pending_json())
    }

    fn rejected_json(&self, py: Python<'_>) -> PyResult<String> {
        self.read(py, |replica| replica.rejected_json())
    }

    fn log_json(&self, py: Python<'_>) -> PyResult<String> {
        self.read(py, |replica| replica.log_json())
    }

    fn events_json(&self, py: Python<'_>, from_seq: u64) -> PyResult<String> {
        self.read(py, |replica| replica.events_json(from_seq))
    }

    fn retry_json(&self, py: Python<'_>, seq: u64, now: &str) -> PyResult<String> {
        self.with(py, |replica| replica.retry_json(seq, now))
    }

    fn discard_json(&self, py: Python<'_>, seq: u64) -> PyResult<String> {
        self.with(py, |replica| replica.discard_json(seq))
    }

    #[getter]
    fn cursor(&self, py: Python<'_>) -> PyResult<u64> {
        self.read(py, |replica| Ok(replica.cursor()))
    }

    #[getter]
    fn scrubs(&self, py: Python<'_>) -> PyResult<u64> {
        self.read(py, |replica| Ok(replica.scrubs()))
    }
}

/// Copies every intact event of a damaged journal file into a new one; the report as
/// JSON: `{"kept", "not_kept", "problems"}`.
#[pyfunction]
fn recover(py: Python<'_>, damaged: &str, into: &str) -> PyResult<String> {
    py.detach(|| {
        let report = SqliteJournal::recover(damaged, into)?;
        json(&serde_json::json!({
            "kept": report.kept, "not_kept": report.not_kept, "problems": report.problems
        }))
    })
    .into_py_result(py)
}

/// Restores a backup made with `Crm.backup` into a new file; the number of events in it.
#[pyfunction]
fn restore(py: Python<'_>, backup: &str, into: &str) -> PyResult<u64> {
    py.detach(|| Ok(SqliteJournal::restore(backup, into)?.last_seq()))
        .into_py_result(py)
}

/// An answer given as JSON text, typed as entry point `entry` answers (`outcome`,
/// `events`, `effects`, `query.<type>`; plain JSON for any other name).
#[pyfunction]
fn typed<'py>(py: Python<'py>, entry: &str, text: &str) -> PyResult<Bound<'py, PyAny>> {
    conversion::answer_text(py, entry, text)
}

/// A Python value as engine JSON text; `what` names it in a refusal.
#[pyfunction]
fn to_json(value: &Bound<'_, PyAny>, what: &str) -> PyResult<String> {
    conversion::json_of(value, what)
}

/// An aware datetime as RFC 3339 text; a naive one is refused.
#[pyfunction]
fn instant_text(value: &Bound<'_, PyAny>, what: &str) -> PyResult<String> {
    conversion::instant_text(value, what)
}

#[pymodule]
fn _native(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<Engine>()?;
    module.add_class::<ReplicaEngine>()?;
    module.add_function(wrap_pyfunction!(typed, module)?)?;
    module.add_function(wrap_pyfunction!(to_json, module)?)?;
    module.add_function(wrap_pyfunction!(instant_text, module)?)?;
    module.add_function(wrap_pyfunction!(recover, module)?)?;
    module.add_function(wrap_pyfunction!(restore, module)?)?;
    errors::register(module)?;
    Ok(())
}

/// A JSON text from Python, refused rather than mangled when it holds a lone surrogate
/// (half of a UTF-16 pair, which UTF-8 text cannot hold), naming the JSON path as the
/// JavaScript binding does.
fn json_text(py: Python<'_>, what: &str, text: &Bound<'_, PyString>) -> PyResult<String> {
    let err = match text.to_cow() {
        Ok(text) => return Ok(text.into_owned()),
        Err(err) => err,
    };
    let start: usize = err.value(py).getattr("start")?.extract()?;
    let unit: u32 = py
        .import("builtins")?
        .getattr("ord")?
        .call1((text.get_item(start)?,))?
        .extract()?;
    // The lossy text has one U+FFFD per lone surrogate, so character positions agree.
    let lossy = text.to_string_lossy();
    let offset = lossy
        .char_indices()
        .nth(start)
        .map_or(lossy.len(), |(at, _)| at);
    let inner = crm_core::json_path_at(&lossy, offset);
    let path = if inner.is_empty() {
        what.to_string()
    } else {
        format!("{what}.{inner}")
    };
    let refusal = CrmError::Malformed {
        path,
        reason: format!(
            "holds a lone surrogate (U+{unit:04X}, half of a UTF-16 pair) that text cannot hold"
        ),
    };
    Err(errors::to_py(py, refusal))
}
