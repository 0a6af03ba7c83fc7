//! Users, departments and roles: who works in the CRM and whom they answer to.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::command::Ctx;
use crate::error::CrmError;
use crate::event::Event;
use crate::id::{DepartmentId, UserId};
use crate::validate;

/// What a user may do. Scope rules are in [`crate::access`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything, including users, pipelines and field definitions.
    Admin,
    /// Everything owned by the members of their department.
    HeadOfDepartment,
    /// Their own contacts, companies, deals and tasks.
    Manager,
    /// A measurer, installer, …: the records linked to tasks assigned to them.
    Specialist,
}

/// A team. Its heads are the users with [`Role::HeadOfDepartment`] in it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Department {
    pub id: DepartmentId,
    pub name: String,
    #[serde(deserialize_with = "crate::utc::deserialize")]
    pub created_at: DateTime<Utc>,
}

/// Input for [`crate::Command::CreateDepartment`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct NewDepartment {
    pub name: String,
}

/// A person who works in the CRM.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct User {
    pub id: UserId,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<DepartmentId>,
    /// What a specialist does, e.g. `"measurer"` or `"installer"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub specialty: Option<String>,
    /// Deactivated users keep their history but can no longer act or be assigned.
    pub active: bool,
    #[serde(deserialize_with = "crate::utc::deserialize")]
    pub created_at: DateTime<Utc>,
}

/// Input for [`crate::Command::CreateUser`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub name: String,
    #[serde(default)]
    pub email: Option<String>,
    pub role: Role,
    #[serde(default)]
    pub department: Option<DepartmentId>,
    #[serde(default)]
    pub specialty: Option<String>,
}

/// Input for [`crate::Command::UpdateUser`]: absent fields stay as they are.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub role: Option<Role>,
    #[serde(default)]
    pub department: Option<DepartmentId>,
    #[serde(default)]
    pub specialty: Option<String>,
}

/// Handles [`crate::Command::CreateDepartment`]: admins only, names unique.
pub(crate) fn create_department(
    ctx: &mut Ctx<'_>,
    input: &NewDepartment,
) -> Result<Vec<Event>, CrmError> {
    ctx.access.require_admin("create departments")?;
    let name = validate::name("name", &input.name)?;
    if ctx
        .state
        .departments
        .values()
        .any(|d| d.name.to_lowercase() == name.to_lowercase())
    {
        return Err(CrmError::conflict(format!(
            "a department named {name:?} already exists"
        )));
    }
    let department = Department {
        id: ctx.next_id(),
        name,
        created_at: ctx.now,
    };
    Ok(vec![Event::DepartmentCreated { department }])
}

/// Handles [`crate::Command::CreateUser`]: admins only (the host's `system` actor creates the first admin).
pub(crate) fn create_user(ctx: &mut Ctx<'_>, input: &NewUser) -> Result<Vec<Event>, CrmError> {
    ctx.access.require_admin("create users")?;
    let mut user = User {
        id: ctx.next_id(),
        name: String::new(),
        email: None,
        role: input.role,
        department: None,
        specialty: None,
        active: true,
        created_at: ctx.now,
    };
    let patch = UserPatch {
        name: Some(input.name.clone()),
        email: input.email.clone(),
        role: Some(input.role),
        department: input.department,
        specialty: input.specialty.clone(),
    };
    apply_patch(ctx, &mut user, &patch)?;
    Ok(vec![Event::UserCreated { user }])
}

/// Handles [`crate::Command::UpdateUser`]: admins only.
pub(crate) fn update_user(
    ctx: &mut Ctx<'_>,
    id: UserId,
    patch: &UserPatch,
) -> Result<Vec<Event>, CrmError> {
    ctx.access.require_admin("change users")?;
    let before = ctx
        .state
        .users
        .get(&id)
        .ok_or_else(|| CrmError::not_found("user", id))?;
    let mut user = before.clone();
    apply_patch(ctx, &mut user, patch)?;
    let changed = validate::changed_keys(before, &user);
    if changed.is_empty() {
        return Ok(Vec::new());
    }
    Ok(vec![Event::UserUpdated { user, changed }])
}

fn apply_patch(ctx: &Ctx<'_>, user: &mut User, patch: &UserPatch) -> Result<(), CrmError> {
    if let Some(name) = &patch.name {
        user.name = validate::name("name", name)?;
    }
    if let Some(email) = &patch.email {
        let email = validate::email("email", email)?;
        let taken = ctx
            .state
            .users
            .values()
            .any(|other| other.id != user.id && other.email.as_ref() == Some(&email));
        if taken {
            return Err(CrmError::conflict(format!(
                "another user already has the e-mail {email:?}"
            )));
        }
        user.email = Some(email);
    }
    if let Some(role) = patch.role {
        user.role = role;
    }
    if let Some(department) = patch.department {
        if !ctx.state.departments.contains_key(&department) {
            return Err(CrmError::not_found("department", department));
        }
        user.department = Some(department);
    }
    if let Some(specialty) = &patch.specialty {
        user.specialty = validate::optional_name("specialty", Some(specialty))?;
    }
    if user.role == Role::HeadOfDepartment && user.department.is_none() {
        return Err(CrmError::validation(
            "department",
            "a head of department needs a department",
        ));
    }
    Ok(())
}

/// Handles [`crate::Command::DeactivateUser`]: admins only, never oneself.
pub(crate) fn deactivate_user(ctx: &mut Ctx<'_>, id: UserId) -> Result<Vec<Event>, CrmError> {
    ctx.access.require_admin("deactivate users")?;
    let user = ctx
        .state
        .users
        .get(&id)
        .ok_or_else(|| CrmError::not_found("user", id))?;
    if ctx.access.user_id() == Some(id) {
        return Err(CrmError::conflict("users cannot deactivate themselves"));
    }
    if !user.active {
        return Ok(Vec::new());
    }
    Ok(vec![Event::UserDeactivated { id }])
}
