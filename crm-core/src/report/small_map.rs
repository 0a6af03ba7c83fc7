//! An ordered map for the aggregates' many small maps: a sorted vector while it is small,
//! a B-tree once it grows. Most of the aggregates' maps (a day's stages, lost reasons,
//! durations, clients) hold one to a few entries, where a `BTreeMap`'s first node costs
//! a few hundred bytes whatever it holds; the few that grow large (a month's durations)
//! keep the tree's logarithmic inserts.

use std::collections::BTreeMap;
use std::fmt;

/// Entries a map keeps in its vector before it becomes a tree.
const SMALL: usize = 24;

#[derive(Clone)]
pub(crate) enum SmallMap<K, V> {
    Small(Vec<(K, V)>),
    Large(BTreeMap<K, V>),
}

impl<K, V> Default for SmallMap<K, V> {
    fn default() -> Self {
        SmallMap::Small(Vec::new())
    }
}

impl<K: Ord, V> SmallMap<K, V> {
    pub(crate) fn len(&self) -> usize {
        match self {
            SmallMap::Small(entries) => entries.len(),
            SmallMap::Large(tree) => tree.len(),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        match self {
            SmallMap::Small(entries) => entries
                .binary_search_by(|(probe, _)| probe.cmp(key))
                .ok()
                .map(|at| &mut entries[at].1),
            SmallMap::Large(tree) => tree.get_mut(key),
        }
    }

    /// The value at `key`, inserted with `V::default()` when missing.
    pub(crate) fn entry_or_default(&mut self, key: K) -> &mut V
    where
        V: Default,
    {
        if let SmallMap::Small(entries) = self {
            if entries.len() >= SMALL
                && entries
                    .binary_search_by(|(probe, _)| probe.cmp(&key))
                    .is_err()
            {
                *self = SmallMap::Large(std::mem::take(entries).into_iter().collect());
            }
        }
        match self {
            SmallMap::Small(entries) => {
                let at = match entries.binary_search_by(|(probe, _)| probe.cmp(&key)) {
                    Ok(at) => at,
                    Err(at) => {
                        if entries.capacity() == 0 {
                            // Most maps here hold a single entry: no room for four.
                            entries.reserve_exact(1);
                        }
                        entries.insert(at, (key, V::default()));
                        at
                    }
                };
                &mut entries[at].1
            }
            SmallMap::Large(tree) => tree.entry(key).or_default(),
        }
    }

    pub(crate) fn remove(&mut self, key: &K) -> Option<V> {
        match self {
            SmallMap::Small(entries) => {
                let at = entries.binary_search_by(|(probe, _)| probe.cmp(key)).ok()?;
                let (_, value) = entries.remove(at);
                if entries.is_empty() {
                    // An emptied map holds nothing, as a new one does.
                    *entries = Vec::new();
                }
                Some(value)
            }
            SmallMap::Large(tree) => tree.remove(key),
        }
    }

    /// The entries in key order.
    pub(crate) fn iter(&self) -> Iter<'_, K, V> {
        match self {
            SmallMap::Small(entries) => Iter::Small(entries.iter()),
            SmallMap::Large(tree) => Iter::Large(tree.iter()),
        }
    }

    pub(crate) fn keys(&self) -> impl Iterator<Item = &K> + '_ {
        self.iter().map(|(key, _)| key)
    }
}

pub(crate) enum Iter<'a, K, V> {
    Small(std::slice::Iter<'a, (K, V)>),
    Large(std::collections::btree_map::Iter<'a, K, V>),
}

impl<'a, K, V> Iterator for Iter<'a, K, V> {
    type Item = (&'a K, &'a V);

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Iter::Small(entries) => entries.next().map(|(key, value)| (key, value)),
            Iter::Large(tree) => tree.next(),
        }
    }
}

impl<'a, K: Ord, V> IntoIterator for &'a SmallMap<K, V> {
    type Item = (&'a K, &'a V);
    type IntoIter = Iter<'a, K, V>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// Equal when the entries are: a map that grew into a tree and shrank again equals one
/// that never did (an aggregate built event by event equals one built from scratch).
impl<K: Ord, V: PartialEq> PartialEq for SmallMap<K, V> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl<K: Ord, V: Eq> Eq for SmallMap<K, V> {}

impl<K: Ord + fmt::Debug, V: fmt::Debug> fmt::Debug for SmallMap<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever is inserted and removed, in whatever order, the map answers as a
        /// BTreeMap does, small or large.
        #[test]
        fn answers_as_a_btree_map(steps in proptest::collection::vec((0u8..60, any::<bool>()), 0..400)) {
            let mut small: SmallMap<u8, u32> = SmallMap::default();
            let mut tree: BTreeMap<u8, u32> = BTreeMap::new();
            for (key, insert) in steps {
                if insert {
                    *small.entry_or_default(key) += 1;
                    *tree.entry(key).or_default() += 1;
                } else {
                    prop_assert_eq!(small.remove(&key), tree.remove(&key));
                }
                prop_assert_eq!(small.len(), tree.len());
                prop_assert!(small.iter().eq(tree.iter()));
            }
            // The same entries inserted afresh: a map that grew and shrank again equals it.
            let mut rebuilt: SmallMap<u8, u32> = SmallMap::default();
            for (key, count) in &tree {
                *rebuilt.entry_or_default(*key) = *count;
            }
            prop_assert_eq!(&rebuilt, &small);
        }
    }
}
