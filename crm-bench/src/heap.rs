//! A counting allocator: the benchmark's memory figures are the bytes the program has
//! asked for and not given back, measured exactly, beside the RSS the kernel reports
//! (which also counts what the allocator keeps cached and the program's code).
//!
//! A binary opts in with `#[global_allocator] static HEAP: Counting = Counting;`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

static LIVE: AtomicU64 = AtomicU64::new(0);
static PEAK: AtomicU64 = AtomicU64::new(0);
static CALLS: AtomicU64 = AtomicU64::new(0);

/// The system allocator, counting live bytes, their peak and the allocation calls.
#[derive(Debug)]
pub struct Counting;

// SAFETY: every call is forwarded unchanged to `System`; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let pointer = unsafe { System.alloc(layout) };
        if !pointer.is_null() {
            grow(layout.size() as u64);
        }
        pointer
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let pointer = unsafe { System.alloc_zeroed(layout) };
        if !pointer.is_null() {
            grow(layout.size() as u64);
        }
        pointer
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        unsafe { System.dealloc(pointer, layout) };
        LIVE.fetch_sub(layout.size() as u64, Ordering::Relaxed);
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let moved = unsafe { System.realloc(pointer, layout, new_size) };
        if !moved.is_null() {
            LIVE.fetch_sub(layout.size() as u64, Ordering::Relaxed);
            grow(new_size as u64);
        }
        moved
    }
}

fn grow(bytes: u64) {
    CALLS.fetch_add(1, Ordering::Relaxed);
    let live = LIVE.fetch_add(bytes, Ordering::Relaxed) + bytes;
    PEAK.fetch_max(live, Ordering::Relaxed);
}

/// Bytes allocated and not yet freed (0 unless [`Counting`] is the global allocator).
pub fn live() -> u64 {
    LIVE.load(Ordering::Relaxed)
}

/// The most bytes ever live at once.
pub fn peak() -> u64 {
    PEAK.load(Ordering::Relaxed)
}

/// Allocation calls so far (allocations and reallocations).
pub fn calls() -> u64 {
    CALLS.load(Ordering::Relaxed)
}

/// The live bytes held by what `make` returns (e.g. a clone of one part of the state,
/// to see what that part holds); the value is dropped before returning, so measuring
/// several parts one after another holds one copy at a time.
pub fn held_by<T>(make: impl FnOnce() -> T) -> u64 {
    let before = live();
    let value = make();
    let held = live().saturating_sub(before);
    drop(value);
    held
}
