//! What the stores keep and answer: token, session and user records, the
//! rules of a redemption and its outcome, rate-limit buckets. Times are
//! Unix milliseconds and durations milliseconds (`i64`), as stored.

use crate::model::{Session, SessionOrigin, TokenKind, UserId};
use crate::secret::Digest;
use crate::time::from_ms;

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

impl TokenRecord {
    /// How long a provisional user (see [`UserRecord::expire_ms`]) lives on
    /// once this token is stored: the token's expiry plus
    /// [`PROVISIONAL_GRACE`](super::PROVISIONAL_GRACE), or for good (0) for
    /// a custom token: the server vouches for the user (only the API key
    /// or the application issues one), and the gate then keeps the user's
    /// addresses bound for good too, so that record and bindings never
    /// part.
    pub fn user_kept_until(&self) -> i64 {
        if self.kind == TokenKind::Custom {
            0
        } else {
            self.expire_ms + super::PROVISIONAL_GRACE.as_millis() as i64
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
    /// third-party [`Store`](super::Store) or the contract suite, build it through this.)
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

/// The outcome of [`SessionStore::redeem_token`](super::SessionStore::redeem_token).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Redemption {
    /// The token was valid and is now gone; the session exists.
    Redeemed {
        /// The redeemed token's id.
        token_id: String,
        /// Its kind (the session's origin).
        kind: TokenKind,
        /// Sessions evicted by the session limit.
        evicted: Vec<SessionRecord>,
        /// This first sign-in kept a provisional user for good (its address
        /// bindings are to be kept too).
        kept: bool,
    },
    /// Wrong, expired or used secret; the failure was counted.
    Rejected,
    /// The user's exchanges are locked after too many failures (and the
    /// secret was a guessable one).
    LockedOut,
    /// This client used up its failed exchanges for this user; nothing changed.
    Throttled,
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
    /// When a provisional user (an anonymous flow's, not yet signed in)
    /// disappears, Unix ms; 0 for a user kept for good.
    pub expire_ms: i64,
}

impl UserRecord {
    /// The user `id` as this record describes it.
    pub(crate) fn into_user(self, id: &UserId) -> crate::model::User {
        crate::model::User {
            id: id.clone(),
            created_at: from_ms(self.created_ms),
            updated_at: from_ms(self.updated_ms),
            email: self.email,
            phone: self.phone,
            email_verification: self.email_verified,
            phone_verification: self.phone_verified,
        }
    }
}

/// One issuance rate-limit bucket: at most `limit` hits per `window_ms`, and
/// (when `min_interval_ms` > 0) at least that long between two hits.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RateBucket {
    /// Bucket name: lowercase letters, digits, `_` and `:` only (built from digests).
    pub id: String,
    /// Hits allowed per window.
    pub limit: u32,
    /// Window length, ms.
    pub window_ms: i64,
    /// Minimum gap between hits, ms (0 = none).
    pub min_interval_ms: i64,
}

impl RateBucket {
    /// A bucket (the struct is `#[non_exhaustive]`).
    ///
    /// ```
    /// let bucket = tokengate::store::RateBucket::new("addr:00ff".into(), 10, 3_600_000, 60_000);
    /// assert_eq!(bucket.limit, 10);
    /// ```
    pub fn new(id: String, limit: u32, window_ms: i64, min_interval_ms: i64) -> Self {
        RateBucket {
            id,
            limit,
            window_ms,
            min_interval_ms,
        }
    }
}
