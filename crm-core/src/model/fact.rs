//! What an event states that a rule can react to (`automation/` derives them from
//! events; `rule_scheduled` events and timers store them).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::common::id::{ActivityId, AnyId, DealId, StageId, TaskId};
use crate::common::money::Money;

/// Something an event states that a rule can react to. Stored in `rule_scheduled`
/// events, so a delayed rule acts on exactly what happened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Fact {
    Created(AnyId),
    StageEntered {
        deal: DealId,
        stage: StageId,
    },
    StageLeft {
        deal: DealId,
        stage: StageId,
    },
    FieldChanged {
        record: AnyId,
        field: String,
        from: Value,
        to: Value,
    },
    TaskCompleted(TaskId),
    TaskOverdue(TaskId),
    /// A `date_reached` rule's time came for a record, for that rule only.
    DateReached {
        rule: String,
        record: AnyId,
    },
    /// A `task_due_soon` rule's reminder time came, for that rule only.
    TaskDueSoon {
        rule: String,
        task: TaskId,
    },
    PaymentRecorded {
        deal: DealId,
        amount: Money,
    },
    DealPaid(DealId),
    DealWon(DealId),
    DealLost {
        deal: DealId,
        reason: Option<String>,
    },
    Inbound(ActivityId),
    SlaBreached {
        deal: DealId,
        stage: StageId,
    },
    Idle {
        rule: String,
        record: AnyId,
    },
    /// The wait of a delayed rule is over: the fact it waited on, for that rule only.
    Delayed {
        rule: String,
        fact: Box<Fact>,
    },
}

impl Fact {
    /// The trigger type this fact answers to.
    pub fn name(&self) -> &'static str {
        match self {
            Fact::Created(_) => "record_created",
            Fact::StageEntered { .. } => "stage_entered",
            Fact::StageLeft { .. } => "stage_left",
            Fact::FieldChanged { .. } => "field_changed",
            Fact::TaskCompleted(_) => "task_completed",
            Fact::TaskOverdue(_) => "task_overdue",
            Fact::TaskDueSoon { .. } => "task_due_soon",
            Fact::DateReached { .. } => "date_reached",
            Fact::PaymentRecorded { .. } => "payment_recorded",
            Fact::DealPaid(_) => "deal_paid",
            Fact::DealWon(_) => "deal_won",
            Fact::DealLost { .. } => "deal_lost",
            Fact::Inbound(_) => "inbound",
            Fact::SlaBreached { .. } => "stage_sla_breached",
            Fact::Idle { .. } => "idle",
            Fact::Delayed { fact, .. } => fact.name(),
        }
    }
}

/// A delayed rule waiting for its time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub(crate) struct ScheduledRule {
    pub rule: String,
    pub trigger: u64,
    pub subject: AnyId,
    pub fact: Fact,
    pub due: DateTime<Utc>,
}
