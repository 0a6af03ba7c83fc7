//! The one public error type. Every variant has a stable machine-readable `code()`
//! that bindings expose unchanged; messages name the field and the offending value.

use serde::Serialize;

/// Why a command, query or input was refused. Nothing changed when this is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "code", rename_all = "snake_case")]
#[non_exhaustive]
pub enum CrmError {
    /// A value broke a rule: wrong format, out of range, missing, inconsistent.
    #[error("{field}: {reason}")]
    Validation { field: String, reason: String },

    /// The input could not be read at all: broken JSON, wrong type, unknown field.
    #[error("malformed input at {path}: {reason}")]
    Malformed { path: String, reason: String },

    /// An input was larger than the engine accepts.
    #[error("{field}: too large ({actual} > {limit})")]
    TooLarge {
        field: String,
        limit: usize,
        actual: usize,
    },

    /// A referenced entity does not exist.
    #[error("{kind} {id} not found")]
    NotFound { kind: String, id: String },

    /// The actor's role or scope does not allow this.
    #[error("permission denied: {actor} may not {action}")]
    PermissionDenied { actor: String, action: String },

    /// The command is valid in itself but not in the current state.
    #[error("conflict: {reason}")]
    Conflict { reason: String },

    /// Two amounts in different currencies were combined. `field` is the JSON path of
    /// the amount that did not fit (empty where arithmetic has no input to name).
    #[error("{}", mismatch(field, left, right))]
    CurrencyMismatch {
        field: String,
        left: String,
        right: String,
    },

    /// Arithmetic left the representable range.
    #[error("overflow in {operation}")]
    Overflow { operation: String },

    /// The journal could not be read or written.
    #[error("storage: {reason}")]
    Storage { reason: String },
}

fn mismatch(field: &str, left: &str, right: &str) -> String {
    if field.is_empty() {
        format!("currency mismatch: {left} and {right}")
    } else {
        format!("{field}: currency mismatch: {left} and {right}")
    }
}

impl CrmError {
    /// The same error about a part of a larger input (`items[3].command`): field paths
    /// and reasons name where it is.
    pub(crate) fn within(self, prefix: &str) -> CrmError {
        let at = |field: String| {
            if field.is_empty() {
                prefix.to_string()
            } else {
                format!("{prefix}.{field}")
            }
        };
        match self {
            CrmError::Validation { field, reason } => CrmError::Validation {
                field: at(field),
                reason,
            },
            CrmError::Malformed { path, reason } => CrmError::Malformed {
                path: at(path),
                reason,
            },
            CrmError::TooLarge {
                field,
                limit,
                actual,
            } => CrmError::TooLarge {
                field: at(field),
                limit,
                actual,
            },
            CrmError::CurrencyMismatch { field, left, right } => CrmError::CurrencyMismatch {
                field: at(field),
                left,
                right,
            },
            CrmError::Conflict { reason } => CrmError::Conflict {
                reason: format!("{prefix}: {reason}"),
            },
            CrmError::PermissionDenied { actor, action } => CrmError::PermissionDenied {
                actor,
                action: format!("{action} ({prefix})"),
            },
            other => other,
        }
    }

    /// The stable code of this error, e.g. `"validation"` or `"not_found"`.
    pub fn code(&self) -> &'static str {
        match self {
            CrmError::Validation { .. } => "validation",
            CrmError::Malformed { .. } => "malformed",
            CrmError::TooLarge { .. } => "too_large",
            CrmError::NotFound { .. } => "not_found",
            CrmError::PermissionDenied { .. } => "permission_denied",
            CrmError::Conflict { .. } => "conflict",
            CrmError::CurrencyMismatch { .. } => "currency_mismatch",
            CrmError::Overflow { .. } => "overflow",
            CrmError::Storage { .. } => "storage",
        }
    }

    /// The JSON path of the value at fault (`phones[0]`, `command.offset`), where the
    /// error has one: bindings expose it as `field`, HTTP problems as `field`.
    pub fn field(&self) -> Option<&str> {
        match self {
            CrmError::Validation { field, .. }
            | CrmError::TooLarge { field, .. }
            | CrmError::CurrencyMismatch { field, .. } => Some(field.as_str()),
            CrmError::Malformed { path, .. } => Some(path.as_str()),
            _ => None,
        }
        .filter(|field| !field.is_empty())
    }

    /// Every code `code()` can return; bindings map each to an exception class.
    pub const CODES: &'static [&'static str] = &[
        "validation",
        "malformed",
        "too_large",
        "not_found",
        "permission_denied",
        "conflict",
        "currency_mismatch",
        "overflow",
        "storage",
    ];

    pub fn validation(field: impl Into<String>, reason: impl Into<String>) -> Self {
        CrmError::Validation {
            field: field.into(),
            reason: reason.into(),
        }
    }

    pub fn not_found(kind: &str, id: impl ToString) -> Self {
        CrmError::NotFound {
            kind: kind.to_string(),
            id: id.to_string(),
        }
    }

    pub fn denied(actor: impl ToString, action: impl Into<String>) -> Self {
        CrmError::PermissionDenied {
            actor: actor.to_string(),
            action: action.into(),
        }
    }

    pub fn conflict(reason: impl Into<String>) -> Self {
        CrmError::Conflict {
            reason: reason.into(),
        }
    }

    /// `field`: the amount of `right`'s currency does not fit `left`'s.
    pub fn currency_mismatch(
        field: impl Into<String>,
        left: impl ToString,
        right: impl ToString,
    ) -> Self {
        CrmError::CurrencyMismatch {
            field: field.into(),
            left: left.to_string(),
            right: right.to_string(),
        }
    }

    /// The same error naming `field` as the input it is about, where arithmetic deep
    /// down could not (a currency mismatch without a field); others are unchanged.
    pub(crate) fn at(self, at: &str) -> Self {
        match self {
            CrmError::CurrencyMismatch { field, left, right } if field.is_empty() => {
                CrmError::currency_mismatch(at, left, right)
            }
            other => other,
        }
    }

    pub(crate) fn malformed(path: impl Into<String>, reason: impl Into<String>) -> Self {
        CrmError::Malformed {
            path: path.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn too_large(field: impl Into<String>, limit: usize, actual: usize) -> Self {
        CrmError::TooLarge {
            field: field.into(),
            limit,
            actual,
        }
    }
}
