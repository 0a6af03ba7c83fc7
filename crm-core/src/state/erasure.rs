//! Erasing a person (docs/adr/0003-erasure.md): what of theirs is blanked, in the
//! state and in every stored event. One set of blanking functions serves both, so a
//! rewritten journal replays to exactly the state the live erasure left.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::common::id::{AnyId, ContactId, UserId};
use crate::event::{Event, EventEnvelope};
use crate::model::activity::{Activity, ActivityText};
use crate::model::contact::{Consent, ContactFields};
use crate::model::document::Document;
use crate::model::outbox::{Effect, EffectBody};
use crate::model::task::{Task, TaskFields};
use crate::model::user::User;
use crate::state::State;

/// What stands in for erased text.
pub const ERASED: &str = "[erased]";

/// Shorter strings are not searched for in free text: too many other words contain
/// them.
const SHORTEST_NEEDLE: usize = 4;

/// Everything about one person that an erasure blanks: their contacts (the one erased
/// and those merged into it), the records about them (their deals, and the tasks,
/// activities, documents and messages on any of these), and the text that identifies
/// them wherever it appears (name, phones as stored and as typed, e-mail addresses,
/// postal address).
#[derive(Clone, Debug, Default)]
pub(crate) struct Erasure {
    pub contacts: BTreeSet<ContactId>,
    pub records: BTreeSet<AnyId>,
    needles: Vec<String>,
}

impl Erasure {
    /// The erasure of `id` as the state holds it now.
    pub(crate) fn of(state: &State, id: ContactId) -> Erasure {
        let contacts: BTreeSet<ContactId> = std::iter::once(id)
            .chain(
                state
                    .contacts
                    .values()
                    .filter(|c| c.merged_into == Some(id))
                    .map(|c| c.id),
            )
            .collect();
        let mut records: BTreeSet<AnyId> = contacts.iter().map(|c| AnyId::from(*c)).collect();
        for contact in &contacts {
            records.extend(
                state
                    .deals_by_party
                    .of(AnyId::from(*contact))
                    .filter(|deal| {
                        state
                            .deals
                            .get(deal)
                            .is_some_and(|d| d.fields.contact == Some(*contact))
                    })
                    .map(AnyId::from),
            );
        }
        let about = records.clone();
        records.extend(
            state
                .tasks
                .values()
                .filter(|t| t.link.is_some_and(|link| about.contains(&link)))
                .map(|t| AnyId::from(t.id)),
        );
        records.extend(
            state
                .activities
                .values()
                .filter(|a| about.contains(&a.link))
                .map(|a| AnyId::from(a.id)),
        );
        records.extend(
            state
                .documents
                .values()
                .filter(|d| about.contains(&d.subject))
                .map(|d| AnyId::from(d.id)),
        );
        let about = records.clone();
        records.extend(
            state
                .effects
                .values()
                .filter(|e| e.subject.is_some_and(|s| about.contains(&s)))
                .map(|e| AnyId::from(e.id)),
        );
        let mut needles = BTreeSet::new();
        for contact in contacts.iter().filter_map(|c| state.contacts.get(c)) {
            let fields = &contact.fields;
            needles.insert(fields.name.trim().to_string());
            needles.extend(fields.phones.iter().cloned());
            needles.extend(fields.phones_as_typed.values().cloned());
            needles.extend(fields.emails.iter().cloned());
            needles.extend(fields.address.iter().cloned());
        }
        Erasure {
            contacts,
            records,
            needles: Self::sorted(needles),
        }
    }

    /// The erasure of a former employee: their user record's name and e-mail, and
    /// that text wherever it appears (a notification that named them, a task title).
    /// Their records stay theirs: `records` holds only the user.
    pub(crate) fn of_user(state: &State, id: UserId) -> Erasure {
        let mut needles = BTreeSet::new();
        if let Some(user) = state.users.get(&id) {
            needles.insert(user.name.trim().to_string());
            needles.extend(user.email.iter().cloned());
        }
        Erasure {
            contacts: BTreeSet::new(),
            records: BTreeSet::from([AnyId::from(id)]),
            needles: Self::sorted(needles),
        }
    }

    /// The needles worth searching for, longest first (so a phone as typed goes
    /// before a part of it).
    fn sorted(needles: BTreeSet<String>) -> Vec<String> {
        let mut needles: Vec<String> = needles
            .into_iter()
            .filter(|n| n.chars().count() >= SHORTEST_NEEDLE && n != ERASED)
            .collect();
        needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
        needles
    }

    /// The event with this person's data blanked, or `None` when it holds none.
    pub(crate) fn redact(&self, envelope: &EventEnvelope) -> Option<EventEnvelope> {
        let mut redacted = envelope.clone();
        self.blank_event(&mut redacted.event);
        let mut value = serde_json::to_value(&redacted).ok()?;
        let scrubbed = self.scrub(&mut value);
        if scrubbed {
            redacted = serde_json::from_value(value).ok()?;
        }
        (redacted != *envelope).then_some(redacted)
    }

    /// Blanks the records an event carries whole or in part.
    fn blank_event(&self, event: &mut Event) {
        let has = |id: AnyId| self.records.contains(&id);
        match event {
            Event::ContactCreated { contact } if has(contact.id.into()) => {
                blank_contact(&mut contact.fields)
            }
            Event::ContactUpdated { id, fields, .. } if has((*id).into()) => blank_contact(fields),
            Event::ContactsMerged { merge } if has(merge.into.into()) || has(merge.from.into()) => {
                blank_contact(&mut merge.before);
                blank_contact(&mut merge.fields);
            }
            Event::ContactsUnmerged {
                into, from, fields, ..
            } if has((*into).into()) || has((*from).into()) => blank_contact(fields),
            Event::TaskCreated { task } if has(task.id.into()) => blank_task(task),
            Event::TaskUpdated { id, fields, .. } if has((*id).into()) => blank_task_fields(fields),
            Event::TaskCompleted {
                id,
                outcome,
                fields,
            } if has((*id).into()) => {
                *outcome = None;
                fields.clear();
            }
            Event::ActivityLogged { activity } if has(activity.id.into()) => {
                blank_activity(activity)
            }
            Event::ActivityUpdated { id, text, .. } if has((*id).into()) => {
                *text = ActivityText {
                    subject: None,
                    body: None,
                    outcome: None,
                }
            }
            Event::DocumentRendered { document, .. } if has(document.id.into()) => {
                blank_document(document)
            }
            Event::EffectQueued { effect } if has(effect.id.into()) => blank_effect(effect),
            Event::UserCreated { user } | Event::UserUpdated { user, .. }
                if has(user.id.into()) =>
            {
                blank_user(user)
            }
            _ => {}
        }
    }

    /// Replaces the person's identifying text wherever it appears in `value`'s strings;
    /// whether anything was replaced.
    fn scrub(&self, value: &mut Value) -> bool {
        match value {
            Value::String(text) => {
                let mut changed = false;
                for needle in &self.needles {
                    if let Some(replaced) = replace_any_case(text, needle) {
                        *text = replaced;
                        changed = true;
                    }
                }
                changed
            }
            Value::Array(items) => {
                // Every item is scrubbed: no stopping at the first change.
                let mut changed = false;
                for item in items {
                    changed |= self.scrub(item);
                }
                changed
            }
            Value::Object(map) => {
                // Keys hold data too (a phone as stored, keying the phone as typed).
                let mut changed = false;
                let entries = std::mem::take(map);
                for (key, mut item) in entries {
                    changed |= self.scrub(&mut item);
                    let mut key = Value::String(key);
                    changed |= self.scrub(&mut key);
                    if let Value::String(key) = key {
                        map.insert(key, item);
                    }
                }
                changed
            }
            _ => false,
        }
    }

    /// Blanks the person in the state, as the rewritten journal would have it.
    pub(crate) fn apply(&self, state: &mut State) {
        for id in &self.contacts {
            state.index_contact(*id, false);
            if let Some(contact) = state.contacts.get_mut(id) {
                blank_contact(&mut contact.fields);
            }
        }
        for record in &self.records {
            match *record {
                AnyId::TaskId(id) => {
                    if let Some(task) = state.tasks.get_mut(&id) {
                        blank_task(task);
                    }
                }
                AnyId::ActivityId(id) => {
                    if let Some(activity) = state.activities.get_mut(&id) {
                        if let Some(external) = activity.external_id.take() {
                            state.external_ids.remove(&external);
                        }
                        blank_activity(activity);
                    }
                }
                AnyId::DocumentId(id) => {
                    if let Some(document) = state.documents.get_mut(&id) {
                        blank_document(document);
                    }
                }
                AnyId::EffectId(id) => {
                    if let Some(effect) = state.effects.get_mut(&id) {
                        blank_effect(effect);
                    }
                }
                AnyId::UserId(id) => {
                    if let Some(user) = state.users.get_mut(&id) {
                        blank_user(user);
                    }
                }
                _ => {}
            }
        }
        for merge in state.merges.values_mut() {
            if self.contacts.contains(&merge.into) || self.contacts.contains(&merge.from) {
                blank_contact(&mut merge.before);
                blank_contact(&mut merge.fields);
            }
        }
    }
}

/// `text` with every occurrence of `needle`, in any letter case, replaced by
/// [`ERASED`]; `None` when there is none.
fn replace_any_case(text: &str, needle: &str) -> Option<String> {
    let (lower, wanted) = (text.to_lowercase(), needle.to_lowercase());
    if !lower.contains(&wanted) {
        return None;
    }
    // Where lower-casing keeps every byte in place (Latin, Cyrillic), cut the original
    // at the matches; otherwise match the text as it is.
    let aligned = lower.len() == text.len()
        && text
            .char_indices()
            .zip(lower.char_indices())
            .all(|((a, x), (b, y))| a == b && x.len_utf8() == y.len_utf8());
    if !aligned {
        return text.contains(needle).then(|| text.replace(needle, ERASED));
    }
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (at, _) in lower.match_indices(&wanted) {
        out.push_str(&text[last..at]);
        out.push_str(ERASED);
        last = at + wanted.len();
    }
    out.push_str(&text[last..]);
    Some(out)
}

/// A contact's personal fields blanked; its company, source and owner stay (they
/// describe the business's records, not the person).
pub(crate) fn blank_contact(fields: &mut ContactFields) {
    fields.name = ERASED.to_string();
    fields.position = None;
    fields.phones.clear();
    fields.phones_as_typed.clear();
    fields.emails.clear();
    fields.address = None;
    fields.tags.clear();
    fields.custom.clear();
    fields.consent = Consent::default();
}

/// An employee's personal fields blanked; their role, department and specialty stay
/// (they describe the work, and reports group by them).
fn blank_user(user: &mut User) {
    user.name = ERASED.to_string();
    user.email = None;
}

fn blank_task(task: &mut Task) {
    task.title = ERASED.to_string();
    task.description = None;
    task.outcome = None;
    task.fields.clear();
}

fn blank_task_fields(fields: &mut TaskFields) {
    fields.title = ERASED.to_string();
    fields.description = None;
}

fn blank_activity(activity: &mut Activity) {
    activity.subject = None;
    activity.body = None;
    activity.outcome = None;
    activity.external_id = None;
}

fn blank_document(document: &mut Document) {
    document.content = ERASED.to_string();
}

fn blank_effect(effect: &mut Effect) {
    match &mut effect.body {
        EffectBody::Notification { text, .. } => *text = ERASED.to_string(),
        EffectBody::Message { address, text, .. } => {
            *address = ERASED.to_string();
            *text = ERASED.to_string();
        }
        EffectBody::Webhook { payload, .. } => *payload = Value::Object(Default::default()),
        EffectBody::Document { content, .. } => *content = ERASED.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::replace_any_case;

    #[test]
    fn any_case_is_replaced_and_nothing_else() {
        assert_eq!(
            replace_any_case("Call ANNA PETROVA, anna petrova's sister", "Anna Petrova").as_deref(),
            Some("Call [erased], [erased]'s sister")
        );
        assert_eq!(
            replace_any_case("Позвонить АННЕ? Анна Петрова ждёт", "Анна Петрова").as_deref(),
            Some("Позвонить АННЕ? [erased] ждёт")
        );
        assert_eq!(replace_any_case("Boris Ivanov", "Anna Petrova"), None);
    }
}
