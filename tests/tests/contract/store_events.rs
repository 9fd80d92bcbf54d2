//! Events written by a standalone `RedisStore` itself
//! (`RedisStore::with_events`): each change and its events are one script.
//! The same operations run against a gate whose store writes the events and
//! a gate that announces them in the background (the path of a cluster);
//! after every operation of the first, with no flush, the stream already
//! holds exactly the events of the changes so far (nothing missing, nothing
//! twice), and both logs hold the same events: the objects the gate
//! answered, in the same order.

use std::sync::Arc;

use tokengate::store::{RedisStore, RedisStoreConfig};
use tokengate::{ClientInfo, Gate, ServerSecret, Session, TokenOptions, User, UserId};
use tokengate_events::{Event, EventKind, EventLog, EventLogConfig, EventObject, LogSink, RedisEventLog};
use tokengate_tests::redis_harness::{connection, redis_url, unique_prefix};

/// A gate whose store writes the events itself (`writes`), or that
/// announces them to a log sink (`Some` sink).
async fn gate(writes: bool) -> (Gate, RedisEventLog, Option<Arc<LogSink>>) {
    let url = redis_url().await;
    let store = RedisStore::connect(&url, RedisStoreConfig::default().prefix(unique_prefix()))
        .await
        .unwrap();
    let secret = ServerSecret::random();
    let log = RedisEventLog::from_store(&store, secret.clone(), EventLogConfig::default());
    let builder = Gate::builder().server_key(secret).max_sessions(2);
    if writes {
        let gate = builder
            .store_writing_events(store.with_events(log.stream()).unwrap())
            .build()
            .unwrap();
        (gate, log, None)
    } else {
        let sink = LogSink::new(Arc::new(log.clone()));
        let gate = builder.store(store).event_sink(sink.clone()).build().unwrap();
        (gate, log, Some(sink))
    }
}

/// An event as compared: its kind, user and object (not its time).
fn describe(event: &Event) -> String {
    let object = match &event.object {
        EventObject::Token(token) => format!(
            "token {} {} {} {:?} {:?} {}",
            token.id,
            token.created_at,
            token.expire,
            token.phrase,
            token.kind,
            token.secret.as_ref().map(|s| s.expose().to_owned()).unwrap_or_default()
        ),
        EventObject::Session(session) => format!("{session:?}"),
        EventObject::User(user) => format!("{user:?}"),
        _ => "other".to_owned(),
    };
    format!("{} {} {object}", event.kind.tag(), event.user_id)
}

fn session(kind: EventKind, session: &Session) -> String {
    format!("{} {} {session:?}", kind.tag(), session.user_id)
}

fn user_event(kind: EventKind, user: &User) -> String {
    format!("{} {} {user:?}", kind.tag(), user.id)
}

/// Runs the operations; after each, `after(expected so far)` (the events
/// the log must hold, as `describe` shows them).
async fn scenario(gate: &Gate, log: &RedisEventLog, sink: Option<&LogSink>) -> Vec<String> {
    let writes = sink.is_none();
    let url = redis_url().await;
    let mut inspect = connection(&url).await;
    let stream = log.stream_key().to_owned();
    let mut expected: Vec<String> = Vec::new();
    let check = |expected: &Vec<String>| {
        let count = expected.len();
        let stream = stream.clone();
        let mut inspect = inspect.clone();
        async move {
            if writes {
                // No flush: the change and its events were one step.
                let len: usize = ::redis::cmd("XLEN")
                    .arg(&stream)
                    .query_async(&mut inspect)
                    .await
                    .unwrap();
                assert_eq!(len, count, "events in the stream right after the change");
            }
        }
    };
    let alice = UserId::parse("alice").unwrap();
    let bob = UserId::parse("bob").unwrap();
    let client = ClientInfo::default;

    // A token for a new user: the user, then the token.
    let token = gate.create_token(&alice, TokenOptions::default()).await.unwrap();
    let user = gate.get_user(&alice).await.unwrap().unwrap();
    expected.push(user_event(EventKind::UserCreate, &user));
    expected.push(format!(
        "token.create alice token {} {} {} {:?} {:?} {}",
        token.id,
        token.created_at,
        token.expire,
        token.phrase,
        token.kind,
        token.secret.as_ref().unwrap().expose()
    ));
    check(&expected).await;

    // Its exchange.
    let secret = token.secret.as_ref().unwrap().expose().to_owned();
    let (first, _) = gate.create_session(&alice, &secret, client()).await.unwrap();
    expected.push(session(EventKind::SessionCreate, &first));
    check(&expected).await;

    // A server session, then one more: the limit (2) evicts the oldest.
    let (second, _) = gate.create_server_session(&alice, client()).await.unwrap();
    expected.push(session(EventKind::SessionCreate, &second));
    check(&expected).await;
    let (third, _) = gate.create_server_session(&alice, client()).await.unwrap();
    expected.push(session(EventKind::SessionCreate, &third));
    // The oldest (by creation, then id: both may share a millisecond).
    let mut older = [first, second];
    older.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    let [evicted, kept] = older;
    expected.push(session(EventKind::SessionDelete, &evicted));
    check(&expected).await;

    // A server session makes bob known.
    let (bobs, _) = gate.create_server_session(&bob, client()).await.unwrap();
    let user = gate.get_user(&bob).await.unwrap().unwrap();
    expected.push(user_event(EventKind::UserCreate, &user));
    expected.push(session(EventKind::SessionCreate, &bobs));
    check(&expected).await;

    // Logout one; logout all.
    gate.delete_session(&alice, &third.id).await.unwrap();
    expected.push(session(EventKind::SessionDelete, &third));
    check(&expected).await;
    let (fourth, _) = gate.create_server_session(&alice, client()).await.unwrap();
    expected.push(session(EventKind::SessionCreate, &fourth));
    check(&expected).await;
    assert_eq!(gate.delete_sessions(&alice).await.unwrap(), 2);
    let mut ended = [kept, fourth];
    ended.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    expected.extend(ended.iter().map(|s| session(EventKind::SessionDelete, s)));
    check(&expected).await;
    // Nothing left: no event.
    assert_eq!(gate.delete_sessions(&alice).await.unwrap(), 0);
    check(&expected).await;

    // A token and two sessions, then the user is deleted: its sessions,
    // then the user.
    let token = gate.create_token(&alice, TokenOptions::default()).await.unwrap();
    expected.push(format!(
        "token.create alice token {} {} {} {:?} {:?} {}",
        token.id,
        token.created_at,
        token.expire,
        token.phrase,
        token.kind,
        token.secret.as_ref().unwrap().expose()
    ));
    check(&expected).await;
    let (fifth, _) = gate.create_server_session(&alice, client()).await.unwrap();
    let secret = token.secret.as_ref().unwrap().expose().to_owned();
    let (sixth, _) = gate.create_session(&alice, &secret, client()).await.unwrap();
    expected.push(session(EventKind::SessionCreate, &fifth));
    expected.push(session(EventKind::SessionCreate, &sixth));
    check(&expected).await;
    let user = gate.get_user(&alice).await.unwrap().unwrap();
    gate.delete_user(&alice).await.unwrap();
    let mut ended = [fifth, sixth];
    ended.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    expected.extend(ended.iter().map(|s| session(EventKind::SessionDelete, s)));
    expected.push(user_event(EventKind::UserDelete, &user));
    check(&expected).await;
    // An unknown user: no event.
    assert!(gate.delete_user(&alice).await.is_err());
    check(&expected).await;

    if let Some(sink) = sink {
        sink.flush().await;
    }
    let len: usize = ::redis::cmd("XLEN")
        .arg(&stream)
        .query_async(&mut inspect)
        .await
        .unwrap();
    assert_eq!(len, expected.len(), "after the flush: nothing appended twice");
    expected
}

async fn logged(log: &RedisEventLog) -> Vec<String> {
    let events = log
        .read_after(Some("0-0"), 1000, std::time::Duration::ZERO)
        .await
        .unwrap()
        .events;
    events.iter().map(describe).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standalone_store_writes_each_change_with_its_events() {
    let (gate, log, sink) = gate(true).await;
    let expected = scenario(&gate, &log, sink.as_deref()).await;
    assert_eq!(logged(&log).await, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_background_path_logs_the_same_events() {
    let (gate, log, sink) = gate(false).await;
    let expected = scenario(&gate, &log, sink.as_deref()).await;
    assert_eq!(logged(&log).await, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_of_another_prefix_is_refused() {
    let url = redis_url().await;
    let store = RedisStore::connect(&url, RedisStoreConfig::default().prefix(unique_prefix()))
        .await
        .unwrap();
    let other = RedisStore::connect(&url, RedisStoreConfig::default().prefix(unique_prefix()))
        .await
        .unwrap();
    let log = RedisEventLog::from_store(&other, ServerSecret::random(), EventLogConfig::default());
    assert!(store.clone().with_events(log.stream()).is_err());
    // A store that writes no events is refused where one that does is expected.
    assert!(Gate::builder()
        .server_secret([9u8; 32])
        .store_writing_events(store)
        .build()
        .is_err());
}
