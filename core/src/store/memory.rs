//! An in-process store with real expiry: the embedded default for examples,
//! development and tests. Not shared between processes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;

use super::{
    idle_deadline, DeletedUser, InsertedSession, RateBucket, RateLimitStore, RedeemRules, Redemption, SessionRecord,
    SessionStore, StoreError, TokenRecord, UserRecord, UserStore,
};
use crate::model::{SessionOrigin, UserId};
use crate::policy::IDLE_REFRESH_INTERVAL;
use crate::secret::Digest;

/// Sweep every user's expired entries once per this many operations.
const FULL_SWEEP_EVERY: u64 = 1024;

/// The embedded store. Cheap to clone; clones share state.
///
/// ```
/// use tokengate::store::MemoryStore;
/// let store = MemoryStore::new();
/// let shared = store.clone();
/// # let _ = shared;
/// ```
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    state: Arc<Mutex<State>>,
}

#[derive(Debug, Default)]
struct State {
    users: HashMap<UserId, UserState>,
    addresses: HashMap<Digest, UserId>,
    rates: HashMap<String, RateState>,
    operations: u64,
}

#[derive(Debug, Default)]
struct RateState {
    count: u32,
    window_end_ms: i64,
    gap_until_ms: i64,
}

#[derive(Debug, Default)]
struct UserState {
    tokens: Vec<TokenRecord>,
    sessions: Vec<StoredSession>,
    failures: u32,
    failures_expire_ms: i64,
    locked_until_ms: i64,
    /// Failed exchanges per client: (count, window end).
    client_failures: HashMap<String, (u32, i64)>,
    /// The directory record: kept until the user is deleted.
    directory: Option<UserRecord>,
    /// Claimed by an anonymous flow and not yet announced by a token
    /// (`users.<userId>.create` goes out with the first one).
    unannounced: bool,
}

#[derive(Debug)]
struct StoredSession {
    record: SessionRecord,
    /// When the entry disappears: the expiry, or earlier under an idle timeout.
    deadline_ms: i64,
}

impl UserState {
    fn sweep(&mut self, now_ms: i64) {
        self.tokens.retain(|t| t.expire_ms > now_ms);
        self.sessions.retain(|s| s.deadline_ms > now_ms);
        if self.failures_expire_ms <= now_ms {
            self.failures = 0;
        }
        self.client_failures.retain(|_, (_, window_end)| *window_end > now_ms);
    }

    /// From its first token or session on, a user id is known for good.
    /// Whether this made it known (announced once).
    fn remember(&mut self, now_ms: i64) -> bool {
        if self.directory.is_none() {
            self.directory = Some(UserRecord {
                created_ms: now_ms,
                updated_ms: now_ms,
                ..UserRecord::default()
            });
            return true;
        }
        std::mem::take(&mut self.unannounced)
    }

    fn has_guessable_token(&self) -> bool {
        self.tokens.iter().any(|t| t.low_entropy)
    }

    fn is_empty(&self, now_ms: i64) -> bool {
        self.tokens.is_empty()
            && self.sessions.is_empty()
            && self.failures == 0
            && self.locked_until_ms <= now_ms
            && self.client_failures.is_empty()
            && self.directory.is_none()
    }

    fn add_session(&mut self, record: SessionRecord, rules: &RedeemRules, now_ms: i64) -> Vec<SessionRecord> {
        let deadline_ms = idle_deadline(record.expire_ms, rules.idle_ms, now_ms);
        let new_id = record.id.clone();
        self.sessions.push(StoredSession { record, deadline_ms });
        let limit = rules.max_sessions as usize;
        let mut evicted = Vec::new();
        if limit > 0 && self.sessions.len() > limit {
            let mut candidates: Vec<(i64, String)> = self
                .sessions
                .iter()
                .filter(|s| s.record.id != new_id)
                .map(|s| (s.record.created_ms, s.record.id.clone()))
                .collect();
            candidates.sort();
            let excess = self.sessions.len() - limit;
            let ids: Vec<String> = candidates.into_iter().take(excess).map(|(_, id)| id).collect();
            let (gone, kept) = std::mem::take(&mut self.sessions)
                .into_iter()
                .partition(|s| ids.contains(&s.record.id));
            self.sessions = kept;
            evicted = gone.into_iter().map(|s: StoredSession| s.record).collect();
        }
        evicted
    }

    fn record_failure(&mut self, rules: &RedeemRules, now_ms: i64) {
        self.failures += 1;
        self.failures_expire_ms = now_ms + rules.lockout_ms;
        if rules.burn_after_failures > 0 && self.failures.is_multiple_of(rules.burn_after_failures) {
            self.tokens.retain(|t| !t.low_entropy);
        }
        if rules.lockout_after_failures > 0 && self.failures >= rules.lockout_after_failures {
            self.locked_until_ms = now_ms + rules.lockout_ms;
            self.failures = 0;
        }
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> Result<MutexGuard<'_, State>, StoreError> {
        self.state
            .lock()
            .map_err(|_| StoreError::new("memory store lock poisoned"))
    }

    /// Runs `f` on the user's swept state; drops the user when nothing is left.
    fn with_user<T>(&self, user: &UserId, now_ms: i64, f: impl FnOnce(&mut UserState) -> T) -> Result<T, StoreError> {
        let mut state = self.lock()?;
        state.operations += 1;
        if state.operations % FULL_SWEEP_EVERY == 0 {
            state.users.retain(|_, u| {
                u.sweep(now_ms);
                !u.is_empty(now_ms)
            });
            state
                .rates
                .retain(|_, r| r.window_end_ms > now_ms || r.gap_until_ms > now_ms);
        }
        let entry = state.users.entry(user.clone()).or_default();
        entry.sweep(now_ms);
        let out = f(entry);
        if entry.is_empty(now_ms) {
            state.users.remove(user);
        }
        Ok(out)
    }

    /// Number of users with any live state (for tests of expiry).
    pub fn live_users(&self, now_ms: i64) -> usize {
        self.lock()
            .map(|mut s| {
                s.users.retain(|_, u| {
                    u.sweep(now_ms);
                    !u.is_empty(now_ms)
                });
                s.users.len()
            })
            .unwrap_or(0)
    }
}

#[cfg(feature = "testing")]
impl MemoryStore {
    /// Everything the store holds (users with their tokens, sessions,
    /// counters and directory records, address bindings, rate buckets), as
    /// text: the embedded store's equivalent of dumping a Redis prefix, so
    /// that tests can check that no plaintext secret is kept. Digests appear
    /// in full (hex).
    pub fn dump(&self) -> String {
        let Ok(state) = self.lock() else {
            return String::new();
        };
        let mut out = format!("{:#?}\n", *state);
        for user in state.users.values() {
            for token in &user.tokens {
                out.push_str(&token.digest.to_hex());
                out.push('\n');
            }
            for session in &user.sessions {
                out.push_str(&session.record.digest.to_hex());
                out.push('\n');
            }
        }
        for address in state.addresses.keys() {
            out.push_str(&address.to_hex());
            out.push('\n');
        }
        out
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    async fn insert_token(
        &self,
        user: &UserId,
        token: &TokenRecord,
        replace_kind: bool,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        self.with_user(user, now_ms, |u| {
            if replace_kind {
                u.tokens.retain(|t| t.kind != token.kind);
            }
            u.tokens.push(token.clone());
            u.remember(now_ms)
        })
    }

    async fn remove_token(&self, user: &UserId, digest: &Digest, now_ms: i64) -> Result<(), StoreError> {
        self.with_user(user, now_ms, |u| u.tokens.retain(|t| t.digest != *digest))
    }

    async fn redeem_token(
        &self,
        user: &UserId,
        token: &Digest,
        session: &SessionRecord,
        rules: &RedeemRules,
        client: Option<&str>,
        now_ms: i64,
    ) -> Result<Redemption, StoreError> {
        self.with_user(user, now_ms, |u| {
            let client = client.filter(|_| rules.client_failures > 0);
            if let Some(client) = client
                && u.client_failures
                    .get(client)
                    .is_some_and(|(n, _)| *n >= rules.client_failures)
            {
                return Redemption::Throttled;
            }
            let locked = u.locked_until_ms > now_ms;
            let had_tokens = !u.tokens.is_empty();
            let found = u.tokens.iter().position(|t| t.digest == *token);
            // A lockout stops guessable secrets only: an unguessable one still works.
            if locked && found.is_none_or(|pos| u.tokens[pos].low_entropy) {
                return Redemption::LockedOut;
            }
            let Some(pos) = found else {
                if had_tokens {
                    if let Some(client) = client {
                        let entry = u
                            .client_failures
                            .entry(client.to_owned())
                            .or_insert((0, now_ms + rules.client_window_ms));
                        entry.0 += 1;
                    }
                    // Wrong guesses at unguessable secrets cannot lock the user out.
                    if u.has_guessable_token() {
                        u.record_failure(rules, now_ms);
                    }
                }
                return Redemption::Rejected;
            };
            let redeemed = u.tokens.swap_remove(pos);
            let mut record = session.clone();
            record.origin = SessionOrigin::Token(redeemed.kind);
            let evicted = u.add_session(record, rules, now_ms);
            u.failures = 0;
            Redemption::Redeemed {
                token_id: redeemed.id,
                kind: redeemed.kind,
                evicted,
            }
        })
    }

    async fn insert_session(
        &self,
        user: &UserId,
        session: &SessionRecord,
        rules: &RedeemRules,
        now_ms: i64,
    ) -> Result<InsertedSession, StoreError> {
        self.with_user(user, now_ms, |u| {
            let user_created = u.remember(now_ms);
            InsertedSession::new(user_created, u.add_session(session.clone(), rules, now_ms))
        })
    }

    async fn find_session(
        &self,
        user: &UserId,
        digest: &Digest,
        idle_ms: i64,
        now_ms: i64,
    ) -> Result<Option<SessionRecord>, StoreError> {
        self.with_user(user, now_ms, |u| {
            let found = u.sessions.iter_mut().find(|s| s.record.digest == *digest)?;
            if idle_ms > 0 {
                let target = idle_deadline(found.record.expire_ms, idle_ms, now_ms);
                if target - found.deadline_ms >= IDLE_REFRESH_INTERVAL.as_millis() as i64 {
                    found.deadline_ms = target;
                }
            }
            Some(found.record.clone())
        })
    }

    async fn list_sessions(&self, user: &UserId, now_ms: i64) -> Result<Vec<SessionRecord>, StoreError> {
        self.with_user(user, now_ms, |u| {
            let mut out: Vec<SessionRecord> = u.sessions.iter().map(|s| s.record.clone()).collect();
            out.sort_by(|a, b| (a.created_ms, &a.id).cmp(&(b.created_ms, &b.id)));
            out
        })
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
        self.with_user(user, now_ms, |u| {
            let pos = u.sessions.iter().position(|s| s.record.id == session_id)?;
            let expire_ms = expire_ms.min(u.sessions[pos].record.created_ms.saturating_add(max_age_ms));
            if expire_ms <= now_ms {
                u.sessions.remove(pos);
                return None;
            }
            let found = &mut u.sessions[pos];
            found.record.expire_ms = expire_ms;
            found.record.updated_ms = now_ms;
            found.deadline_ms = idle_deadline(expire_ms, idle_ms, now_ms);
            Some(found.record.clone())
        })
    }

    async fn delete_session(
        &self,
        user: &UserId,
        session_id: &str,
        now_ms: i64,
    ) -> Result<Option<SessionRecord>, StoreError> {
        self.with_user(user, now_ms, |u| {
            let pos = u.sessions.iter().position(|s| s.record.id == session_id)?;
            Some(u.sessions.remove(pos).record)
        })
    }

    async fn delete_sessions(&self, user: &UserId, now_ms: i64) -> Result<Vec<SessionRecord>, StoreError> {
        self.with_user(user, now_ms, |u| {
            std::mem::take(&mut u.sessions).into_iter().map(|s| s.record).collect()
        })
    }
}

#[async_trait]
impl UserStore for MemoryStore {
    async fn find_address(&self, address: &Digest, _now_ms: i64) -> Result<Option<UserId>, StoreError> {
        Ok(self.lock()?.addresses.get(address).cloned())
    }

    async fn link_address(&self, address: &Digest, user: &UserId, _now_ms: i64) -> Result<UserId, StoreError> {
        let mut state = self.lock()?;
        Ok(state.addresses.entry(*address).or_insert_with(|| user.clone()).clone())
    }

    async fn unlink_address(&self, address: &Digest, user: &UserId, _now_ms: i64) -> Result<(), StoreError> {
        let mut state = self.lock()?;
        if state.addresses.get(address) == Some(user) {
            state.addresses.remove(address);
        }
        Ok(())
    }

    async fn claim_user(&self, user: &UserId, email: &str, phone: &str, now_ms: i64) -> Result<bool, StoreError> {
        self.with_user(user, now_ms, |u| {
            if let Some(record) = u.directory.as_ref() {
                return (!email.is_empty() && record.email == email) || (!phone.is_empty() && record.phone == phone);
            }
            if !u.tokens.is_empty() || !u.sessions.is_empty() {
                return false;
            }
            u.directory = Some(UserRecord {
                created_ms: now_ms,
                updated_ms: now_ms,
                email: email.to_owned(),
                phone: phone.to_owned(),
                email_verified: false,
                phone_verified: false,
            });
            u.unannounced = true;
            true
        })
    }

    async fn delete_user(&self, user: &UserId, now_ms: i64) -> Result<Option<DeletedUser>, StoreError> {
        let mut state = self.lock()?;
        let Some(mut removed) = state.users.remove(user) else {
            return Ok(None);
        };
        removed.sweep(now_ms);
        if removed.directory.is_none() && removed.tokens.is_empty() && removed.sessions.is_empty() {
            return Ok(None);
        }
        let record = removed.directory.unwrap_or_default();
        Ok(Some(DeletedUser {
            email: record.email.clone(),
            phone: record.phone.clone(),
            sessions: removed.sessions.into_iter().map(|s| s.record).collect(),
            user: record,
        }))
    }

    async fn load_user(&self, user: &UserId, now_ms: i64) -> Result<Option<UserRecord>, StoreError> {
        self.with_user(user, now_ms, |u| u.directory.clone())
    }

    async fn mark_verified(&self, user: &UserId, email: bool, phone: bool, now_ms: i64) -> Result<(), StoreError> {
        self.with_user(user, now_ms, |u| {
            if let Some(record) = u.directory.as_mut() {
                record.email_verified |= email;
                record.phone_verified |= phone;
                record.updated_ms = now_ms;
            }
        })
    }
}

#[async_trait]
impl RateLimitStore for MemoryStore {
    async fn hit_rate_limit(&self, bucket: &RateBucket, now_ms: i64) -> Result<bool, StoreError> {
        let mut state = self.lock()?;
        let rate = state.rates.entry(bucket.id.clone()).or_default();
        if rate.window_end_ms <= now_ms {
            rate.count = 0;
        }
        if bucket.min_interval_ms > 0 && rate.gap_until_ms > now_ms {
            return Ok(false);
        }
        if rate.count >= bucket.limit {
            return Ok(false);
        }
        if rate.count == 0 {
            rate.window_end_ms = now_ms + bucket.window_ms;
        }
        rate.count += 1;
        if bucket.min_interval_ms > 0 {
            rate.gap_until_ms = now_ms + bucket.min_interval_ms;
        }
        Ok(true)
    }

    async fn refund_rate_limit(&self, bucket: &RateBucket, _now_ms: i64) -> Result<(), StoreError> {
        let mut state = self.lock()?;
        if let Some(rate) = state.rates.get_mut(&bucket.id) {
            rate.count = rate.count.saturating_sub(1);
        }
        Ok(())
    }
}
