//! # tokengate-actix
//!
//! An actix-web middleware that mounts tokengate's Appwrite-compatible
//! endpoints and recognises the session on every other request, with the
//! extractors [`AuthSession`] and `Option<AuthSession>`.
//!
//! ```
//! use actix_web::{web, App, HttpResponse};
//! use tokengate::{Gate, store::MemoryStore};
//! use tokengate_actix::{AuthSession, TokenGate};
//!
//! async fn me(session: AuthSession) -> HttpResponse {
//!     HttpResponse::Ok().body(format!("hello {}", session.user_id))
//! }
//!
//! let gate = Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new()).build().unwrap();
//! let app = App::new()
//!     .wrap(TokenGate::new(gate))
//!     .route("/me", web::get().to(me));
//! # let _ = app;
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod convert;
mod extract;
mod middleware;
mod require;

pub use extract::AuthSession;
pub use middleware::{TokenGate, TokenGateMiddleware};
pub use require::{RequireSession, RequireSessionMiddleware};
pub use tokengate;
