//! # tokengate-tower
//!
//! A tower [`Layer`](tower_layer::Layer) that mounts tokengate's
//! Appwrite-compatible endpoints into any tower/axum app and recognises the
//! session on every other request; with feature `axum` (default), the
//! extractors [`AuthSession`] and `Option<AuthSession>`.
//!
//! ```
//! use axum::{routing::get, Router};
//! use tokengate::{Gate, store::MemoryStore};
//! use tokengate_tower::{AuthSession, TokenGateLayer};
//!
//! async fn me(session: AuthSession) -> String {
//!     format!("hello {}", session.user_id)
//! }
//!
//! let gate = Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new()).build().unwrap();
//! let app: Router = Router::new()
//!     .route("/me", get(me))
//!     .layer(TokenGateLayer::new(gate));
//! # let _ = app;
//! ```
//!
//! ## When the session is looked up
//!
//! Lazily, once per request: when a handler first asks for it
//! ([`AuthSession`], `Option<AuthSession>`) or [`RequireSessionLayer`]
//! checks it; a route that never asks costs no store call. `tokengate-actix`
//! does the same (both use [`tokengate::api::adapter::SessionLookup`]).
//!
//! ## Features
//!
//! - `axum` (default): the extractors [`AuthSession`] and
//!   `Option<AuthSession>`, and [`AuthRejection`]. Without it the layer
//!   works with any tower stack (no client address is read then).
//! - `redis` (default), `redis-tls`, `smtp`, `sms-webhook`, `webhooks`: the features of
//!   the same names of the core ([`tokengate`]), passed through.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "axum")]
mod extract;
mod layer;
mod require;
mod session;

#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub use extract::AuthRejection;
pub use layer::{TokenGateLayer, TokenGateService};
pub use require::{RequireSession, RequireSessionLayer};
pub use session::AuthSession;
pub use tokengate;

/// The code blocks of the crate's README.md, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
