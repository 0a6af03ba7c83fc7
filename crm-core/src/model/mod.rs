//! The data of the CRM, one file per aggregate: what commands carry (inputs, patches),
//! what events and the state hold (records), and nothing that decides. Types here
//! import only `common/` and each other.

pub mod activity;
pub mod actor;
pub mod command;
pub mod company;
pub mod contact;
pub mod custom_field;
pub mod deal;
pub mod document;
pub mod duplicate;
pub mod export;
pub mod fact;
pub mod import;
pub mod intake;
pub mod merge;
pub mod outbox;
pub mod payment;
pub mod pipeline;
pub mod query;
pub mod report;
pub mod rule;
pub mod task;
pub mod user;
