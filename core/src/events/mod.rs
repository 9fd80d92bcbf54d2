//! Events: what changed, named as Appwrite names it. A token issued, a
//! session created or ended (logout, logout-all, eviction by the session
//! limit, an admin's deletion, the user's deletion), a user created or
//! deleted. Each is an [`Event`] whose [`name`](Event::name) is Appwrite's
//! (`users.<userId>.sessions.<sessionId>.delete`) and whose
//! [`names`](Event::names) are every form a subscription may use
//! (`users.*.sessions.*.delete`, `users.*`, …), as Appwrite expands them
//! for its webhooks.
//!
//! The gate appends events to an [`EventLog`] (durable in Redis as a
//! stream; in process for the embedded store). From there a consumer group
//! shared by every service delivers each event once (webhooks, a
//! [`Subscription`](EventLog::read_group) of your own), or every process
//! follows all of them ([`EventLog::read_after`]).

pub(crate) mod codec;
mod memory;
mod names;
mod subscription;

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::directory::User;
use crate::error::StoreError;
use crate::model::{Session, Token, UserId};

#[cfg(feature = "redis")]
pub use crate::store::redis::RedisEventLog;
pub use memory::MemoryEventLog;
pub use names::EventPattern;
pub use subscription::{follow, GroupSubscription};

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EventKind {
    /// `users.<userId>.create`: the directory learned a new user.
    UserCreate,
    /// `users.<userId>.delete`: the user was deleted (after its sessions'
    /// own delete events).
    UserDelete,
    /// `users.<userId>.tokens.<tokenId>.create`: a token was issued; the
    /// payload carries its secret.
    TokenCreate,
    /// `users.<userId>.sessions.<sessionId>.create`: a session began.
    SessionCreate,
    /// `users.<userId>.sessions.<sessionId>.delete`: a session ended before
    /// its time (logout, logout-all, eviction, an admin, the user's deletion).
    SessionDelete,
}

impl EventKind {
    /// Every kind.
    pub const ALL: [EventKind; 5] = [
        EventKind::UserCreate,
        EventKind::UserDelete,
        EventKind::TokenCreate,
        EventKind::SessionCreate,
        EventKind::SessionDelete,
    ];

    /// Appwrite's pattern of this kind, with `[userId]`-style placeholders.
    pub fn pattern(self) -> &'static str {
        match self {
            EventKind::UserCreate => "users.[userId].create",
            EventKind::UserDelete => "users.[userId].delete",
            EventKind::TokenCreate => "users.[userId].tokens.[tokenId].create",
            EventKind::SessionCreate => "users.[userId].sessions.[sessionId].create",
            EventKind::SessionDelete => "users.[userId].sessions.[sessionId].delete",
        }
    }

    /// A short stable tag, as stored.
    pub fn tag(self) -> &'static str {
        match self {
            EventKind::UserCreate => "user.create",
            EventKind::UserDelete => "user.delete",
            EventKind::TokenCreate => "token.create",
            EventKind::SessionCreate => "session.create",
            EventKind::SessionDelete => "session.delete",
        }
    }

    /// The kind of a [`tag`](EventKind::tag).
    pub fn from_tag(tag: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|kind| kind.tag() == tag)
    }
}

/// The object an event is about, as Appwrite's payload shows it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum EventObject {
    /// A user (its directory record).
    User(User),
    /// A token, with its secret (the one place besides an API-key response
    /// where the secret appears).
    Token(Token),
    /// A session (never with a credential).
    Session(Session),
}

/// One change. `id` is unique per event; once logged it is the log's entry
/// id, and deliveries carry it as an idempotency key.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Event {
    /// Unique id (the log's entry id once appended; empty before).
    pub id: String,
    /// What happened.
    pub kind: EventKind,
    /// Whose user it concerns.
    pub user_id: UserId,
    /// What it is about.
    pub object: EventObject,
    /// When it happened.
    pub at: DateTime<Utc>,
}

impl Event {
    /// An event, not yet logged (empty `id`).
    pub fn new(kind: EventKind, user_id: UserId, object: EventObject, at: DateTime<Utc>) -> Self {
        Event {
            id: String::new(),
            kind,
            user_id,
            object,
            at,
        }
    }

    /// The id of the token or session the event is about; the user's id
    /// for user events.
    pub fn resource_id(&self) -> &str {
        match &self.object {
            EventObject::Token(token) => &token.id,
            EventObject::Session(session) => &session.id,
            EventObject::User(_) => self.user_id.as_str(),
        }
    }

    /// Appwrite's name of this event, e.g.
    /// `users.alice.sessions.5f1c….delete`.
    pub fn name(&self) -> String {
        names::fill(self.kind.pattern(), self.user_id.as_str(), self.resource_id(), false)
    }

    /// Every name a subscription may use for this event, as Appwrite
    /// expands it (its `X-Appwrite-Webhook-Events`): the event and its
    /// parents, each with every parameter either given or `*`.
    pub fn names(&self) -> Vec<String> {
        names::expand(self.kind.pattern(), self.user_id.as_str(), self.resource_id())
    }
}

/// What one [`EventLog::read_after`] read.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Followed {
    /// The entries read that decode, in order. One that does not (a kind
    /// of a newer version during a rolling upgrade, a token sealed under
    /// another server secret) is skipped with a `tracing` error.
    pub events: Vec<Event>,
    /// The id of the last entry read, whether it decoded or not: where the
    /// next read starts, so that undecodable entries never hold a follower
    /// back. `None` when nothing was read.
    pub last_id: Option<String>,
}

/// An event as the log holds it for a consumer.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct LoggedEvent {
    /// The event (its `id` is the entry id).
    pub event: Event,
    /// How many times the log handed it to a consumer of this group
    /// (1 on the first delivery).
    pub deliveries: u64,
    /// Why it was dead-lettered, on entries of
    /// [`dead_letters`](EventLog::dead_letters); `None` elsewhere.
    pub reason: Option<String>,
}

impl LoggedEvent {
    pub(crate) fn new(event: Event, deliveries: u64) -> Self {
        LoggedEvent {
            event,
            deliveries,
            reason: None,
        }
    }
}

/// The state of a log, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct LogStats {
    /// Entries in the log.
    pub len: u64,
    /// Entries handed to the group's consumers and not yet acknowledged.
    pub pending: u64,
    /// Age of the oldest entry the group has not acknowledged (pending or
    /// not yet read); zero when the group is up to date.
    pub oldest_unacknowledged: Duration,
    /// Entries in the dead-letter log.
    pub dead: u64,
}

/// Bounds and names of a log.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EventLogConfig {
    /// Entries older than this are trimmed (default 24 h). `RedisEventLog`
    /// trims by age at most once a second per process (every half
    /// `max_age` when that is shorter), so an entry may outlive it by that
    /// interval.
    pub max_age: Duration,
    /// At most about this many entries are kept (default 100,000).
    pub max_len: u64,
}

impl Default for EventLogConfig {
    fn default() -> Self {
        EventLogConfig {
            max_age: Duration::from_secs(24 * 3600),
            max_len: 100_000,
        }
    }
}

impl EventLogConfig {
    /// Sets the age beyond which entries are trimmed.
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = tokengate::events::EventLogConfig::default().max_age(Duration::from_secs(3600));
    /// assert_eq!(config.max_age, Duration::from_secs(3600));
    /// ```
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// Sets about how many entries are kept (at least 1).
    ///
    /// ```
    /// let config = tokengate::events::EventLogConfig::default().max_len(1_000);
    /// assert_eq!(config.max_len, 1_000);
    /// ```
    pub fn max_len(mut self, max_len: u64) -> Self {
        self.max_len = max_len.max(1);
        self
    }
}

/// Where events are kept until delivered: appended by the gate, read by
/// consumer groups (each event to one consumer of a group, acknowledged
/// after it was handled; entries of a consumer that died are claimed by
/// another) or followed by every process ([`read_after`](EventLog::read_after)).
/// `RedisEventLog` keeps them in a Redis Stream, `MemoryEventLog` in
/// process.
#[async_trait]
pub trait EventLog: Send + Sync + fmt::Debug + 'static {
    /// Appends `events` in order; answers their ids.
    async fn append(&self, events: &[Event]) -> Result<Vec<String>, StoreError>;

    /// Up to `count` entries never handed to `group` before, now pending at
    /// `consumer`; waits up to `block` when there are none. Creates the
    /// group (from the log's start) on first use.
    async fn read_group(
        &self,
        group: &str,
        consumer: &str,
        count: usize,
        block: Duration,
    ) -> Result<Vec<LoggedEvent>, StoreError>;

    /// Up to `count` entries pending at any consumer of `group` for at least
    /// `min_idle` (a consumer that died or is retrying), now pending at
    /// `consumer`, oldest first.
    async fn claim_stale(
        &self,
        group: &str,
        consumer: &str,
        min_idle: Duration,
        count: usize,
    ) -> Result<Vec<LoggedEvent>, StoreError>;

    /// Marks entries of `group` handled.
    async fn ack(&self, group: &str, ids: &[String]) -> Result<(), StoreError>;

    /// Moves an entry of `group` to the dead-letter log (with `reason`) and
    /// acknowledges it, in one step.
    async fn dead_letter(&self, group: &str, event: &LoggedEvent, reason: &str) -> Result<(), StoreError>;

    /// Up to `count` dead-lettered entries, oldest first.
    async fn dead_letters(&self, count: usize) -> Result<Vec<LoggedEvent>, StoreError>;

    /// Appends a dead-lettered entry again as a new event and removes it
    /// from the dead-letter log; answers the new id.
    async fn redrive(&self, id: &str) -> Result<Option<String>, StoreError>;

    /// Up to `count` entries after `after` (`"$"`-like `None`: only entries
    /// appended from now on), waiting up to `block`: every process sees
    /// every event. The next read starts after [`Followed::last_id`].
    async fn read_after(&self, after: Option<&str>, count: usize, block: Duration) -> Result<Followed, StoreError>;

    /// The log's state as `group` sees it.
    async fn stats(&self, group: &str) -> Result<LogStats, StoreError>;
}
