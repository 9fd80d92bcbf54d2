//! [`DispatcherSettings`]: attempts, backoff, timeouts.

use std::time::Duration;

/// How a [`WebhookDispatcher`](super::WebhookDispatcher) delivers and retries. Set fields on
/// `DispatcherSettings::default()` or chain the setters.
///
/// ```
/// use std::time::Duration;
/// use tokengate_events::webhooks::DispatcherSettings;
/// let settings = DispatcherSettings::default()
///     .max_attempts(5)
///     .backoff(Duration::from_millis(500), Duration::from_secs(60));
/// assert_eq!(settings.max_attempts, 5);
/// assert_eq!(DispatcherSettings::default().claim_timeout, Duration::from_secs(60));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DispatcherSettings {
    /// Attempts per event before it moves to the dead-letter log (default 10).
    pub max_attempts: u32,
    /// The first retry waits up to this (default 1 s); each further one up
    /// to twice as long as the one before…
    pub backoff_base: Duration,
    /// …but never more than this (default 5 min). Each wait is drawn
    /// uniformly between zero and its bound ("full jitter").
    pub backoff_cap: Duration,
    /// Entries handed to a dispatcher this long ago and not acknowledged
    /// are taken over by another (its process died) (default 60 s).
    pub claim_timeout: Duration,
    /// Total time of one request (default 10 s).
    pub http_timeout: Duration,
    /// How long one read waits for new events (default 2 s).
    pub poll_interval: Duration,
    /// Entries taken from the log at a time (default 16).
    pub batch: usize,
}

impl Default for DispatcherSettings {
    fn default() -> Self {
        DispatcherSettings {
            max_attempts: 10,
            backoff_base: Duration::from_secs(1),
            backoff_cap: Duration::from_secs(300),
            claim_timeout: Duration::from_secs(60),
            http_timeout: Duration::from_secs(10),
            poll_interval: Duration::from_secs(2),
            batch: 16,
        }
    }
}

impl DispatcherSettings {
    /// Sets [`max_attempts`](Self::max_attempts) (at least 1).
    #[must_use]
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// Sets [`backoff_base`](Self::backoff_base) and [`backoff_cap`](Self::backoff_cap).
    #[must_use]
    pub fn backoff(mut self, base: Duration, cap: Duration) -> Self {
        self.backoff_base = base;
        self.backoff_cap = cap.max(base);
        self
    }

    /// Sets [`claim_timeout`](Self::claim_timeout).
    #[must_use]
    pub fn claim_timeout(mut self, timeout: Duration) -> Self {
        self.claim_timeout = timeout;
        self
    }

    /// Sets [`http_timeout`](Self::http_timeout).
    #[must_use]
    pub fn http_timeout(mut self, timeout: Duration) -> Self {
        self.http_timeout = timeout;
        self
    }

    /// Sets [`poll_interval`](Self::poll_interval).
    #[must_use]
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// Sets [`batch`](Self::batch) (at least 1).
    #[must_use]
    pub fn batch(mut self, entries: usize) -> Self {
        self.batch = entries.max(1);
        self
    }

    /// The wait after the `attempt`-th failure (1-based): uniform in
    /// `[0, min(cap, base · 2^(attempt-1))]`.
    pub(super) fn backoff_after(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(31));
        let bound = self.backoff_base.saturating_mul(factor).min(self.backoff_cap);
        let millis = u64::try_from(bound.as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(random_below(millis.saturating_add(1)))
    }
}

/// A uniform value in `0..bound` (`bound` > 0).
fn random_below(bound: u64) -> u64 {
    let bytes: [u8; 8] = rand::random();
    // The modulo bias is at most bound / 2^64: irrelevant for a jitter.
    u64::from_le_bytes(bytes) % bound.max(1)
}
