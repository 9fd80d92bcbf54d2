//! Announcing changes as [`Event`]s: the gate queues them, in order, and
//! one background task appends them to the event log in batches, so that
//! no request waits for the log (enabling events adds no round trip to
//! issuing, exchanging or logging out). Every event is complete when
//! queued: the appender reads nothing. Loss: what is queued when the
//! process dies, a batch the log refused three times, and what arrives
//! while the queue is full (each logged and counted in
//! `tokengate_events_lost_total`).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::Notify;

use crate::directory::User;
use crate::events::{Event, EventKind, EventLog, EventObject};
use crate::model::{Session, Token, UserId};
use crate::store::SessionRecord;

/// An event to announce.
#[derive(Debug)]
pub(crate) struct Pending(Event);

impl Pending {
    /// The event.
    pub(crate) fn into_event(self) -> Event {
        self.0
    }

    pub(crate) fn user_created(user: User) -> Pending {
        let (id, at) = (user.id.clone(), user.created_at);
        Pending(Event::new(EventKind::UserCreate, id, EventObject::User(user), at))
    }

    pub(crate) fn token_created(token: &Token) -> Pending {
        let event = Event::new(
            EventKind::TokenCreate,
            token.user_id.clone(),
            EventObject::Token(token.clone()),
            token.created_at,
        );
        Pending(event)
    }

    pub(crate) fn session(kind: EventKind, session: Session, at: DateTime<Utc>) -> Pending {
        let user = session.user_id.clone();
        Pending(Event::new(kind, user, EventObject::Session(session), at))
    }

    pub(crate) fn sessions_deleted(user: &UserId, records: Vec<SessionRecord>, at: DateTime<Utc>) -> Vec<Pending> {
        records
            .into_iter()
            .map(|record| Pending::session(EventKind::SessionDelete, record.into_session(user.clone()), at))
            .collect()
    }

    pub(crate) fn user_deleted(user: User, at: DateTime<Utc>) -> Pending {
        let id = user.id.clone();
        Pending(Event::new(EventKind::UserDelete, id, EventObject::User(user), at))
    }
}

/// The queue and its one appender.
#[derive(Debug)]
pub(crate) struct Announcer {
    log: Arc<dyn EventLog>,
    queue: Mutex<Queue>,
    wake: Notify,
    /// Announced minus appended (or lost): `flush` waits for zero.
    outstanding: AtomicU64,
    drained: Notify,
}

#[derive(Debug, Default)]
struct Queue {
    pending: VecDeque<Pending>,
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

impl Announcer {
    pub(crate) fn new(log: Arc<dyn EventLog>) -> Arc<Announcer> {
        Arc::new(Announcer {
            log,
            queue: Mutex::new(Queue::default()),
            wake: Notify::new(),
            outstanding: AtomicU64::new(0),
            drained: Notify::new(),
        })
    }

    pub(crate) fn log(&self) -> &Arc<dyn EventLog> {
        &self.log
    }

    /// Queues `events` in order; starts the appender on first use (inside
    /// the caller's Tokio runtime).
    pub(crate) fn announce(self: &Arc<Self>, events: Vec<Pending>) {
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

    /// Waits until everything announced so far is appended (or lost).
    pub(crate) async fn flush(&self) {
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
            let batch: Vec<Pending> = {
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
            let events: Vec<Event> = batch.into_iter().map(|Pending(event)| event).collect();
            self.append(&events).await;
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
