//! Command execution (with validation and access checks), a list query, and replay.
//! Run: `cargo bench -p crm-core --bench engine`; figures go in docs/performance.md.

use std::hint::black_box;

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
    let stages = crm.state().pipelines[&pipeline]
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

criterion_group!(benches, commands, replay);
criterion_main!(benches);
