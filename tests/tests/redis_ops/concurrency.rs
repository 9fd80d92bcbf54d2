//! Concurrency: a token is exchanged once however many race for it (1,000
//! concurrent exchanges, each answered: one session, 999 refusals, on the
//! memory store, Redis and a cluster, through both apps); a
//! burst of wrong guesses is counted exactly and trips the lockout exactly
//! once; logout-all racing logins leaves nothing behind that it covered.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use redis::AsyncCommands;
use tokengate::store::Store;
use tokengate::store::{MemoryStore, RedisStore, RedisStoreConfig};
use tokengate::{ClientInfo, Error, Gate, TokenOptions, UserId};
use tokengate_tests::app::{AppKind, AppSpec, Backend, RunningApp};
use tokengate_tests::client::{Api, Auth};
use tokengate_tests::cluster::{exclusive_cluster_use, shared_cluster_async};
use tokengate_tests::redis_harness::{
    connection, dump_prefix, dump_prefix_nodes, redis_url, scan_keys, session_records, start_private_redis,
    unique_prefix,
};

// ---------------------------------------------------------------------------
// 1,000 concurrent HTTP exchanges of one token.

/// The heavy HTTP bursts of this file run one at a time: two debug-built
/// apps answering 1,000 requests each at once on a small machine would
/// measure the machine, not the exchange.
static BURST: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const CROWD: usize = 1000;

async fn thousand_exchanges(kind: AppKind, backend: Backend) {
    let _one_at_a_time = BURST.lock().await;
    // The shared cluster is also failed over by other tests of this binary.
    let _cluster = match backend {
        Backend::Cluster(_) => Some(exclusive_cluster_use().await),
        _ => None,
    };
    let mut spec = AppSpec::new(kind, backend.clone());
    // A debug build answering 1,000 requests at once on 2 cores can keep a
    // request waiting for CPU past the default 500 ms store timeout; with a
    // generous one every request reaches the store and a decision.
    spec.extra_env = vec![("TOKENGATE_REDIS_TIMEOUT_MS".into(), "30000".into())];
    let app = RunningApp::start(spec).await;
    let api = Api::new(&app);
    let secret = api.token_secret("crowd").await;
    // 1,000 connections opened first, so that the burst is the exchanges.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CROWD)
        .pool_idle_timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let warm = (0..CROWD).map(|_| client.get(app.url("/public")).send());
    for reply in futures_util::future::join_all(warm).await {
        assert_eq!(reply.expect("warm-up").status().as_u16(), 200);
    }
    let start = Arc::new(tokio::sync::Barrier::new(CROWD));
    let body = serde_json::json!({ "userId": "crowd", "secret": secret }).to_string();
    let attempts = (0..CROWD).map(|_| {
        let (client, start, body) = (client.clone(), Arc::clone(&start), body.clone());
        let url = app.api("/account/sessions/token");
        tokio::spawn(async move {
            start.wait().await;
            // A kept-alive connection the server closed just then fails
            // before the request was read: sent again on a new one.
            let mut tries = 0;
            let reply = loop {
                tries += 1;
                match client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await
                {
                    Ok(reply) => break reply,
                    Err(error) if tries < 3 && error.is_request() => continue,
                    Err(error) => panic!("exchange not sent: {error}"),
                }
            };
            let status = reply.status().as_u16();
            let json: serde_json::Value = reply.json().await.unwrap_or_default();
            (status, json["type"].as_str().unwrap_or_default().to_owned())
        })
    });
    let outcomes: Vec<(u16, String)> = futures_util::future::join_all(attempts)
        .await
        .into_iter()
        .map(|r| r.expect("exchange task"))
        .collect();
    // Every one of the 1,000 reaches a decision: exactly one session, 999
    // invalid-token errors, nothing shed.
    let created = outcomes.iter().filter(|(s, _)| *s == 201).count();
    let refused = outcomes
        .iter()
        .filter(|(s, t)| *s == 401 && t == "user_invalid_token")
        .count();
    assert_eq!(
        (created, refused),
        (1, CROWD - 1),
        "{kind:?} on {backend:?}: answers other than one 201 and 999 401s: {:?}",
        outcomes
            .iter()
            .filter(|(s, _)| ![201, 401].contains(s))
            .take(5)
            .collect::<Vec<_>>()
    );

    let list = api.get("/v1/users/crowd/sessions", Auth::Key).await;
    list.assert_status(200);
    assert_eq!(list.json["total"], 1, "{kind:?}: exactly one session");
    let keys = match &backend {
        Backend::Memory => None,
        Backend::Redis(url) => Some(dump_prefix(url, &app.spec.prefix).await),
        Backend::Cluster(_) => {
            let primaries = shared_cluster_async().await.primary_urls().await;
            Some(dump_prefix_nodes(&primaries, &app.spec.prefix).await)
        }
    };
    if let Some(keys) = keys {
        assert_eq!(session_records(&keys), 1, "{kind:?}: one session record");
        let names: Vec<&str> = keys.iter().map(|k| k.key.as_str()).collect();
        assert!(
            !names.iter().any(|k| k.ends_with("{u:crowd}:t")),
            "{kind:?}: the token is gone and the losers counted no failure (nothing was left to guess): {names:?}"
        );
    }
}

async fn redis_backend() -> Backend {
    Backend::Redis(redis_url().await)
}

async fn cluster_backend() -> Backend {
    Backend::Cluster(shared_cluster_async().await.seeds())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thousand_concurrent_exchanges_axum_memory() {
    thousand_exchanges(AppKind::Axum, Backend::Memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thousand_concurrent_exchanges_actix_memory() {
    thousand_exchanges(AppKind::Actix, Backend::Memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thousand_concurrent_exchanges_axum_redis() {
    thousand_exchanges(AppKind::Axum, redis_backend().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thousand_concurrent_exchanges_actix_redis() {
    thousand_exchanges(AppKind::Actix, redis_backend().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thousand_concurrent_exchanges_axum_cluster() {
    thousand_exchanges(AppKind::Axum, cluster_backend().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thousand_concurrent_exchanges_actix_cluster() {
    thousand_exchanges(AppKind::Actix, cluster_backend().await).await;
}

// ---------------------------------------------------------------------------
// 200 concurrent wrong guesses against a lockout at 200.

const LOCKOUT_AT: u32 = 200;

fn guessing_gate(store: Arc<dyn Store>) -> Gate {
    Gate::builder()
        .server_secret([0x5au8; 32])
        .shared_store(store)
        .lockout_after_failures(LOCKOUT_AT)
        .burn_after_failures(0)
        .build()
        .expect("gate")
}

/// Issues a guessable (8 hex characters, under 64 bits: only such tokens
/// make failures count) token for `user`, never burned here, and fires `n`
/// concurrent distinct wrong guesses; every one must be refused as an
/// invalid token (none is refused as locked: only the last one can trip
/// the lockout).
async fn guess(gate: &Gate, user: &UserId, n: usize) -> String {
    let token = gate
        .create_token(user, TokenOptions::default().length(8))
        .await
        .expect("token");
    let secret = token.secret.as_ref().expect("secret").expose().to_owned();
    let start = Arc::new(tokio::sync::Barrier::new(n));
    let tasks = (0..n).map(|i| {
        let (gate, user, start) = (gate.clone(), user.clone(), Arc::clone(&start));
        let wrong = format!("{i:08x}");
        assert_ne!(wrong, secret);
        tokio::spawn(async move {
            start.wait().await;
            gate.create_session(&user, &wrong, ClientInfo::default()).await
        })
    });
    for outcome in futures_util::future::join_all(tasks).await {
        match outcome.expect("guess task") {
            Err(Error::InvalidToken) => {}
            other => panic!("a wrong guess answered {:?}", other.map(|(s, _)| s.id)),
        }
    }
    secret
}

/// Below the threshold: 199 guesses, then the right secret still works
/// (so no guess was counted twice).
async fn just_below(gate: &Gate) -> UserId {
    let user = UserId::parse(&format!("below-{}", tokengate_testing::random_id())).unwrap();
    let secret = guess(gate, &user, LOCKOUT_AT as usize - 1).await;
    gate.create_session(&user, &secret, ClientInfo::default())
        .await
        .expect("199 failures do not lock a 200-failure lockout");
    user
}

/// At the threshold: 200 guesses lock the user (so none was lost); the
/// right secret is then refused as rate limited, and the token survives.
async fn at_threshold(gate: &Gate) -> (UserId, String) {
    let user = UserId::parse(&format!("at-{}", tokengate_testing::random_id())).unwrap();
    let secret = guess(gate, &user, LOCKOUT_AT as usize).await;
    match gate.create_session(&user, &secret, ClientInfo::default()).await {
        Err(Error::RateLimited) => {}
        other => panic!(
            "after 200 failures the right secret answered {:?}",
            other.map(|(s, _)| s.id)
        ),
    }
    // Further guesses while locked are refused without being counted.
    for i in 0..20 {
        match gate
            .create_session(&user, &format!("{:08x}", 10_000 + i), ClientInfo::default())
            .await
        {
            Err(Error::RateLimited) => {}
            other => panic!("a guess while locked answered {:?}", other.map(|(s, _)| s.id)),
        }
    }
    (user, secret)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn wrong_guesses_are_counted_exactly_memory() {
    let gate = guessing_gate(Arc::new(MemoryStore::new()));
    just_below(&gate).await;
    at_threshold(&gate).await;
}

/// Subscribes to the keyspace notifications of `key` (`incrby`, `set`,
/// `del`, ...) and collects them, once subscribed, until `marker` is
/// published (notifications reach a subscriber in the order they happen).
async fn watch(url: &str, key: &str, marker: &str) -> tokio::task::JoinHandle<Vec<String>> {
    let client = redis::Client::open(url).expect("url");
    let mut pubsub = client.get_async_pubsub().await.expect("pubsub");
    pubsub
        .subscribe(format!("__keyspace@0__:{key}"))
        .await
        .expect("subscribe");
    pubsub.subscribe(marker).await.expect("subscribe marker");
    let marker = marker.to_owned();
    tokio::spawn(async move {
        let mut stream = pubsub.into_on_message();
        let mut events = Vec::new();
        while let Some(message) = stream.next().await {
            if message.get_channel_name() == marker {
                break;
            }
            events.push(message.get_payload::<String>().expect("event name"));
        }
        events
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn wrong_guesses_are_counted_exactly_redis() {
    // A private server: keyspace notifications are a server setting.
    let redis = start_private_redis().await;
    let mut admin = connection(redis.url()).await;
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("notify-keyspace-events")
        .arg("KA")
        .query_async(&mut admin)
        .await
        .expect("CONFIG SET notify-keyspace-events");
    let prefix = unique_prefix();
    let store = RedisStore::connect(redis.url(), RedisStoreConfig::default().prefix(prefix.clone()))
        .await
        .expect("store");
    let gate = guessing_gate(Arc::new(store));

    let below = just_below(&gate).await;
    let below_guards: Option<String> = admin.hget(format!("{prefix}:{{u:{below}}}:t"), "!f").await.unwrap();
    assert_eq!(below_guards, None, "a success resets the streak");

    // Watch the tokens hash of the next user (its streak and lock are
    // fields of it) while 200 guesses race.
    let user = format!("at-{}", tokengate_testing::random_id());
    let tokens_key = format!("{prefix}:{{u:{user}}}:t");
    let marker = format!("marker-{}", tokengate_testing::random_id());
    let events = watch(redis.url(), &tokens_key, &marker).await;

    let user_id = UserId::parse(&user).unwrap();
    let secret = guess(&gate, &user_id, LOCKOUT_AT as usize).await;
    let _: i64 = admin.publish(&marker, "end").await.unwrap();
    let events = events.await.unwrap();
    // One write for the token, then one per failure: 199 to the streak,
    // the 200th to the lock (and the streak's removal).
    let writes = events.iter().filter(|e| *e == "hset").count();
    assert_eq!(writes, 1 + 200, "the streak moved by exactly 200: {events:?}");
    assert_eq!(events.iter().filter(|e| *e == "hdel").count(), 1, "{events:?}");
    let now = chrono::Utc::now().timestamp_millis();
    let lock: i64 = admin.hget(&tokens_key, "!l").await.unwrap();
    assert!(
        (3_500_000..=3_600_000).contains(&(lock - now)),
        "locked for the lockout duration: {}",
        lock - now
    );
    let hash_ttl: i64 = admin.pttl(&tokens_key).await.unwrap();
    assert!(
        hash_ttl >= lock - now - 1_000,
        "the hash ends before its lock: {hash_ttl}"
    );
    let streak: Option<String> = admin.hget(&tokens_key, "!f").await.unwrap();
    assert_eq!(streak, None, "the streak is reset when it locks");
    match gate.create_session(&user_id, &secret, ClientInfo::default()).await {
        Err(Error::RateLimited) => {}
        other => panic!("the right secret while locked answered {:?}", other.map(|(s, _)| s.id)),
    }
    let fields: Vec<String> = admin.hkeys(&tokens_key).await.unwrap();
    let tokens = fields.iter().filter(|f| !f.starts_with('!')).count();
    assert_eq!(
        tokens, 1,
        "a guessable token is never burned here (burn off): {fields:?}"
    );

    // The same sequence, checked through the outcomes alone.
    at_threshold(&gate).await;
}

// ---------------------------------------------------------------------------
// Logout-all racing logins.

/// Logins run on several tasks while logout-all runs again and again:
/// every session that existed before a logout-all started is gone when it
/// returns, and once the logins are done, one more logout-all leaves no
/// session (and, on Redis, no session key) at all.
async fn logout_all_races_logins(gate: Gate, redis: Option<(String, String)>) {
    const TASKS: usize = 6;
    const LOGINS_PER_TASK: usize = 100;
    let user = UserId::parse("racer").unwrap();
    let created: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    for _ in 0..10 {
        let (_, credential) = gate.create_server_session(&user, ClientInfo::default()).await.unwrap();
        created.lock().unwrap().push(credential.expose().to_owned());
    }
    let logins: Vec<_> = (0..TASKS)
        .map(|_| {
            let (gate, user, created) = (gate.clone(), user.clone(), Arc::clone(&created));
            tokio::spawn(async move {
                for _ in 0..LOGINS_PER_TASK {
                    let token = gate
                        .create_token(&user, TokenOptions::default().length(32))
                        .await
                        .unwrap();
                    let secret = token.secret.as_ref().unwrap().expose().to_owned();
                    let (_, credential) = gate
                        .create_session(&user, &secret, ClientInfo::default())
                        .await
                        .expect("a login");
                    created.lock().unwrap().push(credential.expose().to_owned());
                    // Spread the logins over the logout rounds (and let the
                    // memory store, which never waits, give way).
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            })
        })
        .collect();

    let (mut rounds, mut checked) = (0, 0);
    loop {
        let done = logins.iter().all(|l| l.is_finished());
        let before: Vec<String> = created.lock().unwrap().clone();
        gate.delete_sessions(&user).await.unwrap();
        rounds += 1;
        // Those checked in earlier rounds were gone then; a session that
        // came back would be caught by the final check below.
        let lookups = before[checked..].iter().map(|c| gate.authenticate(c));
        for found in futures_util::future::join_all(lookups).await {
            assert!(
                found.unwrap().is_none(),
                "round {rounds}: a session from before logout-all survived it"
            );
        }
        checked = before.len();
        if done {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1 + rounds % 3)).await;
    }
    for login in logins {
        login.await.expect("login task");
    }
    let all = created.lock().unwrap().clone();
    assert_eq!(all.len(), 10 + TASKS * LOGINS_PER_TASK);
    assert!(rounds >= 10, "the logouts really raced the logins ({rounds} rounds)");
    gate.delete_sessions(&user).await.unwrap();
    for credential in &all {
        assert!(
            gate.authenticate(credential).await.unwrap().is_none(),
            "a session survived"
        );
    }
    assert!(gate.list_sessions(&user).await.unwrap().is_empty());
    if let Some((url, prefix)) = redis {
        let left: Vec<String> = scan_keys(&url, &prefix)
            .await
            .into_iter()
            .filter(|k| k.ends_with(":sessions"))
            .collect();
        assert!(left.is_empty(), "session keys left behind: {left:?}");
    }
}

fn racing_gate(store: Arc<dyn Store>) -> Gate {
    Gate::builder()
        .server_secret([0x3cu8; 32])
        .shared_store(store)
        // No eviction: every session stays until a logout removes it.
        .max_sessions(0)
        .build()
        .expect("gate")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn logout_all_races_logins_memory() {
    logout_all_races_logins(racing_gate(Arc::new(MemoryStore::new())), None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn logout_all_races_logins_redis() {
    let url = redis_url().await;
    let prefix = unique_prefix();
    let store = RedisStore::connect(&url, RedisStoreConfig::default().prefix(prefix.clone()))
        .await
        .expect("store");
    logout_all_races_logins(racing_gate(Arc::new(store)), Some((url, prefix))).await;
}
