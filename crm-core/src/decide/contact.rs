//! Handlers for contact (the data is in `crate::model::contact`).

use crate::common::diff;
use crate::common::error::CrmError;
use crate::common::id::{AnyId, ContactId};
use crate::common::validate;
use crate::decide::Ctx;
use crate::event::Event;
use crate::model::contact::*;
use crate::model::custom_field::{self, EntityKind};

fn apply_patch(
    ctx: &Ctx<'_>,
    fields: &mut ContactFields,
    patch: &ContactPatch,
) -> Result<(), CrmError> {
    if let Some(name) = &patch.name {
        fields.name = validate::name("name", name)?;
    }
    if let Some(company) = patch.company {
        if let Some(company) = company {
            ctx.access.require_read(AnyId::CompanyId(company))?;
        }
        fields.company = company;
    }
    if let Some(position) = &patch.position {
        fields.position = validate::optional_name("position", Some(position))?;
    }
    if let Some(phones) = &patch.phones {
        (fields.phones, fields.phones_as_typed) =
            validate::phones_as_typed("phones", phones, ctx.region)?;
    }
    if let Some(emails) = &patch.emails {
        fields.emails = validate::emails("emails", emails)?;
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
    let definitions = ctx.state.fields.get(&EntityKind::Contact);
    fields.custom =
        custom_field::apply_changes(definitions, &fields.custom, &patch.custom, ctx.region, true)?;
    if let Some(consent) = patch.consent {
        fields.consent = consent;
    }
    Ok(())
}

/// Handles [`crate::Command::CreateContact`].
pub(crate) fn create(ctx: &mut Ctx<'_>, input: &NewContact) -> Result<Vec<Event>, CrmError> {
    ctx.access.require_sales_role("create contacts")?;
    let owner = ctx.access.owner_for_new(input.owner)?;
    let mut fields = ContactFields::default();
    apply_patch(ctx, &mut fields, &ContactPatch::from(input))?;
    let contact = Contact {
        id: ctx.next_id(),
        owner,
        fields,
        created_at: ctx.now,
        updated_at: ctx.now,
        merged_into: None,
        archived_at: None,
        erased_at: None,
    };
    Ok(vec![Event::ContactCreated { contact }])
}

/// Handles [`crate::Command::UpdateContact`]; an update that changes nothing records nothing.
pub(crate) fn update(
    ctx: &mut Ctx<'_>,
    id: ContactId,
    patch: &ContactPatch,
) -> Result<Vec<Event>, CrmError> {
    ctx.access.require_edit(AnyId::ContactId(id))?;
    let before = &ctx.state.contacts[&id].fields;
    let mut fields = before.clone();
    apply_patch(ctx, &mut fields, patch)?;
    let mut events = ctx.keep_later_edits(AnyId::ContactId(id), before, &mut fields)?;
    let changed = diff::changed_keys(before, &fields);
    if changed.is_empty() {
        return Ok(events);
    }
    events.push(Event::ContactUpdated {
        id,
        fields,
        changed,
        hlc: ctx.hlc,
    });
    Ok(events)
}

/// Handles [`crate::Command::EraseContact`]: admins — a person's request to be
/// forgotten is the business's to carry out. A contact merged into another is erased
/// through that one (which takes it along). Erasing again redacts again (after a
/// backup from before the erasure was restored).
pub(crate) fn erase(ctx: &mut Ctx<'_>, id: ContactId) -> Result<Vec<Event>, CrmError> {
    ctx.access.require_admin("erase a person")?;
    let contact = ctx
        .state
        .contacts
        .get(&id)
        .ok_or_else(|| CrmError::not_found("contact", id))?;
    if let Some(into) = contact.merged_into {
        return Err(CrmError::conflict(format!(
            "{id} was merged into {into}: erase {into}, which takes it along"
        )));
    }
    let erasure = crate::state::erasure::Erasure::of(ctx.state, id);
    Ok(vec![Event::ContactErased {
        id,
        records: erasure.records.into_iter().collect(),
    }])
}
