//! Redis faults under a running example app (standalone Redis of the
//! test's own, started on a free port):
//!
//! - killed mid-load: every request that needs Redis answers 503 with
//!   Appwrite's JSON error within the 500 ms response timeout (+100 ms),
//!   never hangs, never lets a session through; restarted on the same
//!   port: the app recovers by itself (issue, exchange, authenticate all
//!   succeed) within 2 s, without being restarted;
//! - frozen (SIGSTOP, connections open but silent): the same 503s within the
//!   timeout, and after SIGCONT the sessions made before work again;
//! - `SCRIPT FLUSH` over and over during a load: no request fails.
//!
//! The measured numbers are printed (`--nocapture` shows them).

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;
use tokengate_tests::app::{AppKind, AppSpec, Backend, RunningApp};
use tokengate_tests::client::{Api, Auth, Reply};
use tokengate_tests::redis_harness::{connection, start_private_redis};

/// The apps' Redis response timeout (the default), and a generous slack on
/// top of it for a busy 2-core machine: the assertion is that requests fail
/// closed instead of waiting for the fault to end, not how fast (the
/// printed figures are what was measured).
const RESPONSE_TIMEOUT: Duration = Duration::from_millis(500);
const SLACK: Duration = Duration::from_millis(700);
const RECOVERY: Duration = Duration::from_secs(10);

/// The tests measure latencies: one at a time, so that one's load does not
/// slow down another's measurement.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn timed(request: impl std::future::Future<Output = Reply>) -> (Reply, Duration) {
    let started = Instant::now();
    let reply = request.await;
    (reply, started.elapsed())
}

#[track_caller]
fn assert_unavailable(reply: &Reply, elapsed: Duration, what: &str) {
    assert!(
        elapsed <= RESPONSE_TIMEOUT + SLACK,
        "{what}: answered after {elapsed:?}, beyond the timeout"
    );
    reply.assert_error(503, "general_server_error");
}

/// One full login: issue (API key), exchange, authenticate. `Ok` with the
/// credential, or `Err` with the first failed step's status.
async fn full_cycle(api: &Api, user: &str) -> Result<String, (&'static str, u16)> {
    let token = api.create_token(user, json!({})).await;
    if token.status != 201 {
        return Err(("issue", token.status));
    }
    let exchanged = api.exchange(user, token.str("secret"), Auth::Key).await;
    if exchanged.status != 201 {
        return Err(("exchange", exchanged.status));
    }
    let credential = exchanged.str("secret").to_owned();
    let me = api.get("/me", Auth::Session(&credential)).await;
    if me.status != 200 {
        return Err(("authenticate", me.status));
    }
    Ok(credential)
}

/// Requests that need Redis, all expected to be 503 while it is away; the
/// slowest answer is returned.
async fn probe_unavailable(api: &Api, credential: &str, rounds: usize) -> Duration {
    let mut slowest = Duration::ZERO;
    for round in 0..rounds {
        let (me, t) = timed(api.get("/me", Auth::Session(credential))).await;
        assert_unavailable(&me, t, "GET /me with a session");
        slowest = slowest.max(t);
        let (cookie, t) = timed(api.get("/v1/account", Auth::Cookie(credential))).await;
        assert_unavailable(&cookie, t, "GET /v1/account with the cookie");
        slowest = slowest.max(t);
        let (token, t) = timed(api.create_token("alice", json!({}))).await;
        assert_unavailable(&token, t, "issue");
        slowest = slowest.max(t);
        let (exchange, t) = timed(api.exchange("alice", "123456", Auth::None)).await;
        assert_unavailable(&exchange, t, "exchange");
        slowest = slowest.max(t);
        if round == 0 {
            // A burst: concurrent requests are all answered within the timeout too.
            let burst: Vec<_> = (0..16)
                .map(|_| {
                    let api = api.clone();
                    let credential = credential.to_owned();
                    tokio::spawn(async move { timed(api.get("/me", Auth::Session(&credential))).await })
                })
                .collect();
            for task in burst {
                let (reply, t) = task.await.unwrap();
                assert_unavailable(&reply, t, "concurrent GET /me");
                slowest = slowest.max(t);
            }
        }
        // Routes without a session still work (no Redis needed).
        api.get("/public", Auth::None).await.assert_status(200);
    }
    slowest
}

/// Repeats full cycles until one succeeds; every failure on the way must
/// be a 503 (never a 500, never a 401 for a token or session just made).
/// Returns the time from `since` to the first full success.
async fn time_to_recover(api: &Api, since: Instant, limit: Duration) -> Duration {
    loop {
        match full_cycle(api, "alice").await {
            Ok(_) => return since.elapsed(),
            Err((step, status)) => {
                assert_eq!(status, 503, "{step} failed with {status} while recovering");
                assert!(
                    since.elapsed() < limit,
                    "no recovery within {limit:?} (last: {step} {status})"
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_redis_is_503_then_recovers_without_restarting_the_app() {
    let _serial = SERIAL.lock().await;
    let mut redis = start_private_redis().await;
    let axum = RunningApp::start(AppSpec::new(AppKind::Axum, Backend::Redis(redis.url().to_owned()))).await;
    let actix = RunningApp::start(axum.spec.sibling(AppKind::Actix)).await;
    let apps = [Api::new(&axum), Api::new(&actix)];
    let mut credentials = Vec::new();
    for api in &apps {
        credentials.push(full_cycle(api, "alice").await.expect("login before the outage"));
    }

    // Mid-load: clients keep logging in while Redis is killed under them.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load: Vec<_> = apps
        .iter()
        .cloned()
        .map(|api| {
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut statuses = std::collections::BTreeMap::<u16, u32>::new();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let (reply, t) = timed(api.create_token("loader", json!({}))).await;
                    assert!(t <= RESPONSE_TIMEOUT + SLACK, "a request took {t:?}");
                    *statuses.entry(reply.status).or_default() += 1;
                }
                statuses
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    redis.kill();
    let killed = Instant::now();
    let mut slowest = Duration::ZERO;
    for (api, credential) in apps.iter().zip(&credentials) {
        slowest = slowest.max(probe_unavailable(api, credential, 5).await);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for task in load {
        let statuses = task.await.unwrap();
        assert!(
            statuses.keys().all(|s| *s == 201 || *s == 503),
            "the load saw other statuses: {statuses:?}"
        );
        eprintln!("load during the kill: {statuses:?}");
    }
    let outage = killed.elapsed();

    redis.restart().await;
    let restarted = Instant::now();
    let mut recovery = Vec::new();
    for api in &apps {
        recovery.push(time_to_recover(api, restarted, RECOVERY).await);
    }
    for (api, credential) in apps.iter().zip(&credentials) {
        // The killed server's memory is gone: old sessions are unknown now.
        api.get("/me", Auth::Session(credential))
            .await
            .assert_error(401, "user_unauthorized");
        // Everything works again, repeatedly.
        for _ in 0..5 {
            full_cycle(api, "alice").await.expect("after recovery");
        }
    }
    eprintln!(
        "redis killed for {outage:?}: slowest 503 {slowest:?} (limit {:?}); recovered after restart in {recovery:?} (axum, actix; limit {RECOVERY:?})",
        RESPONSE_TIMEOUT + SLACK
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn frozen_redis_is_503_within_the_timeout_then_sessions_work_again() {
    let _serial = SERIAL.lock().await;
    let redis = start_private_redis().await;
    let axum = RunningApp::start(AppSpec::new(AppKind::Axum, Backend::Redis(redis.url().to_owned()))).await;
    let actix = RunningApp::start(axum.spec.sibling(AppKind::Actix)).await;
    let apps = [Api::new(&axum), Api::new(&actix)];
    let mut credentials = Vec::new();
    for api in &apps {
        credentials.push(full_cycle(api, "alice").await.expect("login before the freeze"));
    }

    redis.pause();
    let mut slowest = Duration::ZERO;
    for (api, credential) in apps.iter().zip(&credentials) {
        slowest = slowest.max(probe_unavailable(api, credential, 2).await);
    }
    redis.resume();
    let resumed = Instant::now();
    let mut recovery = Vec::new();
    for api in &apps {
        recovery.push(time_to_recover(api, resumed, RECOVERY).await);
    }
    // Nothing was lost: the sessions from before the freeze are valid.
    for (api, credential) in apps.iter().zip(&credentials) {
        api.get("/me", Auth::Session(credential)).await.assert_status(200);
    }
    eprintln!("redis frozen: slowest 503 {slowest:?}; recovered after SIGCONT in {recovery:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn script_flush_mid_run_fails_no_request() {
    let _serial = SERIAL.lock().await;
    let redis = start_private_redis().await;
    let axum = RunningApp::start(AppSpec::new(AppKind::Axum, Backend::Redis(redis.url().to_owned()))).await;
    let actix = RunningApp::start(axum.spec.sibling(AppKind::Actix)).await;
    let apps = [Api::new(&axum), Api::new(&actix)];

    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flusher = {
        let stop = stop.clone();
        let url = redis.url().to_owned();
        tokio::spawn(async move {
            let mut conn = connection(&url).await;
            let mut flushes = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _: () = redis::cmd("SCRIPT").arg("FLUSH").query_async(&mut conn).await.unwrap();
                flushes += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            flushes
        })
    };
    let mut workers = Vec::new();
    for (i, api) in apps.iter().enumerate() {
        for w in 0..2 {
            let api = api.clone();
            let user = format!("flush{i}{w}");
            workers.push(tokio::spawn(async move {
                let mut cycles = 0u32;
                for _ in 0..25 {
                    let credential = full_cycle(&api, &user)
                        .await
                        .unwrap_or_else(|(step, status)| panic!("{step} failed with {status} during SCRIPT FLUSH"));
                    let sessions = api.get("/v1/account/sessions", Auth::Session(&credential)).await;
                    sessions.assert_status(200);
                    let logout = api
                        .send(
                            Method::DELETE,
                            "/v1/account/sessions/current",
                            Auth::Session(&credential),
                            None,
                        )
                        .await;
                    assert_eq!(logout.status, 204, "logout during SCRIPT FLUSH: {}", logout.text);
                    cycles += 1;
                }
                cycles
            }));
        }
    }
    let mut cycles = 0;
    for worker in workers {
        cycles += worker.await.unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let flushes = flusher.await.unwrap();
    let mut conn = connection(redis.url()).await;
    let errors: String = redis::cmd("INFO")
        .arg("errorstats")
        .query_async(&mut conn)
        .await
        .unwrap();
    let noscript = tokengate_tests::cluster::parse_errorstats(&errors)
        .into_iter()
        .find(|(code, _)| code == "NOSCRIPT")
        .map_or(0, |(_, n)| n);
    assert!(flushes >= 5, "only {flushes} flushes happened during the run");
    assert!(noscript > 0, "no request ever met a flushed script cache");
    eprintln!(
        "{cycles} login/list/logout cycles, {flushes} SCRIPT FLUSHes, {noscript} NOSCRIPT answers, 0 failed requests"
    );
}
