//! One user's state in the memory store: tokens, sessions, failure
//! counters and the directory record, with the rules the Redis scripts
//! apply to the same data.

use std::collections::HashMap;

use super::super::{idle_deadline, SessionRecord, TokenRecord, UserRecord};
use crate::policy::Policy;

#[derive(Debug, Default)]
pub(super) struct UserState {
    pub(super) tokens: Vec<TokenRecord>,
    pub(super) sessions: Vec<StoredSession>,
    pub(super) failures: u32,
    pub(super) failures_expire_ms: i64,
    pub(super) locked_until_ms: i64,
    /// Failed exchanges per client: (count, window end).
    pub(super) client_failures: HashMap<String, (u32, i64)>,
    /// The directory record: kept until the user is deleted.
    pub(super) directory: Option<UserRecord>,
    /// Claimed by an anonymous flow and not yet announced by a token
    /// (`users.<userId>.create` goes out with the first one).
    pub(super) unannounced: bool,
}

#[derive(Debug)]
pub(super) struct StoredSession {
    pub(super) record: SessionRecord,
    /// When the entry disappears: the expiry, or earlier under an idle timeout.
    pub(super) deadline_ms: i64,
}

impl UserState {
    pub(super) fn sweep(&mut self, now_ms: i64) {
        if self
            .directory
            .as_ref()
            .is_some_and(|r| r.expire_ms > 0 && r.expire_ms <= now_ms)
        {
            self.directory = None;
            self.unannounced = false;
        }
        self.tokens.retain(|t| t.expire_ms > now_ms);
        self.sessions.retain(|s| s.deadline_ms > now_ms);
        if self.failures_expire_ms <= now_ms {
            self.failures = 0;
        }
        self.client_failures.retain(|_, (_, window_end)| *window_end > now_ms);
    }

    /// From its first token or session on, a user id is known: a record
    /// made here is for good; a provisional one lives on until `expire_ms`
    /// (0: for good). Whether this made it known (announced once), and
    /// whether it kept a provisional record for good.
    pub(super) fn remember(&mut self, now_ms: i64, expire_ms: i64) -> (bool, bool) {
        if self.directory.is_none() {
            self.directory = Some(UserRecord {
                created_ms: now_ms,
                updated_ms: now_ms,
                ..UserRecord::default()
            });
            return (true, false);
        }
        let kept = self.keep_until(expire_ms);
        (std::mem::take(&mut self.unannounced), kept)
    }

    /// A provisional record lives until the later of its expiry and
    /// `expire_ms`, or for good with 0. Whether this kept it for good.
    pub(super) fn keep_until(&mut self, expire_ms: i64) -> bool {
        let Some(record) = self.directory.as_mut().filter(|r| r.expire_ms > 0) else {
            return false;
        };
        if expire_ms == 0 {
            record.expire_ms = 0;
            return true;
        }
        record.expire_ms = record.expire_ms.max(expire_ms);
        false
    }

    pub(super) fn has_guessable_token(&self) -> bool {
        self.tokens.iter().any(|t| t.low_entropy)
    }

    pub(super) fn is_empty(&self, now_ms: i64) -> bool {
        self.tokens.is_empty()
            && self.sessions.is_empty()
            && self.failures == 0
            && self.locked_until_ms <= now_ms
            && self.client_failures.is_empty()
            && self.directory.is_none()
    }

    pub(super) fn add_session(&mut self, record: SessionRecord, rules: &Policy, now_ms: i64) -> Vec<SessionRecord> {
        let deadline_ms = idle_deadline(record.expire_ms, rules.idle_ms(), now_ms);
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

    pub(super) fn record_failure(&mut self, rules: &Policy, now_ms: i64) {
        self.failures += 1;
        self.failures_expire_ms = now_ms + rules.lockout_ms();
        if rules.burn_after_failures > 0 && self.failures.is_multiple_of(rules.burn_after_failures) {
            self.tokens.retain(|t| !t.low_entropy);
        }
        if rules.lockout_after_failures > 0 && self.failures >= rules.lockout_after_failures {
            self.locked_until_ms = now_ms + rules.lockout_ms();
            self.failures = 0;
        }
    }
}
