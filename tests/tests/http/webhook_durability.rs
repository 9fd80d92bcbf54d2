//! Webhook delivery that loses nothing: a receiver down for 30 s
//! (answering 500, then hanging up) gets every event afterwards, once, in
//! order per user; two dispatchers (the axum and the actix app) on one
//! Redis deliver each event once between them, and when one is killed
//! with SIGKILL while 32 clients have requests in flight, the other
//! delivers everything in the log, including what the killed one had
//! taken. On this standalone Redis the apps' store writes each change's
//! events in the same script as the change (`RedisStore::with_events`), so
//! no change acknowledged with a 2xx loses its events, however close to the
//! kill it was answered: every one arrives (after the killed app started
//! again).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;
use tokengate_tests::app::{random_hex, AppKind, AppSpec, Backend, RunningApp};
use tokengate_tests::client::{Api, Auth, Reply};
use tokengate_tests::redis_harness::{connection, redis_url};
use tokengate_tests::webhook_sink::{WebhookCall, WebhookSink};

const KEY: &str = "webhook-signature-key-for-durability";

fn spec(kind: AppKind, url: String, sink: &WebhookSink) -> AppSpec {
    let mut spec = AppSpec::new(kind, Backend::Redis(url));
    spec.extra_env.extend([
        ("TOKENGATE_WEBHOOK_URL".to_owned(), sink.url()),
        ("TOKENGATE_WEBHOOK_KEY".to_owned(), KEY.to_owned()),
        // Short waits, so that the test does not wait out production ones.
        ("TOKENGATE_WEBHOOK_MAX_BACKOFF_MS".to_owned(), "1000".to_owned()),
        // A 30 s outage outlasts 10 attempts a second apart: keep trying.
        ("TOKENGATE_WEBHOOK_MAX_ATTEMPTS".to_owned(), "200".to_owned()),
        ("TOKENGATE_WEBHOOK_CLAIM_TIMEOUT_MS".to_owned(), "1000".to_owned()),
    ]);
    spec
}

/// Issues a token for `user`, exchanges it and logs the session out;
/// answers the event names this causes, in order (`users.<u>.create`
/// first when `new_user`).
async fn token_login_logout(api: &Api, user: &str, new_user: bool) -> Vec<String> {
    let token = api.create_token(user, json!({ "length": 16 })).await;
    token.assert_status(201);
    let exchanged = api.exchange(user, token.str("secret"), Auth::Key).await;
    exchanged.assert_status(201);
    let credential = exchanged.str("secret").to_owned();
    api.send(
        Method::DELETE,
        "/v1/account/sessions/current",
        Auth::Session(&credential),
        None,
    )
    .await
    .assert_status(204);
    let (token_id, session_id) = (token.str("$id"), exchanged.str("$id"));
    let mut names = Vec::new();
    if new_user {
        names.push(format!("users.{user}.create"));
    }
    names.push(format!("users.{user}.tokens.{token_id}.create"));
    names.push(format!("users.{user}.sessions.{session_id}.create"));
    names.push(format!("users.{user}.sessions.{session_id}.delete"));
    names
}

/// Waits until every name in `expected` arrived; answers the calls by name.
async fn all_delivered(sink: &WebhookSink, expected: &[String], within: Duration) -> HashMap<String, Vec<WebhookCall>> {
    let deadline = Instant::now() + within;
    loop {
        let mut by_name: HashMap<String, Vec<WebhookCall>> = HashMap::new();
        for call in sink.calls() {
            by_name.entry(call.event().to_owned()).or_default().push(call);
        }
        let missing: Vec<&String> = expected.iter().filter(|n| !by_name.contains_key(*n)).collect();
        if missing.is_empty() {
            return by_name;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {} events never arrived, e.g. {:?}",
            missing.len(),
            expected.len(),
            &missing[..missing.len().min(5)]
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Per user, the delivered events in arrival order equal the expected ones.
fn assert_order_per_user(sink: &WebhookSink, expected: &[String]) {
    let user_of = |name: &str| name.split('.').nth(1).unwrap_or_default().to_owned();
    let wanted: HashSet<&String> = expected.iter().collect();
    let mut arrived: HashMap<String, Vec<String>> = HashMap::new();
    let mut seen = HashSet::new();
    for call in sink.calls() {
        let name = call.event().to_owned();
        if wanted.contains(&name) && seen.insert(name.clone()) {
            arrived.entry(user_of(&name)).or_default().push(name);
        }
    }
    let mut planned: HashMap<String, Vec<String>> = HashMap::new();
    for name in expected {
        planned.entry(user_of(name)).or_default().push(name.clone());
    }
    assert_eq!(arrived, planned, "the order per user");
}

#[tokio::test]
async fn a_receiver_down_for_30_seconds_misses_nothing() {
    let sink = WebhookSink::start(KEY).await;
    let app = RunningApp::start(spec(AppKind::Axum, redis_url().await, &sink)).await;
    let api = Api::new(&app);
    let users: Vec<String> = (0..3).map(|i| format!("out{i}{}", random_hex(8))).collect();
    let mut expected = Vec::new();

    // 15 s answering 500, then 15 s hanging up, with changes all along.
    sink.answer_with(500);
    let outage_start = Instant::now();
    let mut round = 0;
    while outage_start.elapsed() < Duration::from_secs(30) {
        if outage_start.elapsed() >= Duration::from_secs(15) {
            sink.answer_with(0);
        }
        for user in &users {
            expected.extend(token_login_logout(&api, user, round == 0).await);
        }
        round += 1;
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    assert!(sink.calls().is_empty(), "nothing is accepted during the outage");
    assert!(sink.requests() > 0, "the dispatcher kept trying");
    sink.answer_with(200);

    let delivered = all_delivered(&sink, &expected, Duration::from_secs(30)).await;
    for (name, calls) in &delivered {
        assert_eq!(calls.len(), 1, "{name} arrived {} times", calls.len());
    }
    let calls = sink.calls();
    let ids: HashSet<&str> = calls.iter().map(WebhookCall::event_id).collect();
    assert_eq!(ids.len(), calls.len(), "an event id twice");
    assert_order_per_user(&sink, &expected);
    assert_eq!(sink.bad_signatures(), 0);
}

#[tokio::test]
async fn two_dispatchers_deliver_once_and_survive_a_kill() {
    let sink = WebhookSink::start(KEY).await;
    let url = redis_url().await;
    let redis = connection(&url).await;
    let axum_spec = spec(AppKind::Axum, url, &sink);
    let prefix = axum_spec.prefix.clone();
    let actix_spec = axum_spec.sibling(AppKind::Actix);
    let axum_spec_again = axum_spec.clone();
    let mut axum_app = RunningApp::start(axum_spec).await;
    let actix_app = RunningApp::start(actix_spec).await;
    let (on_axum, on_actix) = (Api::new(&axum_app), Api::new(&actix_app));

    // Normal running: changes at both apps, each event delivered once.
    let mut expected = Vec::new();
    for i in 0..10 {
        let user = format!("two{i}{}", random_hex(6));
        let api = if i % 2 == 0 { &on_axum } else { &on_actix };
        expected.extend(token_login_logout(api, &user, true).await);
    }
    let delivered = all_delivered(&sink, &expected, Duration::from_secs(20)).await;
    // (Order holds per dispatcher: with two, one user's events may be
    // delivered by both, so no order is asserted here.)
    for name in &expected {
        assert_eq!(
            delivered[name].len(),
            1,
            "{name} delivered {} times",
            delivered[name].len()
        );
    }

    // Under load: 24 clients churn (issue, exchange, log out, a new user
    // each round) at the axum app and 8 at the actix app, all at once; the
    // axum app dies with SIGKILL while requests are in flight, and starts
    // again. The actix app's dispatcher claims what the dead one had taken
    // (after the 1 s claim timeout).
    let before_kill = sink.calls().len();
    let load = Load::default();
    let mut clients = Vec::new();
    for i in 0..32 {
        let api = if i < 24 { on_axum.clone() } else { on_actix.clone() };
        clients.push(tokio::spawn(churn(
            api.with_timeout(Duration::from_secs(5)),
            format!("k{i}"),
            load.clone(),
        )));
    }
    // Until 200 changes are acknowledged: both apps are busy.
    let deadline = Instant::now() + Duration::from_secs(20);
    while load.acknowledged.lock().unwrap().len() < 200 {
        assert!(Instant::now() < deadline, "the load acknowledged too little");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let in_flight = load.in_flight.load(Ordering::SeqCst);
    axum_app.stop();
    // The kill met requests under way: some of them never got an answer.
    assert!(in_flight >= 8, "only {in_flight} requests in flight at the kill");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let axum_app = RunningApp::start(axum_spec_again).await;
    let on_axum_again = Api::new(&axum_app);
    for i in 0..4 {
        clients.push(tokio::spawn(churn(
            on_axum_again.clone(),
            format!("r{i}"),
            load.clone(),
        )));
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    load.stop.store(true, Ordering::SeqCst);
    for client in clients {
        client.await.unwrap();
    }
    let unanswered = load.unanswered.load(Ordering::SeqCst);
    assert!(unanswered > 0, "no request was cut off by the kill");
    let acknowledged = load.acknowledged.lock().unwrap().clone();
    eprintln!(
        "{} events of acknowledged changes, {in_flight} requests in flight at the kill, {unanswered} without an answer",
        acknowledged.len()
    );

    // Every entry of the log is delivered (the killed dispatcher's taken
    // ones after the claim timeout).
    let logged = logged_ids(&redis, &format!("{prefix}:{{events}}")).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let delivered_ids = loop {
        let ids: HashSet<String> = sink.calls().iter().map(|c| c.event_id().to_owned()).collect();
        if logged.iter().all(|id| ids.contains(id)) {
            break ids;
        }
        assert!(Instant::now() < deadline, "logged events never delivered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(delivered_ids.len() >= logged.len());
    // Nothing acknowledged is lost: each change the killed app answered 2xx
    // was written with its events in one script (standalone Redis), so
    // every one of them arrives.
    let delivered = all_delivered(&sink, &acknowledged, Duration::from_secs(30)).await;
    // A duplicate only where the killed dispatcher was mid-delivery: at most
    // the batch it had taken (16).
    let twice: Vec<&String> = delivered.iter().filter(|(_, c)| c.len() > 1).map(|(n, _)| n).collect();
    assert!(twice.len() <= 16, "{} events delivered twice: {twice:?}", twice.len());
    assert!(sink.calls().len() > before_kill);
    assert_eq!(sink.bad_signatures(), 0);
}

/// What the churning clients share.
#[derive(Clone, Default)]
struct Load {
    stop: Arc<AtomicBool>,
    /// Requests sent and not yet answered (nor failed).
    in_flight: Arc<AtomicUsize>,
    /// Requests that got no answer (the app died under them).
    unanswered: Arc<AtomicUsize>,
    /// The events of every change acknowledged with a 2xx.
    acknowledged: Arc<Mutex<Vec<String>>>,
}

impl Load {
    /// Sends one request, counting it in flight; `None` without an answer.
    async fn send(
        &self,
        api: &Api,
        method: Method,
        path: &str,
        auth: &[(&str, &str)],
        body: Option<&str>,
    ) -> Option<Reply> {
        let mut headers = vec![("x-appwrite-project", api.project.as_str())];
        headers.extend_from_slice(auth);
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        let reply = api.try_request(method, path, &headers, body).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        if reply.is_err() {
            self.unanswered.fetch_add(1, Ordering::SeqCst);
        }
        reply.ok()
    }

    fn acknowledge(&self, event: String) {
        self.acknowledged.lock().unwrap().push(event);
    }
}

/// Until told to stop or the app is gone: a new user, a token for it, its
/// exchange and a logout; each answered 2xx adds its events to the
/// acknowledged ones.
async fn churn(api: Api, tag: String, load: Load) {
    let key = [("x-appwrite-key", api.api_key.as_str())];
    let mut round = 0;
    while !load.stop.load(Ordering::SeqCst) {
        round += 1;
        let user = format!("{tag}u{round}{}", random_hex(6));
        let Some(token) = load
            .send(
                &api,
                Method::POST,
                &format!("/v1/users/{user}/tokens"),
                &key,
                Some(r#"{"length":16}"#),
            )
            .await
        else {
            return;
        };
        if token.status != 201 {
            continue;
        }
        load.acknowledge(format!("users.{user}.create"));
        load.acknowledge(format!("users.{user}.tokens.{}.create", token.str("$id")));
        let body = json!({ "userId": user, "secret": token.str("secret") }).to_string();
        let Some(session) = load
            .send(&api, Method::POST, "/v1/account/sessions/token", &key, Some(&body))
            .await
        else {
            return;
        };
        if session.status != 201 {
            continue;
        }
        let session_id = session.str("$id").to_owned();
        load.acknowledge(format!("users.{user}.sessions.{session_id}.create"));
        let credential = session.str("secret").to_owned();
        let Some(logout) = load
            .send(
                &api,
                Method::DELETE,
                "/v1/account/sessions/current",
                &[("x-appwrite-session", credential.as_str())],
                Some("{}"),
            )
            .await
        else {
            return;
        };
        if logout.status == 204 {
            load.acknowledge(format!("users.{user}.sessions.{session_id}.delete"));
        }
    }
}

/// The entry ids of the stream at `key`.
async fn logged_ids(redis: &redis::aio::MultiplexedConnection, key: &str) -> Vec<String> {
    let mut redis = redis.clone();
    let entries: redis::Value = redis::cmd("XRANGE")
        .arg(key)
        .arg("-")
        .arg("+")
        .query_async(&mut redis)
        .await
        .expect("XRANGE");
    let redis::Value::Array(entries) = entries else {
        panic!("XRANGE answered {entries:?}");
    };
    entries
        .iter()
        .map(|entry| match entry {
            redis::Value::Array(parts) => match parts.first() {
                Some(redis::Value::BulkString(id)) => String::from_utf8(id.clone()).expect("an id"),
                other => panic!("an entry without id: {other:?}"),
            },
            other => panic!("not an entry: {other:?}"),
        })
        .collect()
}
