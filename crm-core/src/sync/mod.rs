//! Replicas on one authority (docs/sync.md): commands run locally at once, one
//! authority orders them, every replica converges on its canonical log, and nothing
//! typed offline is lost. Sans-I/O: the host carries the batches.

pub(crate) mod authority;
mod json;
pub(crate) mod protocol;
pub(crate) mod replica;
mod view;

use serde_json::Value;

use crate::common::error::CrmError;
use crate::common::id::AnyId;
use crate::model::command::Command;
use crate::state::State;

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

/// A replica's command as it applies to the CRM now: contacts and companies merged
/// away since it was typed are replaced by the ones they were merged into; a command
/// about an erased person is refused, so nothing typed offline brings their data back.
pub(crate) fn follow_merges(state: &State, command: &Command) -> Result<Command, CrmError> {
    fn walk(state: &State, value: &mut Value, changed: &mut bool) -> Result<(), CrmError> {
        match value {
            Value::String(text) => match text.parse::<AnyId>() {
                Ok(AnyId::ContactId(mut id)) => {
                    for _ in 0..32 {
                        let Some(contact) = state.contacts.get(&id) else {
                            break;
                        };
                        if contact.erased_at.is_some() {
                            return Err(CrmError::conflict(format!(
                                "{id} was erased: nothing typed about the person is kept"
                            )));
                        }
                        match contact.merged_into {
                            Some(into) => id = into,
                            None => break,
                        }
                    }
                    if id.to_string() != *text {
                        *text = id.to_string();
                        *changed = true;
                    }
                }
                Ok(AnyId::CompanyId(mut id)) => {
                    for _ in 0..32 {
                        match state.companies.get(&id).and_then(|c| c.merged_into) {
                            Some(into) => id = into,
                            None => break,
                        }
                    }
                    if id.to_string() != *text {
                        *text = id.to_string();
                        *changed = true;
                    }
                }
                _ => {}
            },
            Value::Array(items) => {
                for item in items {
                    walk(state, item, changed)?;
                }
            }
            Value::Object(map) => {
                for item in map.values_mut() {
                    walk(state, item, changed)?;
                }
            }
            _ => {}
        }
        Ok(())
    }
    let broken = |err: serde_json::Error| CrmError::Storage {
        reason: format!("following merges in a command: {err}"),
    };
    let mut value = serde_json::to_value(command).map_err(broken)?;
    let mut changed = false;
    walk(state, &mut value, &mut changed)?;
    if !changed {
        return Ok(command.clone());
    }
    serde_json::from_value(value).map_err(broken)
}
