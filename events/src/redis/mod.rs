//! [`RedisEventLog`]: the event log as a Redis Stream with consumer groups
//! (the type, its constructors and plumbing here; the [`EventLog`](crate::EventLog)
//! operations in `log_impl`).

mod log_impl;

use log_impl::{entries_of, entry_parts, field};

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager};
use redis::Value;

use redis::Script;
use tokengate::events::Event;
use tokengate::store::{EventStream, RedisStore, RedisStoreConfig};
use tokengate::{ServerSecret, StoreError};

use crate::log::EventLogConfig;
use crate::seal::EventCodec;

// Each key of a script shares the hash tag `{events}`: one slot, also on a
// cluster. redis-rs loads a script again after a `NOSCRIPT`.
static CLAIM: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/events_claim.lua")));
static DEAD_LETTER: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/events_dead.lua")));
static REDRIVE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/events_redrive.lua")));
static STATS: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/events_stats.lua")));

fn store_error(err: redis::RedisError) -> StoreError {
    StoreError::with_source(format!("redis: {err}"), err)
}

/// The longest single blocking read; longer waits are several.
const MAX_BLOCK: Duration = Duration::from_secs(5);
/// Without a dedicated connection, how often a waiting read looks again.
const POLL: Duration = Duration::from_millis(50);
/// Idle dedicated connections kept for blocking reads.
const MAX_IDLE: usize = 8;
/// Times an entry that does not decode is handed out (its first read and
/// two claims, so at least two claim timeouts) before it goes to the dead
/// letters.
const BURY_AFTER_DELIVERIES: u64 = 3;

type Opener<C> = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<C, StoreError>> + Send>> + Send + Sync>;

/// The [`EventLog`](crate::EventLog) in Redis: a stream `<prefix>:{events}` read by consumer
/// groups, and the dead letters in `<prefix>:{events}:dead` (one hash tag,
/// so that moving an entry to the dead letters is one script, also on a
/// cluster, where both live in one slot).
///
/// - [`append`](crate::EventLog::append): `XADD … MAXLEN ~ max_len` per event,
///   pipelined: one round trip per batch; the first append of each second
///   (of each half `max_age` when that is shorter) per process adds
///   `XTRIM … MINID ~ <now − max_age>`. Trimming is approximate (Redis drops whole internal nodes, so
///   up to a node's worth, about 100 entries, beyond either bound may stay).
///   Pending entries whose entry was trimmed are dropped when claimed.
///   A standalone store made `with_events` ([`RedisEventLog::stream`])
///   writes the same entries itself (`XADD … MAXLEN ~`, and `XTRIM … MINID ~`
///   when due) inside each change's script instead.
/// - [`read_group`](crate::EventLog::read_group): `XGROUP CREATE … 0 MKSTREAM` once
///   per group and process, then `XREADGROUP … >` (first deliveries: count 1).
/// - [`claim_stale`](crate::EventLog::claim_stale): `XAUTOCLAIM` and the claimed
///   entries' delivery counts (`XPENDING`) in one script.
/// - [`dead_letter`](crate::EventLog::dead_letter) (`XADD` dead + `XACK`) and
///   [`redrive`](crate::EventLog::redrive) (`XADD` + `XDEL` dead): one script each.
/// - [`stats`](crate::EventLog::stats): `XLEN`, `XINFO GROUPS`, `XPENDING` and the
///   first unread entry in one script.
///
/// Blocking reads never hold the shared connection: a log made by
/// [`connect`](RedisEventLog::connect) or
/// [`connect_cluster`](RedisEventLog::connect_cluster) blocks on connections
/// of its own (opened on demand, kept for reuse); one made
/// [`from_store`](RedisEventLog::from_store) shares the store's connection
/// and waits by looking again every 50 ms.
///
/// Stored bytes per entry: the event as JSON with short keys, the token
/// secret sealed (AES-256-GCM under a key derived from the server secret):
/// 284 bytes for a browser's `session.create`, 215 for an email OTP's
/// `token.create` with a phrase. Redis's `MEMORY USAGE` of the stream,
/// per entry, measured 338 bytes for such `session.create` events and 220
/// for `token.create` events with a 6-character secret, so the default
/// bound of 100,000 entries holds at most about 35 MB.
#[derive(Clone)]
pub struct RedisEventLog<C = ConnectionManager> {
    connection: C,
    open: Option<Opener<C>>,
    idle: Arc<Mutex<Vec<C>>>,
    stream: Arc<str>,
    dead: Arc<str>,
    codec: EventCodec,
    config: EventLogConfig,
    timeout: Duration,
    groups: Arc<Mutex<HashSet<String>>>,
    /// The stream as a store writes it (and trims it by age): shared with
    /// a store made `with_events`, so a process trims at most once a second.
    writer: EventStream,
}

impl<C> std::fmt::Debug for RedisEventLog<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisEventLog")
            .field("stream", &self.stream)
            .field("config", &self.config)
            .field("dedicated_blocking", &self.open.is_some())
            .finish_non_exhaustive()
    }
}

impl RedisEventLog<ConnectionManager> {
    /// The log of the store at `url` configured with `store_config` (its
    /// prefix names the stream; TLS roots and timeouts apply), sealing
    /// token secrets under a key derived from `secret`. Blocking reads
    /// use connections of their own.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), tokengate::StoreError> {
    /// use tokengate_events::{EventLogConfig, RedisEventLog};
    /// use tokengate::store::RedisStoreConfig;
    /// use tokengate::ServerSecret;
    /// let log = RedisEventLog::connect(
    ///     "redis://127.0.0.1:6379",
    ///     &RedisStoreConfig::default().prefix("tg"),
    ///     ServerSecret::random(),
    ///     EventLogConfig::default(),
    /// )
    /// .await?;
    /// # let _ = log; Ok(()) }
    /// ```
    pub async fn connect(
        url: &str,
        store_config: &RedisStoreConfig,
        secret: ServerSecret,
        config: EventLogConfig,
    ) -> Result<Self, StoreError> {
        let store = RedisStore::connect(url, store_config.clone()).await?;
        let (url, blocking_config) = (url.to_owned(), store_config.clone());
        let open: Opener<ConnectionManager> = Arc::new(move || {
            let (url, config) = (url.clone(), blocking_config.clone());
            Box::pin(async move { Ok(RedisStore::connect(&url, config).await?.connection()) })
        });
        Ok(Self::from_store(&store, secret, config).with_opener(open))
    }
}

impl RedisEventLog<redis::cluster_async::ClusterConnection> {
    /// [`RedisEventLog::connect`] on a Redis Cluster through seed `nodes`.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), tokengate::StoreError> {
    /// use tokengate_events::{EventLogConfig, RedisEventLog};
    /// use tokengate::store::RedisStoreConfig;
    /// let nodes = ["redis://127.0.0.1:7000", "redis://127.0.0.1:7001"];
    /// let secret = tokengate::ServerSecret::random();
    /// let log = RedisEventLog::connect_cluster(&nodes, &RedisStoreConfig::default(), secret, EventLogConfig::default())
    ///     .await?;
    /// # let _ = log; Ok(()) }
    /// ```
    pub async fn connect_cluster(
        nodes: &[impl AsRef<str>],
        store_config: &RedisStoreConfig,
        secret: ServerSecret,
        config: EventLogConfig,
    ) -> Result<Self, StoreError> {
        let nodes: Vec<String> = nodes.iter().map(|n| n.as_ref().to_owned()).collect();
        let store = RedisStore::connect_cluster(&nodes, store_config.clone()).await?;
        // A blocking read must not count as a stalled node.
        let blocking_config = store_config
            .clone()
            .response_timeout(store.response_timeout() + MAX_BLOCK);
        let open: Opener<_> = Arc::new(move || {
            let (nodes, config) = (nodes.clone(), blocking_config.clone());
            Box::pin(async move { Ok(RedisStore::connect_cluster(&nodes, config).await?.connection()) })
        });
        Ok(Self::from_store(&store, secret, config).with_opener(open))
    }
}

impl<C> RedisEventLog<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    /// The log beside `store` (its prefix, its connection, its response
    /// timeout). Blocking reads wait by looking again every 50 ms, since the
    /// store's connection is shared; use
    /// [`connect`](RedisEventLog::connect) for reads that block in Redis.
    pub fn from_store(store: &RedisStore<C>, secret: ServerSecret, config: EventLogConfig) -> Self {
        let prefix = store.prefix();
        let codec = EventCodec::new(&secret);
        let stream = format!("{prefix}:{{events}}");
        let writer = EventStream::new(stream.clone(), config.max_len, config.max_age, codec.seal());
        RedisEventLog {
            connection: store.connection(),
            open: None,
            idle: Arc::new(Mutex::new(Vec::new())),
            stream: Arc::from(stream),
            dead: Arc::from(format!("{prefix}:{{events}}:dead")),
            codec,
            writer,
            config,
            timeout: store.response_timeout(),
            groups: Arc::new(Mutex::new(HashSet::new())),
        }
    }

    /// The stream as a standalone store writes it: give it to
    /// `RedisStore::with_events` so that the store writes each change's
    /// events inside the change's own script (and build the gate with
    /// `GateBuilder::store_writing_events`).
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// use tokengate::store::{RedisStore, RedisStoreConfig};
    /// use tokengate::{Gate, ServerSecret};
    /// use tokengate_events::{EventLogConfig, RedisEventLog};
    /// let secret = ServerSecret::random();
    /// let store = RedisStore::connect("redis://127.0.0.1:6379", RedisStoreConfig::default().prefix("tg")).await?;
    /// let log = RedisEventLog::from_store(&store, secret.clone(), EventLogConfig::default());
    /// let gate = Gate::builder()
    ///     .server_key(secret)
    ///     .store_writing_events(store.with_events(log.stream())?)
    ///     .build()?;
    /// # let _ = gate; Ok(()) }
    /// ```
    pub fn stream(&self) -> EventStream {
        self.writer.clone()
    }

    fn with_opener(mut self, open: Opener<C>) -> Self {
        self.open = Some(open);
        self
    }

    /// The stream's key, `<prefix>:{events}`.
    pub fn stream_key(&self) -> &str {
        &self.stream
    }

    /// The dead letters' key, `<prefix>:{events}:dead`.
    pub fn dead_letter_key(&self) -> &str {
        &self.dead
    }

    /// The bounds in force.
    pub fn config(&self) -> &EventLogConfig {
        &self.config
    }

    async fn run<T, F>(&self, budget: Duration, connection: C, request: impl FnOnce(C) -> F) -> Result<T, StoreError>
    where
        F: Future<Output = redis::RedisResult<T>>,
    {
        match tokio::time::timeout(budget, request(connection)).await {
            Ok(result) => result.map_err(store_error),
            Err(_) => Err(StoreError::new("redis response timed out")),
        }
    }

    async fn query<T: redis::FromRedisValue>(&self, command: redis::Cmd) -> Result<T, StoreError> {
        self.run(self.timeout, self.connection.clone(), |mut c| async move {
            command.query_async(&mut c).await
        })
        .await
    }

    /// Creates `group` (from the log's start) unless this process did.
    async fn ensure_group(&self, group: &str) -> Result<(), StoreError> {
        if self.lock_groups().contains(group) {
            return Ok(());
        }
        let mut command = redis::cmd("XGROUP");
        command
            .arg("CREATE")
            .arg(&*self.stream)
            .arg(group)
            .arg("0")
            .arg("MKSTREAM");
        match self.query::<()>(command).await {
            Err(error) if !error.to_string().contains("BUSYGROUP") => return Err(error),
            _ => {}
        }
        self.lock_groups().insert(group.to_owned());
        Ok(())
    }

    fn lock_groups(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.groups.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs a read (`XREADGROUP`/`XREAD`, built by `command` with a `BLOCK`
    /// argument or none) until it answers entries or `block` has passed.
    async fn read(
        &self,
        block: Duration,
        command: impl Fn(Option<Duration>) -> redis::Cmd,
    ) -> Result<Value, StoreError> {
        let deadline = tokio::time::Instant::now() + block;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let reply = if left.is_zero() {
                self.query::<Value>(command(None)).await?
            } else if let Some(open) = &self.open {
                let chunk = left.min(MAX_BLOCK).max(Duration::from_millis(1));
                let pooled = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
                let connection = match pooled {
                    Some(connection) => connection,
                    None => open().await?,
                };
                let kept = connection.clone();
                let cmd = command(Some(chunk));
                let reply = self
                    .run(self.timeout + chunk, connection, |mut c| async move {
                        cmd.query_async(&mut c).await
                    })
                    .await?;
                // Only a connection whose read completed goes back.
                let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
                if idle.len() < MAX_IDLE {
                    idle.push(kept);
                }
                reply
            } else {
                let reply = self.query::<Value>(command(None)).await?;
                if matches!(reply, Value::Nil) || entries_of(&reply).is_some_and(|e| e.is_empty()) {
                    tokio::time::sleep(left.min(POLL)).await;
                }
                reply
            };
            let empty = matches!(reply, Value::Nil) || entries_of(&reply).is_some_and(|e| e.is_empty());
            if !empty || tokio::time::Instant::now() >= deadline {
                return Ok(reply);
            }
        }
    }

    fn decode(&self, id: String, fields: &Value) -> Option<Event> {
        let payload = field(fields, b"d")?;
        match self.codec.decode(payload) {
            Ok(mut event) => {
                event.id = id;
                Some(event)
            }
            Err(error) => {
                tracing::error!(%id, %error, "event log: an entry does not decode; skipped");
                None
            }
        }
    }

    /// The event of entry `id` of `group`. An entry that does not decode
    /// (a kind of a newer version, a token sealed under another server
    /// secret) stays pending while it is young: during a rolling upgrade a
    /// process of the newer version claims it after the claim timeout and
    /// delivers it. Handed out [`BURY_AFTER_DELIVERIES`] times and still not
    /// decodable, it goes to the dead letters as it is, still sealed, so
    /// that it neither comes back at every claim nor holds the group's
    /// oldest age up; a redrive delivers it once a process can read it.
    async fn decode_or_bury(&self, group: &str, id: String, fields: &Value, deliveries: u64) -> Option<Event> {
        if let Some(event) = self.decode(id.clone(), fields) {
            return Some(event);
        }
        if deliveries < BURY_AFTER_DELIVERIES {
            tracing::warn!(%id, group, deliveries, "event log: an entry that does not decode stays pending for a process that can");
            return None;
        }
        let payload = field(fields, b"d").unwrap_or_default();
        match self
            .move_to_dead(group, &id, payload, deliveries, "does not decode")
            .await
        {
            Ok(()) => {
                tracing::error!(%id, group, deliveries, "event log: an entry that does not decode was moved to the dead letters")
            }
            // Still pending: the next claim tries again.
            Err(error) => {
                tracing::error!(%id, group, %error, "event log: an entry that does not decode could not be moved to the dead letters")
            }
        }
        None
    }

    /// Appends entry `id` of `group` (its stored `payload`) to the dead
    /// letters and acknowledges it, in one script.
    async fn move_to_dead(
        &self,
        group: &str,
        id: &str,
        payload: &[u8],
        deliveries: u64,
        reason: &str,
    ) -> Result<(), StoreError> {
        let mut call = DEAD_LETTER.key(&*self.stream);
        call.key(&*self.dead)
            .arg(group)
            .arg(id)
            .arg(payload)
            .arg(deliveries)
            .arg(reason)
            .arg(self.config.max_len.max(1));
        self.run(self.timeout, self.connection.clone(), |mut c| async move {
            call.invoke_async::<i64>(&mut c).await
        })
        .await?;
        Ok(())
    }

    fn decode_entries(&self, entries: &[Value]) -> Vec<Event> {
        entries
            .iter()
            .filter_map(entry_parts)
            .filter_map(|(id, fields)| self.decode(id, fields))
            .collect()
    }

    fn trim_args(&self, command: &mut redis::Cmd) {
        command.arg("MAXLEN").arg("~").arg(self.config.max_len.max(1));
    }
}
