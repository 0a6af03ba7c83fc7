//! Reports as JSON, CSV and SVG; exports as CSV and XLSX; imports as background jobs
//! (checked first, all or nothing), seen only by who started them and admins.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::Router;
use chrono::{DateTime, Utc};
use crm_server::{router, Hub, Tenant, TenantOptions};
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

async fn send(
    app: &Router,
    method: &str,
    uri: &str,
    key: &str,
    body: impl Into<Body>,
) -> (StatusCode, HeaderMap, Vec<u8>) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header("authorization", format!("Bearer {key}"))
        .body(body.into())
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    (
        status,
        headers,
        response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
}

fn json_of(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap_or(Value::Null)
}

/// The shop: a pipeline, two deals (one won), the admin's and a manager's keys.
async fn shop(name: &str) -> (Files, Router, String, String) {
    let file =
        Files(std::env::temp_dir().join(format!("crm-files-{name}-{}.sqlite", std::process::id())));
    let options = TenantOptions {
        clock: Some(Arc::new(|| {
            "2026-12-05T09:00:00Z".parse::<DateTime<Utc>>().unwrap()
        })),
        ..TenantOptions::default()
    };
    let opened = Tenant::open(&file.0, options).unwrap();
    let admin = opened.first_admin_key.unwrap();
    let app = router(Hub::single(opened.tenant).unwrap());
    let batch = json!({"commands": [
        {"type": "create_user", "name": "Anton", "role": "manager"},
        {"type": "create_pipeline", "name": "Windows", "stages": [{"name": "New"}, {"name": "Won", "kind": "won"}]},
        {"type": "create_contact", "name": "Anna Schmidt", "owner": {"$ref": 0}},
        {"type": "create_deal", "title": "Order 1", "contact": {"$ref": 2}, "owner": {"$ref": 0},
         "amount": {"amount": "1200.50", "currency": "EUR"}},
        {"type": "create_deal", "title": "Order 2", "contact": {"$ref": 2}, "owner": {"$ref": 0}},
    ]});
    let (status, _, body) = send(&app, "POST", "/v1/commands", &admin, batch.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let made = json_of(&body);
    let won = made["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"]["type"] == "pipeline_created")
        .map(|e| e["event"]["pipeline"]["stages"][1]["id"].clone())
        .unwrap();
    let deal = made["created"][3].clone();
    let (status, _, body) = send(
        &app,
        "POST",
        "/v1/commands",
        &admin,
        json!({"type": "move_deal", "id": deal, "stage": won}).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let (_, _, key) = send(
        &app,
        "POST",
        "/v1/keys",
        &admin,
        json!({"user": made["created"][0]}).to_string(),
    )
    .await;
    let manager = json_of(&key)["key"].as_str().unwrap().to_string();
    (file, app, admin, manager)
}

#[tokio::test]
async fn a_report_comes_as_json_csv_or_svg_and_a_list_as_csv_or_xlsx() {
    let (_file, app, admin, _) = shop("reports").await;
    let (status, _, body) = send(
        &app,
        "GET",
        "/v1/reports/win_rate?from=2026-12-01&to=2026-12-31",
        &admin,
        "",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let report = json_of(&body);
    assert_eq!(report["report"], "win_rate");
    let rows = report["rows"].as_array().unwrap().len();
    assert!(rows >= 1, "{report}");

    let (status, headers, body) = send(
        &app,
        "GET",
        "/v1/reports/win_rate?from=2026-12-01&to=2026-12-31&format=csv",
        &admin,
        "",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "text/csv; charset=utf-8");
    assert!(headers["content-disposition"]
        .to_str()
        .unwrap()
        .contains("win_rate.csv"));
    let csv = String::from_utf8(body).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines.len(),
        rows + 1,
        "a header and one line per row:\n{csv}"
    );
    assert!(lines[0].contains("owner"), "{csv}");
    assert!(!lines[0].contains("report"), "{csv}");

    let (status, headers, body) =
        send(&app, "GET", "/v1/reports/win_rate?format=svg", &admin, "").await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    assert_eq!(headers["content-type"], "image/svg+xml");
    assert!(String::from_utf8(body).unwrap().contains("<svg"));

    for uri in ["/v1/reports/win_rate?format=pdf", "/v1/reports/horoscope"] {
        let (status, headers, body) = send(&app, "GET", uri, &admin, "").await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "{uri}: {}",
            String::from_utf8_lossy(&body)
        );
        assert_eq!(headers["content-type"], "application/problem+json");
    }

    let (status, headers, body) = send(&app, "GET", "/v1/exports/contacts", &admin, "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "text/csv; charset=utf-8");
    assert!(String::from_utf8(body).unwrap().contains("Anna Schmidt"));
    let (status, headers, body) =
        send(&app, "GET", "/v1/exports/deals?format=xlsx", &admin, "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        headers["content-type"],
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    );
    assert_eq!(&body[..2], b"PK", "an XLSX is a zip");
}

/// Polls a job until it is no longer running (bounded: 10 s).
async fn finished(app: &Router, key: &str, location: &str) -> Value {
    for _ in 0..100 {
        let (status, _, body) = send(app, "GET", location, key, "").await;
        assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
        let job = json_of(&body);
        if !matches!(job["status"].as_str(), Some("checking" | "importing")) {
            return job;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the import at {location} did not finish");
}

#[tokio::test]
async fn an_import_is_a_job_checked_first_and_all_or_nothing() {
    let (_file, app, admin, manager) = shop("imports").await;
    let good = json!({"kind": "companies", "mapping": {"Name": "name"}, "csv": "Name\nGlas GmbH\nHolz AG\n"}).to_string();
    let companies = |app: &Router, admin: &str| {
        let (app, admin) = (app.clone(), admin.to_string());
        async move {
            let (_, _, body) = send(&app, "GET", "/v1/companies", &admin, "").await;
            json_of(&body)["items"].as_array().unwrap().len()
        }
    };

    // A dry run: checked, nothing imported.
    let (status, headers, body) = send(
        &app,
        "POST",
        "/v1/imports?dry_run=true",
        &admin,
        good.clone(),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::ACCEPTED,
        "{}",
        String::from_utf8_lossy(&body)
    );
    let location = headers["location"].to_str().unwrap().to_string();
    let job = finished(&app, &admin, &location).await;
    assert_eq!(job["status"], "checked", "{job}");
    assert_eq!(
        (&job["check"]["rows"], &job["check"]["records"]),
        (&json!(2), &json!(2))
    );
    assert_eq!(companies(&app, &admin).await, 0);

    // The import itself.
    let (_, headers, _) = send(&app, "POST", "/v1/imports", &admin, good).await;
    let job = finished(&app, &admin, headers["location"].to_str().unwrap()).await;
    assert_eq!(job["status"], "done", "{job}");
    assert!(
        job["outcome"]["events_stored"].as_u64().unwrap() >= 2,
        "{job}"
    );
    assert_eq!(companies(&app, &admin).await, 2);

    // A file with a bad row: refused whole, the check saying which row.
    let bad = json!({"kind": "companies", "mapping": {"Name": "name", "Phone": "phone"},
                     "csv": "Name,Phone\nStein KG,+49 30 1234567\nNoPhone GmbH,12\n"})
    .to_string();
    let (_, headers, _) = send(&app, "POST", "/v1/imports", &admin, bad).await;
    let location = headers["location"].to_str().unwrap().to_string();
    let job = finished(&app, &admin, &location).await;
    assert_eq!(job["status"], "failed", "{job}");
    assert!(
        !job["check"]["problems"].as_array().unwrap().is_empty(),
        "{job}"
    );
    assert_eq!(companies(&app, &admin).await, 2, "nothing of the bad file");

    // Another user's job is an admin's business only; a body that is not JSON is 400.
    let (status, _, _) = send(&app, "GET", &location, &manager, "").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = send(&app, "GET", "/v1/imports/999", &admin, "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = send(&app, "POST", "/v1/imports", &admin, "Name\nx\n").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}
