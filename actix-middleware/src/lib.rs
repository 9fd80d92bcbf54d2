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
//!
//! ## When the session is looked up
//!
//! Lazily, once per request: when a handler first asks for it
//! ([`AuthSession`], `Option<AuthSession>`) or [`RequireSession`] checks
//! it; a route that never asks costs no store call. `tokengate-tower` does
//! the same (both use [`tokengate::api::adapter::SessionLookup`]).
//!
//! ## Features
//!
//! `redis` (default), `redis-tls`, `smtp`, `sms-webhook`, `webhooks`: the features of the
//! same names of the core ([`tokengate`]), passed through. The middleware
//! itself needs none of them; actix-web is used without its default features.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod convert;
mod extract;
mod middleware;
mod require;

pub use extract::AuthSession;
pub use middleware::{TokenGate, TokenGateMiddleware};
pub use require::{RequireSession, RequireSessionMiddleware};
pub use tokengate;

/// The code blocks of the crate's README.md, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
