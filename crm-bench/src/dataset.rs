//! The generator: a two-year timeline of a shop with twelve managers in two
//! departments, a sales and a service pipeline. Each deal's life — stage moves, its
//! first call and a follow-up task, calls, e-mails and notes, payments — is planned when
//! the deal is created and queued by time, so commands reach the engine in time order
//! and only the deals in flight are held in memory.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use chrono::{DateTime, Duration, Utc};
use crm_core::{Command, Crm, CrmError, CrmOptions, ReplicaId};
use serde_json::{json, Value};

/// The first and last instant of the history.
pub const START: &str = "2025-01-01T07:00:00Z";
pub const END: &str = "2026-12-31T18:00:00Z";

const MANAGERS: usize = 12;
const ADMIN: &str = "usr-1-1";

/// The engine after the history, and the IDs of what the generator set up.
#[derive(Debug)]
pub struct Shop {
    pub crm: Crm,
    /// The instant after the last command.
    pub now: DateTime<Utc>,
    pub managers: Vec<String>,
    pub departments: Vec<String>,
    /// Commands executed.
    pub commands: u64,
}

/// SplitMix64: small, fast, and the same numbers on every platform.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn minutes(&mut self, low: i64, high: i64) -> Duration {
        Duration::minutes(low + self.below((high - low).max(1) as u64) as i64)
    }
}

/// Something to do at a time; the sequence number keeps equal times in plan order.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Pending {
    at: DateTime<Utc>,
    seq: u64,
    actor: String,
    command: Step,
}

/// A command whose JSON may need IDs known only once the deal exists.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Step {
    /// The n-th deal: a contact (new or returning) and the deal, then its life.
    Deal(u64),
    /// A command about deal `deal` (its index), with `"$deal"`/`"$client"`/`"$task"`
    /// standing for the IDs.
    About { deal: usize, command: String },
}

/// Generates and executes a history of `deals` deals (seeded), returning the engine.
pub fn load(deals: u64, seed: u64) -> Result<Shop, CrmError> {
    let mut crm = Crm::new(ReplicaId::new(1)?, CrmOptions::default())?;
    let start = crm_core::parse_now(START)?;
    let end = crm_core::parse_now(END)?;
    let mut commands = 0;
    let mut run = |crm: &mut Crm, actor: &str, at: DateTime<Utc>, command: Value| {
        commands += 1;
        let command: Command = command.to_string().parse()?;
        let outcome = crm.execute(actor.parse()?, at, &command)?;
        Ok::<_, CrmError>(outcome.created.map(|id| id.to_string()))
    };
    let mut setup = vec![
        (
            "system",
            json!({"type": "create_user", "name": "Olga", "role": "admin"}),
        ),
        (
            ADMIN,
            json!({"type": "set_calendar", "time_zone": "Europe/Berlin",
            "working_days": ["mon", "tue", "wed", "thu", "fri"], "hours": [{"from": "09:00", "to": "18:00"}]}),
        ),
        (
            ADMIN,
            json!({"type": "create_department", "name": "Retail"}),
        ),
        (
            ADMIN,
            json!({"type": "create_department", "name": "Projects"}),
        ),
    ];
    for (index, department) in ["dep-1-2", "dep-1-3"].iter().enumerate() {
        setup.push((
            ADMIN,
            json!({"type": "create_user", "name": format!("Head {}", index + 1),
            "role": "head_of_department", "department": department}),
        ));
    }
    for n in 0..MANAGERS {
        setup.push((
            ADMIN,
            json!({"type": "create_user", "name": format!("Manager {}", n + 1),
            "role": "manager", "department": if n % 2 == 0 { "dep-1-2" } else { "dep-1-3" }}),
        ));
    }
    setup.push((ADMIN, json!({"type": "create_pipeline", "name": "Sales",
        "lost_reasons": ["Too expensive", "No answer", "Chose a competitor", "Not needed"],
        "stages": [{"name": "New"}, {"name": "Qualified"}, {"name": "Proposal"}, {"name": "Negotiation"},
                   {"name": "Won", "kind": "won"}, {"name": "Lost", "kind": "lost"}]})));
    setup.push((
        ADMIN,
        json!({"type": "create_pipeline", "name": "Service",
        "stages": [{"name": "Request"}, {"name": "Visit"}, {"name": "Done", "kind": "won"},
                   {"name": "Cancelled", "kind": "lost"}]}),
    ));
    let mut created = Vec::new();
    for (actor, command) in setup {
        created.push(run(&mut crm, actor, start, command)?);
    }
    let managers: Vec<String> = (0..MANAGERS).map(|n| format!("usr-1-{}", 6 + n)).collect();
    let pipelines = [
        created[created.len() - 2].clone(),
        created[created.len() - 1].clone(),
    ];
    let stages = |pipeline: usize| -> Result<Vec<String>, CrmError> {
        let id: crm_core::PipelineId = pipelines[pipeline]
            .as_ref()
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| missing("pipeline"))?;
        let pipeline = crm
            .state()
            .pipelines()
            .get(&id)
            .ok_or_else(|| missing("pipeline"))?;
        Ok(pipeline.stages.iter().map(|s| s.id.to_string()).collect())
    };
    let stage_ids = [stages(0)?, stages(1)?];

    let mut random = Random(seed);
    let mut queue: BinaryHeap<Reverse<Pending>> = BinaryHeap::new();
    let mut seq = 0;
    let span = (end - start).num_seconds();
    for n in 0..deals {
        let at = start
            + Duration::seconds(span * n as i64 / deals.max(1) as i64 + random.below(3_600) as i64);
        seq += 1;
        queue.push(Reverse(Pending {
            at,
            seq,
            actor: String::new(),
            command: Step::Deal(n),
        }));
    }
    // Per deal: its ID, its client and its tasks, filled in as they are created.
    let mut deal_ids: Vec<(String, String, Vec<String>)> = Vec::new();
    let mut clients: Vec<(String, String)> = Vec::new(); // (contact, owner)
    let sources = ["website", "phone", "referral", "walk-in", "exhibition"];
    let reasons = [
        "Too expensive",
        "No answer",
        "Chose a competitor",
        "Not needed",
    ];
    while let Some(Reverse(pending)) = queue.pop() {
        if pending.at > end {
            continue;
        }
        match pending.command {
            Step::About { deal, command } => {
                let (deal_id, client, tasks) = &deal_ids[deal];
                let mut text = command.replace("$deal", deal_id).replace("$client", client);
                for (index, task) in tasks.iter().enumerate() {
                    text = text.replace(&format!("$task{index}"), task);
                }
                let value: Value =
                    serde_json::from_str(&text).map_err(|err| CrmError::Malformed {
                        path: "generated command".into(),
                        reason: err.to_string(),
                    })?;
                let id = run(&mut crm, &pending.actor, pending.at, value)?;
                if let Some(task) = id.filter(|id| id.starts_with("task-")) {
                    deal_ids[deal].2.push(task);
                }
            }
            Step::Deal(n) => {
                let at = pending.at;
                let owner = managers[random.below(MANAGERS as u64) as usize].clone();
                let source = sources[random.below(sources.len() as u64) as usize];
                // Every other deal is a new client (N/2 contacts), every fifth new client
                // comes with a new company (N/10 companies).
                let (client, owner) = if n % 2 == 0 || clients.is_empty() {
                    let company = if n % 10 == 0 {
                        run(
                            &mut crm,
                            &owner,
                            at,
                            json!({"type": "create_company",
                            "name": format!("Company {}", n / 10 + 1), "owner": owner}),
                        )?
                    } else {
                        None
                    };
                    let contact = run(
                        &mut crm,
                        &owner,
                        at,
                        json!({"type": "create_contact", "name": format!("Client {}", n / 2 + 1),
                        "company": company, "source": source, "owner": owner}),
                    )?
                    .ok_or_else(|| missing("contact"))?;
                    clients.push((contact.clone(), owner.clone()));
                    (contact, owner)
                } else {
                    clients[random.below(clients.len() as u64) as usize].clone()
                };
                let pipeline = usize::from(random.chance(20));
                let currency = if random.chance(10) { "USD" } else { "EUR" };
                let cents = 10_000 + random.below(1_990_000);
                let amount = format!("{}.{:02}", cents / 100, cents % 100);
                let close = (at + Duration::days(14 + random.below(120) as i64)).date_naive();
                let deal = run(&mut crm, &owner, at, json!({"type": "create_deal", "title": format!("Deal {}", n + 1),
                    "pipeline": pipelines[pipeline], "contact": client, "owner": owner, "source": source,
                    "amount": {"amount": amount, "currency": currency}, "expected_close": close}))?.ok_or_else(|| missing("deal"))?;
                let index = deal_ids.len();
                deal_ids.push((deal, client, Vec::new()));
                let mut plan = |at: DateTime<Utc>, actor: &str, command: Value| {
                    seq += 1;
                    queue.push(Reverse(Pending {
                        at,
                        seq,
                        actor: actor.to_string(),
                        command: Step::About {
                            deal: index,
                            command: command.to_string(),
                        },
                    }));
                };
                // The first call: a task due in 15 minutes, done within an hour or so.
                plan(
                    at,
                    &owner,
                    json!({"type": "create_task", "title": "First call", "kind": "call",
                    "link": "$deal", "due": at + Duration::minutes(15)}),
                );
                let called = at + random.minutes(3, 90);
                plan(
                    called,
                    &owner,
                    json!({"type": "complete_task", "id": "$task0", "outcome": "reached"}),
                );
                plan(
                    called,
                    &owner,
                    json!({"type": "log_activity", "kind": "call", "direction": "outbound",
                    "link": "$deal", "duration_seconds": 60 + random.below(600), "occurred_at": called}),
                );
                // Its path: won 25 %, lost 35 %, still open 40 %.
                let ids = &stage_ids[pipeline];
                let open = ids.len() - 2;
                let fate = random.below(100);
                let steps: Vec<usize> = if fate < 25 {
                    (1..open).chain([open]).collect()
                } else if fate < 60 {
                    (1..=random.below(open as u64) as usize)
                        .chain([open + 1])
                        .collect()
                } else {
                    (1..=random.below(open as u64) as usize).collect()
                };
                let mut when = at;
                for stage in steps {
                    when += random.minutes(60 * 4, 60 * 24 * 9);
                    let mut command =
                        json!({"type": "move_deal", "id": "$deal", "stage": ids[stage]});
                    if stage == open + 1 {
                        command["lost_reason"] = json!(reasons[random.below(4) as usize]);
                    }
                    plan(when, &owner, command);
                    if stage == open {
                        let paid = when + random.minutes(60, 60 * 24 * 5);
                        plan(
                            paid,
                            &owner,
                            json!({"type": "record_payment", "deal": "$deal",
                            "amount": {"amount": amount, "currency": currency}}),
                        );
                    }
                }
                // A follow-up task, done (sometimes late) or left open; four more activities.
                let due = at + random.minutes(60 * 24, 60 * 24 * 7);
                plan(
                    at + Duration::minutes(1),
                    &owner,
                    json!({"type": "create_task", "title": "Follow up",
                    "kind": "follow_up", "link": "$client", "due": due}),
                );
                if random.chance(70) {
                    // Done around its due time — sometimes late — but never before it exists.
                    let done =
                        (due + random.minutes(-60 * 24, 60 * 24)).max(at + Duration::minutes(10));
                    plan(
                        done,
                        &owner,
                        json!({"type": "complete_task", "id": "$task1", "outcome": "done"}),
                    );
                }
                for _ in 0..4 {
                    let kinds = [
                        ("email", "outbound"),
                        ("email", "inbound"),
                        ("call", "inbound"),
                        ("note", ""),
                        ("meeting", "outbound"),
                    ];
                    let (kind, direction) = kinds[random.below(kinds.len() as u64) as usize];
                    let happened = at + random.minutes(30, 60 * 24 * 30);
                    let mut command = json!({"type": "log_activity", "kind": kind, "subject": "Windows",
                        "link": if random.chance(50) { "$deal" } else { "$client" }, "occurred_at": happened});
                    if !direction.is_empty() {
                        command["direction"] = json!(direction);
                    }
                    plan(happened, &owner, command);
                }
            }
        }
    }
    Ok(Shop {
        crm,
        now: end,
        managers,
        departments: vec!["dep-1-2".into(), "dep-1-3".into()],
        commands,
    })
}

/// A command that should have created something did not (a generator bug, reported
/// rather than panicking).
fn missing(what: &str) -> CrmError {
    CrmError::validation("generator", format!("no {what} was created"))
}
