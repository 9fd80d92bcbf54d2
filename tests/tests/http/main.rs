//! HTTP and clients: the scenario suites against both example apps (axum
//! and actix) on every store, the passwordless flows with the harness's SMTP and
//! webhook receivers, the abuse and hostile-input suites, the official
//! Appwrite SDKs (Python, Node.js, and the Web SDK cross-origin in
//! Chromium), the login page in Chromium, services sharing Redis, and
//! the log hygiene of both apps.

mod abuse;
mod appwrite_sdk;
mod browser_cleanup;
mod cors;
mod cors_attacks;
mod events_attacks;
mod flows;
mod hostile_input;
mod http_suite;
mod issuance_abuse;
mod live_sessions;
mod live_socket;
mod log_hygiene;
mod login_page;
mod node_sdk;
mod services_share_sessions;
mod smtp_tls;
mod web_sdk;
mod webhook_attacks;
mod webhook_durability;
mod webhooks;
