//! What enabling events costs (issue 17): the issue + exchange rate of a
//! gate with an event log against the same gate without one, in the same
//! process at the same concurrency, on the Redis store (with
//! `RedisEventLog::from_store`, the store's own connection) and on the
//! memory store (with `MemoryEventLog`). Not part of the default run:
//! `BENCH_SECTIONS=events`.
//!
//! Round trips are counted by wrapping the store's redis-rs connection: a
//! call made inside an operation (the request, marked with a task-local) is
//! on the request path; a call from anywhere else is the gate's background
//! appender (its `XADD` pipeline and the read of a new user's record).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::aio::{ConnectionLike, ConnectionManager};
use redis::{Cmd, Pipeline, RedisFuture, Value};
use tokengate::store::{MemoryStore, RedisStore, RedisStoreConfig};
use tokengate::{ClientInfo, Gate, ServerSecret, TokenOptions};
use tokengate_events::{EventLogConfig, LogSink, MemoryEventLog, RedisEventLog};

use crate::load::{self, Budget, Outcome, Stats};
use crate::redis_stats;
use crate::scenarios::{user_id, CpuProbe, PREFIX};
use tokengate_tests::redis_harness::PrivateRedis;

tokio::task_local! {
    /// Which operation the current task is running: 0 issue, 1 exchange,
    /// 2 logout.
    static OP: usize;
}

/// Round trips seen by a [`Counting`] connection.
#[derive(Debug, Default)]
struct Counts {
    /// Per operation (issue, exchange, logout), made inside it.
    request: [AtomicU64; 3],
    /// Made outside any operation (the background appender).
    background: AtomicU64,
    /// Commands in those background round trips.
    background_commands: AtomicU64,
    /// Those of the background round trips that were pipelines.
    background_pipelines: AtomicU64,
}

impl Counts {
    fn record(&self, commands: usize, pipeline: bool) {
        match OP.try_with(|op| *op) {
            Ok(op) => {
                self.request[op].fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {
                self.background.fetch_add(1, Ordering::Relaxed);
                self.background_commands.fetch_add(commands as u64, Ordering::Relaxed);
                if pipeline {
                    self.background_pipelines.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    fn snapshot(&self) -> [u64; 6] {
        [
            self.request[0].load(Ordering::Relaxed),
            self.request[1].load(Ordering::Relaxed),
            self.request[2].load(Ordering::Relaxed),
            self.background.load(Ordering::Relaxed),
            self.background_commands.load(Ordering::Relaxed),
            self.background_pipelines.load(Ordering::Relaxed),
        ]
    }
}

/// A redis-rs connection that counts its round trips (one per command or
/// pipeline sent).
#[derive(Clone)]
struct Counting {
    inner: ConnectionManager,
    counts: Arc<Counts>,
}

impl ConnectionLike for Counting {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        self.counts.record(1, false);
        self.inner.req_packed_command(cmd)
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        self.counts.record(pipeline.len(), true);
        self.inner.req_packed_commands(pipeline, offset, count)
    }

    fn get_db(&self) -> i64 {
        self.inner.get_db()
    }
}

/// Which store and whether the gate announces events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `RedisStore` on the benchmark's Redis; events to `RedisEventLog` on it.
    Redis,
    /// The same with a 60 s response timeout instead of the default 500 ms
    /// (the log appends with the store's timeout): a diagnosis, to see
    /// whether the appender's large pipelines time out and are sent again.
    RedisLongTimeout,
    /// `MemoryStore`; events to `MemoryEventLog`.
    Memory,
    /// `RedisStore::with_events`: each change's script writes its events
    /// (standalone Redis); on a plain `ConnectionManager`, so no round-trip
    /// counts.
    RedisInScript,
}

/// A gate and, on Redis, the counter of its connection's round trips.
struct Subject {
    gate: Gate,
    counts: Option<Arc<Counts>>,
    /// The sink of the background path (none when events are off or the
    /// store writes them itself).
    sink: Option<Arc<LogSink>>,
}

impl Subject {
    /// Waits until every event announced so far is appended.
    async fn flush(&self) {
        if let Some(sink) = &self.sink {
            sink.flush().await;
        }
    }
}

async fn subject(backend: Backend, events: bool, url: &str, secret: &ServerSecret) -> Result<Subject, String> {
    let builder = Gate::builder().server_key(secret.clone());
    match backend {
        Backend::Redis | Backend::RedisLongTimeout => {
            let mut config = RedisStoreConfig::default().prefix(PREFIX);
            if backend == Backend::RedisLongTimeout {
                config = config.response_timeout(Duration::from_secs(60));
            }
            let client = redis::Client::open(url).map_err(|e| e.to_string())?;
            let inner = ConnectionManager::new(client).await.map_err(|e| e.to_string())?;
            let counts = Arc::new(Counts::default());
            let connection = Counting {
                inner,
                counts: Arc::clone(&counts),
            };
            let store = RedisStore::with_connection(connection, config);
            let sink = events.then(|| {
                let log = RedisEventLog::from_store(&store, secret.clone(), EventLogConfig::default());
                LogSink::new(Arc::new(log))
            });
            let builder = match &sink {
                Some(sink) => builder.event_sink(sink.clone()),
                None => builder,
            };
            let gate = builder.store(store).build().map_err(|e| e.to_string())?;
            Ok(Subject {
                gate,
                counts: Some(counts),
                sink,
            })
        }
        Backend::RedisInScript => {
            let config = RedisStoreConfig::default().prefix(PREFIX);
            let client = redis::Client::open(url).map_err(|e| e.to_string())?;
            let connection = ConnectionManager::new(client).await.map_err(|e| e.to_string())?;
            let store = RedisStore::with_connection(connection, config);
            let builder = if events {
                let log = RedisEventLog::from_store(&store, secret.clone(), EventLogConfig::default());
                let store = store.with_events(log.stream()).map_err(|e| e.to_string())?;
                builder.store_writing_events(store)
            } else {
                builder.store(store)
            };
            let gate = builder.build().map_err(|e| e.to_string())?;
            Ok(Subject {
                gate,
                counts: None,
                sink: None,
            })
        }
        Backend::Memory => {
            let builder = builder.store(MemoryStore::new());
            let sink = events.then(|| LogSink::new(Arc::new(MemoryEventLog::new(secret.clone()))));
            let builder = match &sink {
                Some(sink) => builder.event_sink(sink.clone()),
                None => builder,
            };
            let gate = builder.build().map_err(|e| e.to_string())?;
            Ok(Subject {
                gate,
                counts: None,
                sink,
            })
        }
    }
}

/// One measurement of issue + exchange pairs.
#[derive(Debug, Clone)]
pub struct PairRun {
    /// Rate and latency in the window.
    pub stats: Stats,
    /// Share of the machine other processes used meanwhile (0..=1).
    pub other_load: f64,
    /// CPU per pair: Redis's and this process's (µs).
    pub cpu_us: (f64, f64),
    /// Redis commands processed per pair (`INFO stats
    /// total_commands_processed`, warm-up and the background appends up to
    /// the flush included), Redis only.
    pub redis_commands: Option<f64>,
    /// `XADD` calls per pair (`INFO commandstats`), Redis only.
    pub xadds: Option<f64>,
    /// How long `Gate::flush_events` took after the window: the appender's
    /// backlog when the load stopped.
    pub flush: Duration,
    /// Of the `XADD`s the pairs made in the end, the share Redis had
    /// processed when the window closed, Redis only.
    pub appended_in_window: Option<f64>,
}

fn commandstat_calls(admin: &mut redis::Connection, command: &str) -> u64 {
    let Ok(text) = redis::cmd("INFO").arg("commandstats").query::<String>(admin) else {
        return 0;
    };
    let prefix = format!("cmdstat_{command}:calls=");
    text.lines()
        .find_map(|line| line.strip_prefix(prefix.as_str()))
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn commands_processed(admin: &mut redis::Connection) -> u64 {
    redis_stats::info_field(admin, "stats", "total_commands_processed")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

async fn pairs(subject: &Subject, tag: char, budget: Budget, admin: &mut redis::Connection, redis: bool) -> PairRun {
    let gate = subject.gate.clone();
    let before = CpuProbe::take(admin);
    let (commands, xadds) = (commands_processed(admin), commandstat_calls(admin, "xadd"));
    let load_gate = gate.clone();
    let stats = load::task_load(budget, move |task, seq| {
        let gate = load_gate.clone();
        async move {
            let user = user_id(tag, task as u64, seq);
            let token = OP
                .scope(0, async { gate.create_token(&user, TokenOptions::default()).await })
                .await;
            let Some(secret) = token.ok().and_then(|t| t.secret) else {
                return Outcome::Failed;
            };
            let session = OP
                .scope(1, async {
                    gate.create_session(&user, secret.expose(), ClientInfo::default()).await
                })
                .await;
            Outcome::from(session.is_ok())
        }
    })
    .await;
    let xadds_at_end = commandstat_calls(admin, "xadd");
    let flushing = Instant::now();
    subject.flush().await;
    let flush = flushing.elapsed();
    let cpu = before.cost(admin, &stats, false);
    let done = (stats.ops + stats.warm_ops).max(1) as f64;
    let per_pair = |after: u64, before: u64| after.saturating_sub(before) as f64 / done;
    let xadds_after = commandstat_calls(admin, "xadd");
    let appended_in_window = (redis && xadds_after > xadds)
        .then(|| xadds_at_end.saturating_sub(xadds) as f64 / (xadds_after - xadds) as f64);
    PairRun {
        appended_in_window,
        other_load: cpu.other_load,
        cpu_us: (cpu.redis_us, cpu.app_us),
        redis_commands: redis.then(|| per_pair(commands_processed(admin), commands)),
        xadds: redis.then(|| per_pair(xadds_after, xadds)),
        flush,
        stats,
    }
}

/// Round trips per operation, counted over [`COUNTED`] users.
#[derive(Debug, Clone, Default)]
pub struct RoundTrips {
    /// On the request path, per operation (issue, exchange, logout).
    pub request: [f64; 3],
    /// In the background, per user (issue + exchange + logout).
    pub background: f64,
    /// Commands in those background round trips, per user.
    pub background_commands: f64,
    /// Those of the background round trips that were pipelines (the
    /// appends), per user; the rest are single commands.
    pub background_pipelines: f64,
}

/// Users (each issued a token, exchanged, logged out) of the counting pass.
pub const COUNTED: u64 = 2_000;

async fn count_round_trips(subject: &Subject, tag: char, concurrency: usize) -> Result<Option<RoundTrips>, String> {
    let Some(counts) = &subject.counts else {
        return Ok(None);
    };
    let before = counts.snapshot();
    let gate = subject.gate.clone();
    let (_, failures) = load::run_all(COUNTED, concurrency, move |i| {
        let gate = gate.clone();
        async move {
            let user = user_id(tag, 0, i);
            let token = OP
                .scope(0, async { gate.create_token(&user, TokenOptions::default()).await })
                .await
                .map_err(|e| e.to_string())?;
            let secret = token.secret.ok_or("no secret")?;
            OP.scope(1, async {
                gate.create_session(&user, secret.expose(), ClientInfo::default()).await
            })
            .await
            .map_err(|e| e.to_string())?;
            OP.scope(2, async { gate.delete_sessions(&user).await })
                .await
                .map_err(|e| e.to_string())?;
            Ok::<_, String>(Some(()))
        }
    })
    .await;
    if failures > 0 {
        return Err(format!("round-trip count: {failures} users failed"));
    }
    subject.flush().await;
    let after = counts.snapshot();
    let per = |k: usize| (after[k] - before[k]) as f64 / COUNTED as f64;
    Ok(Some(RoundTrips {
        request: [per(0), per(1), per(2)],
        background: per(3),
        background_commands: per(4),
        background_pipelines: per(5),
    }))
}

/// Events off and on for one backend.
#[derive(Debug, Clone)]
pub struct EventsResult {
    /// The store.
    pub backend: Backend,
    /// Per round: (off, on).
    pub rounds: Vec<(PairRun, PairRun)>,
    /// Round trips with events off and on (Redis only).
    pub round_trips: Option<(RoundTrips, RoundTrips)>,
}

impl EventsResult {
    /// Per round, on / off.
    pub fn ratios(&self) -> Vec<f64> {
        self.rounds
            .iter()
            .map(|(off, on)| on.stats.rate() / off.stats.rate())
            .collect()
    }

    /// Median over the rounds of the rates off and on, and their ratio.
    pub fn medians(&self) -> (f64, f64, f64) {
        let off = median(self.rounds.iter().map(|(off, _)| off.stats.rate()).collect());
        let on = median(self.rounds.iter().map(|(_, on)| on.stats.rate()).collect());
        (off, on, on / off)
    }

    /// Median of the per-round ratios: each round measures off and on back
    /// to back, so a slow spell of the machine moves both sides of a ratio.
    pub fn paired_ratio(&self) -> f64 {
        median(self.ratios())
    }

    /// Median CPU per pair, Redis + this process (µs), off and on, and
    /// off / on: the rate ratio the CPU cost allows when the machine is
    /// the limit, independent of how the scheduler shared it in a round.
    pub fn cpu_per_pair(&self) -> (f64, f64, f64) {
        let total = |run: &PairRun| run.cpu_us.0 + run.cpu_us.1;
        let off = median(self.rounds.iter().map(|(off, _)| total(off)).collect());
        let on = median(self.rounds.iter().map(|(_, on)| total(on)).collect());
        (off, on, off / on)
    }

    /// Median CPU per pair (µs) of Redis and of this process, off and on.
    pub fn cpu_split(&self) -> [(f64, f64); 2] {
        let side = |pick: fn(&(PairRun, PairRun)) -> &PairRun| {
            (
                median(self.rounds.iter().map(|r| pick(r).cpu_us.0).collect()),
                median(self.rounds.iter().map(|r| pick(r).cpu_us.1).collect()),
            )
        };
        [side(|r| &r.0), side(|r| &r.1)]
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Measures `backend` with events off and on, `rounds` times each,
/// alternating which goes first; the Redis server is flushed before each
/// measurement (it is the benchmark's own).
pub async fn run(
    backend: Backend,
    redis: &PrivateRedis,
    secret: &ServerSecret,
    budget: Budget,
    rounds: usize,
    admin: &mut redis::Connection,
) -> Result<EventsResult, String> {
    let off = subject(backend, false, redis.url(), secret).await?;
    let on = subject(backend, true, redis.url(), secret).await?;
    let is_redis = backend != Backend::Memory;
    let counted = (
        count_round_trips(&off, 'r', budget.concurrency).await?,
        count_round_trips(&on, 's', budget.concurrency).await?,
    );
    let round_trips = match counted {
        (Some(off), Some(on)) => Some((off, on)),
        _ => None,
    };
    let tags = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l'];
    let mut result = EventsResult {
        backend,
        rounds: Vec::new(),
        round_trips,
    };
    for round in 0..rounds {
        let mut pair = [None, None];
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for which in order {
            if is_redis {
                redis.flush()?;
            }
            let subject = if which == 0 { &off } else { &on };
            let tag = tags[(round * 2 + which) % tags.len()];
            let measured = pairs(subject, tag, budget, admin, is_redis).await;
            eprintln!(
                "events {:?} round {}/{rounds}: events {}: {:.0} pairs/s, p50 {:.2} ms, p99 {:.2} ms, {} errors, flush {:.0} ms, other load {:.0}%",
                backend,
                round + 1,
                if which == 0 { "off" } else { "on" },
                measured.stats.rate(),
                measured.stats.p50(),
                measured.stats.p99(),
                measured.stats.errors,
                measured.flush.as_secs_f64() * 1e3,
                measured.other_load * 100.0
            );
            pair[which] = Some(measured);
        }
        let [Some(off), Some(on)] = pair else {
            unreachable!("both measured")
        };
        result.rounds.push((off, on));
    }
    Ok(result)
}

/// The section as markdown: a table of the rates and, for Redis, of the
/// round trips.
pub fn markdown(results: &[EventsResult], budget: Budget) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "Issue + exchange pairs (`create_token` then `create_session`, a fresh user each), {} concurrent tasks, {:.1} s warm-up then {:.1} s measured per row, events off and on alternating over {} rounds; the median round is shown.\n\n",
        budget.concurrency,
        budget.warmup.as_secs_f64(),
        budget.duration.as_secs_f64(),
        results.first().map_or(0, |r| r.rounds.len())
    ));
    out.push_str("| store | event log | pairs/s off | pairs/s on | on / off (median rates) | on / off (median of the rounds' ratios) | per round | CPU µs / pair off / on (Redis + app) | off / on CPU | Redis + app µs off → on | p50 ms off / on | p99 ms off / on | flush after window ms | events appended by the window's end | Redis commands / pair off / on | XADD / pair | errors | other load |\n");
    out.push_str("|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for result in results {
        let (off_rate, on_rate, ratio) = result.medians();
        let paired = result.paired_ratio();
        let (cpu_off, cpu_on, cpu_ratio) = result.cpu_per_pair();
        let [(redis_off, app_off), (redis_on, app_on)] = result.cpu_split();
        let median_round = result
            .rounds
            .iter()
            .min_by(|a, b| {
                (a.0.stats.rate() - off_rate)
                    .abs()
                    .total_cmp(&(b.0.stats.rate() - off_rate).abs())
            })
            .expect("at least one round");
        let (off, on) = median_round;
        let per_round = result
            .ratios()
            .iter()
            .map(|r| format!("{r:.2}"))
            .collect::<Vec<_>>()
            .join(", ");
        let (store, log) = match result.backend {
            Backend::Redis => ("`RedisStore`", "`RedisEventLog::from_store`"),
            Backend::RedisLongTimeout => (
                "`RedisStore`, response timeout 60 s (diagnosis)",
                "`RedisEventLog::from_store`",
            ),
            Backend::Memory => ("`MemoryStore`", "`MemoryEventLog`"),
            Backend::RedisInScript => (
                "`RedisStore::with_events` (written in the change's script)",
                "`RedisEventLog::from_store`",
            ),
        };
        let opt = |v: Option<f64>| v.map_or("–".to_owned(), |v| format!("{v:.2}"));
        let errors: u64 = result.rounds.iter().map(|(a, b)| a.stats.errors + b.stats.errors).sum();
        let load = result
            .rounds
            .iter()
            .map(|(a, b)| a.other_load.max(b.other_load))
            .fold(0.0, f64::max);
        out.push_str(&format!(
            "| {store} | {log} | {off_rate:.0} | {on_rate:.0} | **{ratio:.3}** | **{paired:.3}** | {per_round} | {cpu_off:.0} / {cpu_on:.0} | {cpu_ratio:.3} | {redis_off:.0} + {app_off:.0} → {redis_on:.0} + {app_on:.0} | {:.2} / {:.2} | {:.2} / {:.2} | {:.0} | {} | {} / {} | {} | {errors} | {:.0}% |\n",
            off.stats.p50(),
            on.stats.p50(),
            off.stats.p99(),
            on.stats.p99(),
            on.flush.as_secs_f64() * 1e3,
            on.appended_in_window.map_or("–".to_owned(), |v| format!("{:.0}%", v * 100.0)),
            opt(off.redis_commands),
            opt(on.redis_commands),
            opt(on.xadds),
            load * 100.0
        ));
    }
    for result in results {
        let Some((off, on)) = &result.round_trips else {
            continue;
        };
        out.push_str(&format!(
            "\nRound trips on the Redis connection ({:?}), counted by a wrapper around it over {COUNTED} users (issue, exchange, logout each; a call inside the operation is on its request path, any other the background appender's):\n\n",
            result.backend
        ));
        out.push_str("| | issue | exchange | logout | background round trips / user | of which pipelines (appends) | background commands / user |\n");
        out.push_str("|---|---:|---:|---:|---:|---:|---:|\n");
        for (name, trips) in [("events off", off), ("events on", on)] {
            out.push_str(&format!(
                "| {name} | {:.2} | {:.2} | {:.2} | {:.3} | {:.3} | {:.2} |\n",
                trips.request[0],
                trips.request[1],
                trips.request[2],
                trips.background,
                trips.background_pipelines,
                trips.background_commands
            ));
        }
    }
    out
}
