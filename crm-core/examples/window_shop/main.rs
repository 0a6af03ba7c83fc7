//! The window shop's process (../shared/DESIGN.md, "The reference business process"),
//! run by rules. `setup.json` configures the shop — team, business calendar (Moscow,
//! Mon–Fri 09:00–18:00), custom fields, the pipeline, two document templates and the
//! rules for the six steps. Then people do only what people do: a request arrives,
//! the manager calls late (and the head of department hears of it), agrees a visit,
//! the measurer measures, the manager prices, the client pays, the installer installs.
//! Everything else — tasks, stage moves, the offer, notifications, the final report —
//! is done by the rules. It prints the deal's story and the outbox.
//!
//! Run: `scripts/example` (or `cargo run -p crm-core --example window_shop`).

use chrono::{DateTime, Utc};
use crm_core::*;
use serde_json::{json, Value};

type Step<T> = Result<T, CrmError>;

/// The engine and the (simulated) clock of the shop.
struct Shop {
    crm: Crm,
    now: DateTime<Utc>,
}

impl Shop {
    fn at(&mut self, time: &str) -> Step<()> {
        self.now = parse_now(time)?;
        Ok(())
    }

    /// Runs one command given as JSON, as the people and systems of the shop would.
    fn run(&mut self, actor: &str, command: Value) -> Step<Outcome> {
        let command: Command = command.to_string().parse()?;
        self.crm.execute(actor.parse()?, self.now, &command)
    }

    fn find_task(&self, deal: DealId, kind: &str) -> Step<TaskId> {
        let state = self.crm.state();
        state
            .tasks_by_record
            .get(&deal.into())
            .into_iter()
            .flatten()
            .copied()
            .find(|id| state.tasks[id].kind == kind && state.tasks[id].status == TaskStatus::Open)
            .ok_or_else(|| CrmError::not_found("task", kind))
    }

    fn stage(&self, deal: DealId, name: &str) -> Step<StageId> {
        let state = self.crm.state();
        state.pipelines[&state.deals[&deal].pipeline]
            .stages
            .iter()
            .find(|stage| stage.name == name)
            .map(|stage| stage.id)
            .ok_or_else(|| CrmError::not_found("stage", name))
    }
}

fn main() -> Step<()> {
    let options = CrmOptions {
        default_region: Some("RU".into()),
        ..CrmOptions::default()
    };
    let mut shop = Shop {
        crm: Crm::new(ReplicaId::new(1)?, options)?,
        now: parse_now("2026-11-27T06:00:00Z")?,
    };
    let config: Value = serde_json::from_str(include_str!("setup.json"))
        .map_err(|err| CrmError::validation("setup.json", err.to_string()))?;
    for step in config["setup"].as_array().into_iter().flatten() {
        let actor = step["actor"].as_str().unwrap_or("system");
        shop.run(actor, step["command"].clone())?;
    }
    let (anton, misha, igor) = ("usr-1-4", "usr-1-6", "usr-1-7");

    // 1. Friday 10:00 in Moscow: a request comes in from the website.
    shop.at("2026-11-27T07:00:00Z")?;
    let client = shop
        .run(
            "system",
            json!({"type": "create_contact", "name": "Pyotr Ivanov",
            "phones": ["8 916 123-45-67"], "address": "ul. Lenina 5, kv. 12",
            "source": "website", "owner": "usr-1-1"}),
        )?
        .created_id::<ContactId>()?;
    let deal = shop
        .run(
            "system",
            json!({"type": "create_deal", "title": "3 windows, flat 12",
            "contact": client, "owner": "usr-1-1"}),
        )?
        .created_id::<DealId>()?;
    shop.run("system", json!({"type": "log_activity", "kind": "web_form", "direction": "inbound",
        "link": deal, "subject": "Request from okna.example/order", "body": "3 windows, please call me"}))?;

    // The manager is busy; 15 working minutes pass. The host ticks when told to.
    if let Some(wakeup) = shop.crm.next_wakeup() {
        shop.now = wakeup + chrono::Duration::minutes(5);
        shop.crm.tick(shop.now)?;
    }

    // 2. The manager calls, agrees a visit for Monday 11:00, and completes the call.
    shop.at("2026-11-27T07:40:00Z")?;
    let clarify = shop.stage(deal, "Clarify")?;
    shop.run(
        anton,
        json!({"type": "move_deal", "id": deal, "stage": clarify}),
    )?;
    shop.run(
        anton,
        json!({"type": "update_deal", "id": deal,
        "patch": {"custom": {"visit_at": "2026-11-30T08:00:00Z"}}}),
    )?;
    let call = shop.find_task(deal, "call")?;
    shop.run(
        anton,
        json!({"type": "complete_task", "id": call, "outcome": "reached"}),
    )?;

    // 3. Monday: the measurer enters the results.
    shop.at("2026-11-30T09:00:00Z")?;
    let visit = shop.find_task(deal, "measurement")?;
    shop.run(
        misha,
        json!({"type": "complete_task", "id": visit, "outcome": "measured",
        "fields": {"width_mm": 1450, "height_mm": 1400, "openings": 3}}),
    )?;

    // 4. The manager prices the order, the client agrees: the offer is generated.
    shop.at("2026-11-30T10:00:00Z")?;
    shop.run(
        anton,
        json!({"type": "set_line_items", "deal": deal, "items": [
        {"product": "PVC window 1450×1400", "quantity": 3,
         "unit_price": {"amount": "24500.00", "currency": "RUB"}, "discount_percent": 5},
        {"product": "Installation", "quantity": 1,
         "unit_price": {"amount": "12000.00", "currency": "RUB"}}]}),
    )?;
    shop.run(
        anton,
        json!({"type": "update_deal", "id": deal,
        "patch": {"custom": {"install_at": "2026-12-03T07:00:00Z"}}}),
    )?;
    let pricing = shop.find_task(deal, "pricing")?;
    shop.run(
        anton,
        json!({"type": "complete_task", "id": pricing, "outcome": "agreed"}),
    )?;
    for stage in ["Agreement", "Payment"] {
        let stage = shop.stage(deal, stage)?;
        shop.run(
            anton,
            json!({"type": "move_deal", "id": deal, "stage": stage}),
        )?;
    }

    // 5. The client pays in two parts; the second completes the payment.
    shop.at("2026-12-01T07:00:00Z")?;
    shop.run(
        anton,
        json!({"type": "record_payment", "deal": deal,
        "amount": {"amount": "40000.00", "currency": "RUB"}, "note": "advance"}),
    )?;
    shop.at("2026-12-01T11:00:00Z")?;
    shop.run(
        anton,
        json!({"type": "record_payment", "deal": deal,
        "amount": {"amount": "41825.00", "currency": "RUB"}}),
    )?;

    // 6. The installer finishes; the deal is done and the head of sales gets the report.
    shop.at("2026-12-03T10:00:00Z")?;
    let install = shop.find_task(deal, "installation")?;
    shop.run(
        igor,
        json!({"type": "complete_task", "id": install, "outcome": "installed"}),
    )?;

    print_story(&shop.crm, deal)?;
    print_outbox(&shop.crm)?;
    Ok(())
}

/// The deal's timeline, oldest first, in Moscow time, with who or which rule did what.
fn print_story(crm: &Crm, deal: DealId) -> Step<()> {
    let state = crm.state();
    let calendar = &state.calendar;
    let name = |id: &UserId| {
        state
            .users
            .get(id)
            .map_or(id.to_string(), |u| u.name.clone())
    };
    let stage = |id: &StageId| {
        let pipeline = &state.pipelines[&state.stages[id]];
        pipeline
            .stage(*id)
            .map_or(id.to_string(), |s| s.name.clone())
    };
    println!("The story of deal {deal} ({} time):\n", calendar.time_zone);
    let mut events = crm.timeline(Actor::System, deal.into(), None)?;
    events.reverse();
    for envelope in events {
        let what = match &envelope.event {
            Event::DealCreated { deal } => format!("deal \"{}\" created", deal.fields.title),
            Event::ActivityLogged { activity } => format!(
                "{} logged: {}",
                validate::json_name(&activity.kind),
                activity.subject.clone().unwrap_or_default()
            ),
            Event::OwnerAssigned { to, .. } => format!("given to {}", name(to)),
            Event::TaskCreated { task } => format!(
                "task for {}: \"{}\" due {}",
                name(&task.assignee),
                task.title,
                task.due
                    .map(|due| calendar.local(due).format("%a %d.%m %H:%M").to_string())
                    .unwrap_or_else(|| "any time".into())
            ),
            Event::TaskOverdue { id, .. } => {
                format!("task \"{}\" is overdue", state.tasks[id].title)
            }
            Event::TaskCompleted { id, outcome, .. } => format!(
                "completed \"{}\" ({})",
                state.tasks[id].title,
                outcome.as_deref().unwrap_or("done")
            ),
            Event::DealMoved { to, .. } => format!("moved to {}", stage(to)),
            Event::DealUpdated { changed, .. } => format!("updated: {}", changed.join(", ")),
            Event::LineItemsSet { total, .. } => format!(
                "priced: {}",
                total
                    .as_ref()
                    .map_or("-".into(), |t| document::format_money(
                        t.amount(),
                        t.currency()
                    ))
            ),
            Event::PaymentRecorded { payment, .. } => format!(
                "payment {}",
                document::format_money(payment.amount.amount(), payment.amount.currency())
            ),
            Event::DealPaid { .. } => "paid in full".into(),
            Event::DocumentRendered { document } => {
                format!("document \"{}\" rendered", document.template)
            }
            Event::EffectQueued { effect } => match &effect.body {
                EffectBody::Notification {
                    to,
                    channel,
                    escalation,
                    ..
                } => format!(
                    "{} for {} by {}",
                    if *escalation {
                        "escalation"
                    } else {
                        "notification"
                    },
                    name(to),
                    validate::json_name(channel)
                ),
                EffectBody::Webhook { name, .. } => format!("webhook {name}"),
                EffectBody::Document { template, .. } => format!("document \"{template}\" queued"),
            },
            Event::RulesEvaluated { fired, on, .. } if !fired.is_empty() => {
                format!("{on} → rules {}", fired.join(", "))
            }
            _ => continue,
        };
        let who = match (&envelope.rule, envelope.actor) {
            (Some(rule), _) => format!("rule {rule}"),
            (None, Actor::User(user)) => name(&user),
            (None, Actor::System) => "system".into(),
        };
        println!(
            "  {}  {:<28} {what}",
            calendar.local(envelope.at).format("%a %d.%m %H:%M"),
            who
        );
    }
    Ok(())
}

/// What the host would now deliver: e-mails, SMS, push messages, documents, webhooks.
fn print_outbox(crm: &Crm) -> Step<()> {
    println!(
        "\nThe outbox ({} effects to deliver):",
        crm.drain_outbox().len()
    );
    for effect in crm.drain_outbox() {
        match &effect.body {
            EffectBody::Notification { text, channel, .. } => {
                println!("  [{}] {}: {text}", effect.id, validate::json_name(channel))
            }
            EffectBody::Webhook { url, .. } => println!("  [{}] POST {url}", effect.id),
            EffectBody::Document { content, .. } => {
                println!("  [{}] document:", effect.id);
                for line in content.lines() {
                    println!("      {line}");
                }
            }
        }
    }
    Ok(())
}
