//! Setters of the session, brute-force, identity and delivery policy.

use super::GateBuilder;
use crate::delivery::{Mailer, SmsSender, Templates};
use crate::directory::Directory;
use crate::policy::FlowLimits;
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
    ///     .public_url("https://app.example.com").build();
    /// assert!(gate.is_ok());
    /// let relative = Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new()).public_url("/login").build();
    /// assert!(relative.is_err());
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
    /// # use tokengate::{ClientInfo, Gate, store::MemoryStore};
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let gate = Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new()).development_mode(true)
    ///     .public_url("https://example.com")
    ///     .redirect_hosts(["admin.example.com", "https://app.example.com:8443"]).build().unwrap();
    /// let client = ClientInfo::default();
    /// let link = |url: &'static str| gate.create_magic_url_token("unique()", "a@example.com", Some(url), false, &client);
    /// assert!(link("https://app.example.com:8443/cb").await.is_ok());
    /// assert!(link("http://admin.example.com/cb").await.is_err()); // scheme pinned
    /// # });
    /// assert!(Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new())
    ///     .public_url("https://example.com").redirect_hosts(["http://admin.example.com"]).build().is_err());
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
    /// SECURITY.md for what a scheme and such a link may be (lowercase
    /// letters, digits, `+-.`; not the web's or a browser's own, such as
    /// `javascript`; a link `scheme://host[/…]` without user or port). Any
    /// app on the device may claim a custom scheme: prefer https app links
    /// where the platform verifies them.
    ///
    /// ```
    /// # use tokengate::{ClientInfo, Gate, store::MemoryStore};
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let gate = Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new()).development_mode(true)
    ///     .redirect_schemes(["myapp"]).build().unwrap();
    /// let client = ClientInfo::default();
    /// let link = |url: &'static str| gate.create_magic_url_token("unique()", "a@example.com", Some(url), false, &client);
    /// assert!(link("myapp://auth/callback").await.is_ok());
    /// assert!(link("otherapp://auth/callback").await.is_err());
    /// # });
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

    /// Issuance limits of the email OTP flow (defaults and what they mean:
    /// [`FlowLimits`]).
    ///
    /// ```
    /// # use tokengate::{ClientInfo, Gate, policy::FlowLimits, store::MemoryStore};
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let mut limits = FlowLimits::EMAIL;
    /// limits.per_address = 1;
    /// let gate = Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new()).development_mode(true)
    ///     .email_limits(limits).build().unwrap();
    /// let client = ClientInfo::default();
    /// let ask = || gate.create_email_token("unique()", "a@example.com", false, &client);
    /// assert!(ask().await.is_ok());
    /// assert!(matches!(ask().await, Err(tokengate::Error::RateLimited)));
    /// # });
    /// ```
    pub fn email_limits(mut self, limits: FlowLimits) -> Self {
        self.limits.email = limits;
        self
    }

    /// Issuance limits of the magic URL flow (defaults: [`FlowLimits`]).
    ///
    /// ```
    /// # use tokengate::{ClientInfo, Gate, policy::FlowLimits, store::MemoryStore};
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let mut limits = FlowLimits::MAGIC_URL;
    /// limits.per_client = 1;
    /// let gate = Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new()).development_mode(true)
    ///     .magic_url_limits(limits).build().unwrap();
    /// let client = ClientInfo::new(Some("192.0.2.1".parse().unwrap()), None);
    /// let ask = |to| gate.create_magic_url_token("unique()", to, None, false, &client);
    /// assert!(ask("a@example.com").await.is_ok());
    /// assert!(matches!(ask("b@example.com").await, Err(tokengate::Error::RateLimited)));
    /// # });
    /// ```
    pub fn magic_url_limits(mut self, limits: FlowLimits) -> Self {
        self.limits.magic_url = limits;
        self
    }

    /// Issuance limits of the phone OTP flow (defaults: [`FlowLimits`]).
    ///
    /// ```
    /// # use tokengate::{ClientInfo, Gate, policy::FlowLimits, store::MemoryStore};
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let mut limits = FlowLimits::PHONE;
    /// limits.new_addresses = 1;
    /// let gate = Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new()).development_mode(true)
    ///     .phone_limits(limits).build().unwrap();
    /// let client = ClientInfo::default();
    /// let ask = |to| gate.create_phone_token("unique()", to, &client);
    /// assert!(ask("+14155550100").await.is_ok());
    /// assert!(matches!(ask("+14155550101").await, Err(tokengate::Error::RateLimited)));
    /// # });
    /// ```
    pub fn phone_limits(mut self, limits: FlowLimits) -> Self {
        self.limits.phone = limits;
        self
    }

    /// The window the issuance limits count in (default one hour, at least
    /// one second).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tokengate::{Gate, store::MemoryStore};
    /// let builder = || Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new());
    /// assert!(builder().issue_window(Duration::from_secs(600)).build().is_ok());
    /// assert!(builder().issue_window(Duration::ZERO).build().is_err());
    /// ```
    pub fn issue_window(mut self, window: Duration) -> Self {
        self.limits.window = window;
        self
    }

    /// Shortest gap between two sends of one flow to one address (default
    /// 60 s; zero turns it off).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tokengate::{ClientInfo, Gate, store::MemoryStore};
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let gate = Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new()).development_mode(true)
    ///     .resend_interval(Duration::ZERO).build().unwrap();
    /// let client = ClientInfo::default();
    /// let ask = || gate.create_email_token("unique()", "a@example.com", false, &client);
    /// assert!(ask().await.is_ok());
    /// assert!(ask().await.is_ok());
    /// # });
    /// ```
    pub fn resend_interval(mut self, interval: Duration) -> Self {
        self.limits.min_interval = interval;
        self
    }

    /// Lifetime of the email and SMS codes (default 10 minutes, at least 60 s).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tokengate::{ClientInfo, Gate, store::MemoryStore};
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let gate = Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new()).development_mode(true)
    ///     .otp_lifetime(Duration::from_secs(300)).build().unwrap();
    /// let token = gate.create_email_token("unique()", "a@example.com", false, &ClientInfo::default()).await.unwrap();
    /// assert_eq!((token.expire - token.created_at).num_seconds(), 300);
    /// # });
    /// assert!(Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new())
    ///     .otp_lifetime(Duration::from_secs(10)).build().is_err());
    /// ```
    pub fn otp_lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetimes.otp = lifetime;
        self
    }

    /// Lifetime of the magic links (default 15 minutes, at least 60 s).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tokengate::{Gate, store::MemoryStore};
    /// let gate = Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new())
    ///     .magic_url_lifetime(Duration::from_secs(600)).build();
    /// assert!(gate.is_ok());
    /// ```
    pub fn magic_url_lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetimes.magic_url = lifetime;
        self
    }

    /// Message templates (subjects, text and HTML parts).
    ///
    /// ```
    /// # use tokengate::{Gate, delivery::Templates, store::MemoryStore};
    /// let mut templates = Templates::default();
    /// templates.sms_body = "{code} is your code".to_owned();
    /// let gate = Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new())
    ///     .templates(templates).build();
    /// assert!(gate.is_ok());
    /// ```
    pub fn templates(mut self, templates: Templates) -> Self {
        self.templates = templates;
        self
    }

    /// The directory: an application's own user table (default: users and
    /// their address bindings in the same store). Its contract:
    /// [`Directory`](crate::directory::Directory).
    ///
    /// ```
    /// # use tokengate::{Gate, store::MemoryStore};
    /// // .directory(MyUserTable::new(pool))
    /// let gate = Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new()).build();
    /// assert!(gate.is_ok());
    /// ```
    pub fn directory(mut self, directory: impl Directory) -> Self {
        self.directory = Some(Arc::new(directory));
        self
    }

    /// The mailer (default: none, or the log in development mode).
    ///
    /// ```
    /// # use tokengate::{Gate, store::MemoryStore};
    /// use tokengate::delivery::{DeliveryError, Message, Mailer};
    /// #[derive(Debug)]
    /// struct Outbox;
    /// #[async_trait::async_trait]
    /// impl Mailer for Outbox {
    ///     async fn send(&self, _message: &Message) -> Result<(), DeliveryError> { Ok(()) }
    /// }
    /// let gate = Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new()).mailer(Outbox).build();
    /// assert!(gate.is_ok());
    /// ```
    pub fn mailer(mut self, mailer: impl Mailer) -> Self {
        self.mailer = Some(Arc::new(mailer));
        self
    }

    /// The SMS sender (default: none, or the log in development mode).
    ///
    /// ```
    /// # use tokengate::{Gate, store::MemoryStore};
    /// use tokengate::delivery::{DeliveryError, Message, SmsSender};
    /// #[derive(Debug)]
    /// struct Texts;
    /// #[async_trait::async_trait]
    /// impl SmsSender for Texts {
    ///     async fn send(&self, _message: &Message) -> Result<(), DeliveryError> { Ok(()) }
    /// }
    /// let gate = Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new()).sms_sender(Texts).build();
    /// assert!(gate.is_ok());
    /// ```
    pub fn sms_sender(mut self, sms: impl SmsSender) -> Self {
        self.sms = Some(Arc::new(sms));
        self
    }

    /// Development mode (off by default): without a mailer or SMS sender,
    /// codes and links are written to the log (`tracing` WARN, target
    /// `tokengate::delivery`). Outside it, a flow without its channel
    /// answers 503 `general_smtp_disabled` / `general_phone_disabled`, as
    /// Appwrite does.
    ///
    /// ```
    /// # use tokengate::{ClientInfo, Gate, store::MemoryStore};
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let dev = Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new())
    ///     .development_mode(true).build().unwrap();
    /// assert!(dev.create_email_token("unique()", "a@example.com", false, &ClientInfo::default()).await.is_ok());
    /// let prod = Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new()).build().unwrap();
    /// let refused = prod.create_email_token("unique()", "a@example.com", false, &ClientInfo::default()).await;
    /// assert!(matches!(refused, Err(tokengate::Error::SmtpDisabled)));
    /// # });
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
