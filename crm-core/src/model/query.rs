//! Queries: reading the CRM, always through the actor's rights. Lists come back as
//! `Page { items, total }` so hosts can paginate; filters are plain structs with `Default`.

use serde::{Deserialize, Serialize};

use crate::common::error::CrmError;
use crate::common::id::{AnyId, CompanyId, ContactId, DocumentId, PipelineId, StageId, UserId};
use crate::common::tagged::tagged_enum;
use crate::model::command::Target;
use crate::model::deal::DealStatus;
use crate::model::duplicate::DuplicateRequest;
use crate::model::export::ExportRequest;
use crate::model::import::{ContactImport, RecordImport};
use crate::model::report::ReportRequest;
use crate::model::rule::NoFields;
use crate::model::task::TaskStatus;

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
        /// A record import's dry run: the mapping, every problem by row and column, how
        /// many records it would create and close (docs/migration.md).
        CheckRecordImport(RecordImport) = "check_record_import",
        /// Contacts, companies, deals, tasks or activities the actor may read, as CSV.
        Export(ExportRequest) = "export",
        /// Everything held about one person, as JSON (admin): their contact, company,
        /// deals, tasks, activities, documents, messages and history.
        ExportPerson(Target<ContactId>) = "export_person",
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
        deserialize_with = "crate::common::validate::optional_count"
    )]
    pub limit: Option<usize>,
}

/// One page of a list and how many items matched in all.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", schemars(rename = "{T}Page"))]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: usize,
    /// For lists with a stable order (contacts, companies, deals, tasks, activities),
    /// when more items follow: pass it as `after` for the next page. Records added or
    /// removed meanwhile neither repeat nor skip the ones that were there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
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
    #[serde(deserialize_with = "crate::common::validate::count")]
    pub offset: usize,
    #[serde(default, deserialize_with = "crate::common::validate::optional_count")]
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
        Ok(Page {
            items: page,
            total,
            next: None,
        })
    }

    /// The page of `items` (in ascending `key` order) that follows the cursor `after`
    /// (an earlier page's `next`), or at `offset` without one; `next` is set when more
    /// items follow. A keyset page: what was added or removed before the cursor moves
    /// nothing after it.
    pub(crate) fn page_after<T, K: Ord>(
        self,
        items: impl Iterator<Item = T>,
        after: Option<&str>,
        cursor: &Cursor<T, K>,
    ) -> Result<Page<T>, CrmError> {
        let limit = self.limit.unwrap_or(DEFAULT_PAGE);
        if limit > MAX_PAGE {
            return Err(CrmError::too_large("limit", MAX_PAGE, limit));
        }
        let after = match after {
            Some(_) if self.offset > 0 => {
                return Err(CrmError::validation(
                    "after",
                    "give `after` (a cursor) or `offset`, not both",
                ))
            }
            Some(text) => Some((cursor.parse)(text).ok_or_else(|| {
                CrmError::validation(
                    "after",
                    format!("{text:?} is not a cursor of this list (use a page's `next`)"),
                )
            })?),
            None => None,
        };
        let (mut total, mut skipped, mut more) = (0, 0, false);
        let mut page = Vec::new();
        for item in items {
            total += 1;
            let past = match &after {
                Some(after) => (cursor.key)(&item) > *after,
                None => {
                    skipped += 1;
                    skipped > self.offset
                }
            };
            if !past {
                continue;
            }
            if page.len() < limit {
                page.push(item);
            } else {
                more = true;
            }
        }
        let next = page
            .last()
            .filter(|_| more)
            .map(|last| (cursor.write)(last));
        Ok(Page {
            items: page,
            total,
            next,
        })
    }
}

/// How a list's items are ordered and named by a cursor: each item's sort key, the
/// cursor text for an item, and the key a cursor text stands for.
pub(crate) struct Cursor<T, K> {
    pub key: fn(&T) -> K,
    pub write: fn(&T) -> String,
    pub parse: fn(&str) -> Option<K>,
}

/// Which records a list shows by their archived state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Archived {
    /// Records in use only.
    #[default]
    Exclude,
    /// Archived records too.
    Include,
    /// Archived records only.
    Only,
}

impl Archived {
    /// Whether a record archived at `archived_at` (if at all) is listed.
    pub fn admits<T>(self, archived_at: Option<T>) -> bool {
        match self {
            Archived::Exclude => archived_at.is_none(),
            Archived::Include => true,
            Archived::Only => archived_at.is_some(),
        }
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
    /// Archived records: left out (default), included, or only those.
    pub archived: Archived,
    /// Continue after this cursor (a page's `next`) instead of skipping `offset`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    /// Skip this many matches.
    #[serde(deserialize_with = "crate::common::validate::count")]
    pub offset: usize,
    /// Return at most this many (default 100, at most 1,000).
    #[serde(default, deserialize_with = "crate::common::validate::optional_count")]
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
    /// Archived records: left out (default), included, or only those.
    pub archived: Archived,
    /// Continue after this cursor (a page's `next`) instead of skipping `offset`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    /// Skip this many matches.
    #[serde(deserialize_with = "crate::common::validate::count")]
    pub offset: usize,
    /// Return at most this many (default 100, at most 1,000).
    #[serde(default, deserialize_with = "crate::common::validate::optional_count")]
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
    /// Archived records: left out (default), included, or only those.
    pub archived: Archived,
    /// Continue after this cursor (a page's `next`) instead of skipping `offset`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    /// Skip this many matches.
    #[serde(deserialize_with = "crate::common::validate::count")]
    pub offset: usize,
    /// Return at most this many (default 100, at most 1,000).
    #[serde(default, deserialize_with = "crate::common::validate::optional_count")]
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
    /// Continue after this cursor (a page's `next`) instead of skipping `offset`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    /// Skip this many matches.
    #[serde(deserialize_with = "crate::common::validate::count")]
    pub offset: usize,
    /// Return at most this many (default 100, at most 1,000).
    #[serde(default, deserialize_with = "crate::common::validate::optional_count")]
    pub limit: Option<usize>,
}

/// Filter for activities; results are ordered by when they happened, newest first.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default, deny_unknown_fields)]
pub struct ActivityFilter {
    pub link: Option<AnyId>,
    /// Continue after this cursor (a page's `next`) instead of skipping `offset`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    /// Skip this many matches.
    #[serde(deserialize_with = "crate::common::validate::count")]
    pub offset: usize,
    /// Return at most this many (default 100, at most 1,000).
    #[serde(default, deserialize_with = "crate::common::validate::optional_count")]
    pub limit: Option<usize>,
}

#[cfg(test)]
mod tests {
    //! Error paths of a query read from JSON (`common::tagged`): the value at fault is
    //! named even when it is checked after serde read it.
    use super::Query;

    fn refusal(text: &str) -> String {
        text.parse::<Query>().unwrap_err().to_string()
    }

    #[test]
    fn a_value_checked_after_reading_is_named_not_the_object_around_it() {
        // The count is checked after serde read the number; the error must still name it,
        // whether or not another field follows it.
        for text in [
            r#"{"type": "list_deals", "offset": 4294967296}"#,
            r#"{"type": "list_deals", "offset": 4294967296, "limit": 5}"#,
            r#"{"limit": 5, "offset": 4294967296, "type": "list_deals"}"#,
        ] {
            let message = refusal(text);
            assert!(
                message.contains("query.offset: 4294967296 is above"),
                "{message}"
            );
        }
        let message = refusal(r#"{"type": "list_deals", "limit": -1}"#);
        assert!(message.contains("query.limit: invalid value"), "{message}");
    }

    #[test]
    fn serde_json_positions_are_not_left_in_the_reason() {
        let message = refusal(r#"{"type": "list_deals", "limit": "ten"}"#);
        assert!(message.contains("query.limit: invalid type"), "{message}");
        assert!(!message.contains(" at line "), "{message}");
    }
}
