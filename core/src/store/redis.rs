//! The Redis store: standalone (`ConnectionManager`) or cluster
//! (`ClusterConnection`), through one code path generic over the connection.
//!
//! Layout (every key of one user shares the hash tag `{u:<userId>}`, so each
//! script touches one slot, also on a cluster):
//!
//! | key | type | holds |
//! |---|---|---|
//! | `<prefix>:{u:<id>}:t` | hash | token digest (base64url) → `id\|kind\|expire_ms\|low_entropy` |
//! | `<prefix>:{u:<id>}:sessions` | hash | session digest (base64url) → the session record (JSON) |
//! | `<prefix>:{u:<id>}:fails` | string | consecutive failures |
//! | `<prefix>:{u:<id>}:lock` | string | present while exchanges are locked |
//! | `<prefix>:{u:<id>}:user` | hash | directory record (email, phone, verification) |
//! | `<prefix>:{a:<digest>}` | string | address (email/phone digest) → user id |
//! | `<prefix>:{r:<bucket>}:n`, `:gap` | string | issuance rate-limit counter and gap marker |
//!
//! Every key carries a TTL; every atomic change is one `EVALSHA` whose keys
//! share one hash tag, so in a cluster every script runs within one slot on
//! one node.
//!
//! A user's sessions share one hash rather than a key each: a key costs
//! Redis about 100 bytes of its own, so for a one-session user the hash
//! takes 376 bytes where a key per session plus an index took 608
//! (`benches/RESULTS.md`). Redis (before 7.4) expires whole keys, not hash
//! fields, so a record carries its end (`"e"`, and `"d"` for the idle
//! deadline) and every read checks it against the clock; inserting,
//! redeeming, listing, extending and deleting drop the user's ended records
//! and set the hash's expiry to the latest remaining end (an idle refresh
//! only ever lengthens it).
//!
//! # Faults
//!
//! - Every request runs under [`RedisStoreConfig::response_timeout`]: a
//!   stalled or unreachable Redis is a [`StoreError`] (503) after at most
//!   that long, never a hang and never an authenticated request.
//! - The standalone connection (`ConnectionManager`) reconnects by itself;
//!   the cluster connection refreshes its slot map on `MOVED` and retries
//!   within the same time budget (a failover is mostly invisible).
//! - A script missing from a node's cache (`SCRIPT FLUSH`, a restart, a
//!   promoted replica) answers `NOSCRIPT`; the same request is then sent as
//!   `EVAL` with the script body, on the same connection and node, which
//!   also caches it there again. There is no separate `SCRIPT LOAD` (that
//!   would go to other nodes and could race another flush).
//!
//! # Replication
//!
//! Redis replicates asynchronously: a write acknowledged by a primary can
//! be lost if that primary fails before a replica received it. For a
//! login system that means a failover can lose a just-created session
//! (the user signs in again) and, worse, a just-burned token or a
//! just-deleted session can come back on the promoted replica. Opt in to
//! [`RedisStoreConfig::wait_for_replicas`] to send `WAIT` after each
//! exchange, session creation and logout (in the same pipeline as the
//! script, so on the node that holds the user's keys); it narrows that
//! window, it does not make Redis strongly consistent.

use std::io::Write as _;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::{Cmd, ErrorKind, FromRedisValue, RedisError, RedisResult, RedisWrite, ServerErrorKind, ToRedisArgs, Value};

use super::{
    idle_deadline, DeletedUser, RateBucket, RedeemRules, Redemption, SessionRecord, Store, StoreError, TokenRecord,
    UserRecord,
};
use crate::config::IDLE_REFRESH_INTERVAL;
use crate::model::{TokenKind, UserId};
use crate::secret::Digest;

fn script(body: &str) -> Script {
    Script::new(&format!("{}\n{}", include_str!("lua/sessions.lua"), body))
}

/// A Lua script, called like `redis::Script` (`SCRIPT.key(..)`, `.arg(..)`,
/// `.invoke_async(&mut connection)`), but reloaded differently: on
/// `NOSCRIPT` the same call is repeated as `EVAL` with the body, which runs
/// on the same node (routed by the same first key) and caches the script
/// there. `redis::Script` would send `SCRIPT LOAD` instead, which a cluster
/// client routes to every node and which a concurrent `SCRIPT FLUSH` can
/// undo before the retried `EVALSHA`.
struct Script {
    body: String,
    hash: String,
}

impl Script {
    fn new(body: &str) -> Self {
        Script {
            hash: redis::Script::new(body).get_hash().to_owned(),
            body: body.to_owned(),
        }
    }

    /// Starts a call with its first key (every script has one: it routes
    /// the call to the key's slot).
    fn key<T: ToRedisArgs>(&self, key: T) -> ScriptCall<'_> {
        let mut call = ScriptCall {
            script: self,
            keys: Vec::new(),
            args: Vec::new(),
        };
        call.key(key);
        call
    }
}

/// One prepared call of a [`Script`].
struct ScriptCall<'a> {
    script: &'a Script,
    keys: Vec<Vec<u8>>,
    args: Vec<Vec<u8>>,
}

impl ScriptCall<'_> {
    fn key<T: ToRedisArgs>(&mut self, key: T) -> &mut Self {
        key.write_redis_args(&mut self.keys);
        self
    }

    fn arg<T: ToRedisArgs>(&mut self, arg: T) -> &mut Self {
        arg.write_redis_args(&mut self.args);
        self
    }

    /// `EVALSHA <hash> ...`, or `EVAL <body> ...` with `by_body`.
    fn command(&self, by_body: bool) -> Cmd {
        let mut command = if by_body {
            let mut command = redis::cmd("EVAL");
            command.arg(&self.script.body);
            command
        } else {
            let mut command = redis::cmd("EVALSHA");
            command.arg(&self.script.hash);
            command
        };
        command.arg(self.keys.len()).arg(&*self.keys).arg(&*self.args);
        command
    }

    /// Runs the script: `EVALSHA`, and on `NOSCRIPT` `EVAL`.
    async fn invoke_async<T: FromRedisValue>(&self, connection: &mut impl ConnectionLike) -> RedisResult<T> {
        match self.command(false).query_async(connection).await {
            Err(err) if is_noscript(&err) => self.command(true).query_async(connection).await,
            other => other,
        }
    }

    /// Runs the script and `WAIT replicas timeout` in one pipeline: on a
    /// cluster the pipeline is routed by the script's first key, so `WAIT`
    /// runs on the primary that just executed the script, over the same
    /// connection, right after it. Returns the script's reply and how many
    /// replicas acknowledged (`None` when `WAIT` itself failed).
    async fn invoke_and_wait<T: FromRedisValue>(
        &self,
        connection: &mut impl ConnectionLike,
        wait: &WaitForReplicas,
    ) -> RedisResult<(T, Option<i64>)> {
        let mut by_body = false;
        loop {
            let mut pipeline = redis::pipe();
            pipeline.add_command(self.command(by_body));
            pipeline
                .cmd("WAIT")
                .arg(wait.replicas)
                .arg(wait.timeout.as_millis().max(1) as u64);
            let mut replies = connection.req_packed_commands(&pipeline, 0, 2).await?.into_iter();
            let (Some(reply), Some(acked)) = (replies.next(), replies.next()) else {
                return Err(RedisError::from((ErrorKind::Parse, "WAIT pipeline: missing replies")));
            };
            let reply = match reply {
                Value::ServerError(err) => {
                    let err = RedisError::from(err);
                    if !by_body && is_noscript(&err) {
                        by_body = true;
                        continue;
                    }
                    return Err(err);
                }
                reply => T::from_redis_value(reply)?,
            };
            let acked = match acked {
                Value::Int(n) => Some(n),
                other => {
                    tracing::warn!(reply = ?other, "redis WAIT failed; the write is not confirmed on replicas");
                    None
                }
            };
            return Ok((reply, acked));
        }
    }
}

fn is_noscript(err: &RedisError) -> bool {
    err.kind() == ErrorKind::Server(ServerErrorKind::NoScript)
}

static INSERT_TOKEN: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/insert_token.lua")));
static DELETE_USER: LazyLock<Script> = LazyLock::new(|| script(include_str!("lua/delete_user.lua")));
static UNLINK_ADDRESS: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/unlink_address.lua")));
static REDEEM: LazyLock<Script> = LazyLock::new(|| script(include_str!("lua/redeem.lua")));
static INSERT_SESSION: LazyLock<Script> = LazyLock::new(|| script(include_str!("lua/insert_session.lua")));
static FIND_SESSION_IDLE: LazyLock<Script> = LazyLock::new(|| script(include_str!("lua/find_session_idle.lua")));
static LIST_SESSIONS: LazyLock<Script> = LazyLock::new(|| script(include_str!("lua/list_sessions.lua")));
static EXTEND_SESSION: LazyLock<Script> = LazyLock::new(|| script(include_str!("lua/extend_session.lua")));
static DELETE_SESSION: LazyLock<Script> = LazyLock::new(|| script(include_str!("lua/delete_session.lua")));
static DELETE_SESSIONS: LazyLock<Script> = LazyLock::new(|| script(include_str!("lua/delete_sessions.lua")));
static CLAIM_USER: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/claim_user.lua")));
static LINK_ADDRESS: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/link_address.lua")));
static FIND_ADDRESS: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/find_address.lua")));
static MARK_VERIFIED: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/mark_verified.lua")));
static REFUND_RATE_LIMIT: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/refund_rate_limit.lua")));
static HIT_RATE_LIMIT: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/hit_rate_limit.lua")));

/// Connection settings for [`RedisStore`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RedisStoreConfig {
    /// Namespace of every key. Default `tg`. Must not contain `{` or `}`.
    pub prefix: String,
    /// How long to wait for a reply before answering 503. Default 500 ms.
    pub response_timeout: Duration,
    /// How long to wait for a (re)connection. Default 1 s.
    pub connection_timeout: Duration,
    /// PEM certificate(s) of the CA(s) to trust for `rediss://` instead of
    /// the built-in web PKI roots (feature `redis-tls`). Default none.
    pub tls_root_ca: Option<Vec<u8>>,
    /// `WAIT` for replicas after each exchange, session creation and
    /// logout. Default off.
    pub wait_for_replicas: Option<WaitForReplicas>,
}

/// How many replicas must acknowledge a session change, and how long to
/// wait for them (see [`RedisStoreConfig::wait_for_replicas`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct WaitForReplicas {
    /// Replicas that must acknowledge.
    pub replicas: u32,
    /// Longest wait (at least 1 ms: `WAIT` with 0 would block forever).
    pub timeout: Duration,
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
    /// assert_eq!(config.prefix, "myapp");
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
    /// assert_eq!(config.response_timeout, Duration::from_millis(200));
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
    /// assert_eq!(config.connection_timeout, Duration::from_secs(2));
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
    /// let config = tokengate::store::RedisStoreConfig::default().tls_root_ca(pem.clone());
    /// assert_eq!(config.tls_root_ca, Some(pem));
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
    /// let wait = config.wait_for_replicas.unwrap();
    /// assert_eq!((wait.replicas, wait.timeout), (1, Duration::from_millis(100)));
    /// ```
    pub fn wait_for_replicas(mut self, replicas: u32, timeout: Duration) -> Self {
        self.wait_for_replicas = Some(WaitForReplicas {
            replicas,
            timeout: timeout.max(Duration::from_millis(1)),
        });
        self
    }

    fn validate(&self) -> Result<(), StoreError> {
        if self.prefix.is_empty() || self.prefix.contains(['{', '}']) {
            return Err(StoreError::new(
                "the key prefix must be non-empty and contain no braces",
            ));
        }
        Ok(())
    }

    /// The longest a request may take: the response timeout, plus the
    /// `WAIT` timeout when configured.
    fn budget(&self) -> Duration {
        self.response_timeout + self.wait_for_replicas.map_or(Duration::ZERO, |w| w.timeout)
    }
}

/// The Redis store, generic over the connection (standalone or cluster).
#[derive(Clone)]
pub struct RedisStore<C = ConnectionManager> {
    connection: C,
    prefix: Arc<str>,
    timeout: Duration,
    wait: Option<WaitForReplicas>,
}

impl<C> std::fmt::Debug for RedisStore<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .field("wait_for_replicas", &self.wait)
            .finish_non_exhaustive()
    }
}

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
        let client = match &config.tls_root_ca {
            None => {
                #[cfg(feature = "redis-tls")]
                install_crypto_provider();
                redis::Client::open(url).map_err(store_error)?
            }
            Some(pem) => tls_client(url, pem)?,
        };
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
        store.warm_up().await;
        Ok(store)
    }

    /// Opens the connection now, on the caller's runtime, rather than in
    /// the first request: its I/O task then lives where the store was made
    /// (for actix-web, the system thread) instead of on whichever worker
    /// happened to serve that request, where every other worker's Redis
    /// traffic would wait for it (measured: actix (b) 0.85 → 0.98 × (c)).
    /// A Redis that is down now is not an error: requests answer 503 until
    /// it is back.
    async fn warm_up(&self) {
        let ping = self
            .run_within(self.timeout.max(Duration::from_secs(1)), |mut c| async move {
                redis::cmd("PING").query_async::<()>(&mut c).await
            })
            .await;
        if let Err(error) = ping {
            tracing::warn!(%error, "redis is not reachable yet; requests that need it answer 503 until it is");
        }
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
        Ok(Self::with_connection(connection, config))
    }
}

impl<C> RedisStore<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    /// Uses an existing connection (any redis-rs async connection).
    pub fn with_connection(connection: C, config: RedisStoreConfig) -> Self {
        RedisStore {
            connection,
            prefix: Arc::from(config.prefix.as_str()),
            timeout: config.response_timeout,
            wait: config.wait_for_replicas,
        }
    }

    /// The key namespace.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn keys<'a>(&'a self, user: &'a UserId) -> UserKeys<'a> {
        UserKeys {
            prefix: &self.prefix,
            user,
        }
    }

    /// Runs one request under the response timeout: a stalled Redis is a
    /// 503 after the timeout, never a hang.
    async fn run<T, F>(&self, request: impl FnOnce(C) -> F) -> Result<T, StoreError>
    where
        F: std::future::Future<Output = redis::RedisResult<T>>,
    {
        self.run_within(self.timeout, request).await
    }

    async fn run_within<T, F>(&self, budget: Duration, request: impl FnOnce(C) -> F) -> Result<T, StoreError>
    where
        F: std::future::Future<Output = redis::RedisResult<T>>,
    {
        match tokio::time::timeout(budget, request(self.connection.clone())).await {
            Ok(result) => result.map_err(store_error),
            Err(_) => Err(StoreError::new("redis response timed out")),
        }
    }

    /// Runs a script that changes sessions; with
    /// [`RedisStoreConfig::wait_for_replicas`], followed by `WAIT` on the
    /// same node (a shortfall is logged, not an error).
    async fn run_replicated<T>(&self, call: ScriptCall<'_>) -> Result<T, StoreError>
    where
        T: FromRedisValue + Send,
    {
        let Some(wait) = self.wait else {
            return self.run(|mut c| async move { call.invoke_async(&mut c).await }).await;
        };
        let (reply, acked) = self
            .run_within(self.timeout + wait.timeout, |mut c| async move {
                call.invoke_and_wait(&mut c, &wait).await
            })
            .await?;
        if let Some(acked) = acked {
            if acked < i64::from(wait.replicas) {
                tracing::warn!(
                    acked,
                    wanted = wait.replicas,
                    timeout_ms = wait.timeout.as_millis() as u64,
                    "redis WAIT: fewer replicas than configured acknowledged a session change; a failover now could undo it"
                );
            }
        }
        Ok(reply)
    }
}

struct UserKeys<'a> {
    prefix: &'a str,
    user: &'a UserId,
}

impl<'a> UserKeys<'a> {
    fn key(&self, suffix: &str) -> String {
        format!("{}:{{u:{}}}:{}", self.prefix, self.user, suffix)
    }
    fn tokens(&self) -> String {
        self.key("t")
    }
    fn sessions(&self) -> SessionsKey<'a> {
        SessionsKey {
            prefix: self.prefix,
            user: self.user,
        }
    }
    fn fails(&self) -> String {
        self.key("fails")
    }
    fn lock(&self) -> String {
        self.key("lock")
    }
    fn user(&self) -> String {
        self.key("user")
    }
}

/// The user's sessions hash key, written straight into the command: this
/// is on every authenticated request, so it costs no `String` of its own.
struct SessionsKey<'a> {
    prefix: &'a str,
    user: &'a UserId,
}

impl SessionsKey<'_> {
    fn len(&self) -> usize {
        self.prefix.len() + ":{u:".len() + self.user.as_str().len() + "}:sessions".len()
    }
}

impl ToRedisArgs for SessionsKey<'_> {
    fn write_redis_args<W: ?Sized + RedisWrite>(&self, out: &mut W) {
        let mut arg = out.writer_for_next_arg();
        for part in [self.prefix, ":{u:", self.user.as_str(), "}:sessions"] {
            // Writing into the command's own buffer cannot fail.
            let _ = arg.write_all(part.as_bytes());
        }
    }
}

impl<C> RedisStore<C> {
    fn address_key(&self, address: &Digest) -> String {
        format!("{}:{{a:{}}}", self.prefix, address.to_hex())
    }

    fn rate_keys(&self, bucket: &str) -> (String, String) {
        let base = format!("{}:{{r:{}}}", self.prefix, bucket);
        (format!("{base}:n"), format!("{base}:gap"))
    }
}

fn store_error(err: redis::RedisError) -> StoreError {
    StoreError::new(format!("redis: {err}"))
}

fn unexpected(what: &str) -> StoreError {
    StoreError::new(format!("unexpected redis reply to {what}"))
}

fn bulk_text(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(bytes) => String::from_utf8(bytes.clone()).ok(),
        Value::SimpleString(text) => Some(text.clone()),
        _ => None,
    }
}

fn parse_sessions(values: Vec<Vec<u8>>) -> Result<Vec<SessionRecord>, StoreError> {
    let mut out = Vec::with_capacity(values.len() / 2);
    for pair in values.chunks(2) {
        let [digest, json] = pair else {
            return Err(unexpected("list"));
        };
        let digest = std::str::from_utf8(digest)
            .ok()
            .and_then(Digest::from_base64)
            .ok_or_else(|| unexpected("list"))?;
        out.push(
            SessionRecord::from_json(json, digest)
                .ok_or_else(|| unexpected("list"))?
                .0,
        );
    }
    out.sort_by(|a, b| (a.created_ms, &a.id).cmp(&(b.created_ms, &b.id)));
    Ok(out)
}

#[async_trait]
impl<C> Store for RedisStore<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    async fn insert_token(
        &self,
        user: &UserId,
        token: &TokenRecord,
        replace_kind: bool,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let keys = self.keys(user);
        let record = format!(
            "{}|{}|{}|{}",
            token.id,
            token.kind.code(),
            token.expire_ms,
            u8::from(token.low_entropy)
        );
        let mut invocation = INSERT_TOKEN.key(keys.tokens());
        invocation
            .key(keys.user())
            .arg(token.digest.to_base64())
            .arg(record)
            .arg(token.expire_ms)
            .arg(now_ms)
            .arg(u8::from(replace_kind))
            .arg(token.kind.code());
        self.run(|mut c| async move { invocation.invoke_async::<i64>(&mut c).await })
            .await?;
        Ok(())
    }

    async fn remove_token(&self, user: &UserId, digest: &Digest) -> Result<(), StoreError> {
        let mut command = redis::cmd("HDEL");
        command.arg(self.keys(user).tokens()).arg(digest.to_base64());
        self.run(|mut c| async move { command.query_async::<i64>(&mut c).await })
            .await?;
        Ok(())
    }

    async fn redeem_token(
        &self,
        user: &UserId,
        token: &Digest,
        session: &SessionRecord,
        rules: &RedeemRules,
        client: Option<&str>,
        now_ms: i64,
    ) -> Result<Redemption, StoreError> {
        let keys = self.keys(user);
        let idle = (rules.idle_ms > 0).then(|| Duration::from_millis(rules.idle_ms as u64));
        // Without a client the script is told so (limit 0) and never touches this key.
        let client_limit = if client.is_some() { rules.client_failures } else { 0 };
        let client_key = keys.key(&format!("cf:{}", client.unwrap_or("-")));
        let mut invocation = REDEEM.key(keys.tokens());
        invocation
            .key(keys.sessions())
            .key(keys.fails())
            .key(keys.lock())
            .key(client_key)
            .arg(token.to_base64())
            .arg(now_ms)
            .arg(&session.id)
            .arg(session.digest.to_base64())
            .arg(session.to_json(idle_deadline(session.expire_ms, idle, now_ms)))
            .arg(rules.max_sessions)
            .arg(rules.burn_after_failures)
            .arg(rules.lockout_after_failures)
            .arg(rules.lockout_ms)
            .arg(client_limit)
            .arg(rules.client_window_ms);
        let reply: Vec<Value> = self.run_replicated(invocation).await?;
        let mut parts = reply.iter().map(bulk_text);
        match parts.next().flatten().as_deref() {
            Some("ok") => {
                let token_id = parts.next().flatten().ok_or_else(|| unexpected("redeem"))?;
                let kind = parts
                    .next()
                    .flatten()
                    .and_then(|code| TokenKind::from_code(&code))
                    .ok_or_else(|| unexpected("redeem"))?;
                let evicted = parts
                    .map(|p| p.ok_or_else(|| unexpected("redeem")))
                    .collect::<Result<_, _>>()?;
                Ok(Redemption::Redeemed {
                    token_id,
                    kind,
                    evicted,
                })
            }
            Some("rejected") => Ok(Redemption::Rejected),
            Some("locked") => Ok(Redemption::LockedOut),
            Some("throttled") => Ok(Redemption::Throttled),
            _ => Err(unexpected("redeem")),
        }
    }

    async fn insert_session(
        &self,
        user: &UserId,
        session: &SessionRecord,
        rules: &RedeemRules,
        now_ms: i64,
    ) -> Result<Vec<String>, StoreError> {
        let keys = self.keys(user);
        let idle = (rules.idle_ms > 0).then(|| Duration::from_millis(rules.idle_ms as u64));
        let mut invocation = INSERT_SESSION.key(keys.sessions());
        invocation
            .key(keys.user())
            .arg(session.digest.to_base64())
            .arg(session.to_json(idle_deadline(session.expire_ms, idle, now_ms)))
            .arg(now_ms)
            .arg(&session.id)
            .arg(rules.max_sessions);
        self.run_replicated::<Vec<String>>(invocation).await
    }

    async fn find_session(
        &self,
        user: &UserId,
        digest: &Digest,
        idle: Option<Duration>,
        now_ms: i64,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let key = self.keys(user).sessions();
        let field = digest.base64_bytes();
        let value: Option<Vec<u8>> = match idle {
            // Without an idle timeout the lookup is a plain HGET: one read, the floor.
            None => {
                // Sized up front: the command is built without a reallocation.
                let mut command = Cmd::with_capacity(3, 4 + key.len() + field.len());
                command.arg("HGET").arg(key).arg(&field[..]);
                self.run(|mut c| async move { command.query_async(&mut c).await })
                    .await?
            }
            Some(idle) => {
                let mut invocation = FIND_SESSION_IDLE.key(key);
                invocation
                    .arg(&field[..])
                    .arg(now_ms)
                    .arg(idle.as_millis() as i64)
                    .arg(IDLE_REFRESH_INTERVAL.as_millis() as i64);
                self.run(|mut c| async move { invocation.invoke_async(&mut c).await })
                    .await?
            }
        };
        let Some(value) = value else { return Ok(None) };
        let (record, ends_ms) =
            SessionRecord::from_json(&value, *digest).ok_or_else(|| unexpected("session lookup"))?;
        Ok((ends_ms > now_ms).then_some(record))
    }

    async fn list_sessions(&self, user: &UserId, now_ms: i64) -> Result<Vec<SessionRecord>, StoreError> {
        let keys = self.keys(user);
        let mut invocation = LIST_SESSIONS.key(keys.sessions());
        invocation.arg(now_ms);
        let values: Vec<Vec<u8>> = self
            .run(|mut c| async move { invocation.invoke_async(&mut c).await })
            .await?;
        parse_sessions(values)
    }

    async fn extend_session(
        &self,
        user: &UserId,
        session_id: &str,
        expire_ms: i64,
        idle: Option<Duration>,
        max_age_ms: i64,
        now_ms: i64,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let keys = self.keys(user);
        let mut invocation = EXTEND_SESSION.key(keys.sessions());
        invocation
            .arg(session_id)
            .arg(now_ms)
            .arg(expire_ms)
            .arg(idle_deadline(expire_ms, idle, now_ms))
            .arg(max_age_ms);
        let values: Option<Vec<Vec<u8>>> = self
            .run(|mut c| async move { invocation.invoke_async(&mut c).await })
            .await?;
        match values {
            None => Ok(None),
            Some(values) => Ok(parse_sessions(values)?.into_iter().next()),
        }
    }

    async fn delete_session(&self, user: &UserId, session_id: &str) -> Result<bool, StoreError> {
        let keys = self.keys(user);
        let mut invocation = DELETE_SESSION.key(keys.sessions());
        invocation.arg(session_id).arg(crate::time::now_ms());
        let deleted: i64 = self.run_replicated(invocation).await?;
        Ok(deleted > 0)
    }

    async fn delete_sessions(&self, user: &UserId) -> Result<u64, StoreError> {
        let keys = self.keys(user);
        let mut invocation = DELETE_SESSIONS.key(keys.sessions());
        invocation.arg(crate::time::now_ms());
        let deleted: i64 = self.run_replicated(invocation).await?;
        Ok(deleted.max(0) as u64)
    }

    async fn find_address(&self, address: &Digest) -> Result<Option<UserId>, StoreError> {
        let invocation = FIND_ADDRESS.key(self.address_key(address));
        let owner: Option<String> = self
            .run(|mut c| async move { invocation.invoke_async(&mut c).await })
            .await?;
        owner
            .map(|o| UserId::parse(&o).map_err(|_| unexpected("address lookup")))
            .transpose()
    }

    async fn link_address(&self, address: &Digest, user: &UserId) -> Result<UserId, StoreError> {
        let mut invocation = LINK_ADDRESS.key(self.address_key(address));
        invocation.arg(user.as_str());
        let owner: String = self
            .run(|mut c| async move { invocation.invoke_async(&mut c).await })
            .await?;
        UserId::parse(&owner).map_err(|_| unexpected("address link"))
    }

    async fn unlink_address(&self, address: &Digest, user: &UserId) -> Result<(), StoreError> {
        let mut invocation = UNLINK_ADDRESS.key(self.address_key(address));
        invocation.arg(user.as_str());
        self.run(|mut c| async move { invocation.invoke_async::<i64>(&mut c).await })
            .await?;
        Ok(())
    }

    async fn claim_user(&self, user: &UserId, email: &str, phone: &str, now_ms: i64) -> Result<bool, StoreError> {
        let keys = self.keys(user);
        let mut invocation = CLAIM_USER.key(keys.user());
        invocation
            .key(keys.sessions())
            .key(keys.tokens())
            .arg(email)
            .arg(phone)
            .arg(now_ms);
        let claimed: i64 = self
            .run(|mut c| async move { invocation.invoke_async(&mut c).await })
            .await?;
        Ok(claimed == 1)
    }

    async fn delete_user(&self, user: &UserId, now_ms: i64) -> Result<Option<DeletedUser>, StoreError> {
        let keys = self.keys(user);
        let mut invocation = DELETE_USER.key(keys.user());
        invocation
            .key(keys.tokens())
            .key(keys.sessions())
            .key(keys.fails())
            .key(keys.lock())
            .arg(now_ms);
        let reply: Vec<Value> = self.run_replicated(invocation).await?;
        let mut parts = reply.into_iter();
        match parts.next() {
            Some(Value::Int(0)) => return Ok(None),
            Some(Value::Int(1)) => {}
            _ => return Err(unexpected("delete user")),
        }
        let mut texts = parts.map(|p| bulk_text(&p).ok_or_else(|| unexpected("delete user")));
        let email = texts.next().ok_or_else(|| unexpected("delete user"))??;
        let phone = texts.next().ok_or_else(|| unexpected("delete user"))??;
        Ok(Some(DeletedUser {
            email,
            phone,
            sessions: texts.collect::<Result<_, _>>()?,
        }))
    }

    async fn load_user(&self, user: &UserId) -> Result<Option<UserRecord>, StoreError> {
        let mut command = redis::cmd("HGETALL");
        command.arg(self.keys(user).user());
        let fields: std::collections::HashMap<String, String> = self
            .run(|mut c| async move { command.query_async(&mut c).await })
            .await?;
        if fields.is_empty() {
            return Ok(None);
        }
        let number = |name: &str| fields.get(name).and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
        let text = |name: &str| fields.get(name).cloned().unwrap_or_default();
        Ok(Some(UserRecord {
            created_ms: number("c"),
            updated_ms: number("u"),
            email: text("e"),
            phone: text("p"),
            email_verified: number("ev") == 1,
            phone_verified: number("pv") == 1,
        }))
    }

    async fn mark_verified(&self, user: &UserId, email: bool, phone: bool, now_ms: i64) -> Result<(), StoreError> {
        let mut invocation = MARK_VERIFIED.key(self.keys(user).user());
        invocation.arg(u8::from(email)).arg(u8::from(phone)).arg(now_ms);
        self.run(|mut c| async move { invocation.invoke_async::<i64>(&mut c).await })
            .await?;
        Ok(())
    }

    async fn hit_rate_limit(&self, bucket: &RateBucket, _now_ms: i64) -> Result<bool, StoreError> {
        let (counter, gap) = self.rate_keys(&bucket.id);
        let mut invocation = HIT_RATE_LIMIT.key(counter);
        invocation
            .key(gap)
            .arg(bucket.limit)
            .arg(bucket.window_ms)
            .arg(bucket.min_interval_ms);
        let counted: i64 = self
            .run(|mut c| async move { invocation.invoke_async(&mut c).await })
            .await?;
        Ok(counted == 1)
    }

    async fn refund_rate_limit(&self, bucket: &RateBucket) -> Result<(), StoreError> {
        let (counter, _) = self.rate_keys(&bucket.id);
        let mut invocation = REFUND_RATE_LIMIT.key(counter);
        invocation.arg(0);
        self.run(|mut c| async move { invocation.invoke_async::<i64>(&mut c).await })
            .await?;
        Ok(())
    }
}
