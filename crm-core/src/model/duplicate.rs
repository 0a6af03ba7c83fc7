//! Asking for duplicate contacts, and the pairs found with their reasons (`duplicate.rs`
//! finds them).

use serde::{Deserialize, Serialize};

use crate::common::id::ContactId;
use crate::common::normalize::EmailPolicy;

/// Input for the `find_duplicates` query.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default, deny_unknown_fields)]
pub struct DuplicateRequest {
    /// Only pairs with this contact (say, a lead that just came in); all when absent.
    pub contact: Option<ContactId>,
    /// Pairs scoring below this are left out (0–100; default 50).
    pub min_score: u8,
    /// A phone or address shared by more contacts than this (an office switchboard,
    /// `info@`) is not taken as evidence; it is listed in `too_common` (default 20, at
    /// most [`MAX_SHARED`]).
    #[serde(deserialize_with = "crate::common::validate::count")]
    pub max_shared: usize,
    /// How addresses are compared (plus-address folding per domain).
    pub email: EmailPolicy,
    /// Skip this many pairs.
    #[serde(deserialize_with = "crate::common::validate::count")]
    pub offset: usize,
    /// Return at most this many pairs (default 100, at most 1,000).
    #[serde(default, deserialize_with = "crate::common::validate::optional_count")]
    pub limit: Option<usize>,
}

impl Default for DuplicateRequest {
    fn default() -> Self {
        Self {
            contact: None,
            min_score: 50,
            max_shared: 20,
            email: EmailPolicy::default(),
            offset: 0,
            limit: None,
        }
    }
}

/// The largest `max_shared`: a block of 200 contacts is 19,900 comparisons, where 5,000
/// sharing one phone were 12.5 million pairs (29 s, 2.9 GiB).
pub const MAX_SHARED: usize = 200;

/// The answer: pairs, best first, and the values too common to count.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Duplicates {
    pub pairs: Vec<DuplicatePair>,
    /// How many pairs matched before paging.
    pub total: usize,
    pub too_common: Vec<CommonValue>,
}

/// Two contacts that may be one person; `a` is the older ID.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DuplicatePair {
    pub a: ContactId,
    pub b: ContactId,
    pub score: u8,
    pub reasons: Vec<Reason>,
}

/// Why two contacts look alike. JSON: `{"reason": "same_phone", "phone": "+49…"}`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Reason {
    SamePhone {
        phone: String,
    },
    SameEmail {
        email: String,
    },
    /// Folded names this similar (percent; 100 = the same once folded).
    SimilarName {
        similarity: u8,
    },
}

/// A phone or address shared by too many contacts to mean anything.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CommonValue {
    /// `"phones"` or `"emails"`.
    pub field: String,
    pub value: String,
    pub contacts: usize,
}
