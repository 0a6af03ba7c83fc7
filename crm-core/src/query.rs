//! Queries: reading the CRM, always through the actor's rights. Lists come back as
//! `Page { items, total }` so hosts can paginate; filters are plain structs with `Default`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::access::Access;
use crate::activity::Activity;
use crate::company::Company;
use crate::contact::Contact;
use crate::deal::{Deal, DealStatus};
use crate::error::CrmError;
use crate::id::{AnyId, CompanyId, ContactId, PipelineId, StageId, UserId};
use crate::state::State;
use crate::task::{Task, TaskStatus};
use crate::validate;

/// A question to the CRM. JSON: `{"type": "list_deals", ...filter}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Query {
    /// One entity of any kind, by ID.
    Get { id: AnyId },
    ListContacts(ContactFilter),
    ListCompanies(CompanyFilter),
    ListDeals(DealFilter),
    ListTasks(TaskFilter),
    ListActivities(ActivityFilter),
    ListUsers,
    ListDepartments,
    ListPipelines,
    ListFields,
    /// The events of one record, newest first.
    Timeline {
        id: AnyId,
        #[serde(default)]
        limit: Option<usize>,
    },
}

/// One page of a list and how many items matched in all.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: usize,
}

/// Which part of a list to return. Defaults: from the start, everything.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Paging {
    pub offset: usize,
    pub limit: Option<usize>,
}

impl Paging {
    pub(crate) fn page<T>(self, items: impl Iterator<Item = T>) -> Page<T> {
        let mut total = 0;
        let limit = self.limit.unwrap_or(usize::MAX);
        let mut page = Vec::new();
        for item in items {
            if total >= self.offset && page.len() < limit {
                page.push(item);
            }
            total += 1;
        }
        Page { items: page, total }
    }
}

/// Filter for contacts; every given criterion must match.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ContactFilter {
    /// Case-insensitive part of the name.
    pub name: Option<String>,
    /// A phone in any format; matched after normalising to E.164.
    pub phone: Option<String>,
    /// An e-mail; matched after normalising.
    pub email: Option<String>,
    pub tag: Option<String>,
    pub owner: Option<UserId>,
    pub company: Option<CompanyId>,
    #[serde(flatten)]
    pub paging: Paging,
}

/// Filter for companies.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CompanyFilter {
    pub name: Option<String>,
    pub tag: Option<String>,
    pub owner: Option<UserId>,
    #[serde(flatten)]
    pub paging: Paging,
}

/// Filter for deals.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DealFilter {
    pub pipeline: Option<PipelineId>,
    pub stage: Option<StageId>,
    pub owner: Option<UserId>,
    pub status: Option<DealStatus>,
    pub contact: Option<ContactId>,
    pub company: Option<CompanyId>,
    pub tag: Option<String>,
    #[serde(flatten)]
    pub paging: Paging,
}

/// Filter for tasks; results are ordered by due time (undated last).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TaskFilter {
    pub assignee: Option<UserId>,
    pub status: Option<TaskStatus>,
    /// Only open tasks whose due time is before the query's `now`.
    pub overdue: bool,
    pub link: Option<AnyId>,
    pub kind: Option<String>,
    #[serde(flatten)]
    pub paging: Paging,
}

/// Filter for activities; results are ordered by when they happened, newest first.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ActivityFilter {
    pub link: Option<AnyId>,
    #[serde(flatten)]
    pub paging: Paging,
}

fn tag_matches(tags: &std::collections::BTreeSet<String>, wanted: &Option<String>) -> bool {
    wanted.as_ref().is_none_or(|tag| tags.contains(&tag.trim().to_lowercase()))
}

pub(crate) fn contacts<'s>(
    state: &'s State,
    access: &Access<'_>,
    filter: &ContactFilter,
    region: Option<phonenumber::country::Id>,
) -> Result<Page<&'s Contact>, CrmError> {
    let phone = filter.phone.as_deref().map(|p| validate::phone("phone", p, region)).transpose()?;
    let email = filter.email.as_deref().map(|e| validate::email("email", e)).transpose()?;
    let name = filter.name.as_deref().map(|n| n.trim().to_lowercase());
    let matches = move |c: &&Contact| {
        name.as_ref().is_none_or(|n| c.fields.name.to_lowercase().contains(n.as_str()))
            && phone.as_ref().is_none_or(|p| c.fields.phones.contains(p))
            && email.as_ref().is_none_or(|e| c.fields.emails.contains(e))
            && tag_matches(&c.fields.tags, &filter.tag)
            && filter.owner.is_none_or(|o| c.owner == o)
            && filter.company.is_none_or(|co| c.fields.company == Some(co))
            && access.can_read(AnyId::ContactId(c.id))
    };
    Ok(filter.paging.page(state.contacts.values().filter(matches)))
}

pub(crate) fn companies<'s>(state: &'s State, access: &Access<'_>, filter: &CompanyFilter) -> Page<&'s Company> {
    let name = filter.name.as_deref().map(|n| n.trim().to_lowercase());
    let matches = move |c: &&Company| {
        name.as_ref().is_none_or(|n| c.fields.name.to_lowercase().contains(n.as_str()))
            && tag_matches(&c.fields.tags, &filter.tag)
            && filter.owner.is_none_or(|o| c.owner == o)
            && access.can_read(AnyId::CompanyId(c.id))
    };
    filter.paging.page(state.companies.values().filter(matches))
}

pub(crate) fn deals<'s>(state: &'s State, access: &Access<'_>, filter: &DealFilter) -> Page<&'s Deal> {
    let matches = |d: &&Deal| {
        filter.pipeline.is_none_or(|p| d.pipeline == p)
            && filter.stage.is_none_or(|s| d.stage == s)
            && filter.owner.is_none_or(|o| d.owner == o)
            && filter.status.is_none_or(|s| d.status == s)
            && filter.contact.is_none_or(|c| d.fields.contact == Some(c))
            && filter.company.is_none_or(|c| d.fields.company == Some(c))
            && tag_matches(&d.fields.tags, &filter.tag)
            && access.can_read(AnyId::DealId(d.id))
    };
    filter.paging.page(state.deals.values().filter(matches))
}

pub(crate) fn tasks<'s>(state: &'s State, access: &Access<'_>, filter: &TaskFilter, now: DateTime<Utc>) -> Page<&'s Task> {
    let matches = |t: &&Task| {
        filter.assignee.is_none_or(|a| t.assignee == a)
            && filter.status.is_none_or(|s| t.status == s)
            && (!filter.overdue || t.is_overdue(now))
            && filter.link.is_none_or(|l| t.link == Some(l))
            && filter.kind.as_ref().is_none_or(|k| &t.kind == k)
            && access.can_read(AnyId::TaskId(t.id))
    };
    let mut found: Vec<&Task> = state.tasks.values().filter(matches).collect();
    found.sort_by_key(|t| (t.due.is_none(), t.due, t.id));
    filter.paging.page(found.into_iter())
}

pub(crate) fn activities<'s>(state: &'s State, access: &Access<'_>, filter: &ActivityFilter) -> Page<&'s Activity> {
    let matches = |a: &&Activity| filter.link.is_none_or(|l| a.link == l) && access.can_read(AnyId::ActivityId(a.id));
    let mut found: Vec<&Activity> = state.activities.values().filter(matches).collect();
    found.sort_by_key(|a| std::cmp::Reverse((a.occurred_at, a.id)));
    filter.paging.page(found.into_iter())
}
