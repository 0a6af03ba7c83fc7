//! Command execution (with validation and access checks), a list query, and replay.
//! Run: `cargo bench -p crm-core --bench engine`; figures go in docs/performance.md.

use std::hint::black_box;
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use crm_core::*;

struct Fixture {
    crm: Crm,
    managers: Vec<UserId>,
    pipeline: PipelineId,
    stages: Vec<StageId>,
}

fn t0() -> DateTime<Utc> {
    "2026-11-27T09:00:00Z".parse().unwrap()
}

fn created<T: TryFrom<AnyId, Error = CrmError>>(outcome: Outcome) -> T {
    outcome.created_id().unwrap()
}

/// An admin, a head of sales, 10 managers, a 6-stage pipeline, and `deals` deals
/// (each with its contact) spread over the managers.
fn fixture(deals: usize) -> Fixture {
    let mut crm = Crm::new(
        ReplicaId::new(1).unwrap(),
        CrmOptions {
            default_region: Some("DE".into()),
            ..CrmOptions::default()
        },
    )
    .unwrap();
    let user = |crm: &mut Crm, name: String, role, department| -> UserId {
        let input = NewUser {
            name,
            email: None,
            role,
            department,
            specialty: None,
        };
        created(
            crm.execute(Actor::System, t0(), &Command::CreateUser(input))
                .unwrap(),
        )
    };
    let admin = user(&mut crm, "Admin".into(), Role::Admin, None);
    let sales: DepartmentId = created(
        crm.execute(
            Actor::System,
            t0(),
            &Command::CreateDepartment(NewDepartment {
                name: "Sales".into(),
            }),
        )
        .unwrap(),
    );
    user(&mut crm, "Head".into(), Role::HeadOfDepartment, Some(sales));
    let managers: Vec<UserId> = (0..10)
        .map(|i| user(&mut crm, format!("Manager {i}"), Role::Manager, Some(sales)))
        .collect();
    let stages = ["New", "Clarify", "Measure", "Agree"]
        .iter()
        .map(|n| NewStage::open(n))
        .chain([NewStage::won("Done"), NewStage::lost("Lost")])
        .collect();
    let pipeline: PipelineId = created(
        crm.execute(
            Actor::User(admin),
            t0(),
            &Command::CreatePipeline(NewPipeline {
                name: "Windows".into(),
                stages,
                lost_reasons: vec![],
            }),
        )
        .unwrap(),
    );
    let stages = crm.state().pipelines()[&pipeline]
        .stages
        .iter()
        .map(|s| s.id)
        .collect();
    let mut fixture = Fixture {
        crm,
        managers,
        pipeline,
        stages,
    };
    for i in 0..deals {
        let manager = fixture.managers[i % 10];
        let contact = fixture.contact(manager, i);
        fixture.deal(manager, contact, i);
    }
    fixture
}

impl Fixture {
    fn contact(&mut self, manager: UserId, i: usize) -> ContactId {
        let input = NewContact {
            name: format!("Client {i}"),
            phones: vec![format!("030 {:07}", 1_000_000 + i % 8_000_000)],
            emails: vec![format!("client{i}@example.com")],
            ..NewContact::default()
        };
        created(
            self.crm
                .execute(
                    Actor::User(manager),
                    t0() + Duration::seconds(i as i64),
                    &Command::CreateContact(input),
                )
                .unwrap(),
        )
    }

    fn deal(&mut self, manager: UserId, contact: ContactId, i: usize) -> DealId {
        let input = NewDeal {
            title: format!("Windows {i}"),
            pipeline: Some(self.pipeline),
            contact: Some(contact),
            amount: Some(Money::parse("1250.00", "EUR").unwrap()),
            ..NewDeal::default()
        };
        created(
            self.crm
                .execute(
                    Actor::User(manager),
                    t0() + Duration::seconds(i as i64),
                    &Command::CreateDeal(input),
                )
                .unwrap(),
        )
    }
}

fn commands(c: &mut Criterion) {
    let mut group = c.benchmark_group("execute");
    group.throughput(Throughput::Elements(1));
    let mut f = fixture(10_000);
    let mut i = 10_000;
    group.bench_function("create_contact", |b| {
        b.iter(|| {
            i += 1;
            black_box(f.contact(f.managers[i % 10], i))
        })
    });
    let contact = f.contact(f.managers[0], 0);
    group.bench_function("create_deal", |b| {
        b.iter(|| {
            i += 1;
            black_box(f.deal(f.managers[0], contact, i))
        })
    });
    let deal = f.deal(f.managers[0], contact, 0);
    let (clarify, measure) = (f.stages[1], f.stages[2]);
    let mut flip = false;
    group.bench_function("move_deal", |b| {
        b.iter(|| {
            flip = !flip;
            let stage = if flip { clarify } else { measure };
            let command = Command::MoveDeal(DealMove {
                id: deal,
                stage,
                lost_reason: None,
            });
            black_box(
                f.crm
                    .execute(Actor::User(f.managers[0]), t0(), &command)
                    .unwrap(),
            )
        })
    });
    let actor = f.managers[3].to_string();
    group.bench_function("create_contact_json", |b| {
        b.iter(|| {
            let command = r#"{"type":"create_contact","name":"Anna","phones":["030 1234567"],"emails":["anna@example.com"]}"#;
            black_box(f.crm.execute_json(&actor, "2026-11-27T09:00:00Z", command).unwrap())
        })
    });
    // What the JSON entry point adds to `execute` on its own: reading the command's text
    // and writing the outcome's. A binding's raw JSON call pays it; Rust's `execute`
    // does not (docs/performance.md compares the typed Python call with both).
    let text = r#"{"type":"create_contact","name":"Anna","phones":["030 1234567"],"tags":["web"]}"#;
    let outcome = f
        .crm
        .execute(Actor::User(f.managers[3]), t0(), &text.parse().unwrap())
        .unwrap();
    group.bench_function("create_contact_json_only", |b| {
        b.iter(|| {
            let command: Command = black_box(text).parse().unwrap();
            black_box((command, serde_json::to_string(&outcome).unwrap()))
        })
    });
    group.finish();

    let f = fixture(10_000);
    let mut group = c.benchmark_group("query");
    group.bench_function("list_deals_manager_of_10k", |b| {
        b.iter(|| {
            black_box(
                f.crm
                    .deals(Actor::User(f.managers[5]), &DealFilter::default())
                    .unwrap()
                    .total,
            )
        })
    });
    group.finish();
}

fn replay(c: &mut Criterion) {
    let f = fixture(10_000);
    let events = f.crm.events_since(1).unwrap();
    let mut group = c.benchmark_group("replay");
    group.throughput(Throughput::Elements(events.len() as u64));
    group.sample_size(10);
    group.bench_function("20k_events", |b| {
        b.iter_batched(
            || events.clone(),
            |events| {
                black_box(
                    Crm::replay(ReplicaId::new(1).unwrap(), CrmOptions::default(), events).unwrap(),
                )
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

/// Rule evaluation whose cost must not grow with a record's history or the CRM's size
/// (the hardening issue): a rule on a deal with few or many completed tasks, a
/// `{"role": …}` assignee among few or many open tasks, and a rule that fans out.
/// How many events the long-lived records of the `history` group have behind them.
const LONG_HISTORY: usize = 100_000;

/// One command on a record with a short history beside the same on one with
/// [`LONG_HISTORY`] events behind it: a deal moved back and forth, a contact with its
/// calls logged. The two figures of each pair should match (an event's cost must not
/// grow with any history).
fn history(c: &mut Criterion) {
    let mut f = fixture(100);
    let manager = Actor::User(f.managers[0]);
    let (clarify, measure) = (f.stages[1], f.stages[2]);
    let mut moves = 0usize;
    let mut move_deal = |f: &mut Fixture, deal: DealId| {
        moves += 1;
        let stage = if f.crm.state().deals()[&deal].stage == clarify {
            measure
        } else {
            clarify
        };
        let command = Command::MoveDeal(DealMove {
            id: deal,
            stage,
            lost_reason: None,
        });
        let at = t0() + Duration::seconds(moves as i64);
        f.crm.execute(manager, at, &command).unwrap()
    };
    let log_call = |f: &mut Fixture, contact: ContactId| {
        let command = Command::LogActivity(NewActivity {
            kind: ActivityKind::Call,
            link: contact.into(),
            direction: Some(Direction::Outbound),
            subject: None,
            body: None,
            duration_seconds: Some(60),
            outcome: None,
            occurred_at: None,
        });
        f.crm.execute(manager, t0(), &command).unwrap()
    };
    let long_client = f.contact(f.managers[0], 1_000_002);
    let long_deal = f.deal(f.managers[0], long_client, 1_000_002);
    for _ in 0..LONG_HISTORY {
        move_deal(&mut f, long_deal);
        log_call(&mut f, long_client);
    }
    // A wholesaler's client with ten thousand orders: a move of one of them.
    let big_client = f.contact(f.managers[0], 1_000_003);
    let big_deals: Vec<DealId> = (0..10_000)
        .map(|i| f.deal(f.managers[0], big_client, 3_000_000 + i))
        .collect();
    let mut group = c.benchmark_group("history");
    // The first move of a new deal each time, of a new client (both made outside the
    // timing: a client's other deals are touched by a move, which is another cost).
    let mut fresh = 2_000_000;
    group.bench_function("move_deal_first", |b| {
        b.iter_custom(|iterations| {
            let deals: Vec<DealId> = (0..iterations)
                .map(|_| {
                    fresh += 1;
                    let client = f.contact(f.managers[0], fresh);
                    f.deal(f.managers[0], client, fresh)
                })
                .collect();
            let start = Instant::now();
            for deal in deals {
                black_box(move_deal(&mut f, deal));
            }
            start.elapsed()
        })
    });
    group.bench_function("move_deal_after_100k_moves", |b| {
        b.iter(|| black_box(move_deal(&mut f, long_deal)))
    });
    group.bench_function("move_deal_of_a_client_with_10k_deals", |b| {
        b.iter(|| black_box(move_deal(&mut f, big_deals[0])))
    });
    group.bench_function("log_call_first", |b| {
        b.iter_custom(|iterations| {
            let contacts: Vec<ContactId> = (0..iterations)
                .map(|_| {
                    fresh += 1;
                    f.contact(f.managers[0], fresh)
                })
                .collect();
            let start = Instant::now();
            for contact in contacts {
                black_box(log_call(&mut f, contact));
            }
            start.elapsed()
        })
    });
    group.bench_function("log_call_after_100k_calls", |b| {
        b.iter(|| black_box(log_call(&mut f, long_client)))
    });
    // A business with a hundred thousand open tasks, each a pending timer: every event
    // on a deal recomputes that deal's timers, which must not look at everyone else's.
    for n in 0..LONG_HISTORY {
        let command = Command::CreateTask(NewTask {
            title: format!("Call back {n}"),
            due: Some(t0() + Duration::days(30)),
            ..NewTask::default()
        });
        f.crm.execute(manager, t0(), &command).unwrap();
    }
    group.bench_function("move_deal_among_100k_pending_timers", |b| {
        b.iter(|| black_box(move_deal(&mut f, big_deals[1])))
    });
    group.finish();
}

fn rules(c: &mut Criterion) {
    let mut group = c.benchmark_group("rules");
    group.throughput(Throughput::Elements(1));
    for tasks in [10usize, 5_000] {
        let mut f = fixture(100);
        let (manager, deal) = (f.managers[0], *f.crm.state().deals().keys().next().unwrap());
        for n in 0..tasks {
            let task: TaskId = created(
                f.crm
                    .execute(
                        Actor::User(manager),
                        t0(),
                        &Command::CreateTask(NewTask {
                            title: format!("Visit {n}"),
                            kind: Some("measurement".into()),
                            link: Some(deal.into()),
                            ..NewTask::default()
                        }),
                    )
                    .unwrap(),
            );
            let done = Command::CompleteTask(TaskCompletion {
                id: task,
                outcome: Some("done".into()),
                fields: Default::default(),
            });
            f.crm.execute(Actor::User(manager), t0(), &done).unwrap();
        }
        let rules = r#"{"type": "define_rules", "rules": [{"key": "check", "when": {"type": "field_changed", "record": "deal", "field": "title"},
            "if": {"field": "results.measurement.outcome", "eq": "done"},
            "then": [{"type": "notify", "to": "owner", "text": "{{ deal.title }}"}]}]}"#;
        f.crm
            .execute_json("system", "2026-11-27T09:00:00Z", rules)
            .unwrap();
        let mut n = 0;
        group.bench_function(format!("deal_with_{tasks}_done_tasks"), |b| {
            b.iter(|| {
                n += 1;
                let command = Command::UpdateDeal(Update {
                    id: deal,
                    patch: DealPatch {
                        title: Some(format!("Windows {n}")),
                        ..DealPatch::default()
                    },
                });
                black_box(f.crm.execute(Actor::User(manager), t0(), &command).unwrap())
            })
        });
    }
    for open in [10usize, 20_000] {
        let mut f = fixture(100);
        let manager = f.managers[0];
        for n in 0..open {
            let command = Command::CreateTask(NewTask {
                title: format!("Call {n}"),
                assignee: Some(f.managers[n % 10]),
                ..NewTask::default()
            });
            f.crm.execute(Actor::System, t0(), &command).unwrap();
        }
        let rules = r#"{"type": "define_rules", "rules": [{"key": "least_busy", "when": {"type": "record_created", "record": "contact"},
            "then": [{"type": "create_task", "title": "Call {{ contact.name }}", "assignee": {"role": "manager"}}]}]}"#;
        f.crm
            .execute_json("system", "2026-11-27T09:00:00Z", rules)
            .unwrap();
        let mut i = 100;
        group.bench_function(format!("role_assignee_among_{open}_open_tasks"), |b| {
            b.iter(|| {
                i += 1;
                black_box(f.contact(manager, i))
            })
        });
    }
    let mut f = fixture(10);
    let fan = r#"{"type": "create_task", "title": "Again", "assignee": "owner"}"#;
    let rules = format!(
        r#"{{"type": "define_rules", "rules": [{{"key": "fan", "when": {{"type": "record_created", "record": "task"}}, "then": [{fan}, {fan}, {fan}, {fan}]}}]}}"#
    );
    f.crm
        .execute_json("system", "2026-11-27T09:00:00Z", &rules)
        .unwrap();
    let manager = f.managers[0];
    group.sample_size(10);
    group.bench_function("fan_out_4_stopped_at_the_event_budget", |b| {
        b.iter_batched(
            || f.crm.clone(),
            |mut crm| {
                let command = Command::CreateTask(NewTask {
                    title: "Call".into(),
                    ..NewTask::default()
                });
                black_box(crm.execute(Actor::User(manager), t0(), &command).unwrap())
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, commands, replay, rules, history);
criterion_main!(benches);
