//! The state: a pure fold over events. `apply` never fails and never looks at anything
//! but the event, so replaying a journal rebuilds exactly the same state.

pub(crate) mod erasure;
pub(crate) mod idempotency;
mod links;
mod task_index;

pub(crate) use links::Links;
pub(crate) use task_index::TaskIndex;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::common::calendar::Calendar;
use crate::common::hlc::Hlc;
use crate::common::id::{
    ActivityId, AnyId, CompanyId, ContactId, DealId, DepartmentId, DocumentId, EffectId, PaymentId,
    PipelineId, ReplicaId, StageId, TaskId, UserId,
};
use crate::common::normalize::EmailPolicy;
use crate::event::{Event, EventEnvelope};
use crate::model::activity::{Activity, ActivityKind, Direction};
use crate::model::company::Company;
use crate::model::contact::Contact;
use crate::model::custom_field::{CustomValues, EntityKind, FieldDefinitions};
use crate::model::deal::{Deal, DealStatus, StageChange};
use crate::model::document::{Document, Template};
use crate::model::fact::ScheduledRule;
use crate::model::intake::IntakeSettings;
use crate::model::merge::{CompanyMergeRecord, Merge};
use crate::model::outbox::Effect;
use crate::model::pipeline::Pipeline;
use crate::model::rule::Rule;
use crate::model::task::{Task, TaskStatus};
use crate::model::user::{Department, User};

/// Journal positions of the events on one record, oldest first. Most records (an
/// activity, a task) have one or two, kept inline rather than in an allocation each.
pub(crate) type Timeline = smallvec::SmallVec<[u64; 2]>;

/// Everything the CRM knows, plus the indexes that keep access checks and timelines fast.
/// Ordered maps keep its JSON form canonical, so two states compare byte for byte.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct State {
    pub(crate) departments: BTreeMap<DepartmentId, Department>,
    pub(crate) users: BTreeMap<UserId, User>,
    pub(crate) fields: BTreeMap<EntityKind, FieldDefinitions>,
    pub(crate) contacts: BTreeMap<ContactId, Contact>,
    pub(crate) companies: BTreeMap<CompanyId, Company>,
    pub(crate) pipelines: BTreeMap<PipelineId, Pipeline>,
    pub(crate) stages: BTreeMap<StageId, PipelineId>,
    pub(crate) deals: BTreeMap<DealId, Deal>,
    pub(crate) tasks: BTreeMap<TaskId, Task>,
    pub(crate) activities: BTreeMap<ActivityId, Activity>,
    /// Tasks linked to each contact, company or deal (rebuilt from the tasks' links,
    /// not stored).
    #[serde(skip)]
    pub(crate) tasks_by_record: Links<TaskId>,
    /// Deals linked to each contact or company (rebuilt from the deals, not stored).
    #[serde(skip)]
    pub(crate) deals_by_party: Links<DealId>,
    /// Journal positions of the events in each record's timeline, oldest first.
    pub(crate) timelines: BTreeMap<AnyId, Timeline>,
    /// Automation rules, in the order they are evaluated.
    pub(crate) rules: Vec<Rule>,
    pub(crate) calendar: Calendar,
    /// Document templates by key (the latest version).
    pub(crate) templates: BTreeMap<String, Template>,
    pub(crate) documents: BTreeMap<DocumentId, Document>,
    /// The deal each payment belongs to.
    pub(crate) payments: BTreeMap<PaymentId, DealId>,
    /// Every effect ever queued, and those not yet acknowledged.
    pub(crate) effects: BTreeMap<EffectId, Effect>,
    pub(crate) outbox: BTreeSet<EffectId>,
    /// Each round-robin pool's last assignee.
    pub(crate) round_robin: BTreeMap<String, UserId>,
    /// The latest activity on each record (and on a deal's contact).
    #[serde(deserialize_with = "crate::common::utc::deserialize_map")]
    pub(crate) last_touch: BTreeMap<AnyId, DateTime<Utc>>,
    /// How web forms and calls become contacts and leads.
    #[serde(default)]
    pub(crate) intake: IntakeSettings,
    /// Activities by their source system's ID (calls, e-mails), so each is logged once.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) external_ids: BTreeMap<String, ActivityId>,
    /// Merges that can still be undone, by the contact merged away.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) merges: BTreeMap<ContactId, Merge>,
    /// Company merges that can still be undone, by the company merged away.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) company_merges: BTreeMap<CompanyId, CompanyMergeRecord>,
    /// Each deal's first outreach: an outbound call, e-mail or meeting, or a completed
    /// task, on the deal, its contact or its company, from its creation on.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "crate::common::utc::deserialize_map"
    )]
    pub(crate) first_contact: BTreeMap<DealId, DateTime<Utc>>,
    /// For deals whose stage SLA was breached: the stage visit (history length) it was for.
    pub(crate) sla_breached: BTreeMap<DealId, usize>,
    /// For each idle rule: the quiet spell (its start) each record already fired for.
    pub(crate) idle_fired: BTreeMap<String, BTreeMap<AnyId, DateTime<Utc>>>,
    /// For each `date_reached` rule: the occurrence of the date each record last fired
    /// for.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) date_fired: BTreeMap<String, BTreeMap<AnyId, NaiveDate>>,
    /// Up to when the past is settled by a history import: timers due by then do not
    /// fire (they belong to imported history).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::common::utc::deserialize_option"
    )]
    pub(crate) settled_until: Option<DateTime<Utc>>,
    /// What the authority decided on each replica's pending commands, by replica and
    /// sequence: a command delivered again is answered from here, never run twice.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) synced: BTreeMap<ReplicaId, BTreeMap<u64, SyncRecord>>,
    /// The idempotency keys of the last day's requests (docs/server.md).
    #[serde(
        default,
        skip_serializing_if = "idempotency::IdempotencyKeys::is_empty"
    )]
    pub(crate) idempotency: idempotency::IdempotencyKeys,
    /// When each field of a record was last edited, on the hybrid clock: a replica's
    /// edit typed before the field's last edit loses (docs/sync.md).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) field_clocks: BTreeMap<AnyId, BTreeMap<String, Hlc>>,
    /// When rules with a `date_reached` trigger were last defined: such a rule does not
    /// fire for an occurrence whose time had passed by then.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::common::utc::deserialize_option"
    )]
    pub(crate) rules_defined_at: Option<DateTime<Utc>>,
    /// For each `task_due_soon` rule: the due time each task was last reminded of.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) reminded: BTreeMap<String, BTreeMap<TaskId, DateTime<Utc>>>,
    /// When each rescheduled task was given its current due time (a reminder is not
    /// sent for a time before that; other tasks count from their creation).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) rescheduled_at: BTreeMap<TaskId, DateTime<Utc>>,
    /// Delayed rules waiting for their time, by the position of their `rule_scheduled`.
    pub(crate) scheduled: BTreeMap<u64, ScheduledRule>,
    /// Contacts not merged away, by phone (E.164) and by e-mail address without a
    /// `+tag` ([`EmailPolicy::base`]): what intake and imports match on (rebuilt, not
    /// stored).
    #[serde(skip)]
    pub(crate) contact_keys: BTreeMap<String, BTreeSet<ContactId>>,
    /// Open tasks per user, tasks per record and assignee, each record's latest
    /// completed task of each kind (rebuilt, not stored).
    #[serde(skip)]
    pub(crate) task_index: TaskIndex,
    /// The highest ID sequence used by each replica.
    pub(crate) id_counters: BTreeMap<ReplicaId, u64>,
    /// The journal position of the last applied event.
    pub(crate) last_seq: u64,
    /// The latest time among the applied events: a command is not recorded before it
    /// (absent in snapshots of format 3 and older: read from the journal's last event).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) last_at: Option<DateTime<Utc>>,
}

/// Reading the records: what a host may look at directly, as the system sees it (no
/// access rules: a host that serves users reads through `Crm::get` and the lists).
/// The indexes beside the records stay inside the crate.
impl State {
    pub fn departments(&self) -> &BTreeMap<DepartmentId, Department> {
        &self.departments
    }
    pub fn users(&self) -> &BTreeMap<UserId, User> {
        &self.users
    }
    pub fn contacts(&self) -> &BTreeMap<ContactId, Contact> {
        &self.contacts
    }
    pub fn companies(&self) -> &BTreeMap<CompanyId, Company> {
        &self.companies
    }
    pub fn pipelines(&self) -> &BTreeMap<PipelineId, Pipeline> {
        &self.pipelines
    }
    pub fn deals(&self) -> &BTreeMap<DealId, Deal> {
        &self.deals
    }
    pub fn tasks(&self) -> &BTreeMap<TaskId, Task> {
        &self.tasks
    }
    pub fn activities(&self) -> &BTreeMap<ActivityId, Activity> {
        &self.activities
    }
    pub fn documents(&self) -> &BTreeMap<DocumentId, Document> {
        &self.documents
    }
    /// Outbox effects, delivered or not (`Crm::drain_outbox` lists the undelivered).
    pub fn effects(&self) -> &BTreeMap<EffectId, Effect> {
        &self.effects
    }
    /// Which deal each payment is on (the payments themselves are on their deals).
    pub fn payments(&self) -> &BTreeMap<PaymentId, DealId> {
        &self.payments
    }
    /// The contacts merged away, with what each merge did (kept until it is undone).
    pub fn merges(&self) -> &BTreeMap<ContactId, Merge> {
        &self.merges
    }
    /// The companies merged away, with what each merge did (kept until it is undone).
    pub fn company_merges(&self) -> &BTreeMap<CompanyId, CompanyMergeRecord> {
        &self.company_merges
    }
    pub fn templates(&self) -> &BTreeMap<String, Template> {
        &self.templates
    }
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }
    pub fn calendar(&self) -> &Calendar {
        &self.calendar
    }
    /// The sequence number of the last event folded in.
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// The latest time among the events applied (none before the first).
    pub fn last_at(&self) -> Option<DateTime<Utc>> {
        self.last_at
    }
}

impl State {
    /// Whether `stage` is what the reference names (a name, an ID, optionally a pipeline).
    pub(crate) fn stage_matches(
        &self,
        reference: &str,
        pipeline: Option<&str>,
        stage: StageId,
    ) -> bool {
        let Some(owner) = self
            .stages
            .get(&stage)
            .and_then(|id| self.pipelines.get(id))
        else {
            return false;
        };
        let pipeline_ok =
            pipeline.is_none_or(|want| owner.name == want || owner.id.to_string() == want);
        pipeline_ok
            && owner
                .stage(stage)
                .is_some_and(|s| s.name == reference || s.id.to_string() == reference)
    }

    /// The next free ID sequence for `replica` (IDs start at 1).
    pub(crate) fn next_seq(&self, replica: ReplicaId) -> u64 {
        self.id_counters.get(&replica).map_or(1, |last| last + 1)
    }

    /// Whether an entity with this ID exists.
    pub fn exists(&self, id: AnyId) -> bool {
        match id {
            AnyId::DepartmentId(id) => self.departments.contains_key(&id),
            AnyId::UserId(id) => self.users.contains_key(&id),
            AnyId::ContactId(id) => self.contacts.contains_key(&id),
            AnyId::CompanyId(id) => self.companies.contains_key(&id),
            AnyId::PipelineId(id) => self.pipelines.contains_key(&id),
            AnyId::StageId(id) => self.stages.contains_key(&id),
            AnyId::DealId(id) => self.deals.contains_key(&id),
            AnyId::TaskId(id) => self.tasks.contains_key(&id),
            AnyId::ActivityId(id) => self.activities.contains_key(&id),
            AnyId::FieldId(id) => self
                .fields
                .values()
                .flat_map(|defs| defs.values())
                .any(|f| f.id == id),
            AnyId::PaymentId(id) => self.payments.contains_key(&id),
            AnyId::DocumentId(id) => self.documents.contains_key(&id),
            AnyId::EffectId(id) => self.effects.contains_key(&id),
        }
    }

    /// Folds one event into the state.
    pub(crate) fn apply(&mut self, envelope: &EventEnvelope) {
        let records = self.records_touched(envelope);
        self.apply_touching(envelope, &records);
    }

    /// The records an event is about: those it names, and for work on a task the
    /// record the task is about (its timeline shows the work too). Read before the
    /// event is folded.
    pub(crate) fn records_touched(&self, envelope: &EventEnvelope) -> Vec<AnyId> {
        let mut records = envelope.event.records();
        let task = match &envelope.event {
            Event::TaskCompleted { id, .. }
            | Event::TaskCancelled { id, .. }
            | Event::TaskReassigned { id, .. }
            | Event::TaskUpdated { id, .. }
            | Event::TaskRescheduled { id, .. }
            | Event::TaskReopened { id }
            | Event::TaskOverdue { id, .. }
            | Event::TaskDueSoon { id, .. } => Some(*id),
            Event::RulesEvaluated {
                subject: AnyId::TaskId(id),
                ..
            }
            | Event::CascadeStopped {
                subject: AnyId::TaskId(id),
                ..
            } => Some(*id),
            Event::EffectQueued { effect } => match effect.subject {
                Some(AnyId::TaskId(id)) => Some(id),
                _ => None,
            },
            _ => None,
        };
        records.extend(
            task.and_then(|id| self.tasks.get(&id))
                .and_then(|task| task.link),
        );
        records
    }

    /// [`State::apply`] with the event's [`State::records_touched`] already known.
    pub(crate) fn apply_touching(&mut self, envelope: &EventEnvelope, records: &[AnyId]) {
        for id in envelope.event.created_ids() {
            let counter = self.id_counters.entry(id.replica()).or_default();
            *counter = (*counter).max(id.seq());
        }
        for record in records {
            self.timelines
                .entry(*record)
                .or_default()
                .push(envelope.seq);
        }
        self.last_seq = envelope.seq;
        self.last_at = self.last_at.max(Some(envelope.at));
        // Tasks the event may change leave the task index as they were and come back
        // as they are.
        let tasks: Vec<TaskId> = records
            .iter()
            .filter_map(|record| match record {
                AnyId::TaskId(id) => Some(*id),
                _ => None,
            })
            .collect();
        for id in &tasks {
            if let Some(task) = self.tasks.get(id) {
                self.task_index.remove(task);
            }
        }
        self.fold(envelope);
        for id in &tasks {
            if let Some(task) = self.tasks.get(id) {
                self.task_index.add(task);
            }
        }
    }

    /// Records outreach at `at` on a deal, or on a contact or company (then for each of
    /// its deals created by then), as the deals' first contact unless they had an
    /// earlier one.
    fn note_contact(&mut self, record: AnyId, at: DateTime<Utc>) {
        for deal in self.deals_of(record) {
            let created = self.deals.get(&deal).map(|deal| deal.created_at);
            if created.is_some_and(|created| created <= at) {
                let first = self.first_contact.entry(deal).or_insert(at);
                *first = (*first).min(at);
            }
        }
    }

    /// The deal itself, or a contact's or company's deals.
    pub(crate) fn deals_of(&self, record: AnyId) -> Vec<DealId> {
        match record {
            AnyId::DealId(id) => vec![id],
            other => self.deals_by_party.of(other).collect(),
        }
    }

    /// Rebuilds the indexes that are derived rather than stored, after loading a state
    /// from elsewhere (a snapshot).
    pub fn rebuild_derived(&mut self) {
        self.task_index = TaskIndex::default();
        self.tasks_by_record.clear();
        for task in self.tasks.values() {
            self.task_index.add(task);
            if let Some(link) = task.link {
                self.tasks_by_record.insert(link, task.id);
            }
        }
        self.deals_by_party.clear();
        for deal in self.deals.values() {
            for party in deal.fields.parties() {
                self.deals_by_party.insert(party, deal.id);
            }
        }
        self.contact_keys.clear();
        let ids: Vec<ContactId> = self.contacts.keys().copied().collect();
        for id in ids {
            self.index_contact(id, true);
        }
    }

    /// The live contacts with this phone or e-mail address (plus-tags ignored), oldest first.
    pub(crate) fn contacts_with(
        &self,
        phone_or_email: &str,
    ) -> impl Iterator<Item = ContactId> + '_ {
        self.contact_keys
            .get(&contact_key(phone_or_email))
            .into_iter()
            .flatten()
            .copied()
    }

    /// Adds (or removes) a contact's phones and addresses in `contact_keys`; merged-away
    /// contacts are never added.
    fn index_contact(&mut self, id: ContactId, add: bool) {
        let Some(contact) = self.contacts.get(&id) else {
            return;
        };
        if add && contact.merged_into.is_some() {
            return;
        }
        let keys: Vec<String> = contact
            .fields
            .phones
            .iter()
            .chain(&contact.fields.emails)
            .map(|key| contact_key(key))
            .collect();
        for key in keys {
            if add {
                self.contact_keys.entry(key).or_default().insert(id);
            } else if let Some(ids) = self.contact_keys.get_mut(&key) {
                ids.remove(&id);
                if ids.is_empty() {
                    self.contact_keys.remove(&key);
                }
            }
        }
    }

    fn set_archived(&mut self, record: AnyId, archived_at: Option<DateTime<Utc>>) {
        let slot = match record {
            AnyId::ContactId(id) => self.contacts.get_mut(&id).map(|c| &mut c.archived_at),
            AnyId::CompanyId(id) => self.companies.get_mut(&id).map(|c| &mut c.archived_at),
            AnyId::DealId(id) => self.deals.get_mut(&id).map(|d| &mut d.archived_at),
            _ => None,
        };
        if let Some(slot) = slot {
            *slot = archived_at;
        }
    }

    /// Removes a record, the tasks and activities on it, and every index entry of
    /// theirs (the task index is kept by `apply_touching`).
    fn delete(&mut self, record: AnyId, tasks: &[TaskId], activities: &[ActivityId]) {
        for id in tasks {
            if let Some(task) = self.tasks.remove(id) {
                if let Some(link) = task.link {
                    self.tasks_by_record.remove(link, *id);
                }
            }
            for reminded in self.reminded.values_mut() {
                reminded.remove(id);
            }
            self.rescheduled_at.remove(id);
            self.timelines.remove(&AnyId::TaskId(*id));
        }
        for id in activities {
            if let Some(activity) = self.activities.remove(id) {
                if let Some(external) = &activity.external_id {
                    self.external_ids.remove(external);
                }
            }
            self.timelines.remove(&AnyId::ActivityId(*id));
        }
        match record {
            AnyId::ContactId(id) => {
                self.index_contact(id, false);
                self.contacts.remove(&id);
            }
            AnyId::CompanyId(id) => {
                self.companies.remove(&id);
            }
            AnyId::DealId(id) => {
                if let Some(deal) = self.deals.get(&id) {
                    let fields = deal.fields.clone();
                    self.link_parties(id, Some(&fields), None);
                }
                self.deals.remove(&id);
                self.first_contact.remove(&id);
                self.sla_breached.remove(&id);
            }
            _ => {}
        }
        // A delayed rule waiting on what is gone has nothing left to act on.
        let gone: Vec<AnyId> = std::iter::once(record)
            .chain(tasks.iter().map(|id| AnyId::from(*id)))
            .chain(activities.iter().map(|id| AnyId::from(*id)))
            .collect();
        self.scheduled
            .retain(|_, scheduled| !gone.contains(&scheduled.subject));
        self.last_touch.remove(&record);
        for fired in self.idle_fired.values_mut() {
            fired.remove(&record);
        }
        for fired in self.date_fired.values_mut() {
            fired.remove(&record);
        }
        self.timelines.remove(&record);
    }

    /// The hybrid-clock time of each field an edit changes (docs/sync.md): a replica's
    /// edit carries its own, one made here is stamped with its time. Custom fields
    /// count one by one (`custom.<key>`).
    fn stamp_fields(&mut self, envelope: &EventEnvelope) {
        fn custom_keys(before: Option<&CustomValues>, after: &CustomValues) -> Vec<String> {
            let empty = CustomValues::new();
            let before = before.unwrap_or(&empty);
            let keys: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
            keys.into_iter()
                .filter(|key| before.get(*key) != after.get(*key))
                .map(|key| format!("custom.{key}"))
                .collect()
        }
        let (record, changed, custom, hlc) = match &envelope.event {
            Event::ContactUpdated {
                id,
                fields,
                changed,
                hlc,
            } => {
                let before = self.contacts.get(id).map(|c| &c.fields.custom);
                (
                    AnyId::from(*id),
                    changed,
                    custom_keys(before, &fields.custom),
                    hlc,
                )
            }
            Event::CompanyUpdated {
                id,
                fields,
                changed,
                hlc,
            } => {
                let before = self.companies.get(id).map(|c| &c.fields.custom);
                (
                    AnyId::from(*id),
                    changed,
                    custom_keys(before, &fields.custom),
                    hlc,
                )
            }
            Event::DealUpdated {
                id,
                fields,
                changed,
                hlc,
            } => {
                let before = self.deals.get(id).map(|d| &d.fields.custom);
                (
                    AnyId::from(*id),
                    changed,
                    custom_keys(before, &fields.custom),
                    hlc,
                )
            }
            Event::TaskUpdated {
                id, changed, hlc, ..
            } => (AnyId::from(*id), changed, Vec::new(), hlc),
            _ => return,
        };
        let clock = hlc.unwrap_or(Hlc::at(envelope.at));
        let clocks = self.field_clocks.entry(record).or_default();
        for field in changed
            .iter()
            .filter(|f| *f != "custom")
            .cloned()
            .chain(custom)
        {
            clocks.insert(field, clock);
        }
    }

    fn fold(&mut self, envelope: &EventEnvelope) {
        self.stamp_fields(envelope);
        let at = envelope.at;
        match &envelope.event {
            Event::DepartmentCreated { department } => {
                self.departments.insert(department.id, department.clone());
            }
            Event::UserCreated { user } | Event::UserUpdated { user, .. } => {
                self.users.insert(user.id, user.clone());
            }
            Event::UserDeactivated { id } => {
                if let Some(user) = self.users.get_mut(id) {
                    user.active = false;
                }
            }
            Event::FieldDefined { field } | Event::FieldUpdated { field, .. } => {
                self.fields
                    .entry(field.entity)
                    .or_default()
                    .insert(field.key.clone(), field.clone());
            }
            Event::ContactCreated { contact } => {
                self.contacts.insert(contact.id, contact.clone());
                self.index_contact(contact.id, true);
            }
            Event::ContactUpdated { id, fields, .. } => {
                self.index_contact(*id, false);
                if let Some(contact) = self.contacts.get_mut(id) {
                    contact.fields = fields.clone();
                    contact.updated_at = at;
                }
                self.index_contact(*id, true);
            }
            Event::IntakeConfigured { settings } => self.intake = settings.clone(),
            Event::ContactsMerged { merge } => {
                self.index_contact(merge.into, false);
                self.index_contact(merge.from, false);
                if let Some(survivor) = self.contacts.get_mut(&merge.into) {
                    survivor.fields = merge.fields.clone();
                    survivor.updated_at = at;
                }
                if let Some(merged) = self.contacts.get_mut(&merge.from) {
                    merged.merged_into = Some(merge.into);
                }
                self.repoint(
                    merge.from.into(),
                    merge.into.into(),
                    &[],
                    &merge.deals,
                    &merge.tasks,
                    &merge.activities,
                );
                self.merges.insert(merge.from, (**merge).clone());
                self.index_contact(merge.into, true);
            }
            Event::ContactsUnmerged {
                into,
                from,
                fields,
                deals,
                tasks,
                activities,
                ..
            } => {
                self.index_contact(*into, false);
                if let Some(survivor) = self.contacts.get_mut(into) {
                    survivor.fields = fields.clone();
                    survivor.updated_at = at;
                }
                if let Some(merged) = self.contacts.get_mut(from) {
                    merged.merged_into = None;
                }
                self.index_contact(*into, true);
                self.index_contact(*from, true);
                self.repoint(
                    (*into).into(),
                    (*from).into(),
                    &[],
                    deals,
                    tasks,
                    activities,
                );
                self.merges.remove(from);
            }
            Event::CompaniesMerged { merge } => {
                if let Some(survivor) = self.companies.get_mut(&merge.into) {
                    survivor.fields = merge.fields.clone();
                    survivor.updated_at = at;
                }
                if let Some(merged) = self.companies.get_mut(&merge.from) {
                    merged.merged_into = Some(merge.into);
                }
                self.repoint(
                    merge.from.into(),
                    merge.into.into(),
                    &merge.contacts,
                    &merge.deals,
                    &merge.tasks,
                    &merge.activities,
                );
                self.company_merges.insert(merge.from, (**merge).clone());
            }
            Event::CompaniesUnmerged {
                into,
                from,
                fields,
                contacts,
                deals,
                tasks,
                activities,
                ..
            } => {
                if let Some(survivor) = self.companies.get_mut(into) {
                    survivor.fields = fields.clone();
                    survivor.updated_at = at;
                }
                if let Some(merged) = self.companies.get_mut(from) {
                    merged.merged_into = None;
                }
                let (survivor, merged) = ((*into).into(), (*from).into());
                self.repoint(survivor, merged, contacts, deals, tasks, activities);
                self.company_merges.remove(from);
            }
            Event::CompanyCreated { company } => {
                self.companies.insert(company.id, company.clone());
            }
            Event::CompanyUpdated { id, fields, .. } => {
                if let Some(company) = self.companies.get_mut(id) {
                    company.fields = fields.clone();
                    company.updated_at = at;
                }
            }
            Event::PipelineCreated { pipeline } => {
                for stage in &pipeline.stages {
                    self.stages.insert(stage.id, pipeline.id);
                }
                self.pipelines.insert(pipeline.id, pipeline.clone());
            }
            Event::PipelineUpdated {
                id,
                name,
                lost_reasons,
                ..
            } => {
                if let Some(pipeline) = self.pipelines.get_mut(id) {
                    pipeline.name = name.clone();
                    pipeline.lost_reasons = lost_reasons.clone();
                }
            }
            Event::StageAdded {
                pipeline: id,
                stage,
                position,
            } => {
                if let Some(pipeline) = self.pipelines.get_mut(id) {
                    let position = (*position).min(pipeline.stages.len());
                    pipeline.stages.insert(position, stage.clone());
                    self.stages.insert(stage.id, *id);
                }
            }
            Event::StageUpdated {
                pipeline: id,
                stage,
                ..
            } => {
                let slot = self
                    .pipelines
                    .get_mut(id)
                    .and_then(|p| p.stages.iter_mut().find(|s| s.id == stage.id));
                if let Some(slot) = slot {
                    *slot = stage.clone();
                }
            }
            Event::StagesReordered {
                pipeline: id,
                stages,
            } => {
                if let Some(pipeline) = self.pipelines.get_mut(id) {
                    // Stages the order does not name (none, unless the journal was edited
                    // by hand) keep their place at the end.
                    let rank = |stage: &crate::model::pipeline::Stage| {
                        stages
                            .iter()
                            .position(|id| *id == stage.id)
                            .unwrap_or(usize::MAX)
                    };
                    pipeline.stages.sort_by_key(rank);
                }
            }
            Event::StageArchived {
                pipeline: id,
                id: stage,
            } => {
                let slot = self
                    .pipelines
                    .get_mut(id)
                    .and_then(|p| p.stages.iter_mut().find(|s| s.id == *stage));
                if let Some(slot) = slot {
                    slot.archived = true;
                }
            }
            Event::DealCreated { deal } => {
                self.link_parties(deal.id, None, Some(&deal.fields));
                self.deals.insert(deal.id, deal.clone());
            }
            Event::DealUpdated { id, fields, .. } => {
                let Some(deal) = self.deals.get(id) else {
                    return;
                };
                let before = deal.fields.clone();
                self.link_parties(*id, Some(&before), Some(fields));
                if let Some(deal) = self.deals.get_mut(id) {
                    deal.fields = fields.clone();
                    deal.updated_at = at;
                }
            }
            Event::DealMoved {
                id,
                from,
                to,
                status,
                lost_reason,
                pipeline,
            } => {
                if let Some(deal) = self.deals.get_mut(id) {
                    if let Some(pipeline) = pipeline {
                        deal.pipeline = *pipeline;
                    }
                    deal.stage = *to;
                    deal.status = *status;
                    deal.lost_reason = lost_reason.clone();
                    deal.closed_at = (*status != DealStatus::Open).then_some(at);
                    deal.updated_at = at;
                    deal.stage_history.push(StageChange {
                        from: Some(*from),
                        to: *to,
                        at,
                        by: envelope.actor,
                        pipeline: *pipeline,
                    });
                }
            }
            Event::TaskCreated { task } => {
                if let Some(link) = task.link {
                    self.tasks_by_record.insert(link, task.id);
                }
                // The task before it in its series now has a follower.
                let previous = task.repeat.as_ref().and_then(|series| series.previous);
                if let Some(series) = previous
                    .and_then(|id| self.tasks.get_mut(&id))
                    .and_then(|previous| previous.repeat.as_mut())
                {
                    series.next = Some(task.id);
                }
                self.tasks.insert(task.id, task.clone());
            }
            Event::TaskCompleted {
                id,
                outcome,
                fields,
            } => {
                if let Some(task) = self.tasks.get_mut(id) {
                    task.status = TaskStatus::Done;
                    task.outcome = outcome.clone();
                    task.fields = fields.clone();
                    task.closed_at = Some(at);
                    task.closed_by = Some(envelope.actor);
                }
                if let Some(link) = self.tasks.get(id).and_then(|task| task.link) {
                    self.note_contact(link, at);
                }
            }
            Event::TaskCancelled { id, .. } => {
                if let Some(task) = self.tasks.get_mut(id) {
                    task.status = TaskStatus::Cancelled;
                    task.closed_at = Some(at);
                    task.closed_by = Some(envelope.actor);
                }
            }
            Event::TaskReassigned { id, to, .. } => {
                if let Some(task) = self.tasks.get_mut(id) {
                    task.assignee = *to;
                }
            }
            Event::TaskUpdated { id, fields, .. } => {
                if let Some(task) = self.tasks.get_mut(id) {
                    task.title = fields.title.clone();
                    task.kind = fields.kind.clone();
                    task.description = fields.description.clone();
                }
            }
            Event::TaskRescheduled { id, to, .. } => {
                // `overdue_at` stays: it names the due time the task last went overdue
                // at, so the overdue timer is armed again only for a new one.
                if let Some(task) = self.tasks.get_mut(id) {
                    task.due = *to;
                    self.rescheduled_at.insert(*id, at);
                }
            }
            Event::TaskReopened { id } => {
                if let Some(task) = self.tasks.get_mut(id) {
                    task.status = TaskStatus::Open;
                    task.outcome = None;
                    task.closed_at = None;
                    task.closed_by = None;
                }
            }
            Event::ActivityLogged { activity } => {
                if let Some(external) = &activity.external_id {
                    self.external_ids.insert(external.clone(), activity.id);
                }
                let mut touched = vec![activity.link];
                if let AnyId::DealId(deal) = activity.link {
                    touched.extend(
                        self.deals
                            .get(&deal)
                            .and_then(|d| d.fields.contact)
                            .map(AnyId::from),
                    );
                }
                for record in touched {
                    let last = self
                        .last_touch
                        .entry(record)
                        .or_insert(activity.occurred_at);
                    *last = (*last).max(activity.occurred_at);
                }
                let outreach = matches!(
                    activity.kind,
                    ActivityKind::Call | ActivityKind::Email | ActivityKind::Meeting
                ) && activity.direction != Some(Direction::Inbound);
                if outreach {
                    self.note_contact(activity.link, activity.occurred_at);
                }
                self.activities.insert(activity.id, activity.clone());
            }
            Event::ActivityUpdated { id, text, .. } => {
                if let Some(activity) = self.activities.get_mut(id) {
                    activity.subject = text.subject.clone();
                    activity.body = text.body.clone();
                    activity.outcome = text.outcome.clone();
                    activity.edited_at = Some(at);
                }
            }
            Event::ContactErased { id, .. } => {
                erasure::Erasure::of(self, *id).apply(self);
                if let Some(contact) = self.contacts.get_mut(id) {
                    contact.erased_at = Some(at);
                }
            }
            Event::UserErased { id } => erasure::Erasure::of_user(self, *id).apply(self),
            Event::RecordArchived { record } => self.set_archived(*record, Some(at)),
            Event::RecordRestored { record } => self.set_archived(*record, None),
            Event::RecordDeleted {
                record,
                tasks,
                activities,
                ..
            } => self.delete(*record, tasks, activities),
            // The record's last touch stays: it says when someone was last in touch, and
            // only notes (never outreach) are deleted.
            Event::ActivityDeleted { id, .. } => {
                if let Some(activity) = self.activities.remove(id) {
                    if let Some(external) = &activity.external_id {
                        self.external_ids.remove(external);
                    }
                }
            }
            Event::RulesDefined { rules } => {
                self.rules = rules.clone();
                // Only date rules read it; journals from before them keep it absent, so
                // their old snapshots and a replay agree.
                let dated = rules
                    .iter()
                    .any(|rule| matches!(rule.when, crate::model::rule::Trigger::DateReached(_)));
                if dated {
                    self.rules_defined_at = Some(at);
                }
            }
            Event::CalendarSet { calendar } => self.calendar = calendar.clone(),
            Event::TemplateDefined { template } => {
                let mut template = template.clone();
                template.version = envelope.seq;
                self.templates.insert(template.key.clone(), template);
            }
            Event::DocumentRendered { document, .. } => {
                self.documents.insert(document.id, document.clone());
            }
            Event::LineItemsSet { deal, items, .. } => {
                if let Some(deal) = self.deals.get_mut(deal) {
                    deal.line_items = items.clone();
                    deal.updated_at = at;
                }
            }
            Event::PaymentRecorded { deal: id, payment } => {
                self.payments.insert(payment.id, *id);
                if let Some(deal) = self.deals.get_mut(id) {
                    deal.payments.push(payment.clone());
                    deal.updated_at = at;
                    let short = match (deal.paid(), &deal.fields.amount) {
                        (Some(paid), Some(amount)) => paid.amount() < amount.amount(),
                        _ => true,
                    };
                    if short {
                        deal.paid_at = None;
                    }
                }
            }
            Event::DealPaid { deal, .. } => {
                if let Some(deal) = self.deals.get_mut(deal) {
                    deal.paid_at = Some(at);
                }
            }
            Event::TaskOverdue { id, due } => {
                if let Some(task) = self.tasks.get_mut(id) {
                    task.overdue_at = Some(*due);
                }
            }
            Event::TaskDueSoon { id, rule, due } => {
                self.reminded
                    .entry(rule.clone())
                    .or_default()
                    .insert(*id, *due);
            }
            Event::StageSlaBreached { deal, .. } => {
                if let Some(visit) = self.deals.get(deal).map(|d| d.stage_history.len()) {
                    self.sla_breached.insert(*deal, visit);
                }
            }
            Event::RecordIdle {
                rule,
                record,
                since,
            } => {
                self.idle_fired
                    .entry(rule.clone())
                    .or_default()
                    .insert(*record, *since);
            }
            // On the record's timeline (records_touched); nothing else changes.
            Event::FieldConflict { .. } => {}
            Event::CommandSynced { replica, seq } => {
                let position = envelope.seq;
                self.synced
                    .entry(*replica)
                    .or_default()
                    .insert(*seq, SyncRecord::Accepted { position });
            }
            Event::IdempotencyKeyUsed {
                key,
                digest,
                events,
                created,
            } => {
                let request = idempotency::KeyedRequest {
                    at: envelope.at,
                    digest: digest.clone(),
                    first: envelope.seq.saturating_sub(*events),
                    last: envelope.seq,
                    created: created.clone(),
                };
                self.idempotency
                    .insert(envelope.actor, key.clone(), request);
            }
            Event::CommandRejected {
                replica,
                seq,
                code,
                field,
                message,
            } => {
                let record = SyncRecord::Rejected {
                    code: code.clone(),
                    field: field.clone(),
                    message: message.clone(),
                };
                self.synced
                    .entry(*replica)
                    .or_default()
                    .insert(*seq, record);
            }
            Event::HistoryImported { until, .. } => {
                self.settled_until = self.settled_until.max(Some(*until));
            }
            Event::DateReached { rule, record, date } => {
                self.date_fired
                    .entry(rule.clone())
                    .or_default()
                    .insert(*record, *date);
            }
            Event::EffectQueued { effect } => {
                self.outbox.insert(effect.id);
                self.effects.insert(effect.id, effect.clone());
            }
            Event::EffectsAcknowledged { ids } => {
                for id in ids {
                    self.outbox.remove(id);
                }
            }
            Event::RuleScheduled {
                rule,
                trigger,
                subject,
                fact,
                due,
            } => {
                let scheduled = ScheduledRule {
                    rule: rule.clone(),
                    trigger: *trigger,
                    subject: *subject,
                    fact: fact.clone(),
                    due: *due,
                };
                self.scheduled.insert(envelope.seq, scheduled);
            }
            Event::RuleDue { scheduled, .. } => {
                self.scheduled.remove(scheduled);
            }
            Event::RoundRobinAdvanced { pool, user } => {
                self.round_robin.insert(pool.clone(), *user);
            }
            Event::RulesEvaluated { .. }
            | Event::RuleFailed { .. }
            | Event::MessageWithheld { .. }
            | Event::CascadeStopped { .. } => {}
            Event::OwnerAssigned { record, to, .. } => self.set_owner(*record, *to, at),
            Event::RecordsReassigned { to, records, .. } => {
                for record in records {
                    self.set_owner(*record, *to, at);
                }
            }
        }
    }

    fn set_owner(&mut self, record: AnyId, owner: UserId, at: chrono::DateTime<chrono::Utc>) {
        match record {
            AnyId::ContactId(id) => {
                if let Some(contact) = self.contacts.get_mut(&id) {
                    contact.owner = owner;
                    contact.updated_at = at;
                }
            }
            AnyId::CompanyId(id) => {
                if let Some(company) = self.companies.get_mut(&id) {
                    company.owner = owner;
                    company.updated_at = at;
                }
            }
            AnyId::DealId(id) => {
                if let Some(deal) = self.deals.get_mut(&id) {
                    deal.owner = owner;
                    deal.updated_at = at;
                }
            }
            AnyId::TaskId(id) => {
                if let Some(task) = self.tasks.get_mut(&id) {
                    task.assignee = owner;
                }
            }
            _ => {}
        }
    }

    /// Points the listed contacts (for companies), deals, tasks and activities of the
    /// contact or company `from` at `to`.
    fn repoint(
        &mut self,
        from: AnyId,
        to: AnyId,
        contacts: &[ContactId],
        deals: &[DealId],
        tasks: &[TaskId],
        activities: &[ActivityId],
    ) {
        for deal in deals {
            let Some(before) = self.deals.get(deal).map(|deal| deal.fields.clone()) else {
                continue;
            };
            let mut after = before.clone();
            match to {
                AnyId::ContactId(contact) => after.contact = Some(contact),
                AnyId::CompanyId(company) => after.company = Some(company),
                _ => {}
            }
            self.link_parties(*deal, Some(&before), Some(&after));
            if let Some(deal) = self.deals.get_mut(deal) {
                deal.fields = after;
            }
        }
        if let AnyId::CompanyId(company) = to {
            for contact in contacts {
                if let Some(contact) = self.contacts.get_mut(contact) {
                    contact.fields.company = Some(company);
                }
            }
        }
        for task in tasks {
            if let Some(task) = self.tasks.get_mut(task) {
                task.link = Some(to);
            }
            self.tasks_by_record.remove(from, *task);
            self.tasks_by_record.insert(to, *task);
        }
        for activity in activities {
            if let Some(activity) = self.activities.get_mut(activity) {
                activity.link = to;
            }
        }
    }

    /// Keeps `deals_by_party` in step when a deal's contact or company changes.
    fn link_parties(
        &mut self,
        deal: DealId,
        before: Option<&crate::model::deal::DealFields>,
        after: Option<&crate::model::deal::DealFields>,
    ) {
        let parties = |fields: Option<&crate::model::deal::DealFields>| -> Vec<AnyId> {
            fields
                .map(|f| {
                    f.contact
                        .map(AnyId::from)
                        .into_iter()
                        .chain(f.company.map(AnyId::from))
                        .collect()
                })
                .unwrap_or_default()
        };
        for party in parties(before) {
            self.deals_by_party.remove(party, deal);
        }
        for party in parties(after) {
            self.deals_by_party.insert(party, deal);
        }
    }
}

/// The `contact_keys` key of a stored phone or e-mail address: phones as they are
/// (E.164), addresses without a `+tag`, so every plus-folding policy finds its matches.
fn contact_key(phone_or_email: &str) -> String {
    EmailPolicy::base(phone_or_email)
}

/// The authority's decision on one pushed command.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "result", rename_all = "snake_case")]
pub(crate) enum SyncRecord {
    Accepted {
        position: u64,
    },
    Rejected {
        code: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        field: Option<String>,
        message: String,
    },
}
