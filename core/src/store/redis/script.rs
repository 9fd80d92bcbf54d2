//! Scripts: `EVALSHA`, and on `NOSCRIPT` the same call as `EVAL` with the
//! body on the same node; every script of the store, loaded once.

use super::WaitForReplicas;
use redis::aio::ConnectionLike;
use redis::{Cmd, ErrorKind, FromRedisValue, RedisError, RedisResult, ServerErrorKind, ToRedisArgs, Value};
use std::sync::LazyLock;

pub(super) fn script(body: &str) -> Script {
    Script::new(&format!("{}\n{}", include_str!("lua/sessions.lua"), body))
}

/// A Lua script, called like `redis::Script` (`SCRIPT.key(..)`, `.arg(..)`,
/// `.invoke_async(&mut connection)`), but reloaded differently: on
/// `NOSCRIPT` the same call is repeated as `EVAL` with the body, which runs
/// on the same node (routed by the same first key) and caches the script
/// there. `redis::Script` would send `SCRIPT LOAD` instead, which a cluster
/// client routes to every node and which a concurrent `SCRIPT FLUSH` can
/// undo before the retried `EVALSHA`.
pub(super) struct Script {
    body: String,
    hash: String,
}

impl Script {
    pub(super) fn new(body: &str) -> Self {
        Script {
            hash: redis::Script::new(body).get_hash().to_owned(),
            body: body.to_owned(),
        }
    }

    /// Starts a call with its first key (every script has one: it routes
    /// the call to the key's slot).
    pub(super) fn key<T: ToRedisArgs>(&self, key: T) -> ScriptCall<'_> {
        let mut call = ScriptCall {
            script: self,
            keys: Vec::new(),
            args: Vec::new(),
        };
        call.key(key);
        call
    }
}

/// One prepared call of a [`Script`].
pub(super) struct ScriptCall<'a> {
    script: &'a Script,
    keys: Vec<Vec<u8>>,
    args: Vec<Vec<u8>>,
}

impl ScriptCall<'_> {
    pub(super) fn key<T: ToRedisArgs>(&mut self, key: T) -> &mut Self {
        key.write_redis_args(&mut self.keys);
        self
    }

    pub(super) fn arg<T: ToRedisArgs>(&mut self, arg: T) -> &mut Self {
        arg.write_redis_args(&mut self.args);
        self
    }

    /// `EVALSHA <hash> ...`, or `EVAL <body> ...` with `by_body`.
    pub(super) fn command(&self, by_body: bool) -> Cmd {
        let mut command = if by_body {
            let mut command = redis::cmd("EVAL");
            command.arg(&self.script.body);
            command
        } else {
            let mut command = redis::cmd("EVALSHA");
            command.arg(&self.script.hash);
            command
        };
        command.arg(self.keys.len()).arg(&*self.keys).arg(&*self.args);
        command
    }

    /// Runs the script: `EVALSHA`, and on `NOSCRIPT` `EVAL`.
    pub(super) async fn invoke_async<T: FromRedisValue>(&self, connection: &mut impl ConnectionLike) -> RedisResult<T> {
        match self.command(false).query_async(connection).await {
            Err(err) if is_noscript(&err) => self.command(true).query_async(connection).await,
            other => other,
        }
    }

    /// Runs the script and `WAIT replicas timeout` in one pipeline: on a
    /// cluster the pipeline is routed by the script's first key, so `WAIT`
    /// runs on the primary that just executed the script, over the same
    /// connection, right after it. Returns the script's reply and how many
    /// replicas acknowledged (`None` when `WAIT` itself failed).
    pub(super) async fn invoke_and_wait<T: FromRedisValue>(
        &self,
        connection: &mut impl ConnectionLike,
        wait: &WaitForReplicas,
    ) -> RedisResult<(T, Option<i64>)> {
        let mut by_body = false;
        loop {
            let mut pipeline = redis::pipe();
            pipeline.add_command(self.command(by_body));
            pipeline
                .cmd("WAIT")
                .arg(wait.replicas)
                .arg(wait.timeout.as_millis().max(1) as u64);
            let mut replies = connection.req_packed_commands(&pipeline, 0, 2).await?.into_iter();
            let (Some(reply), Some(acked)) = (replies.next(), replies.next()) else {
                return Err(RedisError::from((ErrorKind::Parse, "WAIT pipeline: missing replies")));
            };
            let reply = match reply {
                Value::ServerError(err) => {
                    let err = RedisError::from(err);
                    if !by_body && is_noscript(&err) {
                        by_body = true;
                        continue;
                    }
                    return Err(err);
                }
                reply => T::from_redis_value(reply)?,
            };
            let acked = match acked {
                Value::Int(n) => Some(n),
                other => {
                    tracing::warn!(reply = ?other, "redis WAIT failed; the write is not confirmed on replicas");
                    None
                }
            };
            return Ok((reply, acked));
        }
    }
}

pub(super) fn is_noscript(err: &RedisError) -> bool {
    err.kind() == ErrorKind::Server(ServerErrorKind::NoScript)
}

pub(super) static INSERT_TOKEN: LazyLock<Script> = LazyLock::new(|| script(include_str!("lua/insert_token.lua")));
pub(super) static DELETE_USER: LazyLock<Script> = LazyLock::new(|| script(include_str!("lua/delete_user.lua")));
pub(super) static UNLINK_ADDRESS: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/unlink_address.lua")));
pub(super) static REDEEM: LazyLock<Script> = LazyLock::new(|| script(include_str!("lua/redeem.lua")));
pub(super) static INSERT_SESSION: LazyLock<Script> = LazyLock::new(|| script(include_str!("lua/insert_session.lua")));
pub(super) static FIND_SESSION_IDLE: LazyLock<Script> =
    LazyLock::new(|| script(include_str!("lua/find_session_idle.lua")));
pub(super) static LIST_SESSIONS: LazyLock<Script> = LazyLock::new(|| script(include_str!("lua/list_sessions.lua")));
pub(super) static EXTEND_SESSION: LazyLock<Script> = LazyLock::new(|| script(include_str!("lua/extend_session.lua")));
pub(super) static DELETE_SESSION: LazyLock<Script> = LazyLock::new(|| script(include_str!("lua/delete_session.lua")));
pub(super) static DELETE_SESSIONS: LazyLock<Script> = LazyLock::new(|| script(include_str!("lua/delete_sessions.lua")));
pub(super) static CLAIM_USER: LazyLock<Script> = LazyLock::new(|| script(include_str!("lua/claim_user.lua")));
pub(super) static REMOVE_TOKEN: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/remove_token.lua")));
pub(super) static LINK_ADDRESS: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/link_address.lua")));
pub(super) static FIND_ADDRESS: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/find_address.lua")));
pub(super) static MARK_VERIFIED: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/mark_verified.lua")));
pub(super) static HIT_RATE_LIMITS: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/hit_rate_limits.lua")));
