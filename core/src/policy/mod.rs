//! Policies: sessions and brute force ([`Policy`]), issuance limits and
//! lifetimes of the passwordless flows, and where magic links may point
//! ([`RedirectPolicy`]), each with its secure default explained where set.

pub(crate) mod redirect;

use std::time::Duration;

pub(crate) use redirect::parse_origin;
pub use redirect::{Origin, RedirectPolicy};

/// Longest a session may live: one year.
pub const MAX_SESSION_LIFETIME: Duration = Duration::from_secs(365 * 24 * 3600);
/// Most sessions a user may be limited to (0 means unlimited).
pub const MAX_SESSIONS_LIMIT: u32 = 100;
/// Idle sessions are refreshed at most this often (one write per minute).
pub const IDLE_REFRESH_INTERVAL: Duration = Duration::from_secs(60);

/// Session and brute-force policy. Build it through [`crate::GateBuilder`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Policy {
    /// How long a new or extended session lives. Default 30 days, at most a year.
    pub session_lifetime: Duration,
    /// Sliding idle timeout; `None` (the default) disables it.
    pub idle_timeout: Option<Duration>,
    /// Live sessions per user; the oldest is evicted inside the exchange.
    /// Default 10; 0 means unlimited; at most 100.
    pub max_sessions: u32,
    /// After this many consecutive wrong secrets for a user (and every
    /// multiple of it), every outstanding token of that user with under 64
    /// bits of entropy is burned. Default 5: six-digit codes get five guesses.
    pub burn_after_failures: u32,
    /// After this many consecutive failures the user's exchanges are refused
    /// for [`Policy::lockout_duration`]. Default 100.
    pub lockout_after_failures: u32,
    /// How long a lockout lasts, and how long a failure streak is remembered.
    /// Default one hour.
    pub lockout_duration: Duration,
    /// Lifetime of a custom token when the caller gives none. Default 15 minutes.
    pub default_token_expire: Duration,
    /// No session lives past its creation plus this, however often it is
    /// extended (`PATCH`) or used: a stolen credential ages out. Default
    /// one year; at least the session lifetime.
    pub max_session_age: Duration,
    /// Failed exchanges one client (IP, IPv6 /64) may make for one user per
    /// [`Policy::client_failure_window`] before that client alone gets 429,
    /// as Appwrite limits it. Default 10; 0 turns it off.
    pub client_failures: u32,
    /// The window of [`Policy::client_failures`]. Default one hour.
    pub client_failure_window: Duration,
    /// Whether an anonymous caller may name the id of a new user (Appwrite
    /// allows it). Off by default: new users from the anonymous flows get a
    /// generated id (`unique()`), and a chosen id is honoured only when it
    /// is already bound to the same address. With it on, a stranger can
    /// claim an id the application has not used yet, and the application's
    /// later tokens for that id log into the stranger's account.
    pub client_chosen_ids: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            session_lifetime: Duration::from_secs(30 * 24 * 3600),
            idle_timeout: None,
            max_sessions: 10,
            burn_after_failures: 5,
            lockout_after_failures: 100,
            lockout_duration: Duration::from_secs(3600),
            default_token_expire: Duration::from_secs(900),
            max_session_age: MAX_SESSION_LIFETIME,
            client_failures: 10,
            client_failure_window: Duration::from_secs(3600),
            client_chosen_ids: false,
        }
    }
}

/// Issuance limits of the passwordless flows, per hour. API-key callers
/// bypass them.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct IssueLimits {
    /// Email OTPs per address (default 10).
    pub email_per_address: u32,
    /// Email OTPs per client IP (default 10).
    pub email_per_ip: u32,
    /// Magic URLs per address (default 60).
    pub magic_url_per_address: u32,
    /// Magic URLs per client IP (default 60).
    pub magic_url_per_ip: u32,
    /// Phone OTPs per number (default 10).
    pub phone_per_address: u32,
    /// Phone OTPs per client IP (default 10).
    pub phone_per_ip: u32,
    /// Shortest gap between two sends of one kind to one address (default 60 s).
    pub min_interval: Duration,
    /// Email OTPs for the whole deployment, a ceiling against botnets that
    /// stay under the per-IP limit (default 10,000; 0 = none).
    pub email_global: u32,
    /// Magic URLs for the whole deployment (default 10,000; 0 = none).
    pub magic_url_global: u32,
    /// Phone OTPs for the whole deployment: each SMS costs money (default
    /// 1,000; 0 = none).
    pub phone_global: u32,
    /// The counting window (default one hour).
    pub window: Duration,
}

impl Default for IssueLimits {
    fn default() -> Self {
        IssueLimits {
            email_per_address: 10,
            email_per_ip: 10,
            magic_url_per_address: 60,
            magic_url_per_ip: 60,
            phone_per_address: 10,
            phone_per_ip: 10,
            min_interval: Duration::from_secs(60),
            email_global: 10_000,
            magic_url_global: 10_000,
            phone_global: 1_000,
            window: Duration::from_secs(3600),
        }
    }
}

/// Lifetimes of the passwordless tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FlowLifetimes {
    /// Email and phone OTPs (default 10 minutes).
    pub otp: Duration,
    /// Magic URLs (default 15 minutes).
    pub magic_url: Duration,
}

impl Default for FlowLifetimes {
    fn default() -> Self {
        FlowLifetimes {
            otp: Duration::from_secs(600),
            magic_url: Duration::from_secs(900),
        }
    }
}
