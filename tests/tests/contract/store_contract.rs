//! The store contract of the core (`tokengate_testing::store_contract`,
//! feature `testing`), run against every implementation: `MemoryStore` and
//! `RedisStore` (standalone, a real local cluster of 3 primaries + 3
//! replicas, and a TLS-only server over `rediss://`; a fresh key prefix per
//! test). One `#[tokio::test]` per case and store: `memory::<case>`,
//! `redis::<case>`, `redis_cluster::<case>` (which also checks that no
//! cluster node ever answered `CROSSSLOT`/`MOVED` or failed a script) and
//! `redis_tls::<case>`. On Redis (all three) the cases also inspect the
//! keys under their prefix (real TTLs, what a dump reveals, `MEMORY
//! USAGE`, which fails the case rather than being skipped).

use std::sync::Arc;

use tokengate_testing::store_contract::{Backend, Inspector, StoredKey};
use tokengate_tests::cluster::shared_cluster_async;
use tokengate_tests::redis_harness::{dump_prefix_nodes, memory_usage, redis_store_at, redis_url};

/// The keys of one test's prefix on a server, or on a cluster's primaries.
struct RedisKeys {
    urls: Vec<String>,
    prefix: String,
}

#[async_trait::async_trait]
impl Inspector for RedisKeys {
    fn prefix(&self) -> &str {
        &self.prefix
    }

    async fn keys(&self) -> Vec<StoredKey> {
        let dumped = dump_prefix_nodes(&self.urls, &self.prefix).await;
        dumped
            .into_iter()
            .map(|k| StoredKey::new(k.key, k.pttl, k.contents))
            .collect()
    }

    /// Always a figure, also on the cluster (from the primary that holds
    /// the key; the cases' bounds hold there too); a Redis error or a
    /// missing key fails the case.
    async fn memory_usage(&self, key: &str) -> Option<i64> {
        Some(memory_usage(&self.urls, key).await)
    }
}

async fn redis() -> Backend {
    let url = redis_url().await;
    let (store, prefix) = redis_store_at(&url).await;
    Backend::new(Arc::new(store)).inspected_by(RedisKeys {
        urls: vec![url],
        prefix,
    })
}

/// The test cluster of this process (3 primaries, 3 replicas).
async fn redis_cluster() -> Backend {
    let cluster = shared_cluster_async().await;
    let (store, prefix) = cluster.store_at_unique_prefix().await;
    let urls = cluster.primary_urls().await;
    Backend::new(Arc::new(store)).inspected_by(RedisKeys { urls, prefix })
}

/// A TLS-only Redis over `rediss://`, trusting the test CA.
async fn redis_tls() -> Backend {
    let url = tokio::task::spawn_blocking(tokengate_tests::tls::shared_tls_redis)
        .await
        .unwrap();
    let (config, prefix) = tokengate_tests::tls::store_config();
    let store = tokengate::store::RedisStore::connect(&url, config).await.unwrap();
    Backend::new(Arc::new(store)).inspected_by(RedisKeys {
        urls: vec![url],
        prefix,
    })
}

mod memory {
    tokengate_testing::store_contract_tests!(|| async { tokengate_testing::store_contract::Backend::memory() });
}

mod redis {
    tokengate_testing::store_contract_tests!(super::redis);
}

mod redis_cluster {
    tokengate_testing::store_contract_tests!(
        super::redis_cluster,
        then || async { super::shared_cluster_async().await.assert_no_cross_slot().await }
    );
}

mod redis_tls {
    tokengate_testing::store_contract_tests!(super::redis_tls);
}
