//! The JSON Schema of everything the engine answers with, generated from the Rust
//! types (feature `schema`) and committed as `docs/schemas/results.schema.json`, with a
//! copy inside the Python package. A binding reads it to know where instants and money
//! are in an answer — by position in the schema, never by a key's name — so a custom
//! field keyed `due` or a CSV column named `created_at` stays the text it is.
//!
//! Its `properties` name each entry point's answer: `outcome` (`execute`), `events`,
//! `effects` (`drain_outbox`), and `query.<type>` for every query type.
//!
//! Beside it, what the engine reads: `commands.schema.json` (every [`crate::Command`]),
//! `queries.schema.json` (every [`crate::Query`]) and `events.schema.json` (the journal's
//! [`crate::EventEnvelope`]). The bindings' typed forms (TypeScript declarations,
//! Python `TypedDict`s) are generated from these four by `crm-typegen`.
//! Regenerate with `UPDATE_SCHEMAS=1 cargo test -p crm-core --features schema --lib schema`.

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, SchemaGenerator};
use serde_json::{json, Map, Value};

use crate::model::query::Page;
use crate::{
    Activity, Company, Contact, DealView, Department, Duplicates, Effect, EventEnvelope,
    Explanation, Export, FieldDefinition, ImportCheck, Outcome, Pipeline, Record, Report,
    Rerendering, RuleSet, Task, Template, User,
};

/// The schema of what a host sends: a command or a query, as the engine reads it
/// (fields with a default are optional).
fn input<T: JsonSchema>() -> Value {
    let generator = SchemaGenerator::new(SchemaSettings::draft2020_12().for_deserialize());
    generator.into_root_schema_for::<T>().to_value()
}

/// Every command, as `execute` reads it: a `oneOf` of `{"type": "<name>", ...}` objects.
pub fn commands() -> Value {
    input::<crate::Command>()
}

/// Every query, as `query` reads it: a `oneOf` of `{"type": "<name>", ...}` objects.
pub fn queries() -> Value {
    input::<crate::Query>()
}

/// One event of the journal, as `events()` writes it and `import_events` reads it.
pub fn events() -> Value {
    let generator = SchemaGenerator::new(SchemaSettings::draft2020_12().for_serialize());
    generator.into_root_schema_for::<EventEnvelope>().to_value()
}

/// The results schema: `properties` by entry point, `$defs` for the types they use.
pub fn results() -> Value {
    let mut generator = SchemaGenerator::new(SchemaSettings::draft2020_12().for_serialize());
    let mut answers = Map::new();
    let mut answer = |name: &str, schema: schemars::Schema| {
        answers.insert(name.to_string(), schema.to_value());
    };
    answer("outcome", generator.subschema_for::<Outcome>());
    answer(
        "batch_outcome",
        generator.subschema_for::<crate::BatchOutcome>(),
    );
    answer("events", generator.subschema_for::<Vec<EventEnvelope>>());
    answer("effects", generator.subschema_for::<Vec<Effect>>());
    for (query, schema) in answers_to_queries(&mut generator) {
        answer(&format!("query.{query}"), schema);
    }
    let definitions: Map<String, Value> = generator.take_definitions(true).into_iter().collect();
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "crm-core results",
        "description": "The JSON every entry point answers with, by entry point (outcome, batch_outcome, events, effects, query.<type>); generated from the Rust types.",
        "type": "object",
        "properties": answers,
        "$defs": definitions,
    })
}

/// Each query type's answer, in the order of [`crate::Query::NAMES`].
fn answers_to_queries(generator: &mut SchemaGenerator) -> Vec<(&'static str, schemars::Schema)> {
    fn of<T: JsonSchema>(generator: &mut SchemaGenerator) -> schemars::Schema {
        generator.subschema_for::<T>()
    }
    let next_wakeup = {
        let at = generator.subschema_for::<Option<chrono::DateTime<chrono::Utc>>>();
        schemars::json_schema!({
            "type": "object",
            "properties": {"next_wakeup": at},
            "required": ["next_wakeup"]
        })
    };
    vec![
        ("get", of::<Record>(generator)),
        ("list_contacts", of::<Page<Contact>>(generator)),
        ("list_companies", of::<Page<Company>>(generator)),
        ("list_deals", of::<Page<DealView>>(generator)),
        ("list_tasks", of::<Page<Task>>(generator)),
        ("list_activities", of::<Page<Activity>>(generator)),
        ("list_users", of::<Page<User>>(generator)),
        ("list_departments", of::<Page<Department>>(generator)),
        ("list_pipelines", of::<Page<Pipeline>>(generator)),
        ("list_fields", of::<Page<FieldDefinition>>(generator)),
        ("timeline", of::<Vec<EventEnvelope>>(generator)),
        ("explain", of::<Vec<Explanation>>(generator)),
        ("outbox", of::<Page<Effect>>(generator)),
        ("next_wakeup", next_wakeup),
        ("rerender", of::<Rerendering>(generator)),
        ("list_rules", of::<RuleSet>(generator)),
        ("calendar", of::<crate::Calendar>(generator)),
        ("list_templates", of::<Page<Template>>(generator)),
        ("client_stats", of::<crate::context::ClientStats>(generator)),
        ("check_import", of::<ImportCheck>(generator)),
        (
            "check_record_import",
            of::<crate::RecordImportCheck>(generator),
        ),
        ("export", of::<Export>(generator)),
        (
            "export_person",
            of::<crate::engine::PersonExport>(generator),
        ),
        ("find_duplicates", of::<Duplicates>(generator)),
        ("report", of::<Report>(generator)),
        ("chart", of::<crate::report::Drawing>(generator)),
    ]
}

/// The rule language (`define_rules`), for the business admins' docs/rules.md.
pub fn rules() -> Value {
    schemars::schema_for!(crate::RuleSet).to_value()
}

/// What replicas and their authority exchange (docs/sync.md): `properties` name the
/// batches, each a versioned JSON document any transport carries.
pub fn sync() -> Value {
    /// The sync batches side by side, for one schema document.
    #[derive(JsonSchema)]
    #[allow(dead_code)]
    struct SyncBatches {
        /// A replica's pending commands (`Replica::push_batch` → `Crm::push`).
        push: crate::PushBatch,
        /// The authority's answer to a push.
        push_result: crate::PushResult,
        /// Canonical events after a cursor (`Crm::pull` → `Replica::receive_pull`).
        pull: crate::PullBatch,
        /// What a replica stores beside its canonical events.
        replica_log: crate::ReplicaLog,
    }
    let generator = SchemaGenerator::new(SchemaSettings::draft2020_12().for_serialize());
    generator.into_root_schema_for::<SyncBatches>().to_value()
}

/// A batch of commands and what it did (`Crm::execute_batch`, `POST /v1/commands`):
/// `properties` name the two documents.
pub fn batch() -> Value {
    /// The batch and its outcome side by side, for one schema document.
    #[derive(JsonSchema)]
    #[allow(dead_code)]
    struct Batch {
        /// Commands run as one; a command may name what an earlier one created with
        /// `{"$ref": index}` where an ID goes (JSON entry points only).
        batch: crate::CommandBatch,
        /// What the batch did.
        batch_outcome: crate::BatchOutcome,
    }
    let generator = SchemaGenerator::new(SchemaSettings::draft2020_12());
    generator.into_root_schema_for::<Batch>().to_value()
}

/// The business calendar (`set_calendar`).
pub fn calendar() -> Value {
    schemars::schema_for!(crate::Calendar).to_value()
}

#[cfg(test)]
mod tests {
    /// Writes `schema` to `copy` (relative to the repository) with UPDATE_SCHEMAS set;
    /// fails when the committed copy is stale.
    fn check(copy: &str, schema: &serde_json::Value) {
        let text = serde_json::to_string_pretty(schema).unwrap() + "\n";
        let path = format!("{}/../{copy}", env!("CARGO_MANIFEST_DIR"));
        if std::env::var_os("UPDATE_SCHEMAS").is_some() {
            std::fs::write(&path, &text).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == text,
            "{copy} is out of date; regenerate it (see crm-core/src/schema.rs)"
        );
    }

    #[test]
    fn committed_schemas_match_the_types() {
        let results = super::results();
        for (copy, schema) in [
            ("docs/schemas/commands.schema.json", super::commands()),
            ("docs/schemas/queries.schema.json", super::queries()),
            ("docs/schemas/events.schema.json", super::events()),
            ("docs/schemas/rules.schema.json", super::rules()),
            ("docs/schemas/calendar.schema.json", super::calendar()),
            ("docs/schemas/sync.schema.json", super::sync()),
            ("docs/schemas/batch.schema.json", super::batch()),
            ("docs/schemas/results.schema.json", results.clone()),
            // The copy the Python extension compiles its conversion plan from.
            (
                "bindings-python/python/crm_core/_results.schema.json",
                results,
            ),
        ] {
            check(copy, &schema);
        }
    }

    #[test]
    fn every_command_and_query_has_its_variant() {
        for (schema, names) in [
            (super::commands(), crate::Command::NAMES),
            (super::queries(), crate::Query::NAMES),
        ] {
            let tags: Vec<&str> = schema["oneOf"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|variant| variant["properties"]["type"]["const"].as_str())
                .collect();
            assert_eq!(tags, names);
        }
    }

    #[test]
    fn every_query_has_its_answer() {
        let schema = super::results();
        for name in crate::Query::NAMES {
            assert!(
                schema["properties"][format!("query.{name}")].is_object(),
                "query {name} has no answer in the results schema"
            );
        }
    }
}
