//! Revocations of the local session cache over Redis pub/sub, connected
//! the way the store connects (the same client, TLS roots included).

use crate::model::UserId;
use crate::store::cache::{RevocationChannel, SessionCache};
use crate::store::StoreError;
use async_trait::async_trait;
use futures_util::StreamExt;
use redis::aio::ConnectionManager;
use std::time::Duration;

/// Revocations over Redis pub/sub on channel `<prefix>:revocations`.
/// On a cluster, connect it to any one node: `PUBLISH` reaches every node.
#[derive(Clone)]
pub struct RedisRevocations {
    client: redis::Client,
    publisher: ConnectionManager,
    channel: String,
    timeout: Duration,
}

impl std::fmt::Debug for RedisRevocations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisRevocations")
            .field("channel", &self.channel)
            .finish_non_exhaustive()
    }
}

impl RedisRevocations {
    /// A channel on the Redis at `url` (on a cluster: any one node) for the
    /// store configured with `config` (its prefix names the channel, its
    /// TLS roots are trusted).
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), tokengate::StoreError> {
    /// use tokengate::store::{RedisRevocations, RedisStoreConfig};
    /// let config = RedisStoreConfig::default().prefix("tg");
    /// let channel = RedisRevocations::connect("redis://127.0.0.1:6379", &config).await?;
    /// # let _ = channel; Ok(()) }
    /// ```
    pub async fn connect(url: &str, config: &super::RedisStoreConfig) -> Result<Self, StoreError> {
        let client = super::connect::client(url, config)?;
        let prefix = &config.prefix;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_response_timeout(Some(Duration::from_millis(500)))
            .set_connection_timeout(Some(Duration::from_secs(1)));
        let publisher = ConnectionManager::new_lazy_with_config(client.clone(), config)
            .map_err(|e| StoreError::new(format!("redis: {e}")))?;
        Ok(RedisRevocations {
            client,
            publisher,
            channel: format!("{prefix}:revocations"),
            timeout: Duration::from_millis(500),
        })
    }
}

#[async_trait]
impl RevocationChannel for RedisRevocations {
    async fn publish(&self, user: &UserId) -> Result<(), StoreError> {
        let mut connection = self.publisher.clone();
        let mut command = redis::cmd("PUBLISH");
        command.arg(&self.channel).arg(user.as_str());
        match tokio::time::timeout(self.timeout, command.query_async::<i64>(&mut connection)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(StoreError::new(format!("redis publish: {e}"))),
            Err(_) => Err(StoreError::new("redis publish timed out")),
        }
    }

    fn start(&self, cache: SessionCache) {
        let client = self.client.clone();
        let channel = self.channel.clone();
        tokio::spawn(async move {
            loop {
                if let Ok(mut pubsub) = client.get_async_pubsub().await
                    && pubsub.subscribe(&channel).await.is_ok()
                {
                    cache.set_live(true);
                    tracing::debug!(%channel, "session cache: revocation channel up");
                    let mut messages = pubsub.on_message();
                    while let Some(message) = messages.next().await {
                        if let Some(user) = message
                            .get_payload::<String>()
                            .ok()
                            .and_then(|u| UserId::parse(&u).ok())
                        {
                            cache.revoke_user(&user);
                        }
                    }
                }
                if cache.is_live() {
                    tracing::warn!(%channel, "session cache: revocation channel down; cache bypassed");
                }
                cache.set_live(false);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
    }
}
