//! Handlers for merge (the data is in `crate::model::merge`).

use crate::common::diff;
use crate::common::error::CrmError;
use crate::common::id::{ActivityId, AnyId, CompanyId, ContactId, DealId, TaskId};
use crate::common::validate;
use crate::decide::Ctx;
use crate::event::Event;
use crate::model::company::{Company, CompanyFields};
use crate::model::contact::{Contact, ContactFields};
use crate::model::merge::*;
use crate::state::State;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Display;

/// What an unmerge does, before it becomes its kind's event: the survivor's fields now,
/// and the records pointed back.
struct Unmerge<Id, Fields> {
    into: Id,
    from: Id,
    fields: Fields,
    changed: Vec<String>,
    contacts: Vec<ContactId>,
    deals: Vec<DealId>,
    tasks: Vec<TaskId>,
    activities: Vec<ActivityId>,
}

/// What differs between merging contacts and merging companies.
trait Party {
    type Id: Copy + Ord + Display + Into<AnyId>;
    type Fields: Clone + Serialize + DeserializeOwned;
    /// The fields `keep` may name.
    const FIELDS: &'static [&'static str];
    const KIND: &'static str;
    /// The record's fields and what it was merged into, if it exists.
    fn find(state: &State, id: Self::Id) -> Option<(&Self::Fields, Option<Self::Id>)>;
    fn merges(state: &State) -> &BTreeMap<Self::Id, Merge<Self::Id, Self::Fields>>;
    fn merged_fields(
        into: &Self::Fields,
        from: &Self::Fields,
        keep: &BTreeMap<String, Side>,
    ) -> Result<Self::Fields, CrmError>;
    /// The contacts that belong to `id` (a company's people; none for a contact).
    fn members(state: &State, id: Self::Id) -> Vec<ContactId>;
    /// Whether the deal, or the contact, points at `id`.
    fn deal_points_at(state: &State, deal: DealId, id: Self::Id) -> bool;
    fn member_points_at(state: &State, contact: ContactId, id: Self::Id) -> bool;
    fn merged(merge: Merge<Self::Id, Self::Fields>) -> Event;
    fn unmerged(unmerge: Unmerge<Self::Id, Self::Fields>) -> Event;
}

impl Party for Contact {
    type Id = ContactId;
    type Fields = ContactFields;
    const FIELDS: &'static [&'static str] = &[
        "name", "company", "position", "phones", "emails", "address", "source", "tags", "custom",
        "consent",
    ];
    const KIND: &'static str = "contact";
    fn find(state: &State, id: ContactId) -> Option<(&ContactFields, Option<ContactId>)> {
        let contact = state.contacts.get(&id)?;
        Some((&contact.fields, contact.merged_into))
    }
    fn merges(state: &State) -> &BTreeMap<ContactId, Merge> {
        &state.merges
    }
    fn merged_fields(
        a: &ContactFields,
        b: &ContactFields,
        keep: &BTreeMap<String, Side>,
    ) -> Result<ContactFields, CrmError> {
        let choose = Choices { keep };
        let mut fields = a.clone();
        fields.name = choose.value("name", !a.name.is_empty(), &a.name, &b.name);
        fields.company = choose.optional("company", &a.company, &b.company);
        fields.position = choose.optional("position", &a.position, &b.position);
        fields.address = choose.optional("address", &a.address, &b.address);
        fields.source = choose.optional("source", &a.source, &b.source);
        let consent = choose.chosen("consent").unwrap_or(Side::Into);
        fields.consent = if consent == Side::Into {
            a.consent
        } else {
            b.consent
        };
        (fields.phones, fields.phones_as_typed) = choose.phones(
            (&a.phones, &a.phones_as_typed),
            (&b.phones, &b.phones_as_typed),
        )?;
        fields.emails = choose.list("emails", &a.emails, &b.emails)?;
        fields.tags = choose.tags(&a.tags, &b.tags)?;
        fields.custom = choose.custom(&a.custom, &b.custom);
        Ok(fields)
    }
    fn members(_: &State, _: ContactId) -> Vec<ContactId> {
        Vec::new()
    }
    fn deal_points_at(state: &State, deal: DealId, id: ContactId) -> bool {
        state
            .deals
            .get(&deal)
            .is_some_and(|deal| deal.fields.contact == Some(id))
    }
    fn member_points_at(_: &State, _: ContactId, _: ContactId) -> bool {
        false
    }
    fn merged(merge: Merge) -> Event {
        Event::ContactsMerged {
            merge: Box::new(merge),
        }
    }
    fn unmerged(unmerge: Unmerge<ContactId, ContactFields>) -> Event {
        Event::ContactsUnmerged {
            into: unmerge.into,
            from: unmerge.from,
            fields: unmerge.fields,
            changed: unmerge.changed,
            deals: unmerge.deals,
            tasks: unmerge.tasks,
            activities: unmerge.activities,
        }
    }
}

impl Party for Company {
    type Id = CompanyId;
    type Fields = CompanyFields;
    const FIELDS: &'static [&'static str] = &[
        "name", "phones", "emails", "website", "address", "source", "tags", "custom",
    ];
    const KIND: &'static str = "company";
    fn find(state: &State, id: CompanyId) -> Option<(&CompanyFields, Option<CompanyId>)> {
        let company = state.companies.get(&id)?;
        Some((&company.fields, company.merged_into))
    }
    fn merges(state: &State) -> &BTreeMap<CompanyId, CompanyMergeRecord> {
        &state.company_merges
    }
    fn merged_fields(
        a: &CompanyFields,
        b: &CompanyFields,
        keep: &BTreeMap<String, Side>,
    ) -> Result<CompanyFields, CrmError> {
        let choose = Choices { keep };
        let mut fields = a.clone();
        fields.name = choose.value("name", !a.name.is_empty(), &a.name, &b.name);
        fields.website = choose.optional("website", &a.website, &b.website);
        fields.address = choose.optional("address", &a.address, &b.address);
        fields.source = choose.optional("source", &a.source, &b.source);
        (fields.phones, fields.phones_as_typed) = choose.phones(
            (&a.phones, &a.phones_as_typed),
            (&b.phones, &b.phones_as_typed),
        )?;
        fields.emails = choose.list("emails", &a.emails, &b.emails)?;
        fields.tags = choose.tags(&a.tags, &b.tags)?;
        fields.custom = choose.custom(&a.custom, &b.custom);
        Ok(fields)
    }
    fn members(state: &State, id: CompanyId) -> Vec<ContactId> {
        state
            .contacts
            .values()
            .filter(|contact| contact.fields.company == Some(id))
            .map(|contact| contact.id)
            .collect()
    }
    fn deal_points_at(state: &State, deal: DealId, id: CompanyId) -> bool {
        state
            .deals
            .get(&deal)
            .is_some_and(|deal| deal.fields.company == Some(id))
    }
    fn member_points_at(state: &State, contact: ContactId, id: CompanyId) -> bool {
        state
            .contacts
            .get(&contact)
            .is_some_and(|contact| contact.fields.company == Some(id))
    }
    fn merged(merge: CompanyMergeRecord) -> Event {
        Event::CompaniesMerged {
            merge: Box::new(merge),
        }
    }
    fn unmerged(unmerge: Unmerge<CompanyId, CompanyFields>) -> Event {
        Event::CompaniesUnmerged {
            into: unmerge.into,
            from: unmerge.from,
            fields: unmerge.fields,
            changed: unmerge.changed,
            contacts: unmerge.contacts,
            deals: unmerge.deals,
            tasks: unmerge.tasks,
            activities: unmerge.activities,
        }
    }
}

/// The field choices of a merge, and how unnamed fields combine.
struct Choices<'k> {
    keep: &'k BTreeMap<String, Side>,
}

impl Choices<'_> {
    fn chosen(&self, field: &str) -> Option<Side> {
        self.keep.get(field).copied()
    }

    /// The chosen side, else the survivor's if it has a value, else the other's.
    fn pick(&self, field: &str, survivor_has: bool) -> Side {
        match self.chosen(field) {
            Some(side) => side,
            None if survivor_has => Side::Into,
            None => Side::From,
        }
    }

    /// The chosen side's value, else the survivor's if it has one, else the other's.
    fn value<T: Clone>(&self, field: &str, survivor_has: bool, a: &T, b: &T) -> T {
        match self.pick(field, survivor_has) {
            Side::Into => a.clone(),
            Side::From => b.clone(),
        }
    }

    fn optional<T: Clone>(&self, field: &str, a: &Option<T>, b: &Option<T>) -> Option<T> {
        self.value(field, a.is_some(), a, b)
    }

    /// The chosen side's list, or both united (the survivor's first).
    fn list(&self, field: &str, a: &[String], b: &[String]) -> Result<Vec<String>, CrmError> {
        let all = match self.chosen(field) {
            Some(Side::Into) => a.to_vec(),
            Some(Side::From) => b.to_vec(),
            None => {
                let mut all = a.to_vec();
                all.extend(b.iter().filter(|value| !a.contains(value)).cloned());
                all
            }
        };
        validate::list_len(field, all.len())?;
        Ok(all)
    }

    /// Phones as [`Choices::list`], each keeping its spelling (the survivor's for a
    /// number both sides have).
    fn phones(
        &self,
        (a, a_typed): (&[String], &BTreeMap<String, String>),
        (b, b_typed): (&[String], &BTreeMap<String, String>),
    ) -> Result<(Vec<String>, BTreeMap<String, String>), CrmError> {
        let phones = self.list("phones", a, b)?;
        let typed = [b_typed, a_typed]
            .into_iter()
            .flatten()
            .filter(|(phone, _)| phones.contains(phone))
            .map(|(phone, typed)| (phone.clone(), typed.clone()))
            .collect();
        Ok((phones, typed))
    }

    fn tags(
        &self,
        a: &std::collections::BTreeSet<String>,
        b: &std::collections::BTreeSet<String>,
    ) -> Result<std::collections::BTreeSet<String>, CrmError> {
        let tags = match self.chosen("tags") {
            Some(Side::Into) => a.clone(),
            Some(Side::From) => b.clone(),
            None => a.union(b).cloned().collect(),
        };
        validate::list_len("tags", tags.len())?;
        Ok(tags)
    }

    fn custom(
        &self,
        a: &crate::model::custom_field::CustomValues,
        b: &crate::model::custom_field::CustomValues,
    ) -> crate::model::custom_field::CustomValues {
        match self.chosen("custom") {
            Some(Side::Into) => a.clone(),
            Some(Side::From) => b.clone(),
            None => {
                let mut custom = b.clone();
                custom.extend(a.iter().map(|(key, value)| (key.clone(), value.clone())));
                custom
            }
        }
    }
}

/// Handles [`crate::Command::MergeContacts`].
pub(crate) fn merge_contacts(
    ctx: &mut Ctx<'_>,
    input: &ContactMerge,
) -> Result<Vec<Event>, CrmError> {
    merge::<Contact>(ctx, input)
}

/// Handles [`crate::Command::MergeCompanies`].
pub(crate) fn merge_companies(
    ctx: &mut Ctx<'_>,
    input: &CompanyMerge,
) -> Result<Vec<Event>, CrmError> {
    merge::<Company>(ctx, input)
}

/// Handles [`crate::Command::UnmergeContacts`]: `id` is the contact merged away.
pub(crate) fn unmerge_contacts(ctx: &mut Ctx<'_>, id: ContactId) -> Result<Vec<Event>, CrmError> {
    unmerge::<Contact>(ctx, id)
}

/// Handles [`crate::Command::UnmergeCompanies`]: `id` is the company merged away.
pub(crate) fn unmerge_companies(ctx: &mut Ctx<'_>, id: CompanyId) -> Result<Vec<Event>, CrmError> {
    unmerge::<Company>(ctx, id)
}

/// The record's fields, for a record the access check has shown to exist.
fn existing<P: Party>(state: &State, id: P::Id) -> Result<(&P::Fields, Option<P::Id>), CrmError> {
    P::find(state, id).ok_or_else(|| CrmError::not_found(P::KIND, id))
}

fn merge<P: Party>(ctx: &mut Ctx<'_>, input: &MergeRequest<P::Id>) -> Result<Vec<Event>, CrmError> {
    if input.into == input.from {
        return Err(CrmError::validation(
            "from",
            format!("{} cannot be merged into itself", input.from),
        ));
    }
    for (field, id) in [("into", input.into), ("from", input.from)] {
        ctx.access.require_edit(id.into())?;
        if let (_, Some(target)) = existing::<P>(ctx.state, id)? {
            return Err(CrmError::validation(
                field,
                format!("{id} is already merged into {target}"),
            ));
        }
    }
    if let Some(field) = input
        .keep
        .keys()
        .find(|key| !P::FIELDS.contains(&key.as_str()))
    {
        return Err(CrmError::validation(
            "keep",
            format!(
                "{} is not a {} field that can be chosen ({})",
                validate::shown(field),
                P::KIND,
                P::FIELDS.join(", ")
            ),
        ));
    }
    let (into, _) = existing::<P>(ctx.state, input.into)?;
    let (from, _) = existing::<P>(ctx.state, input.from)?;
    let fields = P::merged_fields(into, from, &input.keep)?;
    let changed = diff::changed_keys(into, &fields);
    let party: AnyId = input.from.into();
    let state = &ctx.state;
    Ok(vec![P::merged(Merge {
        into: input.into,
        from: input.from,
        before: into.clone(),
        fields,
        changed,
        contacts: P::members(state, input.from),
        deals: state.deals_by_party.of(party).collect(),
        tasks: state.tasks_by_record.of(party).collect(),
        activities: state
            .activities
            .values()
            .filter(|activity| activity.link == party)
            .map(|activity| activity.id)
            .collect(),
    })])
}

fn unmerge<P: Party>(ctx: &mut Ctx<'_>, id: P::Id) -> Result<Vec<Event>, CrmError> {
    let Some(merge) = P::merges(ctx.state).get(&id) else {
        return Err(CrmError::validation(
            "id",
            format!("{id} is not merged into another {}", P::KIND),
        ));
    };
    ctx.access.require_edit(merge.into.into())?;
    ctx.access.require_edit(id.into())?;
    let (survivor, survivor_merged_into) = existing::<P>(ctx.state, merge.into)?;
    if let Some(target) = survivor_merged_into {
        return Err(CrmError::validation(
            "id",
            format!(
                "{} was merged into {target} afterwards: unmerge it first",
                merge.into
            ),
        ));
    }
    let fields = restored_fields(survivor, merge)?;
    let changed = diff::changed_keys(survivor, &fields);
    let state = &ctx.state;
    let into: AnyId = merge.into.into();
    Ok(vec![P::unmerged(Unmerge {
        into: merge.into,
        from: id,
        fields,
        changed,
        contacts: merge
            .contacts
            .iter()
            .copied()
            .filter(|contact| P::member_points_at(state, *contact, merge.into))
            .collect(),
        deals: merge
            .deals
            .iter()
            .copied()
            .filter(|deal| P::deal_points_at(state, *deal, merge.into))
            .collect(),
        tasks: merge
            .tasks
            .iter()
            .copied()
            .filter(|task| {
                state
                    .tasks
                    .get(task)
                    .is_some_and(|task| task.link == Some(into))
            })
            .collect(),
        activities: merge
            .activities
            .iter()
            .copied()
            .filter(|activity| {
                state
                    .activities
                    .get(activity)
                    .is_some_and(|activity| activity.link == into)
            })
            .collect(),
    })])
}

/// The survivor's fields with the merge taken back: each field the merge changed
/// returns to its earlier value unless someone has changed it since.
fn restored_fields<Id, Fields: Serialize + DeserializeOwned>(
    current: &Fields,
    merge: &Merge<Id, Fields>,
) -> Result<Fields, CrmError> {
    let object = |fields: &Fields| match serde_json::to_value(fields) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(CrmError::Storage {
            reason: String::from("could not serialise a record's fields"),
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
        reason: format!("could not restore a record's fields: {err}"),
    })
}
