//! Announcing changes as [`Event`]s: the gate queues them, in order, and
//! one background task appends them to the event log, so that no request
//! waits for the log (enabling events adds no round trip to issuing,
//! exchanging or logging out). Loss: what is queued when the process dies,
//! and a batch the log refused three times (logged, counted).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::Notify;

use crate::directory::{Directory, User};
use crate::events::{Event, EventKind, EventLog, EventObject};
use crate::model::{Session, Token, UserId};
use crate::store::SessionRecord;

/// An event to announce; a new user's record is read by the background
/// task (its address, set by the flow that made it), not by the request.
#[derive(Debug)]
pub(crate) enum Pending {
    Ready(Event),
    UserCreated(UserId, DateTime<Utc>),
}

impl Pending {
    pub(crate) fn token_created(token: &Token) -> Pending {
        let event = Event::new(
            EventKind::TokenCreate,
            token.user_id.clone(),
            EventObject::Token(token.clone()),
            token.created_at,
        );
        Pending::Ready(event)
    }

    pub(crate) fn session(kind: EventKind, session: Session, at: DateTime<Utc>) -> Pending {
        let user = session.user_id.clone();
        Pending::Ready(Event::new(kind, user, EventObject::Session(session), at))
    }

    pub(crate) fn sessions_deleted(user: &UserId, records: Vec<SessionRecord>, at: DateTime<Utc>) -> Vec<Pending> {
        records
            .into_iter()
            .map(|record| Pending::session(EventKind::SessionDelete, record.into_session(user.clone()), at))
            .collect()
    }

    pub(crate) fn user_deleted(user: User, at: DateTime<Utc>) -> Pending {
        let id = user.id.clone();
        Pending::Ready(Event::new(EventKind::UserDelete, id, EventObject::User(user), at))
    }
}

/// The queue and its one appender.
#[derive(Debug)]
pub(crate) struct Announcer {
    log: Arc<dyn EventLog>,
    directory: Arc<dyn Directory>,
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

impl Announcer {
    pub(crate) fn new(log: Arc<dyn EventLog>, directory: Arc<dyn Directory>) -> Arc<Announcer> {
        Arc::new(Announcer {
            log,
            directory,
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
        self.outstanding.fetch_add(events.len() as u64, Ordering::SeqCst);
        let start = {
            let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
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
                queue.pending.drain(..).collect()
            };
            if batch.is_empty() {
                let woken = self.wake.notified();
                if self.queue.lock().unwrap_or_else(|e| e.into_inner()).pending.is_empty() {
                    woken.await;
                }
                continue;
            }
            let count = batch.len() as u64;
            let mut events = Vec::with_capacity(batch.len());
            for pending in batch {
                events.push(self.resolve(pending).await);
            }
            self.append(&events).await;
            self.outstanding.fetch_sub(count, Ordering::SeqCst);
            self.drained.notify_waiters();
        }
    }

    async fn resolve(&self, pending: Pending) -> Event {
        match pending {
            Pending::Ready(event) => event,
            Pending::UserCreated(user, at) => {
                // The record as the flow made it (email or phone); a user
                // deleted meanwhile is announced with what is known.
                let found = self.directory.get(&user).await.ok().flatten();
                let record = found.unwrap_or_else(|| User {
                    id: user.clone(),
                    created_at: at,
                    updated_at: at,
                    email: String::new(),
                    phone: String::new(),
                    email_verification: false,
                    phone_verification: false,
                });
                Event::new(EventKind::UserCreate, user, EventObject::User(record), at)
            }
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
