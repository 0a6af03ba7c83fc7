//! `crm-server --data shop.sqlite [--listen 127.0.0.1:8080]` (docs/server.md).

use std::sync::Arc;

use crm_server::{router, Tenant, TenantOptions};

const USAGE: &str = "usage: crm-server --data FILE.sqlite [--listen ADDRESS:PORT]";

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt().with_target(false).init();
    match serve().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("crm-server: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn serve() -> Result<(), String> {
    let mut data = None;
    let mut listen = "127.0.0.1:8080".to_string();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--data" => data = args.next(),
            "--listen" => listen = args.next().ok_or(USAGE)?,
            "--help" | "-h" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    let data = data.ok_or(USAGE)?;
    let opened = Tenant::open(&data, TenantOptions::default()).map_err(|err| err.to_string())?;
    if let Some(key) = &opened.first_admin_key {
        // Shown once: only its digest is stored.
        println!("first admin API key (shown once, keep it): {key}");
    }
    let tenant = Arc::new(opened.tenant);
    tokio::spawn(Arc::clone(&tenant).keep_time());
    let app = router(tenant);
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .map_err(|err| format!("cannot listen on {listen}: {err}"))?;
    tracing::info!(%listen, data = %data, "serving");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown())
        .await
        .map_err(|err| err.to_string())
}

/// Ctrl-C or SIGTERM: finish the requests in flight, then stop.
async fn shutdown() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
