#![doc = include_str!("../README.md")]

mod exchange;
mod keys;
mod limits;
mod problem;
mod resources;
mod routes;
mod tenant;

pub use keys::KeyStore;
pub use limits::RateLimit;
pub use problem::Problem;
pub use routes::router;
pub use tenant::{Clock, Opened, Tenant, TenantOptions};
