//! The one place where `CrmError` becomes a JS `Error`: `name` is e.g.
//! `"ValidationError"`, `code` the stable code, `field` the value's JSON path (when
//! the error names one), `message` the core's message.

use crm_core::CrmError;
use wasm_bindgen::JsValue;

fn class_name(code: &str) -> String {
    let mut name: String = code
        .split('_')
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect();
    name.push_str("Error");
    name
}

/// A real `Error` object (never a thrown string) with `name`, `code` and, where the
/// error names a value, `field` (its JSON path); the package's `CrmError` class
/// recognises it (`instanceof`).
pub(crate) fn to_js_error(error: &CrmError) -> JsValue {
    let js_error = js_sys::Error::new(&error.to_string());
    js_error.set_name(&class_name(error.code()));
    let set = |key: &str, value: &str| {
        let _ = js_sys::Reflect::set(
            &js_error,
            &JsValue::from_str(key),
            &JsValue::from_str(value),
        );
    };
    set("code", error.code());
    if let Some(field) = error.field() {
        set("field", field);
    }
    js_error.into()
}

/// `result.into_js()?` in the binding's methods.
pub(crate) trait IntoJsResult<T> {
    fn into_js(self) -> Result<T, JsValue>;
}

impl<T> IntoJsResult<T> for Result<T, CrmError> {
    fn into_js(self) -> Result<T, JsValue> {
        self.map_err(|error| to_js_error(&error))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn class_names_follow_the_codes() {
        assert_eq!(
            super::class_name("permission_denied"),
            "PermissionDeniedError"
        );
        assert_eq!(super::class_name("validation"), "ValidationError");
    }
}
