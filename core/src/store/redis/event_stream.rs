//! [`EventStream`]: the Redis Stream a standalone store writes the events
//! of its changes into, inside each change's own script (the store's side of
//! the events crate's `RedisEventLog`, which reads the same stream).

use std::sync::Arc;
use std::time::Duration;

use super::age_trim::AgeTrim;
use super::script::ScriptCall;
use crate::error::StoreError;
use crate::events::{codec, Event, SecretSeal};
use crate::model::UserId;

/// A stream of events: its key, its bounds, the seal of the token secrets
/// in it, and when it is next trimmed by age (shared by every clone, so a
/// process trims at most once a second whichever writer is due).
#[derive(Debug, Clone)]
pub struct EventStream {
    key: Arc<str>,
    max_len: u64,
    seal: Arc<dyn SecretSeal>,
    age_trim: Arc<AgeTrim>,
}

impl EventStream {
    /// The stream at `key`, bounded to about `max_len` entries (at least
    /// 1) and to `max_age`, its token secrets sealed by `seal`.
    ///
    /// ```
    /// # #[derive(Debug)] struct Plain;
    /// # impl tokengate::events::SecretSeal for Plain {
    /// #     fn seal(&self, _: &[u8], s: &tokengate::Secret) -> Result<String, tokengate::StoreError> { Ok(s.expose().to_owned()) }
    /// #     fn open(&self, _: &[u8], s: &str) -> Result<tokengate::Secret, tokengate::StoreError> { Ok(tokengate::Secret::new(s)) }
    /// # }
    /// use std::{sync::Arc, time::Duration};
    /// use tokengate::store::EventStream;
    /// let stream = EventStream::new("tg:{events}", 100_000, Duration::from_secs(86_400), Arc::new(Plain));
    /// assert_eq!(stream.key(), "tg:{events}");
    /// ```
    pub fn new(key: impl Into<String>, max_len: u64, max_age: Duration, seal: Arc<dyn SecretSeal>) -> Self {
        EventStream {
            key: Arc::from(key.into()),
            max_len: max_len.max(1),
            seal,
            age_trim: Arc::new(AgeTrim::new(max_age)),
        }
    }

    /// The stream's key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// About how many entries are kept.
    pub fn max_len(&self) -> u64 {
        self.max_len
    }

    /// The oldest entry id to keep (`<now − max age>-0`) when a trim by age
    /// is due at `now_ms`, claiming it for this caller; `None` otherwise.
    pub fn trim_due(&self, now_ms: i64) -> Option<String> {
        self.age_trim.due(now_ms)
    }

    /// The stored bytes of `event`.
    pub fn encode(&self, event: &Event) -> Result<Vec<u8>, StoreError> {
        codec::encode(event, &*self.seal)
    }

    /// The event stored as `bytes` (its `id` empty).
    pub fn decode(&self, bytes: &[u8]) -> Result<Event, StoreError> {
        codec::decode(bytes, &*self.seal)
    }

    /// Adds the stream (as the script's last key) and the events' common
    /// arguments (length bound, oldest id kept when a trim by age is due or
    /// else empty, the head of every event's JSON): see `events_of` in
    /// `sessions.lua`.
    pub(super) fn add(&self, call: &mut ScriptCall<'_>, user: &UserId, now_ms: i64) {
        let min_id = self.trim_due(now_ms).unwrap_or_default();
        let user = serde_json::to_string(user.as_str()).expect("a string serialises");
        call.key(&*self.key)
            .arg(self.max_len)
            .arg(min_id)
            .arg(format!("{{\"u\":{user},\"t\":{now_ms}"));
    }
}
