//! `crm-server --data shop.sqlite` or `crm-server --config crm-server.toml`
//! (docs/server.md).

use std::path::PathBuf;
use std::sync::Arc;

use crm_server::{router, with_web, Config, DemoClock, Hub, Storage, Tenant, TenantOptions};

const USAGE: &str = "usage: crm-server (--data FILE.sqlite | --postgres URL | --config FILE.toml) \
                     [--postgres URL] [--listen ADDRESS:PORT] [--web FOLDER] [--demo-clock]";

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

/// The configuration the arguments name.
fn config() -> Result<Option<Config>, String> {
    let (mut data, mut file, mut listen, mut postgres, mut web) = (None, None, None, None, None);
    let mut demo_clock = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--data" => data = Some(PathBuf::from(args.next().ok_or(USAGE)?)),
            "--config" => file = Some(PathBuf::from(args.next().ok_or(USAGE)?)),
            "--listen" => listen = Some(args.next().ok_or(USAGE)?),
            "--postgres" => postgres = Some(args.next().ok_or(USAGE)?),
            "--web" => web = Some(PathBuf::from(args.next().ok_or(USAGE)?)),
            "--demo-clock" => demo_clock = true,
            "--help" | "-h" => {
                println!("{USAGE}");
                return Ok(None);
            }
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    let mut config = match (data, file, postgres.clone()) {
        (Some(data), None, None) => Config::single(Some(data), None),
        (None, None, Some(url)) => Config::single(None, Some(url)),
        (None, Some(file), _) => Config::read(&file)?,
        _ => return Err(USAGE.into()),
    };
    if let Some(url) = postgres {
        config.postgres = Some(url);
        for tenant in config.tenants.values_mut() {
            tenant.data = None;
        }
    }
    if let Some(listen) = listen {
        config.listen = listen;
    }
    if web.is_some() {
        config.web = web;
    }
    config.demo_clock |= demo_clock;
    Ok(Some(config))
}

async fn serve() -> Result<(), String> {
    let Some(config) = config()? else {
        return Ok(());
    };
    let demo_clock = config.demo_clock.then(DemoClock::new);
    let mut hub = match &demo_clock {
        Some(clock) => {
            tracing::warn!("demo clock: signed-in users may move this server's time forward");
            Hub::with_demo_clock(Arc::clone(clock))
        }
        None => Hub::new(),
    };
    for (name, settings) in &config.tenants {
        let options = TenantOptions {
            crm: settings.options.clone(),
            clock: demo_clock.as_ref().map(DemoClock::clock),
            rate_limit: settings.rate_limit.map(Into::into),
            delivery: settings.delivery.clone(),
            intake: settings.intake.clone(),
        };
        let storage = config
            .storage(name)
            .ok_or_else(|| format!("{name}: no data file and no postgres"))?;
        let shown = match &storage {
            Storage::Sqlite(path) => path.display().to_string(),
            Storage::Postgres { .. } => "postgres".to_string(),
        };
        // Opening blocks (SQLite, PostgreSQL's synchronous client): off the async threads.
        let opened = tokio::task::spawn_blocking(move || Tenant::open(storage, options))
            .await
            .map_err(|err| err.to_string())?
            .map_err(|err| format!("{name} ({shown}): {err}"))?;
        if let Some(key) = &opened.first_admin_key {
            // Shown once: only its digest is stored.
            println!("first admin API key of {name} (shown once, keep it): {key}");
        }
        let tenant = hub
            .add(name, opened.tenant)
            .map_err(|err| err.to_string())?;
        tokio::spawn(Arc::clone(&tenant).keep_time());
        tokio::spawn(tenant.deliver());
    }
    let hub = Arc::new(hub);
    if let Some(url) = &config.postgres {
        // Appends through other app servers wake this one's timekeepers and deliverers.
        tokio::spawn(crm_server::listen(url.clone(), Arc::clone(&hub)));
    }
    let app = match &config.web {
        Some(folder) => with_web(router(hub), folder),
        None => router(hub),
    };
    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .map_err(|err| format!("cannot listen on {}: {err}", config.listen))?;
    let names: Vec<&String> = config.tenants.keys().collect();
    tracing::info!(listen = %config.listen, tenants = ?names, "serving");
    // The peer's address reaches the handlers (a web form's rate limit is per address).
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
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
