//! Turning the parsed environment into a [`Gate`]: store, cache, delivery.

use super::*;

impl EnvConfig {
    /// Connects the store and delivery channels and builds the [`Gate`].
    pub async fn build_gate(&self) -> Result<Gate, EnvError> {
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
        let mut builder = Gate::builder()
            .server_key(secret)
            .project(self.project.clone())
            .api_key(self.api_key.expose())
            .secure_cookies(!self.insecure_cookies)
            .same_site(self.same_site)
            .cookie_host_prefix(self.cookie_host_prefix)
            .public_url(self.public_url.clone())
            .redirect_hosts(self.redirect_hosts.clone())
            .allowed_origins(self.allowed_origins.clone())
            .trusted_proxies(self.trusted_proxies.clone())
            .client_chosen_ids(self.client_chosen_ids)
            .development_mode(self.development);
        if let Some(domain) = &self.cookie_domain {
            builder = builder.cookie_domain(domain.clone());
        }
        let builder = self.with_store(builder).await?;
        let builder = self.with_cache(builder).await?;
        let builder = self.with_delivery(builder)?;
        builder.build().map_err(|e| error("TOKENGATE_*", e.to_string()))
    }

    #[cfg(feature = "redis")]
    async fn with_store(&self, builder: GateBuilder) -> Result<GateBuilder, EnvError> {
        use crate::store::{RedisStore, RedisStoreConfig};
        let mut config = RedisStoreConfig::default().prefix(self.prefix.clone());
        if let Some(timeout) = self.redis_timeout {
            config = config.response_timeout(timeout);
        }
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
            tracing::info!("using Redis");
            return Ok(builder.store(store));
        }
        tracing::info!("REDIS_URL is not set: using the embedded in-memory store");
        Ok(builder.store(MemoryStore::new()))
    }

    #[cfg(feature = "redis")]
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
        let channel = crate::cache::RedisRevocations::connect(&url, &self.prefix)
            .await
            .map_err(|e| error("TOKENGATE_SESSION_CACHE_MS", e.to_string()))?;
        tracing::info!(ttl_ms = ttl.as_millis() as u64, "local session cache on");
        Ok(builder.session_cache(ttl, channel))
    }

    #[cfg(not(feature = "redis"))]
    async fn with_cache(&self, builder: GateBuilder) -> Result<GateBuilder, EnvError> {
        Ok(builder)
    }

    #[cfg(not(feature = "redis"))]
    async fn with_store(&self, builder: GateBuilder) -> Result<GateBuilder, EnvError> {
        if !self.cluster_nodes.is_empty() {
            return Err(error(
                "REDIS_CLUSTER_NODES",
                "tokengate was built without the `redis` feature",
            ));
        }
        if self.redis_url.is_some() {
            return Err(error("REDIS_URL", "tokengate was built without the `redis` feature"));
        }
        Ok(builder.store(MemoryStore::new()))
    }

    fn with_delivery(&self, builder: GateBuilder) -> Result<GateBuilder, EnvError> {
        let builder = match &self.smtp_url {
            #[cfg(feature = "smtp")]
            Some(url) => builder.mailer(match &self.smtp_root_ca {
                None => crate::delivery::SmtpMailer::from_url(url, &self.mail_from)
                    .map_err(|e| error("TOKENGATE_SMTP_URL", e.0))?,
                Some(pem) => crate::delivery::SmtpMailer::from_url_with_root_ca(url, &self.mail_from, pem.as_bytes())
                    .map_err(|e| error("TOKENGATE_SMTP_CA_FILE", e.0))?,
            }),
            #[cfg(not(feature = "smtp"))]
            Some(_) => {
                return Err(error(
                    "TOKENGATE_SMTP_URL",
                    "tokengate was built without the `smtp` feature",
                ))
            }
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
            #[cfg(feature = "sms-webhook")]
            Some(url) => builder.sms_sender(
                crate::delivery::WebhookSms::new(url, crate::delivery::DEFAULT_WEBHOOK_TIMEOUT)
                    .map_err(|e| error("TOKENGATE_SMS_WEBHOOK", e.0))?,
            ),
            #[cfg(not(feature = "sms-webhook"))]
            Some(_) => {
                return Err(error(
                    "TOKENGATE_SMS_WEBHOOK",
                    "tokengate was built without the `sms-webhook` feature",
                ))
            }
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
