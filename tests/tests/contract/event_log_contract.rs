//! The event log contract of the core
//! (`tokengate_testing::event_log_contract`, feature `testing`), run
//! against every implementation: `MemoryEventLog`, `RedisEventLog` on a
//! standalone Redis (its own blocking connections, and sharing a store's
//! connection) and on the test cluster (3 primaries + 3 replicas; after
//! each case no node answered `CROSSSLOT`/`MOVED` or failed a script); a
//! fresh key prefix per log. On Redis the stored bytes checked for plaintext
//! secrets are the streams' `XRANGE` and `DUMP`.
//! `event_log::redis_bytes_per_event` measures what an entry costs Redis.

use std::sync::Arc;

use ::redis::aio::ConnectionLike;
use ::redis::Value;
use tokengate::store::{RedisStore, RedisStoreConfig};
use tokengate::ServerSecret;
use tokengate_events::{EventLog, EventLogConfig, RedisEventLog};
use tokengate_testing::event_log_contract::{browser_session_event, token_event, LogBackend, MadeLog, RawEvents};
use tokengate_tests::cluster::shared_cluster_async;
use tokengate_tests::redis_harness::{connection, redis_url, unique_prefix};

/// A log's streams as Redis holds them, through any connection.
struct RawStreams<C> {
    connection: C,
    keys: Vec<String>,
}

#[async_trait::async_trait]
impl<C> RawEvents for RawStreams<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    async fn stored(&self) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut connection = self.connection.clone();
        for key in &self.keys {
            let entries: Value = ::redis::cmd("XRANGE")
                .arg(key)
                .arg("-")
                .arg("+")
                .query_async(&mut connection)
                .await
                .expect("XRANGE");
            flatten(&entries, &mut out);
            let dump: Option<Vec<u8>> = ::redis::cmd("DUMP")
                .arg(key)
                .query_async(&mut connection)
                .await
                .expect("DUMP");
            out.extend(dump);
        }
        out
    }
}

fn flatten(value: &Value, out: &mut Vec<Vec<u8>>) {
    match value {
        Value::BulkString(bytes) => out.push(bytes.clone()),
        Value::Array(items) => items.iter().for_each(|item| flatten(item, out)),
        _ => {}
    }
}

fn inspected<C, I>(log: RedisEventLog<C>, connection: I) -> MadeLog
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
    I: ConnectionLike + Clone + Send + Sync + 'static,
{
    let keys = vec![log.stream_key().to_owned(), log.dead_letter_key().to_owned()];
    MadeLog::new(Arc::new(log)).inspected_by(Arc::new(RawStreams { connection, keys }))
}

/// `RedisEventLog::connect`: blocking reads on connections of its own.
async fn redis() -> LogBackend {
    let url = redis_url().await;
    LogBackend::new(move |config| {
        let url = url.clone();
        async move {
            let store_config = RedisStoreConfig::default().prefix(unique_prefix());
            let log = RedisEventLog::connect(&url, &store_config, ServerSecret::random(), config)
                .await
                .expect("RedisEventLog::connect");
            inspected(log, connection(&url).await)
        }
    })
}

/// `RedisEventLog::from_store`: the store's connection, waits by polling.
async fn redis_shared() -> LogBackend {
    let url = redis_url().await;
    LogBackend::new(move |config| {
        let url = url.clone();
        async move {
            let store_config = RedisStoreConfig::default().prefix(unique_prefix());
            let store = RedisStore::connect(&url, store_config)
                .await
                .expect("RedisStore::connect");
            let log = RedisEventLog::from_store(&store, ServerSecret::random(), config);
            inspected(log, connection(&url).await)
        }
    })
}

/// The test cluster of this process.
async fn redis_cluster() -> LogBackend {
    let seeds = shared_cluster_async().await.seeds();
    LogBackend::new(move |config| {
        let seeds = seeds.clone();
        async move {
            let store_config = RedisStoreConfig::default().prefix(unique_prefix());
            let log = RedisEventLog::connect_cluster(&seeds, &store_config, ServerSecret::random(), config)
                .await
                .expect("RedisEventLog::connect_cluster");
            let inspector = ::redis::cluster::ClusterClient::new(seeds.clone())
                .unwrap()
                .get_async_connection()
                .await
                .unwrap();
            inspected(log, inspector)
        }
    })
}

mod memory {
    tokengate_testing::event_log_contract_tests!(|| async {
        tokengate_testing::event_log_contract::LogBackend::memory()
    });
}

mod redis {
    tokengate_testing::event_log_contract_tests!(super::redis);
}

mod redis_shared {
    tokengate_testing::event_log_contract_tests!(super::redis_shared);
}

mod redis_cluster {
    tokengate_testing::event_log_contract_tests!(
        super::redis_cluster,
        then || async { super::shared_cluster_async().await.assert_no_cross_slot().await }
    );
}

/// What an entry costs Redis: `MEMORY USAGE` of a stream of 1,000
/// browser `session.create` events, and of 1,000 email-OTP-sized
/// `token.create` events, per entry (printed; bounded here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_bytes_per_event() {
    let url = redis_url().await;
    let mut inspect = connection(&url).await;
    let measure = |name: &'static str, make: fn(usize) -> tokengate_events::Event| {
        let url = url.clone();
        async move {
            let store_config = RedisStoreConfig::default().prefix(unique_prefix());
            let log = RedisEventLog::connect(&url, &store_config, ServerSecret::random(), EventLogConfig::default())
                .await
                .unwrap();
            let events: Vec<_> = (0..1_000).map(make).collect();
            log.append(&events).await.unwrap();
            (name, log.stream_key().to_owned())
        }
    };
    let sessions = measure("session.create", |i| {
        browser_session_event(&format!("5f1c2a9be04d7c{i:06}"))
    })
    .await;
    let tokens = measure("token.create", |i| {
        token_event(&format!("5f1c2a9be04d7c{i:06}"), "493817")
    })
    .await;
    for (name, key) in [sessions, tokens] {
        let bytes: i64 = ::redis::cmd("MEMORY")
            .arg("USAGE")
            .arg(&key)
            .arg("SAMPLES")
            .arg(0)
            .query_async(&mut inspect)
            .await
            .unwrap();
        let per_event = bytes / 1_000;
        eprintln!("redis stream: {name} {per_event} bytes per event ({bytes} for 1,000)");
        assert!(per_event < 400, "{name}: {per_event} bytes per event");
    }
}

/// Entries this version cannot decode (a newer version's kind, a token
/// sealed under another server secret): a follower reads past a run of
/// them longer than its batch; a group leaves them pending for a process
/// that can decode them (a newer version claims them after the claim
/// timeout) and, handed out three times in vain, moves them to the dead
/// letters, still sealed, so that they neither come back nor hold the
/// group's age up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_that_do_not_decode_neither_block_nor_come_back() {
    use std::time::Duration;
    let url = redis_url().await;
    let store_config = RedisStoreConfig::default().prefix(unique_prefix());
    let connect = |secret: ServerSecret| {
        let (url, store_config) = (url.clone(), store_config.clone());
        async move {
            RedisEventLog::connect(&url, &store_config, secret, EventLogConfig::default())
                .await
                .unwrap()
        }
    };
    let log = connect(ServerSecret::random()).await;
    let other = connect(ServerSecret::random()).await;
    let mut raw = connection(&url).await;
    let short = Duration::from_millis(100);

    // Read by the group: 150 entries of an unknown kind, then one event.
    for i in 0..150 {
        let _: String = ::redis::cmd("XADD")
            .arg(log.stream_key())
            .arg("*")
            .arg("d")
            .arg(format!("{{\"k\":\"session.refresh\",\"u\":\"u{i}\",\"t\":{i}}}"))
            .query_async(&mut raw)
            .await
            .unwrap();
    }
    let good = log.append(&[token_event("alice", "493817")]).await.unwrap();
    let followed = log.read_after(Some("0-0"), 100, short).await.unwrap();
    assert!(followed.events.is_empty());
    let after_first = followed.last_id.expect("the 100th entry's id");
    let followed = log.read_after(Some(&after_first), 100, short).await.unwrap();
    assert_eq!(followed.events.iter().map(|e| e.id.clone()).collect::<Vec<_>>(), good);
    assert_eq!(followed.last_id, good.first().cloned());

    let read = log.read_group("g", "c", 200, short).await.unwrap();
    assert_eq!(read.iter().map(|e| e.event.id.clone()).collect::<Vec<_>>(), good);
    log.ack("g", &good).await.unwrap();
    let stats = log.stats("g").await.unwrap();
    assert_eq!(
        (stats.pending, stats.dead),
        (150, 0),
        "left pending at first: {stats:?}"
    );
    let claim_in_vain = async |consumer: &str, expected: (u64, u64), why: &str| {
        let claimed = log.claim_stale("g", consumer, Duration::ZERO, 200).await.unwrap();
        assert!(claimed.is_empty(), "{consumer} got {claimed:?}");
        let stats = log.stats("g").await.unwrap();
        assert_eq!((stats.pending, stats.dead), expected, "{why}: {stats:?}");
        stats
    };
    claim_in_vain("c2", (150, 0), "claimed once more, still pending").await;
    let stats = claim_in_vain("c3", (0, 150), "the third time, dead letters").await;
    assert_eq!(stats.oldest_unacknowledged, Duration::ZERO, "{stats:?}");

    // A consumer holding an entry this version cannot read died: a process
    // that can read it (the other secret) claims it and gets it.
    let foreign = other.append(&[token_event("bob", "000111")]).await.unwrap();
    let held = other.read_group("g", "dead-consumer", 10, short).await.unwrap();
    assert_eq!(held.iter().map(|e| e.event.id.clone()).collect::<Vec<_>>(), foreign);
    assert!(log.claim_stale("g", "c", Duration::ZERO, 10).await.unwrap().is_empty());
    let again = other.claim_stale("g", "newer", Duration::ZERO, 10).await.unwrap();
    assert_eq!(again.iter().map(|e| e.event.id.clone()).collect::<Vec<_>>(), foreign);
    assert_eq!(again[0].deliveries, 3);
    // Nobody acknowledged it; handed out a fourth time to this version, it
    // goes to the dead letters.
    assert!(log.claim_stale("g", "c", Duration::ZERO, 10).await.unwrap().is_empty());
    let stats = log.stats("g").await.unwrap();
    assert_eq!((stats.pending, stats.dead), (0, 151), "{stats:?}");
    // Still sealed in the dead letters: the other secret reads it back.
    let dead = other.dead_letters(200).await.unwrap();
    assert_eq!(dead.len(), 1, "only the foreign token decodes under its own secret");
    assert_eq!(dead[0].event.resource_id(), held[0].event.resource_id());
}
