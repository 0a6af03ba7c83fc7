//! Hybrid logical clocks: readings that follow the wall clock but never go backwards
//! and always come after every reading a replica has seen, so "the later edit wins"
//! means the same on every device, whatever their clocks say.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::common::id::ReplicaId;

/// One reading: wall-clock milliseconds, a counter for readings within the same
/// millisecond, and the replica that took it (which breaks ties). Readings compare in
/// that order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Hlc {
    pub wall_ms: i64,
    pub counter: u32,
    pub replica: ReplicaId,
}

impl Hlc {
    /// The clock of `replica` before its first reading.
    pub fn start(replica: ReplicaId) -> Hlc {
        Hlc {
            wall_ms: i64::MIN,
            counter: 0,
            replica,
        }
    }

    /// The reading of an event recorded at `at` by an engine without a clock of its own
    /// (the authority's edits, the canonical events a replica observes): it comes
    /// before any replica's reading of the same millisecond.
    pub fn at(at: DateTime<Utc>) -> Hlc {
        Hlc {
            wall_ms: at.timestamp_millis(),
            counter: 0,
            replica: ReplicaId::MIN,
        }
    }

    /// The next reading at `now`: the wall clock when it has moved past every reading
    /// given or seen, else the last one's millisecond with the counter raised.
    pub fn tick(&mut self, now: DateTime<Utc>) -> Hlc {
        let wall = now.timestamp_millis();
        if wall > self.wall_ms {
            self.wall_ms = wall;
            self.counter = 0;
        } else {
            self.bump();
        }
        *self
    }

    /// Takes note of a reading from elsewhere: later readings here come after it.
    pub fn observe(&mut self, seen: Hlc) {
        if (seen.wall_ms, seen.counter) >= (self.wall_ms, self.counter) {
            self.wall_ms = seen.wall_ms;
            self.counter = seen.counter;
            self.bump();
        }
    }

    fn bump(&mut self) {
        match self.counter.checked_add(1) {
            Some(counter) => self.counter = counter,
            // Four billion readings in one millisecond: borrow the next millisecond.
            None => {
                self.wall_ms = self.wall_ms.saturating_add(1);
                self.counter = 0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(ms).unwrap()
    }

    #[test]
    fn readings_never_go_back_and_follow_what_was_seen() {
        let (one, two) = (ReplicaId::new(1).unwrap(), ReplicaId::new(2).unwrap());
        let mut clock = Hlc::start(one);
        let first = clock.tick(at(1_000));
        let second = clock.tick(at(900)); // the wall clock went back
        assert!(second > first);
        let mut other = Hlc::start(two);
        let remote = other.tick(at(5_000)); // a device whose clock runs ahead
        clock.observe(remote);
        let after = clock.tick(at(1_100));
        assert!(after > remote, "{after:?} after {remote:?}");
        // Same millisecond and counter: the replica id decides.
        let a = Hlc {
            wall_ms: 7,
            counter: 0,
            replica: one,
        };
        let b = Hlc {
            wall_ms: 7,
            counter: 0,
            replica: two,
        };
        assert!(b > a);
    }
}
