//! Wall-clock helpers: everything stored is Unix milliseconds.

use chrono::{DateTime, TimeZone, Utc};

/// Milliseconds since the Unix epoch, now.
pub(crate) fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// A stored millisecond timestamp as a UTC date.
pub(crate) fn from_ms(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

/// ISO 8601 with milliseconds and offset, as Appwrite writes dates:
/// `2026-11-27T19:49:09.123+00:00`.
pub(crate) fn format_date(date: DateTime<Utc>) -> String {
    date.format("%Y-%m-%dT%H:%M:%S%.3f+00:00").to_string()
}
