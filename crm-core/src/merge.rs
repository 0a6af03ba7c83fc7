//! Merging duplicate contacts, and undoing a merge.
//!
//! A merge keeps both contacts: the one merged away (`from`) is marked `merged_into`
//! and drops out of lists and duplicate searches, but it, its history and its ID stay,
//! so links held outside the CRM still resolve. The survivor (`into`) takes the chosen
//! field values; the deals, tasks and activities of `from` are re-pointed to it. The
//! event records the survivor's fields before and after and every re-pointed record,
//! so `unmerge_contacts` can put things back: fields the merge set and nobody changed
//! since return to their earlier values, and records still pointing at the survivor go
//! back to `from`. Nothing else changes in between → exactly the state before.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::command::Ctx;
use crate::contact::{Contact, ContactFields};
use crate::error::CrmError;
use crate::event::Event;
use crate::id::{ActivityId, AnyId, ContactId, DealId, TaskId};
use crate::validate;

/// Input for [`crate::Command::MergeContacts`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactMerge {
    /// The contact that stays.
    pub into: ContactId,
    /// The contact merged away.
    pub from: ContactId,
    /// Which side's value to keep, by field (`name`, `company`, `position`, `phones`,
    /// `emails`, `address`, `source`, `tags`, `custom`, `consent`). Unnamed fields: the
    /// survivor's value, or the other's where the survivor has none; phones, e-mail
    /// addresses and tags are united; custom values united key by key (the survivor's
    /// win); consent stays the survivor's — a merge never widens consent by itself.
    #[serde(default)]
    pub keep: BTreeMap<String, Side>,
}

/// One side of a merge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Into,
    From,
}

/// What a merge did, kept with the merged-away contact until it is undone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Merge {
    pub into: ContactId,
    pub from: ContactId,
    /// The survivor's fields before and after the merge.
    pub before: ContactFields,
    pub fields: ContactFields,
    /// The fields whose value the merge changed.
    pub changed: Vec<String>,
    /// The records that pointed at `from` and were re-pointed to `into`.
    pub deals: Vec<DealId>,
    pub tasks: Vec<TaskId>,
    pub activities: Vec<ActivityId>,
}

const FIELDS: [&str; 10] = [
    "name", "company", "position", "phones", "emails", "address", "source", "tags", "custom",
    "consent",
];

/// Handles [`crate::Command::MergeContacts`].
pub(crate) fn merge(ctx: &mut Ctx<'_>, input: &ContactMerge) -> Result<Vec<Event>, CrmError> {
    if input.into == input.from {
        return Err(CrmError::validation(
            "from",
            format!("{} cannot be merged into itself", input.from),
        ));
    }
    for (field, id) in [("into", input.into), ("from", input.from)] {
        ctx.access.require_edit(AnyId::ContactId(id))?;
        if let Some(target) = ctx.state.contacts[&id].merged_into {
            return Err(CrmError::validation(
                field,
                format!("{id} is already merged into {target}"),
            ));
        }
    }
    if let Some(field) = input
        .keep
        .keys()
        .find(|key| !FIELDS.contains(&key.as_str()))
    {
        return Err(CrmError::validation(
            "keep",
            format!(
                "{} is not a contact field that can be chosen ({})",
                validate::shown(field),
                FIELDS.join(", ")
            ),
        ));
    }
    let into = &ctx.state.contacts[&input.into];
    let from = &ctx.state.contacts[&input.from];
    let fields = merged_fields(into, from, &input.keep)?;
    let changed = validate::changed_keys(&into.fields, &fields);
    let party = AnyId::ContactId(input.from);
    let deals = ctx
        .state
        .deals_by_party
        .get(&party)
        .map(|deals| deals.iter().copied().collect())
        .unwrap_or_default();
    let tasks = ctx
        .state
        .tasks_by_record
        .get(&party)
        .map(|tasks| tasks.iter().copied().collect())
        .unwrap_or_default();
    let activities = ctx
        .state
        .activities
        .values()
        .filter(|activity| activity.link == party)
        .map(|activity| activity.id)
        .collect();
    Ok(vec![Event::ContactsMerged {
        merge: Box::new(Merge {
            into: input.into,
            from: input.from,
            before: into.fields.clone(),
            fields,
            changed,
            deals,
            tasks,
            activities,
        }),
    }])
}

/// The survivor's fields after merging `from` into `into` with the given choices.
fn merged_fields(
    into: &Contact,
    from: &Contact,
    keep: &BTreeMap<String, Side>,
) -> Result<ContactFields, CrmError> {
    let (a, b) = (&into.fields, &from.fields);
    let chosen = |field: &str| keep.get(field).copied();
    let pick = |field: &str, survivor_has: bool| match chosen(field) {
        Some(side) => side,
        None if survivor_has => Side::Into,
        None => Side::From,
    };
    let side = |side: Side| if side == Side::Into { a } else { b };
    let united =
        |field: &str, left: &[String], right: &[String]| -> Result<Vec<String>, CrmError> {
            let mut all = left.to_vec();
            all.extend(right.iter().filter(|value| !left.contains(value)).cloned());
            validate::list_len(field, all.len())?;
            Ok(all)
        };
    let mut fields = a.clone();
    fields.name = side(pick("name", !a.name.is_empty())).name.clone();
    fields.company = side(pick("company", a.company.is_some())).company;
    fields.position = side(pick("position", a.position.is_some()))
        .position
        .clone();
    fields.address = side(pick("address", a.address.is_some())).address.clone();
    fields.source = side(pick("source", a.source.is_some())).source.clone();
    fields.consent = side(chosen("consent").unwrap_or(Side::Into)).consent;
    fields.phones = match chosen("phones") {
        Some(one) => side(one).phones.clone(),
        None => united("phones", &a.phones, &b.phones)?,
    };
    // The survivor's spelling of a number both sides have wins.
    fields.phones_as_typed = [&b.phones_as_typed, &a.phones_as_typed]
        .into_iter()
        .flatten()
        .filter(|(phone, _)| fields.phones.contains(phone))
        .map(|(phone, typed)| (phone.clone(), typed.clone()))
        .collect();
    fields.emails = match chosen("emails") {
        Some(one) => side(one).emails.clone(),
        None => united("emails", &a.emails, &b.emails)?,
    };
    fields.tags = match chosen("tags") {
        Some(one) => side(one).tags.clone(),
        None => a.tags.union(&b.tags).cloned().collect(),
    };
    validate::list_len("tags", fields.tags.len())?;
    fields.custom = match chosen("custom") {
        Some(one) => side(one).custom.clone(),
        None => {
            let mut custom = b.custom.clone();
            custom.extend(
                a.custom
                    .iter()
                    .map(|(key, value)| (key.clone(), value.clone())),
            );
            custom
        }
    };
    Ok(fields)
}

/// Handles [`crate::Command::UnmergeContacts`]: `id` is the contact merged away.
pub(crate) fn unmerge(ctx: &mut Ctx<'_>, id: ContactId) -> Result<Vec<Event>, CrmError> {
    let Some(merge) = ctx.state.merges.get(&id) else {
        return Err(CrmError::validation(
            "id",
            format!("{id} is not merged into another contact"),
        ));
    };
    ctx.access.require_edit(AnyId::ContactId(merge.into))?;
    ctx.access.require_edit(AnyId::ContactId(id))?;
    let survivor = &ctx.state.contacts[&merge.into];
    if let Some(target) = survivor.merged_into {
        return Err(CrmError::validation(
            "id",
            format!(
                "{} was merged into {target} afterwards: unmerge it first",
                merge.into
            ),
        ));
    }
    let fields = restored_fields(&survivor.fields, merge)?;
    let changed = validate::changed_keys(&survivor.fields, &fields);
    let into = AnyId::ContactId(merge.into);
    let deals = merge
        .deals
        .iter()
        .copied()
        .filter(|deal| {
            ctx.state
                .deals
                .get(deal)
                .is_some_and(|deal| deal.fields.contact == Some(merge.into))
        })
        .collect();
    let tasks = merge
        .tasks
        .iter()
        .copied()
        .filter(|task| {
            ctx.state
                .tasks
                .get(task)
                .is_some_and(|task| task.link == Some(into))
        })
        .collect();
    let activities = merge
        .activities
        .iter()
        .copied()
        .filter(|activity| {
            ctx.state
                .activities
                .get(activity)
                .is_some_and(|activity| activity.link == into)
        })
        .collect();
    Ok(vec![Event::ContactsUnmerged {
        into: merge.into,
        from: id,
        fields,
        changed,
        deals,
        tasks,
        activities,
    }])
}

/// The survivor's fields with the merge taken back: each field the merge changed
/// returns to its earlier value unless someone has changed it since.
fn restored_fields(current: &ContactFields, merge: &Merge) -> Result<ContactFields, CrmError> {
    let object = |fields: &ContactFields| match serde_json::to_value(fields) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(CrmError::Storage {
            reason: String::from("could not serialise a contact's fields"),
        }),
    };
    let mut restored = object(current)?;
    let merged = object(&merge.fields)?;
    let before = object(&merge.before)?;
    for key in &merge.changed {
        if restored.get(key) == merged.get(key) {
            match before.get(key) {
                Some(value) => restored.insert(key.clone(), value.clone()),
                None => restored.remove(key),
            };
        }
    }
    serde_json::from_value(Value::Object(restored)).map_err(|err| CrmError::Storage {
        reason: format!("could not restore a contact's fields: {err}"),
    })
}
