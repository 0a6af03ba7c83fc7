//! Locks the server's threads share.

use std::sync::{Mutex, MutexGuard};

/// A lock whose holder panicked is still usable: the engine rebuilds its state from
/// the journal on any failure, so what it guards is never half-changed.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
