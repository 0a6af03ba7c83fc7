//! The outbox delivered to real peers on loopback: an HTTP receiver for webhooks and
//! the SMS gateway, and an SMTP sink. Retries after a failure, Standard Webhooks
//! signatures, acknowledgement in the journal, 410 disabling an endpoint, replay.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::routing::post;
use axum::Router;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use crm_server::{
    router, DeliveryConfig, Hub, SmsConfig, SmtpConfig, Tenant, TenantOptions, WebhooksConfig,
};
use hmac::{Hmac, Mac};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use sha2::Sha256;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tower::ServiceExt;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

struct Files(PathBuf);

impl Drop for Files {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.0.display()));
        }
    }
}

/// What the HTTP receiver was sent: path, headers, body.
type Received = Arc<Mutex<Vec<(String, HeaderMap, String)>>>;

/// What the SMTP sink was handed: each message's recipients and text.
type Mail = Arc<Mutex<Vec<(Vec<String>, String)>>>;

/// An HTTP receiver on loopback answering each path's queued statuses in turn (then
/// 200); what it received, and its address.
async fn receiver(statuses: Vec<(&'static str, u16)>) -> (Received, String) {
    #[derive(Clone)]
    struct Peer {
        received: Received,
        statuses: Arc<Mutex<VecDeque<(&'static str, u16)>>>,
    }
    async fn take(State(peer): State<Peer>, request: Request<Body>) -> (StatusCode, &'static str) {
        let path = request.uri().path().to_string();
        let headers = request.headers().clone();
        let body: Bytes = request.into_body().collect().await.unwrap().to_bytes();
        peer.received.lock().unwrap().push((
            path.clone(),
            headers,
            String::from_utf8(body.to_vec()).unwrap(),
        ));
        let mut statuses = peer.statuses.lock().unwrap();
        let status = match statuses.iter().position(|(p, _)| *p == path) {
            Some(index) => statuses.remove(index).unwrap().1,
            None => 200,
        };
        (StatusCode::from_u16(status).unwrap(), "")
    }
    let peer = Peer {
        received: Received::default(),
        statuses: Arc::new(Mutex::new(statuses.into_iter().collect())),
    };
    let app = Router::new()
        .route("/{*path}", post(take))
        .with_state(peer.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (peer.received, format!("http://{address}"))
}

/// An SMTP sink on loopback: speaks enough SMTP for a real client to hand over a
/// message, and keeps each message's envelope recipients and text.
async fn smtp_sink() -> (Mail, String) {
    let mail: Mail = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let kept = Arc::clone(&mail);
    tokio::spawn(async move {
        loop {
            let (socket, _) = listener.accept().await.unwrap();
            let kept = Arc::clone(&kept);
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read).lines();
                write.write_all(b"220 sink ESMTP\r\n").await.unwrap();
                let (mut to, mut data, mut in_data) = (Vec::new(), String::new(), false);
                while let Ok(Some(line)) = lines.next_line().await {
                    if in_data {
                        if line == "." {
                            in_data = false;
                            kept.lock()
                                .unwrap()
                                .push((std::mem::take(&mut to), std::mem::take(&mut data)));
                            write.write_all(b"250 kept\r\n").await.unwrap();
                        } else {
                            data.push_str(&line);
                            data.push('\n');
                        }
                        continue;
                    }
                    let verb = line.to_ascii_uppercase();
                    let answer: &[u8] = if verb.starts_with("EHLO") || verb.starts_with("HELO") {
                        b"250 sink\r\n"
                    } else if verb.starts_with("RCPT TO:") {
                        to.push(line[8..].trim().trim_matches(['<', '>']).to_string());
                        b"250 ok\r\n"
                    } else if verb.starts_with("DATA") {
                        in_data = true;
                        b"354 go on\r\n"
                    } else if verb.starts_with("QUIT") {
                        write.write_all(b"221 bye\r\n").await.unwrap();
                        break;
                    } else {
                        b"250 ok\r\n"
                    };
                    write.write_all(answer).await.unwrap();
                }
            });
        }
    });
    (mail, format!("smtp://{address}"))
}

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

async fn call(
    app: &Router,
    method: &str,
    uri: &str,
    key: &str,
    body: Value,
) -> (StatusCode, Value) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header("authorization", format!("Bearer {key}"))
        .body(Body::from(if body.is_null() {
            String::new()
        } else {
            body.to_string()
        }))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// Waits (bounded: 15 s) until `done` holds.
async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..150 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("not within 15 s: {what}");
}

/// Verifies a Standard Webhooks signature the way a receiver does, from the spec.
fn verify(headers: &HeaderMap, body: &str) -> bool {
    let key = base64::engine::general_purpose::STANDARD
        .decode(SECRET.strip_prefix("whsec_").unwrap())
        .unwrap();
    let (id, timestamp) = (&headers["webhook-id"], &headers["webhook-timestamp"]);
    let signed = format!(
        "{}.{}.{body}",
        id.to_str().unwrap(),
        timestamp.to_str().unwrap()
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(signed.as_bytes());
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    headers["webhook-signature"]
        .to_str()
        .unwrap()
        .split(' ')
        .any(|signature| signature == format!("v1,{expected}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outbox_is_delivered_retried_signed_acknowledged_and_replayable() {
    let (received, http) = receiver(vec![("/hook", 500), ("/gone", 410)]).await;
    let (mail, smtp) = smtp_sink().await;
    let file =
        Files(std::env::temp_dir().join(format!("crm-delivery-{}.sqlite", std::process::id())));
    let options = TenantOptions {
        clock: Some(Arc::new(|| at("2026-12-05T09:00:00Z"))),
        delivery: DeliveryConfig {
            webhooks: Some(WebhooksConfig {
                secret: SECRET.into(),
            }),
            smtp: Some(SmtpConfig {
                url: smtp,
                from: "Window shop <crm@shop.example>".into(),
            }),
            sms: Some(SmsConfig {
                url: format!("{http}/sms"),
                token: "sms-token".into(),
            }),
            first_retry_ms: Some(200),
            retry_hours: None,
        },
        ..TenantOptions::default()
    };
    let opened = Tenant::open(&file.0, options).unwrap();
    let admin = opened.first_admin_key.unwrap();
    let mut hub = Hub::new();
    let tenant = hub.add("shop", opened.tenant).unwrap();
    let deliverer = tokio::spawn(Arc::clone(&tenant).deliver());
    let app = router(Arc::new(hub));

    let setup = [
        json!({"type": "create_user", "name": "Anton", "role": "manager", "email": "anton@shop.example"}),
        json!({"type": "create_pipeline", "name": "Windows", "stages": [{"name": "New"}]}),
        json!({"type": "define_rules", "rules": [{"key": "new-deal", "when": {"type": "record_created", "record": "deal"}, "then": [
            {"type": "webhook", "url": format!("{http}/hook")},
            {"type": "notify", "to": "owner", "channel": "email", "text": "New deal: {{ deal.title }}"},
            {"type": "notify", "to": "client", "channel": "sms", "text": "Thank you, {{ contact.name }}!"}]}]}),
    ];
    for command in setup {
        let (status, outcome) = call(&app, "POST", "/v1/commands", &admin, command).await;
        assert_eq!(status, StatusCode::OK, "{outcome}");
    }
    let order = json!({"commands": [
        {"type": "create_contact", "name": "Anna", "phones": ["+49 30 1234567"], "consent": {"sms": true}},
        {"type": "create_deal", "title": "Order 1001", "contact": {"$ref": 0}, "owner": "usr-1-2"}]});
    let (status, outcome) = call(&app, "POST", "/v1/commands", &admin, order).await;
    assert_eq!(status, StatusCode::OK, "{outcome}");

    // All three are delivered and acknowledged; the webhook after one failure.
    let outbox = || async {
        let (_, page) = call(
            &app,
            "POST",
            "/v1/queries",
            &admin,
            json!({"type": "outbox"}),
        )
        .await;
        page["items"].as_array().unwrap().len()
    };
    for _ in 0..150 {
        if outbox().await == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(outbox().await, 0, "every effect delivered and acknowledged");
    let hooks: Vec<(HeaderMap, String)> = received
        .lock()
        .unwrap()
        .iter()
        .filter(|(path, ..)| path == "/hook")
        .map(|(_, headers, body)| (headers.clone(), body.clone()))
        .collect();
    assert_eq!(hooks.len(), 2, "one failure (500), then delivered");
    assert_eq!(
        hooks[0].0["webhook-id"], hooks[1].0["webhook-id"],
        "the same ID on a retry"
    );
    for (headers, body) in &hooks {
        assert!(verify(headers, body), "a valid Standard Webhooks signature");
        let body: Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["type"], "new-deal", "{body}");
        assert_eq!(body["data"]["deal"]["title"], "Order 1001", "{body}");
    }
    let effect_id = hooks[0].0["webhook-id"].to_str().unwrap().to_string();
    let (_, feed) = call(
        &app,
        "GET",
        "/v1/events?after=0&limit=1000",
        &admin,
        Value::Null,
    )
    .await;
    let acks: Vec<&Value> = feed["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"]["type"] == "effects_acknowledged")
        .collect();
    assert!(!acks.is_empty(), "acknowledged in the journal");
    assert!(acks.iter().all(|e| e["actor"] == "system"));

    let sms: Vec<(HeaderMap, String)> = received
        .lock()
        .unwrap()
        .iter()
        .filter(|(path, ..)| path == "/sms")
        .map(|(_, headers, body)| (headers.clone(), body.clone()))
        .collect();
    assert_eq!(sms.len(), 1);
    assert_eq!(sms[0].0["authorization"], "Bearer sms-token");
    let text: Value = serde_json::from_str(&sms[0].1).unwrap();
    assert_eq!(
        (&text["to"], &text["text"]),
        (&json!("+49301234567"), &json!("Thank you, Anna!"))
    );
    assert_eq!(sms[0].0["idempotency-key"], text["id"].as_str().unwrap());

    let mail = mail.lock().unwrap().clone();
    assert_eq!(mail.len(), 1, "{mail:?}");
    assert_eq!(mail[0].0, vec!["anton@shop.example".to_string()]);
    assert!(
        mail[0].1.contains("Subject: New deal: Order 1001"),
        "{}",
        mail[0].1
    );
    assert!(
        mail[0].1.contains("@crm-server>"),
        "a Message-ID from the effect: {}",
        mail[0].1
    );

    // An endpoint that is gone is disabled; its effect stays in the outbox.
    let gone = json!({"type": "define_rules", "rules": [{"key": "gone", "when": {"type": "record_created", "record": "contact"},
        "then": [{"type": "webhook", "url": format!("{http}/gone")}]}]});
    call(&app, "POST", "/v1/commands", &admin, gone).await;
    call(
        &app,
        "POST",
        "/v1/commands",
        &admin,
        json!({"type": "create_contact", "name": "Boris"}),
    )
    .await;
    let disabled = || async {
        call(&app, "GET", "/v1/webhooks/disabled", &admin, Value::Null)
            .await
            .1
    };
    for _ in 0..150 {
        if disabled().await["items"]
            .as_array()
            .is_some_and(|items| !items.is_empty())
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(disabled().await["items"][0]["url"], format!("{http}/gone"));
    assert_eq!(
        outbox().await,
        1,
        "a webhook to a gone endpoint is not acknowledged"
    );
    let gone_calls = || {
        received
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, ..)| p == "/gone")
            .count()
    };
    assert_eq!(gone_calls(), 1, "not tried again once disabled");

    // Replay from the start: the webhook is sent again with its first ID.
    let (status, replay) = call(
        &app,
        "POST",
        "/v1/webhooks/replay?from=1",
        &admin,
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{replay}");
    assert_eq!(replay["queued"], 2, "{replay}");
    let hook_ids = || {
        received
            .lock()
            .unwrap()
            .iter()
            .filter(|(path, ..)| path == "/hook")
            .map(|(_, headers, _)| headers["webhook-id"].to_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    eventually("the replayed webhook arrives", || hook_ids().len() == 3).await;
    assert_eq!(hook_ids()[2], effect_id);

    // Enabled again, the gone endpoint's effect goes out on the next round.
    let url = format!("{http}/gone");
    let (status, _) = call(
        &app,
        "DELETE",
        &format!("/v1/webhooks/disabled?url={url}"),
        &admin,
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    eventually("the enabled endpoint is called again", || gone_calls() >= 2).await;
    deliverer.abort();
}
