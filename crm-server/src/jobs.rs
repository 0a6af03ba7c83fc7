//! Import jobs (`files.rs`): who started each, and where it stands, in the server's
//! memory.

use std::collections::HashMap;

use crm_core::UserId;
use serde_json::{json, Value};

/// An import job: who started it, and where it stands.
#[derive(Clone, Debug)]
pub(crate) struct Job {
    pub(crate) user: UserId,
    /// `checking`, `importing`, `done` (the import's outcome), `checked` (a dry run's
    /// answer), `failed` (the problem; nothing was imported).
    pub(crate) status: &'static str,
    pub(crate) check: Option<Value>,
    pub(crate) outcome: Option<Value>,
    pub(crate) problem: Option<Value>,
}

impl Job {
    pub(crate) fn view(&self, id: u64) -> Value {
        let mut view = json!({"id": id, "status": self.status});
        for (name, value) in [
            ("check", &self.check),
            ("outcome", &self.outcome),
            ("problem", &self.problem),
        ] {
            if let Some(value) = value {
                view[name] = value.clone();
            }
        }
        view
    }
}

/// The jobs of one business, in this process's memory.
#[derive(Default)]
pub(crate) struct Jobs {
    next: u64,
    jobs: HashMap<u64, Job>,
}

/// Most jobs remembered per business; the oldest finished ones are forgotten first.
const MAX_JOBS: usize = 1_000;

impl Jobs {
    pub(crate) fn get(&self, id: u64) -> Option<&Job> {
        self.jobs.get(&id)
    }

    pub(crate) fn get_mut(&mut self, id: u64) -> Option<&mut Job> {
        self.jobs.get_mut(&id)
    }

    pub(crate) fn start(&mut self, user: UserId) -> u64 {
        if self.jobs.len() >= MAX_JOBS {
            let finished = self
                .jobs
                .iter()
                .filter(|(_, job)| !matches!(job.status, "checking" | "importing"))
                .map(|(id, _)| *id)
                .min();
            if let Some(oldest) = finished {
                self.jobs.remove(&oldest);
            }
        }
        self.next += 1;
        self.jobs.insert(
            self.next,
            Job {
                user,
                status: "checking",
                check: None,
                outcome: None,
                problem: None,
            },
        );
        self.next
    }
}
