//! Events: the facts a command produced. State is a pure fold over them, and they
//! are the audit trail: who did what, when, through which command.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::common::calendar::Calendar;
use crate::common::hlc::Hlc;
use crate::common::id::{
    ActivityId, AnyId, CompanyId, ContactId, DealId, EffectId, PipelineId, ReplicaId, StageId,
    TaskId, UserId,
};
use crate::common::money::Money;
use crate::model::activity::{Activity, ActivityText};
use crate::model::actor::Actor;
use crate::model::company::{Company, CompanyFields};
use crate::model::contact::{Contact, ContactFields};
use crate::model::custom_field::{CustomValues, FieldDefinition};
use crate::model::deal::{Deal, DealFields, DealStatus};
use crate::model::document::{Document, Template};
use crate::model::fact::Fact;
use crate::model::intake::IntakeSettings;
use crate::model::merge::{CompanyMergeRecord, Merge};
use crate::model::outbox::Effect;
use crate::model::payment::{LineItem, Payment};
use crate::model::pipeline::{Pipeline, Stage};
use crate::model::rule::{Channel, Rule};
use crate::model::task::{Task, TaskFields};
use crate::model::user::{Department, User};

/// The version of the event JSON schema written by this build (see docs/schema.md).
pub const SCHEMA_VERSION: u32 = 1;

/// What happened. JSON: `{"type": "deal_moved", ...fields}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    DepartmentCreated {
        department: Department,
    },
    UserCreated {
        user: User,
    },
    /// The user as it is now, and which fields changed.
    UserUpdated {
        user: User,
        changed: Vec<String>,
    },
    UserDeactivated {
        id: UserId,
    },
    FieldDefined {
        field: FieldDefinition,
    },
    /// A custom field's definition as it is now, which of its settings changed, and —
    /// when it became required — how many stored records have no value for it.
    FieldUpdated {
        field: FieldDefinition,
        changed: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        missing: Option<u64>,
    },
    ContactCreated {
        contact: Contact,
    },
    /// The contact's editable fields as they are now, and which changed.
    ContactUpdated {
        id: ContactId,
        fields: ContactFields,
        changed: Vec<String>,
        /// The hybrid-clock time of the edit when it came from a replica (docs/sync.md):
        /// a later edit of the same field wins over it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        hlc: Option<Hlc>,
    },
    /// The intake settings replaced (docs/integrations.md).
    IntakeConfigured {
        settings: IntakeSettings,
    },
    /// `merge.from` was merged into `merge.into` (docs/integrations.md, "Merging").
    ContactsMerged {
        merge: Box<Merge>,
    },
    /// A merge taken back: the survivor's `fields` now, and the records pointed back.
    ContactsUnmerged {
        into: ContactId,
        from: ContactId,
        fields: ContactFields,
        changed: Vec<String>,
        deals: Vec<DealId>,
        tasks: Vec<TaskId>,
        activities: Vec<ActivityId>,
    },
    /// `merge.from` was merged into `merge.into`, its contacts, deals, tasks and
    /// activities re-pointed (docs/integrations.md, "Merging").
    CompaniesMerged {
        merge: Box<CompanyMergeRecord>,
    },
    /// A company merge taken back: the survivor's `fields` now, and the records pointed back.
    CompaniesUnmerged {
        into: CompanyId,
        from: CompanyId,
        fields: CompanyFields,
        changed: Vec<String>,
        contacts: Vec<ContactId>,
        deals: Vec<DealId>,
        tasks: Vec<TaskId>,
        activities: Vec<ActivityId>,
    },
    /// A person erased: their personal data blanked in the state and every stored
    /// event. `records` names what was blanked (their contacts, deals, tasks,
    /// activities, documents, messages) — IDs only, the verifiable record of the erasure.
    ContactErased {
        id: ContactId,
        records: Vec<AnyId>,
    },
    /// The authority ran a replica's pending command (docs/sync.md): its events are
    /// those just before this one in the same batch.
    CommandSynced {
        replica: ReplicaId,
        seq: u64,
    },
    /// A request with an idempotency key ran (docs/server.md): its `events` events are
    /// those just before this one in the same batch, `created` what each of its
    /// commands created. The same key again within a day is answered from here.
    IdempotencyKeyUsed {
        key: String,
        /// A digest of the request's canonical JSON: the key with another request is
        /// refused.
        digest: String,
        events: u64,
        created: Vec<Option<AnyId>>,
    },
    /// The authority refused a replica's pending command, for good; the replica keeps
    /// it for its user with this reason.
    CommandRejected {
        replica: ReplicaId,
        seq: u64,
        code: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        field: Option<String>,
        message: String,
    },
    /// A replica's edit of a field lost to a later one (docs/sync.md): the value it
    /// would have set and when it was typed; the field kept the edit of `kept`.
    FieldConflict {
        record: AnyId,
        field: String,
        value: serde_json::Value,
        hlc: Hlc,
        kept: Hlc,
    },
    /// A former employee's personal data erased (name and e-mail blanked in the state
    /// and every stored event); their records keep their ID.
    UserErased {
        id: UserId,
    },
    CompanyCreated {
        company: Company,
    },
    CompanyUpdated {
        id: CompanyId,
        fields: CompanyFields,
        changed: Vec<String>,
        /// The hybrid-clock time of the edit when it came from a replica (docs/sync.md):
        /// a later edit of the same field wins over it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        hlc: Option<Hlc>,
    },
    PipelineCreated {
        pipeline: Pipeline,
    },
    /// A pipeline's name and lost reasons as they are now, and which changed.
    PipelineUpdated {
        id: PipelineId,
        name: String,
        lost_reasons: Vec<String>,
        changed: Vec<String>,
    },
    /// A stage added at `position` in its pipeline's order.
    StageAdded {
        pipeline: PipelineId,
        stage: Stage,
        position: usize,
    },
    /// A stage as it is now, and which of its settings changed.
    StageUpdated {
        pipeline: PipelineId,
        stage: Stage,
        changed: Vec<String>,
    },
    /// The pipeline's stages in their new order.
    StagesReordered {
        pipeline: PipelineId,
        stages: Vec<StageId>,
    },
    /// No deal moves into the stage any more; it stays for history and reports.
    StageArchived {
        pipeline: PipelineId,
        id: StageId,
    },
    DealCreated {
        deal: Deal,
    },
    DealUpdated {
        id: DealId,
        fields: DealFields,
        changed: Vec<String>,
        /// The hybrid-clock time of the edit when it came from a replica (docs/sync.md):
        /// a later edit of the same field wins over it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        hlc: Option<Hlc>,
    },
    /// A stage change; `status` is where the move left the deal (won/lost at the ends).
    DealMoved {
        id: DealId,
        from: StageId,
        to: StageId,
        status: DealStatus,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        lost_reason: Option<String>,
        /// The pipeline the deal moved into, when `to` is a stage of another one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pipeline: Option<PipelineId>,
    },
    TaskCreated {
        task: Task,
    },
    TaskCompleted {
        id: TaskId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        outcome: Option<String>,
        fields: CustomValues,
    },
    TaskCancelled {
        id: TaskId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    TaskReassigned {
        id: TaskId,
        from: UserId,
        to: UserId,
    },
    /// The task's editable fields as they are now, and which changed.
    TaskUpdated {
        id: TaskId,
        fields: TaskFields,
        changed: Vec<String>,
        /// The hybrid-clock time of the edit when it came from a replica (docs/sync.md):
        /// a later edit of the same field wins over it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        hlc: Option<Hlc>,
    },
    /// A new due time (by `reschedule_task` or `snooze_task`; `null`: none).
    TaskRescheduled {
        id: TaskId,
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            deserialize_with = "crate::common::utc::deserialize_option"
        )]
        from: Option<DateTime<Utc>>,
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            deserialize_with = "crate::common::utc::deserialize_option"
        )]
        to: Option<DateTime<Utc>>,
    },
    /// A completed or cancelled task opened again.
    TaskReopened {
        id: TaskId,
    },
    ActivityLogged {
        activity: Activity,
    },
    /// An activity's text as it is after its author's edit, and which fields changed;
    /// the versions before are the earlier events.
    ActivityUpdated {
        id: ActivityId,
        link: AnyId,
        text: ActivityText,
        changed: Vec<String>,
    },
    /// A contact, company or deal put away: out of the lists, its timers quiet.
    RecordArchived {
        record: AnyId,
    },
    /// An archived record back in use.
    RecordRestored {
        record: AnyId,
    },
    /// A record made by mistake deleted, with the tasks and activities on it: gone from
    /// the state and the reports as if it had never been; its events stay in the
    /// journal.
    RecordDeleted {
        record: AnyId,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        tasks: Vec<TaskId>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        activities: Vec<ActivityId>,
        /// A deleted deal's contact and company, whose last touch its activities set
        /// (replicas of a user's view refresh them; absent before replicas).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        parties: Vec<AnyId>,
    },
    /// A note deleted: gone from the record and the lists; its text stays in the journal
    /// (the audit trail) until the person it names is erased.
    ActivityDeleted {
        id: ActivityId,
        link: AnyId,
    },
    OwnerAssigned {
        record: AnyId,
        from: UserId,
        to: UserId,
    },
    /// Everything `from` owned (and their open tasks), handed to `to`.
    RecordsReassigned {
        from: UserId,
        to: UserId,
        records: Vec<AnyId>,
    },
    /// The whole rule set, replacing the previous one.
    RulesDefined {
        rules: Vec<Rule>,
    },
    CalendarSet {
        calendar: Calendar,
    },
    /// A template (a new version when the key existed).
    TemplateDefined {
        template: Template,
    },
    DocumentRendered {
        document: Document,
        /// The data the template was rendered from, so `rerender` renders again without
        /// replaying the journal (documents rendered before it was kept have none).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        data: Option<Box<serde_json::Value>>,
    },
    LineItemsSet {
        deal: DealId,
        items: Vec<LineItem>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        total: Option<Money>,
    },
    PaymentRecorded {
        deal: DealId,
        payment: Payment,
    },
    /// Payments reached the deal's amount.
    DealPaid {
        deal: DealId,
        paid: Money,
    },
    /// An open task passed its due time (recorded once, at the due time).
    TaskOverdue {
        id: TaskId,
        due: DateTime<Utc>,
    },
    /// A `task_due_soon` rule's reminder time came for an open task (recorded once per
    /// rule and due time, at the reminder time).
    TaskDueSoon {
        id: TaskId,
        rule: String,
        due: DateTime<Utc>,
    },
    /// A deal stayed in a stage past the stage's SLA.
    StageSlaBreached {
        deal: DealId,
        stage: StageId,
        deadline: DateTime<Utc>,
    },
    /// A record went quiet for as long as an idle rule (`deal_rotting`,
    /// `contact_inactive`) waits; `since` is its last sign of life.
    /// A `date_reached` rule's time came for a record: `date` is the occurrence of the
    /// watched date (this year's anniversary for a yearly rule).
    DateReached {
        rule: String,
        record: AnyId,
        date: NaiveDate,
    },
    /// A history import ended: its items are the events before this one, at their own
    /// times. The past is settled: no timer due by `until` fires any more.
    HistoryImported {
        #[serde(deserialize_with = "crate::common::utc::deserialize")]
        until: DateTime<Utc>,
        items: u64,
    },
    RecordIdle {
        rule: String,
        record: AnyId,
        since: DateTime<Utc>,
    },
    /// A rule's message to a client was not sent: no consent for the channel, no
    /// address, or no client — and why.
    MessageWithheld {
        subject: AnyId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        contact: Option<ContactId>,
        channel: Channel,
        reason: String,
    },
    EffectQueued {
        effect: Effect,
    },
    EffectsAcknowledged {
        ids: Vec<EffectId>,
    },
    /// Which rules a trigger set off, and why the others whose trigger matched did not fire.
    RulesEvaluated {
        /// The journal position of the triggering event.
        trigger: u64,
        /// The trigger type, e.g. `stage_entered`.
        on: String,
        subject: AnyId,
        fired: Vec<String>,
        /// Delayed rules that start waiting (their condition is checked when it ends).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        scheduled: Vec<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        skipped: Vec<SkippedRule>,
    },
    /// An action of a fired rule was refused; the rule's later actions did not run.
    RuleFailed {
        rule: String,
        trigger: u64,
        action: usize,
        code: String,
        reason: String,
    },
    /// Rules that would have fired beyond a cascade limit, and did not: the depth of
    /// the chain (`max_cascade_depth`) or, with `limit: "events"`, the events the
    /// chain had already produced (`max_reaction_events`).
    CascadeStopped {
        trigger: u64,
        subject: AnyId,
        depth: u32,
        rules: Vec<String>,
        #[serde(default, skip_serializing_if = "CascadeLimit::is_depth")]
        limit: CascadeLimit,
    },
    /// A delayed rule's wait began; at `due` its condition is checked and it acts.
    RuleScheduled {
        rule: String,
        trigger: u64,
        subject: AnyId,
        fact: Fact,
        due: DateTime<Utc>,
    },
    /// A delayed rule's wait is over (recorded at its due time; `scheduled` is the
    /// journal position of its `rule_scheduled`).
    RuleDue {
        rule: String,
        scheduled: u64,
        subject: AnyId,
        fact: Fact,
    },
    /// The round-robin pool's cursor: `user` got the last assignment.
    RoundRobinAdvanced {
        pool: String,
        user: UserId,
    },
}

/// Which bound stopped a cascade of rules.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum CascadeLimit {
    /// The chain of rules setting each other off was `max_cascade_depth` long.
    #[default]
    Depth,
    /// The chain had produced `max_reaction_events` events.
    Events,
}

impl CascadeLimit {
    fn is_depth(&self) -> bool {
        *self == CascadeLimit::Depth
    }
}

/// A rule whose trigger matched but which did not fire, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SkippedRule {
    pub rule: String,
    pub reason: String,
}

impl Event {
    /// The IDs this event brings into existence (they advance the ID counters).
    /// The hybrid-clock time of a replica's edit, for the events that carry one.
    pub fn edit_clock(&self) -> Option<Hlc> {
        match self {
            Event::ContactUpdated { hlc, .. }
            | Event::CompanyUpdated { hlc, .. }
            | Event::DealUpdated { hlc, .. }
            | Event::TaskUpdated { hlc, .. } => *hlc,
            _ => None,
        }
    }

    pub fn created_ids(&self) -> Vec<AnyId> {
        match self {
            Event::DepartmentCreated { department } => vec![department.id.into()],
            Event::UserCreated { user } => vec![user.id.into()],
            Event::FieldDefined { field } => vec![field.id.into()],
            Event::ContactCreated { contact } => vec![contact.id.into()],
            Event::CompanyCreated { company } => vec![company.id.into()],
            Event::PipelineCreated { pipeline } => std::iter::once(pipeline.id.into())
                .chain(pipeline.stages.iter().map(|stage| stage.id.into()))
                .collect(),
            Event::StageAdded { stage, .. } => vec![stage.id.into()],
            Event::DealCreated { deal } => vec![deal.id.into()],
            Event::TaskCreated { task } => vec![task.id.into()],
            Event::ActivityLogged { activity } => vec![activity.id.into()],
            Event::DocumentRendered { document, .. } => vec![document.id.into()],
            Event::PaymentRecorded { payment, .. } => vec![payment.id.into()],
            Event::EffectQueued { effect } => vec![effect.id.into()],
            _ => Vec::new(),
        }
    }

    /// The records whose timeline shows this event.
    pub fn records(&self) -> Vec<AnyId> {
        match self {
            Event::DepartmentCreated { department } => vec![department.id.into()],
            Event::UserCreated { user } | Event::UserUpdated { user, .. } => vec![user.id.into()],
            Event::UserDeactivated { id } => vec![(*id).into()],
            Event::FieldUpdated { field, .. } => vec![field.id.into()],
            Event::FieldDefined { field } => vec![field.id.into()],
            Event::ContactCreated { contact } => vec![contact.id.into()],
            Event::ContactUpdated { id, .. } => vec![(*id).into()],
            Event::ContactsMerged { merge } => merged_records(
                [merge.into.into(), merge.from.into()],
                &merge.contacts,
                &merge.deals,
                &merge.tasks,
                &merge.activities,
            ),
            Event::ContactsUnmerged {
                into,
                from,
                deals,
                tasks,
                activities,
                ..
            } => merged_records(
                [(*into).into(), (*from).into()],
                &[],
                deals,
                tasks,
                activities,
            ),
            Event::CompaniesMerged { merge } => merged_records(
                [merge.into.into(), merge.from.into()],
                &merge.contacts,
                &merge.deals,
                &merge.tasks,
                &merge.activities,
            ),
            Event::CompaniesUnmerged {
                into,
                from,
                contacts,
                deals,
                tasks,
                activities,
                ..
            } => merged_records(
                [(*into).into(), (*from).into()],
                contacts,
                deals,
                tasks,
                activities,
            ),
            Event::ContactErased { id, .. } => vec![(*id).into()],
            Event::UserErased { id } => vec![(*id).into()],
            Event::FieldConflict { record, .. } => vec![*record],
            Event::CompanyCreated { company } => vec![company.id.into()],
            Event::CompanyUpdated { id, .. } => vec![(*id).into()],
            Event::PipelineCreated { pipeline } => vec![pipeline.id.into()],
            Event::PipelineUpdated { id, .. } => vec![(*id).into()],
            Event::StageAdded { pipeline, .. }
            | Event::StageUpdated { pipeline, .. }
            | Event::StagesReordered { pipeline, .. }
            | Event::StageArchived { pipeline, .. } => vec![(*pipeline).into()],
            Event::DealCreated { deal } => vec![deal.id.into()],
            Event::DealUpdated { id, .. } | Event::DealMoved { id, .. } => vec![(*id).into()],
            Event::TaskCreated { task } => std::iter::once(task.id.into())
                .chain(task.link)
                .chain(
                    task.repeat
                        .as_ref()
                        .and_then(|series| series.previous)
                        .map(AnyId::from),
                )
                .collect(),
            Event::TaskCompleted { id, .. }
            | Event::TaskCancelled { id, .. }
            | Event::TaskReassigned { id, .. }
            | Event::TaskUpdated { id, .. }
            | Event::TaskRescheduled { id, .. }
            | Event::TaskReopened { id } => {
                vec![(*id).into()]
            }
            Event::ActivityLogged { activity } => vec![activity.id.into(), activity.link],
            Event::ActivityUpdated { id, link, .. } => vec![(*id).into(), *link],
            Event::RecordArchived { record } | Event::RecordRestored { record } => vec![*record],
            Event::RecordDeleted {
                record,
                tasks,
                activities,
                ..
            } => std::iter::once(*record)
                .chain(tasks.iter().map(|id| AnyId::from(*id)))
                .chain(activities.iter().map(|id| AnyId::from(*id)))
                .collect(),
            // The note is gone: the deletion is its record's history.
            Event::ActivityDeleted { link, .. } => vec![*link],
            Event::OwnerAssigned { record, .. } => vec![*record],
            Event::RecordsReassigned { records, .. } => records.clone(),
            Event::DocumentRendered { document, .. } => vec![document.id.into(), document.subject],
            Event::LineItemsSet { deal, .. }
            | Event::PaymentRecorded { deal, .. }
            | Event::DealPaid { deal, .. }
            | Event::StageSlaBreached { deal, .. } => vec![(*deal).into()],
            Event::TaskOverdue { id, .. } | Event::TaskDueSoon { id, .. } => vec![(*id).into()],
            Event::RecordIdle { record, .. } | Event::DateReached { record, .. } => vec![*record],
            Event::EffectQueued { effect } => effect.subject.into_iter().collect(),
            Event::MessageWithheld {
                subject, contact, ..
            } => std::iter::once(*subject)
                .chain(contact.map(AnyId::from))
                .collect(),
            Event::RulesEvaluated { subject, .. }
            | Event::CascadeStopped { subject, .. }
            | Event::RuleScheduled { subject, .. }
            | Event::RuleDue { subject, .. } => vec![*subject],
            Event::RulesDefined { .. }
            | Event::IntakeConfigured { .. }
            | Event::CalendarSet { .. }
            | Event::TemplateDefined { .. }
            | Event::EffectsAcknowledged { .. }
            | Event::RuleFailed { .. }
            | Event::HistoryImported { .. }
            | Event::CommandSynced { .. }
            | Event::IdempotencyKeyUsed { .. }
            | Event::CommandRejected { .. }
            | Event::RoundRobinAdvanced { .. } => Vec::new(),
        }
    }
}

/// Both contacts of a merge and every record it re-pointed.
fn merged_records(
    parties: [AnyId; 2],
    contacts: &[ContactId],
    deals: &[DealId],
    tasks: &[TaskId],
    activities: &[ActivityId],
) -> Vec<AnyId> {
    parties
        .into_iter()
        .chain(contacts.iter().map(|id| AnyId::from(*id)))
        .chain(deals.iter().map(|id| AnyId::from(*id)))
        .chain(tasks.iter().map(|id| AnyId::from(*id)))
        .chain(activities.iter().map(|id| AnyId::from(*id)))
        .collect()
}

/// An event as stored in the journal: the event and who, when, where and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct EventEnvelope {
    /// The schema version this envelope was written with.
    pub v: u32,
    /// Position in the journal, from 1, without gaps.
    pub seq: u64,
    /// The replica that recorded the event.
    pub replica: ReplicaId,
    /// The `now` the command was executed with.
    #[serde(deserialize_with = "crate::common::utc::deserialize")]
    pub at: DateTime<Utc>,
    pub actor: Actor,
    /// The `type` of the command that produced the event.
    pub command: String,
    /// The event that triggered this one through an automation rule, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caused_by: Option<u64>,
    /// The rule whose action produced this event, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    pub event: Event,
}
