//! [`EventLog`]: where events are kept until delivered, and what it answers.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use tokengate::events::Event;
use tokengate::StoreError;

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
    /// let config = tokengate_events::EventLogConfig::default().max_age(Duration::from_secs(3600));
    /// assert_eq!(config.max_age, Duration::from_secs(3600));
    /// ```
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// Sets about how many entries are kept (at least 1).
    ///
    /// ```
    /// let config = tokengate_events::EventLogConfig::default().max_len(1_000);
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
