//! When the stream is next trimmed by age.
//!
//! `XTRIM … MINID` after every change was a fifth of the Redis work an
//! issue + exchange pair costs with events on (the bench row), while
//! the age bound only needs to hold to within a second: the length bound
//! rides on every `XADD` (`MAXLEN ~`), the age bound is applied by the first
//! write of each interval, per process.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

/// The longest interval between two trims by age of one process.
const MAX_INTERVAL_MS: i64 = 1_000;

/// Shared by every writer of one stream in a process (the store and the
/// events crate's log hold the same [`EventStream`](super::EventStream)),
/// so that one process trims at most once per interval whichever writes.
#[derive(Debug)]
pub(crate) struct AgeTrim {
    max_age_ms: i64,
    interval_ms: i64,
    next_due_ms: AtomicI64,
}

impl AgeTrim {
    pub(crate) fn new(max_age: Duration) -> Self {
        let max_age_ms = i64::try_from(max_age.as_millis()).unwrap_or(i64::MAX);
        AgeTrim {
            max_age_ms,
            // A short max age (tests, tiny deployments) is honoured to
            // within half of itself rather than a whole second.
            interval_ms: (max_age_ms / 2).clamp(1, MAX_INTERVAL_MS),
            next_due_ms: AtomicI64::new(i64::MIN),
        }
    }

    /// The oldest entry id to keep (`<now − max age>-0`) when a trim is due
    /// at `now_ms`, claiming it for this caller; `None` otherwise.
    pub(crate) fn due(&self, now_ms: i64) -> Option<String> {
        let next = self.next_due_ms.load(Ordering::Relaxed);
        if now_ms < next {
            return None;
        }
        self.next_due_ms
            .compare_exchange(
                next,
                now_ms.saturating_add(self.interval_ms),
                Ordering::Relaxed,
                Ordering::Relaxed,
            )
            .ok()?;
        Some(format!("{}-0", now_ms.saturating_sub(self.max_age_ms).max(0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_trim_per_interval() {
        let trim = AgeTrim::new(Duration::from_secs(86_400));
        assert_eq!(trim.due(100_000_000).as_deref(), Some("13600000-0"));
        assert_eq!(trim.due(100_000_999), None);
        assert!(trim.due(100_001_000).is_some());
        assert_eq!(trim.due(100_001_500), None);
    }

    #[test]
    fn a_short_max_age_trims_within_half_of_itself() {
        let trim = AgeTrim::new(Duration::from_millis(300));
        assert_eq!(trim.due(1_000).as_deref(), Some("700-0"));
        assert_eq!(trim.due(1_149), None);
        assert_eq!(trim.due(1_150).as_deref(), Some("850-0"));
    }

    #[test]
    fn the_id_never_goes_below_zero() {
        let trim = AgeTrim::new(Duration::from_secs(86_400));
        assert_eq!(trim.due(5).as_deref(), Some("0-0"));
    }
}
