//! Typed identifiers, unique across replicas without coordination.
//!
//! Every ID is `(replica, sequence)`: the host picks a replica id per device or
//! process, and the engine counts. Written as `<prefix>-<replica>-<sequence>`,
//! e.g. `deal-1-42`, so an ID names its own kind and survives every language's JSON.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::common::error::CrmError;

/// Reads a value written as a string through its `FromStr`, without copying the string
/// when the input lends it (`Cow<str>` would: serde always makes it owned), since
/// snapshots and journals hold millions of IDs.
pub(crate) fn deserialize_text<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr,
    T::Err: fmt::Display,
{
    struct Text<T>(std::marker::PhantomData<T>);
    impl<T: FromStr> serde::de::Visitor<'_> for Text<T>
    where
        T::Err: fmt::Display,
    {
        type Value = T;
        fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
            formatter.write_str("a string")
        }
        fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<T, E> {
            text.parse().map_err(E::custom)
        }
    }
    deserializer.deserialize_str(Text(std::marker::PhantomData))
}

/// The largest replica id or sequence: 2^53 - 1, exact as a JavaScript number.
pub const MAX_ID_PART: u64 = (1 << 53) - 1;

/// Which device or process recorded an event; chosen by the host, never by the engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(transparent)]
pub struct ReplicaId(u64);

impl ReplicaId {
    /// The smallest replica id (0): the lower end of a range of IDs.
    pub(crate) const MIN: ReplicaId = ReplicaId(0);
    /// Above every replica id: the upper end of a range of IDs (never an ID's own).
    pub(crate) const MAX: ReplicaId = ReplicaId(u64::MAX);

    /// A replica id in `0..=2^53-1`, so that it stays exact in JSON everywhere.
    pub fn new(value: u64) -> Result<Self, CrmError> {
        if value > MAX_ID_PART {
            return Err(CrmError::validation(
                "replica_id",
                format!("{value} is above the maximum {MAX_ID_PART}"),
            ));
        }
        Ok(Self(value))
    }

    pub fn get(self) -> u64 {
        self.0
    }
}

impl<'de> Deserialize<'de> for ReplicaId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        crate::common::validate::whole_number(deserializer, |value| {
            ReplicaId::new(value).map_err(|err| err.to_string())
        })
    }
}

impl fmt::Display for ReplicaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Parses `<prefix>-<replica>-<seq>`; `kind` names the expected kind in errors.
fn parse_parts(text: &str, prefix: &str, kind: &str) -> Result<(ReplicaId, u64), CrmError> {
    let bad = || {
        CrmError::validation(
            kind,
            format!("invalid {kind} id {text:?} (expected like \"{prefix}-1-42\")"),
        )
    };
    let rest = text
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('-'))
        .ok_or_else(bad)?;
    let (replica, seq) = rest.split_once('-').ok_or_else(bad)?;
    let number = |part: &str| -> Result<u64, CrmError> {
        // One spelling per ID: `usr-01-1` is not `usr-1-1` to a host that compares text
        // (an allow-list of actors, say), so it must not be to the engine either.
        let canonical = part == "0" || !part.starts_with('0');
        if part.is_empty()
            || part.len() > 16
            || !canonical
            || !part.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(bad());
        }
        let value: u64 = part.parse().map_err(|_| bad())?;
        if value > MAX_ID_PART {
            return Err(bad());
        }
        Ok(value)
    };
    Ok((ReplicaId(number(replica)?), number(seq)?))
}

/// Implemented by every typed ID, so handlers can allocate IDs of any kind.
pub(crate) trait TypedId: Copy + Into<AnyId> {
    fn from_parts(replica: ReplicaId, seq: u64) -> Self;
}

/// Defines a typed ID: Display/FromStr as `<prefix>-<replica>-<seq>`, serde as that string.
macro_rules! define_id {
    ($(#[$meta:meta])* $name:ident, $prefix:literal, $kind:literal) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name {
            replica: ReplicaId,
            seq: u64,
        }

        impl $name {
            /// The prefix this kind of ID is written with.
            pub const PREFIX: &'static str = $prefix;
            /// The kind's name as used in error messages.
            pub const KIND: &'static str = $kind;

            pub fn new(replica: ReplicaId, seq: u64) -> Self {
                Self { replica, seq }
            }
            pub fn replica(self) -> ReplicaId {
                self.replica
            }
            pub fn seq(self) -> u64 {
                self.seq
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}-{}-{}", $prefix, self.replica, self.seq)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(self, f)
            }
        }

        impl FromStr for $name {
            type Err = CrmError;
            fn from_str(text: &str) -> Result<Self, CrmError> {
                let (replica, seq) = parse_parts(text, $prefix, $kind)?;
                Ok(Self { replica, seq })
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                deserialize_text(deserializer)
            }
        }

        #[cfg(feature = "schema")]
        impl schemars::JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }
            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({
                    "type": "string",
                    "pattern": concat!("^", $prefix, "-[0-9]+-[0-9]+$"),
                    "description": concat!("a ", $kind, " ID like \"", $prefix, "-1-42\"")
                })
            }
        }

        impl TypedId for $name {
            fn from_parts(replica: ReplicaId, seq: u64) -> Self {
                Self { replica, seq }
            }
        }

        impl From<$name> for AnyId {
            fn from(id: $name) -> AnyId {
                AnyId::$name(id)
            }
        }

        impl TryFrom<AnyId> for $name {
            type Error = CrmError;
            fn try_from(id: AnyId) -> Result<Self, CrmError> {
                match id {
                    AnyId::$name(id) => Ok(id),
                    other => Err(CrmError::validation(
                        $kind,
                        format!("{other} is a {}, not a {}", other.kind(), $kind),
                    )),
                }
            }
        }
    };
}

define_id!(
    /// A department (a team with a head).
    DepartmentId, "dep", "department"
);
define_id!(
    /// A user of the CRM: manager, head of department, specialist or admin.
    UserId, "usr", "user"
);
define_id!(
    /// A person the business deals with.
    ContactId, "con", "contact"
);
define_id!(
    /// An organisation the business deals with.
    CompanyId, "com", "company"
);
define_id!(
    /// A sales pipeline.
    PipelineId, "pip", "pipeline"
);
define_id!(
    /// A stage of a pipeline.
    StageId, "stg", "stage"
);
define_id!(
    /// A deal moving through a pipeline.
    DealId, "deal", "deal"
);
define_id!(
    /// A task for a user.
    TaskId, "task", "task"
);
define_id!(
    /// A logged call, e-mail, meeting or note.
    ActivityId, "act", "activity"
);
define_id!(
    /// A custom field definition.
    FieldId, "fld", "field"
);
define_id!(
    /// A payment (or refund) recorded against a deal.
    PaymentId, "pay", "payment"
);
define_id!(
    /// A document rendered from a template.
    DocumentId, "doc", "document"
);
define_id!(
    /// An effect in the outbox; its string form is the effect's idempotency key.
    EffectId, "eff", "effect"
);

/// The ID of any entity; written as the entity's own ID string, whose prefix says the kind.
#[allow(clippy::enum_variant_names)]
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AnyId {
    DepartmentId(DepartmentId),
    UserId(UserId),
    ContactId(ContactId),
    CompanyId(CompanyId),
    PipelineId(PipelineId),
    StageId(StageId),
    DealId(DealId),
    TaskId(TaskId),
    ActivityId(ActivityId),
    FieldId(FieldId),
    PaymentId(PaymentId),
    DocumentId(DocumentId),
    EffectId(EffectId),
}

impl AnyId {
    pub fn replica(self) -> ReplicaId {
        self.parts().0
    }

    pub fn seq(self) -> u64 {
        self.parts().1
    }

    /// The kind's name, e.g. `"deal"`.
    pub fn kind(self) -> &'static str {
        match self {
            AnyId::DepartmentId(_) => DepartmentId::KIND,
            AnyId::UserId(_) => UserId::KIND,
            AnyId::ContactId(_) => ContactId::KIND,
            AnyId::CompanyId(_) => CompanyId::KIND,
            AnyId::PipelineId(_) => PipelineId::KIND,
            AnyId::StageId(_) => StageId::KIND,
            AnyId::DealId(_) => DealId::KIND,
            AnyId::TaskId(_) => TaskId::KIND,
            AnyId::ActivityId(_) => ActivityId::KIND,
            AnyId::FieldId(_) => FieldId::KIND,
            AnyId::PaymentId(_) => PaymentId::KIND,
            AnyId::DocumentId(_) => DocumentId::KIND,
            AnyId::EffectId(_) => EffectId::KIND,
        }
    }

    fn parts(self) -> (ReplicaId, u64) {
        match self {
            AnyId::DepartmentId(id) => (id.replica, id.seq),
            AnyId::UserId(id) => (id.replica, id.seq),
            AnyId::ContactId(id) => (id.replica, id.seq),
            AnyId::CompanyId(id) => (id.replica, id.seq),
            AnyId::PipelineId(id) => (id.replica, id.seq),
            AnyId::StageId(id) => (id.replica, id.seq),
            AnyId::DealId(id) => (id.replica, id.seq),
            AnyId::TaskId(id) => (id.replica, id.seq),
            AnyId::ActivityId(id) => (id.replica, id.seq),
            AnyId::FieldId(id) => (id.replica, id.seq),
            AnyId::PaymentId(id) => (id.replica, id.seq),
            AnyId::DocumentId(id) => (id.replica, id.seq),
            AnyId::EffectId(id) => (id.replica, id.seq),
        }
    }
}

impl fmt::Display for AnyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AnyId::DepartmentId(id) => id.fmt(f),
            AnyId::UserId(id) => id.fmt(f),
            AnyId::ContactId(id) => id.fmt(f),
            AnyId::CompanyId(id) => id.fmt(f),
            AnyId::PipelineId(id) => id.fmt(f),
            AnyId::StageId(id) => id.fmt(f),
            AnyId::DealId(id) => id.fmt(f),
            AnyId::TaskId(id) => id.fmt(f),
            AnyId::ActivityId(id) => id.fmt(f),
            AnyId::FieldId(id) => id.fmt(f),
            AnyId::PaymentId(id) => id.fmt(f),
            AnyId::DocumentId(id) => id.fmt(f),
            AnyId::EffectId(id) => id.fmt(f),
        }
    }
}

impl fmt::Debug for AnyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for AnyId {
    type Err = CrmError;
    fn from_str(text: &str) -> Result<Self, CrmError> {
        let prefix = text.split('-').next().unwrap_or_default();
        Ok(match prefix {
            DepartmentId::PREFIX => AnyId::DepartmentId(text.parse()?),
            UserId::PREFIX => AnyId::UserId(text.parse()?),
            ContactId::PREFIX => AnyId::ContactId(text.parse()?),
            CompanyId::PREFIX => AnyId::CompanyId(text.parse()?),
            PipelineId::PREFIX => AnyId::PipelineId(text.parse()?),
            StageId::PREFIX => AnyId::StageId(text.parse()?),
            DealId::PREFIX => AnyId::DealId(text.parse()?),
            TaskId::PREFIX => AnyId::TaskId(text.parse()?),
            ActivityId::PREFIX => AnyId::ActivityId(text.parse()?),
            FieldId::PREFIX => AnyId::FieldId(text.parse()?),
            PaymentId::PREFIX => AnyId::PaymentId(text.parse()?),
            DocumentId::PREFIX => AnyId::DocumentId(text.parse()?),
            EffectId::PREFIX => AnyId::EffectId(text.parse()?),
            _ => {
                return Err(CrmError::validation(
                    "id",
                    format!(
                        "{text:?} is not an id of any known kind (expected like \"deal-1-42\")"
                    ),
                ))
            }
        })
    }
}

#[cfg(feature = "schema")]
impl schemars::JsonSchema for AnyId {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "AnyId".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^[a-z]+-[0-9]+-[0-9]+$",
            "description": "any record's ID, like \"deal-1-42\" (the prefix names its kind)"
        })
    }
}

impl Serialize for AnyId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for AnyId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize_text(deserializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_their_string_form() {
        let id = DealId::new(ReplicaId::new(7).unwrap(), 42);
        assert_eq!(id.to_string(), "deal-7-42");
        assert_eq!("deal-7-42".parse::<DealId>().unwrap(), id);
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"deal-7-42\"");
        let any: AnyId = "deal-7-42".parse().unwrap();
        assert_eq!(any, AnyId::DealId(id));
    }

    #[test]
    fn malformed_ids_name_the_kind_and_the_value() {
        for bad in [
            "deal-7",
            "con-1-2",
            "deal-x-1",
            "deal-1-",
            "deal--1",
            "deal-1-2-3",
            "deal-1-99999999999999999",
            // Non-canonical spellings of deal-1-1 (hardening finding 9).
            "deal-01-1",
            "deal-1-01",
            "deal-00-1",
            "deal-+1-1",
        ] {
            let err = bad.parse::<DealId>().unwrap_err();
            assert_eq!(err.code(), "validation", "{bad}");
            assert!(err.to_string().contains(bad), "{err}");
        }
        assert!("zzz-1-1".parse::<AnyId>().is_err());
    }

    #[test]
    fn replica_ids_stay_exact_in_javascript() {
        assert!(ReplicaId::new(MAX_ID_PART).is_ok());
        assert_eq!(
            ReplicaId::new(MAX_ID_PART + 1).unwrap_err().code(),
            "validation"
        );
    }
}
