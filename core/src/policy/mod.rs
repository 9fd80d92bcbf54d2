//! Policies: sessions and brute force ([`Policy`]), issuance limits and
//! lifetimes of the passwordless flows, and where magic links may point
//! (set on [`GateBuilder`](crate::GateBuilder)), each with its secure default explained where set.

pub(crate) mod redirect;

use std::time::Duration;

pub(crate) use redirect::{parse_origin, Origin, RedirectPolicy};

/// Longest a session may live: one year.
pub const MAX_SESSION_LIFETIME: Duration = Duration::from_secs(365 * 24 * 3600);
/// Most sessions a user may be limited to (0 means unlimited).
pub const MAX_SESSIONS_LIMIT: u32 = 100;
/// Idle sessions are refreshed at most this often (one write per minute).
pub const IDLE_REFRESH_INTERVAL: Duration = Duration::from_secs(60);

/// Session and brute-force policy. Build it through [`crate::GateBuilder`].
#[derive(Debug, Clone, Copy)]
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

impl Policy {
    /// [`Policy::idle_timeout`] in ms as stores take it (0: none).
    pub fn idle_ms(&self) -> i64 {
        self.idle_timeout.map_or(0, |idle| idle.as_millis() as i64)
    }

    /// [`Policy::lockout_duration`] in ms.
    pub fn lockout_ms(&self) -> i64 {
        self.lockout_duration.as_millis() as i64
    }

    /// [`Policy::client_failure_window`] in ms.
    pub fn client_window_ms(&self) -> i64 {
        self.client_failure_window.as_millis() as i64
    }
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

/// Issuance limits of one passwordless flow, per issuance window (an hour
/// by default, [`GateBuilder::issue_window`](crate::GateBuilder::issue_window)).
/// API-key callers bypass them; 0 turns a limit off. Set with
/// [`GateBuilder::email_limits`](crate::GateBuilder::email_limits) and its
/// siblings, starting from the defaults ([`FlowLimits::EMAIL`],
/// [`FlowLimits::MAGIC_URL`], [`FlowLimits::PHONE`]):
///
/// | flow | address | client (IPv4, IPv6 /64) | IPv4 /24 | IPv6 /56 | IPv6 /48 | new addresses | known addresses |
/// |---|---:|---:|---:|---:|---:|---:|---:|
/// | email OTP | 10 | 10 | 100 | 30 | 100 | 10,000 | 100,000 |
/// | magic URL | 60 | 60 | 300 | 120 | 300 | 10,000 | 100,000 |
/// | phone OTP (each SMS costs money) | 10 | 10 | 50 | 20 | 50 | 1,000 | 10,000 |
///
/// So one /48 or one /24 spends at most 1-5 % of a flow's new-address
/// ceiling in an hour, and none of the known-address one that returning
/// users draw on beyond its own per-prefix budget.
///
/// A request counts against every bucket that applies, all at once or not
/// at all (a refused request spends nothing): its address, its client at
/// each prefix length (one IPv4 address and its /24; one IPv6 /64, its /56
/// and its /48: whoever holds a whole prefix, as an ISP hands one /56 or
/// /48 to one customer, gets that prefix's budget, not one per /64), and a
/// deployment-wide ceiling: one for new addresses (not yet bound to a
/// user), a separate, larger one for known addresses, so that a flood of
/// new addresses cannot lock returning users out.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FlowLimits {
    /// Per address (email or phone number).
    pub per_address: u32,
    /// Per client: one IPv4 address, or one IPv6 /64 (a household or an
    /// office behind NAT).
    pub per_client: u32,
    /// Per IPv4 /24 (a mobile carrier's NAT pool, a small network).
    pub per_ipv4_24: u32,
    /// Per IPv6 /56 (a household's or small site's allocation).
    pub per_ipv6_56: u32,
    /// Per IPv6 /48 (a site's or a hosting customer's allocation).
    pub per_ipv6_48: u32,
    /// New addresses, whole deployment: the backstop against botnets that
    /// stay under every per-client limit.
    pub new_addresses: u32,
    /// Known addresses (returning users), whole deployment.
    pub known_addresses: u32,
}

impl FlowLimits {
    /// The email OTP defaults.
    pub const EMAIL: FlowLimits = FlowLimits::new(10, 10, 100, 30, 100, 10_000, 100_000);
    /// The magic URL defaults.
    pub const MAGIC_URL: FlowLimits = FlowLimits::new(60, 60, 300, 120, 300, 10_000, 100_000);
    /// The phone OTP defaults.
    pub const PHONE: FlowLimits = FlowLimits::new(10, 10, 50, 20, 50, 1_000, 10_000);

    /// Limits with every field given (the struct is `#[non_exhaustive]`).
    ///
    /// ```
    /// let limits = tokengate::policy::FlowLimits::new(10, 10, 100, 30, 100, 10_000, 100_000);
    /// assert_eq!(limits, tokengate::policy::FlowLimits::EMAIL);
    /// ```
    #[allow(clippy::too_many_arguments)]
    pub const fn new(
        per_address: u32,
        per_client: u32,
        per_ipv4_24: u32,
        per_ipv6_56: u32,
        per_ipv6_48: u32,
        new_addresses: u32,
        known_addresses: u32,
    ) -> Self {
        FlowLimits {
            per_address,
            per_client,
            per_ipv4_24,
            per_ipv6_56,
            per_ipv6_48,
            new_addresses,
            known_addresses,
        }
    }
}

/// Issuance limits of the three flows and their window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IssueLimits {
    pub(crate) email: FlowLimits,
    pub(crate) magic_url: FlowLimits,
    pub(crate) phone: FlowLimits,
    /// Shortest gap between two sends of one kind to one address.
    pub(crate) min_interval: Duration,
    /// The counting window.
    pub(crate) window: Duration,
}

impl Default for IssueLimits {
    fn default() -> Self {
        IssueLimits {
            email: FlowLimits::EMAIL,
            magic_url: FlowLimits::MAGIC_URL,
            phone: FlowLimits::PHONE,
            min_interval: Duration::from_secs(60),
            window: Duration::from_secs(3600),
        }
    }
}

/// Lifetimes of the passwordless tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FlowLifetimes {
    /// Email and phone OTPs (default 10 minutes).
    pub(crate) otp: Duration,
    /// Magic URLs (default 15 minutes).
    pub(crate) magic_url: Duration,
}

impl Default for FlowLifetimes {
    fn default() -> Self {
        FlowLifetimes {
            otp: Duration::from_secs(600),
            magic_url: Duration::from_secs(900),
        }
    }
}
