//! Replicas of one user's view (docs/sync.md, "Partial replication"): a measurer's
//! phone holds their jobs and those clients, not the whole CRM. The authority sends
//! how the view changed since a replica's cursor; the replica folds that into what it
//! holds and drops whatever its user can no longer see.
//!
//! What a user may see is [`Access::can_read`], judged on the authority's state as it
//! is at the pull. A replica's state is always [`State::restricted_to`] of the
//! authority's at the replica's cursor — the property tests hold it to that.

use std::collections::BTreeSet;
use std::ops::ControlFlow;

use super::protocol::ViewChange;
use crate::access::Access;
use crate::common::error::CrmError;
use crate::common::id::{AnyId, UserId};
use crate::engine::Crm;
use crate::event::Event;
use crate::journal::Journal;
use crate::state::State;

impl State {
    /// The state as `user` may hold it on a replica: the shared reference data
    /// (users, departments, pipelines, field definitions, the calendar, document
    /// templates), the records they may read with what the state keeps about each
    /// (last touch, field edit clocks, first contact, SLA breaches, reschedules), the
    /// ID counters and the position. Rules, the outbox, timers, merges that can be
    /// undone, timelines and other replicas' decisions stay with the authority.
    /// Nothing for an unknown user.
    pub fn restricted_to(&self, user: UserId) -> State {
        let Some(access) = Access::viewer(self, user) else {
            return State::default();
        };
        let visible: BTreeSet<AnyId> = record_ids(self).filter(|id| access.can_read(*id)).collect();
        let mut view = records_of(self, &visible);
        copy_reference(&mut view, self);
        view
    }
}

/// Every contact, company, deal, task, activity, document and payment.
fn record_ids(state: &State) -> impl Iterator<Item = AnyId> + '_ {
    (state.contacts.keys().map(|id| AnyId::from(*id)))
        .chain(state.companies.keys().map(|id| AnyId::from(*id)))
        .chain(state.deals.keys().map(|id| AnyId::from(*id)))
        .chain(state.tasks.keys().map(|id| AnyId::from(*id)))
        .chain(state.activities.keys().map(|id| AnyId::from(*id)))
        .chain(state.documents.keys().map(|id| AnyId::from(*id)))
        .chain(state.payments.keys().map(|id| AnyId::from(*id)))
}

/// Whether a view holds records of this kind (reference data and the outbox are
/// handled apart).
fn is_record(id: AnyId) -> bool {
    matches!(
        id,
        AnyId::ContactId(_)
            | AnyId::CompanyId(_)
            | AnyId::DealId(_)
            | AnyId::TaskId(_)
            | AnyId::ActivityId(_)
            | AnyId::DocumentId(_)
            | AnyId::PaymentId(_)
    )
}

/// A state holding only `ids` (those that exist) and what is kept about each, at
/// `state`'s position and with its ID counters.
fn records_of(state: &State, ids: &BTreeSet<AnyId>) -> State {
    let mut out = State::default();
    for id in ids {
        match *id {
            AnyId::ContactId(id) => {
                if let Some(contact) = state.contacts.get(&id) {
                    out.contacts.insert(id, contact.clone());
                }
            }
            AnyId::CompanyId(id) => {
                if let Some(company) = state.companies.get(&id) {
                    out.companies.insert(id, company.clone());
                }
            }
            AnyId::DealId(id) => {
                if let Some(deal) = state.deals.get(&id) {
                    out.deals.insert(id, deal.clone());
                }
                if let Some(first) = state.first_contact.get(&id) {
                    out.first_contact.insert(id, *first);
                }
                if let Some(visit) = state.sla_breached.get(&id) {
                    out.sla_breached.insert(id, *visit);
                }
            }
            AnyId::TaskId(id) => {
                if let Some(task) = state.tasks.get(&id) {
                    out.tasks.insert(id, task.clone());
                }
                if let Some(at) = state.rescheduled_at.get(&id) {
                    out.rescheduled_at.insert(id, *at);
                }
            }
            AnyId::ActivityId(id) => {
                if let Some(activity) = state.activities.get(&id) {
                    out.activities.insert(id, activity.clone());
                }
            }
            AnyId::DocumentId(id) => {
                if let Some(document) = state.documents.get(&id) {
                    out.documents.insert(id, document.clone());
                }
            }
            AnyId::PaymentId(id) => {
                if let Some(deal) = state.payments.get(&id) {
                    out.payments.insert(id, *deal);
                }
            }
            _ => continue,
        }
        if let Some(at) = state.last_touch.get(id) {
            out.last_touch.insert(*id, *at);
        }
        if let Some(clocks) = state.field_clocks.get(id) {
            out.field_clocks.insert(*id, clocks.clone());
        }
    }
    out.id_counters = state.id_counters.clone();
    out.settled_until = state.settled_until;
    out.last_seq = state.last_seq;
    out.last_at = state.last_at;
    out
}

/// The reference data every replica holds whole.
fn copy_reference(into: &mut State, from: &State) {
    into.departments = from.departments.clone();
    into.users = from.users.clone();
    into.fields = from.fields.clone();
    into.pipelines = from.pipelines.clone();
    into.stages = from.stages.clone();
    into.calendar = from.calendar.clone();
    into.templates = from.templates.clone();
}

/// Takes `ids` out of `state`, with what is kept about each.
fn remove_records(state: &mut State, ids: &BTreeSet<AnyId>) {
    for id in ids {
        match *id {
            AnyId::ContactId(id) => {
                state.contacts.remove(&id);
            }
            AnyId::CompanyId(id) => {
                state.companies.remove(&id);
            }
            AnyId::DealId(id) => {
                state.deals.remove(&id);
                state.first_contact.remove(&id);
                state.sla_breached.remove(&id);
            }
            AnyId::TaskId(id) => {
                state.tasks.remove(&id);
                state.rescheduled_at.remove(&id);
            }
            AnyId::ActivityId(id) => {
                state.activities.remove(&id);
            }
            AnyId::DocumentId(id) => {
                state.documents.remove(&id);
            }
            AnyId::PaymentId(id) => {
                state.payments.remove(&id);
            }
            _ => continue,
        }
        state.last_touch.remove(id);
        state.field_clocks.remove(id);
    }
}

/// Puts the records of `part` (and what is kept about them) into `state`.
fn insert_records(state: &mut State, part: State) {
    state.contacts.extend(part.contacts);
    state.companies.extend(part.companies);
    state.deals.extend(part.deals);
    state.first_contact.extend(part.first_contact);
    state.sla_breached.extend(part.sla_breached);
    state.tasks.extend(part.tasks);
    state.rescheduled_at.extend(part.rescheduled_at);
    state.activities.extend(part.activities);
    state.documents.extend(part.documents);
    state.payments.extend(part.payments);
    state.last_touch.extend(part.last_touch);
    state.field_clocks.extend(part.field_clocks);
}

/// The records whose being visible can make `id` visible in turn: a task's record;
/// a deal's contact and company; the tasks, activities and documents on a record; a
/// deal's payments ([`Access::can_read`] walks these the other way).
fn lends_sight_to(state: &State, id: AnyId, on: &RecordsOn) -> Vec<AnyId> {
    let mut out: Vec<AnyId> = match id {
        AnyId::TaskId(task) => state
            .tasks
            .get(&task)
            .and_then(|task| task.link)
            .into_iter()
            .collect(),
        AnyId::DealId(deal) => state
            .deals
            .get(&deal)
            .into_iter()
            .flat_map(|deal| deal.fields.parties())
            .chain(on.payments(deal))
            .collect(),
        _ => Vec::new(),
    };
    out.extend(state.tasks_by_record.of(id).map(AnyId::from));
    out.extend(on.of(id));
    out
}

/// Activities and documents by the record they are on, and payments by deal: built
/// once per pull (the state keeps no such index).
#[derive(Default)]
struct RecordsOn {
    on: std::collections::BTreeMap<AnyId, Vec<AnyId>>,
    payments: std::collections::BTreeMap<crate::common::id::DealId, Vec<AnyId>>,
}

impl RecordsOn {
    fn build(state: &State) -> Self {
        let mut index = RecordsOn::default();
        for activity in state.activities.values() {
            index
                .on
                .entry(activity.link)
                .or_default()
                .push(activity.id.into());
        }
        for document in state.documents.values() {
            index
                .on
                .entry(document.subject)
                .or_default()
                .push(document.id.into());
        }
        for (payment, deal) in &state.payments {
            index
                .payments
                .entry(*deal)
                .or_default()
                .push((*payment).into());
        }
        index
    }

    fn of(&self, id: AnyId) -> impl Iterator<Item = AnyId> + '_ {
        self.on.get(&id).into_iter().flatten().copied()
    }

    fn payments(&self, deal: crate::common::id::DealId) -> impl Iterator<Item = AnyId> + '_ {
        self.payments.get(&deal).into_iter().flatten().copied()
    }
}

/// What the events after a cursor did, as far as one user's view is concerned.
#[derive(Default)]
struct Since {
    /// The user's rights may have changed, or someone was erased: send the whole view.
    reset: bool,
    /// Reference data changed.
    reference: bool,
    /// Every record an event named.
    touched: BTreeSet<AnyId>,
    /// Records created after the cursor (a replica cannot hold them yet).
    created: BTreeSet<AnyId>,
}

impl Since {
    fn note(&mut self, event: &Event) {
        match event {
            // Who sees what follows from users' roles and departments; and an erased
            // person must leave every replica, with whatever mentioned them.
            Event::UserCreated { .. }
            | Event::UserUpdated { .. }
            | Event::UserDeactivated { .. }
            | Event::UserErased { .. }
            | Event::DepartmentCreated { .. }
            | Event::ContactErased { .. } => self.reset = true,
            Event::FieldDefined { .. }
            | Event::FieldUpdated { .. }
            | Event::PipelineCreated { .. }
            | Event::PipelineUpdated { .. }
            | Event::StageAdded { .. }
            | Event::StageUpdated { .. }
            | Event::StagesReordered { .. }
            | Event::StageArchived { .. }
            | Event::CalendarSet { .. }
            | Event::TemplateDefined { .. } => self.reference = true,
            Event::ContactCreated { contact } => {
                self.created.insert(contact.id.into());
            }
            Event::CompanyCreated { company } => {
                self.created.insert(company.id.into());
            }
            Event::DealCreated { deal } => {
                self.created.insert(deal.id.into());
            }
            Event::TaskCreated { task } => {
                self.created.insert(task.id.into());
            }
            Event::ActivityLogged { activity } => {
                self.created.insert(activity.id.into());
            }
            Event::DocumentRendered { document, .. } => {
                self.created.insert(document.id.into());
            }
            // What a deleted deal's activities touched is not named otherwise.
            Event::RecordDeleted { parties, .. } => self.touched.extend(parties),
            _ => {}
        }
        self.touched
            .extend(event.records().into_iter().filter(|id| is_record(*id)));
    }
}

impl<J: Journal> Crm<J> {
    /// How `user`'s view changed after `cursor`, as of now (docs/sync.md).
    pub(super) fn view_since(&self, user: UserId, cursor: u64) -> Result<ViewChange, CrmError> {
        let state = self.state();
        let last = state.last_seq();
        if cursor > last {
            return Err(CrmError::validation(
                "cursor",
                format!("{cursor} is past the journal's last event, {last}"),
            ));
        }
        let access =
            Access::viewer(state, user).ok_or_else(|| CrmError::not_found("user", user))?;
        let mut since = Since {
            reset: cursor == 0,
            ..Since::default()
        };
        if !since.reset && cursor < last {
            self.journal().scan_from(cursor + 1, &mut |envelope| {
                since.note(&envelope.event);
                Ok(if since.reset {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                })
            })?;
        }
        if since.reset {
            return Ok(ViewChange {
                user,
                since: cursor,
                reset: true,
                reference: true,
                records: Box::new(state.restricted_to(user)),
                removed: Vec::new(),
            });
        }
        // Records whose content or visibility may have changed: those named, one step
        // from each (an activity on a deal changes its contact's last touch), and
        // onward from everything visible through what lends sight (a task given to
        // the measurer shows the deal, its client and the notes on them).
        let on = RecordsOn::build(state);
        let mut send = BTreeSet::new();
        let mut seen = BTreeSet::new();
        let mut todo: Vec<AnyId> = since.touched.iter().copied().collect();
        while let Some(id) = todo.pop() {
            if !seen.insert(id) {
                continue;
            }
            let visible = access.can_read(id);
            if visible {
                send.insert(id);
            }
            if visible || since.touched.contains(&id) {
                todo.extend(lends_sight_to(state, id, &on));
                if since.touched.contains(&id) {
                    todo.extend(state.deals_by_party.of(id).map(AnyId::from));
                }
            }
        }
        let removed = since
            .touched
            .iter()
            .filter(|id| !send.contains(id) && !since.created.contains(id))
            .copied()
            .collect();
        let mut records = records_of(state, &send);
        if since.reference {
            copy_reference(&mut records, state);
        }
        Ok(ViewChange {
            user,
            since: cursor,
            reset: false,
            reference: since.reference,
            records: Box::new(records),
            removed,
        })
    }
}

/// `held` (a replica's canonical state) moved on by `change`: what moved in or changed
/// replaces what was held, what moved out leaves, and then so does everything the
/// user can no longer see without it (a deal whose only task for the measurer was
/// given to someone else, that deal's client, the notes on them).
pub(super) fn absorb(held: &State, change: &ViewChange) -> State {
    let part = (*change.records).clone();
    let mut state = if change.reset {
        part
    } else {
        let mut state = held.clone();
        if change.reference {
            copy_reference(&mut state, &part);
        }
        let mut replaced: BTreeSet<AnyId> = record_ids(&part).collect();
        replaced.extend(change.removed.iter().copied());
        remove_records(&mut state, &replaced);
        state.id_counters = part.id_counters.clone();
        state.settled_until = part.settled_until;
        state.last_seq = part.last_seq;
        state.last_at = part.last_at;
        insert_records(&mut state, part);
        state
    };
    state.rebuild_derived();
    // One pass is enough: whether a record is readable is worked out through the
    // records that lend it sight, as they are, whether or not they go too.
    let gone: BTreeSet<AnyId> = match Access::viewer(&state, change.user) {
        Some(access) => record_ids(&state)
            .filter(|id| !access.can_read(*id))
            .collect(),
        None => record_ids(&state).collect(),
    };
    if !gone.is_empty() {
        remove_records(&mut state, &gone);
        state.rebuild_derived();
    }
    state
}
