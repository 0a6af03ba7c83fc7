//! Per-key rate limits: a token bucket for each API key, refilled on the business's
//! clock. Past its burst a key is answered `429 rate_limited` with `Retry-After`.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

/// How many requests a key may make.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// Sustained requests per minute.
    pub per_minute: u32,
    /// Requests a key may make at once before the rate applies.
    pub burst: u32,
}

impl Default for RateLimit {
    /// 600 a minute (10 a second), 100 at once: far above what a shop or a 1C job
    /// sends, well below what a runaway script would.
    fn default() -> Self {
        RateLimit {
            per_minute: 600,
            burst: 100,
        }
    }
}

#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: DateTime<Utc>,
}

/// Most buckets kept before the quiet ones are forgotten.
const MAX_BUCKETS: usize = 100_000;

/// The buckets of every key (and form address) seen lately.
#[derive(Default)]
pub(crate) struct Buckets {
    buckets: HashMap<String, Bucket>,
}

impl Buckets {
    /// Takes one request from `key`'s bucket: `Ok`, or the seconds until the next one
    /// is allowed.
    pub(crate) fn take(
        &mut self,
        key: &str,
        limit: RateLimit,
        now: DateTime<Utc>,
    ) -> Result<(), u64> {
        if self.buckets.len() >= MAX_BUCKETS {
            // Many addresses (a form under a botnet): forget the buckets that have
            // refilled, which are those not used for a while.
            let quiet = chrono::Duration::minutes(10);
            self.buckets.retain(|_, bucket| now - bucket.at < quiet);
        }
        let burst = f64::from(limit.burst.max(1));
        let per_second = f64::from(limit.per_minute.max(1)) / 60.0;
        let bucket = self.buckets.entry(key.to_string()).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        let elapsed = (now - bucket.at).num_milliseconds().max(0) as f64 / 1000.0;
        bucket.tokens = (bucket.tokens + elapsed * per_second).min(burst);
        bucket.at = now.max(bucket.at);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - bucket.tokens) / per_second).ceil().max(1.0) as u64)
        }
    }
}
