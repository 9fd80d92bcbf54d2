//! The event log contract: what the gate and the webhook dispatcher rely on
//! from an [`EventLog`], written once, run against every implementation
//! ([`MemoryEventLog`], `RedisEventLog` standalone and on a cluster, in
//! this project's tests). A log written elsewhere runs it the same way:
//!
//! ```no_run
//! use tokengate_testing::event_log_contract::{run_all, LogBackend};
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! run_all(|| async { LogBackend::memory() }).await;
//! # });
//! ```
//!
//! or one test per case with
//! [`event_log_contract_tests!`](crate::event_log_contract_tests). A
//! [`LogBackend`] makes a fresh, empty log per bounds
//! ([`EventLogConfig`]); where it can also show the stored bytes
//! ([`RawEvents`]), the cases check that no token secret lies there in the
//! clear.

mod cases;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub use cases::*;

use async_trait::async_trait;

use crate::random_id;
use chrono::{DateTime, Utc};
use tokengate::{Secret, ServerSecret, Session, SessionOrigin, Token, TokenKind, User, UserId};
use tokengate_events::{Event, EventKind, EventLog, EventLogConfig, EventObject, MemoryEventLog};

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

fn from_ms(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).expect("a time in range")
}

/// What a log holds, byte for byte (entries and dead letters).
#[async_trait]
pub trait RawEvents: Send + Sync {
    /// Every stored entry's bytes (or any dump of them).
    async fn stored(&self) -> Vec<Vec<u8>>;
}

#[async_trait]
impl RawEvents for MemoryEventLog {
    async fn stored(&self) -> Vec<Vec<u8>> {
        self.dump()
    }
}

/// A fresh log, and optionally a view of its stored bytes.
#[non_exhaustive]
pub struct MadeLog {
    /// The log.
    pub log: Arc<dyn EventLog>,
    /// Its stored bytes, where the backend can show them.
    pub raw: Option<Arc<dyn RawEvents>>,
}

impl MadeLog {
    /// A log without a view of its bytes.
    pub fn new(log: Arc<dyn EventLog>) -> Self {
        MadeLog { log, raw: None }
    }

    /// Adds the view of its stored bytes.
    pub fn inspected_by(mut self, raw: Arc<dyn RawEvents>) -> Self {
        self.raw = Some(raw);
        self
    }
}

type Factory = Arc<dyn Fn(EventLogConfig) -> Pin<Box<dyn Future<Output = MadeLog> + Send>> + Send + Sync>;

/// Makes the logs a case runs on: a fresh, empty one per call.
#[derive(Clone)]
pub struct LogBackend {
    make: Factory,
}

impl std::fmt::Debug for LogBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LogBackend")
    }
}

impl LogBackend {
    /// A backend from a function making a fresh log with given bounds.
    pub fn new<F, Fut>(make: F) -> Self
    where
        F: Fn(EventLogConfig) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = MadeLog> + Send + 'static,
    {
        LogBackend {
            make: Arc::new(move |config| Box::pin(make(config))),
        }
    }

    /// [`MemoryEventLog`]s, inspected.
    pub fn memory() -> Self {
        LogBackend::new(|config| async move {
            let log = Arc::new(MemoryEventLog::new(ServerSecret::random()).with_config(config));
            MadeLog::new(log.clone()).inspected_by(log)
        })
    }

    /// A fresh log with `config`.
    pub async fn log(&self, config: EventLogConfig) -> MadeLog {
        (self.make)(config).await
    }
}

fn user(name: &str) -> UserId {
    UserId::parse(name).unwrap()
}

/// A `token.create` event of a magic-URL token with `secret`.
pub fn token_event(user_id: &str, secret: &str) -> Event {
    let now = from_ms(now_ms());
    let expire = now + chrono::Duration::minutes(15);
    let mut token = Token::new(random_id(), user(user_id), TokenKind::MagicUrl, now, expire);
    token.secret = Some(Secret::new(secret));
    Event::new(EventKind::TokenCreate, user(user_id), EventObject::Token(token), now)
}

/// A session event (`kind` create or delete) of a small session.
pub fn session_event(user_id: &str, kind: EventKind) -> Event {
    let now = from_ms(now_ms());
    let expire = now + chrono::Duration::days(1);
    let origin = SessionOrigin::Token(TokenKind::EmailOtp);
    let session = Session::new(random_id(), user(user_id), origin, now, expire);
    Event::new(kind, user(user_id), EventObject::Session(session), now)
}

/// A `session.create` event as a browser login makes it (address, a
/// desktop Chrome user agent): the typical large event.
pub fn browser_session_event(user_id: &str) -> Event {
    let mut event = session_event(user_id, EventKind::SessionCreate);
    if let EventObject::Session(session) = &mut event.object {
        session.origin = SessionOrigin::Token(TokenKind::MagicUrl);
        session.ip = "203.0.113.7".to_owned();
        session.user_agent = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
                              Chrome/131.0.0.0 Safari/537.36"
            .to_owned();
    }
    event
}

/// A `user.create` event.
pub fn user_event(user_id: &str) -> Event {
    let now = from_ms(now_ms());
    let mut record = User::new(user(user_id), now);
    record.email = format!("{user_id}@example.com");
    record.email_verification = true;
    Event::new(EventKind::UserCreate, user(user_id), EventObject::User(record), now)
}

macro_rules! cases {
    ($($case:ident),* $(,)?) => {
        /// Every case, by name, in the order [`run_all`] runs them.
        pub const CASES: &[&str] = &[$(stringify!($case)),*];

        /// Runs every case, each on a backend from `make`; panics at the
        /// first that fails, naming it.
        pub async fn run_all<F, Fut>(make: F)
        where
            F: Fn() -> Fut,
            Fut: Future<Output = LogBackend>,
        {
            $(
                let backend = make().await;
                if let Err(error) = tokio::spawn($case(backend)).await {
                    panic!("event log contract case `{}` failed: {error}", stringify!($case));
                }
            )*
        }
    };
}

cases!(
    append_and_read_in_order,
    a_group_delivers_each_entry_to_one_consumer,
    every_group_gets_every_entry,
    ack_removes_from_pending,
    claim_stale_takes_over_idle_entries,
    dead_letters_and_redrive,
    read_after_reaches_every_reader,
    trimming_by_length_bounds_the_log,
    trimming_by_age,
    the_token_secret_is_sealed,
    stats_follow_the_group,
    a_waiting_read_wakes_on_append,
);

/// One `#[tokio::test]` per case of the event log contract, in the module
/// it is called in: `event_log_contract_tests!(make)` where `make` is an
/// async closure (or function) returning a
/// [`LogBackend`](crate::event_log_contract::LogBackend);
/// optionally `event_log_contract_tests!(make, then check)`, an async
/// closure run after each case (e.g. to assert that a cluster saw no
/// cross-slot command).
///
/// ```no_run
/// mod memory {
///     tokengate_testing::event_log_contract_tests!(|| async {
///         tokengate_testing::event_log_contract::LogBackend::memory()
///     });
/// }
/// ```
#[macro_export]
macro_rules! event_log_contract_tests {
    ($make:expr) => {
        $crate::event_log_contract_tests!($make, then || async {});
    };
    ($make:expr, then $after:expr) => {
        $crate::event_log_contract_tests!(@each ($make) ($after)
            append_and_read_in_order a_group_delivers_each_entry_to_one_consumer
            every_group_gets_every_entry ack_removes_from_pending
            claim_stale_takes_over_idle_entries dead_letters_and_redrive
            read_after_reaches_every_reader trimming_by_length_bounds_the_log trimming_by_age
            the_token_secret_is_sealed stats_follow_the_group a_waiting_read_wakes_on_append
        );
    };
    (@each ($make:expr) ($after:expr) $($case:ident)*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                $crate::event_log_contract::$case(($make)().await).await;
                ($after)().await;
            }
        )*

        #[test]
        fn every_event_log_case_is_listed() {
            let listed: &[&str] = &[$(stringify!($case)),*];
            assert_eq!(listed, $crate::event_log_contract::CASES);
        }
    };
}
