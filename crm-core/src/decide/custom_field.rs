//! Handlers for custom_field (the data is in `crate::model::custom_field`).

use crate::common::error::CrmError;
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
