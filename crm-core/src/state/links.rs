//! Which records are linked to each record (a contact's deals, a deal's tasks), as one
//! ordered set of (record, linked) pairs. A set per record would cost a tree node (a
//! few hundred bytes) for every record with a single link; a pair costs its two IDs.

use std::collections::BTreeSet;

use crate::common::id::{AnyId, ReplicaId, TypedId};

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Links<V> {
    pairs: BTreeSet<(AnyId, V)>,
}

impl<V> Default for Links<V> {
    fn default() -> Self {
        Self {
            pairs: BTreeSet::new(),
        }
    }
}

impl<V: TypedId + Ord> Links<V> {
    pub(crate) fn insert(&mut self, record: AnyId, linked: V) {
        self.pairs.insert((record, linked));
    }

    pub(crate) fn remove(&mut self, record: AnyId, linked: V) {
        self.pairs.remove(&(record, linked));
    }

    /// What is linked to `record`, in ID order.
    pub(crate) fn of(&self, record: AnyId) -> impl DoubleEndedIterator<Item = V> + '_ {
        let first = V::from_parts(ReplicaId::MIN, 0);
        let last = V::from_parts(ReplicaId::MAX, u64::MAX);
        self.pairs
            .range((record, first)..=(record, last))
            .map(|&(_, linked)| linked)
    }

    pub(crate) fn clear(&mut self) {
        self.pairs.clear();
    }
}
