//! Replication honesty: with `RedisStoreConfig::wait_for_replicas`, an
//! exchange (and a logout) answers only after the user's primary got the
//! replica's acknowledgement through `WAIT`, sent on that primary and no
//! other node; without it, no `WAIT` is sent at all.
//!
//! On the shared test cluster (3 primaries + 3 replicas) and on a
//! standalone primary with one replica of the test's own.

use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use tokengate::store::SessionStore;
use tokengate::store::{RedisStoreConfig, SessionRecord};
use tokengate::UserId;
use tokengate_tests::cluster::{exclusive_cluster_use, shared_cluster_async};
use tokengate_tests::log_capture::capture_log;
use tokengate_tests::redis_harness::{
    connection, login_through_store, start_private_redis, start_server, unique_prefix, Probe,
};

/// The cluster tests count `WAIT` calls per node: one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn now() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The user's sessions hash and the session's field in it.
fn session_key(prefix: &str, user: &UserId, session: &SessionRecord) -> (String, String) {
    (format!("{prefix}:{{u:{user}}}:sessions"), session.digest.to_base64())
}

/// `HGET` of a session record on a replica (after `READONLY`, which a
/// cluster replica needs).
async fn replica_get(replica: &mut MultiplexedConnection, (key, field): &(String, String)) -> Option<String> {
    redis::cmd("HGET")
        .arg(key)
        .arg(field)
        .query_async(replica)
        .await
        .unwrap()
}

async fn readonly(url: &str) -> MultiplexedConnection {
    let mut conn = connection(url).await;
    let _: () = redis::cmd("READONLY").query_async(&mut conn).await.unwrap();
    conn
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cluster_wait_runs_on_the_users_primary_and_the_replica_has_the_session() {
    let _serial = SERIAL.lock().await;
    let _exclusive = exclusive_cluster_use().await;
    let cluster = shared_cluster_async().await;
    let prefix = unique_prefix();
    let config = RedisStoreConfig::default()
        .prefix(prefix.clone())
        .wait_for_replicas(1, Duration::from_secs(1));
    let store = cluster.store(config).await;

    for name in ["alice", "bob", "carol", "dave"] {
        let user = UserId::parse(name).unwrap();
        let slot = cluster.keyslot(&format!("{{u:{user}}}")).await;
        let (primary, replicas) = cluster.shard_of_slot(slot).await;
        // Warm the node's script cache: a NOSCRIPT retry repeats the WAIT.
        let warm = login_through_store(&store, &user).await;
        store.delete_session(&user, &warm.id, now()).await.unwrap();
        let mut before = Vec::new();
        for &port in cluster.ports() {
            before.push(cluster.command_calls(port, "wait").await);
        }

        let session = login_through_store(&store, &user).await;
        // Read at once, with no retry: WAIT already made sure.
        let key = session_key(&prefix, &user, &session);
        for replica in &replicas {
            let mut conn = readonly(&cluster.url(replica.port)).await;
            let stored = replica_get(&mut conn, &key).await;
            assert!(
                stored.is_some_and(|v| v.contains(&session.id)),
                "{name}: the replica {} lacks the session right after the exchange",
                replica.port
            );
        }

        // Logout: WAIT again; the replica no longer has the session.
        assert!(store.delete_session(&user, &session.id, now()).await.unwrap().is_some());
        for replica in &replicas {
            let mut conn = readonly(&cluster.url(replica.port)).await;
            assert_eq!(
                replica_get(&mut conn, &key).await,
                None,
                "{name}: the replica {} still has the session after the logout",
                replica.port
            );
        }

        // Exactly two WAITs (exchange, logout), both on the user's primary.
        for (&port, before) in cluster.ports().iter().zip(before) {
            let calls = cluster.command_calls(port, "wait").await - before;
            let expected = if port == primary.port { 2 } else { 0 };
            assert_eq!(
                calls, expected,
                "{name}: WAIT calls on node {port} (primary {})",
                primary.port
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cluster_wait_shortfall_is_logged_not_failed() {
    let _serial = SERIAL.lock().await;
    let _exclusive = exclusive_cluster_use().await;
    let cluster = shared_cluster_async().await;
    // Two replicas wanted, one exists: WAIT returns 1 after its timeout.
    let config = RedisStoreConfig::default()
        .prefix(unique_prefix())
        .wait_for_replicas(2, Duration::from_millis(150));
    let store = cluster.store(config).await;
    let user = UserId::parse("erin").unwrap();
    let started = Instant::now();
    let (session, log) = capture_log(tracing::Level::WARN, login_through_store(&store, &user)).await;
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(140), "WAIT did not wait: {took:?}");
    // The shortfall is a warning naming what was wanted and what was acknowledged.
    assert!(
        log.contains("WARN")
            && log.contains("fewer replicas than configured")
            && log.contains("wanted=2")
            && log.contains("acked=1"),
        "no shortfall warning in the log: {log:?}"
    );
    assert!(store
        .find_session(&user, &session.digest, 0, now())
        .await
        .unwrap()
        .is_some());
    assert!(store.delete_sessions(&user, now()).await.unwrap().len() == 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_wait_unless_configured() {
    let _serial = SERIAL.lock().await;
    let _exclusive = exclusive_cluster_use().await;
    let cluster = shared_cluster_async().await;
    let store = cluster.store(RedisStoreConfig::default().prefix(unique_prefix())).await;
    let user = UserId::parse("frank").unwrap();
    let slot = cluster.keyslot(&format!("{{u:{user}}}")).await;
    let (primary, _) = cluster.shard_of_slot(slot).await;
    let before = cluster.command_calls(primary.port, "wait").await;
    let session = login_through_store(&store, &user).await;
    store.delete_session(&user, &session.id, now()).await.unwrap();
    assert_eq!(cluster.command_calls(primary.port, "wait").await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn standalone_wait_puts_the_session_on_the_replica() {
    let primary = start_private_redis().await;
    let primary_port = primary.port();
    let replica_port = tokengate_tests::app::free_port();
    let replica = tokio::task::spawn_blocking(move || {
        let args = ["--replicaof", "127.0.0.1", &primary_port.to_string()].map(String::from);
        // A replica of the test's own, killed on drop.
        start_server(replica_port, &args, Probe::Ping).expect("start the replica")
    })
    .await
    .unwrap();
    let replica_url = format!("redis://127.0.0.1:{replica_port}");
    let mut replica_conn = connection(&replica_url).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let info: String = redis::cmd("INFO")
            .arg("replication")
            .query_async(&mut replica_conn)
            .await
            .unwrap();
        if info.lines().any(|l| l.trim() == "master_link_status:up") {
            break;
        }
        assert!(Instant::now() < deadline, "the replica did not attach: {info}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let prefix = unique_prefix();
    let config = RedisStoreConfig::default()
        .prefix(prefix.clone())
        .wait_for_replicas(1, Duration::from_secs(1));
    let store = tokengate::store::RedisStore::connect(primary.url(), config)
        .await
        .unwrap();
    let user = UserId::parse("alice").unwrap();
    // Warm the script cache: a NOSCRIPT retry repeats the WAIT.
    let warm = login_through_store(&store, &user).await;
    store.delete_session(&user, &warm.id, now()).await.unwrap();
    let waits_before = primary.commandstats().await.get("wait").copied().unwrap_or(0);
    let session = login_through_store(&store, &user).await;
    let key = session_key(&prefix, &user, &session);
    assert!(replica_get(&mut replica_conn, &key).await.is_some());
    assert!(store.delete_session(&user, &session.id, now()).await.unwrap().is_some());
    assert_eq!(replica_get(&mut replica_conn, &key).await, None);
    let stats = primary.commandstats().await;
    assert_eq!(stats.get("wait").copied().unwrap_or(0) - waits_before, 2, "{stats:?}");
    drop(replica);
}
