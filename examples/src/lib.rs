//! Shared wiring of the example servers: the environment contract of
//! `shared/DESIGN.md` ([`mod@env`]) turned into [`Endpoints`], and the bodies
//! of `/public`, `/me` and the login page.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod env;
mod origin_only;

pub use origin_only::{OriginOnly, OriginOnlyService};

use std::net::SocketAddr;

use env::EnvConfig;
use tokengate::api::Endpoints;

/// What the example apps need from the environment.
#[derive(Debug)]
pub struct ExampleConfig {
    /// `TOKENGATE_LISTEN`, default `127.0.0.1:8080`.
    pub listen: SocketAddr,
    /// The configured gate with its HTTP settings.
    pub endpoints: Endpoints,
    /// The event log the gate's changes go to (a webhook, or
    /// `TOKENGATE_EVENTS=1`).
    pub events: Option<std::sync::Arc<dyn tokengate_events::EventLog>>,
    /// The dispatcher of the webhook configured by `TOKENGATE_WEBHOOK_URL`
    /// (none without one); delivery stops when it is dropped.
    pub webhooks: Option<tokengate_events::webhooks::DispatcherHandle>,
}

/// Reads the environment and builds the endpoints. Errors name the variable.
pub async fn from_env() -> Result<ExampleConfig, String> {
    let config = EnvConfig::from_env().map_err(|e| e.to_string())?;
    if config.api_key_generated {
        // Printed once, on stdout, by design of the example contract: the
        // operator needs it to call the API-key routes.
        println!("TOKENGATE_API_KEY (generated): {}", config.api_key.expose());
    }
    let built = config.build().await.map_err(|e| e.to_string())?;
    let webhooks = config
        .start_webhooks(built.events.as_ref())
        .map_err(|e| e.to_string())?;
    Ok(ExampleConfig {
        listen: config.listen,
        endpoints: built.endpoints,
        events: built.events,
        webhooks,
    })
}

/// Starts logging and reads the configuration; exits with status 2 and a
/// message naming the variable when it is invalid.
pub async fn start() -> ExampleConfig {
    init_tracing();
    match from_env().await {
        Ok(config) => config,
        Err(message) => {
            eprintln!("configuration error: {message}");
            std::process::exit(2);
        }
    }
}

/// Logs to stderr, `RUST_LOG` or `info`.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// The `/me` body: who the session belongs to.
pub fn me_json(session: &tokengate::Session) -> serde_json::Value {
    serde_json::json!({
        "userId": session.user_id.as_str(),
        "sessionId": session.id,
        "provider": session.provider(),
    })
}

/// The login page served at `/`: plain HTML and JavaScript, no build step,
/// no CDN; logs in by email code or magic link with the same-origin cookie.
pub const LOGIN_PAGE: &str = include_str!("../static/login.html");

/// The origins whose pages may call the app's own routes with
/// credentials: the same list as the mounted routes'
/// (`TOKENGATE_ALLOWED_ORIGINS`), so a web app on another origin can read
/// `/me` too. The mounted routes answer their own CORS; the app's routes are
/// the app's business (`tower-http`'s `CorsLayer`, `actix-cors`).
pub fn app_cors_origins(endpoints: &Endpoints) -> &[String] {
    endpoints.allowed_origins()
}

/// The request headers a page may send to the app's own routes: the
/// session's (`X-Appwrite-Session`, and `X-Fallback-Cookies` where the
/// browser blocks the cookie) and `Content-Type`.
pub const APP_CORS_HEADERS: [&str; 3] = ["content-type", "x-appwrite-session", "x-fallback-cookies"];

/// Serves `app` (an axum router) on `listen` with the peer address known
/// to the layer (per-client limits need it) until Ctrl-C; exits with status
/// 1 when the address cannot be bound or the server fails.
pub async fn serve_axum(app: axum::Router, listen: SocketAddr, name: &str) {
    let listener = match tokio::net::TcpListener::bind(listen).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("cannot bind {listen}: {error}");
            std::process::exit(1);
        }
    };
    tracing::info!("{name} listening on http://{listen}");
    let service = app.into_make_service_with_connect_info::<SocketAddr>();
    if let Err(error) = axum::serve(listener, service)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
    {
        eprintln!("server error: {error}");
        std::process::exit(1);
    }
}

/// The `/public` body.
pub fn public_json() -> serde_json::Value {
    serde_json::json!({ "status": "ok" })
}

/// The Rust blocks of the project's README.md, compiled (and run, unless
/// marked `no_run`) as doctests against the current API.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ProjectReadmeDoctests;

/// The Rust blocks of the project's docs/*.md, one page each, compiled and
/// run the same way.
#[cfg(doctest)]
#[doc = include_str!("../../docs/benchmarks.md")]
pub struct DocsBenchmarksDoctests;
#[cfg(doctest)]
#[doc = include_str!("../../docs/claims.md")]
pub struct DocsClaimsDoctests;
#[cfg(doctest)]
#[doc = include_str!("../../docs/clients.md")]
pub struct DocsClientsDoctests;
#[cfg(doctest)]
#[doc = include_str!("../../docs/configuration.md")]
pub struct DocsConfigurationDoctests;
#[cfg(doctest)]
#[doc = include_str!("../../docs/deployment.md")]
pub struct DocsDeploymentDoctests;
#[cfg(doctest)]
#[doc = include_str!("../../docs/events.md")]
pub struct DocsEventsDoctests;
#[cfg(doctest)]
#[doc = include_str!("../../docs/observability.md")]
pub struct DocsObservabilityDoctests;
#[cfg(doctest)]
#[doc = include_str!("../../docs/upgrading.md")]
pub struct DocsUpgradingDoctests;
