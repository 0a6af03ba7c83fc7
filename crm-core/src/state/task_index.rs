//! Indexes over tasks that rules and access checks ask about on every evaluation, so
//! neither walks a record's tasks nor the CRM's: how busy each user is, who has a task
//! on a record, and each record's latest completed task of each kind. Derived: kept in
//! step by the fold and rebuilt after a snapshot, never stored.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use crate::common::id::{AnyId, ReplicaId, TaskId, UserId};
use crate::model::task::{Task, TaskStatus};

#[derive(Clone, Debug, Default)]
pub(crate) struct TaskIndex {
    /// Open tasks per assignee (for `{"role": …}` assignees: the least busy holder).
    open: BTreeMap<UserId, usize>,
    /// Tasks of any status per (linked record, assignee): who may read a record
    /// because of a task on it.
    assigned: BTreeMap<(AnyId, UserId), usize>,
    /// Completed tasks by linked record, kind, completion time and ID: the last of each
    /// (record, kind) is what rules and templates read as `results.<kind>`. One flat set
    /// rather than a set per record and kind: a record with one completed task costs
    /// one entry here, not two tree nodes and a copy of the kind's name.
    done: BTreeSet<(AnyId, KindKey, DateTime<Utc>, TaskId)>,
    /// The task kinds seen, each once; `done` refers to them by position.
    kinds: Vec<String>,
}

/// A task kind's position in [`TaskIndex::kinds`].
type KindKey = u32;

/// Equal when they answer alike: the kinds' positions depend on the order they were
/// first seen (event order when folding, ID order when rebuilt), so completed tasks
/// are compared by their kinds' names.
impl PartialEq for TaskIndex {
    fn eq(&self, other: &Self) -> bool {
        let named = |index: &TaskIndex| -> BTreeSet<(AnyId, String, DateTime<Utc>, TaskId)> {
            index
                .done
                .iter()
                .map(|&(record, kind, closed, id)| {
                    (record, index.kinds[kind as usize].clone(), closed, id)
                })
                .collect()
        };
        self.open == other.open && self.assigned == other.assigned && named(self) == named(other)
    }
}

impl Eq for TaskIndex {}

impl TaskIndex {
    /// Counts `task` as it is now.
    pub(crate) fn add(&mut self, task: &Task) {
        if task.status == TaskStatus::Open {
            *self.open.entry(task.assignee).or_default() += 1;
        }
        let Some(link) = task.link else { return };
        *self.assigned.entry((link, task.assignee)).or_default() += 1;
        if let (TaskStatus::Done, Some(closed)) = (task.status, task.closed_at) {
            let kind = self.kind_key(&task.kind);
            self.done.insert((link, kind, closed, task.id));
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
            if let Some(kind) = self.kinds.iter().position(|known| *known == task.kind) {
                self.done.remove(&(link, kind as KindKey, closed, task.id));
            }
        }
    }

    /// The key of `kind`, learning it the first time (kinds are few: a linear search).
    fn kind_key(&mut self, kind: &str) -> KindKey {
        match self.kinds.iter().position(|known| known == kind) {
            Some(position) => position as KindKey,
            None => {
                self.kinds.push(kind.to_string());
                (self.kinds.len() - 1) as KindKey
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

    /// The latest completed task of each kind on `record`: one look per kind on the
    /// record, from the last kind down, however many tasks were completed on it.
    pub(crate) fn latest_done(&self, record: AnyId) -> Vec<(&str, TaskId)> {
        let first_id = TaskId::new(ReplicaId::MIN, 0);
        let mut latest = Vec::new();
        let mut last = self
            .done
            .range(..(record, KindKey::MAX, DateTime::<Utc>::MAX_UTC, first_id))
            .next_back();
        while let Some(&(linked, kind, _, id)) = last.filter(|entry| entry.0 == record) {
            latest.push((self.kinds[kind as usize].as_str(), id));
            // The last entry before this kind's first one: the latest of the kind below.
            last = self
                .done
                .range(..(linked, kind, DateTime::<Utc>::MIN_UTC, first_id))
                .next_back();
        }
        latest
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::id::{ContactId, DealId};
    use crate::model::actor::Actor;

    fn done(seq: u64, kind: &str, link: AnyId, minute: i64) -> Task {
        let at = DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::minutes(minute);
        Task {
            id: TaskId::new(ReplicaId::MIN, seq),
            kind: kind.into(),
            title: kind.into(),
            description: None,
            assignee: UserId::new(ReplicaId::MIN, 1),
            due: None,
            link: Some(link),
            status: TaskStatus::Done,
            outcome: None,
            fields: Default::default(),
            created_at: at,
            created_by: Actor::System,
            closed_at: Some(at),
            closed_by: Some(Actor::System),
            overdue_at: None,
            repeat: None,
        }
    }

    fn latest(index: &TaskIndex, record: AnyId) -> Vec<(String, u64)> {
        let mut latest: Vec<_> = index
            .latest_done(record)
            .into_iter()
            .map(|(kind, id)| (kind.to_string(), id.seq()))
            .collect();
        latest.sort();
        latest
    }

    #[test]
    fn each_kind_answers_with_its_latest_completion_and_falls_back_when_it_goes() {
        let deal = AnyId::from(DealId::new(ReplicaId::MIN, 1));
        let neighbour = AnyId::from(DealId::new(ReplicaId::MIN, 2));
        let contact = AnyId::from(ContactId::new(ReplicaId::MIN, 1));
        let tasks = [
            done(1, "call", deal, 10),
            done(2, "measurement", deal, 5),
            done(3, "call", deal, 30),
            done(4, "call", deal, 20),
            done(5, "visit", neighbour, 40),
            done(6, "call", contact, 50),
        ];
        let mut index = TaskIndex::default();
        for task in &tasks {
            index.add(task);
        }
        let pairs = |list: &[(&str, u64)]| -> Vec<(String, u64)> {
            list.iter().map(|(k, s)| (k.to_string(), *s)).collect()
        };
        assert_eq!(
            latest(&index, deal),
            pairs(&[("call", 3), ("measurement", 2)])
        );
        assert_eq!(latest(&index, neighbour), pairs(&[("visit", 5)]));
        assert_eq!(latest(&index, contact), pairs(&[("call", 6)]));

        // Kinds learned in another order answer alike and compare equal.
        let mut reversed = TaskIndex::default();
        for task in tasks.iter().rev() {
            reversed.add(task);
        }
        assert_ne!(reversed.kinds, index.kinds);
        assert_eq!(reversed, index);

        index.remove(&tasks[2]);
        assert_eq!(
            latest(&index, deal),
            pairs(&[("call", 4), ("measurement", 2)])
        );
        index.remove(&tasks[1]);
        assert_eq!(latest(&index, deal), pairs(&[("call", 4)]));
        for task in [&tasks[0], &tasks[3]] {
            index.remove(task);
        }
        assert!(latest(&index, deal).is_empty());
        assert_eq!(latest(&index, neighbour), pairs(&[("visit", 5)]));
    }
}
