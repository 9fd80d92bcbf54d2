//! Turning the parsed environment into [`Endpoints`]: the gate (store,
//! cache, delivery) and its HTTP settings.

use std::sync::Arc;

use tokengate::api::{ApiConfig, Endpoints};
use tokengate::store::{MemoryStore, RedisRevocations, RedisStore, RedisStoreConfig};
use tokengate::{Gate, GateBuilder, ServerSecret};
use tokengate_events::{EventLog, LogSink, RedisEventLog};

use super::{error, EnvConfig, EnvError};

/// What the environment builds: the endpoints, and the event log when one
/// is configured (a webhook, or `TOKENGATE_EVENTS=1`).
#[derive(Debug)]
#[non_exhaustive]
pub struct Built {
    /// The gate with its HTTP settings.
    pub endpoints: Endpoints,
    /// The event log the gate's changes go to.
    pub events: Option<Arc<dyn EventLog>>,
}

impl EnvConfig {
    /// Connects the store, the event log and the delivery channels, builds
    /// the [`Gate`] and mounts it with the HTTP settings.
    pub async fn build(&self) -> Result<Built, EnvError> {
        let (gate, events) = self.build_gate().await?;
        let endpoints =
            Endpoints::with_config(gate, self.api_config()?).map_err(|e| error("TOKENGATE_*", e.to_string()))?;
        Ok(Built { endpoints, events })
    }

    /// The HTTP settings: API key, cookie, origins, proxies, GeoIP database.
    pub fn api_config(&self) -> Result<ApiConfig, EnvError> {
        let mut config = ApiConfig::default()
            .api_key(self.api_key.expose())
            .secure_cookies(!self.insecure_cookies)
            .same_site(self.same_site)
            .cookie_host_prefix(self.cookie_host_prefix)
            .allowed_origins(self.allowed_origins.clone())
            .trusted_proxies(self.trusted_proxies.clone())
            .forwarded_rfc7239(self.forwarded_rfc7239);
        if let Some(domain) = &self.cookie_domain {
            config = config.cookie_domain(domain.clone());
        }
        if let Some(path) = &self.geoip_database {
            config = config
                .geoip_database(path)
                .map_err(|e| error("TOKENGATE_GEOIP_DB", e.to_string()))?;
        }
        Ok(config)
    }

    /// Connects the store, the event log and the delivery channels and
    /// builds the [`Gate`].
    pub async fn build_gate(&self) -> Result<(Gate, Option<Arc<dyn EventLog>>), EnvError> {
        let secret = self.secret.clone().unwrap_or_else(|| {
            tracing::warn!(
                "TOKENGATE_SECRET is not set: using a random server secret; sessions end with this process and cannot be shared"
            );
            ServerSecret::random()
        });
        if self.development {
            tracing::warn!(
                "DEVELOPMENT MODE ({}): login codes and links without a mailer or SMS sender are written to the log; \
                 not for production (set REDIS_URL, TOKENGATE_SMTP_URL and TOKENGATE_SMS_WEBHOOK, and leave TOKENGATE_DEV unset)",
                if self.redis_url.is_none() && self.cluster_nodes.is_empty() {
                    "embedded in-memory store"
                } else {
                    "TOKENGATE_DEV=1"
                }
            );
        }
        let event_log = self.event_log(&secret).await?;
        let builder = Gate::builder()
            .server_key(secret)
            .project(self.project.clone())
            .public_url(self.public_url.clone())
            .redirect_hosts(self.redirect_hosts.clone())
            .redirect_schemes(self.redirect_schemes.clone())
            .client_chosen_ids(self.client_chosen_ids)
            .development_mode(self.development);
        let standalone_log = event_log.as_ref().and_then(|(_, standalone)| standalone.as_ref());
        let builder = self.limits.apply(builder);
        let builder = self.with_store(builder, standalone_log).await?;
        let builder = self.with_cache(builder).await?;
        let builder = self.with_delivery(builder)?;
        let (builder, log) = match event_log {
            // The standalone store writes the events itself; elsewhere the
            // gate announces them to a sink appending to the log.
            Some((log, Some(_))) => (builder, Some(log)),
            Some((log, None)) => (builder.event_sink(LogSink::new(log.clone())), Some(log)),
            None => (builder, None),
        };
        let gate = builder.build().map_err(|e| error("TOKENGATE_*", e.to_string()))?;
        Ok((gate, log))
    }

    /// The store; on a standalone Redis with events on (`events`: the log
    /// on that Redis) it writes each change's events in the same script.
    async fn with_store(&self, builder: GateBuilder, events: Option<&RedisEventLog>) -> Result<GateBuilder, EnvError> {
        let config = self.redis_config();
        if !self.cluster_nodes.is_empty() {
            let store = RedisStore::connect_cluster(&self.cluster_nodes, config)
                .await
                .map_err(|e| error("REDIS_CLUSTER_NODES", e.to_string()))?;
            tracing::info!(nodes = self.cluster_nodes.len(), "using Redis Cluster");
            return Ok(builder.store(store));
        }
        if let Some(url) = &self.redis_url {
            let store = RedisStore::connect(url, config)
                .await
                .map_err(|e| error("REDIS_URL", e.to_string()))?;
            tracing::info!(store_writes_events = events.is_some(), "using Redis");
            return Ok(match events {
                Some(log) => builder.store_writing_events(
                    store
                        .with_events(log.stream())
                        .map_err(|e| error("REDIS_URL", e.to_string()))?,
                ),
                None => builder.store(store),
            });
        }
        tracing::info!("REDIS_URL is not set: using the embedded in-memory store");
        Ok(builder.store(MemoryStore::new()))
    }

    /// The Redis settings: key prefix and response timeout.
    pub(super) fn redis_config(&self) -> RedisStoreConfig {
        let config = RedisStoreConfig::default().prefix(self.prefix.clone());
        match self.redis_timeout {
            Some(timeout) => config.response_timeout(timeout),
            None => config,
        }
    }

    async fn with_cache(&self, builder: GateBuilder) -> Result<GateBuilder, EnvError> {
        let Some(ttl) = self.session_cache else {
            return Ok(builder);
        };
        // On a cluster any one node will do: PUBLISH reaches every node.
        let url = self
            .cluster_nodes
            .first()
            .or(self.redis_url.as_ref())
            .cloned()
            .unwrap_or_default();
        let channel = RedisRevocations::connect(&url, &self.redis_config())
            .await
            .map_err(|e| error("TOKENGATE_SESSION_CACHE_MS", e.to_string()))?;
        tracing::info!(ttl_ms = ttl.as_millis() as u64, "local session cache on");
        Ok(builder.session_cache(ttl, channel))
    }

    fn with_delivery(&self, builder: GateBuilder) -> Result<GateBuilder, EnvError> {
        let builder = match &self.smtp_url {
            Some(url) => match &self.smtp_root_ca {
                None => builder.mailer(
                    tokengate::delivery::smtp_mailer(url, &self.mail_from)
                        .map_err(|e| error("TOKENGATE_SMTP_URL", e.to_string()))?,
                ),
                Some(pem) => builder.mailer(
                    tokengate::delivery::smtp_mailer_with_root_ca(url, &self.mail_from, pem.as_bytes())
                        .map_err(|e| error("TOKENGATE_SMTP_CA_FILE", e.to_string()))?,
                ),
            },
            None if self.development => {
                tracing::warn!("TOKENGATE_SMTP_URL is not set: emails (with their codes) are written to the log");
                builder
            }
            None => {
                tracing::warn!("TOKENGATE_SMTP_URL is not set: the email routes answer 503 general_smtp_disabled");
                builder
            }
        };
        let builder = match &self.sms_webhook {
            Some(url) => builder.sms_sender(
                tokengate::delivery::sms_webhook(url, tokengate::delivery::DEFAULT_WEBHOOK_TIMEOUT)
                    .map_err(|e| error("TOKENGATE_SMS_WEBHOOK", e.to_string()))?,
            ),
            None if self.development => {
                tracing::warn!("TOKENGATE_SMS_WEBHOOK is not set: SMS (with their codes) are written to the log");
                builder
            }
            None => {
                tracing::warn!("TOKENGATE_SMS_WEBHOOK is not set: the phone route answers 503 general_phone_disabled");
                builder
            }
        };
        Ok(builder)
    }
}
