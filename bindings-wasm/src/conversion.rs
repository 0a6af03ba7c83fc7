//! The one place where JS values become engine inputs and engine outputs become JS values.
//! Everything crosses as JSON text, so IDs, amounts and times keep their exact string form.

use chrono::{DateTime, Utc};
use crm_core::{CrmError, CrmOptions, ReplicaId};
use serde::de::DeserializeOwned;
use serde::Serialize;
use wasm_bindgen::{JsCast, JsValue};

use crate::errors::{to_js_error, IntoJsResult};

fn malformed(path: &str, reason: impl Into<String>) -> JsValue {
    to_js_error(&CrmError::Malformed {
        path: path.into(),
        reason: reason.into(),
    })
}

/// `JSON.stringify(value)`, after refusing what JSON would quietly turn into `null` —
/// `NaN`, `Infinity`, an invalid `Date` — since a `null` in a patch means "clear".
pub(crate) fn stringify(what: &str, value: &JsValue) -> Result<String, JsValue> {
    refuse_lossy_values(what, value, 0)?;
    let text =
        js_sys::JSON::stringify(value).map_err(|_| malformed(what, "cannot be written as JSON"))?;
    text.as_string()
        .ok_or_else(|| malformed(what, "expected an object, got undefined"))
}

/// Deeper than this, `JSON.stringify`'s own recursion and the engine's limits decide.
const MAX_DEPTH: usize = 128;

/// Walks `value` as `JSON.stringify` would and refuses, naming the path, a number that
/// is not finite or a `Date` that is invalid.
fn refuse_lossy_values(path: &str, value: &JsValue, depth: usize) -> Result<(), JsValue> {
    let refuse = |reason: String| Err(to_js_error(&CrmError::validation(path, reason)));
    if depth > MAX_DEPTH {
        return Ok(());
    }
    if let Some(number) = value.as_f64() {
        if !number.is_finite() {
            return refuse(format!(
                "{number} is not a number JSON can carry (it would arrive as null, which clears a field)"
            ));
        }
        return Ok(());
    }
    if let Some(date) = value.dyn_ref::<js_sys::Date>() {
        if date.get_time().is_nan() {
            return refuse(
                "is an invalid Date (it would arrive as null, which clears a field)".into(),
            );
        }
        return Ok(());
    }
    if js_sys::Array::is_array(value) {
        let items = js_sys::Array::from(value);
        for (index, item) in items.iter().enumerate() {
            refuse_lossy_values(&format!("{path}[{index}]"), &item, depth + 1)?;
        }
        return Ok(());
    }
    if !value.is_object() {
        return Ok(());
    }
    // An object that writes itself (`toJSON`) is checked as what it writes.
    if let Ok(to_json) = js_sys::Reflect::get(value, &JsValue::from_str("toJSON")) {
        if let Some(to_json) = to_json.dyn_ref::<js_sys::Function>() {
            if let Ok(written) = to_json.call0(value) {
                return refuse_lossy_values(path, &written, depth + 1);
            }
            return Ok(());
        }
    }
    let object: &js_sys::Object = value.unchecked_ref();
    for entry in js_sys::Object::entries(object).iter() {
        let pair = js_sys::Array::from(&entry);
        let key = pair.get(0).as_string().unwrap_or_default();
        refuse_lossy_values(&format!("{path}.{key}"), &pair.get(1), depth + 1)?;
    }
    Ok(())
}

/// A JSON text given as a JS string, refused when it holds a lone surrogate (half of a
/// UTF-16 pair, which no UTF-8 text can hold): passed on as it is, it would become
/// U+FFFD and be stored silently, where `execute` (through `JSON.stringify`) refuses it.
pub(crate) fn json_text(what: &str, value: &js_sys::JsString) -> Result<String, JsValue> {
    let text = String::from(value);
    // Lossy conversion writes U+FFFD for a lone surrogate; only then look closer.
    if text.contains('\u{FFFD}') {
        let units: Vec<u16> = value.iter().collect();
        let mut index = 0;
        while index < units.len() {
            let unit = units[index];
            let paired = (0xD800..0xDC00).contains(&unit)
                && units
                    .get(index + 1)
                    .is_some_and(|next| (0xDC00..0xE000).contains(next));
            if paired {
                index += 2;
                continue;
            }
            if (0xD800..0xE000).contains(&unit) {
                let before = String::from_utf16_lossy(&units[..index]);
                let inner = crm_core::json_path_at(&before, before.len());
                let path = if inner.is_empty() {
                    what.to_string()
                } else {
                    format!("{what}.{inner}")
                };
                return Err(malformed(
                    &path,
                    format!(
                        "holds a lone surrogate (U+{unit:04X}, half of a UTF-16 pair) that text cannot hold"
                    ),
                ));
            }
            index += 1;
        }
    }
    Ok(text)
}

/// `JSON.parse(text)` of engine output.
pub(crate) fn parse(text: &str) -> Result<JsValue, JsValue> {
    js_sys::JSON::parse(text).map_err(|_| {
        to_js_error(&CrmError::Storage {
            reason: "engine output is not JSON".into(),
        })
    })
}

/// Exported events (an array of envelopes), older schema versions upcast.
pub(crate) fn events_from_js(value: &JsValue) -> Result<Vec<crm_core::EventEnvelope>, JsValue> {
    crm_core::envelopes_from_json(&stringify("events", value)?).into_js()
}

/// The actor, `now` and request of a report or chart.
pub(crate) fn report_input(
    actor: &str,
    now: &JsValue,
    request: &JsValue,
) -> Result<(crm_core::Actor, DateTime<Utc>, crm_core::ReportRequest), JsValue> {
    let actor = actor.parse().into_js()?;
    let now = crm_core::parse_now(&now_text(now)?).into_js()?;
    Ok((actor, now, from_js("request", request)?))
}

/// A JS object read as a typed engine input; errors name the path of the bad value.
pub(crate) fn from_js<T: DeserializeOwned>(what: &str, value: &JsValue) -> Result<T, JsValue> {
    crm_core::read_json(what, &stringify(what, value)?).into_js()
}

/// An engine output as a JS value.
pub(crate) fn to_js<T: Serialize>(value: &T) -> Result<JsValue, JsValue> {
    let text = serde_json::to_string(value).map_err(|err| {
        to_js_error(&CrmError::Storage {
            reason: err.to_string(),
        })
    })?;
    parse(&text)
}

/// A JS number that must be a whole, non-negative, exactly representable integer.
pub(crate) fn whole_number(what: &str, value: f64) -> Result<u64, JsValue> {
    if value.fract() != 0.0 || !(0.0..=crm_core::MAX_ID_PART as f64).contains(&value) {
        return Err(to_js_error(&CrmError::validation(
            what,
            format!("{value} is not a whole number in 0..2^53-1"),
        )));
    }
    Ok(value as u64)
}

pub(crate) fn replica(value: f64) -> Result<ReplicaId, JsValue> {
    ReplicaId::new(whole_number("replica_id", value)?).into_js()
}

pub(crate) fn options(value: &JsValue) -> Result<CrmOptions, JsValue> {
    if value.is_undefined() || value.is_null() {
        return Ok(CrmOptions::default());
    }
    from_js("options", value)
}

/// `now` as RFC 3339: a `Date` (via `toISOString`) or a string passed through.
pub(crate) fn now_text(value: &JsValue) -> Result<String, JsValue> {
    if let Some(date) = value.dyn_ref::<js_sys::Date>() {
        if date.get_time().is_nan() {
            return Err(to_js_error(&CrmError::validation(
                "now",
                "is an invalid Date",
            )));
        }
        return Ok(String::from(date.to_iso_string()));
    }
    value.as_string().ok_or_else(|| {
        to_js_error(&CrmError::validation(
            "now",
            "expected a Date or an RFC 3339 string",
        ))
    })
}

pub(crate) fn now(value: &JsValue) -> Result<DateTime<Utc>, JsValue> {
    crm_core::parse_now(&now_text(value)?).into_js()
}
