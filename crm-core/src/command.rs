//! Commands: every change to the CRM, as data. `decide` validates one against the
//! state and the actor's rights and returns the events it produces, changing nothing.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::access::{Access, Actor};
use crate::activity::NewActivity;
use crate::calendar::Calendar;
use crate::company::{CompanyPatch, NewCompany};
use crate::contact::{ContactPatch, NewContact};
use crate::custom_field::NewField;
use crate::deal::{DealPatch, NewDeal};
use crate::document::{NewTemplate, RenderRequest};
use crate::error::CrmError;
use crate::event::Event;
use crate::id::{AnyId, CompanyId, ContactId, DealId, ReplicaId, StageId, TaskId, UserId};
use crate::import::ContactImport;
use crate::intake::{CallReport, EmailMessage, FormSubmission, IntakeSettings};
use crate::merge::{CompanyMerge, ContactMerge};
use crate::outbox::Acknowledgement;
use crate::payment::{LineItems, NewPayment};
use crate::pipeline::NewPipeline;
use crate::rule::{NoFields, RuleSet};
use crate::state::State;
use crate::tagged::tagged_enum;
use crate::task::{NewTask, TaskCompletion};
use crate::user::{NewDepartment, NewUser, UserPatch};
use crate::{
    activity, calendar, company, contact, custom_field, deal, document, import, intake, merge,
    outbox, ownership, payment, pipeline, rule, task, user,
};

tagged_enum! {
    /// A change to the CRM. JSON: `{"type": "create_contact", ...fields}`.
    pub enum Command via CommandTwin {
        CreateDepartment(NewDepartment) = "create_department",
        CreateUser(NewUser) = "create_user",
        UpdateUser(Update<UserId, UserPatch>) = "update_user",
        /// Keeps the user's history; they can no longer act or be given records.
        DeactivateUser(Target<UserId>) = "deactivate_user",
        DefineField(NewField) = "define_field",
        CreateContact(NewContact) = "create_contact",
        UpdateContact(Update<ContactId, ContactPatch>) = "update_contact",
        /// Merges a duplicate into the contact that stays; `unmerge_contacts` undoes it.
        MergeContacts(ContactMerge) = "merge_contacts",
        /// Takes back the merge of the contact `id` (the one merged away).
        UnmergeContacts(Target<ContactId>) = "unmerge_contacts",
        CreateCompany(NewCompany) = "create_company",
        UpdateCompany(Update<CompanyId, CompanyPatch>) = "update_company",
        /// Merges a duplicate company, its people, deals, tasks and activities into the
        /// company that stays; `unmerge_companies` undoes it.
        MergeCompanies(CompanyMerge) = "merge_companies",
        /// Takes back the merge of the company `id` (the one merged away).
        UnmergeCompanies(Target<CompanyId>) = "unmerge_companies",
        CreatePipeline(NewPipeline) = "create_pipeline",
        CreateDeal(NewDeal) = "create_deal",
        UpdateDeal(Update<DealId, DealPatch>) = "update_deal",
        /// Moves a deal to a stage; a lost stage needs `lost_reason`.
        MoveDeal(DealMove) = "move_deal",
        CreateTask(NewTask) = "create_task",
        CompleteTask(TaskCompletion) = "complete_task",
        CancelTask(TaskCancellation) = "cancel_task",
        ReassignTask(TaskReassignment) = "reassign_task",
        LogActivity(NewActivity) = "log_activity",
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

/// Everything a handler may look at while deciding. It allocates IDs but changes nothing:
/// the counter lives in the state and only moves when the events are applied.
pub(crate) struct Ctx<'s> {
    pub state: &'s State,
    pub access: Access<'s>,
    pub now: DateTime<Utc>,
    pub region: Option<rlibphonenumber::Region>,
    replica: ReplicaId,
    next_seq: u64,
}

impl<'s> Ctx<'s> {
    pub fn new(
        state: &'s State,
        actor: Actor,
        now: DateTime<Utc>,
        replica: ReplicaId,
        region: Option<rlibphonenumber::Region>,
    ) -> Result<Self, CrmError> {
        let access = Access::new(state, actor)?;
        let next_seq = state.next_seq(replica);
        Ok(Self {
            state,
            access,
            now,
            region,
            replica,
            next_seq,
        })
    }

    pub fn actor(&self) -> Actor {
        self.access.actor()
    }

    /// A fresh ID of any kind: `(replica, next sequence)`.
    pub fn next_id<T: crate::id::TypedId>(&mut self) -> T {
        let id = T::from_parts(self.replica, self.next_seq);
        self.next_seq += 1;
        id
    }
}

/// Validates `command` and returns its events, or the reason it is refused.
pub(crate) fn decide(ctx: &mut Ctx<'_>, command: &Command) -> Result<Vec<Event>, CrmError> {
    match command {
        Command::CreateDepartment(input) => user::create_department(ctx, input),
        Command::CreateUser(input) => user::create_user(ctx, input),
        Command::UpdateUser(update) => user::update_user(ctx, update.id, &update.patch),
        Command::DeactivateUser(target) => user::deactivate_user(ctx, target.id),
        Command::DefineField(input) => custom_field::define(ctx, input),
        Command::CreateContact(input) => contact::create(ctx, input),
        Command::UpdateContact(update) => contact::update(ctx, update.id, &update.patch),
        Command::MergeContacts(input) => merge::merge_contacts(ctx, input),
        Command::UnmergeContacts(target) => merge::unmerge_contacts(ctx, target.id),
        Command::MergeCompanies(input) => merge::merge_companies(ctx, input),
        Command::UnmergeCompanies(target) => merge::unmerge_companies(ctx, target.id),
        Command::CreateCompany(input) => company::create(ctx, input),
        Command::UpdateCompany(update) => company::update(ctx, update.id, &update.patch),
        Command::CreatePipeline(input) => pipeline::create(ctx, input),
        Command::CreateDeal(input) => deal::create(ctx, input),
        Command::UpdateDeal(update) => deal::update(ctx, update.id, &update.patch),
        Command::MoveDeal(input) => {
            deal::move_to(ctx, input.id, input.stage, input.lost_reason.as_deref())
        }
        Command::CreateTask(input) => task::create(ctx, input),
        Command::CompleteTask(input) => task::complete(ctx, input),
        Command::CancelTask(input) => task::cancel(ctx, input.id, input.reason.as_deref()),
        Command::ReassignTask(input) => task::reassign(ctx, input.id, input.assignee),
        Command::LogActivity(input) => activity::log(ctx, input),
        Command::ConfigureIntake(input) => intake::configure(ctx, input),
        Command::ReceiveForm(input) => intake::receive_form(ctx, input),
        Command::ReceiveCall(input) => intake::receive_call(ctx, input),
        Command::ReceiveEmail(input) => intake::receive_email(ctx, input),
        Command::ImportContacts(input) => import::import(ctx, input),
        Command::AssignOwner(input) => ownership::assign_owner(ctx, input.record, input.owner),
        Command::ReassignOwner(input) => ownership::reassign_owner(ctx, input.from, input.to),
        Command::DefineRules(input) => rule::define(ctx, input),
        Command::SetCalendar(calendar) => calendar::set(ctx, calendar),
        Command::DefineTemplate(input) => document::define(ctx, input),
        Command::RenderDocument(input) => document::render_for(ctx, &input.template, input.record),
        Command::SetLineItems(input) => payment::set_line_items(ctx, input),
        Command::RecordPayment(input) => payment::record(ctx, input),
        Command::AckEffects(input) => outbox::ack(ctx, input),
        Command::Tick(_) => Ok(Vec::new()),
    }
}
