//! Reports over random histories: the aggregates kept as events are applied equal the
//! aggregates built from scratch over the state, after every step — through deals
//! created for clients, moved (won, lost, reopened), repriced, handed over, paid and
//! refunded; tasks created, completed late or in time, cancelled and reassigned;
//! calls and e-mails logged on deals and clients; and a change of the business time
//! zone, which moves every business day.

use chrono::{DateTime, Duration, Utc};
use crm_core::*;
use proptest::prelude::*;
use serde_json::{json, Value};

fn start() -> DateTime<Utc> {
    parse_now("2026-03-27T21:30:00Z").unwrap()
}

const ADMIN: &str = "usr-1-1";
const OWNERS: [&str; 3] = ["usr-1-4", "usr-1-5", "usr-1-6"];
const CURRENCIES: [&str; 2] = ["EUR", "USD"];
const SOURCES: [&str; 3] = ["website", "phone", "referral"];
const ZONES: [&str; 3] = ["UTC", "Europe/Moscow", "America/New_York"];

/// A department with a head and two managers, a manager outside it, two pipelines.
fn shop() -> Crm {
    let mut crm = Crm::new(ReplicaId::new(1).unwrap(), CrmOptions::default()).unwrap();
    let setup = [
        (
            "system",
            json!({"type": "create_user", "name": "Olga", "role": "admin"}),
        ),
        (
            ADMIN,
            json!({"type": "create_department", "name": "Retail"}),
        ),
        (
            ADMIN,
            json!({"type": "create_user", "name": "Rita", "role": "head_of_department", "department": "dep-1-2"}),
        ),
        (
            ADMIN,
            json!({"type": "create_user", "name": "Ivan", "role": "manager", "department": "dep-1-2"}),
        ),
        (
            ADMIN,
            json!({"type": "create_user", "name": "Anna", "role": "manager", "department": "dep-1-2"}),
        ),
        (
            ADMIN,
            json!({"type": "create_user", "name": "Petr", "role": "manager"}),
        ),
        (
            ADMIN,
            json!({"type": "create_pipeline", "name": "Sales", "stages": [
            {"name": "New"}, {"name": "Offer"}, {"name": "Contract"},
            {"name": "Won", "kind": "won"}, {"name": "Lost", "kind": "lost"}]}),
        ),
        (
            ADMIN,
            json!({"type": "create_pipeline", "name": "Repairs", "stages": [
            {"name": "Booked"}, {"name": "Done", "kind": "won"}, {"name": "Cancelled", "kind": "lost"}]}),
        ),
    ];
    for (actor, command) in setup {
        crm.execute_json(actor, &start().to_rfc3339(), &command.to_string())
            .unwrap();
    }
    crm
}

#[derive(Clone, Debug)]
enum Op {
    Create {
        pipeline: u8,
        owner: u8,
        amount: Option<(u32, u8)>,
        source: Option<u8>,
        close_in: Option<u8>,
        client: Option<u8>,
    },
    Move {
        deal: u8,
        stage: u8,
        reason: u8,
    },
    Reprice {
        deal: u8,
        amount: Option<(u32, u8)>,
    },
    HandOver {
        deal: u8,
        owner: u8,
    },
    Pay {
        deal: u8,
        cents: i32,
        days_ago: u8,
    },
    Source {
        deal: u8,
        source: Option<u8>,
    },
    Zone {
        zone: u8,
    },
    /// Links a deal to another client (or to none): the gaps between both clients'
    /// visits move.
    Relink {
        deal: u8,
        client: Option<u8>,
    },
    Client,
    Merge {
        into: u8,
        from: u8,
    },
    Unmerge {
        merged: u8,
    },
    Task {
        record: u8,
        on_client: bool,
        assignee: u8,
        due_in_hours: Option<u8>,
    },
    FinishTask {
        task: u8,
        how: u8,
    },
    Log {
        record: u8,
        on_client: bool,
        kind: u8,
        inbound: bool,
        hours_ago: u8,
    },
    /// Changes a pipeline's shape: adds a stage before another, swaps two stages, or
    /// archives one (its open deals moved to another).
    Reshape {
        pipeline: u8,
        how: u8,
        stage: u8,
        other: u8,
    },
    /// Moves a deal into a stage of any pipeline (another one, often).
    Transfer {
        deal: u8,
        pipeline: u8,
        stage: u8,
    },
    /// Archives a deal or its client, or restores it when archived.
    Archive {
        record: u8,
        on_client: bool,
    },
    /// Deletes a deal or its client (refused while payments or deals hang on it).
    Delete {
        record: u8,
        on_client: bool,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let amount = prop::option::of((1u32..5_000_000, any::<u8>()));
    prop_oneof![
        4 => (any::<u8>(), any::<u8>(), amount.clone(), prop::option::of(any::<u8>()), prop::option::of(0u8..120), prop::option::of(any::<u8>()))
            .prop_map(|(pipeline, owner, amount, source, close_in, client)| Op::Create { pipeline, owner, amount, source, close_in, client }),
        5 => (any::<u8>(), any::<u8>(), any::<u8>()).prop_map(|(deal, stage, reason)| Op::Move { deal, stage, reason }),
        1 => (any::<u8>(), amount).prop_map(|(deal, amount)| Op::Reprice { deal, amount }),
        1 => (any::<u8>(), any::<u8>()).prop_map(|(deal, owner)| Op::HandOver { deal, owner }),
        2 => (any::<u8>(), -200_000i32..2_000_000, 0u8..40).prop_map(|(deal, cents, days_ago)| Op::Pay { deal, cents, days_ago }),
        1 => (any::<u8>(), prop::option::of(any::<u8>())).prop_map(|(deal, source)| Op::Source { deal, source }),
        1 => any::<u8>().prop_map(|zone| Op::Zone { zone }),
        1 => (any::<u8>(), prop::option::of(any::<u8>())).prop_map(|(deal, client)| Op::Relink { deal, client }),
        1 => Just(Op::Client),
        1 => (any::<u8>(), any::<u8>()).prop_map(|(into, from)| Op::Merge { into, from }),
        1 => any::<u8>().prop_map(|merged| Op::Unmerge { merged }),
        2 => (any::<u8>(), any::<bool>(), any::<u8>(), prop::option::of(0u8..48))
            .prop_map(|(record, on_client, assignee, due_in_hours)| Op::Task { record, on_client, assignee, due_in_hours }),
        2 => (any::<u8>(), any::<u8>()).prop_map(|(task, how)| Op::FinishTask { task, how }),
        2 => (any::<u8>(), any::<bool>(), any::<u8>(), any::<bool>(), 0u8..48)
            .prop_map(|(record, on_client, kind, inbound, hours_ago)| Op::Log { record, on_client, kind, inbound, hours_ago }),
        1 => (any::<u8>(), any::<bool>()).prop_map(|(record, on_client)| Op::Archive { record, on_client }),
        1 => (any::<u8>(), any::<u8>(), any::<u8>(), any::<u8>()).prop_map(|(pipeline, how, stage, other)| Op::Reshape { pipeline, how, stage, other }),
        1 => (any::<u8>(), any::<u8>(), any::<u8>()).prop_map(|(deal, pipeline, stage)| Op::Transfer { deal, pipeline, stage }),
        1 => (any::<u8>(), any::<bool>()).prop_map(|(record, on_client)| Op::Delete { record, on_client }),
    ]
}

fn pick<T: Copy>(items: &[T], index: u8) -> Option<T> {
    (!items.is_empty()).then(|| items[index as usize % items.len()])
}

fn money(amount: Option<(u32, u8)>) -> Value {
    amount.map_or(Value::Null, |(cents, currency)| {
        json!({"amount": Decimal::new(i64::from(cents), 2).to_string(),
               "currency": pick(&CURRENCIES, currency).unwrap()})
    })
}

/// The command an op stands for now; `None` when there is nothing to act on.
fn command(crm: &Crm, now: DateTime<Utc>, op: &Op) -> Option<Value> {
    let state = crm.state();
    let deals: Vec<DealId> = state.deals().keys().copied().collect();
    let pipelines: Vec<PipelineId> = state.pipelines().keys().copied().collect();
    let clients: Vec<ContactId> = state.contacts().keys().copied().collect();
    let tasks: Vec<TaskId> = state.tasks().keys().copied().collect();
    // A deal, or its client when asked for and it has one.
    let record = |index: u8, on_client: bool| -> Option<Value> {
        let deal = &state.deals()[&pick(&deals, index)?];
        Some(match deal.fields.contact.filter(|_| on_client) {
            Some(client) => json!(client),
            None => json!(deal.id),
        })
    };
    Some(match op {
        Op::Create {
            pipeline,
            owner,
            amount,
            source,
            close_in,
            client,
        } => {
            let close = close_in.map(|days| (now + Duration::days(i64::from(days))).date_naive());
            json!({"type": "create_deal", "title": "Deal", "pipeline": pick(&pipelines, *pipeline)?,
                   "owner": pick(&OWNERS, *owner)?, "amount": money(*amount),
                   "source": source.and_then(|s| pick(&SOURCES, s)), "expected_close": close,
                   "contact": client.and_then(|c| pick(&clients, c))})
        }
        Op::Client => json!({"type": "create_contact", "name": "Client", "owner": OWNERS[0]}),
        Op::Relink { deal, client } => json!({"type": "update_deal", "id": pick(&deals, *deal)?,
            "patch": {"contact": client.and_then(|c| pick(&clients, c))}}),
        Op::Merge { into, from } => json!({"type": "merge_contacts",
            "into": pick(&clients, *into)?, "from": pick(&clients, *from)?}),
        Op::Unmerge { merged: index } => {
            let merged: Vec<ContactId> = state.merges().keys().copied().collect();
            json!({"type": "unmerge_contacts", "id": pick(&merged, *index)?})
        }
        Op::Task {
            record: index,
            on_client,
            assignee,
            due_in_hours,
        } => {
            let due = due_in_hours.map(|hours| now + Duration::hours(i64::from(hours)));
            json!({"type": "create_task", "title": "Call", "kind": "call", "link": record(*index, *on_client)?,
                   "assignee": pick(&OWNERS, *assignee)?, "due": due})
        }
        Op::FinishTask { task, how } => {
            let id = pick(&tasks, *task)?;
            match how % 3 {
                0 => json!({"type": "complete_task", "id": id, "outcome": "reached"}),
                1 => json!({"type": "cancel_task", "id": id}),
                _ => {
                    json!({"type": "reassign_task", "id": id, "assignee": pick(&OWNERS, *how / 3)?})
                }
            }
        }
        Op::Log {
            record: index,
            on_client,
            kind,
            inbound,
            hours_ago,
        } => {
            let kind = ["call", "email", "meeting", "note"][*kind as usize % 4];
            let direction = if *inbound { "inbound" } else { "outbound" };
            json!({"type": "log_activity", "kind": kind, "link": record(*index, *on_client)?,
                   "direction": (kind != "note").then_some(direction),
                   "occurred_at": now - Duration::hours(i64::from(*hours_ago))})
        }
        Op::Archive {
            record: index,
            on_client,
        } => {
            let id = record(*index, *on_client)?;
            let record = serde_json::to_value(
                crm.get(Actor::System, serde_json::from_value(id.clone()).ok()?)
                    .ok()?,
            )
            .ok()?;
            let archived = record["archived_at"].is_string();
            let verb = if archived {
                "restore_record"
            } else {
                "archive_record"
            };
            json!({"type": verb, "id": id})
        }
        Op::Delete {
            record: index,
            on_client,
        } => json!({"type": "delete_record", "id": record(*index, *on_client)?}),
        Op::Reshape {
            pipeline,
            how,
            stage,
            other,
        } => {
            let pipeline = &state.pipelines()[&pick(&pipelines, *pipeline)?];
            let ids: Vec<StageId> = pipeline.stages.iter().map(|s| s.id).collect();
            let (stage, other) = (pick(&ids, *stage)?, pick(&ids, *other)?);
            match how % 3 {
                0 => json!({"type": "add_stage", "pipeline": pipeline.id,
                    "name": format!("Extra {}", ids.len()), "before": stage}),
                1 => {
                    let mut order = ids.clone();
                    let (a, b) = (pipeline.position(stage)?, pipeline.position(other)?);
                    order.swap(a, b);
                    json!({"type": "reorder_stages", "pipeline": pipeline.id, "stages": order})
                }
                _ => json!({"type": "archive_stage", "id": stage, "move_to": other}),
            }
        }
        Op::Transfer {
            deal,
            pipeline,
            stage,
        } => {
            let id = pick(&deals, *deal)?;
            let pipeline = &state.pipelines()[&pick(&pipelines, *pipeline)?];
            let stage = &pipeline.stages[*stage as usize % pipeline.stages.len()];
            let reason = (stage.kind == StageKind::Lost).then_some("Price");
            json!({"type": "move_deal", "id": id, "stage": stage.id, "lost_reason": reason})
        }
        Op::Move {
            deal,
            stage,
            reason,
        } => {
            let id = pick(&deals, *deal)?;
            let pipeline = &state.pipelines()[&state.deals()[&id].pipeline];
            let stage = &pipeline.stages[*stage as usize % pipeline.stages.len()];
            let reason =
                (stage.kind == StageKind::Lost).then(|| ["Price", "Silence"][*reason as usize % 2]);
            json!({"type": "move_deal", "id": id, "stage": stage.id, "lost_reason": reason})
        }
        Op::Reprice { deal, amount } => {
            json!({"type": "update_deal", "id": pick(&deals, *deal)?, "patch": {"amount": money(*amount)}})
        }
        Op::HandOver { deal, owner } => {
            json!({"type": "assign_owner", "record": pick(&deals, *deal)?, "owner": pick(&OWNERS, *owner)?})
        }
        Op::Pay {
            deal,
            cents,
            days_ago,
        } => {
            let id = pick(&deals, *deal)?;
            let currency = state.deals()[&id]
                .fields
                .amount
                .map_or("EUR", |m| m.currency().code());
            json!({"type": "record_payment", "deal": id,
                   "amount": {"amount": Decimal::new(i64::from(*cents), 2).to_string(), "currency": currency},
                   "paid_at": now - Duration::days(i64::from(*days_ago))})
        }
        Op::Source { deal, source } => {
            json!({"type": "update_deal", "id": pick(&deals, *deal)?,
                   "patch": {"source": source.and_then(|s| pick(&SOURCES, s))}})
        }
        Op::Zone { zone } => json!({"type": "set_calendar", "time_zone": pick(&ZONES, *zone)?,
            "working_days": ["mon", "tue", "wed", "thu", "fri"], "hours": [{"from": "09:00", "to": "18:00"}]}),
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn incremental_reports_equal_reports_built_from_scratch(
        ops in prop::collection::vec((0u32..3_000, op()), 1..40)
    ) {
        let mut crm = shop();
        let mut now = start();
        for (minutes, op) in &ops {
            now += Duration::minutes(i64::from(*minutes) * 7);
            let Some(command) = command(&crm, now, op) else { continue };
            // Refusals (a refund beyond what was paid, a second currency) are part of
            // the history too: they must change nothing.
            let _ = crm.execute_json(ADMIN, &now.to_rfc3339(), &command.to_string());
            prop_assert_eq!(crm.projections(), &Projections::build(crm.state()), "after {:?}", op);
            let mut rebuilt = crm.state().clone();
            rebuilt.rebuild_derived();
            prop_assert_eq!(&rebuilt, crm.state(), "after {:?}", op);
        }
        let replayed = Crm::replay(ReplicaId::new(1).unwrap(), CrmOptions::default(),
            crm.events_since(1).unwrap()).unwrap();
        prop_assert_eq!(replayed.projections(), crm.projections());
    }
}

/// The harness itself: its commands are accepted and reach every kind of fact, so the
/// property above is not checking empty reports.
#[test]
fn the_harness_creates_wins_loses_pays_and_moves_days() {
    let mut crm = shop();
    let mut now = start();
    let ops = [
        Op::Client,
        create(0, 0, Some((150_000, 0)), Some(0)),
        create(0, 1, None, None),
        create(1, 2, Some((9_900, 1)), Some(0)),
        Op::Task {
            record: 0,
            on_client: true,
            assignee: 0,
            due_in_hours: Some(1),
        },
        Op::Log {
            record: 1,
            on_client: false,
            kind: 0,
            inbound: false,
            hours_ago: 0,
        },
        Op::Move {
            deal: 0,
            stage: 1,
            reason: 0,
        },
        Op::Move {
            deal: 0,
            stage: 3,
            reason: 0,
        },
        Op::Move {
            deal: 1,
            stage: 4,
            reason: 1,
        },
        Op::Pay {
            deal: 0,
            cents: 50_000,
            days_ago: 1,
        },
        Op::Pay {
            deal: 0,
            cents: -10_000,
            days_ago: 0,
        },
        Op::HandOver { deal: 2, owner: 0 },
        Op::Reprice {
            deal: 2,
            amount: Some((12_000, 1)),
        },
        Op::FinishTask { task: 0, how: 0 },
        Op::Move {
            deal: 2,
            stage: 1,
            reason: 0,
        },
        Op::Zone { zone: 1 },
    ];
    for op in &ops {
        now += Duration::hours(5);
        let command = command(&crm, now, op).unwrap();
        crm.execute_json(ADMIN, &now.to_rfc3339(), &command.to_string())
            .unwrap_or_else(|err| panic!("{op:?}: {err}"));
    }
    let admin: Actor = ADMIN.parse().unwrap();
    let report = |kind| {
        serde_json::to_value(crm.report(admin, now, &ReportRequest::new(kind)).unwrap()).unwrap()
    };
    let win_rate = report(ReportKind::WinRate);
    assert_eq!(win_rate["total"]["won"], 2, "{win_rate}");
    assert_eq!(win_rate["total"]["lost"], 1);
    assert_eq!(win_rate["total"]["win_rate"], "66.7");
    assert_eq!(
        win_rate["total"]["won_amount"],
        json!({"EUR": "1500.00", "USD": "120.00"})
    );
    let revenue = report(ReportKind::Revenue);
    assert_eq!(
        revenue["rows"][0]["paid"],
        json!({"EUR": "400.00"}),
        "{revenue}"
    );
    let forecast = report(ReportKind::Forecast);
    assert_eq!(
        forecast["rows"],
        json!([]),
        "every deal is closed: {forecast}"
    );
    let sla = report(ReportKind::Sla);
    // Every command ran as the admin, who logged the call on Anna's deal (created at
    // +15 h, called at +30 h). Ivan's two deals for the client (created at +10 h and
    // +20 h) were first contacted by the client's call task, completed late at +70 h.
    let rows = sla["rows"].as_array().unwrap();
    assert_eq!(rows[0]["activities"], json!({"call": 1}), "{sla}");
    assert_eq!(rows[1]["first_contact"]["count"], 2);
    assert_eq!(rows[1]["first_contact"]["median_seconds"], "198000");
    assert_eq!(rows[1]["late_share"], "100.0");
    assert_eq!(rows[2]["first_contact"]["median_seconds"], "54000");
    let clients = report(ReportKind::Clients);
    assert_eq!(clients["visits"], 2, "{clients}");
    assert_eq!(clients["clients"], 1);
    assert_eq!(clients["between_visits"]["count"], 1);
    assert_eq!(crm.projections(), &Projections::build(crm.state()));
}

fn create(pipeline: u8, owner: u8, amount: Option<(u32, u8)>, client: Option<u8>) -> Op {
    Op::Create {
        pipeline,
        owner,
        amount,
        source: Some(owner),
        close_in: Some(30),
        client,
    }
}

/// The gaps between a client's visits (won deals) move only when a deal is won,
/// reopened or linked to another client; every other move of a deal leaves the
/// client's other deals alone, and these three must not.
#[test]
fn a_clients_visit_gaps_follow_wins_reopenings_and_relinks() {
    let mut crm = shop();
    let mut now = start();
    let mut run = |crm: &mut Crm, op: Op| {
        now += Duration::hours(5);
        let command = command(crm, now, &op).unwrap();
        crm.execute_json(ADMIN, &now.to_rfc3339(), &command.to_string())
            .unwrap_or_else(|err| panic!("{op:?}: {err}"));
        assert_eq!(
            crm.projections(),
            &Projections::build(crm.state()),
            "after {op:?}"
        );
    };
    let admin: Actor = ADMIN.parse().unwrap();
    let between = |crm: &Crm| {
        let later = start() + Duration::days(30);
        let clients = crm
            .report(admin, later, &ReportRequest::new(ReportKind::Clients))
            .unwrap();
        // No gap at all leaves the summary out.
        serde_json::to_value(clients).unwrap()["between_visits"]["count"]
            .as_u64()
            .unwrap_or(0)
    };
    run(&mut crm, Op::Client);
    run(&mut crm, Op::Client);
    for _ in 0..3 {
        run(&mut crm, create(0, 0, None, Some(0)));
    }
    // Two visits of the first client, one gap; the third deal moves between open stages.
    for deal in [0, 1] {
        run(
            &mut crm,
            Op::Move {
                deal,
                stage: 3,
                reason: 0,
            },
        );
    }
    run(
        &mut crm,
        Op::Move {
            deal: 2,
            stage: 1,
            reason: 0,
        },
    );
    assert_eq!(between(&crm), 1);
    // Reopening the first visit leaves the second without a previous one.
    run(
        &mut crm,
        Op::Move {
            deal: 0,
            stage: 1,
            reason: 0,
        },
    );
    assert_eq!(between(&crm), 0);
    run(
        &mut crm,
        Op::Move {
            deal: 0,
            stage: 3,
            reason: 0,
        },
    );
    assert_eq!(between(&crm), 1);
    // Linking the second visit to the other client does the same.
    run(
        &mut crm,
        Op::Relink {
            deal: 1,
            client: Some(1),
        },
    );
    assert_eq!(between(&crm), 0);
}

/// The archive and delete ops of the property above are accepted, and a deleted deal
/// leaves every report as if it had never been; an archived one stays in them.
#[test]
fn a_deleted_deal_leaves_the_reports_an_archived_one_stays() {
    let mut crm = shop();
    let mut now = start();
    let admin: Actor = ADMIN.parse().unwrap();
    fn run(crm: &mut Crm, now: &mut DateTime<Utc>, command: Value) {
        *now += Duration::hours(5);
        crm.execute_json(ADMIN, &now.to_rfc3339(), &command.to_string())
            .unwrap_or_else(|err| panic!("{command}: {err}"));
    }
    for op in [
        Op::Client,
        create(0, 0, Some((150_000, 0)), Some(0)),
        create(0, 1, Some((20_000, 0)), Some(0)),
        Op::Task {
            record: 1,
            on_client: false,
            assignee: 1,
            due_in_hours: Some(1),
        },
        Op::Log {
            record: 1,
            on_client: false,
            kind: 0,
            inbound: false,
            hours_ago: 0,
        },
        Op::Move {
            deal: 1,
            stage: 3,
            reason: 0,
        },
        Op::Move {
            deal: 0,
            stage: 3,
            reason: 0,
        },
    ] {
        let command = command(&crm, now, &op).unwrap();
        run(&mut crm, &mut now, command);
    }
    let deals: Vec<DealId> = crm.state().deals().keys().copied().collect();
    let client = *crm.state().contacts().keys().next().unwrap();
    let report = |crm: &Crm, now, kind| {
        serde_json::to_value(crm.report(admin, now, &ReportRequest::new(kind)).unwrap()).unwrap()
    };
    let won_and_visits = |crm: &Crm, now| {
        (
            report(crm, now, ReportKind::WinRate)["total"]["won"].clone(),
            report(crm, now, ReportKind::Clients)["visits"].clone(),
        )
    };
    let listed = |crm: &Crm, now| {
        crm.query(admin, now, &Query::ListDeals(DealFilter::default()))
            .unwrap()["total"]
            .clone()
    };
    assert_eq!(won_and_visits(&crm, now), (json!(2), json!(2)));

    run(
        &mut crm,
        &mut now,
        json!({"type": "archive_record", "id": deals[1]}),
    );
    assert_eq!(won_and_visits(&crm, now), (json!(2), json!(2)));
    assert_eq!(listed(&crm, now), 1);
    run(
        &mut crm,
        &mut now,
        json!({"type": "restore_record", "id": deals[1]}),
    );
    assert_eq!(listed(&crm, now), 2);

    let refused = crm.execute_json(
        ADMIN,
        &(now + Duration::hours(1)).to_rfc3339(),
        &json!({"type": "delete_record", "id": client}).to_string(),
    );
    assert!(refused.unwrap_err().to_string().contains("2 deals"));
    run(
        &mut crm,
        &mut now,
        json!({"type": "delete_record", "id": deals[1]}),
    );
    assert_eq!(won_and_visits(&crm, now), (json!(1), json!(1)));
    assert_eq!(crm.state().tasks().len(), 0);
    assert_eq!(crm.state().activities().len(), 0);
    assert_eq!(crm.projections(), &Projections::build(crm.state()));
}
