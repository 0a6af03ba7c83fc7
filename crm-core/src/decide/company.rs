//! Handlers for company (the data is in `crate::model::company`).

use crate::common::diff;
use crate::common::error::CrmError;
use crate::common::id::{AnyId, CompanyId};
use crate::common::validate;
use crate::decide::Ctx;
use crate::event::Event;
use crate::model::company::*;
use crate::model::custom_field::{self, EntityKind};

fn apply_patch(
    ctx: &Ctx<'_>,
    fields: &mut CompanyFields,
    patch: &CompanyPatch,
) -> Result<(), CrmError> {
    if let Some(name) = &patch.name {
        fields.name = validate::name("name", name)?;
    }
    if let Some(phones) = &patch.phones {
        (fields.phones, fields.phones_as_typed) =
            validate::phones_as_typed("phones", phones, ctx.region)?;
    }
    if let Some(emails) = &patch.emails {
        fields.emails = validate::emails("emails", emails)?;
    }
    if let Some(website) = patch.website.as_deref() {
        fields.website = match website.trim() {
            "" => None,
            url => Some(validate::url("website", url)?),
        };
    }
    if let Some(address) = &patch.address {
        fields.address = validate::optional_text("address", Some(address))?;
    }
    if let Some(source) = &patch.source {
        fields.source = validate::optional_name("source", Some(source))?;
    }
    if let Some(tags) = &patch.tags {
        fields.tags = validate::tags("tags", tags)?;
    }
    let definitions = ctx.state.fields.get(&EntityKind::Company);
    fields.custom =
        custom_field::apply_changes(definitions, &fields.custom, &patch.custom, ctx.region, true)?;
    Ok(())
}

/// Handles [`crate::Command::CreateCompany`].
pub(crate) fn create(ctx: &mut Ctx<'_>, input: &NewCompany) -> Result<Vec<Event>, CrmError> {
    ctx.access.require_sales_role("create companies")?;
    let owner = ctx.access.owner_for_new(input.owner)?;
    let patch = CompanyPatch {
        name: Some(input.name.clone()),
        phones: Some(input.phones.clone()),
        emails: Some(input.emails.clone()),
        website: input.website.clone(),
        address: input.address.clone(),
        source: input.source.clone(),
        tags: Some(input.tags.clone()),
        custom: input.custom.clone(),
    };
    let mut fields = CompanyFields::default();
    apply_patch(ctx, &mut fields, &patch)?;
    let company = Company {
        id: ctx.next_id(),
        owner,
        fields,
        created_at: ctx.now,
        updated_at: ctx.now,
        merged_into: None,
        archived_at: None,
    };
    Ok(vec![Event::CompanyCreated { company }])
}

/// Handles [`crate::Command::UpdateCompany`]; an update that changes nothing records nothing.
pub(crate) fn update(
    ctx: &mut Ctx<'_>,
    id: CompanyId,
    patch: &CompanyPatch,
) -> Result<Vec<Event>, CrmError> {
    ctx.access.require_edit(AnyId::CompanyId(id))?;
    let before = &ctx.state.companies[&id].fields;
    let mut fields = before.clone();
    apply_patch(ctx, &mut fields, patch)?;
    let mut events = ctx.keep_later_edits(AnyId::CompanyId(id), before, &mut fields)?;
    let changed = diff::changed_keys(before, &fields);
    if changed.is_empty() {
        return Ok(events);
    }
    events.push(Event::CompanyUpdated {
        id,
        fields,
        changed,
        hlc: ctx.hlc,
    });
    Ok(events)
}
