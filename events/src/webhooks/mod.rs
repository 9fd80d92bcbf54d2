//! Webhooks (feature `webhooks`): the events of an
//! [`EventLog`](crate::EventLog) delivered to HTTP endpoints with
//! Appwrite's request shape, so that receivers written for Appwrite's
//! webhooks work unchanged.
//!
//! ## The request
//!
//! As Appwrite's webhooks worker (`src/Appwrite/Platform/Workers/Webhooks.php`)
//! sends it:
//!
//! - `POST` to the webhook's URL, `Content-Type: application/json`;
//! - the body is the Appwrite model of the event's object: the Token **with
//!   its secret** (the one place besides an API-key response where a token's
//!   secret appears), the Session without its credential, the User;
//! - `X-Appwrite-Webhook-Id`, `X-Appwrite-Webhook-Name`,
//!   `X-Appwrite-Webhook-Events` (the event's every name, as Appwrite
//!   expands it, joined by `,`: see [`Event::names`](crate::Event::names)),
//!   `X-Appwrite-Webhook-User-Id`, `X-Appwrite-Webhook-Project-Id`;
//! - `X-Appwrite-Webhook-Signature`: base64 of HMAC-SHA1 keyed with the
//!   webhook's signature key over the URL (as configured) followed by the
//!   body ([`signature`], [`verify_signature`]);
//! - `X-Tokengate-Event-Id` and `Idempotency-Key`: the event's id, the same
//!   on every attempt, for receivers to drop repeats;
//! - `User-Agent: tokengate/<version>`.
//!
//! ## Delivery
//!
//! At least once. Each webhook has its own consumer group in the log,
//! `webhook:<id>`, so every webhook sees every event, and every service
//! running a [`WebhookDispatcher`] on the same log (the same Redis and key
//! prefix) shares each webhook's work: an event goes to one of them. An
//! event no pattern of the webhook matches is acknowledged at once, without
//! a request. A matching one is acknowledged only after a `2xx` answer;
//! anything else (another status, a redirect, a timeout, a refused
//! connection) is retried after a wait drawn uniformly between zero and
//! `min(cap, base · 2^(n-1))` after the `n`-th failure (exponential backoff
//! with full jitter; 1 s and 5 min by default). After
//! [`max_attempts`](DispatcherSettings::max_attempts) (10) the event moves
//! to the dead-letter log ([`EventLog::dead_letters`](crate::EventLog::dead_letters),
//! [`EventLog::redrive`](crate::EventLog::redrive)) and a
//! `tracing` error names the event, the webhook and the last error.
//!
//! Entries a dispatcher took and did not acknowledge within the
//! [claim timeout](DispatcherSettings::claim_timeout) (60 s: its process
//! died) are claimed by another, before it reads new ones. A dispatcher
//! retrying an event for longer than three quarters of the claim timeout
//! lets it go and waits until the log hands it out again, so that two
//! dispatchers never work on one entry at the same time; attempts made at
//! a dispatcher that died count as one each.
//!
//! A receiver may see an event twice: when a dispatcher died (or was
//! stopped) between the request and the acknowledgement, or when the
//! acknowledgement could not be stored. The event id header tells repeats
//! apart.
//!
//! ## Order
//!
//! A dispatcher delivers the entries it took in log order and does not
//! move past one it is retrying: with **one** dispatcher, a webhook receives
//! events in the order they were logged (per user and overall), an event
//! retried included. With **several** dispatchers sharing the log, each
//! takes a batch of entries and they deliver concurrently: events of
//! different batches may arrive interleaved, and an event retried beyond the
//! claim timeout, or taken over from a dispatcher that died, arrives after
//! later ones. Receivers that need order across services should order by
//! the model's `$createdAt` (or the event id, which grows with time) rather
//! than by arrival.
//!
//! A new webhook's group starts at the log's start: it receives the events
//! the log still holds (24 h by default), not only later ones.
//!
//! ## Metrics
//!
//! `tokengate_webhook_deliveries_total{outcome="delivered"|"retried"|"dead_lettered", webhook}`
//! (a `retried` is one failed attempt that will be tried again), and the
//! gauge `tokengate_webhook_oldest_undelivered_seconds{webhook}`: the age
//! of the oldest event the webhook's group has not acknowledged, refreshed
//! about once a second.

mod dispatcher;
mod request;
mod settings;
#[cfg(test)]
mod tests;
mod webhook;

pub use dispatcher::{DispatcherHandle, WebhookDispatcher};
pub use request::{signature, verify_signature, EVENT_ID_HEADER, USER_AGENT};
pub use settings::DispatcherSettings;
pub use webhook::{Webhook, WebhookBuilder, WebhookError, MIN_SIGNATURE_KEY_LEN};
