//! The one place where the core's error becomes the foreign one: Kotlin
//! `CrmException.Validation(code, reason, field)`, Swift
//! `CrmError.validation(code:reason:field:)`; `field` is the value's JSON path or null.
//! The field is `reason`, not `message`, which would hide `Throwable.message` in Kotlin.

use crm_core::CrmError as CoreError;

/// Why a call was refused; `code` is the stable code shared by every language.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum CrmError {
    #[error("{reason}")]
    Validation {
        code: String,
        reason: String,
        field: Option<String>,
    },
    #[error("{reason}")]
    Malformed {
        code: String,
        reason: String,
        field: Option<String>,
    },
    #[error("{reason}")]
    TooLarge {
        code: String,
        reason: String,
        field: Option<String>,
    },
    #[error("{reason}")]
    NotFound {
        code: String,
        reason: String,
        field: Option<String>,
    },
    #[error("{reason}")]
    PermissionDenied {
        code: String,
        reason: String,
        field: Option<String>,
    },
    #[error("{reason}")]
    Conflict {
        code: String,
        reason: String,
        field: Option<String>,
    },
    #[error("{reason}")]
    CurrencyMismatch {
        code: String,
        reason: String,
        field: Option<String>,
    },
    #[error("{reason}")]
    Overflow {
        code: String,
        reason: String,
        field: Option<String>,
    },
    #[error("{reason}")]
    Storage {
        code: String,
        reason: String,
        field: Option<String>,
    },
}

impl From<CoreError> for CrmError {
    fn from(error: CoreError) -> Self {
        let (code, reason) = (error.code().to_string(), error.to_string());
        let field = error.field().map(str::to_string);
        match error {
            CoreError::Validation { .. } => CrmError::Validation {
                code,
                reason,
                field,
            },
            CoreError::Malformed { .. } => CrmError::Malformed {
                code,
                reason,
                field,
            },
            CoreError::TooLarge { .. } => CrmError::TooLarge {
                code,
                reason,
                field,
            },
            CoreError::NotFound { .. } => CrmError::NotFound {
                code,
                reason,
                field,
            },
            CoreError::PermissionDenied { .. } => CrmError::PermissionDenied {
                code,
                reason,
                field,
            },
            CoreError::Conflict { .. } => CrmError::Conflict {
                code,
                reason,
                field,
            },
            CoreError::CurrencyMismatch { .. } => CrmError::CurrencyMismatch {
                code,
                reason,
                field,
            },
            CoreError::Overflow { .. } => CrmError::Overflow {
                code,
                reason,
                field,
            },
            // Storage, and any variant added later to the non-exhaustive core enum.
            _ => CrmError::Storage {
                code,
                reason,
                field,
            },
        }
    }
}

/// `result.ffi()?` in the binding's methods.
pub(crate) trait IntoFfi<T> {
    fn ffi(self) -> Result<T, CrmError>;
}

impl<T> IntoFfi<T> for Result<T, CoreError> {
    fn ffi(self) -> Result<T, CrmError> {
        self.map_err(CrmError::from)
    }
}
