//! What a stored event must satisfy before it is folded. Commands only ever produce
//! events that pass; events that arrive from elsewhere — a journal replayed at open, a
//! JSON Lines import, another tab's `import_events` — are checked here, so no stored data can
//! make the engine index something that is not there or misread a record.
//!
//! The checks are referential: the IDs an event creates are new, the records it names
//! exist, and the few shapes the handlers rely on hold (a pipeline has stages and
//! starts with an open one, a deal sits in a stage of its own pipeline).

use std::collections::BTreeSet;

use crate::common::id::{AnyId, UserId};
use crate::event::Event;
use crate::model::pipeline::StageKind;
use crate::state::State;

/// Why `event` cannot follow `state`, or `Ok` when it can be folded.
pub(crate) fn check(state: &State, event: &Event) -> Result<(), String> {
    let created = event.created_ids();
    let mut new = BTreeSet::new();
    for id in &created {
        if state.exists(*id) || !new.insert(*id) {
            return Err(format!("creates {id}, which already exists"));
        }
    }
    for id in event.records() {
        if !new.contains(&id) && !state.exists(id) {
            return Err(format!("names {id}, which does not exist"));
        }
    }
    let user = |id: UserId| {
        if state.users.contains_key(&id) || new.contains(&AnyId::UserId(id)) {
            Ok(())
        } else {
            Err(format!("names user {id}, who does not exist"))
        }
    };
    let party = |id: Option<AnyId>| match id {
        Some(id) if !state.exists(id) => Err(format!("names {id}, which does not exist")),
        _ => Ok(()),
    };
    match event {
        Event::PipelineCreated { pipeline }
            if pipeline
                .stages
                .first()
                .is_none_or(|stage| stage.kind != StageKind::Open) =>
        {
            return Err(format!(
                "creates pipeline {} without an open first stage",
                pipeline.id
            ));
        }
        Event::DealCreated { deal } => {
            let pipeline = state.pipelines.get(&deal.pipeline).ok_or_else(|| {
                format!(
                    "puts {} in pipeline {}, which does not exist",
                    deal.id, deal.pipeline
                )
            })?;
            if pipeline.stage(deal.stage).is_none() {
                return Err(format!(
                    "puts {} in stage {}, which is not a stage of {}",
                    deal.id, deal.stage, deal.pipeline
                ));
            }
            user(deal.owner)?;
            party(deal.fields.contact.map(AnyId::from))?;
            party(deal.fields.company.map(AnyId::from))?;
        }
        Event::DealMoved {
            id, to, pipeline, ..
        } => {
            let in_pipeline = state
                .deals
                .get(id)
                .and_then(|deal| state.pipelines.get(&pipeline.unwrap_or(deal.pipeline)))
                .is_some_and(|pipeline| pipeline.stage(*to).is_some());
            if !in_pipeline {
                return Err(format!(
                    "moves {id} to {to}, which is not a stage of its pipeline"
                ));
            }
        }
        Event::DealUpdated { fields, .. } => {
            party(fields.contact.map(AnyId::from))?;
            party(fields.company.map(AnyId::from))?;
        }
        Event::ContactCreated { contact } => {
            user(contact.owner)?;
            party(contact.fields.company.map(AnyId::from))?;
        }
        Event::ContactUpdated { fields, .. } => party(fields.company.map(AnyId::from))?,
        Event::CompanyCreated { company } => user(company.owner)?,
        Event::TaskCreated { task } => user(task.assignee)?,
        Event::TaskReassigned { to, .. } => user(*to)?,
        Event::OwnerAssigned { to, .. } | Event::RecordsReassigned { to, .. } => user(*to)?,
        Event::RoundRobinAdvanced { user: id, .. } => user(*id)?,
        _ => {}
    }
    Ok(())
}
