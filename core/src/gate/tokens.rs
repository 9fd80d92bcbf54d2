//! Issuing tokens and exchanging them for sessions.

use super::announce;
use super::{Gate, TokenOptions, DEFAULT_TOKEN_LENGTH, MAX_SECRET_LEN, TOKEN_EXPIRE_RANGE, TOKEN_LENGTH_RANGE};
use crate::directory::Address;
use crate::error::Error;
use crate::events::{Event, EventKind};
use crate::model::{ClientInfo, Session, SessionOrigin, Token, TokenKind, User, UserId};
use crate::observe;
use crate::secret::{random_hex, random_id, Purpose, Secret};
use crate::store::{Redemption, TokenRecord};
use crate::time::{from_ms, now_ms};
use std::time::Duration;

/// How a token is issued beyond its secret: what its events carry (its
/// phrase, the flow's address) and whether it replaces the user's other
/// tokens of its kind.
#[derive(Debug, Default)]
pub(crate) struct Issued<'a> {
    pub(crate) phrase: Option<String>,
    pub(crate) address: Option<Address<'a>>,
    pub(crate) replace_kind: bool,
}

impl Gate {
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
        let issued = Issued::default();
        self.issue(user, TokenKind::Custom, random_hex(length), expire, low_entropy, issued)
            .await
    }

    /// The events of an issued token (with its phrase): the user's
    /// creation (announced when the token made the user known: the user as
    /// the request knows it, the flow's address, so the appender reads
    /// nothing) and the token's.
    fn issued_events(token: &Token, address: Option<Address<'_>>) -> (Event, Event) {
        let (email, phone) = match address {
            Some(Address::Email(email)) => (email, ""),
            Some(Address::Phone(phone)) => ("", phone),
            _ => ("", ""),
        };
        let mut user = User::new(token.user_id.clone(), token.created_at);
        user.email = email.to_owned();
        user.phone = phone.to_owned();
        (announce::user_created(user), announce::token_created(token))
    }

    /// Stores a token with the given secret; the building block of every
    /// flow. Its events (the user's creation when the token made the user
    /// known, then the token's, with its phrase) are written by the store
    /// in the same step when it writes events, else announced.
    pub(crate) async fn issue(
        &self,
        user: &UserId,
        kind: TokenKind,
        secret: Secret,
        lifetime: Duration,
        low_entropy: bool,
        issued: Issued<'_>,
    ) -> Result<Token, Error> {
        let now = now_ms();
        let expire_ms = now + lifetime.as_millis() as i64;
        let digest = self
            .inner
            .secret
            .digest(Purpose::Token, user, secret.expose().as_bytes());
        let record = TokenRecord::new(random_id(), kind, digest, now, expire_ms, low_entropy);
        let token = Token {
            id: record.id.clone(),
            created_at: from_ms(now),
            user_id: user.clone(),
            secret: Some(secret),
            expire: from_ms(expire_ms),
            phrase: issued.phrase,
            kind,
        };
        let span = tracing::info_span!("tokengate.issue", user = %user, kind = observe::kind_label(kind), outcome = tracing::field::Empty);
        let store = &self.inner.store;
        let replace_kind = issued.replace_kind;
        let stored = async {
            if let Some(writer) = &self.inner.event_writer {
                let (user_event, token_event) = Self::issued_events(&token, issued.address);
                writer
                    .insert_token_with_events(user, &record, replace_kind, now, &user_event, &token_event)
                    .await
            } else {
                store.insert_token(user, &record, replace_kind, now).await
            }
        };
        let (user_created, kept) =
            observe::observed(span, "issue", None, observe::ok_or_error, async { Ok(stored.await?) }).await?;
        // A custom token kept a provisional user for good: its addresses too.
        if kept && let Err(error) = self.inner.directory.keep(user).await {
            tracing::warn!(%error, user = %user, "could not keep a user's addresses for good");
        }
        observe::token_issued(kind);
        if self.announcing() {
            let (user_event, token_event) = Self::issued_events(&token, issued.address);
            let mut events = Vec::with_capacity(2);
            if user_created {
                events.push(user_event);
            }
            events.push(token_event);
            self.announce(events);
        }
        Ok(token)
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
            .redeem_token(user, &token_digest, &record, self.rules(), client_key.as_deref(), now)
            .await?
        {
            Redemption::Redeemed {
                kind, evicted, kept, ..
            } => {
                if kept && let Err(error) = self.inner.directory.keep(user).await {
                    // Healed when the address is next asked for (Directory::owner).
                    tracing::warn!(%error, user = %user, "could not keep a new user's address for good");
                }
                let mut record = record;
                record.origin = SessionOrigin::Token(kind);
                tracing::debug!(user = %user, session = %record.id, evicted = evicted.len(), "token exchanged");
                let (email, phone) = match kind {
                    TokenKind::EmailOtp | TokenKind::MagicUrl => (true, false),
                    TokenKind::Phone => (false, true),
                    TokenKind::Custom => (false, false),
                };
                if email || phone {
                    // The session exists already; a failure here only delays the flag.
                    if let Err(error) = self.inner.directory.mark_verified(user, email, phone).await {
                        tracing::warn!(%error, user = %user, "could not record the verified address");
                    }
                }
                let session = record.to_session(user);
                if self.announcing() {
                    let at = session.created_at;
                    // The new session, then those it evicted.
                    let mut events = vec![announce::session(EventKind::SessionCreate, session.clone(), at)];
                    events.extend(announce::sessions_deleted(user, evicted, at));
                    self.announce(events);
                }
                Ok((session, credential.encode()))
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
        }
    }

    /// Creates a session for `user` without a token (a server decision);
    /// the user becomes known if it was not. (The HTTP route
    /// `POST /users/{userId}/sessions` answers 404 for an unknown user
    /// instead, as Appwrite does.) It counts toward the per-user session
    /// limit like any other session: at the limit it evicts the user's
    /// oldest session, which may be a browser's.
    pub async fn create_server_session(&self, user: &UserId, client: ClientInfo) -> Result<(Session, Secret), Error> {
        self.inner.directory.remember(user).await?;
        let (record, credential) = self.new_session_record(user, SessionOrigin::Server, &client);
        let inserted = self
            .inner
            .store
            .insert_session(user, &record, self.rules(), record.created_ms)
            .await?;
        // A server session is a sign-in: a provisional user's addresses stay
        // bound for good (the store kept the record).
        if let Err(error) = self.inner.directory.keep(user).await {
            tracing::warn!(%error, user = %user, "could not keep a user's addresses for good");
        }
        let session = record.to_session(user);
        if self.announcing() {
            let at = session.created_at;
            let mut events = Vec::new();
            let (user_created, evicted) = inserted;
            if user_created {
                events.push(announce::user_created(User::new(user.clone(), at)));
            }
            events.push(announce::session(EventKind::SessionCreate, session.clone(), at));
            events.extend(announce::sessions_deleted(user, evicted, at));
            self.announce(events);
        }
        Ok((session, credential.encode()))
    }
}
