//! Test harness for tokengate: a real Redis (reached or started), the
//! example apps spawned over real TCP, and an HTTP client speaking the
//! Appwrite wire format.
#![forbid(unsafe_code)]
#![allow(missing_docs)]

pub mod app;
pub mod browser;
pub mod client;
pub mod cluster;
pub mod log_capture;
pub mod node;
pub mod python;
pub mod redis_harness;
pub mod redis_process;
pub mod sinks;
mod smtp_session;
pub mod smtp_tls;
pub mod static_site;
pub mod tls;
pub mod webhook_sink;
