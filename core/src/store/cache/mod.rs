//! The opt-in local session cache: authenticated sessions kept in process
//! for a short TTL, with revocations pushed across services; a store
//! wrapper ([`CachedStore`]), as tower-sessions' caching store.
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

mod cached;

pub(crate) use cached::CachedStore;

use crate::model::UserId;
use crate::secret::Digest;
use crate::store::SessionRecord;
use crate::store::StoreError;

/// Publishes and delivers revocations between processes.
///
/// Open for implementations of your own: a method added in a later version
/// comes with a default, so an implementation keeps compiling.
#[async_trait]
pub(crate) trait RevocationChannel: Send + Sync + fmt::Debug + 'static {
    /// Tells every process that `user`'s sessions changed (some were revoked).
    async fn publish(&self, user: &UserId) -> Result<(), StoreError>;

    /// Starts delivering revocations to `cache` in the background: call
    /// [`SessionCache::revoke_user`] per message and [`SessionCache::set_live`]
    /// as the subscription comes and goes.
    fn start(&self, cache: SessionCache);
}

/// The cache. Cheap to clone (one `Arc`).
#[derive(Clone)]
pub(crate) struct SessionCache {
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
    record: SessionRecord,
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
pub(crate) struct Ticket(u64);

impl SessionCache {
    /// An empty cache holding entries for `ttl`, at most `capacity` of them.
    /// It serves nothing until [`SessionCache::set_live`] says the
    /// revocation channel is up.
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
        if let Ok(mut entries) = self.inner.entries.lock()
            && let Some(digests) = entries.by_user.remove(user)
        {
            for digest in digests {
                entries.by_digest.remove(&digest);
            }
        }
    }

    /// A ticket for a lookup about to start.
    pub fn ticket(&self) -> Ticket {
        Ticket(self.inner.generation.load(Ordering::Acquire))
    }

    /// The cached live session for this credential digest.
    pub fn get(&self, digest: &Digest, now_ms: i64) -> Option<SessionRecord> {
        if !self.is_live() {
            return None;
        }
        let entries = self.inner.entries.lock().ok()?;
        let entry = entries.by_digest.get(digest)?;
        (entry.valid_until > Instant::now() && entry.record.expire_ms > now_ms).then(|| entry.record.clone())
    }

    /// Caches `user`'s session found by a lookup that started with `ticket`.
    pub fn insert(&self, ticket: Ticket, user: &UserId, digest: Digest, record: &SessionRecord) {
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
        entries.by_user.entry(user.clone()).or_default().insert(digest);
        entries.by_digest.insert(
            digest,
            Entry {
                record: record.clone(),
                valid_until: Instant::now() + self.inner.ttl,
            },
        );
    }
}
