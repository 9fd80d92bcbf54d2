//! The one seam between logic and persistence.
//!
//! A [`Store`] keeps token and session records keyed by their digests, and
//! performs each state change that must be atomic as one operation (in Redis:
//! one Lua script, one round trip). Two implementations pass the same
//! contract suite: [`RedisStore`] and [`MemoryStore`].

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;

use crate::model::{Session, SessionOrigin, TokenKind, UserId};
use crate::secret::Digest;
use crate::time::from_ms;

pub mod memory;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub mod redis;

#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use self::redis::{RedisStore, RedisStoreConfig};
pub use memory::MemoryStore;

pub use crate::error::StoreError;

/// A token as stored: digest and metadata, never the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenRecord {
    /// Token id.
    pub id: String,
    /// Kind (decides the session's provider).
    pub kind: TokenKind,
    /// Keyed digest of the secret.
    pub digest: Digest,
    /// Issue time, Unix ms.
    pub created_ms: i64,
    /// Expiry, Unix ms.
    pub expire_ms: i64,
    /// Whether the secret has under 64 bits of entropy (burned on a failure streak).
    pub low_entropy: bool,
}

impl TokenRecord {
    /// A record for a freshly issued token.
    pub fn new(
        id: String,
        kind: TokenKind,
        digest: Digest,
        created_ms: i64,
        expire_ms: i64,
        low_entropy: bool,
    ) -> Self {
        TokenRecord {
            id,
            kind,
            digest,
            created_ms,
            expire_ms,
            low_entropy,
        }
    }
}

/// A session as stored, found by the digest of its credential's secret.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionRecord {
    /// Session id.
    pub id: String,
    /// Keyed digest of the credential's secret.
    pub digest: Digest,
    /// Creation time, Unix ms.
    pub created_ms: i64,
    /// Last change (creation or extension), Unix ms.
    pub updated_ms: i64,
    /// Absolute expiry, Unix ms.
    pub expire_ms: i64,
    /// Where it came from. For a redemption the store sets it from the token.
    pub origin: SessionOrigin,
    /// Client address at creation.
    pub ip: String,
    /// Client user agent at creation.
    pub user_agent: String,
}

impl SessionRecord {
    /// A record for a new session: `updated_ms` starts at `created_ms`.
    ///
    /// (The struct is `#[non_exhaustive]`, so other crates, such as a
    /// third-party [`Store`] or the contract suite, build it through this.)
    pub fn new(
        id: String,
        digest: Digest,
        created_ms: i64,
        expire_ms: i64,
        origin: SessionOrigin,
        ip: String,
        user_agent: String,
    ) -> Self {
        SessionRecord {
            id,
            digest,
            created_ms,
            updated_ms: created_ms,
            expire_ms,
            origin,
            ip,
            user_agent,
        }
    }

    /// The public [`Session`] of `user`, consuming the record (no copies).
    pub fn into_session(self, user: UserId) -> Session {
        Session {
            id: self.id,
            created_at: from_ms(self.created_ms),
            updated_at: from_ms(self.updated_ms),
            user_id: user,
            expire: from_ms(self.expire_ms),
            origin: self.origin,
            ip: self.ip,
            user_agent: self.user_agent,
        }
    }

    /// The public [`Session`] for `user`.
    pub fn to_session(&self, user: &UserId) -> Session {
        Session {
            id: self.id.clone(),
            created_at: from_ms(self.created_ms),
            updated_at: from_ms(self.updated_ms),
            user_id: user.clone(),
            expire: from_ms(self.expire_ms),
            origin: self.origin,
            ip: self.ip.clone(),
            user_agent: self.user_agent.clone(),
        }
    }
}

/// The brute-force and session-limit rules a redemption enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RedeemRules {
    /// Live sessions per user (0 = unlimited); the oldest are evicted.
    pub max_sessions: u32,
    /// Burn low-entropy tokens at every multiple of this failure count (0 = never).
    pub burn_after_failures: u32,
    /// Lock the user's exchanges at this failure count (0 = never). Only
    /// failures while a guessable (low-entropy) token is outstanding count,
    /// and a lockout refuses only guessable secrets.
    pub lockout_after_failures: u32,
    /// Lockout length and failure-streak memory, in ms.
    pub lockout_ms: i64,
    /// Idle timeout in ms (0 = none): a session ends this long after its last use.
    pub idle_ms: i64,
    /// Failed exchanges allowed per (client, user) in [`RedeemRules::client_window_ms`]
    /// before that client is refused ([`Redemption::Throttled`]); 0 = no limit.
    pub client_failures: u32,
    /// The window of [`RedeemRules::client_failures`], in ms.
    pub client_window_ms: i64,
}

impl RedeemRules {
    /// Rules with every field given (the struct is `#[non_exhaustive]`, so
    /// other crates build it through this), without a per-client limit.
    ///
    /// ```
    /// let rules = tokengate::store::RedeemRules::new(3, 5, 100, 3_600_000, 0);
    /// assert_eq!(rules.max_sessions, 3);
    /// assert_eq!(rules.client_failures, 0);
    /// ```
    pub fn new(
        max_sessions: u32,
        burn_after_failures: u32,
        lockout_after_failures: u32,
        lockout_ms: i64,
        idle_ms: i64,
    ) -> Self {
        RedeemRules {
            max_sessions,
            burn_after_failures,
            lockout_after_failures,
            lockout_ms,
            idle_ms,
            client_failures: 0,
            client_window_ms: 0,
        }
    }

    /// The same rules with a per-client failure limit.
    ///
    /// ```
    /// let rules = tokengate::store::RedeemRules::new(3, 5, 100, 3_600_000, 0)
    ///     .client_failures(10, 3_600_000);
    /// assert_eq!(rules.client_failures, 10);
    /// ```
    pub fn client_failures(mut self, failures: u32, window_ms: i64) -> Self {
        self.client_failures = failures;
        self.client_window_ms = window_ms;
        self
    }
}

/// The outcome of [`Store::redeem_token`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Redemption {
    /// The token was valid and is now gone; the session exists.
    Redeemed {
        /// The redeemed token's id.
        token_id: String,
        /// Its kind (the session's origin).
        kind: TokenKind,
        /// Ids of sessions evicted by the session limit.
        evicted: Vec<String>,
    },
    /// Wrong, expired or used secret; the failure was counted.
    Rejected,
    /// The user's exchanges are locked after too many failures (and the
    /// secret was a guessable one).
    LockedOut,
    /// This client used up its failed exchanges for this user; nothing changed.
    Throttled,
}

/// What [`Store::delete_user`] removed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct DeletedUser {
    /// The directory record's normalised email, or empty.
    pub email: String,
    /// The directory record's phone, or empty.
    pub phone: String,
    /// Ids of the live sessions that were deleted.
    pub sessions: Vec<String>,
}

/// A user as the built-in directory keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct UserRecord {
    /// Creation time, Unix ms.
    pub created_ms: i64,
    /// Last change, Unix ms.
    pub updated_ms: i64,
    /// Normalised email, or empty.
    pub email: String,
    /// E.164 phone, or empty.
    pub phone: String,
    /// Whether a login through the email proved the address.
    pub email_verified: bool,
    /// Whether a login through the phone proved the number.
    pub phone_verified: bool,
}

/// One issuance rate-limit bucket: at most `limit` hits per `window_ms`, and
/// (when `min_interval_ms` > 0) at least that long between two hits.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RateBucket {
    /// Bucket name: lowercase hex and `:` only (built from digests).
    pub id: String,
    /// Hits allowed per window.
    pub limit: u32,
    /// Window length, ms.
    pub window_ms: i64,
    /// Minimum gap between hits, ms (0 = none).
    pub min_interval_ms: i64,
}

/// Persistence of tokens and sessions. Every method is one atomic operation.
///
/// Implementations must pass the contract suite in `tokengate-tests`.
#[async_trait]
pub trait Store: Send + Sync + fmt::Debug + 'static {
    /// Stores a token. When `replace_kind` is set, the user's other tokens
    /// of the same kind are deleted in the same step. Expired tokens are swept.
    /// From then on the user id is known to the directory (a record without
    /// address is created if none exists), whatever happens to the token.
    async fn insert_token(
        &self,
        user: &UserId,
        token: &TokenRecord,
        replace_kind: bool,
        now_ms: i64,
    ) -> Result<(), StoreError>;

    /// Deletes one token (used when its delivery failed).
    async fn remove_token(&self, user: &UserId, digest: &Digest) -> Result<(), StoreError>;

    /// Exchanges a token for a session in one atomic step: checks the
    /// client's failure budget (`client`: a digest naming the client, when
    /// known) and the lockout, burns the token (found or not, expired or
    /// not), creates the session with the token's kind as origin, enforces
    /// the session limit and resets the failure streak; or counts the
    /// failure against the client and, while a guessable token is
    /// outstanding, against the user.
    async fn redeem_token(
        &self,
        user: &UserId,
        token: &Digest,
        session: &SessionRecord,
        rules: &RedeemRules,
        client: Option<&str>,
        now_ms: i64,
    ) -> Result<Redemption, StoreError>;

    /// Creates a session directly (server-created), enforcing the limit.
    /// Returns the evicted session ids. Like [`Store::insert_token`], makes
    /// the user id known for good.
    async fn insert_session(
        &self,
        user: &UserId,
        session: &SessionRecord,
        rules: &RedeemRules,
        now_ms: i64,
    ) -> Result<Vec<String>, StoreError>;

    /// The live session with this credential digest, refreshing the idle
    /// deadline at most once per [`crate::policy::IDLE_REFRESH_INTERVAL`].
    async fn find_session(
        &self,
        user: &UserId,
        digest: &Digest,
        idle: Option<Duration>,
        now_ms: i64,
    ) -> Result<Option<SessionRecord>, StoreError>;

    /// The user's live sessions, oldest first.
    async fn list_sessions(&self, user: &UserId, now_ms: i64) -> Result<Vec<SessionRecord>, StoreError>;

    /// Sets a live session's expiry (and `updated`), returning it. The
    /// expiry is capped at the session's creation plus `max_age_ms`; a
    /// session already past that cap ends here (`None`).
    async fn extend_session(
        &self,
        user: &UserId,
        session_id: &str,
        expire_ms: i64,
        idle: Option<Duration>,
        max_age_ms: i64,
        now_ms: i64,
    ) -> Result<Option<SessionRecord>, StoreError>;

    /// Deletes one session; whether it existed.
    async fn delete_session(&self, user: &UserId, session_id: &str) -> Result<bool, StoreError>;

    /// Deletes all of the user's sessions; how many there were.
    async fn delete_sessions(&self, user: &UserId) -> Result<u64, StoreError>;

    /// The user an address (digest of an email or phone) belongs to.
    /// Bindings never expire; they go with [`Store::unlink_address`].
    async fn find_address(&self, address: &Digest) -> Result<Option<UserId>, StoreError>;

    /// Links an address to `user` unless it is already linked; returns the owner.
    async fn link_address(&self, address: &Digest, user: &UserId) -> Result<UserId, StoreError>;

    /// Removes the binding of `address` if it still names `user`.
    async fn unlink_address(&self, address: &Digest, user: &UserId) -> Result<(), StoreError>;

    /// Creates the directory record of `user` with this email or phone, or
    /// confirms an existing record with the same address (`true`). Refused
    /// (`false`) when the id is known otherwise: a record with another
    /// address or none (a custom-token or server-session user), or any live
    /// token or session. Records never expire.
    async fn claim_user(&self, user: &UserId, email: &str, phone: &str, now_ms: i64) -> Result<bool, StoreError>;

    /// Deletes the user in one step: directory record, tokens, sessions,
    /// failure streak and lockout. `None` when the id was unknown (nothing
    /// was there). Address bindings are separate keys: the caller removes
    /// them with [`Store::unlink_address`].
    async fn delete_user(&self, user: &UserId, now_ms: i64) -> Result<Option<DeletedUser>, StoreError>;

    /// The directory record of `user`.
    async fn load_user(&self, user: &UserId) -> Result<Option<UserRecord>, StoreError>;

    /// Marks the email and/or phone of an existing record as verified.
    async fn mark_verified(&self, user: &UserId, email: bool, phone: bool, now_ms: i64) -> Result<(), StoreError>;

    /// Counts one hit in `bucket`; `false` (nothing counted) when over the limit.
    async fn hit_rate_limit(&self, bucket: &RateBucket, now_ms: i64) -> Result<bool, StoreError>;

    /// Takes back one hit (the request was refused by another bucket).
    async fn refund_rate_limit(&self, bucket: &RateBucket) -> Result<(), StoreError>;
}

/// Where the idle deadline puts a session's end: the earlier of its expiry
/// and `now + idle`.
pub(crate) fn idle_deadline(expire_ms: i64, idle: Option<Duration>, now_ms: i64) -> i64 {
    match idle {
        Some(idle) => expire_ms.min(now_ms.saturating_add(idle.as_millis() as i64)),
        None => expire_ms,
    }
}
