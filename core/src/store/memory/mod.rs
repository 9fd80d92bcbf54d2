//! An in-process store with real expiry: the embedded default for examples,
//! development and tests. Not shared between processes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;

use super::{
    idle_deadline, RateBucket, RateLimitStore, Redemption, SessionRecord, SessionStore, StoreError, TokenRecord,
    UserRecord, UserStore,
};
use crate::model::{SessionOrigin, UserId};
use crate::policy::Policy;
use crate::policy::IDLE_REFRESH_INTERVAL;
use crate::secret::Digest;

mod user_state;

use user_state::UserState;

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
    /// Address bindings: the owner, and when the binding expires (0: for good).
    addresses: HashMap<Digest, (UserId, i64)>,
    rates: HashMap<String, RateState>,
    operations: u64,
}

#[derive(Debug, Default)]
struct RateState {
    count: u32,
    window_end_ms: i64,
    gap_until_ms: i64,
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
            state
                .addresses
                .retain(|_, (_, expire_ms)| *expire_ms == 0 || *expire_ms > now_ms);
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

impl MemoryStore {
    /// Everything the store holds (users with their tokens, sessions,
    /// counters and directory records, address bindings, rate buckets), as
    /// text: the embedded store's equivalent of dumping a Redis prefix, so
    /// that tests can check that no plaintext secret is kept. Digests appear
    /// in full (hex). For the store contract (`tokengate-testing`); not for
    /// production use.
    #[doc(hidden)]
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
    ) -> Result<(bool, bool), StoreError> {
        self.with_user(user, now_ms, |u| {
            if replace_kind {
                u.tokens.retain(|t| t.kind != token.kind);
            }
            u.tokens.push(token.clone());
            u.remember(now_ms, token.user_kept_until())
        })
    }

    async fn remove_token(&self, user: &UserId, digest: &Digest, now_ms: i64) -> Result<bool, StoreError> {
        self.with_user(user, now_ms, |u| {
            u.tokens.retain(|t| t.digest != *digest);
            let provisional = u.directory.as_ref().is_some_and(|r| r.expire_ms > 0);
            if provisional && u.tokens.is_empty() && u.sessions.is_empty() {
                u.directory = None;
                u.unannounced = false;
                return true;
            }
            false
        })
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
                            .or_insert((0, now_ms + rules.client_window_ms()));
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
                kept: u.keep_until(0),
            }
        })
    }

    async fn insert_session(
        &self,
        user: &UserId,
        session: &SessionRecord,
        rules: &Policy,
        now_ms: i64,
    ) -> Result<(bool, Vec<SessionRecord>), StoreError> {
        self.with_user(user, now_ms, |u| {
            let (user_created, _) = u.remember(now_ms, 0);
            (user_created, u.add_session(session.clone(), rules, now_ms))
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
    async fn find_address(&self, address: &Digest, now_ms: i64) -> Result<Option<(UserId, i64)>, StoreError> {
        let mut state = self.lock()?;
        match state.addresses.get(address) {
            Some((_, expire_ms)) if *expire_ms > 0 && *expire_ms <= now_ms => {
                state.addresses.remove(address);
                Ok(None)
            }
            found => Ok(found.cloned()),
        }
    }

    async fn link_address(
        &self,
        address: &Digest,
        user: &UserId,
        expire_ms: i64,
        now_ms: i64,
    ) -> Result<UserId, StoreError> {
        let mut state = self.lock()?;
        let live = |binding: &(UserId, i64)| binding.1 == 0 || binding.1 > now_ms;
        match state.addresses.get_mut(address).filter(|binding| live(binding)) {
            Some((owner, expiry)) => {
                if owner == user && *expiry > 0 {
                    *expiry = if expire_ms == 0 { 0 } else { (*expiry).max(expire_ms) };
                }
                Ok(owner.clone())
            }
            None => {
                state.addresses.insert(*address, (user.clone(), expire_ms));
                Ok(user.clone())
            }
        }
    }

    async fn unlink_address(&self, address: &Digest, user: &UserId, _now_ms: i64) -> Result<(), StoreError> {
        let mut state = self.lock()?;
        if state.addresses.get(address).is_some_and(|(owner, _)| owner == user) {
            state.addresses.remove(address);
        }
        Ok(())
    }

    async fn claim_user(
        &self,
        user: &UserId,
        email: &str,
        phone: &str,
        expire_ms: i64,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        self.with_user(user, now_ms, |u| {
            if let Some(record) = u.directory.as_ref() {
                let same = (!email.is_empty() && record.email == email) || (!phone.is_empty() && record.phone == phone);
                if same {
                    u.keep_until(expire_ms);
                }
                return same;
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
                expire_ms,
            });
            u.unannounced = true;
            true
        })
    }

    async fn delete_user(
        &self,
        user: &UserId,
        now_ms: i64,
    ) -> Result<Option<(UserRecord, Vec<SessionRecord>)>, StoreError> {
        let mut state = self.lock()?;
        let Some(mut removed) = state.users.remove(user) else {
            return Ok(None);
        };
        removed.sweep(now_ms);
        if removed.directory.is_none() && removed.tokens.is_empty() && removed.sessions.is_empty() {
            return Ok(None);
        }
        let record = removed.directory.unwrap_or_default();
        Ok(Some((record, removed.sessions.into_iter().map(|s| s.record).collect())))
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
                record.expire_ms = 0;
            }
        })
    }
}

#[async_trait]
impl RateLimitStore for MemoryStore {
    async fn hit_rate_limits(
        &self,
        group: &str,
        buckets: &[RateBucket],
        now_ms: i64,
    ) -> Result<Option<usize>, StoreError> {
        let mut state = self.lock()?;
        let key = |bucket: &RateBucket| format!("{group}:{}", bucket.id);
        for (index, bucket) in buckets.iter().enumerate() {
            let Some(rate) = state.rates.get(&key(bucket)) else {
                continue;
            };
            let count = if rate.window_end_ms <= now_ms { 0 } else { rate.count };
            if (bucket.min_interval_ms > 0 && rate.gap_until_ms > now_ms) || count >= bucket.limit {
                return Ok(Some(index));
            }
        }
        for bucket in buckets {
            let rate = state.rates.entry(key(bucket)).or_default();
            if rate.window_end_ms <= now_ms {
                rate.count = 0;
                rate.window_end_ms = now_ms + bucket.window_ms;
            }
            rate.count += 1;
            if bucket.min_interval_ms > 0 {
                rate.gap_until_ms = now_ms + bucket.min_interval_ms;
            }
        }
        Ok(None)
    }
}
