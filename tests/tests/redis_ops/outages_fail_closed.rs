//! A Redis outage under a running example app fails closed, and the app
//! recovers by itself. Each test has a `redis-server` of its own on a free
//! port; the tests take turns (they time answers).
//!
//! - Paused (`CLIENT PAUSE`), blocked (`DEBUG SLEEP`), killed: every
//!   request that needs the store answers 503 (Appwrite's error JSON)
//!   within the deadline, those that do not their usual 401, and no
//!   revoked, forged or garbage credential ever gets in; a server
//!   restarted empty on the same port is used again without restarting
//!   the app, and nothing from before it gets in.
//! - Killed mid-load (clients logging in all along): the same 503s, never
//!   a hang; after the restart a full login (issue, exchange,
//!   authenticate) succeeds within 10 s.
//! - Frozen (SIGSTOP, connections open but silent): the same 503s, and
//!   after SIGCONT the sessions made before work again.
//! - `SCRIPT FLUSH` over and over during a load: no request fails.
//!
//! The deadline is the apps' 500 ms store timeout plus 700 ms of slack for
//! a busy 2-core machine (the suites run side by side): what is asserted
//! is that requests fail closed instead of waiting for the fault to end
//! (each fault lasts 1.5-2 s), not how fast. The latencies themselves are
//! measured by `cargo run --release -p tokengate-bench --bin resilience`
//! (benches/RESULTS.md); the tests print theirs (`--nocapture`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};
use tokengate_tests::app::{AppKind, AppSpec, Backend, RunningApp};
use tokengate_tests::client::{Api, Auth, Reply};
use tokengate_tests::redis_harness::{connection, start_private_redis, start_private_redis_with};

/// The apps' Redis response timeout (the default), and the slack on top
/// of it (see the module docs).
const RESPONSE_TIMEOUT: Duration = Duration::from_millis(500);
const SLACK: Duration = Duration::from_millis(700);
const DEADLINE: Duration = RESPONSE_TIMEOUT.saturating_add(SLACK);
const RECOVERY: Duration = Duration::from_secs(10);

/// The tests time answers: one at a time, so that one's load does not
/// slow down another's measurement.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn timed<T>(request: impl std::future::Future<Output = T>) -> (T, Duration) {
    let started = Instant::now();
    let reply = request.await;
    (reply, started.elapsed())
}

/// Credentials that must never authenticate, whatever Redis does.
struct Probes {
    valid: String,
    revoked: String,
    forged: String,
    garbage: String,
}

impl Probes {
    async fn new(api: &Api) -> Probes {
        let (valid, _) = api.login("fay").await;
        let (revoked, _) = api.login("fay").await;
        api.logout(&revoked).await.assert_status(204);
        // Alter a middle character of the secret: the last one carries two
        // unused bits and a change there can make the credential
        // non-canonical, refused before any store call.
        let mut forged = valid.clone().into_bytes();
        let at = forged.len() - 5;
        forged[at] = if forged[at] == b'A' { b'B' } else { b'A' };
        let forged = String::from_utf8(forged).expect("ASCII credential");
        Probes {
            valid,
            revoked,
            forged,
            garbage: "fay.not-a-credential".to_owned(),
        }
    }
}

/// Replies that complete this long before the end of the fault certainly
/// met it; later ones may have met the recovered store.
const MARGIN: Duration = Duration::from_millis(50);

/// While the store is unusable: every request that needs it answers 503
/// (Appwrite's error JSON) within the deadline, the others their usual
/// 401. A reply completing at the very end of the fault may instead be the
/// request's normal answer (the store came back meanwhile): for the
/// revoked, forged and garbage credentials that is a 401, never a 200.
/// `until` is when the fault ends at the latest. Returns how many requests
/// were made.
async fn during_fault(api: &Api, probes: &Probes, what: &str, until: Instant) -> usize {
    let mut made = 0;
    while Instant::now() + DEADLINE < until {
        // (method, path, auth, body, the answer once the store works)
        let needs_store: Vec<(Method, &str, Auth<'_>, Option<Value>, u16)> = vec![
            (Method::GET, "/me", Auth::Session(&probes.valid), None, 200),
            (Method::GET, "/me", Auth::Cookie(&probes.revoked), None, 401),
            (Method::GET, "/me", Auth::Session(&probes.forged), None, 401),
            (Method::GET, "/v1/account", Auth::Session(&probes.valid), None, 200),
            (
                Method::GET,
                "/v1/account/sessions",
                Auth::Session(&probes.revoked),
                None,
                401,
            ),
            (
                Method::POST,
                "/v1/account/sessions/token",
                Auth::None,
                Some(json!({ "userId": "fay", "secret": "0123456789abcdef" })),
                401,
            ),
            (Method::POST, "/v1/users/fay/tokens", Auth::Key, Some(json!({})), 201),
        ];
        let no_store: Vec<(Method, &str, Auth<'_>, Option<Value>)> = vec![
            (Method::GET, "/me", Auth::None, None),
            (Method::GET, "/me", Auth::Session(&probes.garbage), None),
            (Method::GET, "/v1/account", Auth::Cookie(&probes.garbage), None),
        ];
        // The app's route refuses a guest as unauthorized; Appwrite's
        // account route, as lacking the scope.
        let refusals = ["user_unauthorized", "user_unauthorized", "general_unauthorized_scope"];
        let store_calls = needs_store
            .into_iter()
            .map(|(method, path, auth, body, normal)| async move {
                let (reply, elapsed) = timed(api.send(method.clone(), path, auth, body.as_ref())).await;
                (format!("{method} {path}"), normal, reply, elapsed, Instant::now())
            });
        let local_calls = no_store
            .into_iter()
            .map(|(method, path, auth, body)| async move { timed(api.send(method, path, auth, body.as_ref())).await });
        let (store_replies, local_replies) = tokio::join!(
            futures_util::future::join_all(store_calls),
            futures_util::future::join_all(local_calls)
        );
        for (request, normal, reply, elapsed, completed) in &store_replies {
            if reply.status == 503 || *completed + MARGIN < until {
                assert_eq!(
                    reply.status,
                    503,
                    "{what}: {request} answered {} after {elapsed:?}, {:?} before the fault's end: {}",
                    reply.status,
                    until.saturating_duration_since(*completed),
                    reply.text
                );
                reply.assert_error(503, "general_server_error");
                assert!(
                    *elapsed <= DEADLINE,
                    "{what}: {request} answered 503 after {elapsed:?} (deadline {DEADLINE:?})"
                );
            } else {
                assert_eq!(
                    reply.status, *normal,
                    "{what}: {request} answered {} at the end of the fault: {}",
                    reply.status, reply.text
                );
            }
        }
        for ((reply, elapsed), refusal) in local_replies.iter().zip(refusals) {
            reply.assert_error(401, refusal);
            assert!(*elapsed <= DEADLINE, "{what}: a 401 took {elapsed:?}");
        }
        made += store_replies.len() + local_replies.len();
    }
    made
}

/// After a fault: the app serves again within `within` (nothing restarted).
async fn recovers(api: &Api, valid: &str, what: &str, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let reply = api.get("/me", Auth::Session(valid)).await;
        match reply.status {
            200 => return,
            503 => assert!(Instant::now() < deadline, "{what}: still 503 after {within:?}"),
            other => panic!("{what}: /me answered {other}: {}", reply.text),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn every_outage_fails_closed(kind: AppKind) {
    let _serial = SERIAL.lock().await;
    let mut redis = start_private_redis_with(&["--enable-debug-command", "local"]).await;
    let app = RunningApp::start(AppSpec::new(kind, Backend::Redis(redis.url().to_owned()))).await;
    let api = Api::new(&app);
    let probes = Probes::new(&api).await;
    api.get("/me", Auth::Session(&probes.valid)).await.assert_status(200);

    // CLIENT PAUSE: every client's commands wait (the connection stays up).
    // The pause ends 2 s after the server read the command: not before
    // 2 s from now.
    let paused = Instant::now();
    let mut admin = connection(redis.url()).await;
    let _: () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(2000)
        .arg("ALL")
        .query_async(&mut admin)
        .await
        .expect("CLIENT PAUSE");
    let made = during_fault(&api, &probes, "CLIENT PAUSE", paused + Duration::from_millis(2000)).await;
    assert!(made >= 10, "CLIENT PAUSE: only {made} requests during the pause");
    recovers(&api, &probes.valid, "after CLIENT PAUSE", Duration::from_secs(3)).await;

    // DEBUG SLEEP: the server itself is blocked.
    // Sent over a plain socket: a client library's own timeout would give up first.
    let slept = Instant::now();
    let (sent, written) = tokio::sync::oneshot::channel();
    let sleeper = {
        let port = redis.port();
        tokio::task::spawn_blocking(move || {
            use std::io::{Read, Write};
            let mut socket = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
            socket.write_all(b"DEBUG SLEEP 2\r\n").expect("send DEBUG SLEEP");
            let _ = sent.send(());
            let mut reply = [0u8; 5];
            socket.read_exact(&mut reply).expect("DEBUG SLEEP reply");
            assert_eq!(&reply, b"+OK\r\n", "DEBUG SLEEP (enable-debug-command)");
        })
    };
    written.await.expect("DEBUG SLEEP sent");
    // The server reads it at once; a little time for that to happen.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let made = during_fault(&api, &probes, "DEBUG SLEEP", slept + Duration::from_millis(2000)).await;
    assert!(made >= 10, "DEBUG SLEEP: only {made} requests during the sleep");
    sleeper.await.expect("DEBUG SLEEP returned");
    recovers(&api, &probes.valid, "after DEBUG SLEEP", Duration::from_secs(3)).await;

    // Killed: nothing listens on the port any more.
    redis.kill();
    let made = during_fault(
        &api,
        &probes,
        "killed Redis",
        Instant::now() + Duration::from_millis(1500),
    )
    .await;
    assert!(made >= 10, "killed Redis: only {made} requests");

    // Restarted on the same port, empty: the app uses it again by itself.
    redis.restart().await;
    let deadline = Instant::now() + Duration::from_secs(5);
    let secret = loop {
        let reply = api.create_token("fay", json!({})).await;
        match reply.status {
            201 => break reply.str("secret").to_owned(),
            503 => assert!(Instant::now() < deadline, "the restarted Redis is not used again"),
            other => panic!("after the restart a token answered {other}: {}", reply.text),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let exchanged = api.exchange("fay", &secret, Auth::Key).await;
    exchanged.assert_status(201);
    let fresh = exchanged.str("secret").to_owned();
    api.get("/me", Auth::Session(&fresh)).await.assert_status(200);
    // The old data went with the old server: nothing from before gets in.
    for credential in [&probes.valid, &probes.revoked, &probes.forged, &probes.garbage] {
        api.get("/me", Auth::Session(credential))
            .await
            .assert_error(401, "user_unauthorized");
    }
}

#[tokio::test]
async fn paused_blocked_killed_and_restarted_redis_answer_503_and_let_nobody_in_axum() {
    every_outage_fails_closed(AppKind::Axum).await;
}

#[tokio::test]
async fn paused_blocked_killed_and_restarted_redis_answer_503_and_let_nobody_in_actix() {
    every_outage_fails_closed(AppKind::Actix).await;
}

#[track_caller]
fn assert_unavailable(reply: &Reply, elapsed: Duration, what: &str) {
    assert!(
        elapsed <= DEADLINE,
        "{what}: answered after {elapsed:?}, beyond the deadline {DEADLINE:?}"
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
                    assert!(t <= DEADLINE, "a request took {t:?}");
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
        DEADLINE
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn frozen_redis_is_503_without_waiting_for_the_thaw_then_sessions_work_again() {
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
