//! The throwaway `redis-server` the benchmark starts (and alone may flush),
//! plus the few admin queries it needs.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A `redis-server` child on a free loopback port, without persistence
/// (`--save "" --appendonly no`), killed on drop or on Ctrl-C.
#[derive(Debug)]
pub struct RedisServer {
    child: Arc<Mutex<Option<Child>>>,
    dir: PathBuf,
    /// `redis://127.0.0.1:<port>`.
    pub url: String,
    /// Output of `redis-server --version`.
    pub version: String,
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl RedisServer {
    /// Starts the server and waits until it answers `PING`.
    pub fn start() -> Result<Self, String> {
        let version = Command::new("redis-server").arg("--version").output().map_err(|e| {
            format!(
                "cannot run redis-server ({e}); install it (apt-get install -y redis-server) \
                     or use ./scripts/bench.sh, which does"
            )
        })?;
        let version = String::from_utf8_lossy(&version.stdout).trim().to_owned();
        let dir = std::env::temp_dir().join(format!("tokengate-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| format!("temp dir: {e}"))?;
        let port = free_port().map_err(|e| format!("no free port: {e}"))?;
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .args(["--daemonize", "no"])
            .args(["--protected-mode", "yes"])
            .arg("--dir")
            .arg(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start redis-server: {e}"))?;
        let server = RedisServer {
            child: Arc::new(Mutex::new(Some(child))),
            dir,
            url: format!("redis://127.0.0.1:{port}"),
            version,
        };
        server.kill_on_ctrl_c();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(mut conn) = server.admin() {
                if redis::cmd("PING").query::<String>(&mut conn).is_ok() {
                    return Ok(server);
                }
            }
            if Instant::now() > deadline {
                return Err("redis-server did not answer PING within 10 s".to_owned());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn kill_on_ctrl_c(&self) {
        let child = Arc::clone(&self.child);
        let dir = self.dir.clone();
        std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                return;
            };
            if runtime.block_on(tokio::signal::ctrl_c()).is_ok() {
                kill(&child);
                let _ = std::fs::remove_dir_all(&dir);
                eprintln!("interrupted: redis-server stopped");
                std::process::exit(130);
            }
        });
    }

    /// A blocking admin connection.
    pub fn admin(&self) -> redis::RedisResult<redis::Connection> {
        redis::Client::open(self.url.as_str())?.get_connection_with_timeout(Duration::from_secs(5))
    }

    /// Empties this server. Only ever called on the server this process
    /// started: the benchmark never flushes a Redis it did not start.
    pub fn flush_own(&self) -> Result<(), String> {
        let mut conn = self.admin().map_err(|e| e.to_string())?;
        redis::cmd("FLUSHALL")
            .arg("SYNC")
            .query::<()>(&mut conn)
            .map_err(|e| e.to_string())
    }
}

fn kill(child: &Mutex<Option<Child>>) {
    let mut guard = match child.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    };
    if let Some(mut child) = guard.take() {
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        kill(&self.child);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One field of `INFO <section>`.
pub fn info_field(conn: &mut redis::Connection, section: &str, field: &str) -> Option<String> {
    let text: String = redis::cmd("INFO").arg(section).query(conn).ok()?;
    text.lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .map(|v| v.trim().to_owned())
}

/// Redis CPU time so far (`used_cpu_sys + used_cpu_user`), seconds.
pub fn cpu_seconds(conn: &mut redis::Connection) -> f64 {
    let sys = info_field(conn, "cpu", "used_cpu_sys").and_then(|v| v.parse::<f64>().ok());
    let user = info_field(conn, "cpu", "used_cpu_user").and_then(|v| v.parse::<f64>().ok());
    sys.unwrap_or(f64::NAN) + user.unwrap_or(f64::NAN)
}

/// `used_memory`, bytes.
pub fn used_memory(conn: &mut redis::Connection) -> u64 {
    info_field(conn, "memory", "used_memory")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Number of keys.
pub fn dbsize(conn: &mut redis::Connection) -> u64 {
    redis::cmd("DBSIZE").query(conn).unwrap_or(0)
}

/// `MEMORY USAGE <key> SAMPLES 0` (exact), bytes; `None` for a missing key.
pub fn memory_usage(conn: &mut redis::Connection, key: &str) -> Option<u64> {
    redis::cmd("MEMORY")
        .arg("USAGE")
        .arg(key)
        .arg("SAMPLES")
        .arg(0)
        .query(conn)
        .ok()
        .flatten()
}
