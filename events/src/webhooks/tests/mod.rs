//! The dispatcher against a receiver on loopback: request shape and
//! signature, filtering, retries, dead letters, hand-over, shared work.

mod hostile;
mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use metrics_util::MetricKind;

use super::*;
use crate::{Event, EventKind, EventLog, MemoryEventLog};
use support::{session_event, token_event, user_event, Receiver};
use tokengate::ServerSecret;

const KEY: &str = "test-signature-key-0123456789";

fn new_log() -> MemoryEventLog {
    MemoryEventLog::new(ServerSecret::new([9u8; 32]).unwrap())
}

/// Whether the webhook's group has acknowledged everything logged.
async fn all_acked(log: &MemoryEventLog) -> bool {
    let stats = log.stats("webhook:w1").await.unwrap();
    stats.pending == 0 && stats.oldest_unacknowledged == Duration::ZERO
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn fast() -> DispatcherSettings {
    DispatcherSettings::default()
        .backoff(ms(5), ms(40))
        .claim_timeout(Duration::from_secs(5))
        .poll_interval(ms(50))
        .http_timeout(Duration::from_secs(2))
}

fn hook(receiver: &Receiver, id: &str, events: &[&str]) -> Webhook {
    Webhook::builder(id, receiver.url.clone())
        .name("Audit trail")
        .signature_key(KEY)
        .events(events.iter().copied())
        .build()
        .unwrap()
}

fn start(log: &MemoryEventLog, hooks: Vec<Webhook>, settings: DispatcherSettings) -> DispatcherHandle {
    WebhookDispatcher::new(Arc::new(log.clone()), "proj-1", hooks)
        .unwrap()
        .settings(settings)
        .spawn()
}

async fn append(log: &MemoryEventLog, events: Vec<Event>) -> Vec<Event> {
    let ids = log.append(&events).await.unwrap();
    events
        .into_iter()
        .zip(ids)
        .map(|(mut event, id)| {
            event.id = id;
            event
        })
        .collect()
}

async fn eventually(what: &str, check: impl AsyncFn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(ms(10)).await;
    }
}

#[test]
fn signature_is_appwrites() {
    // base64(HMAC-SHA1(key, url + body)), computed with Python's hmac.
    assert_eq!(
        signature(
            "a-signature-key-of-some-length",
            "https://hooks.example.com/tokengate",
            br#"{"$id":"x"}"#
        ),
        "N8VEPFlDwoUN4U2TgKb14B80jME="
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivers_appwrite_requests_in_log_order() {
    let receiver = Receiver::start(KEY).await;
    let log = new_log();
    let events = append(
        &log,
        vec![
            token_event("alice", "secret-of-the-token"),
            session_event(EventKind::SessionCreate, "alice", "0123456789abcdef0123"),
            session_event(EventKind::SessionDelete, "alice", "0123456789abcdef0123"),
            user_event(EventKind::UserDelete, "alice"),
        ],
    )
    .await;
    let handle = start(&log, vec![hook(&receiver, "w1", &["users.*"])], fast());
    let received = receiver.wait_for(4).await;
    handle.shutdown().await;
    assert_eq!(receiver.bad_signatures(), 0);
    assert_eq!(receiver.requests(), 4);
    for (got, event) in received.iter().zip(&events) {
        assert_eq!(got.header("x-appwrite-webhook-id"), "w1");
        assert_eq!(got.header("x-appwrite-webhook-name"), "Audit trail");
        assert_eq!(got.header("x-appwrite-webhook-project-id"), "proj-1");
        assert_eq!(got.header("x-appwrite-webhook-user-id"), "alice");
        assert_eq!(got.header("x-appwrite-webhook-events"), event.names().join(","));
        assert_eq!(got.header("x-tokengate-event-id"), event.id);
        assert_eq!(got.header("idempotency-key"), event.id);
        assert_eq!(got.header("content-type"), "application/json");
        assert_eq!(
            got.header("user-agent"),
            format!("tokengate/{}", env!("CARGO_PKG_VERSION"))
        );
    }
    let names = |i: usize| received[i].header("x-appwrite-webhook-events").to_owned();
    assert!(names(0).starts_with("users.alice.tokens.00000000000000000005.create,users.*.tokens.*.create,"));
    assert!(names(2).contains("users.*.sessions.*.delete"));
    assert!(names(3).starts_with("users.alice.delete,users.*.delete,users.alice,users.*"));
    // The token with its secret; the session without a credential; the user.
    assert_eq!(received[0].body["secret"], "secret-of-the-token");
    assert_eq!(received[0].body["userId"], "alice");
    assert_eq!(received[1].body["$id"], "0123456789abcdef0123");
    assert_eq!(received[1].body["secret"], "");
    assert_eq!(received[1].body["provider"], "token");
    assert_eq!(received[3].body["$id"], "alice");
    assert_eq!(received[3].body["email"], "alice@example.com");
    assert!(all_acked(&log).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_no_pattern_matches_are_acked_without_a_request() {
    let receiver = Receiver::start(KEY).await;
    let log = new_log();
    let events = append(
        &log,
        vec![
            token_event("bob", "s"),
            session_event(EventKind::SessionCreate, "bob", "aaaaaaaaaaaaaaaaaaaa"),
            session_event(EventKind::SessionDelete, "bob", "aaaaaaaaaaaaaaaaaaaa"),
            user_event(EventKind::UserCreate, "bob"),
        ],
    )
    .await;
    let handle = start(
        &log,
        vec![hook(&receiver, "w1", &["users.*.sessions.*.delete"])],
        fast(),
    );
    receiver.wait_for(1).await;
    eventually("every event acknowledged", async || all_acked(&log).await).await;
    handle.shutdown().await;
    assert_eq!(receiver.requests(), 1);
    assert_eq!(receiver.received()[0].header("x-tokengate-event-id"), events[2].id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_webhook_sees_every_event() {
    let (first, second) = (Receiver::start(KEY).await, Receiver::start(KEY).await);
    let log = new_log();
    append(&log, (0..5).map(|i| token_event(&format!("u{i}"), "s")).collect()).await;
    let hooks = vec![
        hook(&first, "one", &["users.*"]),
        hook(&second, "two", &["users.*.tokens.*"]),
    ];
    let handle = start(&log, hooks, fast());
    first.wait_for(5).await;
    second.wait_for(5).await;
    handle.shutdown().await;
}

/// A recorder and a log buffer for the current thread, and a runtime on it.
fn observed(test: impl std::future::Future<Output = ()>) -> (Snapshot, String) {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let buffer = Arc::new(Mutex::new(Vec::<u8>::new()));
    let writer = {
        let buffer = Arc::clone(&buffer);
        move || Sink(Arc::clone(&buffer))
    };
    let subscriber = tracing_subscriber::fmt()
        .with_writer(writer)
        .with_ansi(false)
        .with_max_level(tracing::Level::WARN)
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        metrics::with_local_recorder(&recorder, || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(test);
        });
    });
    let text = String::from_utf8(buffer.lock().unwrap().clone()).unwrap();
    (snapshotter.snapshot().into_vec(), text)
}

struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

type Snapshot = Vec<(
    metrics_util::CompositeKey,
    Option<metrics::Unit>,
    Option<metrics::SharedString>,
    DebugValue,
)>;

fn deliveries(snapshot: &Snapshot, outcome: &str) -> u64 {
    snapshot
        .iter()
        .filter(|(key, ..)| {
            key.kind() == MetricKind::Counter && key.key().name() == "tokengate_webhook_deliveries_total"
        })
        .filter(|(key, ..)| key.key().labels().any(|l| l.key() == "outcome" && l.value() == outcome))
        .map(|(.., value)| match value {
            DebugValue::Counter(n) => *n,
            _ => 0,
        })
        .sum()
}

#[test]
fn failures_are_retried_in_order_until_a_2xx() {
    let log = new_log();
    let (snapshot, text) = observed(async {
        let receiver = Receiver::start(KEY).await;
        receiver.script(&[500, 503, 404]);
        let events = append(
            &log,
            vec![
                token_event("carol", "first"),
                session_event(EventKind::SessionCreate, "carol", "bbbbbbbbbbbbbbbbbbbb"),
            ],
        )
        .await;
        let handle = start(&log, vec![hook(&receiver, "w1", &["users.*"])], fast());
        let received = receiver.wait_for(2).await;
        handle.shutdown().await;
        assert_eq!(receiver.requests(), 5, "three failures, then each once");
        assert_eq!(received[0].header("x-tokengate-event-id"), events[0].id);
        assert_eq!(received[1].header("x-tokengate-event-id"), events[1].id);
        assert!(log.dead_letters(10).await.unwrap().is_empty());
        // The gauge's source: nothing left unacknowledged.
        let stats = log.stats("webhook:w1").await.unwrap();
        assert_eq!((stats.pending, stats.oldest_unacknowledged), (0, Duration::ZERO));
    });
    assert_eq!(deliveries(&snapshot, "retried"), 3);
    assert_eq!(deliveries(&snapshot, "delivered"), 2);
    assert_eq!(deliveries(&snapshot, "dead_lettered"), 0);
    assert!(text.contains("webhook delivery failed"), "{text}");
    assert!(!text.contains("ERROR"), "{text}");
    let gauge = snapshot.iter().any(|(key, ..)| {
        key.kind() == MetricKind::Gauge && key.key().name() == "tokengate_webhook_oldest_undelivered_seconds"
    });
    assert!(gauge, "the oldest-undelivered gauge is set");
}

#[test]
fn max_attempts_dead_letter_with_an_error_and_redrive_delivers() {
    let log = new_log();
    let (snapshot, text) = observed(async {
        let receiver = Receiver::start(KEY).await;
        receiver.always(Some(500));
        let events = append(&log, vec![token_event("dave", "the-secret")]).await;
        let settings = fast().max_attempts(3);
        let handle = start(&log, vec![hook(&receiver, "w1", &["users.*"])], settings);
        eventually("a dead letter", async || {
            log.stats("webhook:w1").await.unwrap().dead == 1
        })
        .await;
        assert_eq!(receiver.requests(), 3);
        // Later events still flow once the head is dead-lettered.
        receiver.always(None);
        let later = append(&log, vec![user_event(EventKind::UserCreate, "dave")]).await;
        let received = receiver.wait_for(1).await;
        assert_eq!(received[0].header("x-tokengate-event-id"), later[0].id);
        // Redriven, it is delivered (a new entry, the same payload).
        let dead = log.dead_letters(10).await.unwrap();
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].event.name(), events[0].name());
        let new_id = log.redrive(&dead[0].event.id).await.unwrap().unwrap();
        let received = receiver.wait_for(2).await;
        assert_eq!(received[1].header("x-tokengate-event-id"), new_id);
        assert_eq!(received[1].body["secret"], "the-secret");
        assert!(log.dead_letters(10).await.unwrap().is_empty());
        handle.shutdown().await;
    });
    assert_eq!(deliveries(&snapshot, "dead_lettered"), 1);
    assert_eq!(deliveries(&snapshot, "retried"), 2);
    assert_eq!(deliveries(&snapshot, "delivered"), 2);
    let error = text
        .lines()
        .find(|line| line.contains("ERROR"))
        .unwrap_or_else(|| panic!("no error logged: {text}"));
    assert!(error.contains("webhook=w1"), "{error}");
    assert!(
        error.contains("event=") && error.contains("name=users.dave.tokens."),
        "{error}"
    );
    assert!(error.contains("answered 500"), "{error}");
    assert!(!text.contains("the-secret"), "no secret in the log: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_of_a_dead_dispatcher_are_claimed_after_the_timeout() {
    let receiver = Receiver::start(KEY).await;
    let log = new_log();
    let events = append(&log, vec![token_event("erin", "a"), token_event("erin", "b")]).await;
    // A dispatcher took both and died.
    let taken = log.read_group("webhook:w1", "died", 10, Duration::ZERO).await.unwrap();
    assert_eq!(taken.len(), 2);
    let started = Instant::now();
    let handle = start(
        &log,
        vec![hook(&receiver, "w1", &["users.*"])],
        fast().claim_timeout(ms(300)),
    );
    let received = receiver.wait_for(2).await;
    assert!(started.elapsed() >= ms(250), "claimed only after the timeout");
    handle.shutdown().await;
    assert_eq!(received[0].header("x-tokengate-event-id"), events[0].id);
    assert_eq!(received[1].header("x-tokengate-event-id"), events[1].id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_longer_than_the_claim_timeout_are_handed_over_once() {
    let receiver = Receiver::start(KEY).await;
    receiver.script(&[500, 500, 500, 500]);
    let log = new_log();
    let events = append(&log, vec![token_event("fay", "a"), token_event("fay", "b")]).await;
    let settings = fast().claim_timeout(ms(200)).backoff(ms(150), ms(150));
    let first = start(&log, vec![hook(&receiver, "w1", &["users.*"])], settings.clone());
    let second = start(&log, vec![hook(&receiver, "w1", &["users.*"])], settings);
    let received = receiver.wait_for(2).await;
    tokio::time::sleep(ms(500)).await;
    first.shutdown().await;
    second.shutdown().await;
    let ids: Vec<String> = receiver
        .received()
        .iter()
        .map(|r| r.header("x-tokengate-event-id").to_owned())
        .collect();
    assert_eq!(ids.len(), 2, "each delivered once: {ids:?}");
    assert_eq!(received[0].header("x-tokengate-event-id"), events[0].id);
    assert!(log.dead_letters(10).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dispatchers_on_one_log_share_the_work() {
    let receiver = Receiver::start(KEY).await;
    let log = new_log();
    let hooks = || vec![hook(&receiver, "w1", &["users.*"])];
    let settings = fast().batch(2);
    let first = start(&log, hooks(), settings.clone());
    let second = start(&log, hooks(), settings);
    append(&log, (0..40).map(|i| token_event(&format!("user{i}"), "s")).collect()).await;
    receiver.wait_for(40).await;
    tokio::time::sleep(ms(200)).await;
    first.shutdown().await;
    second.shutdown().await;
    let mut ids: Vec<String> = receiver
        .received()
        .iter()
        .map(|r| r.header("x-tokengate-event-id").to_owned())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!((ids.len(), receiver.requests()), (40, 40), "each event once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_stops_reading() {
    let receiver = Receiver::start(KEY).await;
    let log = new_log();
    let handle = start(&log, vec![hook(&receiver, "w1", &["users.*"])], fast());
    append(&log, vec![token_event("gil", "a")]).await;
    receiver.wait_for(1).await;
    let started = Instant::now();
    handle.shutdown().await;
    // Prompt: well inside the 5 s claim timeout it would otherwise wait
    // out (the margin is for a machine whose cores are all busy).
    assert!(started.elapsed() < Duration::from_secs(4), "{:?}", started.elapsed());
    append(&log, vec![token_event("gil", "b")]).await;
    tokio::time::sleep(ms(200)).await;
    assert_eq!(receiver.requests(), 1);
}

#[test]
fn dispatcher_refuses_duplicate_ids_and_bad_projects() {
    let hook = || {
        Webhook::builder("same", "https://h.example/x")
            .signature_key(KEY)
            .events(["users.*"])
            .build()
            .unwrap()
    };
    let log: Arc<dyn EventLog> = Arc::new(new_log());
    assert!(WebhookDispatcher::new(Arc::clone(&log), "p", vec![hook(), hook()]).is_err());
    assert!(WebhookDispatcher::new(Arc::clone(&log), "", vec![hook()]).is_err());
    assert!(WebhookDispatcher::new(Arc::clone(&log), "bad\nproject", vec![hook()]).is_err());
    let dispatcher = WebhookDispatcher::new(log, "p", vec![hook()]).unwrap();
    assert_eq!(dispatcher.consumer().split('/').count(), 3, "{}", dispatcher.consumer());
}

#[test]
fn backoff_is_capped_full_jitter() {
    let settings = DispatcherSettings::default().backoff(ms(100), ms(1000));
    for attempt in 1..=40 {
        let bound = ms(100 * 2u64.pow(attempt.min(20) - 1)).min(ms(1000));
        for _ in 0..50 {
            assert!(settings.backoff_after(attempt) <= bound);
        }
    }
    let spread: std::collections::HashSet<_> = (0..50).map(|_| settings.backoff_after(10)).collect();
    assert!(spread.len() > 10, "jittered");
}
