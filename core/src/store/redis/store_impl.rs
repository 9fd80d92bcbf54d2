//! The store traits over Redis: one script (one round trip) per change.

use super::script::*;
use super::{bulk_text, parse_sessions, unexpected, value_bytes, RedisStore, ScriptCall};
use crate::events::Event;
use crate::model::{TokenKind, UserId};
use crate::policy::Policy;
use crate::policy::IDLE_REFRESH_INTERVAL;
use crate::secret::Digest;
use crate::store::{
    idle_deadline, EventWritingStore, RateBucket, RateLimitStore, Redemption, SessionRecord, SessionStore, StoreError,
    TokenRecord, UserRecord, UserStore,
};
use async_trait::async_trait;
use redis::aio::ConnectionLike;
use redis::{Cmd, Value};

#[async_trait]
impl<C> SessionStore for RedisStore<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    async fn insert_token(
        &self,
        user: &UserId,
        token: &TokenRecord,
        replace_kind: bool,
        now_ms: i64,
    ) -> Result<(bool, bool), StoreError> {
        self.store_token(user, token, replace_kind, now_ms, None).await
    }

    async fn remove_token(&self, user: &UserId, digest: &Digest, _now_ms: i64) -> Result<bool, StoreError> {
        let keys = self.keys(user);
        let mut invocation = REMOVE_TOKEN.key(keys.tokens());
        invocation.key(keys.user()).key(keys.sessions()).arg(digest.to_base64());
        let withdrawn: i64 = self
            .run(|mut c| async move { invocation.invoke_async(&mut c).await })
            .await?;
        Ok(withdrawn == 1)
    }

    async fn redeem_token(
        &self,
        user: &UserId,
        token: &Digest,
        session: &SessionRecord,
        rules: &Policy,
        client: Option<&str>,
        now_ms: i64,
    ) -> Result<Redemption, StoreError> {
        let keys = self.keys(user);
        // Without a client the script is told so (limit 0) and never counts one.
        let client_limit = if client.is_some() { rules.client_failures } else { 0 };
        let mut invocation = REDEEM.key(keys.tokens());
        invocation
            .key(keys.sessions())
            .key(keys.user())
            .arg(token.to_base64())
            .arg(now_ms)
            .arg(&session.id)
            .arg(session.digest.to_base64())
            .arg(session.to_json(idle_deadline(session.expire_ms, rules.idle_ms(), now_ms)))
            .arg(rules.max_sessions)
            .arg(rules.burn_after_failures)
            .arg(rules.lockout_after_failures)
            .arg(rules.lockout_ms())
            .arg(client_limit)
            .arg(rules.client_window_ms())
            .arg(format!("!c:{}", client.unwrap_or("-")));
        self.add_events(&mut invocation, user, now_ms);
        let reply: Vec<Value> = self.run_replicated(invocation).await?;
        let mut parts = reply.iter().map(bulk_text);
        match parts.next().flatten().as_deref() {
            Some("ok") => {
                let token_id = parts.next().flatten().ok_or_else(|| unexpected("redeem"))?;
                let kind = parts
                    .next()
                    .flatten()
                    .and_then(|code| TokenKind::from_code(&code))
                    .ok_or_else(|| unexpected("redeem"))?;
                let kept = matches!(reply.get(3), Some(Value::Int(1)));
                let evicted = parse_sessions(
                    reply[4..]
                        .iter()
                        .map(value_bytes)
                        .collect::<Option<_>>()
                        .ok_or_else(|| unexpected("redeem"))?,
                )?;
                Ok(Redemption::Redeemed {
                    token_id,
                    kind,
                    evicted,
                    kept,
                })
            }
            Some("rejected") => Ok(Redemption::Rejected),
            Some("locked") => Ok(Redemption::LockedOut),
            Some("throttled") => Ok(Redemption::Throttled),
            _ => Err(unexpected("redeem")),
        }
    }

    async fn insert_session(
        &self,
        user: &UserId,
        session: &SessionRecord,
        rules: &Policy,
        now_ms: i64,
    ) -> Result<(bool, Vec<SessionRecord>), StoreError> {
        let keys = self.keys(user);
        let mut invocation = INSERT_SESSION.key(keys.sessions());
        invocation
            .key(keys.user())
            .arg(session.digest.to_base64())
            .arg(session.to_json(idle_deadline(session.expire_ms, rules.idle_ms(), now_ms)))
            .arg(now_ms)
            .arg(&session.id)
            .arg(rules.max_sessions);
        self.add_events(&mut invocation, user, now_ms);
        let reply: Vec<Value> = self.run_replicated(invocation).await?;
        let created = matches!(reply.first(), Some(Value::Int(1)));
        let evicted = reply
            .get(1..)
            .unwrap_or_default()
            .iter()
            .map(value_bytes)
            .collect::<Option<_>>();
        let evicted = parse_sessions(evicted.ok_or_else(|| unexpected("insert session"))?)?;
        Ok((created, evicted))
    }

    async fn find_session(
        &self,
        user: &UserId,
        digest: &Digest,
        idle_ms: i64,
        now_ms: i64,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let key = self.keys(user).sessions();
        let field = digest.base64_bytes();
        let value: Option<Vec<u8>> = match idle_ms {
            // Without an idle timeout the lookup is a plain HGET: one read, the floor.
            ..=0 => {
                // Sized up front: the command is built without a reallocation.
                let mut command = Cmd::with_capacity(3, 4 + key.len() + field.len());
                command.arg("HGET").arg(key).arg(&field[..]);
                self.run(|mut c| async move { command.query_async(&mut c).await })
                    .await?
            }
            idle_ms => {
                let mut invocation = FIND_SESSION_IDLE.key(key);
                invocation
                    .arg(&field[..])
                    .arg(now_ms)
                    .arg(idle_ms)
                    .arg(IDLE_REFRESH_INTERVAL.as_millis() as i64);
                self.run(|mut c| async move { invocation.invoke_async(&mut c).await })
                    .await?
            }
        };
        let Some(value) = value else { return Ok(None) };
        let (record, ends_ms) =
            SessionRecord::from_json(&value, *digest).ok_or_else(|| unexpected("session lookup"))?;
        Ok((ends_ms > now_ms).then_some(record))
    }

    async fn list_sessions(&self, user: &UserId, now_ms: i64) -> Result<Vec<SessionRecord>, StoreError> {
        let keys = self.keys(user);
        let mut invocation = LIST_SESSIONS.key(keys.sessions());
        invocation.arg(now_ms);
        let values: Vec<Vec<u8>> = self
            .run(|mut c| async move { invocation.invoke_async(&mut c).await })
            .await?;
        parse_sessions(values)
    }

    async fn extend_session(
        &self,
        user: &UserId,
        session_id: &str,
        expire_ms: i64,
        idle_ms: i64,
        max_age_ms: i64,
        now_ms: i64,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let keys = self.keys(user);
        let mut invocation = EXTEND_SESSION.key(keys.sessions());
        invocation
            .arg(session_id)
            .arg(now_ms)
            .arg(expire_ms)
            .arg(idle_deadline(expire_ms, idle_ms, now_ms))
            .arg(max_age_ms);
        let values: Option<Vec<Vec<u8>>> = self
            .run(|mut c| async move { invocation.invoke_async(&mut c).await })
            .await?;
        match values {
            None => Ok(None),
            Some(values) => Ok(parse_sessions(values)?.into_iter().next()),
        }
    }

    async fn delete_session(
        &self,
        user: &UserId,
        session_id: &str,
        now_ms: i64,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let keys = self.keys(user);
        let mut invocation = DELETE_SESSION.key(keys.sessions());
        invocation.arg(session_id).arg(now_ms);
        self.add_events(&mut invocation, user, now_ms);
        let deleted: Vec<Vec<u8>> = self.run_replicated(invocation).await?;
        Ok(parse_sessions(deleted)?.into_iter().next())
    }

    async fn delete_sessions(&self, user: &UserId, now_ms: i64) -> Result<Vec<SessionRecord>, StoreError> {
        let keys = self.keys(user);
        let mut invocation = DELETE_SESSIONS.key(keys.sessions());
        invocation.arg(now_ms);
        self.add_events(&mut invocation, user, now_ms);
        let deleted: Vec<Vec<u8>> = self.run_replicated(invocation).await?;
        parse_sessions(deleted)
    }
}

impl<C> RedisStore<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    /// Adds the event stream and arguments to a change's script when this
    /// store writes events (see `events_of` in `sessions.lua`).
    fn add_events(&self, invocation: &mut ScriptCall<'_>, user: &UserId, now_ms: i64) {
        if let Some(writer) = &self.events {
            writer.add(invocation, user, now_ms);
        }
    }

    /// `insert_token`, with the events of issuing when this store writes them.
    async fn store_token(
        &self,
        user: &UserId,
        token: &TokenRecord,
        replace_kind: bool,
        now_ms: i64,
        events: Option<(&Event, &Event)>,
    ) -> Result<(bool, bool), StoreError> {
        let keys = self.keys(user);
        let record = format!(
            "{}|{}|{}|{}",
            token.id,
            token.kind.code(),
            token.expire_ms,
            u8::from(token.low_entropy)
        );
        let mut invocation = INSERT_TOKEN.key(keys.tokens());
        invocation
            .key(keys.user())
            .arg(token.digest.to_base64())
            .arg(record)
            .arg(token.expire_ms)
            .arg(now_ms)
            .arg(u8::from(replace_kind))
            .arg(token.kind.code())
            .arg(token.user_kept_until());
        if let (Some(writer), Some((user_created, token_created))) = (&self.events, events) {
            writer.add(&mut invocation, user, now_ms);
            invocation
                .arg(writer.encode(token_created)?)
                .arg(writer.encode(user_created)?);
        }
        let (created, kept): (i64, i64) = self
            .run(|mut c| async move { invocation.invoke_async(&mut c).await })
            .await?;
        Ok((created == 1, kept == 1))
    }
}

#[async_trait]
impl<C> EventWritingStore for RedisStore<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    fn writes_events(&self) -> bool {
        self.events.is_some()
    }

    async fn insert_token_with_events(
        &self,
        user: &UserId,
        token: &TokenRecord,
        replace_kind: bool,
        now_ms: i64,
        user_created: &Event,
        token_created: &Event,
    ) -> Result<(bool, bool), StoreError> {
        self.store_token(user, token, replace_kind, now_ms, Some((user_created, token_created)))
            .await
    }
}

#[async_trait]
impl<C> UserStore for RedisStore<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    async fn find_address(&self, address: &Digest, now_ms: i64) -> Result<Option<(UserId, i64)>, StoreError> {
        let invocation = FIND_ADDRESS.key(self.address_key(address));
        let found: Option<(String, i64)> = self
            .run(|mut c| async move { invocation.invoke_async(&mut c).await })
            .await?;
        found
            .map(|(owner, left_ms)| {
                let owner = UserId::parse(&owner).map_err(|_| unexpected("address lookup"))?;
                Ok((owner, if left_ms > 0 { now_ms + left_ms } else { 0 }))
            })
            .transpose()
    }

    async fn link_address(
        &self,
        address: &Digest,
        user: &UserId,
        expire_ms: i64,
        now_ms: i64,
    ) -> Result<UserId, StoreError> {
        let mut invocation = LINK_ADDRESS.key(self.address_key(address));
        invocation.arg(user.as_str()).arg(expire_ms).arg(now_ms);
        let owner: String = self
            .run(|mut c| async move { invocation.invoke_async(&mut c).await })
            .await?;
        UserId::parse(&owner).map_err(|_| unexpected("address link"))
    }

    async fn unlink_address(&self, address: &Digest, user: &UserId, _now_ms: i64) -> Result<(), StoreError> {
        let mut invocation = UNLINK_ADDRESS.key(self.address_key(address));
        invocation.arg(user.as_str());
        self.run(|mut c| async move { invocation.invoke_async::<i64>(&mut c).await })
            .await?;
        Ok(())
    }

    async fn claim_user(
        &self,
        user: &UserId,
        email: &str,
        phone: &str,
        expire_ms: i64,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let keys = self.keys(user);
        let mut invocation = CLAIM_USER.key(keys.user());
        invocation
            .key(keys.sessions())
            .key(keys.tokens())
            .arg(email)
            .arg(phone)
            .arg(now_ms)
            .arg(expire_ms);
        let claimed: i64 = self
            .run(|mut c| async move { invocation.invoke_async(&mut c).await })
            .await?;
        Ok(claimed == 1)
    }

    async fn delete_user(
        &self,
        user: &UserId,
        now_ms: i64,
    ) -> Result<Option<(UserRecord, Vec<SessionRecord>)>, StoreError> {
        let keys = self.keys(user);
        let mut invocation = DELETE_USER.key(keys.user());
        invocation.key(keys.tokens()).key(keys.sessions()).arg(now_ms);
        self.add_events(&mut invocation, user, now_ms);
        let reply: Vec<Value> = self.run_replicated(invocation).await?;
        let mut parts = reply.into_iter();
        match parts.next() {
            Some(Value::Int(0)) => return Ok(None),
            Some(Value::Int(1)) => {}
            _ => return Err(unexpected("delete user")),
        }
        let rest: Vec<Value> = parts.collect();
        let text = |i: usize| rest.get(i).and_then(bulk_text).ok_or_else(|| unexpected("delete user"));
        let number = |i: usize| text(i).map(|t| t.parse::<i64>().unwrap_or(0));
        let user = UserRecord {
            created_ms: number(2)?,
            updated_ms: number(3)?,
            email: text(0)?,
            phone: text(1)?,
            email_verified: number(4)? == 1,
            phone_verified: number(5)? == 1,
            expire_ms: 0,
        };
        let sessions = rest
            .get(6..)
            .unwrap_or_default()
            .iter()
            .map(value_bytes)
            .collect::<Option<_>>();
        let sessions = parse_sessions(sessions.ok_or_else(|| unexpected("delete user"))?)?;
        Ok(Some((user, sessions)))
    }

    async fn load_user(&self, user: &UserId, _now_ms: i64) -> Result<Option<UserRecord>, StoreError> {
        let mut command = redis::cmd("HGETALL");
        command.arg(self.keys(user).user());
        let fields: std::collections::HashMap<String, String> = self
            .run(|mut c| async move { command.query_async(&mut c).await })
            .await?;
        if fields.is_empty() {
            return Ok(None);
        }
        let number = |name: &str| fields.get(name).and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
        let text = |name: &str| fields.get(name).cloned().unwrap_or_default();
        Ok(Some(UserRecord {
            created_ms: number("c"),
            // A record made by a token or session alone has no 'u' yet.
            updated_ms: fields.get("u").map_or_else(|| number("c"), |_| number("u")),
            email: text("e"),
            phone: text("p"),
            email_verified: number("ev") == 1,
            phone_verified: number("pv") == 1,
            expire_ms: number("x"),
        }))
    }

    async fn mark_verified(&self, user: &UserId, email: bool, phone: bool, now_ms: i64) -> Result<(), StoreError> {
        let mut invocation = MARK_VERIFIED.key(self.keys(user).user());
        invocation.arg(u8::from(email)).arg(u8::from(phone)).arg(now_ms);
        self.run(|mut c| async move { invocation.invoke_async::<i64>(&mut c).await })
            .await?;
        Ok(())
    }
}

#[async_trait]
impl<C> RateLimitStore for RedisStore<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    async fn hit_rate_limits(
        &self,
        group: &str,
        buckets: &[RateBucket],
        _now_ms: i64,
    ) -> Result<Option<usize>, StoreError> {
        let Some((first, rest)) = buckets.split_first() else {
            return Ok(None);
        };
        let (counter, gap) = self.rate_keys(group, &first.id);
        let mut invocation = HIT_RATE_LIMITS.key(counter);
        invocation.key(gap);
        for bucket in rest {
            let (counter, gap) = self.rate_keys(group, &bucket.id);
            invocation.key(counter).key(gap);
        }
        for bucket in buckets {
            invocation
                .arg(bucket.limit)
                .arg(bucket.window_ms)
                .arg(bucket.min_interval_ms);
        }
        let refused: i64 = self
            .run(|mut c| async move { invocation.invoke_async(&mut c).await })
            .await?;
        Ok(usize::try_from(refused).ok().filter(|i| *i > 0).map(|i| i - 1))
    }
}
