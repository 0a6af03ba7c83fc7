//! The records integrators use most as resources (docs/server.md): contacts,
//! companies, deals, tasks and activities — list with filters, get, create, update.
//! Each maps onto the engine's own query or command, so access rules, validation and
//! errors are the engine's.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::Response;
use crm_core::{AnyId, CrmError};
use serde_json::{json, Map, Value};

use crate::exchange::{json_text, utf8, Body, Caller, Path, Query};
use crate::problem::Problem;

/// A collection: its path, the kind of its IDs, and the engine's query and commands.
struct Collection {
    kind: &'static str,
    list: &'static str,
    create: &'static str,
    update: &'static str,
}

fn collection(name: &str) -> Result<Collection, Problem> {
    let (kind, list, create, update) = match name {
        "contacts" => (
            "contact",
            "list_contacts",
            "create_contact",
            "update_contact",
        ),
        "companies" => (
            "company",
            "list_companies",
            "create_company",
            "update_company",
        ),
        "deals" => ("deal", "list_deals", "create_deal", "update_deal"),
        "tasks" => ("task", "list_tasks", "create_task", "update_task"),
        "activities" => (
            "activity",
            "list_activities",
            "log_activity",
            "update_activity",
        ),
        _ => {
            return Err(Problem::new(
                StatusCode::NOT_FOUND,
                "no_route",
                format!("no collection {name:?} (docs/server.md)"),
            ))
        }
    };
    Ok(Collection {
        kind,
        list,
        create,
        update,
    })
}

/// The body as a JSON object.
fn object(body: Bytes) -> Result<Map<String, Value>, Problem> {
    let text = utf8(body)?;
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(fields)) => Ok(fields),
        Ok(_) => Err(CrmError::Malformed {
            path: "$".into(),
            reason: "expected a JSON object".into(),
        }
        .into()),
        Err(err) => Err(CrmError::Malformed {
            path: "$".into(),
            reason: err.to_string(),
        }
        .into()),
    }
}

/// An ID of the collection's kind (another kind's ID is not in it: `not_found`).
fn id_in(collection: &Collection, id: &str) -> Result<String, Problem> {
    let parsed: AnyId = id.parse()?;
    if parsed.kind() == collection.kind {
        Ok(parsed.to_string())
    } else {
        Err(CrmError::not_found(collection.kind, id).into())
    }
}

/// `GET /v1/{collection}?filter=…&limit=…&offset=…`: the engine's list query, each
/// parameter a field of it (a value that reads as a JSON number or boolean is one).
pub(crate) async fn list(
    Caller { tenant, user }: Caller,
    Path(name): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, Problem> {
    let collection = collection(&name)?;
    let mut query = query_fields(params);
    query.insert("type".into(), collection.list.into());
    let query = Value::Object(query).to_string();
    let answer = tenant
        .run(move |crm, now| crm.query_json(&user.to_string(), &now.to_rfc3339(), &query))
        .await?;
    Ok(json_text(StatusCode::OK, answer))
}

/// Query parameters as a request's fields: a value that reads as a JSON number or
/// boolean is one, anything else a string.
pub(crate) fn query_fields(params: HashMap<String, String>) -> Map<String, Value> {
    params
        .into_iter()
        .map(|(key, value)| {
            let value = match serde_json::from_str::<Value>(&value) {
                Ok(read @ (Value::Number(_) | Value::Bool(_))) => read,
                _ => Value::String(value),
            };
            (key, value)
        })
        .collect()
}

/// `GET /v1/{collection}/{id}`.
pub(crate) async fn get(
    Caller { tenant, user }: Caller,
    Path((name, id)): Path<(String, String)>,
) -> Result<Response, Problem> {
    let id = id_in(&collection(&name)?, &id)?;
    let query = json!({"type": "get", "id": id}).to_string();
    let answer = tenant
        .run(move |crm, now| crm.query_json(&user.to_string(), &now.to_rfc3339(), &query))
        .await?;
    Ok(json_text(StatusCode::OK, answer))
}

/// `POST /v1/{collection}`: the record made from the body's fields (the engine's
/// create command); `201` with the record as it is now.
pub(crate) async fn create(
    Caller { tenant, user }: Caller,
    Path(name): Path<String>,
    Body(body): Body,
) -> Result<Response, Problem> {
    let collection = collection(&name)?;
    let mut fields = object(body)?;
    fields.insert("type".into(), collection.create.into());
    let command = Value::Object(fields).to_string();
    let record = tenant
        .run(move |crm, now| {
            let actor = user.to_string();
            let at = now.to_rfc3339();
            let outcome: Value = serde_json::from_str(&crm.execute_json(&actor, &at, &command)?)
                .map_err(|err| CrmError::Storage {
                    reason: format!("an outcome that is not JSON: {err}"),
                })?;
            let query = json!({"type": "get", "id": outcome["created"]}).to_string();
            crm.query_json(&actor, &at, &query)
        })
        .await?;
    tenant.changed();
    Ok(json_text(StatusCode::CREATED, record))
}

/// `PATCH /v1/{collection}/{id}`: the body is the patch (the engine's update
/// command); the record as it is now.
pub(crate) async fn update(
    Caller { tenant, user }: Caller,
    Path((name, id)): Path<(String, String)>,
    Body(body): Body,
) -> Result<Response, Problem> {
    let collection = collection(&name)?;
    let id = id_in(&collection, &id)?;
    let patch = Value::Object(object(body)?);
    let command = json!({"type": collection.update, "id": id, "patch": patch}).to_string();
    let record = tenant
        .run(move |crm, now| {
            let actor = user.to_string();
            let at = now.to_rfc3339();
            crm.execute_json(&actor, &at, &command)?;
            crm.query_json(&actor, &at, &json!({"type": "get", "id": id}).to_string())
        })
        .await?;
    tenant.changed();
    Ok(json_text(StatusCode::OK, record))
}

/// Fields a record takes when it is made but not in a patch: an upsert drops them when
/// the record exists (reassign and move with their own commands).
const CREATE_ONLY: [&str; 3] = ["owner", "pipeline", "stage"];

/// `PUT /v1/{contacts|companies|deals}/by/{field}/{value}`: the record whose custom
/// field `field` (an admin-defined key, e.g. `onec_id`) holds `value` — made from the
/// body when there is none, patched with it when there is one; how a 1C exchange job
/// or a shop keeps its records in step without remembering our IDs. `201` with the
/// record when made, `200` when patched. Finding and writing happen in one turn of the
/// engine, and on a shared journal a write that lost the race is redone from the find,
/// so two upserts of one new value make one record.
pub(crate) async fn upsert(
    Caller { tenant, user }: Caller,
    Path((name, field, value)): Path<(String, String, String)>,
    Body(body): Body,
) -> Result<Response, Problem> {
    let collection = collection(&name)?;
    if !matches!(collection.kind, "contact" | "company" | "deal") {
        return Err(Problem::new(
            StatusCode::NOT_FOUND,
            "no_route",
            format!("{name} are not upserted by a field: contacts, companies and deals are"),
        ));
    }
    let mut fields = object(body)?;
    let custom = fields
        .entry("custom")
        .or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(custom) = custom else {
        return Err(CrmError::Malformed {
            path: "custom".into(),
            reason: "is an object of custom field values".into(),
        }
        .into());
    };
    custom.insert(field.clone(), Value::String(value.clone()));
    let (made, record) = tenant
        .run(move |crm, now| {
            let (actor, at) = (user.to_string(), now.to_rfc3339());
            let found = holding(crm.state(), collection.kind, &field, &value);
            let (made, id) = match found {
                Some(id) => {
                    let mut patch = fields.clone();
                    patch.retain(|key, _| !CREATE_ONLY.contains(&key.as_str()));
                    let command = json!({"type": collection.update, "id": id, "patch": patch});
                    crm.execute_json(&actor, &at, &command.to_string())?;
                    (false, id)
                }
                None => {
                    let mut command = fields.clone();
                    command.insert("type".into(), collection.create.into());
                    let outcome =
                        crm.execute_json(&actor, &at, &Value::Object(command).to_string())?;
                    let outcome: Value =
                        serde_json::from_str(&outcome).map_err(|err| CrmError::Storage {
                            reason: format!("an outcome that is not JSON: {err}"),
                        })?;
                    (
                        true,
                        outcome["created"].as_str().unwrap_or_default().to_string(),
                    )
                }
            };
            let record =
                crm.query_json(&actor, &at, &json!({"type": "get", "id": id}).to_string())?;
            Ok((made, record))
        })
        .await?;
    tenant.changed();
    let status = if made {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(json_text(status, record))
}

/// The record of `kind` (not merged away) whose custom field `field` holds `value`
/// (text as it is, any other value as its JSON).
fn holding(state: &crm_core::State, kind: &str, field: &str, value: &str) -> Option<String> {
    let matches = |custom: &std::collections::BTreeMap<String, crm_core::FieldValue>| {
        custom.get(field).is_some_and(|held| {
            match serde_json::to_value(held)
                .ok()
                .and_then(|v| v.as_object().and_then(|o| o.values().next().cloned()))
            {
                Some(Value::String(text)) => text == value,
                Some(other) => other.to_string().as_str() == value,
                None => false,
            }
        })
    };
    match kind {
        "contact" => state
            .contacts()
            .values()
            .find(|c| c.merged_into.is_none() && matches(&c.fields.custom))
            .map(|c| c.id.to_string()),
        "company" => state
            .companies()
            .values()
            .find(|c| c.merged_into.is_none() && matches(&c.fields.custom))
            .map(|c| c.id.to_string()),
        "deal" => state
            .deals()
            .values()
            .find(|d| matches(&d.fields.custom))
            .map(|d| d.id.to_string()),
        _ => None,
    }
}
