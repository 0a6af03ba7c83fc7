//! Commands: every change to the CRM, as data. `decide` validates one against the
//! state and the actor's rights and returns the events it produces, changing nothing.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::access::{Access, Actor};
use crate::activity::NewActivity;
use crate::company::{CompanyPatch, NewCompany};
use crate::contact::{ContactPatch, NewContact};
use crate::custom_field::NewField;
use crate::deal::{DealPatch, NewDeal};
use crate::error::CrmError;
use crate::event::Event;
use crate::id::{AnyId, DealId, ReplicaId, StageId, TaskId, UserId};
use crate::pipeline::NewPipeline;
use crate::state::State;
use crate::task::{NewTask, TaskCompletion};
use crate::user::{NewDepartment, NewUser, UserPatch};
use crate::{activity, company, contact, custom_field, deal, ownership, pipeline, task, user};

/// A change to the CRM. JSON: `{"type": "create_contact", ...fields}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Command {
    CreateDepartment(NewDepartment),
    CreateUser(NewUser),
    UpdateUser { id: UserId, #[serde(flatten)] patch: UserPatch },
    /// Keeps the user's history; they can no longer act or be given records.
    DeactivateUser { id: UserId },
    DefineField(NewField),
    CreateContact(NewContact),
    UpdateContact { id: crate::id::ContactId, #[serde(flatten)] patch: ContactPatch },
    CreateCompany(NewCompany),
    UpdateCompany { id: crate::id::CompanyId, #[serde(flatten)] patch: CompanyPatch },
    CreatePipeline(NewPipeline),
    CreateDeal(NewDeal),
    UpdateDeal { id: DealId, #[serde(flatten)] patch: DealPatch },
    /// Moves a deal to a stage; a lost stage needs `lost_reason`.
    MoveDeal {
        id: DealId,
        stage: StageId,
        #[serde(default)]
        lost_reason: Option<String>,
    },
    CreateTask(NewTask),
    CompleteTask { id: TaskId, #[serde(flatten)] completion: TaskCompletion },
    CancelTask {
        id: TaskId,
        #[serde(default)]
        reason: Option<String>,
    },
    ReassignTask { id: TaskId, assignee: UserId },
    LogActivity(NewActivity),
    /// Gives one contact, company or deal to another owner.
    AssignOwner { record: AnyId, owner: UserId },
    /// Hands everything `from` owns (contacts, companies, deals) and their open
    /// tasks to `to` in one step, e.g. when an employee leaves.
    ReassignOwner { from: UserId, to: UserId },
}

impl Command {
    /// The command's `type` tag, e.g. `"create_contact"`.
    pub fn name(&self) -> &'static str {
        match self {
            Command::CreateDepartment(_) => "create_department",
            Command::CreateUser(_) => "create_user",
            Command::UpdateUser { .. } => "update_user",
            Command::DeactivateUser { .. } => "deactivate_user",
            Command::DefineField(_) => "define_field",
            Command::CreateContact(_) => "create_contact",
            Command::UpdateContact { .. } => "update_contact",
            Command::CreateCompany(_) => "create_company",
            Command::UpdateCompany { .. } => "update_company",
            Command::CreatePipeline(_) => "create_pipeline",
            Command::CreateDeal(_) => "create_deal",
            Command::UpdateDeal { .. } => "update_deal",
            Command::MoveDeal { .. } => "move_deal",
            Command::CreateTask(_) => "create_task",
            Command::CompleteTask { .. } => "complete_task",
            Command::CancelTask { .. } => "cancel_task",
            Command::ReassignTask { .. } => "reassign_task",
            Command::LogActivity(_) => "log_activity",
            Command::AssignOwner { .. } => "assign_owner",
            Command::ReassignOwner { .. } => "reassign_owner",
        }
    }
}

/// Everything a handler may look at while deciding. It allocates IDs but changes nothing:
/// the counter lives in the state and only moves when the events are applied.
pub(crate) struct Ctx<'s> {
    pub state: &'s State,
    pub access: Access<'s>,
    pub now: DateTime<Utc>,
    pub region: Option<phonenumber::country::Id>,
    replica: ReplicaId,
    next_seq: u64,
}

impl<'s> Ctx<'s> {
    pub fn new(
        state: &'s State,
        actor: Actor,
        now: DateTime<Utc>,
        replica: ReplicaId,
        region: Option<phonenumber::country::Id>,
    ) -> Result<Self, CrmError> {
        let access = Access::new(state, actor)?;
        let next_seq = state.next_seq(replica);
        Ok(Self { state, access, now, region, replica, next_seq })
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
        Command::UpdateUser { id, patch } => user::update_user(ctx, *id, patch),
        Command::DeactivateUser { id } => user::deactivate_user(ctx, *id),
        Command::DefineField(input) => custom_field::define(ctx, input),
        Command::CreateContact(input) => contact::create(ctx, input),
        Command::UpdateContact { id, patch } => contact::update(ctx, *id, patch),
        Command::CreateCompany(input) => company::create(ctx, input),
        Command::UpdateCompany { id, patch } => company::update(ctx, *id, patch),
        Command::CreatePipeline(input) => pipeline::create(ctx, input),
        Command::CreateDeal(input) => deal::create(ctx, input),
        Command::UpdateDeal { id, patch } => deal::update(ctx, *id, patch),
        Command::MoveDeal { id, stage, lost_reason } => deal::move_to(ctx, *id, *stage, lost_reason.as_deref()),
        Command::CreateTask(input) => task::create(ctx, input),
        Command::CompleteTask { id, completion } => task::complete(ctx, *id, completion),
        Command::CancelTask { id, reason } => task::cancel(ctx, *id, reason.as_deref()),
        Command::ReassignTask { id, assignee } => task::reassign(ctx, *id, *assignee),
        Command::LogActivity(input) => activity::log(ctx, input),
        Command::AssignOwner { record, owner } => ownership::assign_owner(ctx, *record, *owner),
        Command::ReassignOwner { from, to } => ownership::reassign_owner(ctx, *from, *to),
    }
}
