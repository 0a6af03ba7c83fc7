//! Indexes over tasks that rules and access checks ask about on every evaluation, so
//! neither walks a record's tasks nor the CRM's: how busy each user is, who has a task
//! on a record, and each record's latest completed task of each kind. Derived: kept in
//! step by the fold and rebuilt after a snapshot, never stored.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use crate::common::id::{AnyId, TaskId, UserId};
use crate::model::task::{Task, TaskStatus};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct TaskIndex {
    /// Open tasks per assignee (for `{"role": …}` assignees: the least busy holder).
    open: BTreeMap<UserId, usize>,
    /// Tasks of any status per (linked record, assignee): who may read a record
    /// because of a task on it.
    assigned: BTreeMap<(AnyId, UserId), usize>,
    /// Completed tasks per linked record and kind, by completion time: the last of each
    /// kind is what rules and templates read as `results.<kind>`.
    done: BTreeMap<AnyId, BTreeMap<String, Completions>>,
}

/// Completed tasks of one kind on one record, by (completion time, ID).
type Completions = BTreeSet<(DateTime<Utc>, TaskId)>;

impl TaskIndex {
    /// Counts `task` as it is now.
    pub(crate) fn add(&mut self, task: &Task) {
        if task.status == TaskStatus::Open {
            *self.open.entry(task.assignee).or_default() += 1;
        }
        let Some(link) = task.link else { return };
        *self.assigned.entry((link, task.assignee)).or_default() += 1;
        if let (TaskStatus::Done, Some(closed)) = (task.status, task.closed_at) {
            self.done
                .entry(link)
                .or_default()
                .entry(task.kind.clone())
                .or_default()
                .insert((closed, task.id));
        }
    }

    /// Takes `task` (as it was counted) out again.
    pub(crate) fn remove(&mut self, task: &Task) {
        if task.status == TaskStatus::Open {
            decrement(&mut self.open, task.assignee);
        }
        let Some(link) = task.link else { return };
        decrement(&mut self.assigned, (link, task.assignee));
        if let (TaskStatus::Done, Some(closed)) = (task.status, task.closed_at) {
            let Some(kinds) = self.done.get_mut(&link) else {
                return;
            };
            if let Some(tasks) = kinds.get_mut(&task.kind) {
                tasks.remove(&(closed, task.id));
                if tasks.is_empty() {
                    kinds.remove(&task.kind);
                }
            }
            if kinds.is_empty() {
                self.done.remove(&link);
            }
        }
    }

    /// How many open tasks `user` has.
    pub(crate) fn open_tasks(&self, user: UserId) -> usize {
        self.open.get(&user).copied().unwrap_or_default()
    }

    /// Whether `user` has (or had) a task on `record`.
    pub(crate) fn has_task_on(&self, record: AnyId, user: UserId) -> bool {
        self.assigned.contains_key(&(record, user))
    }

    /// The latest completed task of each kind on `record`, by kind.
    pub(crate) fn latest_done(&self, record: AnyId) -> impl Iterator<Item = (&str, TaskId)> + '_ {
        self.done
            .get(&record)
            .into_iter()
            .flatten()
            .filter_map(|(kind, tasks)| tasks.last().map(|(_, id)| (kind.as_str(), *id)))
    }
}

fn decrement<K: Ord>(counts: &mut BTreeMap<K, usize>, key: K) {
    if let Some(count) = counts.get_mut(&key) {
        *count -= 1;
        if *count == 0 {
            counts.remove(&key);
        }
    }
}
