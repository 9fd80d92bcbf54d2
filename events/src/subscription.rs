//! Following the log from Rust: every event, in every process
//! ([`follow`]), or each event once across the processes of a consumer
//! group ([`GroupSubscription`]).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use futures_util::Stream;

use crate::log::{EventLog, LoggedEvent};
use crate::pattern::EventPattern;
use tokengate::events::Event;
use tokengate::StoreError;

/// How long one read waits for new entries.
const BLOCK: Duration = Duration::from_secs(1);
/// Entries per read.
const BATCH: usize = 100;

/// Whether `event` is one of `patterns` (all events when there are none).
fn wanted(patterns: &[EventPattern], event: &Event) -> bool {
    patterns.is_empty() || patterns.iter().any(|p| p.matches(event))
}

/// Every event appended to `log` from now on that matches one of
/// `patterns` (all when empty), in log order, in this process: every
/// process that follows the log sees every event (a broadcast). A store
/// failure is yielded as an `Err` and the stream goes on from where it was.
///
/// ```
/// use std::sync::Arc;
/// use futures_util::StreamExt;
/// use tokengate_events::{follow, EventLog, EventPattern, LogSink, MemoryEventLog};
/// use tokengate::{Gate, ServerSecret, TokenOptions, UserId, store::MemoryStore};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let log: Arc<dyn EventLog> = Arc::new(MemoryEventLog::new(ServerSecret::new([5u8; 32]).unwrap()));
/// let gate = Gate::builder().server_secret([5u8; 32]).store(MemoryStore::new())
///     .event_sink(LogSink::new(log.clone())).build().unwrap();
/// let tokens = vec![EventPattern::parse("users.*.tokens.*.create").unwrap()];
/// let mut events = Box::pin(follow(log, tokens));
/// let alice = UserId::parse("alice").unwrap();
/// gate.create_token(&alice, TokenOptions::default()).await.unwrap();
/// let event = events.next().await.unwrap().unwrap();
/// assert!(event.name().starts_with("users.alice.tokens."));
/// # });
/// ```
pub fn follow(
    log: Arc<dyn EventLog>,
    patterns: Vec<EventPattern>,
) -> impl Stream<Item = Result<Event, StoreError>> + Send + 'static {
    // Entry ids are `<ms>-<seq>`: "after now" is after `<now>-0`, so that
    // nothing appended between two reads is missed.
    let start = format!("{}-0", crate::now_ms());
    let state = (log, patterns, start, VecDeque::<Event>::new());
    futures_util::stream::unfold(state, |(log, patterns, mut cursor, mut buffer)| async move {
        loop {
            if let Some(event) = buffer.pop_front() {
                return Some((Ok(event), (log, patterns, cursor, buffer)));
            }
            match log.read_after(Some(&cursor), BATCH, BLOCK).await {
                Ok(read) => {
                    if let Some(last) = read.last_id {
                        cursor = last;
                    }
                    buffer.extend(read.events.into_iter().filter(|e| wanted(&patterns, e)));
                }
                Err(error) => {
                    tokio::time::sleep(BLOCK).await;
                    return Some((Err(error), (log, patterns, cursor, buffer)));
                }
            }
        }
    })
}

/// A consumer of a group: each event of the log goes to one consumer of
/// the group, across processes, until acknowledged; what a consumer that
/// died left pending is claimed by another after `claim_after`. Events
/// that match none of the patterns are acknowledged without being handed
/// out.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use tokengate_events::{EventLog, EventPattern, GroupSubscription, LogSink, MemoryEventLog};
/// use tokengate::{Gate, ServerSecret, TokenOptions, UserId, store::MemoryStore};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let log: Arc<dyn EventLog> = Arc::new(MemoryEventLog::new(ServerSecret::new([5u8; 32]).unwrap()));
/// let gate = Gate::builder().server_secret([5u8; 32]).store(MemoryStore::new())
///     .event_sink(LogSink::new(log.clone())).build().unwrap();
/// let mut logouts = GroupSubscription::new(log, "sockets", "worker-1", vec![EventPattern::parse("users.*").unwrap()]);
/// gate.create_token(&UserId::parse("bob").unwrap(), TokenOptions::default()).await.unwrap();
/// let delivery = logouts.next().await.unwrap();
/// assert_eq!(delivery.event.name(), "users.bob.create");
/// logouts.ack(&delivery).await.unwrap();
/// # });
/// ```
#[derive(Debug)]
pub struct GroupSubscription {
    log: Arc<dyn EventLog>,
    group: String,
    consumer: String,
    patterns: Vec<EventPattern>,
    claim_after: Duration,
    buffer: VecDeque<LoggedEvent>,
}

impl GroupSubscription {
    /// A consumer `consumer` (unique per process) of `group`; entries idle
    /// for 60 s at another consumer are claimed.
    pub fn new(
        log: Arc<dyn EventLog>,
        group: impl Into<String>,
        consumer: impl Into<String>,
        patterns: Vec<EventPattern>,
    ) -> Self {
        GroupSubscription {
            log,
            group: group.into(),
            consumer: consumer.into(),
            patterns,
            claim_after: Duration::from_secs(60),
            buffer: VecDeque::new(),
        }
    }

    /// After how long an entry pending at another consumer is taken over.
    ///
    /// ```
    /// # use std::{sync::Arc, time::Duration};
    /// # use tokengate_events::{GroupSubscription, MemoryEventLog};
    /// # use tokengate::ServerSecret;
    /// let log = Arc::new(MemoryEventLog::new(ServerSecret::new([5u8; 32]).unwrap()));
    /// let sub = GroupSubscription::new(log, "g", "c", vec![]).claim_after(Duration::from_secs(5));
    /// # drop(sub);
    /// ```
    pub fn claim_after(mut self, after: Duration) -> Self {
        self.claim_after = after;
        self
    }

    /// The next event for this consumer (waits for one). An entry another
    /// consumer left pending past `claim_after` comes first.
    pub async fn next(&mut self) -> Result<LoggedEvent, StoreError> {
        loop {
            if let Some(delivery) = self.buffer.pop_front() {
                return Ok(delivery);
            }
            let mut batch = self
                .log
                .claim_stale(&self.group, &self.consumer, self.claim_after, BATCH)
                .await?;
            if batch.is_empty() {
                batch = self.log.read_group(&self.group, &self.consumer, BATCH, BLOCK).await?;
            }
            let (wanted_now, unwanted): (Vec<_>, Vec<_>) =
                batch.into_iter().partition(|d| wanted(&self.patterns, &d.event));
            if !unwanted.is_empty() {
                let ids: Vec<String> = unwanted.into_iter().map(|d| d.event.id).collect();
                self.log.ack(&self.group, &ids).await?;
            }
            self.buffer.extend(wanted_now);
        }
    }

    /// Marks `delivery` handled: no consumer of the group gets it again.
    pub async fn ack(&self, delivery: &LoggedEvent) -> Result<(), StoreError> {
        self.log
            .ack(&self.group, std::slice::from_ref(&delivery.event.id))
            .await
    }
}
