//! The window shop's process (../shared/DESIGN.md, "The reference business process"),
//! run by rules, on a SQLite journal. `examples/window_shop/setup.json` configures the
//! shop — team, business calendar (Moscow, Mon–Fri 09:00–18:00), custom fields, the
//! pipeline, two document templates and the rules for the six steps. Then people do
//! only what people do: a request arrives, the manager calls late (and the head of
//! department hears of it), agrees a visit, the measurer measures, the manager prices,
//! the client pays, the installer installs. Everything else — tasks, stage moves, the
//! offer, notifications, the final report — is done by the rules. It prints the deal's
//! story and the outbox.
//!
//! The journal is `target/window-shop.sqlite` (or the path given as the first
//! argument). Run it again and it continues where it left off: the shop is already
//! set up, and the next client's order goes through the week after.
//!
//! Run: `scripts/example` (or `cargo run -p crm-store-sqlite --example window_shop`).

use chrono::{DateTime, Duration, Utc};
use crm_core::*;
use crm_store_sqlite::SqliteJournal;
use serde_json::{json, Value};

type Step<T> = Result<T, CrmError>;

/// The engine and the (simulated) clock of the shop.
struct Shop {
    crm: Crm<SqliteJournal>,
    /// Friday 10:00 in Moscow of the week this run plays.
    week: DateTime<Utc>,
    now: DateTime<Utc>,
}

impl Shop {
    /// `day` days after the week's Friday, at `hh:mm` UTC.
    fn instant(&self, day: i64, time: &str) -> DateTime<Utc> {
        let (h, m) = time.split_once(':').unwrap_or(("0", "0"));
        let (h, m): (i64, i64) = (h.parse().unwrap_or(0), m.parse().unwrap_or(0));
        self.week - Duration::hours(7) + Duration::days(day) + Duration::minutes(h * 60 + m)
    }

    /// Moves the shop's clock to [`Shop::instant`].
    fn at(&mut self, day: i64, time: &str) -> Step<()> {
        self.now = self.instant(day, time);
        Ok(())
    }

    /// [`Shop::instant`] as the RFC 3339 text commands carry.
    fn time(&self, day: i64, time: &str) -> String {
        self.instant(day, time).to_rfc3339()
    }

    /// Runs one command given as JSON, as the people and systems of the shop would.
    fn run(&mut self, actor: &str, command: Value) -> Step<Outcome> {
        let command: Command = command.to_string().parse()?;
        self.crm.execute(actor.parse()?, self.now, &command)
    }

    fn find_task(&self, deal: DealId, kind: &str) -> Step<TaskId> {
        let link = Some(AnyId::from(deal));
        self.crm
            .state()
            .tasks()
            .values()
            .find(|task| task.link == link && task.kind == kind && task.status == TaskStatus::Open)
            .map(|task| task.id)
            .ok_or_else(|| CrmError::not_found("task", kind))
    }

    fn stage(&self, deal: DealId, name: &str) -> Step<StageId> {
        let state = self.crm.state();
        state.pipelines()[&state.deals()[&deal].pipeline]
            .stages
            .iter()
            .find(|stage| stage.name == name)
            .map(|stage| stage.id)
            .ok_or_else(|| CrmError::not_found("stage", name))
    }
}

fn main() -> Step<()> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "target/window-shop.sqlite".into());
    let order = play(&path)?;
    println!(
        "The story of deal {} ({} time):\n",
        order.deal, order.time_zone
    );
    for line in &order.story {
        println!("  {line}");
    }
    println!("\nThe outbox ({} effects to deliver):", order.outbox.len());
    for effect in &order.outbox {
        print_effect(effect);
    }
    println!(
        "\nJournal: {path} — {} events, order {}. Run again for the next order.",
        order.events, order.number
    );
    Ok(())
}

/// What one run of the shop left behind (`tests/window_shop.rs` checks it).
pub struct Order {
    /// Which order of this journal it was: 1 on a new file.
    pub number: i64,
    pub deal: DealId,
    pub time_zone: String,
    /// The deal's timeline, oldest first, a line each in the shop's time.
    pub story: Vec<String>,
    /// What the host delivered at the end of the run (and acknowledged).
    pub outbox: Vec<Effect>,
    /// Events in the journal after the run.
    pub events: u64,
}

/// Plays one client's order on the journal at `path` (set up first if it is new).
pub fn play(path: &str) -> Step<Order> {
    let options = CrmOptions {
        default_region: Some("RU".into()),
        ..CrmOptions::default()
    };
    let crm = Crm::open(
        ReplicaId::new(1)?,
        options,
        SqliteJournal::open_or_create(path)?,
    )?;
    let first_friday = parse_now("2026-11-27T07:00:00Z")?;
    let earlier_orders = crm.state().deals().len() as i64;
    let mut shop = Shop {
        crm,
        week: first_friday + Duration::weeks(earlier_orders),
        now: first_friday,
    };
    if shop.crm.state().users().is_empty() {
        shop.now = parse_now("2026-11-27T06:00:00Z")?;
        let config: Value =
            serde_json::from_str(include_str!("../../examples/window_shop/setup.json"))
                .map_err(|err| CrmError::validation("setup.json", err.to_string()))?;
        for step in config["setup"].as_array().into_iter().flatten() {
            let actor = step["actor"].as_str().unwrap_or("system");
            shop.run(actor, step["command"].clone())?;
        }
    }
    let (misha, igor) = ("usr-1-6", "usr-1-7");
    let client_number = earlier_orders + 1;

    // 1. Friday 10:00 in Moscow: a request comes in from the website.
    shop.at(0, "07:00")?;
    let client = shop
        .run(
            "system",
            json!({"type": "create_contact", "name": format!("Pyotr Ivanov ({client_number})"),
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

    // The rules gave the order to the next manager in turn.
    let owner = shop.crm.state().deals()[&deal].owner.to_string();
    let manager = owner.as_str();

    // The manager is busy; 15 working minutes pass. The host ticks when told to.
    if let Some(wakeup) = shop.crm.next_wakeup() {
        shop.now = wakeup + Duration::minutes(5);
        shop.crm.tick(shop.now)?;
    }

    // 2. The manager calls, agrees a visit for Monday 11:00, and completes the call.
    shop.at(0, "07:40")?;
    let clarify = shop.stage(deal, "Clarify")?;
    shop.run(
        manager,
        json!({"type": "move_deal", "id": deal, "stage": clarify}),
    )?;
    let visit_at = shop.time(3, "08:00");
    shop.run(
        manager,
        json!({"type": "update_deal", "id": deal,
        "patch": {"custom": {"visit_at": visit_at}}}),
    )?;
    let call = shop.find_task(deal, "call")?;
    shop.run(
        manager,
        json!({"type": "complete_task", "id": call, "outcome": "reached"}),
    )?;

    // 3. Monday: the measurer enters the results.
    shop.at(3, "09:00")?;
    let visit = shop.find_task(deal, "measurement")?;
    shop.run(
        misha,
        json!({"type": "complete_task", "id": visit, "outcome": "measured",
        "fields": {"width_mm": 1450, "height_mm": 1400, "openings": 3}}),
    )?;

    // 4. The manager prices the order, the client agrees: the offer is generated.
    shop.at(3, "10:00")?;
    shop.run(
        manager,
        json!({"type": "set_line_items", "deal": deal, "items": [
        {"product": "PVC window 1450×1400", "quantity": 3,
         "unit_price": {"amount": "24500.00", "currency": "RUB"}, "discount_percent": 5},
        {"product": "Installation", "quantity": 1,
         "unit_price": {"amount": "12000.00", "currency": "RUB"}}]}),
    )?;
    let install_at = shop.time(6, "07:00");
    shop.run(
        manager,
        json!({"type": "update_deal", "id": deal,
        "patch": {"custom": {"install_at": install_at}}}),
    )?;
    let pricing = shop.find_task(deal, "pricing")?;
    shop.run(
        manager,
        json!({"type": "complete_task", "id": pricing, "outcome": "agreed"}),
    )?;
    for stage in ["Agreement", "Payment"] {
        let stage = shop.stage(deal, stage)?;
        shop.run(
            manager,
            json!({"type": "move_deal", "id": deal, "stage": stage}),
        )?;
    }

    // 5. The client pays in two parts; the second completes the payment.
    shop.at(4, "07:00")?;
    shop.run(
        manager,
        json!({"type": "record_payment", "deal": deal,
        "amount": {"amount": "40000.00", "currency": "RUB"}, "note": "advance"}),
    )?;
    shop.at(4, "11:00")?;
    shop.run(
        manager,
        json!({"type": "record_payment", "deal": deal,
        "amount": {"amount": "41825.00", "currency": "RUB"}}),
    )?;

    // 6. The installer finishes; the deal is done and the head of sales gets the report.
    shop.at(6, "10:00")?;
    let install = shop.find_task(deal, "installation")?;
    shop.run(
        igor,
        json!({"type": "complete_task", "id": install, "outcome": "installed"}),
    )?;

    let story = story(&shop.crm, deal)?;
    // The host delivers everything and acknowledges it, so the next run starts clean.
    let outbox: Vec<Effect> = shop.crm.drain_outbox().into_iter().cloned().collect();
    let delivered: Vec<EffectId> = outbox.iter().map(|e| e.id).collect();
    shop.crm.ack(shop.now, &delivered)?;
    Ok(Order {
        number: client_number,
        deal,
        time_zone: shop.crm.state().calendar().time_zone.to_string(),
        story,
        outbox,
        events: shop.crm.journal().last_seq(),
    })
}

/// The deal's timeline, oldest first, in Moscow time, with who or which rule did what.
fn story(crm: &Crm<SqliteJournal>, deal: DealId) -> Step<Vec<String>> {
    let state = crm.state();
    let calendar = &state.calendar();
    let name = |id: &UserId| {
        state
            .users()
            .get(id)
            .map_or(id.to_string(), |u| u.name.clone())
    };
    let stage = |id: &StageId| {
        state
            .pipelines()
            .values()
            .find_map(|pipeline| pipeline.stage(*id))
            .map_or(id.to_string(), |s| s.name.clone())
    };
    let mut lines = Vec::new();
    let mut events = crm.timeline(Actor::System, deal.into(), None)?;
    events.reverse();
    for envelope in events {
        let what = match &envelope.event {
            Event::DealCreated { deal } => format!("deal \"{}\" created", deal.fields.title),
            Event::ActivityLogged { activity } => format!(
                "{} logged: {}",
                json_name(&activity.kind),
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
                format!("task \"{}\" is overdue", state.tasks()[id].title)
            }
            Event::TaskCompleted { id, outcome, .. } => format!(
                "completed \"{}\" ({})",
                state.tasks()[id].title,
                outcome.as_deref().unwrap_or("done")
            ),
            Event::DealMoved { to, .. } => format!("moved to {}", stage(to)),
            Event::DealUpdated { changed, .. } => format!("updated: {}", changed.join(", ")),
            Event::LineItemsSet { total, .. } => format!(
                "priced: {}",
                total
                    .as_ref()
                    .map_or("-".into(), |t| format_money(t.amount(), t.currency()))
            ),
            Event::PaymentRecorded { payment, .. } => format!(
                "payment {}",
                format_money(payment.amount.amount(), payment.amount.currency())
            ),
            Event::DealPaid { .. } => "paid in full".into(),
            Event::DocumentRendered { document, .. } => {
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
                    json_name(channel)
                ),
                EffectBody::Webhook { name, .. } => format!("webhook {name}"),
                EffectBody::Document { template, .. } => format!("document \"{template}\" queued"),
                EffectBody::Message {
                    contact, channel, ..
                } => format!("message to client {contact} by {}", json_name(channel)),
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
        lines.push(format!(
            "{}  {:<28} {what}",
            calendar.local(envelope.at).format("%a %d.%m %H:%M"),
            who
        ));
    }
    Ok(lines)
}

/// One effect as the host would deliver it: e-mails, SMS, push messages, documents, webhooks.
fn print_effect(effect: &Effect) {
    match &effect.body {
        EffectBody::Notification { text, channel, .. } => {
            println!("  [{}] {}: {text}", effect.id, json_name(channel))
        }
        EffectBody::Message {
            channel,
            address,
            text,
            ..
        } => println!(
            "  [{}] {} to {address}: {text}",
            effect.id,
            json_name(channel)
        ),
        EffectBody::Webhook { url, .. } => println!("  [{}] POST {url}", effect.id),
        EffectBody::Document { content, .. } => {
            println!("  [{}] document:", effect.id);
            for line in content.lines() {
                println!("      {line}");
            }
        }
    }
}

/// A unit enum's name as it is written in JSON (`web_form`, `sms`).
fn json_name<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(Value::String(name)) => name,
        _ => String::from("?"),
    }
}
