//! [`CachedStore`]: the local session cache in front of any store.

use std::sync::Arc;

use async_trait::async_trait;

use super::{RevocationChannel, SessionCache};
use crate::model::UserId;
use crate::policy::Policy;
use crate::secret::Digest;
use crate::store::{
    RateBucket, RateLimitStore, Redemption, SessionRecord, SessionStore, Store, StoreError, TokenRecord, UserRecord,
    UserStore,
};

/// A store that answers session lookups from a [`SessionCache`] when it
/// can and tells every process (through a [`RevocationChannel`]) whenever
/// sessions end: logout, logout-all, a user deleted, a session evicted by
/// the per-user limit. Everything else goes to the inner store.
///
/// [`GateBuilder::session_cache`](crate::GateBuilder::session_cache) puts
/// one in front of the configured store.
#[derive(Debug)]
pub(crate) struct CachedStore {
    inner: Arc<dyn Store>,
    sessions: SessionCache,
    channel: Arc<dyn RevocationChannel>,
}

impl CachedStore {
    /// `inner` behind `sessions`, with revocations on `channel`; starts the
    /// channel's delivery into `sessions` (needs a Tokio runtime).
    pub(crate) fn new(inner: Arc<dyn Store>, sessions: SessionCache, channel: Arc<dyn RevocationChannel>) -> Self {
        channel.start(sessions.clone());
        CachedStore {
            inner,
            sessions,
            channel,
        }
    }

    /// Drops `user`'s cached sessions here and tells every other process.
    /// A lost message is bounded by the cache TTL.
    async fn revoked(&self, user: &UserId) {
        self.sessions.revoke_user(user);
        if let Err(error) = self.channel.publish(user).await {
            tracing::warn!(%error, user = %user, "could not publish a revocation; other caches expire it by TTL");
        }
    }
}

#[async_trait]
impl SessionStore for CachedStore {
    async fn insert_token(
        &self,
        user: &UserId,
        token: &TokenRecord,
        replace_kind: bool,
        now_ms: i64,
    ) -> Result<(bool, bool), StoreError> {
        self.inner.insert_token(user, token, replace_kind, now_ms).await
    }

    async fn remove_token(&self, user: &UserId, digest: &Digest, now_ms: i64) -> Result<bool, StoreError> {
        self.inner.remove_token(user, digest, now_ms).await
    }

    async fn redeem_token(
        &self,
        user: &UserId,
        token: &Digest,
        session: &SessionRecord,
        rules: &Policy,
        client: Option<&str>,
        now_ms: i64,
    ) -> Result<Redemption, StoreError> {
        let redemption = self
            .inner
            .redeem_token(user, token, session, rules, client, now_ms)
            .await?;
        if matches!(&redemption, Redemption::Redeemed { evicted, .. } if !evicted.is_empty()) {
            self.revoked(user).await;
        }
        Ok(redemption)
    }

    async fn insert_session(
        &self,
        user: &UserId,
        session: &SessionRecord,
        rules: &Policy,
        now_ms: i64,
    ) -> Result<(bool, Vec<SessionRecord>), StoreError> {
        let inserted = self.inner.insert_session(user, session, rules, now_ms).await?;
        if !inserted.1.is_empty() {
            self.revoked(user).await;
        }
        Ok(inserted)
    }

    async fn find_session(
        &self,
        user: &UserId,
        digest: &Digest,
        idle_ms: i64,
        now_ms: i64,
    ) -> Result<Option<SessionRecord>, StoreError> {
        if let Some(record) = self.sessions.get(digest, now_ms) {
            return Ok(Some(record));
        }
        let ticket = self.sessions.ticket();
        let found = self.inner.find_session(user, digest, idle_ms, now_ms).await?;
        if let Some(record) = &found {
            self.sessions.insert(ticket, user, *digest, record);
        }
        Ok(found)
    }

    async fn list_sessions(&self, user: &UserId, now_ms: i64) -> Result<Vec<SessionRecord>, StoreError> {
        self.inner.list_sessions(user, now_ms).await
    }

    async fn extend_session(
        &self,
        user: &UserId,
        session_id: &str,
        expire_ms: i64,
        idle_ms: i64,
        max_age_ms: i64,
        now_ms: i64,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let extended = self
            .inner
            .extend_session(user, session_id, expire_ms, idle_ms, max_age_ms, now_ms)
            .await?;
        if extended.is_none() {
            // Past its maximum age it ended here: no cache may keep it.
            self.revoked(user).await;
        }
        Ok(extended)
    }

    async fn delete_session(
        &self,
        user: &UserId,
        session_id: &str,
        now_ms: i64,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let deleted = self.inner.delete_session(user, session_id, now_ms).await?;
        if deleted.is_some() {
            self.revoked(user).await;
        }
        Ok(deleted)
    }

    async fn delete_sessions(&self, user: &UserId, now_ms: i64) -> Result<Vec<SessionRecord>, StoreError> {
        let deleted = self.inner.delete_sessions(user, now_ms).await?;
        self.revoked(user).await;
        Ok(deleted)
    }
}

#[async_trait]
impl UserStore for CachedStore {
    async fn find_address(&self, address: &Digest, now_ms: i64) -> Result<Option<(UserId, i64)>, StoreError> {
        self.inner.find_address(address, now_ms).await
    }

    async fn link_address(
        &self,
        address: &Digest,
        user: &UserId,
        expire_ms: i64,
        now_ms: i64,
    ) -> Result<UserId, StoreError> {
        self.inner.link_address(address, user, expire_ms, now_ms).await
    }

    async fn unlink_address(&self, address: &Digest, user: &UserId, now_ms: i64) -> Result<(), StoreError> {
        self.inner.unlink_address(address, user, now_ms).await
    }

    async fn claim_user(
        &self,
        user: &UserId,
        email: &str,
        phone: &str,
        expire_ms: i64,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        self.inner.claim_user(user, email, phone, expire_ms, now_ms).await
    }

    async fn delete_user(
        &self,
        user: &UserId,
        now_ms: i64,
    ) -> Result<Option<(UserRecord, Vec<SessionRecord>)>, StoreError> {
        let deleted = self.inner.delete_user(user, now_ms).await?;
        if deleted.is_some() {
            self.revoked(user).await;
        }
        Ok(deleted)
    }

    async fn load_user(&self, user: &UserId, now_ms: i64) -> Result<Option<UserRecord>, StoreError> {
        self.inner.load_user(user, now_ms).await
    }

    async fn mark_verified(&self, user: &UserId, email: bool, phone: bool, now_ms: i64) -> Result<(), StoreError> {
        self.inner.mark_verified(user, email, phone, now_ms).await
    }
}

#[async_trait]
impl RateLimitStore for CachedStore {
    async fn hit_rate_limits(
        &self,
        group: &str,
        buckets: &[RateBucket],
        now_ms: i64,
    ) -> Result<Option<usize>, StoreError> {
        self.inner.hit_rate_limits(group, buckets, now_ms).await
    }
}
