//! Replicas on one authority (docs/sync.md): commands run locally at once, one
//! authority orders them, every replica converges on its canonical log, and nothing
//! typed offline is lost. Sans-I/O: the host carries the batches.

pub(crate) mod authority;
mod json;
pub(crate) mod protocol;
pub(crate) mod replica;

use crate::model::command::Command;

/// Commands a replica may not push: they rewrite or bring in history, which is the
/// authority's own business (send them to it directly), or only let time pass.
pub(crate) fn syncable(command: &Command) -> Result<(), String> {
    match command {
        Command::EraseContact(_)
        | Command::EraseUser(_)
        | Command::ImportHistory(_)
        | Command::ImportRecords(_)
        | Command::Tick(_) => Err(format!(
            "{} is not run from a replica: send it to the authority directly",
            command.name()
        )),
        _ => Ok(()),
    }
}
