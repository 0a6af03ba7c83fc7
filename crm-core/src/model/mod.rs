//! The data of the CRM, one file per aggregate: what commands carry (inputs, patches),
//! what events and the state hold (records), and nothing that decides. Types here
//! import only `common/` and each other.

pub(crate) mod activity;
pub(crate) mod actor;
pub(crate) mod batch;
pub(crate) mod command;
pub(crate) mod company;
pub(crate) mod contact;
pub(crate) mod custom_field;
pub(crate) mod deal;
pub(crate) mod document;
pub(crate) mod duplicate;
pub(crate) mod export;
pub(crate) mod fact;
pub(crate) mod import;
pub(crate) mod intake;
pub(crate) mod merge;
pub(crate) mod outbox;
pub(crate) mod payment;
pub(crate) mod pipeline;
pub(crate) mod query;
pub(crate) mod report;
pub(crate) mod rule;
pub(crate) mod task;
pub(crate) mod user;
