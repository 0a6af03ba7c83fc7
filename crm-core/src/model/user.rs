//! Users, departments and roles: who works in the CRM and whom they answer to.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::common::id::{DepartmentId, UserId};

/// What a user may do. Scope rules are in docs/access.md.
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
    #[serde(deserialize_with = "crate::common::utc::deserialize")]
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
    #[serde(deserialize_with = "crate::common::utc::deserialize")]
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
