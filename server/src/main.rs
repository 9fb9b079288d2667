//! The `server` binary: read config, open and migrate the database, serve.

use std::time::Duration;

use anyhow::Context as _;
use server::config::{Config, redact_url};
use server::outbound::db::{self, SeaOrmSessionStore};
use tower_sessions::ExpiredDeletion as _;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // A missing .env is normal; a malformed one is worth knowing about.
    if let Err(e) = dotenvy::dotenv()
        && !e.not_found()
    {
        eprintln!("warning: ignoring .env: {e}");
    }
    let config = Config::from_env().context("reading configuration")?;
    server::telemetry::init(config.log_json);
    tracing::info!(?config, "starting EXITON");

    let leptos = leptos::config::get_configuration(None).context("reading Leptos configuration")?;
    let addr = leptos.leptos_options.site_addr;

    let db = db::connect(&config.database_url)
        .await
        .with_context(|| format!("opening {}", redact_url(&config.database_url)))?;
    let changes = db::record_model_lock(
        &db,
        &config.models,
        &config.deploy_user,
        config.deploy_reason.as_deref(),
        chrono::Utc::now(),
    )
    .await
    .context("recording the model version lock")?;
    if !changes.is_empty() {
        tracing::info!(by = %config.deploy_user, ?changes, "model versions locked");
    }

    // Expired sessions are already refused on load; this only reclaims space.
    let store = SeaOrmSessionStore::new(db.clone());
    tokio::spawn(async move {
        let mut every_hour = tokio::time::interval(Duration::from_secs(3600));
        loop {
            every_hour.tick().await;
            if let Err(e) = store.delete_expired().await {
                tracing::warn!(error = %e, "could not delete expired sessions");
            }
        }
    });

    // Live updates: this instance's sockets, fed by the event bus below;
    // the conductor streams agents' output to it while someone watches.
    let live = server::inbound::live::LiveHub::new(db.clone());
    let services = server::startup::services_with(&db, &config, Some(live.clone()))?;
    // Sessions a stopped server left `executing` are failed, and their token
    // reservations returned, once no run could still be alive; reviews past
    // their time expire.
    let conductor = services.conductor.clone();
    let reviews = services.reviews.clone();
    tokio::spawn(async move {
        let mut every_minute = tokio::time::interval(Duration::from_secs(60));
        loop {
            every_minute.tick().await;
            match conductor.fail_abandoned(chrono::Utc::now()).await {
                Ok(0) => {}
                Ok(n) => tracing::warn!(sessions = n, "failed sessions interrupted by a restart"),
                Err(e) => tracing::warn!(error = %e, "could not check for abandoned sessions"),
            }
            // Reviews nobody decided in time expire, whoever looks or not.
            match reviews.expire_overdue(chrono::Utc::now()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(reviews = n, "expired reviews nobody decided in time"),
                Err(e) => tracing::warn!(error = %e, "could not expire overdue reviews"),
            }
        }
    });

    // The event bus, fed from the event table by the outbox relay.
    let bus = server::startup::event_bus(&config).await?;
    let relay = server::startup::spawn_relay(&db, &bus);
    live.follow(bus.subscriber.clone());
    // A cancel recorded on another instance stops this one's run at once.
    server::runner::follow_cancels(services.runner.clone(), live.subscribe().0);
    // Reactions to events (the notification inbox, ...), off the same bus.
    let reactions = server::startup::spawn_reactions(&db, &bus, &config)?;

    let runner = services.runner.clone();
    let router = server::startup::router_with(services, db, &config, leptos.leptos_options, live);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    let url = config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"));
    tracing::info!(%url, "EXITON is listening");
    println!("EXITON is up: open {url}");
    server::serve::run(listener, router, &config.net, shutdown()).await;
    // Runs left playing get their grace, then are recorded as interrupted
    // (before the relay stops, so their events still go out).
    let halted = runner.shutdown(config.shutdown_grace).await;
    if halted > 0 {
        tracing::warn!(runs = halted, "runs interrupted by the shutdown");
    }
    // Reactions first: whatever they are handling stays pending on the bus
    // and is handed over again, so stopping them loses nothing.
    reactions.stop().await;
    relay.stop().await;
    Ok(())
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
    tokio::time::sleep(Duration::from_millis(10)).await;
}
