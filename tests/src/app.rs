//! Spawning the example binaries as a user would: configured only by the
//! environment of the example-server contract, reached over real TCP.
//!
//! The binaries are the ones `cargo build --workspace --bins` left next to
//! the test executable. `cargo test` does not rebuild them, so before one
//! is started [`binary_path`] checks it against the sources it was built
//! from (cargo's dep-info, `target/<profile>/<binary>.d`: every file of
//! every workspace crate it links, static files included) and fails,
//! naming the changed file and the command to rebuild, when one is newer.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

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
    /// The binary's name.
    pub fn binary(self) -> &'static str {
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

/// The command that rebuilds the example binaries.
pub const REBUILD: &str = "cargo build --workspace --bins";

/// Where the example binaries are: next to the test executable's `deps`.
/// Panics when the binary is missing or older than a source it is built
/// from ([`stale_source`]).
pub fn binary_path(kind: AppKind) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test executable lives in target/<profile>/deps");
    let path = profile_dir.join(kind.binary());
    assert!(
        path.exists(),
        "{} is missing: build the example binaries first with `{REBUILD}` (scripts/test.sh does this)",
        path.display()
    );
    if let Err(why) = check_fresh(&path) {
        panic!("{why}");
    }
    path
}

/// `Ok` when no workspace source `binary` was built from (as cargo's
/// dep-info file beside it lists them) changed after it was built; else
/// says which binary is stale, because of which file, and how to rebuild.
pub fn check_fresh(binary: &Path) -> Result<(), String> {
    check_fresh_in(binary, &workspace_root())
}

fn check_fresh_in(binary: &Path, workspace: &Path) -> Result<(), String> {
    match stale_source_in(binary, workspace)? {
        None => Ok(()),
        Some(source) => Err(format!(
            "{} is stale: {} changed after it was built, and `cargo test` does not rebuild the example \
             binaries. Rebuild them with `{REBUILD}` (scripts/test.sh does this), then run the tests again.",
            binary.display(),
            source.display()
        )),
    }
}

/// The newest source of `binary` that is newer than it, if any: every path
/// of the workspace (outside `target/`) in cargo's dep-info file
/// `<binary>.d`, which lists all files of every crate the binary links
/// (sources, `include_str!` data, static files).
pub fn stale_source(binary: &Path) -> Result<Option<PathBuf>, String> {
    stale_source_in(binary, &workspace_root())
}

/// [`stale_source`] for the sources under `workspace`.
fn stale_source_in(binary: &Path, workspace: &Path) -> Result<Option<PathBuf>, String> {
    let built = modified(binary)?;
    let dep_info = binary.with_extension("d");
    let text = std::fs::read_to_string(&dep_info).map_err(|e| {
        format!(
            "cannot read {} ({e}) to check that {} is up to date: rebuild with `{REBUILD}`",
            dep_info.display(),
            binary.display()
        )
    })?;
    let target = binary
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let mut newest: Option<(SystemTime, PathBuf)> = None;
    for source in dep_info_paths(&text) {
        let source = workspace.join(source);
        if !source.starts_with(workspace) || source.starts_with(&target) {
            continue;
        }
        // A source that is gone was removed or renamed: its parent module
        // changed too, and that one is listed.
        let Ok(changed) = modified(&source) else { continue };
        if changed > built && newest.as_ref().is_none_or(|(t, _)| changed > *t) {
            newest = Some((changed, source));
        }
    }
    Ok(newest.map(|(_, path)| path))
}

fn modified(path: &Path) -> Result<SystemTime, String> {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// The workspace root (the parent of this crate's directory).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate lives in the workspace")
        .to_path_buf()
}

/// The prerequisites of a Makefile-style dep-info file (`target: a b\ c`),
/// with `\ ` unescaped.
fn dep_info_paths(text: &str) -> Vec<PathBuf> {
    let mut paths = Vec::new();
    for line in text.lines() {
        let Some((_, deps)) = line.split_once(": ") else {
            continue;
        };
        let mut current = String::new();
        let mut chars = deps.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    if let Some(next) = chars.next() {
                        current.push(next);
                    }
                }
                ' ' => {
                    if !current.is_empty() {
                        paths.push(PathBuf::from(std::mem::take(&mut current)));
                    }
                }
                c => current.push(c),
            }
        }
        if !current.is_empty() {
            paths.push(PathBuf::from(current));
        }
    }
    paths
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
    /// Where the binary is (default: next to the test executable, checked
    /// to be up to date by [`binary_path`]).
    pub bin_dir: Option<PathBuf>,
    /// `RUST_LOG` (default: `TOKENGATE_TEST_APP_LOG`, else `error`).
    pub log_level: Option<String>,
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
            bin_dir: None,
            log_level: None,
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
        Self::try_start(spec).await.unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`RunningApp::start`], failing with a message (and the end of the
    /// app's log, when it has one) instead of panicking.
    pub async fn try_start(spec: AppSpec) -> Result<RunningApp, String> {
        let port = spec.port.unwrap_or_else(free_port);
        let binary = match &spec.bin_dir {
            Some(dir) => {
                let path = dir.join(spec.kind.binary());
                if !path.exists() {
                    return Err(format!("{} is missing", path.display()));
                }
                path
            }
            None => binary_path(spec.kind),
        };
        let mut command = Command::new(&binary);
        let log_level = spec
            .log_level
            .clone()
            .unwrap_or_else(|| std::env::var("TOKENGATE_TEST_APP_LOG").unwrap_or_else(|_| "error".to_owned()));
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("TOKENGATE_LISTEN", format!("127.0.0.1:{port}"))
            .env("TOKENGATE_PREFIX", &spec.prefix)
            .env("TOKENGATE_SECRET", &spec.secret_hex)
            .env("TOKENGATE_API_KEY", &spec.api_key)
            .env("TOKENGATE_PROJECT", &spec.project)
            .env("RUST_LOG", log_level)
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
            let file = std::fs::File::create(path).map_err(|e| format!("create {}: {e}", path.display()))?;
            let copy = file.try_clone().map_err(|e| format!("the log file: {e}"))?;
            command.stdout(Stdio::from(copy)).stderr(Stdio::from(file));
        }
        let child = command
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        let mut app = RunningApp {
            child,
            origin: format!("http://127.0.0.1:{port}"),
            spec,
        };
        app.wait_ready().await?;
        Ok(app)
    }

    async fn wait_ready(&mut self) -> Result<(), String> {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(response) = client.get(format!("{}/public", self.origin)).send().await {
                if response.status().is_success() {
                    return Ok(());
                }
            }
            if self.has_exited() || Instant::now() > deadline {
                return Err(format!(
                    "{:?} did not come up at {}{}",
                    self.spec.kind,
                    self.origin,
                    self.spec
                        .log_file
                        .as_ref()
                        .map_or(String::new(), |_| format!("; its log:\n{}", self.log_tail(30)))
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The `host:port` it listens on.
    pub fn addr(&self) -> &str {
        self.origin.trim_start_matches("http://")
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The last `lines` lines of its log ([`AppSpec::log_file`]).
    pub fn log_tail(&self, lines: usize) -> String {
        let text = self.log_text();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// The lines of its log ([`AppSpec::log_file`]) at WARN or ERROR level
    /// or with a panic, but for the start-up notes about unset optional
    /// settings, without colour codes.
    pub fn log_problems(&self) -> Vec<String> {
        self.log_text()
            .lines()
            .filter(|l| l.contains("WARN") || l.contains("ERROR") || l.contains("panicked"))
            .filter(|l| !l.contains(" is not set"))
            .map(strip_ansi)
            .collect()
    }

    fn log_text(&self) -> String {
        self.spec
            .log_file
            .as_ref()
            .and_then(|path| std::fs::read_to_string(path).ok())
            .unwrap_or_default()
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

/// An app configured as in production (email to an SMTP sink, SMS to a
/// webhook sink, no development mode on Redis), its HTTP client and its
/// sinks: what most HTTP scenarios start with.
pub struct DeliveringApp {
    /// The running app.
    pub app: RunningApp,
    /// Its HTTP client.
    pub api: crate::client::Api,
    /// Where its email goes.
    pub smtp: crate::sinks::SmtpSink,
    /// Where its SMS go.
    pub sms: crate::sinks::SmsSink,
}

impl DeliveringApp {
    /// Starts the sinks, then the app with `env` added to its environment.
    pub async fn start(kind: AppKind, backend: Backend, env: &[(&str, &str)]) -> Self {
        let smtp = crate::sinks::SmtpSink::start().await;
        let sms = crate::sinks::SmsSink::start().await;
        let mut spec = AppSpec::new(kind, backend).delivering_to(&smtp, &sms);
        spec.extra_env
            .extend(env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        let app = RunningApp::start(spec).await;
        let api = crate::client::Api::new(&app);
        DeliveringApp { app, api, smtp, sms }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_changed_after_the_build_makes_the_binary_stale() {
        let root = tempfile::tempdir().unwrap();
        let workspace = root.path().join("ws");
        let profile = workspace.join("target").join("debug");
        std::fs::create_dir_all(workspace.join("core/src")).unwrap();
        std::fs::create_dir_all(&profile).unwrap();
        let lib = workspace.join("core/src/lib.rs");
        let data = workspace.join("core/data.json");
        let outside = root.path().join("registry.rs");
        let binary = profile.join("app");
        for file in [&lib, &data, &outside, &binary] {
            std::fs::write(file, "x").unwrap();
        }
        let dep_info = format!(
            "{}: {} {} {}\n",
            binary.display(),
            lib.display(),
            data.display(),
            outside.display()
        );
        std::fs::write(profile.join("app.d"), dep_info).unwrap();
        let at = |file: &Path, seconds: u64| {
            let when = SystemTime::UNIX_EPOCH + Duration::from_secs(seconds);
            std::fs::File::options()
                .write(true)
                .open(file)
                .unwrap()
                .set_modified(when)
                .unwrap();
        };
        at(&binary, 2_000_000_000);
        for file in [&lib, &data, &outside] {
            at(file, 1_900_000_000);
        }
        assert_eq!(stale_source_in(&binary, &workspace).unwrap(), None);
        // A file outside the workspace (a registry crate) does not count.
        at(&outside, 2_100_000_000);
        assert_eq!(stale_source_in(&binary, &workspace).unwrap(), None);
        // A data file the core includes does; the newest is named.
        at(&data, 2_100_000_000);
        at(&lib, 2_200_000_000);
        assert_eq!(stale_source_in(&binary, &workspace).unwrap(), Some(lib.clone()));
        assert!(check_fresh_in(&binary, &workspace)
            .unwrap_err()
            .contains("cargo build --workspace --bins"));
        // Rebuilt: fresh again.
        at(&binary, 2_300_000_000);
        assert_eq!(stale_source_in(&binary, &workspace).unwrap(), None);
    }

    #[test]
    fn reads_dep_info() {
        let text = "/t/debug/app: /w/core/src/lib.rs /w/a\\ b.rs\n/w/core/src/lib.rs:\n";
        assert_eq!(
            dep_info_paths(text),
            vec![PathBuf::from("/w/core/src/lib.rs"), PathBuf::from("/w/a b.rs"),]
        );
    }
}
