//! Observability: `tracing` spans with user id and outcome (never a secret)
//! and counters through the `metrics` facade.
//!
//! | counter | labels | counts |
//! |---|---|---|
//! | `tokengate_tokens_issued_total` | `kind` = `custom`, `email`, `magic_url`, `phone` | tokens stored |
//! | `tokengate_exchanges_total` | `outcome` = `success`, `invalid`, `locked`, `error` | token exchanges |
//! | `tokengate_authentications_total` | `outcome` = `valid`, `invalid`, `error` | credential checks |
//! | `tokengate_rate_limited_total` | `kind` | issuance requests refused by a limit |
//! | `tokengate_deliveries_failed_total` | `channel` = `email`, `sms` | messages that could not be sent |
//! | `tokengate_sessions_deleted_total` | | sessions logged out or revoked |
//! | `tokengate_store_errors_total` | `operation` | store failures (each answered 503) |
//!
//! (The webhook counters are `tokengate-events`'.)
//!
//! Spans: `tokengate.issue`, `tokengate.exchange`, `tokengate.authenticate`,
//! `tokengate.logout`, each with `user` and, once known, `outcome`.

use std::future::Future;

use tracing::{Instrument, Span};

use crate::error::Error;
use crate::model::TokenKind;

pub(crate) fn kind_label(kind: TokenKind) -> &'static str {
    match kind {
        TokenKind::Custom => "custom",
        TokenKind::EmailOtp => "email",
        TokenKind::MagicUrl => "magic_url",
        TokenKind::Phone => "phone",
    }
}

pub(crate) fn token_issued(kind: TokenKind) {
    metrics::counter!("tokengate_tokens_issued_total", "kind" => kind_label(kind)).increment(1);
}

pub(crate) fn rate_limited(kind: &'static str) {
    metrics::counter!("tokengate_rate_limited_total", "kind" => kind).increment(1);
}

pub(crate) fn delivery_failed(channel: &'static str) {
    metrics::counter!("tokengate_deliveries_failed_total", "channel" => channel).increment(1);
}

pub(crate) fn sessions_deleted(count: u64) {
    metrics::counter!("tokengate_sessions_deleted_total").increment(count);
}

/// Runs `operation` inside `span`, records its outcome on the span and in
/// `counter` (when given), and counts store errors.
pub(crate) async fn observed<T, F>(
    span: Span,
    operation: &'static str,
    counter: Option<&'static str>,
    outcome: fn(&Result<T, Error>) -> &'static str,
    work: F,
) -> Result<T, Error>
where
    F: Future<Output = Result<T, Error>>,
{
    // A span no subscriber wants still costs a call per poll (and, with
    // `tracing`'s `log` feature, a log-level check each time): skip it.
    let traced = !span.is_disabled();
    let result = if traced {
        work.instrument(span.clone()).await
    } else {
        work.await
    };
    let label = outcome(&result);
    if traced {
        span.record("outcome", label);
    }
    if let Some(counter) = counter {
        count_outcome(counter, label);
    }
    if let Err(Error::Store(error)) = &result {
        metrics::counter!("tokengate_store_errors_total", "operation" => operation).increment(1);
        tracing::warn!(parent: &span, %error, operation, "store error");
    }
    result
}

/// Adds one to `counter` labelled with `outcome`. Each known outcome is
/// spelled out so that its key is a static one: with a label from a
/// variable, `metrics` builds (and allocates) the key on every call, and
/// authentication counts once per request.
fn count_outcome(counter: &'static str, outcome: &'static str) {
    let counter = match outcome {
        "valid" => metrics::counter!(counter, "outcome" => "valid"),
        "invalid" => metrics::counter!(counter, "outcome" => "invalid"),
        "error" => metrics::counter!(counter, "outcome" => "error"),
        "success" => metrics::counter!(counter, "outcome" => "success"),
        "locked" => metrics::counter!(counter, "outcome" => "locked"),
        other => metrics::counter!(counter, "outcome" => other),
    };
    counter.increment(1);
}

/// `ok` or `error`, for operations without a richer outcome.
pub(crate) fn ok_or_error<T>(result: &Result<T, Error>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(Error::Store(_)) => "error",
        Err(_) => "refused",
    }
}
