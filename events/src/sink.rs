//! [`LogSink`]: the gate's events into an [`EventLog`], in the background.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokengate::events::{Event, EventSink};
use tokio::sync::Notify;

use crate::log::EventLog;

/// The sink the gate announces to ([`GateBuilder::event_sink`](tokengate::GateBuilder::event_sink)):
/// it queues events, in order, and one background task appends them to the
/// log in batches, so that no request waits for the log (enabling events
/// adds no round trip to issuing, exchanging or logging out). Every event
/// is complete when queued: the appender reads nothing.
///
/// Loss: what is queued when the process dies, a batch the log refused
/// three times, and what arrives while the queue (100,000 events) is full,
/// each logged and counted in `tokengate_events_lost_total`. A standalone
/// Redis store can instead write each change's events in the change's own
/// script ([`RedisEventLog::stream`](crate::RedisEventLog::stream)).
#[derive(Debug)]
pub struct LogSink {
    log: Arc<dyn EventLog>,
    queue: Mutex<Queue>,
    wake: Notify,
    /// Announced minus appended (or lost): `flush` waits for zero.
    outstanding: AtomicU64,
    drained: Notify,
    me: std::sync::Weak<LogSink>,
}

#[derive(Debug, Default)]
struct Queue {
    pending: VecDeque<Event>,
    running: bool,
}

/// Attempts per batch before it is dropped (and counted as lost).
const APPEND_ATTEMPTS: u32 = 3;
/// Events per append: one pipeline well inside the store's response
/// timeout, so that a slow batch is not sent again while Redis runs it.
const BATCH: usize = 500;
/// Events queued at most; beyond, new ones are dropped (and counted): the
/// log is down or far behind, and memory must stay bounded.
const QUEUE_LIMIT: usize = 100_000;

impl LogSink {
    /// A sink appending to `log`; keep a clone for [`flush`](LogSink::flush).
    /// The appender starts on the first event, inside the caller's Tokio
    /// runtime.
    pub fn new(log: Arc<dyn EventLog>) -> Arc<LogSink> {
        Arc::new_cyclic(|me| LogSink {
            me: me.clone(),
            log,
            queue: Mutex::new(Queue::default()),
            wake: Notify::new(),
            outstanding: AtomicU64::new(0),
            drained: Notify::new(),
        })
    }

    /// The log appended to.
    pub fn log(&self) -> &Arc<dyn EventLog> {
        &self.log
    }

    /// Queues `events` in order; starts the appender on first use (inside
    /// the caller's Tokio runtime).
    fn queue(self: &Arc<Self>, events: Vec<Event>) {
        if events.is_empty() {
            return;
        }
        let start = {
            let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
            if queue.pending.len() + events.len() > QUEUE_LIMIT {
                drop(queue);
                tracing::error!(lost = events.len(), "event queue full; events lost");
                metrics::counter!("tokengate_events_lost_total").increment(events.len() as u64);
                return;
            }
            self.outstanding.fetch_add(events.len() as u64, Ordering::SeqCst);
            queue.pending.extend(events);
            !std::mem::replace(&mut queue.running, true)
        };
        if start {
            let me = self.clone();
            tokio::spawn(async move { me.run().await });
        }
        self.wake.notify_one();
    }

    /// Waits until every event announced so far is in the log (or was given
    /// up after repeated failures, which is logged): before shutting down,
    /// or in tests before reading the log.
    pub async fn flush(&self) {
        loop {
            let drained = self.drained.notified();
            if self.outstanding.load(Ordering::SeqCst) == 0 {
                return;
            }
            drained.await;
        }
    }

    async fn run(self: Arc<Self>) {
        loop {
            let batch: Vec<Event> = {
                let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
                let take = queue.pending.len().min(BATCH);
                queue.pending.drain(..take).collect()
            };
            if batch.is_empty() {
                let woken = self.wake.notified();
                if self.queue.lock().unwrap_or_else(|e| e.into_inner()).pending.is_empty() {
                    woken.await;
                }
                continue;
            }
            let count = batch.len() as u64;
            self.append(&batch).await;
            self.outstanding.fetch_sub(count, Ordering::SeqCst);
            self.drained.notify_waiters();
        }
    }

    async fn append(&self, events: &[Event]) {
        let mut delay = Duration::from_millis(100);
        for attempt in 1..=APPEND_ATTEMPTS {
            match self.log.append(events).await {
                Ok(_) => return,
                Err(error) if attempt < APPEND_ATTEMPTS => {
                    tracing::warn!(%error, attempt, "event log append failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 4;
                }
                Err(error) => {
                    tracing::error!(%error, lost = events.len(), "event log append failed; events lost");
                    metrics::counter!("tokengate_events_lost_total").increment(events.len() as u64);
                }
            }
        }
    }
}

/// `announce` needs the `Arc` (the appender task holds one): the sink is
/// always made shared ([`LogSink::new`]), so it keeps a weak handle to itself.
impl EventSink for LogSink {
    fn announce(&self, events: Vec<Event>) {
        if let Some(me) = self.me.upgrade() {
            me.queue(events);
        }
    }
}
