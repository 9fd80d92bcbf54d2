//! [`Gate`], the façade every adapter and application calls.

use std::sync::Arc;
use std::time::Duration;

use crate::cache::{RevocationChannel, SessionCache};
use crate::client_ip::TrustedProxies;
use crate::config::{
    CookieSettings, FlowLifetimes, HttpSettings, IssueLimits, Policy, SameSite, MAX_SESSIONS_LIMIT,
    MAX_SESSION_LIFETIME,
};
use crate::credential::SessionCredential;
use crate::delivery::{LogMailer, LogSms, Mailer, SmsSender, Templates};
use crate::directory::{Directory, StoreDirectory, User};
use crate::error::Error;
use crate::model::{ClientInfo, Session, SessionOrigin, Token, TokenKind, UserId};
use crate::observe;
use crate::redirect::RedirectPolicy;
use crate::secret::{random_hex, random_id, Digest, Purpose, Secret, ServerSecret};
use crate::store::{RedeemRules, Redemption, SessionRecord, Store, TokenRecord};
use crate::time::{from_ms, now_ms};

/// Custom token length bounds (hex characters) and default.
pub const TOKEN_LENGTH_RANGE: std::ops::RangeInclusive<usize> = 4..=128;
/// Default custom token length.
pub const DEFAULT_TOKEN_LENGTH: usize = 6;
/// Token lifetime bounds, in seconds.
pub const TOKEN_EXPIRE_RANGE: std::ops::RangeInclusive<u64> = 60..=31_536_000;
/// Longest secret accepted in an exchange; longer cannot be ours.
const MAX_SECRET_LEN: usize = 256;
/// Most sessions the local cache holds.
const SESSION_CACHE_CAPACITY: usize = 100_000;
/// Stored user agents are cut to this many bytes.
const MAX_USER_AGENT_LEN: usize = 256;

/// Options for [`Gate::create_token`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenOptions {
    /// Secret length in hex characters, 4..=128 (default 6).
    pub length: Option<usize>,
    /// Lifetime, 60 s ..= 1 year (default: the policy's, 15 minutes).
    pub expire: Option<Duration>,
}

impl TokenOptions {
    /// Sets the secret length.
    ///
    /// ```
    /// let opts = tokengate::TokenOptions::default().length(32);
    /// assert_eq!(opts.length, Some(32));
    /// ```
    pub fn length(mut self, length: usize) -> Self {
        self.length = Some(length);
        self
    }

    /// Sets the lifetime.
    ///
    /// ```
    /// use std::time::Duration;
    /// let opts = tokengate::TokenOptions::default().expire(Duration::from_secs(120));
    /// assert_eq!(opts.expire, Some(Duration::from_secs(120)));
    /// ```
    pub fn expire(mut self, expire: Duration) -> Self {
        self.expire = Some(expire);
        self
    }
}

/// The façade: issue tokens, exchange them, authenticate and manage
/// sessions. Cheap to clone (one `Arc`), `Send + Sync`.
///
/// ```
/// use tokengate::{Gate, store::MemoryStore};
/// let gate = Gate::builder()
///     .server_secret([42u8; 32])
///     .store(MemoryStore::new())
///     .build()
///     .unwrap();
/// let _also = gate.clone();
/// ```
#[derive(Clone, Debug)]
pub struct Gate {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Arc<dyn Store>,
    secret: ServerSecret,
    policy: Policy,
    http: HttpSettings,
    flows: FlowSettings,
    directory: Arc<dyn Directory>,
    mailer: Option<Arc<dyn Mailer>>,
    sms: Option<Arc<dyn SmsSender>>,
    cache: Option<LocalCache>,
}

#[derive(Debug)]
struct LocalCache {
    sessions: SessionCache,
    channel: Arc<dyn RevocationChannel>,
}

/// Settings of the passwordless flows.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FlowSettings {
    /// Issuance limits.
    pub limits: IssueLimits,
    /// Token lifetimes.
    pub lifetimes: FlowLifetimes,
    /// Where magic links may point.
    pub redirect: RedirectPolicy,
    /// Message templates.
    pub templates: Templates,
}

impl Gate {
    /// Starts a [`GateBuilder`].
    pub fn builder() -> GateBuilder {
        GateBuilder::default()
    }

    /// The session and brute-force policy.
    pub fn policy(&self) -> &Policy {
        &self.inner.policy
    }

    /// The HTTP settings (base path, project, API key, cookie).
    pub fn http(&self) -> &HttpSettings {
        &self.inner.http
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// The passwordless flow settings.
    pub fn flows(&self) -> &FlowSettings {
        &self.inner.flows
    }

    /// The directory (email/phone to user).
    pub fn directory(&self) -> &Arc<dyn Directory> {
        &self.inner.directory
    }

    /// The mailer; `None` when none is configured outside development mode
    /// (the email routes then answer 503 `general_smtp_disabled`).
    pub fn mailer(&self) -> Option<&Arc<dyn Mailer>> {
        self.inner.mailer.as_ref()
    }

    /// The SMS sender; `None` when none is configured outside development
    /// mode (the phone route then answers 503 `general_phone_disabled`).
    pub fn sms_sender(&self) -> Option<&Arc<dyn SmsSender>> {
        self.inner.sms.as_ref()
    }

    pub(crate) fn server_key(&self) -> &ServerSecret {
        &self.inner.secret
    }

    fn rules(&self) -> RedeemRules {
        let p = &self.inner.policy;
        RedeemRules {
            max_sessions: p.max_sessions,
            burn_after_failures: p.burn_after_failures,
            lockout_after_failures: p.lockout_after_failures,
            lockout_ms: p.lockout_duration.as_millis() as i64,
            idle_ms: p.idle_timeout.map_or(0, |d| d.as_millis() as i64),
            client_failures: p.client_failures,
            client_window_ms: p.client_failure_window.as_millis() as i64,
        }
    }

    /// The name a client's failure and issuance counters go by: a digest of
    /// its address (an IPv6 client's /64), never the address itself.
    pub(crate) fn client_digest(&self, ip: std::net::IpAddr) -> String {
        self.bucket_digest(&crate::client_ip::bucket(ip))
    }

    /// Issues a custom token (lowercase hex secret) for `user`.
    ///
    /// ```
    /// # use tokengate::{Gate, UserId, TokenOptions, store::MemoryStore};
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// # let gate = Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new()).build().unwrap();
    /// let token = gate
    ///     .create_token(&UserId::parse("alice").unwrap(), TokenOptions::default().length(8))
    ///     .await
    ///     .unwrap();
    /// assert_eq!(token.secret.unwrap().expose().len(), 8);
    /// # });
    /// ```
    pub async fn create_token(&self, user: &UserId, options: TokenOptions) -> Result<Token, Error> {
        let length = options.length.unwrap_or(DEFAULT_TOKEN_LENGTH);
        if !TOKEN_LENGTH_RANGE.contains(&length) {
            return Err(Error::argument(
                "Invalid `length` param: Value must be a valid range between 4 and 128",
            ));
        }
        let expire = options.expire.unwrap_or(self.inner.policy.default_token_expire);
        if !TOKEN_EXPIRE_RANGE.contains(&expire.as_secs()) || expire.subsec_nanos() != 0 {
            return Err(Error::argument(
                "Invalid `expire` param: Value must be a valid range between 60 and 31,536,000",
            ));
        }
        // 4 bits per hex character: under 16 characters is under 64 bits.
        let low_entropy = length * 4 < 64;
        self.inner.directory.remember(user).await?;
        self.issue(user, TokenKind::Custom, random_hex(length), expire, low_entropy, false)
            .await
    }

    /// Stores a token with the given secret; the building block of every flow.
    pub(crate) async fn issue(
        &self,
        user: &UserId,
        kind: TokenKind,
        secret: Secret,
        lifetime: Duration,
        low_entropy: bool,
        replace_kind: bool,
    ) -> Result<Token, Error> {
        let now = now_ms();
        let expire_ms = now + lifetime.as_millis() as i64;
        let digest = self
            .inner
            .secret
            .digest(Purpose::Token, user, secret.expose().as_bytes());
        let record = TokenRecord::new(random_id(), kind, digest, now, expire_ms, low_entropy);
        let span = tracing::info_span!("tokengate.issue", user = %user, kind = observe::kind_label(kind), outcome = tracing::field::Empty);
        let stored = self.inner.store.insert_token(user, &record, replace_kind, now);
        observe::observed(span, "issue", None, observe::ok_or_error, async { Ok(stored.await?) }).await?;
        observe::token_issued(kind);
        Ok(Token {
            id: record.id,
            created_at: from_ms(now),
            user_id: user.clone(),
            secret: Some(secret),
            expire: from_ms(expire_ms),
            phrase: None,
            kind,
        })
    }

    /// Exchanges `userId` + `secret` for a session, once. Returns the session
    /// and its credential (to hand to the client).
    ///
    /// Every wrong, expired or used secret is [`Error::InvalidToken`]; a
    /// locked user (guessable secrets only) or a client over its failure
    /// budget for this user (`client.ip`, when given) is [`Error::RateLimited`].
    pub async fn create_session(
        &self,
        user: &UserId,
        secret: &str,
        client: ClientInfo,
    ) -> Result<(Session, Secret), Error> {
        let span = tracing::info_span!("tokengate.exchange", user = %user, outcome = tracing::field::Empty);
        let outcome = |result: &Result<(Session, Secret), Error>| match result {
            Ok(_) => "success",
            Err(Error::RateLimited) => "locked",
            Err(Error::Store(_)) => "error",
            Err(_) => "invalid",
        };
        let work = self.exchange(user, secret, client);
        observe::observed(span, "exchange", Some("tokengate_exchanges_total"), outcome, work).await
    }

    async fn exchange(&self, user: &UserId, secret: &str, client: ClientInfo) -> Result<(Session, Secret), Error> {
        // The digest is computed for every request, known user or not, so the
        // work done does not tell them apart.
        let token_digest = self.inner.secret.digest(Purpose::Token, user, secret.as_bytes());
        if secret.is_empty() || secret.len() > MAX_SECRET_LEN {
            return Err(Error::InvalidToken);
        }
        let (record, credential) = self.new_session_record(user, SessionOrigin::Token(TokenKind::Custom), &client);
        let now = record.created_ms;
        let client_key = client.ip.map(|ip| self.client_digest(ip));
        match self
            .inner
            .store
            .redeem_token(user, &token_digest, &record, &self.rules(), client_key.as_deref(), now)
            .await?
        {
            Redemption::Redeemed { kind, evicted, .. } => {
                let mut record = record;
                record.origin = SessionOrigin::Token(kind);
                tracing::debug!(user = %user, session = %record.id, evicted = evicted.len(), "token exchanged");
                if !evicted.is_empty() {
                    self.revoked(user).await;
                }
                let (email, phone) = match kind {
                    TokenKind::EmailOtp | TokenKind::MagicUrl => (true, false),
                    TokenKind::Phone => (false, true),
                    _ => (false, false),
                };
                if email || phone {
                    // The session exists already; a failure here only delays the flag.
                    if let Err(error) = self.inner.directory.mark_verified(user, email, phone).await {
                        tracing::warn!(%error, user = %user, "could not record the verified address");
                    }
                }
                Ok((record.to_session(user), credential.encode()))
            }
            Redemption::Rejected => {
                tracing::debug!(user = %user, "token exchange rejected");
                Err(Error::InvalidToken)
            }
            Redemption::LockedOut => {
                tracing::debug!(user = %user, "token exchange refused: user locked out");
                Err(Error::RateLimited)
            }
            Redemption::Throttled => {
                tracing::debug!(user = %user, "token exchange refused: this client failed too often");
                observe::rate_limited("exchange");
                Err(Error::RateLimited)
            }
            #[allow(unreachable_patterns)]
            _ => Err(Error::InvalidToken),
        }
    }

    /// Creates a session for `user` without a token (a server decision).
    pub async fn create_server_session(&self, user: &UserId, client: ClientInfo) -> Result<(Session, Secret), Error> {
        self.inner.directory.remember(user).await?;
        let (record, credential) = self.new_session_record(user, SessionOrigin::Server, &client);
        let evicted = self
            .inner
            .store
            .insert_session(user, &record, &self.rules(), record.created_ms)
            .await?;
        if !evicted.is_empty() {
            self.revoked(user).await;
        }
        Ok((record.to_session(user), credential.encode()))
    }

    fn new_session_record(
        &self,
        user: &UserId,
        origin: SessionOrigin,
        client: &ClientInfo,
    ) -> (SessionRecord, SessionCredential) {
        let credential = SessionCredential::generate(user.clone());
        let now = now_ms();
        let mut user_agent = client.user_agent.clone().unwrap_or_default();
        if user_agent.len() > MAX_USER_AGENT_LEN {
            let mut cut = MAX_USER_AGENT_LEN;
            while !user_agent.is_char_boundary(cut) {
                cut -= 1;
            }
            user_agent.truncate(cut);
        }
        let record = SessionRecord {
            id: random_id(),
            digest: self
                .inner
                .secret
                .digest(Purpose::Session, user, credential.secret_bytes()),
            created_ms: now,
            updated_ms: now,
            expire_ms: now + self.inner.policy.session_lifetime.as_millis() as i64,
            origin,
            ip: client.ip.map(|ip| ip.to_string()).unwrap_or_default(),
            user_agent,
        };
        (record, credential)
    }

    /// The live session for a credential, or `None` for anything that is not
    /// one (garbage, expired, revoked). Errors only when the store fails.
    /// Garbage never reaches the store.
    pub async fn authenticate(&self, credential: &str) -> Result<Option<Session>, Error> {
        let Some(credential) = SessionCredential::decode(credential) else {
            metrics::counter!("tokengate_authentications_total", "outcome" => "invalid").increment(1);
            return Ok(None);
        };
        let span =
            tracing::debug_span!("tokengate.authenticate", user = %credential.user(), outcome = tracing::field::Empty);
        let outcome = |result: &Result<Option<Session>, Error>| match result {
            Ok(Some(_)) => "valid",
            Ok(None) => "invalid",
            Err(_) => "error",
        };
        let work = self.find_session(credential);
        observe::observed(
            span,
            "authenticate",
            Some("tokengate_authentications_total"),
            outcome,
            work,
        )
        .await
    }

    async fn find_session(&self, mut credential: SessionCredential) -> Result<Option<Session>, Error> {
        let digest = self
            .inner
            .secret
            .digest(Purpose::Session, credential.user(), credential.secret_bytes());
        // The session gets the credential's user id itself, not a copy.
        let user = credential.take_user();
        drop(credential);
        let Some(cache) = &self.inner.cache else {
            return self.find_stored_session(user, &digest).await;
        };
        let now = now_ms();
        if let Some(session) = cache.sessions.get(&digest, now) {
            return Ok(Some(session));
        }
        let ticket = cache.sessions.ticket();
        let found = self.find_stored_session(user, &digest).await?;
        if let Some(session) = &found {
            cache.sessions.insert(ticket, digest, session);
        }
        Ok(found)
    }

    /// Tells this process's cache and every other service that `user`'s
    /// sessions changed. A lost message is bounded by the cache TTL.
    async fn revoked(&self, user: &UserId) {
        if let Some(cache) = &self.inner.cache {
            cache.sessions.revoke_user(user);
            if let Err(error) = cache.channel.publish(user).await {
                tracing::warn!(%error, user = %user, "could not publish a revocation; other caches expire it by TTL");
            }
        }
    }

    async fn find_stored_session(&self, user: UserId, digest: &Digest) -> Result<Option<Session>, Error> {
        let found = self
            .inner
            .store
            .find_session(&user, digest, self.inner.policy.idle_timeout, now_ms())
            .await?;
        Ok(found.map(|record| record.into_session(user)))
    }

    /// The user's live sessions, oldest first.
    pub async fn list_sessions(&self, user: &UserId) -> Result<Vec<Session>, Error> {
        let records = self.inner.store.list_sessions(user, now_ms()).await?;
        Ok(records.into_iter().map(|r| r.into_session(user.clone())).collect())
    }

    /// One of the user's sessions by id.
    pub async fn get_session(&self, user: &UserId, session_id: &str) -> Result<Session, Error> {
        self.list_sessions(user)
            .await?
            .into_iter()
            .find(|s| s.id == session_id)
            .ok_or(Error::SessionNotFound)
    }

    /// Extends a session to a full lifetime from now, but never past its
    /// creation plus [`Policy::max_session_age`](crate::Policy::max_session_age)
    /// (a session already there ends: [`Error::SessionNotFound`]).
    pub async fn extend_session(&self, user: &UserId, session_id: &str) -> Result<Session, Error> {
        let now = now_ms();
        let policy = &self.inner.policy;
        let expire = now + policy.session_lifetime.as_millis() as i64;
        let max_age = policy.max_session_age.as_millis() as i64;
        self.inner
            .store
            .extend_session(user, session_id, expire, policy.idle_timeout, max_age, now)
            .await?
            .map(|r| r.to_session(user))
            .ok_or(Error::SessionNotFound)
    }

    /// Logs one session out.
    pub async fn delete_session(&self, user: &UserId, session_id: &str) -> Result<(), Error> {
        let span = tracing::info_span!("tokengate.logout", user = %user, session = %session_id, outcome = tracing::field::Empty);
        let work = async {
            if self.inner.store.delete_session(user, session_id).await? {
                observe::sessions_deleted(1);
                self.revoked(user).await;
                Ok(())
            } else {
                Err(Error::SessionNotFound)
            }
        };
        observe::observed(span, "logout", None, observe::ok_or_error, work).await
    }

    /// Logs every session of the user out; returns how many there were.
    pub async fn delete_sessions(&self, user: &UserId) -> Result<u64, Error> {
        let span =
            tracing::info_span!("tokengate.logout", user = %user, session = "all", outcome = tracing::field::Empty);
        let work = async {
            let count = self.inner.store.delete_sessions(user).await?;
            observe::sessions_deleted(count);
            self.revoked(user).await;
            Ok(count)
        };
        observe::observed(span, "logout", None, observe::ok_or_error, work).await
    }

    /// The user as the directory knows it: every id that was ever issued a
    /// token or a session, until deleted.
    pub async fn get_user(&self, user: &UserId) -> Result<Option<User>, Error> {
        self.inner.directory.get(user).await
    }

    /// Deletes the user: its directory record, tokens and sessions in one
    /// store step, then its address bindings; the revocation reaches every
    /// session cache. Afterwards the id and its addresses are free again.
    /// [`Error::UserNotFound`] when the id is unknown.
    ///
    /// ```
    /// # use tokengate::{Gate, UserId, TokenOptions, store::MemoryStore};
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// # let gate = Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new()).build().unwrap();
    /// let alice = UserId::parse("alice").unwrap();
    /// gate.create_token(&alice, TokenOptions::default()).await.unwrap();
    /// assert!(gate.get_user(&alice).await.unwrap().is_some());
    /// gate.delete_user(&alice).await.unwrap();
    /// assert!(gate.get_user(&alice).await.unwrap().is_none());
    /// assert!(gate.delete_user(&alice).await.is_err());
    /// # });
    /// ```
    pub async fn delete_user(&self, user: &UserId) -> Result<(), Error> {
        let span = tracing::info_span!("tokengate.delete_user", user = %user, outcome = tracing::field::Empty);
        let work = async {
            let deleted = self
                .inner
                .store
                .delete_user(user, now_ms())
                .await?
                .ok_or(Error::UserNotFound)?;
            observe::sessions_deleted(deleted.sessions.len() as u64);
            self.revoked(user).await;
            self.inner.directory.delete(user, &deleted.email, &deleted.phone).await
        };
        observe::observed(span, "delete_user", None, observe::ok_or_error, work).await
    }
}

fn validate_cookie(cookie: &CookieSettings) -> Result<(), Error> {
    if cookie.same_site == SameSite::None && !cookie.secure {
        return Err(Error::Config(
            "SameSite=None needs secure cookies (browsers refuse it otherwise)".to_owned(),
        ));
    }
    if let Some(domain) = &cookie.domain {
        let valid = !domain.is_empty()
            && domain
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        if !valid {
            return Err(Error::Config(format!(
                "the cookie domain must be a lowercase host name: {domain:?}"
            )));
        }
    }
    if cookie.host_prefix && (!cookie.secure || cookie.domain.is_some()) {
        return Err(Error::Config(
            "a __Host- cookie must be secure and have no domain".to_owned(),
        ));
    }
    Ok(())
}

/// Builds a [`Gate`], validating the configuration.
#[derive(Default)]
pub struct GateBuilder {
    secret: Option<Result<ServerSecret, Error>>,
    store: Option<Arc<dyn Store>>,
    policy: Policy,
    http: HttpSettings,
    limits: IssueLimits,
    lifetimes: FlowLifetimes,
    templates: Templates,
    public_url: Option<String>,
    redirect_hosts: Vec<String>,
    directory: Option<Arc<dyn Directory>>,
    mailer: Option<Arc<dyn Mailer>>,
    sms: Option<Arc<dyn SmsSender>>,
    cache: Option<(Duration, Arc<dyn RevocationChannel>)>,
    development: bool,
}

impl std::fmt::Debug for GateBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GateBuilder")
            .field("policy", &self.policy)
            .field("http", &self.http)
            .finish_non_exhaustive()
    }
}

impl GateBuilder {
    /// The server secret (at least 32 bytes) that keys every stored digest.
    /// Required. Services sharing a store must share it.
    ///
    /// ```
    /// # use tokengate::{Gate, store::MemoryStore};
    /// assert!(Gate::builder().server_secret([0u8; 16]).store(MemoryStore::new()).build().is_err());
    /// ```
    pub fn server_secret(mut self, secret: impl Into<Vec<u8>>) -> Self {
        self.secret = Some(ServerSecret::new(secret));
        self
    }

    /// The server secret as an already validated [`ServerSecret`].
    ///
    /// ```
    /// # use tokengate::{Gate, ServerSecret, store::MemoryStore};
    /// let gate = Gate::builder().server_key(ServerSecret::random()).store(MemoryStore::new()).build();
    /// assert!(gate.is_ok());
    /// ```
    pub fn server_key(mut self, secret: ServerSecret) -> Self {
        self.secret = Some(Ok(secret));
        self
    }

    /// The store. Required: [`crate::store::RedisStore`] to share sessions
    /// between processes, [`crate::store::MemoryStore`] for one process.
    ///
    /// ```
    /// # use tokengate::{Gate, store::MemoryStore};
    /// assert!(Gate::builder().server_secret([1u8; 32]).build().is_err());
    /// ```
    pub fn store(mut self, store: impl Store) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// The store, already shared.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use tokengate::{Gate, Store, store::MemoryStore};
    /// let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    /// assert!(Gate::builder().server_secret([1u8; 32]).shared_store(store).build().is_ok());
    /// ```
    pub fn shared_store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }

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

    /// Project id (default `default`): cookie `a_session_<project>`.
    ///
    /// ```
    /// # use tokengate::{Gate, store::MemoryStore};
    /// let gate = Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new())
    ///     .project("shop").build().unwrap();
    /// assert_eq!(gate.http().cookie_name(), "a_session_shop");
    /// ```
    pub fn project(mut self, project: impl Into<String>) -> Self {
        self.http.project = project.into();
        self
    }

    /// The API key for `X-Appwrite-Key` (default: none, API-key routes refuse).
    ///
    /// ```
    /// # use tokengate::{Gate, store::MemoryStore};
    /// let gate = Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new())
    ///     .api_key("s3cret-key-of-enough-length").build().unwrap();
    /// assert!(gate.http().api_key.is_some());
    /// ```
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.http.api_key = Some(Secret::new(key));
        self
    }

    /// Route prefix (default `/v1`; `""` mounts at the root).
    ///
    /// ```
    /// # use tokengate::{Gate, store::MemoryStore};
    /// let gate = Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new())
    ///     .base_path("/auth/v1").build().unwrap();
    /// assert_eq!(gate.http().base_path, "/auth/v1");
    /// ```
    pub fn base_path(mut self, path: impl Into<String>) -> Self {
        self.http.base_path = path.into();
        self
    }

    /// Whether the session cookie is `Secure` (default true). Turn off only
    /// for plain-http local development.
    ///
    /// ```
    /// # use tokengate::{Gate, store::MemoryStore};
    /// let gate = Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new())
    ///     .secure_cookies(false).build().unwrap();
    /// assert!(!gate.http().cookie.secure);
    /// ```
    pub fn secure_cookies(mut self, secure: bool) -> Self {
        self.http.cookie.secure = secure;
        self
    }

    /// Largest request body accepted by the endpoints (default 64 KiB).
    ///
    /// ```
    /// # use tokengate::{Gate, store::MemoryStore};
    /// let gate = Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new())
    ///     .max_body_bytes(8192).build().unwrap();
    /// assert_eq!(gate.http().max_body_bytes, 8192);
    /// ```
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.http.max_body_bytes = bytes;
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

    /// Issuance limits of the passwordless flows.
    ///
    /// ```
    /// # use tokengate::{Gate, config::IssueLimits, store::MemoryStore};
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
    /// # use tokengate::{Gate, config::FlowLifetimes, store::MemoryStore};
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

    /// The directory (default: [`StoreDirectory`] in the same store).
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

    /// The mailer (default: none, or [`LogMailer`] in development mode).
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

    /// The SMS sender (default: none, or [`LogSms`] in development mode).
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
    /// codes and links are written to the log ([`LogMailer`], [`LogSms`]).
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

    /// Web origins (`https://app.example.com`) from which a browser may
    /// create sessions, besides the request's own origin and the public
    /// URL's. Every other `Origin` gets 403 on the session-creating route.
    ///
    /// ```
    /// # use tokengate::{Gate, store::MemoryStore};
    /// let gate = Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new())
    ///     .allowed_origins(["https://app.example.com"]).build().unwrap();
    /// assert_eq!(gate.http().allowed_origins, vec!["https://app.example.com"]);
    /// assert!(Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new())
    ///     .allowed_origins(["https://app.example.com/path"]).build().is_err());
    /// ```
    pub fn allowed_origins<I, O>(mut self, origins: I) -> Self
    where
        I: IntoIterator<Item = O>,
        O: Into<String>,
    {
        self.http.allowed_origins = origins.into_iter().map(Into::into).collect();
        self
    }

    /// Proxies (CIDRs) whose `X-Forwarded-For` / `Forwarded` name the
    /// client. None by default: the peer address is the client and the
    /// headers are ignored, since anyone can send them.
    ///
    /// ```
    /// # use tokengate::{Gate, client_ip::TrustedProxies, store::MemoryStore};
    /// let gate = Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new())
    ///     .trusted_proxies(TrustedProxies::parse("10.0.0.0/8").unwrap()).build().unwrap();
    /// assert!(gate.http().trusted_proxies.contains("10.1.2.3".parse().unwrap()));
    /// ```
    pub fn trusted_proxies(mut self, proxies: TrustedProxies) -> Self {
        self.http.trusted_proxies = proxies;
        self
    }

    /// The cookie's `SameSite` (default `Lax`; `None` requires secure cookies).
    ///
    /// ```
    /// # use tokengate::{Gate, config::SameSite, store::MemoryStore};
    /// let gate = Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new())
    ///     .same_site(SameSite::None).build().unwrap();
    /// assert_eq!(gate.http().cookie.same_site, SameSite::None);
    /// assert!(Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new())
    ///     .same_site(SameSite::None).secure_cookies(false).build().is_err());
    /// ```
    pub fn same_site(mut self, same_site: SameSite) -> Self {
        self.http.cookie.same_site = same_site;
        self
    }

    /// The cookie's `Domain` (default none: this host only).
    ///
    /// ```
    /// # use tokengate::{Gate, store::MemoryStore};
    /// let gate = Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new())
    ///     .cookie_domain("example.com").build().unwrap();
    /// assert_eq!(gate.http().cookie.domain.as_deref(), Some("example.com"));
    /// ```
    pub fn cookie_domain(mut self, domain: impl Into<String>) -> Self {
        self.http.cookie.domain = Some(domain.into());
        self
    }

    /// Names the cookie `__Host-a_session_<project>` (off by default), which
    /// browsers accept only `Secure`, host-only, on `Path=/`.
    ///
    /// ```
    /// # use tokengate::{Gate, store::MemoryStore};
    /// let gate = Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new())
    ///     .cookie_host_prefix(true).build().unwrap();
    /// assert_eq!(gate.http().cookie_name(), "__Host-a_session_default");
    /// ```
    pub fn cookie_host_prefix(mut self, on: bool) -> Self {
        self.http.cookie.host_prefix = on;
        self
    }

    /// Turns on the local session cache (off by default): sessions are kept
    /// in process for `ttl` and revocations travel over `channel`, e.g.
    /// [`crate::cache::RedisRevocations`]. Build the gate inside a Tokio
    /// runtime (the channel listens in a background task).
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    /// use tokengate::{Gate, cache::RedisRevocations, store::{RedisStore, RedisStoreConfig}};
    /// let url = "redis://127.0.0.1:6379";
    /// let gate = Gate::builder()
    ///     .server_secret([1u8; 32])
    ///     .store(RedisStore::connect(url, RedisStoreConfig::default()).await?)
    ///     .session_cache(Duration::from_secs(2), RedisRevocations::connect(url, "tg").await?)
    ///     .build()?;
    /// # let _ = gate; Ok(()) }
    /// ```
    pub fn session_cache(mut self, ttl: Duration, channel: impl RevocationChannel) -> Self {
        self.cache = Some((ttl, Arc::new(channel)));
        self
    }

    /// Validates and builds the [`Gate`].
    pub fn build(self) -> Result<Gate, Error> {
        let secret = self
            .secret
            .ok_or_else(|| Error::Config("a server secret is required".to_owned()))??;
        let store = self
            .store
            .ok_or_else(|| Error::Config("a store is required (RedisStore or MemoryStore)".to_owned()))?;
        let p = &self.policy;
        if p.session_lifetime < Duration::from_secs(1) || p.session_lifetime > MAX_SESSION_LIFETIME {
            return Err(Error::Config(
                "session lifetime must be between 1 second and 1 year".to_owned(),
            ));
        }
        if p.idle_timeout.is_some_and(|idle| idle < Duration::from_secs(1)) {
            return Err(Error::Config("idle timeout must be at least 1 second".to_owned()));
        }
        if p.max_sessions > MAX_SESSIONS_LIMIT {
            return Err(Error::Config(format!(
                "max sessions must be at most {MAX_SESSIONS_LIMIT} (0 = unlimited)"
            )));
        }
        if p.lockout_duration < Duration::from_secs(1) {
            return Err(Error::Config("lockout duration must be at least 1 second".to_owned()));
        }
        if p.max_session_age < p.session_lifetime {
            return Err(Error::Config(
                "the max session age must be at least the session lifetime".to_owned(),
            ));
        }
        if p.client_failures > 0 && p.client_failure_window < Duration::from_secs(1) {
            return Err(Error::Config(
                "the client failure window must be at least 1 second".to_owned(),
            ));
        }
        if !TOKEN_EXPIRE_RANGE.contains(&p.default_token_expire.as_secs()) {
            return Err(Error::Config(
                "default token expire must be 60..=31536000 seconds".to_owned(),
            ));
        }
        let h = &self.http;
        if !h.base_path.is_empty() && (!h.base_path.starts_with('/') || h.base_path.ends_with('/')) {
            return Err(Error::Config(
                "base path must be empty or start with '/' and not end with '/'".to_owned(),
            ));
        }
        if !UserId::is_valid(&h.project) {
            return Err(Error::Config(
                "project id must be 1-36 chars of a-zA-Z0-9._- (it names the cookie)".to_owned(),
            ));
        }
        if h.api_key.as_ref().is_some_and(|k| k.expose().len() < 16) {
            return Err(Error::Config("the API key must be at least 16 characters".to_owned()));
        }
        if h.max_body_bytes == 0 {
            return Err(Error::Config("max body bytes must be positive".to_owned()));
        }
        validate_cookie(&h.cookie)?;
        for origin in &h.allowed_origins {
            crate::redirect::parse_origin(origin)
                .map_err(|e| Error::Config(format!("allowed origin {origin:?}: {e}")))?;
        }
        let public_url = self.public_url.as_deref().unwrap_or("http://127.0.0.1:8080");
        let extra_hosts: Vec<&str> = self.redirect_hosts.iter().map(String::as_str).collect();
        let redirect = RedirectPolicy::new(public_url, &extra_hosts)?;
        let l = &self.limits;
        if l.window < Duration::from_secs(1) {
            return Err(Error::Config(
                "the issuance window must be at least 1 second".to_owned(),
            ));
        }
        if self.lifetimes.otp < Duration::from_secs(60) || self.lifetimes.magic_url < Duration::from_secs(60) {
            return Err(Error::Config(
                "OTP and magic URL lifetimes must be at least 60 seconds".to_owned(),
            ));
        }
        let cache = match self.cache {
            None => None,
            Some((ttl, channel)) => {
                if ttl.is_zero() || ttl > Duration::from_secs(60) {
                    return Err(Error::Config(
                        "the session cache TTL must be between 1 ms and 60 s".to_owned(),
                    ));
                }
                if tokio::runtime::Handle::try_current().is_err() {
                    return Err(Error::Config(
                        "the session cache must be built inside a Tokio runtime".to_owned(),
                    ));
                }
                let sessions = SessionCache::new(ttl, SESSION_CACHE_CAPACITY);
                channel.start(sessions.clone());
                Some(LocalCache { sessions, channel })
            }
        };
        let directory = self
            .directory
            .unwrap_or_else(|| Arc::new(StoreDirectory::new(store.clone(), secret.clone())));
        Ok(Gate {
            inner: Arc::new(Inner {
                store,
                secret,
                policy: self.policy,
                http: self.http,
                flows: FlowSettings {
                    limits: self.limits,
                    lifetimes: self.lifetimes,
                    redirect,
                    templates: self.templates,
                },
                directory,
                mailer: self
                    .mailer
                    .or_else(|| self.development.then(|| Arc::new(LogMailer) as Arc<dyn Mailer>)),
                sms: self
                    .sms
                    .or_else(|| self.development.then(|| Arc::new(LogSms) as Arc<dyn SmsSender>)),
                cache,
            }),
        })
    }
}
