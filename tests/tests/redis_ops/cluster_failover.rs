//! Failovers of a real local cluster (3 primaries + 3 replicas) while
//! clients loop over issue → exchange → authenticate through both example
//! apps (two workers each, users on every shard).
//!
//! Manual failover (`CLUSTER FAILOVER` on the replica of every shard in
//! turn):
//! - before: every operation succeeds;
//! - during (from the first `CLUSTER FAILOVER` until the cluster is healthy
//!   again): the only errors are 503s, never a 500, and never a 401 for a
//!   token or session that was just made;
//! - after: every operation succeeds again, without restarting the apps.
//!
//! `CLUSTER FAILOVER` (without `FORCE`) is the coordinated kind: the
//! primary stops writes until its replica has caught up, so no
//! acknowledged write is lost.
//!
//! Crash (a primary SIGKILLed; its replica takes over after the node
//! timeout, 2 s here; the dead node then restarts and rejoins as a
//! replica): every request is still answered within 2 s (the apps' store
//! timeout is 500 ms, but while a node is down the cluster client also
//! waits for its slot map refresh, and 2 cores run 6 nodes, 2 apps and the
//! clients: the latencies themselves are measured by the resilience
//! benchmark, benches/RESULTS.md). Errors are 503s, and 401s only for
//! users of the crashed shard (tokens and sessions the crashed primary
//! had not yet passed on: replication is asynchronous, see
//! `RedisStoreConfig::wait_for_replicas` and the README's "Deployment");
//! users on the other shards keep working, and afterwards everything
//! succeeds again.
//!
//! The counts per phase and status are printed (`--nocapture`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use tokengate_tests::app::{AppKind, AppSpec, Backend, RunningApp};
use tokengate_tests::client::{Api, Auth, Reply};
use tokengate_tests::cluster::{exclusive_cluster_use, shared_cluster_async, Cluster};
use tokengate_tests::redis_harness::{dump_prefix_nodes, redis_url, scan_keys};

const BEFORE: u8 = 0;
const DURING: u8 = 1;
const AFTER: u8 = 2;
const PHASES: [&str; 3] = ["before", "during", "after"];
/// The apps' Redis response timeout (500 ms) and the slack for HTTP.
const ANSWER_LIMIT: Duration = Duration::from_secs(2);
/// The same while a node is down (see the module docs).
const CRASH_ANSWER_LIMIT: Duration = Duration::from_secs(2);

/// (phase, step, status) → count, and what else was seen.
#[derive(Default)]
struct Tally {
    counts: BTreeMap<(&'static str, &'static str, u16), u32>,
    /// 401s for a token or session just made: (phase, what, the user's
    /// primary).
    refused: Vec<(&'static str, String, u16)>,
    /// Requests of users whose primary did not crash, during the crash.
    other_shard_requests: u32,
    /// Those that failed.
    other_shard_errors: Vec<String>,
    slowest: Duration,
}

/// The shared state of a run.
struct Run {
    phase: AtomicU8,
    stop: AtomicBool,
    /// Port of the crashed primary (0: none).
    crashed: AtomicU16,
    tally: Mutex<Tally>,
}

impl Run {
    fn new() -> Arc<Self> {
        Arc::new(Run {
            phase: AtomicU8::new(BEFORE),
            stop: AtomicBool::new(false),
            crashed: AtomicU16::new(0),
            tally: Mutex::new(Tally::default()),
        })
    }

    /// Records an answer under the later of the phases at its start and at
    /// its end (a request that straddles the crash belongs to it).
    fn record(&self, step: &'static str, reply: &Reply, elapsed: Duration, phase: u8, primary: u16) {
        let phase = PHASES[phase.max(self.phase.load(Ordering::Relaxed)) as usize];
        let mut tally = self.tally.lock().unwrap();
        *tally.counts.entry((phase, step, reply.status)).or_default() += 1;
        tally.slowest = tally.slowest.max(elapsed);
        if reply.status == 401 {
            tally.refused.push((phase, format!("{step}: {}", reply.text), primary));
        }
        let crashed = self.crashed.load(Ordering::Relaxed);
        if crashed != 0 && crashed != primary {
            tally.other_shard_requests += 1;
        }
        if reply.status >= 300 && crashed != 0 && crashed != primary {
            tally
                .other_shard_errors
                .push(format!("{step} {} after {elapsed:?}: {}", reply.status, reply.text));
        }
    }
}

/// The last phase: 1.5 s of traffic after the failover, then the workers
/// stop and are waited for.
async fn finish(run: &Run, workers: Vec<tokio::task::JoinHandle<()>>) {
    run.phase.store(AFTER, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    run.stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.await.unwrap();
    }
}

async fn worker(api: Api, users: Vec<(String, u16)>, run: Arc<Run>) {
    let mut i = 0;
    while !run.stop.load(Ordering::Relaxed) {
        let (user, primary) = &users[i % users.len()];
        i += 1;
        let timed = |reply: Reply, started: Instant, phase: u8, step: &'static str| {
            let elapsed = started.elapsed();
            run.record(step, &reply, elapsed, phase, *primary);
            reply
        };
        let (at, started) = (run.phase.load(Ordering::Relaxed), Instant::now());
        let token = timed(api.create_token(user, json!({})).await, started, at, "issue");
        if token.status != 201 {
            continue;
        }
        let (at, started) = (run.phase.load(Ordering::Relaxed), Instant::now());
        let exchanged = timed(
            api.exchange(user, token.str("secret"), Auth::Key).await,
            started,
            at,
            "exchange",
        );
        if exchanged.status != 201 {
            continue;
        }
        let credential = exchanged.str("secret").to_owned();
        let (at, started) = (run.phase.load(Ordering::Relaxed), Instant::now());
        timed(
            api.get("/me", Auth::Session(&credential)).await,
            started,
            at,
            "authenticate",
        );
    }
}

/// Three users per primary, with their primary's port.
async fn users_on_every_shard(cluster: &Cluster) -> Vec<(String, u16)> {
    let mut by_primary: BTreeMap<u16, Vec<String>> = BTreeMap::new();
    for n in 0.. {
        let user = format!("fo{n}");
        let slot = cluster.keyslot(&format!("{{u:{user}}}")).await;
        let (primary, _) = cluster.shard_of_slot(slot).await;
        let users = by_primary.entry(primary.port).or_default();
        if users.len() < 3 {
            users.push(user);
        }
        if by_primary.len() == 3 && by_primary.values().all(|u| u.len() == 3) {
            break;
        }
        assert!(n < 1000, "could not spread users over the shards");
    }
    by_primary
        .into_iter()
        .flat_map(|(port, users)| users.into_iter().map(move |u| (u, port)))
        .collect()
}

/// Starts both apps on the cluster and two workers per app.
async fn start_load(
    cluster: &Cluster,
    users: &[(String, u16)],
    run: &Arc<Run>,
) -> (Vec<RunningApp>, Vec<tokio::task::JoinHandle<()>>) {
    let axum = RunningApp::start(AppSpec::new(AppKind::Axum, Backend::Cluster(cluster.seeds()))).await;
    let actix = RunningApp::start(axum.spec.sibling(AppKind::Actix)).await;
    let mut workers = Vec::new();
    for app in [&axum, &actix] {
        for w in 0..2 {
            // Each worker takes every other user, so all shards stay busy.
            let mine = users.iter().skip(w).step_by(2).cloned().collect();
            workers.push(tokio::spawn(worker(Api::new(app), mine, run.clone())));
        }
    }
    (vec![axum, actix], workers)
}

/// The apps' keys are on the cluster's primaries, and on no standalone
/// server (the tests' own, and one on 6379 if this machine runs it): a
/// failover test of apps that silently ran elsewhere would prove nothing.
async fn assert_apps_use_the_cluster(cluster: &Cluster, apps: &[RunningApp]) {
    let prefix = &apps[0].spec.prefix;
    let on_cluster = dump_prefix_nodes(&cluster.primary_urls().await, prefix).await;
    assert!(
        on_cluster.iter().any(|k| k.key.ends_with(":sessions")),
        "no session of the apps on the cluster: {:?}",
        on_cluster.iter().map(|k| &k.key).collect::<Vec<_>>()
    );
    let mut standalone = vec![redis_url().await];
    if std::net::TcpStream::connect("127.0.0.1:6379").is_ok() {
        standalone.push("redis://127.0.0.1:6379".to_owned());
    }
    for url in standalone {
        assert!(scan_keys(&url, prefix).await.is_empty(), "the apps wrote to {url}");
    }
}

fn summary(tally: &Tally) -> String {
    let mut out = String::new();
    for ((phase, step, status), count) in &tally.counts {
        out.push_str(&format!("\n  {phase:6} {step:12} {status}: {count}"));
    }
    out
}

/// Every step succeeded at least once in every phase, and `before`/`after`
/// saw nothing but success.
fn assert_success_outside(tally: &Tally) {
    for ((phase, step, status), count) in &tally.counts {
        if *phase != "during" {
            assert!(
                [200, 201].contains(status),
                "{phase} the failover {step} answered {status} ({count} times)"
            );
        }
    }
    for step in ["issue", "exchange", "authenticate"] {
        for phase in PHASES {
            let ok = tally
                .counts
                .iter()
                .filter(|((p, s, status), _)| *p == phase && *s == step && *status < 300)
                .map(|(_, n)| n)
                .sum::<u32>();
            assert!(ok > 0, "no successful {step} {phase} the failover");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn manual_failover_costs_at_most_503s_and_everything_works_after() {
    let _serial = exclusive_cluster_use().await;
    let cluster = shared_cluster_async().await;
    cluster.wait_healthy(Duration::from_secs(30)).await;
    let users = users_on_every_shard(cluster).await;
    let primaries: std::collections::BTreeSet<u16> = users.iter().map(|(_, p)| *p).collect();
    let run = Run::new();
    let (apps, workers) = start_load(cluster, &users, &run).await;

    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_apps_use_the_cluster(cluster, &apps).await;
    run.phase.store(DURING, Ordering::Relaxed);
    let started = Instant::now();
    let mut failovers = Vec::new();
    for primary in &primaries {
        let nodes = cluster.nodes().await;
        let id = nodes.iter().find(|n| n.port == *primary).unwrap().id.clone();
        let replica = nodes
            .iter()
            .find(|n| n.primary_id.as_deref() == Some(id.as_str()))
            .expect("a replica of the primary")
            .port;
        let t = Instant::now();
        cluster.failover(replica).await;
        cluster.wait_healthy(Duration::from_secs(30)).await;
        failovers.push((replica, t.elapsed()));
    }
    let during = started.elapsed();
    finish(&run, workers).await;

    {
        let tally = run.tally.lock().unwrap();
        eprintln!(
            "manual failovers (new primary, time until healthy) {failovers:?} in {during:?}, slowest answer {:?}:{}",
            tally.slowest,
            summary(&tally)
        );
        assert!(tally.refused.is_empty(), "refused: {:#?}", tally.refused);
        for ((phase, step, status), count) in &tally.counts {
            assert!(
                [200, 201, 503].contains(status),
                "{phase} the failover {step} answered {status} ({count} times)"
            );
        }
        assert!(tally.slowest <= ANSWER_LIMIT, "an answer took {:?}", tally.slowest);
        assert_success_outside(&tally);
    }
    // The topology really changed: every former primary is a replica now.
    let nodes = cluster.nodes().await;
    for primary in &primaries {
        assert!(
            nodes.iter().any(|n| n.port == *primary && !n.primary),
            "{primary} is still a primary"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn crashed_primary_costs_503s_and_its_unreplicated_sessions_answers_within_2s_then_everything_works() {
    let _serial = exclusive_cluster_use().await;
    let cluster = shared_cluster_async().await;
    cluster.wait_healthy(Duration::from_secs(30)).await;
    let users = users_on_every_shard(cluster).await;
    let run = Run::new();
    let (apps, workers) = start_load(cluster, &users, &run).await;

    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_apps_use_the_cluster(cluster, &apps).await;
    let victim = users[0].1;
    run.phase.store(DURING, Ordering::Relaxed);
    run.crashed.store(victim, Ordering::Relaxed);
    let started = Instant::now();
    cluster.kill_node(victim);
    cluster.wait_serving(victim, Duration::from_secs(20)).await;
    let promoted = started.elapsed();
    tokio::task::block_in_place(|| cluster.restart_node(victim));
    cluster.wait_healthy(Duration::from_secs(30)).await;
    let healthy = started.elapsed();
    run.crashed.store(0, Ordering::Relaxed);
    finish(&run, workers).await;

    let tally = run.tally.lock().unwrap();
    eprintln!(
        "primary {victim} killed: replica serving after {promoted:?}, healthy (old primary back as replica) after {healthy:?}; \
         slowest answer {:?}; errors for users of the other shards: {} of {}; refused sessions/tokens during: {}:{}",
        tally.slowest,
        tally.other_shard_errors.len(),
        tally.other_shard_requests,
        tally.refused.len(),
        summary(&tally)
    );
    for ((phase, step, status), count) in &tally.counts {
        assert!(
            [200, 201, 401, 503].contains(status),
            "{phase} the crash {step} answered {status} ({count} times)"
        );
    }
    assert!(
        tally.refused.iter().all(|(phase, _, _)| *phase == "during"),
        "refused outside the crash: {:#?}",
        tally.refused
    );
    assert!(
        tally.refused.iter().all(|(_, _, primary)| *primary == victim),
        "refused for users of a shard that did not crash: {:#?}",
        tally.refused
    );
    // The other shards keep working. While a node is down, every failed
    // request to it makes the cluster client refresh its slot map, holding
    // a lock that all requests wait for; a few requests of other shards
    // can wait past the timeout (503, never a hang).
    eprintln!("errors of the other shards' users: {:#?}", tally.other_shard_errors);
    assert!(
        tally.other_shard_requests > 100
            && tally.other_shard_errors.len() as u32 * 20 <= tally.other_shard_requests
            && tally.other_shard_errors.iter().all(|e| e.contains(" 503 ")),
        "the other shards were disturbed: {} of {} failed: {:#?}",
        tally.other_shard_errors.len(),
        tally.other_shard_requests,
        tally.other_shard_errors
    );
    assert!(
        tally.slowest <= CRASH_ANSWER_LIMIT,
        "an answer took {:?}",
        tally.slowest
    );
    assert_success_outside(&tally);
}
