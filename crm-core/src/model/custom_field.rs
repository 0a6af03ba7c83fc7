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
    /// The choices a value may take now.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<String>,
    /// Choices no longer offered: values that hold one stay valid and readable, and are
    /// kept when the record is saved again; nothing new takes one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retired_choices: Vec<String>,
    /// A retired field is hidden from forms and takes no new values; the values stored
    /// stay, readable, in the records and their history.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub retired: bool,
}

/// Changes to a custom field for [`crate::Command::UpdateField`]: absent fields stay.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default, deny_unknown_fields)]
pub struct FieldPatch {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Required from now on: records saved after must have a value (the answer counts
    /// the stored records that lack one), or optional again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub required: Option<bool>,
    /// New choices, at the end (a retired one named here is offered again).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub add_choices: Vec<String>,
    /// Choices to stop offering (stored values keep them).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub retire_choices: Vec<String>,
    /// Retire the field (hidden from forms, no new values) or bring it back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retired: Option<bool>,
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
            retired_choices: Vec::new(),
            retired: false,
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
        let parsed = parse_value(&field, definition, raw, current.get(key), region)?;
        if definition.retired && parsed.is_some() && parsed.as_ref() != current.get(key) {
            return Err(CrmError::validation(
                &field,
                "the field is retired: its values are kept, but no new ones are written",
            ));
        }
        match parsed {
            Some(value) => values.insert(key.clone(), value),
            None => values.remove(key),
        };
    }
    for definition in definitions
        .into_iter()
        .flat_map(|defs| defs.values())
        .filter(|_| enforce_required)
    {
        if definition.required && !definition.retired && !values.contains_key(&definition.key) {
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
    current: Option<&FieldValue>,
    region: Option<rlibphonenumber::Region>,
) -> Result<Option<FieldValue>, CrmError> {
    // Retired choices the record holds stay valid when it is saved again.
    let kept: &[String] = match current {
        Some(FieldValue::Choice(choice)) => std::slice::from_ref(choice),
        Some(FieldValue::MultiChoice(chosen)) => chosen,
        _ => &[],
    };
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
        FieldKind::Choice => FieldValue::Choice(choice(
            field,
            definition,
            text("one of the choices")?,
            kept,
        )?),
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
                let item = choice(&item_field, definition, item, kept)?;
                if !chosen.contains(&item) {
                    chosen.push(item);
                }
            }
            // Stored in the definition's order, so equal selections are equal values.
            let order = |item: &String| {
                definition
                    .choices
                    .iter()
                    .chain(&definition.retired_choices)
                    .position(|c| c == item)
            };
            chosen.sort_by_key(order);
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

fn choice(
    field: &str,
    definition: &FieldDefinition,
    value: &str,
    kept: &[String],
) -> Result<String, CrmError> {
    let value = value.trim();
    if let Some(choice) = definition.choices.iter().find(|c| c.as_str() == value) {
        return Ok(choice.clone());
    }
    if let Some(retired) = kept.iter().find(|c| c.as_str() == value) {
        return Ok(retired.clone());
    }
    let retired = definition.retired_choices.iter().any(|c| c == value);
    Err(CrmError::validation(
        field,
        if retired {
            format!(
                "{value:?} is a retired choice (records that have it keep it); choose one of {:?}",
                definition.choices
            )
        } else {
            format!("{value:?} is not one of {:?}", definition.choices)
        },
    ))
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
