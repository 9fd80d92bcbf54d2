//! Per-address issuance limits through `Gate`, on the memory store and on
//! Redis (the HTTP suite covers the gap and per-IP limits; a per-address
//! count needs the gap shortened, which the example apps do not expose).

use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tokengate::delivery::{DeliveryError, Mailer, Message, SmsSender};
use tokengate::policy::FlowLimits;
use tokengate::store::Store;
use tokengate::store::{MemoryStore, RedisStore, RedisStoreConfig};
use tokengate::ClientInfo;
use tokengate::{Error, Gate};
use tokengate_tests::redis_harness::{redis_url, unique_prefix};

#[derive(Debug, Default, Clone)]
struct Outbox(Arc<Mutex<Vec<String>>>);

#[async_trait]
impl Mailer for Outbox {
    async fn send(&self, message: &Message) -> Result<(), DeliveryError> {
        self.0.lock().unwrap().push(message.to.clone());
        Ok(())
    }
}

#[async_trait]
impl SmsSender for Outbox {
    async fn send(&self, message: &Message) -> Result<(), DeliveryError> {
        self.0.lock().unwrap().push(message.to.clone());
        Ok(())
    }
}

fn gate(store: Arc<dyn Store>, outbox: &Outbox) -> Gate {
    let limits = |defaults: FlowLimits, per_address| {
        let mut limits = defaults;
        limits.per_address = per_address;
        limits.per_client = 1000;
        limits
    };
    Gate::builder()
        .server_secret([9u8; 32])
        .shared_store(store)
        .email_limits(limits(FlowLimits::EMAIL, 3))
        .magic_url_limits(limits(FlowLimits::MAGIC_URL, 4))
        .phone_limits(limits(FlowLimits::PHONE, 2))
        .resend_interval(std::time::Duration::ZERO)
        .mailer(outbox.clone())
        .sms_sender(outbox.clone())
        .build()
        .unwrap()
}

fn from(ip: &str) -> ClientInfo {
    ClientInfo::new(Some(ip.parse::<IpAddr>().unwrap()), None)
}

async fn per_address_limits(store: Arc<dyn Store>) {
    let outbox = Outbox::default();
    let gate = gate(store, &outbox);
    // Different client IPs do not escape the per-address count.
    for i in 0..3 {
        gate.create_email_token("unique()", "count@example.test", false, &from(&format!("10.0.0.{i}")))
            .await
            .unwrap();
    }
    let refused = gate
        .create_email_token("unique()", "count@example.test", false, &from("10.0.0.9"))
        .await;
    assert!(matches!(refused, Err(Error::RateLimited)), "{refused:?}");
    for _ in 0..4 {
        gate.create_magic_url_token("unique()", "count@example.test", None, false, &from("10.0.1.1"))
            .await
            .unwrap();
    }
    assert!(matches!(
        gate.create_magic_url_token("unique()", "count@example.test", None, false, &from("10.0.1.1"))
            .await,
        Err(Error::RateLimited)
    ));
    for _ in 0..2 {
        gate.create_phone_token("unique()", "+15550000001", &from("10.0.2.1"))
            .await
            .unwrap();
    }
    assert!(matches!(
        gate.create_phone_token("unique()", "+15550000001", &from("10.0.2.1"))
            .await,
        Err(Error::RateLimited)
    ));
    // Trusted (API-key) callers bypass the limits.
    gate.create_email_token(
        "unique()",
        "count@example.test",
        false,
        &ClientInfo::default().trusted(),
    )
    .await
    .unwrap();
    assert_eq!(
        outbox.0.lock().unwrap().len(),
        3 + 4 + 2 + 1,
        "refused requests send nothing"
    );
}

#[tokio::test]
async fn per_address_limits_on_memory() {
    per_address_limits(Arc::new(MemoryStore::new())).await;
}

#[tokio::test]
async fn per_address_limits_on_redis() {
    let store = RedisStore::connect(&redis_url().await, RedisStoreConfig::default().prefix(unique_prefix()))
        .await
        .unwrap();
    per_address_limits(Arc::new(store)).await;
}
