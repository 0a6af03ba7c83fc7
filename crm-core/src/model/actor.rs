//! Who acts: the host itself or a user. Rights are `access.rs`'s business.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::common::error::CrmError;
use crate::common::id::UserId;

/// Who executes a command or asks a query.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Actor {
    /// The host itself: setup, integrations, migrations. Written `"system"`.
    System,
    /// A user of the CRM, written as their ID.
    User(UserId),
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::System => f.write_str("system"),
            Actor::User(id) => id.fmt(f),
        }
    }
}

impl FromStr for Actor {
    type Err = CrmError;
    fn from_str(text: &str) -> Result<Self, CrmError> {
        if text == "system" {
            return Ok(Actor::System);
        }
        text.parse().map(Actor::User).map_err(|_| {
            CrmError::validation(
                "actor",
                format!("{text:?} is neither \"system\" nor a user id like \"usr-1-2\""),
            )
        })
    }
}

#[cfg(feature = "schema")]
impl schemars::JsonSchema for Actor {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Actor".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "\"system\" (the host) or a user ID like \"usr-1-2\""
        })
    }
}

impl Serialize for Actor {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Actor {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        crate::common::id::deserialize_text(deserializer)
    }
}
