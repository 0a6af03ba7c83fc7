//! Reading: records, lists, reports and timelines, always through the actor's rights.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::access::Access;
use crate::common::error::CrmError;
use crate::common::id::{AnyId, ContactId};
use crate::context;
use crate::decide::Ctx;
use crate::duplicate;
use crate::event::EventEnvelope;
use crate::export;
use crate::journal::Journal;
use crate::model::activity::Activity;
use crate::model::actor::Actor;
use crate::model::company::Company;
use crate::model::contact::Contact;
use crate::model::custom_field::FieldDefinition;
use crate::model::deal::{Deal, DealView};
use crate::model::duplicate::{DuplicateRequest, Duplicates};
use crate::model::outbox::Effect;
use crate::model::pipeline::Pipeline;
use crate::model::query::{
    self, ActivityFilter, CompanyFilter, ContactFilter, DealFilter, Page, Paging, Query, TaskFilter,
};
use crate::model::rule;
use crate::model::task::Task;
use crate::model::user::{Department, User};
use crate::report::{self, Report, ReportRequest};

use super::Crm;

impl<J: Journal> Crm<J> {
    /// Answers a query as `actor` at `now`, as a JSON value.
    pub fn query(
        &self,
        actor: Actor,
        now: DateTime<Utc>,
        query: &Query,
    ) -> Result<serde_json::Value, CrmError> {
        let value = match query {
            Query::Get(target) => serde_json::to_value(self.get(actor, target.id)?),
            Query::ListContacts(filter) => serde_json::to_value(self.contacts(actor, filter)?),
            Query::ListCompanies(filter) => serde_json::to_value(self.companies(actor, filter)?),
            Query::ListDeals(filter) => {
                let page = self.deals(actor, filter)?;
                serde_json::to_value(Page {
                    items: page
                        .items
                        .into_iter()
                        .map(DealView::from)
                        .collect::<Vec<_>>(),
                    total: page.total,
                    next: page.next,
                })
            }
            Query::ListTasks(filter) => serde_json::to_value(self.tasks(actor, now, filter)?),
            Query::ListActivities(filter) => serde_json::to_value(self.activities(actor, filter)?),
            Query::ListUsers(paging) => {
                serde_json::to_value(paging.page(self.users(actor)?.into_iter())?)
            }
            Query::ListDepartments(paging) => {
                serde_json::to_value(paging.page(self.departments(actor)?.into_iter())?)
            }
            Query::ListPipelines(paging) => {
                serde_json::to_value(paging.page(self.pipelines(actor)?.into_iter())?)
            }
            Query::ListFields(paging) => {
                serde_json::to_value(paging.page(self.fields(actor)?.into_iter())?)
            }
            Query::ExportPerson(target) => {
                serde_json::to_value(self.export_person(actor, now, target.id)?)
            }
            Query::Timeline(query) => {
                serde_json::to_value(self.timeline(actor, query.id, query.limit)?)
            }
            Query::Explain(target) => serde_json::to_value(self.explain(actor, target.id)?),
            Query::Outbox(paging) => serde_json::to_value(self.outbox(actor, *paging)?),
            Query::NextWakeup(_) => {
                self.access(actor)?;
                Ok(serde_json::json!({ "next_wakeup": self.next_wakeup() }))
            }
            Query::Rerender(target) => serde_json::to_value(self.rerender(actor, target.id)?),
            Query::ListRules(_) => {
                let access = self.access(actor)?;
                let mut rules = self.state.rules.clone();
                if !access.is_admin() {
                    // A webhook's address often carries its token: admins only.
                    rules.iter_mut().for_each(rule::redact_webhooks);
                }
                Ok(serde_json::json!({ "rules": rules }))
            }
            Query::Calendar(_) => {
                self.access(actor)?;
                serde_json::to_value(&self.state.calendar)
            }
            Query::ListTemplates(paging) => {
                self.access(actor)?;
                serde_json::to_value(paging.page(self.state.templates.values())?)
            }
            Query::ClientStats(target) => {
                let access = self.access(actor)?;
                access.require_read(target.id.into())?;
                serde_json::to_value(context::client_stats(&self.state, target.id, Some(&access)))
            }
            Query::CheckImport(input) => {
                let mut ctx = Ctx::new(&self.state, actor, now, self.replica, self.region)?;
                serde_json::to_value(crate::decide::import::check(&mut ctx, input)?)
            }
            Query::CheckRecordImport(input) => {
                let ctx = Ctx::new(&self.state, actor, now, self.replica, self.region)?;
                serde_json::to_value(crate::decide::import::records::check(&ctx, input)?)
            }
            Query::Export(request) => serde_json::to_value(export::export(
                &self.state,
                &self.access(actor)?,
                request,
                now,
            )?),
            Query::FindDuplicates(request) => {
                serde_json::to_value(self.find_duplicates(actor, request)?)
            }
            Query::Report(request) => serde_json::to_value(self.report(actor, now, request)?),
            Query::Chart(request) => serde_json::to_value(self.chart(actor, now, request)?),
        };
        value.map_err(|err| CrmError::Storage {
            reason: format!("could not serialise a query result: {err}"),
        })
    }

    /// Contacts the actor can see that may be one person (scored by blocking on normalised phones, e-mails, names and companies; docs/integrations.md).
    pub fn find_duplicates(
        &self,
        actor: Actor,
        request: &DuplicateRequest,
    ) -> Result<Duplicates, CrmError> {
        duplicate::find(&self.state, &self.access(actor)?, request)
    }

    /// A report as of `now`, over the deals in the actor's scope (see [`report::ReportKind`]).
    pub fn report(
        &self,
        actor: Actor,
        now: DateTime<Utc>,
        request: &ReportRequest,
    ) -> Result<Report, CrmError> {
        report::answer(
            &self.state,
            &self.projections.reports,
            &self.access(actor)?,
            request,
            now,
        )
    }

    /// A report as chart-ready series and as an SVG picture.
    pub fn chart(
        &self,
        actor: Actor,
        now: DateTime<Utc>,
        request: &ReportRequest,
    ) -> Result<report::Drawing, CrmError> {
        let chart = report::chart(&self.state, &self.report(actor, now, request)?);
        let svg = report::render(&chart);
        Ok(report::Drawing { chart, svg })
    }

    pub(super) fn access(&self, actor: Actor) -> Result<Access<'_>, CrmError> {
        Access::new(&self.state, actor)
    }

    /// Any entity by ID, if the actor may see it.
    pub fn get(&self, actor: Actor, id: AnyId) -> Result<Record, CrmError> {
        self.access(actor)?.require_read(id)?;
        let state = &self.state;
        let record = match id {
            AnyId::DepartmentId(id) => state.departments.get(&id).cloned().map(Record::Department),
            AnyId::UserId(id) => state.users.get(&id).cloned().map(Record::User),
            AnyId::ContactId(id) => state.contacts.get(&id).cloned().map(Record::Contact),
            AnyId::CompanyId(id) => state.companies.get(&id).cloned().map(Record::Company),
            AnyId::PipelineId(id) => state.pipelines.get(&id).cloned().map(Record::Pipeline),
            AnyId::StageId(id) => state
                .stages
                .get(&id)
                .and_then(|p| state.pipelines.get(p))
                .cloned()
                .map(Record::Pipeline),
            AnyId::DealId(id) => state
                .deals
                .get(&id)
                .map(|deal| Record::Deal(DealView::from(deal))),
            AnyId::TaskId(id) => state.tasks.get(&id).cloned().map(Record::Task),
            AnyId::ActivityId(id) => state.activities.get(&id).cloned().map(Record::Activity),
            AnyId::FieldId(id) => state
                .fields
                .values()
                .flat_map(|defs| defs.values())
                .find(|f| f.id == id)
                .cloned()
                .map(Record::Field),
            AnyId::PaymentId(id) => state
                .payments
                .get(&id)
                .and_then(|deal| state.deals.get(deal))
                .and_then(|deal| deal.payments.iter().find(|p| p.id == id))
                .cloned()
                .map(Record::Payment),
            AnyId::DocumentId(id) => state.documents.get(&id).cloned().map(Record::Document),
            AnyId::EffectId(id) => state.effects.get(&id).cloned().map(Record::Effect),
        };
        record.ok_or_else(|| CrmError::not_found(id.kind(), id))
    }

    pub fn contacts(
        &self,
        actor: Actor,
        filter: &ContactFilter,
    ) -> Result<Page<&Contact>, CrmError> {
        crate::list::contacts(&self.state, &self.access(actor)?, filter, self.region)
    }

    pub fn companies(
        &self,
        actor: Actor,
        filter: &CompanyFilter,
    ) -> Result<Page<&Company>, CrmError> {
        crate::list::companies(&self.state, &self.access(actor)?, filter)
    }

    pub fn deals(&self, actor: Actor, filter: &DealFilter) -> Result<Page<&Deal>, CrmError> {
        crate::list::deals(&self.state, &self.access(actor)?, filter)
    }

    /// Tasks; `now` decides which are overdue.
    pub fn tasks(
        &self,
        actor: Actor,
        now: DateTime<Utc>,
        filter: &TaskFilter,
    ) -> Result<Page<&Task>, CrmError> {
        crate::list::tasks(&self.state, &self.access(actor)?, filter, now)
    }

    pub fn activities(
        &self,
        actor: Actor,
        filter: &ActivityFilter,
    ) -> Result<Page<&Activity>, CrmError> {
        crate::list::activities(&self.state, &self.access(actor)?, filter)
    }

    pub fn users(&self, actor: Actor) -> Result<Vec<&User>, CrmError> {
        self.access(actor)?;
        Ok(self.state.users.values().collect())
    }

    pub fn departments(&self, actor: Actor) -> Result<Vec<&Department>, CrmError> {
        self.access(actor)?;
        Ok(self.state.departments.values().collect())
    }

    pub fn pipelines(&self, actor: Actor) -> Result<Vec<&Pipeline>, CrmError> {
        self.access(actor)?;
        Ok(self.state.pipelines.values().collect())
    }

    pub fn fields(&self, actor: Actor) -> Result<Vec<&FieldDefinition>, CrmError> {
        self.access(actor)?;
        Ok(self
            .state
            .fields
            .values()
            .flat_map(|defs| defs.values())
            .collect())
    }

    /// The events of one record the actor may see, newest first: at most `limit`
    /// (default [`query::DEFAULT_PAGE`], at most [`query::MAX_PAGE`]).
    pub fn timeline(
        &self,
        actor: Actor,
        id: AnyId,
        limit: Option<usize>,
    ) -> Result<Vec<EventEnvelope>, CrmError> {
        let access = self.access(actor)?;
        let limit = limit.unwrap_or(query::DEFAULT_PAGE);
        if limit > query::MAX_PAGE {
            return Err(CrmError::too_large("limit", query::MAX_PAGE, limit));
        }
        self.visible_timeline(&access, id, limit)
    }

    /// The newest `limit` events of `id`'s timeline that `access` may see.
    pub(super) fn visible_timeline(
        &self,
        access: &Access<'_>,
        id: AnyId,
        limit: usize,
    ) -> Result<Vec<EventEnvelope>, CrmError> {
        access.require_read(id)?;
        let seqs = self
            .state
            .timelines
            .get(&id)
            .map(|timeline| timeline.as_slice())
            .unwrap_or_default();
        let mut events = Vec::new();
        for seq in seqs.iter().rev() {
            if events.len() >= limit {
                break;
            }
            let event = self.journal.get(*seq)?.ok_or_else(|| CrmError::Storage {
                reason: format!("the journal has no event {seq}, which the timeline of {id} lists"),
            })?;
            // The record is readable, but not everything that happened on it is: another
            // user's task on it, or the outbox's notifications and webhooks.
            if access.may_see(&event.event) {
                events.push(event);
            }
        }
        Ok(events)
    }

    /// Everything held about one person (admins: an access or portability request is
    /// the business's to answer): the contact and those merged into it, their company,
    /// deals, the tasks, activities, documents and messages on them or their deals, and
    /// every event on any of those, oldest first.
    pub fn export_person(
        &self,
        actor: Actor,
        now: DateTime<Utc>,
        id: ContactId,
    ) -> Result<PersonExport, CrmError> {
        let access = self.access(actor)?;
        access.require_admin("export a person's data")?;
        let state = &self.state;
        let contact = state
            .contacts
            .get(&id)
            .ok_or_else(|| CrmError::not_found("contact", id))?;
        let merged: Vec<Contact> = state
            .contacts
            .values()
            .filter(|other| other.merged_into == Some(id))
            .cloned()
            .collect();
        let people: Vec<AnyId> = std::iter::once(AnyId::from(id))
            .chain(merged.iter().map(|c| AnyId::from(c.id)))
            .collect();
        let deals: Vec<&Deal> = people
            .iter()
            .flat_map(|person| state.deals_by_party.of(*person))
            .filter_map(|deal| state.deals.get(&deal))
            .filter(|deal| {
                deal.fields
                    .contact
                    .is_some_and(|c| people.contains(&c.into()))
            })
            .collect();
        let subjects: std::collections::BTreeSet<AnyId> = people
            .iter()
            .copied()
            .chain(deals.iter().map(|deal| AnyId::from(deal.id)))
            .collect();
        let tasks: Vec<Task> = state
            .tasks
            .values()
            .filter(|task| task.link.is_some_and(|link| subjects.contains(&link)))
            .cloned()
            .collect();
        let activities: Vec<crate::model::activity::Activity> = state
            .activities
            .values()
            .filter(|activity| subjects.contains(&activity.link))
            .cloned()
            .collect();
        let documents = state
            .documents
            .values()
            .filter(|document| subjects.contains(&document.subject))
            .cloned()
            .collect();
        let about: std::collections::BTreeSet<AnyId> = subjects
            .iter()
            .copied()
            .chain(tasks.iter().map(|t| AnyId::from(t.id)))
            .chain(activities.iter().map(|a| AnyId::from(a.id)))
            .collect();
        let messages = state
            .effects
            .values()
            .filter(|effect| effect.subject.is_some_and(|s| about.contains(&s)))
            .cloned()
            .collect();
        let seqs: std::collections::BTreeSet<u64> = about
            .iter()
            .flat_map(|record| state.timelines.get(record).into_iter().flatten().copied())
            .collect();
        let mut history = Vec::with_capacity(seqs.len());
        for seq in seqs {
            history.extend(self.journal.get(seq)?);
        }
        Ok(PersonExport {
            exported_at: now,
            contact: contact.clone(),
            merged,
            company: contact
                .fields
                .company
                .and_then(|company| state.companies.get(&company))
                .cloned(),
            deals: deals.into_iter().map(DealView::from).collect(),
            tasks,
            activities,
            documents,
            messages,
            history,
        })
    }

    /// Effects not yet acknowledged, oldest first. Admins and the system only: the
    /// outbox holds every user's notifications.
    pub fn outbox(&self, actor: Actor, paging: Paging) -> Result<Page<&Effect>, CrmError> {
        self.access(actor)?.require_admin("read the outbox")?;
        paging.page(
            self.state
                .outbox
                .iter()
                .filter_map(|id| self.state.effects.get(id)),
        )
    }

    /// Every pending effect: what the host should deliver now.
    pub fn drain_outbox(&self) -> Vec<&Effect> {
        self.state
            .outbox
            .iter()
            .filter_map(|id| self.state.effects.get(id))
            .collect()
    }
}

/// Any stored entity, as returned by [`Crm::get`]. JSON: `{"record": "deal", ...fields}`
/// (not `kind`: tasks, activities and fields have a `kind` of their own).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "record", rename_all = "snake_case")]
pub enum Record {
    Department(Department),
    User(User),
    Contact(Contact),
    Company(Company),
    Pipeline(Pipeline),
    Deal(DealView),
    Task(Task),
    Activity(Activity),
    Field(FieldDefinition),
    Payment(crate::model::payment::Payment),
    Document(crate::model::document::Document),
    Effect(Effect),
}

/// Everything the CRM holds about one person (the `export_person` query): the right
/// of access and of data portability. Plain JSON, every part in ID order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PersonExport {
    pub exported_at: DateTime<Utc>,
    pub contact: Contact,
    /// Contacts merged into this one (duplicates of the same person).
    pub merged: Vec<Contact>,
    /// The company they are recorded at.
    pub company: Option<crate::model::company::Company>,
    /// Their deals, with what was paid.
    pub deals: Vec<DealView>,
    /// Tasks about them or their deals.
    pub tasks: Vec<Task>,
    /// Calls, e-mails, meetings, notes and requests about them or their deals.
    pub activities: Vec<crate::model::activity::Activity>,
    /// Documents rendered for them or their deals.
    pub documents: Vec<crate::model::document::Document>,
    /// Messages and notifications queued about them or their deals.
    pub messages: Vec<Effect>,
    /// Every event on them, their deals, tasks and activities, oldest first.
    pub history: Vec<EventEnvelope>,
}
