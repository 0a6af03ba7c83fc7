//! One fold for the state and the projections that read it. `State` folds events on
//! its own (replay needs nothing else); the engine also keeps the reports' aggregates
//! and the timers' wake-ups in step, event by event, so a report is read and not
//! recomputed and `next_wakeup` is a look at the first timer. Neither projection is
//! stored: both are built from the state when a journal is opened.

use crate::common::id::AnyId;
use crate::event::{Event, EventEnvelope};
use crate::report::{Reports, Touched};
use crate::state::State;
use crate::timer::Timers;

/// What the engine derives from the state and keeps beside it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Projections {
    /// The reports' aggregates (`docs/reports.md`).
    pub reports: Reports,
    /// Scheduled wake-ups: overdue tasks, task reminders, stage SLAs, idle records,
    /// delayed rules.
    pub timers: Timers,
}

impl Projections {
    /// The projections of `state`, from scratch: what an event-by-event fold reaches
    /// too (property-tested in tests/reports.rs).
    pub fn build(state: &State) -> Projections {
        Projections {
            reports: Reports::build(state),
            timers: Timers::build(state),
        }
    }
}

/// Events after which the reports' aggregates are built anew rather than updated:
/// business days move with the time zone, and which stages a deal has reached follows
/// its pipeline's order. Both are rare, deliberate changes by an admin.
fn reshapes_reports(event: &Event) -> bool {
    matches!(
        event,
        Event::CalendarSet { .. } | Event::StageAdded { .. } | Event::StagesReordered { .. }
    )
}

/// Folds one event into the state and keeps the projections in step with it.
pub(crate) fn apply(state: &mut State, projections: &mut Projections, envelope: &EventEnvelope) {
    let records = state.records_touched(envelope);
    let touched = Touched::of(state, &records, envelope);
    let before = projections.reports.contributions(state, &touched);
    let scheduled_before = match envelope.event {
        Event::RecordDeleted { .. } => state.scheduled.keys().copied().collect(),
        _ => Vec::new(),
    };
    state.apply_touching(envelope, &records);

    if reshapes_reports(&envelope.event) {
        projections.reports = Reports::build(state);
    } else {
        let after = projections.reports.contributions(state, &touched);
        projections.reports.update(state, &before, &after);
    }

    let timers = &mut projections.timers;
    match &envelope.event {
        Event::RulesDefined { .. }
        | Event::CalendarSet { .. }
        | Event::PipelineCreated { .. }
        | Event::StageUpdated { .. }
        | Event::HistoryImported { .. } => {
            *timers = Timers::build(state);
            return;
        }
        Event::RuleScheduled { due, .. } => timers.delay(envelope.seq, Some(*due)),
        Event::RuleDue { scheduled, .. } => timers.delay(*scheduled, None),
        // Delayed rules on a deleted record were dropped with it.
        Event::RecordDeleted { .. } => {
            for seq in scheduled_before {
                if !state.scheduled.contains_key(&seq) {
                    timers.delay(seq, None);
                }
            }
        }
        _ => {}
    }
    // The records this event touched, and a deal's client (idle clients).
    let mut touched = records;
    for record in touched.clone() {
        if let AnyId::DealId(id) = record {
            touched.extend(
                state
                    .deals
                    .get(&id)
                    .and_then(|deal| deal.fields.contact)
                    .map(AnyId::from),
            );
        }
    }
    touched.sort();
    touched.dedup();
    for record in touched {
        timers.refresh(state, record);
    }
}
