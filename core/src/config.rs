//! Policies and HTTP settings, with the secure defaults explained where set.

use std::time::Duration;

use crate::secret::Secret;

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

/// The cookie's `SameSite` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SameSite {
    /// Sent on top-level navigations, not on cross-site subrequests or
    /// POSTs: the default, which stops cross-site request forgery.
    #[default]
    Lax,
    /// Never sent cross-site, not even when following a link.
    Strict,
    /// Sent cross-site too: only for a web app on another site, and only
    /// with `Secure` (browsers refuse it otherwise).
    None,
}

impl SameSite {
    /// The attribute's value.
    pub fn as_str(self) -> &'static str {
        match self {
            SameSite::Lax => "Lax",
            SameSite::Strict => "Strict",
            SameSite::None => "None",
        }
    }
}

/// The session cookie `a_session_<project>`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CookieSettings {
    /// Adds `Secure` (default true). Turn off only for plain-http local use.
    pub secure: bool,
    /// `SameSite`, default `Lax`.
    pub same_site: SameSite,
    /// `Domain`, default none (the cookie goes back to this host only).
    pub domain: Option<String>,
    /// Names the cookie `__Host-a_session_<project>`: browsers then accept it
    /// only with `Secure`, `Path=/` and no `Domain`, so a sibling subdomain
    /// cannot set or shadow it. Off by default (Appwrite's SDKs look for the
    /// plain name in `X-Fallback-Cookies`).
    pub host_prefix: bool,
}

impl Default for CookieSettings {
    fn default() -> Self {
        CookieSettings {
            secure: true,
            same_site: SameSite::Lax,
            domain: None,
            host_prefix: false,
        }
    }
}

/// How the HTTP endpoints are mounted and authorised.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HttpSettings {
    /// Prefix of every route. Default `/v1`, as Appwrite.
    pub base_path: String,
    /// The project id: cookie name suffix and expected `X-Appwrite-Project`.
    pub project: String,
    /// The key for `X-Appwrite-Key`; `None` disables the API-key routes.
    pub api_key: Option<Secret>,
    /// Session cookie attributes.
    pub cookie: CookieSettings,
    /// Largest accepted request body. Default 64 KiB; larger gets 413.
    pub max_body_bytes: usize,
    /// Web origins (`https://app.example.com`) besides the request's own and
    /// the public URL's from which a browser may create a session.
    pub allowed_origins: Vec<String>,
    /// Proxies whose `X-Forwarded-For` / `Forwarded` is believed. Empty by
    /// default: the peer address is the client.
    pub trusted_proxies: crate::client_ip::TrustedProxies,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            base_path: "/v1".to_owned(),
            project: "default".to_owned(),
            api_key: None,
            cookie: CookieSettings::default(),
            max_body_bytes: 64 * 1024,
            allowed_origins: Vec::new(),
            trusted_proxies: crate::client_ip::TrustedProxies::default(),
        }
    }
}

impl HttpSettings {
    /// The session cookie's name.
    pub fn cookie_name(&self) -> String {
        let prefix = if self.cookie.host_prefix { "__Host-" } else { "" };
        format!("{prefix}a_session_{}", self.project)
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
