//! # tokengate-events
//!
//! What the tokengate core announces, kept and delivered: the core makes an
//! [`Event`] of every change (a token issued, a session created or ended, a
//! user created or deleted, named as Appwrite names them) and hands it to
//! one narrow seam, an [`EventSink`](tokengate::events::EventSink). This
//! crate provides:
//!
//! | item | what |
//! |---|---|
//! | [`EventLog`] | where events are kept until delivered: [`RedisEventLog`] (a Redis Stream with consumer groups, dead letters and redrive; standalone or cluster) and [`MemoryEventLog`] (in process) |
//! | [`LogSink`] | the sink that appends the gate's events to a log in the background (no request waits) |
//! | [`follow`], [`GroupSubscription`] | every process sees every event; or a group shares them, each to one consumer |
//! | [`EventPattern`] | Appwrite's event names with `*` |
//! | [`webhooks`] (feature `webhooks`) | signed webhooks with Appwrite's request shape |
//! | [`AesSeal`] | token secrets inside stored events, sealed with AES-256-GCM under a key derived from the server secret |
//!
//! A standalone Redis store can also write each change's events inside the
//! change's own script ([`RedisEventLog::stream`] given to
//! `RedisStore::with_events`, the gate built with
//! `GateBuilder::store_writing_events`): then a change and its events are
//! one atomic step.
//!
//! ```
//! use std::sync::Arc;
//! use tokengate::{Gate, ServerSecret, TokenOptions, UserId, store::MemoryStore};
//! use tokengate_events::{EventLog, LogSink, MemoryEventLog};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let secret = ServerSecret::new([9u8; 32]).unwrap();
//! let log = Arc::new(MemoryEventLog::new(secret.clone()));
//! let sink = LogSink::new(log.clone());
//! let gate = Gate::builder().server_key(secret).store(MemoryStore::new())
//!     .event_sink(sink.clone()).build().unwrap();
//! gate.create_token(&UserId::parse("alice").unwrap(), TokenOptions::default()).await.unwrap();
//! sink.flush().await;
//! assert_eq!(log.stats("nobody-yet").await.unwrap().len, 2); // users.alice.create, …tokens.<id>.create
//! # });
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod log;
mod memory;
mod pattern;
#[cfg(feature = "redis")]
mod redis;
mod seal;
mod sink;
mod subscription;
#[cfg(test)]
mod test_events;
#[cfg(feature = "webhooks")]
#[cfg_attr(docsrs, doc(cfg(feature = "webhooks")))]
pub mod webhooks;

pub use log::{EventLog, EventLogConfig, Followed, LogStats, LoggedEvent};
pub use memory::MemoryEventLog;
pub use pattern::EventPattern;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use redis::RedisEventLog;
pub use seal::AesSeal;
pub use sink::LogSink;
pub use subscription::{follow, GroupSubscription};
pub use tokengate::events::{Event, EventKind, EventObject};

/// The clock, Unix ms.
pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
