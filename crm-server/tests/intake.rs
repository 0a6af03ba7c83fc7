//! Intake over HTTP: a shop's public web form (token, CORS, honeypot, rate limit,
//! redirect), the PBX's signed webhook, a raw e-mail uploaded with an admin's key.

use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::Router;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use crm_server::{router, FormConfig, Hub, IntakeConfig, RateLimitConfig, Tenant, TenantOptions};
use hmac::{Hmac, Mac};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use sha2::Sha256;
use tower::ServiceExt;

const PBX_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const NOW: &str = "2026-12-05T09:00:00Z";

struct Files(PathBuf);

impl Drop for Files {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.0.display()));
        }
    }
}

/// The shop with its intake configured: the app and the admin's key.
async fn shop(name: &str) -> (Files, Router, String) {
    let file = Files(
        std::env::temp_dir().join(format!("crm-intake-{name}-{}.sqlite", std::process::id())),
    );
    let intake = IntakeConfig {
        forms: [(
            "callback".to_string(),
            FormConfig {
                token: "pub-7f3a".into(),
                origins: vec!["https://shop.example".into()],
                honeypot: None,
                redirect: Some("https://shop.example/thanks".into()),
                rate_limit: Some(RateLimitConfig {
                    per_minute: 1,
                    burst: 6,
                }),
            },
        )]
        .into_iter()
        .collect(),
        pbx_secret: Some(PBX_SECRET.into()),
        mailbox: vec!["sales@shop.example".into()],
    };
    let options = TenantOptions {
        crm: crm_core::CrmOptions {
            default_region: Some("DE".into()),
            ..crm_core::CrmOptions::default()
        },
        clock: Some(Arc::new(|| NOW.parse::<DateTime<Utc>>().unwrap())),
        intake,
        ..TenantOptions::default()
    };
    let opened = Tenant::open(&file.0, options).unwrap();
    let admin = opened.first_admin_key.unwrap();
    let mut hub = Hub::new();
    hub.add("shop", opened.tenant).unwrap();
    let app = router(Arc::new(hub));
    for command in [
        json!({"type": "create_user", "name": "Anton", "role": "manager"}),
        json!({"type": "create_pipeline", "name": "Windows", "stages": [{"name": "New"}]}),
        json!({"type": "configure_intake", "owner": "usr-1-2", "pipeline": "pip-1-3", "leads_from_email": true,
               "forms": {"callback": {"source": "website", "fields": {"your-name": "name", "tel": "phone"}}}}),
    ] {
        let (status, _, body) = send(
            &app,
            "POST",
            "/v1/commands",
            &[("authorization", &format!("Bearer {admin}"))],
            command.to_string(),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    (file, app, admin)
}

async fn send(
    app: &Router,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: impl Into<Body>,
) -> (StatusCode, HeaderMap, Value) {
    let mut request = Request::builder().method(method).uri(uri);
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
    (
        status,
        headers,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn contacts(app: &Router, admin: &str) -> Vec<Value> {
    let (_, _, page) = send(
        app,
        "GET",
        "/v1/contacts",
        &[("authorization", &format!("Bearer {admin}"))],
        "",
    )
    .await;
    page["items"].as_array().unwrap().clone()
}

const FORM: &str = "/v1/intake/shop/forms/callback";

#[tokio::test]
async fn a_web_form_posted_from_the_shop_becomes_a_lead() {
    let (_file, app, admin) = shop("form").await;
    let shop = [("origin", "https://shop.example")];

    // The browser's preflight: allowed for the shop, refused for another site.
    let (status, headers, _) = send(&app, "OPTIONS", FORM, &shop, "").await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        headers["access-control-allow-origin"],
        "https://shop.example"
    );
    assert!(headers["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .contains("X-Form-Token"));
    let (status, headers, problem) = send(
        &app,
        "OPTIONS",
        FORM,
        &[("origin", "https://evil.example")],
        "",
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        headers["content-type"], "application/problem+json",
        "{problem}"
    );

    // A script's JSON post with the token in a header.
    let json_post = [
        ("origin", "https://shop.example"),
        ("content-type", "application/json"),
        ("x-form-token", "pub-7f3a"),
        ("referer", "https://shop.example/prices"),
    ];
    let fields = json!({"your-name": "Petra Schulz", "tel": "030 2345678", "utm_source": "google"})
        .to_string();
    let (status, headers, body) = send(&app, "POST", FORM, &json_post, fields).await;
    assert_eq!(
        (status, &body),
        (StatusCode::ACCEPTED, &json!({"received": true}))
    );
    assert_eq!(
        headers["access-control-allow-origin"],
        "https://shop.example"
    );
    let made = contacts(&app, &admin).await;
    assert_eq!(made.len(), 1);
    assert_eq!(
        (&made[0]["name"], &made[0]["phones"][0]),
        (&json!("Petra Schulz"), &json!("+49302345678"))
    );

    // An ordinary HTML form post: urlencoded, the token a hidden field, a 303 to the
    // thank-you page.
    let html_post = [("content-type", "application/x-www-form-urlencoded")];
    let (status, headers, _) = send(
        &app,
        "POST",
        FORM,
        &html_post,
        "_token=pub-7f3a&your-name=Hans+M%C3%BCller&tel=030+3456789",
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers["location"], "https://shop.example/thanks");
    let names: Vec<Value> = contacts(&app, &admin)
        .await
        .iter()
        .map(|c| c["name"].clone())
        .collect();
    assert!(names.contains(&json!("Hans Müller")), "{names:?}");

    // A bot fills the hidden honeypot field: answered as taken, nothing stored.
    let (status, _, _) = send(
        &app,
        "POST",
        FORM,
        &html_post,
        "_token=pub-7f3a&your-name=Bot&tel=030+1&website=http://spam",
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(contacts(&app, &admin).await.len(), 2);

    // No token or a wrong one; a bad phone (with CORS, so the page's script reads why).
    let (status, _, problem) = send(&app, "POST", FORM, &html_post, "your-name=X&tel=030+2").await;
    assert_eq!(
        (status, &problem["code"]),
        (StatusCode::FORBIDDEN, &json!("permission_denied"))
    );
    let (status, _, _) = send(&app, "POST", FORM, &html_post, "_token=guess&your-name=X").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, headers, problem) = send(
        &app,
        "POST",
        FORM,
        &json_post,
        json!({"your-name": "Eve", "tel": "12"}).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(
        headers["access-control-allow-origin"],
        "https://shop.example"
    );

    // Past the burst (6: the refused ones count too), the address waits.
    let (status, headers, problem) = send(
        &app,
        "POST",
        FORM,
        &html_post,
        "_token=pub-7f3a&your-name=Late&tel=030+4567890",
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{problem}");
    assert!(headers.contains_key("retry-after"));

    // Unknown forms and businesses are not public.
    for uri in [
        "/v1/intake/shop/forms/other",
        "/v1/intake/salon/forms/callback",
    ] {
        let (status, _, _) = send(&app, "POST", uri, &html_post, "_token=pub-7f3a").await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}");
    }
}

fn refs(list: &[(String, String)]) -> Vec<(&str, &str)> {
    list.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect()
}

/// Signs `body` as the PBX does (Standard Webhooks), at `timestamp`.
fn signed(id: &str, timestamp: i64, body: &str) -> String {
    let key = base64::engine::general_purpose::STANDARD
        .decode(&PBX_SECRET[6..])
        .unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    )
}

#[tokio::test]
async fn the_pbx_webhook_takes_only_signed_fresh_calls_and_logs_each_once() {
    let (_file, app, admin) = shop("calls").await;
    let call = json!({"call": {"direction": "inbound", "from": "+49 171 5550101", "to": "+49301110000",
        "started_at": "2026-12-05T08:58:00Z", "ended_at": "2026-12-05T08:58:30Z", "outcome": "missed", "call_id": "pbx-1"}})
    .to_string();
    let now = NOW.parse::<DateTime<Utc>>().unwrap().timestamp();
    let uri = "/v1/intake/shop/calls";
    let good = signed("msg-1", now, &call);
    let timestamp = now.to_string();
    let headers = |signature: &str, at: &str| {
        vec![
            ("content-type", "application/json"),
            ("webhook-id", "msg-1"),
            ("webhook-timestamp", at),
            ("webhook-signature", signature),
        ]
        .into_iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect::<Vec<_>>()
    };

    // Unsigned, wrongly signed, signed too long ago: 401, nothing logged.
    let (status, _, _) = send(
        &app,
        "POST",
        uri,
        &[("content-type", "application/json")],
        call.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let wrong = headers(&signed("msg-1", now, "{}"), &timestamp);
    assert_eq!(
        send(&app, "POST", uri, &refs(&wrong), call.clone()).await.0,
        StatusCode::UNAUTHORIZED
    );
    let old = (now - 3600).to_string();
    let stale = headers(&signed("msg-1", now - 3600, &call), &old);
    assert_eq!(
        send(&app, "POST", uri, &refs(&stale), call.clone()).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert!(contacts(&app, &admin).await.is_empty());

    // Signed: the missed call from an unknown number is a lead; the PBX retrying the
    // same call is logged once.
    let right = headers(&good, &timestamp);
    let (status, _, outcome) = send(&app, "POST", uri, &refs(&right), call.clone()).await;
    assert_eq!(status, StatusCode::OK, "{outcome}");
    assert_eq!(contacts(&app, &admin).await.len(), 1);
    let (status, _, again) = send(&app, "POST", uri, &refs(&right), call).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(contacts(&app, &admin).await.len(), 1);
}

#[tokio::test]
async fn a_raw_email_uploaded_with_an_admins_key_is_received() {
    let (_file, app, admin) = shop("email").await;
    let message = "From: Petra Schulz <petra@example.de>\r\nTo: sales@shop.example\r\nSubject: Three windows\r\n\
                   Date: Sat, 05 Dec 2026 09:00:00 +0100\r\nMessage-ID: <m1@example.de>\r\n\r\nPlease send an offer.\r\n";
    let (status, _, outcome) = send(
        &app,
        "POST",
        "/v1/intake/email",
        &[
            ("authorization", &format!("Bearer {admin}")),
            ("content-type", "message/rfc822"),
        ],
        message,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{outcome}");
    let made = contacts(&app, &admin).await;
    assert_eq!(made[0]["emails"][0], "petra@example.de", "{made:?}");
    // A manager's key may not feed the intake.
    let (_, _, key) = send(
        &app,
        "POST",
        "/v1/keys",
        &[("authorization", &format!("Bearer {admin}"))],
        json!({"user": "usr-1-2"}).to_string(),
    )
    .await;
    let manager = key["key"].as_str().unwrap();
    let (status, _, _) = send(
        &app,
        "POST",
        "/v1/intake/email",
        &[("authorization", &format!("Bearer {manager}"))],
        message,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
