//! Python bindings for crm-core: `crm_core._native`, a private module under the
//! idiomatic `crm_core` package. Commands, queries and results cross as JSON text;
//! the Python layer converts `Decimal`, `datetime` and `Money`. No logic lives here.

mod errors;

use crm_core::{Crm, CrmOptions, EventEnvelope, ReplicaId};
use pyo3::prelude::*;

use crate::errors::{to_py, IntoPyResult};

/// One CRM engine with an in-memory journal.
#[pyclass(module = "crm_core._native", unsendable)]
struct Engine {
    crm: Crm,
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
        let crm = Crm::new(replica, options(py, options_json)?).into_py_result(py)?;
        Ok(Self { crm })
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
        let events: Vec<EventEnvelope> = serde_json::from_str(events_json)
            .map_err(|err| crm_core::CrmError::Malformed {
                path: "events".into(),
                reason: err.to_string(),
            })
            .into_py_result(py)?;
        let crm = Crm::replay(replica, options(py, options_json)?, events).into_py_result(py)?;
        Ok(Self { crm })
    }

    fn execute_json(
        &mut self,
        py: Python<'_>,
        actor: &str,
        now: &str,
        command: &str,
    ) -> PyResult<String> {
        self.crm
            .execute_json(actor, now, command)
            .into_py_result(py)
    }

    fn query_json(&self, py: Python<'_>, actor: &str, now: &str, query: &str) -> PyResult<String> {
        self.crm.query_json(actor, now, query).into_py_result(py)
    }

    /// Events with `seq >= from_seq`, as a JSON array.
    fn events_json(&self, py: Python<'_>, from_seq: u64) -> PyResult<String> {
        let events = self.crm.events_since(from_seq).into_py_result(py)?;
        serde_json::to_string(&events).map_err(|err| {
            to_py(
                py,
                crm_core::CrmError::Storage {
                    reason: err.to_string(),
                },
            )
        })
    }

    #[getter]
    fn replica_id(&self) -> u64 {
        self.crm.replica().get()
    }

    #[getter]
    fn last_seq(&self) -> u64 {
        self.crm.state().last_seq
    }
}

#[pymodule]
fn _native(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<Engine>()?;
    errors::register(module)?;
    Ok(())
}
