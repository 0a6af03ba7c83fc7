#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_debug_implementations)]

// The ground floor: errors, IDs, money, time, validation and the calendar.
mod common;
pub use common::utc::parse_now;
pub use common::{calendar, error, id, money, normalize, utc, validate};

// The data of the CRM: what commands carry and what events and the state hold.
mod model;
pub use model::duplicate::MAX_SHARED;
pub use model::{
    activity, command, company, contact, custom_field, deal, document, import, intake, merge,
    outbox, payment, pipeline, query, rule, task, user,
};

// Deciding what a command produces.
mod decide;

// The engine and its inputs and outputs.
pub mod engine;
pub mod event;
pub mod journal;
pub(crate) mod list;
pub mod state;
pub mod upcast;

// One module per aggregate.

// Intake and data quality: adapters, matching keys, duplicate search, merging.
pub mod duplicate;
pub mod export;

// Reports: aggregates kept as events are applied.
pub mod report;

// Automation: rules as data, the business calendar, scheduled wake-ups.
mod automation;
pub mod context;
pub mod timer;

// Cross-cutting pieces.
pub mod access;
mod integrity;
#[cfg(feature = "schema")]
pub mod schema;

pub use activity::{Activity, ActivityKind, Direction, NewActivity};
pub use calendar::{Calendar, Span};
pub use command::{
    Command, DealMove, OwnerAssignment, OwnerHandover, Target, TaskCancellation, TaskReassignment,
    Update,
};
pub use company::{Company, CompanyFields, CompanyPatch, NewCompany};
pub use contact::{Consent, Contact, ContactFields, ContactPatch, NewContact};
pub use custom_field::{EntityKind, FieldDefinition, FieldKind, FieldValue, NewField};
pub use deal::{Deal, DealFields, DealPatch, DealStatus, NewDeal, StageChange};
pub use document::{Document, Format, NewTemplate, RenderRequest, Template};
pub use engine::{
    Crm, CrmOptions, Explanation, Outcome, Projections, Record, Rerendering, DEFAULT_CASCADE_DEPTH,
    DEFAULT_MAX_REACTION_EVENTS, DEFAULT_SNAPSHOT_EVERY, MAX_WARNINGS,
};
pub use error::CrmError;
pub use event::{CascadeLimit, Event, EventEnvelope, SCHEMA_VERSION};
pub use id::{
    ActivityId, AnyId, CompanyId, ContactId, DealId, DepartmentId, DocumentId, EffectId, FieldId,
    PaymentId, PipelineId, ReplicaId, StageId, TaskId, UserId,
};
pub use import::{ContactImport, ImportCheck, ImportDuplicate, ImportProblem};
pub use intake::{
    CallOutcome, CallReport, DuplicatePolicy, EmailMessage, FormSettings, FormSubmission,
    IncomingCall, IntakeSettings, RouteSettings,
};
pub use journal::{Journal, MemoryJournal, Snapshot, SNAPSHOT_VERSION};
pub use merge::{CompanyMerge, CompanyMergeRecord, ContactMerge, Merge, MergeRequest, Side};
pub use model::actor::Actor;
pub use model::duplicate::{CommonValue, DuplicatePair, DuplicateRequest, Duplicates, Reason};
pub use model::export::{Export, ExportEntity, ExportRequest};
pub use model::fact::Fact;
pub use model::query::{
    ActivityFilter, CompanyFilter, ContactFilter, DealFilter, Page, Paging, Query, TaskFilter,
    TimelineQuery,
};
pub use money::{Currency, Money};
pub use normalize::EmailPolicy;
pub use outbox::{Acknowledgement, Effect, EffectBody};
pub use payment::{LineItem, LineItems, NewLineItem, NewPayment, Payment};
pub use pipeline::{NewPipeline, NewStage, Pipeline, Stage, StageKind};
pub use report::{Bucket, Report, ReportKind, ReportRequest, Reports, Sums, Tally};
pub use rule::{Action, Assignee, Condition, Rule, RuleSet, Trigger};
pub use state::State;
pub use task::{NewTask, Task, TaskCompletion, TaskStatus};
pub use user::{Department, NewDepartment, NewUser, Role, User, UserPatch};

/// Decimal numbers, re-exported so hosts use the same type as the engine.
pub use rust_decimal::Decimal;
