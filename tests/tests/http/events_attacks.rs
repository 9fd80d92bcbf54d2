//! Attacks on the events feature (issue 17) through the `live-sessions`
//! example and the example apps on Redis: a page of another origin cannot
//! open a socket with the victim's cookie (cross-site websocket
//! hijacking); a credential in the query string, a forged one or one
//! logged out opens nothing; one session cannot hold unbounded sockets;
//! each deletion path (eviction, an admin's deletion of one session)
//! closes exactly its socket, and a user whose id spells another user's
//! session event (`alice.sessions.<id>`) closes none of that user's; a
//! session that ends without an event (a record gone from Redis, as at
//! expiry) closes its socket, also when a local session cache still
//! answered for it at the handshake (webhooks and Redis trouble:
//! `webhook_attacks.rs`). A follower moves past entries that do not
//! decode (150 of them before a logout still close its socket).

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use reqwest::Method;
use tokengate_tests::app::{random_hex, AppKind, AppSpec, Backend, RunningApp};
use tokengate_tests::client::{Api, Auth};
use tokengate_tests::redis_harness::{connection, redis_url, scan_keys};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

use super::live_socket::{closed_with, Socket};

const ALLOWED: &str = "https://app.allowed.test";

/// An API app and a live-sessions app on one Redis, with events on.
async fn apps(extra: &[(&str, &str)]) -> (RunningApp, RunningApp, Api, String) {
    let url = redis_url().await;
    let mut spec = AppSpec::new(AppKind::Axum, Backend::Redis(url.clone()));
    spec.extra_env.push(("TOKENGATE_EVENTS".into(), "1".into()));
    spec.extra_env
        .push(("TOKENGATE_ALLOWED_ORIGINS".into(), ALLOWED.into()));
    for (key, value) in extra {
        spec.extra_env.push(((*key).into(), (*value).into()));
    }
    let app = RunningApp::start(spec.clone()).await;
    let live = RunningApp::start(spec.sibling(AppKind::LiveSessions)).await;
    let api = Api::new(&app);
    (app, live, api, url)
}

fn ws_url(live: &RunningApp, query: &str) -> String {
    format!("{}/live{query}", live.origin.replacen("http://", "ws://", 1))
}

/// The handshake's answer: `Ok(socket)` past its greeting, or the HTTP status.
async fn open(live: &RunningApp, query: &str, headers: &[(&str, &str)]) -> Result<Socket, u16> {
    let mut request = ws_url(live, query).into_client_request().unwrap();
    for (name, value) in headers {
        request.headers_mut().insert(
            reqwest::header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((mut socket, _)) => {
            let hello = tokio::time::timeout(Duration::from_secs(5), socket.next())
                .await
                .expect("a first frame in time");
            match hello {
                Some(Ok(Message::Text(t))) if t.starts_with("hello ") => Ok(socket),
                Some(Ok(Message::Close(frame))) => Err(frame.map_or(0, |f| u16::from(f.code))),
                other => panic!("unexpected first frame: {other:?}"),
            }
        }
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
        Err(other) => panic!("handshake failed: {other}"),
    }
}

async fn open_with(live: &RunningApp, credential: &str) -> Socket {
    open(live, "", &[("x-appwrite-session", credential)])
        .await
        .expect("a socket")
}

/// `socket` got no close frame (within 300 ms more: the frame of a close
/// decided before a later event's must have been sent before it) and still
/// answers. Call it after a later event was seen handled (a marker), never
/// as the only proof that nothing happened.
async fn still_open(socket: &mut Socket) {
    assert_eq!(closed_with(socket, Duration::from_millis(300)).await, None);
    socket.send(Message::Ping(vec![7].into())).await.expect("still open");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_sockets_need_an_allowed_origin_and_a_real_header_or_cookie() {
    let (_app, live, api, _) = apps(&[]).await;
    let user = format!("cs{}", random_hex(8));
    let (credential, _) = api.login(&user).await;
    let cookie = format!("{}={credential}", api.cookie_name);
    let own = live.origin.clone();

    // A foreign page with the victim's cookie (the browser adds it; SameSite
    // None, or a sibling subdomain under Lax): refused before any greeting.
    for origin in [
        "https://evil.example",
        "null",
        "http://127.0.0.1.evil.example",
        "https://app.allowed.test.evil.example",
        "http://app.allowed.test",
    ] {
        assert_eq!(
            open(&live, "", &[("cookie", &cookie), ("origin", origin)]).await.err(),
            Some(403),
            "Origin {origin}"
        );
    }
    assert_eq!(
        open(&live, "", &[("cookie", &cookie), ("sec-fetch-site", "cross-site")])
            .await
            .err(),
        Some(403)
    );
    // The app's own origin, an allowed one, and no Origin (not a page) work.
    for headers in [
        vec![("cookie", cookie.as_str()), ("origin", own.as_str())],
        vec![("cookie", cookie.as_str()), ("origin", ALLOWED)],
        vec![("cookie", cookie.as_str())],
        vec![("x-appwrite-session", credential.as_str())],
    ] {
        assert!(open(&live, "", &headers).await.is_ok(), "{headers:?}");
    }

    // A credential in the query string is not one (it would end up in
    // access logs): 401 whatever the parameter's name.
    for query in ["secret", "session", "x-appwrite-session", "a_session_testproject"] {
        assert_eq!(
            open(&live, &format!("?{query}={credential}"), &[]).await.err(),
            Some(401),
            "?{query}="
        );
    }
    // A forged credential for the user, and a logged-out one.
    let forged = format!("{user}.{}", &random_hex(64)[..43]);
    assert_eq!(
        open(&live, "", &[("x-appwrite-session", &forged)]).await.err(),
        Some(401)
    );
    let (ended, _) = api.login(&user).await;
    api.logout(&ended).await.assert_status(204);
    assert_eq!(
        open(&live, "", &[("x-appwrite-session", &ended)]).await.err(),
        Some(401)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_session_holds_a_bounded_number_of_sockets() {
    let (_app, live, api, _) = apps(&[]).await;
    let (credential, _) = api.login(&format!("fl{}", random_hex(8))).await;
    let mut sockets = Vec::new();
    for _ in 0..8 {
        sockets.push(open_with(&live, &credential).await);
    }
    assert_eq!(
        open(&live, "", &[("x-appwrite-session", &credential)]).await.err(),
        Some(429)
    );
    // Another session of the same user has its own allowance.
    let (other, _) = api.login(&format!("fm{}", random_hex(8))).await;
    let _other = open_with(&live, &other).await;
    // A closed socket gives its slot back.
    let mut first = sockets.remove(0);
    first.close(None).await.unwrap();
    drop(first);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match open(&live, "", &[("x-appwrite-session", &credential)]).await {
            Ok(_) => break,
            Err(429) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(status) => panic!("the freed slot is not given back: {status}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eviction_and_admin_deletion_close_exactly_their_socket() {
    let (_app, live, api, _) = apps(&[]).await;
    let victim = format!("v{}", random_hex(4));
    let (first, first_json) = api.login(&victim).await;
    let (second, second_json) = api.login(&victim).await;
    let (third, _) = api.login(&victim).await;
    let mut on_first = open_with(&live, &first).await;
    let mut on_second = open_with(&live, &second).await;
    let mut on_third = open_with(&live, &third).await;

    // A user whose id spells the victim's session event name
    // (`users.<victim>.sessions.<id>.delete` is also that user's
    // `users.<id>.delete`): its creation, logout and deletion close nothing.
    let second_id = second_json["$id"].as_str().unwrap();
    let spoof = format!("{victim}.sessions.{second_id}");
    assert!(spoof.len() <= 36, "{spoof}");
    let (spoof_credential, _) = api.login(&spoof).await;
    api.logout(&spoof_credential).await.assert_status(204);
    api.send(Method::DELETE, &format!("/v1/users/{spoof}"), Auth::Key, None)
        .await
        .assert_status(204);
    // A marker after them: a session of its own, logged out. The follower
    // reads the log in order, so once the marker's socket is closed the
    // spoof's events were handled too, whatever the machine's load.
    let (marker, _) = api.login(&format!("mk{}", random_hex(8))).await;
    let mut on_marker = open_with(&live, &marker).await;
    api.logout(&marker).await.assert_status(204);
    assert_eq!(
        closed_with(&mut on_marker, Duration::from_secs(10)).await,
        Some(CloseCode::Library(4001)),
        "the marker's socket is closed by its logout"
    );
    still_open(&mut on_second).await;

    // An admin deleting one session closes that socket only.
    api.send(
        Method::DELETE,
        &format!("/v1/users/{victim}/sessions/{second_id}"),
        Auth::Key,
        None,
    )
    .await
    .assert_status(204);
    assert_eq!(
        closed_with(&mut on_second, Duration::from_secs(5)).await,
        Some(CloseCode::Library(4001))
    );
    still_open(&mut on_first).await;

    // Eviction by the session limit (10): the oldest session's socket closes.
    assert!(first_json["$id"].is_string());
    for _ in 0..9 {
        api.login(&victim).await;
    }
    assert_eq!(
        closed_with(&mut on_first, Duration::from_secs(5)).await,
        Some(CloseCode::Library(4001))
    );
    still_open(&mut on_third).await;
}

/// Removes the user's session records behind the gate's back, as their
/// expiry does: no event is written.
async fn drop_sessions_in_redis(url: &str, prefix: &str, user: &str) {
    let keys: Vec<String> = scan_keys(url, prefix)
        .await
        .into_iter()
        .filter(|k| k.contains(&format!("{{u:{user}}}")) && k.ends_with(":sessions"))
        .collect();
    assert_eq!(keys.len(), 1, "the user's sessions hash: {keys:?}");
    let mut conn = connection(url).await;
    let removed: i64 = redis::cmd("DEL").arg(&keys[0]).query_async(&mut conn).await.unwrap();
    assert_eq!(removed, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_ended_without_an_event_closes_its_socket() {
    let (app, live, api, url) = apps(&[
        ("TOKENGATE_LIVE_RECHECK_MS", "300"),
        ("TOKENGATE_SESSION_CACHE_MS", "60000"),
    ])
    .await;
    let user = format!("ex{}", random_hex(8));
    let (credential, _) = api.login(&user).await;
    // The socket's handshake puts the session in live-sessions' cache.
    let mut socket = open_with(&live, &credential).await;
    drop_sessions_in_redis(&url, &app.spec.prefix, &user).await;
    // The periodic check finds it gone.
    assert_eq!(
        closed_with(&mut socket, Duration::from_secs(3)).await,
        Some(CloseCode::Library(4001))
    );
    // The cache still answers for the credential at the next handshake,
    // but the store does not: the socket closes before its greeting.
    assert_eq!(
        open(&live, "", &[("x-appwrite-session", &credential)]).await.err(),
        Some(4001)
    );
}

/// A run of entries this version cannot decode (a kind written by a newer
/// version during a rolling upgrade, a token sealed under another server
/// secret), longer than a follower's batch of 100, does not hold it back:
/// the logout after them still closes the socket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecodable_entries_do_not_stall_the_follower() {
    let (app, live, api, url) = apps(&[]).await;
    let user = format!("ud{}", random_hex(8));
    let (credential, _) = api.login(&user).await;
    let mut socket = open_with(&live, &credential).await;
    let mut conn = connection(&url).await;
    let stream = format!("{}:{{events}}", app.spec.prefix);
    for i in 0..150 {
        let _: String = redis::cmd("XADD")
            .arg(&stream)
            .arg("*")
            .arg("d")
            .arg(format!("{{\"k\":\"session.refresh\",\"u\":\"{user}\",\"t\":{i}}}"))
            .query_async(&mut conn)
            .await
            .unwrap();
    }
    api.logout(&credential).await.assert_status(204);
    assert_eq!(
        closed_with(&mut socket, Duration::from_secs(5)).await,
        Some(CloseCode::Library(4001))
    );
}
