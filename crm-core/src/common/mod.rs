//! The ground floor: what every other layer uses and that uses nothing of the CRM —
//! the error type, typed IDs, money, UTC instants, input validation and
//! normalisation, the tagged-enum JSON form, and the business calendar.

pub(crate) mod calendar;
pub(crate) mod diff;
pub(crate) mod error;
pub(crate) mod hlc;
pub(crate) mod id;
pub(crate) mod money;
pub(crate) mod normalize;
pub(crate) mod tagged;
pub(crate) mod utc;
pub(crate) mod validate;
