//! # tokengate
//!
//! Appwrite-style login tokens for Rust web apps. A server issues a
//! short-lived secret for a user ([`Gate::create_token`]); a client exchanges
//! `userId` + `secret` for a session exactly once before it expires
//! ([`Gate::create_session`]); from then on every request carrying the
//! session credential is recognised by [`Gate::authenticate`].
//!
//! Tokens and sessions live in a [`Store`](store::Store): [`RedisStore`](store::RedisStore)
//! in production (feature `redis`, on by default) or
//! [`MemoryStore`](store::MemoryStore) for development and tests. Only keyed
//! digests (HMAC-SHA-256 under the server secret) of secrets are stored.
//!
//! The framework adapters `tokengate-tower` (axum) and `tokengate-actix`
//! serve the Appwrite-compatible HTTP endpoints of [`api`] (a `Gate` with
//! its [`api::ApiConfig`], as [`api::Endpoints`]) and hand handlers the
//! authenticated session.
//!
//! ## Modules
//!
//! | module | holds |
//! |---|---|
//! | root | [`Gate`] and its builder, the models ([`Session`], [`Token`], [`UserId`]), [`Error`], [`Secret`] |
//! | [`api`] | the HTTP endpoints, their settings, and what both adapters share |
//! | [`store`] | the store traits, [`MemoryStore`](store::MemoryStore), [`RedisStore`](store::RedisStore), the local cache |
//! | [`policy`] | session, brute-force and issuance policies; where magic links may point |
//! | [`delivery`] | sending codes and links: mailers, SMS senders, templates |
//! | [`directory`] | users and the addresses bound to them |
//! | [`events`] | what changed, named as Appwrite names it, and the one seam ([`events::EventSink`]) through which the gate announces it; the log, subscriptions and webhooks are the `tokengate-events` crate's |
//!
//! The store and event-log contracts, for stores of your own, are the
//! `tokengate-testing` crate's.
//!
//! ## Observability
//!
//! `tracing` spans with user id and outcome (never a secret) and counters
//! through the `metrics` facade:
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
//! (`tokengate-events` adds the webhook counters:
//! `tokengate_webhook_deliveries_total`,
//! `tokengate_webhook_oldest_undelivered_seconds`.)
//!
//! Spans: `tokengate.issue`, `tokengate.exchange`, `tokengate.authenticate`,
//! `tokengate.logout`, each with `user` and, once known, `outcome`.
//!
//! ```
//! use tokengate::{Gate, UserId, TokenOptions, ClientInfo, store::MemoryStore};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let gate = Gate::builder()
//!     .server_secret([7u8; 32])
//!     .store(MemoryStore::new())
//!     .build()?;
//!
//! let user = UserId::parse("alice")?;
//! let token = gate.create_token(&user, TokenOptions::default()).await?;
//! let secret = token.secret.as_ref().unwrap().expose().to_owned();
//!
//! let (session, credential) = gate
//!     .create_session(&user, &secret, ClientInfo::default())
//!     .await?;
//! let live = gate.authenticate(credential.expose()).await?.unwrap();
//! assert_eq!(live.id, session.id);
//!
//! // The token was one-time: a second exchange fails.
//! assert!(gate.create_session(&user, &secret, ClientInfo::default()).await.is_err());
//! # Ok::<(), tokengate::Error>(())
//! # }).unwrap();
//! ```
//!
//! ## Features
//!
//! | feature | default | adds |
//! |---|---|---|
//! | `redis` | yes | [`RedisStore`](store::RedisStore) (standalone and cluster) and [`RedisRevocations`](store::RedisRevocations), on redis-rs |
//! | `redis-tls` | no | `rediss://` (TLS) connections through rustls (implies `redis`) |
//! | `smtp` | no | `delivery::smtp_mailer`: email over SMTP (lettre, rustls) |
//! | `sms-webhook` | no | `delivery::sms_webhook`: SMS by `POST {"to","body"}` to a webhook (reqwest, rustls) |
//! | `device-info` | no | the session's device fields from the User-Agent and its country from a GeoIP database (`api::ApiConfig::geoip_database`); without it they render as Appwrite renders an unknown device |
//!
//! The adapters `tokengate-tower` and `tokengate-actix` pass these features
//! through, so an application can name them on the adapter alone.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod address;
pub mod api;
mod client_net;
mod credential;
pub mod delivery;
pub mod directory;
mod error;
pub mod events;
mod gate;
mod model;
mod observe;
mod phrase;
pub mod policy;
mod secret;
pub mod store;
mod time;

/// Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`): the
/// parsers behind the public API, reachable here only; not part of the
/// stable API.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::api::error_kind::ErrorKind;
    pub use crate::api::params::Params;
    pub use crate::api::routes::route_for;
    pub use crate::credential::SessionCredential;
    pub use crate::policy::redirect::{parse_origin, RedirectPolicy, LINK_PARAMS};
}

pub use error::{Error, StoreError};
pub use gate::{Gate, GateBuilder, TokenOptions, DEFAULT_TOKEN_LENGTH, TOKEN_EXPIRE_RANGE, TOKEN_LENGTH_RANGE};
pub use model::{ClientInfo, Session, SessionOrigin, Token, TokenKind, User, UserId, UNIQUE_ID};
pub use policy::Policy;
pub use secret::{Digest, Secret, ServerSecret};

/// The code blocks of the crate's README.md, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
