//! Checks for a history import (the engine runs its items; `crate::engine`): what
//! may be history, and when.

use crate::common::error::CrmError;
use crate::decide::Ctx;
use crate::event::Event;
use crate::model::command::{Command, HistoryImport, MAX_HISTORY_ITEMS};

/// Handles [`crate::Command::ImportHistory`] before its items run: admins only; at
/// most [`MAX_HISTORY_ITEMS`]; items in time order, none after `now`; only commands
/// on records (contacts, companies, deals, tasks, activities, payments), never
/// settings, users, rules or another import. Its events are the items' own, which
/// the engine records one item after another.
pub(crate) fn check(ctx: &Ctx<'_>, import: &HistoryImport) -> Result<Vec<Event>, CrmError> {
    ctx.access.require_admin("import history")?;
    if import.items.is_empty() {
        return Err(CrmError::validation("items", "is empty"));
    }
    if import.items.len() > MAX_HISTORY_ITEMS {
        return Err(CrmError::too_large(
            "items",
            MAX_HISTORY_ITEMS,
            import.items.len(),
        ));
    }
    let mut previous = None;
    for (index, item) in import.items.iter().enumerate() {
        if item.at > ctx.now {
            return Err(CrmError::validation(
                format!("items[{index}].at"),
                format!(
                    "{} is after now: history is in the past",
                    item.at.to_rfc3339()
                ),
            ));
        }
        if previous.is_some_and(|previous| item.at < previous) {
            return Err(CrmError::validation(
                format!("items[{index}].at"),
                format!(
                    "{} is before the item above it: history is imported in time order",
                    item.at.to_rfc3339()
                ),
            ));
        }
        previous = Some(item.at);
        if !is_history(&item.command) {
            return Err(CrmError::validation(
                format!("items[{index}].command"),
                format!(
                    "{} is not history: only commands on records are imported (set up \\
                     users, pipelines, fields and rules first, as ordinary commands)",
                    item.command.name()
                ),
            ));
        }
    }
    Ok(Vec::new())
}

/// Whether a command is something that happened to a record.
fn is_history(command: &Command) -> bool {
    matches!(
        command,
        Command::CreateContact(_)
            | Command::UpdateContact(_)
            | Command::CreateCompany(_)
            | Command::UpdateCompany(_)
            | Command::CreateDeal(_)
            | Command::UpdateDeal(_)
            | Command::MoveDeal(_)
            | Command::AssignOwner(_)
            | Command::CreateTask(_)
            | Command::CompleteTask(_)
            | Command::CancelTask(_)
            | Command::ReassignTask(_)
            | Command::UpdateTask(_)
            | Command::RescheduleTask(_)
            | Command::LogActivity(_)
            | Command::SetLineItems(_)
            | Command::RecordPayment(_)
            | Command::ArchiveRecord(_)
    )
}
