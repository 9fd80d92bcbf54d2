//! Spawning the example binaries as a user would: configured only by the
//! environment of the example-server contract, reached over real TCP.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Which example server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppKind {
    /// `axum-app` (tokengate-tower).
    Axum,
    /// `actix-app` (tokengate-actix).
    Actix,
    /// `live-sessions` (websockets closed when their session ends elsewhere).
    LiveSessions,
}

impl AppKind {
    fn binary(self) -> &'static str {
        match self {
            AppKind::Axum => "axum-app",
            AppKind::Actix => "actix-app",
            AppKind::LiveSessions => "live-sessions",
        }
    }
}

/// Which store the app runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// The embedded store (no `REDIS_URL`).
    Memory,
    /// A standalone Redis at this URL.
    Redis(String),
    /// A Redis Cluster with these seed nodes.
    Cluster(Vec<String>),
}

/// Where the example binaries are: next to the test executable's `deps`.
pub fn binary_path(kind: AppKind) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test executable lives in target/<profile>/deps");
    let path = profile_dir.join(kind.binary());
    assert!(
        path.exists(),
        "{} is missing: build the example binaries first with `cargo build -p tokengate-examples` \
         (scripts/test.sh does this)",
        path.display()
    );
    path
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Settings for one app process.
#[derive(Debug, Clone)]
pub struct AppSpec {
    /// Which binary.
    pub kind: AppKind,
    /// Which store.
    pub backend: Backend,
    /// `TOKENGATE_PREFIX`.
    pub prefix: String,
    /// `TOKENGATE_SECRET` (hex).
    pub secret_hex: String,
    /// `TOKENGATE_API_KEY`.
    pub api_key: String,
    /// `TOKENGATE_PROJECT`.
    pub project: String,
    /// `TOKENGATE_INSECURE_COOKIES=1` when true.
    pub insecure_cookies: bool,
    /// Extra environment variables.
    pub extra_env: Vec<(String, String)>,
    /// When set, the app's stdout and stderr are written to this file
    /// (created or truncated) instead of stdout discarded and stderr
    /// inherited: for tests that read the app's log.
    pub log_file: Option<PathBuf>,
    /// The port to listen on (default: a free one chosen at start).
    pub port: Option<u16>,
}

impl AppSpec {
    /// A spec with a random prefix, secret and API key.
    pub fn new(kind: AppKind, backend: Backend) -> Self {
        AppSpec {
            kind,
            backend,
            prefix: crate::redis_harness::unique_prefix(),
            secret_hex: random_hex(64),
            api_key: random_hex(40),
            project: "testproject".to_owned(),
            insecure_cookies: true,
            extra_env: Vec::new(),
            log_file: None,
            port: None,
        }
    }

    /// Delivers email to `smtp` and SMS to `sms` (the production setup:
    /// real channels, no development mode on Redis).
    pub fn delivering_to(mut self, smtp: &crate::sinks::SmtpSink, sms: &crate::sinks::SmsSink) -> Self {
        self.extra_env.push(("TOKENGATE_SMTP_URL".into(), smtp.url()));
        self.extra_env.push(("TOKENGATE_SMS_WEBHOOK".into(), sms.url()));
        self
    }

    /// The same store, prefix, secret, key and project for another app kind.
    pub fn sibling(&self, kind: AppKind) -> Self {
        AppSpec { kind, ..self.clone() }
    }
}

/// Random lowercase hex from the OS CSPRNG.
pub fn random_hex(len: usize) -> String {
    tokengate_testing::random_hex(len)
}

/// A running example server; killed on drop.
#[derive(Debug)]
pub struct RunningApp {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub origin: String,
    /// The spec it was started with.
    pub spec: AppSpec,
}

impl RunningApp {
    /// Starts the app and waits until `/public` answers (at most 20 s).
    pub async fn start(spec: AppSpec) -> RunningApp {
        let port = spec.port.unwrap_or_else(free_port);
        let mut command = Command::new(binary_path(spec.kind));
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("TOKENGATE_LISTEN", format!("127.0.0.1:{port}"))
            .env("TOKENGATE_PREFIX", &spec.prefix)
            .env("TOKENGATE_SECRET", &spec.secret_hex)
            .env("TOKENGATE_API_KEY", &spec.api_key)
            .env("TOKENGATE_PROJECT", &spec.project)
            .env(
                "RUST_LOG",
                std::env::var("TOKENGATE_TEST_APP_LOG").unwrap_or_else(|_| "error".to_owned()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        if spec.insecure_cookies {
            command.env("TOKENGATE_INSECURE_COOKIES", "1");
        }
        match &spec.backend {
            Backend::Memory => {}
            Backend::Redis(url) => {
                command.env("REDIS_URL", url);
            }
            Backend::Cluster(nodes) => {
                command.env("REDIS_CLUSTER_NODES", nodes.join(","));
            }
        }
        for (key, value) in &spec.extra_env {
            command.env(key, value);
        }
        if let Some(path) = &spec.log_file {
            let file = std::fs::File::create(path).expect("create the app's log file");
            let copy = file.try_clone().expect("clone the log file handle");
            command.stdout(Stdio::from(copy)).stderr(Stdio::from(file));
        }
        let child = command.spawn().expect("spawn the example app");
        let app = RunningApp {
            child,
            origin: format!("http://127.0.0.1:{port}"),
            spec,
        };
        app.wait_ready().await;
        app
    }

    async fn wait_ready(&self) {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(response) = client.get(format!("{}/public", self.origin)).send().await {
                if response.status().is_success() {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "{:?} did not come up at {}",
                self.spec.kind,
                self.origin
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Runs an SDK check script (`command`, a `python` or `node` process)
    /// against this app, with `TG_ENDPOINT`, `TG_PROJECT` and `TG_API_KEY`
    /// set; asserts that it exits successfully and prints `passed`.
    pub async fn run_sdk_check(&self, mut command: Command, passed: &'static str) {
        command
            .env("TG_ENDPOINT", self.api(""))
            .env("TG_PROJECT", &self.spec.project)
            .env("TG_API_KEY", &self.spec.api_key);
        let kind = self.spec.kind;
        let output = tokio::task::spawn_blocking(move || command.output())
            .await
            .expect("the SDK check's thread")
            .unwrap_or_else(|e| panic!("{kind:?}: cannot run the SDK check: {e}"));
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "{kind:?}: SDK check failed\n{stdout}\n{stderr}"
        );
        assert!(stdout.contains(passed), "{kind:?}: no {passed:?} in\n{stdout}");
    }

    /// `<origin>/v1<path>`.
    pub fn api(&self, path: &str) -> String {
        format!("{}/v1{}", self.origin, path)
    }

    /// `<origin><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.origin, path)
    }

    /// The session cookie's name.
    pub fn cookie_name(&self) -> String {
        format!("a_session_{}", self.spec.project)
    }

    /// Whether the process has exited (crashed, panicked out, or stopped).
    pub fn has_exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }

    /// Stops the process (drop does this too).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RunningApp {
    fn drop(&mut self) {
        self.stop();
    }
}
