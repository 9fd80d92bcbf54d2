//! The one `redis-server` process manager of the tests and the benches.
//!
//! - [`RedisProcess`]: one `redis-server` child on a loopback port, without
//!   persistence (`--save "" --appendonly no`), killed on drop and, by a
//!   watchdog, once the process that started it is gone (also after a
//!   Ctrl-C or a panic). It can be killed (a crash), started again on its
//!   port, frozen (SIGSTOP) and thawed (SIGCONT). The cluster helper
//!   ([`crate::cluster`]) and the TLS servers ([`crate::tls`]) are made of
//!   these.
//! - [`PrivateRedis`]: a server of one test's (or one benchmark's) own, for
//!   measurements that others would disturb ([`PrivateRedis::commandstats`],
//!   [`PrivateRedis::monitor`]), for faults, and the only kind of server
//!   that may be flushed ([`PrivateRedis::flush`]).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;

use crate::redis_harness::{commandstats_on, connection, CommandMonitor, REDIS_URL_ENV};

/// How long a server may take to come up.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a starting server is probed.
const PROBE_EVERY: Duration = Duration::from_millis(1);

/// How a starting server is known to be up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// A plain-text `PING` on the port answers `+PONG`.
    Ping,
    /// The port accepts TCP connections (TLS-only servers: Redis listens
    /// only once it is ready to serve).
    Listen,
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free local port")
}

/// `redis-server --version`, e.g. `Redis server v=7.0.15 sha=...`.
pub fn redis_version() -> Result<String, String> {
    let out = Command::new("redis-server")
        .arg("--version")
        .output()
        .map_err(|e| format!("cannot run redis-server ({e}); install it (apt-get install -y redis-server)"))?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
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

fn is_up(port: u16, probe: Probe) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    match probe {
        Probe::Ping => answers_ping(addr),
        Probe::Listen => TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok(),
    }
}

/// One `redis-server` child on `127.0.0.1:<port>`; killed (SIGKILL) on drop.
#[derive(Debug)]
pub struct RedisProcess {
    port: u16,
    /// The arguments after the defaults (they may override `--port`).
    extra: Vec<String>,
    probe: Probe,
    child: Option<Child>,
}

/// Starts `redis-server --port <port>` (no persistence, quiet log) with
/// `extra` arguments appended (they may override `--port`, e.g.
/// `--port 0 --tls-port <port>`), waits until `probe` succeeds on `port`,
/// and arms a watchdog that kills it once this process is gone.
pub fn start_server(port: u16, extra: &[String], probe: Probe) -> Result<RedisProcess, String> {
    let mut process = RedisProcess::spawn(port, extra, probe)?;
    process.wait_up(START_TIMEOUT)?;
    Ok(process)
}

/// [`start_server`] on a free port, retrying when the port was taken in
/// between.
pub fn start_server_on_free_port(extra: &[String], probe: Probe) -> Result<RedisProcess, String> {
    let mut last_error = String::new();
    for _ in 0..5 {
        match start_server(free_port(), extra, probe) {
            Ok(process) => return Ok(process),
            Err(err) => last_error = err,
        }
    }
    Err(format!("could not start a throwaway redis-server: {last_error}"))
}

impl RedisProcess {
    /// Spawns the server without waiting for it (see [`Self::wait_up`]);
    /// its watchdog is armed at once.
    pub fn spawn(port: u16, extra: &[String], probe: Probe) -> Result<Self, String> {
        let mut process = RedisProcess {
            port,
            extra: extra.to_vec(),
            probe,
            child: None,
        };
        process.respawn()?;
        Ok(process)
    }

    /// Kills the server if it runs, and spawns it again on its port with
    /// the same arguments, without waiting for it (a fresh, empty server;
    /// a cluster node keeps its `nodes.conf`).
    pub fn respawn(&mut self) -> Result<(), String> {
        self.kill();
        let spawned = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .args(["--daemonize", "no"])
            .args(["--loglevel", "warning"])
            .arg("--dir")
            .arg(std::env::temp_dir())
            .args(&self.extra)
            .stdin(Stdio::null())
            // The log goes to stdout: kept to explain a failed start.
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn();
        let child = match spawned {
            Ok(child) => child,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Err(format!(
                    "`redis-server` is missing: the Redis tests need a Redis. Install it \
                     (`apt-get install redis-server`), run one on 127.0.0.1:6379, or set \
                     {REDIS_URL_ENV}=redis://host:port"
                ))
            }
            Err(err) => return Err(format!("could not start `redis-server`: {err}")),
        };
        spawn_watchdog(child.id());
        self.child = Some(child);
        Ok(())
    }

    /// Waits (blocking) until the server is up, probing every millisecond;
    /// the time it took. Fails when the server exits or `limit` passes
    /// (and then kills it).
    pub fn wait_up(&mut self, limit: Duration) -> Result<Duration, String> {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                let mut log = String::new();
                if let Some(mut pipe) = self.child.as_mut().and_then(|c| c.stdout.take()) {
                    let _ = pipe.read_to_string(&mut log);
                }
                self.child = None;
                return Err(format!("redis-server on port {} exited ({status}): {log}", self.port));
            }
            if self.child.is_none() {
                return Err(format!("redis-server on port {} is not running", self.port));
            }
            if is_up(self.port, self.probe) {
                // Drain the log so that the server never blocks on a full pipe.
                if let Some(mut pipe) = self.child.as_mut().and_then(|c| c.stdout.take()) {
                    std::thread::spawn(move || std::io::copy(&mut pipe, &mut std::io::sink()));
                }
                return Ok(started.elapsed());
            }
            if started.elapsed() > limit {
                self.kill();
                return Err(format!(
                    "redis-server on port {} did not answer within {limit:?}",
                    self.port
                ));
            }
            std::thread::sleep(PROBE_EVERY);
        }
    }

    /// [`Self::wait_up`] from async code (on a blocking thread).
    pub async fn wait_up_async(&mut self, limit: Duration) -> Result<Duration, String> {
        self.off_runtime(move |process| process.wait_up(limit)).await
    }

    /// [`Self::restart`] from async code (on a blocking thread).
    pub async fn restart_async(&mut self) -> Result<(), String> {
        self.off_runtime(RedisProcess::restart).await
    }

    /// Runs blocking `work` on this process on a blocking thread.
    async fn off_runtime<T: Send + 'static>(
        &mut self,
        work: impl FnOnce(&mut RedisProcess) -> T + Send + 'static,
    ) -> T {
        let placeholder = RedisProcess {
            port: self.port,
            extra: self.extra.clone(),
            probe: self.probe,
            child: None,
        };
        let mut process = std::mem::replace(self, placeholder);
        let (process, output) = tokio::task::spawn_blocking(move || {
            let output = work(&mut process);
            (process, output)
        })
        .await
        .expect("the redis-server process thread panicked");
        *self = process;
        output
    }

    /// Kills a stopped server and starts it again on the same port,
    /// waiting until it is up; retries briefly while the port is still
    /// held by the old process. Blocking.
    pub fn restart(&mut self) -> Result<(), String> {
        let mut last_error = String::new();
        for _ in 0..10 {
            self.respawn()?;
            match self.wait_up(START_TIMEOUT) {
                Ok(_) => return Ok(()),
                Err(err) => last_error = err,
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!(
            "could not restart redis-server on port {}: {last_error}",
            self.port
        ))
    }

    /// Kills the server (SIGKILL: no goodbye to its clients; works on a
    /// frozen one too) and waits until it is gone. Its data is lost.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Whether it runs (was started and has not exited).
    pub fn running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Freezes the server (SIGSTOP): connections stay open, nothing answers.
    pub fn pause(&self) -> Result<(), String> {
        self.signal("STOP")
    }

    /// Thaws a [`Self::pause`]d server (SIGCONT).
    pub fn resume(&self) -> Result<(), String> {
        self.signal("CONT")
    }

    fn signal(&self, signal: &str) -> Result<(), String> {
        let pid = self
            .pid()
            .ok_or_else(|| format!("redis-server on {} is not running", self.port))?;
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string())
            .status()
            .map_err(|e| format!("kill -{signal}: {e}"))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("kill -{signal} {pid} failed"))
        }
    }

    /// Its process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for RedisProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Kills the server `redis_pid` once this process has exited; exits by
/// itself when the server is already gone.
fn spawn_watchdog(redis_pid: u32) {
    let script = format!(
        "while kill -0 {me} 2>/dev/null; do kill -0 {redis_pid} 2>/dev/null || exit 0; sleep 1; done; kill -9 {redis_pid} 2>/dev/null",
        me = std::process::id()
    );
    spawn_detached_shell(&script);
}

/// Removes `dir` once this process has exited (best effort).
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

/// A `redis-server` of one test's (or benchmark's) own, killed when dropped.
#[derive(Debug)]
pub struct PrivateRedis {
    process: RedisProcess,
    url: String,
    stats: tokio::sync::OnceCell<MultiplexedConnection>,
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
    tokio::task::spawn_blocking(move || PrivateRedis::start(&extra))
        .await
        .expect("starting redis-server panicked")
        .unwrap_or_else(|e| panic!("{e}"))
}

impl PrivateRedis {
    /// Starts one on a free port (blocking; for code outside a runtime).
    pub fn start(extra: &[String]) -> Result<Self, String> {
        let process = start_server_on_free_port(extra, Probe::Ping)?;
        Ok(PrivateRedis {
            url: format!("redis://127.0.0.1:{}", process.port()),
            process,
            stats: tokio::sync::OnceCell::new(),
        })
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.process.port()
    }

    /// The process (to kill, restart, freeze it).
    pub fn process(&mut self) -> &mut RedisProcess {
        &mut self.process
    }

    /// Its process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.process.pid()
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

    /// A blocking connection (5 s connect timeout), for code outside a runtime.
    pub fn blocking_connection(&self) -> redis::RedisResult<redis::Connection> {
        redis::Client::open(self.url.as_str())?.get_connection_with_timeout(Duration::from_secs(5))
    }

    /// Empties this server (`FLUSHALL SYNC`). Only a server this process
    /// started can be flushed: a shared one never is.
    pub fn flush(&self) -> Result<(), String> {
        let mut conn = self.blocking_connection().map_err(|e| e.to_string())?;
        redis::cmd("FLUSHALL")
            .arg("SYNC")
            .query::<()>(&mut conn)
            .map_err(|e| e.to_string())
    }

    /// Kills the server (SIGKILL: no goodbye to its clients) and waits
    /// until it is gone. Its data is lost (nothing is persisted).
    pub fn kill(&mut self) {
        self.process.kill();
    }

    /// Starts a new, empty server on the same port (after [`Self::kill`]),
    /// waiting until it answers `PING`.
    pub async fn restart(&mut self) {
        self.process.restart_async().await.unwrap_or_else(|e| panic!("{e}"));
        self.stats = tokio::sync::OnceCell::new();
    }

    /// Freezes the server (SIGSTOP): connections stay open, nothing answers.
    pub fn pause(&self) {
        self.process.pause().unwrap_or_else(|e| panic!("{e}"));
    }

    /// Thaws a [`Self::pause`]d server (SIGCONT).
    pub fn resume(&self) {
        self.process.resume().unwrap_or_else(|e| panic!("{e}"));
    }
}
