//! Shared wiring of the example servers: the environment contract of
//! `shared/DESIGN.md`, read once, turned into a [`Gate`].
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::net::SocketAddr;

use tokengate::delivery::{SmtpMailer, WebhookSms, DEFAULT_WEBHOOK_TIMEOUT};
use tokengate::store::{MemoryStore, RedisStore, RedisStoreConfig};
use tokengate::{Gate, Secret, ServerSecret};

/// Everything the example apps read from the environment.
#[derive(Debug)]
pub struct ExampleConfig {
    /// `TOKENGATE_LISTEN`, default `127.0.0.1:8080`.
    pub listen: SocketAddr,
    /// The configured gate.
    pub gate: Gate,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// Reads the environment and builds the gate. Errors name the variable.
pub async fn from_env() -> Result<ExampleConfig, String> {
    let listen = env("TOKENGATE_LISTEN").unwrap_or_else(|| "127.0.0.1:8080".to_owned());
    let listen: SocketAddr = listen
        .parse()
        .map_err(|_| format!("TOKENGATE_LISTEN: not a socket address: {listen:?}"))?;

    let secret = match env("TOKENGATE_SECRET") {
        Some(hex) => {
            if hex.len() < 64 {
                return Err("TOKENGATE_SECRET: must be at least 64 hex characters".to_owned());
            }
            ServerSecret::from_hex(&hex).map_err(|e| format!("TOKENGATE_SECRET: {e}"))?
        }
        None => {
            tracing::warn!(
                "TOKENGATE_SECRET is not set: using a random server secret; sessions end with this process and cannot be shared"
            );
            ServerSecret::random()
        }
    };

    let project = env("TOKENGATE_PROJECT").unwrap_or_else(|| "default".to_owned());
    let api_key = match env("TOKENGATE_API_KEY") {
        Some(key) => Secret::new(key),
        None => {
            let key = tokengate::secret::random_hex(48);
            // Printed once, on stdout, by design of the example contract: the
            // operator needs it to call the API-key routes.
            println!("TOKENGATE_API_KEY (generated): {}", key.expose());
            key
        }
    };

    let public_url = env("TOKENGATE_PUBLIC_URL").unwrap_or_else(|| "http://127.0.0.1:8080".to_owned());
    let redirect_hosts: Vec<String> = env("TOKENGATE_REDIRECT_HOSTS")
        .map(|hosts| {
            hosts
                .split(',')
                .map(|h| h.trim().to_owned())
                .filter(|h| !h.is_empty())
                .collect()
        })
        .unwrap_or_default();

    let prefix = env("TOKENGATE_PREFIX").unwrap_or_else(|| "tg".to_owned());
    let store_config = RedisStoreConfig::default().prefix(prefix);
    let builder = Gate::builder()
        .server_key(secret)
        .project(project)
        .api_key(api_key.expose())
        .secure_cookies(env("TOKENGATE_INSECURE_COOKIES").as_deref() != Some("1"))
        .public_url(public_url)
        .redirect_hosts(redirect_hosts);
    let builder = match env("TOKENGATE_SMTP_URL") {
        Some(url) => {
            let from = env("TOKENGATE_MAIL_FROM").unwrap_or_else(|| "tokengate <no-reply@tokengate.local>".to_owned());
            let mailer = SmtpMailer::from_url(&url, &from).map_err(|e| format!("TOKENGATE_SMTP_URL: {e}"))?;
            builder.mailer(mailer)
        }
        None => {
            tracing::warn!("TOKENGATE_SMTP_URL is not set: emails (with their codes) are written to the log");
            builder
        }
    };
    let builder = match env("TOKENGATE_SMS_WEBHOOK") {
        Some(url) => {
            let sms =
                WebhookSms::new(&url, DEFAULT_WEBHOOK_TIMEOUT).map_err(|e| format!("TOKENGATE_SMS_WEBHOOK: {e}"))?;
            builder.sms_sender(sms)
        }
        None => {
            tracing::warn!("TOKENGATE_SMS_WEBHOOK is not set: SMS (with their codes) are written to the log");
            builder
        }
    };
    let builder = if let Some(nodes) = env("REDIS_CLUSTER_NODES") {
        let nodes: Vec<&str> = nodes.split(',').map(str::trim).filter(|n| !n.is_empty()).collect();
        let store = RedisStore::connect_cluster(&nodes, store_config)
            .await
            .map_err(|e| format!("REDIS_CLUSTER_NODES: {e}"))?;
        tracing::info!(nodes = nodes.len(), "using Redis Cluster");
        builder.store(store)
    } else if let Some(url) = env("REDIS_URL") {
        let store = RedisStore::connect(&url, store_config)
            .await
            .map_err(|e| format!("REDIS_URL: {e}"))?;
        tracing::info!("using Redis");
        builder.store(store)
    } else {
        tracing::info!("REDIS_URL is not set: using the embedded in-memory store");
        builder.store(MemoryStore::new())
    };
    let gate = builder.build().map_err(|e| match e {
        tokengate::Error::Config(message) if message.contains("public URL") || message.contains("redirect host") => {
            format!("TOKENGATE_PUBLIC_URL / TOKENGATE_REDIRECT_HOSTS: {message}")
        }
        other => other.to_string(),
    })?;
    Ok(ExampleConfig { listen, gate })
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

/// The `/public` body.
pub fn public_json() -> serde_json::Value {
    serde_json::json!({ "status": "ok" })
}
