//! The key layout's marker: the first store on a prefix writes its layout
//! version there; a store that finds another version refuses to start,
//! standalone and on a cluster, instead of misreading the other's keys.

use redis::AsyncCommands;
use tokengate::store::{RedisStore, RedisStoreConfig};
use tokengate_tests::cluster::shared_cluster_async;
use tokengate_tests::redis_harness::{redis_url, unique_prefix};

#[tokio::test]
async fn a_store_refuses_a_prefix_of_another_layout() {
    let url = redis_url().await;
    let prefix = unique_prefix();
    let config = || RedisStoreConfig::default().prefix(prefix.clone());
    RedisStore::connect(&url, config()).await.expect("a fresh prefix");
    let mut admin = redis::Client::open(url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let marker = format!("{prefix}:layout");
    let written: String = admin.get(&marker).await.unwrap();
    assert_eq!(written, "2");
    let ttl: i64 = admin.pttl(&marker).await.unwrap();
    assert_eq!(ttl, -1, "the marker outlives every user");
    // Its own layout again: fine.
    RedisStore::connect(&url, config()).await.expect("the same layout");
    // Another version (an older or newer tokengate): refused, naming both.
    let _: () = admin.set(&marker, "1").await.unwrap();
    let refused = RedisStore::connect(&url, config()).await.expect_err("refused");
    let message = refused.to_string();
    assert!(
        message.contains("version 1") && message.contains("version 2"),
        "{message}"
    );
    assert_eq!(admin.get::<_, String>(&marker).await.unwrap(), "1", "left as found");
}

#[tokio::test]
async fn a_cluster_store_refuses_a_prefix_of_another_layout() {
    let cluster = shared_cluster_async().await;
    let nodes = cluster.primary_urls().await;
    let prefix = unique_prefix();
    let config = || RedisStoreConfig::default().prefix(prefix.clone());
    RedisStore::connect_cluster(&nodes, config())
        .await
        .expect("a fresh prefix");
    let client = redis::cluster::ClusterClient::new(nodes.clone()).unwrap();
    let mut admin = client.get_async_connection().await.unwrap();
    let marker = format!("{prefix}:layout");
    assert_eq!(admin.get::<_, String>(&marker).await.unwrap(), "2");
    let _: () = admin.set(&marker, "3").await.unwrap();
    let refused = RedisStore::connect_cluster(&nodes, config())
        .await
        .expect_err("refused");
    assert!(refused.to_string().contains("version 3"), "{refused}");
}
