//! [`RedisStoreConfig`]: key prefix, timeouts, TLS root, replica waits.

use crate::store::StoreError;
use std::time::Duration;

/// Connection settings for [`RedisStore`](super::RedisStore).
#[derive(Debug, Clone)]
pub struct RedisStoreConfig {
    /// Namespace of every key. Default `tg`. Must not contain `{` or `}`.
    pub(crate) prefix: String,
    /// How long to wait for a reply before answering 503. Default 500 ms.
    pub(crate) response_timeout: Duration,
    /// How long to wait for a (re)connection. Default 1 s.
    pub(crate) connection_timeout: Duration,
    /// PEM certificate(s) of the CA(s) to trust for `rediss://` instead of
    /// the built-in web PKI roots (feature `redis-tls`). Default none.
    pub(crate) tls_root_ca: Option<Vec<u8>>,
    /// `WAIT` for replicas after each exchange, session creation and
    /// logout. Default off.
    pub(crate) wait_for_replicas: Option<WaitForReplicas>,
}

/// How many replicas must acknowledge a session change, and how long to
/// wait for them (see [`RedisStoreConfig::wait_for_replicas`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WaitForReplicas {
    /// Replicas that must acknowledge.
    pub(crate) replicas: u32,
    /// Longest wait (at least 1 ms: `WAIT` with 0 would block forever).
    pub(crate) timeout: Duration,
}

impl Default for RedisStoreConfig {
    fn default() -> Self {
        RedisStoreConfig {
            prefix: "tg".to_owned(),
            response_timeout: Duration::from_millis(500),
            connection_timeout: Duration::from_secs(1),
            tls_root_ca: None,
            wait_for_replicas: None,
        }
    }
}

impl RedisStoreConfig {
    /// Sets the key prefix.
    ///
    /// ```
    /// let config = tokengate::store::RedisStoreConfig::default().prefix("myapp");
    /// assert!(format!("{config:?}").contains("\"myapp\""));
    /// ```
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Sets the response timeout.
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = tokengate::store::RedisStoreConfig::default()
    ///     .response_timeout(Duration::from_millis(200));
    /// assert!(format!("{config:?}").contains("response_timeout: 200ms"));
    /// ```
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// Sets the connection timeout.
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = tokengate::store::RedisStoreConfig::default()
    ///     .connection_timeout(Duration::from_secs(2));
    /// assert!(format!("{config:?}").contains("connection_timeout: 2s"));
    /// ```
    pub fn connection_timeout(mut self, timeout: Duration) -> Self {
        self.connection_timeout = timeout;
        self
    }

    /// Trusts this CA (PEM, one or more certificates) for `rediss://`
    /// connections, standalone and cluster, instead of the built-in web
    /// PKI roots. Needs feature `redis-tls`; the server's certificate must
    /// name the host (or IP address) the client connects to.
    ///
    /// ```
    /// let pem = b"-----BEGIN CERTIFICATE-----\n...".to_vec();
    /// let config = tokengate::store::RedisStoreConfig::default().tls_root_ca(pem);
    /// # let _ = config;
    /// ```
    pub fn tls_root_ca(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.tls_root_ca = Some(pem.into());
        self
    }

    /// After each exchange, server-created session and logout, sends
    /// `WAIT replicas timeout` to the primary that holds the user's keys
    /// (pipelined right behind the script), so that the answer leaves only
    /// once that many replicas have the change, or the timeout passed.
    ///
    /// It narrows what a failover can lose (a just-created session, or the
    /// deletion of a just-burned token or just-logged-out session); it does
    /// not make replication synchronous: `WAIT` never rolls back, and a
    /// shortfall is logged as a warning, not turned into an error. Each such
    /// request may take up to `timeout` longer (the whole of it when fewer
    /// replicas are connected), and its time budget grows by `timeout`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = tokengate::store::RedisStoreConfig::default()
    ///     .wait_for_replicas(1, Duration::from_millis(100));
    /// assert!(format!("{config:?}").contains("replicas: 1"));
    /// ```
    pub fn wait_for_replicas(mut self, replicas: u32, timeout: Duration) -> Self {
        self.wait_for_replicas = Some(WaitForReplicas {
            replicas,
            timeout: timeout.max(Duration::from_millis(1)),
        });
        self
    }

    pub(super) fn validate(&self) -> Result<(), StoreError> {
        if self.prefix.is_empty() || self.prefix.contains(['{', '}']) {
            return Err(StoreError::new(
                "the key prefix must be non-empty and contain no braces",
            ));
        }
        Ok(())
    }

    /// The longest a request may take: the response timeout, plus the
    /// `WAIT` timeout when configured.
    pub(super) fn budget(&self) -> Duration {
        self.response_timeout + self.wait_for_replicas.map_or(Duration::ZERO, |w| w.timeout)
    }
}
