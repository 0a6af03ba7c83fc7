//! Property tests of the engine's invariants over random command sequences:
//! (a) replay equals live state, (b) refused commands change nothing,
//! (c) money is exact and never mixes currencies. The access rules have their own
//! property, over every command and query (tests/access.rs).

mod common;

use chrono::Duration;
use common::{at, Shop};
use crm_core::*;
use proptest::prelude::*;

/// A random step, resolved against the current state when it runs: indexes pick
/// among the actors and among the records that exist at that moment.
#[derive(Clone, Debug)]
enum Step {
    CreateContact {
        actor: u8,
        phone: bool,
    },
    CreateDeal {
        actor: u8,
        contact: u8,
        cents: u32,
    },
    MoveDeal {
        actor: u8,
        deal: u8,
        stage: u8,
        reason: bool,
    },
    UpdateDeal {
        actor: u8,
        deal: u8,
        cents: u32,
    },
    CreateTask {
        actor: u8,
        assignee: u8,
        deal: u8,
        due: u16,
    },
    CompleteTask {
        actor: u8,
        task: u8,
    },
    LogNote {
        actor: u8,
        contact: u8,
    },
    AssignOwner {
        actor: u8,
        deal: u8,
        owner: u8,
    },
    Reassign {
        actor: u8,
        from: u8,
        to: u8,
    },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (any::<u8>(), any::<bool>())
            .prop_map(|(actor, phone)| Step::CreateContact { actor, phone }),
        (any::<u8>(), any::<u8>(), 0u32..5_000_000).prop_map(|(actor, contact, cents)| {
            Step::CreateDeal {
                actor,
                contact,
                cents,
            }
        }),
        (any::<u8>(), any::<u8>(), any::<u8>(), any::<bool>()).prop_map(
            |(actor, deal, stage, reason)| Step::MoveDeal {
                actor,
                deal,
                stage,
                reason
            }
        ),
        (any::<u8>(), any::<u8>(), 0u32..5_000_000)
            .prop_map(|(actor, deal, cents)| Step::UpdateDeal { actor, deal, cents }),
        (any::<u8>(), any::<u8>(), any::<u8>(), any::<u16>()).prop_map(
            |(actor, assignee, deal, due)| Step::CreateTask {
                actor,
                assignee,
                deal,
                due
            }
        ),
        (any::<u8>(), any::<u8>()).prop_map(|(actor, task)| Step::CompleteTask { actor, task }),
        (any::<u8>(), any::<u8>()).prop_map(|(actor, contact)| Step::LogNote { actor, contact }),
        (any::<u8>(), any::<u8>(), any::<u8>())
            .prop_map(|(actor, deal, owner)| Step::AssignOwner { actor, deal, owner }),
        (any::<u8>(), any::<u8>(), any::<u8>()).prop_map(|(actor, from, to)| Step::Reassign {
            actor,
            from,
            to
        }),
    ]
}

fn pick<T: Copy>(items: &[T], index: u8) -> Option<T> {
    (!items.is_empty()).then(|| items[index as usize % items.len()])
}

fn eur(cents: u32) -> Money {
    Money::new(Decimal::new(cents as i64, 2), "EUR".parse().unwrap())
}

/// Turns a step into a command for the current state; `None` when nothing fits yet.
fn command(shop: &Shop, step: &Step) -> Option<(Actor, Command)> {
    let state = shop.crm.state();
    let users = shop.users();
    let contacts: Vec<ContactId> = state.contacts().keys().copied().collect();
    let deals: Vec<DealId> = state.deals().keys().copied().collect();
    let tasks: Vec<TaskId> = state.tasks().keys().copied().collect();
    let actor = |index: u8| Actor::User(pick(&users, index).unwrap());
    Some(match *step {
        Step::CreateContact { actor: a, phone } => {
            let phones = if phone {
                vec!["+49 30 1234567".into()]
            } else {
                vec!["12".into()]
            };
            (
                actor(a),
                Command::CreateContact(NewContact {
                    name: "Client".into(),
                    phones,
                    ..Default::default()
                }),
            )
        }
        Step::CreateDeal {
            actor: a,
            contact,
            cents,
        } => (
            actor(a),
            Command::CreateDeal(NewDeal {
                title: "Windows".into(),
                pipeline: Some(shop.pipeline),
                contact: pick(&contacts, contact),
                amount: Some(eur(cents)),
                ..Default::default()
            }),
        ),
        Step::MoveDeal {
            actor: a,
            deal,
            stage,
            reason,
        } => (
            actor(a),
            Command::MoveDeal(DealMove {
                id: pick(&deals, deal)?,
                stage: pick(&shop.stages, stage)?,
                lost_reason: reason.then(|| "No answer".to_string()),
            }),
        ),
        Step::UpdateDeal {
            actor: a,
            deal,
            cents,
        } => (
            actor(a),
            Command::UpdateDeal(Update {
                id: pick(&deals, deal)?,
                patch: DealPatch {
                    amount: Some(Some(eur(cents))),
                    ..Default::default()
                },
            }),
        ),
        Step::CreateTask {
            actor: a,
            assignee,
            deal,
            due,
        } => (
            actor(a),
            Command::CreateTask(NewTask {
                title: "Call".into(),
                assignee: pick(&users, assignee),
                due: Some(at(0) + Duration::minutes(due as i64)),
                link: pick(&deals, deal).map(AnyId::from),
                ..Default::default()
            }),
        ),
        Step::CompleteTask { actor: a, task } => (
            actor(a),
            Command::CompleteTask(TaskCompletion {
                id: pick(&tasks, task)?,
                outcome: None,
                fields: Default::default(),
            }),
        ),
        Step::LogNote { actor: a, contact } => (
            actor(a),
            Command::LogActivity(NewActivity {
                kind: ActivityKind::Note,
                link: pick(&contacts, contact)?.into(),
                direction: None,
                subject: None,
                body: Some("note".into()),
                duration_seconds: None,
                outcome: None,
                occurred_at: None,
            }),
        ),
        Step::AssignOwner {
            actor: a,
            deal,
            owner,
        } => (
            actor(a),
            Command::AssignOwner(OwnerAssignment {
                record: pick(&deals, deal)?.into(),
                owner: pick(&users, owner)?,
            }),
        ),
        Step::Reassign { actor: a, from, to } => (
            actor(a),
            Command::ReassignOwner(OwnerHandover {
                from: pick(&users, from)?,
                to: pick(&users, to)?,
            }),
        ),
    })
}

fn shop_after(steps: &[Step]) -> Shop {
    let mut shop = Shop::new();
    for (minute, step) in steps.iter().enumerate() {
        if let Some((actor, command)) = command(&shop, step) {
            let _ = shop.crm.execute(actor, at(10 + minute as i64), &command);
        }
    }
    shop
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// (a) Replaying the journal rebuilds exactly the live state.
    #[test]
    fn replay_equals_live_state(steps in prop::collection::vec(step(), 1..60)) {
        let shop = shop_after(&steps);
        let events = shop.crm.events_since(1).unwrap();
        let replayed = Crm::replay(shop.crm.replica(), shop.crm.options().clone(), events).unwrap();
        prop_assert_eq!(
            serde_json::to_string(replayed.state()).unwrap(),
            serde_json::to_string(shop.crm.state()).unwrap()
        );
    }

    /// (b) A refused command leaves state and journal byte-identical; an accepted one
    /// appends exactly its events.
    #[test]
    fn refused_commands_change_nothing(steps in prop::collection::vec(step(), 1..60)) {
        let mut shop = Shop::new();
        for (minute, step) in steps.iter().enumerate() {
            let Some((actor, command)) = command(&shop, step) else { continue };
            let before = shop.snapshot();
            let journal_len = shop.crm.journal().events().len();
            match shop.crm.execute(actor, at(10 + minute as i64), &command) {
                Err(_) => prop_assert_eq!(shop.snapshot(), before),
                Ok(outcome) => prop_assert_eq!(shop.crm.journal().events().len(), journal_len + outcome.events.len()),
            }
        }
    }

    /// (c) Sums are exact (compared with integer cents) and never mix currencies.
    #[test]
    fn money_is_exact_and_never_mixes(cents in prop::collection::vec(-1_000_000_000i64..1_000_000_000, 0..50), other in 0usize..50) {
        let eur: Currency = "EUR".parse().unwrap();
        let amounts: Vec<Money> = cents.iter().map(|c| Money::new(Decimal::new(*c, 2), eur)).collect();
        let total = Money::sum(eur, &amounts).unwrap();
        prop_assert_eq!(total.amount(), Decimal::new(cents.iter().sum::<i64>(), 2));
        let mut mixed = amounts.clone();
        mixed.insert(other.min(mixed.len()), Money::parse("1.00", "USD").unwrap());
        let err = Money::sum(eur, &mixed).unwrap_err();
        prop_assert_eq!(err.code(), "currency_mismatch");
        if let Some(first) = amounts.first() {
            let parts = first.allocate(3).unwrap();
            prop_assert_eq!(Money::sum(eur, &parts).unwrap(), *first);
        }
    }
}

/// Valid commands as JSON, to be broken by the mutations below.
fn command_templates(shop: &Shop) -> Vec<String> {
    let deal = shop
        .crm
        .state()
        .deals()
        .keys()
        .next()
        .map(|d| d.to_string())
        .unwrap_or_else(|| "deal-1-999".into());
    vec![
        r#"{"type":"create_contact","name":"Anna","phones":["030 1234567"],"emails":["a@b.de"],"tags":["vip"]}"#.into(),
        format!(r#"{{"type":"create_deal","title":"Windows","pipeline":"{}","amount":{{"amount":"10.50","currency":"EUR"}}}}"#, shop.pipeline),
        format!(r#"{{"type":"move_deal","id":"{deal}","stage":"{}","lost_reason":"No answer"}}"#, shop.stages[4]),
        format!(r#"{{"type":"update_deal","id":"{deal}","patch":{{"title":"X","amount":null,"custom":{{}}}}}}"#),
        format!(r#"{{"type":"create_task","title":"Call","due":"2026-11-27T10:00:00+03:00","link":"{deal}"}}"#),
        r#"{"type":"create_pipeline","name":"P","stages":[{"name":"A","probability":5},{"name":"W","kind":"won"}]}"#.into(),
        format!(r#"{{"type":"reassign_owner","from":"{}","to":"{}"}}"#, shop.anna, shop.boris),
    ]
}

#[derive(Clone, Debug)]
enum Mutation {
    Delete(usize),
    Insert(usize, char),
    Replace(usize, char),
    SwapValue(usize, &'static str),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let odd_values = prop::sample::select(vec![
        "null",
        "true",
        "-1",
        "1e308",
        "18446744073709551616",
        "\"\"",
        "[]",
        "{}",
        "\"\\u0000\"",
        "\"deal-1-1\"",
        "\"usr-99-99\"",
        "\"2026-13-45T99:00:00Z\"",
        "\"9999999999999999999999999999.99\"",
    ]);
    prop_oneof![
        any::<usize>().prop_map(Mutation::Delete),
        (
            any::<usize>(),
            prop::sample::select(vec![
                '"',
                '{',
                '}',
                '[',
                ']',
                ',',
                ':',
                '\\',
                '0',
                'é',
                '\u{1F600}'
            ])
        )
            .prop_map(|(i, c)| Mutation::Insert(i, c)),
        (any::<usize>(), any::<char>()).prop_map(|(i, c)| Mutation::Replace(i, c)),
        (any::<usize>(), odd_values).prop_map(|(i, v)| Mutation::SwapValue(i, v)),
    ]
}

fn mutate(text: &str, mutation: &Mutation) -> String {
    let chars: Vec<char> = text.chars().collect();
    let at = |i: usize| i % (chars.len() + 1);
    let mut out = chars.clone();
    match *mutation {
        Mutation::Delete(i) if !chars.is_empty() => {
            out.remove(i % chars.len());
        }
        Mutation::Delete(_) => {}
        Mutation::Insert(i, c) => out.insert(at(i), c),
        Mutation::Replace(i, c) if !chars.is_empty() => out[i % chars.len()] = c,
        Mutation::Replace(..) => {}
        Mutation::SwapValue(i, value) => {
            // Replace the value after the i-th colon (up to the next , or }) with an odd one.
            let colons: Vec<usize> = chars
                .iter()
                .enumerate()
                .filter(|(_, c)| **c == ':')
                .map(|(i, _)| i)
                .collect();
            if let Some(&colon) = colons.get(i % colons.len().max(1)) {
                let end = (colon + 1..chars.len())
                    .find(|&j| chars[j] == ',' || chars[j] == '}')
                    .unwrap_or(chars.len());
                out = chars[..=colon]
                    .iter()
                    .copied()
                    .chain(value.chars())
                    .chain(chars[end..].iter().copied())
                    .collect();
            }
        }
    }
    out.into_iter().collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Broken input never panics: it is applied, or refused with a known code and
    /// state and journal untouched.
    #[test]
    fn broken_json_is_refused_cleanly(template in 0usize..7, mutations in prop::collection::vec(mutation(), 1..4), actor in 0u8..6) {
        let mut shop = shop_after(&[Step::CreateDeal { actor: 2, contact: 0, cents: 100 }]);
        let actor = pick(&shop.users(), actor).unwrap().to_string();
        let mut text = command_templates(&shop)[template].clone();
        for mutation in &mutations {
            text = mutate(&text, mutation);
        }
        let before = shop.snapshot();
        match shop.crm.execute_json(&actor, "2026-11-27T12:00:00Z", &text) {
            Ok(_) => {}
            Err(err) => {
                prop_assert!(CrmError::CODES.contains(&err.code()), "{err:?}");
                prop_assert!(!err.to_string().is_empty());
                prop_assert_eq!(shop.snapshot(), before);
            }
        }
    }
}
