//! The child processes of the resilience binary: throwaway `redis-server`s
//! (standalone and a 3 + 3 node cluster) on free loopback ports, and the
//! example apps as black boxes. Every child is killed (SIGKILL) when its
//! handle is dropped, on success, on error and on Ctrl-C alike.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child process, killed on drop.
#[derive(Debug)]
pub struct Proc {
    name: String,
    child: Option<Child>,
}

impl Proc {
    fn new(name: String, child: Child) -> Self {
        Proc {
            name,
            child: Some(child),
        }
    }

    /// Its process id (while running).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGKILL and reap.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends `SIGSTOP` / `SIGCONT` (`signal` is `STOP` or `CONT`).
    pub fn signal(&self, signal: &str) -> Result<(), String> {
        let pid = self.pid().ok_or_else(|| format!("{} is not running", self.name))?;
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

    /// Whether it has exited on its own.
    pub fn exited(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => !matches!(child.try_wait(), Ok(None)),
            None => true,
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // SIGKILL works on a stopped (SIGSTOP) process too.
        self.kill();
    }
}

/// A directory removed on drop.
#[derive(Debug)]
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// `<tmp>/tokengate-resilience-<pid>-<tag>`.
    pub fn new(tag: &str) -> Result<Self, String> {
        let dir = std::env::temp_dir().join(format!("tokengate-resilience-{}-{tag}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
        Ok(TempDir(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A free loopback port.
pub fn free_port() -> Result<u16, String> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

fn random_u64() -> u64 {
    let mut bytes = [0u8; 8];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .is_ok()
    {
        u64::from_le_bytes(bytes)
    } else {
        RandomState::new().build_hasher().finish()
    }
}

/// `len` random lowercase hex characters (from `/dev/urandom`).
pub fn random_hex(len: usize) -> String {
    let mut bytes = vec![0u8; len.div_ceil(2)];
    let read = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    if read.is_err() {
        for chunk in bytes.chunks_mut(8) {
            let r = random_u64().to_le_bytes();
            chunk.copy_from_slice(&r[..chunk.len()]);
        }
    }
    let mut hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    hex.truncate(len);
    hex
}

/// A port for a cluster node: at most 55535 (its bus port, +10000, must
/// exist), both free, not clashing with `taken` nor their bus ports.
pub fn cluster_port(taken: &[u16]) -> Result<u16, String> {
    const MAX_PORT: u64 = 55535;
    for _ in 0..1000 {
        let port = (20000 + random_u64() % (MAX_PORT - 20000 + 1)) as u16;
        if taken
            .iter()
            .any(|&t| t == port || t + 10000 == port || t == port + 10000)
        {
            continue;
        }
        let free = |p: u16| TcpListener::bind((Ipv4Addr::LOCALHOST, p)).is_ok();
        if free(port) && free(port + 10000) {
            return Ok(port);
        }
    }
    Err("no free port pair for a cluster node".to_owned())
}

/// `redis-server --version`.
pub fn redis_version() -> Result<String, String> {
    let out = Command::new("redis-server")
        .arg("--version")
        .output()
        .map_err(|e| format!("cannot run redis-server ({e}); install it (apt-get install -y redis-server)"))?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// A `redis-server` on loopback without persistence.
#[derive(Debug)]
pub struct RedisNode {
    /// Its client port.
    pub port: u16,
    args: Vec<String>,
    /// The process (`kill` it for a crash).
    pub proc: Proc,
}

impl RedisNode {
    /// Starts `redis-server` on `port` with `extra` arguments, in `dir`,
    /// and waits until it answers `PING` (at most 10 s).
    pub async fn start(port: u16, dir: &Path, extra: &[String]) -> Result<Self, String> {
        let mut args: Vec<String> = [
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--protected-mode",
            "yes",
            "--dir",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        args.push(dir.display().to_string());
        args.extend(extra.iter().cloned());
        let proc = spawn_redis(port, &args)?;
        let mut node = RedisNode { port, args, proc };
        node.wait_ping(Duration::from_secs(10)).await?;
        Ok(node)
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts a killed server again on its port with the same arguments
    /// (retrying while the port is still held), without waiting for it.
    pub fn respawn(&mut self) -> Result<(), String> {
        self.proc.kill();
        self.proc = spawn_redis(self.port, &self.args)?;
        Ok(())
    }

    /// Polls `PING` every millisecond until it answers; the time it took.
    pub async fn wait_ping(&mut self, limit: Duration) -> Result<Duration, String> {
        let start = Instant::now();
        loop {
            if ping(&self.url()).await {
                return Ok(start.elapsed());
            }
            if self.proc.exited() {
                return Err(format!("redis-server on {} exited", self.port));
            }
            if start.elapsed() > limit {
                return Err(format!(
                    "redis-server on {} did not answer PING within {limit:?}",
                    self.port
                ));
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

fn spawn_redis(port: u16, args: &[String]) -> Result<Proc, String> {
    let child = Command::new("redis-server")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start redis-server: {e}"))?;
    Ok(Proc::new(format!("redis-server:{port}"), child))
}

/// An async connection to `url`, bounded.
pub async fn connect(url: &str) -> Result<redis::aio::MultiplexedConnection, String> {
    let client = redis::Client::open(url).map_err(|e| format!("{url}: {e}"))?;
    tokio::time::timeout(Duration::from_secs(2), client.get_multiplexed_async_connection())
        .await
        .map_err(|_| format!("{url}: connect timed out"))?
        .map_err(|e| format!("{url}: {e}"))
}

/// Runs one command on `url`, bounded (2 s).
pub async fn query<T: redis::FromRedisValue>(url: &str, cmd: &redis::Cmd) -> Result<T, String> {
    let mut conn = connect(url).await?;
    tokio::time::timeout(Duration::from_secs(2), cmd.query_async::<T>(&mut conn))
        .await
        .map_err(|_| format!("{url}: command timed out"))?
        .map_err(|e| format!("{url}: {e}"))
}

async fn ping(url: &str) -> bool {
    matches!(query::<String>(url, &redis::cmd("PING")).await, Ok(pong) if pong == "PONG")
}

/// Settings of one example app.
#[derive(Debug, Clone)]
pub struct AppConfig {
    /// `axum-app` or `actix-app`.
    pub binary: &'static str,
    /// Environment besides `PATH`, `TOKENGATE_LISTEN` and `RUST_LOG`.
    pub env: Vec<(String, String)>,
}

/// A running example app, killed on drop; its log goes to a file.
#[derive(Debug)]
pub struct App {
    /// `axum-app` or `actix-app`.
    pub name: &'static str,
    /// Where it listens.
    pub addr: SocketAddr,
    log: PathBuf,
    proc: Proc,
}

impl App {
    /// Starts `config.binary` from `bin_dir` and waits until `/public`
    /// answers 200 (at most 20 s). The log goes to `<log_dir>/<name>-<port>.log`.
    pub async fn start(bin_dir: &Path, config: &AppConfig, log_dir: &Path) -> Result<Self, String> {
        let path = bin_dir.join(config.binary);
        if !path.exists() {
            return Err(format!(
                "{} is missing: build it with `cargo build --release -p tokengate-examples --bins`",
                path.display()
            ));
        }
        let port = free_port()?;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let log = log_dir.join(format!("{}-{port}.log", config.binary));
        let file = std::fs::File::create(&log).map_err(|e| format!("create {}: {e}", log.display()))?;
        let copy = file.try_clone().map_err(|e| format!("log file: {e}"))?;
        let mut command = Command::new(&path);
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("TOKENGATE_LISTEN", addr.to_string())
            .env("RUST_LOG", "warn")
            .envs(config.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::from(copy))
            .stderr(Stdio::from(file));
        let child = command
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", path.display()))?;
        let mut app = App {
            name: config.binary,
            addr,
            log,
            proc: Proc::new(config.binary.to_owned(), child),
        };
        let mut client = crate::http::Client::new(addr);
        client.timeout = Duration::from_secs(2);
        let start = Instant::now();
        loop {
            if matches!(client.get("/public", &[]).await, Ok(r) if r.status == 200) {
                return Ok(app);
            }
            if app.proc.exited() || start.elapsed() > Duration::from_secs(20) {
                return Err(format!(
                    "{} did not come up at {addr}; its log:\n{}",
                    config.binary,
                    app.log_tail(30)
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The last `lines` lines of its log.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Lines of its log at WARN or ERROR level (it runs with `RUST_LOG=warn`),
    /// but for the start-up notes about unset optional settings.
    pub fn log_problems(&self) -> Vec<String> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.lines()
            .filter(|l| l.contains("WARN") || l.contains("ERROR") || l.contains("panicked"))
            // The start-up notes about unset optional channels.
            .filter(|l| !l.contains(" is not set"))
            .map(strip_ansi)
            .collect()
    }

    /// Whether it has exited (crashed).
    pub fn exited(&mut self) -> bool {
        self.proc.exited()
    }

    /// Its process id.
    pub fn pid(&self) -> Option<u32> {
        self.proc.pid()
    }
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse::<f64>().ok())
        .filter(|t| *t > 0.0)
        .unwrap_or(100.0)
}

/// CPU seconds (user + system) used so far by the process `pid`
/// (`None`: this process), from `/proc/<pid>/stat`; 0 when unreadable.
pub fn process_cpu_seconds(pid: Option<u32>) -> f64 {
    let path = pid.map_or("/proc/self/stat".to_owned(), |p| format!("/proc/{p}/stat"));
    let Ok(text) = std::fs::read_to_string(path) else {
        return 0.0;
    };
    // The fields after the command name (which may hold spaces).
    let Some(rest) = text.rfind(')').map(|at| &text[at + 1..]) else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|i| fields.get(*i)?.parse::<f64>().ok())
        .sum();
    ticks / clock_ticks()
}

/// CPU seconds the whole machine has spent running processes (user, nice,
/// system, steal over all CPUs, from `/proc/stat`; interrupt time, mostly
/// loopback traffic, left out).
pub fn machine_busy_seconds() -> f64 {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = text.lines().find(|l| l.starts_with("cpu ")) else {
        return 0.0;
    };
    let fields: Vec<f64> = line.split_whitespace().skip(1).filter_map(|v| v.parse().ok()).collect();
    let busy: f64 = [0, 1, 2, 7].iter().filter_map(|i| fields.get(*i)).sum();
    busy / clock_ticks()
}

/// How much of the machine other processes used during a section.
#[derive(Debug, Clone, Copy)]
pub struct LoadProbe {
    wall: Instant,
    busy: f64,
    own: f64,
}

impl LoadProbe {
    /// Starts watching (before the section starts its children).
    pub fn start() -> Self {
        LoadProbe {
            wall: Instant::now(),
            busy: machine_busy_seconds(),
            own: process_cpu_seconds(None),
        }
    }

    /// The share (0..=1) of all CPUs used since [`Self::start`] by processes
    /// other than this one and `children` (all started after it; read
    /// before they are killed: the CPU time of a child killed earlier is
    /// counted as other load).
    pub fn other_load(&self, children: &[Option<u32>]) -> f64 {
        let busy = machine_busy_seconds() - self.busy;
        let own = process_cpu_seconds(None) - self.own
            + children
                .iter()
                .flatten()
                .map(|pid| process_cpu_seconds(Some(*pid)))
                .sum::<f64>();
        let cpus = std::thread::available_parallelism().map_or(1, usize::from) as f64;
        ((busy - own) / (self.wall.elapsed().as_secs_f64() * cpus)).clamp(0.0, 1.0)
    }
}

fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
