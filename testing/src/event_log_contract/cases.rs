//! The cases of the event log contract, one function each.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use super::{session_event, token_event, user_event, LogBackend};
use crate::{ct_eq, random_hex};
use tokengate::Secret;
use tokengate_events::{Event, EventKind, EventLogConfig, EventObject, LoggedEvent};

fn id_key(id: &str) -> (u64, u64) {
    let (ms, seq) = id.split_once('-').expect("ids are <ms>-<seq>");
    (ms.parse().unwrap(), seq.parse().unwrap())
}

fn ids(events: &[LoggedEvent]) -> Vec<String> {
    events.iter().map(|e| e.event.id.clone()).collect()
}

const NOW: Duration = Duration::ZERO;

/// Appended entries come back in order with increasing ids, each once per
/// group, as appended; a waiting read with nothing new waits `block`.
pub async fn append_and_read_in_order(backend: LogBackend) {
    let log = backend.log(EventLogConfig::default()).await.log;
    let mut events = vec![
        user_event("alice"),
        token_event("alice", "0123456789abcdef"),
        session_event("alice", EventKind::SessionCreate),
    ];
    let mut appended = log.append(&events).await.unwrap();
    for _ in 0..3 {
        let event = session_event("bob", EventKind::SessionDelete);
        appended.extend(log.append(std::slice::from_ref(&event)).await.unwrap());
        events.push(event);
    }
    assert_eq!(appended.len(), 6);
    assert!(
        appended.windows(2).all(|w| id_key(&w[0]) < id_key(&w[1])),
        "{appended:?}"
    );
    let read = log.read_group("g", "c", 100, NOW).await.unwrap();
    assert_eq!(ids(&read), appended);
    for (got, sent) in read.iter().zip(&events) {
        assert_eq!(got.deliveries, 1);
        assert_eq!((got.event.kind, &got.event.user_id), (sent.kind, &sent.user_id));
        assert_eq!(got.event.resource_id(), sent.resource_id());
        assert_eq!(got.event.at, sent.at);
    }
    assert!(log.read_group("g", "c", 100, NOW).await.unwrap().is_empty());
    let started = Instant::now();
    assert!(log
        .read_group("g", "c", 100, Duration::from_millis(150))
        .await
        .unwrap()
        .is_empty());
    assert!(
        started.elapsed() >= Duration::from_millis(140),
        "{:?}",
        started.elapsed()
    );
}

/// Consumers of one group share the entries: each goes to exactly one.
pub async fn a_group_delivers_each_entry_to_one_consumer(backend: LogBackend) {
    let log = backend.log(EventLogConfig::default()).await.log;
    let events: Vec<Event> = (0..50)
        .map(|i| session_event(&format!("u{i}"), EventKind::SessionCreate))
        .collect();
    let appended = log.append(&events).await.unwrap();
    let consumer = |name: &'static str| {
        let log = log.clone();
        tokio::spawn(async move {
            let mut got = Vec::new();
            loop {
                let batch = log.read_group("shared", name, 7, NOW).await.unwrap();
                if batch.is_empty() {
                    return got;
                }
                got.extend(ids(&batch));
                tokio::task::yield_now().await;
            }
        })
    };
    let (a, b) = (consumer("a"), consumer("b"));
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    let mut all: Vec<String> = a.iter().chain(&b).cloned().collect();
    assert_eq!(all.len(), 50, "a {} + b {}", a.len(), b.len());
    all.sort_by_key(|id| id_key(id));
    assert_eq!(all, appended);
}

/// Every group gets every entry.
pub async fn every_group_gets_every_entry(backend: LogBackend) {
    let log = backend.log(EventLogConfig::default()).await.log;
    let events: Vec<Event> = (0..20).map(|i| user_event(&format!("u{i}"))).collect();
    let appended = log.append(&events).await.unwrap();
    for group in ["webhooks", "websockets"] {
        let got = log.read_group(group, "c", 100, NOW).await.unwrap();
        assert_eq!(ids(&got), appended, "{group}");
    }
}

/// Acknowledged entries leave the pending list; the rest can be claimed.
pub async fn ack_removes_from_pending(backend: LogBackend) {
    let log = backend.log(EventLogConfig::default()).await.log;
    let events: Vec<Event> = (0..4).map(|i| user_event(&format!("u{i}"))).collect();
    let appended = log.append(&events).await.unwrap();
    log.read_group("g", "c", 10, NOW).await.unwrap();
    assert_eq!(log.stats("g").await.unwrap().pending, 4);
    log.ack("g", &appended[..2]).await.unwrap();
    log.ack("g", &appended[..1]).await.unwrap();
    log.ack("g", &[]).await.unwrap();
    assert_eq!(log.stats("g").await.unwrap().pending, 2);
    let claimed = log.claim_stale("g", "other", NOW, 10).await.unwrap();
    assert_eq!(ids(&claimed), appended[2..].to_vec());
    assert!(claimed.iter().all(|e| e.deliveries == 2), "{claimed:?}");
    log.ack("g", &appended[2..]).await.unwrap();
    assert_eq!(log.stats("g").await.unwrap().pending, 0);
    // Acknowledging for a group that never read is no error.
    log.ack("never", &appended).await.unwrap();
}

/// Entries idle at a dead consumer for `min_idle` move to a live one,
/// oldest first, their delivery count incremented; fresh ones stay.
pub async fn claim_stale_takes_over_idle_entries(backend: LogBackend) {
    let log = backend.log(EventLogConfig::default()).await.log;
    let events: Vec<Event> = (0..3).map(|i| user_event(&format!("u{i}"))).collect();
    let appended = log.append(&events).await.unwrap();
    assert!(log.claim_stale("nobody", "c", NOW, 10).await.unwrap().is_empty());
    assert_eq!(log.read_group("g", "dead", 10, NOW).await.unwrap().len(), 3);
    let min_idle = Duration::from_millis(200);
    assert!(log.claim_stale("g", "alive", min_idle, 10).await.unwrap().is_empty());
    tokio::time::sleep(min_idle + Duration::from_millis(50)).await;
    let first = log.claim_stale("g", "alive", min_idle, 2).await.unwrap();
    assert_eq!(ids(&first), appended[..2].to_vec());
    assert!(first.iter().all(|e| e.deliveries == 2), "{first:?}");
    let rest = log.claim_stale("g", "alive", min_idle, 10).await.unwrap();
    assert_eq!(ids(&rest), appended[2..].to_vec());
    // Just claimed: not idle any more.
    assert!(log.claim_stale("g", "third", min_idle, 10).await.unwrap().is_empty());
    let again = log.claim_stale("g", "third", NOW, 10).await.unwrap();
    assert_eq!(again.iter().map(|e| e.deliveries).collect::<Vec<_>>(), [3, 3, 3]);
}

/// A dead-lettered entry is acknowledged, listed with its deliveries and
/// its payload (secret included), and redriven as a new entry once.
pub async fn dead_letters_and_redrive(backend: LogBackend) {
    let log = backend.log(EventLogConfig::default()).await.log;
    let secret = random_hex(64);
    let token = token_event("alice", secret.as_str());
    let appended = log.append(std::slice::from_ref(&token)).await.unwrap();
    let read = log.read_group("g", "c", 10, NOW).await.unwrap();
    log.dead_letter("g", &read[0], "receiver answered 500 five times")
        .await
        .unwrap();
    let stats = log.stats("g").await.unwrap();
    assert_eq!((stats.pending, stats.dead), (0, 1), "{stats:?}");
    let dead = log.dead_letters(10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].deliveries, 1);
    assert_eq!(dead[0].reason.as_deref(), Some("receiver answered 500 five times"));
    assert_eq!(read[0].reason, None);
    assert_eq!(dead[0].event.resource_id(), token.resource_id());
    let EventObject::Token(dead_token) = &dead[0].event.object else {
        panic!("not a token: {:?}", dead[0]);
    };
    assert_eq!(dead_token.secret.as_ref().map(Secret::expose), Some(secret.as_str()));
    let new_id = log.redrive(&dead[0].event.id).await.unwrap().expect("redriven");
    assert!(id_key(&new_id) > id_key(&appended[0]));
    assert!(log.dead_letters(10).await.unwrap().is_empty());
    assert_eq!(log.redrive(&dead[0].event.id).await.unwrap(), None);
    let again = log.read_group("g", "c", 10, NOW).await.unwrap();
    assert_eq!(ids(&again), [new_id]);
    assert_eq!(again[0].event.resource_id(), token.resource_id());
}

/// Every follower sees every entry appended after it started, in order.
pub async fn read_after_reaches_every_reader(backend: LogBackend) {
    let log = backend.log(EventLogConfig::default()).await.log;
    let before = log.append(&[user_event("early")]).await.unwrap();
    let follower = || {
        let log = log.clone();
        tokio::spawn(async move {
            let mut seen: Vec<String> = Vec::new();
            let mut after: Option<String> = None;
            while seen.len() < 10 {
                let batch = log
                    .read_after(after.as_deref(), 4, Duration::from_secs(3))
                    .await
                    .unwrap();
                assert!(!batch.events.is_empty(), "a follower waited in vain after {seen:?}");
                assert_eq!(batch.last_id, batch.events.last().map(|e| e.id.clone()));
                after = batch.last_id;
                seen.extend(batch.events.into_iter().map(|e| e.id));
            }
            seen
        })
    };
    let (a, b) = (follower(), follower());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut appended = Vec::new();
    for i in 0..10 {
        appended.extend(log.append(&[user_event(&format!("u{i}"))]).await.unwrap());
    }
    assert_eq!(a.await.unwrap(), appended);
    assert_eq!(b.await.unwrap(), appended);
    let all = log.read_after(Some("0-0"), 100, NOW).await.unwrap().events;
    assert_eq!(all.len(), 11);
    assert_eq!(all[0].id, before[0]);
}

/// 100,000 appends with `max_len` 1,000 leave about 1,000 entries; pending
/// entries whose entry was trimmed are gone (at the latest when claimed).
pub async fn trimming_by_length_bounds_the_log(backend: LogBackend) {
    let log = backend.log(EventLogConfig::default().max_len(1_000)).await.log;
    let first: Vec<Event> = (0..5)
        .map(|i| session_event(&format!("u{i}"), EventKind::SessionDelete))
        .collect();
    log.append(&first).await.unwrap();
    assert_eq!(log.read_group("g", "c", 10, NOW).await.unwrap().len(), 5);
    let batch: Vec<Event> = (0..1_000)
        .map(|_| session_event("flood", EventKind::SessionDelete))
        .collect();
    for _ in 0..100 {
        log.append(&batch).await.unwrap();
    }
    let len = log.stats("g").await.unwrap().len;
    assert!((1_000..=1_100).contains(&len), "{len} entries kept");
    assert!(log.claim_stale("g", "other", NOW, 10).await.unwrap().is_empty());
    assert_eq!(log.stats("g").await.unwrap().pending, 0);
}

/// Entries older than `max_age` go on a later append (Redis: whole nodes,
/// so up to about 100 may stay).
pub async fn trimming_by_age(backend: LogBackend) {
    let max_age = Duration::from_millis(300);
    let log = backend.log(EventLogConfig::default().max_age(max_age)).await.log;
    let old: Vec<Event> = (0..300).map(|i| user_event(&format!("u{i}"))).collect();
    log.append(&old).await.unwrap();
    tokio::time::sleep(max_age + Duration::from_millis(100)).await;
    let fresh = log.append(&[user_event("fresh")]).await.unwrap();
    let len = log.stats("g").await.unwrap().len;
    assert!((1..=101).contains(&len), "{len} entries kept");
    let kept = log.read_after(Some("0-0"), 1_000, NOW).await.unwrap().events;
    assert_eq!(kept.last().map(|e| e.id.clone()), fresh.first().cloned());
}

/// The token secret is nowhere in the stored bytes, and comes back on
/// every read.
pub async fn the_token_secret_is_sealed(backend: LogBackend) {
    let made = backend.log(EventLogConfig::default()).await;
    let log = made.log;
    let secret = random_hex(64);
    log.append(&[token_event("alice", secret.as_str())]).await.unwrap();
    let read = log.read_group("g", "c", 10, NOW).await.unwrap();
    log.dead_letter("g", &read[0], "test").await.unwrap();
    log.append(&[token_event("bob", secret.as_str())]).await.unwrap();
    let followed = log.read_after(Some("0-0"), 10, NOW).await.unwrap().events;
    let dead = log.dead_letters(10).await.unwrap();
    let secrets: Vec<String> = followed
        .iter()
        .chain(read.iter().map(|e| &e.event))
        .chain(dead.iter().map(|e| &e.event))
        .map(|e| match &e.object {
            EventObject::Token(token) => token.secret.as_ref().expect("a secret").expose().to_owned(),
            other => panic!("not a token: {other:?}"),
        })
        .collect();
    assert_eq!(secrets.len(), 4);
    assert!(secrets.iter().all(|s| ct_eq(s.as_bytes(), secret.as_bytes())));
    if let Some(raw) = made.raw {
        let stored = raw.stored().await;
        assert!(stored.len() >= 3, "{} stored entries", stored.len());
        let needle = secret.as_bytes();
        for bytes in &stored {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle),
                "the secret is stored in the clear: {}",
                String::from_utf8_lossy(bytes)
            );
        }
    }
}

/// Length, pending, the oldest unacknowledged entry's age and the dead
/// letters, as one group sees them.
pub async fn stats_follow_the_group(backend: LogBackend) {
    let log = backend.log(EventLogConfig::default()).await.log;
    let empty = log.stats("g").await.unwrap();
    assert_eq!((empty.len, empty.pending, empty.dead), (0, 0, 0));
    assert_eq!(empty.oldest_unacknowledged, Duration::ZERO);
    let appended = log
        .append(&[user_event("a"), user_event("b"), user_event("c")])
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(60)).await;
    let unread = log.stats("g").await.unwrap();
    assert_eq!((unread.len, unread.pending), (3, 0));
    assert!(unread.oldest_unacknowledged >= Duration::from_millis(50), "{unread:?}");
    let read = log.read_group("g", "c", 2, NOW).await.unwrap();
    let pending = log.stats("g").await.unwrap();
    assert_eq!(pending.pending, 2);
    assert!(
        pending.oldest_unacknowledged >= Duration::from_millis(50),
        "{pending:?}"
    );
    log.ack("g", &ids(&read)).await.unwrap();
    let one_unread = log.stats("g").await.unwrap();
    assert_eq!(one_unread.pending, 0);
    assert!(
        one_unread.oldest_unacknowledged >= Duration::from_millis(50),
        "{one_unread:?}"
    );
    let last = log.read_group("g", "c", 2, NOW).await.unwrap();
    assert_eq!(ids(&last), appended[2..].to_vec());
    log.dead_letter("g", &last[0], "test").await.unwrap();
    let done = log.stats("g").await.unwrap();
    assert_eq!((done.len, done.pending, done.dead), (3, 0, 1));
    assert_eq!(done.oldest_unacknowledged, Duration::ZERO);
}

/// A reader waiting on an empty log wakes as soon as an entry arrives.
pub async fn a_waiting_read_wakes_on_append(backend: LogBackend) {
    let log = backend.log(EventLogConfig::default()).await.log;
    let reader = {
        let log = log.clone();
        tokio::spawn(async move {
            let got = log.read_group("g", "c", 10, Duration::from_secs(3)).await.unwrap();
            (got, Instant::now())
        })
    };
    tokio::time::sleep(Duration::from_millis(150)).await;
    let appended_at = Instant::now();
    let appended = log.append(&[user_event("a")]).await.unwrap();
    let (got, woke_at) = reader.await.unwrap();
    assert_eq!(ids(&got), appended);
    assert!(woke_at.duration_since(appended_at) < Duration::from_millis(500));
    let distinct: HashSet<_> = ids(&got).into_iter().collect();
    assert_eq!(distinct.len(), 1);
}
