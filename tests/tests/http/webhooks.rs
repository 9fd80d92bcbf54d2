//! Webhooks through both example apps (`TOKENGATE_WEBHOOK_URL`), on the
//! embedded store and on Redis: a receiver verifies every signature with
//! Appwrite's algorithm and sees the events of issue, exchange, logout,
//! logout-all, eviction and user deletion, in order, with Appwrite's
//! headers and models; the token's secret it receives logs in; a receiver
//! that fails and recovers gets the event once; an axum and an actix app
//! on one Redis deliver each event once, and the events an app held when
//! it was killed are delivered by the other; a plain-http URL to another
//! host stops the app at start.

use std::process::{Command, Stdio};
use std::time::Duration;

use reqwest::Method;
use serde_json::json;
use tokengate_tests::app::{binary_path, random_hex, AppKind, AppSpec, Backend, RunningApp};
use tokengate_tests::client::{Api, Auth};
use tokengate_tests::redis_harness::redis_url;
use tokengate_tests::webhook_sink::{WebhookCall, WebhookSink};

const KEY: &str = "webhook-signature-key-for-the-tests";

async fn start(kind: AppKind, backend: Backend, sink: &WebhookSink, events: Option<&str>) -> (RunningApp, Api) {
    let mut spec = AppSpec::new(kind, backend);
    spec.extra_env.extend([
        ("TOKENGATE_WEBHOOK_URL".to_owned(), sink.url()),
        ("TOKENGATE_WEBHOOK_KEY".to_owned(), KEY.to_owned()),
    ]);
    if let Some(events) = events {
        spec.extra_env
            .push(("TOKENGATE_WEBHOOK_EVENTS".to_owned(), events.to_owned()));
    }
    let app = RunningApp::start(spec).await;
    let api = Api::new(&app);
    (app, api)
}

fn position(calls: &[WebhookCall], name: &str) -> usize {
    calls.iter().position(|c| c.event() == name).unwrap_or_else(|| {
        panic!(
            "no {name} among {:?}",
            calls.iter().map(WebhookCall::event).collect::<Vec<_>>()
        )
    })
}

async fn lifecycle(kind: AppKind, backend: Backend) {
    let sink = WebhookSink::start(KEY).await;
    let (app, api) = start(kind, backend, &sink, None).await;
    let user = format!("wh{}", random_hex(10));
    let ours = |c: &WebhookCall| c.header("x-appwrite-webhook-user-id") == user;

    // Issue: the token event carries the secret, and that secret logs in.
    let token = api.create_token(&user, json!({ "length": 12 })).await;
    token.assert_status(201);
    let token_id = token.str("$id").to_owned();
    let call = sink
        .wait_for_event(&format!("users.{user}.tokens.{token_id}.create"))
        .await;
    assert_eq!(call.body["secret"], token.json["secret"]);
    assert_eq!(call.body["$id"], token_id.as_str());
    assert_eq!(call.body["userId"], user.as_str());
    let secret = call.body["secret"].as_str().unwrap().to_owned();
    assert_eq!(secret.len(), 12);
    let exchanged = api.exchange(&user, &secret, Auth::None).await;
    exchanged.assert_status(201);
    let first = exchanged.str("$id").to_owned();
    let credential = exchanged.cookie_value(&api.cookie_name).expect("session cookie");
    let created = sink
        .wait_for_event(&format!("users.{user}.sessions.{first}.create"))
        .await;
    assert_eq!(created.body["secret"], "", "a session event carries no credential");
    assert_eq!(created.body["provider"], "token");

    // Logout.
    api.logout(&credential).await.assert_status(204);
    sink.wait_for_event(&format!("users.{user}.sessions.{first}.delete"))
        .await;

    // Logout-all: every session's own delete event.
    let (second_credential, second) = api.login(&user).await;
    let (_, third) = api.login(&user).await;
    api.send(
        Method::DELETE,
        "/v1/account/sessions",
        Auth::Session(&second_credential),
        Some(&json!({})),
    )
    .await
    .assert_status(204);
    for session in [&second, &third] {
        let id = session["$id"].as_str().unwrap();
        sink.wait_for_event(&format!("users.{user}.sessions.{id}.delete")).await;
    }

    // Eviction by the session limit (10): the 11th login ends the oldest.
    let mut sessions = Vec::new();
    for _ in 0..11 {
        sessions.push(api.login(&user).await.1["$id"].as_str().unwrap().to_owned());
    }
    sink.wait_for_event(&format!("users.{user}.sessions.{}.delete", sessions[0]))
        .await;

    // The user's deletion: its sessions' delete events, then its own.
    api.send(Method::DELETE, &format!("/v1/users/{user}"), Auth::Key, None)
        .await
        .assert_status(204);
    sink.wait_for_event(&format!("users.{user}.delete")).await;
    for id in &sessions[1..] {
        sink.wait_for_event(&format!("users.{user}.sessions.{id}.delete")).await;
    }

    let calls: Vec<WebhookCall> = sink.calls().into_iter().filter(ours).collect();
    assert_eq!(sink.bad_signatures(), 0, "every signature verifies");
    for call in &calls {
        assert_eq!(call.header("x-appwrite-webhook-id"), "env");
        assert_eq!(call.header("x-appwrite-webhook-name"), "env");
        assert_eq!(call.header("x-appwrite-webhook-project-id"), app.spec.project);
        assert_eq!(call.header("content-type"), "application/json");
        assert!(call.header("user-agent").starts_with("tokengate/"));
        assert!(!call.event_id().is_empty());
        assert_eq!(call.header("idempotency-key"), call.event_id());
        assert!(call.events().contains(&"users.*"), "{:?}", call.events());
        assert!(call.events().contains(&format!("users.{user}").as_str()));
    }
    // In order per user (one dispatcher): each session's create before its
    // delete, the user's deletion after its sessions'.
    let create = |id: &str| position(&calls, &format!("users.{user}.sessions.{id}.create"));
    let delete = |id: &str| position(&calls, &format!("users.{user}.sessions.{id}.delete"));
    let token_at = position(&calls, &format!("users.{user}.tokens.{token_id}.create"));
    assert!(token_at < create(&first));
    assert!(create(&first) < delete(&first));
    for id in [second["$id"].as_str().unwrap(), third["$id"].as_str().unwrap()] {
        assert!(delete(&first) < create(id) && create(id) < delete(id));
    }
    let user_deleted = position(&calls, &format!("users.{user}.delete"));
    for id in &sessions {
        assert!(create(id) < delete(id) && delete(id) < user_deleted, "{id}");
    }
    // Each event once.
    let mut ids: Vec<&str> = calls.iter().map(WebhookCall::event_id).collect();
    let all = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), all, "no event delivered twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_lifecycle_axum_memory() {
    lifecycle(AppKind::Axum, Backend::Memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_lifecycle_actix_memory() {
    lifecycle(AppKind::Actix, Backend::Memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_lifecycle_axum_redis() {
    lifecycle(AppKind::Axum, Backend::Redis(redis_url().await)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_lifecycle_actix_redis() {
    lifecycle(AppKind::Actix, Backend::Redis(redis_url().await)).await;
}

/// The receiver answers 500, then recovers: the event is retried and
/// accepted once; events no pattern matches never reach it.
async fn recovers(kind: AppKind, backend: Backend) {
    let sink = WebhookSink::start(KEY).await;
    sink.answer_with(500);
    let (_app, api) = start(kind, backend, &sink, Some("users.*.tokens.*.create")).await;
    let user = format!("wh{}", random_hex(10));
    let token = api.create_token(&user, json!({})).await;
    token.assert_status(201);
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while sink.requests() < 2 {
        assert!(std::time::Instant::now() < deadline, "no retry");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    sink.answer_with(200);
    // Every request so far was answered 500; one may be under way.
    let name = format!("users.{user}.tokens.{}.create", token.str("$id"));
    let call = sink.wait_for_event(&name).await;
    let failed_attempts = sink.requests() - 1;
    assert_eq!(call.body["secret"], token.json["secret"]);
    // An exchange and a logout make session events the pattern leaves out.
    let (credential, _) = api.login(&user).await;
    api.logout(&credential).await.assert_status(204);
    // A marker after them: a token event of its own. The dispatcher takes
    // the log in order, so once the marker is delivered the session events
    // before it were handled too (acknowledged without a request).
    let marker = api.create_token(&user, json!({})).await;
    marker.assert_status(201);
    let marker_name = format!("users.{user}.tokens.{}.create", marker.str("$id"));
    sink.wait_for_event(&marker_name).await;
    let calls = sink.calls();
    let events: Vec<&str> = calls.iter().map(WebhookCall::event).collect();
    assert_eq!(events.len(), 3, "only the three token events: {events:?}");
    assert!(events.iter().all(|e| e.contains(".tokens.")), "{events:?}");
    assert_eq!(events[0], name, "accepted once, before the later tokens");
    assert_eq!(events[2], marker_name, "the marker last: {events:?}");
    // Every request since the first delivery was one of these calls: none
    // for the session events (between the login's token and the marker).
    assert_eq!(
        sink.requests(),
        calls.len() + failed_attempts,
        "a request for an event outside the pattern"
    );
    assert_eq!(sink.bad_signatures(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_retried_until_the_receiver_recovers_axum_redis() {
    recovers(AppKind::Axum, Backend::Redis(redis_url().await)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_retried_until_the_receiver_recovers_actix_memory() {
    recovers(AppKind::Actix, Backend::Memory).await;
}

/// A plain-http URL to a host that is not loopback stops the app at start
/// (status 2, the variable named), unless allowed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_webhook_to_another_host_is_refused() {
    for kind in [AppKind::Axum, AppKind::Actix] {
        let output = Command::new(binary_path(kind))
            .env_clear()
            .env("TOKENGATE_LISTEN", "127.0.0.1:0")
            .env("TOKENGATE_WEBHOOK_URL", "http://192.0.2.10/hook")
            .env("TOKENGATE_WEBHOOK_KEY", KEY)
            .stdin(Stdio::null())
            .output()
            .expect("run the app");
        assert_eq!(output.status.code(), Some(2), "{kind:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("TOKENGATE_WEBHOOK_URL"), "{stderr}");

        let mut spec = AppSpec::new(kind, Backend::Memory);
        spec.extra_env.extend([
            ("TOKENGATE_WEBHOOK_URL".to_owned(), "http://192.0.2.10/hook".to_owned()),
            ("TOKENGATE_WEBHOOK_KEY".to_owned(), KEY.to_owned()),
            ("TOKENGATE_WEBHOOK_ALLOW_HTTP".to_owned(), "1".to_owned()),
        ]);
        let mut app = RunningApp::start(spec).await;
        assert!(!app.has_exited());
    }
}

fn spec_with_webhook(kind: AppKind, backend: Backend, sink: &WebhookSink, claim_timeout_ms: u64) -> AppSpec {
    let mut spec = AppSpec::new(kind, backend);
    spec.extra_env.extend([
        ("TOKENGATE_WEBHOOK_URL".to_owned(), sink.url()),
        ("TOKENGATE_WEBHOOK_KEY".to_owned(), KEY.to_owned()),
        (
            "TOKENGATE_WEBHOOK_EVENTS".to_owned(),
            "users.*.tokens.*.create".to_owned(),
        ),
        (
            "TOKENGATE_WEBHOOK_CLAIM_TIMEOUT_MS".to_owned(),
            claim_timeout_ms.to_string(),
        ),
    ]);
    spec
}

/// Issues `n` tokens for `user`, alternating between `apis`; answers their ids.
async fn issue(apis: &[&Api], user: &str, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        let token = apis[i % apis.len()].create_token(user, json!({})).await;
        token.assert_status(201);
        ids.push(token.str("$id").to_owned());
    }
    ids
}

/// An axum and an actix app on one Redis share the webhook's consumer
/// group: every event is delivered once, not once per app.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_apps_on_one_redis_deliver_each_event_once() {
    let sink = WebhookSink::start(KEY).await;
    let spec = spec_with_webhook(AppKind::Axum, Backend::Redis(redis_url().await), &sink, 60_000);
    let axum = RunningApp::start(spec.clone()).await;
    let actix = RunningApp::start(spec.sibling(AppKind::Actix)).await;
    let (axum_api, actix_api) = (Api::new(&axum), Api::new(&actix));
    let user = format!("wh{}", random_hex(10));
    let ids = issue(&[&axum_api, &actix_api], &user, 30).await;
    sink.wait_for(30, Duration::from_secs(20), |_| true).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let calls = sink.calls();
    let mut events: Vec<&str> = calls.iter().map(WebhookCall::event_id).collect();
    events.sort_unstable();
    events.dedup();
    assert_eq!(
        (events.len(), calls.len(), sink.requests()),
        (30, 30, 30),
        "each event once"
    );
    for id in &ids {
        let name = format!("users.{user}.tokens.{id}.create");
        assert_eq!(calls.iter().filter(|c| c.event() == name).count(), 1, "{name}");
    }
}

/// An app killed (SIGKILL) while it holds undelivered events: another app
/// on the same Redis claims them after the claim timeout and delivers all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_held_by_a_killed_app_are_delivered_by_another() {
    let sink = WebhookSink::start(KEY).await;
    sink.answer_with(500);
    let url = redis_url().await;
    let spec = spec_with_webhook(AppKind::Actix, Backend::Redis(url.clone()), &sink, 1_500);
    let mut first = RunningApp::start(spec.clone()).await;
    let user = format!("wh{}", random_hex(10));
    let ids = issue(&[&Api::new(&first)], &user, 20).await;
    // Every event is in the stream (the user's creation and 20 tokens), and
    // the app has taken some and is retrying the first.
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut redis = client.get_multiplexed_async_connection().await.unwrap();
    let stream = format!("{}:{{events}}", spec.prefix);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let len: u64 = redis::cmd("XLEN").arg(&stream).query_async(&mut redis).await.unwrap();
        if len >= 21 && sink.requests() >= 1 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "stream {len}, requests {}",
            sink.requests()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.stop();
    assert_eq!(sink.calls().len(), 0);

    // Past the claim timeout the killed app's entries are claimed before
    // anything new is read: every event arrives, in log order.
    sink.answer_with(200);
    tokio::time::sleep(Duration::from_millis(1_600)).await;
    let second = RunningApp::start(spec.sibling(AppKind::Axum)).await;
    let calls = sink.wait_for(20, Duration::from_secs(20), |_| true).await;
    for id in &ids {
        let name = format!("users.{user}.tokens.{id}.create");
        assert!(calls.iter().any(|c| c.event() == name), "{name} lost");
    }
    let names: Vec<String> = ids
        .iter()
        .map(|id| format!("users.{user}.tokens.{id}.create"))
        .collect();
    let arrived: Vec<&str> = calls.iter().map(WebhookCall::event).collect();
    assert_eq!(arrived, names);
    assert_eq!(sink.bad_signatures(), 0);
    drop(second);
}
