//! A private `redis-server` to break on purpose: `DEBUG` enabled (for
//! `DEBUG SLEEP`), killed with SIGKILL and started again on the same port.
//! Killed when dropped, and by a watchdog if the test process dies first.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `redis-server` of one test's own with `enable-debug-command local`.
#[derive(Debug)]
pub struct FaultyRedis {
    child: Option<Child>,
    port: u16,
}

impl FaultyRedis {
    /// Starts one on a free port (retrying if the port is taken meanwhile).
    pub async fn start() -> FaultyRedis {
        tokio::task::spawn_blocking(|| {
            let mut last = String::new();
            for _ in 0..5 {
                let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
                    .and_then(|l| l.local_addr())
                    .map(|a| a.port())
                    .expect("a free port");
                match spawn(port) {
                    Ok(child) => {
                        return FaultyRedis {
                            child: Some(child),
                            port,
                        }
                    }
                    Err(error) => last = error,
                }
            }
            panic!("could not start a private redis-server: {last}")
        })
        .await
        .expect("starting redis-server")
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// SIGKILL, and wait until it is gone (its data goes with it).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// A fresh, empty server on the same port (after [`FaultyRedis::kill`]).
    pub async fn restart(&mut self) {
        self.kill();
        let port = self.port;
        let child = tokio::task::spawn_blocking(move || {
            let mut last = String::new();
            for _ in 0..20 {
                match spawn(port) {
                    Ok(child) => return child,
                    Err(error) => last = error,
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            panic!("could not restart redis-server on port {port}: {last}")
        })
        .await
        .expect("restarting redis-server");
        self.child = Some(child);
    }
}

impl Drop for FaultyRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

fn spawn(port: u16) -> Result<Child, String> {
    let mut child = Command::new("redis-server")
        .args(["--port", &port.to_string()])
        .args(["--bind", "127.0.0.1"])
        .args(["--save", ""])
        .args(["--appendonly", "no"])
        .args(["--daemonize", "no"])
        .args(["--loglevel", "warning"])
        .args(["--enable-debug-command", "local"])
        .arg("--dir")
        .arg(std::env::temp_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("spawn redis-server (apt-get install redis-server): {e}"))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            let mut log = String::new();
            if let Some(mut out) = child.stdout.take() {
                let _ = out.read_to_string(&mut log);
            }
            return Err(format!("redis-server on port {port} exited ({status}): {log}"));
        }
        if pong(port) {
            if let Some(mut out) = child.stdout.take() {
                std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
            }
            watchdog(child.id());
            return Ok(child);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("redis-server on port {port} did not answer"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn pong(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let mut reply = [0u8; 5];
    stream.write_all(b"PING\r\n").is_ok() && stream.read_exact(&mut reply).is_ok() && &reply == b"+PONG"
}

/// Kills `pid` once this test process is gone.
fn watchdog(pid: u32) {
    let script = format!(
        "while kill -0 {me} 2>/dev/null; do kill -0 {pid} 2>/dev/null || exit 0; sleep 1; done; kill -9 {pid} 2>/dev/null",
        me = std::process::id()
    );
    let _ = Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
}
