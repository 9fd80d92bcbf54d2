//! A real Redis for tests, without ever touching data a test did not write.
//!
//! - [`redis_url`]: `TOKENGATE_TEST_REDIS_URL` if set to a URL (a Redis of
//!   the developer's choosing, e.g. `redis://127.0.0.1:6379`); otherwise a
//!   throwaway `redis-server` started once per test process on a free port
//!   (`--save "" --appendonly no`) and stopped by a watchdog when the test
//!   process is gone. The default never writes to a Redis the tests did not
//!   start: identity records (user ids, address bindings) carry no TTL by
//!   design, so a shared server would keep them.
//! - [`unique_prefix`]: a fresh key namespace per test. Tests share one Redis,
//!   so they never `FLUSHDB`/`FLUSHALL`; they only look under their prefix
//!   ([`scan_keys`], [`dump_prefix`]).
//! - [`start_private_redis`]: a server of the test's own (killed on drop),
//!   for measurements that other tests would disturb: [`commandstats`] diffs
//!   and [`CommandMonitor`] (top-level commands, i.e. round trips). The
//!   processes themselves are managed by [`crate::redis_process`].

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use futures_util::StreamExt;
use redis::aio::MultiplexedConnection;
use redis::AsyncCommands;

pub use crate::redis_process::{
    free_port, redis_version, remove_when_gone, start_private_redis, start_private_redis_with, start_server,
    start_server_on_free_port, PrivateRedis, Probe, RedisProcess,
};

/// Environment variable naming the Redis to test against; unset, empty or
/// `spawn`: a throwaway server.
pub const REDIS_URL_ENV: &str = "TOKENGATE_TEST_REDIS_URL";
const SPAWN: &str = "spawn";

/// The Redis the shared tests use (see the module docs for the order).
pub async fn redis_url() -> String {
    static URL: OnceLock<String> = OnceLock::new();
    // Resolution is synchronous (a blocking PING probe, a process spawn), so
    // it does not depend on any one test's runtime.
    URL.get_or_init(resolve_url).clone()
}

fn resolve_url() -> String {
    let configured = std::env::var(REDIS_URL_ENV).unwrap_or_default();
    let configured = configured.trim();
    if !configured.is_empty() && configured != SPAWN {
        return configured.to_owned();
    }
    // Kept for the life of the process; the watchdog stops the server once
    // the process is gone.
    static SHARED: OnceLock<RedisProcess> = OnceLock::new();
    let process = start_server_on_free_port(&[], Probe::Ping).unwrap_or_else(|e| panic!("{e}"));
    let port = process.port();
    let _ = SHARED.set(process);
    format!("redis://127.0.0.1:{port}")
}

/// A fresh key namespace, `tgtest-<20 hex>`.
pub fn unique_prefix() -> String {
    format!("tgtest-{}", tokengate_testing::random_id())
}

/// A connection for test-side inspection. `rediss://` URLs trust the test
/// CA of [`crate::tls`].
pub async fn connection(url: &str) -> MultiplexedConnection {
    client(url)
        .get_multiplexed_async_connection()
        .await
        .unwrap_or_else(|e| panic!("connect to {url}: {e}"))
}

/// A redis-rs client for `url`; `rediss://` URLs trust the test CA.
pub fn client(url: &str) -> redis::Client {
    if url.starts_with("rediss://") {
        crate::tls::client(url)
    } else {
        redis::Client::open(url).expect("a valid redis url")
    }
}

/// Every key under `prefix:` (`SCAN MATCH prefix:*`), sorted. The prefix
/// must be free of glob characters (as [`unique_prefix`] is).
pub async fn scan_keys(url: &str, prefix: &str) -> Vec<String> {
    assert!(
        !prefix.contains(['*', '?', '[', ']', '\\']),
        "prefix {prefix:?} contains glob characters"
    );
    let mut conn = connection(url).await;
    let pattern = format!("{prefix}:*");
    let mut cursor: u64 = 0;
    let mut keys = Vec::new();
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut conn)
            .await
            .expect("SCAN");
        keys.extend(batch);
        if next == 0 {
            break;
        }
        cursor = next;
    }
    keys.sort();
    keys.dedup();
    keys
}

/// One key under a test prefix, with what it holds.
#[derive(Debug, Clone)]
pub struct KeyDump {
    /// The key.
    pub key: String,
    /// `TYPE` (`string`, `hash`, ...).
    pub kind: String,
    /// `PTTL` in ms (-1: no expiry, -2: gone meanwhile).
    pub pttl: i64,
    /// Strings: the value; hashes: fields and values; other types: members.
    pub contents: Vec<Vec<u8>>,
}

impl KeyDump {
    /// The key and its contents, lossily as text, for searching.
    pub fn text(&self) -> String {
        let mut out = self.key.clone();
        for part in &self.contents {
            out.push('\n');
            out.push_str(&String::from_utf8_lossy(part));
        }
        out
    }
}

/// Issues a high-entropy custom token for `user` straight through `store`
/// and redeems it (asserting that it was redeemed); returns the session.
pub async fn login_through_store(
    store: &dyn tokengate::store::Store,
    user: &tokengate::UserId,
) -> tokengate::store::SessionRecord {
    use tokengate::store::{Redemption, SessionRecord, TokenRecord};
    use tokengate_testing::random_id;
    use tokengate_testing::store_contract::redeem_policy;
    const HOUR_MS: i64 = 3_600_000;
    let now = || chrono::Utc::now().timestamp_millis();
    let key = tokengate::ServerSecret::new(b"store-login-server-secret-0123456789abcd".to_vec()).unwrap();
    let t = now();
    let secret = format!("{}{}", random_id(), random_id());
    let token = TokenRecord::new(
        random_id(),
        tokengate::TokenKind::Custom,
        key.token_digest(user, secret.as_bytes()),
        t,
        t + HOUR_MS,
        false,
    );
    store.insert_token(user, &token, false, t).await.unwrap();
    let session = SessionRecord::new(
        random_id(),
        key.session_digest(user, random_id().as_bytes()),
        now(),
        now() + HOUR_MS,
        tokengate::SessionOrigin::Server,
        "203.0.113.5".into(),
        "store-login".into(),
    );
    let outcome = store
        .redeem_token(
            user,
            &token.digest,
            &session,
            &redeem_policy(10, 5, 100, HOUR_MS, 0),
            None,
            now(),
        )
        .await
        .unwrap();
    assert!(matches!(outcome, Redemption::Redeemed { .. }), "{outcome:?}");
    session
}

/// A [`RedisStore`](tokengate::store::RedisStore) on `url` under a fresh
/// [`unique_prefix`]; returns the store and its prefix.
pub async fn redis_store_at(url: &str) -> (tokengate::store::RedisStore, String) {
    let prefix = unique_prefix();
    let config = tokengate::store::RedisStoreConfig::default().prefix(prefix.clone());
    let store = tokengate::store::RedisStore::connect(url, config)
        .await
        .expect("RedisStore::connect");
    (store, prefix)
}

/// [`dump_prefix`] over several servers (the primaries of a cluster), sorted.
pub async fn dump_prefix_nodes(urls: &[String], prefix: &str) -> Vec<KeyDump> {
    let mut out = Vec::new();
    for url in urls {
        out.extend(dump_prefix(url, prefix).await);
    }
    out.sort_by(|a, b| a.key.cmp(&b.key));
    out
}

/// How many session records the users' `:sessions` hashes among `keys` hold.
pub fn session_records(keys: &[KeyDump]) -> usize {
    keys.iter()
        .filter(|k| k.key.ends_with(":sessions"))
        .map(|k| k.contents.len() / 2)
        .sum()
}

/// Every key under `prefix:` with its type, TTL and contents.
pub async fn dump_prefix(url: &str, prefix: &str) -> Vec<KeyDump> {
    let keys = scan_keys(url, prefix).await;
    let mut conn = connection(url).await;
    let mut out = Vec::with_capacity(keys.len());
    for key in keys {
        let kind: String = redis::cmd("TYPE").arg(&key).query_async(&mut conn).await.expect("TYPE");
        let pttl: i64 = conn.pttl(&key).await.expect("PTTL");
        let contents: Vec<Vec<u8>> = match kind.as_str() {
            "string" => {
                let value: Option<Vec<u8>> = conn.get(&key).await.expect("GET");
                value.into_iter().collect()
            }
            "hash" => redis::cmd("HGETALL")
                .arg(&key)
                .query_async(&mut conn)
                .await
                .expect("HGETALL"),
            "set" => conn.smembers(&key).await.expect("SMEMBERS"),
            "zset" => conn.zrange(&key, 0, -1).await.expect("ZRANGE"),
            "list" => conn.lrange(&key, 0, -1).await.expect("LRANGE"),
            _ => Vec::new(),
        };
        out.push(KeyDump {
            key,
            kind,
            pttl,
            contents,
        });
    }
    out
}

/// `INFO commandstats` as command (lowercase, e.g. `evalsha`,
/// `script|load`) → calls. Commands run inside Lua scripts count too.
pub async fn commandstats(url: &str) -> HashMap<String, u64> {
    commandstats_on(&mut connection(url).await).await
}

/// [`commandstats`] over an existing connection.
pub async fn commandstats_on(conn: &mut MultiplexedConnection) -> HashMap<String, u64> {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(conn)
        .await
        .expect("INFO commandstats");
    parse_commandstats(&info)
}

/// Parses `cmdstat_<name>:calls=<n>,...` lines.
pub fn parse_commandstats(info: &str) -> HashMap<String, u64> {
    info.lines()
        .filter_map(|line| {
            let rest = line.trim().strip_prefix("cmdstat_")?;
            let (name, fields) = rest.split_once(':')?;
            let calls = fields.split(',').find_map(|f| f.strip_prefix("calls="))?.parse().ok()?;
            Some((name.to_ascii_lowercase(), calls))
        })
        .collect()
}

/// `after - before`, without zero entries and without `info` (the
/// measurement's own command).
pub fn commandstats_diff(before: &HashMap<String, u64>, after: &HashMap<String, u64>) -> BTreeMap<String, u64> {
    after
        .iter()
        .filter(|(name, _)| name.as_str() != "info")
        .filter_map(|(name, &calls)| {
            let delta = calls.saturating_sub(before.get(name).copied().unwrap_or(0));
            (delta > 0).then(|| (name.clone(), delta))
        })
        .collect()
}

/// Records the top-level commands (one per round trip; not those a Lua
/// script runs) that clients send while a future runs, through `MONITOR`.
///
/// Each measurement is bracketed by `ECHO` markers sent on a separate
/// connection, so it sees exactly what was executed in between.
pub struct CommandMonitor {
    lines: std::pin::Pin<Box<dyn futures_util::Stream<Item = String> + Send>>,
    marker: MultiplexedConnection,
    round: u64,
}

impl std::fmt::Debug for CommandMonitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommandMonitor")
            .field("round", &self.round)
            .finish_non_exhaustive()
    }
}

impl CommandMonitor {
    pub(crate) async fn new(url: &str) -> Self {
        let monitor = client(url).get_async_monitor().await.expect("MONITOR");
        CommandMonitor {
            lines: Box::pin(monitor.into_on_message::<String>()),
            marker: connection(url).await,
            round: 0,
        }
    }

    async fn mark(&mut self, marker: &str) {
        let echoed: String = redis::cmd("ECHO")
            .arg(marker)
            .query_async(&mut self.marker)
            .await
            .expect("ECHO");
        assert_eq!(echoed, marker);
    }

    async fn lines_until(&mut self, marker: &str) -> Vec<String> {
        let quoted = format!("\"{marker}\"");
        let mut seen = Vec::new();
        loop {
            let line = tokio::time::timeout(Duration::from_secs(5), self.lines.next())
                .await
                .unwrap_or_else(|_| panic!("MONITOR did not show marker {marker}"))
                .expect("MONITOR stream ended");
            if line.contains(&quoted) {
                return seen;
            }
            seen.push(line);
        }
    }

    /// Runs `op`, returning its output and the top-level commands executed
    /// meanwhile, each as its lowercase name.
    pub async fn record<F: Future>(&mut self, op: F) -> (F::Output, Vec<String>) {
        let (output, lines) = self.record_lines(op).await;
        let commands = lines.iter().filter_map(|line| parse_monitor_line(line)).collect();
        (output, commands)
    }

    /// Runs `op`, returning its output and every `MONITOR` line meanwhile,
    /// including the commands scripts ran (`[0 lua]`).
    pub async fn record_lines<F: Future>(&mut self, op: F) -> (F::Output, Vec<String>) {
        self.round += 1;
        let start = format!("tg-monitor-start-{}", self.round);
        let end = format!("tg-monitor-end-{}", self.round);
        self.mark(&start).await;
        self.lines_until(&start).await;
        let output = op.await;
        self.mark(&end).await;
        let lines = self.lines_until(&end).await;
        (output, lines)
    }
}

/// A `MONITOR` line as (whether a script ran it, command and arguments).
/// Arguments are unquoted; escapes (`\"`, `\\`, `\xNN`) are kept as
/// they appear, which is enough for key names made of printable ASCII.
pub fn parse_monitor_args(line: &str) -> Option<(bool, Vec<String>)> {
    let (_, rest) = line.split_once('[')?;
    let (source, command) = rest.split_once(']')?;
    let mut args = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut escaped = false;
    for c in command.chars() {
        if !quoted {
            if c == '"' {
                quoted = true;
                current.clear();
            }
            continue;
        }
        if escaped {
            current.push(c);
            escaped = false;
        } else if c == '\\' {
            current.push(c);
            escaped = true;
        } else if c == '"' {
            quoted = false;
            args.push(std::mem::take(&mut current));
        } else {
            current.push(c);
        }
    }
    (!args.is_empty()).then(|| (source.trim().ends_with("lua"), args))
}

/// `1700000000.123456 [0 127.0.0.1:5000] "EVALSHA" "..."` → `evalsha`;
/// `None` for commands run by a script (`[0 lua]`).
fn parse_monitor_line(line: &str) -> Option<String> {
    let (_, rest) = line.split_once('[')?;
    let (source, command) = rest.split_once(']')?;
    if source.trim().ends_with("lua") {
        return None;
    }
    let name = command.trim().strip_prefix('"')?.split('"').next()?;
    Some(name.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_commandstats() {
        let info = "# Commandstats\r\ncmdstat_get:calls=3,usec=2,usec_per_call=0.67,rejected_calls=0,failed_calls=0\r\ncmdstat_script|load:calls=1,usec=5\r\n";
        let stats = parse_commandstats(info);
        assert_eq!(stats.get("get"), Some(&3));
        assert_eq!(stats.get("script|load"), Some(&1));
        let before = HashMap::from([("get".to_owned(), 1), ("info".to_owned(), 1)]);
        let after = HashMap::from([("get".to_owned(), 3), ("info".to_owned(), 2), ("set".to_owned(), 0)]);
        assert_eq!(
            commandstats_diff(&before, &after),
            BTreeMap::from([("get".to_owned(), 2)])
        );
    }

    #[test]
    fn parses_monitor_lines() {
        assert_eq!(
            parse_monitor_line(r#"1700000000.123456 [0 127.0.0.1:5000] "EVALSHA" "abc" "1""#).as_deref(),
            Some("evalsha")
        );
        assert_eq!(
            parse_monitor_line(r#"1700000000.123456 [0 lua] "hset" "k" "f" "v""#),
            None
        );
        assert_eq!(parse_monitor_line("OK"), None);
    }

    #[test]
    fn parses_monitor_args() {
        assert_eq!(
            parse_monitor_args(r#"1700000000.123456 [0 lua] "hset" "tg:{u:a}:t" "f" "a\"b""#),
            Some((
                true,
                vec![
                    "hset".to_owned(),
                    "tg:{u:a}:t".to_owned(),
                    "f".to_owned(),
                    r#"a\"b"#.to_owned()
                ]
            ))
        );
        assert_eq!(
            parse_monitor_args(r#"1700000000.123456 [0 127.0.0.1:5000] "GET" "k""#),
            Some((false, vec!["GET".to_owned(), "k".to_owned()]))
        );
        assert_eq!(parse_monitor_args("OK"), None);
    }

    #[test]
    fn prefixes_are_unique() {
        let a = unique_prefix();
        assert!(a.starts_with("tgtest-"));
        assert_ne!(a, unique_prefix());
    }
}

/// Whether `text` holds `secret` as a value of its own: an occurrence not
/// glued to other word characters (a 6-digit code may well occur inside a
/// 13-digit timestamp or a digest by chance; a stored secret never does).
pub fn holds_secret(text: &str, secret: &str) -> bool {
    let word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    text.match_indices(secret).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + secret.len()..].chars().next();
        !word(before) && !word(after)
    })
}

#[cfg(test)]
mod secret_search {
    use super::holds_secret;

    #[test]
    fn a_secret_counts_only_as_a_value_of_its_own() {
        assert!(holds_secret("{\"code\":\"123456\"}", "123456"));
        assert!(holds_secret("a|123456|b", "123456"));
        assert!(holds_secret("123456", "123456"));
        assert!(!holds_secret("1796123456801", "123456"), "inside a timestamp");
        assert!(!holds_secret("x9f123456ab", "123456"), "inside a digest");
        assert!(!holds_secret("nothing here", "123456"));
    }
}

/// `MEMORY USAGE` of `key` on the server of `urls` that holds it (one
/// server, or a cluster's primaries: then the one serving the key's slot,
/// found through `CLUSTER KEYSLOT` and `CLUSTER NODES`, as a probe of
/// another node would count as a MOVED error). Panics on an error, and when
/// the key does not exist: a figure the caller asked for is never skipped
/// in silence.
pub async fn memory_usage(urls: &[String], key: &str) -> i64 {
    let url = if urls.len() == 1 {
        urls[0].clone()
    } else {
        let mut conn = connection(&urls[0]).await;
        let slot: u16 = redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(key)
            .query_async(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("CLUSTER KEYSLOT {key}: {e}"));
        let nodes: String = redis::cmd("CLUSTER")
            .arg("NODES")
            .query_async(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("CLUSTER NODES: {e}"));
        let owner = nodes
            .lines()
            .filter_map(crate::cluster::parse_node_line)
            .find(|n| n.primary && n.slots.iter().any(|&(a, b)| a <= slot && slot <= b))
            .unwrap_or_else(|| panic!("no primary serves slot {slot}: {nodes}"));
        let scheme = urls[0].split_once("://").map_or("redis", |(s, _)| s);
        format!("{scheme}://127.0.0.1:{}", owner.port)
    };
    let mut conn = connection(&url).await;
    let usage: Option<i64> = redis::cmd("MEMORY")
        .arg("USAGE")
        .arg(key)
        .query_async(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("MEMORY USAGE {key} on {url}: {e}"));
    usage.unwrap_or_else(|| panic!("MEMORY USAGE {key}: no such key on {url}"))
}
