//! Several crm-server processes on one PostgreSQL database (docs/server.md): they agree
//! on every business, a key made on one works on the other, concurrent writers through
//! both leave one gap-free journal, and `kill -9` of a server in the middle of its
//! appends loses no acknowledged command and leaves no torn batch.
//!
//! Against the PostgreSQL the test command started (`CRM_POSTGRES_URL`), or else
//! `scripts/postgres start`. Each test uses its own business name.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

fn database() -> String {
    if let Ok(url) = std::env::var("CRM_POSTGRES_URL") {
        return url;
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/postgres");
    let started = Command::new(script).arg("start").output().unwrap();
    assert!(
        started.status.success(),
        "no PostgreSQL: {}",
        String::from_utf8_lossy(&started.stderr)
    );
    String::from_utf8(started.stdout)
        .unwrap()
        .trim()
        .to_string()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A business of its own in the shared database, emptied first. (On a thread of its
/// own: PostgreSQL's synchronous client runs a runtime of its own.)
fn business(url: &str, name: &str) -> String {
    let name = format!("{name}_{}", std::process::id());
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let mut client = postgres::Client::connect(url, postgres::NoTls).unwrap();
                for table in ["crm_events", "crm_snapshots", "crm_heads", "crm_api_keys"] {
                    // Before the first server made the tables there is nothing to empty.
                    let _ =
                        client.execute(&format!("DELETE FROM {table} WHERE tenant = $1"), &[&name]);
                }
            })
            .join()
            .unwrap();
    });
    name
}

/// A crm-server on `port` serving `tenant` from `url`; its first admin key if it made
/// the business.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start(url: &str, tenant: &str, folder: &std::path::Path) -> (Server, Option<String>) {
        Server::start_with(url, tenant, folder, "")
    }

    /// With more settings for the business (`[tenants.<name>]` lines).
    fn start_with(
        url: &str,
        tenant: &str,
        folder: &std::path::Path,
        settings: &str,
    ) -> (Server, Option<String>) {
        let port = free_port();
        let config = folder.join(format!("server-{port}.toml"));
        std::fs::write(
            &config,
            format!("listen = \"127.0.0.1:{port}\"\npostgres = \"{url}\"\n[tenants.{tenant}]\n{settings}"),
        )
        .unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_crm-server"))
            .arg("--config")
            .arg(&config)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(key) = line.split(": ").nth(1).filter(|_| line.contains("API key")) {
                    let _ = sender.send(key.to_string());
                }
            }
        });
        let server = Server { child, port };
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return (
                    server,
                    receiver.recv_timeout(Duration::from_millis(300)).ok(),
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the server on {port} did not start");
    }

    /// Where it serves: `http://127.0.0.1:<port>`.
    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `kill -9`: no goodbye, no flush.
    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn send(
    client: &reqwest::Client,
    server: &str,
    method: reqwest::Method,
    path: &str,
    key: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = client
        .request(method, format!("{server}{path}"))
        .bearer_auth(key);
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    match request.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            let text = response.text().await.unwrap_or_default();
            (status, serde_json::from_str(&text).unwrap_or(Value::Null))
        }
        Err(err) => (0, Value::String(err.to_string())),
    }
}

async fn command(client: &reqwest::Client, server: &str, key: &str, body: Value) -> (u16, Value) {
    send(
        client,
        server,
        reqwest::Method::POST,
        "/v1/commands",
        key,
        Some(body),
    )
    .await
}

/// Every event of the business, through `server`'s change feed.
async fn feed(client: &reqwest::Client, server: &str, key: &str) -> Vec<Value> {
    let (mut events, mut after) = (Vec::new(), 0);
    loop {
        let path = format!("/v1/events?after={after}&limit=5000");
        let (status, page) = send(client, server, reqwest::Method::GET, &path, key, None).await;
        assert_eq!(status, 200, "{page}");
        events.extend(page["events"].as_array().unwrap().iter().cloned());
        after = page["next"].as_u64().unwrap();
        if page["more"] != Value::Bool(true) {
            return events;
        }
    }
}

fn assert_gap_free(events: &[Value]) {
    for (index, event) in events.iter().enumerate() {
        assert_eq!(event["seq"], index as u64 + 1, "a gap before {event}");
    }
}

/// The names of the contacts created, each with how many times.
fn created_names(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["event"]["type"] == "contact_created")
        .map(|e| {
            e["event"]["contact"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_app_servers_on_one_database_agree_and_share_keys() {
    let url = database();
    let tenant = business(&url, "two_servers");
    let folder = std::env::temp_dir();
    let (first, admin) = Server::start(&url, &tenant, &folder);
    let admin = admin.expect("the first server makes the business and its admin's key");
    let (second, none) = Server::start(&url, &tenant, &folder);
    assert_eq!(none, None, "the second server finds the business made");
    let client = reqwest::Client::new();

    // A user and their key made through the first server work on the second.
    let (status, made) = command(
        &client,
        &first.base(),
        &admin,
        json!({"type": "create_user", "name": "Anton", "role": "manager"}),
    )
    .await;
    assert_eq!(status, 200, "{made}");
    let (status, key) = send(
        &client,
        &first.base(),
        reqwest::Method::POST,
        "/v1/keys",
        &admin,
        Some(json!({"user": made["created"]})),
    )
    .await;
    assert_eq!(status, 201, "{key}");
    let anton = key["key"].as_str().unwrap().to_string();
    let (status, page) = send(
        &client,
        &second.base(),
        reqwest::Method::GET,
        "/v1/contacts",
        &anton,
        None,
    )
    .await;
    assert_eq!(status, 200, "{page}");
    for command_body in [
        json!({"type": "create_pipeline", "name": "Windows", "stages": [{"name": "New"}]}),
        json!({"type": "define_rules", "rules": [{"key": "call", "when": {"type": "record_created", "record": "contact"},
            "then": [{"type": "create_task", "title": "Call {{ contact.name }}", "kind": "call", "due_in": "15m"}]}]}),
    ] {
        let (status, outcome) = command(&client, &second.base(), &admin, command_body).await;
        assert_eq!(status, 200, "{outcome}");
    }

    // Eight writers, half through each server, at once.
    let writers = 8;
    let per_writer = 15;
    let mut tasks = Vec::new();
    for writer in 0..writers {
        let (client, anton) = (client.clone(), anton.clone());
        let server = if writer % 2 == 0 {
            first.base()
        } else {
            second.base()
        };
        tasks.push(tokio::spawn(async move {
            for number in 0..per_writer {
                let name = format!("W{writer}C{number}");
                let (status, outcome) = command(
                    &client,
                    &server,
                    &anton,
                    json!({"type": "create_contact", "name": name}),
                )
                .await;
                assert_eq!(status, 200, "{name}: {outcome}");
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let through_first = feed(&client, &first.base(), &admin).await;
    let through_second = feed(&client, &second.base(), &admin).await;
    assert_eq!(
        through_first, through_second,
        "both servers answer with one journal"
    );
    assert_gap_free(&through_first);
    let names = created_names(&through_first);
    assert_eq!(
        names.len(),
        writers * per_writer,
        "every command stored once"
    );
    assert_eq!(names.iter().collect::<BTreeSet<_>>().len(), names.len());
    // Every contact's rule reaction is in its batch, right after it.
    for (index, event) in through_first.iter().enumerate() {
        if event["event"]["type"] == "contact_created" {
            let batch: Vec<&Value> = through_first[index..].iter().take(3).collect();
            assert!(
                batch.iter().any(|e| e["event"]["type"] == "task_created"),
                "{batch:?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_mid_append_loses_no_acknowledged_command_and_tears_no_batch() {
    let url = database();
    let tenant = business(&url, "kill_nine");
    let folder = std::env::temp_dir();
    let (victim, admin) = Server::start(&url, &tenant, &folder);
    let admin = admin.unwrap();
    let client = reqwest::Client::new();
    for command_body in [
        json!({"type": "create_pipeline", "name": "Windows", "stages": [{"name": "New"}]}),
        json!({"type": "define_rules", "rules": [{"key": "call", "when": {"type": "record_created", "record": "contact"},
            "then": [{"type": "create_task", "title": "Call {{ contact.name }}", "kind": "call", "due_in": "15m"}]}]}),
    ] {
        assert_eq!(
            command(&client, &victim.base(), &admin, command_body)
                .await
                .0,
            200
        );
    }
    // Four clients write as fast as they can; the server is killed under them.
    let server = victim.base();
    let mut writers = Vec::new();
    for writer in 0..4 {
        let (client, admin, server) = (client.clone(), admin.clone(), server.clone());
        writers.push(tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            for number in 0..10_000 {
                let name = format!("K{writer}N{number}");
                let body = json!({"type": "create_contact", "name": name, "owner": "usr-1-1"});
                match command(&client, &server, &admin, body).await {
                    (200, _) => acknowledged.push(name),
                    _ => break,
                }
            }
            acknowledged
        }));
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    victim.kill();
    let mut acknowledged = Vec::new();
    for writer in writers {
        acknowledged.extend(writer.await.unwrap());
    }
    assert!(
        acknowledged.len() > 10,
        "the server was killed mid-stream, after {} writes",
        acknowledged.len()
    );

    // Another server on the same database: everything acknowledged is there, once,
    // and every stored contact has its rule's task (no torn batch).
    let (survivor, _) = Server::start(&url, &tenant, &folder);
    let events = feed(&client, &survivor.base(), &admin).await;
    assert_gap_free(&events);
    let names = created_names(&events);
    let stored: BTreeSet<&String> = names.iter().collect();
    assert_eq!(stored.len(), names.len(), "nothing stored twice");
    for name in &acknowledged {
        assert!(stored.contains(name), "{name} was acknowledged but is lost");
    }
    let tasks = events
        .iter()
        .filter(|e| e["event"]["type"] == "task_created")
        .count();
    assert_eq!(tasks, names.len(), "each contact's batch holds its task");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_effect_queued_through_one_server_is_delivered_at_once_by_the_other() {
    // A webhook receiver on loopback, counting what arrives.
    let arrived = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = std::sync::Arc::clone(&arrived);
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move || {
            let counter = std::sync::Arc::clone(&counter);
            async move {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let url = database();
    let tenant = business(&url, "wake_up");
    let folder = std::env::temp_dir();
    let delivery = "[tenants.TENANT.delivery]\nwebhooks = { secret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\" }\n"
        .replace("TENANT", &tenant);
    // The first server takes the delivery lock; the second only takes requests.
    let (deliverer, admin) = Server::start_with(&url, &tenant, &folder, &delivery);
    let admin = admin.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (front, _) = Server::start_with(&url, &tenant, &folder, &delivery);
    let client = reqwest::Client::new();
    let rule = json!({"type": "define_rules", "rules": [{"key": "hook", "when": {"type": "record_created", "record": "contact"},
        "then": [{"type": "webhook", "url": hook}]}]});
    assert_eq!(command(&client, &front.base(), &admin, rule).await.0, 200);
    // Let the deliverer settle into its long sleep (a minute) with nothing to do.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let started = std::time::Instant::now();
    let contact = json!({"type": "create_contact", "name": "Anna", "owner": "usr-1-1"});
    assert_eq!(
        command(&client, &front.base(), &admin, contact).await.0,
        200
    );
    while arrived.load(std::sync::atomic::Ordering::SeqCst) == 0
        && started.elapsed() < Duration::from_secs(20)
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let took = started.elapsed();
    assert_eq!(
        arrived.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "delivered once"
    );
    // Woken by the journal's notification, not by its minute-long sleep running out.
    assert!(took < Duration::from_secs(10), "delivered after {took:?}");
    drop((deliverer, front));
}
