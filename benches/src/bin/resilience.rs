//! # resilience
//!
//! Measures, from one run, the figures of issue 18 that used to be printed
//! (or asserted) by tests: how fast a revocation reaches another service
//! that caches sessions locally, how fast a request gets its 503 when
//! Redis is dead or frozen, how fast the apps recover, and how long a Redis
//! Cluster failover (planned and unplanned) disturbs requests.
//!
//! ```sh
//! cargo run --release -p tokengate-bench --bin resilience
//! ```
//!
//! The example apps (`axum-app`, `actix-app`) are black boxes: the binary
//! builds them (`cargo build --release -p tokengate-examples --bins`, when
//! run through cargo; `RESILIENCE_APP_DIR` names a directory holding
//! already built ones instead), starts them configured only by the
//! environment of the example-server contract, and talks HTTP/1.1 to them.
//! It starts its own `redis-server`s on free loopback ports (never the one
//! on 6379), kills them and the apps on exit, error or Ctrl-C, and prints a
//! markdown section for `benches/RESULTS.md` on stdout (progress goes to
//! stderr). `RESILIENCE_OUT=<path>` also writes the section to a file.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `RESILIENCE_ROUNDS` | `100` | revocation rounds per kind |
//! | `RESILIENCE_DEAD_REQUESTS` | `100` | requests per app while Redis is dead |
//! | `RESILIENCE_FROZEN_REQUESTS` | `50` | requests per app while Redis is frozen (each waits for the timeout) |
//! | `RESILIENCE_SECTIONS` | `revocation,outage,cluster` | which sections to run |
//! | `RESILIENCE_QUIET_WAIT` | `60` | seconds the whole run may wait, before its sections, for other processes to use less than 10% of the machine (each section reports what they used during it) |
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokengate_bench::machine::LoadProbe;
use tokengate_tests::app::{random_hex, AppKind, AppSpec, Backend, RunningApp};
use tokengate_tests::client::{Api, Method, Reply, TransportError};
use tokengate_tests::cluster::{try_start_cluster, Cluster, ClusterSpec};
use tokengate_tests::redis_harness::{connection, free_port, redis_version, PrivateRedis};

/// A client of one app: HTTP/1.1 keep-alive connections of its own, a
/// deadline of 10 s per request (connect, send, answer).
type Client = Api;

/// The local session cache TTL of the revocation measurement.
const CACHE_MS: u64 = 2000;
/// `TOKENGATE_REDIS_TIMEOUT_MS` of the outage and cluster measurements.
const REDIS_TIMEOUT_MS: u64 = 500;
/// `cluster-node-timeout` of the cluster.
const NODE_TIMEOUT_MS: u64 = 1000;
/// Period of the pollers: a request starts every 1 ms, or as soon as the
/// previous one is answered when that took longer.
const POLL: Duration = Duration::from_millis(1);
/// Longest a revocation may take before the round counts as not refused.
const REVOCATION_LIMIT: Duration = Duration::from_secs(5);
/// Longest a recovery may take before it counts as not recovered.
const RECOVERY_LIMIT: Duration = Duration::from_secs(20);

type Res<T> = Result<T, String>;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let result = tokio::select! {
        result = run() => result,
        _ = tokio::signal::ctrl_c() => Err("interrupted (every child process is killed)".to_owned()),
    };
    match result {
        Ok(markdown) => {
            println!("{markdown}");
            if let Ok(path) = std::env::var("RESILIENCE_OUT") {
                if let Err(e) = std::fs::write(&path, &markdown) {
                    eprintln!("cannot write {path}: {e}");
                    return ExitCode::from(1);
                }
                eprintln!("written to {path}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("resilience: {e}");
            ExitCode::from(2)
        }
    }
}

fn env_number(name: &str, default: usize) -> Res<usize> {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("{name} must be a positive number")),
        Err(_) => Ok(default),
    }
}

/// What every app of the run shares: binaries, secret, API key, log dir.
struct Setup {
    bin_dir: PathBuf,
    secret: String,
    api_key: String,
    logs: tempfile::TempDir,
}

impl Setup {
    /// An app of `kind` on `backend` with `extra` settings, its log (at
    /// `RUST_LOG=warn`) in a file of the run's log directory.
    fn app(&self, kind: AppKind, backend: Backend, extra: &[(&str, String)]) -> AppSpec {
        let mut spec = AppSpec::new(kind, backend);
        spec.prefix = format!("rs{}", random_hex(8));
        spec.secret_hex = self.secret.clone();
        spec.api_key = self.api_key.clone();
        spec.insecure_cookies = true;
        spec.extra_env = extra.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect();
        spec.bin_dir = Some(self.bin_dir.clone());
        spec.log_level = Some("warn".to_owned());
        self.logged(spec)
    }

    fn logged(&self, mut spec: AppSpec) -> AppSpec {
        let port = free_port();
        spec.port = Some(port);
        spec.log_file = Some(self.logs.path().join(format!("{}-{port}.log", spec.kind.binary())));
        spec
    }

    /// Two apps, axum and actix, with the same settings (prefix included).
    async fn pair(&self, backend: Backend, extra: &[(&str, String)]) -> Res<(RunningApp, RunningApp)> {
        let axum = self.app(AppKind::Axum, backend, extra);
        let actix = self.logged(axum.sibling(AppKind::Actix));
        let (a, b) = tokio::join!(RunningApp::try_start(axum), RunningApp::try_start(actix));
        Ok((a?, b?))
    }

    fn key(&self) -> [(&str, &str); 1] {
        [("X-Appwrite-Key", self.api_key.as_str())]
    }
}

async fn run() -> Res<String> {
    let rounds = env_number("RESILIENCE_ROUNDS", 100)?;
    let dead_requests = env_number("RESILIENCE_DEAD_REQUESTS", 100)?;
    let frozen_requests = env_number("RESILIENCE_FROZEN_REQUESTS", 50)?;
    let sections = std::env::var("RESILIENCE_SECTIONS").unwrap_or_else(|_| "revocation,outage,cluster".into());
    let version = redis_version()?;
    let setup = Setup {
        bin_dir: app_dir()?,
        secret: random_hex(64),
        api_key: random_hex(40),
        logs: tempfile::Builder::new()
            .prefix("tokengate-resilience-logs-")
            .tempdir()
            .map_err(|e| format!("a log directory: {e}"))?,
    };
    let started = Instant::now();
    let mut quiet_budget = Duration::from_secs(env_number("RESILIENCE_QUIET_WAIT", 60)? as u64);
    let mut waited = Duration::ZERO;
    let mut out = String::new();
    if sections.contains("revocation") {
        waited += wait_quiet(&mut quiet_budget).await;
        eprintln!("== revocation with the local session cache ({rounds} rounds per kind)");
        out += &revocation(&setup, rounds).await?;
    }
    if sections.contains("outage") {
        waited += wait_quiet(&mut quiet_budget).await;
        eprintln!("== dead and frozen Redis ({dead_requests} / {frozen_requests} requests per app)");
        out += &outage(&setup, dead_requests, frozen_requests).await?;
    }
    if sections.contains("cluster") {
        waited += wait_quiet(&mut quiet_budget).await;
        eprintln!("== Redis Cluster failover");
        out += &failover(&setup).await?;
    }
    let mut head = String::new();
    let _ = writeln!(head, "## Resilience (revocation, outages, failover)\n");
    let _ = writeln!(
        head,
        "Produced by `cargo run --release -p tokengate-bench --bin resilience` (issue 18: these figures are measured here, \
         not asserted by tests); every figure below is from one run of {:.0} s ({:.0} s of it waiting for other \
         processes to leave the machine quiet before a section), computed from its measurements. {}.\n",
        started.elapsed().as_secs_f64(),
        waited.as_secs_f64(),
        machine(&version)
    );
    let _ = writeln!(
        head,
        "The example apps run as black boxes (release builds of `axum-app` and `actix-app`, configured only by the \
         environment of the example-server contract, reached over HTTP/1.1 keep-alive from this process), each \
         section with its own throwaway `redis-server`s on free loopback ports. Percentiles are nearest-rank \
         (with 50 samples p99 is the largest). A poller starts a request every 1 ms (a tokio interval), or as soon as \
         the previous one is answered when that took longer, so a time found by polling is an upper bound, late \
         by at most one gap between polls (measured in the revocation section).\n"
    );
    Ok(head + &out)
}

/// Before a section: waits (out of `budget`) until other processes used
/// less than 10% of the machine over one second; the time waited.
async fn wait_quiet(budget: &mut Duration) -> Duration {
    let start = Instant::now();
    loop {
        let probe = LoadProbe::start();
        tokio::time::sleep(Duration::from_secs(1)).await;
        let other = probe.other_load(&[]);
        let waited = start.elapsed();
        if other < 0.1 || waited >= *budget {
            *budget = budget.saturating_sub(waited);
            if waited > Duration::from_millis(1500) || other >= 0.1 {
                eprintln!(
                    "   waited {:.0} s for a quiet machine; other processes at {:.0}% now",
                    waited.as_secs_f64(),
                    other * 100.0
                );
            }
            return waited;
        }
    }
}

/// Where the example binaries are: `RESILIENCE_APP_DIR`, or this binary's
/// own profile directory after building them there (when run by cargo).
fn app_dir() -> Res<PathBuf> {
    if let Ok(dir) = std::env::var("RESILIENCE_APP_DIR") {
        return Ok(PathBuf::from(dir));
    }
    let exe = std::env::current_exe().map_err(|e| format!("own path: {e}"))?;
    let dir = exe.parent().ok_or("own path has no directory")?.to_path_buf();
    if let Ok(cargo) = std::env::var("CARGO") {
        let release = dir.file_name().is_some_and(|n| n == "release");
        let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .ok_or("workspace root")?
            .to_path_buf();
        let mut build = Command::new(cargo);
        build
            .current_dir(&workspace)
            .args(["build", "-p", "tokengate-examples", "--bins"]);
        // What `cargo run` set for this binary: some build scripts (ring's)
        // watch e.g. CARGO_MANIFEST_DIR, and would be rebuilt for nothing.
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy().into_owned();
            if name.starts_with("CARGO_PKG_")
                || [
                    "CARGO_MANIFEST_DIR",
                    "CARGO_MANIFEST_PATH",
                    "CARGO_CRATE_NAME",
                    "CARGO_BIN_NAME",
                    "CARGO_PRIMARY_PACKAGE",
                    "CARGO_RUSTC_CURRENT_DIR",
                ]
                .contains(&name.as_str())
            {
                build.env_remove(&name);
            }
        }
        if release {
            build.arg("--release");
        }
        eprintln!(
            "building the example apps: cargo build {}-p tokengate-examples --bins",
            if release { "--release " } else { "" }
        );
        let status = build
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .status()
            .map_err(|e| format!("cannot run cargo: {e}"))?;
        if !status.success() {
            return Err("building the example apps failed".to_owned());
        }
    }
    Ok(dir)
}

fn machine(redis: &str) -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name")?.split_once(':'))
        .map_or("unknown CPU".to_owned(), |(_, v)| v.trim().to_owned());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or("unknown".to_owned(), |kb| {
            format!("{:.1} GiB", kb as f64 / 1024.0 / 1024.0)
        });
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let rustc = Command::new("rustc")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let redis = redis
        .split_whitespace()
        .find_map(|w| w.strip_prefix("v="))
        .unwrap_or(redis);
    format!(
        "Machine: {} UTC, {} CPUs (nproc, {cpu}), {memory}, kernel {}, Redis {redis}, {rustc}",
        chrono::Utc::now().format("%Y-%m-%d %H:%M"),
        std::thread::available_parallelism().map_or(0, usize::from),
        kernel.trim()
    )
}

// ---------------------------------------------------------------- helpers

/// A timer ticking every [`POLL`] (the first tick at once); a tick missed
/// while a request was under way comes as soon as it is awaited, and the
/// ones after keep to the 1 ms grid.
fn poll_timer() -> tokio::time::Interval {
    let mut timer = tokio::time::interval(POLL);
    timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    timer
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Nearest-rank quantile of sorted values.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((sorted.len() as f64 * q).ceil() as usize).max(1) - 1;
    sorted[rank.min(sorted.len() - 1)]
}

/// (p50, p99, max) of `values`, in their unit.
fn spread(values: &[f64]) -> (f64, f64, f64) {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    (quantile(&sorted, 0.5), quantile(&sorted, 0.99), quantile(&sorted, 1.0))
}

fn fmt_ms(v: f64) -> String {
    if v.is_nan() {
        "—".to_owned()
    } else if v < 10.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.0}")
    }
}

/// `503 ×12, 401 ×1` (status 0: no HTTP answer).
fn fmt_statuses(counts: &BTreeMap<u16, usize>) -> String {
    if counts.is_empty() {
        return "none".to_owned();
    }
    counts
        .iter()
        .map(|(s, n)| {
            if *s == 0 {
                format!("no answer ×{n}")
            } else {
                format!("{s} ×{n}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A client of `app`.
fn client(app: &RunningApp) -> Client {
    Api::new(app).with_timeout(Duration::from_secs(10))
}

/// The answer's status; 0 for no answer (refused, reset, timed out).
fn status_of(reply: &Result<Reply, TransportError>) -> u16 {
    reply.as_ref().map_or(0, |r| r.status)
}

/// A string field of the answer's JSON body.
fn json_str(reply: &Reply, field: &str) -> Option<String> {
    reply.json[field].as_str().map(str::to_owned)
}

async fn me(client: &mut Client, credential: &str) -> Result<Reply, TransportError> {
    client
        .try_request(Method::GET, "/me", &[("X-Appwrite-Session", credential)], None)
        .await
}

/// Why a login did not complete: the failing request's status (0: no answer).
#[derive(Debug, Clone, Copy)]
struct Failed {
    status: u16,
}

/// Issues a custom token with the API key and exchanges it (with the API
/// key, so the answer carries the session credential).
async fn try_login(client: &mut Client, setup: &Setup, user: &str) -> Result<String, Failed> {
    let token = client
        .try_request(
            Method::POST,
            &format!("/v1/users/{user}/tokens"),
            &setup.key(),
            Some("{}"),
        )
        .await;
    let secret = match &token {
        Ok(r) if r.status == 201 => json_str(r, "secret"),
        _ => None,
    }
    .ok_or(Failed {
        status: status_of(&token),
    })?;
    let body = format!("{{\"userId\":\"{user}\",\"secret\":\"{secret}\"}}");
    let session = client
        .try_request(Method::POST, "/v1/account/sessions/token", &setup.key(), Some(&body))
        .await;
    match &session {
        Ok(r) if r.status == 201 => json_str(r, "secret").filter(|s| !s.is_empty()),
        _ => None,
    }
    .ok_or(Failed {
        status: status_of(&session),
    })
}

async fn login(client: &mut Client, setup: &Setup, user: &str) -> Res<String> {
    try_login(client, setup, user)
        .await
        .map_err(|f| format!("login of {user} failed with status {}", f.status))
}

async fn expect_me(client: &mut Client, credential: &str, status: u16, what: &str) -> Res<()> {
    let got = status_of(&me(client, credential).await);
    if got == status {
        Ok(())
    } else {
        Err(format!("{what}: /me answered {got}, expected {status}"))
    }
}

/// The apps' WARN/ERROR lines so far, on stderr; a count for the report,
/// with the share of the machine other processes used during the section
/// (measured by `load` over this process, the apps and `servers`).
fn log_report(section: &str, apps: [&mut RunningApp; 2], load: &LoadProbe, servers: &[Option<u32>]) -> String {
    let mut pids = vec![Some(apps[0].pid()), Some(apps[1].pid())];
    pids.extend_from_slice(servers);
    let other = load.other_load(&pids);
    if other > 0.1 {
        eprintln!(
            "   other processes used {:.0}% of the machine during {section}: its figures may be disturbed",
            other * 100.0
        );
    }
    let mut parts = Vec::new();
    for app in apps {
        let name = app.spec.kind.binary();
        if app.has_exited() {
            eprintln!("   {name} EXITED during {section}");
            parts.push(format!("{name} exited during the section"));
        }
        let problems = app.log_problems();
        if !problems.is_empty() {
            eprintln!(
                "   {name} logged {} WARN/ERROR lines in {section}; the first ones:",
                problems.len()
            );
            for line in problems.iter().take(5) {
                eprintln!("     {}", line.chars().take(300).collect::<String>());
            }
        }
        parts.push(format!("{name} {}", problems.len()));
    }
    format!(
        "Other processes (not this one, its apps and Redis servers) used {:.0}% of the machine's CPU during this \
         section (`/proc/stat`). WARN/ERROR lines in the apps' logs (`RUST_LOG=warn`, start-up notes left out) by \
         the end of this section: {}.",
        other * 100.0,
        parts.join(", ")
    )
}

// ------------------------------------------------------------ revocation

#[derive(Clone, Copy, PartialEq, Eq)]
enum Revoke {
    /// `DELETE /v1/account/sessions/current` with the session.
    Logout,
    /// `DELETE /v1/users/{userId}/sessions` with the API key.
    UsersApi,
}

#[derive(Default)]
struct RevocationRow {
    /// Revocation sent → first 401 at the other app, ms.
    refused: Vec<f64>,
    /// Revocation sent → its own answer, ms.
    answered: Vec<f64>,
    /// Rounds where the other app refused before the revoking request was answered.
    before_answer: usize,
    /// Rounds not refused within the limit.
    not_refused: usize,
    /// Answers other than 200 before the revocation or other than 200/401 after.
    odd: BTreeMap<u16, usize>,
}

/// Polls `/me` on `client` from before `start` is set until a 401 (or the
/// limit); returns the client and (sent, done, status) of every poll.
async fn poll_until_refused(
    mut client: Client,
    credential: String,
    stop: Arc<AtomicBool>,
) -> (Client, Vec<(Instant, Instant, u16)>) {
    let mut polls = Vec::new();
    let begin = Instant::now();
    let mut timer = poll_timer();
    loop {
        timer.tick().await;
        let sent = Instant::now();
        let status = status_of(&me(&mut client, &credential).await);
        polls.push((sent, Instant::now(), status));
        if status == 401 || stop.load(Ordering::Relaxed) || begin.elapsed() > REVOCATION_LIMIT {
            return (client, polls);
        }
    }
}

async fn wait_subscribed(redis: &str, subscribers: i64) -> Res<()> {
    let start = Instant::now();
    let mut conn = connection(redis).await;
    loop {
        let channels: Vec<String> = redis::cmd("PUBSUB")
            .arg("CHANNELS")
            .query_async(&mut conn)
            .await
            .map_err(|e| format!("PUBSUB CHANNELS: {e}"))?;
        let mut total = 0;
        if !channels.is_empty() {
            let counts: Vec<(String, i64)> = redis::cmd("PUBSUB")
                .arg("NUMSUB")
                .arg(&channels)
                .query_async(&mut conn)
                .await
                .map_err(|e| format!("PUBSUB NUMSUB: {e}"))?;
            total = counts.iter().map(|c| c.1).sum();
        }
        if total >= subscribers {
            return Ok(());
        }
        if start.elapsed() > Duration::from_secs(10) {
            return Err(format!(
                "the apps did not subscribe to a revocation channel ({total} subscribers)"
            ));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn revocation(setup: &Setup, rounds: usize) -> Res<String> {
    let load = LoadProbe::start();
    let redis = start_redis().await?;
    let (mut axum, mut actix) = setup
        .pair(
            Backend::Redis(redis.url().to_owned()),
            &[("TOKENGATE_SESSION_CACHE_MS", CACHE_MS.to_string())],
        )
        .await?;
    wait_subscribed(redis.url(), 2).await?;
    // (label, revoke at axum?, how)
    let kinds = [
        ("axum-app → actix-app", true, Revoke::Logout),
        ("actix-app → axum-app", false, Revoke::Logout),
        ("axum-app → actix-app", true, Revoke::UsersApi),
    ];
    let mut rows: Vec<RevocationRow> = kinds.iter().map(|_| RevocationRow::default()).collect();
    // Time between the starts of consecutive polls, ms.
    let mut gaps: Vec<f64> = Vec::new();
    let mut at_axum = client(&axum);
    let mut at_actix = client(&actix);
    for round in 0..rounds {
        for (k, (_, revoke_at_axum, how)) in kinds.iter().enumerate() {
            let row = &mut rows[k];
            let user = format!("rev-{k}-{round}");
            let (revoker, checker) = if *revoke_at_axum {
                (&mut at_axum, &mut at_actix)
            } else {
                (&mut at_actix, &mut at_axum)
            };
            let credential = login(revoker, setup, &user).await?;
            // Used at the other app first, so that it caches the session.
            expect_me(checker, &credential, 200, "before the revocation (1)").await?;
            expect_me(checker, &credential, 200, "before the revocation (2)").await?;
            let stop = Arc::new(AtomicBool::new(false));
            let poller = tokio::spawn(poll_until_refused(
                std::mem::replace(checker, client(checker_app(*revoke_at_axum, &axum, &actix))),
                credential.clone(),
                Arc::clone(&stop),
            ));
            // A few polls answered from the cache before the revocation.
            tokio::time::sleep(Duration::from_millis(3)).await;
            let sent = Instant::now();
            let answer = match how {
                Revoke::Logout => {
                    revoker
                        .try_request(
                            Method::DELETE,
                            "/v1/account/sessions/current",
                            &[("X-Appwrite-Session", credential.as_str())],
                            Some("{}"),
                        )
                        .await
                }
                Revoke::UsersApi => {
                    revoker
                        .try_request(
                            Method::DELETE,
                            &format!("/v1/users/{user}/sessions"),
                            &setup.key(),
                            Some("{}"),
                        )
                        .await
                }
            };
            let answered = Instant::now();
            let status = status_of(&answer);
            if !(200..300).contains(&status) {
                stop.store(true, Ordering::Relaxed);
                return Err(format!("the revoking request answered {status}"));
            }
            let (client, polls) = poller.await.map_err(|e| format!("poller: {e}"))?;
            *checker = client;
            row.answered.push(ms(answered - sent));
            for &(_, done, status) in &polls {
                let expected = if done < sent {
                    status == 200
                } else {
                    status == 200 || status == 401
                };
                if !expected {
                    *row.odd.entry(status).or_insert(0) += 1;
                }
            }
            gaps.extend(polls.windows(2).map(|w| ms(w[1].0 - w[0].0)));
            match polls.iter().find(|p| p.2 == 401 && p.1 >= sent) {
                Some(&(_, done, _)) => {
                    row.refused.push(ms(done - sent));
                    if done < answered {
                        row.before_answer += 1;
                    }
                }
                None => row.not_refused += 1,
            }
        }
    }
    let logs = log_report("the revocation section", [&mut axum, &mut actix], &load, &[redis.pid()]);
    drop((axum, actix));
    drop(redis);

    let (gap_p50, gap_p99, gap_max) = spread(&gaps);
    let mut md = String::new();
    let _ = writeln!(md, "### Revocation with the local session cache\n");
    let _ = writeln!(
        md,
        "One `redis-server`; an `axum-app` and an `actix-app` on it with the same prefix, secret and API key and \
         `TOKENGATE_SESSION_CACHE_MS={CACHE_MS}`. Each round logs a fresh user in at the revoking app (custom token \
         + exchange), uses the session twice at `/me` of the other app (so that it caches it), starts polling that \
         `/me` (a request every 1 ms), then revokes: `DELETE /v1/account/sessions/current` with the session, or \
         `DELETE /v1/users/{{userId}}/sessions` with the API key. **Propagation** is the time from sending the \
         revoking request until the other app's first 401 answer arrives. {rounds} rounds of each kind, \
         interleaved. Polls started {} ms apart (p50; p99 {} ms, max {} ms).\n",
        fmt_ms(gap_p50),
        fmt_ms(gap_p99),
        fmt_ms(gap_max)
    );
    let _ = writeln!(
        md,
        "| revoked at → checked at | revoking request | rounds | propagation p50 ms | p99 ms | max ms | revoking request answered p50 ms | refused before the revoking request was answered | not refused within {} s | unexpected answers |",
        REVOCATION_LIMIT.as_secs()
    );
    let _ = writeln!(md, "|---|---|---:|---:|---:|---:|---:|---:|---:|---|");
    for ((label, _, how), row) in kinds.iter().zip(&rows) {
        let (p50, p99, max) = spread(&row.refused);
        let (a50, _, _) = spread(&row.answered);
        let route = match how {
            Revoke::Logout => "`DELETE /v1/account/sessions/current`",
            Revoke::UsersApi => "`DELETE /v1/users/{userId}/sessions`",
        };
        let _ = writeln!(
            md,
            "| {label} | {route} | {} | {} | {} | {} | {} | {} of {} | {} | {} |",
            row.refused.len() + row.not_refused,
            fmt_ms(p50),
            fmt_ms(p99),
            fmt_ms(max),
            fmt_ms(a50),
            row.before_answer,
            row.refused.len(),
            row.not_refused,
            fmt_statuses(&row.odd)
        );
        eprintln!(
            "   {label} {route}: propagation p50 {} p99 {} max {} ms",
            fmt_ms(p50),
            fmt_ms(p99),
            fmt_ms(max)
        );
    }
    let _ = writeln!(md, "\n{logs}\n");
    Ok(md)
}

fn checker_app<'a>(revoke_at_axum: bool, axum: &'a RunningApp, actix: &'a RunningApp) -> &'a RunningApp {
    if revoke_at_axum {
        actix
    } else {
        axum
    }
}

/// A `redis-server` of this run's own on a free port.
async fn start_redis() -> Res<PrivateRedis> {
    tokio::task::spawn_blocking(|| PrivateRedis::start(&[]))
        .await
        .map_err(|e| format!("starting redis-server: {e}"))?
}

// ---------------------------------------------------------------- outage

/// `n` sequential `/me` requests, 5 ms apart; (latency ms, status) each.
async fn fault_requests(client: &mut Client, credential: &str, n: usize) -> Vec<(f64, u16)> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let sent = Instant::now();
        let status = status_of(&me(client, credential).await);
        out.push((ms(sent.elapsed()), status));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    out
}

#[derive(Default)]
struct Recovery {
    /// First answer other than 503 (or no answer), any request.
    first_served: Option<f64>,
    /// `/me` with the credential made before the fault: first answer
    /// other than 503, and its status.
    old_credential: Option<(f64, u16)>,
    /// First issue → exchange → `/me` round that fully succeeded.
    full_round: Option<f64>,
    /// Failed requests until then, by status.
    failures: BTreeMap<u16, usize>,
}

/// After the fault ends at `t0`: attempts, every 1 ms, of `/me` with the
/// old credential (until it gets an answer other than 503), then token →
/// exchange → `/me` for a fresh user, until such a round succeeds.
async fn recover(client: &mut Client, setup: &Setup, old: &str, user: &str, t0: Instant) -> (Recovery, Option<String>) {
    let mut rec = Recovery::default();
    let served = |rec: &mut Recovery, status: u16| {
        if status != 503 && status != 0 && rec.first_served.is_none() {
            rec.first_served = Some(ms(t0.elapsed()));
        }
    };
    let mut attempt = 0;
    let mut timer = poll_timer();
    while t0.elapsed() < RECOVERY_LIMIT {
        timer.tick().await;
        attempt += 1;
        if rec.old_credential.is_none() {
            let status = status_of(&me(client, old).await);
            served(&mut rec, status);
            if status == 503 || status == 0 {
                *rec.failures.entry(status).or_insert(0) += 1;
            } else {
                rec.old_credential = Some((ms(t0.elapsed()), status));
            }
        }
        if rec.old_credential.is_some() {
            match try_login(client, setup, &format!("{user}-{attempt}")).await {
                Ok(credential) => {
                    served(&mut rec, 201);
                    let status = status_of(&me(client, &credential).await);
                    served(&mut rec, status);
                    if status == 200 {
                        rec.full_round = Some(ms(t0.elapsed()));
                        return (rec, Some(credential));
                    }
                    *rec.failures.entry(status).or_insert(0) += 1;
                }
                Err(failed) => {
                    served(&mut rec, failed.status);
                    *rec.failures.entry(failed.status).or_insert(0) += 1;
                }
            }
        }
    }
    (rec, None)
}

struct FaultRow {
    fault: &'static str,
    app: &'static str,
    samples: Vec<(f64, u16)>,
}

struct RecoveryRow {
    fault: &'static str,
    app: &'static str,
    rec: Recovery,
}

async fn outage(setup: &Setup, dead_n: usize, frozen_n: usize) -> Res<String> {
    let load = LoadProbe::start();
    let mut redis = start_redis().await?;
    let (mut axum, mut actix) = setup
        .pair(
            Backend::Redis(redis.url().to_owned()),
            &[("TOKENGATE_REDIS_TIMEOUT_MS", REDIS_TIMEOUT_MS.to_string())],
        )
        .await?;
    let mut a = client(&axum);
    let mut b = client(&actix);
    let mut cred_a = login(&mut a, setup, "outage-axum").await?;
    let mut cred_b = login(&mut b, setup, "outage-actix").await?;
    expect_me(&mut a, &cred_a, 200, "axum-app before the fault").await?;
    expect_me(&mut b, &cred_b, 200, "actix-app before the fault").await?;
    let mut faults = Vec::new();
    let mut recoveries = Vec::new();

    // Dead: SIGKILL, then a fresh, empty server on the same port.
    eprintln!("   killing redis-server {} (SIGKILL)", redis.port());
    redis.kill();
    let (da, db) = tokio::join!(
        fault_requests(&mut a, &cred_a, dead_n),
        fault_requests(&mut b, &cred_b, dead_n)
    );
    faults.push(FaultRow {
        fault: "dead (SIGKILL)",
        app: "axum-app",
        samples: da,
    });
    faults.push(FaultRow {
        fault: "dead (SIGKILL)",
        app: "actix-app",
        samples: db,
    });
    let spawned = Instant::now();
    let mut restart_tries = 0;
    loop {
        redis.process().respawn()?;
        match redis.process().wait_up_async(Duration::from_secs(10)).await {
            Ok(_) => break,
            Err(e) if restart_tries < 10 => {
                restart_tries += 1;
                eprintln!("   restart: {e}; again");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => return Err(e),
        }
    }
    let t0 = Instant::now();
    let ping_after = ms(t0 - spawned);
    let ((ra, na), (rb, nb)) = tokio::join!(
        recover(&mut a, setup, &cred_a, "rec-dead-axum", t0),
        recover(&mut b, setup, &cred_b, "rec-dead-actix", t0)
    );
    recoveries.push(RecoveryRow {
        fault: "dead: restarted empty on the same port",
        app: "axum-app",
        rec: ra,
    });
    recoveries.push(RecoveryRow {
        fault: "dead: restarted empty on the same port",
        app: "actix-app",
        rec: rb,
    });
    cred_a = na.ok_or("axum-app did not recover after the restart")?;
    cred_b = nb.ok_or("actix-app did not recover after the restart")?;

    // Frozen: SIGSTOP (connections stay open, nothing answers), SIGCONT.
    eprintln!("   freezing redis-server {} (SIGSTOP)", redis.port());
    redis.process().pause()?;
    let (fa, fb) = tokio::join!(
        fault_requests(&mut a, &cred_a, frozen_n),
        fault_requests(&mut b, &cred_b, frozen_n)
    );
    faults.push(FaultRow {
        fault: "frozen (SIGSTOP)",
        app: "axum-app",
        samples: fa,
    });
    faults.push(FaultRow {
        fault: "frozen (SIGSTOP)",
        app: "actix-app",
        samples: fb,
    });
    redis.process().resume()?;
    let t0 = Instant::now();
    let ((ra, _), (rb, _)) = tokio::join!(
        recover(&mut a, setup, &cred_a, "rec-frozen-axum", t0),
        recover(&mut b, setup, &cred_b, "rec-frozen-actix", t0)
    );
    recoveries.push(RecoveryRow {
        fault: "frozen: SIGCONT",
        app: "axum-app",
        rec: ra,
    });
    recoveries.push(RecoveryRow {
        fault: "frozen: SIGCONT",
        app: "actix-app",
        rec: rb,
    });
    let logs = log_report("the outage section", [&mut axum, &mut actix], &load, &[redis.pid()]);
    drop((axum, actix));
    drop(redis);

    let mut md = String::new();
    let _ = writeln!(md, "### 503 under a dead or frozen Redis\n");
    let _ = writeln!(
        md,
        "One `redis-server`; an `axum-app` and an `actix-app` on it with `TOKENGATE_REDIS_TIMEOUT_MS={REDIS_TIMEOUT_MS}` \
         (the default) and no session cache, each with a valid session. Dead: the server is SIGKILLed; frozen: it \
         is SIGSTOPped (its TCP connections stay open, nothing answers). Then each app gets sequential \
         `GET /me` requests with its valid session (one at a time, 5 ms apart, both apps at once); the latency is \
         from sending the request to its answer, the first request being the first one after the fault.\n"
    );
    let _ = writeln!(
        md,
        "| Redis | app | TOKENGATE_REDIS_TIMEOUT_MS | requests | answers | first ms | p50 ms | p99 ms | max ms |"
    );
    let _ = writeln!(md, "|---|---|---:|---:|---|---:|---:|---:|---:|");
    for row in &faults {
        let latencies: Vec<f64> = row.samples.iter().map(|s| s.0).collect();
        let mut statuses = BTreeMap::new();
        for s in &row.samples {
            *statuses.entry(s.1).or_insert(0) += 1;
        }
        let (p50, p99, max) = spread(&latencies);
        let _ = writeln!(
            md,
            "| {} | {} | {REDIS_TIMEOUT_MS} | {} | {} | {} | {} | {} | {} |",
            row.fault,
            row.app,
            row.samples.len(),
            fmt_statuses(&statuses),
            fmt_ms(latencies.first().copied().unwrap_or(f64::NAN)),
            fmt_ms(p50),
            fmt_ms(p99),
            fmt_ms(max)
        );
        eprintln!(
            "   {} {}: {} p50 {} p99 {} max {} ms",
            row.fault,
            row.app,
            fmt_statuses(&statuses),
            fmt_ms(p50),
            fmt_ms(p99),
            fmt_ms(max)
        );
    }
    let _ = writeln!(md, "\n### Recovery after the outage\n");
    let _ = writeln!(
        md,
        "Dead case: a new `redis-server` is started on the same port with the same arguments (it keeps nothing on \
         disk, so every session is gone); t0 is when it first answers `PING` to this process (polled every 1 ms; \
         {} ms after it was spawned). Frozen case: t0 is when `kill -CONT` returned; the data is intact. From t0 \
         each app is asked, a request every 1 ms: `GET /me` with the session made before the fault until the answer is not a \
         503, then rounds of token (`POST /v1/users/{{userId}}/tokens`) → exchange (`POST \
         /v1/account/sessions/token`) → `GET /me` with the new session, for a fresh user each, until one round \
         fully succeeds. **Served again** is the app's first answer that is not a 503; \
         **recovered** is the end of the first fully successful round.\n",
        fmt_ms(ping_after)
    );
    let _ = writeln!(
        md,
        "| fault, then | app | served again after ms | old session's `/me` after ms (answer) | recovered (token → exchange → `/me`) after ms | failed requests until then |"
    );
    let _ = writeln!(md, "|---|---|---:|---:|---:|---|");
    for row in &recoveries {
        let old = row
            .rec
            .old_credential
            .map_or("—".to_owned(), |(t, s)| format!("{} ({s})", fmt_ms(t)));
        let full = row
            .rec
            .full_round
            .map_or(format!("not within {} s", RECOVERY_LIMIT.as_secs()), fmt_ms);
        let _ = writeln!(
            md,
            "| {} | {} | {} | {old} | {full} | {} |",
            row.fault,
            row.app,
            row.rec.first_served.map_or("—".to_owned(), fmt_ms),
            fmt_statuses(&row.rec.failures)
        );
        eprintln!(
            "   {} {}: served {:?} old {old} recovered {full}",
            row.fault, row.app, row.rec.first_served
        );
    }
    let _ = writeln!(md, "\n{logs}\n");
    Ok(md)
}

// --------------------------------------------------------------- cluster

/// (sent, done, status) of every `/me` of one app's client loop.
type Polls = Arc<Mutex<Vec<(Instant, Instant, u16)>>>;

async fn loop_me(mut client: Client, credential: String, polls: Polls, stop: Arc<AtomicBool>) {
    let mut timer = poll_timer();
    while !stop.load(Ordering::Relaxed) {
        timer.tick().await;
        let sent = Instant::now();
        let status = status_of(&me(&mut client, &credential).await);
        let done = Instant::now();
        if let Ok(mut p) = polls.lock() {
            p.push((sent, done, status));
        }
    }
}

struct Window {
    event: &'static str,
    start: Instant,
    /// The node serving the slot afterwards reports itself primary.
    promoted: f64,
    /// Every live node agrees the cluster is healthy again.
    healthy: f64,
    end: Instant,
}

struct Settle {
    requests: usize,
    non_200: BTreeMap<u16, usize>,
    /// Start → first 200 after the last non-200 (`Some(0)` when none).
    settled: Option<f64>,
    first_bad: Option<f64>,
    slowest: f64,
}

fn settle(polls: &[(Instant, Instant, u16)], w: &Window) -> Settle {
    let inside: Vec<&(Instant, Instant, u16)> = polls.iter().filter(|p| p.1 >= w.start && p.0 < w.end).collect();
    let mut non_200 = BTreeMap::new();
    for p in inside.iter().filter(|p| p.2 != 200) {
        *non_200.entry(p.2).or_insert(0) += 1;
    }
    let last_bad = inside.iter().filter(|p| p.2 != 200).map(|p| p.1).max();
    let first_bad = inside
        .iter()
        .filter(|p| p.2 != 200)
        .map(|p| p.1)
        .min()
        .map(|t| ms(t.saturating_duration_since(w.start)));
    let settled = match last_bad {
        None => Some(0.0),
        Some(last) => inside
            .iter()
            .find(|p| p.2 == 200 && p.0 >= last)
            .map(|p| ms(p.1 - w.start)),
    };
    let slowest = inside.iter().map(|p| ms(p.1 - p.0)).fold(0.0, f64::max);
    Settle {
        requests: inside.len(),
        non_200,
        settled,
        first_bad,
        slowest,
    }
}

/// Waits until a live node other than `old` reports itself primary of
/// `slot`; the time since `start`.
async fn wait_new_primary(cluster: &Cluster, slot: u16, old: u16, start: Instant) -> Res<f64> {
    loop {
        if let Ok((primary, _)) = cluster.shard_of(slot, &[old]).await {
            if primary.port != old {
                let own = cluster.nodes_seen_by(primary.port).await.unwrap_or_default();
                if own.iter().any(|n| n.port == primary.port && n.primary) {
                    return Ok(ms(start.elapsed()));
                }
            }
        }
        if start.elapsed() > Duration::from_secs(30) {
            return Err(format!("no node took slot {slot} over from {old} within 30 s"));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn failover(setup: &Setup) -> Res<String> {
    let load = LoadProbe::start();
    let started = Instant::now();
    let spec = ClusterSpec {
        node_timeout_ms: NODE_TIMEOUT_MS,
        ..ClusterSpec::default()
    };
    let cluster = tokio::task::spawn_blocking(move || try_start_cluster(spec))
        .await
        .map_err(|e| format!("starting the cluster: {e}"))??;
    eprintln!(
        "   cluster on ports {:?} ready in {:.1} s",
        cluster.ports(),
        started.elapsed().as_secs_f64()
    );
    let (mut axum, mut actix) = setup
        .pair(
            Backend::Cluster(cluster.seeds()),
            &[("TOKENGATE_REDIS_TIMEOUT_MS", REDIS_TIMEOUT_MS.to_string())],
        )
        .await?;
    let user = "failover-user";
    // The README's sharding rule: every key of a user carries {u:<userId>}.
    let slot = cluster.slot_of(&format!("{{u:{user}}}")).await?;
    let mut a = client(&axum);
    let mut b = client(&actix);
    let cred_a = login(&mut a, setup, user).await?;
    let cred_b = login(&mut b, setup, user).await?;
    let (primary, _) = cluster.shard_of(slot, &[]).await?;
    let keys = cluster.keys_in_slot(primary.port, slot).await?;
    if keys == 0 {
        return Err(format!(
            "no key in slot {slot} on {} after the logins: the apps do not keep {user}'s keys where expected",
            primary.port
        ));
    }
    eprintln!("   {user}: slot {slot} on primary {} ({keys} keys)", primary.port);

    let stop = Arc::new(AtomicBool::new(false));
    let polls: Vec<Polls> = vec![Arc::default(), Arc::default()];
    let loops = [
        tokio::spawn(loop_me(a, cred_a, Arc::clone(&polls[0]), Arc::clone(&stop))),
        tokio::spawn(loop_me(b, cred_b, Arc::clone(&polls[1]), Arc::clone(&stop))),
    ];
    let baseline_start = Instant::now();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut windows = Vec::new();

    // Planned: CLUSTER FAILOVER on the replica of the user's primary.
    let (primary, replicas) = cluster.shard_of(slot, &[]).await?;
    let replica = replicas.first().ok_or("the user's primary has no replica")?.port;
    eprintln!("   planned: CLUSTER FAILOVER on replica {replica} of {}", primary.port);
    let start = Instant::now();
    cluster.manual_failover(replica).await?;
    let promoted = wait_new_primary(&cluster, slot, primary.port, start).await?;
    cluster.wait_serving_except(&[], Duration::from_secs(30)).await?;
    let healthy = ms(start.elapsed());
    tokio::time::sleep(Duration::from_secs(2)).await;
    windows.push(Window {
        event: "planned: `CLUSTER FAILOVER` on the replica",
        start,
        promoted,
        healthy,
        end: Instant::now(),
    });

    // Unplanned: SIGKILL the (new) primary of the user's slot.
    let (victim, _) = cluster.shard_of(slot, &[]).await?;
    eprintln!("   unplanned: SIGKILL primary {}", victim.port);
    let start = Instant::now();
    cluster.kill_node(victim.port);
    let promoted = wait_new_primary(&cluster, slot, victim.port, start).await?;
    cluster
        .wait_serving_except(&[victim.port], Duration::from_secs(30))
        .await?;
    let healthy = ms(start.elapsed());
    tokio::time::sleep(Duration::from_secs(3)).await;
    windows.push(Window {
        event: "unplanned: primary SIGKILLed",
        start,
        promoted,
        healthy,
        end: Instant::now(),
    });
    stop.store(true, Ordering::Relaxed);
    for handle in loops {
        handle.await.map_err(|e| format!("client loop: {e}"))?;
    }
    let servers: Vec<Option<u32>> = cluster.pids();
    let logs = log_report("the cluster section", [&mut axum, &mut actix], &load, &servers);
    drop((axum, actix));
    drop(cluster);

    let names = ["axum-app", "actix-app"];
    let mut md = String::new();
    let _ = writeln!(md, "### Redis Cluster failover\n");
    let _ = writeln!(
        md,
        "A local Redis Cluster of 3 primaries and 3 replicas (`redis-server --cluster-enabled yes \
         --cluster-node-timeout {NODE_TIMEOUT_MS}`, joined with `redis-cli --cluster create ... --cluster-replicas 1 \
         --cluster-yes`); an `axum-app` and an `actix-app` with `REDIS_CLUSTER_NODES` = all six nodes and \
         `TOKENGATE_REDIS_TIMEOUT_MS={REDIS_TIMEOUT_MS}`. One user (slot {slot}), a session made through each app; \
         each app's client loops `GET /me` with its session, a request every 1 ms, from 500 ms before the first \
         event to the end. Planned: `CLUSTER FAILOVER` on the replica of the primary holding the user's slot, then \
         2 s more. Unplanned (after that): the primary now holding the slot is SIGKILLed; its replica takes over \
         after the node timeout; then 3 s more. Times are from the `CLUSTER FAILOVER` command or the kill; \
         **answers 200 again** is the end of the first 200 request sent after the last non-200 answer (0: no \
         non-200 answer); requests and answers are those that ended after the event and began before the window's \
         end.\n"
    );
    let _ = writeln!(
        md,
        "| event | app | new primary serves the slot after ms | cluster healthy after ms | requests | non-200 answers | first non-200 after ms | answers 200 again after ms | slowest answer ms |"
    );
    let _ = writeln!(md, "|---|---|---:|---:|---:|---|---:|---:|---:|");
    let mut baseline = BTreeMap::new();
    for (name, polls) in names.iter().zip(&polls) {
        let polls = polls.lock().map_err(|_| "poll log poisoned")?.clone();
        for p in polls.iter().filter(|p| p.0 >= baseline_start && p.1 < windows[0].start) {
            if p.2 != 200 {
                *baseline.entry(p.2).or_insert(0usize) += 1;
            }
        }
        for w in &windows {
            let s = settle(&polls, w);
            let settled = s.settled.map_or("not within the window".to_owned(), fmt_ms);
            let _ = writeln!(
                md,
                "| {} | {name} | {} | {} | {} | {} | {} | {settled} | {} |",
                w.event,
                fmt_ms(w.promoted),
                fmt_ms(w.healthy),
                s.requests,
                fmt_statuses(&s.non_200),
                s.first_bad.map_or("—".to_owned(), fmt_ms),
                fmt_ms(s.slowest)
            );
            eprintln!(
                "   {} {name}: promoted {} healthy {} ms; {} requests, non-200 {}, 200 again after {settled} ms, slowest {} ms",
                w.event,
                fmt_ms(w.promoted),
                fmt_ms(w.healthy),
                s.requests,
                fmt_statuses(&s.non_200),
                fmt_ms(s.slowest)
            );
        }
    }
    let _ = writeln!(
        md,
        "\nBefore the first event: non-200 answers {}. {logs}\n",
        fmt_statuses(&baseline)
    );
    Ok(md)
}
