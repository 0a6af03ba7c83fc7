//! What changed between two versions of a record, read from the JSON of their fields:
//! the one answer behind the `changed` list of the `*_updated` events (the update
//! handlers) and behind the `field_changed` facts rules react to (automation).

use serde::Serialize;
use serde_json::{Map, Value};

/// One field whose value differs; an absent value is `null`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Change {
    /// The field's name; a custom field's is `custom.<key>`.
    pub field: String,
    pub from: Value,
    pub to: Value,
}

/// Every changed field, in name order: standard fields by name, custom ones (inside a
/// `custom` object) one by one. Nothing when either side is not a JSON object.
pub(crate) fn changes<T: Serialize>(before: &T, after: &T) -> Vec<Change> {
    let (Ok(Value::Object(before)), Ok(Value::Object(after))) =
        (serde_json::to_value(before), serde_json::to_value(after))
    else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for key in keys(&before, &after) {
        let (old, new) = (before.get(key), after.get(key));
        if old == new {
            continue;
        }
        if key == "custom" {
            let empty = Map::new();
            let old = old.and_then(Value::as_object).unwrap_or(&empty);
            let new = new.and_then(Value::as_object).unwrap_or(&empty);
            for field in keys(old, new) {
                let (from, to) = (old.get(field), new.get(field));
                if from != to {
                    found.push(Change {
                        field: format!("custom.{field}"),
                        from: from.cloned().unwrap_or(Value::Null),
                        to: to.cloned().unwrap_or(Value::Null),
                    });
                }
            }
        } else {
            found.push(Change {
                field: key.clone(),
                from: old.cloned().unwrap_or(Value::Null),
                to: new.cloned().unwrap_or(Value::Null),
            });
        }
    }
    found
}

/// The top-level fields that differ (`custom` once, whichever custom fields changed).
pub(crate) fn changed_keys<T: Serialize>(before: &T, after: &T) -> Vec<String> {
    let mut keys: Vec<String> = changes(before, after)
        .into_iter()
        .map(|change| match change.field.split_once('.') {
            Some(("custom", _)) => "custom".to_string(),
            _ => change.field,
        })
        .collect();
    keys.dedup();
    keys
}

/// The keys of both objects, sorted, each once.
fn keys<'a>(before: &'a Map<String, Value>, after: &'a Map<String, Value>) -> Vec<&'a String> {
    let mut keys: Vec<&String> = before.keys().chain(after.keys()).collect();
    keys.sort();
    keys.dedup();
    keys
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn custom_fields_change_one_by_one_and_count_once_as_a_key() {
        let before = json!({"name": "Anna", "phones": ["1"], "custom": {"size": 1, "vip": true}});
        let after = json!({"name": "Anna", "phones": ["2"], "custom": {"size": 2, "note": "x"}});
        let fields: Vec<String> = changes(&before, &after)
            .into_iter()
            .map(|c| c.field)
            .collect();
        assert_eq!(
            fields,
            ["custom.note", "custom.size", "custom.vip", "phones"]
        );
        assert_eq!(changed_keys(&before, &after), ["custom", "phones"]);
        let vip = &changes(&before, &after)[2];
        assert_eq!((&vip.from, &vip.to), (&json!(true), &Value::Null));
        assert!(changes(&before, &before).is_empty());
        assert!(changes(&json!(1), &json!(2)).is_empty());
    }
}
