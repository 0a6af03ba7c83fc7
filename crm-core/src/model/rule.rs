//! Rules as data: "when this happens, if these hold, do that". A business admin writes
//! them as JSON (docs/rules.md, docs/schemas/rules.schema.json); `define_rules`
//! checks them against the CRM's pipelines, users and templates and replaces the set.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::common::calendar::{ClockTime, Span};
use crate::common::error::CrmError;
use crate::common::id::UserId;
use crate::common::tagged::{self, tagged_enum};
use crate::common::validate;

/// Most rules in one CRM.
pub(crate) const MAX_RULES: usize = 500;
/// Most actions in one rule.
pub(crate) const MAX_ACTIONS: usize = 20;
/// Deepest nesting of `all`/`any`/`not`.
pub(crate) const MAX_CONDITION_DEPTH: usize = 8;

/// Input for [`crate::Command::DefineRules`]: the whole rule set, replacing the current one.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RuleSet {
    pub rules: Vec<Rule>,
}

/// One automation rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// A stable name, e.g. `"call-new-lead"`; events and `explain` cite it.
    pub key: String,
    /// What the rule is for, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// A disabled rule is still listed by `explain` (as skipped), but never fires.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub enabled: bool,
    /// What sets the rule off.
    pub when: Trigger,
    /// Wait this long (working time) after the trigger, then check `if` and act —
    /// "if the deal is still in Pricing a day later, remind the head".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<Span>,
    /// What must also hold (on the record, its linked records, the trigger); with a
    /// `delay`, checked when the wait is over.
    #[serde(default, rename = "if", skip_serializing_if = "Option::is_none")]
    pub condition: Option<Condition>,
    /// What to do, in order; the first failing action stops the rule.
    pub then: Vec<Action>,
}

impl std::str::FromStr for RuleSet {
    type Err = CrmError;
    /// Reads a rules file (`{"rules": [...]}`); errors name the path, e.g.
    /// `rules[3].then[0].due_in: expected duration like "15m"`. References to stages,
    /// users and templates are checked when the set is defined.
    fn from_str(text: &str) -> Result<Self, CrmError> {
        tagged::read_document("rules", text)
    }
}

fn yes() -> bool {
    true
}

fn is_true(value: &bool) -> bool {
    *value
}

tagged_enum! {
    /// What sets a rule off. JSON: `{"type": "stage_entered", "stage": "Measurement"}`.
    #[derive(Eq)]
    pub enum Trigger via TriggerTwin {
        /// A contact, company, deal or task was created.
        RecordCreated(RecordCreated) = "record_created",
        /// A deal entered a stage (also when created in it).
        StageEntered(StageMatch) = "stage_entered",
        /// A deal left a stage.
        StageLeft(StageMatch) = "stage_left",
        /// A field of a contact, company or deal changed (`custom.<key>` for custom fields).
        FieldChanged(FieldChange) = "field_changed",
        TaskCompleted(TaskMatch) = "task_completed",
        /// A task passed its due time while open (fires once per due time it is given).
        TaskOverdue(TaskMatch) = "task_overdue",
        /// An open task is due in `before` (clock time, or working time with `working`):
        /// a reminder, once for each due time the task is given.
        TaskDueSoon(DueSoon) = "task_due_soon",
        PaymentRecorded(NoFields) = "payment_recorded",
        /// Payments reached the deal's amount.
        DealPaid(NoFields) = "deal_paid",
        DealWon(NoFields) = "deal_won",
        DealLost(LostMatch) = "deal_lost",
        /// A web form, call or e-mail arrived (an inbound activity).
        Inbound(InboundMatch) = "inbound",
        /// A deal stayed in a stage longer than the stage's `sla_hours` (working time).
        StageSlaBreached(StageFilter) = "stage_sla_breached",
        /// An open deal saw no stage change and no activity for `after` (clock time).
        DealRotting(Idle) = "deal_rotting",
        /// A client (a contact with a won deal or an activity) had no visit, won deal or
        /// activity for `after` (clock time).
        ContactInactive(Idle) = "contact_inactive",
        /// A date in a contact's, company's or deal's field is `days` away (a contract's
        /// end, a warranty's expiry; `yearly` for birthdays): once per occurrence, at
        /// `at` local time.
        DateReached(DateMatch) = "date_reached",
    }
}

/// For triggers without parameters: `{}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct NoFields {}

/// The kinds of record a trigger can watch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    Contact,
    Company,
    Deal,
    Task,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RecordCreated {
    pub record: RecordKind,
}

/// A stage by name (or ID), optionally within one pipeline (by name or ID).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct StageMatch {
    pub stage: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline: Option<String>,
}

/// Optionally narrows a trigger to one stage.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct StageFilter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct FieldChange {
    pub record: RecordKind,
    /// `amount`, `title`, `source`, … or `custom.<key>`.
    pub field: String,
    /// Only when the old value equals this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Value>,
    /// Only when the new value equals this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct TaskMatch {
    /// Only tasks of this kind, e.g. `"call"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Only completions with this outcome.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
}

/// Which date a `date_reached` rule watches, and when it fires relative to it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct DateMatch {
    /// `contact`, `company` or `deal`.
    pub record: RecordKind,
    /// `custom.<key>` of a date or datetime custom field, or a deal's `expected_close`.
    pub field: String,
    /// Days after the date; negative: before it (`-30`: thirty days before).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub days: i32,
    /// The local time of day it fires, in the business time zone (default 09:00).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<ClockTime>,
    /// Every year on the date's anniversary (29 February: the 28th in other years).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub yearly: bool,
}

fn is_zero(days: &i32) -> bool {
    *days == 0
}

/// How long before a task's due time a reminder goes out, and for which tasks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct DueSoon {
    pub before: Span,
    /// Count `before` in the business calendar's working time (default: clock time).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub working: bool,
    /// Only tasks of this kind, e.g. `"call"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct LostMatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Where an inbound request came in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum InboundChannel {
    WebForm,
    Call,
    Email,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct InboundMatch {
    pub channel: InboundChannel,
    /// E.g. `"missed"` for missed calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Idle {
    pub after: Span,
    /// Deals only: just in this stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
}

tagged_enum! {
    /// What a rule does. JSON: `{"type": "create_task", "title": "…", "due_in": "15m"}`.
    #[derive(Eq)]
    pub enum Action via ActionTwin {
        CreateTask(CreateTask) = "create_task",
        /// Moves the deal (or the task's deal) to a stage of its pipeline.
        MoveStage(MoveStage) = "move_stage",
        /// Sets a field of the record (or the task's record): `title`, `source`,
        /// `custom.<key>`, … as the record's `update_*` command would.
        SetField(SetField) = "set_field",
        AssignOwner(AssignOwner) = "assign_owner",
        /// Queues a notification in the outbox, one per recipient.
        Notify(Notify) = "notify",
        /// Renders a document template for the deal (or the task's record).
        RenderDocument(RenderDocument) = "render_document",
        /// Queues a webhook call in the outbox, with the trigger and record as payload.
        Webhook(Webhook) = "webhook",
        /// Notifies the owner's head of department (or `to`) that something went wrong.
        Escalate(Escalate) = "escalate",
    }
}

/// Who gets a task, notification or record.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Assignee {
    /// The owner of the record (for a task: of the record it is linked to; of an
    /// unlinked task: its assignee).
    #[default]
    Owner,
    /// The head of the owner's department.
    OwnersHead,
    /// The triggering task's assignee.
    Assignee,
    /// The head of the triggering task's assignee's department.
    AssigneesHead,
    /// One user.
    User(UserId),
    /// The active user with this role or specialty (`"measurer"`) with the fewest open
    /// tasks; for notifications, every such user.
    Role(String),
    /// Users with this role or specialty in turn, with a persisted, fair cursor.
    RoundRobin(String),
    /// The record's client — a contact, a deal's or task's contact — by e-mail or SMS,
    /// only with their consent for that channel (`notify` only).
    Client,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateTask {
    /// A template, e.g. `"Call {{ contact.name }}"`.
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    pub assignee: Assignee,
    /// Due this long after the trigger, in working time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_in: Option<Span>,
    /// Due at the time in this field, e.g. `"deal.custom.visit_at"` (plus `due_in`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_from: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct MoveStage {
    pub stage: String,
    /// Needed when the stage is a lost stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lost_reason: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct SetField {
    pub field: String,
    pub value: Value,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct AssignOwner {
    pub to: Assignee,
    /// Which records get the owner: the trigger's record by default; `deal`, `contact`
    /// and `company` name the records linked to it (e.g. a lead's deal and contact).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub records: Vec<RecordKind>,
}

/// How a notification reaches its recipient; the host delivers it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Email,
    Sms,
    Push,
    #[default]
    InApp,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Notify {
    pub to: Assignee,
    #[serde(default)]
    pub channel: Channel,
    /// A template, e.g. `"New lead: {{ contact.name }}"`.
    pub text: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RenderDocument {
    /// The template's key.
    pub template: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    pub url: String,
    /// The event name the receiver sees; defaults to the rule's key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// Shows a rule's webhook addresses only up to their host (`https://hooks.example/…`):
/// their paths and queries often hold the receiver's token.
pub(crate) fn redact_webhooks(rule: &mut Rule) {
    for action in &mut rule.then {
        if let Action::Webhook(hook) = action {
            let (scheme, rest) = hook.url.split_once("://").unwrap_or(("", ""));
            let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
            // `user:token@host` keeps only the host.
            let host = authority.rsplit('@').next().unwrap_or_default();
            hook.url = format!("{scheme}://{host}/…");
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Escalate {
    /// Defaults to `assignees_head` for a task, `owners_head` for other records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Assignee>,
    #[serde(default)]
    pub channel: Channel,
    /// Defaults to a sentence naming the record and what went wrong.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// A test on the record, its linked records or the trigger, combinable with
/// `all`/`any`/`not`. JSON: `{"field": "deal.amount", "gte": "1000"}`,
/// `{"all": [...]}`, `{"any": [...]}`, `{"not": {...}}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Condition {
    All(Vec<Condition>),
    Any(Vec<Condition>),
    Not(Box<Condition>),
    Test(FieldTest),
}

/// `{"field": path, <op>: value}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldTest {
    /// A dotted path into the rule context, e.g. `deal.custom.width` or `owner.department`.
    pub field: String,
    pub op: Op,
    pub value: Value,
}

/// How a field is compared. Numbers (and decimal strings, and money amounts) compare as
/// exact decimals; other strings compare as text (ISO dates and times sort correctly).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Eq,
    Ne,
    Gt,
    Gte,
    Lt,
    Lte,
    /// The value is a list and the field equals one of its items.
    In,
    /// The field (a list or text) contains the value.
    Contains,
    /// `true`: the field is present and not null; `false`: it is absent or null.
    Exists,
}

impl Op {
    const ALL: [(&'static str, Op); 9] = [
        ("eq", Op::Eq),
        ("ne", Op::Ne),
        ("gt", Op::Gt),
        ("gte", Op::Gte),
        ("lt", Op::Lt),
        ("lte", Op::Lte),
        ("in", Op::In),
        ("contains", Op::Contains),
        ("exists", Op::Exists),
    ];

    pub fn name(self) -> &'static str {
        Op::ALL
            .iter()
            .find(|(_, op)| *op == self)
            .map_or("eq", |(name, _)| name)
    }
}

impl Serialize for Condition {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(None)?;
        match self {
            Condition::All(items) => map.serialize_entry("all", items)?,
            Condition::Any(items) => map.serialize_entry("any", items)?,
            Condition::Not(inner) => map.serialize_entry("not", inner)?,
            Condition::Test(test) => {
                map.serialize_entry("field", &test.field)?;
                map.serialize_entry(test.op.name(), &test.value)?;
            }
        }
        map.end()
    }
}

/// What a condition may look like, as its errors say.
const CONDITION_SHAPES: &str =
    "an object: {\"field\": …, \"eq\": …}, {\"all\": […]}, {\"any\": […]} or {\"not\": {…}}";

impl<'de> Deserialize<'de> for Condition {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        tagged::read_object(deserializer, CONDITION_SHAPES, |value| {
            Condition::from_value(value, 0)
        })
    }
}

impl Condition {
    fn from_value(value: Value, depth: usize) -> Result<Condition, String> {
        let Value::Object(mut map) = value else {
            return Err(format!("expected {CONDITION_SHAPES}"));
        };
        if depth > MAX_CONDITION_DEPTH {
            return Err(format!("nested deeper than {MAX_CONDITION_DEPTH} levels"));
        }
        for combinator in ["all", "any", "not"] {
            let Some(inner) = map.remove(combinator) else {
                continue;
            };
            if let Some(extra) = map.keys().next() {
                return Err(tagged::marked(
                    extra,
                    &format!("unexpected next to \"{combinator}\""),
                ));
            }
            if combinator == "not" {
                return Condition::from_value(inner, depth + 1)
                    .map(|c| Condition::Not(Box::new(c)))
                    .map_err(|err| nest("not", err));
            }
            let Value::Array(items) = inner else {
                return Err(tagged::marked(combinator, "expected a list of conditions"));
            };
            if items.len() > validate::MAX_LIST_ITEMS {
                return Err(tagged::marked(
                    combinator,
                    &format!("more than {} conditions", validate::MAX_LIST_ITEMS),
                ));
            }
            let items = items
                .into_iter()
                .enumerate()
                .map(|(i, item)| {
                    Condition::from_value(item, depth + 1)
                        .map_err(|err| nest(&format!("{combinator}[{i}]"), err))
                })
                .collect::<Result<Vec<_>, _>>()?;
            return Ok(if combinator == "all" {
                Condition::All(items)
            } else {
                Condition::Any(items)
            });
        }
        let field = match map.remove("field") {
            Some(Value::String(field)) if !field.trim().is_empty() => field,
            Some(_) => {
                return Err(tagged::marked(
                    "field",
                    "expected a path like \"deal.amount\"",
                ))
            }
            None => {
                return Err(tagged::marked(
                    "field",
                    "is missing (or use \"all\", \"any\" or \"not\")",
                ))
            }
        };
        let mut ops = map.into_iter();
        let (name, value) = ops.next().ok_or_else(|| {
            "needs one comparison: eq, ne, gt, gte, lt, lte, in, contains or exists".to_string()
        })?;
        if let Some((extra, _)) = ops.next() {
            return Err(tagged::marked(&extra, "only one comparison per test"));
        }
        let op = Op::ALL
            .iter()
            .find(|(known, _)| *known == name)
            .map(|(_, op)| *op)
            .ok_or_else(|| {
                tagged::marked(
                    &name,
                    "unknown comparison; expected eq, ne, gt, gte, lt, lte, in, contains or exists",
                )
            })?;
        match (op, &value) {
            (Op::In, Value::Array(_)) | (Op::Exists, Value::Bool(_)) => {}
            (Op::In, _) => return Err(tagged::marked(&name, "expected a list")),
            (Op::Exists, _) => return Err(tagged::marked(&name, "expected true or false")),
            _ => {}
        }
        Ok(Condition::Test(FieldTest { field, op, value }))
    }
}

/// An error from inside `path`, keeping any path the inner error named.
fn nest(path: &str, err: String) -> String {
    let (path, reason) = tagged::unmark(path, err);
    tagged::marked(&path, &reason)
}

#[cfg(feature = "schema")]
impl schemars::JsonSchema for Condition {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Condition".into()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let myself = generator.subschema_for::<Condition>();
        let any = generator.subschema_for::<Value>();
        let mut test = serde_json::Map::new();
        test.insert("field".into(), serde_json::json!({"type": "string"}));
        for (name, _) in Op::ALL {
            test.insert(name.into(), any.clone().into());
        }
        schemars::json_schema!({
            "description": "A test {\"field\": path, <op>: value} with exactly one of eq, ne, gt, gte, lt, lte, in, contains, exists; or all/any/not.",
            "oneOf": [
                {"type": "object", "required": ["all"], "additionalProperties": false,
                 "properties": {"all": {"type": "array", "items": myself.clone()}}},
                {"type": "object", "required": ["any"], "additionalProperties": false,
                 "properties": {"any": {"type": "array", "items": myself.clone()}}},
                {"type": "object", "required": ["not"], "additionalProperties": false,
                 "properties": {"not": myself}},
                {"type": "object", "required": ["field"], "additionalProperties": false,
                 "minProperties": 2, "maxProperties": 2, "properties": test}
            ]
        })
    }
}

impl Trigger {
    /// The trigger's `type`, as cited in `explain`.
    pub fn kind(&self) -> &'static str {
        self.name()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<RuleSet, CrmError> {
        json.parse()
    }

    #[test]
    fn errors_point_at_the_offending_path() {
        let json = r#"{"rules": [
            {"key": "a", "when": {"type": "deal_won"}, "then": [{"type": "notify", "to": "owner", "text": "hi"}]},
            {"key": "b", "when": {"type": "record_created", "record": "deal"},
             "then": [{"type": "create_task", "title": "Call", "due_in": "soon"}]}
        ]}"#;
        let err = parse(json).unwrap_err();
        assert_eq!(err.code(), "malformed");
        assert!(
            err.to_string()
                .contains("rules[1].then[0].due_in: expected duration like \"15m\""),
            "{err}"
        );
        let json = r#"{"rules": [{"key": "a", "when": {"type": "deal_won"},
            "if": {"all": [{"field": "deal.amount", "gte": "1"}, {"field": "x", "between": 1}]},
            "then": [{"type": "notify", "to": "owner", "text": "hi"}]}]}"#;
        let err = parse(json).unwrap_err().to_string();
        assert!(err.contains("rules[0].if.all[1].between"), "{err}");
        let json = r#"{"rules": [{"key": "a", "when": {"type": "deal_wonn"}, "then": []}]}"#;
        let err = parse(json).unwrap_err().to_string();
        assert!(
            err.contains("rules[0].when") && err.contains("unknown variant"),
            "{err}"
        );
    }

    #[test]
    fn rules_round_trip_through_json() {
        let json = serde_json::json!({"rules": [{
            "key": "big-deal", "when": {"type": "stage_entered", "stage": "Pricing"},
            "if": {"any": [{"field": "deal.amount", "gte": "1000"}, {"not": {"field": "deal.tags", "contains": "vip"}}]},
            "then": [{"type": "create_task", "title": "Check", "assignee": {"round_robin": "manager"}, "due_in": "1h30m"}]
        }]});
        let rules: RuleSet = serde_json::from_value(json.clone()).unwrap();
        let back = serde_json::to_value(&rules).unwrap();
        let again: RuleSet = serde_json::from_value(back.clone()).unwrap();
        assert_eq!(rules, again);
        assert_eq!(back["rules"][0]["if"], json["rules"][0]["if"]);
        assert_eq!(back["rules"][0]["then"][0]["due_in"], "1h30m");
    }
}
