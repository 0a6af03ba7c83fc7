//! Handlers for user (the data is in `crate::model::user`).

use crate::common::diff;
use crate::common::error::CrmError;
use crate::common::id::UserId;
use crate::common::validate;
use crate::decide::Ctx;
use crate::event::Event;
use crate::model::user::*;

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
    let changed = diff::changed_keys(before, &user);
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
/// Handles [`crate::Command::EraseUser`]: admins erase a former employee's personal
/// data (name and e-mail, wherever they appear); the user must be deactivated first,
/// and their records stay theirs by ID (docs/privacy.md).
pub(crate) fn erase_user(ctx: &mut Ctx<'_>, id: UserId) -> Result<Vec<Event>, CrmError> {
    ctx.access
        .require_admin("erase an employee's personal data")?;
    let user = ctx
        .state
        .users
        .get(&id)
        .ok_or_else(|| CrmError::not_found("user", id))?;
    if user.active {
        return Err(CrmError::conflict(format!(
            "{id} is still active: deactivate_user first (an employee's data is erased when they have left)"
        )));
    }
    Ok(vec![Event::UserErased { id }])
}

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
