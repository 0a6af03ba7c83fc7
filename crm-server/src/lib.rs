#![doc = include_str!("../README.md")]

mod config;
mod delivery;
mod demo;
mod exchange;
mod files;
mod guard;
mod hub;
mod intake;
mod jobs;
mod keys;
mod limits;
mod listen;
mod openapi;
mod problem;
mod resources;
mod routes;
mod tables;
mod tenant;

pub use config::{
    Config, DeliveryConfig, FormConfig, IntakeConfig, RateLimitConfig, SmsConfig, SmtpConfig,
    TenantConfig, WebhooksConfig,
};
pub use delivery::sign as sign_webhook;
pub use demo::DemoClock;
pub use hub::Hub;
pub use keys::KeyStore;
pub use limits::RateLimit;
pub use listen::listen;
pub use openapi::document as openapi_document;
pub use problem::Problem;
pub use routes::{router, with_web};
pub use tables::Storage;
pub use tenant::{Clock, Opened, Tenant, TenantOptions};
