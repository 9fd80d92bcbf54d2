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
//!   and [`CommandMonitor`] (top-level commands, i.e. round trips).

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use redis::aio::MultiplexedConnection;
use redis::AsyncCommands;

/// Environment variable naming the Redis to test against; unset, empty or
/// `spawn`: a throwaway server.
pub const REDIS_URL_ENV: &str = "TOKENGATE_TEST_REDIS_URL";
const SPAWN: &str = "spawn";

const START_TIMEOUT: Duration = Duration::from_secs(10);

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
    static SHARED: OnceLock<Child> = OnceLock::new();
    let (child, port) = spawn_redis_server(&[]);
    let _ = SHARED.set(child);
    format!("redis://127.0.0.1:{port}")
}

/// A fresh key namespace, `tgtest-<20 hex>`.
pub fn unique_prefix() -> String {
    format!("tgtest-{}", tokengate_testing::random_id())
}

/// Whether a Redis on `addr` answers `PING` with `+PONG` (a Redis requiring
/// a password does not count).
fn answers_ping(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let _ = stream.set_write_timeout(Some(Duration::from_millis(500)));
    if stream.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut reply = [0u8; 7];
    let mut read = 0;
    while read < reply.len() {
        match stream.read(&mut reply[read..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => read += n,
        }
    }
    reply[..read].starts_with(b"+PONG")
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free local port")
}

/// Starts `redis-server` on a free port and waits until it answers. Retries
/// when the port was taken in between. A watchdog shell stops the server
/// once this process is gone (best effort; the server is never persisted).
fn spawn_redis_server(extra: &[String]) -> (Child, u16) {
    let mut last_error = String::new();
    for _ in 0..5 {
        let port = free_port();
        match start_server(port, extra, Probe::Ping) {
            Ok(child) => return (child, port),
            Err(err) => last_error = err,
        }
    }
    panic!("could not start a throwaway redis-server: {last_error}");
}

/// How [`start_server`] knows that a server is up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// A plain-text `PING` on the port answers `+PONG`.
    Ping,
    /// The port accepts TCP connections (TLS-only servers: Redis listens
    /// only once it is ready to serve).
    Listen,
}

/// Starts `redis-server --port <port>` (no persistence, quiet log) with
/// `extra` arguments appended (they may override `--port`, e.g.
/// `--port 0 --tls-port <port>`), waits until `probe` succeeds on `port`,
/// and arms a watchdog that kills it once this test process is gone.
pub fn start_server(port: u16, extra: &[String], probe: Probe) -> Result<Child, String> {
    let spawned = Command::new("redis-server")
        .args(["--port", &port.to_string()])
        .args(["--bind", "127.0.0.1"])
        .args(["--save", ""])
        .args(["--appendonly", "no"])
        .args(["--daemonize", "no"])
        .args(["--loglevel", "warning"])
        .arg("--dir")
        .arg(std::env::temp_dir())
        .args(extra)
        .stdin(Stdio::null())
        // The log goes to stdout: kept to explain a failed start.
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => panic!(
            "`redis-server` is missing: the Redis tests need a Redis. Install it \
             (`apt-get install redis-server`), run one on 127.0.0.1:6379, or set \
             {REDIS_URL_ENV}=redis://host:port"
        ),
        Err(err) => panic!("could not start `redis-server`: {err}"),
    };
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            let mut log = String::new();
            if let Some(mut pipe) = child.stdout.take() {
                let _ = pipe.read_to_string(&mut log);
            }
            return Err(format!("redis-server on port {port} exited ({status}): {log}"));
        }
        let up = match probe {
            Probe::Ping => answers_ping(addr),
            Probe::Listen => TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok(),
        };
        if up {
            // Drain the log so that the server never blocks on a full pipe.
            if let Some(mut pipe) = child.stdout.take() {
                std::thread::spawn(move || std::io::copy(&mut pipe, &mut std::io::sink()));
            }
            spawn_watchdog(child.id());
            return Ok(child);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "redis-server on port {port} did not answer within {START_TIMEOUT:?}"
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Kills the server `redis_pid` once this test process has exited; exits by
/// itself when the server is already gone.
fn spawn_watchdog(redis_pid: u32) {
    let script = format!(
        "while kill -0 {me} 2>/dev/null; do kill -0 {redis_pid} 2>/dev/null || exit 0; sleep 1; done; kill {redis_pid} 2>/dev/null",
        me = std::process::id()
    );
    spawn_detached_shell(&script);
}

/// Removes `dir` once this test process has exited (best effort).
pub fn remove_when_gone(dir: &std::path::Path) {
    let script = format!(
        "while kill -0 {me} 2>/dev/null; do sleep 1; done; rm -rf '{dir}'",
        me = std::process::id(),
        dir = dir.display()
    );
    spawn_detached_shell(&script);
}

/// Starts `script` in a background `sh` with no stdio (best effort: a
/// failure to start it is ignored).
fn spawn_detached_shell(script: &str) {
    let _ = Command::new("sh")
        .args(["-c", script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
}

/// A `redis-server` of one test's own, killed when dropped.
#[derive(Debug)]
pub struct PrivateRedis {
    child: Child,
    port: u16,
    url: String,
    stats: tokio::sync::OnceCell<MultiplexedConnection>,
    /// Extra `redis-server` arguments, kept for [`PrivateRedis::restart`].
    extra: Vec<String>,
}

/// Starts a private `redis-server` on a free port (panics with install
/// instructions when `redis-server` is not on `PATH`).
pub async fn start_private_redis() -> PrivateRedis {
    start_private_redis_with(&[]).await
}

/// [`start_private_redis`] with extra `redis-server` arguments, e.g.
/// `["--enable-debug-command", "local"]` to break it with `DEBUG SLEEP`.
pub async fn start_private_redis_with(extra: &[&str]) -> PrivateRedis {
    let extra: Vec<String> = extra.iter().map(|a| (*a).to_owned()).collect();
    let args = extra.clone();
    let (child, port) = tokio::task::spawn_blocking(move || spawn_redis_server(&args))
        .await
        .expect("starting redis-server panicked");
    PrivateRedis {
        child,
        port,
        url: format!("redis://127.0.0.1:{port}"),
        stats: tokio::sync::OnceCell::new(),
        extra,
    }
}

impl PrivateRedis {
    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `INFO commandstats` of this server, read over one connection kept
    /// for the purpose (a new connection would add its own `CLIENT SETINFO`
    /// calls to the counts).
    pub async fn commandstats(&self) -> HashMap<String, u64> {
        let mut conn = self.stats.get_or_init(|| connection(&self.url)).await.clone();
        commandstats_on(&mut conn).await
    }

    /// A `MONITOR` of this server, for counting round trips.
    pub async fn monitor(&self) -> CommandMonitor {
        CommandMonitor::new(&self.url).await
    }
}

impl PrivateRedis {
    /// Kills the server (SIGKILL: no goodbye to its clients) and waits
    /// until it is gone. Its data is lost (nothing is persisted).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts a new, empty server on the same port (after [`Self::kill`]),
    /// waiting until it answers `PING`. Retries briefly while the port is
    /// still held by the old process.
    pub async fn restart(&mut self) {
        let port = self.port;
        let extra = self.extra.clone();
        let child = tokio::task::spawn_blocking(move || {
            let mut last_error = String::new();
            for _ in 0..10 {
                match start_server(port, &extra, Probe::Ping) {
                    Ok(child) => return child,
                    Err(err) => last_error = err,
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            panic!("could not restart redis-server on port {port}: {last_error}")
        })
        .await
        .expect("restarting redis-server panicked");
        self.child = child;
        self.stats = tokio::sync::OnceCell::new();
    }

    /// Freezes the server (SIGSTOP): connections stay open, nothing answers.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Thaws a [`Self::pause`]d server (SIGCONT).
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(signal)
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {signal} {}", self.child.id());
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        // A paused server would not die of SIGTERM; SIGKILL always works.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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
    async fn new(url: &str) -> Self {
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

/// `MEMORY USAGE` of `key` on whichever of `urls` holds it.
pub async fn memory_usage(urls: &[String], key: &str) -> Option<i64> {
    for url in urls {
        let mut conn = connection(url).await;
        // A cluster node that does not hold the key's slot answers MOVED.
        let usage: Result<Option<i64>, _> = redis::cmd("MEMORY").arg("USAGE").arg(key).query_async(&mut conn).await;
        if let Ok(Some(bytes)) = usage {
            return Some(bytes);
        }
    }
    None
}
