//! The state: a pure fold over events. `apply` never fails and never looks at anything
//! but the event, so replaying a journal rebuilds exactly the same state.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::activity::Activity;
use crate::company::Company;
use crate::contact::Contact;
use crate::custom_field::{EntityKind, FieldDefinitions};
use crate::deal::{Deal, DealStatus, StageChange};
use crate::event::{Event, EventEnvelope};
use crate::id::{
    ActivityId, AnyId, CompanyId, ContactId, DealId, DepartmentId, PipelineId, ReplicaId, StageId,
    TaskId, UserId,
};
use crate::pipeline::Pipeline;
use crate::task::{Task, TaskStatus};
use crate::user::{Department, User};

/// Everything the CRM knows, plus the indexes that keep access checks and timelines fast.
/// Ordered maps keep its JSON form canonical, so two states compare byte for byte.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub departments: BTreeMap<DepartmentId, Department>,
    pub users: BTreeMap<UserId, User>,
    pub fields: BTreeMap<EntityKind, FieldDefinitions>,
    pub contacts: BTreeMap<ContactId, Contact>,
    pub companies: BTreeMap<CompanyId, Company>,
    pub pipelines: BTreeMap<PipelineId, Pipeline>,
    pub stages: BTreeMap<StageId, PipelineId>,
    pub deals: BTreeMap<DealId, Deal>,
    pub tasks: BTreeMap<TaskId, Task>,
    pub activities: BTreeMap<ActivityId, Activity>,
    /// Tasks linked to each contact, company or deal.
    pub tasks_by_record: BTreeMap<AnyId, BTreeSet<TaskId>>,
    /// Deals linked to each contact or company.
    pub deals_by_party: BTreeMap<AnyId, BTreeSet<DealId>>,
    /// Journal positions of the events in each record's timeline, oldest first.
    pub timelines: BTreeMap<AnyId, Vec<u64>>,
    /// The highest ID sequence used by each replica.
    pub id_counters: BTreeMap<ReplicaId, u64>,
    /// The journal position of the last applied event.
    pub last_seq: u64,
}

impl State {
    /// The next free ID sequence for `replica` (IDs start at 1).
    pub fn next_seq(&self, replica: ReplicaId) -> u64 {
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
        }
    }

    /// Folds one event into the state.
    pub fn apply(&mut self, envelope: &EventEnvelope) {
        let at = envelope.at;
        for id in envelope.event.created_ids() {
            let counter = self.id_counters.entry(id.replica()).or_default();
            *counter = (*counter).max(id.seq());
        }
        let mut records = envelope.event.records();
        // Work on a task also belongs on the timeline of the record the task is about.
        if let Event::TaskCompleted { id, .. }
        | Event::TaskCancelled { id, .. }
        | Event::TaskReassigned { id, .. } = &envelope.event
        {
            records.extend(self.tasks.get(id).and_then(|task| task.link));
        }
        for record in records {
            self.timelines.entry(record).or_default().push(envelope.seq);
        }
        self.last_seq = envelope.seq;
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
            Event::FieldDefined { field } => {
                self.fields
                    .entry(field.entity)
                    .or_default()
                    .insert(field.key.clone(), field.clone());
            }
            Event::ContactCreated { contact } => {
                self.contacts.insert(contact.id, contact.clone());
            }
            Event::ContactUpdated { id, fields, .. } => {
                if let Some(contact) = self.contacts.get_mut(id) {
                    contact.fields = fields.clone();
                    contact.updated_at = at;
                }
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
            } => {
                if let Some(deal) = self.deals.get_mut(id) {
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
                    });
                }
            }
            Event::TaskCreated { task } => {
                if let Some(link) = task.link {
                    self.tasks_by_record
                        .entry(link)
                        .or_default()
                        .insert(task.id);
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
            Event::ActivityLogged { activity } => {
                self.activities.insert(activity.id, activity.clone());
            }
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

    /// Keeps `deals_by_party` in step when a deal's contact or company changes.
    fn link_parties(
        &mut self,
        deal: DealId,
        before: Option<&crate::deal::DealFields>,
        after: Option<&crate::deal::DealFields>,
    ) {
        let parties = |fields: Option<&crate::deal::DealFields>| -> Vec<AnyId> {
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
            if let Some(deals) = self.deals_by_party.get_mut(&party) {
                deals.remove(&deal);
                if deals.is_empty() {
                    self.deals_by_party.remove(&party);
                }
            }
        }
        for party in parties(after) {
            self.deals_by_party.entry(party).or_default().insert(deal);
        }
    }
}
