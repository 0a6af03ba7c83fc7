//! JSON for command and query enums: written `{"type": "create_contact", ...fields}`,
//! read through an externally tagged twin so that errors carry the exact path.
//!
//! serde reads internally tagged enums by buffering, which drops the path of a bad
//! value (`phones[0]`). Reshaping `{"type": t, ...rest}` into `{t: rest}` and reading
//! the twin keeps it, so every error names the field.

use serde::de::DeserializeOwned;

use crate::error::CrmError;
use crate::validate;

/// Declares a `{"type": ...}`-tagged enum of newtype variants, its `name()`, and the
/// externally tagged twin used by [`read`].
macro_rules! tagged_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident via $twin:ident {
            $( $(#[$vmeta:meta])* $variant:ident($payload:ty) = $tag:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
        #[serde(tag = "type", rename_all = "snake_case")]
        pub enum $name {
            $( $(#[$vmeta])* $variant($payload), )*
        }

        impl $name {
            /// The `type` tag, e.g. `"create_contact"`.
            pub fn name(&self) -> &'static str {
                match self {
                    $( $name::$variant(_) => $tag, )*
                }
            }

            /// Every `type` tag, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$($tag),*];
        }

        #[derive(serde::Deserialize)]
        #[serde(rename_all = "snake_case")]
        enum $twin {
            $( $variant($payload), )*
        }

        impl From<$twin> for $name {
            fn from(twin: $twin) -> Self {
                match twin {
                    $( $twin::$variant(payload) => $name::$variant(payload), )*
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::error::CrmError;
            /// Parses the JSON form; errors name the path of the bad value.
            fn from_str(text: &str) -> Result<Self, Self::Err> {
                $crate::tagged::read::<$twin>(stringify!($twin), text).map($name::from)
            }
        }
    };
}
pub(crate) use tagged_enum;

/// Reads `{"type": tag, ...}` JSON into the externally tagged twin `T`.
pub(crate) fn read<T: DeserializeOwned>(twin: &str, text: &str) -> Result<T, CrmError> {
    let what = if twin.starts_with("Query") {
        "query"
    } else {
        "command"
    };
    if text.len() > validate::MAX_JSON_BYTES {
        return Err(CrmError::too_large(
            what,
            validate::MAX_JSON_BYTES,
            text.len(),
        ));
    }
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|err| CrmError::malformed(what, err.to_string()))?;
    let serde_json::Value::Object(mut fields) = value else {
        return Err(CrmError::malformed(
            what,
            format!(
                "expected a JSON object with a \"type\", got {}",
                kind_of(&value)
            ),
        ));
    };
    let tag = match fields.remove("type") {
        Some(serde_json::Value::String(tag)) => tag,
        Some(other) => {
            return Err(CrmError::malformed(
                format!("{what}.type"),
                format!("expected a string, got {}", kind_of(&other)),
            ))
        }
        None => return Err(CrmError::malformed(format!("{what}.type"), "is missing")),
    };
    let reshaped = serde_json::Value::Object(
        [(tag.clone(), serde_json::Value::Object(fields))]
            .into_iter()
            .collect(),
    );
    serde_path_to_error::deserialize(reshaped).map_err(|err| {
        let path = err.path().to_string();
        let inner = path
            .strip_prefix(tag.as_str())
            .unwrap_or(&path)
            .trim_start_matches('.');
        let path = if inner.is_empty() {
            what.to_string()
        } else {
            format!("{what}.{inner}")
        };
        CrmError::malformed(path, err.into_inner().to_string())
    })
}

fn kind_of(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use crate::{Command, Query};

    /// `name()` is written by hand in `tagged_enum!`; serde derives its own name.
    /// They must agree, or `name()` would record a type the JSON reader rejects.
    #[test]
    fn declared_names_are_the_serde_names() {
        for name in Command::NAMES {
            let err = format!(r#"{{"type": "{name}"}}"#)
                .parse::<Command>()
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(!err.contains("unknown variant"), "command {name}: {err}");
        }
        for name in Query::NAMES {
            let err = format!(r#"{{"type": "{name}"}}"#)
                .parse::<Query>()
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(!err.contains("unknown variant"), "query {name}: {err}");
        }
        let err = r#"{"type": "create_contacts"}"#.parse::<Command>().unwrap_err().to_string();
        assert!(err.contains("unknown variant"), "{err}");
    }
}
