//! Who may see and change what. Enforced on every command and every query.
//!
//! - admin (and the host's `system` actor): everything;
//! - head of department: records owned by members of their department;
//! - manager: records they own;
//! - specialist: records linked to tasks assigned to them (read, log activities,
//!   complete their tasks).
//!
//! Contacts and companies are also readable through a deal the actor can read,
//! so a measurer sent to a deal sees the client's address and phone.

use crate::common::error::CrmError;
use crate::common::id::{AnyId, UserId};
use crate::event::Event;
use crate::model::actor::Actor;
use crate::model::user::{Role, User};
use crate::state::State;

/// The rights of one actor against one state.
#[derive(Clone, Copy)]
pub(crate) struct Access<'s> {
    state: &'s State,
    actor: Actor,
    user: Option<&'s User>,
}

impl<'s> Access<'s> {
    /// Fails when the actor is an unknown or deactivated user.
    pub(crate) fn new(state: &'s State, actor: Actor) -> Result<Self, CrmError> {
        let user = match actor {
            Actor::System => None,
            Actor::User(id) => {
                let user = state
                    .users
                    .get(&id)
                    .ok_or_else(|| CrmError::not_found("user", id))?;
                if !user.active {
                    return Err(CrmError::denied(actor, "act: the user is deactivated"));
                }
                Some(user)
            }
        };
        Ok(Self { state, actor, user })
    }

    /// What `user` may see, whether or not they may still act (a deactivated owner's
    /// scope still bounds what is said about their records); `None` for no such user.
    pub(crate) fn viewer(state: &'s State, user: UserId) -> Option<Self> {
        let found = state.users.get(&user)?;
        Some(Self {
            state,
            actor: Actor::User(user),
            user: Some(found),
        })
    }

    /// Whether the actor may see `event` in a timeline or an explanation: every record
    /// it names must be readable, and outbox entries (other users' notifications,
    /// webhook addresses with their tokens) are for admins only.
    pub(crate) fn may_see(&self, event: &Event) -> bool {
        match event {
            Event::EffectQueued { .. } | Event::EffectsAcknowledged { .. } => self.is_admin(),
            other => other
                .records()
                .into_iter()
                .all(|record| self.can_read(record)),
        }
    }

    pub(crate) fn actor(&self) -> Actor {
        self.actor
    }

    /// The acting user's id; `None` for the system actor.
    pub(crate) fn user_id(&self) -> Option<UserId> {
        self.user.map(|user| user.id)
    }

    pub(crate) fn is_admin(&self) -> bool {
        self.user.is_none_or(|user| user.role == Role::Admin)
    }

    pub(crate) fn require_admin(&self, action: &str) -> Result<(), CrmError> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(CrmError::denied(
                self.actor,
                format!("{action} (admins only)"),
            ))
        }
    }

    /// Creating contacts, companies and deals is sales work: not for specialists.
    pub(crate) fn require_sales_role(&self, action: &str) -> Result<(), CrmError> {
        match self.user.map(|user| user.role) {
            Some(Role::Specialist) => Err(CrmError::denied(
                self.actor,
                format!("{action} (specialists may not)"),
            )),
            _ => Ok(()),
        }
    }

    /// Whether records owned by `owner` are in the actor's scope (own, department, all).
    pub(crate) fn owns_scope(&self, owner: UserId) -> bool {
        let Some(user) = self.user else { return true };
        match user.role {
            Role::Admin => true,
            Role::HeadOfDepartment => {
                owner == user.id
                    || (user.department.is_some()
                        && self
                            .state
                            .users
                            .get(&owner)
                            .is_some_and(|o| o.department == user.department))
            }
            Role::Manager | Role::Specialist => owner == user.id,
        }
    }

    fn has_task_on(&self, record: AnyId) -> bool {
        let Some(user) = self.user else { return true };
        self.state.task_index.has_task_on(record, user.id)
    }

    /// Whether the actor may change the record (and the record exists).
    pub(crate) fn can_edit(&self, record: AnyId) -> bool {
        let state = self.state;
        match record {
            AnyId::ContactId(id) => state
                .contacts
                .get(&id)
                .is_some_and(|c| self.owns_scope(c.owner)),
            AnyId::CompanyId(id) => state
                .companies
                .get(&id)
                .is_some_and(|c| self.owns_scope(c.owner)),
            AnyId::DealId(id) => state
                .deals
                .get(&id)
                .is_some_and(|d| self.owns_scope(d.owner)),
            AnyId::TaskId(id) => state.tasks.get(&id).is_some_and(|task| {
                self.owns_scope(task.assignee) || task.link.is_some_and(|link| self.can_edit(link))
            }),
            AnyId::ActivityId(id) => state.activities.get(&id).is_some_and(|activity| {
                self.is_admin() || activity.logged_by == self.actor || self.can_edit(activity.link)
            }),
            _ => self.is_admin() && state.exists(record),
        }
    }

    /// Whether the actor may see the record (and the record exists).
    pub(crate) fn can_read(&self, record: AnyId) -> bool {
        let state = self.state;
        // Nothing is readable that is not there — not even to the system, whose task
        // check below would otherwise say yes to any ID.
        if !state.exists(record) {
            return false;
        }
        if self.can_edit(record) {
            return true;
        }
        match record {
            AnyId::DealId(_) => self.has_task_on(record),
            AnyId::ContactId(_) | AnyId::CompanyId(_) => {
                self.has_task_on(record)
                    || state
                        .deals_by_party
                        .of(record)
                        .any(|deal| self.can_read(AnyId::DealId(deal)))
            }
            AnyId::TaskId(id) => state
                .tasks
                .get(&id)
                .is_some_and(|task| Some(task.assignee) == self.user_id()),
            AnyId::ActivityId(id) => state
                .activities
                .get(&id)
                .is_some_and(|activity| self.can_read(activity.link)),
            AnyId::PaymentId(id) => state
                .payments
                .get(&id)
                .is_some_and(|deal| self.can_read((*deal).into())),
            AnyId::DocumentId(id) => state
                .documents
                .get(&id)
                .is_some_and(|document| self.can_read(document.subject)),
            // The outbox is the host's delivery queue: admins and the system only.
            AnyId::EffectId(_) => false,
            // Users, departments, pipelines, stages and field definitions are shared reference data.
            _ => state.exists(record),
        }
    }

    /// `not_found` when the record does not exist, `permission_denied` when it is not visible.
    pub(crate) fn require_read(&self, record: AnyId) -> Result<(), CrmError> {
        self.require(record, self.can_read(record), "read")
    }

    /// `not_found` when the record does not exist, `permission_denied` when it may not be changed.
    pub(crate) fn require_edit(&self, record: AnyId) -> Result<(), CrmError> {
        self.require(record, self.can_edit(record), "change")
    }

    fn require(&self, record: AnyId, allowed: bool, verb: &str) -> Result<(), CrmError> {
        if allowed {
            Ok(())
        } else if !self.state.exists(record) {
            Err(CrmError::not_found(record.kind(), record))
        } else {
            Err(CrmError::denied(
                self.actor,
                format!("{verb} {} {record}", record.kind()),
            ))
        }
    }

    /// The owner a new record gets: the given one (which must be in scope), or the actor.
    pub(crate) fn owner_for_new(&self, requested: Option<UserId>) -> Result<UserId, CrmError> {
        let owner = match (requested, self.user_id()) {
            (Some(owner), _) => owner,
            (None, Some(me)) => me,
            (None, None) => {
                return Err(CrmError::validation(
                    "owner",
                    "is required when the actor is system",
                ))
            }
        };
        self.require_assignable("owner", owner)?;
        if !self.owns_scope(owner) {
            return Err(CrmError::denied(
                self.actor,
                format!("give records to {owner} (outside their scope)"),
            ));
        }
        Ok(owner)
    }

    /// A user that records or tasks can be given to: existing and active.
    pub(crate) fn require_assignable(&self, field: &str, user: UserId) -> Result<(), CrmError> {
        match self.state.users.get(&user) {
            None => Err(CrmError::not_found("user", user)),
            Some(found) if !found.active => Err(CrmError::validation(
                field,
                format!("user {user} is deactivated"),
            )),
            Some(_) => Ok(()),
        }
    }
}
