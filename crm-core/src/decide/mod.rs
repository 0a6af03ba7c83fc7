//! Deciding: a command, checked against the state and the actor's rights, becomes the
//! events it produces — or the reason it is refused. Nothing here changes anything:
//! [`Ctx`] allocates IDs from a counter the fold moves only when the events are applied.
//! One file per aggregate; [`decide`] is the one dispatcher, for users' commands and
//! for rule actions alike.

mod activity;
mod calendar;
mod company;
mod contact;
mod custom_field;
mod deal;
mod document;
pub(crate) mod history;
pub(crate) mod import;
pub(crate) mod intake;
mod merge;
pub(crate) mod outbox;
mod ownership;
mod payment;
mod pipeline;
mod record;
mod rule;
mod task;
mod user;

use crate::access::Access;
use crate::common::diff;
use crate::common::error::CrmError;
use crate::common::hlc::Hlc;
use crate::common::id::{AnyId, ReplicaId};
use crate::event::Event;
use crate::model::actor::Actor;
use crate::model::command::*;
use crate::state::State;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

/// Everything a handler may look at while deciding. It allocates IDs but changes nothing:
/// the counter lives in the state and only moves when the events are applied.
pub(crate) struct Ctx<'s> {
    pub state: &'s State,
    pub access: Access<'s>,
    pub now: DateTime<Utc>,
    pub region: Option<rlibphonenumber::Region>,
    /// The hybrid-clock time of a replica's command (docs/sync.md), for its edits.
    pub hlc: Option<Hlc>,
    replica: ReplicaId,
    next_seq: u64,
}

impl<'s> Ctx<'s> {
    pub(crate) fn new(
        state: &'s State,
        actor: Actor,
        now: DateTime<Utc>,
        replica: ReplicaId,
        region: Option<rlibphonenumber::Region>,
    ) -> Result<Self, CrmError> {
        let access = Access::new(state, actor)?;
        let next_seq = state.next_seq(replica);
        Ok(Self {
            state,
            access,
            now,
            region,
            hlc: None,
            replica,
            next_seq,
        })
    }

    pub(crate) fn actor(&self) -> Actor {
        self.access.actor()
    }

    /// A fresh ID of any kind: `(replica, next sequence)`.
    /// A replica's edit (with [`Ctx::hlc`]) gives way, field by field, to edits made
    /// after it was typed (docs/sync.md): each changed field whose last edit is later
    /// on the hybrid clock keeps its value in `after`, and the value the edit would
    /// have set becomes a `field_conflict` on the record's timeline. Fields nobody
    /// edited since, and every field of a local edit, change as asked.
    pub(crate) fn keep_later_edits<T: Serialize + DeserializeOwned>(
        &self,
        record: AnyId,
        before: &T,
        after: &mut T,
    ) -> Result<Vec<Event>, CrmError> {
        let (Some(hlc), Some(clocks)) = (self.hlc, self.state.field_clocks.get(&record)) else {
            return Ok(Vec::new());
        };
        let lost: Vec<(diff::Change, Hlc)> = diff::changes(before, after)
            .into_iter()
            .filter_map(|change| {
                let kept = *clocks.get(&change.field)?;
                (kept > hlc).then_some((change, kept))
            })
            .collect();
        if lost.is_empty() {
            return Ok(Vec::new());
        }
        let broken = |err: serde_json::Error| CrmError::Storage {
            reason: format!("keeping the later edits of {record}: {err}"),
        };
        let mut value = serde_json::to_value(&*after).map_err(broken)?;
        let mut events = Vec::with_capacity(lost.len());
        for (change, kept) in lost {
            let slot = match change.field.split_once('.') {
                Some(("custom", key)) => value
                    .get_mut("custom")
                    .and_then(Value::as_object_mut)
                    .map(|custom| (custom, key.to_string())),
                _ => value
                    .as_object_mut()
                    .map(|fields| (fields, change.field.clone())),
            };
            if let Some((object, key)) = slot {
                if change.from.is_null() {
                    object.remove(&key);
                } else {
                    object.insert(key, change.from.clone());
                }
            }
            events.push(Event::FieldConflict {
                record,
                field: change.field,
                value: change.to,
                hlc,
                kept,
            });
        }
        *after = serde_json::from_value(value).map_err(broken)?;
        Ok(events)
    }

    /// Hands out IDs in `replica`'s space from `first` on: a replica's command gets, at
    /// the authority and in every rebase, the IDs it got when it was typed.
    pub(crate) fn use_ids(&mut self, replica: ReplicaId, first: u64) {
        self.replica = replica;
        self.next_seq = first;
    }

    pub(crate) fn next_id<T: crate::common::id::TypedId>(&mut self) -> T {
        let id = T::from_parts(self.replica, self.next_seq);
        self.next_seq += 1;
        id
    }
}

/// Validates `command` and returns its events, or the reason it is refused.
pub(crate) fn decide(ctx: &mut Ctx<'_>, command: &Command) -> Result<Vec<Event>, CrmError> {
    match command {
        Command::CreateDepartment(input) => user::create_department(ctx, input),
        Command::CreateUser(input) => user::create_user(ctx, input),
        Command::UpdateUser(update) => user::update_user(ctx, update.id, &update.patch),
        Command::DeactivateUser(target) => user::deactivate_user(ctx, target.id),
        Command::DefineField(input) => custom_field::define(ctx, input),
        Command::UpdateField(update) => custom_field::update(ctx, update.id, &update.patch),
        Command::CreateContact(input) => contact::create(ctx, input),
        Command::UpdateContact(update) => contact::update(ctx, update.id, &update.patch),
        Command::MergeContacts(input) => merge::merge_contacts(ctx, input),
        Command::UnmergeContacts(target) => merge::unmerge_contacts(ctx, target.id),
        Command::EraseContact(target) => contact::erase(ctx, target.id),
        Command::EraseUser(target) => user::erase_user(ctx, target.id),
        Command::MergeCompanies(input) => merge::merge_companies(ctx, input),
        Command::UnmergeCompanies(target) => merge::unmerge_companies(ctx, target.id),
        Command::CreateCompany(input) => company::create(ctx, input),
        Command::UpdateCompany(update) => company::update(ctx, update.id, &update.patch),
        Command::CreatePipeline(input) => pipeline::create(ctx, input),
        Command::UpdatePipeline(update) => pipeline::update(ctx, update.id, &update.patch),
        Command::AddStage(input) => pipeline::add_stage(ctx, input),
        Command::UpdateStage(update) => pipeline::update_stage(ctx, update.id, &update.patch),
        Command::ReorderStages(input) => pipeline::reorder(ctx, input),
        Command::ArchiveStage(input) => pipeline::archive_stage(ctx, input),
        Command::CreateDeal(input) => deal::create(ctx, input),
        Command::UpdateDeal(update) => deal::update(ctx, update.id, &update.patch),
        Command::MoveDeal(input) => {
            deal::move_to(ctx, input.id, input.stage, input.lost_reason.as_deref())
        }
        Command::CreateTask(input) => task::create(ctx, input),
        Command::CompleteTask(input) => task::complete(ctx, input),
        Command::CancelTask(input) => task::cancel(ctx, input.id, input.reason.as_deref()),
        Command::ReassignTask(input) => task::reassign(ctx, input.id, input.assignee),
        Command::UpdateTask(update) => task::update(ctx, update.id, &update.patch),
        Command::RescheduleTask(input) => task::reschedule(ctx, input.id, input.due),
        Command::SnoozeTask(input) => task::snooze(ctx, input),
        Command::ReopenTask(target) => task::reopen(ctx, target.id),
        Command::ArchiveRecord(target) => record::archive(ctx, target.id),
        Command::RestoreRecord(target) => record::restore(ctx, target.id),
        Command::DeleteRecord(target) => record::delete(ctx, target.id),
        Command::LogActivity(input) => activity::log(ctx, input),
        Command::UpdateActivity(update) => activity::update(ctx, update.id, &update.patch),
        Command::DeleteActivity(target) => activity::delete(ctx, target.id),
        Command::ConfigureIntake(input) => intake::configure(ctx, input),
        Command::ReceiveForm(input) => intake::receive_form(ctx, input),
        Command::ReceiveCall(input) => intake::receive_call(ctx, input),
        Command::ReceiveEmail(input) => intake::receive_email(ctx, input),
        Command::ImportContacts(input) => import::import(ctx, input),
        Command::AssignOwner(input) => ownership::assign_owner(ctx, input.record, input.owner),
        Command::ReassignOwner(input) => ownership::reassign_owner(ctx, input.from, input.to),
        Command::DefineRules(input) => rule::define(ctx, input),
        Command::SetCalendar(calendar) => calendar::set(ctx, calendar),
        Command::DefineTemplate(input) => document::define(ctx, input),
        Command::RenderDocument(input) => document::render_for(ctx, &input.template, input.record),
        Command::SetLineItems(input) => payment::set_line_items(ctx, input),
        Command::RecordPayment(input) => payment::record(ctx, input),
        Command::AckEffects(input) => outbox::ack(ctx, input),
        Command::ImportHistory(import) => history::check(ctx, import),
        Command::ImportRecords(input) => import::records::steps(ctx, input).map(|_| Vec::new()),
        Command::Tick(_) => Ok(Vec::new()),
    }
}
