//! The one seam between logic and persistence.
//!
//! A [`Store`] keeps token and session records keyed by their digests, and
//! performs each state change that must be atomic as one operation (in Redis:
//! one Lua script, one round trip). Two implementations pass the same
//! contract suite: [`RedisStore`] and [`MemoryStore`].

use std::fmt;

use async_trait::async_trait;

use crate::events::Event;
use crate::model::UserId;
use crate::policy::Policy;
use crate::secret::Digest;

#[cfg(feature = "redis")]
mod cache;
pub mod memory;
mod records;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub mod redis;

#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use self::redis::{EventStream, RedisRevocations, RedisStore, RedisStoreConfig};
#[cfg(feature = "redis")]
pub(crate) use cache::{CachedStore, RevocationChannel, SessionCache};
pub use memory::MemoryStore;
pub use records::{RateBucket, Redemption, SessionRecord, TokenRecord, UserRecord};

pub use crate::error::StoreError;

/// Tokens and sessions: issuing, redeeming, finding, extending and ending
/// them. Every method is one atomic operation (in Redis: one script).
#[async_trait]
pub trait SessionStore: Send + Sync + fmt::Debug + 'static {
    /// Stores a token. When `replace_kind` is set, the user's other tokens
    /// of the same kind are deleted in the same step. Expired tokens are swept.
    /// From then on the user id is known to the directory (a record without
    /// address is created if none exists, for good), whatever happens to
    /// the token. A provisional record lives on at least until the token's
    /// expiry plus [`PROVISIONAL_GRACE`]; a custom token (issued with the
    /// API key) keeps it for good ([`TokenRecord::user_kept_until`]).
    /// Answers whether this made the user known (its record was created
    /// here, or by a [`UserStore::claim_user`] that no token followed yet:
    /// the event `users.<userId>.create` is announced once, with the first
    /// token or session), and whether it kept a provisional user for good
    /// (the gate then keeps its address bindings too).
    async fn insert_token(
        &self,
        user: &UserId,
        token: &TokenRecord,
        replace_kind: bool,
        now_ms: i64,
    ) -> Result<(bool, bool), StoreError>;

    /// Deletes one token (its delivery failed). A provisional user (see
    /// [`UserStore::claim_user`]) left without tokens and sessions is
    /// withdrawn with it: answers whether its record was deleted here.
    async fn remove_token(&self, user: &UserId, digest: &Digest, now_ms: i64) -> Result<bool, StoreError>;

    /// Exchanges a token for a session in one atomic step: checks the
    /// client's failure budget (`client`: a digest naming the client, when
    /// known) and the lockout, burns the token (found or not, expired or
    /// not), creates the session with the token's kind as origin, enforces
    /// the session limit, resets the failure streak and keeps a provisional
    /// user for good (its first sign-in); or counts the failure against the
    /// client and, while a guessable token is outstanding, against the user.
    async fn redeem_token(
        &self,
        user: &UserId,
        token: &Digest,
        session: &SessionRecord,
        rules: &Policy,
        client: Option<&str>,
        now_ms: i64,
    ) -> Result<Redemption, StoreError>;

    /// Creates a session directly (server-created), enforcing the limit.
    /// Answers whether this made the user known (for good), as
    /// [`SessionStore::insert_token`] does, and the sessions the limit
    /// evicted.
    async fn insert_session(
        &self,
        user: &UserId,
        session: &SessionRecord,
        rules: &Policy,
        now_ms: i64,
    ) -> Result<(bool, Vec<SessionRecord>), StoreError>;

    /// The live session with this credential digest, refreshing the idle
    /// deadline (`idle_ms` after now; 0: no idle timeout) at most once per
    /// [`crate::policy::IDLE_REFRESH_INTERVAL`].
    async fn find_session(
        &self,
        user: &UserId,
        digest: &Digest,
        idle_ms: i64,
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
        idle_ms: i64,
        max_age_ms: i64,
        now_ms: i64,
    ) -> Result<Option<SessionRecord>, StoreError>;

    /// Deletes one session; the live session it was, if any.
    async fn delete_session(
        &self,
        user: &UserId,
        session_id: &str,
        now_ms: i64,
    ) -> Result<Option<SessionRecord>, StoreError>;

    /// Deletes all of the user's sessions; the live ones there were.
    async fn delete_sessions(&self, user: &UserId, now_ms: i64) -> Result<Vec<SessionRecord>, StoreError>;
}

/// How long a provisional user (an anonymous flow's new user, not yet
/// signed in) and its address binding outlive its latest token: time to
/// finish an exchange that started just before the token expired.
pub const PROVISIONAL_GRACE: std::time::Duration = std::time::Duration::from_secs(300);

/// The directory's persistence: user records and address bindings. They
/// live until the user is deleted (a directory is not a cache), except a
/// provisional user's: an anonymous flow's new user and its binding expire
/// with its tokens (`expire_ms` > 0) until its first sign-in keeps them
/// for good, so that requests nobody follows up leave nothing behind.
#[async_trait]
pub trait UserStore: Send + Sync + fmt::Debug + 'static {
    /// The user an address (digest of an email or phone) belongs to, and
    /// when the binding expires (0: for good). Bindings go with
    /// [`UserStore::unlink_address`], or expire while their user is provisional.
    async fn find_address(&self, address: &Digest, now_ms: i64) -> Result<Option<(UserId, i64)>, StoreError>;

    /// Links an address to `user` unless another user owns it; returns the
    /// owner. The binding expires at `expire_ms` (0: for good); linking it
    /// to its owner again extends it (never shortens it), or with 0 keeps
    /// it for good.
    async fn link_address(
        &self,
        address: &Digest,
        user: &UserId,
        expire_ms: i64,
        now_ms: i64,
    ) -> Result<UserId, StoreError>;

    /// Removes the binding of `address` if it still names `user`.
    async fn unlink_address(&self, address: &Digest, user: &UserId, now_ms: i64) -> Result<(), StoreError>;

    /// Creates the directory record of `user` with this email or phone, or
    /// confirms an existing record with the same address (`true`). Refused
    /// (`false`) when the id is known otherwise: a record with another
    /// address or none (a custom-token or server-session user), or any live
    /// token or session. With `expire_ms` > 0 a new record is provisional
    /// until then ([`UserRecord::expire_ms`]); a provisional record
    /// confirmed here lives on until `expire_ms`, or for good with 0.
    async fn claim_user(
        &self,
        user: &UserId,
        email: &str,
        phone: &str,
        expire_ms: i64,
        now_ms: i64,
    ) -> Result<bool, StoreError>;

    /// Deletes the user in one step: directory record, tokens, sessions,
    /// failure streak and lockout. Answers the record as it was (the
    /// default when there was none) and the live sessions that were
    /// deleted; `None` when the id was unknown (nothing was there).
    /// Address bindings are separate keys: the caller removes them with
    /// [`UserStore::unlink_address`].
    async fn delete_user(
        &self,
        user: &UserId,
        now_ms: i64,
    ) -> Result<Option<(UserRecord, Vec<SessionRecord>)>, StoreError>;

    /// The directory record of `user`.
    async fn load_user(&self, user: &UserId, now_ms: i64) -> Result<Option<UserRecord>, StoreError>;

    /// Marks the email and/or phone of an existing record as verified (a
    /// sign-in proved it), keeping a provisional record for good.
    async fn mark_verified(&self, user: &UserId, email: bool, phone: bool, now_ms: i64) -> Result<(), StoreError>;
}

/// An optional capability, kept apart from [`SessionStore`] (as
/// tower-sessions keeps `ExpiredDeletion` apart): a store that writes the
/// [events](crate::events) of its changes itself, in the same step as each
/// change (a standalone [`RedisStore`] made
/// [`with_events`](RedisStore::with_events)). A gate built with
/// [`GateBuilder::store_writing_events`](crate::GateBuilder::store_writing_events)
/// then announces none of them again.
#[async_trait]
pub trait EventWritingStore: Store {
    /// Whether events are written (a store that could but was not given a
    /// stream answers no, and the gate refuses it).
    fn writes_events(&self) -> bool;

    /// [`SessionStore::insert_token`] with its events in the same step:
    /// `token_created`, and `user_created` first when the token made the
    /// user known.
    async fn insert_token_with_events(
        &self,
        user: &UserId,
        token: &TokenRecord,
        replace_kind: bool,
        now_ms: i64,
        user_created: &Event,
        token_created: &Event,
    ) -> Result<(bool, bool), StoreError>;
}

/// Issuance rate-limit buckets.
#[async_trait]
pub trait RateLimitStore: Send + Sync + fmt::Debug + 'static {
    /// Counts one hit in every bucket of `buckets` in one atomic step, or
    /// none: when a bucket is over its limit or inside its gap, nothing is
    /// counted and its index is returned (the first such bucket). `group`
    /// names the buckets' family (a flow); a store may keep a group's
    /// buckets together (one Redis hash tag), and bucket ids are unique
    /// within a group.
    async fn hit_rate_limits(
        &self,
        group: &str,
        buckets: &[RateBucket],
        now_ms: i64,
    ) -> Result<Option<usize>, StoreError>;
}

/// Everything the [`Gate`](crate::Gate) keeps: the three concerns joined,
/// implemented for every type that implements them. Every method receives
/// the clock (`now_ms`), so a store never reads time itself.
///
/// These traits are open, for stores of your own; a method added later
/// comes with a default, so an implementation keeps compiling. Run the
/// contract suite (feature `testing`: `testing::store_contract`)
/// against yours.
pub trait Store: SessionStore + UserStore + RateLimitStore {}

impl<T: SessionStore + UserStore + RateLimitStore + ?Sized> Store for T {}

/// Where the idle deadline puts a session's end: the earlier of its expiry
/// and `now + idle`.
pub(crate) fn idle_deadline(expire_ms: i64, idle_ms: i64, now_ms: i64) -> i64 {
    if idle_ms > 0 {
        expire_ms.min(now_ms.saturating_add(idle_ms))
    } else {
        expire_ms
    }
}
