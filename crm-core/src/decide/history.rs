//! Checks for a history import (the engine runs its items; `crate::engine`): what
//! may be history, and when.

use chrono::{DateTime, Utc};

use crate::common::error::CrmError;
use crate::common::id::{StageId, UserId};
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

/// One command of an import, run at its own time: the engine runs an import's steps in
/// order, each decided as its user at its time, recorded at that time, with no rule
/// reacting (`crate::engine`).
pub(crate) struct Step {
    pub at: DateTime<Utc>,
    /// Who did it; default the importing user.
    pub actor: Option<UserId>,
    /// The history item or spreadsheet row the step comes from: a close step acts on
    /// the record its row's create step made.
    pub row: usize,
    pub action: StepAction,
}

pub(crate) enum StepAction {
    /// A command as it is.
    Create(Command),
    /// The row's record closed: a deal moved to `stage` (won or lost), a task completed.
    Close {
        stage: Option<StageId>,
        lost_reason: Option<String>,
    },
}

impl Step {
    pub(crate) fn create(
        at: DateTime<Utc>,
        actor: Option<UserId>,
        row: usize,
        command: Command,
    ) -> Self {
        Self {
            at,
            actor,
            row,
            action: StepAction::Create(command),
        }
    }
}
