//! Document templates (Jinja syntax, rendered by minijinja) and the documents rendered
//! from them: an offer with the buyer's data, the measurements and the amount.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::common::calendar::Calendar;
use crate::common::error::CrmError;
use crate::common::id::{AnyId, DocumentId};
use crate::common::money::Currency;
use crate::model::actor::Actor;

/// Longest template source, in characters.
pub(crate) const MAX_TEMPLATE_CHARS: usize = 100_000;
/// Template execution budget (minijinja "fuel"): stops runaway loops in user templates.
const FUEL: u64 = 200_000;

/// What a template renders to; HTML output escapes the values it inserts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Format {
    #[default]
    Text,
    Html,
    Markdown,
}

/// A stored template. `version` is the journal position of its definition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Template {
    pub key: String,
    pub name: String,
    pub format: Format,
    pub source: String,
    #[serde(default)]
    pub version: u64,
}

/// Input for [`crate::Command::DefineTemplate`]; redefining a key makes a new version.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct NewTemplate {
    pub key: String,
    pub name: String,
    #[serde(default)]
    pub format: Format,
    pub source: String,
}

/// Input for [`crate::Command::RenderDocument`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RenderRequest {
    pub template: String,
    /// The deal, contact, company or task the document is about.
    pub record: AnyId,
}

/// A rendered document: the text, and exactly what it was rendered from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Document {
    pub id: DocumentId,
    pub template: String,
    /// The template's version (the journal position of its definition).
    pub template_version: u64,
    /// The record it was rendered for (not `record`, which tags records in `get` results).
    pub subject: AnyId,
    /// The journal position of the data it was rendered from; replaying to it and
    /// rendering the same template version gives the same text.
    pub data_seq: u64,
    pub format: Format,
    pub content: String,
    #[serde(deserialize_with = "crate::common::utc::deserialize")]
    pub rendered_at: DateTime<Utc>,
    pub rendered_by: Actor,
}

/// Checks that `source` is a template minijinja can compile.
pub(crate) fn check_source(field: &str, source: &str) -> Result<(), CrmError> {
    let count = source.chars().count();
    if count > MAX_TEMPLATE_CHARS {
        return Err(CrmError::too_large(field, MAX_TEMPLATE_CHARS, count));
    }
    environment(Format::Text, &Calendar::default())
        .template_from_str(source)
        .map(drop)
        .map_err(|err| CrmError::validation(field, template_error(&err)))
}

/// Renders `source` with `data`; times are shown in the calendar's time zone.
pub(crate) fn render(
    source: &str,
    format: Format,
    data: &Value,
    calendar: &Calendar,
) -> Result<String, CrmError> {
    environment(format, calendar)
        .render_str(
            source,
            minijinja::Value::from(minijinja::value::Serde(data)),
        )
        .map_err(|err| CrmError::validation("template", template_error(&err)))
}

fn template_error(err: &minijinja::Error) -> String {
    match err.line() {
        Some(line) => {
            format!("{} (line {line})", err.kind()).replace("  ", " ")
                + &err.detail().map(|d| format!(": {d}")).unwrap_or_default()
        }
        None => err.to_string(),
    }
}

fn environment(format: Format, calendar: &Calendar) -> Environment<'static> {
    let mut env = Environment::new();
    env.set_fuel(Some(FUEL));
    env.set_undefined_behavior(UndefinedBehavior::Chainable);
    env.set_auto_escape_callback(move |_| match format {
        Format::Html => AutoEscape::Html,
        Format::Text | Format::Markdown => AutoEscape::None,
    });
    env.add_filter("money", money_filter);
    let zone = calendar.time_zone;
    env.add_filter("local", move |value: String, pattern: Option<String>| {
        local_filter(&value, pattern.as_deref(), zone)
    });
    env
}

/// `{{ deal.amount | money }}` → `12,345.50 EUR`: grouped, with the currency's minor units.
fn money_filter(value: minijinja::Value) -> Result<String, minijinja::Error> {
    let bad = || {
        minijinja::Error::new(
            minijinja::ErrorKind::InvalidOperation,
            "money expects {amount, currency}",
        )
    };
    if value.is_undefined() || value.is_none() {
        return Ok(String::new());
    }
    let amount = value.get_attr("amount").map_err(|_| bad())?;
    let currency = value.get_attr("currency").map_err(|_| bad())?;
    let (Some(amount), Some(currency)) = (amount.as_str(), currency.as_str()) else {
        return Err(bad());
    };
    let amount = Decimal::from_str(amount).map_err(|_| bad())?;
    let currency = Currency::from_str(currency).map_err(|_| bad())?;
    Ok(format_money(amount, currency))
}

/// `1234567.5` EUR → `1,234,567.50 EUR`.
pub fn format_money(amount: Decimal, currency: Currency) -> String {
    let rounded = amount.round_dp(currency.minor_units());
    let text = format!("{:.*}", currency.minor_units() as usize, rounded.abs());
    let (whole, fraction) = text.split_once('.').unwrap_or((&text, ""));
    let mut grouped = String::new();
    for (i, digit) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    let sign = if rounded.is_sign_negative() && !rounded.is_zero() {
        "-"
    } else {
        ""
    };
    let fraction = if fraction.is_empty() {
        String::new()
    } else {
        format!(".{fraction}")
    };
    format!("{sign}{grouped}{fraction} {}", currency.code())
}

/// `{{ task.due | local }}` → `2026-11-30 09:10` in the business time zone.
fn local_filter(
    value: &str,
    pattern: Option<&str>,
    zone: chrono_tz::Tz,
) -> Result<String, minijinja::Error> {
    let at = DateTime::parse_from_rfc3339(value).map_err(|_| {
        minijinja::Error::new(
            minijinja::ErrorKind::InvalidOperation,
            format!("local expects an RFC 3339 time, got {value:?}"),
        )
    })?;
    let pattern = pattern.unwrap_or("%Y-%m-%d %H:%M");
    let mut out = String::new();
    use std::fmt::Write;
    write!(out, "{}", at.with_timezone(&zone).format(pattern)).map_err(|_| {
        minijinja::Error::new(
            minijinja::ErrorKind::InvalidOperation,
            format!("bad time format {pattern:?}"),
        )
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_is_grouped_and_rounded_per_currency() {
        let eur = Currency::from_str("EUR").unwrap();
        let jpy = Currency::from_str("JPY").unwrap();
        assert_eq!(
            format_money(Decimal::new(123456750, 2), eur),
            "1,234,567.50 EUR"
        );
        assert_eq!(format_money(Decimal::new(-5, 1), eur), "-0.50 EUR");
        assert_eq!(format_money(Decimal::new(1500, 0), jpy), "1,500 JPY");
    }

    #[test]
    fn templates_render_values_filters_and_escape_html() {
        let data = serde_json::json!({
            "deal": {"title": "<b>Bay window</b>", "amount": {"amount": "1840.5", "currency": "EUR"}},
            "task": {"due": "2026-11-30T08:10:00Z"}
        });
        let calendar: Calendar = serde_json::from_value(serde_json::json!({
            "time_zone": "Europe/Berlin", "working_days": ["mon"], "hours": [{"from": "09:00", "to": "18:00"}]
        }))
        .unwrap();
        let source = "{{ deal.title }}: {{ deal.amount | money }} by {{ task.due | local }}{{ contact.name }}";
        assert_eq!(
            render(source, Format::Text, &data, &calendar).unwrap(),
            "<b>Bay window</b>: 1,840.50 EUR by 2026-11-30 09:10"
        );
        assert!(render(source, Format::Html, &data, &calendar)
            .unwrap()
            .starts_with("&lt;b&gt;Bay window&lt;"));
    }

    #[test]
    fn broken_and_runaway_templates_are_errors() {
        let err = check_source("source", "{% if %}").unwrap_err();
        assert_eq!(err.code(), "validation");
        assert!(err.to_string().starts_with("source: "), "{err}");
        let endless =
            "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}";
        let err = render(endless, Format::Text, &Value::Null, &Calendar::default()).unwrap_err();
        assert_eq!(err.code(), "validation");
    }
}
