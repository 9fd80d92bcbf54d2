//! Connecting: standalone (`redis://`, `rediss://`) and cluster seeds,
//! with TLS roots when configured.

use super::{store_error, RedisStore, RedisStoreConfig, LAYOUT_VERSION};
use crate::store::StoreError;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::time::Duration;

impl RedisStore<ConnectionManager> {
    /// Connects to a standalone Redis (`redis://` or, with feature
    /// `redis-tls`, `rediss://`; see [`RedisStoreConfig::tls_root_ca`]).
    /// The connection is made lazily and re-established by itself after an
    /// outage, so the app starts and recovers without Redis being up; while
    /// it is down every request fails fast (503), and the first requests
    /// after Redis is back reconnect.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), tokengate::StoreError> {
    /// use tokengate::store::{RedisStore, RedisStoreConfig};
    /// let store = RedisStore::connect("redis://127.0.0.1:6379", RedisStoreConfig::default()).await?;
    /// # let _ = store; Ok(()) }
    /// ```
    pub async fn connect(url: &str, config: RedisStoreConfig) -> Result<Self, StoreError> {
        config.validate()?;
        let client = client(url, &config)?;
        // One quick retry per reconnection attempt: while Redis is down a
        // failed attempt is a fast 503, and the next request starts another
        // attempt, so a restarted Redis is picked up by the next requests.
        // No response timeout of the manager's own: every request already
        // runs under the store's (`run`), which also bounds a reconnection
        // in progress; a second timer per request would only cost CPU.
        let manager_config = ConnectionManagerConfig::new()
            .set_response_timeout(None)
            .set_connection_timeout(Some(config.connection_timeout))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(250));
        let connection = ConnectionManager::new_lazy_with_config(client, manager_config).map_err(store_error)?;
        let store = Self::with_connection(connection, config);
        store.warm_up().await?;
        Ok(store)
    }
}

/// The client for `url` with the configured TLS roots: the one way the
/// store and its revocation channel connect to a standalone node.
pub(super) fn client(url: &str, config: &RedisStoreConfig) -> Result<redis::Client, StoreError> {
    match &config.tls_root_ca {
        None => {
            #[cfg(feature = "redis-tls")]
            install_crypto_provider();
            redis::Client::open(url).map_err(store_error)
        }
        Some(pem) => tls_client(url, pem),
    }
}

#[cfg(feature = "redis-tls")]
fn tls_client(url: &str, pem: &[u8]) -> Result<redis::Client, StoreError> {
    install_crypto_provider();
    redis::Client::build_with_tls(url, tls_certificates(pem)).map_err(store_error)
}

#[cfg(not(feature = "redis-tls"))]
fn tls_client(_url: &str, _pem: &[u8]) -> Result<redis::Client, StoreError> {
    Err(StoreError::new("a TLS root CA needs the `redis-tls` feature"))
}

#[cfg(feature = "redis-tls")]
fn cluster_tls(
    builder: redis::cluster::ClusterClientBuilder,
    pem: &[u8],
) -> Result<redis::cluster::ClusterClientBuilder, StoreError> {
    Ok(builder.certs(tls_certificates(pem)))
}

#[cfg(not(feature = "redis-tls"))]
fn cluster_tls(
    _builder: redis::cluster::ClusterClientBuilder,
    _pem: &[u8],
) -> Result<redis::cluster::ClusterClientBuilder, StoreError> {
    Err(StoreError::new("a TLS root CA needs the `redis-tls` feature"))
}

#[cfg(feature = "redis-tls")]
fn tls_certificates(pem: &[u8]) -> redis::TlsCertificates {
    redis::TlsCertificates {
        client_tls: None,
        root_cert: Some(pem.to_vec()),
    }
}

/// redis-rs builds its rustls configuration with the process-wide default
/// crypto provider; installs `ring` as that default unless the
/// application installed one already.
#[cfg(feature = "redis-tls")]
fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race against another installer is fine: one is there.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

impl RedisStore<redis::cluster_async::ClusterConnection> {
    /// Connects to a Redis Cluster through the given seed nodes (all
    /// `redis://`, or all `rediss://` with feature `redis-tls`).
    ///
    /// Unlike [`RedisStore::connect`], the cluster's topology is read here,
    /// so at least one seed must answer. Afterwards the client follows
    /// `MOVED`/`ASK` redirections, refreshes its slot map and reconnects to
    /// nodes by itself; retries are quick (10 to 100 ms apart) and stay
    /// within the response timeout, so a failover costs a few slow requests
    /// or 503s, not a restart.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), tokengate::StoreError> {
    /// use tokengate::store::{RedisStore, RedisStoreConfig};
    /// let nodes = ["redis://127.0.0.1:7000", "redis://127.0.0.1:7001"];
    /// let store = RedisStore::connect_cluster(&nodes, RedisStoreConfig::default()).await?;
    /// # let _ = store; Ok(()) }
    /// ```
    pub async fn connect_cluster(nodes: &[impl AsRef<str>], config: RedisStoreConfig) -> Result<Self, StoreError> {
        config.validate()?;
        let nodes: Vec<String> = nodes.iter().map(|n| n.as_ref().to_owned()).collect();
        let tls = nodes.iter().any(|n| n.starts_with("rediss://"));
        #[cfg(feature = "redis-tls")]
        install_crypto_provider();
        let builder = redis::cluster::ClusterClientBuilder::new(nodes)
            .response_timeout(config.budget())
            .overall_response_timeout(Some(config.budget()))
            .connection_timeout(config.connection_timeout)
            .retries(16)
            .min_retry_wait(10)
            .max_retry_wait(100);
        let builder = match &config.tls_root_ca {
            None => builder,
            Some(_) if !tls => return Err(StoreError::new("a TLS root CA needs `rediss://` cluster nodes")),
            Some(pem) => cluster_tls(builder, pem)?,
        };
        let client = builder.build().map_err(store_error)?;
        let connection = tokio::time::timeout(config.connection_timeout * 4, client.get_async_connection())
            .await
            .map_err(|_| StoreError::new("redis cluster: no seed node answered in time"))?
            .map_err(store_error)?;
        let store = Self::with_connection(connection, config);
        store.warm_up().await?;
        Ok(store)
    }
}

impl<C> RedisStore<C>
where
    C: redis::aio::ConnectionLike + Clone + Send + Sync + 'static,
{
    /// Opens the connection now, on the caller's runtime, rather than in
    /// the first request: its I/O task then lives where the store was made
    /// (for actix-web, the system thread) instead of on whichever worker
    /// happened to serve that request, where every other worker's Redis
    /// traffic would wait for it (measured: actix (b) 0.85 → 0.98 × (c)).
    /// A Redis that is down now is not an error: requests answer 503 until
    /// it is back.
    ///
    /// Its first command also checks the layout marker ([`Self::check_layout`]).
    async fn warm_up(&self) -> Result<(), StoreError> {
        match self.check_layout().await {
            Ok(layout) => layout,
            Err(error) => {
                tracing::warn!(%error, "redis is not reachable yet; requests that need it answer 503 until it is");
                Ok(())
            }
        }
    }

    /// The layout marker: written when the prefix has none, compared when
    /// it has one. `Ok(Err(..))`: another layout version is there (refuse
    /// to start); `Err(..)`: Redis did not answer.
    async fn check_layout(&self) -> Result<Result<(), StoreError>, StoreError> {
        let key = format!("{}:layout", self.prefix);
        let found: Option<String> = self
            .run_within(self.timeout.max(Duration::from_secs(1)), |mut c| async move {
                redis::cmd("SET")
                    .arg(&key)
                    .arg(LAYOUT_VERSION)
                    .arg("NX")
                    .arg("GET")
                    .query_async(&mut c)
                    .await
            })
            .await?;
        Ok(match found {
            Some(version) if version != LAYOUT_VERSION.to_string() => Err(StoreError::new(format!(
                "the Redis prefix {:?} holds key layout version {version}; this build reads and writes version \
                 {LAYOUT_VERSION}: stop every service on it and upgrade them all together (docs/upgrading.md)",
                self.prefix
            ))),
            _ => Ok(()),
        })
    }
}
