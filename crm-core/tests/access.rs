//! The access rules against every command and every query: on random histories of the
//! two-department window shop, every user tries every kind of command on every record
//! and asks every kind of question, and an oracle written from docs/access.md — not
//! from `access.rs` — says what each may see and do. Intake, import, timelines,
//! explanations, client statistics, documents, rules and the outbox included.

mod common;

use std::collections::BTreeSet;

use common::{at, Shop};
use crm_core::*;
use proptest::prelude::*;
use serde_json::{json, Value};

/// One random step: who, which kind of command, and indexes into what exists then.
#[derive(Clone, Debug)]
struct Step {
    actor: u8,
    kind: u8,
    a: u8,
    b: u8,
    c: u8,
}

fn step() -> impl Strategy<Value = Step> {
    // Every kind, and more of what the rest needs to act on: contacts, deals, won
    // deals (client statistics), tasks.
    let mut kinds: Vec<u8> = (0..KINDS).collect();
    kinds.extend([0, 0, 2, 2, 2, WIN, WIN, 6, 6]);
    (
        any::<u8>(),
        prop::sample::select(kinds),
        any::<u8>(),
        any::<u8>(),
        any::<u8>(),
    )
        .prop_map(|(actor, kind, a, b, c)| Step {
            actor,
            kind,
            a,
            b,
            c,
        })
}

/// The `index`-th attempt at a kind of command, spread over the records that exist.
fn trial_step(kind: u8, index: u8) -> Step {
    Step {
        actor: 0,
        kind,
        a: index.wrapping_mul(29).wrapping_add(3),
        b: index.wrapping_mul(3).wrapping_add(1),
        c: index / 2,
    }
}

fn pick<T: Copy>(items: &[T], index: u8) -> Option<T> {
    (!items.is_empty()).then(|| items[index as usize % items.len()])
}

/// How many kinds of command [`command`] makes.
const KINDS: u8 = 27;
/// The kind that wins a deal.
const WIN: u8 = 26;

/// The records that exist now, by kind.
struct Records {
    contacts: Vec<ContactId>,
    companies: Vec<CompanyId>,
    deals: Vec<DealId>,
    tasks: Vec<TaskId>,
    effects: Vec<EffectId>,
}

impl Records {
    fn of(state: &State) -> Self {
        Records {
            contacts: state.contacts().keys().copied().collect(),
            companies: state.companies().keys().copied().collect(),
            deals: state.deals().keys().copied().collect(),
            tasks: state.tasks().keys().copied().collect(),
            effects: state.effects().keys().copied().collect(),
        }
    }

    /// Any contact, company or deal.
    fn party(&self, index: u8) -> Option<AnyId> {
        let all: Vec<AnyId> = self
            .contacts
            .iter()
            .map(|id| AnyId::from(*id))
            .chain(self.companies.iter().map(|id| AnyId::from(*id)))
            .chain(self.deals.iter().map(|id| AnyId::from(*id)))
            .collect();
        pick(&all, index)
    }
}

/// The command a step stands for in the shop as it is now; `None` when nothing fits.
fn command(shop: &Shop, step: &Step) -> Option<(UserId, Value)> {
    let state = shop.crm.state();
    let records = Records::of(state);
    let users = shop.users();
    let actor = pick(&users, step.actor)?;
    let user = |index: u8| pick(&users, index).map(|id| id.to_string());
    let text = |id: Option<String>| id.map(Value::String);
    let (a, b, c) = (step.a, step.b, step.c);
    let phone = format!("030 55500{:02}", a % 7);
    let command = match step.kind {
        0 => json!({"type": "create_contact", "name": format!("Client {a}"), "phones": [phone],
            "owner": user(b), "company": text(pick(&records.companies, c).map(|id| id.to_string()))}),
        1 => json!({"type": "create_company", "name": format!("Firm {}", a % 5), "owner": user(b)}),
        2 => {
            json!({"type": "create_deal", "title": "Windows", "pipeline": shop.pipeline.to_string(),
            "contact": text(pick(&records.contacts, a).map(|id| id.to_string())), "owner": user(b),
            "amount": {"amount": format!("{}.00", 100 + c as u32), "currency": "EUR"}})
        }
        3 => json!({"type": "move_deal", "id": pick(&records.deals, a)?.to_string(),
            "stage": pick(&shop.stages, b)?.to_string(), "lost_reason": (b % 5 == 4).then_some("No answer")}),
        4 => json!({"type": "update_deal", "id": pick(&records.deals, a)?.to_string(),
            "patch": {"title": format!("Windows {b}"), "contact": text(pick(&records.contacts, c).map(|id| id.to_string()))}}),
        5 => json!({"type": "update_contact", "id": pick(&records.contacts, a)?.to_string(),
            "patch": {"name": format!("Renamed {b}")}}),
        6 => {
            json!({"type": "create_task", "title": "Visit", "kind": "measurement", "assignee": user(b),
            "link": records.party(a).map(|id| id.to_string()), "due": at(60 + c as i64)})
        }
        7 => {
            json!({"type": "complete_task", "id": pick(&records.tasks, a)?.to_string(), "outcome": "done"})
        }
        8 => {
            json!({"type": "reassign_task", "id": pick(&records.tasks, a)?.to_string(), "assignee": user(b)?})
        }
        9 => json!({"type": "cancel_task", "id": pick(&records.tasks, a)?.to_string()}),
        10 => json!({"type": "log_activity", "kind": "call", "direction": "outbound",
            "link": records.party(a)?.to_string(), "body": "called"}),
        11 => {
            json!({"type": "assign_owner", "record": records.party(a)?.to_string(), "owner": user(b)?})
        }
        12 => json!({"type": "reassign_owner", "from": user(a)?, "to": user(b)?}),
        13 => json!({"type": "record_payment", "deal": pick(&records.deals, a)?.to_string(),
            "amount": {"amount": "10.00", "currency": "EUR"}}),
        14 => json!({"type": "set_line_items", "deal": pick(&records.deals, a)?.to_string(),
            "items": [{"product": "Window", "quantity": "2", "unit_price": {"amount": "50.00", "currency": "EUR"}}]}),
        15 => {
            json!({"type": "render_document", "template": "offer", "record": records.party(a)?.to_string()})
        }
        16 => json!({"type": "merge_contacts", "into": pick(&records.contacts, a)?.to_string(),
            "from": pick(&records.contacts, b)?.to_string()}),
        17 => {
            json!({"type": "receive_form", "form": "contact", "fields": {"name": format!("Lead {a}"), "phone": phone}})
        }
        18 => {
            json!({"type": "receive_call", "call": {"direction": "inbound", "from": phone, "to": "100",
            "started_at": at(30), "ended_at": at(31), "outcome": if b % 2 == 0 { "answered" } else { "missed" }}})
        }
        19 => {
            json!({"type": "import_contacts", "csv": format!("Name,Phone,Company\nImported {a},{phone},Firm {}\n", b % 5)})
        }
        20 => json!({"type": "define_rules", "rules": rules()}),
        21 => json!({"type": "create_user", "name": format!("New {a}"), "role": "manager"}),
        22 => json!({"type": "ack_effects", "ids": [pick(&records.effects, a)?.to_string()]}),
        23 => json!({"type": "configure_intake", "owner": user(b)?}),
        24 => json!({"type": "update_company", "id": pick(&records.companies, a)?.to_string(),
            "patch": {"name": format!("Firm {b}")}}),
        25 => json!({"type": "unmerge_contacts", "id": pick(&records.contacts, a)?.to_string()}),
        _ => {
            json!({"type": "move_deal", "id": pick(&records.deals, a)?.to_string(), "stage": shop.stages[3].to_string()})
        }
    };
    Some((actor, strip_nulls(command)))
}

/// Absent rather than `null`, as a client would write it.
fn strip_nulls(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, strip_nulls(v)))
                .collect(),
        ),
        other => other,
    }
}

/// The shop's automation: a notification and a webhook for every new deal, a call
/// task for every new contact.
fn rules() -> Value {
    json!([
        {"key": "new_deal", "when": {"type": "record_created", "record": "deal"},
         "then": [{"type": "notify", "to": "owner", "text": "New deal {{ deal.title }} ({{ contact.stats.visits }})"},
                  {"type": "webhook", "url": "https://hooks.example/deals?token=s3cret"}]},
        {"key": "call", "when": {"type": "record_created", "record": "contact"},
         "then": [{"type": "create_task", "title": "Call {{ contact.name }}", "kind": "call", "due_in": "1h"}]}
    ])
}

/// The shop, its offer template, its rules and intake, and the random history.
fn shop_after(steps: &[Step]) -> Shop {
    let mut shop = Shop::new();
    let admin = shop.admin.to_string();
    for setup in [
        json!({"type": "define_template", "key": "offer", "name": "Offer",
            "source": "Offer for {{ record.id }}{% if contact %} to {{ contact.name }}, {{ contact.stats.visits }} visits{% endif %}"}),
        json!({"type": "define_rules", "rules": rules()}),
        json!({"type": "configure_intake", "owner": shop.anna.to_string(), "pipeline": shop.pipeline.to_string()}),
    ] {
        shop.crm
            .execute_json(&admin, &at(5).to_rfc3339(), &setup.to_string())
            .unwrap();
    }
    for (minute, step) in steps.iter().enumerate() {
        if let Some((actor, command)) = command(&shop, step) {
            let now = at(10 + minute as i64).to_rfc3339();
            let _ = shop
                .crm
                .execute_json(&actor.to_string(), &now, &command.to_string());
        }
    }
    shop
}

/// The access rules, written from docs/access.md rather than from `access.rs`.
struct Oracle<'a> {
    state: &'a State,
    me: &'a User,
}

impl Oracle<'_> {
    fn admin(&self) -> bool {
        self.me.role == Role::Admin
    }
    /// Records owned by `owner` are the actor's to see and change.
    fn in_scope(&self, owner: UserId) -> bool {
        match self.me.role {
            Role::Admin => true,
            Role::HeadOfDepartment => {
                owner == self.me.id
                    || (self.me.department.is_some()
                        && self.state.users().get(&owner).map(|u| u.department)
                            == Some(self.me.department))
            }
            Role::Manager | Role::Specialist => owner == self.me.id,
        }
    }
    fn has_task_on(&self, record: AnyId) -> bool {
        self.state
            .tasks()
            .values()
            .any(|task| task.link == Some(record) && task.assignee == self.me.id)
    }
    fn owner(&self, record: AnyId) -> Option<UserId> {
        match record {
            AnyId::ContactId(id) => self.state.contacts().get(&id).map(|c| c.owner),
            AnyId::CompanyId(id) => self.state.companies().get(&id).map(|c| c.owner),
            AnyId::DealId(id) => self.state.deals().get(&id).map(|d| d.owner),
            _ => None,
        }
    }
    /// A contact, company or deal the actor may change.
    fn editable(&self, record: AnyId) -> bool {
        match record {
            AnyId::TaskId(id) => self.task_visible(id),
            AnyId::ActivityId(id) => self.state.activities().get(&id).is_some_and(|activity| {
                self.admin()
                    || activity.logged_by == Actor::User(self.me.id)
                    || self.editable(activity.link)
            }),
            other => self.owner(other).is_some_and(|owner| self.in_scope(owner)),
        }
    }
    fn task_visible(&self, id: TaskId) -> bool {
        self.state.tasks().get(&id).is_some_and(|task| {
            task.assignee == self.me.id
                || self.in_scope(task.assignee)
                || task.link.is_some_and(|link| self.editable(link))
        })
    }
    fn readable(&self, record: AnyId) -> bool {
        let state = self.state;
        match record {
            AnyId::DealId(_) => self.editable(record) || self.has_task_on(record),
            AnyId::ContactId(_) | AnyId::CompanyId(_) => {
                self.editable(record)
                    || self.has_task_on(record)
                    || state.deals().values().any(|deal| {
                        (deal.fields.contact.map(AnyId::from) == Some(record)
                            || deal.fields.company.map(AnyId::from) == Some(record))
                            && self.readable(deal.id.into())
                    })
            }
            AnyId::TaskId(id) => self.task_visible(id),
            // Also the one who logged it: their own work stays theirs to see.
            AnyId::ActivityId(id) => state.activities().get(&id).is_some_and(|activity| {
                activity.logged_by == Actor::User(self.me.id) || self.readable(activity.link)
            }),
            AnyId::PaymentId(id) => state
                .payments()
                .get(&id)
                .is_some_and(|deal| self.readable((*deal).into())),
            AnyId::DocumentId(id) => state
                .documents()
                .get(&id)
                .is_some_and(|document| self.readable(document.subject)),
            AnyId::EffectId(id) => self.admin() && state.effects().contains_key(&id),
            other => state.exists(other),
        }
    }
    /// Whether the actor may see an event: everything it names is readable, and the
    /// outbox is for admins.
    fn sees(&self, event: &Event) -> bool {
        match event {
            Event::EffectQueued { .. } | Event::EffectsAcknowledged { .. } => self.admin(),
            other => other
                .records()
                .into_iter()
                .all(|record| self.readable(record)),
        }
    }

    /// Why an event the actor's own command produced was beyond their rights.
    fn forbids(&self, command: &str, event: &Event) -> Option<String> {
        let specialist = self.me.role == Role::Specialist;
        let wrong = |what: &str| Some(format!("{what} through {event:?}"));
        if command.starts_with("receive_") && !self.admin() {
            return wrong("intake by a non-admin");
        }
        match event {
            Event::DepartmentCreated { .. }
            | Event::UserCreated { .. }
            | Event::UserUpdated { .. }
            | Event::UserDeactivated { .. }
            | Event::FieldDefined { .. }
            | Event::PipelineCreated { .. }
            | Event::RulesDefined { .. }
            | Event::CalendarSet { .. }
            | Event::TemplateDefined { .. }
            | Event::IntakeConfigured { .. }
            | Event::EffectsAcknowledged { .. }
                if !self.admin() =>
            {
                wrong("an admin's change")
            }
            Event::ContactCreated { contact } => {
                let company = contact.fields.company.map(AnyId::from);
                if specialist
                    || !self.in_scope(contact.owner)
                    || company.is_some_and(|c| !self.linkable(c))
                {
                    return wrong("a contact out of scope");
                }
                None
            }
            Event::CompanyCreated { company } if specialist || !self.in_scope(company.owner) => {
                wrong("a company out of scope")
            }
            Event::DealCreated { deal } => {
                let parties = [
                    deal.fields.contact.map(AnyId::from),
                    deal.fields.company.map(AnyId::from),
                ];
                if specialist
                    || !self.in_scope(deal.owner)
                    || parties.into_iter().flatten().any(|p| !self.linkable(p))
                {
                    return wrong("a deal out of scope");
                }
                None
            }
            Event::TaskCreated { task } => match task.link {
                Some(link) if !self.linkable(link) => wrong("a task on an unreadable record"),
                Some(link) if task.assignee != self.me.id && !self.editable(link) => {
                    wrong("someone else's task on a record not theirs to change")
                }
                _ => None,
            },
            Event::TaskReassigned { id, to, .. } => {
                let link = self.state.tasks().get(id).and_then(|task| task.link);
                if !self.task_visible(*id)
                    || (*to != self.me.id && link.is_some_and(|l| !self.editable(l)))
                {
                    return wrong("a task handed on");
                }
                None
            }
            Event::TaskCompleted { id, .. } | Event::TaskCancelled { id, .. }
                if !self.task_visible(*id) =>
            {
                wrong("a task not theirs")
            }
            Event::ActivityLogged { activity } if !self.linkable(activity.link) => {
                wrong("an activity on an unreadable record")
            }
            Event::OwnerAssigned { record, to, .. }
                if !self.editable(*record) || !self.in_scope(*to) =>
            {
                wrong("a record given away")
            }
            Event::RecordsReassigned { from, to, records } => {
                if !self.in_scope(*from) || !self.in_scope(*to) {
                    return wrong("a hand-over out of scope");
                }
                records
                    .iter()
                    .find(|record| match record {
                        AnyId::TaskId(id) => self
                            .state
                            .tasks()
                            .get(id)
                            .and_then(|task| task.link)
                            .is_some_and(|link| !self.editable(link)),
                        other => !self.editable(**other),
                    })
                    .and_then(|_| wrong("a record handed over out of scope"))
            }
            Event::DocumentRendered { document, .. } if !self.readable(document.subject) => {
                wrong("a document about an unreadable record")
            }
            Event::EffectQueued { effect } if effect.subject.is_some_and(|s| !self.readable(s)) => {
                wrong("an effect about an unreadable record")
            }
            Event::ContactsMerged { merge }
                if !self.editable(merge.into.into()) || !self.editable(merge.from.into()) =>
            {
                wrong("a merge out of scope")
            }
            Event::ContactsUnmerged { into, from, .. }
                if !self.editable((*into).into()) || !self.editable((*from).into()) =>
            {
                wrong("an unmerge out of scope")
            }
            Event::ContactUpdated { id, fields, .. } => {
                // A link the change leaves as it was is not the actor's doing.
                let before = self.state.contacts().get(id).and_then(|c| c.fields.company);
                let relinked = fields.company.filter(|c| Some(*c) != before);
                (!self.editable((*id).into()) || relinked.is_some_and(|c| !self.linkable(c.into())))
                    .then(|| format!("a contact changed out of scope through {event:?}"))
            }
            Event::CompanyUpdated { id, .. } if !self.editable((*id).into()) => {
                wrong("a company changed")
            }
            Event::DealUpdated { id, fields, .. } => {
                let before = self
                    .state
                    .deals()
                    .get(id)
                    .map(|d| (d.fields.contact, d.fields.company));
                let parties = [
                    fields
                        .contact
                        .filter(|c| before.is_none_or(|b| b.0 != Some(*c)))
                        .map(AnyId::from),
                    fields
                        .company
                        .filter(|c| before.is_none_or(|b| b.1 != Some(*c)))
                        .map(AnyId::from),
                ];
                (!self.editable((*id).into())
                    || parties.into_iter().flatten().any(|p| !self.linkable(p)))
                .then(|| format!("a deal changed out of scope through {event:?}"))
            }
            Event::DealMoved { id, .. }
            | Event::LineItemsSet { deal: id, .. }
            | Event::PaymentRecorded { deal: id, .. }
                if !self.editable((*id).into()) =>
            {
                wrong("a deal's money or stage")
            }
            _ => None,
        }
    }

    /// A record that may be linked to (a contact on a deal, a task's record): one the
    /// actor may read — and one that existed before the command, or was created by it.
    fn linkable(&self, record: AnyId) -> bool {
        !self.state.exists(record) || self.readable(record)
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// No query answers with what the oracle says the actor may not see, no list leaves
    /// out what it may, and no command does what the oracle forbids.
    #[test]
    fn every_command_and_query_keeps_to_the_access_rules(steps in prop::collection::vec(step(), 10..45)) {
        let shop = shop_after(&steps);
        let now = at(10_000);
        for user in shop.users() {
            let state = shop.crm.state();
            let oracle = Oracle { state, me: &state.users()[&user] };
            if let Err(why) = queries_keep_to_the_rules(&shop, &oracle, user, now) {
                prop_assert!(false, "{user}: {why}");
            }
        }
        let before = shop.crm.state().clone();
        for user in shop.users() {
            let oracle = Oracle { state: &before, me: &before.users()[&user] };
            for kind in 0..KINDS {
                for index in 0..8u8 {
                    let step = trial_step(kind, index);
                    let Some((_, command)) = command(&shop, &step) else { continue };
                    let mut trial = shop.crm.clone();
                    let Ok(outcome) = trial.execute_json(&user.to_string(), &at(5_000).to_rfc3339(), &command.to_string()) else { continue };
                    let outcome: Value = serde_json::from_str(&outcome).unwrap();
                    for envelope in outcome["events"].as_array().unwrap() {
                        let envelope: EventEnvelope = serde_json::from_value(envelope.clone()).unwrap();
                        if envelope.actor != Actor::User(user) {
                            continue; // timers and rules act as the system
                        }
                        if let Some(why) = oracle.forbids(&envelope.command, &envelope.event) {
                            prop_assert!(false, "{user} did {command}: {why}");
                        }
                    }
                }
            }
        }
    }
}

fn ask(
    shop: &Shop,
    user: UserId,
    now: chrono::DateTime<chrono::Utc>,
    query: Value,
) -> Result<Value, CrmError> {
    shop.crm
        .query_json(&user.to_string(), &now.to_rfc3339(), &query.to_string())
        .map(|text| serde_json::from_str(&text).unwrap())
}

fn ids(page: &Value, key: &str) -> BTreeSet<String> {
    page[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_string())
        .collect()
}

fn expected<I: ToString>(records: impl Iterator<Item = I>) -> BTreeSet<String> {
    records.map(|id| id.to_string()).collect()
}

/// Every kind of query, asked as `user`, against the oracle.
fn queries_keep_to_the_rules(
    shop: &Shop,
    oracle: &Oracle<'_>,
    user: UserId,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), String> {
    let state = oracle.state;
    let check = |ok: bool, what: String| if ok { Ok(()) } else { Err(what) };
    let all = |query: Value| ask(shop, user, now, query).map_err(|err| err.to_string());

    // Lists: exactly what the oracle says.
    let lists = [
        (
            "list_contacts",
            expected(
                state
                    .contacts()
                    .values()
                    .filter(|c| c.merged_into.is_none() && oracle.readable(c.id.into()))
                    .map(|c| c.id),
            ),
        ),
        (
            "list_companies",
            expected(
                state
                    .companies()
                    .values()
                    .filter(|c| c.merged_into.is_none() && oracle.readable(c.id.into()))
                    .map(|c| c.id),
            ),
        ),
        (
            "list_deals",
            expected(
                state
                    .deals()
                    .keys()
                    .filter(|id| oracle.readable((**id).into())),
            ),
        ),
        (
            "list_tasks",
            expected(
                state
                    .tasks()
                    .keys()
                    .filter(|id| oracle.readable((**id).into())),
            ),
        ),
        (
            "list_activities",
            expected(
                state
                    .activities()
                    .keys()
                    .filter(|id| oracle.readable((**id).into())),
            ),
        ),
    ];
    for (list, want) in lists {
        let got = ids(&all(json!({"type": list, "limit": 1000}))?, "items");
        check(
            got == want,
            format!("{list}: got {got:?}, the oracle says {want:?}"),
        )?;
    }

    // `get` and `rerender`: answered exactly when readable.
    let mut every: Vec<AnyId> = Vec::new();
    every.extend(state.contacts().keys().map(|id| AnyId::from(*id)));
    every.extend(state.companies().keys().map(|id| AnyId::from(*id)));
    every.extend(state.deals().keys().map(|id| AnyId::from(*id)));
    every.extend(state.tasks().keys().map(|id| AnyId::from(*id)));
    every.extend(state.activities().keys().map(|id| AnyId::from(*id)));
    every.extend(state.payments().keys().map(|id| AnyId::from(*id)));
    every.extend(state.documents().keys().map(|id| AnyId::from(*id)));
    every.extend(state.effects().keys().map(|id| AnyId::from(*id)));
    every.extend(state.users().keys().map(|id| AnyId::from(*id)));
    for id in &every {
        let got = ask(
            shop,
            user,
            now,
            json!({"type": "get", "id": id.to_string()}),
        )
        .is_ok();
        check(
            got == oracle.readable(*id),
            format!(
                "get {id}: answered {got}, the oracle says {}",
                oracle.readable(*id)
            ),
        )?;
        if let AnyId::DocumentId(document) = id {
            let got = ask(
                shop,
                user,
                now,
                json!({"type": "rerender", "id": document.to_string()}),
            )
            .is_ok();
            check(
                got == oracle.readable(*id),
                format!("rerender {id}: answered {got}"),
            )?;
        }
    }

    // Timelines and explanations: only events the reader may see.
    let journal = shop.crm.events_since(1).unwrap();
    for id in every.iter().filter(|id| oracle.readable(**id)) {
        for event in all(json!({"type": "timeline", "id": id.to_string(), "limit": 1000}))?
            .as_array()
            .unwrap()
        {
            let event: EventEnvelope = serde_json::from_value(event.clone()).unwrap();
            check(
                oracle.sees(&event.event),
                format!("timeline of {id} shows {:?}", event.event),
            )?;
        }
        if matches!(
            id,
            AnyId::ContactId(_) | AnyId::DealId(_) | AnyId::TaskId(_)
        ) {
            for explanation in all(json!({"type": "explain", "id": id.to_string()}))?
                .as_array()
                .unwrap()
            {
                for fired in explanation["fired"].as_array().unwrap() {
                    for shown in fired["events"].as_array().unwrap() {
                        let seq = shown["seq"].as_u64().unwrap() as usize;
                        let event = &journal[seq - 1].event;
                        check(oracle.sees(event), format!("explain {id} shows {event:?}"))?;
                    }
                }
            }
        }
    }

    // Client statistics: only the won deals the reader may read.
    for contact in state
        .contacts()
        .keys()
        .filter(|id| oracle.readable((**id).into()))
    {
        let stats = all(json!({"type": "client_stats", "id": contact.to_string()}))?;
        let visits = state
            .deals()
            .values()
            .filter(|deal| {
                deal.fields.contact == Some(*contact)
                    && deal.status == DealStatus::Won
                    && oracle.readable(deal.id.into())
            })
            .count() as u64;
        check(
            stats["visits"] == visits,
            format!("client_stats {contact}: {stats}, the oracle counts {visits}"),
        )?;
    }

    // Exports, duplicates, the import's dry run: nothing beyond what may be read.
    for entity in ["contacts", "companies", "deals", "tasks", "activities"] {
        let export = all(json!({"type": "export", "entity": entity}))?;
        for line in export["csv"].as_str().unwrap().lines().skip(1) {
            let id: AnyId = line.split(',').next().unwrap().parse().unwrap();
            check(oracle.readable(id), format!("export {entity} has {id}"))?;
        }
    }
    let duplicates = all(json!({"type": "find_duplicates", "min_score": 0, "limit": 1000}))?;
    for pair in duplicates["pairs"].as_array().unwrap() {
        for side in ["a", "b"] {
            let id: AnyId = pair[side].as_str().unwrap().parse().unwrap();
            check(oracle.readable(id), format!("find_duplicates pairs {id}"))?;
        }
    }
    let phones: Vec<String> = (0..7).map(|n| format!("030 55500{n:02}")).collect();
    let csv = format!(
        "Name,Phone\n{}",
        phones
            .iter()
            .map(|p| format!("Someone,{p}\n"))
            .collect::<String>()
    );
    match ask(shop, user, now, json!({"type": "check_import", "csv": csv})) {
        Ok(check_import) => {
            for duplicate in check_import["duplicates"].as_array().unwrap() {
                if let Some(id) = duplicate["contact"].as_str() {
                    check(
                        oracle.readable(id.parse().unwrap()),
                        format!("check_import names {id}"),
                    )?;
                }
            }
        }
        Err(err) => check(
            oracle.me.role == Role::Specialist,
            format!("check_import refused: {err}"),
        )?,
    }

    // The outbox and the rules' webhook addresses are for admins.
    let outbox = ask(shop, user, now, json!({"type": "outbox"}));
    check(
        outbox.is_ok() == oracle.admin(),
        format!("outbox answered: {}", outbox.is_ok()),
    )?;
    let rules = all(json!({"type": "list_rules"}))?.to_string();
    check(
        oracle.admin() || !rules.contains("s3cret"),
        "list_rules shows a webhook token".into(),
    )?;
    Ok(())
}

/// The property above is only as good as the histories it sees: a fixed history that
/// cycles through every kind of command reaches every kind of record, and every kind
/// of command is accepted from someone.
#[test]
fn the_histories_reach_every_kind_of_record_and_command() {
    // The admin first (who may do everything), then a manager and a specialist.
    let steps: Vec<Step> = (0..400u32)
        .map(|n| Step {
            actor: if n < 200 { 0 } else { (n % 3) as u8 * 2 },
            kind: (n % KINDS as u32) as u8,
            a: (n * 7 % 11) as u8,
            b: (n * 5 % 13) as u8,
            c: (n % 4) as u8,
        })
        .collect();
    let shop = shop_after(&steps);
    let state = shop.crm.state();
    let kinds = [
        ("contacts", state.contacts().len()),
        ("companies", state.companies().len()),
        ("deals", state.deals().len()),
        ("tasks", state.tasks().len()),
        ("activities", state.activities().len()),
        ("payments", state.payments().len()),
        ("documents", state.documents().len()),
        ("effects", state.effects().len()),
        ("merges", state.merges().len()),
    ];
    for (kind, count) in kinds {
        assert!(count > 0, "no {kind} in {kinds:?}");
    }
    let mut accepted = BTreeSet::new();
    for user in shop.users() {
        for kind in 0..KINDS {
            for index in 0..8u8 {
                let step = trial_step(kind, index);
                let Some((_, command)) = command(&shop, &step) else {
                    continue;
                };
                let mut trial = shop.crm.clone();
                if trial
                    .execute_json(
                        &user.to_string(),
                        &at(5_000).to_rfc3339(),
                        &command.to_string(),
                    )
                    .is_ok()
                {
                    accepted.insert(kind);
                }
            }
        }
    }
    let missing: Vec<u8> = (0..KINDS).filter(|kind| !accepted.contains(kind)).collect();
    assert!(missing.is_empty(), "kinds never accepted: {missing:?}");
}
