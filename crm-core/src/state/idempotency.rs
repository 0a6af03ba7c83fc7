//! The idempotency keys of the last day's requests (`idempotency_key_used`), so that a
//! request sent again — a client that lost the answer — is answered, not run twice.

use std::collections::{BTreeMap, VecDeque};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::common::id::AnyId;
use crate::model::actor::Actor;
use crate::model::batch::IDEMPOTENCY_RETENTION_HOURS;

/// A request that ran under an idempotency key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub(crate) struct KeyedRequest {
    #[serde(deserialize_with = "crate::common::utc::deserialize")]
    pub(crate) at: DateTime<Utc>,
    pub(crate) digest: String,
    /// Its events are the journal's `first..=last` (the last is the key's record).
    pub(crate) first: u64,
    pub(crate) last: u64,
    pub(crate) created: Vec<Option<AnyId>>,
}

/// The keys by actor (a key is the caller's own: two users may pick the same one),
/// and in the order they were used, to forget them after a day.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub(crate) struct IdempotencyKeys {
    by_actor: BTreeMap<Actor, BTreeMap<String, KeyedRequest>>,
    used: VecDeque<(Actor, String)>,
}

impl IdempotencyKeys {
    pub(crate) fn is_empty(&self) -> bool {
        self.used.is_empty()
    }

    pub(crate) fn get(&self, actor: Actor, key: &str) -> Option<&KeyedRequest> {
        self.by_actor.get(&actor)?.get(key)
    }

    /// Records a request, forgetting those older than the retention by its time (event
    /// times only grow, so the oldest are at the front).
    pub(crate) fn insert(&mut self, actor: Actor, key: String, request: KeyedRequest) {
        let horizon = request.at - Duration::hours(IDEMPOTENCY_RETENTION_HOURS);
        while let Some((old_actor, old_key)) = self.used.front() {
            let expired = self
                .get(*old_actor, old_key)
                .is_none_or(|old| old.at <= horizon);
            if !expired {
                break;
            }
            if let Some(keys) = self.by_actor.get_mut(old_actor) {
                keys.remove(old_key);
                if keys.is_empty() {
                    self.by_actor.remove(old_actor);
                }
            }
            self.used.pop_front();
        }
        self.used.push_back((actor, key.clone()));
        self.by_actor.entry(actor).or_default().insert(key, request);
    }
}
