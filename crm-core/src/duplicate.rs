//! Duplicate contacts: candidate pairs found by blocking — contacts sharing a normalised
//! phone or e-mail address, and contacts of the same company (names compared within
//! it) — each scored with the reasons behind the score. Reading only; merging the pair
//! a person confirms is the `merge_contacts` command.
//!
//! Scoring (0–100, the sum capped at 100): a shared phone 60, a shared e-mail address
//! 70, similar names (Jaro-Winkler on [`fold_name`] keys, at least 85 %) the similarity
//! × 0.6 — names count only between contacts of the same company or that already share
//! a phone or address, so two "Anna Petrova"s in a city are not called one person.

use std::collections::{BTreeMap, BTreeSet};

use crate::access::Access;
use crate::common::error::CrmError;
use crate::common::id::{AnyId, CompanyId, ContactId};
use crate::common::normalize::{fold_name, EmailPolicy};
use crate::model::contact::Contact;
use crate::model::duplicate::*;
use crate::state::State;

const PHONE_WEIGHT: u32 = 60;
const EMAIL_WEIGHT: u32 = 70;
/// Below this similarity (percent) names are not a reason at all.
const NAME_THRESHOLD: u8 = 85;
/// A company with more contacts than this compares each name only with its
/// `NAME_WINDOW` neighbours in folded-name order instead of with every other name.
const COMPANY_ALL_PAIRS: usize = 50;
const NAME_WINDOW: usize = 10;

/// How alike two contacts are: the score and its reasons, the same whichever comes first.
pub fn compare(a: &Contact, b: &Contact, email: &EmailPolicy) -> (u8, Vec<Reason>) {
    score(a, b, email, || {
        name_similarity(&fold_name(&a.fields.name), &fold_name(&b.fields.name))
    })
}

/// [`compare`] with the name similarity computed only when it counts, by `similarity`
/// (the search passes one that reuses what blocking already computed).
fn score(
    a: &Contact,
    b: &Contact,
    email: &EmailPolicy,
    similarity: impl FnOnce() -> u8,
) -> (u8, Vec<Reason>) {
    let mut reasons = Vec::new();
    let phones: BTreeSet<&String> = a.fields.phones.iter().collect();
    for phone in b
        .fields
        .phones
        .iter()
        .filter(|phone| phones.contains(phone))
    {
        reasons.push(Reason::SamePhone {
            phone: phone.clone(),
        });
    }
    let keys: BTreeSet<String> = a.fields.emails.iter().map(|e| email.key(e)).collect();
    for key in b.fields.emails.iter().map(|e| email.key(e)) {
        if keys.contains(&key) {
            reasons.push(Reason::SameEmail { email: key });
        }
    }
    let same_company = a.fields.company.is_some() && a.fields.company == b.fields.company;
    if same_company || !reasons.is_empty() {
        let similarity = similarity();
        if similarity >= NAME_THRESHOLD {
            reasons.push(Reason::SimilarName { similarity });
        }
    }
    reasons.sort();
    reasons.dedup();
    let score: u32 = reasons
        .iter()
        .map(|reason| match reason {
            Reason::SamePhone { .. } => PHONE_WEIGHT,
            Reason::SameEmail { .. } => EMAIL_WEIGHT,
            Reason::SimilarName { similarity } => u32::from(*similarity) * 6 / 10,
        })
        .sum();
    (score.min(100) as u8, reasons)
}

/// Jaro-Winkler similarity of two folded names in whole percent (rounded down), with
/// the names in a fixed order so that the answer cannot depend on which comes first.
fn name_similarity(a: &str, b: &str) -> u8 {
    if a.is_empty() || b.is_empty() {
        return 0;
    }
    let (first, second) = if a <= b { (a, b) } else { (b, a) };
    let similarity = strsim::jaro_winkler(first, second);
    (similarity * 100.0).floor().clamp(0.0, 100.0) as u8
}

/// Finds the duplicate candidates among the contacts the actor can read.
pub(crate) fn find(
    state: &State,
    access: &Access<'_>,
    request: &DuplicateRequest,
) -> Result<Duplicates, CrmError> {
    if request.min_score > 100 {
        return Err(CrmError::validation(
            "min_score",
            format!("{} is above 100", request.min_score),
        ));
    }
    if request.max_shared < 2 {
        return Err(CrmError::validation(
            "max_shared",
            format!("{} leaves no value to share", request.max_shared),
        ));
    }
    // Every pair of a block is compared: a block of n costs n²/2 comparisons.
    if request.max_shared > MAX_SHARED {
        return Err(CrmError::too_large(
            "max_shared",
            MAX_SHARED,
            request.max_shared,
        ));
    }
    let limit = request.limit.unwrap_or(crate::model::query::DEFAULT_PAGE);
    if limit > crate::model::query::MAX_PAGE {
        return Err(CrmError::too_large(
            "limit",
            crate::model::query::MAX_PAGE,
            limit,
        ));
    }
    if let Some(contact) = request.contact {
        access.require_read(AnyId::ContactId(contact))?;
    }
    // For one contact, only the blocks it is in matter: the people sharing one of its
    // phones or addresses (from the match index, whose plus-tag-free keys find every
    // address the request's policy could equate) and those of its company.
    let focus = request.contact.and_then(|id| state.contacts.get(&id));
    let pool: Box<dyn Iterator<Item = &Contact>> = match focus {
        None => Box::new(state.contacts.values()),
        Some(focus) => {
            let fields = &focus.fields;
            let mut ids: BTreeSet<ContactId> = fields
                .phones
                .iter()
                .chain(&fields.emails)
                .flat_map(|key| state.contacts_with(key))
                .collect();
            ids.insert(focus.id);
            if let Some(company) = fields.company {
                ids.extend(
                    state
                        .contacts
                        .values()
                        .filter(|contact| contact.fields.company == Some(company))
                        .map(|contact| contact.id),
                );
            }
            Box::new(ids.into_iter().filter_map(|id| state.contacts.get(&id)))
        }
    };
    let visible: Vec<&Contact> = pool
        .filter(|contact| contact.merged_into.is_none())
        .filter(|contact| access.can_read(AnyId::ContactId(contact.id)))
        .collect();

    let mut phones: BTreeMap<&str, Vec<ContactId>> = BTreeMap::new();
    let mut emails: BTreeMap<String, Vec<ContactId>> = BTreeMap::new();
    let mut companies: BTreeMap<CompanyId, Vec<(String, ContactId)>> = BTreeMap::new();
    let focus_emails: Option<BTreeSet<String>> = focus.map(|contact| {
        contact
            .fields
            .emails
            .iter()
            .map(|e| request.email.key(e))
            .collect()
    });
    for contact in &visible {
        for phone in &contact.fields.phones {
            if focus.is_none_or(|f| f.fields.phones.contains(phone)) {
                phones.entry(phone).or_default().push(contact.id);
            }
        }
        let keys: BTreeSet<String> = contact
            .fields
            .emails
            .iter()
            .map(|e| request.email.key(e))
            .collect();
        for key in keys {
            if focus_emails
                .as_ref()
                .is_none_or(|wanted| wanted.contains(&key))
            {
                emails.entry(key).or_default().push(contact.id);
            }
        }
        let in_focus = |company| focus.is_none_or(|f| f.fields.company == Some(company));
        if let Some(company) = contact.fields.company.filter(|c| in_focus(*c)) {
            companies
                .entry(company)
                .or_default()
                .push((fold_name(&contact.fields.name), contact.id));
        }
    }

    let mut candidates: BTreeSet<(ContactId, ContactId)> = BTreeSet::new();
    // Name similarities blocking computed, kept for scoring (the costliest part).
    let mut similarities: BTreeMap<(ContactId, ContactId), u8> = BTreeMap::new();
    let mut too_common = Vec::new();
    let mut block = |field: &str, value: &str, ids: &[ContactId]| {
        if ids.len() > request.max_shared {
            too_common.push(CommonValue {
                field: field.to_string(),
                value: value.to_string(),
                contacts: ids.len(),
            });
            return;
        }
        for (index, a) in ids.iter().enumerate() {
            for b in &ids[index + 1..] {
                candidates.insert(ordered(*a, *b));
            }
        }
    };
    for (phone, ids) in &phones {
        block("phones", phone, ids);
    }
    for (email, ids) in &emails {
        block("emails", email, ids);
    }
    for people in companies.values_mut() {
        people.sort();
        let window = if people.len() <= COMPANY_ALL_PAIRS {
            people.len()
        } else {
            NAME_WINDOW
        };
        for (index, (name, a)) in people.iter().enumerate() {
            for (other, b) in people.iter().skip(index + 1).take(window) {
                let similarity = name_similarity(name, other);
                if similarity >= NAME_THRESHOLD {
                    candidates.insert(ordered(*a, *b));
                    similarities.insert(ordered(*a, *b), similarity);
                }
            }
        }
    }

    let mut pairs: Vec<DuplicatePair> = candidates
        .into_iter()
        .filter(|(a, b)| request.contact.is_none_or(|c| c == *a || c == *b))
        .filter_map(|(a, b)| {
            let (x, y) = (&state.contacts[&a], &state.contacts[&b]);
            let (score, reasons) = score(x, y, &request.email, || {
                similarities.get(&(a, b)).copied().unwrap_or_else(|| {
                    name_similarity(&fold_name(&x.fields.name), &fold_name(&y.fields.name))
                })
            });
            (score >= request.min_score && !reasons.is_empty()).then_some(DuplicatePair {
                a,
                b,
                score,
                reasons,
            })
        })
        .collect();
    pairs.sort_by(|x, y| y.score.cmp(&x.score).then((x.a, x.b).cmp(&(y.a, y.b))));
    let total = pairs.len();
    let pairs = pairs.into_iter().skip(request.offset).take(limit).collect();
    Ok(Duplicates {
        pairs,
        total,
        too_common,
    })
}

fn ordered(a: ContactId, b: ContactId) -> (ContactId, ContactId) {
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}
