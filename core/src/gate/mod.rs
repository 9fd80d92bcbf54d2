//! [`Gate`], the façade every adapter and application calls: its state and
//! accessors here; issuing and exchanging tokens in `tokens`, sessions in
//! `sessions`, the validating builder in `builder`.

mod announce;
mod builder;
mod flows;
mod sessions;
mod tokens;

pub use builder::GateBuilder;

use std::sync::Arc;
use std::time::Duration;

use crate::delivery::{Mailer, SmsSender, Templates};
use crate::directory::Directory;
use crate::events::{Event, EventSink};
use crate::policy::{FlowLifetimes, IssueLimits, Policy, RedirectPolicy};
use crate::secret::ServerSecret;
use crate::store::{EventWritingStore, Store};

/// Custom token length bounds (hex characters) and default.
pub const TOKEN_LENGTH_RANGE: std::ops::RangeInclusive<usize> = 4..=128;
/// Default custom token length.
pub const DEFAULT_TOKEN_LENGTH: usize = 6;
/// Token lifetime bounds, in seconds.
pub const TOKEN_EXPIRE_RANGE: std::ops::RangeInclusive<u64> = 60..=31_536_000;
/// Longest secret accepted in an exchange; longer cannot be ours.
const MAX_SECRET_LEN: usize = 256;
/// Most sessions the local cache holds.
#[cfg(feature = "redis")]
const SESSION_CACHE_CAPACITY: usize = 100_000;
/// The project of a deployment that names none.
const DEFAULT_PROJECT: &str = "default";
/// Stored user agents are cut to this many bytes.
const MAX_USER_AGENT_LEN: usize = 256;

/// Options for [`Gate::create_token`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenOptions {
    /// Secret length in hex characters, 4..=128 (default 6).
    pub length: Option<usize>,
    /// Lifetime, 60 s ..= 1 year (default: the policy's, 15 minutes).
    pub expire: Option<Duration>,
}

impl TokenOptions {
    /// Sets the secret length.
    ///
    /// ```
    /// let opts = tokengate::TokenOptions::default().length(32);
    /// assert_eq!(opts.length, Some(32));
    /// ```
    pub fn length(mut self, length: usize) -> Self {
        self.length = Some(length);
        self
    }

    /// Sets the lifetime.
    ///
    /// ```
    /// use std::time::Duration;
    /// let opts = tokengate::TokenOptions::default().expire(Duration::from_secs(120));
    /// assert_eq!(opts.expire, Some(Duration::from_secs(120)));
    /// ```
    pub fn expire(mut self, expire: Duration) -> Self {
        self.expire = Some(expire);
        self
    }
}

/// The façade: issue tokens, exchange them, authenticate and manage
/// sessions. Cheap to clone (one `Arc`), `Send + Sync`.
///
/// ```
/// use tokengate::{Gate, store::MemoryStore};
/// let gate = Gate::builder()
///     .server_secret([42u8; 32])
///     .store(MemoryStore::new())
///     .build()
///     .unwrap();
/// let _also = gate.clone();
/// ```
#[derive(Clone, Debug)]
pub struct Gate {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Arc<dyn Store>,
    secret: ServerSecret,
    policy: Policy,
    project: String,
    flows: FlowSettings,
    directory: Arc<dyn Directory>,
    mailer: Option<Arc<dyn Mailer>>,
    sms: Option<Arc<dyn SmsSender>>,
    sink: Option<Arc<dyn EventSink>>,
    /// The store again, when it writes its changes' events itself.
    event_writer: Option<Arc<dyn EventWritingStore>>,
}

/// Settings of the passwordless flows.
#[derive(Debug, Clone)]
pub(crate) struct FlowSettings {
    /// Issuance limits.
    pub(crate) limits: IssueLimits,
    /// Token lifetimes.
    pub(crate) lifetimes: FlowLifetimes,
    /// Where magic links may point.
    pub(crate) redirect: RedirectPolicy,
    /// Message templates.
    pub(crate) templates: Templates,
}

impl Gate {
    /// Starts a [`GateBuilder`].
    pub fn builder() -> GateBuilder {
        GateBuilder::default()
    }

    /// The session and brute-force policy.
    pub fn policy(&self) -> &Policy {
        &self.inner.policy
    }

    /// The project id (links carry it; the cookie is named after it).
    pub fn project(&self) -> &str {
        &self.inner.project
    }

    /// The store.
    pub(crate) fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// The passwordless flow settings.
    pub(crate) fn flows(&self) -> &FlowSettings {
        &self.inner.flows
    }

    /// The directory (email/phone to user).
    pub(crate) fn directory(&self) -> &Arc<dyn Directory> {
        &self.inner.directory
    }

    /// The mailer; `None` when none is configured outside development mode
    /// (the email routes then answer 503 `general_smtp_disabled`).
    pub(crate) fn mailer(&self) -> Option<&Arc<dyn Mailer>> {
        self.inner.mailer.as_ref()
    }

    /// The SMS sender; `None` when none is configured outside development
    /// mode (the phone route then answers 503 `general_phone_disabled`).
    pub(crate) fn sms_sender(&self) -> Option<&Arc<dyn SmsSender>> {
        self.inner.sms.as_ref()
    }

    /// Hands `events` to the sink, in order (nothing without one).
    fn announce(&self, events: Vec<Event>) {
        if let Some(sink) = &self.inner.sink
            && !events.is_empty()
        {
            sink.announce(events);
        }
    }

    /// Whether changes are announced (building events costs nothing
    /// otherwise): not when the store writes them itself, in the same step
    /// as each change ([`EventWritingStore`]).
    fn announcing(&self) -> bool {
        self.inner.sink.is_some() && self.inner.event_writer.is_none()
    }

    pub(crate) fn server_key(&self) -> &ServerSecret {
        &self.inner.secret
    }

    /// The idle timeout in ms as the store takes it (0: none).
    fn idle_ms(&self) -> i64 {
        self.inner.policy.idle_timeout.map_or(0, |d| d.as_millis() as i64)
    }

    /// The rules a redemption or a new session enforces.
    fn rules(&self) -> &Policy {
        &self.inner.policy
    }

    /// The name a client's failure and issuance counters go by: a digest of
    /// its address (an IPv6 client's /64), never the address itself.
    pub(crate) fn client_digest(&self, ip: std::net::IpAddr) -> String {
        self.bucket_digest(&crate::client_net::client_bucket(ip))
    }
}
