//! Reading stored UTC instants quickly. chrono writes a `DateTime<Utc>` as
//! `2026-11-27T09:30:00Z` (with a fraction when there is one) and reads it back through
//! its general RFC 3339 parser, which costs about four times reading the string. A
//! snapshot or a journal holds millions of them, so the records' time fields are read
//! with [`deserialize`]: the form chrono writes is decoded directly, anything else
//! (an offset, lower-case `t`/`z`, a leap second) goes to chrono, so what is accepted
//! and what it means are exactly chrono's. Writing is unchanged.

use std::collections::BTreeMap;
use std::fmt;

use crate::common::error::CrmError;
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

/// A UTC instant read by the fast path (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct StoredInstant(pub DateTime<Utc>);

impl<'de> Deserialize<'de> for StoredInstant {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(InstantVisitor)
    }
}

struct InstantVisitor;

impl Visitor<'_> for InstantVisitor {
    type Value = StoredInstant;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("an RFC 3339 date and time")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<StoredInstant, E> {
        parse(text).map(StoredInstant).map_err(E::custom)
    }
}

/// `text` as an instant: the fast path for chrono's own form, chrono for the rest.
pub(crate) fn parse(text: &str) -> Result<DateTime<Utc>, chrono::ParseError> {
    match parse_canonical(text.as_bytes()) {
        Some(instant) => Ok(instant),
        None => text
            .parse::<DateTime<FixedOffset>>()
            .map(|time| time.with_timezone(&Utc)),
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z`, or `None` for anything else (left to chrono).
fn parse_canonical(bytes: &[u8]) -> Option<DateTime<Utc>> {
    if bytes.len() < 20 || bytes.last() != Some(&b'Z') {
        return None;
    }
    let separators = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if separators.iter().any(|&(at, byte)| bytes[at] != byte) {
        return None;
    }
    let year = digits(&bytes[0..4])?;
    let month = digits(&bytes[5..7])?;
    let day = digits(&bytes[8..10])?;
    let hour = digits(&bytes[11..13])?;
    let minute = digits(&bytes[14..16])?;
    let second = digits(&bytes[17..19])?;
    let nanos = match &bytes[19..bytes.len() - 1] {
        [] => 0,
        [b'.', fraction @ ..] if (1..=9).contains(&fraction.len()) => {
            digits(fraction)? * 10u32.pow(9 - fraction.len() as u32)
        }
        _ => return None,
    };
    // A leap second (`:60`) is chrono's to read.
    if second > 59 {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(year as i32, month, day)?;
    let time = NaiveTime::from_hms_nano_opt(hour, minute, second, nanos)?;
    Some(NaiveDateTime::new(date, time).and_utc())
}

fn digits(bytes: &[u8]) -> Option<u32> {
    bytes.iter().try_fold(0u32, |value, &byte| {
        byte.is_ascii_digit()
            .then(|| value * 10 + u32::from(byte - b'0'))
    })
}

/// For `#[serde(deserialize_with = "crate::common::utc::deserialize")]` on a `DateTime<Utc>`.
pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<DateTime<Utc>, D::Error> {
    StoredInstant::deserialize(deserializer).map(|instant| instant.0)
}

/// For an `Option<DateTime<Utc>>` (with `#[serde(default)]` when it may be absent).
pub(crate) fn deserialize_option<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<DateTime<Utc>>, D::Error> {
    Option::<StoredInstant>::deserialize(deserializer).map(|instant| instant.map(|i| i.0))
}

/// For a `BTreeMap<K, DateTime<Utc>>`.
pub(crate) fn deserialize_map<'de, D, K>(
    deserializer: D,
) -> Result<BTreeMap<K, DateTime<Utc>>, D::Error>
where
    D: Deserializer<'de>,
    K: Deserialize<'de> + Ord,
{
    let map = BTreeMap::<K, StoredInstant>::deserialize(deserializer)?;
    Ok(map
        .into_iter()
        .map(|(key, instant)| (key, instant.0))
        .collect())
}

/// Parses the `now` argument of the JSON entry points.
pub fn parse_now(now: &str) -> Result<DateTime<Utc>, CrmError> {
    DateTime::parse_from_rfc3339(now.trim())
        .map(|time| time.with_timezone(&Utc))
        .map_err(|_| {
            CrmError::validation(
                "now",
                format!("{now:?} is not an RFC 3339 time like \"2026-11-27T09:30:00Z\""),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn chrono(text: &str) -> Result<DateTime<Utc>, chrono::ParseError> {
        text.parse::<DateTime<FixedOffset>>()
            .map(|time| time.with_timezone(&Utc))
    }

    #[test]
    fn reads_what_chrono_writes() {
        for text in [
            "2026-11-27T09:30:00Z",
            "2026-03-29T01:59:59.5Z",
            "1970-01-01T00:00:00.000000001Z",
            "2024-02-29T23:59:59.123456789Z",
        ] {
            let fast = parse_canonical(text.as_bytes()).expect(text);
            assert_eq!(Ok(fast), chrono(text), "{text}");
            let written = serde_json::to_value(fast).unwrap();
            assert_eq!(
                parse_canonical(written.as_str().unwrap().as_bytes()),
                Some(fast)
            );
        }
    }

    #[test]
    fn leaves_every_other_form_to_chrono() {
        for text in [
            "2026-11-27T09:30:00+03:00",
            "2026-11-27t09:30:00z",
            "2026-11-27 09:30:00Z",
            "2016-12-31T23:59:60Z",
            "2026-11-27T09:30:00.Z",
            "2026-11-27T09:30:00.1234567890Z",
            "2026-02-30T09:30:00Z",
            "2026-11-27T24:00:00Z",
            "+2026-11-27T09:30:00Z",
            "2026-1a-27T09:30:00Z",
        ] {
            assert_eq!(parse_canonical(text.as_bytes()), None, "{text}");
            assert_eq!(parse(text).ok(), chrono(text).ok(), "{text}");
        }
    }

    #[test]
    fn errors_name_the_value() {
        let err = serde_json::from_str::<StoredInstant>("\"soon\"").unwrap_err();
        assert!(err.to_string().contains("input"), "{err}");
        let err = serde_json::from_str::<StoredInstant>("42").unwrap_err();
        assert!(err.to_string().contains("RFC 3339"), "{err}");
    }

    proptest! {
        #[test]
        fn agrees_with_chrono_on_every_instant(
            seconds in -62_135_596_800i64..253_402_300_799,
            nanos in prop_oneof![Just(0u32), 0u32..1_000_000_000],
        ) {
            let instant = DateTime::from_timestamp(seconds, nanos).unwrap();
            let text = serde_json::to_value(instant).unwrap();
            let text = text.as_str().unwrap();
            prop_assert_eq!(parse(text), Ok(instant));
            prop_assert_eq!(parse(text), chrono(text));
        }

        #[test]
        fn agrees_with_chrono_on_any_text(text in "[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{0,10})?[Zz]?") {
            prop_assert_eq!(parse(&text).ok(), chrono(&text).ok());
        }
    }
}
