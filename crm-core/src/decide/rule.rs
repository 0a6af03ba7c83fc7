//! Handlers for rule (the data is in `crate::model::rule`).

use crate::common::calendar::Span;
use crate::common::error::CrmError;
use crate::common::id::StageId;
use crate::common::validate;
use crate::decide::Ctx;
use crate::event::Event;
use crate::model::custom_field::{EntityKind, FieldKind};
use crate::model::rule::*;
use crate::state::State;
use std::collections::BTreeSet;

/// Handles [`crate::Command::DefineRules`]: admins only; every reference must resolve.
pub(crate) fn define(ctx: &mut Ctx<'_>, input: &RuleSet) -> Result<Vec<Event>, CrmError> {
    ctx.access.require_admin("define automation rules")?;
    if input.rules.len() > MAX_RULES {
        return Err(CrmError::too_large("rules", MAX_RULES, input.rules.len()));
    }
    let mut keys = BTreeSet::new();
    let mut rules = Vec::with_capacity(input.rules.len());
    for (index, rule) in input.rules.iter().enumerate() {
        let at = |field: &str| validate::join_path(&format!("rules[{index}]"), field);
        let mut rule = rule.clone();
        rule.key = validate::key(&at("key"), &rule.key)?;
        if !keys.insert(rule.key.clone()) {
            return Err(CrmError::validation(
                at("key"),
                format!("{:?} is used by an earlier rule", rule.key),
            ));
        }
        rule.description =
            validate::optional_text(&at("description"), rule.description.as_deref())?;
        check_trigger(ctx.state, &rule.when, &|field| {
            at(&validate::join_path("when", field))
        })?;
        if let Some(condition) = &rule.condition {
            check_condition(condition, &at("if"))?;
        }
        if rule.then.is_empty() || rule.then.len() > MAX_ACTIONS {
            return Err(CrmError::validation(
                at("then"),
                format!("needs 1 to {MAX_ACTIONS} actions, has {}", rule.then.len()),
            ));
        }
        for (number, action) in rule.then.iter().enumerate() {
            check_action(ctx.state, action, &|field| {
                at(&validate::join_path(&format!("then[{number}]"), field))
            })?;
        }
        rules.push(rule);
    }
    if rules == ctx.state.rules {
        return Ok(Vec::new());
    }
    Ok(vec![Event::RulesDefined { rules }])
}

type Path<'a> = &'a dyn Fn(&str) -> String;

fn check_trigger(state: &State, trigger: &Trigger, at: Path<'_>) -> Result<(), CrmError> {
    match trigger {
        Trigger::StageEntered(m) | Trigger::StageLeft(m) => {
            resolve_stages(state, &m.stage, m.pipeline.as_deref(), at).map(drop)
        }
        Trigger::StageSlaBreached(StageFilter {
            stage: Some(stage),
            pipeline,
        }) => resolve_stages(state, stage, pipeline.as_deref(), at).map(drop),
        Trigger::DealRotting(Idle {
            stage: Some(stage), ..
        }) => resolve_stages(state, stage, None, at).map(drop),
        Trigger::ContactInactive(Idle { stage: Some(_), .. }) => Err(CrmError::validation(
            at("stage"),
            "contacts have no stage; remove it",
        )),
        Trigger::DealRotting(Idle { after, .. }) | Trigger::ContactInactive(Idle { after, .. })
            if *after == Span::ZERO =>
        {
            Err(CrmError::validation(at("after"), "must be longer than 0m"))
        }
        Trigger::TaskDueSoon(soon) => {
            if soon.before == Span::ZERO {
                return Err(CrmError::validation(at("before"), "must be longer than 0m"));
            }
            match &soon.kind {
                Some(kind) => validate::key(&at("kind"), kind).map(drop),
                None => Ok(()),
            }
        }
        Trigger::DateReached(watched) => check_date_match(state, watched, at),
        Trigger::FieldChanged(change) => {
            if change.record == RecordKind::Task {
                return Err(CrmError::validation(
                    at("record"),
                    "field changes are watched on contacts, companies and deals",
                ));
            }
            validate::name(&at("field"), &change.field).map(drop)
        }
        Trigger::TaskCompleted(m) | Trigger::TaskOverdue(m) => {
            if let Some(kind) = &m.kind {
                validate::key(&at("kind"), kind)?;
            }
            if let (Trigger::TaskOverdue(_), Some(_)) = (trigger, &m.outcome) {
                return Err(CrmError::validation(
                    at("outcome"),
                    "an overdue task has no outcome yet",
                ));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// A `date_reached` rule watches a date or datetime custom field of contacts, companies
/// or deals (or a deal's `expected_close`), at most ten years before or after.
fn check_date_match(state: &State, watched: &DateMatch, at: Path<'_>) -> Result<(), CrmError> {
    let entity = match watched.record {
        RecordKind::Contact => EntityKind::Contact,
        RecordKind::Company => EntityKind::Company,
        RecordKind::Deal => EntityKind::Deal,
        RecordKind::Task => {
            return Err(CrmError::validation(
                at("record"),
                "dates are watched on contacts, companies and deals (tasks have task_due_soon)",
            ))
        }
    };
    if watched.days.unsigned_abs() > 3_660 {
        return Err(CrmError::validation(
            at("days"),
            format!("{} is more than ten years", watched.days),
        ));
    }
    if watched.field == "expected_close" && entity == EntityKind::Deal {
        return Ok(());
    }
    let definition = watched
        .field
        .strip_prefix("custom.")
        .and_then(|key| state.fields.get(&entity)?.get(key));
    match definition {
        Some(field) if matches!(field.kind, FieldKind::Date | FieldKind::Datetime) => Ok(()),
        Some(field) => Err(CrmError::validation(
            at("field"),
            format!(
                "{} is a {} field, not a date or datetime",
                watched.field,
                validate::json_name(&field.kind)
            ),
        )),
        None => Err(CrmError::validation(
            at("field"),
            format!(
                "{:?} is not a date field of {}s: use custom.<key> of a date or datetime custom field{}",
                watched.field,
                validate::json_name(&watched.record),
                if entity == EntityKind::Deal { ", or expected_close" } else { "" }
            ),
        )),
    }
}

fn check_condition(condition: &Condition, at: &str) -> Result<(), CrmError> {
    match condition {
        Condition::All(items) | Condition::Any(items) => {
            let name = if matches!(condition, Condition::All(_)) {
                "all"
            } else {
                "any"
            };
            for (i, item) in items.iter().enumerate() {
                check_condition(item, &format!("{at}.{name}[{i}]"))?;
            }
            Ok(())
        }
        Condition::Not(inner) => check_condition(inner, &format!("{at}.not")),
        Condition::Test(test) => validate::name(&format!("{at}.field"), &test.field).map(drop),
    }
}

fn check_action(state: &State, action: &Action, at: Path<'_>) -> Result<(), CrmError> {
    let check_assignee = |assignee: &Assignee, field: &str| -> Result<(), CrmError> {
        match assignee {
            Assignee::User(user) => match state.users.get(user) {
                Some(found) if found.active => Ok(()),
                Some(_) => Err(CrmError::validation(
                    at(field),
                    format!("{user} is deactivated"),
                )),
                None => Err(CrmError::not_found("user", user)),
            },
            Assignee::Role(role) | Assignee::RoundRobin(role) => {
                validate::key(&at(field), role).map(drop)
            }
            Assignee::Owner
            | Assignee::OwnersHead
            | Assignee::Assignee
            | Assignee::AssigneesHead => Ok(()),
            Assignee::Client => Err(CrmError::validation(
                at(field),
                "a client gets messages (notify by email or sms), not tasks or records",
            )),
        }
    };
    match action {
        Action::CreateTask(task) => {
            crate::model::document::check_source(&at("title"), &task.title)?;
            if let Some(description) = &task.description {
                crate::model::document::check_source(&at("description"), description)?;
            }
            if let Some(kind) = &task.kind {
                validate::key(&at("kind"), kind)?;
            }
            if let Some(path) = &task.due_from {
                validate::name(&at("due_from"), path)?;
            }
            check_assignee(&task.assignee, "assignee")
        }
        Action::MoveStage(step) => resolve_stages(state, &step.stage, None, at).map(drop),
        Action::SetField(set) => validate::name(&at("field"), &set.field).map(drop),
        Action::AssignOwner(assign) => check_assignee(&assign.to, "to"),
        Action::Notify(notify) => {
            crate::model::document::check_source(&at("text"), &notify.text)?;
            match (&notify.to, notify.channel) {
                (Assignee::Client, Channel::Email | Channel::Sms) => Ok(()),
                (Assignee::Client, _) => Err(CrmError::validation(
                    at("channel"),
                    "a client is reached by email or sms",
                )),
                (to, _) => check_assignee(to, "to"),
            }
        }
        Action::RenderDocument(render) => {
            if state.templates.contains_key(&render.template) {
                Ok(())
            } else {
                Err(CrmError::validation(
                    at("template"),
                    format!("no template with key {:?}", render.template),
                ))
            }
        }
        Action::Webhook(hook) => {
            validate::url(&at("url"), &hook.url)?;
            match &hook.name {
                Some(name) => validate::name(&at("name"), name).map(drop),
                None => Ok(()),
            }
        }
        Action::Escalate(escalate) => {
            if let Some(text) = &escalate.text {
                crate::model::document::check_source(&at("text"), text)?;
            }
            match &escalate.to {
                Some(to) => check_assignee(to, "to"),
                None => Ok(()),
            }
        }
    }
}

/// The stages a reference names: by ID, or by name in every (or the given) pipeline.
fn resolve_stages(
    state: &State,
    stage: &str,
    pipeline: Option<&str>,
    at: Path<'_>,
) -> Result<Vec<StageId>, CrmError> {
    let found: Vec<StageId> = state
        .pipelines
        .values()
        .filter(|p| pipeline.is_none_or(|want| p.name == want || p.id.to_string() == want))
        .flat_map(|p| p.stages.iter())
        .filter(|s| s.name == stage || s.id.to_string() == stage)
        .map(|s| s.id)
        .collect();
    if found.is_empty() {
        let place = pipeline.map_or(String::new(), |p| format!(" in pipeline {p:?}"));
        return Err(CrmError::validation(
            at("stage"),
            format!("no stage named {stage:?}{place}"),
        ));
    }
    Ok(found)
}
