//! Per-address issuance limits through `Gate`, on the memory store and on
//! Redis (the HTTP suite covers the gap and per-IP limits; a per-address
//! count needs the gap shortened, which the example apps do not expose).

use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tokengate::delivery::{DeliveryError, Mailer, Message, SmsSender};
use tokengate::policy::FlowLimits;
use tokengate::store::Store;
use tokengate::store::{RedisStore, RedisStoreConfig};
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

/// A gate with these email limits and no gap between sends.
fn email_gate(store: Arc<dyn Store>, limits: FlowLimits) -> Gate {
    Gate::builder()
        .server_secret([9u8; 32])
        .shared_store(store)
        .email_limits(limits)
        .resend_interval(std::time::Duration::ZERO)
        .mailer(Outbox::default())
        .build()
        .unwrap()
}

/// Each scenario once on the memory store and once on Redis.
macro_rules! on_memory_and_redis {
    ($($scenario:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test]
                async fn $scenario() {
                    super::$scenario(std::sync::Arc::new(tokengate::store::MemoryStore::new())).await;
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test]
                async fn $scenario() {
                    super::$scenario(super::redis_store().await).await;
                }
            )*
        }
    };
}

async fn redis_store() -> Arc<dyn Store> {
    let config = RedisStoreConfig::default().prefix(unique_prefix());
    Arc::new(RedisStore::connect(&redis_url().await, config).await.unwrap())
}

on_memory_and_redis!(
    per_address_limits,
    provisional_users_are_kept_with_their_addresses,
    provisional_addresses_count_as_new,
    budgets_count_only_accepted_requests_per_mailbox,
);

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

/// An anonymous flow's provisional user is not split from its address by
/// the server: a custom token and a server session each keep user and
/// binding for good together, so the address's next flow issues for the
/// same user.
async fn provisional_users_are_kept_with_their_addresses(store: Arc<dyn Store>) {
    let outbox = Outbox::default();
    let gate = gate(Arc::clone(&store), &outbox);
    let key = tokengate::ServerSecret::new([9u8; 32]).unwrap();
    let now = || chrono::Utc::now().timestamp_millis();
    for (address, sign_in) in [
        ("split-a@example.test", "custom token"),
        ("split-b@example.test", "server session"),
    ] {
        let first = gate
            .create_email_token("unique()", address, false, &from("10.9.0.1"))
            .await
            .unwrap();
        let owner = first.user_id.clone();
        let binding = key.address_digest(format!("email:{address}").as_bytes());
        let provisional =
            |what: &str, expire_ms: i64| assert!(expire_ms > now(), "{sign_in}: {what} is not provisional");
        provisional(
            "the user",
            store.load_user(&owner, now()).await.unwrap().unwrap().expire_ms,
        );
        provisional(
            "the binding",
            store.find_address(&binding, now()).await.unwrap().unwrap().1,
        );
        if sign_in == "custom token" {
            // The server vouches for the user: kept for good at once, with
            // its binding (nothing left to lapse before the redemption).
            gate.create_token(&owner, tokengate::TokenOptions::default())
                .await
                .unwrap();
        } else {
            gate.create_server_session(&owner, ClientInfo::default()).await.unwrap();
        }
        assert_eq!(
            store.load_user(&owner, now()).await.unwrap().unwrap().expire_ms,
            0,
            "{sign_in}: user kept"
        );
        assert_eq!(
            store.find_address(&binding, now()).await.unwrap(),
            Some((owner.clone(), 0)),
            "{sign_in}: binding kept"
        );
        let again = gate
            .create_email_token("unique()", address, false, &from("10.9.0.2"))
            .await
            .unwrap();
        assert_eq!(
            again.user_id, owner,
            "{sign_in}: the address's next flow issues for its user"
        );
    }
}

/// An address nobody has signed in with yet (its owner provisional) counts
/// against the new-address ceiling, however often it is asked for: the
/// larger known-address ceiling is for returning users.
async fn provisional_addresses_count_as_new(store: Arc<dyn Store>) {
    let mut limits = FlowLimits::EMAIL;
    limits.new_addresses = 2;
    let gate = email_gate(store, limits);
    let ask = |address: &'static str, ip: &'static str| {
        let gate = gate.clone();
        async move { gate.create_email_token("unique()", address, false, &from(ip)).await }
    };
    ask("new-1@example.test", "10.8.0.1").await.unwrap();
    ask("new-1@example.test", "10.8.1.1").await.unwrap();
    let refused = ask("new-2@example.test", "10.8.2.1").await;
    assert!(matches!(refused, Err(Error::RateLimited)), "{refused:?}");
}

/// A request refused for what it asks (a new user's id chosen by an
/// anonymous caller) spends none of the address's or the client's budget;
/// and the per-address budget is the mailbox's, whatever its `+tag` (or
/// Gmail's dots).
async fn budgets_count_only_accepted_requests_per_mailbox(store: Arc<dyn Store>) {
    let mut limits = FlowLimits::EMAIL;
    limits.per_address = 2;
    limits.per_client = 2;
    let gate = email_gate(store, limits);
    let client = from("10.7.0.1");
    for _ in 0..10 {
        let refused = gate
            .create_email_token("chosen-id", "fresh@example.test", false, &client)
            .await;
        assert!(matches!(refused, Err(Error::InvalidArgument(_))), "{refused:?}");
    }
    gate.create_email_token("unique()", "fresh@example.test", false, &client)
        .await
        .expect("the refusals spent nothing");
    for (n, tagged) in ["victim+1@gmail.com", "v.ictim+2@gmail.com", "vic.tim@googlemail.com"]
        .into_iter()
        .enumerate()
    {
        let asked = gate
            .create_email_token("unique()", tagged, false, &from(&format!("10.7.1.{n}")))
            .await;
        if n < 2 {
            asked.unwrap();
        } else {
            assert!(matches!(asked, Err(Error::RateLimited)), "{tagged}: {asked:?}");
        }
    }
}
