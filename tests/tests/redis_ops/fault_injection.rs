//! Fault injection against a real, private Redis behind each example app:
//! a paused (`CLIENT PAUSE`) or blocked (`DEBUG SLEEP`) server answers 503
//! within the 500 ms store timeout plus 100 ms; a killed one answers 503; a
//! restarted one (same port) is used again without restarting the app; and
//! no fault ever lets a request through as authenticated.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};
use tokengate_tests::app::{AppKind, AppSpec, Backend, RunningApp};
use tokengate_tests::client::{Api, Auth, Reply};
use tokengate_tests::redis_harness::{connection, start_private_redis_with};

/// The store timeout (the default of `RedisStoreConfig`) plus a generous
/// slack for a busy machine; the faults last 2 s, so an answer within this
/// deadline did not wait for the fault to end.
const DEADLINE: Duration = Duration::from_millis(500 + 700);

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

/// One timed request.
async fn timed(api: &Api, method: Method, path: &str, auth: Auth<'_>, body: Option<Value>) -> (Reply, Duration) {
    let started = Instant::now();
    let reply = api.send(method, path, auth, body.as_ref()).await;
    (reply, started.elapsed())
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
                let (reply, elapsed) = timed(api, method.clone(), path, auth, body).await;
                (format!("{method} {path}"), normal, reply, elapsed, Instant::now())
            });
        let local_calls = no_store
            .into_iter()
            .map(|(method, path, auth, body)| timed(api, method, path, auth, body));
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

/// The two apps take their turn: each measures its own latency, not the
/// other's load on a small machine.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn run(kind: AppKind) {
    let _turn = ONE_AT_A_TIME.lock().await;
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
async fn axum_faults() {
    run(AppKind::Axum).await;
}

#[tokio::test]
async fn actix_faults() {
    run(AppKind::Actix).await;
}
