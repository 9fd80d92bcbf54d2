//! [`GateBuilder`]: every setting with its secure default, validated once.
//! The store, secret, cache and build here; policy and delivery setters in
//! `policy`. HTTP settings are the endpoints' own (`api::ApiConfig`).

mod policy;

use super::{FlowSettings, Gate, Inner, DEFAULT_PROJECT, TOKEN_EXPIRE_RANGE};
use crate::delivery::{LogMailer, LogSms, Mailer, SmsSender, Templates};
use crate::directory::{Directory, StoreDirectory};
use crate::error::Error;
use crate::events::EventSink;
use crate::model::UserId;
use crate::policy::{FlowLifetimes, IssueLimits, Policy, RedirectPolicy, MAX_SESSIONS_LIMIT, MAX_SESSION_LIFETIME};
use crate::secret::ServerSecret;
#[cfg(feature = "redis")]
use crate::store::{CachedStore, RevocationChannel, SessionCache};
use crate::store::{EventWritingStore, Store};
use std::sync::Arc;
use std::time::Duration;

/// Builds a [`Gate`], validating the configuration.
#[derive(Default)]
pub struct GateBuilder {
    secret: Option<Result<ServerSecret, Error>>,
    store: Option<Arc<dyn Store>>,
    policy: Policy,
    project: Option<String>,
    limits: IssueLimits,
    lifetimes: FlowLifetimes,
    templates: Templates,
    public_url: Option<String>,
    redirect_hosts: Vec<String>,
    redirect_schemes: Vec<String>,
    directory: Option<Arc<dyn Directory>>,
    mailer: Option<Arc<dyn Mailer>>,
    sms: Option<Arc<dyn SmsSender>>,
    #[cfg(feature = "redis")]
    cache: Option<(Duration, Arc<dyn RevocationChannel>)>,
    development: bool,
    sink: Option<Arc<dyn EventSink>>,
    event_writer: Option<Arc<dyn EventWritingStore>>,
}

impl std::fmt::Debug for GateBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GateBuilder")
            .field("policy", &self.policy)
            .field("project", &self.project)
            .finish_non_exhaustive()
    }
}

impl GateBuilder {
    /// The server secret (at least 32 bytes) that keys every stored digest.
    /// Required. Services sharing a store must share it.
    ///
    /// ```
    /// # use tokengate::{Gate, store::MemoryStore};
    /// assert!(Gate::builder().server_secret([0u8; 16]).store(MemoryStore::new()).build().is_err());
    /// ```
    pub fn server_secret(mut self, secret: impl Into<Vec<u8>>) -> Self {
        self.secret = Some(ServerSecret::new(secret));
        self
    }

    /// The server secret as an already validated [`ServerSecret`].
    ///
    /// ```
    /// # use tokengate::{Gate, ServerSecret, store::MemoryStore};
    /// let gate = Gate::builder().server_key(ServerSecret::random()).store(MemoryStore::new()).build();
    /// assert!(gate.is_ok());
    /// ```
    pub fn server_key(mut self, secret: ServerSecret) -> Self {
        self.secret = Some(Ok(secret));
        self
    }

    /// The store. Required: [`crate::store::RedisStore`] to share sessions
    /// between processes, [`crate::store::MemoryStore`] for one process.
    ///
    /// ```
    /// # use tokengate::{Gate, store::MemoryStore};
    /// assert!(Gate::builder().server_secret([1u8; 32]).build().is_err());
    /// ```
    pub fn store(mut self, store: impl Store) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// The store, writing the events of its changes itself, in the same
    /// step as each change (a standalone `RedisStore` made
    /// [`with_events`](crate::store::RedisStore::with_events)): the gate
    /// then announces none of them to its [`event_sink`](GateBuilder::event_sink).
    /// A store that writes none is refused by [`build`](GateBuilder::build).
    ///
    /// ```
    /// # use tokengate::{Gate, store::MemoryStore};
    /// # let _ = Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new());
    /// // With a RedisStore: Gate::builder().store_writing_events(store.with_events(stream)?)
    /// ```
    pub fn store_writing_events(mut self, store: impl EventWritingStore) -> Self {
        let store = Arc::new(store);
        self.event_writer = Some(store.clone());
        self.store = Some(store);
        self
    }

    /// Announces every change as an [`Event`](crate::events::Event) to
    /// `sink` (default: none, no events): right after the change, in order;
    /// the sink never makes a request wait (the `tokengate-events` crate's
    /// log sink appends in the background).
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use tokengate::events::{Event, EventSink};
    /// use tokengate::{Gate, TokenOptions, UserId, store::MemoryStore};
    /// #[derive(Debug, Default)]
    /// struct Names(Mutex<Vec<String>>);
    /// impl EventSink for Names {
    ///     fn announce(&self, events: Vec<Event>) {
    ///         self.0.lock().unwrap().extend(events.iter().map(Event::name));
    ///     }
    /// }
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let names = Arc::new(Names::default());
    /// let gate = Gate::builder().server_secret([9u8; 32]).store(MemoryStore::new())
    ///     .event_sink(names.clone()).build().unwrap();
    /// gate.create_token(&UserId::parse("alice").unwrap(), TokenOptions::default()).await.unwrap();
    /// let names = names.0.lock().unwrap();
    /// assert_eq!(names[0], "users.alice.create");
    /// assert!(names[1].starts_with("users.alice.tokens."));
    /// # });
    /// ```
    pub fn event_sink(mut self, sink: Arc<dyn EventSink>) -> Self {
        self.sink = Some(sink);
        self
    }

    /// The store, already shared.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use tokengate::{Gate, store::{MemoryStore, Store}};
    /// let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    /// assert!(Gate::builder().server_secret([1u8; 32]).shared_store(store).build().is_ok());
    /// ```
    pub fn shared_store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }

    /// Turns on the local session cache (off by default; feature `redis`):
    /// sessions are kept in process for `ttl` and revocations travel over
    /// `channel` (Redis pub/sub) to every other process sharing the store,
    /// which drops them from its cache before the TTL. Build the gate inside
    /// a Tokio runtime (the channel listens in a background task).
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    /// use tokengate::{Gate, store::{RedisRevocations, RedisStore, RedisStoreConfig}};
    /// let url = "redis://127.0.0.1:6379";
    /// let config = RedisStoreConfig::default();
    /// let gate = Gate::builder()
    ///     .server_secret([1u8; 32])
    ///     .session_cache(Duration::from_secs(2), RedisRevocations::connect(url, &config).await?)
    ///     .store(RedisStore::connect(url, config).await?)
    ///     .build()?;
    /// # let _ = gate; Ok(()) }
    /// ```
    #[cfg(feature = "redis")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    pub fn session_cache(mut self, ttl: Duration, channel: crate::store::RedisRevocations) -> Self {
        self.cache = Some((ttl, Arc::new(channel)));
        self
    }

    /// Validates and builds the [`Gate`].
    pub fn build(self) -> Result<Gate, Error> {
        let secret = self
            .secret
            .ok_or_else(|| Error::config("server_secret", "a server secret is required".to_owned()))??;
        let store = self
            .store
            .ok_or_else(|| Error::config("store", "a store is required (RedisStore or MemoryStore)".to_owned()))?;
        let p = &self.policy;
        if p.session_lifetime < Duration::from_secs(1) || p.session_lifetime > MAX_SESSION_LIFETIME {
            return Err(Error::config(
                "session_lifetime",
                "session lifetime must be between 1 second and 1 year".to_owned(),
            ));
        }
        if p.idle_timeout.is_some_and(|idle| idle < Duration::from_secs(1)) {
            return Err(Error::config(
                "idle_timeout",
                "idle timeout must be at least 1 second".to_owned(),
            ));
        }
        if p.max_sessions > MAX_SESSIONS_LIMIT {
            return Err(Error::config(
                "max_sessions",
                format!("max sessions must be at most {MAX_SESSIONS_LIMIT} (0 = unlimited)"),
            ));
        }
        if p.lockout_duration < Duration::from_secs(1) {
            return Err(Error::config(
                "lockout_duration",
                "lockout duration must be at least 1 second".to_owned(),
            ));
        }
        if p.max_session_age < p.session_lifetime {
            return Err(Error::config(
                "max_session_age",
                "the max session age must be at least the session lifetime".to_owned(),
            ));
        }
        if p.client_failures > 0 && p.client_failure_window < Duration::from_secs(1) {
            return Err(Error::config(
                "client_failures",
                "the client failure window must be at least 1 second".to_owned(),
            ));
        }
        if !TOKEN_EXPIRE_RANGE.contains(&p.default_token_expire.as_secs()) {
            return Err(Error::config(
                "default_token_expire",
                "default token expire must be 60..=31536000 seconds".to_owned(),
            ));
        }
        let project = self.project.unwrap_or_else(|| DEFAULT_PROJECT.to_owned());
        if !UserId::is_valid(&project) {
            return Err(Error::config(
                "project",
                "project id must be 1-36 chars of a-zA-Z0-9._- (it names the cookie)".to_owned(),
            ));
        }
        let public_url = self.public_url.as_deref().unwrap_or("http://127.0.0.1:8080");
        let extra_hosts: Vec<&str> = self.redirect_hosts.iter().map(String::as_str).collect();
        let schemes: Vec<&str> = self.redirect_schemes.iter().map(String::as_str).collect();
        let redirect = RedirectPolicy::new(public_url, &extra_hosts)?.allow_schemes(&schemes)?;
        let l = &self.limits;
        if l.window < Duration::from_secs(1) {
            return Err(Error::config(
                "issue_window",
                "the issuance window must be at least 1 second".to_owned(),
            ));
        }
        if self.lifetimes.otp < Duration::from_secs(60) || self.lifetimes.magic_url < Duration::from_secs(60) {
            return Err(Error::config(
                "flow_lifetimes",
                "OTP and magic URL lifetimes must be at least 60 seconds".to_owned(),
            ));
        }
        #[cfg(feature = "redis")]
        let store: Arc<dyn Store> = match self.cache {
            None => store,
            Some((ttl, channel)) => {
                if ttl.is_zero() || ttl > Duration::from_secs(60) {
                    return Err(Error::config(
                        "session_cache",
                        "the session cache TTL must be between 1 ms and 60 s".to_owned(),
                    ));
                }
                if tokio::runtime::Handle::try_current().is_err() {
                    return Err(Error::config(
                        "session_cache",
                        "the session cache must be built inside a Tokio runtime".to_owned(),
                    ));
                }
                let sessions = SessionCache::new(ttl, super::SESSION_CACHE_CAPACITY);
                Arc::new(CachedStore::new(store, sessions, channel))
            }
        };
        let directory = self
            .directory
            .unwrap_or_else(|| Arc::new(StoreDirectory::new(store.clone(), secret.clone())));
        if self.event_writer.as_ref().is_some_and(|w| !w.writes_events()) {
            return Err(Error::config(
                "store_writing_events",
                "store_writing_events: the store writes no events (give a RedisStore its stream with with_events)"
                    .to_owned(),
            ));
        }
        Ok(Gate {
            inner: Arc::new(Inner {
                store,
                secret,
                policy: self.policy,
                project,
                flows: FlowSettings {
                    limits: self.limits,
                    lifetimes: self.lifetimes,
                    redirect,
                    templates: self.templates,
                },
                directory,
                mailer: self
                    .mailer
                    .or_else(|| self.development.then(|| Arc::new(LogMailer) as Arc<dyn Mailer>)),
                sms: self
                    .sms
                    .or_else(|| self.development.then(|| Arc::new(LogSms) as Arc<dyn SmsSender>)),
                sink: self.sink,
                event_writer: self.event_writer,
            }),
        })
    }
}
