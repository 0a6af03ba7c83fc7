//! JSON for command and query enums: written `{"type": "create_contact", ...fields}`,
//! read through an externally tagged twin so that errors carry the exact path.
//!
//! serde reads internally tagged enums by buffering, which drops the path of a bad
//! value (`phones[0]`). Reshaping `{"type": t, ...rest}` into `{t: rest}` and reading
//! the twin keeps it, so every error names the field.
//!
//! The path comes from where serde_json stopped in the text ([`path_at`]), found only
//! on the error branch by one non-generic scanner. (A path-tracking deserialiser such
//! as `serde_path_to_error` wraps every visitor of every type, and was 15 % of the
//! browser build: docs/performance.md.)

use serde::de::DeserializeOwned;

use crate::common::error::CrmError;
use crate::common::validate;

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
        #[derive(Clone, Debug, PartialEq, serde::Serialize)]
        #[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
        #[serde(tag = "type", rename_all = "snake_case")]
        pub enum $name {
            $( $(#[$vmeta])* $variant($payload), )*
        }

        impl<'de> serde::Deserialize<'de> for $name {
            /// Reads through the twin, so that errors inside a nested value keep their path.
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                $crate::common::tagged::read_object(
                    deserializer,
                    "a JSON object with a \"type\"",
                    $crate::common::tagged::from_tagged::<$twin>,
                )
                .map($name::from)
            }
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
            type Err = $crate::common::error::CrmError;
            /// Parses the JSON form; errors name the path of the bad value.
            fn from_str(text: &str) -> Result<Self, Self::Err> {
                $crate::common::tagged::read::<$twin>(stringify!($twin), text).map($name::from)
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
    let value = parse_text(what, text)?;
    from_tagged(value).map_err(|message| {
        let (path, reason) = unmark("", message);
        CrmError::malformed(validate::join_path(what, &path), reason)
    })
}

/// Reads a plain JSON document (not a tagged command) whose errors name their path,
/// e.g. a rule set read on its own: `rules[3].then[0].due_in: expected duration …`.
pub(crate) fn read_document<T: DeserializeOwned>(what: &str, text: &str) -> Result<T, CrmError> {
    check_size(what, text)?;
    from_text(text).map_err(|(path, reason)| {
        CrmError::malformed(
            if path.is_empty() {
                what.to_string()
            } else {
                path
            },
            reason,
        )
    })
}

/// Reads any engine input from JSON text (a host's binding reading a report request or
/// options); an error names `what` and the path below it: `request.period.from`.
pub fn read_json<T: DeserializeOwned>(what: &str, text: &str) -> Result<T, CrmError> {
    check_size(what, text)?;
    from_text(text)
        .map_err(|(path, reason)| CrmError::malformed(validate::join_path(what, &path), reason))
}

/// Reads `T` from JSON text; on failure, the path of the bad value (from the position
/// serde_json stopped at, joined with any path marked inside the message) and the reason.
fn from_text<T: DeserializeOwned>(text: &str) -> Result<T, (String, String)> {
    serde_json::from_str(text).map_err(|err| {
        let path = if err.line() == 0 {
            String::new()
        } else {
            path_at(text, err.line(), err.column())
        };
        unmark(&path, reason_of(&err))
    })
}

/// serde_json's message without its " at line L column C" (the path says where).
fn reason_of(err: &serde_json::Error) -> String {
    let message = err.to_string();
    let position = format!(" at line {} column {}", err.line(), err.column());
    match message.strip_suffix(&position) {
        Some(reason) => reason.to_string(),
        None => message,
    }
}

/// Reads a value already parsed (a command inside a batch) as `T`; errors name their
/// path below `at`, e.g. `commands[2].phones[0]`.
pub(crate) fn read_value<T: DeserializeOwned>(
    at: &str,
    value: serde_json::Value,
) -> Result<T, CrmError> {
    serde_json::from_value(value).map_err(|err| {
        let (path, reason) = unmark(at, err.to_string());
        CrmError::malformed(path, reason)
    })
}

/// Refuses absurd sizes before parsing.
fn check_size(what: &str, text: &str) -> Result<(), CrmError> {
    if text.len() > validate::MAX_JSON_BYTES {
        return Err(CrmError::too_large(
            what,
            validate::MAX_JSON_BYTES,
            text.len(),
        ));
    }
    Ok(())
}

/// JSON text as a value, refusing absurd sizes before parsing.
fn parse_text(what: &str, text: &str) -> Result<serde_json::Value, CrmError> {
    check_size(what, text)?;
    serde_json::from_str(text).map_err(|err| {
        // A syntax error (or a number out of range) comes with a line and column only:
        // name the value it is in, as every other refusal does.
        let path = path_at(text, err.line(), err.column());
        CrmError::malformed(validate::join_path(what, &path), err.to_string())
    })
}

/// The JSON path (`items[0].quantity`) of the value at one-based `line` and byte
/// `column` of `text`, as far as the text up to there tells; "" at the top level.
pub(crate) fn path_at(text: &str, line: usize, column: usize) -> String {
    let start = text
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum::<usize>();
    validate::json_path_at(text, start + column)
}

/// Reads a JSON object as a value and converts it, failing while the reader still
/// stands at the object's end: the error's position, and so the path [`path_at`] finds,
/// is the object's own, not that of the list or object around it.
pub(crate) fn read_object<'de, D, T, F>(
    deserializer: D,
    expecting: &'static str,
    convert: F,
) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    F: FnOnce(serde_json::Value) -> Result<T, String>,
{
    struct ObjectVisitor<F> {
        expecting: &'static str,
        convert: F,
    }
    impl<'de, T, F: FnOnce(serde_json::Value) -> Result<T, String>> serde::de::Visitor<'de>
        for ObjectVisitor<F>
    {
        type Value = T;
        fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
            formatter.write_str(self.expecting)
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
            let deserializer = serde::de::value::MapAccessDeserializer::new(map);
            let value = <serde_json::Value as serde::Deserialize>::deserialize(deserializer)?;
            (self.convert)(value).map_err(serde::de::Error::custom)
        }
    }
    deserializer.deserialize_map(ObjectVisitor { expecting, convert })
}

/// Marks a nested error's path inside its message, since serde errors carry only text;
/// the enclosing reader takes it out again and joins it to its own path.
const MARK: char = '\u{1}';

/// Reads a `{"type": tag, ...}` value nested anywhere in a document (rules' triggers
/// and actions) through its externally tagged twin `T`.
pub(crate) fn from_tagged<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, String> {
    let serde_json::Value::Object(mut fields) = value else {
        return Err(format!(
            "expected a JSON object with a \"type\", got {}",
            kind_of(&value)
        ));
    };
    let tag = match fields.remove("type") {
        Some(serde_json::Value::String(tag)) => tag,
        Some(other) => {
            return Err(marked(
                "type",
                &format!("expected a string, got {}", kind_of(&other)),
            ))
        }
        None => return Err(marked("type", "is missing")),
    };
    let reshaped = serde_json::Value::Object(
        [(tag.clone(), serde_json::Value::Object(fields))]
            .into_iter()
            .collect(),
    );
    // Written out compactly and read back, so that an error's position names its path.
    let text = reshaped.to_string();
    from_text(&text).map_err(|(path, reason)| marked(&path_below(&tag, &path), &reason))
}

/// `message` with `path` marked in it (unchanged when the path is empty).
pub(crate) fn marked(path: &str, message: &str) -> String {
    if path.is_empty() {
        message.to_string()
    } else {
        format!("{MARK}{path}{MARK}{message}")
    }
}

/// Splits a marked message into its path (joined below `outer`) and its reason.
pub(crate) fn unmark(outer: &str, message: String) -> (String, String) {
    if let Some(rest) = message.strip_prefix(MARK) {
        if let Some((path, reason)) = rest.split_once(MARK) {
            return (validate::join_path(outer, path), reason.to_string());
        }
    }
    (outer.to_string(), message)
}

/// The path of an error inside the twin's variant `tag` ("" for the value itself).
fn path_below(tag: &str, path: &str) -> String {
    path.strip_prefix(tag)
        .unwrap_or(path)
        .trim_start_matches('.')
        .to_string()
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
