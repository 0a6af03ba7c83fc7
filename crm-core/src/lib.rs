#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_debug_implementations)]
#![warn(unreachable_pub)]

// The modules are floors (ARCHITECTURE.md, "Layers"): each names only the floors below
// it, as crm-core/tests/layers.rs checks. All private: what hosts use is the one list of
// `pub use` below.
mod access;
mod automation;
mod common;
mod context;
mod decide;
mod duplicate;
mod engine;
mod event;
mod export;
mod integrity;
mod journal;
mod list;
mod model;
mod report;
#[cfg(feature = "schema")]
pub mod schema;
mod state;
mod sync;
mod timer;
mod upcast;

use common::{calendar, error, id, money, normalize};
use model::{
    activity, command, company, contact, custom_field, deal, document, import, intake, merge,
    outbox, payment, pipeline, rule, task, user,
};

pub use activity::{Activity, ActivityKind, ActivityPatch, ActivityText, Direction, NewActivity};
pub use calendar::{Calendar, Day, Span};
pub use command::{
    Command, DealMove, HistoryImport, HistoryItem, OwnerAssignment, OwnerHandover, Target,
    TaskCancellation, TaskReassignment, Update, MAX_HISTORY_ITEMS,
};
pub use common::hlc::Hlc;
pub use common::tagged::read_json;
pub use common::utc::parse_now;
pub use common::validate::{
    json_path_at, MAX_JSON_BYTES, MAX_KEY_CHARS, MAX_LIST_ITEMS, MAX_NAME_CHARS, MAX_TEXT_CHARS,
};
pub use company::{Company, CompanyFields, CompanyPatch, NewCompany};
pub use contact::{Consent, Contact, ContactFields, ContactPatch, NewContact};
pub use context::ClientStats;
pub use custom_field::{EntityKind, FieldDefinition, FieldKind, FieldPatch, FieldValue, NewField};
pub use deal::{Deal, DealFields, DealPatch, DealStatus, DealView, NewDeal, StageChange};
pub use document::{Document, Format, NewTemplate, RenderRequest, Template};
pub use duplicate::compare as compare_contacts;
pub use engine::{
    BatchOutcome, Crm, CrmOptions, ExplainedEvent, Explanation, Fired, Outcome, PersonExport,
    Projections, Record, Rerendering, DEFAULT_CASCADE_DEPTH, DEFAULT_MAX_REACTION_EVENTS,
    DEFAULT_SNAPSHOT_EVERY, MAX_WARNINGS,
};
pub use error::CrmError;
pub use event::{CascadeLimit, Event, EventEnvelope, SCHEMA_VERSION};
pub use id::{
    ActivityId, AnyId, CompanyId, ContactId, DealId, DepartmentId, DocumentId, EffectId, FieldId,
    PaymentId, PipelineId, ReplicaId, StageId, TaskId, UserId, MAX_ID_PART,
};
pub use import::{
    ContactImport, ImportCheck, ImportDuplicate, ImportKind, ImportPreset, ImportProblem,
    RecordImport, RecordImportCheck,
};
pub use intake::{
    CallOutcome, CallReport, DuplicatePolicy, EmailMessage, FormSettings, FormSubmission,
    IncomingCall, IntakeSettings, RouteSettings,
};
pub use journal::{
    collect_from, collect_redacted, Journal, MemoryJournal, Snapshot, OLDEST_READABLE_SNAPSHOT,
    SNAPSHOT_VERSION,
};
pub use merge::{CompanyMerge, CompanyMergeRecord, ContactMerge, Merge, MergeRequest, Side};
pub use model::actor::Actor;
pub use model::batch::{
    CommandBatch, IDEMPOTENCY_RETENTION_HOURS, MAX_BATCH_COMMANDS, MAX_IDEMPOTENCY_KEY_BYTES,
};
pub use model::document::format_money;
pub use model::duplicate::{
    CommonValue, DuplicatePair, DuplicateRequest, Duplicates, Reason, MAX_SHARED,
};
pub use model::export::{Export, ExportEntity, ExportRequest};
pub use model::fact::Fact;
pub use model::query::{
    ActivityFilter, Archived, CompanyFilter, ContactFilter, DealFilter, Page, Paging, Query,
    TaskFilter, TimelineQuery, DEFAULT_PAGE, MAX_PAGE,
};
pub use money::{Currency, Money};
pub use normalize::EmailPolicy;
pub use outbox::{Acknowledgement, Effect, EffectBody};
pub use payment::{LineItem, LineItems, NewLineItem, NewPayment, Payment};
pub use pipeline::{
    NewPipeline, NewStage, Pipeline, PipelinePatch, Stage, StageAddition, StageArchive, StageKind,
    StageOrder, StagePatch, StageUpdate,
};
pub use report::{
    Bucket, Chart, ChartKind, ClientsSummary, Conversion, CycleRow, Drawing, DurationSummary,
    ForecastRow, FunnelStage, LostReason, Report, ReportKind, ReportRequest, Reports, RevenueRow,
    RottingDeal, Series, SlaRow, SourceRow, StageTimeRow, Sums, Tally, WinRateRow,
};
pub use rule::{Action, Assignee, Channel, Condition, Rule, RuleSet, Trigger};
pub use state::erasure::ERASED;
pub use state::State;
pub use sync::protocol::{
    CommandResult, Pending, PendingCommand, PullBatch, PushBatch, PushResult, RejectedCommand,
    ViewChange, MAX_PULL_EVENTS, MAX_PUSH_COMMANDS, SYNC_VERSION,
};
pub use sync::replica::{HeldView, Replica, ReplicaLog};
pub use task::{
    DaysOff, Every, NewTask, Repeat, Task, TaskCompletion, TaskFields, TaskPatch, TaskReschedule,
    TaskSeries, TaskSnooze, TaskStatus,
};
pub use upcast::{envelope_from_json, envelopes_from_json};
pub use user::{Department, NewDepartment, NewUser, Role, User, UserPatch};

/// Decimal numbers, re-exported so hosts use the same type as the engine.
pub use rust_decimal::Decimal;
