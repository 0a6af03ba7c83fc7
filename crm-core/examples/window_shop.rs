//! The window shop's process (docs/DESIGN "reference business process"), driven by
//! hand through commands: a web request becomes a contact, a deal and a call task;
//! the manager clarifies, a measurer measures, the deal goes through pricing,
//! agreement, payment and installation to Done. Then it prints the deal's timeline.
//!
//! Automation (tasks created by rules, overdue escalation) and the SQLite store
//! arrive with their own issues; until then every step here is an explicit command.
//!
//! Run: `scripts/example` (or `cargo run -p crm-core --example window_shop`).

use chrono::{DateTime, Duration, Utc};
use crm_core::*;

type Step<T> = Result<T, CrmError>;

struct Shop {
    crm: Crm,
    clock: DateTime<Utc>,
}

impl Shop {
    fn run(&mut self, actor: Actor, command: Command) -> Step<Outcome> {
        self.crm.execute(actor, self.clock, &command)
    }

    fn create<T: TryFrom<AnyId, Error = CrmError>>(
        &mut self,
        actor: Actor,
        command: Command,
    ) -> Step<T> {
        self.run(actor, command)?.created_id()
    }

    /// Moves a deal to the stage of that name in its pipeline.
    fn move_deal(&mut self, actor: Actor, deal: DealId, stage_name: &str) -> Step<()> {
        let state = self.crm.state();
        let pipeline = &state.pipelines[&state.deals[&deal].pipeline];
        let stage = pipeline
            .stages
            .iter()
            .find(|stage| stage.name == stage_name)
            .ok_or_else(|| CrmError::validation("stage", format!("no stage {stage_name:?}")))?
            .id;
        self.run(
            actor,
            Command::MoveDeal(DealMove {
                id: deal,
                stage,
                lost_reason: None,
            }),
        )?;
        Ok(())
    }

    fn wait(&mut self, minutes: i64) {
        self.clock += Duration::minutes(minutes);
    }
}

fn main() -> Step<()> {
    let replica = ReplicaId::new(1)?;
    let crm = Crm::new(
        replica,
        CrmOptions {
            default_region: Some("RU".into()),
            ..CrmOptions::default()
        },
    )?;
    let mut shop = Shop {
        crm,
        clock: parse_now("2026-11-27T07:00:00Z")?,
    };
    let system = Actor::System;

    // The team and the pipeline.
    let user = |name: &str, role, department, specialty: Option<&str>| {
        Command::CreateUser(NewUser {
            name: name.into(),
            email: None,
            role,
            department,
            specialty: specialty.map(String::from),
        })
    };
    let admin: UserId = shop.create(system, user("Olga (admin)", Role::Admin, None, None))?;
    let sales: DepartmentId = shop.create(
        Actor::User(admin),
        Command::CreateDepartment(NewDepartment {
            name: "Sales".into(),
        }),
    )?;
    let head: UserId = shop.create(
        system,
        user(
            "Helga (head of sales)",
            Role::HeadOfDepartment,
            Some(sales),
            None,
        ),
    )?;
    let ivan: UserId = shop.create(
        system,
        user("Ivan (manager)", Role::Manager, Some(sales), None),
    )?;
    let _maria: UserId = shop.create(
        system,
        user("Maria (manager)", Role::Manager, Some(sales), None),
    )?;
    let mark: UserId = shop.create(
        system,
        user("Mark (measurer)", Role::Specialist, None, Some("measurer")),
    )?;
    let igor: UserId = shop.create(
        system,
        user(
            "Igor (installer)",
            Role::Specialist,
            None,
            Some("installer"),
        ),
    )?;
    let stage_names = [
        "New request",
        "Clarify",
        "Measurement",
        "Pricing",
        "Agreement",
        "Payment",
        "Installation",
    ];
    let mut stages: Vec<NewStage> = stage_names
        .iter()
        .map(|name| NewStage::open(name))
        .collect();
    stages.push(NewStage::won("Done"));
    stages.push(NewStage::lost("Lost"));
    let pipeline = NewPipeline {
        name: "Windows".into(),
        stages,
        lost_reasons: vec!["Too expensive".into(), "Changed mind".into()],
    };
    let pipeline: PipelineId =
        shop.create(Actor::User(admin), Command::CreatePipeline(pipeline))?;

    // 1. A buyer leaves a request on the website: a contact, a deal and a call task due in 15 minutes.
    let contact = NewContact {
        name: "Pyotr Ivanov".into(),
        phones: vec!["8 (916) 123-45-67".into()],
        emails: vec!["Pyotr@Mail.RU".into()],
        source: Some("website".into()),
        owner: Some(ivan),
        ..NewContact::default()
    };
    let contact: ContactId = shop.create(system, Command::CreateContact(contact))?;
    let deal = NewDeal {
        title: "3 windows, flat 12".into(),
        pipeline: Some(pipeline),
        contact: Some(contact),
        owner: Some(ivan),
        ..NewDeal::default()
    };
    let deal: DealId = shop.create(system, Command::CreateDeal(deal))?;
    let due = shop.clock + Duration::minutes(15);
    let call = NewTask {
        title: "Call the client to clarify the order".into(),
        kind: Some("call".into()),
        assignee: Some(ivan),
        due: Some(due),
        link: Some(deal.into()),
        ..NewTask::default()
    };
    let call: TaskId = shop.create(system, Command::CreateTask(call))?;

    // 2. Ivan calls, fills in the data, and books the measurer.
    shop.wait(9);
    let ivan_acts = Actor::User(ivan);
    shop.run(
        ivan_acts,
        Command::CompleteTask(TaskCompletion {
            id: call,
            outcome: Some("reached".into()),
            fields: Default::default(),
        }),
    )?;
    shop.move_deal(ivan_acts, deal, "Clarify")?;
    shop.move_deal(ivan_acts, deal, "Measurement")?;
    let visit = parse_now("2026-11-28T07:00:00Z")?;
    let measure = NewTask {
        title: "Take measurements".into(),
        kind: Some("measurement".into()),
        assignee: Some(mark),
        due: Some(visit),
        link: Some(deal.into()),
        ..NewTask::default()
    };
    let measure: TaskId = shop.create(ivan_acts, Command::CreateTask(measure))?;

    // 3. The measurer enters the results; a task to price it goes to Ivan.
    shop.clock = visit + Duration::minutes(50);
    let mark_acts = Actor::User(mark);
    let note = NewActivity {
        kind: ActivityKind::Meeting,
        link: deal.into(),
        direction: None,
        subject: Some("Measured 3 openings: 1200×1400, 1200×1400, 800×1400 mm".into()),
        body: None,
        duration_seconds: Some(2700),
        outcome: None,
        occurred_at: None,
    };
    shop.run(mark_acts, Command::LogActivity(note))?;
    shop.run(
        mark_acts,
        Command::CompleteTask(TaskCompletion {
            id: measure,
            outcome: Some("measured".into()),
            fields: Default::default(),
        }),
    )?;
    shop.move_deal(ivan_acts, deal, "Pricing")?;

    // 4. The client accepts the price.
    shop.wait(120);
    let amount = Money::parse("91200.00", "RUB")?;
    shop.run(
        ivan_acts,
        Command::UpdateDeal(Update {
            id: deal,
            patch: DealPatch {
                amount: Some(Some(amount)),
                ..DealPatch::default()
            },
        }),
    )?;
    shop.move_deal(ivan_acts, deal, "Agreement")?;
    shop.move_deal(ivan_acts, deal, "Payment")?;

    // 5. The client pays: installation, and a task for the installer.
    shop.wait(24 * 60);
    shop.move_deal(ivan_acts, deal, "Installation")?;
    let install_at = shop.clock + Duration::days(3);
    let install = NewTask {
        title: "Install 3 windows".into(),
        kind: Some("installation".into()),
        assignee: Some(igor),
        due: Some(install_at),
        link: Some(deal.into()),
        ..NewTask::default()
    };
    let install: TaskId = shop.create(ivan_acts, Command::CreateTask(install))?;

    // 6. Installed: the deal is done, and the head of sales sees it.
    shop.clock = install_at + Duration::hours(4);
    shop.run(
        Actor::User(igor),
        Command::CompleteTask(TaskCompletion {
            id: install,
            outcome: Some("installed".into()),
            fields: Default::default(),
        }),
    )?;
    shop.move_deal(ivan_acts, deal, "Done")?;

    let won = shop.crm.deals(
        Actor::User(head),
        &DealFilter {
            status: Some(DealStatus::Won),
            ..DealFilter::default()
        },
    )?;
    println!("Deals won, as the head of sales sees them: {}", won.total);
    for deal in &won.items {
        let amount = deal
            .fields
            .amount
            .map_or_else(|| "no amount".to_string(), |m| m.to_string());
        println!(
            "  {} {:?}: {amount}, {} stage changes",
            deal.id,
            deal.fields.title,
            deal.stage_history.len() - 1
        );
    }
    println!("\nTimeline of {deal} (oldest first):");
    let names = |actor: Actor| match actor {
        Actor::System => "website".to_string(),
        Actor::User(id) => shop.crm.state().users[&id].name.clone(),
    };
    let mut timeline = shop.crm.timeline(Actor::User(head), deal.into(), None)?;
    timeline.reverse();
    for envelope in timeline {
        let what = match &envelope.event {
            Event::DealMoved { to, status, .. } => {
                let pipeline = &shop.crm.state().pipelines[&pipeline];
                let name = pipeline.stage(*to).map_or("?", |s| s.name.as_str());
                format!("moved to {name} ({})", validate::json_name(status))
            }
            Event::TaskCreated { task } => format!(
                "task for {}: {}",
                names(Actor::User(task.assignee)),
                task.title
            ),
            Event::TaskCompleted { id, outcome, .. } => {
                format!("task {id} done: {}", outcome.as_deref().unwrap_or("-"))
            }
            Event::ActivityLogged { activity } => format!(
                "{}: {}",
                validate::json_name(&activity.kind),
                activity.subject.as_deref().unwrap_or("")
            ),
            Event::DealUpdated { changed, .. } => format!("updated {}", changed.join(", ")),
            Event::DealCreated { deal } => format!("created {:?}", deal.fields.title),
            other => format!("{other:?}"),
        };
        println!(
            "  {}  {:<22} {what}",
            envelope.at.format("%Y-%m-%d %H:%M UTC"),
            names(envelope.actor)
        );
    }
    println!(
        "\n{} events in the journal; replaying them rebuilds the same state: {}",
        shop.crm.state().last_seq,
        {
            let replayed = Crm::replay(
                replica,
                shop.crm.options().clone(),
                shop.crm.events_since(1)?,
            )?;
            replayed.state() == shop.crm.state()
        }
    );
    Ok(())
}
