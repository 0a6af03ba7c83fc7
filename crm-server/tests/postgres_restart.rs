//! PostgreSQL restarted under load (docs/server.md): while it is down requests fail
//! with a clear `503` (`storage`, `Retry-After`), afterwards they succeed again without
//! restarting the app server, and nothing acknowledged is lost.
//!
//! This file restarts the test command's PostgreSQL (`scripts/postgres`), so it holds
//! one test, and cargo runs test files one after another.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/postgres");

fn postgres(action: &str) -> String {
    let done = Command::new(SCRIPT).arg(action).output().unwrap();
    assert!(
        done.status.success(),
        "scripts/postgres {action}: {}",
        String::from_utf8_lossy(&done.stderr)
    );
    String::from_utf8(done.stdout).unwrap().trim().to_string()
}

/// Contacts written one after another, and what became of each.
struct Load {
    client: reqwest::Client,
    base: String,
    key: String,
    acknowledged: Vec<String>,
    /// Status, `Retry-After` and body of each refused write.
    refused: Vec<(u16, Option<String>, Value)>,
    number: u32,
}

impl Load {
    async fn write_for(&mut self, until: Duration) {
        let started = Instant::now();
        while started.elapsed() < until {
            self.number += 1;
            let name = format!("R{}", self.number);
            let body =
                json!({"type": "create_contact", "name": name, "owner": "usr-1-1"}).to_string();
            let response = self
                .client
                .post(format!("{}/v1/commands", self.base))
                .bearer_auth(&self.key)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_string());
            let body: Value =
                serde_json::from_str(&response.text().await.unwrap()).unwrap_or(Value::Null);
            if status == 200 {
                self.acknowledged.push(name);
            } else {
                self.refused.push((status, retry_after, body));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_restart_is_a_503_then_recovery_and_nothing_acknowledged_is_lost() {
    let url = postgres("start");
    let tenant = format!("restart_{}", std::process::id());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = std::env::temp_dir().join(format!("crm-restart-{port}.toml"));
    std::fs::write(
        &config,
        format!("listen = \"127.0.0.1:{port}\"\npostgres = \"{url}\"\n[tenants.{tenant}]\n"),
    )
    .unwrap();
    let mut server = Command::new(env!("CARGO_BIN_EXE_crm-server"))
        .arg("--config")
        .arg(&config)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
    let key = loop {
        let line = lines
            .next()
            .expect("the server prints its first admin key")
            .unwrap();
        if let Some(key) = line.split(": ").nth(1).filter(|_| line.contains("API key")) {
            break key.to_string();
        }
    };
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let mut load = Load {
        client: client.clone(),
        base: base.clone(),
        key: key.clone(),
        acknowledged: Vec::new(),
        refused: Vec::new(),
        number: 0,
    };

    // Writes before, during and after the restart, one after another.
    load.write_for(Duration::from_millis(500)).await;
    let before = load.acknowledged.len();
    assert!(before > 0 && load.refused.is_empty(), "{:?}", load.refused);
    tokio::task::spawn_blocking(|| postgres("stop"))
        .await
        .unwrap();
    load.write_for(Duration::from_millis(700)).await;
    assert!(
        !load.refused.is_empty(),
        "requests fail while the database is down"
    );
    for (status, retry_after, problem) in &load.refused {
        assert_eq!(*status, 503, "{problem}");
        assert_eq!(problem["code"], "storage", "{problem}");
        assert_eq!(retry_after.as_deref(), Some("1"));
    }
    let failed = load.refused.len();
    tokio::task::spawn_blocking(|| postgres("start"))
        .await
        .unwrap();
    // Recovers by itself: bounded, 10 s.
    let deadline = Instant::now() + Duration::from_secs(10);
    let during = load.acknowledged.len();
    while load.acknowledged.len() < during + 20 && Instant::now() < deadline {
        load.write_for(Duration::from_millis(100)).await;
    }
    assert!(
        load.acknowledged.len() >= during + 20,
        "no recovery: {:?}",
        load.refused.last()
    );
    let acknowledged = load.acknowledged;

    // Everything acknowledged is stored, once.
    let mut names = Vec::new();
    let mut after = 0;
    loop {
        let page: Value = client
            .get(format!("{base}/v1/events?after={after}&limit=5000"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .map(|text| serde_json::from_str(&text).unwrap_or(Value::Null))
            .unwrap();
        for event in page["events"].as_array().unwrap() {
            if event["event"]["type"] == "contact_created" {
                names.push(
                    event["event"]["contact"]["name"]
                        .as_str()
                        .unwrap()
                        .to_string(),
                );
            }
        }
        after = page["next"].as_u64().unwrap();
        if page["more"] != Value::Bool(true) {
            break;
        }
    }
    let stored: BTreeSet<&String> = names.iter().collect();
    assert_eq!(stored.len(), names.len(), "nothing stored twice");
    for name in &acknowledged {
        assert!(stored.contains(name), "{name} was acknowledged but is lost");
    }
    eprintln!(
        "{before} before, {failed} refused while down, {} acknowledged in all",
        acknowledged.len()
    );
    let _ = server.kill();
    let _ = server.wait();
}
