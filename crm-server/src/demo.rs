//! A clock a demonstration can move forward (`crm-server --demo-clock`), so that an
//! overdue task's escalation is seen in minutes, not hours. Never for a real business:
//! every time the server records would be shifted by what a signed-in user asked for.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use crate::tenant::Clock;

/// The wall clock plus an offset that only grows.
#[derive(Default)]
pub struct DemoClock {
    ahead_seconds: AtomicI64,
}

/// How far one request may move the clock: a week.
pub(crate) const MAX_ADVANCE_MINUTES: i64 = 7 * 24 * 60;

impl DemoClock {
    pub fn new() -> Arc<DemoClock> {
        Arc::new(DemoClock::default())
    }

    /// The clock the businesses of a demonstration run on.
    pub fn clock(self: &Arc<Self>) -> Clock {
        let clock = Arc::clone(self);
        Arc::new(move || Utc::now() + Duration::seconds(clock.ahead_seconds()))
    }

    /// Moves the clock `minutes` forward; how far ahead of the wall clock it is now.
    pub(crate) fn advance(&self, minutes: i64) -> i64 {
        self.ahead_seconds.fetch_add(minutes * 60, Ordering::SeqCst) + minutes * 60
    }

    /// Moves the clock forward, if need be, so that it shows `instant` or later.
    pub(crate) fn not_before(&self, instant: DateTime<Utc>) {
        let behind_ms = (instant - Utc::now()).num_milliseconds();
        if behind_ms > 0 {
            let needed = (behind_ms + 999) / 1000;
            self.ahead_seconds.fetch_max(needed, Ordering::SeqCst);
        }
    }

    pub(crate) fn ahead_seconds(&self) -> i64 {
        self.ahead_seconds.load(Ordering::SeqCst)
    }
}
