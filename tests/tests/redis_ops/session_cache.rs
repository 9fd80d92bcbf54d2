//! The opt-in local session cache across two processes: revocations pushed
//! over Redis pub/sub are honoured at the other service long before the
//! cache TTL (the propagation time is printed, not asserted), the
//! cache really serves from memory, and when the channel drops or a message
//! is lost a revocation is still honoured no later than the cache TTL.

use std::time::{Duration, Instant};

use tokengate_tests::app::{AppKind, AppSpec, Backend, RunningApp};
use tokengate_tests::client::{Api, Auth};
use tokengate_tests::redis_harness::{connection, start_private_redis, PrivateRedis};

async fn pair(redis: &PrivateRedis, ttl_ms: u64) -> (RunningApp, RunningApp) {
    let mut spec = AppSpec::new(AppKind::Axum, Backend::Redis(redis.url().to_owned()));
    spec.extra_env = vec![("TOKENGATE_SESSION_CACHE_MS".into(), ttl_ms.to_string())];
    let sibling = spec.sibling(AppKind::Actix);
    let (a, b) = tokio::join!(RunningApp::start(spec), RunningApp::start(sibling));
    (a, b)
}

/// Polls `/me` every 2 ms until it answers `status`; the time it took.
async fn until_status(api: &Api, credential: &str, status: u16, limit: Duration) -> Duration {
    let start = Instant::now();
    loop {
        if api.get("/me", Auth::Session(credential)).await.status == status {
            return start.elapsed();
        }
        assert!(start.elapsed() < limit, "/me did not answer {status} within {limit:?}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Waits until both apps' revocation channels are subscribed.
async fn wait_subscribed(redis: &PrivateRedis, prefix: &str, subscribers: i64) {
    let mut conn = connection(redis.url()).await;
    let channel = format!("{prefix}:revocations");
    let start = Instant::now();
    loop {
        let counts: Vec<(String, i64)> = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(&channel)
            .query_async(&mut conn)
            .await
            .unwrap();
        if counts.first().map(|c| c.1) == Some(subscribers) {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "apps did not subscribe to {channel}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn logout_at_one_service_is_honoured_at_the_other_before_the_ttl() {
    let redis = start_private_redis().await;
    // A 60 s TTL: an answer within the 5 s deadline below came by pub/sub.
    let (axum, actix) = pair(&redis, 60_000).await;
    wait_subscribed(&redis, &axum.spec.prefix, 2).await;
    let (a, b) = (Api::new(&axum), Api::new(&actix));

    for round in 0..3 {
        let (credential, _) = a.login("cached").await;
        // Warm both caches.
        for api in [&a, &b] {
            api.get("/me", Auth::Session(&credential)).await.assert_status(200);
            api.get("/me", Auth::Session(&credential)).await.assert_status(200);
        }
        let (logout_at, check_at) = if round % 2 == 0 { (&a, &b) } else { (&b, &a) };
        logout_at.logout(&credential).await.assert_status(204);
        let took = until_status(check_at, &credential, 401, Duration::from_secs(5)).await;
        println!("round {round}: logout honoured at the other service after {took:?}");
    }

    // A limit eviction at one service is pushed too.
    let (oldest, _) = a.login("evicted").await;
    b.get("/me", Auth::Session(&oldest)).await.assert_status(200);
    for _ in 0..10 {
        a.login("evicted").await;
    }
    let took = until_status(&b, &oldest, 401, Duration::from_secs(5)).await;
    println!("eviction honoured at the other service after {took:?}");
}

#[tokio::test]
async fn cached_sessions_are_served_without_redis_round_trips() {
    let redis = start_private_redis().await;
    let (axum, _actix) = pair(&redis, 10_000).await;
    wait_subscribed(&redis, &axum.spec.prefix, 2).await;
    let a = Api::new(&axum);
    let (credential, _) = a.login("hot").await;
    a.get("/me", Auth::Session(&credential)).await.assert_status(200);
    let before = redis.commandstats().await;
    for _ in 0..50 {
        a.get("/me", Auth::Session(&credential)).await.assert_status(200);
    }
    let after = redis.commandstats().await;
    let reads = after.get("hget").copied().unwrap_or(0) - before.get("hget").copied().unwrap_or(0);
    assert!(reads <= 1, "50 cached lookups made {reads} HGETs");
}

#[tokio::test]
async fn a_lost_revocation_is_honoured_no_later_than_the_ttl() {
    let redis = start_private_redis().await;
    let ttl = Duration::from_millis(2_000);
    let (axum, actix) = pair(&redis, ttl.as_millis() as u64).await;
    wait_subscribed(&redis, &axum.spec.prefix, 2).await;
    let (a, b) = (Api::new(&axum), Api::new(&actix));
    let (credential, _) = a.login("lost").await;
    b.get("/me", Auth::Session(&credential)).await.assert_status(200);
    // Delete the session behind the apps' backs: no message is published.
    let mut conn = connection(redis.url()).await;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}:{{u:lost}}:sessions", axum.spec.prefix))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(keys.len(), 1);
    let deleted_at = Instant::now();
    let _: i64 = redis::cmd("DEL").arg(&keys[0]).query_async(&mut conn).await.unwrap();
    // Generous slack over the TTL for a busy machine, still far below "never".
    until_status(&b, &credential, 401, ttl + Duration::from_secs(2)).await;
    println!(
        "a lost revocation honoured after {:?} (TTL {ttl:?})",
        deleted_at.elapsed()
    );
}

#[tokio::test]
async fn a_dropped_channel_bypasses_the_cache() {
    let redis = start_private_redis().await;
    let ttl = Duration::from_millis(60_000);
    let (axum, actix) = pair(&redis, ttl.as_millis() as u64).await;
    wait_subscribed(&redis, &axum.spec.prefix, 2).await;
    let (a, b) = (Api::new(&axum), Api::new(&actix));
    let (credential, _) = a.login("dropped").await;
    b.get("/me", Auth::Session(&credential)).await.assert_status(200);

    // Break every subscription; the apps notice, empty their caches and
    // resubscribe by themselves.
    let mut conn = connection(redis.url()).await;
    let killed: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("pubsub")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(killed, 2);
    // Logout through Redis directly, so no message could help.
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}:{{u:dropped}}:sessions", axum.spec.prefix))
        .query_async(&mut conn)
        .await
        .unwrap();
    let _: i64 = redis::cmd("DEL").arg(&keys).query_async(&mut conn).await.unwrap();
    // Far below the 60 s TTL: a dropped channel does not leave stale sessions.
    let took = until_status(&b, &credential, 401, Duration::from_secs(10)).await;
    println!("a dropped channel bypassed the cache after {took:?}");
    wait_subscribed(&redis, &axum.spec.prefix, 2).await;
}
