//! The binding's own boundary in a real browser (wasm-bindgen-test in headless
//! Chromium, scripts/test-all's browser suite): the office build's engine answers,
//! refuses with a real `Error` carrying `code` and `field`, and reads JS dates.
#![cfg(target_arch = "wasm32")]

use crm_wasm::{JsCrm, JsReplica};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn json(text: &str) -> JsValue {
    js_sys::JSON::parse(text).unwrap()
}

fn field(value: &JsValue, key: &str) -> JsValue {
    js_sys::Reflect::get(value, &JsValue::from_str(key)).unwrap()
}

const FIRST_ADMIN: &str = r#"{"type": "create_user", "name": "Olga", "role": "admin"}"#;

/// `field` of a JS object as a string, if it is one.
fn text(value: &JsValue, key: &str) -> Option<String> {
    field(value, key).as_string()
}

#[wasm_bindgen_test]
fn a_command_runs_and_its_answer_is_a_js_object() {
    let mut crm = JsCrm::new(1.0, JsValue::UNDEFINED).unwrap();
    let now = js_sys::Date::new(&JsValue::from_str("2026-12-05T09:00:00Z"));
    let outcome = crm
        .execute("system", now.into(), json(FIRST_ADMIN))
        .unwrap();
    assert_eq!(text(&outcome, "created").as_deref(), Some("usr-1-1"));
    assert_eq!(crm.last_seq(), 1.0);
}

#[wasm_bindgen_test]
fn a_refusal_is_an_error_with_code_and_field() {
    let mut crm = JsCrm::new(1.0, JsValue::UNDEFINED).unwrap();
    let now = JsValue::from_str("2026-12-05T09:00:00Z");
    let outcome = crm
        .execute("system", now.clone(), json(FIRST_ADMIN))
        .unwrap();
    let admin = text(&outcome, "created").unwrap();
    let contact = json(r#"{"type": "create_contact", "name": "A", "phones": ["12"]}"#);
    let error = crm.execute(&admin, now, contact).unwrap_err();
    let error: js_sys::Error = error.dyn_into().expect("a real Error, not a thrown string");
    assert_eq!(String::from(error.name()), "ValidationError");
    assert_eq!(text(&error, "code").as_deref(), Some("validation"));
    assert_eq!(text(&error, "field").as_deref(), Some("phones[0]"));
    assert_eq!(crm.last_seq(), 1.0, "nothing recorded");
}

#[wasm_bindgen_test]
fn an_invalid_date_is_refused_not_turned_into_null() {
    let mut crm = JsCrm::new(1.0, JsValue::UNDEFINED).unwrap();
    let invalid = js_sys::Date::new(&JsValue::from_str("not a date"));
    let error = crm
        .execute("system", invalid.into(), json(FIRST_ADMIN))
        .unwrap_err();
    assert_eq!(text(&error, "code").as_deref(), Some("validation"));
    assert_eq!(crm.last_seq(), 0.0);
}

#[wasm_bindgen_test]
fn a_replica_round_trips_through_its_stored_texts() {
    let mut replica = JsReplica::new(7.0, JsValue::UNDEFINED).unwrap();
    let (events, log) = (replica.events().unwrap(), replica.log().unwrap());
    let restored = JsReplica::restore(&events, &log, JsValue::UNDEFINED).unwrap();
    assert_eq!(restored.cursor(), replica.cursor());
    assert!(
        replica.receive_pull("{").is_err(),
        "a broken batch is refused"
    );
}
