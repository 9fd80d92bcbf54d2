//! # tokengate
//!
//! Appwrite-style login tokens for Rust web apps. A server issues a
//! short-lived secret for a user ([`Gate::create_token`]); a client exchanges
//! `userId` + `secret` for a session exactly once before it expires
//! ([`Gate::create_session`]); from then on every request carrying the
//! session credential is recognised by [`Gate::authenticate`].
//!
//! Tokens and sessions live in a [`Store`]: [`RedisStore`](store::RedisStore)
//! in production (feature `redis`, on by default) or
//! [`MemoryStore`](store::MemoryStore) for development and tests. Only keyed
//! digests (HMAC-SHA-256 under the server secret) of secrets are stored.
//!
//! The framework adapters `tokengate-tower` (axum) and `tokengate-actix`
//! serve the Appwrite-compatible HTTP endpoints of [`api`] and hand handlers
//! the authenticated session.
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
//! | `redis` | yes | [`RedisStore`](store::RedisStore) (standalone and cluster) and [`RedisRevocations`](cache::RedisRevocations), on redis-rs |
//! | `redis-tls` | no | `rediss://` (TLS) connections through rustls (implies `redis`) |
//! | `smtp` | no | `delivery::SmtpMailer`: email over SMTP (lettre, rustls) |
//! | `sms-webhook` | no | `delivery::WebhookSms`: SMS by `POST {"to","body"}` to a webhook (reqwest, rustls) |
//!
//! The adapters `tokengate-tower` and `tokengate-actix` pass these features
//! through, so an application can name them on the adapter alone.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod address;
pub mod api;
pub mod cache;
pub mod client_ip;
pub mod config;
pub mod credential;
pub mod delivery;
pub mod directory;
pub mod env;
pub mod error;
pub mod flows;
pub mod gate;
pub mod model;
pub mod observe;
pub mod phrase;
pub mod redirect;
pub mod secret;
pub mod store;
mod time;

pub use api::ErrorKind;
pub use config::{CookieSettings, Policy};
pub use credential::SessionCredential;
pub use error::Error;
pub use gate::{FlowSettings, Gate, GateBuilder, TokenOptions};
pub use model::{ClientInfo, Session, SessionOrigin, Token, TokenKind, UserId};
pub use secret::{Secret, ServerSecret};
pub use store::{Store, StoreError};

/// The code blocks of the crate's README.md, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
