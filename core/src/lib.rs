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
#![forbid(unsafe_code)]
#![warn(missing_docs)]

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

pub use config::{CookieSettings, Policy};
pub use credential::SessionCredential;
pub use api::ErrorKind;
pub use error::Error;
pub use gate::{FlowSettings, Gate, GateBuilder, TokenOptions};
pub use model::{ClientInfo, Session, SessionOrigin, Token, TokenKind, UserId};
pub use secret::{Secret, ServerSecret};
pub use store::{Store, StoreError};
