//! Setters of the session, brute-force, identity and delivery policy.

use super::GateBuilder;
use crate::delivery::{Mailer, SmsSender, Templates};
use crate::directory::Directory;
use crate::policy::{FlowLifetimes, IssueLimits};
use std::sync::Arc;
use std::time::Duration;

impl GateBuilder {
    /// Session lifetime (default 30 days, at most 1 year).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tokengate::{Gate, store::MemoryStore};
    /// let gate = Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new())
    ///     .session_lifetime(Duration::from_secs(3600)).build().unwrap();
    /// assert_eq!(gate.policy().session_lifetime, Duration::from_secs(3600));
    /// ```
    pub fn session_lifetime(mut self, lifetime: Duration) -> Self {
        self.policy.session_lifetime = lifetime;
        self
    }

    /// Sliding idle timeout (default: none). A session unused this long ends.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tokengate::{Gate, store::MemoryStore};
    /// let gate = Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new())
    ///     .idle_timeout(Duration::from_secs(1800)).build().unwrap();
    /// assert_eq!(gate.policy().idle_timeout, Some(Duration::from_secs(1800)));
    /// ```
    pub fn idle_timeout(mut self, idle: Duration) -> Self {
        self.policy.idle_timeout = Some(idle);
        self
    }

    /// Live sessions per user (default 10, 0 = unlimited, at most 100).
    ///
    /// ```
    /// # use tokengate::{Gate, store::MemoryStore};
    /// let gate = Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new())
    ///     .max_sessions(3).build().unwrap();
    /// assert_eq!(gate.policy().max_sessions, 3);
    /// ```
    pub fn max_sessions(mut self, max: u32) -> Self {
        self.policy.max_sessions = max;
        self
    }

    /// Failures after which low-entropy tokens are burned (default 5, 0 = never).
    ///
    /// ```
    /// # use tokengate::{Gate, store::MemoryStore};
    /// let gate = Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new())
    ///     .burn_after_failures(3).build().unwrap();
    /// assert_eq!(gate.policy().burn_after_failures, 3);
    /// ```
    pub fn burn_after_failures(mut self, failures: u32) -> Self {
        self.policy.burn_after_failures = failures;
        self
    }

    /// Failures after which exchanges are locked (default 100, 0 = never).
    ///
    /// ```
    /// # use tokengate::{Gate, store::MemoryStore};
    /// let gate = Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new())
    ///     .lockout_after_failures(20).build().unwrap();
    /// assert_eq!(gate.policy().lockout_after_failures, 20);
    /// ```
    pub fn lockout_after_failures(mut self, failures: u32) -> Self {
        self.policy.lockout_after_failures = failures;
        self
    }

    /// Lockout length and failure memory (default 1 hour).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tokengate::{Gate, store::MemoryStore};
    /// let gate = Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new())
    ///     .lockout_duration(Duration::from_secs(600)).build().unwrap();
    /// assert_eq!(gate.policy().lockout_duration, Duration::from_secs(600));
    /// ```
    pub fn lockout_duration(mut self, duration: Duration) -> Self {
        self.policy.lockout_duration = duration;
        self
    }

    /// Default custom-token lifetime (default 15 minutes).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tokengate::{Gate, store::MemoryStore};
    /// let gate = Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new())
    ///     .default_token_expire(Duration::from_secs(300)).build().unwrap();
    /// assert_eq!(gate.policy().default_token_expire, Duration::from_secs(300));
    /// ```
    pub fn default_token_expire(mut self, expire: Duration) -> Self {
        self.policy.default_token_expire = expire;
        self
    }

    /// Project id (default `default`): Appwrite's project, carried in
    /// magic links and naming the cookie `a_session_<project>`; a request's
    /// `X-Appwrite-Project`, when present, must name it.
    ///
    /// ```
    /// # use tokengate::{Gate, store::MemoryStore};
    /// let gate = Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new())
    ///     .project("shop").build().unwrap();
    /// assert_eq!(gate.project(), "shop");
    /// assert!(Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new())
    ///     .project("no spaces").build().is_err());
    /// ```
    pub fn project(mut self, project: impl Into<String>) -> Self {
        self.project = Some(project.into());
        self
    }

    /// The public origin used in magic links (default
    /// `http://127.0.0.1:8080`). Links never take their origin from the
    /// request's `Host`.
    ///
    /// ```
    /// # use tokengate::{Gate, store::MemoryStore};
    /// let gate = Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new())
    ///     .public_url("https://app.example.com").build().unwrap();
    /// assert_eq!(gate.flows().redirect.allowed_origins[0].to_string(), "https://app.example.com");
    /// ```
    pub fn public_url(mut self, url: impl Into<String>) -> Self {
        self.public_url = Some(url.into());
        self
    }

    /// Extra origins a magic URL's `url` may point to (the public URL's
    /// origin is always allowed): `https://admin.example.com`,
    /// `http://localhost:3000`, or a bare host, which means the public URL's
    /// scheme and its default port. Scheme and port are pinned; with an
    /// `https` public URL an `http` entry is a configuration error.
    ///
    /// ```
    /// # use tokengate::{Gate, store::MemoryStore};
    /// let gate = Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new())
    ///     .public_url("https://example.com")
    ///     .redirect_hosts(["admin.example.com", "https://app.example.com:8443"]).build().unwrap();
    /// assert!(gate.flows().redirect.check("https://admin.example.com/cb").is_ok());
    /// assert!(gate.flows().redirect.check("https://app.example.com:8443/cb").is_ok());
    /// assert!(gate.flows().redirect.check("http://admin.example.com/cb").is_err());
    /// ```
    pub fn redirect_hosts<I, H>(mut self, hosts: I) -> Self
    where
        I: IntoIterator<Item = H>,
        H: Into<String>,
    {
        self.redirect_hosts = hosts.into_iter().map(Into::into).collect();
        self
    }

    /// Custom URL schemes of mobile apps that a magic URL's `url` may use
    /// (`myapp` allows `myapp://auth/callback`), as Appwrite allows for its
    /// mobile platforms; none by default. See
    /// [`RedirectPolicy::allow_schemes`](crate::policy::RedirectPolicy::allow_schemes)
    /// for what a scheme and such a link may be. Any app on the device may
    /// claim a custom scheme: prefer https app links where the platform
    /// verifies them.
    ///
    /// ```
    /// # use tokengate::{Gate, store::MemoryStore};
    /// let gate = Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new())
    ///     .redirect_schemes(["myapp"]).build().unwrap();
    /// assert!(gate.flows().redirect.check("myapp://auth/callback").is_ok());
    /// assert!(gate.flows().redirect.check("otherapp://auth/callback").is_err());
    /// assert!(Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new())
    ///     .redirect_schemes(["javascript"]).build().is_err());
    /// ```
    pub fn redirect_schemes<I, S>(mut self, schemes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.redirect_schemes = schemes.into_iter().map(Into::into).collect();
        self
    }

    /// Issuance limits of the passwordless flows.
    ///
    /// ```
    /// # use tokengate::{Gate, policy::IssueLimits, store::MemoryStore};
    /// let mut limits = IssueLimits::default();
    /// limits.email_per_address = 3;
    /// let gate = Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new())
    ///     .issue_limits(limits).build().unwrap();
    /// assert_eq!(gate.flows().limits.email_per_address, 3);
    /// ```
    pub fn issue_limits(mut self, limits: IssueLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Lifetimes of OTPs and magic URLs (default 10 and 15 minutes).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tokengate::{Gate, policy::FlowLifetimes, store::MemoryStore};
    /// let mut lifetimes = FlowLifetimes::default();
    /// lifetimes.otp = Duration::from_secs(300);
    /// let gate = Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new())
    ///     .flow_lifetimes(lifetimes).build().unwrap();
    /// assert_eq!(gate.flows().lifetimes.otp, Duration::from_secs(300));
    /// ```
    pub fn flow_lifetimes(mut self, lifetimes: FlowLifetimes) -> Self {
        self.lifetimes = lifetimes;
        self
    }

    /// Message templates (subjects and bodies).
    ///
    /// ```
    /// # use tokengate::{Gate, delivery::Templates, store::MemoryStore};
    /// let mut templates = Templates::default();
    /// templates.sms_body = "{code} is your code".to_owned();
    /// let gate = Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new())
    ///     .templates(templates).build().unwrap();
    /// assert_eq!(gate.flows().templates.sms_body, "{code} is your code");
    /// ```
    pub fn templates(mut self, templates: Templates) -> Self {
        self.templates = templates;
        self
    }

    /// The directory (default: [`StoreDirectory`](crate::directory::StoreDirectory) in the same store).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use tokengate::{Gate, ServerSecret, directory::StoreDirectory, store::MemoryStore};
    /// let store = Arc::new(MemoryStore::new());
    /// let directory = StoreDirectory::new(store.clone(), ServerSecret::new(vec![1u8; 32]).unwrap());
    /// let gate = Gate::builder().server_secret([1u8; 32]).shared_store(store).directory(directory).build();
    /// assert!(gate.is_ok());
    /// ```
    pub fn directory(mut self, directory: impl Directory) -> Self {
        self.directory = Some(Arc::new(directory));
        self
    }

    /// The mailer (default: none, or [`LogMailer`](crate::delivery::LogMailer) in development mode).
    ///
    /// ```
    /// # use tokengate::{Gate, delivery::LogMailer, store::MemoryStore};
    /// let gate = Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new()).mailer(LogMailer).build();
    /// assert!(gate.is_ok());
    /// ```
    pub fn mailer(mut self, mailer: impl Mailer) -> Self {
        self.mailer = Some(Arc::new(mailer));
        self
    }

    /// The SMS sender (default: none, or [`LogSms`](crate::delivery::LogSms) in development mode).
    ///
    /// ```
    /// # use tokengate::{Gate, delivery::LogSms, store::MemoryStore};
    /// let gate = Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new()).sms_sender(LogSms).build();
    /// assert!(gate.is_ok());
    /// ```
    pub fn sms_sender(mut self, sms: impl SmsSender) -> Self {
        self.sms = Some(Arc::new(sms));
        self
    }

    /// Development mode (off by default): without a mailer or SMS sender,
    /// codes and links are written to the log ([`LogMailer`](crate::delivery::LogMailer), [`LogSms`](crate::delivery::LogSms)).
    /// Outside it, a flow without its channel answers 503
    /// `general_smtp_disabled` / `general_phone_disabled`, as Appwrite does.
    ///
    /// ```
    /// # use tokengate::{Gate, store::MemoryStore};
    /// let gate = Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new())
    ///     .development_mode(true).build().unwrap();
    /// assert!(gate.mailer().is_some());
    /// let prod = Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new()).build().unwrap();
    /// assert!(prod.mailer().is_none());
    /// ```
    pub fn development_mode(mut self, on: bool) -> Self {
        self.development = on;
        self
    }

    /// The absolute cap on a session's life, from its creation, that no
    /// extension or use moves (default 1 year, at least the session lifetime).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tokengate::{Gate, store::MemoryStore};
    /// let gate = Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new())
    ///     .session_lifetime(Duration::from_secs(3600))
    ///     .max_session_age(Duration::from_secs(7 * 24 * 3600)).build().unwrap();
    /// assert_eq!(gate.policy().max_session_age, Duration::from_secs(7 * 24 * 3600));
    /// ```
    pub fn max_session_age(mut self, age: Duration) -> Self {
        self.policy.max_session_age = age;
        self
    }

    /// Failed exchanges one client (IP, IPv6 /64) may make for one user per
    /// `window` before it alone gets 429 (default 10 per hour; 0 = off).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tokengate::{Gate, store::MemoryStore};
    /// let gate = Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new())
    ///     .client_failures(5, Duration::from_secs(600)).build().unwrap();
    /// assert_eq!(gate.policy().client_failures, 5);
    /// ```
    pub fn client_failures(mut self, failures: u32, window: Duration) -> Self {
        self.policy.client_failures = failures;
        self.policy.client_failure_window = window;
        self
    }

    /// Lets anonymous callers name the id of a new user (off by default:
    /// they pass `unique()` and get a generated id). Turn on only when the
    /// application never issues tokens for ids it has not created itself
    /// through the API key: otherwise a stranger who claims an id first owns
    /// the account the application later issues tokens for.
    ///
    /// ```
    /// # use tokengate::{Gate, store::MemoryStore};
    /// let gate = Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new())
    ///     .client_chosen_ids(true).build().unwrap();
    /// assert!(gate.policy().client_chosen_ids);
    /// ```
    pub fn client_chosen_ids(mut self, allow: bool) -> Self {
        self.policy.client_chosen_ids = allow;
        self
    }
}
