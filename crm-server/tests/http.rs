//! The HTTP API in process (tower's `oneshot`, no socket), and the binary on loopback
//! with a plain HTTP/1.1 client: keys, the actor from the key, problem+json errors,
//! the change feed, replicas over HTTP, a restart that keeps everything.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use chrono::{DateTime, Utc};
use crm_core::{CrmOptions, Replica, ReplicaId};
use crm_server::{router, with_web, Config, Hub, Storage, Tenant, TenantOptions};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

struct Files(PathBuf);

impl Drop for Files {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.0.display()));
        }
    }
}

fn temp(name: &str) -> Files {
    Files(std::env::temp_dir().join(format!("crm-server-{name}-{}.sqlite", std::process::id())))
}

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

fn options() -> TenantOptions {
    TenantOptions {
        crm: CrmOptions::default(),
        clock: Some(Arc::new(|| at("2026-12-05T09:00:00Z"))),
        ..TenantOptions::default()
    }
}

/// Opens the business at `path`: the app, and the first admin's key on a first start.
fn open(path: &PathBuf) -> (Router, Option<String>) {
    let opened = Tenant::open(path, options()).unwrap();
    (
        router(Hub::single(opened.tenant).unwrap()),
        opened.first_admin_key,
    )
}

/// A request; the status, the content type, the `x-request-id` and the body as JSON.
async fn call(
    app: &Router,
    method: &str,
    uri: &str,
    key: Option<&str>,
    body: impl Into<Body>,
) -> (StatusCode, String, String, Value) {
    let (status, headers, body) = call_with(app, method, uri, key, &[], body).await;
    let header = |name: &str| {
        headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    };
    (status, header("content-type"), header("x-request-id"), body)
}

/// A request with extra headers; the status, the headers and the body as JSON.
async fn call_with(
    app: &Router,
    method: &str,
    uri: &str,
    key: Option<&str>,
    headers: &[(&str, &str)],
    body: impl Into<Body>,
) -> (StatusCode, axum::http::HeaderMap, Value) {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(key) = key {
        request = request.header("authorization", format!("Bearer {key}"));
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = app
        .clone()
        .oneshot(request.body(body.into()).unwrap())
        .await
        .unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
    };
    (status, headers, body)
}

#[tokio::test]
async fn commands_run_as_the_keys_user_and_errors_are_problem_json() {
    let file = temp("commands");
    let (app, admin_key) = open(&file.0);
    let admin_key = admin_key.expect("a first start shows the first admin's key");
    assert!(admin_key.starts_with("crm_") && admin_key.len() == 68);

    let (status, _, request_id, body) = call(&app, "GET", "/health", None, "").await;
    assert_eq!((status, body), (StatusCode::OK, json!({"status": "ok"})));
    assert!(request_id.starts_with("req-"), "{request_id}");

    // No key, a wrong key: 401, as problem+json.
    let (status, content_type, _, body) = call(&app, "POST", "/v1/commands", None, "{}").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(content_type, "application/problem+json");
    assert_eq!(body["code"], "unauthenticated");
    let (status, ..) = call(&app, "POST", "/v1/commands", Some("crm_0000"), "{}").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // The admin makes a manager and a key for him.
    let create = json!({"type": "create_user", "name": "Anton", "role": "manager"}).to_string();
    let (status, _, _, outcome) =
        call(&app, "POST", "/v1/commands", Some(&admin_key), create).await;
    assert_eq!(status, StatusCode::OK, "{outcome}");
    let anton = outcome["created"].as_str().unwrap().to_string();
    let (status, _, _, made) = call(
        &app,
        "POST",
        "/v1/keys",
        Some(&admin_key),
        json!({"user": anton}).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let anton_key = made["key"].as_str().unwrap().to_string();

    // The actor is the key's user: Anton's contact is his, whatever the body says.
    let contact = json!({"type": "create_contact", "name": "Anna"}).to_string();
    let (_, _, _, outcome) = call(&app, "POST", "/v1/commands", Some(&anton_key), contact).await;
    let anna = outcome["created"].as_str().unwrap().to_string();
    let get = json!({"type": "get", "id": anna}).to_string();
    let (status, _, _, found) = call(&app, "POST", "/v1/queries", Some(&admin_key), get).await;
    assert_eq!(
        (status, found["owner"].as_str()),
        (StatusCode::OK, Some(anton.as_str()))
    );
    let forged = json!({"type": "create_contact", "name": "B", "actor": "usr-1-1"}).to_string();
    let (status, _, _, body) = call(&app, "POST", "/v1/commands", Some(&anton_key), forged).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("malformed")),
        "{body}"
    );

    // Each engine error keeps its code and the field's path.
    let rules = json!({"type": "define_rules", "rules": []}).to_string();
    let (status, _, _, body) = call(&app, "POST", "/v1/commands", Some(&anton_key), rules).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("permission_denied"))
    );
    let phone = json!({"type": "create_contact", "name": "C", "phones": ["12"]}).to_string();
    let (status, _, _, body) = call(&app, "POST", "/v1/commands", Some(&anton_key), phone).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        (body["code"].as_str(), body["field"].as_str()),
        (Some("validation"), Some("phones[0]")),
        "{body}"
    );
    let (status, _, _, body) = call(
        &app,
        "POST",
        "/v1/commands",
        Some(&anton_key),
        "{\"type\": ",
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("malformed"))
    );
    let (status, _, _, body) = call(
        &app,
        "POST",
        "/v1/commands",
        Some(&anton_key),
        vec![0xff, 0xfe],
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("malformed")),
        "{body}"
    );
    let (status, _, _, body) = call(
        &app,
        "POST",
        "/v1/queries",
        Some(&anton_key),
        json!({"type": "get", "id": "con-1-999"}).to_string(),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let (status, _, _, body) = call(&app, "GET", "/v1/nothing/at/all", Some(&admin_key), "").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("no_route"))
    );

    // The change feed: admins only, by position.
    let (status, _, _, body) = call(
        &app,
        "GET",
        "/v1/events?after=0&limit=2",
        Some(&admin_key),
        "",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["events"].as_array().unwrap().len(), 2);
    assert_eq!(
        (body["next"].as_u64(), body["more"].as_bool()),
        (Some(2), Some(true))
    );
    let (status, _, _, body) = call(&app, "GET", "/v1/events", Some(&anton_key), "").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("permission_denied"))
    );
    let (status, _, _, body) = call(&app, "GET", "/v1/events?limit=0", Some(&admin_key), "").await;
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("limit"))
    );

    // Anton may not make keys; a revoked key no longer opens anything.
    let (status, ..) = call(
        &app,
        "POST",
        "/v1/keys",
        Some(&anton_key),
        json!({"user": anton}).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let id = made["id"].as_i64().unwrap();
    let (status, ..) = call(
        &app,
        "DELETE",
        &format!("/v1/keys/{id}"),
        Some(&admin_key),
        "",
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, ..) = call(
        &app,
        "POST",
        "/v1/queries",
        Some(&anton_key),
        json!({"type": "list_contacts"}).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, ..) = call(
        &app,
        "DELETE",
        &format!("/v1/keys/{id}"),
        Some(&admin_key),
        "",
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Opened again: no new admin, the admin's key still works, the contact is there.
    drop(app);
    let (app, again) = open(&file.0);
    assert_eq!(again, None);
    let (status, _, _, found) = call(
        &app,
        "POST",
        "/v1/queries",
        Some(&admin_key),
        json!({"type": "get", "id": anna}).to_string(),
    )
    .await;
    assert_eq!(
        (status, found["name"].as_str()),
        (StatusCode::OK, Some("Anna"))
    );
}

#[tokio::test]
async fn a_replica_pushes_and_pulls_over_http_as_the_keys_user() {
    let file = temp("sync");
    let (app, admin_key) = open(&file.0);
    let admin_key = admin_key.unwrap();
    // The device enrols first: its replica id is the server's to hand out.
    let (status, _, _, enrolled) =
        call(&app, "POST", "/v1/sync/replicas", Some(&admin_key), "").await;
    assert_eq!(status, StatusCode::CREATED, "{enrolled}");
    let id = enrolled["replica_id"].as_u64().unwrap();
    assert_eq!(id, 2, "the first id after the authority's");
    let (_, _, _, second) = call(&app, "POST", "/v1/sync/replicas", Some(&admin_key), "").await;
    assert_eq!(second["replica_id"], 3, "each device its own");
    let mut phone = Replica::new(ReplicaId::new(id).unwrap(), CrmOptions::default()).unwrap();
    let (status, _, _, batch) =
        call(&app, "GET", "/v1/sync/pull?cursor=0", Some(&admin_key), "").await;
    assert_eq!(status, StatusCode::OK, "{batch}");
    phone.receive_pull_json(&batch.to_string()).unwrap();
    let admin = phone
        .view()
        .state()
        .users()
        .keys()
        .next()
        .unwrap()
        .to_string();
    phone
        .execute_json(
            &admin,
            "2026-12-05T08:30:00Z",
            &json!({"type": "create_contact", "name": "Anna"}).to_string(),
        )
        .unwrap();
    let push = phone.push_batch_json(100).unwrap();
    let (status, _, _, answer) = call(
        &app,
        "POST",
        "/v1/sync/push",
        Some(&admin_key),
        push.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["results"][0]["result"], "accepted");
    let (_, _, _, again) = call(&app, "POST", "/v1/sync/push", Some(&admin_key), push).await;
    assert_eq!(
        again, answer,
        "a batch delivered twice is answered the same"
    );
    phone.receive_push_result_json(&answer.to_string()).unwrap();
    let (_, _, _, batch) = call(
        &app,
        "GET",
        &format!("/v1/sync/pull?cursor={}", phone.cursor()),
        Some(&admin_key),
        "",
    )
    .await;
    phone.receive_pull_json(&batch.to_string()).unwrap();
    assert!(phone.pending().is_empty());
    let (_, _, _, found) = call(
        &app,
        "POST",
        "/v1/queries",
        Some(&admin_key),
        json!({"type": "get", "id": "con-2-1"}).to_string(),
    )
    .await;
    assert_eq!(found["name"], "Anna");
    // A replica id never enrolled, or enrolled for someone else, is refused before the
    // engine runs anything.
    let mut stranger = Replica::new(ReplicaId::new(7).unwrap(), CrmOptions::default()).unwrap();
    let (_, _, _, everything) =
        call(&app, "GET", "/v1/sync/pull?cursor=0", Some(&admin_key), "").await;
    stranger.receive_pull_json(&everything.to_string()).unwrap();
    stranger
        .execute_json(
            &admin,
            "2026-12-05T08:31:00Z",
            &json!({"type": "create_contact", "name": "Bob"}).to_string(),
        )
        .unwrap();
    let (status, _, _, body) = call(
        &app,
        "POST",
        "/v1/sync/push",
        Some(&admin_key),
        stranger.push_batch_json(100).unwrap(),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("permission_denied")),
        "{body}"
    );
    assert!(
        body["detail"].as_str().unwrap().contains("replica 7"),
        "{body}"
    );
    let (status, _, _, body) = call(
        &app,
        "POST",
        "/v1/sync/push",
        Some(&admin_key),
        "{\"v\": 9}",
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("malformed")),
        "{body}"
    );
}

/// A plain HTTP/1.1 exchange on loopback: the status and the body.
fn http(port: u16, request: &str) -> (u16, String) {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer[9..12].parse().unwrap();
    let body = answer
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_string();
    (status, body)
}

#[test]
fn the_binary_serves_on_loopback_and_stops_on_sigterm() {
    let file = temp("binary");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_crm-server"))
        .args([
            "--data",
            file.0.to_str().unwrap(),
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let key = line.trim().rsplit(' ').next().unwrap().to_string();
    assert!(key.starts_with("crm_"), "{line}");
    // Up once it answers (bounded: 100 tries, 50 ms apart).
    let mut ready = false;
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            ready = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(ready, "the server never listened");
    let command = json!({"type": "create_contact", "name": "Anna"}).to_string();
    let (status, body) = http(
        port,
        &format!(
            "POST /v1/commands HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{command}",
            command.len()
        ),
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"created\":\"con-1-"), "{body}");
    let (status, body) = http(
        port,
        "GET /ready HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status, 200, "{body}");
    std::process::Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    let exit = server.wait().unwrap();
    assert!(exit.success(), "a graceful stop: {exit:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overdue_task_fires_without_a_request_arriving() {
    let file = temp("timers");
    // The wall clock: the timekeeper sleeps until the task is due.
    let opened = Tenant::open(&file.0, TenantOptions::default()).unwrap();
    let admin_key = opened.first_admin_key.unwrap();
    let mut hub = Hub::new();
    let tenant = hub.add("shop", opened.tenant).unwrap();
    let timekeeper = tokio::spawn(tenant.keep_time());
    let app = router(Arc::new(hub));
    let due = (Utc::now() + chrono::Duration::seconds(1)).to_rfc3339();
    let task = json!({"type": "create_task", "title": "Call Anna back", "due": due}).to_string();
    let (status, _, _, outcome) = call(&app, "POST", "/v1/commands", Some(&admin_key), task).await;
    assert_eq!(status, StatusCode::OK, "{outcome}");
    // Bounded: 100 looks, 100 ms apart; no request in between makes anything happen.
    let mut overdue = false;
    for _ in 0..100 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let (_, _, _, feed) = call(
            &app,
            "GET",
            "/v1/events?after=0&limit=100",
            Some(&admin_key),
            "",
        )
        .await;
        overdue = feed["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["event"]["type"] == "task_overdue");
        if overdue {
            break;
        }
    }
    timekeeper.abort();
    assert!(overdue, "the task's overdue timer fired on its own");
}

#[tokio::test]
async fn a_key_past_its_burst_waits_and_other_keys_do_not() {
    let file = temp("limits");
    let opened = Tenant::open(
        &file.0,
        TenantOptions {
            rate_limit: Some(crm_server::RateLimit {
                per_minute: 30,
                burst: 3,
            }),
            ..options()
        },
    )
    .unwrap();
    let admin_key = opened.first_admin_key.unwrap();
    let app = router(Hub::single(opened.tenant).unwrap());
    let list = || json!({"type": "list_contacts"}).to_string();
    // The clock stands still in this test: three requests, then the fourth waits two
    // seconds (30 a minute is one every two seconds).
    let (_, _, _, made) = call(
        &app,
        "POST",
        "/v1/keys",
        Some(&admin_key),
        json!({"user": "usr-1-1"}).to_string(),
    )
    .await;
    let other_key = made["key"].as_str().unwrap().to_string();
    for _ in 0..2 {
        let (status, ..) = call(&app, "POST", "/v1/queries", Some(&admin_key), list()).await;
        assert_eq!(status, StatusCode::OK);
    }
    let request = Request::builder()
        .method("POST")
        .uri("/v1/queries")
        .header("authorization", format!("Bearer {admin_key}"))
        .body(Body::from(list()))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["retry-after"], "2");
    let body: Value =
        serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(body["code"], "rate_limited");
    let (status, ..) = call(&app, "POST", "/v1/queries", Some(&other_key), list()).await;
    assert_eq!(status, StatusCode::OK, "another key has its own bucket");
}

#[tokio::test]
async fn contacts_deals_and_tasks_are_resources_with_the_engines_rules() {
    let file = temp("resources");
    let (app, admin_key) = open(&file.0);
    let admin_key = admin_key.unwrap();
    let body = json!({"name": "Anna", "phones": ["+49 30 1234567"]}).to_string();
    let (status, _, _, anna) = call(&app, "POST", "/v1/contacts", Some(&admin_key), body).await;
    assert_eq!(status, StatusCode::CREATED, "{anna}");
    assert_eq!(
        (anna["name"].as_str(), anna["owner"].as_str()),
        (Some("Anna"), Some("usr-1-1"))
    );
    let id = anna["id"].as_str().unwrap().to_string();
    let (status, _, _, found) = call(
        &app,
        "GET",
        &format!("/v1/contacts/{id}"),
        Some(&admin_key),
        "",
    )
    .await;
    assert_eq!((status, &found), (StatusCode::OK, &anna));
    let (status, _, _, patched) = call(
        &app,
        "PATCH",
        &format!("/v1/contacts/{id}"),
        Some(&admin_key),
        json!({"position": "Buyer"}).to_string(),
    )
    .await;
    assert_eq!(
        (status, patched["position"].as_str()),
        (StatusCode::OK, Some("Buyer"))
    );
    let pipeline = json!({"type": "create_pipeline", "name": "Windows", "stages": [{"name": "New"}, {"name": "Done", "kind": "won"}]});
    let (status, ..) = call(
        &app,
        "POST",
        "/v1/commands",
        Some(&admin_key),
        pipeline.to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let deal = json!({"title": "Windows", "contact": id}).to_string();
    let (status, _, _, deal) = call(&app, "POST", "/v1/deals", Some(&admin_key), deal).await;
    assert_eq!(
        (status, deal["contact"].as_str()),
        (StatusCode::CREATED, Some(id.as_str())),
        "{deal}"
    );
    let task = json!({"title": "Measure", "link": deal["id"]}).to_string();
    let (status, ..) = call(&app, "POST", "/v1/tasks", Some(&admin_key), task).await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, _, _, page) = call(&app, "GET", "/v1/contacts?limit=1", Some(&admin_key), "").await;
    assert_eq!(
        (
            page["total"].as_u64(),
            page["items"].as_array().map(Vec::len)
        ),
        (Some(1), Some(1)),
        "{page}"
    );
    let (_, _, _, page) = call(
        &app,
        "GET",
        &format!("/v1/tasks?link={}", deal["id"].as_str().unwrap()),
        Some(&admin_key),
        "",
    )
    .await;
    assert_eq!(page["total"].as_u64(), Some(1), "{page}");
    // A contact's ID is not a deal; a collection that does not exist; bodies that are
    // not objects or carry unknown fields; an edit the engine refuses.
    let (status, _, _, body) = call(
        &app,
        "GET",
        &format!("/v1/deals/{id}"),
        Some(&admin_key),
        "",
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let (status, _, _, body) = call(&app, "GET", "/v1/things", Some(&admin_key), "").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("no_route"))
    );
    let (status, _, _, body) = call(&app, "POST", "/v1/contacts", Some(&admin_key), "[1]").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("malformed"))
    );
    let (status, _, _, body) = call(
        &app,
        "PATCH",
        &format!("/v1/contacts/{id}"),
        Some(&admin_key),
        json!({"colour": "red"}).to_string(),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("malformed")),
        "{body}"
    );
    let (status, _, _, body) = call(
        &app,
        "PATCH",
        &format!("/v1/contacts/{id}"),
        Some(&admin_key),
        json!({"phones": ["12"]}).to_string(),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("validation")),
        "{body}"
    );
    let (status, ..) = call(&app, "GET", "/v1/contacts", None, "").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_order_is_one_batch_and_a_retried_request_is_answered_not_run_again() {
    let file = temp("batch");
    let (app, admin) = open(&file.0);
    let admin = admin.unwrap();
    let pipeline = json!({"type": "create_pipeline", "name": "Shop", "stages": [{"name": "New"}]});
    let (status, ..) = call(
        &app,
        "POST",
        "/v1/commands",
        Some(&admin),
        pipeline.to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let order = json!({"commands": [
        {"type": "create_contact", "name": "Anna", "emails": ["anna@example.org"]},
        {"type": "create_deal", "title": "Order 1001", "contact": {"$ref": 0}},
    ]})
    .to_string();
    let keyed = [("idempotency-key", "woo-1001")];
    let (status, headers, first) = call_with(
        &app,
        "POST",
        "/v1/commands",
        Some(&admin),
        &keyed,
        order.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert!(headers.get("idempotent-replayed").is_none());
    let created = first["created"].as_array().unwrap();
    assert_eq!(created.len(), 2, "{first}");

    // The shop's request timed out; it sends the same order again with the same key.
    let (status, headers, again) =
        call_with(&app, "POST", "/v1/commands", Some(&admin), &keyed, order).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["idempotent-replayed"], "true");
    assert_eq!(
        (&again["created"], &again["events"]),
        (&first["created"], &first["events"])
    );
    let (_, _, _, contacts) = call(&app, "GET", "/v1/contacts", Some(&admin), "").await;
    assert_eq!(contacts["items"].as_array().unwrap().len(), 1, "{contacts}");

    // The key with another body is a client's bug: 422, nothing stored.
    let other = json!({"commands": [{"type": "create_contact", "name": "Boris"}]}).to_string();
    let (status, headers, problem) =
        call_with(&app, "POST", "/v1/commands", Some(&admin), &keyed, other).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(headers["content-type"], "application/problem+json");
    assert_eq!(problem["field"], "idempotency_key");

    // A lone command with a key answers in a lone command's shape, plus the position.
    let lone = json!({"type": "create_contact", "name": "Clara"}).to_string();
    let keyed = [("idempotency-key", "form-77")];
    let (_, _, made) = call_with(
        &app,
        "POST",
        "/v1/commands",
        Some(&admin),
        &keyed,
        lone.clone(),
    )
    .await;
    let (_, headers, again) =
        call_with(&app, "POST", "/v1/commands", Some(&admin), &keyed, lone).await;
    assert!(
        made["created"].as_str().unwrap().starts_with("con-"),
        "{made}"
    );
    assert_eq!(again["created"], made["created"]);
    assert_eq!(headers["idempotent-replayed"], "true");

    // A batch decided on an old read: 409, with where the journal is now.
    let position = made["position"].as_u64().unwrap();
    let stale = json!({"commands": [{"type": "create_contact", "name": "Dora"}],
                       "expected_position": position - 1})
    .to_string();
    let (status, _, _, problem) = call(&app, "POST", "/v1/commands", Some(&admin), stale).await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    assert!(problem["detail"]
        .as_str()
        .unwrap()
        .contains(&position.to_string()));

    // A refused command refuses its batch, naming its place; nothing is stored.
    let bad = json!({"commands": [{"type": "create_contact", "name": "Emil"},
                                  {"type": "create_deal", "title": "x", "contact": "con-1-999"}]})
    .to_string();
    let (status, _, _, problem) = call(&app, "POST", "/v1/commands", Some(&admin), bad).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{problem}");
    let (_, _, _, ready) = call(&app, "GET", "/ready", None, "").await;
    assert_eq!(ready["positions"]["default"], position);
}

#[tokio::test]
async fn each_business_sees_only_its_own_data_and_its_keys_work_only_there() {
    let (shop_file, salon_file) = (temp("tenant-shop"), temp("tenant-salon"));
    let shop = Tenant::open(&shop_file.0, options()).unwrap();
    let salon = Tenant::open(&salon_file.0, options()).unwrap();
    let (shop_admin, salon_admin) = (
        shop.first_admin_key.unwrap(),
        salon.first_admin_key.unwrap(),
    );
    let mut hub = Hub::new();
    hub.add("shop", shop.tenant).unwrap();
    hub.add("salon", salon.tenant).unwrap();
    assert!(hub
        .add(
            "Shop!",
            Tenant::open(&temp("bad").0, options()).unwrap().tenant
        )
        .is_err());
    let app = router(Arc::new(hub));

    let anna = json!({"type": "create_contact", "name": "Anna"}).to_string();
    let (status, _, _, made) = call(&app, "POST", "/v1/commands", Some(&shop_admin), anna).await;
    assert_eq!(status, StatusCode::OK, "{made}");
    let anna = made["created"].as_str().unwrap().to_string();

    // The salon's admin has the same user ID in the salon, and the contact's ID would
    // mean the same thing there: it is not found, and the salon's list is empty.
    let (status, _, _, problem) = call(
        &app,
        "GET",
        &format!("/v1/contacts/{anna}"),
        Some(&salon_admin),
        "",
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{problem}");
    let (_, _, _, list) = call(&app, "GET", "/v1/contacts", Some(&salon_admin), "").await;
    assert_eq!(list["items"], json!([]), "{list}");
    let (_, _, _, feed) = call(&app, "GET", "/v1/events?after=0", Some(&salon_admin), "").await;
    assert!(!feed.to_string().contains("Anna"), "{feed}");

    // A key made in the salon acts in the salon only.
    let (_, _, _, key) = call(
        &app,
        "POST",
        "/v1/keys",
        Some(&salon_admin),
        json!({"user": "usr-1-1"}).to_string(),
    )
    .await;
    let salon_key = key["key"].as_str().unwrap().to_string();
    let (_, _, _, list) = call(&app, "GET", "/v1/contacts", Some(&salon_key), "").await;
    assert_eq!(list["items"], json!([]));
    let (_, _, _, ready) = call(&app, "GET", "/ready", None, "").await;
    assert_eq!(ready["positions"]["salon"], 1, "{ready}");
    assert_eq!(ready["positions"]["shop"], 2, "{ready}");
}

#[test]
fn the_configuration_file_names_the_businesses_and_refuses_what_it_does_not_know() {
    let config = Config::parse(
        r#"
        listen = "127.0.0.1:9000"
        [tenants.shop]
        data = "shop.sqlite"
        rate_limit = { per_minute = 60, burst = 5 }
        [tenants.shop.options]
        default_region = "DE"
        [tenants.salon]
        data = "/var/lib/crm/salon.sqlite"
        "#,
    )
    .unwrap();
    assert_eq!(config.listen, "127.0.0.1:9000");
    assert_eq!(
        config.tenants["shop"].options.default_region.as_deref(),
        Some("DE")
    );
    assert_eq!(config.tenants["shop"].rate_limit.unwrap().burst, 5);
    assert!(config.tenants["salon"].rate_limit.is_none());
    assert_eq!(
        config.storage("salon"),
        Some(Storage::Sqlite("/var/lib/crm/salon.sqlite".into()))
    );
    for (text, says) in [
        ("listen = \"x\"", "no [tenants"),
        ("[tenants.shop]\ndata = \"a\"\ndat = \"b\"", "unknown field"),
        (
            "[tenants.shop]\ndata = \"a\"\n[tenants.shop.options]\nregion = \"DE\"",
            "unknown field",
        ),
        ("[tenants.shop]", "data (its SQLite file) is missing"),
        (
            "postgres = \"postgresql://x\"\n[tenants.shop]\ndata = \"a\"",
            "kept in postgres",
        ),
    ] {
        let err = Config::parse(text).unwrap_err();
        assert!(err.contains(says), "{text}: {err}");
    }
}

#[tokio::test]
async fn the_openapi_document_is_served_and_the_committed_copy_is_current() {
    let document = crm_server::openapi_document();
    let text = serde_json::to_string_pretty(&document).unwrap() + "\n";
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.json");
    if std::env::var_os("UPDATE_SCHEMAS").is_some() {
        std::fs::write(path, &text).unwrap();
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(committed == text, "docs/openapi.json is out of date: UPDATE_SCHEMAS=1 cargo test -p crm-server --test http openapi");

    let file = temp("openapi");
    let (app, _) = open(&file.0);
    let (status, content_type, _, served) = call(&app, "GET", "/v1/openapi.json", None, "").await;
    assert_eq!(
        (status, content_type.as_str()),
        (StatusCode::OK, "application/json")
    );
    assert_eq!(served, document);
    assert_eq!(served["openapi"], "3.1.0");
    // Every $ref points at a component that exists.
    let text = served.to_string();
    for target in text.split("\"$ref\":\"").skip(1) {
        let target = &target[..target.find('"').unwrap()];
        let name = target
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("{target}"));
        assert!(
            served["components"]["schemas"][name].is_object(),
            "{target} is missing"
        );
    }
    // Every {parameter} of a path is a path parameter of each of its operations.
    for (path, operations) in served["paths"].as_object().unwrap() {
        let names: Vec<&str> = path
            .split('{')
            .skip(1)
            .map(|rest| &rest[..rest.find('}').unwrap()])
            .collect();
        for (method, operation) in operations.as_object().unwrap() {
            for name in &names {
                let defined = operation["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|p| p["in"] == "path" && p["name"] == *name && p["required"] == true);
                assert!(
                    defined,
                    "{method} {path}: {{{name}}} is not a path parameter"
                );
            }
        }
    }
    // Every route of the router is described.
    for path in [
        "/v1/commands",
        "/v1/queries",
        "/v1/events",
        "/v1/keys",
        "/v1/keys/{id}",
        "/v1/sync/replicas",
        "/v1/sync/push",
        "/v1/sync/pull",
        "/v1/webhooks/replay",
        "/v1/webhooks/disabled",
        "/v1/contacts",
        "/v1/deals/{id}",
        "/health",
        "/ready",
        "/v1/openapi.json",
    ] {
        assert!(served["paths"][path].is_object(), "{path} is not described");
    }
}

#[tokio::test]
async fn bad_parameters_and_oversized_bodies_are_problem_json_too() {
    let file = temp("parameters");
    let (app, admin) = open(&file.0);
    let admin = admin.unwrap();
    for (method, uri, status, field) in [
        (
            "DELETE",
            "/v1/keys/null%2Cnull",
            StatusCode::BAD_REQUEST,
            "path",
        ),
        (
            "GET",
            "/v1/sync/pull?cursor=-1",
            StatusCode::BAD_REQUEST,
            "query",
        ),
        (
            "POST",
            "/v1/webhooks/replay",
            StatusCode::BAD_REQUEST,
            "query",
        ),
        (
            "GET",
            "/v1/events?after=x",
            StatusCode::BAD_REQUEST,
            "query",
        ),
    ] {
        let (got, content_type, _, problem) = call(&app, method, uri, Some(&admin), "").await;
        assert_eq!(
            (got, content_type.as_str()),
            (status, "application/problem+json"),
            "{uri}: {problem}"
        );
        assert_eq!(
            (&problem["code"], &problem["field"]),
            (&json!("malformed"), &json!(field)),
            "{uri}"
        );
    }
    let huge = format!(
        r#"{{"type": "create_contact", "name": "{}"}}"#,
        "x".repeat(3 << 20)
    );
    let (status, content_type, _, problem) =
        call(&app, "POST", "/v1/commands", Some(&admin), huge).await;
    assert_eq!(
        (status, content_type.as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, "application/problem+json")
    );
    assert_eq!(problem["code"], "too_large");
}

#[tokio::test]
async fn a_1c_exchange_job_upserts_by_its_own_id_and_makes_each_record_once() {
    let file = temp("upsert");
    let (app, admin) = open(&file.0);
    let admin = admin.unwrap();
    for command in [
        json!({"type": "define_field", "entity": "contact", "key": "onec_id", "label": "1C ID", "kind": "text"}),
        json!({"type": "define_field", "entity": "deal", "key": "onec_id", "label": "1C ID", "kind": "text"}),
        json!({"type": "create_pipeline", "name": "Orders", "stages": [{"name": "New"}]}),
    ] {
        let (status, _, _, body) = call(
            &app,
            "POST",
            "/v1/commands",
            Some(&admin),
            command.to_string(),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let uri = "/v1/contacts/by/onec_id/b5f3-0001";
    let first = json!({"name": "ООО Ромашка", "phones": ["+7 495 123-45-67"], "owner": "usr-1-1"})
        .to_string();
    let (status, _, made) = call_with(&app, "PUT", uri, Some(&admin), &[], first).await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    assert_eq!(
        made["custom"]["onec_id"],
        json!({"text": "b5f3-0001"}),
        "{made}"
    );
    // The nightly run sends it again, renamed: the same contact, patched (owner, a
    // field of creation only, is left as it is).
    let again = json!({"name": "ООО «Ромашка»", "owner": "usr-1-1"}).to_string();
    let (status, _, patched) = call_with(&app, "PUT", uri, Some(&admin), &[], again).await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(
        (&patched["id"], &patched["name"]),
        (&made["id"], &json!("ООО «Ромашка»"))
    );
    let (_, _, _, list) = call(&app, "GET", "/v1/contacts", Some(&admin), "").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "{list}");

    // A deal by the order's 1C ID: its pipeline is taken on creation only.
    let order =
        json!({"title": "Заказ 17", "contact": made["id"], "pipeline": "pip-1-4"}).to_string();
    let (status, _, deal) = call_with(
        &app,
        "PUT",
        "/v1/deals/by/onec_id/ord-17",
        Some(&admin),
        &[],
        order.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{deal}");
    let (status, _, same) = call_with(
        &app,
        "PUT",
        "/v1/deals/by/onec_id/ord-17",
        Some(&admin),
        &[],
        order,
    )
    .await;
    assert_eq!((status, &same["id"]), (StatusCode::OK, &deal["id"]));

    // Tasks are not upserted; an undefined field is the engine's refusal.
    let (status, _, _) = call_with(
        &app,
        "PUT",
        "/v1/tasks/by/onec_id/x",
        Some(&admin),
        &[],
        "{}",
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, problem) = call_with(
        &app,
        "PUT",
        "/v1/companies/by/inn/7701",
        Some(&admin),
        &[],
        json!({"name": "X"}).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains("inn"),
        "{problem}"
    );
}

#[tokio::test]
async fn the_office_page_is_served_beside_the_api_gzipped_when_the_browser_takes_it() {
    let file = temp("web");
    let folder = std::env::temp_dir().join(format!("crm-server-web-{}", std::process::id()));
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("index.html"), "<h1>Office</h1>").unwrap();
    std::fs::write(folder.join("engine.wasm"), b"\0asm-plain").unwrap();
    std::fs::write(folder.join("engine.wasm.gz"), b"gzipped-twin").unwrap();
    let (api, key) = open(&file.0);
    let app = with_web(api, &folder);
    let (status, _, _, page) = call(&app, "GET", "/", None, "").await;
    assert_eq!(
        (status, page.as_str()),
        (StatusCode::OK, Some("<h1>Office</h1>"))
    );
    let (status, headers, body) = call_with(
        &app,
        "GET",
        "/engine.wasm",
        None,
        &[("accept-encoding", "gzip")],
        "",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-encoding"], "gzip");
    assert_eq!(headers["content-type"], "application/wasm");
    assert_eq!(body, "gzipped-twin");
    // The API answers as before; what is neither is the API's problem+json.
    let (status, _, _, found) = call(&app, "POST", "/v1/sync/replicas", key.as_deref(), "").await;
    assert_eq!(status, StatusCode::CREATED, "{found}");
    let (status, kind, _, missing) =
        call(&app, "GET", "/v1/nothing/here/at/all", key.as_deref(), "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(kind, "application/problem+json");
    assert_eq!(missing["code"], "no_route");
    let (status, kind, _, _) = call(&app, "GET", "/no-such-file.js", None, "").await;
    assert_eq!(
        (status, kind.as_str()),
        (StatusCode::NOT_FOUND, "application/problem+json")
    );
    std::fs::remove_dir_all(&folder).unwrap();
}

#[tokio::test]
async fn a_demo_clock_moves_forward_never_back_and_exists_only_in_a_demo() {
    let file = temp("demo-clock");
    let clock = crm_server::DemoClock::new();
    let opened = Tenant::open(
        &file.0,
        TenantOptions {
            clock: Some(clock.clock()),
            ..TenantOptions::default()
        },
    )
    .unwrap();
    let mut hub = Hub::with_demo_clock(Arc::clone(&clock));
    hub.add("default", opened.tenant).unwrap();
    let app = router(Arc::new(hub));
    let key = opened.first_admin_key.unwrap();
    let before = Utc::now();
    let (status, _, _, moved) = call(
        &app,
        "POST",
        "/v1/demo/clock",
        Some(&key),
        json!({"minutes": 90}).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{moved}");
    assert_eq!(moved["ahead_seconds"], 5400);
    let now: DateTime<Utc> = moved["now"].as_str().unwrap().parse().unwrap();
    assert!(now >= before + chrono::Duration::minutes(90), "{now}");
    let (status, _, _, refused) = call(
        &app,
        "POST",
        "/v1/demo/clock",
        Some(&key),
        json!({"minutes": -5}).to_string(),
    )
    .await;
    assert_eq!(
        (status, refused["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("minutes"))
    );
    // Something recorded at the demo's time; restarted, the demo's clock does not go
    // back before it (commands would be refused as out of time order).
    let (status, _, _, _) = call(
        &app,
        "POST",
        "/v1/commands",
        Some(&key),
        json!({"type": "create_contact", "name": "Anna"}).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    drop(app);
    let restarted = crm_server::DemoClock::new();
    let reopened = Tenant::open(
        &file.0,
        TenantOptions {
            clock: Some(restarted.clock()),
            ..TenantOptions::default()
        },
    )
    .unwrap();
    Hub::with_demo_clock(Arc::clone(&restarted))
        .add("default", reopened.tenant)
        .unwrap();
    assert!(
        (restarted.clock())() >= now,
        "the restarted demo's clock went back"
    );
    // A real business has no such endpoint.
    let plain = temp("no-demo-clock");
    let (app, key) = open(&plain.0);
    let (status, _, _, missing) = call(
        &app,
        "POST",
        "/v1/demo/clock",
        key.as_deref(),
        json!({"minutes": 90}).to_string(),
    )
    .await;
    assert_eq!(
        (status, missing["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("no_route"))
    );
}
