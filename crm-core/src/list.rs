//! Lists: the records matching a filter that the actor may read, a page at a time
//! (the filters themselves are `model::query`).

use chrono::{DateTime, Utc};

use crate::access::Access;
use crate::common::error::CrmError;
use crate::common::id::AnyId;
use crate::common::validate;
use crate::model::activity::Activity;
use crate::model::company::Company;
use crate::model::contact::Contact;
use crate::model::deal::Deal;
use crate::model::query::*;
use crate::model::task::Task;
use crate::state::State;

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
            && filter.archived.admits(c.archived_at)
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
    paging(filter.offset, filter.limit).page_after(
        matching_contacts(state, access, filter, region)?,
        filter.after.as_deref(),
        &Cursor {
            key: |c: &&Contact| c.id,
            write: |c| c.id.to_string(),
            parse: |text| text.parse().ok(),
        },
    )
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
            && filter.archived.admits(c.archived_at)
            && access.can_read(AnyId::CompanyId(c.id))
    };
    state.companies.values().filter(matches)
}

pub(crate) fn companies<'s>(
    state: &'s State,
    access: &Access<'_>,
    filter: &CompanyFilter,
) -> Result<Page<&'s Company>, CrmError> {
    paging(filter.offset, filter.limit).page_after(
        matching_companies(state, access, filter),
        filter.after.as_deref(),
        &Cursor {
            key: |c: &&Company| c.id,
            write: |c| c.id.to_string(),
            parse: |text| text.parse().ok(),
        },
    )
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
            && filter.archived.admits(d.archived_at)
            && access.can_read(AnyId::DealId(d.id))
    };
    state.deals.values().filter(matches)
}

pub(crate) fn deals<'s>(
    state: &'s State,
    access: &Access<'_>,
    filter: &DealFilter,
) -> Result<Page<&'s Deal>, CrmError> {
    paging(filter.offset, filter.limit).page_after(
        matching_deals(state, access, filter),
        filter.after.as_deref(),
        &Cursor {
            key: |d: &&Deal| d.id,
            write: |d| d.id.to_string(),
            parse: |text| text.parse().ok(),
        },
    )
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
    // Soonest due first, undated last, then by ID: the cursor is `<due>|<id>`.
    let cursor = Cursor {
        key: |t: &&Task| (t.due.is_none(), t.due, t.id),
        write: |t| {
            format!(
                "{}|{}",
                t.due.map(|due| due.to_rfc3339()).unwrap_or_default(),
                t.id
            )
        },
        parse: |text| {
            let (due, id) = text.split_once('|')?;
            let due = match due {
                "" => None,
                due => Some(DateTime::parse_from_rfc3339(due).ok()?.with_timezone(&Utc)),
            };
            Some((due.is_none(), due, id.parse().ok()?))
        },
    };
    paging(filter.offset, filter.limit).page_after(
        found.into_iter(),
        filter.after.as_deref(),
        &cursor,
    )
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
    // Newest first, then by ID downwards: the cursor is `<occurred_at>|<id>`.
    let cursor = Cursor {
        key: |a: &&Activity| std::cmp::Reverse((a.occurred_at, a.id)),
        write: |a| format!("{}|{}", a.occurred_at.to_rfc3339(), a.id),
        parse: |text| {
            let (at, id) = text.split_once('|')?;
            let at = DateTime::parse_from_rfc3339(at).ok()?.with_timezone(&Utc);
            Some(std::cmp::Reverse((at, id.parse().ok()?)))
        },
    };
    paging(filter.offset, filter.limit).page_after(
        found.into_iter(),
        filter.after.as_deref(),
        &cursor,
    )
}

fn paging(offset: usize, limit: Option<usize>) -> Paging {
    Paging { offset, limit }
}
