//! Queries: reading the CRM, always through the actor's rights. Lists come back as
//! `Page { items, total }` so hosts can paginate; filters are plain structs with `Default`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::access::Access;
use crate::activity::Activity;
use crate::command::Target;
use crate::company::Company;
use crate::contact::Contact;
use crate::deal::{Deal, DealStatus};
use crate::duplicate::DuplicateRequest;
use crate::error::CrmError;
use crate::export::ExportRequest;
use crate::id::{AnyId, CompanyId, ContactId, DocumentId, PipelineId, StageId, UserId};
use crate::import::ContactImport;
use crate::report::ReportRequest;
use crate::rule::NoFields;
use crate::state::State;
use crate::tagged::tagged_enum;
use crate::task::{Task, TaskStatus};
use crate::validate;

tagged_enum! {
    /// A question to the CRM. JSON: `{"type": "list_deals", ...filter}`.
    pub enum Query via QueryTwin {
        /// One entity of any kind, by ID.
        Get(Target<AnyId>) = "get",
        ListContacts(ContactFilter) = "list_contacts",
        ListCompanies(CompanyFilter) = "list_companies",
        ListDeals(DealFilter) = "list_deals",
        ListTasks(TaskFilter) = "list_tasks",
        ListActivities(ActivityFilter) = "list_activities",
        ListUsers(Paging) = "list_users",
        ListDepartments(Paging) = "list_departments",
        ListPipelines(Paging) = "list_pipelines",
        ListFields(Paging) = "list_fields",
        /// The events of one record, newest first.
        Timeline(TimelineQuery) = "timeline",
        /// Which rules fired on a record's events, which did not and why.
        Explain(Target<AnyId>) = "explain",
        /// Effects not yet acknowledged, oldest first (admins and the system).
        Outbox(Paging) = "outbox",
        /// When the engine next needs a `tick`: `{"next_wakeup": time or null}`.
        NextWakeup(NoFields) = "next_wakeup",
        /// Renders a stored document again from its template version and data version.
        Rerender(Target<DocumentId>) = "rerender",
        /// The automation rules.
        ListRules(NoFields) = "list_rules",
        /// The business calendar.
        Calendar(NoFields) = "calendar",
        ListTemplates(Paging) = "list_templates",
        /// A client's visits, average bill and visit frequency (from won deals).
        ClientStats(Target<ContactId>) = "client_stats",
        /// An import's dry run: the mapping, every problem by row and column, what it
        /// would create (docs/integrations.md).
        CheckImport(ContactImport) = "check_import",
        /// Contacts, companies, deals, tasks or activities the actor may read, as CSV.
        Export(ExportRequest) = "export",
        /// Contacts that may be one person, with a score and reasons (docs/integrations.md).
        FindDuplicates(DuplicateRequest) = "find_duplicates",
        /// A report over the deals in the actor's scope: `{"report": "funnel", "from": ...}`.
        Report(ReportRequest) = "report",
        /// The same report as chart series and an SVG picture: `{"chart": ..., "svg": ...}`.
        Chart(ReportRequest) = "chart",
    }
}

/// Input for [`Query::Timeline`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct TimelineQuery {
    pub id: AnyId,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::validate::optional_count"
    )]
    pub limit: Option<usize>,
}

/// One page of a list and how many items matched in all.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: usize,
}

/// How many items a list returns when no `limit` is given.
pub const DEFAULT_PAGE: usize = 100;
/// The largest `limit` a list accepts: a bigger answer is read page by page (`offset`),
/// so no single answer grows with the whole CRM (200,000 contacts were 47 MB).
pub const MAX_PAGE: usize = 1_000;

/// Which part of a list to return. Defaults: from the start, [`DEFAULT_PAGE`] items;
/// `total` always counts every match.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default, deny_unknown_fields)]
pub struct Paging {
    #[serde(deserialize_with = "crate::validate::count")]
    pub offset: usize,
    #[serde(default, deserialize_with = "crate::validate::optional_count")]
    pub limit: Option<usize>,
}

impl Paging {
    /// The page of `items`; a `limit` above [`MAX_PAGE`] is refused (`too_large`).
    pub fn page<T>(self, items: impl Iterator<Item = T>) -> Result<Page<T>, CrmError> {
        let limit = self.limit.unwrap_or(DEFAULT_PAGE);
        if limit > MAX_PAGE {
            return Err(CrmError::too_large("limit", MAX_PAGE, limit));
        }
        let mut total = 0;
        let mut page = Vec::new();
        for item in items {
            if total >= self.offset && page.len() < limit {
                page.push(item);
            }
            total += 1;
        }
        Ok(Page { items: page, total })
    }
}

/// Filter for contacts; every given criterion must match.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
    /// Skip this many matches.
    #[serde(deserialize_with = "crate::validate::count")]
    pub offset: usize,
    /// Return at most this many (default 100, at most 1,000).
    #[serde(default, deserialize_with = "crate::validate::optional_count")]
    pub limit: Option<usize>,
}

/// Filter for companies.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default, deny_unknown_fields)]
pub struct CompanyFilter {
    pub name: Option<String>,
    pub tag: Option<String>,
    pub owner: Option<UserId>,
    /// Skip this many matches.
    #[serde(deserialize_with = "crate::validate::count")]
    pub offset: usize,
    /// Return at most this many (default 100, at most 1,000).
    #[serde(default, deserialize_with = "crate::validate::optional_count")]
    pub limit: Option<usize>,
}

/// Filter for deals.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default, deny_unknown_fields)]
pub struct DealFilter {
    pub pipeline: Option<PipelineId>,
    pub stage: Option<StageId>,
    pub owner: Option<UserId>,
    pub status: Option<DealStatus>,
    pub contact: Option<ContactId>,
    pub company: Option<CompanyId>,
    pub tag: Option<String>,
    /// Skip this many matches.
    #[serde(deserialize_with = "crate::validate::count")]
    pub offset: usize,
    /// Return at most this many (default 100, at most 1,000).
    #[serde(default, deserialize_with = "crate::validate::optional_count")]
    pub limit: Option<usize>,
}

/// Filter for tasks; results are ordered by due time (undated last).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default, deny_unknown_fields)]
pub struct TaskFilter {
    pub assignee: Option<UserId>,
    pub status: Option<TaskStatus>,
    /// Only open tasks whose due time is before the query's `now`.
    pub overdue: bool,
    pub link: Option<AnyId>,
    pub kind: Option<String>,
    /// Skip this many matches.
    #[serde(deserialize_with = "crate::validate::count")]
    pub offset: usize,
    /// Return at most this many (default 100, at most 1,000).
    #[serde(default, deserialize_with = "crate::validate::optional_count")]
    pub limit: Option<usize>,
}

/// Filter for activities; results are ordered by when they happened, newest first.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default, deny_unknown_fields)]
pub struct ActivityFilter {
    pub link: Option<AnyId>,
    /// Skip this many matches.
    #[serde(deserialize_with = "crate::validate::count")]
    pub offset: usize,
    /// Return at most this many (default 100, at most 1,000).
    #[serde(default, deserialize_with = "crate::validate::optional_count")]
    pub limit: Option<usize>,
}

fn tag_matches(tags: &std::collections::BTreeSet<String>, wanted: &Option<String>) -> bool {
    wanted
        .as_ref()
        .is_none_or(|tag| tags.contains(&tag.trim().to_lowercase()))
}

/// Contacts matching `filter` that `access` may read, in ID order.
pub(crate) fn matching_contacts<'s, 'a>(
    state: &'s State,
    access: &'a Access<'_>,
    filter: &'a ContactFilter,
    region: Option<rlibphonenumber::Region>,
) -> Result<impl Iterator<Item = &'s Contact> + 'a, CrmError>
where
    's: 'a,
{
    let phone = filter
        .phone
        .as_deref()
        .map(|p| validate::phone("phone", p, region))
        .transpose()?;
    let email = filter
        .email
        .as_deref()
        .map(|e| validate::email("email", e))
        .transpose()?;
    let name = filter.name.as_deref().map(|n| n.trim().to_lowercase());
    let matches = move |c: &&Contact| {
        name.as_ref()
            .is_none_or(|n| c.fields.name.to_lowercase().contains(n.as_str()))
            && phone.as_ref().is_none_or(|p| c.fields.phones.contains(p))
            && email.as_ref().is_none_or(|e| c.fields.emails.contains(e))
            && tag_matches(&c.fields.tags, &filter.tag)
            && filter.owner.is_none_or(|o| c.owner == o)
            && filter.company.is_none_or(|co| c.fields.company == Some(co))
            && c.merged_into.is_none()
            && access.can_read(AnyId::ContactId(c.id))
    };
    Ok(state.contacts.values().filter(matches))
}

pub(crate) fn contacts<'s>(
    state: &'s State,
    access: &Access<'_>,
    filter: &ContactFilter,
    region: Option<rlibphonenumber::Region>,
) -> Result<Page<&'s Contact>, CrmError> {
    paging(filter.offset, filter.limit).page(matching_contacts(state, access, filter, region)?)
}

/// Companies matching `filter` that `access` may read, in ID order.
pub(crate) fn matching_companies<'s, 'a>(
    state: &'s State,
    access: &'a Access<'_>,
    filter: &'a CompanyFilter,
) -> impl Iterator<Item = &'s Company> + 'a
where
    's: 'a,
{
    let name = filter.name.as_deref().map(|n| n.trim().to_lowercase());
    let matches = move |c: &&Company| {
        name.as_ref()
            .is_none_or(|n| c.fields.name.to_lowercase().contains(n.as_str()))
            && tag_matches(&c.fields.tags, &filter.tag)
            && filter.owner.is_none_or(|o| c.owner == o)
            && c.merged_into.is_none()
            && access.can_read(AnyId::CompanyId(c.id))
    };
    state.companies.values().filter(matches)
}

pub(crate) fn companies<'s>(
    state: &'s State,
    access: &Access<'_>,
    filter: &CompanyFilter,
) -> Result<Page<&'s Company>, CrmError> {
    paging(filter.offset, filter.limit).page(matching_companies(state, access, filter))
}

/// Deals matching `filter` that `access` may read, in ID order.
pub(crate) fn matching_deals<'s, 'a>(
    state: &'s State,
    access: &'a Access<'_>,
    filter: &'a DealFilter,
) -> impl Iterator<Item = &'s Deal> + 'a
where
    's: 'a,
{
    let matches = move |d: &&Deal| {
        filter.pipeline.is_none_or(|p| d.pipeline == p)
            && filter.stage.is_none_or(|s| d.stage == s)
            && filter.owner.is_none_or(|o| d.owner == o)
            && filter.status.is_none_or(|s| d.status == s)
            && filter.contact.is_none_or(|c| d.fields.contact == Some(c))
            && filter.company.is_none_or(|c| d.fields.company == Some(c))
            && tag_matches(&d.fields.tags, &filter.tag)
            && access.can_read(AnyId::DealId(d.id))
    };
    state.deals.values().filter(matches)
}

pub(crate) fn deals<'s>(
    state: &'s State,
    access: &Access<'_>,
    filter: &DealFilter,
) -> Result<Page<&'s Deal>, CrmError> {
    paging(filter.offset, filter.limit).page(matching_deals(state, access, filter))
}

/// Tasks matching `filter` that `access` may read, soonest due first (undated last).
pub(crate) fn matching_tasks<'s>(
    state: &'s State,
    access: &Access<'_>,
    filter: &TaskFilter,
    now: DateTime<Utc>,
) -> Vec<&'s Task> {
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
    found
}

pub(crate) fn tasks<'s>(
    state: &'s State,
    access: &Access<'_>,
    filter: &TaskFilter,
    now: DateTime<Utc>,
) -> Result<Page<&'s Task>, CrmError> {
    let found = matching_tasks(state, access, filter, now);
    paging(filter.offset, filter.limit).page(found.into_iter())
}

/// Activities matching `filter` that `access` may read, newest first.
pub(crate) fn matching_activities<'s>(
    state: &'s State,
    access: &Access<'_>,
    filter: &ActivityFilter,
) -> Vec<&'s Activity> {
    let matches = |a: &&Activity| {
        filter.link.is_none_or(|l| a.link == l) && access.can_read(AnyId::ActivityId(a.id))
    };
    let mut found: Vec<&Activity> = state.activities.values().filter(matches).collect();
    found.sort_by_key(|a| std::cmp::Reverse((a.occurred_at, a.id)));
    found
}

pub(crate) fn activities<'s>(
    state: &'s State,
    access: &Access<'_>,
    filter: &ActivityFilter,
) -> Result<Page<&'s Activity>, CrmError> {
    let found = matching_activities(state, access, filter);
    paging(filter.offset, filter.limit).page(found.into_iter())
}

fn paging(offset: usize, limit: Option<usize>) -> Paging {
    Paging { offset, limit }
}
