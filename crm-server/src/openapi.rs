//! The API's OpenAPI 3.1 description, served at `/v1/openapi.json` and committed as
//! docs/openapi.json (a test fails when it drifts). Its schemas are the engine's own
//! (crm-core's `schema` module, generated from the Rust types): OpenAPI 3.1 speaks JSON
//! Schema 2020-12, the dialect schemars writes, so they go in unchanged but for their
//! `$ref`s. The paths are listed here, beside the router, one entry per route.

use serde_json::{json, Map, Value};

/// The whole document.
pub fn document() -> Value {
    // What the engine writes first, under the types' own names; what it reads, where
    // it reads a type differently, as `<Name>Input` (as scripts/typegen names them).
    let mut schemas = Components::default();
    let results = schemas.take(crm_core::schema::results(), "");
    schemas.root("EventEnvelope", crm_core::schema::events(), "");
    let sync = schemas.take(crm_core::schema::sync(), "Sync");
    let command = schemas.root("Command", crm_core::schema::commands(), "Input");
    let query = schemas.root("Query", crm_core::schema::queries(), "Input");
    // The batch file repeats every command's types; only its own type is new.
    let batch = crm_core::schema::batch();
    schemas.add(
        "CommandBatch",
        rewrite(batch["$defs"]["CommandBatch"].clone(), &[]),
    );
    let batch = json!({"$ref": "#/components/schemas/CommandBatch"});
    schemas.add("Problem", problem());
    let answer = |name: &str| results["properties"][name].clone();
    let record = answer("query.get");
    let paths = json!({
        "/health": {"get": op("health", "The process answers.", None, ok(json!({"type": "object"})), false)},
        "/ready": {"get": op("ready", "Every business's journal answers; their positions by name.", None,
            ok(json!({"type": "object", "properties": {
                "status": {"type": "string"},
                "positions": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}}}})), false)},
        "/v1/openapi.json": {"get": op("openapi", "This document.", None, ok(json!({"type": "object"})), false)},
        "/v1/commands": {"post": with_header(op("execute",
            "One command, or a batch (`{\"commands\": [...]}`) stored as one or not at all. With `Idempotency-Key` a request sent again is answered, not run again.",
            Some(json!({"oneOf": [command, batch]})),
            ok(json!({"oneOf": [answer("outcome"), answer("batch_outcome")]})), true))},
        "/v1/queries": {"post": op("query", "One query, answered as the key's user sees the CRM.",
            Some(query), ok(json!({})), true)},
        "/v1/events": {"get": with_params(op("events", "The change feed: events after a position, oldest first (admins).", None,
            ok(json!({"type": "object", "required": ["events", "next", "more"], "properties": {
                "events": {"type": "array", "items": {"$ref": "#/components/schemas/EventEnvelope"}},
                "next": {"type": "integer", "minimum": 0},
                "more": {"type": "boolean"}}})), true),
            &[("after", "integer", false), ("limit", "integer", false)])},
        "/v1/keys": {"post": op("create_key", "A key for a user (admins): shown in this answer only.",
            Some(json!({"type": "object", "required": ["user"], "properties": {"user": {"type": "string"}}})),
            created(json!({"type": "object", "required": ["id", "user", "key"], "properties": {
                "id": {"type": "integer"}, "user": {"type": "string"}, "key": {"type": "string"}}})), true)},
        "/v1/keys/{id}": {"delete": with_params(op("revoke_key", "Revokes a key (admins).", None, no_content(), true),
            &[("id", "integer", true)])},
        "/v1/webhooks/replay": {"post": with_params(op("replay_webhooks",
            "Sends the webhooks queued from a journal position on again (admins).", None,
            accepted(json!({"type": "object", "properties": {"queued": {"type": "integer"}, "from": {"type": "integer"}}})), true),
            &[("from", "integer", true)])},
        "/v1/webhooks/disabled": {
            "get": op("disabled_webhooks", "Endpoints disabled after answering 410 (admins).", None,
                ok(json!({"type": "object", "properties": {"items": {"type": "array", "items": {"type": "object", "properties": {
                    "url": {"type": "string"}, "disabled_at": {"type": "string"}}}}}})), true),
            "delete": with_params(op("enable_webhook", "Enables a disabled endpoint again (admins).", None, no_content(), true),
                &[("url", "string", true)])},
        "/v1/sync/replicas": {"post": op("enrol_replica", "A replica id of its own for one device of the key's user; pushes from it are accepted from that user only (docs/sync.md).",
            None, created(json!({"type": "object", "required": ["replica_id", "user"], "properties": {
                "replica_id": {"type": "integer", "minimum": 2}, "user": {"type": "string"}}})), true)},
        "/v1/sync/push": {"post": op("push", "A replica's pending commands, run as the key's user, from a replica enrolled for that user (docs/sync.md).",
            Some(sync["properties"]["push"].clone()), ok(sync["properties"]["push_result"].clone()), true)},
        "/v1/sync/pull": {"get": with_params(op("pull", "What changed for the key's user after a replica's cursor.", None,
            ok(sync["properties"]["pull"].clone()), true), &[("cursor", "integer", false), ("limit", "integer", false)])},
    });
    let mut paths = paths.as_object().cloned().unwrap_or_default();
    let outcome = answer("outcome");
    let form_fields = json!({"type": "object", "additionalProperties": {"type": "string"},
        "description": "the form's fields; `_token` (or the X-Form-Token header) is the form's public token"});
    let mut form = public_op(
        "submit_form",
        "A web form's submission from a visitor's browser: the form's token, CORS for the configured sites, a honeypot field, a rate limit per address; `receive_form` as system.",
        json!({"application/x-www-form-urlencoded": {"schema": form_fields.clone()},
               "application/json": {"schema": form_fields}}),
        &[(202, json!({"type": "object", "properties": {"received": {"type": "boolean"}}})), (303, Value::Null)],
        &[400, 403, 404, 413, 422, 429, 503],
    );
    form = with_params(
        form,
        &[("business", "string", true), ("form", "string", true)],
    );
    let preflight = with_params(
        public_op(
            "preflight_form",
            "A browser's CORS preflight before a script posts the form.",
            Value::Null,
            &[(204, Value::Null)],
            &[400, 403, 404],
        ),
        &[("business", "string", true), ("form", "string", true)],
    );
    paths.insert(
        "/v1/intake/{business}/forms/{form}".into(),
        json!({"post": form, "options": preflight}),
    );
    let call = with_params(
        public_op(
            "receive_call",
            "A call from the PBX, signed per Standard Webhooks with the business's PBX secret; `receive_call` as system.",
            json!({"application/json": {"schema": schemas.command_fields("receive_call")}}),
            &[(200, outcome.clone())],
            &[400, 401, 404, 413, 422, 503],
        ),
        &[("business", "string", true)],
    );
    paths.insert("/v1/intake/{business}/calls".into(), json!({"post": call}));
    let mut email = op(
        "receive_email",
        "A raw e-mail (message/rfc822), uploaded with an admin's key; `receive_email` as that admin.",
        None,
        ok(outcome),
        true,
    );
    email["requestBody"] = json!({"required": true, "content": {"text/plain": {"schema": {"type": "string",
            "description": "the message as it arrived (RFC 5322); any Content-Type, message/rfc822 is usual"}}}});
    paths.insert("/v1/intake/email".into(), json!({"post": email}));
    let mut report = with_params(
        op("report", "A report (docs/reports.md) as JSON, as CSV (its rows, nested fields as dotted columns) or as an SVG chart; every other parameter is a field of the report request.",
            None, ok(answer("query.report")), true),
        &[("report", "string", true), ("format", "string", false), ("from", "string", false), ("to", "string", false),
          ("pipeline", "string", false), ("owner", "string", false), ("department", "string", false),
          ("by", "string", false), ("days", "integer", false)],
    );
    report["responses"]["200"]["content"]["text/csv"] = json!({"schema": {"type": "string"}});
    report["responses"]["200"]["content"]["image/svg+xml"] = json!({"schema": {"type": "string"}});
    paths.insert("/v1/reports/{report}".into(), json!({"get": report}));
    let mut export = with_params(
        op(
            "export",
            "The records of a kind the key's user may read, as a file.",
            None,
            (200, json!({"type": "string"})),
            true,
        ),
        &[("entity", "string", true), ("format", "string", false)],
    );
    let file = export["responses"]["200"]["content"]["application/json"].take();
    export["responses"]["200"]["content"] = json!({"text/csv": file.clone(),
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": file});
    paths.insert("/v1/exports/{entity}".into(), json!({"get": export}));
    let job = json!({"type": "object", "required": ["id", "status"], "properties": {
        "id": {"type": "integer"},
        "status": {"type": "string", "enum": ["checking", "importing", "checked", "done", "failed"]},
        "check": answer("query.check_record_import"),
        "outcome": {"type": "object"},
        "problem": {"type": "object"}}});
    let mut start = with_params(
        op("start_import", "Starts an import job: the file checked (check_record_import), then, unless a dry run and only if every row is sound, imported in one batch (import_records).",
            Some(schemas.command_fields("import_records")), accepted(json!({"type": "object", "properties": {
                "id": {"type": "integer"}, "status": {"type": "string"}}})), true),
        &[("dry_run", "boolean", false)],
    );
    start["responses"]["202"]["headers"] = json!({"Location": {"schema": {"type": "string"}}});
    paths.insert("/v1/imports".into(), json!({"post": start}));
    paths.insert("/v1/imports/{id}".into(), json!({"get": with_params(
        op("import_status", "Where an import job stands (its starter's, or any for an admin).", None, ok(job), true),
        &[("id", "integer", true)])}));
    for (collection, list, create, update) in [
        (
            "contacts",
            "list_contacts",
            "create_contact",
            "update_contact",
        ),
        (
            "companies",
            "list_companies",
            "create_company",
            "update_company",
        ),
        ("deals", "list_deals", "create_deal", "update_deal"),
        ("tasks", "list_tasks", "create_task", "update_task"),
        (
            "activities",
            "list_activities",
            "log_activity",
            "update_activity",
        ),
    ] {
        let input = schemas.command_fields(create);
        let patch = schemas.command_fields(update)["properties"]["patch"].clone();
        paths.insert(
            format!("/v1/{collection}"),
            json!({
                "get": op(&format!("list_{collection}"), &format!("The `{list}` query; each parameter a field of it."), None,
                    ok(answer(&format!("query.{list}"))), true),
                "post": op(&format!("create_{collection}"), &format!("Makes a record from the body (`{create}`); the record."),
                    Some(input.clone()), created(record.clone()), true),
            }),
        );
        if matches!(collection, "contacts" | "companies" | "deals") {
            let mut upsert = with_params(
                op(&format!("upsert_{collection}"),
                    "The record whose custom field holds the value: made from the body (201) or patched with it (200); owner, pipeline and stage are taken on creation only.",
                    Some(input.clone()), ok(record.clone()), true),
                &[("field", "string", true), ("value", "string", true)],
            );
            upsert["responses"]["201"] = upsert["responses"]["200"].clone();
            paths.insert(
                format!("/v1/{collection}/by/{{field}}/{{value}}"),
                json!({"put": upsert}),
            );
        }
        paths.insert(
            format!("/v1/{collection}/{{id}}"),
            json!({
                "get": with_params(op(&format!("get_{collection}"), "One record.", None, ok(record.clone()), true),
                    &[("id", "string", true)]),
                "patch": with_params(op(&format!("update_{collection}"), &format!("The body is the patch (`{update}`); the record."),
                    Some(patch), ok(record.clone()), true), &[("id", "string", true)]),
            }),
        );
    }
    json!({
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {
            "title": "crm-server",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "crm-core over HTTP (docs/server.md). Every /v1 request carries `Authorization: Bearer <key>`; the key's user is the actor. Errors are application/problem+json with the engine's stable code.",
        },
        "servers": [{"url": "http://127.0.0.1:8080"}],
        "security": [{"apiKey": []}],
        "paths": paths,
        "components": {
            "schemas": schemas.into_map(),
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer", "description": "an API key, crm_ and 64 hex digits"}},
        },
    })
}

/// The schemas of the document's components, gathered from the engine's schema files.
#[derive(Default)]
struct Components {
    schemas: Map<String, Value>,
}

impl Components {
    /// A schema file's `$defs` as components; the file with its `$ref`s rewritten. A
    /// definition whose name another schema has already is added as `<name><suffix>`.
    fn take(&mut self, file: Value, suffix: &str) -> Value {
        self.take_rooted(file, suffix, None)
    }

    /// [`Components::take`] for a file whose root is component `root` (its `"$ref":
    /// "#"` points there).
    fn take_rooted(&mut self, file: Value, suffix: &str, root: Option<&str>) -> Value {
        let renamed: Vec<(String, String)> = file["$defs"]
            .as_object()
            .map(|defs| {
                defs.iter()
                    .filter(|(name, schema)| {
                        self.schemas
                            .get(*name)
                            .is_some_and(|taken| rewrite(schema.to_owned().clone(), &[]) != *taken)
                    })
                    .map(|(name, _)| (name.clone(), format!("{name}{suffix}")))
                    .chain(root.map(|root| ("#".to_string(), root.to_string())))
                    .collect()
            })
            .unwrap_or_default();
        let mut file = rewrite(file, &renamed);
        if let Some(Value::Object(defs)) = file.as_object_mut().and_then(|f| f.remove("$defs")) {
            for (name, schema) in defs {
                let name = renamed
                    .iter()
                    .find(|(from, _)| *from == name)
                    .map_or(name.clone(), |(_, to)| to.clone());
                self.add(&name, schema);
            }
        }
        if let Some(fields) = file.as_object_mut() {
            fields.remove("$schema");
        }
        file
    }

    /// A schema file whose root is a type of its own (`Command`): the root as component
    /// `name`, and a `$ref` to it.
    fn root(&mut self, name: &str, file: Value, suffix: &str) -> Value {
        let root = self.take_rooted(file, suffix, Some(name));
        self.add(name, root);
        json!({"$ref": format!("#/components/schemas/{name}")})
    }

    /// Adds a component; a name already taken keeps its first schema (the files share
    /// the types the engine writes and reads alike).
    fn add(&mut self, name: &str, schema: Value) {
        self.schemas.entry(name.to_string()).or_insert(schema);
    }

    /// The fields of command `tag` (its variant of `Command`, without `type`).
    fn command_fields(&self, tag: &str) -> Value {
        let variants = self.schemas["Command"]["oneOf"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let mut variant = variants
            .into_iter()
            .find(|variant| variant["properties"]["type"]["const"] == tag)
            .unwrap_or_else(|| json!({"type": "object"}));
        if let Some(properties) = variant["properties"].as_object_mut() {
            properties.remove("type");
        }
        if let Some(required) = variant["required"].as_array_mut() {
            required.retain(|field| field != "type");
        }
        variant
    }

    fn into_map(self) -> Map<String, Value> {
        self.schemas
    }
}

/// `#/$defs/X` → `#/components/schemas/X` (or the name `renamed` gives X),
/// everywhere in `value`.
fn rewrite(value: Value, renamed: &[(String, String)]) -> Value {
    match value {
        Value::Object(fields) => Value::Object(
            fields
                .into_iter()
                .map(|(key, inner)| match (key.as_str(), inner) {
                    ("$ref", Value::String(target))
                        if target.starts_with("#/$defs/") || target == "#" =>
                    {
                        let name = target.strip_prefix("#/$defs/").unwrap_or(&target);
                        let name = renamed
                            .iter()
                            .find(|(from, _)| from == name)
                            .map_or(name, |(_, to)| to.as_str());
                        (key, Value::String(format!("#/components/schemas/{name}")))
                    }
                    (_, inner) => (key, rewrite(inner, renamed)),
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|item| rewrite(item, renamed))
                .collect(),
        ),
        other => other,
    }
}

/// RFC 9457's problem details, as the server writes them.
fn problem() -> Value {
    json!({
        "type": "object",
        "required": ["type", "title", "status", "code", "detail"],
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "code": {"type": "string", "description": "the engine's stable code (validation, not_found, …) or the server's (unauthenticated, rate_limited, no_route)"},
            "detail": {"type": "string"},
            "field": {"type": "string", "description": "the JSON path of the field at fault"},
        },
    })
}

fn json_body(schema: Value) -> Value {
    json!({"content": {"application/json": {"schema": schema}}})
}

fn ok(schema: Value) -> (u16, Value) {
    (200, schema)
}

fn created(schema: Value) -> (u16, Value) {
    (201, schema)
}

fn accepted(schema: Value) -> (u16, Value) {
    (202, schema)
}

fn no_content() -> (u16, Value) {
    (204, Value::Null)
}

/// One operation: its success answer, and the problems any request may get.
fn op(id: &str, summary: &str, body: Option<Value>, success: (u16, Value), keyed: bool) -> Value {
    let (status, schema) = success;
    let mut responses = Map::new();
    let mut answer = json!({"description": "success"});
    if !schema.is_null() {
        answer["content"] = json!({"application/json": {"schema": schema}});
    }
    responses.insert(status.to_string(), answer);
    let problem = json!({"description": "a problem (application/problem+json)",
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}});
    let statuses: &[u16] = if keyed {
        &[400, 401, 403, 404, 409, 413, 422, 429, 503]
    } else {
        &[503]
    };
    for status in statuses {
        responses.insert(status.to_string(), problem.clone());
    }
    let mut operation = json!({"operationId": id, "summary": summary, "responses": responses});
    if let Some(body) = body {
        operation["requestBody"] = json!({"required": true});
        operation["requestBody"]["content"] = json_body(body)["content"].clone();
    }
    if !keyed {
        operation["security"] = json!([]);
    }
    operation
}

/// An operation without an API key (its own protection: a token, a signature), with
/// its successes and problems.
fn public_op(
    id: &str,
    summary: &str,
    content: Value,
    successes: &[(u16, Value)],
    problems: &[u16],
) -> Value {
    let mut responses = Map::new();
    for (status, schema) in successes {
        let mut answer = json!({"description": "success"});
        if !schema.is_null() {
            answer["content"] = json!({"application/json": {"schema": schema}});
        }
        responses.insert(status.to_string(), answer);
    }
    for status in problems {
        responses.insert(status.to_string(), json!({"description": "a problem (application/problem+json)",
            "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}));
    }
    let mut operation =
        json!({"operationId": id, "summary": summary, "responses": responses, "security": []});
    if !content.is_null() {
        operation["requestBody"] = json!({"required": true, "content": content});
    }
    operation
}

/// Adds parameters: in the path when required and named `id`, `business` or
/// `form`, else in the query.
fn with_params(mut operation: Value, params: &[(&str, &str, bool)]) -> Value {
    let list: Vec<Value> = params
        .iter()
        .map(|(name, kind, required)| {
            let place = if matches!(
                *name,
                "id" | "business" | "form" | "report" | "entity" | "field" | "value"
            ) {
                "path"
            } else {
                "query"
            };
            let schema = match *kind {
                "integer" => json!({"type": "integer", "minimum": 0}),
                "boolean" => json!({"type": "boolean"}),
                _ => json!({"type": "string"}),
            };
            json!({"name": name, "in": place, "required": required, "schema": schema})
        })
        .collect();
    operation["parameters"] = Value::Array(list);
    operation
}

/// Adds the optional `Idempotency-Key` header.
fn with_header(mut operation: Value) -> Value {
    operation["parameters"] = json!([{
        "name": "Idempotency-Key", "in": "header", "required": false,
        "description": "1 to 255 visible ASCII characters: the same key and request within 24 hours is answered again, not run again",
        "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
    }]);
    operation
}
