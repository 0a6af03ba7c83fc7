//! Ownership changes: one record to a new owner, or everything of a departing employee.

use crate::common::error::CrmError;
use crate::common::id::{AnyId, UserId};
use crate::decide::Ctx;
use crate::event::Event;
use crate::model::task::TaskStatus;

/// Handles [`crate::Command::AssignOwner`] for a contact, company or deal. The new
/// owner must be in the actor's scope, so a manager cannot push work onto others.
pub(crate) fn assign_owner(
    ctx: &mut Ctx<'_>,
    record: AnyId,
    owner: UserId,
) -> Result<Vec<Event>, CrmError> {
    let state = ctx.state;
    let current = match record {
        AnyId::ContactId(id) => state.contacts.get(&id).map(|c| c.owner),
        AnyId::CompanyId(id) => state.companies.get(&id).map(|c| c.owner),
        AnyId::DealId(id) => state.deals.get(&id).map(|d| d.owner),
        _ => {
            return Err(CrmError::validation(
                "record",
                format!(
                    "{record} is a {}; only contacts, companies and deals have owners",
                    record.kind()
                ),
            ))
        }
    };
    ctx.access.require_edit(record)?;
    ctx.access.require_assignable("owner", owner)?;
    if !ctx.access.owns_scope(owner) {
        return Err(CrmError::denied(
            ctx.actor(),
            format!("give {record} to {owner} (outside their scope)"),
        ));
    }
    let from = current.ok_or_else(|| CrmError::not_found(record.kind(), record))?;
    if from == owner {
        return Ok(Vec::new());
    }
    Ok(vec![Event::OwnerAssigned {
        record,
        from,
        to: owner,
    }])
}

/// Handles [`crate::Command::ReassignOwner`]: admins, or a head for two members of their
/// department. Moves contacts, companies, deals and open tasks (those on records the
/// actor may change); closed tasks keep their history.
pub(crate) fn reassign_owner(
    ctx: &mut Ctx<'_>,
    from: UserId,
    to: UserId,
) -> Result<Vec<Event>, CrmError> {
    let state = ctx.state;
    if !state.users.contains_key(&from) {
        return Err(CrmError::not_found("user", from));
    }
    ctx.access.require_assignable("to", to)?;
    if from == to {
        return Err(CrmError::validation(
            "to",
            format!("{to} is the same user as from"),
        ));
    }
    // A manager's scope is only themselves, so only heads (within their department) and admins pass.
    if !(ctx.access.owns_scope(from) && ctx.access.owns_scope(to)) {
        return Err(CrmError::denied(
            ctx.actor(),
            format!("reassign the records of {from} to {to}"),
        ));
    }
    let mut records: Vec<AnyId> = Vec::new();
    records.extend(
        state
            .contacts
            .values()
            .filter(|c| c.owner == from)
            .map(|c| AnyId::ContactId(c.id)),
    );
    records.extend(
        state
            .companies
            .values()
            .filter(|c| c.owner == from)
            .map(|c| AnyId::CompanyId(c.id)),
    );
    records.extend(
        state
            .deals
            .values()
            .filter(|d| d.owner == from)
            .map(|d| AnyId::DealId(d.id)),
    );
    // Open tasks on records the actor may not change (another department's deal a
    // specialist was sent to) stay with their assignee: handing them over would give
    // `to` — the actor, often — a way into those records.
    records.extend(
        state
            .tasks
            .values()
            .filter(|t| t.assignee == from && t.status == TaskStatus::Open)
            .filter(|t| t.link.is_none_or(|link| ctx.access.can_edit(link)))
            .map(|t| AnyId::TaskId(t.id)),
    );
    if records.is_empty() {
        return Ok(Vec::new());
    }
    Ok(vec![Event::RecordsReassigned { from, to, records }])
}
