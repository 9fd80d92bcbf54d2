//! The Redis store: standalone (`ConnectionManager`) or cluster
//! (`ClusterConnection`), through one code path generic over the connection.
//!
//! Layout (every key of one user shares the hash tag `{u:<userId>}`, so each
//! script touches one slot, also on a cluster):
//!
//! | key | type | holds |
//! |---|---|---|
//! | `<prefix>:layout` | string | the layout version (`2`), written by the first store on the prefix, no TTL; a store finding another refuses to start |
//! | `<prefix>:{u:<id>}:t` | hash | token digest (base64url) → `id\|kind\|expire_ms\|low_entropy\|provisional`; and the guards: `!f` → `count\|until` (the failure streak), `!l` → until (guessable secrets locked), `!c:<client digest>` → `count\|until` (a client's failed exchanges) |
//! | `<prefix>:{u:<id>}:sessions` | hash | session digest (base64url) → the session record (JSON) |
//! | `<prefix>:{u:<id>}:user` | hash | directory record (email, phone, verification) |
//! | `<prefix>:{a:<digest>}` | string | address (email/phone digest) → user id |
//! | `<prefix>:{r:<flow>}:<scope>[:<digest>]:n`, `:gap` | string | issuance rate-limit counter and gap marker (scope: `addr`, `client`, `v4_24`, `v6_56`, `v6_48` with a keyed digest of the mailbox or network; `new`, `known` deployment-wide) |
//!
//! Every key carries a TTL; every atomic change is one `EVALSHA` whose keys
//! share one hash tag, so in a cluster every script runs within one slot on
//! one node.
//!
//! A user's tokens and their guards share one hash, so an exchange reads
//! the token, the lock, the failure streak and the client's failures in one
//! `HMGET` and spends the token and ends the streak in one `HDEL`; each
//! guard carries its own end and the hash expires with the last of them.
//! A user's sessions share one hash rather than a key each: a key costs
//! Redis about 100 bytes of its own, so for a one-session user the hash
//! takes 376 bytes where a key per session plus an index took 608
//! (`benches/RESULTS.md`). Redis (before 7.4) expires whole keys, not hash
//! fields, so a record carries its end (`"e"`, and `"d"` for the idle
//! deadline) and every read checks it against the clock; inserting,
//! redeeming, listing, extending and deleting drop the user's ended records
//! and set the hash's expiry to the latest remaining end (an idle refresh
//! only ever lengthens it).
//!
//! # Faults
//!
//! - Every request runs under [`RedisStoreConfig::response_timeout`]: a
//!   stalled or unreachable Redis is a [`StoreError`] (503) after at most
//!   that long, never a hang and never an authenticated request.
//! - The standalone connection (`ConnectionManager`) reconnects by itself;
//!   the cluster connection refreshes its slot map on `MOVED` and retries
//!   within the same time budget (a failover is mostly invisible).
//! - A script missing from a node's cache (`SCRIPT FLUSH`, a restart, a
//!   promoted replica) answers `NOSCRIPT`; the same request is then sent as
//!   `EVAL` with the script body, on the same connection and node, which
//!   also caches it there again. There is no separate `SCRIPT LOAD` (that
//!   would go to other nodes and could race another flush).
//!
//! # Replication
//!
//! Redis replicates asynchronously: a write acknowledged by a primary can
//! be lost if that primary fails before a replica received it. For a
//! login system that means a failover can lose a just-created session
//! (the user signs in again) and, worse, a just-burned token or a
//! just-deleted session can come back on the promoted replica. Opt in to
//! [`RedisStoreConfig::wait_for_replicas`] to send `WAIT` after each
//! exchange, session creation and logout (in the same pipeline as the
//! script, so on the node that holds the user's keys); it narrows that
//! window, it does not make Redis strongly consistent.

/// The version of the key layout below, kept under `<prefix>:layout`:
/// version 1 had no marker; 2 keeps a user's tokens and their guards in
/// one hash.
pub(crate) const LAYOUT_VERSION: u32 = 2;

mod age_trim;
mod config;
mod connect;
mod event_stream;
mod keys;
mod record;
mod revocations;
mod script;
mod store_impl;

use keys::UserKeys;
use script::ScriptCall;

pub use config::RedisStoreConfig;
pub(crate) use config::WaitForReplicas;
pub use event_stream::EventStream;
pub use revocations::RedisRevocations;

use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager};
use redis::{FromRedisValue, Value};

use super::{SessionRecord, StoreError};
use crate::model::UserId;
use crate::secret::Digest;

/// The Redis store, generic over the connection (standalone or cluster).
#[derive(Clone)]
pub struct RedisStore<C = ConnectionManager> {
    connection: C,
    prefix: Arc<str>,
    timeout: Duration,
    wait: Option<WaitForReplicas>,
    /// Set by [`RedisStore::with_events`]: the scripts write the events.
    events: Option<EventStream>,
}

impl<C> std::fmt::Debug for RedisStore<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .field("wait_for_replicas", &self.wait)
            .field("writes_events", &self.events.is_some())
            .finish_non_exhaustive()
    }
}

impl<C> RedisStore<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    /// Uses an existing connection (any redis-rs async connection).
    pub fn with_connection(connection: C, config: RedisStoreConfig) -> Self {
        RedisStore {
            connection,
            prefix: Arc::from(config.prefix.as_str()),
            timeout: config.response_timeout,
            wait: config.wait_for_replicas,
            events: None,
        }
    }

    /// The key namespace.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The connection, shared (redis-rs connections are cheap handles):
    /// for what keeps data beside the store, such as the events crate's log.
    pub fn connection(&self) -> C {
        self.connection.clone()
    }

    /// The response timeout in force.
    pub fn response_timeout(&self) -> Duration {
        self.timeout
    }

    /// This store, writing the events of its changes itself into `stream`:
    /// inside the same Lua script as each change (token issued, exchange
    /// with its evictions, server-created session, logout, logout-all, user
    /// deleted), so a change and its events are one atomic step and a
    /// process dying between them loses nothing. Build the gate with
    /// [`GateBuilder::store_writing_events`](crate::GateBuilder::store_writing_events)
    /// so that it does not announce them again.
    ///
    /// Standalone Redis only: on a cluster the stream lives in another slot
    /// than the user's keys. `stream` must be `<prefix>:{events}` of this
    /// store's prefix (the events crate's `RedisEventLog::stream` of the
    /// same Redis and prefix); another is refused.
    pub fn with_events(mut self, stream: EventStream) -> Result<Self, StoreError> {
        let expected = format!("{}:{{events}}", self.prefix);
        if stream.key() != expected {
            return Err(StoreError::new(format!(
                "the event stream {} is not this store's ({expected})",
                stream.key()
            )));
        }
        self.events = Some(stream);
        Ok(self)
    }

    fn keys<'a>(&'a self, user: &'a UserId) -> UserKeys<'a> {
        UserKeys {
            prefix: &self.prefix,
            user,
        }
    }

    /// Runs one request under the response timeout: a stalled Redis is a
    /// 503 after the timeout, never a hang.
    async fn run<T, F>(&self, request: impl FnOnce(C) -> F) -> Result<T, StoreError>
    where
        F: std::future::Future<Output = redis::RedisResult<T>>,
    {
        self.run_within(self.timeout, request).await
    }

    async fn run_within<T, F>(&self, budget: Duration, request: impl FnOnce(C) -> F) -> Result<T, StoreError>
    where
        F: std::future::Future<Output = redis::RedisResult<T>>,
    {
        match tokio::time::timeout(budget, request(self.connection.clone())).await {
            Ok(result) => result.map_err(store_error),
            Err(_) => Err(StoreError::new("redis response timed out")),
        }
    }

    /// Runs a script that changes sessions; with
    /// [`RedisStoreConfig::wait_for_replicas`], followed by `WAIT` on the
    /// same node (a shortfall is logged, not an error).
    async fn run_replicated<T>(&self, call: ScriptCall<'_>) -> Result<T, StoreError>
    where
        T: FromRedisValue + Send,
    {
        let Some(wait) = self.wait else {
            return self.run(|mut c| async move { call.invoke_async(&mut c).await }).await;
        };
        let (reply, acked) = self
            .run_within(self.timeout + wait.timeout, |mut c| async move {
                call.invoke_and_wait(&mut c, &wait).await
            })
            .await?;
        if let Some(acked) = acked
            && acked < i64::from(wait.replicas)
        {
            tracing::warn!(
                    acked,
                    wanted = wait.replicas,
                    timeout_ms = wait.timeout.as_millis() as u64,
                    "redis WAIT: fewer replicas than configured acknowledged a session change; a failover now could undo it"
                );
        }
        Ok(reply)
    }
}

fn store_error(err: redis::RedisError) -> StoreError {
    StoreError::with_source(format!("redis: {err}"), err)
}

fn unexpected(what: &str) -> StoreError {
    StoreError::new(format!("unexpected redis reply to {what}"))
}

fn bulk_text(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(bytes) => String::from_utf8(bytes.clone()).ok(),
        Value::SimpleString(text) => Some(text.clone()),
        _ => None,
    }
}

/// A bulk reply's bytes.
fn value_bytes(value: &Value) -> Option<Vec<u8>> {
    match value {
        Value::BulkString(bytes) => Some(bytes.clone()),
        Value::SimpleString(text) => Some(text.clone().into_bytes()),
        _ => None,
    }
}

fn parse_sessions(values: Vec<Vec<u8>>) -> Result<Vec<SessionRecord>, StoreError> {
    let mut out = Vec::with_capacity(values.len() / 2);
    for pair in values.chunks(2) {
        let [digest, json] = pair else {
            return Err(unexpected("list"));
        };
        let digest = std::str::from_utf8(digest)
            .ok()
            .and_then(Digest::from_base64)
            .ok_or_else(|| unexpected("list"))?;
        out.push(
            SessionRecord::from_json(json, digest)
                .ok_or_else(|| unexpected("list"))?
                .0,
        );
    }
    out.sort_by(|a, b| (a.created_ms, &a.id).cmp(&(b.created_ms, &b.id)));
    Ok(out)
}
