//! The opt-in local session cache: authenticated sessions kept in process
//! for a short TTL, with revocations pushed across services.
//!
//! Every logout, logout-all and limit eviction is published on a
//! [`RevocationChannel`]; every process drops its cached sessions of that
//! user when the message arrives (well within 100 ms on a healthy channel).
//! While the channel is down the cache is bypassed and emptied, and a
//! cached entry never outlives its TTL, so a revocation is honoured no later
//! than the TTL even when a message is lost.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::model::{Session, UserId};
use crate::secret::Digest;
use crate::store::StoreError;

/// Publishes and delivers revocations between processes.
#[async_trait]
pub trait RevocationChannel: Send + Sync + fmt::Debug + 'static {
    /// Tells every process that `user`'s sessions changed (some were revoked).
    async fn publish(&self, user: &UserId) -> Result<(), StoreError>;

    /// Starts delivering revocations to `cache` in the background: call
    /// [`SessionCache::revoke_user`] per message and [`SessionCache::set_live`]
    /// as the subscription comes and goes.
    fn start(&self, cache: SessionCache);
}

/// The cache. Cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct SessionCache {
    inner: Arc<Inner>,
}

struct Inner {
    ttl: Duration,
    capacity: usize,
    live: AtomicBool,
    generation: AtomicU64,
    entries: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    by_digest: HashMap<Digest, Entry>,
    by_user: HashMap<UserId, HashSet<Digest>>,
}

struct Entry {
    session: Session,
    valid_until: Instant,
}

impl fmt::Debug for SessionCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionCache")
            .field("ttl", &self.inner.ttl)
            .field("capacity", &self.inner.capacity)
            .field("live", &self.is_live())
            .finish_non_exhaustive()
    }
}

/// A ticket taken before a store lookup: the result may be cached only if
/// no revocation arrived in between.
#[derive(Debug, Clone, Copy)]
pub struct Ticket(u64);

impl SessionCache {
    /// An empty cache holding entries for `ttl`, at most `capacity` of them.
    /// It serves nothing until [`SessionCache::set_live`] says the
    /// revocation channel is up.
    ///
    /// ```
    /// use std::time::Duration;
    /// let cache = tokengate::cache::SessionCache::new(Duration::from_secs(2), 10_000);
    /// assert!(!cache.is_live());
    /// ```
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        SessionCache {
            inner: Arc::new(Inner {
                ttl,
                capacity,
                live: AtomicBool::new(false),
                generation: AtomicU64::new(0),
                entries: Mutex::new(Entries::default()),
            }),
        }
    }

    /// The entry lifetime.
    pub fn ttl(&self) -> Duration {
        self.inner.ttl
    }

    /// Whether the revocation channel is up (the cache serves only then).
    pub fn is_live(&self) -> bool {
        self.inner.live.load(Ordering::Acquire)
    }

    /// Marks the channel up or down. Down empties the cache: messages may
    /// have been missed.
    pub fn set_live(&self, live: bool) {
        if !live {
            self.inner.generation.fetch_add(1, Ordering::AcqRel);
            if let Ok(mut entries) = self.inner.entries.lock() {
                *entries = Entries::default();
            }
        }
        self.inner.live.store(live, Ordering::Release);
    }

    /// Drops every cached session of `user`.
    pub fn revoke_user(&self, user: &UserId) {
        self.inner.generation.fetch_add(1, Ordering::AcqRel);
        if let Ok(mut entries) = self.inner.entries.lock() {
            if let Some(digests) = entries.by_user.remove(user) {
                for digest in digests {
                    entries.by_digest.remove(&digest);
                }
            }
        }
    }

    /// A ticket for a lookup about to start.
    pub fn ticket(&self) -> Ticket {
        Ticket(self.inner.generation.load(Ordering::Acquire))
    }

    /// The cached live session for this credential digest.
    pub fn get(&self, digest: &Digest, now_ms: i64) -> Option<Session> {
        if !self.is_live() {
            return None;
        }
        let entries = self.inner.entries.lock().ok()?;
        let entry = entries.by_digest.get(digest)?;
        (entry.valid_until > Instant::now() && entry.session.expire.timestamp_millis() > now_ms)
            .then(|| entry.session.clone())
    }

    /// Caches a session found by a lookup that started with `ticket`.
    pub fn insert(&self, ticket: Ticket, digest: Digest, session: &Session) {
        if !self.is_live() {
            return;
        }
        let Ok(mut entries) = self.inner.entries.lock() else {
            return;
        };
        // Checked under the lock: a revocation after the ticket wins.
        if self.inner.generation.load(Ordering::Acquire) != ticket.0 {
            return;
        }
        if entries.by_digest.len() >= self.inner.capacity {
            let now = Instant::now();
            entries.by_digest.retain(|_, e| e.valid_until > now);
            let Entries { by_digest, by_user } = &mut *entries;
            by_user.retain(|_, digests| {
                digests.retain(|d| by_digest.contains_key(d));
                !digests.is_empty()
            });
            if entries.by_digest.len() >= self.inner.capacity {
                return;
            }
        }
        entries
            .by_user
            .entry(session.user_id.clone())
            .or_default()
            .insert(digest);
        entries.by_digest.insert(
            digest,
            Entry {
                session: session.clone(),
                valid_until: Instant::now() + self.inner.ttl,
            },
        );
    }

    /// Number of cached entries (for tests and metrics).
    pub fn len(&self) -> usize {
        self.inner.entries.lock().map(|e| e.by_digest.len()).unwrap_or(0)
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use redis_channel::RedisRevocations;

#[cfg(feature = "redis")]
mod redis_channel {
    use super::{RevocationChannel, SessionCache};
    use crate::model::UserId;
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
        /// A channel on the Redis at `url` for the key namespace `prefix`.
        ///
        /// ```no_run
        /// # async fn run() -> Result<(), tokengate::StoreError> {
        /// let channel = tokengate::cache::RedisRevocations::connect("redis://127.0.0.1:6379", "tg").await?;
        /// # let _ = channel; Ok(()) }
        /// ```
        pub async fn connect(url: &str, prefix: &str) -> Result<Self, StoreError> {
            let client = redis::Client::open(url).map_err(|e| StoreError::new(format!("redis: {e}")))?;
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
                    if let Ok(mut pubsub) = client.get_async_pubsub().await {
                        if pubsub.subscribe(&channel).await.is_ok() {
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
}
