//! Attacks on the events feature (issue 17), continued: webhook payloads
//! carry a token's secret in its token.create only and no session
//! credential, and a TRACE log with a dead-lettering webhook whose URL
//! holds credentials shows no secret; with Redis down (events written in
//! the change's script) issue and exchange answer 503 and, once it is
//! back, each change comes with exactly its events.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokengate_tests::app::{random_hex, AppKind, AppSpec, Backend, RunningApp};
use tokengate_tests::client::{Api, Auth};
use tokengate_tests::redis_harness::{connection, redis_url};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// One webhook request as received: head (lower-cased) and body.
type Received = (String, serde_json::Value);

/// A receiver answering 500 to everything (so that events are dead-lettered
/// and the error path logs), keeping what it got.
async fn failing_receiver() -> (u16, Arc<Mutex<Vec<Received>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let got: Arc<Mutex<Vec<Received>>> = Arc::default();
    let kept = Arc::clone(&got);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let kept = Arc::clone(&kept);
            tokio::spawn(async move {
                let mut buffer = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let Ok(n) = stream.read(&mut chunk).await else { return };
                    if n == 0 {
                        return;
                    }
                    buffer.extend_from_slice(&chunk[..n]);
                    let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") else {
                        continue;
                    };
                    let head = String::from_utf8_lossy(&buffer[..at]).to_ascii_lowercase();
                    let length = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    if buffer.len() < at + 4 + length {
                        continue;
                    }
                    let body = serde_json::from_slice(&buffer[at + 4..at + 4 + length]).unwrap_or_default();
                    kept.lock().unwrap().push((head, body));
                    let _ = stream
                        .write_all(
                            b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                        )
                        .await;
                    return;
                }
            });
        }
    });
    (port, got)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_payloads_and_trace_logs_keep_secrets_where_they_belong() {
    const KEY: &str = "hygiene-signature-key-0123456789";
    let (port, received) = failing_receiver().await;
    let url = format!("http://hookuser:hook-password-9f3e@127.0.0.1:{port}/hook?token=query-token-7c1d");
    let log_path = std::env::temp_dir().join(format!("tokengate-events-attacks-{}.log", random_hex(12)));
    let mut spec = AppSpec::new(AppKind::Axum, Backend::Redis(redis_url().await));
    spec.extra_env.extend([
        ("RUST_LOG".to_owned(), "trace".to_owned()),
        ("TOKENGATE_WEBHOOK_URL".to_owned(), url),
        ("TOKENGATE_WEBHOOK_KEY".to_owned(), KEY.to_owned()),
        ("TOKENGATE_WEBHOOK_MAX_ATTEMPTS".to_owned(), "1".to_owned()),
    ]);
    spec.log_file = Some(log_path.clone());
    let mut app = RunningApp::start(spec.clone()).await;
    let api = Api::new(&app);
    let user = format!("hy{}", random_hex(8));
    let token = api.create_token(&user, serde_json::json!({ "length": 40 })).await;
    token.assert_status(201);
    let token_secret = token.str("secret").to_owned();
    let exchanged = api.exchange(&user, &token_secret, Auth::Key).await;
    exchanged.assert_status(201);
    let credential = exchanged.str("secret").to_owned();
    api.logout(&credential).await.assert_status(204);
    // user.create, token.create, session.create, session.delete: each tried
    // once and dead-lettered.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while received.lock().unwrap().len() < 4
        || !std::fs::read_to_string(&log_path)
            .unwrap_or_default()
            .contains("dead-letter log")
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} requests",
            received.lock().unwrap().len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.stop();
    let log = std::fs::read_to_string(&log_path).unwrap();
    let _ = std::fs::remove_file(&log_path);
    assert!(log.contains("TRACE"), "a TRACE log");
    // The dead-letter error names the webhook's URL, redacted.
    assert!(
        log.lines()
            .any(|l| l.contains("dead-letter log") && l.contains(&format!("http://127.0.0.1:{port}/hook"))),
        "the redacted URL in the error"
    );

    // The token's secret is in its token.create payload only; no payload
    // carries the session's credential.
    let received = received.lock().unwrap().clone();
    let events: Vec<String> = received
        .iter()
        .map(|(head, _)| {
            let events = head
                .lines()
                .find_map(|l| l.strip_prefix("x-appwrite-webhook-events:"))
                .unwrap_or_default();
            events.trim().split(',').next().unwrap_or_default().to_owned()
        })
        .collect();
    let session_secret = credential.rsplit_once('.').unwrap().1;
    for ((head, body), event) in received.iter().zip(&events) {
        assert!(head.contains("authorization: basic "), "user info sent as Basic auth");
        let text = body.to_string();
        assert!(!text.contains(session_secret), "{event}: {text}");
        if event.contains(".tokens.") {
            assert_eq!(body["secret"], token_secret.as_str(), "{event}");
        } else {
            assert!(!text.contains(&token_secret), "{event}: {text}");
            if event.contains(".sessions.") {
                assert_eq!(body["secret"], "", "{event}");
            }
        }
    }
    assert!(events.iter().any(|e| e.contains(".tokens.")), "{events:?}");
    assert!(events.iter().any(|e| e.ends_with(".delete")), "{events:?}");

    // Nothing secret in the TRACE log, the dead-letter errors included.
    for (what, secret) in [
        ("token secret", token_secret.as_str()),
        ("session credential secret", session_secret),
        ("signature key", KEY),
        ("webhook URL password", "hook-password-9f3e"),
        ("webhook URL user", "hookuser"),
        ("webhook URL query token", "query-token-7c1d"),
        ("API key", spec.api_key.as_str()),
        ("server secret", spec.secret_hex.as_str()),
    ] {
        let line = log.lines().find(|line| line.contains(secret));
        assert!(line.is_none(), "{what} in the log: {line:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_down_issue_and_exchange_fail_closed_and_recover() {
    let mut redis = tokengate_tests::redis_harness::start_private_redis().await;
    let mut spec = AppSpec::new(AppKind::Axum, Backend::Redis(redis.url().to_owned()));
    spec.extra_env.push(("TOKENGATE_EVENTS".into(), "1".into()));
    let app = RunningApp::start(spec).await;
    let api = Api::new(&app);
    let user = format!("rd{}", random_hex(8));
    let secret = api.token_secret(&user).await;
    redis.kill();
    api.create_token(&user, serde_json::json!({})).await.assert_status(503);
    api.exchange(&user, &secret, Auth::Key).await.assert_status(503);
    // A new, empty Redis: the app works again, and each change comes with
    // its events (user.create, token.create, session.create).
    redis.restart().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let (_, session) = loop {
        let reply = api.create_token(&user, serde_json::json!({})).await;
        if reply.status == 201 {
            let exchanged = api.exchange(&user, reply.str("secret"), Auth::Key).await;
            exchanged.assert_status(201);
            break (exchanged.str("secret").to_owned(), exchanged.json);
        }
        assert!(tokio::time::Instant::now() < deadline, "no recovery: {}", reply.status);
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mut conn = connection(redis.url()).await;
    let kinds: Vec<String> = {
        let entries: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
            .arg(format!("{}:{{events}}", app.spec.prefix))
            .arg("-")
            .arg("+")
            .query_async(&mut conn)
            .await
            .unwrap();
        entries
            .into_iter()
            .map(|(_, fields)| {
                let json: serde_json::Value = serde_json::from_str(&fields[0].1).unwrap();
                json["k"].as_str().unwrap_or_default().to_owned()
            })
            .collect()
    };
    assert_eq!(kinds, ["user.create", "token.create", "session.create"], "{session}");
}
