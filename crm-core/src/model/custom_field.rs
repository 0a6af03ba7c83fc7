//! Custom fields: per-entity definitions with a type, and typed values checked on write.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::common::error::CrmError;
use crate::common::id::FieldId;
use crate::common::money::{exact_decimal, Money};
use crate::common::validate;

/// The kinds of record that can carry custom fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum EntityKind {
    Contact,
    Company,
    Deal,
    Task,
}

/// The type of a custom field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    /// Free text.
    Text,
    /// A whole number (64-bit); exact everywhere, unlike a float.
    Number,
    /// An exact decimal such as a measurement in metres.
    Decimal,
    /// An amount with a currency.
    Money,
    /// A calendar date (`2026-11-27`).
    Date,
    /// An instant (RFC 3339 in, UTC stored).
    Datetime,
    Bool,
    /// One of the definition's choices.
    Choice,
    /// Any number of the definition's choices.
    MultiChoice,
    /// A phone number, stored in E.164.
    Phone,
    /// An e-mail address, stored lower-case.
    Email,
    /// An http(s) URL.
    Url,
}

/// A stored custom field definition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct FieldDefinition {
    pub id: FieldId,
    pub entity: EntityKind,
    /// The key values are stored under, e.g. `"window_width_mm"`.
    pub key: String,
    pub label: String,
    pub kind: FieldKind,
    pub required: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<String>,
}

/// Input for [`crate::Command::DefineField`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct NewField {
    pub entity: EntityKind,
    pub key: String,
    pub label: String,
    pub kind: FieldKind,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub choices: Vec<String>,
}

/// A typed custom field value, written as `{"<kind>": value}`, e.g. `{"decimal": "1.25"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum FieldValue {
    Text(String),
    Number(i64),
    Decimal(
        #[serde(with = "exact_decimal")]
        #[cfg_attr(feature = "schema", schemars(with = "rust_decimal::Decimal"))]
        Decimal,
    ),
    Money(Money),
    Date(NaiveDate),
    Datetime(DateTime<Utc>),
    Bool(bool),
    Choice(String),
    MultiChoice(Vec<String>),
    Phone(String),
    Email(String),
    Url(String),
}

/// Custom values of one record, by field key.
pub(crate) type CustomValues = BTreeMap<String, FieldValue>;

/// Definitions of one entity kind, by key.
pub(crate) type FieldDefinitions = BTreeMap<String, FieldDefinition>;

impl NewField {
    pub(crate) fn validate(&self, id: FieldId) -> Result<FieldDefinition, CrmError> {
        let key = validate::key("key", &self.key)?;
        let label = validate::name("label", &self.label)?;
        validate::list_len("choices", self.choices.len())?;
        let mut choices = Vec::with_capacity(self.choices.len());
        for (index, choice) in self.choices.iter().enumerate() {
            let choice = validate::name(&format!("choices[{index}]"), choice)?;
            if choices.contains(&choice) {
                return Err(CrmError::validation(
                    format!("choices[{index}]"),
                    format!("{choice:?} is listed twice"),
                ));
            }
            choices.push(choice);
        }
        let needs_choices = matches!(self.kind, FieldKind::Choice | FieldKind::MultiChoice);
        if needs_choices && choices.is_empty() {
            return Err(CrmError::validation(
                "choices",
                "a choice field needs at least one choice",
            ));
        }
        if !needs_choices && !choices.is_empty() {
            return Err(CrmError::validation(
                "choices",
                format!(
                    "only choice fields have choices, not {}",
                    validate::json_name(&self.kind)
                ),
            ));
        }
        Ok(FieldDefinition {
            id,
            entity: self.entity,
            key,
            label,
            kind: self.kind,
            required: self.required,
            choices,
        })
    }
}

/// Applies raw JSON `changes` to `current` (a `null` or empty string removes a value),
/// checking each value against its definition and, with `enforce_required`, that
/// required fields stay filled.
pub(crate) fn apply_changes(
    definitions: Option<&FieldDefinitions>,
    current: &CustomValues,
    changes: &BTreeMap<String, Value>,
    region: Option<rlibphonenumber::Region>,
    enforce_required: bool,
) -> Result<CustomValues, CrmError> {
    validate::list_len("custom", changes.len())?;
    let mut values = current.clone();
    for (key, raw) in changes {
        let field = format!("custom.{key}");
        let definition = definitions.and_then(|defs| defs.get(key)).ok_or_else(|| {
            CrmError::validation(
                &field,
                format!("no custom field {key:?} is defined for this kind of record"),
            )
        })?;
        match parse_value(&field, definition, raw, region)? {
            Some(value) => values.insert(key.clone(), value),
            None => values.remove(key),
        };
    }
    for definition in definitions
        .into_iter()
        .flat_map(|defs| defs.values())
        .filter(|_| enforce_required)
    {
        if definition.required && !values.contains_key(&definition.key) {
            return Err(CrmError::validation(
                format!("custom.{}", definition.key),
                "is required",
            ));
        }
    }
    Ok(values)
}

fn type_error(field: &str, expected: &str, raw: &Value) -> CrmError {
    let mut shown = raw.to_string();
    if shown.len() > 80 {
        shown = format!("{}…", shown.chars().take(80).collect::<String>());
    }
    CrmError::validation(field, format!("expected {expected}, got {shown}"))
}

fn parse_value(
    field: &str,
    definition: &FieldDefinition,
    raw: &Value,
    region: Option<rlibphonenumber::Region>,
) -> Result<Option<FieldValue>, CrmError> {
    if raw.is_null() || raw.as_str().is_some_and(|text| text.trim().is_empty()) {
        return Ok(None);
    }
    let text = |expected: &str| raw.as_str().ok_or_else(|| type_error(field, expected, raw));
    let value = match definition.kind {
        FieldKind::Text => FieldValue::Text(
            validate::optional_text(field, Some(text("text")?))?.unwrap_or_default(),
        ),
        FieldKind::Number => FieldValue::Number(match raw {
            Value::Number(number) => number
                .as_i64()
                .ok_or_else(|| type_error(field, "a whole number", raw))?,
            Value::String(text) => text
                .trim()
                .parse()
                .map_err(|_| type_error(field, "a whole number", raw))?,
            _ => return Err(type_error(field, "a whole number", raw)),
        }),
        FieldKind::Decimal => FieldValue::Decimal(match raw {
            Value::Number(number) if number.is_i64() || number.is_u64() => {
                crate::common::money::parse_decimal(field, &number.to_string())?
            }
            Value::String(text) => crate::common::money::parse_decimal(field, text)?,
            _ => return Err(type_error(field, "a decimal string like \"12.50\"", raw)),
        }),
        FieldKind::Money => {
            let money: Money = serde_json::from_value(raw.clone()).map_err(|err| {
                CrmError::validation(
                    field,
                    format!("expected {{\"amount\": \"12.50\", \"currency\": \"EUR\"}}: {err}"),
                )
            })?;
            FieldValue::Money(money.entered(field, 0)?)
        }
        FieldKind::Date => FieldValue::Date(
            NaiveDate::parse_from_str(text("a date like \"2026-11-27\"")?.trim(), "%Y-%m-%d")
                .map_err(|_| type_error(field, "a date like \"2026-11-27\"", raw))?,
        ),
        FieldKind::Datetime => FieldValue::Datetime(
            DateTime::parse_from_rfc3339(text("an RFC 3339 time")?.trim())
                .map_err(|_| {
                    type_error(
                        field,
                        "an RFC 3339 time like \"2026-11-27T09:30:00+03:00\"",
                        raw,
                    )
                })?
                .with_timezone(&Utc),
        ),
        FieldKind::Bool => FieldValue::Bool(
            raw.as_bool()
                .ok_or_else(|| type_error(field, "true or false", raw))?,
        ),
        FieldKind::Choice => {
            FieldValue::Choice(choice(field, definition, text("one of the choices")?)?)
        }
        FieldKind::MultiChoice => {
            let items = raw
                .as_array()
                .ok_or_else(|| type_error(field, "a list of choices", raw))?;
            validate::list_len(field, items.len())?;
            let mut chosen: Vec<String> = Vec::with_capacity(items.len());
            for (index, item) in items.iter().enumerate() {
                let item_field = format!("{field}[{index}]");
                let item = item
                    .as_str()
                    .ok_or_else(|| type_error(&item_field, "a choice", item))?;
                let item = choice(&item_field, definition, item)?;
                if !chosen.contains(&item) {
                    chosen.push(item);
                }
            }
            // Stored in the definition's order, so equal selections are equal values.
            chosen.sort_by_key(|item| definition.choices.iter().position(|c| c == item));
            FieldValue::MultiChoice(chosen)
        }
        FieldKind::Phone => {
            FieldValue::Phone(validate::phone(field, text("a phone number")?, region)?)
        }
        FieldKind::Email => FieldValue::Email(validate::email(field, text("an e-mail address")?)?),
        FieldKind::Url => FieldValue::Url(validate::url(field, text("a URL")?)?),
    };
    Ok(Some(value))
}

fn choice(field: &str, definition: &FieldDefinition, value: &str) -> Result<String, CrmError> {
    let value = value.trim();
    definition
        .choices
        .iter()
        .find(|choice| choice.as_str() == value)
        .cloned()
        .ok_or_else(|| {
            CrmError::validation(
                field,
                format!("{value:?} is not one of {:?}", definition.choices),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::id::ReplicaId;
    use serde_json::json;

    fn definitions() -> FieldDefinitions {
        let replica = ReplicaId::new(1).unwrap();
        let specs = [
            ("width_mm", FieldKind::Number, false, vec![]),
            ("area", FieldKind::Decimal, false, vec![]),
            ("budget", FieldKind::Money, false, vec![]),
            ("visit", FieldKind::Datetime, false, vec![]),
            ("profile", FieldKind::Choice, true, vec!["PVC", "wood"]),
            (
                "extras",
                FieldKind::MultiChoice,
                false,
                vec!["sill", "net", "blinds"],
            ),
            ("site", FieldKind::Url, false, vec![]),
        ];
        specs
            .into_iter()
            .enumerate()
            .map(|(seq, (key, kind, required, choices))| {
                let input = NewField {
                    entity: EntityKind::Deal,
                    key: key.into(),
                    label: key.into(),
                    kind,
                    required,
                    choices: choices.into_iter().map(String::from).collect(),
                };
                (
                    key.to_string(),
                    input.validate(FieldId::new(replica, seq as u64)).unwrap(),
                )
            })
            .collect()
    }

    fn apply(changes: Value) -> Result<CustomValues, CrmError> {
        let changes: BTreeMap<String, Value> = serde_json::from_value(changes).unwrap();
        apply_changes(
            Some(&definitions()),
            &CustomValues::new(),
            &changes,
            None,
            true,
        )
    }

    #[test]
    fn values_are_typed_and_normalised() {
        let values = apply(json!({
            "width_mm": "1200", "area": "1.44", "budget": {"amount": "900.00", "currency": "EUR"},
            "visit": "2026-11-27T12:00:00+03:00", "profile": "PVC", "extras": ["net", "sill", "net"],
        }))
        .unwrap();
        assert_eq!(values["width_mm"], FieldValue::Number(1200));
        assert_eq!(values["area"], FieldValue::Decimal("1.44".parse().unwrap()));
        assert_eq!(
            values["visit"],
            FieldValue::Datetime("2026-11-27T09:00:00Z".parse().unwrap())
        );
        assert_eq!(
            values["extras"],
            FieldValue::MultiChoice(vec!["sill".into(), "net".into()])
        );
        let json = serde_json::to_value(&values["area"]).unwrap();
        assert_eq!(json, json!({"decimal": "1.44"}));
    }

    #[test]
    fn wrong_values_name_the_field_and_value() {
        let err = apply(json!({"profile": "steel"})).unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"custom.profile: "steel" is not one of ["PVC", "wood"]"#
        );
        let err = apply(json!({"profile": "PVC", "width_mm": 1.5})).unwrap_err();
        assert_eq!(
            err.to_string(),
            "custom.width_mm: expected a whole number, got 1.5"
        );
        let err = apply(json!({"profile": "PVC", "colour": "red"})).unwrap_err();
        assert!(err.to_string().starts_with("custom.colour:"), "{err}");
        let err = apply(json!({"profile": "PVC", "site": "okna"})).unwrap_err();
        assert!(err.to_string().contains("\"okna\""), "{err}");
    }

    #[test]
    fn required_fields_must_be_filled() {
        assert_eq!(
            apply(json!({})).unwrap_err().to_string(),
            "custom.profile: is required"
        );
        assert!(apply(json!({"profile": "PVC", "area": null})).is_ok());
    }
}
