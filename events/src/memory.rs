//! [`MemoryEventLog`]: the in-process event log, with the semantics of a
//! Redis Stream and its consumer groups.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::sync::Notify;

use crate::log::{EventLog, EventLogConfig, Followed, LogStats, LoggedEvent};
use crate::now_ms;
use crate::seal::EventCodec;
use tokengate::events::Event;
use tokengate::ServerSecret;
use tokengate::StoreError;

/// The in-process [`EventLog`] (for the embedded store and tests): what a
/// Redis Stream with consumer groups does, in one process.
///
/// - Entry ids are `<ms>-<seq>` like Redis's, strictly increasing (a clock
///   that steps back keeps the last millisecond and counts on).
/// - Each group remembers the last entry it handed out and its pending
///   entries (consumer, deliveries, time of the last delivery);
///   [`read_group`](EventLog::read_group) hands out entries after the last
///   one, [`claim_stale`](EventLog::claim_stale) moves pending entries idle
///   for long enough to another consumer (like `XAUTOCLAIM`),
///   [`ack`](EventLog::ack) removes them from the pending list.
/// - Blocking reads wait on a [`Notify`] (woken by every append) for at most
///   `block`; the lock is never held across an await.
/// - Appending trims exactly: entries older than
///   [`max_age`](EventLogConfig::max_age) and beyond
///   [`max_len`](EventLogConfig::max_len) go, and pending entries whose entry
///   went with them are dropped. The dead-letter log keeps at most `max_len`
///   entries (no age limit).
/// - Entries are held encoded, as `RedisEventLog`
///   stores them (the token secret sealed under a key derived from the
///   server secret): 215 bytes for an email OTP's `token.create` with a
///   phrase, 284 for a browser's `session.create`, plus some 100 bytes of
///   bookkeeping per entry.
///
/// Cloning shares the log.
///
/// ```
/// use std::time::Duration;
/// use tokengate_events::{EventLog, EventLogConfig, MemoryEventLog};
/// use tokengate::ServerSecret;
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let log = MemoryEventLog::new(ServerSecret::random())
///     .with_config(EventLogConfig::default().max_len(10_000).max_age(Duration::from_secs(3600)));
/// // Nothing logged yet: a consumer of group "webhooks" waits up to 10 ms.
/// let batch = log.read_group("webhooks", "worker-1", 10, Duration::from_millis(10)).await.unwrap();
/// assert!(batch.is_empty());
/// assert_eq!(log.stats("webhooks").await.unwrap().len, 0);
/// # });
/// ```
#[derive(Clone)]
pub struct MemoryEventLog {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    appended: Notify,
    codec: EventCodec,
    config: EventLogConfig,
}

#[derive(Default)]
struct State {
    entries: VecDeque<(EntryId, Vec<u8>)>,
    last: EntryId,
    groups: HashMap<String, Group>,
    dead: VecDeque<(EntryId, Dead)>,
    dead_last: EntryId,
}

#[derive(Default)]
struct Group {
    last_delivered: EntryId,
    pending: BTreeMap<EntryId, Pending>,
}

struct Pending {
    consumer: String,
    deliveries: u64,
    delivered: Instant,
}

#[derive(Clone)]
struct Dead {
    bytes: Vec<u8>,
    deliveries: u64,
    reason: String,
}

/// A stream entry id, `<ms>-<seq>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
struct EntryId {
    ms: u64,
    seq: u64,
}

impl EntryId {
    fn parse(text: &str) -> Option<Self> {
        let (ms, seq) = text.split_once('-').unwrap_or((text, "0"));
        Some(EntryId {
            ms: ms.parse().ok()?,
            seq: seq.parse().ok()?,
        })
    }

    /// The id after `self` for an entry appended at `now_ms`.
    fn next(self, now_ms: u64) -> Self {
        if now_ms > self.ms {
            EntryId { ms: now_ms, seq: 0 }
        } else {
            EntryId {
                ms: self.ms,
                seq: self.seq + 1,
            }
        }
    }
}

impl fmt::Display for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

impl fmt::Debug for MemoryEventLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryEventLog")
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

fn now() -> u64 {
    u64::try_from(now_ms()).unwrap_or(0)
}

fn bad_id(id: &str) -> StoreError {
    StoreError::new(format!("not an event id: {id:?}"))
}

impl MemoryEventLog {
    /// An empty log with the [default bounds](EventLogConfig::default);
    /// token secrets in it are sealed under a key derived from `secret`.
    pub fn new(secret: ServerSecret) -> Self {
        Self::from_parts(EventCodec::new(&secret), EventLogConfig::default())
    }

    /// The same log, empty, with other bounds.
    pub fn with_config(self, config: EventLogConfig) -> Self {
        Self::from_parts(self.shared.codec.clone(), config)
    }

    fn from_parts(codec: EventCodec, config: EventLogConfig) -> Self {
        MemoryEventLog {
            shared: Arc::new(Shared {
                state: Mutex::new(State::default()),
                appended: Notify::new(),
                codec,
                config,
            }),
        }
    }

    /// The bounds in force.
    pub fn config(&self) -> &EventLogConfig {
        &self.shared.config
    }

    /// Every stored entry as held (the log's, then the dead letters'), for
    /// the event-log contract's "no plaintext stored" checks
    /// (`tokengate-testing`); not for production use.
    #[doc(hidden)]
    pub fn dump(&self) -> Vec<Vec<u8>> {
        let state = self.lock();
        let live = state.entries.iter().map(|(_, bytes)| bytes.clone());
        live.chain(state.dead.iter().map(|(_, dead)| dead.bytes.clone()))
            .collect()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock leaves consistent data
        // (every change is made in place, step by step, without awaits).
        self.shared.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn decode(&self, id: EntryId, bytes: &[u8]) -> Option<Event> {
        match self.shared.codec.decode(bytes) {
            Ok(mut event) => {
                event.id = id.to_string();
                Some(event)
            }
            Err(error) => {
                tracing::error!(id = %id, %error, "event log: an entry does not decode; skipped");
                None
            }
        }
    }

    /// Runs `attempt` under the lock until it yields something or `block`
    /// has passed (woken by every append).
    async fn wait_for<T>(&self, block: Duration, mut attempt: impl FnMut(&mut State) -> Vec<T>) -> Vec<T> {
        let deadline = tokio::time::Instant::now() + block;
        loop {
            let notified = self.shared.appended.notified();
            tokio::pin!(notified);
            // Registered before looking, so an append in between wakes it.
            notified.as_mut().enable();
            let found = attempt(&mut self.lock());
            if !found.is_empty() || tokio::time::Instant::now() >= deadline {
                return found;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return attempt(&mut self.lock());
            }
        }
    }

    fn trim(&self, state: &mut State) {
        let config = &self.shared.config;
        let oldest_kept = now().saturating_sub(u64::try_from(config.max_age.as_millis()).unwrap_or(u64::MAX));
        let max_len = usize::try_from(config.max_len).unwrap_or(usize::MAX);
        let before = state.entries.len();
        while state.entries.len() > max_len || state.entries.front().is_some_and(|(id, _)| id.ms < oldest_kept) {
            state.entries.pop_front();
        }
        if state.entries.len() != before {
            let first = state.entries.front().map_or(state.last.next(u64::MAX), |(id, _)| *id);
            for group in state.groups.values_mut() {
                group.pending = group.pending.split_off(&first);
            }
        }
    }

    fn entry(entries: &VecDeque<(EntryId, Vec<u8>)>, id: EntryId) -> Option<&[u8]> {
        let index = entries.binary_search_by(|(entry, _)| entry.cmp(&id)).ok()?;
        Some(&entries[index].1)
    }
}

#[async_trait]
impl EventLog for MemoryEventLog {
    async fn append(&self, events: &[Event]) -> Result<Vec<String>, StoreError> {
        let encoded = events
            .iter()
            .map(|event| self.shared.codec.encode(event))
            .collect::<Result<Vec<_>, _>>()?;
        let mut ids = Vec::with_capacity(encoded.len());
        {
            let mut state = self.lock();
            for bytes in encoded {
                let id = state.last.next(now());
                state.last = id;
                state.entries.push_back((id, bytes));
                ids.push(id.to_string());
            }
            self.trim(&mut state);
        }
        self.shared.appended.notify_waiters();
        Ok(ids)
    }

    async fn read_group(
        &self,
        group: &str,
        consumer: &str,
        count: usize,
        block: Duration,
    ) -> Result<Vec<LoggedEvent>, StoreError> {
        let count = count.max(1);
        let raw = self
            .wait_for(block, |state| {
                let State { entries, groups, .. } = state;
                let group = groups.entry(group.to_owned()).or_default();
                let start = entries.partition_point(|(id, _)| *id <= group.last_delivered);
                let batch: Vec<(EntryId, Vec<u8>)> = entries.range(start..).take(count).cloned().collect();
                let delivered = Instant::now();
                for (id, _) in &batch {
                    group.last_delivered = *id;
                    group.pending.insert(
                        *id,
                        Pending {
                            consumer: consumer.to_owned(),
                            deliveries: 1,
                            delivered,
                        },
                    );
                }
                batch
            })
            .await;
        Ok(raw
            .into_iter()
            .filter_map(|(id, bytes)| self.decode(id, &bytes).map(|event| LoggedEvent::new(event, 1)))
            .collect())
    }

    async fn claim_stale(
        &self,
        group: &str,
        consumer: &str,
        min_idle: Duration,
        count: usize,
    ) -> Result<Vec<LoggedEvent>, StoreError> {
        let claimed = {
            let mut state = self.lock();
            let state = &mut *state;
            let Some(pending) = state.groups.get_mut(group).map(|g| &mut g.pending) else {
                return Ok(Vec::new());
            };
            let now = Instant::now();
            let mut claimed = Vec::new();
            for (id, entry) in pending.iter_mut() {
                if claimed.len() == count.max(1) {
                    break;
                }
                if now.duration_since(entry.delivered) < min_idle {
                    continue;
                }
                entry.consumer = consumer.to_owned();
                entry.deliveries += 1;
                entry.delivered = now;
                if let Some(bytes) = Self::entry(&state.entries, *id) {
                    claimed.push((*id, bytes.to_vec(), entry.deliveries));
                }
            }
            claimed
        };
        Ok(claimed
            .into_iter()
            .filter_map(|(id, bytes, deliveries)| {
                self.decode(id, &bytes).map(|event| LoggedEvent::new(event, deliveries))
            })
            .collect())
    }

    async fn ack(&self, group: &str, ids: &[String]) -> Result<(), StoreError> {
        let ids = ids
            .iter()
            .map(|id| EntryId::parse(id).ok_or_else(|| bad_id(id)))
            .collect::<Result<Vec<_>, _>>()?;
        let mut state = self.lock();
        if let Some(group) = state.groups.get_mut(group) {
            for id in ids {
                group.pending.remove(&id);
            }
        }
        Ok(())
    }

    async fn dead_letter(&self, group: &str, event: &LoggedEvent, reason: &str) -> Result<(), StoreError> {
        let id = EntryId::parse(&event.event.id).ok_or_else(|| bad_id(&event.event.id))?;
        let bytes = self.shared.codec.encode(&event.event)?;
        let mut state = self.lock();
        let dead_id = state.dead_last.next(now());
        state.dead_last = dead_id;
        state.dead.push_back((
            dead_id,
            Dead {
                bytes,
                deliveries: event.deliveries,
                reason: reason.to_owned(),
            },
        ));
        let max_len = usize::try_from(self.shared.config.max_len).unwrap_or(usize::MAX);
        while state.dead.len() > max_len {
            state.dead.pop_front();
        }
        if let Some(group) = state.groups.get_mut(group) {
            group.pending.remove(&id);
        }
        tracing::debug!(%id, %dead_id, reason, "event log: dead-lettered");
        Ok(())
    }

    async fn dead_letters(&self, count: usize) -> Result<Vec<LoggedEvent>, StoreError> {
        let raw: Vec<(EntryId, Dead)> = self
            .lock()
            .dead
            .iter()
            .take(count)
            .map(|(id, dead)| (*id, dead.clone()))
            .collect();
        Ok(raw
            .into_iter()
            .filter_map(|(id, dead)| {
                self.decode(id, &dead.bytes).map(|event| LoggedEvent {
                    reason: Some(dead.reason),
                    ..LoggedEvent::new(event, dead.deliveries)
                })
            })
            .collect())
    }

    async fn redrive(&self, id: &str) -> Result<Option<String>, StoreError> {
        let dead_id = EntryId::parse(id).ok_or_else(|| bad_id(id))?;
        let new_id = {
            let mut state = self.lock();
            let Ok(index) = state.dead.binary_search_by(|(entry, _)| entry.cmp(&dead_id)) else {
                return Ok(None);
            };
            let (_, dead) = state.dead.remove(index).expect("found above");
            let new_id = state.last.next(now());
            state.last = new_id;
            state.entries.push_back((new_id, dead.bytes));
            self.trim(&mut state);
            new_id
        };
        self.shared.appended.notify_waiters();
        Ok(Some(new_id.to_string()))
    }

    async fn read_after(&self, after: Option<&str>, count: usize, block: Duration) -> Result<Followed, StoreError> {
        let count = count.max(1);
        let after = match after {
            Some(id) => EntryId::parse(id).ok_or_else(|| bad_id(id))?,
            None => self.lock().last,
        };
        let raw = self
            .wait_for(block, |state| {
                let start = state.entries.partition_point(|(id, _)| *id <= after);
                state.entries.range(start..).take(count).cloned().collect::<Vec<_>>()
            })
            .await;
        Ok(Followed {
            last_id: raw.last().map(|(id, _)| id.to_string()),
            events: raw
                .into_iter()
                .filter_map(|(id, bytes)| self.decode(id, &bytes))
                .collect(),
        })
    }

    async fn stats(&self, group: &str) -> Result<LogStats, StoreError> {
        let state = self.lock();
        let (pending, oldest) = match state.groups.get(group) {
            Some(g) => {
                let first_pending = g.pending.keys().next().copied();
                let first_unread = state
                    .entries
                    .get(state.entries.partition_point(|(id, _)| *id <= g.last_delivered))
                    .map(|(id, _)| *id);
                let oldest = match (first_pending, first_unread) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                (g.pending.len() as u64, oldest)
            }
            None => (0, state.entries.front().map(|(id, _)| *id)),
        };
        Ok(LogStats {
            len: state.entries.len() as u64,
            pending,
            oldest_unacknowledged: oldest
                .map_or(Duration::ZERO, |id| Duration::from_millis(now().saturating_sub(id.ms))),
            dead: state.dead.len() as u64,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_events::{session_event, token_event};

    #[test]
    fn ids_increase_like_redis() {
        let a = EntryId::default().next(5);
        assert_eq!(a.to_string(), "5-0");
        assert_eq!(a.next(5).to_string(), "5-1");
        assert_eq!(a.next(4).to_string(), "5-1");
        assert_eq!(a.next(6).to_string(), "6-0");
        assert_eq!(EntryId::parse("5-1"), Some(a.next(5)));
        assert!(EntryId::parse("x").is_none());
    }

    #[tokio::test]
    async fn a_blocked_reader_wakes_on_append() {
        let log = MemoryEventLog::new(ServerSecret::random());
        let reader = {
            let log = log.clone();
            tokio::spawn(async move { log.read_group("g", "c", 10, Duration::from_secs(5)).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        let started = Instant::now();
        log.append(&[token_event("alice", "123456"), session_event("alice")])
            .await
            .unwrap();
        let got = reader.await.unwrap().unwrap();
        assert!(!got.is_empty());
        // Woken by the append, not by the end of its 5 s block (the margin
        // is for a machine whose cores are all busy).
        assert!(started.elapsed() < Duration::from_secs(4), "{:?}", started.elapsed());
    }
}
