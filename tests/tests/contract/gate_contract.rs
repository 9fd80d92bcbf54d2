//! `tokengate::Gate` end to end over every store (`memory::<case>`,
//! `redis::<case>` and `redis_cluster::<case>`, the test cluster of 3
//! primaries + 3 replicas, where every key the case left is read from the
//! primaries too), plus, on a private `redis-server`, how many Redis
//! commands (round trips) each hot operation costs.

use std::sync::Arc;
use std::time::Duration;

use tokengate::api::{ApiConfig, Endpoints};
use tokengate::fuzzing::SessionCredential;
use tokengate::store::MemoryStore;
use tokengate::store::Store;
use tokengate::{ClientInfo, Error, Gate, GateBuilder, SessionOrigin, TokenKind, TokenOptions, UserId};
use tokengate_tests::cluster::shared_cluster_async;
use tokengate_tests::redis_harness::{
    commandstats_diff, dump_prefix_nodes, holds_secret, redis_store_at, redis_url, session_records, start_private_redis,
};

const SERVER_SECRET: &[u8] = b"gate-contract-server-secret-XYZ-0123456789";
const API_KEY: &str = "gate-contract-api-key-0123456789";

struct Backend {
    store: Arc<dyn Store>,
    /// Redis: the servers holding the keys (one, or the cluster's
    /// primaries) and the prefix.
    redis: Option<(Vec<String>, String)>,
    memory: Option<MemoryStore>,
}

impl Backend {
    async fn memory() -> Self {
        let memory = MemoryStore::new();
        Backend {
            store: Arc::new(memory.clone()),
            redis: None,
            memory: Some(memory),
        }
    }

    async fn redis() -> Self {
        let url = redis_url().await;
        let (store, prefix) = redis_store_at(&url).await;
        Backend {
            store: Arc::new(store),
            redis: Some((vec![url], prefix)),
            memory: None,
        }
    }

    async fn redis_cluster() -> Self {
        let cluster = shared_cluster_async().await;
        let (store, prefix) = cluster.store_at_unique_prefix().await;
        Backend {
            store: Arc::new(store),
            redis: Some((cluster.primary_urls().await, prefix)),
            memory: None,
        }
    }

    fn builder(&self) -> GateBuilder {
        Gate::builder()
            .server_secret(SERVER_SECRET)
            .shared_store(Arc::clone(&self.store))
    }

    fn gate(&self) -> Gate {
        self.builder().build().expect("a valid gate")
    }
}

fn user(name: &str) -> UserId {
    UserId::parse(name).unwrap()
}

fn client() -> ClientInfo {
    ClientInfo::new(
        Some("198.51.100.4".parse().unwrap()),
        Some("gate-contract/2.0".to_owned()),
    )
}

async fn issue(gate: &Gate, who: &UserId, length: usize) -> String {
    let token = gate
        .create_token(who, TokenOptions::default().length(length))
        .await
        .unwrap();
    token
        .secret
        .expect("a fresh token carries its secret")
        .expose()
        .to_owned()
}

macro_rules! contract {
    ($($case:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(super::Backend::memory().await).await;
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(super::Backend::redis().await).await;
                }
            )*
        }
        mod redis_cluster {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(super::Backend::redis_cluster().await).await;
                    super::shared_cluster_async().await.assert_no_cross_slot().await;
                }
            )*
        }
    };
}

contract!(
    token_and_session_lifecycle,
    create_token_validates_options,
    failed_exchanges_are_invalid_token,
    authenticate_garbage_is_none,
    debug_output_is_redacted,
    low_entropy_tokens_burn,
    lockout_refuses_guessable_secrets_only,
    failures_count_only_against_guessable_secrets,
    failures_are_throttled_per_client,
    extension_stops_at_the_absolute_cap,
    issued_ids_stay_known_until_deleted,
    server_sessions_respect_the_limit,
    stored_state_reveals_no_secret,
);

async fn token_and_session_lifecycle(b: Backend) {
    let gate = b.builder().session_lifetime(Duration::from_secs(3600)).build().unwrap();
    let alice = user("alice");

    let token = gate.create_token(&alice, TokenOptions::default()).await.unwrap();
    assert_eq!(token.user_id, alice);
    assert_eq!(token.kind, TokenKind::Custom);
    assert_eq!(token.id.len(), 20);
    assert_eq!(token.expire - token.created_at, chrono::Duration::seconds(900));
    let secret = token.secret.as_ref().unwrap().expose().to_owned();
    assert_eq!(secret.len(), 6);
    assert!(
        secret.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')),
        "{secret:?}"
    );

    let (session, credential) = gate.create_session(&alice, &secret, client()).await.unwrap();
    assert_eq!(session.user_id, alice);
    assert_eq!(session.origin, SessionOrigin::Token(TokenKind::Custom));
    assert_eq!(session.provider(), "token");
    assert_eq!(session.factors(), ["token"]);
    assert_eq!(session.ip, "198.51.100.4");
    assert_eq!(session.user_agent, "gate-contract/2.0");
    assert_eq!(session.expire - session.created_at, chrono::Duration::seconds(3600));
    assert!(credential.expose().starts_with("alice."));

    // The credential authenticates, to exactly this session.
    assert_eq!(
        gate.authenticate(credential.expose()).await.unwrap(),
        Some(session.clone())
    );
    assert_eq!(gate.list_sessions(&alice).await.unwrap(), vec![session.clone()]);
    assert_eq!(gate.get_session(&alice, &session.id).await.unwrap(), session);
    assert!(matches!(
        gate.get_session(&alice, "0123456789abcdef0123").await,
        Err(Error::SessionNotFound)
    ));
    assert!(matches!(
        gate.get_session(&user("bob"), &session.id).await,
        Err(Error::SessionNotFound)
    ));

    // Extend: a full lifetime from now.
    tokio::time::sleep(Duration::from_millis(10)).await;
    let extended = gate.extend_session(&alice, &session.id).await.unwrap();
    assert_eq!(extended.id, session.id);
    assert!(
        extended.expire > session.expire,
        "{} !> {}",
        extended.expire,
        session.expire
    );
    assert!(extended.updated_at > session.updated_at);
    assert_eq!(extended.created_at, session.created_at);
    assert_eq!(
        gate.authenticate(credential.expose()).await.unwrap(),
        Some(extended.clone())
    );
    assert_eq!(gate.get_session(&alice, &session.id).await.unwrap(), extended);
    assert!(matches!(
        gate.extend_session(&alice, "0123456789abcdef0123").await,
        Err(Error::SessionNotFound)
    ));

    // Logout one.
    gate.delete_session(&alice, &session.id).await.unwrap();
    assert_eq!(gate.authenticate(credential.expose()).await.unwrap(), None);
    assert!(matches!(
        gate.delete_session(&alice, &session.id).await,
        Err(Error::SessionNotFound)
    ));
    assert!(gate.list_sessions(&alice).await.unwrap().is_empty());

    // Logout all.
    let mut credentials = Vec::new();
    for _ in 0..3 {
        let secret = issue(&gate, &alice, 32).await;
        credentials.push(
            gate.create_session(&alice, &secret, ClientInfo::default())
                .await
                .unwrap()
                .1,
        );
    }
    let bob = user("bob");
    let bob_secret = issue(&gate, &bob, 32).await;
    let (_, bob_credential) = gate
        .create_session(&bob, &bob_secret, ClientInfo::default())
        .await
        .unwrap();
    assert_eq!(gate.list_sessions(&alice).await.unwrap().len(), 3);
    assert_eq!(gate.delete_sessions(&alice).await.unwrap(), 3);
    for c in &credentials {
        assert_eq!(gate.authenticate(c.expose()).await.unwrap(), None);
    }
    assert_eq!(gate.delete_sessions(&alice).await.unwrap(), 0);
    assert!(
        gate.authenticate(bob_credential.expose()).await.unwrap().is_some(),
        "bob was logged out too"
    );
}

async fn create_token_validates_options(b: Backend) {
    let gate = b.gate();
    let alice = user("alice");
    for length in [4, 16, 64, 128] {
        assert_eq!(issue(&gate, &alice, length).await.len(), length);
    }
    let token = gate
        .create_token(&alice, TokenOptions::default().expire(Duration::from_secs(120)))
        .await
        .unwrap();
    assert_eq!(token.expire - token.created_at, chrono::Duration::seconds(120));
    for bad in [
        TokenOptions::default().length(3),
        TokenOptions::default().length(129),
        TokenOptions::default().expire(Duration::from_secs(59)),
        TokenOptions::default().expire(Duration::from_secs(31_536_001)),
    ] {
        let result = gate.create_token(&alice, bad.clone()).await;
        assert!(
            matches!(result, Err(Error::InvalidArgument(_))),
            "{bad:?} gave {result:?}"
        );
    }
}

async fn failed_exchanges_are_invalid_token(b: Backend) {
    let gate = b.gate();
    let alice = user("alice");
    let secret = issue(&gate, &alice, 32).await;

    let too_long = "a".repeat(300);
    for wrong in ["", "zzzzzz", &secret[..31], &too_long] {
        let result = gate.create_session(&alice, wrong, ClientInfo::default()).await;
        assert!(matches!(result, Err(Error::InvalidToken)), "{wrong:?} gave {result:?}");
    }
    // The right secret under another user.
    let result = gate.create_session(&user("bob"), &secret, ClientInfo::default()).await;
    assert!(matches!(result, Err(Error::InvalidToken)), "{result:?}");

    // Once only.
    gate.create_session(&alice, &secret, ClientInfo::default())
        .await
        .unwrap();
    let again = gate.create_session(&alice, &secret, ClientInfo::default()).await;
    assert!(matches!(again, Err(Error::InvalidToken)), "{again:?}");
    assert_eq!(gate.list_sessions(&alice).await.unwrap().len(), 1);
}

async fn authenticate_garbage_is_none(b: Backend) {
    let gate = b.gate();
    let alice = user("alice");
    let secret = issue(&gate, &alice, 32).await;
    let (_, credential) = gate
        .create_session(&alice, &secret, ClientInfo::default())
        .await
        .unwrap();
    let real = credential.expose().to_owned();
    let (_, secret_part) = real.split_once('.').unwrap();

    let never_issued = SessionCredential::generate(alice.clone()).encode();
    let mut flipped = real.clone();
    let last = flipped.pop().unwrap();
    flipped.push(if last == 'A' { 'B' } else { 'A' });
    let long = "x".repeat(10_000);
    let garbage = [
        String::new(),
        " ".to_owned(),
        "garbage".to_owned(),
        "alice".to_owned(),
        "alice.".to_owned(),
        ".".to_owned(),
        format!(".{secret_part}"),
        "alice.short".to_owned(),
        format!("alice.{}", "!".repeat(43)),
        format!("_alice.{secret_part}"),
        format!("{real}="),
        format!(" {real}"),
        "ä.ö".to_owned(),
        long,
        // Well-formed, but no such session: another user's, never issued, altered.
        format!("bob.{secret_part}"),
        never_issued.expose().to_owned(),
        flipped,
    ];
    for text in &garbage {
        let result = gate.authenticate(text).await;
        assert!(
            matches!(result, Ok(None)),
            "{:?} gave {result:?}",
            &text[..text.len().min(40)]
        );
    }
    // The real one still works.
    assert!(gate.authenticate(&real).await.unwrap().is_some());
}

async fn debug_output_is_redacted(b: Backend) {
    let builder = b.builder();
    let builder_debug = format!("{builder:?}");
    let gate = builder.build().unwrap();
    let endpoints = Endpoints::with_config(gate.clone(), ApiConfig::default().api_key(API_KEY)).unwrap();
    let alice = user("alice");
    let token = gate
        .create_token(&alice, TokenOptions::default().length(32))
        .await
        .unwrap();
    let secret = token.secret.as_ref().unwrap().expose().to_owned();
    let (session, credential) = gate.create_session(&alice, &secret, client()).await.unwrap();
    let credential_text = credential.expose().to_owned();
    let (_, credential_secret) = credential_text.split_once('.').unwrap();
    let decoded = SessionCredential::decode(&credential_text).unwrap();
    let authenticated = gate.authenticate(&credential_text).await.unwrap().unwrap();

    let server_secret_text = String::from_utf8(SERVER_SECRET.to_vec()).unwrap();
    let server_secret_hex: String = SERVER_SECRET.iter().map(|b| format!("{b:02x}")).collect();
    let server_secret_bytes = format!("{:?}", &SERVER_SECRET[..6]);
    let server_secret_bytes = server_secret_bytes.trim_matches(|c| c == '[' || c == ']');
    let forbidden = [
        secret.as_str(),
        credential_text.as_str(),
        credential_secret,
        server_secret_text.as_str(),
        server_secret_hex.as_str(),
        server_secret_bytes,
        API_KEY,
    ];
    let outputs = [
        ("Token", format!("{token:?}")),
        ("Token (alternate)", format!("{token:#?}")),
        ("Token secret", format!("{:?}", token.secret)),
        ("Session", format!("{session:?}")),
        ("authenticated Session", format!("{authenticated:?}")),
        ("credential Debug", format!("{credential:?}")),
        ("credential Display", format!("{credential}")),
        ("SessionCredential", format!("{decoded:?}")),
        ("Gate", format!("{gate:?}")),
        ("Gate (alternate)", format!("{gate:#?}")),
        ("GateBuilder", builder_debug),
        ("Policy", format!("{:?}", gate.policy())),
        ("ApiConfig", format!("{:?}", ApiConfig::default().api_key(API_KEY))),
        ("Endpoints", format!("{endpoints:#?}")),
        ("Store", format!("{:?}", b.store)),
    ];
    for (what, output) in &outputs {
        for secret in forbidden {
            assert!(
                !output.contains(secret),
                "{what} Debug/Display reveals {secret:?}: {output}"
            );
        }
    }
    // The redacted values still say what they are.
    assert!(format!("{credential:?}").contains("redacted"));
    assert!(format!("{gate:?}").contains("redacted"));
}

/// `times` exchanges with a secret that can never be a custom token's (not
/// hex), each refused as an invalid token.
async fn guess_wrong(gate: &Gate, who: &UserId, times: usize, from: ClientInfo) {
    for _ in 0..times {
        let result = gate.create_session(who, "zzzzzz", from.clone()).await;
        assert!(matches!(result, Err(Error::InvalidToken)), "{result:?}");
    }
}

async fn low_entropy_tokens_burn(b: Backend) {
    let gate = b
        .builder()
        .burn_after_failures(2)
        .lockout_after_failures(0)
        .build()
        .unwrap();
    let alice = user("alice");
    let low = issue(&gate, &alice, 6).await;
    let high = issue(&gate, &alice, 32).await;
    guess_wrong(&gate, &alice, 2, ClientInfo::default()).await;
    let result = gate.create_session(&alice, &low, ClientInfo::default()).await;
    assert!(
        matches!(result, Err(Error::InvalidToken)),
        "the 6-char token survived the failure streak: {result:?}"
    );
    gate.create_session(&alice, &high, ClientInfo::default())
        .await
        .expect("the 32-char token was burned");
}

async fn lockout_refuses_guessable_secrets_only(b: Backend) {
    let gate = b
        .builder()
        .burn_after_failures(0)
        .lockout_after_failures(3)
        .build()
        .unwrap();
    let alice = user("alice");
    let guessable = issue(&gate, &alice, 8).await;
    let unguessable = issue(&gate, &alice, 32).await;
    guess_wrong(&gate, &alice, 3, ClientInfo::default()).await;
    let result = gate.create_session(&alice, &guessable, ClientInfo::default()).await;
    assert!(matches!(result, Err(Error::RateLimited)), "{result:?}");
    // A secret nobody can guess is no reason to lock its owner out.
    gate.create_session(&alice, &unguessable, ClientInfo::default())
        .await
        .expect("an unguessable secret works during a lockout");
    // Others are not locked.
    let bob = user("bob");
    let bobs = issue(&gate, &bob, 32).await;
    gate.create_session(&bob, &bobs, ClientInfo::default()).await.unwrap();
}

/// Wrong guesses at a user who holds only unguessable secrets (a magic URL,
/// a long custom token) cannot lock that user out.
async fn failures_count_only_against_guessable_secrets(b: Backend) {
    let gate = b.builder().lockout_after_failures(3).build().unwrap();
    let alice = user("alice");
    let secret = issue(&gate, &alice, 32).await;
    guess_wrong(&gate, &alice, 10, ClientInfo::default()).await;
    gate.create_session(&alice, &secret, ClientInfo::default())
        .await
        .expect("ten wrong guesses locked out a user with nothing guessable");
}

/// Ten failures per (client, user) per hour by default, then that client
/// alone is refused, even with the right secret; an IPv6 client is its /64.
async fn failures_are_throttled_per_client(b: Backend) {
    let gate = b
        .builder()
        .lockout_after_failures(0)
        .burn_after_failures(0)
        .build()
        .unwrap();
    let alice = user("alice");
    let secret = issue(&gate, &alice, 32).await;
    let from = |ip: &str| ClientInfo::new(Some(ip.parse().unwrap()), None);
    for i in 0..10 {
        let guesser = from(&format!("2001:db8:7:7::{i:x}"));
        let result = gate.create_session(&alice, "zzzzzz", guesser).await;
        assert!(matches!(result, Err(Error::InvalidToken)), "{result:?}");
    }
    let result = gate.create_session(&alice, &secret, from("2001:db8:7:7:ffff::1")).await;
    assert!(matches!(result, Err(Error::RateLimited)), "{result:?}");
    // Another client, and the same client for another user, are unaffected.
    let bob = user("bob");
    let bobs = issue(&gate, &bob, 32).await;
    gate.create_session(&bob, &bobs, from("2001:db8:7:7::1")).await.unwrap();
    gate.create_session(&alice, &secret, from("2001:db8:7:8::1"))
        .await
        .unwrap();
}

/// No session outlives its creation plus the absolute cap, however often it
/// is extended.
async fn extension_stops_at_the_absolute_cap(b: Backend) {
    let gate = b
        .builder()
        .session_lifetime(Duration::from_secs(2))
        .max_session_age(Duration::from_secs(3))
        .build()
        .unwrap();
    let alice = user("alice");
    let (session, credential) = gate.create_server_session(&alice, client()).await.unwrap();
    let cap = session.created_at + chrono::Duration::seconds(3);
    // A full lifetime from now would end past the cap (1.2 s + 2 s > 3 s).
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let extended = gate.extend_session(&alice, &session.id).await.unwrap();
    assert_eq!(extended.expire, cap, "extended past the cap");
    assert!(gate.authenticate(credential.expose()).await.unwrap().is_some());
    // Past the cap the session is gone, and extending it is not found.
    tokio::time::sleep(Duration::from_millis(2_200)).await;
    assert!(gate.authenticate(credential.expose()).await.unwrap().is_none());
    let result = gate.extend_session(&alice, &session.id).await;
    assert!(matches!(result, Err(Error::SessionNotFound)), "{result:?}");
}

/// A server caller, exempt from the issuance limits.
fn trusted() -> ClientInfo {
    ClientInfo::default().trusted()
}

/// Every id that was ever issued a token or a session is known for good;
/// deleting the user frees the id and removes everything it had.
async fn issued_ids_stay_known_until_deleted(b: Backend) {
    let gate = b.builder().development_mode(true).build().unwrap();
    let (token_user, session_user) = (user("tokened"), user("served"));
    assert!(gate.get_user(&token_user).await.unwrap().is_none());
    issue(&gate, &token_user, 64).await;
    gate.create_server_session(&session_user, client()).await.unwrap();
    gate.delete_sessions(&session_user).await.unwrap();
    for known in [&token_user, &session_user] {
        let record = gate.get_user(known).await.unwrap().expect("known for good");
        assert!(record.created_at.timestamp() > 0);
        let claim = gate
            .create_email_token(known.as_str(), "stranger@example.com", false, &trusted())
            .await;
        assert!(matches!(claim, Err(Error::UserAlreadyExists)), "{claim:?}");
    }
    let (_, credential) = gate.create_server_session(&token_user, client()).await.unwrap();
    gate.delete_user(&token_user).await.unwrap();
    assert!(gate.authenticate(credential.expose()).await.unwrap().is_none());
    assert!(gate.get_user(&token_user).await.unwrap().is_none());
    assert!(matches!(gate.delete_user(&token_user).await, Err(Error::UserNotFound)));
    let claimed = gate
        .create_email_token(token_user.as_str(), "newcomer@example.com", false, &trusted())
        .await
        .expect("a deleted id is free again");
    assert_eq!(claimed.user_id, token_user);
}

async fn server_sessions_respect_the_limit(b: Backend) {
    let gate = b.builder().max_sessions(2).build().unwrap();
    let alice = user("alice");
    let mut created = Vec::new();
    for _ in 0..3 {
        created.push(gate.create_server_session(&alice, client()).await.unwrap());
        // Distinct creation times make "oldest" unambiguous.
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let (first, first_credential) = &created[0];
    assert_eq!(first.origin, SessionOrigin::Server);
    assert_eq!(first.provider(), "server");
    assert_eq!(
        gate.authenticate(first_credential.expose()).await.unwrap(),
        None,
        "the oldest was not evicted"
    );
    for (session, credential) in &created[1..] {
        assert_eq!(
            gate.authenticate(credential.expose()).await.unwrap().as_ref(),
            Some(session)
        );
    }
    let listed: Vec<String> = gate
        .list_sessions(&alice)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(listed, vec![created[1].0.id.clone(), created[2].0.id.clone()]);

    // An exchange counts against the same limit.
    let secret = issue(&gate, &alice, 32).await;
    let (via_token, _) = gate
        .create_session(&alice, &secret, ClientInfo::default())
        .await
        .unwrap();
    let listed: Vec<String> = gate
        .list_sessions(&alice)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(listed, vec![created[2].0.id.clone(), via_token.id]);
}

async fn stored_state_reveals_no_secret(b: Backend) {
    let gate = b
        .builder()
        .burn_after_failures(0)
        .lockout_after_failures(2)
        .build()
        .unwrap();
    let alice = user("alice");
    let mut secrets = Vec::new();
    for length in [12, 16, 64, 128] {
        secrets.push(issue(&gate, &alice, length).await);
    }
    let mut credentials = Vec::new();
    // The 12-character (guessable) token stays outstanding, so failures count.
    for secret in &secrets[1..3] {
        credentials.push(gate.create_session(&alice, secret, client()).await.unwrap().1);
    }
    credentials.push(gate.create_server_session(&alice, client()).await.unwrap().1);
    // One failure for alice; mallory locked out.
    assert!(gate
        .create_session(&alice, "zzzzzz", ClientInfo::default())
        .await
        .is_err());
    let mallory = user("mallory");
    let mallorys = issue(&gate, &mallory, 8).await;
    for _ in 0..2 {
        assert!(gate
            .create_session(&mallory, "zzzzzz", ClientInfo::default())
            .await
            .is_err());
    }
    secrets.push(mallorys);
    for c in &credentials {
        assert!(gate.authenticate(c.expose()).await.unwrap().is_some());
    }

    let mut forbidden: Vec<String> = secrets.clone();
    for c in &credentials {
        let text = c.expose().to_owned();
        forbidden.push(text.split_once('.').unwrap().1.to_owned());
        forbidden.push(text);
    }
    forbidden.push(String::from_utf8(SERVER_SECRET.to_vec()).unwrap());
    forbidden.push(SERVER_SECRET.iter().map(|b| format!("{b:02x}")).collect());
    forbidden.push(API_KEY.to_owned());
    // What the store holds: its dump in memory, every key on Redis.
    let stored = match (&b.memory, &b.redis) {
        (Some(memory), _) => memory.dump(),
        (None, Some((urls, prefix))) => {
            let keys = dump_prefix_nodes(urls, prefix).await;
            for part in [":t", ":sessions", ":user", ":layout"] {
                assert!(keys.iter().any(|k| k.key.ends_with(part)), "no {part} key in {keys:?}");
            }
            assert_eq!(session_records(&keys), 3);
            for k in &keys {
                // Identity is not a cache: user records live until the user
                // is deleted; the layout marker names the prefix's layout.
                if k.key.ends_with(":user") || k.key.ends_with(":layout") {
                    assert_eq!(k.pttl, -1, "{} expires", k.key);
                } else {
                    assert!(k.pttl > 0, "{} has no TTL ({})", k.key, k.pttl);
                }
            }
            keys.iter().map(|k| k.text()).collect::<Vec<_>>().join("\n")
        }
        (None, None) => unreachable!("a backend is memory or Redis"),
    };
    assert!(
        stored.contains("alice") && stored.contains("mallory"),
        "the dump shows neither user"
    );
    for secret in &forbidden {
        assert!(
            !holds_secret(&stored, secret),
            "the store holds a secret in the clear ({} chars)",
            secret.len()
        );
    }
}

/// Commands per operation, on a Redis of this test's own (other tests would
/// disturb the counters). `INFO commandstats` also counts what a Lua script
/// runs, so it shows which commands ran; `MONITOR` shows the top-level
/// commands, i.e. the round trips.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_commands_per_operation() {
    let redis = start_private_redis().await;
    let (store, _prefix) = redis_store_at(redis.url()).await;
    let gate = Gate::builder()
        .server_secret(SERVER_SECRET)
        .store(store)
        .build()
        .unwrap();
    let alice = user("alice");

    // Warm up: the connection, and each script once (the first EVALSHA of a
    // script answers NOSCRIPT and is followed by SCRIPT LOAD + EVALSHA).
    let secret = issue(&gate, &alice, 32).await;
    let (_, warm) = gate
        .create_session(&alice, &secret, ClientInfo::default())
        .await
        .unwrap();
    assert!(gate.authenticate(warm.expose()).await.unwrap().is_some());

    // INFO commandstats.
    let before = redis.commandstats().await;
    let token = gate
        .create_token(&alice, TokenOptions::default().length(32))
        .await
        .unwrap();
    let create_token = commandstats_diff(&before, &redis.commandstats().await);

    let before = redis.commandstats().await;
    let secret = token.secret.unwrap().expose().to_owned();
    let (session, credential) = gate
        .create_session(&alice, &secret, ClientInfo::default())
        .await
        .unwrap();
    let create_session = commandstats_diff(&before, &redis.commandstats().await);

    let before = redis.commandstats().await;
    let found = gate.authenticate(credential.expose()).await.unwrap();
    let authenticate = commandstats_diff(&before, &redis.commandstats().await);
    assert_eq!(found.map(|s| s.id), Some(session.id));

    let before = redis.commandstats().await;
    for text in ["", "garbage", "alice.short", &format!("alice.{}", "!".repeat(43))] {
        assert_eq!(gate.authenticate(text).await.unwrap(), None);
    }
    let garbage = commandstats_diff(&before, &redis.commandstats().await);

    for (op, diff) in [("create_token", &create_token), ("create_session", &create_session)] {
        assert_eq!(diff.get("evalsha"), Some(&1), "{op}: {diff:?}");
        for reload in ["eval", "script|load", "script|exists", "multi", "exec"] {
            assert!(!diff.contains_key(reload), "{op} ran {reload}: {diff:?}");
        }
    }
    assert_eq!(
        authenticate,
        [("hget".to_owned(), 1)].into(),
        "authenticate: {authenticate:?}"
    );
    assert!(garbage.is_empty(), "authenticating garbage reached Redis: {garbage:?}");

    // MONITOR: the round trips themselves.
    let mut monitor = redis.monitor().await;
    let (token, commands) = monitor
        .record(gate.create_token(&alice, TokenOptions::default().length(32)))
        .await;
    assert_eq!(commands, ["evalsha"], "create_token");
    let secret = token.unwrap().secret.unwrap().expose().to_owned();
    let (result, commands) = monitor
        .record(gate.create_session(&alice, &secret, ClientInfo::default()))
        .await;
    assert_eq!(commands, ["evalsha"], "create_session");
    let (_, credential) = result.unwrap();
    let (found, commands) = monitor.record(gate.authenticate(credential.expose())).await;
    assert!(found.unwrap().is_some());
    assert_eq!(commands, ["hget"], "authenticate");
    let (found, commands) = monitor.record(gate.authenticate("not-a-credential")).await;
    assert_eq!(found.unwrap(), None);
    assert!(
        commands.is_empty(),
        "authenticating garbage reached Redis: {commands:?}"
    );
    // A failed exchange is one round trip too.
    let (result, commands) = monitor
        .record(gate.create_session(&alice, "zzzzzz", ClientInfo::default()))
        .await;
    assert!(matches!(result, Err(Error::InvalidToken)));
    assert_eq!(commands, ["evalsha"], "failed create_session");
}
