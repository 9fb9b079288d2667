//! Wiring: adapters → use cases → one axum router carrying the Leptos app,
//! its server functions and the REST API, under shared layers (request id,
//! tracing, sessions, CSRF).

use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use axum::http::{HeaderName, Request};
use domain::Services;
use domain::accounts::{AccountService, SignInThrottle, ThrottlePolicy};
use domain::api_keys::ApiKeyService;
use domain::band::{Band, BreakerSettings, Resilience, RetryPolicy};
use domain::budgets::BudgetService;
use domain::projects::ProjectService;
use domain::sessions::Conductor;
use domain::tasks::TaskService;
use leptos::config::LeptosOptions;
use leptos::prelude::{provide_context, use_context};
use leptos_axum::{AxumRouteListing, LeptosRoutes, generate_route_list};
use sea_orm::DatabaseConnection;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};

use crate::config::{Config, redact_url};
use crate::inbound::api;
use crate::inbound::csrf::{self, CsrfPolicy};
use crate::inbound::live::LiveHub;
use crate::inbound::reactions::{ReactionSettings, ReactionsHandle};
use crate::inbound::security_headers::{self, CspNonce, SecurityPolicy};
use crate::inbound::{body_limit, client_addr, request_context, static_files};
use crate::outbound::ai;
use crate::outbound::bus::{EventBus, Relay, RelayHandle, RelaySettings};
use crate::outbound::db::{
    SeaOrmApiKeyRepository, SeaOrmBudgetLedger, SeaOrmNotificationRepository,
    SeaOrmProjectRepository, SeaOrmReactionLog, SeaOrmRepoLinkStore, SeaOrmReviewStore,
    SeaOrmSessionHistory, SeaOrmSessionRepository, SeaOrmSessionStore, SeaOrmTaskRepository,
    SeaOrmUserRepository,
};
use crate::outbound::hashing::Argon2Hasher;
use crate::outbound::random::OsSecretGenerator;
use crate::state::AppState;

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "exiton_session";

/// Builds the use cases over the sea-orm adapters.
///
/// # Errors
/// When the argon2 parameters in `config` are out of range.
pub fn services(db: &DatabaseConnection, config: &Config) -> anyhow::Result<Services> {
    services_with(db, config, None)
}

/// [`services`], with agents' token deltas going to `live` while someone
/// watches.
///
/// # Errors
/// As [`services`].
pub fn services_with(
    db: &DatabaseConnection,
    config: &Config,
    live: Option<Arc<dyn domain::sessions::LiveTap>>,
) -> anyhow::Result<Services> {
    let projects = Arc::new(SeaOrmProjectRepository::new(db.clone()));
    let tasks = Arc::new(SeaOrmTaskRepository::new(db.clone()));
    let hasher = Argon2Hasher::new(
        config.argon2_memory_kib,
        config.argon2_iterations,
        config.net.max_concurrent_hashes,
    )
    .map_err(|e| anyhow::anyhow!("EXITON_ARGON2_* parameters out of range: {e}"))?;
    let band = band(config)?;
    let accounts = AccountService::new(
        Arc::new(SeaOrmUserRepository::new(db.clone())),
        Arc::new(hasher),
        Arc::new(SignInThrottle::new(ThrottlePolicy {
            sign_ups_per_client: config.net.sign_ups_per_hour,
            ..ThrottlePolicy::default()
        })),
    );
    let budgets = BudgetService::new(Arc::new(SeaOrmBudgetLedger::new(db.clone())));
    let api_keys = ApiKeyService::new(
        Arc::new(SeaOrmApiKeyRepository::new(db.clone())),
        Arc::new(OsSecretGenerator),
    );
    let project_service = ProjectService::new(projects.clone());
    let secrets: Arc<dyn domain::repos::SecretBox> = match &config.secret_key {
        Some(key) => Arc::new(crate::outbound::secrets::KeyBox::from_secret(key)),
        None => Arc::new(crate::outbound::secrets::KeyBox::from_key_file(
            &config.data_dir,
        )),
    };
    let repos = domain::repos::RepositoryService::new(
        projects.clone(),
        Arc::new(SeaOrmRepoLinkStore::new(db.clone())),
        Arc::new(crate::outbound::git::LibGitHost),
        secrets,
        domain::repos::RepoSettings {
            roots: config.repo_roots.clone(),
            home: config.data_dir.join("repos"),
        },
    );
    let task_service = TaskService::new(projects, tasks);
    let conductor = Conductor {
        sessions: Arc::new(SeaOrmSessionRepository::new(db.clone())),
        reviews: Arc::new(SeaOrmReviewStore::new(db.clone())),
        accounts: accounts.clone(),
        projects: project_service.clone(),
        tasks: task_service.clone(),
        budgets: budgets.clone(),
        band: band.clone(),
        sleeper: Arc::new(ai::TokioSleeper),
        live,
        settings: config.conductor.clone(),
        code: Some(repos.clone()),
    };
    let history = domain::sessions::HistoryService::new(
        Arc::new(SeaOrmSessionHistory::new(db.clone())),
        project_service.clone(),
        task_service.clone(),
    );
    let runner = Arc::new(crate::runner::TokioRunner::new(conductor.clone()));
    let inbox = domain::notifications::InboxService::new(Arc::new(
        SeaOrmNotificationRepository::new(db.clone()),
    ));
    let reactions =
        domain::events::ReactionService::new(Arc::new(SeaOrmReactionLog::new(db.clone())));
    let reviews = domain::reviews::ReviewService::new(conductor.clone());
    Ok(Services {
        history,
        reviews,
        runner,
        api_keys,
        band,
        accounts,
        budgets,
        conductor,
        projects: project_service,
        repos,
        tasks: task_service,
        inbox,
        reactions,
    })
}

/// The configured providers behind one resilience layer, with the model
/// versions locked in `config`.
///
/// # Errors
/// When the HTTP client cannot be built.
pub fn band(config: &Config) -> anyhow::Result<Band> {
    let client =
        ai::http_client().map_err(|e| anyhow::anyhow!("building the AI HTTP client: {e}"))?;
    let resilience = Resilience::new(
        RetryPolicy::default(),
        BreakerSettings::default(),
        Arc::new(ai::TokioSleeper),
        Arc::new(rand::random::<f64>),
    );
    let mut providers = ai::providers(&config.ai, &client);
    if let Some(local) = local_provider(config)? {
        // Last: the chains try it after every remote provider.
        providers.push(local);
    }
    Ok(Band::new(
        providers,
        config.models.clone(),
        Arc::new(resilience),
    ))
}

/// The built-in local model, when its file is there. An explicitly chosen
/// file that is missing is a configuration error; the default one may just
/// not be installed yet (the set-up scripts fetch it).
///
/// # Errors
/// When `EXITON_LOCAL_MODEL` names a file that does not exist.
fn local_provider(config: &Config) -> anyhow::Result<Option<Arc<dyn domain::band::AiProvider>>> {
    let Some(model) = &config.local_model.model else {
        return Ok(None);
    };
    if !model.path.is_file() {
        if config.local_model.explicit {
            anyhow::bail!(
                "EXITON_LOCAL_MODEL is {}, which is not a file",
                model.path.display()
            );
        }
        tracing::info!(
            path = %model.path.display(),
            "the built-in local model is not installed (scripts/fetch-model installs it)"
        );
        return Ok(None);
    }
    Ok(Some(Arc::new(ai::local::LocalProvider::new(model.clone()))))
}

/// The UI's routes, generated once per process. While leptos generates
/// them it suppresses resource loading process-wide, and a resource first
/// polled in that window stays pending for good (leptos-rs/leptos#4773): a
/// second router built while the first serves pages — every test builds
/// one — could leave one of its pages hanging.
fn ui_routes() -> Vec<AxumRouteListing> {
    static ROUTES: std::sync::OnceLock<Vec<AxumRouteListing>> = std::sync::OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(app::App)).clone()
}

/// What every page render gets: the use cases, and the CSP nonce the
/// security-headers layer minted for this response (in place of the one
/// leptos_axum generates, which no header would name).
fn page_context(services: Services) -> impl Fn() + Clone + Send + 'static {
    move || {
        provide_context(services.clone());
        let nonce = use_context::<http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<CspNonce>().cloned());
        if let Some(CspNonce(nonce)) = nonce {
            provide_context(leptos::nonce::Nonce::from_value(nonce));
        }
    }
}

/// `cargo leptos watch`'s reload socket, which the page's CSP must allow
/// while developing (cargo-leptos sets `LEPTOS_WATCH` then).
fn reload_socket(options: &LeptosOptions) -> Option<String> {
    std::env::var_os("LEPTOS_WATCH")?;
    Some(format!(
        "ws://{}:{}",
        options.site_addr.ip(),
        options.reload_port
    ))
}

/// The whole application router over built services (tests keep a handle
/// on them; the binary also runs background jobs with them).
pub fn router_with(
    services: Services,
    db: DatabaseConnection,
    config: &Config,
    leptos_options: LeptosOptions,
    live: Arc<LiveHub>,
) -> Router {
    let state = AppState {
        services: services.clone(),
        db: db.clone(),
        live,
    };

    let routes = ui_routes();
    let ui = Router::new()
        .leptos_routes_with_context(&leptos_options, routes, page_context(services.clone()), {
            let options = leptos_options.clone();
            move || app::shell(options.clone())
        })
        .fallback(leptos_axum::file_and_error_handler_with_context(
            page_context(services.clone()),
            app::shell,
        ))
        .with_state(leptos_options.clone())
        .layer(axum::middleware::from_fn_with_state(
            config.max_body_bytes,
            body_limit::guard,
        ));

    let hub = state.live.clone();
    let store =
        SeaOrmSessionStore::new(db).on_delete(Arc::new(move |id: &str| hub.session_ended(id)));
    let sessions = SessionManagerLayer::new(store)
        .with_name(SESSION_COOKIE)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(config.secure_cookies())
        .with_expiry(Expiry::OnInactivity(time::Duration::days(
            config.session_days,
        )));
    let csrf_policy = Arc::new(CsrfPolicy {
        extra_origins: config.public_url.iter().cloned().collect(),
    });
    let request_id = request_context::REQUEST_ID;
    let security = Arc::new(SecurityPolicy {
        https: config.secure_cookies(),
        reload_socket: reload_socket(&leptos_options),
    });

    // Pages, server functions and the REST API must start answering in
    // time; the static bundle streams from disk and is left alone.
    let timed = api::router(state, config.max_body_bytes).merge(ui).layer(
        axum::middleware::from_fn_with_state(
            config.net.request_timeout,
            crate::serve::request_timeout,
        ),
    );
    static_files::bundle(&leptos_options)
        .merge(timed)
        .layer(static_files::compression())
        .layer(axum::middleware::from_fn_with_state(
            csrf_policy,
            csrf::guard,
        ))
        .layer(axum::middleware::from_fn_with_state(
            security,
            security_headers::guard,
        ))
        .layer(axum::middleware::from_fn(request_context::scope))
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(config.net.trusted_proxies.clone()),
            client_addr::resolve,
        ))
        .layer(sessions)
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
                let header = |name: &HeaderName| {
                    req.headers()
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-")
                        .to_owned()
                };
                tracing::info_span!(
                    "request",
                    method = %req.method(),
                    path = %req.uri().path(),
                    request_id = %header(&request_context::REQUEST_ID),
                    client_request_id = %header(&request_context::CLIENT_REQUEST_ID),
                )
            }),
        )
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .layer(axum::middleware::from_fn(request_context::own_ids))
}

/// The event bus the configuration asks for: Redis Streams (keys under
/// `EXITON_REDIS_PREFIX`, `exiton:` by default) when `REDIS_URL` is set,
/// else the in-process bus.
///
/// # Errors
/// When Redis cannot be reached or its consumer groups cannot be created.
pub async fn event_bus(config: &Config) -> anyhow::Result<EventBus> {
    match &config.redis_url {
        Some(url) => EventBus::redis(url, &config.redis_prefix, config.bus.clone())
            .await
            .with_context(|| format!("connecting to Redis at {}", redact_url(url))),
        None => Ok(EventBus::in_process(config.bus.clone())),
    }
}

/// Starts the outbox relay that publishes committed events to `bus`.
pub fn spawn_relay(db: &DatabaseConnection, bus: &EventBus) -> RelayHandle {
    Relay::new(
        db.clone(),
        bus.publisher.clone(),
        RelaySettings::new(bus.cursor.clone()),
    )
    .spawn()
}

/// Every reaction to events the application runs (issue 17): the one place
/// they are registered. Each reads through a consumer group of its own.
///
/// # Errors
/// When two reactions share a name.
pub fn reactions(db: &DatabaseConnection) -> anyhow::Result<domain::events::Reactions> {
    let inbox = domain::notifications::InboxReaction::new(Arc::new(
        SeaOrmNotificationRepository::new(db.clone()),
    ));
    let progress = domain::progress::TaskProgressReaction::new(
        Arc::new(SeaOrmSessionRepository::new(db.clone())),
        Arc::new(SeaOrmTaskRepository::new(db.clone())),
    );
    Ok(domain::events::Reactions::new()
        .register(Arc::new(inbox))?
        .register(Arc::new(progress))?)
}

/// Starts the registered reactions as consumers of `bus`, named after this
/// instance.
///
/// # Errors
/// As [`reactions`].
pub fn spawn_reactions(
    db: &DatabaseConnection,
    bus: &EventBus,
    config: &Config,
) -> anyhow::Result<ReactionsHandle> {
    Ok(crate::inbound::reactions::spawn(
        &reactions(db)?,
        bus.subscriber.clone(),
        Arc::new(SeaOrmReactionLog::new(db.clone())),
        ReactionSettings::new(config.instance_id.clone()),
    ))
}
