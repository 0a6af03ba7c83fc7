//! Handlers for custom_field (the data is in `crate::model::custom_field`).

use crate::common::error::CrmError;
use crate::common::id::FieldId;
use crate::common::validate;
use crate::decide::Ctx;
use crate::event::Event;
use crate::model::custom_field::*;

/// Handles [`crate::Command::DefineField`]: admins only, one key per entity kind.
pub(crate) fn define(ctx: &mut Ctx<'_>, input: &NewField) -> Result<Vec<Event>, CrmError> {
    ctx.access.require_admin("define custom fields")?;
    let definition = input.validate(ctx.next_id())?;
    let taken = ctx
        .state
        .fields
        .get(&definition.entity)
        .is_some_and(|defs| defs.contains_key(&definition.key));
    if taken {
        return Err(CrmError::conflict(format!(
            "a {} field with key {:?} already exists",
            validate::json_name(&definition.entity),
            definition.key
        )));
    }
    Ok(vec![Event::FieldDefined { field: definition }])
}

/// Handles [`crate::Command::UpdateField`]: admins. The label, required or not, choices
/// added or retired, the field retired or brought back. Nothing stored is changed or
/// silently made invalid: a retired choice or field keeps its values, readable; a
/// field made required counts the records without a value in the event (`missing`),
/// and each must be given one the next time it is saved.
pub(crate) fn update(
    ctx: &mut Ctx<'_>,
    id: FieldId,
    patch: &FieldPatch,
) -> Result<Vec<Event>, CrmError> {
    ctx.access.require_admin("change custom fields")?;
    let before = ctx
        .state
        .fields
        .values()
        .flat_map(|definitions| definitions.values())
        .find(|definition| definition.id == id)
        .ok_or_else(|| CrmError::not_found("field", id))?;
    let mut field = before.clone();
    if let Some(label) = &patch.label {
        field.label = validate::name("patch.label", label)?;
    }
    if let Some(required) = patch.required {
        field.required = required;
    }
    if let Some(retired) = patch.retired {
        field.retired = retired;
    }
    let has_choices = matches!(field.kind, FieldKind::Choice | FieldKind::MultiChoice);
    for (list, name) in [
        (&patch.add_choices, "add_choices"),
        (&patch.retire_choices, "retire_choices"),
    ] {
        if !has_choices && !list.is_empty() {
            return Err(CrmError::validation(
                format!("patch.{name}"),
                format!(
                    "only choice fields have choices, not {}",
                    validate::json_name(&field.kind)
                ),
            ));
        }
        validate::list_len(&format!("patch.{name}"), list.len())?;
    }
    for (index, choice) in patch.add_choices.iter().enumerate() {
        let choice = validate::name(&format!("patch.add_choices[{index}]"), choice)?;
        field.retired_choices.retain(|retired| *retired != choice);
        if !field.choices.contains(&choice) {
            field.choices.push(choice);
        }
    }
    for (index, choice) in patch.retire_choices.iter().enumerate() {
        let choice = choice.trim();
        if field
            .retired_choices
            .iter()
            .any(|retired| retired == choice)
        {
            continue;
        }
        let Some(position) = field.choices.iter().position(|c| c == choice) else {
            return Err(CrmError::validation(
                format!("patch.retire_choices[{index}]"),
                format!("{choice:?} is not one of {:?}", field.choices),
            ));
        };
        field.retired_choices.push(field.choices.remove(position));
    }
    validate::list_len("patch.add_choices", field.choices.len())?;
    if has_choices && field.choices.is_empty() {
        return Err(CrmError::validation(
            "patch.retire_choices",
            "a choice field keeps at least one choice (retire the field instead)",
        ));
    }
    let changed = crate::common::diff::changed_keys(before, &field);
    if changed.is_empty() {
        return Ok(Vec::new());
    }
    let now_required = field.required
        && !field.retired
        && changed
            .iter()
            .any(|key| key == "required" || key == "retired");
    let missing = now_required.then(|| missing_values(ctx.state, &field));
    Ok(vec![Event::FieldUpdated {
        field,
        changed,
        missing,
    }])
}

/// How many stored records of the field's kind have no value for it.
fn missing_values(state: &crate::state::State, field: &FieldDefinition) -> u64 {
    let lacks = |custom: &CustomValues| !custom.contains_key(&field.key);
    let count = match field.entity {
        EntityKind::Contact => state
            .contacts
            .values()
            .filter(|c| c.merged_into.is_none() && lacks(&c.fields.custom))
            .count(),
        EntityKind::Company => state
            .companies
            .values()
            .filter(|c| c.merged_into.is_none() && lacks(&c.fields.custom))
            .count(),
        EntityKind::Deal => state
            .deals
            .values()
            .filter(|d| lacks(&d.fields.custom))
            .count(),
        EntityKind::Task => state.tasks.values().filter(|t| lacks(&t.fields)).count(),
    };
    count as u64
}
