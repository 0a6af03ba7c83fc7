//! The HTTP API (docs/server.md). Every answer carries `x-request-id`; every error is
//! `application/problem+json`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::Router;
use crm_core::{CrmError, UserId, MAX_PULL_EVENTS};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::delivery::webhooks_queued;
use crate::exchange::{json_text, utf8, Body, Caller, Path, Query};
use crate::files;
use crate::hub::Hub;
use crate::intake;
use crate::problem::Problem;
use crate::resources;
use crate::tenant::{Engine, Tenant};

/// The API over the hub's businesses (the key of a request says which).
pub fn router(hub: Arc<Hub>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/v1/openapi.json", get(openapi))
        .route("/v1/commands", post(command))
        .route("/v1/queries", post(query))
        .route("/v1/events", get(events))
        .route("/v1/keys", post(create_key))
        .route("/v1/keys/{id}", delete(revoke_key))
        .route("/v1/intake/email", post(intake::email))
        .route(
            "/v1/intake/{business}/forms/{form}",
            post(intake::form).options(intake::form_preflight),
        )
        .route("/v1/intake/{business}/calls", post(intake::call))
        .route("/v1/reports/{report}", get(files::report))
        .route("/v1/exports/{entity}", get(files::export))
        .route("/v1/imports", post(files::start_import))
        .route("/v1/imports/{id}", get(files::import_status))
        .route("/v1/webhooks/replay", post(replay_webhooks))
        .route(
            "/v1/webhooks/disabled",
            get(disabled_webhooks).delete(enable_webhook),
        )
        .route("/v1/sync/replicas", post(enrol_replica))
        .route("/v1/demo/clock", post(advance_demo_clock))
        .route("/v1/sync/push", post(push))
        .route("/v1/sync/pull", get(pull))
        .route(
            "/v1/{collection}",
            get(resources::list).post(resources::create),
        )
        .route(
            "/v1/{collection}/by/{field}/{value}",
            axum::routing::put(resources::upsert),
        )
        .route(
            "/v1/{collection}/{id}",
            get(resources::get).patch(resources::update),
        )
        .fallback(no_route)
        .layer(middleware::from_fn(request_id))
        .with_state(hub)
}

/// The API with a folder of static files at `/` (the office page): what is no route
/// and no file is the API's problem+json 404.
pub fn with_web(api: Router, folder: &std::path::Path) -> Router {
    use axum::handler::HandlerWithoutStateExt;
    let files = tower_http::services::ServeDir::new(folder)
        .precompressed_gzip()
        .not_found_service(no_route.into_service());
    api.fallback_service(files)
}

/// Numbers every request (process start time in seconds, then a counter), echoes a
/// caller's own `x-request-id` if it sent one, and logs the request.
async fn request_id(request: Request, next: Next) -> Response {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(|value| value.to_str().ok())
        .filter(|value| !value.is_empty() && value.len() <= 200)
        .map(str::to_string)
        .unwrap_or_else(|| format!("req-{}", NEXT.fetch_add(1, Ordering::Relaxed)));
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let mut response = next.run(request).await;
    tracing::info!(request_id = %id, %method, %path, status = response.status().as_u16(), "request");
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

/// One of the engine's JSON entry points (`execute_json`, `query_json`, `push_json`)
/// with the body, as the caller, at the server's time.
async fn as_caller(
    tenant: &Arc<Tenant>,
    user: UserId,
    text: String,
    entry: fn(&mut Engine, &str, &str, &str) -> Result<String, CrmError>,
) -> Result<Response, Problem> {
    let answer = tenant
        .run(move |crm, now| entry(crm, &user.to_string(), &now.to_rfc3339(), &text))
        .await?;
    Ok(json_text(StatusCode::OK, answer))
}

async fn health() -> Response {
    json_text(StatusCode::OK, json!({"status": "ok"}).to_string())
}

/// Ready when every business's journal answers; their positions by name.
async fn ready(State(hub): State<Arc<Hub>>) -> Result<Response, Problem> {
    let mut positions = serde_json::Map::new();
    for (name, tenant) in hub.tenants() {
        let position = tenant.run(|crm, _| Ok(crm.last_seq())).await?;
        positions.insert(name.to_string(), position.into());
    }
    Ok(json_text(
        StatusCode::OK,
        json!({"status": "ready", "positions": positions}).to_string(),
    ))
}

/// The API's OpenAPI 3.1 description (docs/openapi.json), made once.
async fn openapi() -> Response {
    static DOCUMENT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let text = DOCUMENT.get_or_init(|| crate::openapi::document().to_string());
    json_text(StatusCode::OK, text.clone())
}

async fn no_route() -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        "no_route",
        "no such endpoint (docs/server.md)",
    )
}

/// One command (docs/schema.md) or a batch (`{"commands": [...]}`), run as the key's
/// user at the server's time. With `Idempotency-Key` the request is answered again,
/// not run again, when it is sent once more (docs/server.md).
async fn command(
    Caller { tenant, user }: Caller,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Response, Problem> {
    let key = idempotency_key(&headers)?;
    let text = utf8(body)?;
    let shape = Shape::of(&text);
    if shape == Shape::Command && key.is_none() {
        let answer = as_caller(&tenant, user, text, |crm, actor, now, text| {
            crm.execute_json(actor, now, text)
        })
        .await;
        tenant.changed();
        return answer;
    }
    let batch = match shape {
        Shape::Batch => text,
        // A valid JSON value, so wrapping it keeps it valid.
        Shape::Command => format!(r#"{{"commands": [{text}]}}"#),
    };
    let answer = tenant
        .run(move |crm, now| {
            let key = key.as_deref();
            crm.execute_batch_json(&user.to_string(), &now.to_rfc3339(), &batch, key)
        })
        .await;
    tenant.changed();
    let mut outcome: Value = serde_json::from_str(&answer?).map_err(|err| CrmError::Storage {
        reason: format!("the engine's answer is not JSON: {err}"),
    })?;
    let replayed = outcome["replayed"] == Value::Bool(true);
    if shape == Shape::Command {
        // A lone command answers as it does without a key, plus the position.
        let created = outcome["created"][0].take();
        outcome["created"] = created;
        if outcome["created"].is_null() {
            outcome
                .as_object_mut()
                .map(|fields| fields.remove("created"));
        }
    }
    let mut response = json_text(StatusCode::OK, outcome.to_string());
    if replayed {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// What `POST /v1/commands` was sent.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    Command,
    Batch,
}

impl Shape {
    /// A JSON object with `commands` is a batch; anything else goes to the command
    /// reader, whose errors name what is wrong.
    fn of(text: &str) -> Shape {
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(fields)) if fields.contains_key("commands") => Shape::Batch,
            _ => Shape::Command,
        }
    }
}

/// The `Idempotency-Key` header (the IETF draft's name), if sent.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, Problem> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value.to_str().map_err(|_| {
        CrmError::validation(
            "idempotency_key",
            "the Idempotency-Key header holds a character other than visible ASCII",
        )
    })?;
    Ok(Some(key.to_string()))
}

/// One query, answered as the key's user sees the CRM.
async fn query(Caller { tenant, user }: Caller, Body(body): Body) -> Result<Response, Problem> {
    as_caller(&tenant, user, utf8(body)?, |crm, actor, now, text| {
        crm.query_json(actor, now, text)
    })
    .await
}

#[derive(Deserialize)]
struct After {
    #[serde(default)]
    after: u64,
    limit: Option<usize>,
}

/// The change feed: events after a position, oldest first (admins: the journal holds
/// every user's records and the outbox's addresses).
async fn events(
    Caller { tenant, user }: Caller,
    Query(after): Query<After>,
) -> Result<Response, Problem> {
    tenant.require_admin(user, "read the change feed").await?;
    let limit = after.limit.unwrap_or(1_000);
    if limit == 0 || limit > MAX_PULL_EVENTS {
        return Err(CrmError::validation(
            "limit",
            format!("{limit} is not between 1 and {MAX_PULL_EVENTS}"),
        )
        .into());
    }
    let (events, last) = tenant
        .run(move |crm, _| {
            let mut events = crm.events_since(after.after.saturating_add(1))?;
            events.truncate(limit);
            Ok((events, crm.last_seq()))
        })
        .await?;
    let next = events.last().map_or(after.after, |e| e.seq);
    let body = json!({"events": events, "next": next, "more": next < last});
    Ok(json_text(StatusCode::OK, body.to_string()))
}

#[derive(Deserialize)]
struct NewKey {
    user: String,
}

/// A key for a user (admins only): shown in this answer, never again.
async fn create_key(
    State(hub): State<Arc<Hub>>,
    Caller {
        tenant,
        user: caller,
    }: Caller,
    Body(body): Body,
) -> Result<Response, Problem> {
    let text = utf8(body)?;
    let request: NewKey = serde_json::from_str(&text).map_err(|err| CrmError::Malformed {
        path: "$".into(),
        reason: err.to_string(),
    })?;
    let user: UserId = request.user.parse()?;
    let (id, key) = tenant.create_key(caller, user).await?;
    hub.remember_key(&key, &tenant);
    Ok(json_text(
        StatusCode::CREATED,
        json!({"id": id, "user": user, "key": key}).to_string(),
    ))
}

async fn revoke_key(
    Caller {
        tenant,
        user: caller,
    }: Caller,
    Path(id): Path<i64>,
) -> Result<Response, Problem> {
    tenant.revoke_key(caller, id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// A replica's pending commands, run as the key's user (docs/sync.md).
/// The replica a push batch says it comes from (the engine reads the rest).
#[derive(Deserialize)]
struct PushFrom {
    replica: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Advance {
    minutes: i64,
}

/// Moves a demonstration's clock forward (any signed-in user: the office page's clock
/// control; only with `--demo-clock`) and wakes every business's timekeeper, so what
/// fell due fires now.
async fn advance_demo_clock(
    State(hub): State<Arc<Hub>>,
    // Signed in (the key is checked); its role is not: the demo's manager moves it.
    Caller { tenant, .. }: Caller,
    Body(body): Body,
) -> Result<Response, Problem> {
    let Some(clock) = hub.demo_clock() else {
        return Err(no_route().await);
    };
    let advance: Advance = crm_core::read_json("$", &utf8(body)?)?;
    if !(1..=crate::demo::MAX_ADVANCE_MINUTES).contains(&advance.minutes) {
        return Err(CrmError::validation(
            "minutes",
            format!(
                "{} is not between 1 and {} (a week)",
                advance.minutes,
                crate::demo::MAX_ADVANCE_MINUTES
            ),
        )
        .into());
    }
    let ahead = clock.advance(advance.minutes);
    for (_, tenant) in hub.tenants() {
        tenant.changed();
    }
    let now = tenant.run(|_, now| Ok(now.to_rfc3339())).await?;
    Ok(json_text(
        StatusCode::OK,
        json!({"now": now, "ahead_seconds": ahead}).to_string(),
    ))
}

/// Hands a device of the key's user a replica id of its own (docs/sync.md).
async fn enrol_replica(Caller { tenant, user }: Caller) -> Result<Response, Problem> {
    let id = tenant.enrol_replica(user).await?;
    Ok(json_text(
        StatusCode::CREATED,
        json!({"replica_id": id, "user": user}).to_string(),
    ))
}

async fn push(Caller { tenant, user }: Caller, Body(body): Body) -> Result<Response, Problem> {
    let text = utf8(body)?;
    // A batch that does not say where it is from is the engine's to refuse, with its path.
    if let Ok(from) = serde_json::from_str::<PushFrom>(&text) {
        tenant.require_replica_of(user, from.replica).await?;
    }
    let answer = as_caller(&tenant, user, text, |crm, actor, now, text| {
        crm.push_json(actor, now, text)
    })
    .await;
    tenant.changed();
    answer
}

#[derive(Deserialize)]
struct Cursor {
    #[serde(default)]
    cursor: u64,
    limit: Option<usize>,
}

/// What changed for the key's user after a replica's cursor (docs/sync.md).
async fn pull(
    Caller { tenant, user }: Caller,
    Query(at): Query<Cursor>,
) -> Result<Response, Problem> {
    let answer = tenant
        .run(move |crm, _| crm.pull_json(&user.to_string(), at.cursor, at.limit))
        .await?;
    Ok(json_text(StatusCode::OK, answer))
}

#[derive(Deserialize)]
struct Position {
    from: u64,
}

/// Sends the webhooks queued at journal position `from` and later again, delivered or
/// not, with their first IDs (receivers drop what they had). Admins only.
async fn replay_webhooks(
    Caller { tenant, user }: Caller,
    Query(at): Query<Position>,
) -> Result<Response, Problem> {
    tenant.require_admin(user, "replay webhooks").await?;
    let sends = tenant.delivery().is_some_and(|d| d.sends_webhooks());
    if !sends {
        return Err(CrmError::validation(
            "delivery.webhooks",
            "this business has no webhook secret configured, so it sends no webhooks",
        )
        .into());
    }
    let queued = tenant
        .run(move |crm, _| Ok(webhooks_queued(&crm.events_since(at.from.max(1))?)))
        .await?;
    let count = tenant.delivery().map_or(0, |d| d.replay(queued));
    tenant.changed();
    Ok(json_text(
        StatusCode::ACCEPTED,
        json!({"queued": count, "from": at.from}).to_string(),
    ))
}

/// The webhook endpoints disabled after answering `410 Gone`. Admins only.
async fn disabled_webhooks(Caller { tenant, user }: Caller) -> Result<Response, Problem> {
    tenant.require_admin(user, "see disabled webhooks").await?;
    let disabled = tenant
        .blocking(|tenant| match tenant.delivery() {
            Some(delivery) => Ok(delivery.disabled()?),
            None => Ok(Vec::new()),
        })
        .await?;
    let items: Vec<Value> = disabled
        .into_iter()
        .map(|(url, at)| json!({"url": url, "disabled_at": at}))
        .collect();
    Ok(json_text(
        StatusCode::OK,
        json!({"items": items}).to_string(),
    ))
}

#[derive(Deserialize)]
struct Endpoint {
    url: String,
}

/// Enables a disabled endpoint again (`?url=`). Admins only.
async fn enable_webhook(
    Caller { tenant, user }: Caller,
    Query(endpoint): Query<Endpoint>,
) -> Result<Response, Problem> {
    tenant.require_admin(user, "enable webhooks").await?;
    let url = endpoint.url.clone();
    let enabled = tenant
        .blocking(move |tenant| match tenant.delivery() {
            Some(delivery) => Ok(delivery.enable(&url)?),
            None => Ok(false),
        })
        .await?;
    if !enabled {
        return Err(CrmError::not_found("disabled webhook endpoint", &endpoint.url).into());
    }
    tenant.changed();
    Ok(StatusCode::NO_CONTENT.into_response())
}
