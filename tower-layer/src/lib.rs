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
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "axum")]
mod extract;
mod layer;
mod require;
mod session;

#[cfg(feature = "axum")]
pub use extract::AuthRejection;
pub use layer::{TokenGateLayer, TokenGateService};
pub use require::{RequireSession, RequireSessionLayer};
pub use session::AuthSession;
pub use tokengate;
