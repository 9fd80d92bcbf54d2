//! The scenarios: per-request auth over HTTP, exchange against a trivial
//! `EVALSHA`, and scale (1M live sessions and tokens).

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Instant;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use redis::aio::ConnectionManager;
use tokengate::store::{RedisStore, RedisStoreConfig};
use tokengate::{ClientInfo, Gate, ServerSecret, TokenOptions, UserId};

use crate::load::{self, Budget, Outcome, Stats};
use crate::redis_stats;
use crate::servers::{Context, Framework, Row, Server};
use tokengate_bench::machine;
use tokengate_tests::redis_harness::PrivateRedis;

/// The key prefix (tokengate's default).
pub const PREFIX: &str = "tg";

/// Concurrency used to load the scale data set through the real API.
pub const LOAD_CONCURRENCY: usize = 256;

/// CPU time spent per operation, from process and Redis counters.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuCost {
    /// Redis CPU (user + sys), µs per operation.
    pub redis_us: f64,
    /// This process's CPU minus the load generator's thread, µs per operation.
    pub app_us: f64,
    /// Share of the machine's CPU used by other processes meanwhile (0..=1):
    /// anything but this process and its Redis (e.g. a concurrent build).
    pub other_load: f64,
}

pub(crate) struct CpuProbe {
    at: Instant,
    redis: f64,
    process: f64,
    thread: f64,
    machine: f64,
}

impl CpuProbe {
    pub(crate) fn take(admin: &mut redis::Connection) -> Self {
        CpuProbe {
            at: Instant::now(),
            redis: redis_stats::cpu_seconds(admin),
            process: machine::process_cpu_seconds(),
            thread: machine::thread_cpu_seconds(),
            machine: machine::machine_busy_seconds(),
        }
    }

    /// Cost per op since `self`; `loadgen_on_this_thread` subtracts this thread's CPU.
    pub(crate) fn cost(&self, admin: &mut redis::Connection, stats: &Stats, loadgen_on_this_thread: bool) -> CpuCost {
        let now = CpuProbe::take(admin);
        let ops = (stats.ops + stats.warm_ops).max(1) as f64;
        let thread = if loadgen_on_this_thread {
            now.thread - self.thread
        } else {
            0.0
        };
        let wall = (now.at - self.at).as_secs_f64();
        let cpus = std::thread::available_parallelism().map_or(1, usize::from) as f64;
        let others = (now.machine - self.machine) - (now.process - self.process) - (now.redis - self.redis);
        CpuCost {
            redis_us: (now.redis - self.redis) / ops * 1e6,
            app_us: (now.process - self.process - thread) / ops * 1e6,
            other_load: (others / (wall * cpus)).clamp(0.0, 1.0),
        }
    }
}

/// One measured row.
#[derive(Debug, Clone)]
pub struct Measured {
    /// Throughput and latency.
    pub stats: Stats,
    /// CPU per operation.
    pub cpu: CpuCost,
    /// How many times it was measured (more than once when other processes
    /// loaded the machine; the least disturbed attempt is kept).
    pub attempts: usize,
}

/// Above this share of the machine used by other processes, a measurement
/// counts as disturbed and is repeated while the retry budget lasts.
pub const QUIET_LOAD: f64 = 0.10;

/// How many repeated measurements the whole run may still spend.
#[derive(Debug)]
pub struct Retries {
    /// Repeats left.
    pub remaining: usize,
    /// Repeats per measurement at most.
    pub per_measurement: usize,
}

/// One HTTP row's result: every round's measurement.
#[derive(Debug, Clone)]
pub struct HttpResult {
    /// Framework.
    pub framework: Framework,
    /// Row.
    pub row: Row,
    /// One measurement per round.
    pub runs: Vec<Measured>,
}

impl HttpResult {
    /// The round with the median throughput (the lower middle one for an
    /// even count); its latencies are reported with it.
    pub fn median(&self) -> &Measured {
        let mut order: Vec<&Measured> = self.runs.iter().collect();
        order.sort_by(|a, b| a.stats.rate().total_cmp(&b.stats.rate()));
        order[(order.len() - 1) / 2]
    }

    /// Lowest and highest throughput over the rounds.
    pub fn range(&self) -> (f64, f64) {
        self.runs.iter().fold((f64::INFINITY, 0.0f64), |(lo, hi), m| {
            (lo.min(m.stats.rate()), hi.max(m.stats.rate()))
        })
    }

    /// Highest share of the machine other processes used during a round.
    pub fn max_other_load(&self) -> f64 {
        self.runs.iter().map(|m| m.cpu.other_load).fold(0.0, f64::max)
    }
}

/// A user id of exactly 20 characters (the length of Appwrite's generated ids).
pub fn user_id(tag: char, a: u64, b: u64) -> UserId {
    UserId::parse(&format!("{tag}{a:03}{b:016}")).expect("a valid user id")
}

/// Where tokengate keeps the session a credential names (the layout of
/// `core/src/store/redis/`: field `<base64url HMAC>` of the hash
/// `<prefix>:{u:<id>}:sessions`).
#[derive(Debug, Clone)]
pub struct SessionLocation {
    /// The user's sessions hash.
    pub key: String,
    /// The session's field in it.
    pub field: String,
}

/// The [`SessionLocation`] of a credential's session.
pub fn session_location(secret: &ServerSecret, credential: &str) -> Option<SessionLocation> {
    let (user, text) = credential.rsplit_once('.')?;
    let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
    let user = UserId::parse(user).ok()?;
    let digest = secret.session_digest(&user, &bytes);
    Some(SessionLocation {
        key: sessions_key(user.as_str()),
        field: digest.to_base64(),
    })
}

fn sessions_key(user: &str) -> String {
    format!("{PREFIX}:{{u:{user}}}:sessions")
}

fn token_key(user: &str) -> String {
    format!("{PREFIX}:{{u:{user}}}:t")
}

/// A Gate on the benchmark's Redis, built on the current runtime.
pub async fn gate(redis_url: &str, secret: &ServerSecret) -> Result<Gate, String> {
    let store = RedisStore::connect(redis_url, RedisStoreConfig::default().prefix(PREFIX))
        .await
        .map_err(|e| e.to_string())?;
    Gate::builder()
        .server_key(secret.clone())
        .store(store)
        .build()
        .map_err(|e| e.to_string())
}

fn client_info(i: u64) -> ClientInfo {
    let ip = Ipv4Addr::new(203, 0, 113, (i % 250) as u8 + 1);
    ClientInfo::new(Some(IpAddr::V4(ip)), None)
}

// ------------------------------------------------------------ per request

/// Everything the HTTP rows need, created once.
pub struct HttpFixtures {
    /// One tokengate credential per connection.
    pub credentials: Vec<String>,
    /// For each credential, a plain string key holding a copy of its
    /// session record: what the floor GETs (the floor is one raw
    /// `GET`; tokengate itself reads the record with one `HGET`).
    pub floor_keys: Vec<String>,
}

/// Creates one real session per connection through `Gate::create_server_session`.
pub async fn http_fixtures(redis_url: &str, secret: &ServerSecret, connections: usize) -> Result<HttpFixtures, String> {
    let gate = gate(redis_url, secret).await?;
    let mut credentials = Vec::with_capacity(connections);
    let mut floor_keys = Vec::with_capacity(connections);
    let client = redis::Client::open(redis_url).map_err(|e| e.to_string())?;
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .map_err(|e| e.to_string())?;
    for i in 0..connections as u64 {
        let user = user_id('h', 0, i);
        let (_, credential) = gate
            .create_server_session(&user, client_info(i))
            .await
            .map_err(|e| e.to_string())?;
        let credential = credential.expose().to_owned();
        let location = session_location(secret, &credential).ok_or("undecodable credential")?;
        let record: Vec<u8> = redis::AsyncCommands::hget(&mut conn, &location.key, &location.field)
            .await
            .map_err(|e| format!("reading the session record: {e}"))?;
        let floor_key = format!("{PREFIX}:floor:{i}");
        let () = redis::AsyncCommands::set(&mut conn, &floor_key, record)
            .await
            .map_err(|e| e.to_string())?;
        credentials.push(credential);
        floor_keys.push(floor_key);
    }
    Ok(HttpFixtures {
        credentials,
        floor_keys,
    })
}

/// Runs one HTTP row once: starts its server, logs the peers in, loads it
/// from this thread, stops it.
pub fn http_row(
    framework: Framework,
    row: Row,
    ctx: &Context,
    fixtures: &HttpFixtures,
    budget: Budget,
    admin: &mut redis::Connection,
) -> Result<Measured, String> {
    let server = Server::start(framework, row, ctx)?;
    let addr = server.addr;
    let client = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let outcome = client.block_on(async {
        let mut requests = Vec::with_capacity(budget.concurrency);
        for i in 0..budget.concurrency {
            let credential = &fixtures.credentials[i % fixtures.credentials.len()];
            let header = match row {
                // (a) carries the same header as (b) and ignores it.
                Row::NoAuth | Row::TokenGate | Row::Cached => format!("X-Appwrite-Session: {credential}"),
                Row::Floor => format!(
                    "X-Appwrite-Session: {}",
                    fixtures.floor_keys[i % fixtures.floor_keys.len()]
                ),
                Row::Peer => {
                    let login = load::get_request(addr, &format!("/login/peer{i:016}"), &[]);
                    let response = load::request_once(addr, &login)
                        .await
                        .map_err(|e| format!("peer login: {e}"))?;
                    let cookie = response
                        .header("set-cookie")
                        .and_then(|c| c.split(';').next())
                        .filter(|_| response.status == 200)
                        .ok_or_else(|| format!("peer login answered {} without a cookie", response.status))?;
                    format!("Cookie: {cookie}")
                }
            };
            requests.push(load::get_request(addr, "/bench", &[header]));
        }
        // One request first: the row must answer 200 before it is measured.
        let probe = load::request_once(addr, &requests[0])
            .await
            .map_err(|e| e.to_string())?;
        if probe.status != 200 || probe.body.is_empty() {
            return Err(format!(
                "{} ({}) answered {} ({} body bytes) to a valid request",
                framework.name(),
                row.letter(),
                probe.status,
                probe.body.len()
            ));
        }
        let before = CpuProbe::take(admin);
        let stats = load::http_load(addr, requests, budget)
            .await
            .map_err(|e| e.to_string())?;
        let cpu = before.cost(admin, &stats, true);
        Ok(Measured {
            stats,
            cpu,
            attempts: 1,
        })
    });
    drop(client);
    server.stop();
    outcome
}

// ------------------------------------------------------------ exchange

/// Issue + exchange pairs through `Gate` (create_token, then create_session)
/// for fresh users, `tag` keeping each run's users apart. With `logout`,
/// each pair is followed by an untimed `delete_sessions` of its user, so
/// that the data set keeps its size (latency is the pair's alone; the
/// throughput then includes the logout).
pub async fn exchange(gate: Gate, tag: char, logout: bool, budget: Budget, admin: &mut redis::Connection) -> Measured {
    let before = CpuProbe::take(admin);
    let stats = load::task_load(budget, move |task, seq| {
        let gate = gate.clone();
        async move {
            let start = Instant::now();
            let user = user_id(tag, task as u64, seq);
            let Ok(token) = gate.create_token(&user, TokenOptions::default()).await else {
                return Outcome::Failed;
            };
            let Some(secret) = token.secret else {
                return Outcome::Failed;
            };
            if gate
                .create_session(&user, secret.expose(), ClientInfo::default())
                .await
                .is_err()
            {
                return Outcome::Failed;
            }
            if !logout {
                return Outcome::Ok;
            }
            let pair = start.elapsed();
            match gate.delete_sessions(&user).await {
                Ok(_) => Outcome::Timed(pair),
                Err(_) => Outcome::Failed,
            }
        }
    })
    .await;
    let cpu = before.cost(admin, &stats, false);
    Measured {
        stats,
        cpu,
        attempts: 1,
    }
}

/// The trivial script the exchange is compared with.
pub const TRIVIAL_SCRIPT: &str = "return 1";

/// `EVALSHA` of [`TRIVIAL_SCRIPT`] with one key, through redis-rs.
pub async fn evalsha(redis_url: &str, budget: Budget, admin: &mut redis::Connection) -> Result<Measured, String> {
    let client = redis::Client::open(redis_url).map_err(|e| e.to_string())?;
    let conn = ConnectionManager::new(client).await.map_err(|e| e.to_string())?;
    let script = Arc::new(redis::Script::new(TRIVIAL_SCRIPT));
    let before = CpuProbe::take(admin);
    let stats = load::task_load(budget, move |task, _seq| {
        let mut conn = conn.clone();
        let script = Arc::clone(&script);
        async move {
            Outcome::from(
                script
                    .key(format!("bench:evalsha:{task}"))
                    .invoke_async::<i64>(&mut conn)
                    .await
                    .is_ok_and(|v| v == 1),
            )
        }
    })
    .await;
    let cpu = before.cost(admin, &stats, false);
    Ok(Measured {
        stats,
        cpu,
        attempts: 1,
    })
}

// ------------------------------------------------------------ scale

/// Authenticate and exchange measured at one data-set size.
#[derive(Debug, Clone)]
pub struct ScalePoint {
    /// Live sessions (and as many tokens) loaded.
    pub entries: u64,
    /// Keys in Redis when the measurement started.
    pub keys_before: u64,
    /// Keys in Redis when it ended.
    pub keys_after: u64,
    /// Every operation back to back (saturation).
    pub saturated: PerOperation<Measured>,
    /// Every operation at a fixed rate well below saturation
    /// (`paced_rates`).
    pub paced: PerOperation<Measured>,
    /// The fixed rates of `paced`, ops/s: [`PACED_SHARE`] of what each
    /// operation sustained at the small size, the same at both sizes.
    pub paced_rates: PerOperation<f64>,
}

/// One value for each operation the scale scenario measures.
#[derive(Debug, Clone, Copy)]
pub struct PerOperation<T> {
    /// `Gate::authenticate` over credentials spread across the data set.
    pub authenticate: T,
    /// Issue + exchange pairs for fresh users.
    pub exchange: T,
    /// The floor: one raw `HGET` of the same session records on a redis-rs
    /// `ConnectionManager`, no tokengate code.
    pub floor: T,
}

impl<T> PerOperation<T> {
    /// The three values, in the order authenticate, exchange, floor.
    pub fn all(&self) -> [&T; 3] {
        [&self.authenticate, &self.exchange, &self.floor]
    }

    fn map<U>(&self, f: impl Fn(&T) -> U) -> PerOperation<U> {
        PerOperation {
            authenticate: f(&self.authenticate),
            exchange: f(&self.exchange),
            floor: f(&self.floor),
        }
    }
}

/// The share of the saturated rate that the paced measurements run at.
pub const PACED_SHARE: f64 = 0.5;

/// Bytes in Redis per token and per session.
#[derive(Debug, Clone, Default)]
pub struct MemoryFigures {
    /// Sample size.
    pub samples: usize,
    /// Sampled keys that were missing (should be 0).
    pub missing: usize,
    /// Mean `MEMORY USAGE` of a user's token hash holding one token.
    pub token_hash: f64,
    /// Mean `MEMORY USAGE` of a user's sessions hash holding one session.
    pub session_hash: f64,
    /// `MEMORY USAGE` per session of one user's sessions hash holding 10.
    pub per_session_of_ten: f64,
    /// `used_memory` growth per token while loading the tokens.
    pub token_delta: f64,
    /// `used_memory` growth per session while loading the sessions.
    pub session_delta: f64,
    /// `MEMORY USAGE` of a sessions hash holding one session that carries
    /// a browser user agent (`ua_len` bytes) and an IPv4.
    pub session_with_ua: f64,
    /// Length of that user agent.
    pub ua_len: usize,
}

impl MemoryFigures {
    /// Bytes per token (`MEMORY USAGE`).
    pub fn per_token(&self) -> f64 {
        self.token_hash
    }

    /// Bytes per session (`MEMORY USAGE` of a one-session user's hash).
    pub fn per_session(&self) -> f64 {
        self.session_hash
    }
}

/// The scale scenario's results.
#[derive(Debug, Clone)]
pub struct ScaleResult {
    /// The small case.
    pub small: ScalePoint,
    /// The large case.
    pub large: ScalePoint,
    /// Seconds spent loading the large case's tokens.
    pub token_load_secs: f64,
    /// Seconds spent loading the large case's sessions.
    pub session_load_secs: f64,
    /// Bytes per token and session.
    pub memory: MemoryFigures,
}

const BROWSER_UA: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36";

/// Loads `count` users (`tag`), each with one live token; returns the seconds it took.
async fn load_tokens(gate: &Gate, tag: char, count: u64) -> Result<f64, String> {
    let start = Instant::now();
    let gate = gate.clone();
    let (_, failures) = load::run_all(count, LOAD_CONCURRENCY, move |i| {
        let gate = gate.clone();
        async move {
            gate.create_token(&user_id(tag, 0, i), TokenOptions::default())
                .await
                .map(|_| None::<()>)
                .map_err(|e| e.to_string())
        }
    })
    .await;
    if failures > 0 {
        return Err(format!("{failures} tokens failed to load"));
    }
    Ok(start.elapsed().as_secs_f64())
}

/// Loads `count` sessions (`tag` users), keeping about `keep` credentials
/// spread evenly; returns them and the seconds it took.
async fn load_sessions(gate: &Gate, tag: char, count: u64, keep: u64) -> Result<(Vec<String>, f64), String> {
    let start = Instant::now();
    let stride = (count / keep.max(1)).max(1);
    let gate = gate.clone();
    let (kept, failures) = load::run_all(count, LOAD_CONCURRENCY, move |i| {
        let gate = gate.clone();
        async move {
            let (_, credential) = gate
                .create_server_session(&user_id(tag, 0, i), client_info(i))
                .await
                .map_err(|e| e.to_string())?;
            Ok((i % stride == 0).then(|| credential.expose().to_owned()))
        }
    })
    .await;
    if failures > 0 {
        return Err(format!("{failures} sessions failed to load"));
    }
    let mut kept = kept;
    // Interleave the order so that concurrent tasks walk different parts.
    kept.sort_by_key(|(i, _)| (i.wrapping_mul(0x9E37_79B9_7F4A_7C15)) >> 16);
    Ok((
        kept.into_iter().map(|(_, c)| c).collect(),
        start.elapsed().as_secs_f64(),
    ))
}

async fn authenticate_load(
    gate: &Gate,
    credentials: Arc<Vec<String>>,
    budget: Budget,
    admin: &mut redis::Connection,
) -> Measured {
    let before = CpuProbe::take(admin);
    let auth_gate = gate.clone();
    let concurrency = budget.concurrency;
    let stats = load::task_load(budget, move |task, seq| {
        let gate = auth_gate.clone();
        let credentials = Arc::clone(&credentials);
        async move {
            let i = (seq as usize * concurrency + task) % credentials.len();
            Outcome::from(matches!(gate.authenticate(&credentials[i]).await, Ok(Some(_))))
        }
    })
    .await;
    Measured {
        cpu: before.cost(admin, &stats, false),
        stats,
        attempts: 1,
    }
}

async fn floor_load(
    conn: &ConnectionManager,
    locations: Arc<Vec<SessionLocation>>,
    budget: Budget,
    admin: &mut redis::Connection,
) -> Measured {
    let before = CpuProbe::take(admin);
    let concurrency = budget.concurrency;
    let conn = conn.clone();
    let stats = load::task_load(budget, move |task, seq| {
        let mut conn = conn.clone();
        let locations = Arc::clone(&locations);
        async move {
            let at = &locations[(seq as usize * concurrency + task) % locations.len()];
            Outcome::from(matches!(
                redis::AsyncCommands::hget::<_, _, Option<Vec<u8>>>(&mut conn, &at.key, &at.field).await,
                Ok(Some(_))
            ))
        }
    })
    .await;
    Measured {
        cpu: before.cost(admin, &stats, false),
        stats,
        attempts: 1,
    }
}

/// The measurement with the median p99 of several.
fn median_p99(mut runs: Vec<Measured>) -> Measured {
    runs.sort_by(|a, b| a.stats.p99().total_cmp(&b.stats.p99()));
    runs.swap_remove(runs.len() / 2)
}

/// Interleaved rounds of the three scale measurements (authenticate,
/// exchange, raw `HGET`), each at its own budget, and the median p99 of
/// each: a p99 from one 5 s window on a shared 2-core machine moves by tens
/// of percent between windows.
#[allow(clippy::too_many_arguments)]
async fn interleaved_rounds(
    gate: &Gate,
    conn: &ConnectionManager,
    credentials: &Arc<Vec<String>>,
    locations: &Arc<Vec<SessionLocation>>,
    exchange_tag: char,
    budgets: PerOperation<Budget>,
    what: &str,
    rounds: usize,
    admin: &mut redis::Connection,
    retries: &mut Retries,
) -> PerOperation<Measured> {
    let (mut authenticate, mut exchanges, mut floor) = (Vec::new(), Vec::new(), Vec::new());
    for round in 1..=rounds {
        eprintln!("scale: round {round}/{rounds} {what}");
        authenticate.push(least_disturbed!(
            retries,
            format!("authenticate {what}"),
            _attempt => authenticate_load(gate, Arc::clone(credentials), budgets.authenticate, admin).await
        ));
        exchanges.push(least_disturbed!(
            retries,
            format!("exchange {what}"),
            _attempt => exchange(gate.clone(), exchange_tag, true, budgets.exchange, admin).await
        ));
        floor.push(least_disturbed!(
            retries,
            format!("raw HGET {what}"),
            _attempt => floor_load(conn, Arc::clone(locations), budgets.floor, admin).await
        ));
    }
    PerOperation {
        authenticate: median_p99(authenticate),
        exchange: median_p99(exchanges),
        floor: median_p99(floor),
    }
}

#[allow(clippy::too_many_arguments)]
async fn measure_point(
    gate: &Gate,
    conn: &ConnectionManager,
    secret: &ServerSecret,
    credentials: Arc<Vec<String>>,
    entries: u64,
    exchange_tag: char,
    budget: Budget,
    rounds: usize,
    paced_rates: Option<PerOperation<f64>>,
    admin: &mut redis::Connection,
    retries: &mut Retries,
) -> ScalePoint {
    let keys_before = redis_stats::dbsize(admin);
    let locations: Arc<Vec<SessionLocation>> =
        Arc::new(credentials.iter().filter_map(|c| session_location(secret, c)).collect());
    let saturated = interleaved_rounds(
        gate,
        conn,
        &credentials,
        &locations,
        exchange_tag,
        PerOperation {
            authenticate: budget,
            exchange: budget,
            floor: budget,
        },
        &format!("at {entries}"),
        rounds,
        admin,
        retries,
    )
    .await;
    let paced_rates = paced_rates.unwrap_or_else(|| saturated.map(|m| m.stats.rate() * PACED_SHARE));
    let paced = interleaved_rounds(
        gate,
        conn,
        &credentials,
        &locations,
        exchange_tag,
        paced_rates.map(|&rate| Budget {
            pace: Some(rate),
            ..budget
        }),
        &format!("paced at {entries}"),
        rounds,
        admin,
        retries,
    )
    .await;
    ScalePoint {
        entries,
        keys_before,
        keys_after: redis_stats::dbsize(admin),
        saturated,
        paced,
        paced_rates,
    }
}

/// The scale scenario on a freshly emptied Redis (the benchmark's own).
pub async fn scale(
    redis: &PrivateRedis,
    secret: &ServerSecret,
    small: u64,
    large: u64,
    budget: Budget,
    rounds: usize,
    retries: &mut Retries,
) -> Result<ScaleResult, String> {
    redis.flush()?;
    let mut admin = redis.blocking_connection().map_err(|e| e.to_string())?;
    let gate = gate(redis.url(), secret).await?;
    let client = redis::Client::open(redis.url()).map_err(|e| e.to_string())?;
    let conn = ConnectionManager::new(client).await.map_err(|e| e.to_string())?;

    eprintln!("scale: loading {small} tokens and {small} sessions");
    load_tokens(&gate, 'k', small).await?;
    let (small_credentials, _) = load_sessions(&gate, 'k', small, small).await?;
    eprintln!("scale: measuring at {small}");
    let small_point = measure_point(
        &gate,
        &conn,
        secret,
        Arc::new(small_credentials),
        small,
        's',
        budget,
        rounds,
        None,
        &mut admin,
        retries,
    )
    .await;

    let m0 = redis_stats::used_memory(&mut admin);
    eprintln!("scale: loading {large} tokens through Gate::create_token");
    let token_load_secs = load_tokens(&gate, 'u', large).await?;
    let m1 = redis_stats::used_memory(&mut admin);
    eprintln!(
        "scale: {large} tokens in {token_load_secs:.1} s; loading {large} sessions through Gate::create_server_session"
    );
    let (large_credentials, session_load_secs) = load_sessions(&gate, 'u', large, 100_000).await?;
    let m2 = redis_stats::used_memory(&mut admin);
    eprintln!("scale: {large} sessions in {session_load_secs:.1} s; measuring at {large}");

    let mut memory = MemoryFigures {
        token_delta: (m1.saturating_sub(m0)) as f64 / large as f64,
        session_delta: (m2.saturating_sub(m1)) as f64 / large as f64,
        ..MemoryFigures::default()
    };
    let step = (large_credentials.len() / 1000).max(1);
    let (mut token_sum, mut session_sum) = (0u64, 0u64);
    for credential in large_credentials.iter().step_by(step).take(1000) {
        let user = credential.rsplit_once('.').map_or("", |(u, _)| u);
        let sessions = redis_stats::memory_usage(&mut admin, &sessions_key(user));
        let token = redis_stats::memory_usage(&mut admin, &token_key(user));
        match (sessions, token) {
            (Some(s), Some(t)) => {
                memory.samples += 1;
                session_sum += s;
                token_sum += t;
            }
            _ => memory.missing += 1,
        }
    }
    if memory.samples == 0 {
        return Err("no sampled key found: the Redis layout assumption is wrong".to_owned());
    }
    let n = memory.samples as f64;
    memory.token_hash = token_sum as f64 / n;
    memory.session_hash = session_sum as f64 / n;
    let ua_user = user_id('w', 0, 0);
    let browser = ClientInfo::new(
        Some(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 9))),
        Some(BROWSER_UA.to_owned()),
    );
    gate.create_server_session(&ua_user, browser)
        .await
        .map_err(|e| e.to_string())?;
    memory.session_with_ua = redis_stats::memory_usage(&mut admin, &sessions_key(ua_user.as_str())).unwrap_or(0) as f64;
    let busy_user = user_id('w', 0, 1);
    for i in 0..10 {
        gate.create_server_session(&busy_user, client_info(i))
            .await
            .map_err(|e| e.to_string())?;
    }
    memory.per_session_of_ten =
        redis_stats::memory_usage(&mut admin, &sessions_key(busy_user.as_str())).unwrap_or(0) as f64 / 10.0;
    memory.ua_len = BROWSER_UA.len();

    let large_point = measure_point(
        &gate,
        &conn,
        secret,
        Arc::new(large_credentials),
        large,
        'l',
        budget,
        rounds,
        Some(small_point.paced_rates),
        &mut admin,
        retries,
    )
    .await;
    Ok(ScaleResult {
        small: small_point,
        large: large_point,
        token_load_secs,
        session_load_secs,
        memory,
    })
}
