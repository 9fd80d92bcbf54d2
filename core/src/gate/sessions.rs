//! Sessions: creation records, authentication, listing, extension, logout,
//! and the users they belong to. (The optional session cache wraps the store.)

use super::announce;
use super::{Gate, MAX_USER_AGENT_LEN};
use crate::credential::SessionCredential;
use crate::error::Error;
use crate::model::User;
use crate::model::{ClientInfo, Session, SessionOrigin, UserId};
use crate::observe;
use crate::secret::{random_id, Purpose};
use crate::store::SessionRecord;
use crate::time::{from_ms, now_ms};

impl Gate {
    pub(super) fn new_session_record(
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

    pub(super) async fn find_session(&self, mut credential: SessionCredential) -> Result<Option<Session>, Error> {
        let digest = self
            .inner
            .secret
            .digest(Purpose::Session, credential.user(), credential.secret_bytes());
        // The session gets the credential's user id itself, not a copy.
        let user = credential.take_user();
        drop(credential);
        let found = self
            .inner
            .store
            .find_session(&user, &digest, self.idle_ms(), now_ms())
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
            .extend_session(user, session_id, expire, self.idle_ms(), max_age, now)
            .await?
            .map(|r| r.to_session(user))
            .ok_or(Error::SessionNotFound)
    }

    /// Logs one session out.
    pub async fn delete_session(&self, user: &UserId, session_id: &str) -> Result<(), Error> {
        let span = tracing::info_span!("tokengate.logout", user = %user, session = %session_id, outcome = tracing::field::Empty);
        let work = async {
            let now = now_ms();
            match self.inner.store.delete_session(user, session_id, now).await? {
                Some(record) => {
                    observe::sessions_deleted(1);
                    if self.announcing() {
                        self.announce(announce::sessions_deleted(user, vec![record], from_ms(now)));
                    }
                    Ok(())
                }
                None => Err(Error::SessionNotFound),
            }
        };
        observe::observed(span, "logout", None, observe::ok_or_error, work).await
    }

    /// Logs every session of the user out; returns how many there were.
    pub async fn delete_sessions(&self, user: &UserId) -> Result<u64, Error> {
        let span =
            tracing::info_span!("tokengate.logout", user = %user, session = "all", outcome = tracing::field::Empty);
        let work = async {
            let now = now_ms();
            let deleted = self.inner.store.delete_sessions(user, now).await?;
            let count = deleted.len() as u64;
            observe::sessions_deleted(count);
            if self.announcing() {
                self.announce(announce::sessions_deleted(user, deleted, from_ms(now)));
            }
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
            let now = now_ms();
            let deleted = self
                .inner
                .store
                .delete_user(user, now)
                .await?
                .ok_or(Error::UserNotFound)?;
            let (record, sessions) = deleted;
            observe::sessions_deleted(sessions.len() as u64);
            self.inner.directory.delete(user, &record.email, &record.phone).await?;
            if self.announcing() {
                // Its sessions end first, then the user.
                let at = from_ms(now);
                let mut events = announce::sessions_deleted(user, sessions, at);
                events.push(announce::user_deleted(record.into_user(user), at));
                self.announce(events);
            }
            Ok(())
        };
        observe::observed(span, "delete_user", None, observe::ok_or_error, work).await
    }
}
