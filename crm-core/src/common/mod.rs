//! The ground floor: what every other layer uses and that uses nothing of the CRM —
//! the error type, typed IDs, money, UTC instants, input validation and
//! normalisation, the tagged-enum JSON form, and the business calendar.

pub mod calendar;
pub mod diff;
pub mod error;
pub mod id;
pub mod money;
pub mod normalize;
pub(crate) mod tagged;
pub mod utc;
pub mod validate;
