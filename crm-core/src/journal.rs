//! The journal: where events are kept. A trait, so the core stays free of I/O;
//! the in-memory journal lives here, durable ones (SQLite) in their own crates.

use std::ops::ControlFlow;

use crate::common::error::CrmError;
use crate::event::EventEnvelope;

/// An append-only log of events, numbered from 1 without gaps.
pub trait Journal {
    /// Appends a batch atomically: all of it is stored, or none of it and an error.
    /// `batch[0].seq` is always `last_seq() + 1`.
    fn append(&mut self, batch: &[EventEnvelope]) -> Result<(), CrmError>;

    /// The events with `seq >= from`, in order.
    fn read_from(&self, from: u64) -> Result<Vec<EventEnvelope>, CrmError>;

    /// Visits the events with `seq >= from` in order, without collecting them, until
    /// `visit` breaks or fails. Opening folds through this: a journal that can lend its
    /// events (memory) or stream them (SQLite) never holds a second copy of the history.
    fn scan_from(
        &self,
        from: u64,
        visit: &mut dyn FnMut(&EventEnvelope) -> Result<ControlFlow<()>, CrmError>,
    ) -> Result<(), CrmError> {
        for event in &self.read_from(from)? {
            if visit(event)?.is_break() {
                break;
            }
        }
        Ok(())
    }

    /// The event at `seq`, if there is one.
    fn get(&self, seq: u64) -> Result<Option<EventEnvelope>, CrmError>;

    /// The position of the last stored event (0 when empty).
    fn last_seq(&self) -> u64;

    /// The latest stored snapshot, if the journal keeps them (the default keeps none).
    fn load_snapshot(&self) -> Result<Option<Snapshot>, CrmError> {
        Ok(None)
    }

    /// Stores a snapshot (the default discards it: replay from the start is always right).
    fn save_snapshot(&mut self, _snapshot: &Snapshot) -> Result<(), CrmError> {
        Ok(())
    }

    /// Whether [`Journal::save_snapshot`] keeps what it is given; when it does not, the
    /// engine does not serialise its state for nothing.
    fn keeps_snapshots(&self) -> bool {
        false
    }

    /// Rewrites stored events in place: each event for which `redact` returns a
    /// replacement is replaced (same position and time), every snapshot is dropped,
    /// and nothing of the old text may remain in the store. Only erasure uses it
    /// (docs/adr/0003-erasure.md). Returns how many events changed. The default
    /// refuses: a journal that cannot rewrite cannot erase.
    fn rewrite(
        &mut self,
        _redact: &mut dyn FnMut(&EventEnvelope) -> Option<EventEnvelope>,
    ) -> Result<u64, CrmError> {
        Err(CrmError::Storage {
            reason: "this journal cannot rewrite its events, so it cannot erase a person".into(),
        })
    }

    /// Whether [`Journal::rewrite`] works (checked before an erasure changes anything).
    fn rewrites(&self) -> bool {
        false
    }

    /// What opening the journal noticed that an operator should hear about (a file not
    /// closed cleanly whose write-ahead log is gone, say); the engine adds these to
    /// [`crate::Crm::warnings`]. Empty by default.
    fn warnings(&self) -> Vec<String> {
        Vec::new()
    }
}

/// Every event with `seq >= from`, collected through [`Journal::scan_from`]: the
/// `read_from` of a journal that streams (SQLite, PostgreSQL).
pub fn collect_from<J: Journal + ?Sized>(
    journal: &J,
    from: u64,
) -> Result<Vec<EventEnvelope>, CrmError> {
    let mut events = Vec::new();
    journal.scan_from(from, &mut |event| {
        events.push(event.clone());
        Ok(ControlFlow::Continue(()))
    })?;
    Ok(events)
}

/// The events `redact` replaces, as replaced: what a journal's
/// [`Journal::rewrite`] then stores in place of the originals.
pub fn collect_redacted<J: Journal + ?Sized>(
    journal: &J,
    redact: &mut dyn FnMut(&EventEnvelope) -> Option<EventEnvelope>,
) -> Result<Vec<EventEnvelope>, CrmError> {
    let mut changed = Vec::new();
    journal.scan_from(1, &mut |event| {
        changed.extend(redact(event));
        Ok(ControlFlow::Continue(()))
    })?;
    Ok(changed)
}

/// A boxed journal is a journal, so a host can choose memory or disk at run time
/// (`Crm<Box<dyn Journal>>`), as the bindings do.
impl<J: Journal + ?Sized> Journal for Box<J> {
    fn append(&mut self, batch: &[EventEnvelope]) -> Result<(), CrmError> {
        (**self).append(batch)
    }
    fn read_from(&self, from: u64) -> Result<Vec<EventEnvelope>, CrmError> {
        (**self).read_from(from)
    }
    fn scan_from(
        &self,
        from: u64,
        visit: &mut dyn FnMut(&EventEnvelope) -> Result<ControlFlow<()>, CrmError>,
    ) -> Result<(), CrmError> {
        (**self).scan_from(from, visit)
    }
    fn get(&self, seq: u64) -> Result<Option<EventEnvelope>, CrmError> {
        (**self).get(seq)
    }
    fn last_seq(&self) -> u64 {
        (**self).last_seq()
    }
    fn load_snapshot(&self) -> Result<Option<Snapshot>, CrmError> {
        (**self).load_snapshot()
    }
    fn save_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), CrmError> {
        (**self).save_snapshot(snapshot)
    }
    fn keeps_snapshots(&self) -> bool {
        (**self).keeps_snapshots()
    }
    fn warnings(&self) -> Vec<String> {
        (**self).warnings()
    }
    fn rewrite(
        &mut self,
        redact: &mut dyn FnMut(&EventEnvelope) -> Option<EventEnvelope>,
    ) -> Result<u64, CrmError> {
        (**self).rewrite(redact)
    }
    fn rewrites(&self) -> bool {
        (**self).rewrites()
    }
}

/// The state after event `seq`, serialised, so opening replays only what came after.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// The snapshot format ([`SNAPSHOT_VERSION`] when written by this build).
    pub v: u32,
    /// The journal position the state reflects.
    pub seq: u64,
    /// The state as JSON.
    pub state: String,
}

/// The snapshot format this build writes. Bump it whenever the stored state changes
/// shape or meaning — a snapshot from before would load without what the new fold keeps
/// (2: deals' first contact and source; 3: the links between records no longer
/// stored, since they are rebuilt from the records; 4: when each field was last
/// edited, and the authority's decisions on replicas' commands — docs/sync.md).
pub const SNAPSHOT_VERSION: u32 = 4;

/// The oldest snapshot format this build reads (older ones are ignored and the journal
/// replayed): formats 2 and 3 lack the field edit times, which only the events give.
pub const OLDEST_READABLE_SNAPSHOT: u32 = 4;

/// A journal in memory: for tests, the browser (whose host persists exported events)
/// and anywhere durability is handled elsewhere.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemoryJournal {
    /// The position before the first event held: 0, except for a journal that
    /// continues a state brought from elsewhere (a replica of one user's view starts
    /// at the authority's position, with none of the events before it).
    base: u64,
    /// The state at `base`, when it is not 0.
    start: Option<Snapshot>,
    events: Vec<EventEnvelope>,
}

impl MemoryJournal {
    pub fn new() -> Self {
        Self::default()
    }

    /// A journal of `events`, which must be numbered 1, 2, 3, ... (they are taken over,
    /// not copied).
    pub fn from_events(events: Vec<EventEnvelope>) -> Result<Self, CrmError> {
        if let Some((index, event)) = (1..)
            .zip(&events)
            .find(|(expected, event)| event.seq != *expected)
        {
            return Err(CrmError::conflict(format!(
                "journal append at seq {} but the next free position is {index}",
                event.seq
            )));
        }
        Ok(Self {
            base: 0,
            start: None,
            events,
        })
    }

    /// An empty journal that continues a state brought from elsewhere (its
    /// snapshot): its first event follows the snapshot's position, and opening it
    /// starts from the snapshot.
    pub(crate) fn continuing(start: Snapshot) -> Self {
        Self {
            base: start.seq,
            start: Some(start),
            events: Vec::new(),
        }
    }

    /// All events, oldest first.
    pub fn events(&self) -> &[EventEnvelope] {
        &self.events
    }

    /// All events, oldest first, giving the journal up.
    pub fn into_events(self) -> Vec<EventEnvelope> {
        self.events
    }

    fn append_check(&self, first: u64) -> Result<(), CrmError> {
        let expected = self.last_seq() + 1;
        if first != expected {
            return Err(CrmError::conflict(format!(
                "journal append at seq {first} but the next free position is {expected}"
            )));
        }
        Ok(())
    }

    fn tail(&self, from: u64) -> &[EventEnvelope] {
        let start = usize::try_from(from.saturating_sub(1).saturating_sub(self.base))
            .unwrap_or(usize::MAX)
            .min(self.events.len());
        &self.events[start..]
    }
}

impl Journal for MemoryJournal {
    fn load_snapshot(&self) -> Result<Option<Snapshot>, CrmError> {
        Ok(self.start.clone())
    }

    fn append(&mut self, batch: &[EventEnvelope]) -> Result<(), CrmError> {
        if let Some(first) = batch.first() {
            self.append_check(first.seq)?;
        }
        self.events.extend_from_slice(batch);
        Ok(())
    }

    fn read_from(&self, from: u64) -> Result<Vec<EventEnvelope>, CrmError> {
        Ok(self.tail(from).to_vec())
    }

    fn scan_from(
        &self,
        from: u64,
        visit: &mut dyn FnMut(&EventEnvelope) -> Result<ControlFlow<()>, CrmError>,
    ) -> Result<(), CrmError> {
        for event in self.tail(from) {
            if visit(event)?.is_break() {
                break;
            }
        }
        Ok(())
    }

    fn get(&self, seq: u64) -> Result<Option<EventEnvelope>, CrmError> {
        let index = seq
            .checked_sub(self.base + 1)
            .and_then(|index| usize::try_from(index).ok());
        Ok(index.and_then(|index| self.events.get(index)).cloned())
    }

    fn last_seq(&self) -> u64 {
        self.base + self.events.len() as u64
    }

    fn rewrite(
        &mut self,
        redact: &mut dyn FnMut(&EventEnvelope) -> Option<EventEnvelope>,
    ) -> Result<u64, CrmError> {
        let mut changed = 0;
        for event in &mut self.events {
            if let Some(redacted) = redact(event) {
                *event = redacted;
                changed += 1;
            }
        }
        Ok(changed)
    }

    fn rewrites(&self) -> bool {
        true
    }
}
