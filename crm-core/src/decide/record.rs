//! Handlers that put a contact, company or deal away or take it back: archive,
//! restore, and delete (for mistakes). The rules are in docs/schema.md, "Archive and
//! delete".

use crate::common::error::CrmError;
use crate::common::id::{ActivityId, AnyId};
use crate::decide::Ctx;
use crate::event::Event;
use crate::model::deal::DealStatus;

/// When the record was archived, if it was; refused for anything but a contact,
/// company or deal the actor may change that was not merged away.
fn putaway_target(
    ctx: &Ctx<'_>,
    record: AnyId,
    verb: &str,
) -> Result<Option<chrono::DateTime<chrono::Utc>>, CrmError> {
    if !matches!(
        record,
        AnyId::ContactId(_) | AnyId::CompanyId(_) | AnyId::DealId(_)
    ) {
        return Err(CrmError::validation(
            "id",
            format!(
                "{record} is a {}: only contacts, companies and deals are {verb}d",
                record.kind()
            ),
        ));
    }
    ctx.access.require_edit(record)?;
    let state = ctx.state;
    let (archived_at, merged_into) = match record {
        AnyId::ContactId(id) => state
            .contacts
            .get(&id)
            .map(|c| (c.archived_at, c.merged_into.map(AnyId::from))),
        AnyId::CompanyId(id) => state
            .companies
            .get(&id)
            .map(|c| (c.archived_at, c.merged_into.map(AnyId::from))),
        AnyId::DealId(id) => state.deals.get(&id).map(|d| (d.archived_at, None)),
        _ => None,
    }
    .ok_or_else(|| CrmError::not_found(record.kind(), record))?;
    if let Some(into) = merged_into {
        return Err(CrmError::conflict(format!(
            "{record} was merged into {into}: {verb} {into}, or unmerge it first"
        )));
    }
    Ok(archived_at)
}

/// Handles [`crate::Command::ArchiveRecord`]: whoever may change the record. An
/// archived record is left out of lists and its idle and SLA timers are quiet; it is
/// still read, changed and linked by its ID, and reports count it as before.
pub(crate) fn archive(ctx: &mut Ctx<'_>, record: AnyId) -> Result<Vec<Event>, CrmError> {
    if putaway_target(ctx, record, "archive")?.is_some() {
        return Ok(Vec::new());
    }
    Ok(vec![Event::RecordArchived { record }])
}

/// Handles [`crate::Command::RestoreRecord`]: back in the lists, its timers running.
pub(crate) fn restore(ctx: &mut Ctx<'_>, record: AnyId) -> Result<Vec<Event>, CrmError> {
    if putaway_target(ctx, record, "restore")?.is_none() {
        return Ok(Vec::new());
    }
    Ok(vec![Event::RecordRestored { record }])
}

/// Handles [`crate::Command::DeleteRecord`]: a record made by mistake goes, with the
/// tasks and activities on it, as if it had never been (reports included). What
/// others hang on — a contact's or company's deals, a company's people, a deal's
/// payments and documents, an undoable merge — must go first, so nothing is left
/// pointing at nothing; a closed deal is history, deleted by an admin only.
pub(crate) fn delete(ctx: &mut Ctx<'_>, record: AnyId) -> Result<Vec<Event>, CrmError> {
    putaway_target(ctx, record, "delete")?;
    let state = ctx.state;
    let mut blockers = Vec::new();
    match record {
        AnyId::DealId(id) => {
            let deal = &state.deals[&id];
            if deal.status != DealStatus::Open && !ctx.access.is_admin() {
                return Err(CrmError::denied(
                    ctx.actor(),
                    format!("delete {id}, a closed deal: it is history, so admins only"),
                ));
            }
            if !deal.payments.is_empty() {
                blockers.push(format!("{} payments", deal.payments.len()));
            }
        }
        AnyId::ContactId(id) => {
            let undoable = state
                .merges
                .values()
                .filter(|merge| merge.into == id)
                .count();
            if undoable > 0 {
                blockers.push(format!("{undoable} merges into it that can be undone"));
            }
        }
        AnyId::CompanyId(id) => {
            let people = state
                .contacts
                .values()
                .filter(|contact| contact.fields.company == Some(id))
                .count();
            if people > 0 {
                blockers.push(format!("{people} contacts"));
            }
            let undoable = state
                .company_merges
                .values()
                .filter(|merge| merge.into == id)
                .count();
            if undoable > 0 {
                blockers.push(format!("{undoable} merges into it that can be undone"));
            }
        }
        _ => {}
    }
    let deals = state.deals_by_party.of(record).count();
    if deals > 0 && !matches!(record, AnyId::DealId(_)) {
        blockers.push(format!("{deals} deals"));
    }
    let documents = state
        .documents
        .values()
        .filter(|document| document.subject == record)
        .count();
    if documents > 0 {
        blockers.push(format!("{documents} documents"));
    }
    if !blockers.is_empty() {
        return Err(CrmError::conflict(format!(
            "{record} has {}: delete or move them first, or archive it instead",
            blockers.join(", ")
        )));
    }
    let tasks = state.tasks_by_record.of(record).collect();
    let activities: Vec<ActivityId> = state
        .activities
        .values()
        .filter(|activity| activity.link == record)
        .map(|activity| activity.id)
        .collect();
    let parties = match record {
        AnyId::DealId(id) => state
            .deals
            .get(&id)
            .map(|deal| deal.fields.parties().collect())
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    Ok(vec![Event::RecordDeleted {
        record,
        tasks,
        activities,
        parties,
    }])
}
