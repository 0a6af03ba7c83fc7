//! Normalisation and checks shared by every aggregate: names, free text, tags,
//! phones (E.164), e-mails, URLs and size limits. Each error names the field and value.

use std::collections::{BTreeMap, BTreeSet};

use crate::common::error::CrmError;

/// Longest name or title, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// Longest free text (notes, descriptions, addresses), in characters.
pub const MAX_TEXT_CHARS: usize = 10_000;
/// Most items in one list field (phones, e-mails, tags, stages, choices).
pub const MAX_LIST_ITEMS: usize = 50;
/// Longest tag, key or kind, in characters.
pub const MAX_KEY_CHARS: usize = 64;
/// Largest JSON document `execute_json`/`query_json` accept, in bytes.
pub const MAX_JSON_BYTES: usize = 1 << 20;

pub(crate) fn shown(value: &str) -> String {
    // Long values are cut in messages so an error never echoes a megabyte back.
    if value.chars().count() > 80 {
        let cut: String = value.chars().take(80).collect();
        format!("{cut:?}…")
    } else {
        format!("{value:?}")
    }
}

fn check_length(field: &str, value: &str, max: usize) -> Result<(), CrmError> {
    let count = value.chars().count();
    if count > max {
        return Err(CrmError::too_large(field, max, count));
    }
    Ok(())
}

/// A required single-line name: trimmed, not empty, no control characters.
pub(crate) fn name(field: &str, value: &str) -> Result<String, CrmError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(CrmError::validation(field, "must not be empty"));
    }
    check_length(field, value, MAX_NAME_CHARS)?;
    if value.chars().any(char::is_control) {
        return Err(CrmError::validation(
            field,
            format!("{} contains control characters", shown(value)),
        ));
    }
    Ok(value.to_string())
}

/// An optional single-line value; blank means absent.
pub(crate) fn optional_name(field: &str, value: Option<&str>) -> Result<Option<String>, CrmError> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => name(field, text).map(Some),
    }
}

/// Optional free text (line breaks and tabs allowed); blank means absent.
pub(crate) fn optional_text(field: &str, value: Option<&str>) -> Result<Option<String>, CrmError> {
    let Some(text) = value.map(str::trim).filter(|text| !text.is_empty()) else {
        return Ok(None);
    };
    check_length(field, text, MAX_TEXT_CHARS)?;
    if text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
    {
        return Err(CrmError::validation(
            field,
            format!("{} contains control characters", shown(text)),
        ));
    }
    Ok(Some(text.to_string()))
}

/// A machine key (field key, task kind, outcome): lowercase letters, digits, `_` and `-`.
pub(crate) fn key(field: &str, value: &str) -> Result<String, CrmError> {
    let value = value.trim();
    let valid_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-';
    if value.is_empty()
        || value.len() > MAX_KEY_CHARS
        || !value.starts_with(|c: char| c.is_ascii_lowercase())
        || !value.chars().all(valid_char)
    {
        return Err(CrmError::validation(
            field,
            format!("{} is not a key (lowercase letters, digits, '_' or '-', starting with a letter, at most {MAX_KEY_CHARS})", shown(value)),
        ));
    }
    Ok(value.to_string())
}

/// Checks the length of a list before its items are looked at.
pub(crate) fn list_len(field: &str, len: usize) -> Result<(), CrmError> {
    if len > MAX_LIST_ITEMS {
        return Err(CrmError::too_large(field, MAX_LIST_ITEMS, len));
    }
    Ok(())
}

/// Tags: trimmed, lower-cased (so "VIP" and "vip" are one tag), de-duplicated.
pub(crate) fn tags(field: &str, values: &[String]) -> Result<BTreeSet<String>, CrmError> {
    list_len(field, values.len())?;
    values
        .iter()
        .enumerate()
        .map(|(index, tag)| {
            let field = format!("{field}[{index}]");
            let tag = name(&field, tag)?.to_lowercase();
            check_length(&field, &tag, MAX_KEY_CHARS)?;
            Ok(tag)
        })
        .collect()
}

/// Normalises a phone number to E.164 (`+4930123456`). Numbers without a country
/// code are read in `region` (ISO 3166 alpha-2, e.g. "DE"); with no region they must start with `+`.
pub(crate) fn phone(
    field: &str,
    value: &str,
    region: Option<rlibphonenumber::Region>,
) -> Result<String, CrmError> {
    let text = value.trim();
    if text.is_empty() {
        return Err(CrmError::validation(field, "must not be empty"));
    }
    if text.len() > 40 {
        return Err(CrmError::validation(
            field,
            format!("{} is too long for a phone number", shown(text)),
        ));
    }
    let parsed = rlibphonenumber::PhoneNumber::parse(text, region).map_err(|_| {
        let hint = if region.is_none() {
            " (no default region is set, so start with + and the country code)"
        } else {
            ""
        };
        CrmError::validation(
            field,
            format!("{} is not a phone number{hint}", shown(text)),
        )
    })?;
    if !parsed.is_valid() {
        return Err(CrmError::validation(
            field,
            format!("{} is not a valid phone number", shown(text)),
        ));
    }
    Ok(parsed
        .format_as(rlibphonenumber::PhoneNumberFormat::E164)
        .into_owned())
}

/// [`phones`], and how each number was typed where that differs from its E.164 form
/// (trimmed; the first spelling of a number given twice), for people to read.
pub(crate) fn phones_as_typed(
    field: &str,
    values: &[String],
    region: Option<rlibphonenumber::Region>,
) -> Result<(Vec<String>, BTreeMap<String, String>), CrmError> {
    list_len(field, values.len())?;
    let mut result: Vec<String> = Vec::with_capacity(values.len());
    let mut typed = BTreeMap::new();
    for (index, value) in values.iter().enumerate() {
        let phone = phone(&format!("{field}[{index}]"), value, region)?;
        if !result.contains(&phone) {
            if value.trim() != phone {
                typed.insert(phone.clone(), value.trim().to_owned());
            }
            result.push(phone);
        }
    }
    Ok((result, typed))
}

/// A list of e-mail addresses, normalised, duplicates dropped, order kept.
pub(crate) fn emails(field: &str, values: &[String]) -> Result<Vec<String>, CrmError> {
    list_len(field, values.len())?;
    let mut result: Vec<String> = Vec::with_capacity(values.len());
    for (index, value) in values.iter().enumerate() {
        let email = email(&format!("{field}[{index}]"), value)?;
        if !result.contains(&email) {
            result.push(email);
        }
    }
    Ok(result)
}

/// Serde helper for patch fields that can be cleared: absent = keep, `null` = clear.
pub(crate) fn nullable<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    T: serde::Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    serde::Deserialize::deserialize(deserializer).map(Some)
}

/// The JSON name of a unit enum value (e.g. `"head_of_department"`), for messages.
pub(crate) fn json_name<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        _ => String::from("?"),
    }
}

/// Parses a default region such as "DE" or "US".
pub(crate) fn region(value: &str) -> Result<rlibphonenumber::Region, CrmError> {
    value.trim().to_ascii_uppercase().parse().map_err(|_| {
        CrmError::validation(
            "default_region",
            format!(
                "{} is not an ISO 3166 country code like \"DE\"",
                shown(value)
            ),
        )
    })
}

/// Normalises an e-mail address: trimmed and lower-cased; one `@`, a dotted domain. A
/// display name (`Anna Schmidt <anna@example.com>`) or a `mailto:` prefix, as pasted from
/// a mail program or a web page, is dropped: the address is what is kept.
pub(crate) fn email(field: &str, value: &str) -> Result<String, CrmError> {
    let mut text = value.trim();
    if let Some((_, inner)) = text
        .strip_suffix('>')
        .and_then(|rest| rest.rsplit_once('<'))
    {
        text = inner.trim();
    }
    if let Some(address) = text
        .get(..7)
        .filter(|scheme| scheme.eq_ignore_ascii_case("mailto:"))
        .and_then(|_| text.get(7..))
    {
        text = address.trim();
    }
    let text = text.to_lowercase();
    let bad = || CrmError::validation(field, format!("{} is not an e-mail address", shown(value)));
    if text.len() > 254 {
        return Err(bad());
    }
    let (local, domain) = text.split_once('@').ok_or_else(bad)?;
    let label_ok = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_alphanumeric() || c == '-')
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| c.is_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));
    let labels: Vec<&str> = domain.split('.').collect();
    if !local_ok || labels.len() < 2 || !labels.iter().all(|label| label_ok(label)) {
        return Err(bad());
    }
    Ok(text)
}

/// An absolute http(s) URL with a host and no whitespace.
pub(crate) fn url(field: &str, value: &str) -> Result<String, CrmError> {
    let text = value.trim();
    let bad = || CrmError::validation(field, format!("{} is not an http(s) URL", shown(value)));
    check_length(field, text, 2048)?;
    let lower = text.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))
        .ok_or_else(bad)?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = host.rsplit_once('@').map_or(host, |(_, host)| host);
    let host = host.split(':').next().unwrap_or_default();
    if host.is_empty() || text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad());
    }
    Ok(text.to_string())
}

/// The largest count (an `offset`, a `limit`) any input may give: the same on every
/// platform, though `usize` is 32 bits in the browser and 64 natively.
pub(crate) const MAX_COUNT: u64 = u32::MAX as u64;

/// Serde for a count in input: a whole number up to [`MAX_COUNT`], refused above it
/// alike everywhere.
pub(crate) fn count<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<usize, D::Error> {
    whole_number(deserializer, |value| {
        if value > MAX_COUNT {
            return Err(format!("{value} is above {MAX_COUNT}, the largest count"));
        }
        usize::try_from(value).map_err(|err| err.to_string())
    })
}

/// Reads a whole non-negative number and checks it with `check`, failing inside the
/// visitor so that the error's position, and the path found from it, is the number's
/// (see `common::tagged`).
pub(crate) fn whole_number<'de, D, T, F>(deserializer: D, check: F) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    F: FnOnce(u64) -> Result<T, String>,
{
    struct Whole<F>(F);
    impl<T, F: FnOnce(u64) -> Result<T, String>> serde::de::Visitor<'_> for Whole<F> {
        type Value = T;
        fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
            formatter.write_str("a whole number, 0 or more")
        }
        fn visit_u64<E: serde::de::Error>(self, value: u64) -> Result<T, E> {
            (self.0)(value).map_err(E::custom)
        }
        fn visit_i64<E: serde::de::Error>(self, value: i64) -> Result<T, E> {
            let whole = u64::try_from(value).map_err(|_| {
                E::invalid_value(
                    serde::de::Unexpected::Signed(value),
                    &"a whole number, 0 or more",
                )
            })?;
            self.visit_u64(whole)
        }
    }
    deserializer.deserialize_u64(Whole(check))
}

/// [`count`] for an optional count.
pub(crate) fn optional_count<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<usize>, D::Error> {
    struct Wrapped(usize);
    impl<'de> serde::Deserialize<'de> for Wrapped {
        fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            count(deserializer).map(Wrapped)
        }
    }
    let value = <Option<Wrapped> as serde::Deserialize>::deserialize(deserializer)?;
    Ok(value.map(|wrapped| wrapped.0))
}

/// The JSON path (`items[0].quantity`) of the value being read at byte `offset` of
/// the JSON `text`, for a binding that finds something wrong in the text before the
/// engine reads it (a lone surrogate in a JavaScript string); "" at the top level.
pub fn json_path_at(text: &str, offset: usize) -> String {
    let end = offset.min(text.len());
    enum Level {
        Object(Option<String>),
        Array(usize),
    }
    let mut levels: Vec<Level> = Vec::new();
    let bytes = &text.as_bytes()[..end];
    let mut index = 0;
    // Whether the string being read is an object's key (before its colon).
    let mut expect_key = false;
    while index < bytes.len() {
        match bytes[index] {
            b'{' => {
                levels.push(Level::Object(None));
                expect_key = true;
            }
            b'[' => levels.push(Level::Array(0)),
            b'}' | b']' => {
                levels.pop();
                expect_key = false;
            }
            b',' => match levels.last_mut() {
                Some(Level::Array(position)) => *position += 1,
                Some(Level::Object(key)) => {
                    *key = None;
                    expect_key = true;
                }
                None => {}
            },
            b'"' => {
                let begin = index + 1;
                index += 1;
                while index < bytes.len() && bytes[index] != b'"' {
                    index += if bytes[index] == b'\\' { 2 } else { 1 };
                }
                if expect_key {
                    // Bytes, not `&text[..]`: the column may cut a character in two.
                    let raw = &bytes[begin.min(bytes.len())..index.min(bytes.len())];
                    if let Some(Level::Object(key)) = levels.last_mut() {
                        *key = Some(String::from_utf8_lossy(raw).into_owned());
                    }
                    expect_key = false;
                }
            }
            _ => {}
        }
        index += 1;
    }
    let mut path = String::new();
    for level in &levels {
        match level {
            Level::Object(Some(key)) => path = join_path(&path, key),
            Level::Object(None) => {}
            Level::Array(position) => path = format!("{path}[{position}]"),
        }
    }
    path
}

/// `a.b`, `a[0]`, or whichever part is not empty.
pub(crate) fn join_path(outer: &str, inner: &str) -> String {
    match (outer.is_empty(), inner.is_empty()) {
        (_, true) => outer.to_string(),
        (true, false) => inner.to_string(),
        (false, false) if inner.starts_with('[') => format!("{outer}{inner}"),
        (false, false) => format!("{outer}.{inner}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_keep_how_they_were_typed() {
        let region = Some(rlibphonenumber::Region::DE);
        let typed = [
            "  030 1234567 ",
            "+49301234567",
            "+49 40 7654321",
            "(030) 123-4567",
        ]
        .map(String::from);
        let (phones, as_typed) = phones_as_typed("phones", &typed, region).unwrap();
        assert_eq!(phones, ["+49301234567", "+49407654321"]);
        assert_eq!(
            as_typed,
            BTreeMap::from([
                ("+49301234567".to_owned(), "030 1234567".to_owned()),
                ("+49407654321".to_owned(), "+49 40 7654321".to_owned()),
            ])
        );
        let (_, as_typed) = phones_as_typed("phones", &["+4930123456".into()], region).unwrap();
        assert!(as_typed.is_empty(), "E.164 as typed needs no second copy");
    }

    #[test]
    fn phones_become_e164() {
        let de = Some(region("de").unwrap());
        assert_eq!(phone("phone", "030 1234567", de).unwrap(), "+49301234567");
        assert_eq!(
            phone("phone", "+1 (415) 555-2671", None).unwrap(),
            "+14155552671"
        );
        let err = phone("phones[1]", "12", None).unwrap_err();
        assert!(err.to_string().starts_with("phones[1]:"), "{err}");
        assert!(err.to_string().contains("\"12\""), "{err}");
    }

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            email("email", "  Anna.Petrova@Example.COM ").unwrap(),
            "anna.petrova@example.com"
        );
        for pasted in [
            "Anna Petrova <Anna.Petrova@Example.com>",
            "\"Petrova, Anna\" < anna.petrova@example.com >",
            "MAILTO:anna.petrova@example.com",
            "<anna.petrova@example.com>",
        ] {
            assert_eq!(
                email("email", pasted).unwrap(),
                "anna.petrova@example.com",
                "{pasted}"
            );
        }
        for bad in [
            "Anna <>",
            "mailto:",
            "äöü»mailto:x@y.de",
            "anna",
            "anna@",
            "@x.com",
            "a@b",
            "a b@x.com",
            "a@-x.com",
            "a..b@x.com",
        ] {
            assert!(email("email", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn urls_need_a_scheme_and_a_host() {
        assert!(url("website", "https://okna.example/contacts?x=1").is_ok());
        for bad in ["okna.example", "ftp://x", "https://", "https://a b"] {
            assert!(url("website", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_refuse_empty_huge_and_control_text() {
        assert_eq!(name("name", "  Anna ").unwrap(), "Anna");
        assert_eq!(name("name", " ").unwrap_err().code(), "validation");
        assert_eq!(
            name("name", &"x".repeat(201)).unwrap_err().code(),
            "too_large"
        );
        assert_eq!(name("name", "a\u{0}b").unwrap_err().code(), "validation");
    }

    #[test]
    fn tags_are_case_insensitive_sets() {
        let tags = tags("tags", &["VIP".into(), "vip".into(), " Wholesale ".into()]).unwrap();
        assert_eq!(
            tags.into_iter().collect::<Vec<_>>(),
            vec!["vip", "wholesale"]
        );
    }
}
