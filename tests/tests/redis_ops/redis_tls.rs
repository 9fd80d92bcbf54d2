//! `rediss://` (feature `redis-tls`): the whole store contract runs over a
//! TLS-only `redis-server` in `store_contract.rs` (`redis_tls::*`); here,
//! that the certificate is really checked, and a TLS-only cluster (client
//! port and bus) serving the store. Certificates come from a CA the test
//! generates (`tokengate_tests::tls`).

use std::time::{Duration, Instant};

use tokengate::store::{RedisStore, RedisStoreConfig};
use tokengate::store::{SessionStore, Store};
use tokengate::UserId;
use tokengate_tests::cluster::{start_cluster, ClusterSpec};
use tokengate_tests::redis_harness::{dump_prefix_nodes, login_through_store, unique_prefix};
use tokengate_tests::tls::{shared_tls_redis, store_config};

fn now() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

async fn tls_url() -> String {
    tokio::task::spawn_blocking(shared_tls_redis).await.unwrap()
}

/// Issue, redeem, find, delete for `user`: the store works end to end.
async fn round_trip(store: &dyn Store, user: &UserId) {
    let session = login_through_store(store, user).await;
    let found = store.find_session(user, &session.digest, 0, now()).await.unwrap();
    assert_eq!(found.map(|s| s.id), Some(session.id.clone()));
    assert!(store.delete_session(user, &session.id, now()).await.unwrap().is_some());
    assert_eq!(store.find_session(user, &session.digest, 0, now()).await.unwrap(), None);
}

#[tokio::test]
async fn an_untrusted_certificate_is_refused_within_the_timeout() {
    let url = tls_url().await;
    // The built-in web PKI roots do not know the test CA.
    let store = RedisStore::connect(&url, RedisStoreConfig::default().prefix(unique_prefix()))
        .await
        .unwrap();
    let user = UserId::parse("alice").unwrap();
    let started = Instant::now();
    let result = store.list_sessions(&user, now()).await;
    let refusal = result
        .expect_err("a server with an untrusted certificate answered")
        .to_string();
    assert!(
        refusal.contains("UnknownIssuer"),
        "not refused for its issuer: {refusal}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );

    // Another CA is no better.
    let other_ca = rcgen::CertificateParams::new(Vec::<String>::new())
        .unwrap()
        .self_signed(&rcgen::KeyPair::generate().unwrap())
        .unwrap()
        .pem();
    let store = RedisStore::connect(
        &url,
        RedisStoreConfig::default()
            .prefix(unique_prefix())
            .tls_root_ca(other_ca.into_bytes()),
    )
    .await
    .unwrap();
    let unknown_ca = store.list_sessions(&user, now()).await.unwrap_err().to_string();
    assert!(
        unknown_ca.contains("UnknownIssuer"),
        "not refused for its issuer: {unknown_ca}"
    );

    // The right CA for a certificate of another name is refused too.
    let (mut wrong_server, wrong_port) = tokio::task::spawn_blocking(|| {
        let (cert, key) = &tokengate_tests::tls::test_ca().wrong_name_files;
        tokengate_tests::tls::spawn_tls_server_with(cert, key)
    })
    .await
    .unwrap();
    let store = RedisStore::connect(&format!("rediss://127.0.0.1:{wrong_port}"), store_config().0)
        .await
        .unwrap();
    let wrong_name = store.list_sessions(&user, now()).await.unwrap_err().to_string();
    wrong_server.kill();
    assert!(
        wrong_name.contains("not valid for name"),
        "not refused for its name: {wrong_name}"
    );

    // The right CA works.
    let store = RedisStore::connect(&url, store_config().0).await.unwrap();
    round_trip(&store, &user).await;
}

#[tokio::test]
async fn plain_text_to_the_tls_port_fails_and_a_ca_needs_rediss() {
    let url = tls_url().await;
    let plain = url.replacen("rediss://", "redis://", 1);
    let store = RedisStore::connect(&plain, RedisStoreConfig::default().prefix(unique_prefix()))
        .await
        .unwrap();
    let started = Instant::now();
    assert!(store
        .list_sessions(&UserId::parse("bob").unwrap(), now())
        .await
        .is_err());
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    // A root CA with a plain URL is a configuration error, not silent plain text.
    assert!(RedisStore::connect(&plain, store_config().0).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_only_cluster_serves_the_store() {
    let cluster = tokio::task::spawn_blocking(|| {
        start_cluster(ClusterSpec {
            tls: true,
            ..ClusterSpec::default()
        })
    })
    .await
    .unwrap();
    assert!(cluster.seeds().iter().all(|s| s.starts_with("rediss://")));
    let (store, prefix) = cluster.store_at_unique_prefix().await;
    let users: Vec<UserId> = (0..12).map(|n| UserId::parse(&format!("tls{n}")).unwrap()).collect();
    for user in &users {
        round_trip(&store, user).await;
    }
    // The users live on every primary.
    let mut primaries = std::collections::BTreeSet::new();
    for user in &users {
        let slot = cluster.keyslot(&format!("{{u:{user}}}")).await;
        primaries.insert(cluster.shard_of_slot(slot).await.0.port);
    }
    assert_eq!(primaries.len(), 3, "the test users do not cover the primaries");
    // Nothing is left behind, on any node, but the users' identity records
    // and the prefix's layout marker.
    let left = dump_prefix_nodes(&cluster.primary_urls().await, &prefix).await;
    let layout = format!("{prefix}:layout");
    let (markers, records): (Vec<_>, Vec<_>) = left.iter().partition(|k| k.key == layout);
    assert_eq!(markers.len(), 1, "the layout marker: {left:?}");
    assert!(records.iter().all(|k| k.key.ends_with(":user")), "{left:?}");
    assert_eq!(records.len(), users.len());
    cluster.assert_no_cross_slot().await;

    // Without the CA the cluster cannot be reached.
    let refused =
        RedisStore::connect_cluster(&cluster.seeds(), RedisStoreConfig::default().prefix(unique_prefix())).await;
    assert!(refused.is_err(), "connected to a TLS cluster without trusting its CA");
}
