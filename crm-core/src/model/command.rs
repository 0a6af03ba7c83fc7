//! Commands: every change to the CRM, as data. `decide` validates one against the
//! state and the actor's rights and returns the events it produces, changing nothing.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::common::calendar::Calendar;
use crate::common::id::{
    ActivityId, AnyId, CompanyId, ContactId, DealId, FieldId, PipelineId, StageId, TaskId, UserId,
};
use crate::common::tagged::tagged_enum;
use crate::model::activity::{ActivityPatch, NewActivity};
use crate::model::company::{CompanyPatch, NewCompany};
use crate::model::contact::{ContactPatch, NewContact};
use crate::model::custom_field::{FieldPatch, NewField};
use crate::model::deal::{DealPatch, NewDeal};
use crate::model::document::{NewTemplate, RenderRequest};
use crate::model::import::{ContactImport, RecordImport};
use crate::model::intake::{CallReport, EmailMessage, FormSubmission, IntakeSettings};
use crate::model::merge::{CompanyMerge, ContactMerge};
use crate::model::outbox::Acknowledgement;
use crate::model::payment::{LineItems, NewPayment};
use crate::model::pipeline::{
    NewPipeline, PipelinePatch, StageAddition, StageArchive, StageOrder, StageUpdate,
};
use crate::model::rule::{NoFields, RuleSet};
use crate::model::task::{NewTask, TaskCompletion, TaskPatch, TaskReschedule, TaskSnooze};
use crate::model::user::{NewDepartment, NewUser, UserPatch};

tagged_enum! {
    /// A change to the CRM. JSON: `{"type": "create_contact", ...fields}`.
    pub enum Command via CommandTwin {
        CreateDepartment(NewDepartment) = "create_department",
        CreateUser(NewUser) = "create_user",
        UpdateUser(Update<UserId, UserPatch>) = "update_user",
        /// Keeps the user's history; they can no longer act or be given records.
        DeactivateUser(Target<UserId>) = "deactivate_user",
        DefineField(NewField) = "define_field",
        /// Changes a custom field's label, required flag or choices, or retires it
        /// (admin); stored values stay valid and readable.
        UpdateField(Update<FieldId, FieldPatch>) = "update_field",
        CreateContact(NewContact) = "create_contact",
        UpdateContact(Update<ContactId, ContactPatch>) = "update_contact",
        /// Merges a duplicate into the contact that stays; `unmerge_contacts` undoes it.
        MergeContacts(ContactMerge) = "merge_contacts",
        /// Takes back the merge of the contact `id` (the one merged away).
        UnmergeContacts(Target<ContactId>) = "unmerge_contacts",
        /// Erases a person (admin): their personal data is blanked in the state and in
        /// every stored event, snapshots dropped; counts and sums stay
        /// (docs/privacy.md).
        EraseContact(Target<ContactId>) = "erase_contact",
        /// Erases a former (deactivated) employee's personal data — their name and
        /// e-mail in the state, every stored event and the SQLite file; their records
        /// stay theirs by ID (admin; docs/privacy.md).
        EraseUser(Target<UserId>) = "erase_user",
        CreateCompany(NewCompany) = "create_company",
        UpdateCompany(Update<CompanyId, CompanyPatch>) = "update_company",
        /// Merges a duplicate company, its people, deals, tasks and activities into the
        /// company that stays; `unmerge_companies` undoes it.
        MergeCompanies(CompanyMerge) = "merge_companies",
        /// Takes back the merge of the company `id` (the one merged away).
        UnmergeCompanies(Target<CompanyId>) = "unmerge_companies",
        CreatePipeline(NewPipeline) = "create_pipeline",
        /// Renames a pipeline or changes its lost reasons (admin).
        UpdatePipeline(Update<PipelineId, PipelinePatch>) = "update_pipeline",
        /// Adds a stage to a pipeline, at the end or before a given stage (admin).
        AddStage(StageAddition) = "add_stage",
        /// Renames a stage or changes its probability or SLA (admin).
        UpdateStage(StageUpdate) = "update_stage",
        /// Puts a pipeline's stages in a new order (admin).
        ReorderStages(StageOrder) = "reorder_stages",
        /// Archives a stage, moving its open deals to `move_to` (admin).
        ArchiveStage(StageArchive) = "archive_stage",
        CreateDeal(NewDeal) = "create_deal",
        UpdateDeal(Update<DealId, DealPatch>) = "update_deal",
        /// Moves a deal to a stage (of its pipeline or another); a lost stage needs
        /// `lost_reason`.
        MoveDeal(DealMove) = "move_deal",
        CreateTask(NewTask) = "create_task",
        CompleteTask(TaskCompletion) = "complete_task",
        CancelTask(TaskCancellation) = "cancel_task",
        ReassignTask(TaskReassignment) = "reassign_task",
        /// Changes a task's title, kind or description.
        UpdateTask(Update<TaskId, TaskPatch>) = "update_task",
        /// Gives an open task a new due time: its overdue timer follows, and an
        /// overdue escalation fires at most once for each due time it had.
        RescheduleTask(TaskReschedule) = "reschedule_task",
        /// Puts an open task off by a span from now (clock or working time).
        SnoozeTask(TaskSnooze) = "snooze_task",
        /// Opens a completed or cancelled task again.
        ReopenTask(Target<TaskId>) = "reopen_task",
        /// Puts a contact, company or deal away: out of the lists (unless they ask), its
        /// idle and SLA timers quiet; still readable and counted in reports.
        ArchiveRecord(Target<AnyId>) = "archive_record",
        /// Takes an archived record back into use.
        RestoreRecord(Target<AnyId>) = "restore_record",
        /// Deletes a contact, company or deal made by mistake, with its tasks and
        /// activities (what others hang on must go first; docs/schema.md).
        DeleteRecord(Target<AnyId>) = "delete_record",
        LogActivity(NewActivity) = "log_activity",
        /// Changes the subject, body or outcome of an activity one logged.
        UpdateActivity(Update<ActivityId, ActivityPatch>) = "update_activity",
        /// Deletes a note (its author, or an admin).
        DeleteActivity(Target<ActivityId>) = "delete_activity",
        /// How web forms and calls become contacts and leads (admin; docs/integrations.md).
        ConfigureIntake(IntakeSettings) = "configure_intake",
        /// A web form submission: the contact matched or created, the lead, the request logged.
        ReceiveForm(FormSubmission) = "receive_form",
        /// A call record from the PBX (generic JSON or an Asterisk CDR): logged on the
        /// caller's open deal or contact; an unknown caller becomes a lead.
        ReceiveCall(CallReport) = "receive_call",
        /// A raw e-mail (RFC 5322): logged on its thread, the correspondent's open deal
        /// or contact; each Message-ID once.
        ReceiveEmail(EmailMessage) = "receive_email",
        /// Contacts from a CSV or spreadsheet file: all rows or none (`check_import`
        /// is the dry run).
        ImportContacts(ContactImport) = "import_contacts",
        /// Companies, deals, tasks or activities from a CSV or spreadsheet file, each row
        /// at its own time, with stages, owners and links by name: all rows or none
        /// (`check_record_import` is the dry run; docs/migration.md).
        ImportRecords(RecordImport) = "import_records",
        /// Gives one contact, company or deal to another owner.
        AssignOwner(OwnerAssignment) = "assign_owner",
        /// Hands everything `from` owns (contacts, companies, deals) and their open
        /// tasks to `to` in one step, e.g. when an employee leaves.
        ReassignOwner(OwnerHandover) = "reassign_owner",
        /// Replaces the automation rules (docs/rules.md).
        DefineRules(RuleSet) = "define_rules",
        /// Sets the business calendar: time zone, working days and hours, holidays.
        SetCalendar(Calendar) = "set_calendar",
        DefineTemplate(NewTemplate) = "define_template",
        /// Renders a template for a record; the document is stored and queued in the outbox.
        RenderDocument(RenderRequest) = "render_document",
        /// Replaces a deal's line items; by default their total becomes its amount.
        SetLineItems(LineItems) = "set_line_items",
        /// A payment (or, negative, a refund) on a deal.
        RecordPayment(NewPayment) = "record_payment",
        /// A business's history from elsewhere: commands at their own past times, as one
        /// all-or-nothing batch, without rules reacting or timers firing for the past
        /// (admin; docs/migration.md).
        ImportHistory(HistoryImport) = "import_history",
        /// Marks outbox effects as delivered.
        AckEffects(Acknowledgement) = "ack_effects",
        /// Lets time pass: fires every timer due by `now` (overdue tasks, SLAs, idle
        /// records). Every command does this first; `tick` does only this.
        Tick(NoFields) = "tick",
    }
}

impl Command {
    /// Whether the automation rules react to this command's events (an import can ask
    /// them not to).
    pub fn runs_rules(&self) -> bool {
        match self {
            Command::ImportContacts(import) => import.run_rules,
            Command::ImportHistory(_) | Command::ImportRecords(_) => false,
            _ => true,
        }
    }
}

/// An update of one entity: `{"id": ..., "patch": {...}}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Update<I, P> {
    pub id: I,
    pub patch: P,
}

/// A command about one entity that needs nothing but its ID.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Target<I> {
    pub id: I,
}

/// Input for [`Command::MoveDeal`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct DealMove {
    pub id: DealId,
    pub stage: StageId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lost_reason: Option<String>,
}

/// Input for [`Command::CancelTask`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct TaskCancellation {
    pub id: TaskId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Input for [`Command::ReassignTask`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct TaskReassignment {
    pub id: TaskId,
    pub assignee: UserId,
}

/// Input for [`Command::AssignOwner`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct OwnerAssignment {
    pub record: AnyId,
    pub owner: UserId,
}

/// Input for [`Command::ReassignOwner`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct OwnerHandover {
    pub from: UserId,
    pub to: UserId,
}

/// Input for [`Command::ImportHistory`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct HistoryImport {
    /// In time order; at most [`MAX_HISTORY_ITEMS`] per batch.
    pub items: Vec<HistoryItem>,
}

/// The most items one `import_history` takes (a host imports a long history in
/// several batches).
pub const MAX_HISTORY_ITEMS: usize = 10_000;

/// One command of a business's history, at its own time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct HistoryItem {
    /// When it happened; not after the import's `now`.
    #[serde(deserialize_with = "crate::common::utc::deserialize")]
    pub at: DateTime<Utc>,
    /// Who did it (checked with that user's rights); default the importing admin.
    #[serde(default, rename = "as", skip_serializing_if = "Option::is_none")]
    pub actor: Option<UserId>,
    pub command: Command,
}
