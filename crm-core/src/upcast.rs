//! Reading events written by older builds. The journal is never rewritten: each change
//! of the event schema bumps [`SCHEMA_VERSION`] and adds a step to [`STEPS`] that turns
//! the JSON of the version before into its own, and reading applies the steps an old
//! envelope needs before it becomes an [`EventEnvelope`]. Newer versions than this
//! build knows are refused, never guessed at.

use serde_json::Value;

use crate::common::error::CrmError;
use crate::event::{EventEnvelope, SCHEMA_VERSION};

/// Rewrites one envelope's JSON from one schema version to the next, or says why not.
pub(crate) type Step = fn(&mut Value) -> Result<(), String>;

/// `STEPS[i]` turns version `i + 1` into version `i + 2`. Version 1 is the first, so
/// there are none yet.
pub(crate) const STEPS: &[Step] = &[];

const _: () = assert!(
    SCHEMA_VERSION as usize == STEPS.len() + 1,
    "each schema version after the first needs its upcast step"
);

/// An envelope from its stored JSON, upcast to this build's schema version.
pub fn envelope_from_json(text: &str) -> Result<EventEnvelope, CrmError> {
    // The common case, the current version, is parsed once, straight into the types.
    if let Ok(envelope) = serde_json::from_str::<EventEnvelope>(text) {
        if envelope.v == SCHEMA_VERSION {
            return Ok(envelope);
        }
    }
    let value = serde_json::from_str(text).map_err(|err| CrmError::Malformed {
        path: "event".into(),
        reason: err.to_string(),
    })?;
    envelope_from_value(value)
}

/// An envelope from JSON already parsed (a host's store, a JSON Lines import).
pub(crate) fn envelope_from_value(value: Value) -> Result<EventEnvelope, CrmError> {
    upcast_with(STEPS, value)
}

/// A JSON array of envelopes (a host's export), each upcast; errors name `events[i]`.
pub fn envelopes_from_json(text: &str) -> Result<Vec<EventEnvelope>, CrmError> {
    let values: Vec<Value> = serde_json::from_str(text).map_err(|err| CrmError::Malformed {
        path: "events".into(),
        reason: err.to_string(),
    })?;
    envelopes_from_values(values)
}

/// Parsed envelopes (e.g. from JavaScript objects), each upcast; errors name `events[i]`.
pub(crate) fn envelopes_from_values(values: Vec<Value>) -> Result<Vec<EventEnvelope>, CrmError> {
    values
        .into_iter()
        .enumerate()
        .map(|(index, value)| {
            envelope_from_value(value).map_err(|err| CrmError::Malformed {
                path: format!("events[{index}]"),
                reason: err.to_string(),
            })
        })
        .collect()
}

/// [`envelope_from_value`] over any chain of steps (the tests use their own).
fn upcast_with(steps: &[Step], mut value: Value) -> Result<EventEnvelope, CrmError> {
    let current = steps.len() as u64 + 1;
    let seq = value.get("seq").and_then(Value::as_u64).unwrap_or_default();
    let Some(version) = value.get("v").and_then(Value::as_u64) else {
        return Err(CrmError::validation(
            "event.v",
            format!("event {seq} has no schema version (a whole number from 1)"),
        ));
    };
    if version == 0 || version > current {
        return Err(CrmError::validation(
            "event.v",
            format!("event {seq} has schema version {version}; this build reads 1 to {current}"),
        ));
    }
    for (from, step) in steps.iter().enumerate().skip(version as usize - 1) {
        step(&mut value).map_err(|why| {
            CrmError::validation(
                "event",
                format!(
                    "event {seq} cannot be upcast from version {} to {}: {why}",
                    from + 1,
                    from + 2
                ),
            )
        })?;
        value["v"] = Value::from(from as u64 + 2);
    }
    serde_json::from_value(value).map_err(|err| CrmError::Malformed {
        path: format!("event {seq}"),
        reason: err.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The current schema as a chain with one step before it: as if today's version
    /// were 2, and version 1 had called a contact's `name` `full_name`.
    fn renamed_name(value: &mut Value) -> Result<(), String> {
        let contact = value
            .pointer_mut("/event/contact")
            .and_then(Value::as_object_mut);
        if let Some(contact) = contact {
            let name = contact.remove("full_name").ok_or("no full_name")?;
            contact.insert("name".into(), name);
        }
        Ok(())
    }

    fn contact_created(version: u64, name_key: &str) -> Value {
        json!({
            "v": version, "seq": 7, "replica": 1, "at": "2026-11-27T09:00:00Z",
            "actor": "usr-1-1", "command": "create_contact",
            "event": {"type": "contact_created", "contact": {
                "id": "con-1-1", "owner": "usr-1-1", name_key: "Anna",
                "created_at": "2026-11-27T09:00:00Z", "updated_at": "2026-11-27T09:00:00Z"
            }}
        })
    }

    #[test]
    fn current_envelopes_read_as_they_are() {
        let text = contact_created(1, "name").to_string();
        let envelope = envelope_from_json(&text).unwrap();
        assert_eq!(envelope.v, SCHEMA_VERSION);
        assert_eq!(envelope.seq, 7);
    }

    #[test]
    fn older_envelopes_go_through_every_step_up_to_the_current_version() {
        let steps: &[Step] = &[renamed_name];
        let envelope = upcast_with(steps, contact_created(1, "full_name")).unwrap();
        assert_eq!(envelope.v, 2);
        let crate::Event::ContactCreated { contact } = envelope.event else {
            panic!("not a contact_created: {:?}", envelope.event);
        };
        assert_eq!(contact.fields.name, "Anna");
        // An envelope already at version 2 skips the step (which would fail on it).
        let envelope = upcast_with(steps, contact_created(2, "name")).unwrap();
        assert_eq!(envelope.v, 2);
    }

    #[test]
    fn a_failing_step_names_the_event_and_the_versions() {
        let steps: &[Step] = &[renamed_name];
        let err = upcast_with(steps, contact_created(1, "name")).unwrap_err();
        assert_eq!(err.code(), "validation");
        assert!(
            err.to_string()
                .contains("event 7 cannot be upcast from version 1 to 2: no full_name"),
            "{err}"
        );
    }

    #[test]
    fn newer_unknown_and_missing_versions_are_refused() {
        for (version, expected) in [
            (
                json!(2),
                "event 7 has schema version 2; this build reads 1 to 1",
            ),
            (json!(0), "event 7 has schema version 0"),
            (json!("one"), "event 7 has no schema version"),
        ] {
            let mut value = contact_created(1, "name");
            value["v"] = version;
            let err = envelope_from_json(&value.to_string()).unwrap_err();
            assert!(err.to_string().contains(expected), "{err}");
        }
        let err = envelope_from_json("{\"v\": 1, \"seq\":").unwrap_err();
        assert_eq!(err.code(), "malformed");
    }
}
