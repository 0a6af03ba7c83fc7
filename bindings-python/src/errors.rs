//! The one place where `CrmError` becomes a Python exception: a hierarchy rooted at
//! `CrmError`, one subclass per stable code, each instance carrying `.code`.

use crm_core::CrmError as CoreError;
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

create_exception!(
    crm_core,
    CrmError,
    PyException,
    "Base of every crm-core error; `.code` is the stable code."
);
create_exception!(
    crm_core,
    ValidationError,
    CrmError,
    "A value broke a rule (code `validation`)."
);
create_exception!(
    crm_core,
    MalformedError,
    CrmError,
    "The input could not be read (code `malformed`)."
);
create_exception!(
    crm_core,
    TooLargeError,
    CrmError,
    "An input was too large (code `too_large`)."
);
create_exception!(
    crm_core,
    NotFoundError,
    CrmError,
    "A referenced entity does not exist (code `not_found`)."
);
create_exception!(
    crm_core,
    PermissionDeniedError,
    CrmError,
    "The actor may not do this (code `permission_denied`)."
);
create_exception!(
    crm_core,
    ConflictError,
    CrmError,
    "Not possible in the current state (code `conflict`)."
);
create_exception!(
    crm_core,
    CurrencyMismatchError,
    CrmError,
    "Two currencies were combined (code `currency_mismatch`)."
);
create_exception!(
    crm_core,
    MoneyOverflowError,
    CrmError,
    "Arithmetic left the decimal range (code `overflow`)."
);
create_exception!(
    crm_core,
    StorageError,
    CrmError,
    "The journal failed (code `storage`)."
);

pub(crate) fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = module.py();
    module.add("CrmError", py.get_type::<CrmError>())?;
    module.add("ValidationError", py.get_type::<ValidationError>())?;
    module.add("MalformedError", py.get_type::<MalformedError>())?;
    module.add("TooLargeError", py.get_type::<TooLargeError>())?;
    module.add("NotFoundError", py.get_type::<NotFoundError>())?;
    module.add(
        "PermissionDeniedError",
        py.get_type::<PermissionDeniedError>(),
    )?;
    module.add("ConflictError", py.get_type::<ConflictError>())?;
    module.add(
        "CurrencyMismatchError",
        py.get_type::<CurrencyMismatchError>(),
    )?;
    module.add("MoneyOverflowError", py.get_type::<MoneyOverflowError>())?;
    module.add("StorageError", py.get_type::<StorageError>())?;
    Ok(())
}

/// Converts a core error into the matching exception, with `.code` set and `.field`
/// (the value's JSON path, or `None`).
pub(crate) fn to_py(py: Python<'_>, error: CoreError) -> PyErr {
    let (code, message) = (error.code(), error.to_string());
    let field = error.field().map(str::to_string);
    let err = match error {
        CoreError::Validation { .. } => ValidationError::new_err(message),
        CoreError::Malformed { .. } => MalformedError::new_err(message),
        CoreError::TooLarge { .. } => TooLargeError::new_err(message),
        CoreError::NotFound { .. } => NotFoundError::new_err(message),
        CoreError::PermissionDenied { .. } => PermissionDeniedError::new_err(message),
        CoreError::Conflict { .. } => ConflictError::new_err(message),
        CoreError::CurrencyMismatch { .. } => CurrencyMismatchError::new_err(message),
        CoreError::Overflow { .. } => MoneyOverflowError::new_err(message),
        CoreError::Storage { .. } => StorageError::new_err(message),
        // `CrmError` is non-exhaustive; a new variant still arrives as a CrmError.
        _ => CrmError::new_err(message),
    };
    let value = err.value(py);
    match value
        .setattr("code", code)
        .and_then(|()| value.setattr("field", field))
    {
        Ok(()) => err,
        Err(setattr_failed) => setattr_failed,
    }
}

/// `result.into_py_result(py)?` in the bindings' methods.
pub(crate) trait IntoPyResult<T> {
    fn into_py_result(self, py: Python<'_>) -> PyResult<T>;
}

impl<T> IntoPyResult<T> for Result<T, CoreError> {
    fn into_py_result(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|error| to_py(py, error))
    }
}
