//! The `Store` contract, written once and run against every implementation:
//! `MemoryStore` and `RedisStore` (standalone, a real local cluster of 3
//! primaries + 3 replicas, and a TLS-only server over `rediss://`; a fresh
//! key prefix per test).
//!
//! Each case is a generic async function over a [`Backend`]; the
//! `contract!` macro turns every case into one `#[tokio::test]` per store
//! (`memory::<case>`, `redis::<case>`, `redis_cluster::<case>`, which also
//! checks that no cluster node ever answered `CROSSSLOT`/`MOVED` or failed a
//! script, and `redis_tls::<case>`). Where Redis can show more (real
//! TTLs, what a dump of the keys reveals), the case also inspects the keys
//! under its prefix.

use std::sync::Arc;
use std::time::Duration;

use tokengate::delivery::{DeliveryError, EmailMessage, Mailer, SmsMessage, SmsSender};
use tokengate::store::Store;
use tokengate::store::{MemoryStore, RedeemRules, Redemption, SessionRecord, TokenRecord};
use tokengate::testing::random_id;
use tokengate::Requester;
use tokengate::{ClientInfo, Gate, ServerSecret, SessionOrigin, TokenKind, TokenOptions, UserId};
use tokengate::{Digest, Purpose};
use tokengate_tests::cluster::shared_cluster_async;
use tokengate_tests::redis_harness::{
    dump_prefix_nodes, holds_secret, memory_usage, redis_store_at, redis_url, session_records, KeyDump,
};

const HOUR_MS: i64 = 3_600_000;
const YEAR_MS: i64 = 365 * 24 * HOUR_MS;

/// A store under test, and for Redis where its keys live.
struct Backend {
    store: Arc<dyn Store>,
    redis: Option<RedisTarget>,
    /// The embedded store itself, for its dump.
    memory: Option<MemoryStore>,
    key: ServerSecret,
}

struct RedisTarget {
    /// The server, or a cluster's primaries.
    urls: Vec<String>,
    prefix: String,
}

impl Backend {
    fn new(store: Arc<dyn Store>, redis: Option<RedisTarget>) -> Self {
        Backend {
            store,
            redis,
            memory: None,
            key: ServerSecret::new(b"store-contract-server-secret-0123456789".to_vec()).unwrap(),
        }
    }

    async fn memory() -> Self {
        let memory = MemoryStore::new();
        let mut backend = Self::new(Arc::new(memory.clone()), None);
        backend.memory = Some(memory);
        backend
    }

    /// Everything the store holds, as text: every key under the prefix
    /// with its contents on Redis (every node of a cluster), the memory
    /// store's dump otherwise.
    async fn everything_stored(&self) -> String {
        match (&self.memory, self.keys().await) {
            (Some(memory), _) => memory.dump(),
            (None, Some(keys)) => keys.iter().map(KeyDump::text).collect::<Vec<_>>().join("\n"),
            (None, None) => unreachable!("a backend is memory or Redis"),
        }
    }

    async fn redis() -> Self {
        let url = redis_url().await;
        let (store, prefix) = redis_store_at(&url).await;
        Self::new(
            Arc::new(store),
            Some(RedisTarget {
                urls: vec![url],
                prefix,
            }),
        )
    }

    /// The test cluster of this process (3 primaries, 3 replicas).
    async fn redis_cluster() -> Self {
        let cluster = shared_cluster_async().await;
        let (store, prefix) = cluster.store_at_unique_prefix().await;
        let urls = cluster.primary_urls().await;
        Self::new(Arc::new(store), Some(RedisTarget { urls, prefix }))
    }

    /// A TLS-only Redis over `rediss://`, trusting the test CA.
    async fn redis_tls() -> Self {
        let url = tokio::task::spawn_blocking(tokengate_tests::tls::shared_tls_redis)
            .await
            .unwrap();
        let config = tokengate_tests::tls::store_config();
        let prefix = config.prefix.clone();
        let store = tokengate::store::RedisStore::connect(&url, config).await.unwrap();
        Self::new(
            Arc::new(store),
            Some(RedisTarget {
                urls: vec![url],
                prefix,
            }),
        )
    }

    /// A token record for `secret` (whose plaintext only the test knows).
    fn token(&self, user: &UserId, kind: TokenKind, secret: &str, now: i64, ttl_ms: i64) -> TokenRecord {
        let low_entropy = secret.len() < 16;
        TokenRecord::new(
            random_id(),
            kind,
            self.token_digest(user, secret),
            now,
            now + ttl_ms,
            low_entropy,
        )
    }

    /// Redeems `token` for a fresh session created now: the session offered
    /// and the outcome.
    async fn redeem_new_session(
        &self,
        user: &UserId,
        token: &Digest,
        rules: &RedeemRules,
    ) -> (SessionRecord, Redemption) {
        let session = self.session(user, now(), HOUR_MS);
        let outcome = self
            .store
            .redeem_token(user, token, &session, rules, None, session.created_ms)
            .await
            .unwrap();
        (session, outcome)
    }

    /// [`Backend::redeem_new_session`], for the outcome alone.
    async fn redeem_now(&self, user: &UserId, token: &Digest, rules: &RedeemRules) -> Redemption {
        self.redeem_new_session(user, token, rules).await.1
    }

    fn token_digest(&self, user: &UserId, secret: &str) -> Digest {
        self.key.digest(Purpose::Token, user, secret.as_bytes())
    }

    /// A new session record created at `now`, living `ttl_ms`.
    fn session(&self, user: &UserId, now: i64, ttl_ms: i64) -> SessionRecord {
        let secret = format!("session-credential-{}", random_id());
        SessionRecord::new(
            random_id(),
            self.key.digest(Purpose::Session, user, secret.as_bytes()),
            now,
            now + ttl_ms,
            SessionOrigin::Server,
            "203.0.113.7".to_owned(),
            "contract-suite/1.0".to_owned(),
        )
    }

    /// The keys under this test's prefix (Redis only).
    async fn keys(&self) -> Option<Vec<KeyDump>> {
        match &self.redis {
            Some(target) => Some(dump_prefix_nodes(&target.urls, &target.prefix).await),
            None => None,
        }
    }

    /// The ids of `user`'s live sessions, in the store's order.
    async fn listed_ids(&self, user: &UserId) -> Vec<String> {
        let sessions = self.store.list_sessions(user, now()).await.unwrap();
        sessions.into_iter().map(|s| s.id).collect()
    }

    /// Redis only: the keys of `user` whose name ends with `suffix`.
    async fn user_keys(&self, user: &UserId, suffix: &str) -> Option<Vec<KeyDump>> {
        let tag = format!("{{u:{user}}}");
        self.keys().await.map(|keys| {
            keys.into_iter()
                .filter(|k| k.key.contains(&tag) && k.key.ends_with(suffix))
                .collect()
        })
    }

    /// Redis only: the session records stored for `user` (the JSON values
    /// of the user's sessions hash), and that hash's PTTL.
    async fn stored_sessions(&self, user: &UserId) -> Option<(Vec<String>, i64)> {
        let keys = self.user_keys(user, ":sessions").await?;
        let Some(hash) = keys.first() else {
            return Some((Vec::new(), -2));
        };
        let records = hash
            .contents
            .chunks(2)
            .map(|pair| String::from_utf8_lossy(&pair[1]).into_owned())
            .collect();
        Some((records, hash.pttl))
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A stored session record's idle deadline (`"d"`, written only when an
/// idle timeout applies).
fn idle_deadline(record: &str) -> i64 {
    let value: serde_json::Value = serde_json::from_str(record).unwrap();
    value["d"]
        .as_i64()
        .unwrap_or_else(|| panic!("no idle deadline in {record}"))
}

fn user(name: &str) -> UserId {
    UserId::parse(name).unwrap()
}

/// Rules without limits, burning or lockout.
fn lenient() -> RedeemRules {
    RedeemRules::new(0, 0, 0, HOUR_MS, 0)
}

fn high_secret() -> String {
    format!("{}{}", random_id(), random_id())
}

fn redeemed(token: &TokenRecord, evicted: Vec<String>) -> Redemption {
    Redemption::Redeemed {
        token_id: token.id.clone(),
        kind: token.kind,
        evicted,
    }
}

macro_rules! contract {
    ($($case:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    super::$case(super::Backend::memory().await).await;
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    super::$case(super::Backend::redis().await).await;
                }
            )*
        }
        mod redis_cluster {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    super::$case(super::Backend::redis_cluster().await).await;
                    super::shared_cluster_async().await.assert_no_cross_slot().await;
                }
            )*
        }
        mod redis_tls {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    super::$case(super::Backend::redis_tls().await).await;
                }
            )*
        }
    };
}

contract!(
    redeem_creates_the_session,
    second_redeem_is_rejected,
    wrong_digest_is_rejected,
    expired_token_is_rejected,
    session_expires,
    an_ended_session_next_to_a_live_one_is_refused_and_pruned,
    idle_timeout_expires_and_find_refreshes,
    session_limit_evicts_the_oldest,
    low_entropy_tokens_burn_after_failures,
    lockout_after_failures,
    success_resets_the_failure_streak,
    replace_kind_removes_only_the_same_kind,
    remove_token_deletes_it,
    list_extend_delete,
    insert_session_enforces_the_limit,
    concurrent_redeems_succeed_once,
    keys_expire,
    issued_ids_are_known_for_good,
    claims_bind_an_id_to_one_address,
    delete_user_removes_everything_at_once,
    extension_is_capped_by_the_max_age,
    failures_are_throttled_per_client,
    the_gate_stores_no_plaintext,
);

async fn redeem_creates_the_session(b: Backend) {
    let alice = user("alice");
    let t0 = now();
    let token = b.token(&alice, TokenKind::EmailOtp, "123456", t0, HOUR_MS);
    b.store.insert_token(&alice, &token, false, t0).await.unwrap();

    let (session, outcome) = b.redeem_new_session(&alice, &token.digest, &lenient()).await;
    assert_eq!(outcome, redeemed(&token, vec![]));

    // The session exists, with the token's kind as its origin.
    let mut expected = session.clone();
    expected.origin = SessionOrigin::Token(TokenKind::EmailOtp);
    let found = b
        .store
        .find_session(&alice, &session.digest, None, now())
        .await
        .unwrap();
    assert_eq!(found.as_ref(), Some(&expected));
    assert_eq!(b.store.list_sessions(&alice, now()).await.unwrap(), vec![expected]);

    // Only under its own user.
    assert_eq!(
        b.store
            .find_session(&user("bob"), &session.digest, None, now())
            .await
            .unwrap(),
        None
    );
    // A digest that was never issued finds nothing.
    let other = b.session(&alice, now(), HOUR_MS);
    assert_eq!(
        b.store.find_session(&alice, &other.digest, None, now()).await.unwrap(),
        None
    );

    // Every token kind becomes the session's origin.
    for kind in [TokenKind::Custom, TokenKind::MagicUrl, TokenKind::Phone] {
        let t = now();
        let token = b.token(&alice, kind, &high_secret(), t, HOUR_MS);
        b.store.insert_token(&alice, &token, false, t).await.unwrap();
        let (session, outcome) = b.redeem_new_session(&alice, &token.digest, &lenient()).await;
        assert_eq!(outcome, redeemed(&token, vec![]));
        let found = b
            .store
            .find_session(&alice, &session.digest, None, now())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found.origin, SessionOrigin::Token(kind));
    }
}

async fn second_redeem_is_rejected(b: Backend) {
    let alice = user("alice");
    let t0 = now();
    let token = b.token(&alice, TokenKind::Custom, &high_secret(), t0, HOUR_MS);
    // A second, unrelated token keeps the user's token set non-empty.
    let spare = b.token(&alice, TokenKind::Custom, &high_secret(), t0, HOUR_MS);
    b.store.insert_token(&alice, &token, false, t0).await.unwrap();
    b.store.insert_token(&alice, &spare, false, t0).await.unwrap();

    let outcome = b.redeem_now(&alice, &token.digest, &lenient()).await;
    assert_eq!(outcome, redeemed(&token, vec![]));

    let (second, outcome) = b.redeem_new_session(&alice, &token.digest, &lenient()).await;
    assert_eq!(outcome, Redemption::Rejected);
    assert_eq!(
        b.store.find_session(&alice, &second.digest, None, now()).await.unwrap(),
        None
    );
    assert_eq!(b.store.list_sessions(&alice, now()).await.unwrap().len(), 1);

    // The spare was untouched.
    let outcome = b.redeem_now(&alice, &spare.digest, &lenient()).await;
    assert_eq!(outcome, redeemed(&spare, vec![]));
}

async fn wrong_digest_is_rejected(b: Backend) {
    let alice = user("alice");
    let t0 = now();
    let secret = high_secret();
    let token = b.token(&alice, TokenKind::Custom, &secret, t0, HOUR_MS);
    b.store.insert_token(&alice, &token, false, t0).await.unwrap();

    // Wrong secret; the right secret under another user.
    for (who, digest) in [
        (&alice, b.token_digest(&alice, "not-the-secret")),
        (&user("bob"), b.token_digest(&user("bob"), &secret)),
    ] {
        let (session, outcome) = b.redeem_new_session(who, &digest, &lenient()).await;
        assert_eq!(outcome, Redemption::Rejected);
        assert_eq!(
            b.store.find_session(who, &session.digest, None, now()).await.unwrap(),
            None
        );
    }

    // A high-entropy token survives a wrong guess.
    let outcome = b.redeem_now(&alice, &token.digest, &lenient()).await;
    assert_eq!(outcome, redeemed(&token, vec![]));

    // Guesses against a user with no tokens are never counted (no lockout)
    // and, on Redis, leave no keys behind.
    let ghost = user("ghost");
    let strict = RedeemRules::new(0, 2, 3, HOUR_MS, 0);
    for _ in 0..5 {
        let session = b.session(&ghost, now(), HOUR_MS);
        let digest = b.token_digest(&ghost, "000000");
        let outcome = b
            .store
            .redeem_token(&ghost, &digest, &session, &strict, None, session.created_ms)
            .await
            .unwrap();
        assert_eq!(outcome, Redemption::Rejected);
    }
    if let Some(keys) = b.user_keys(&ghost, "").await {
        assert!(keys.is_empty(), "guesses against an unknown user left keys: {keys:?}");
    }
}

async fn expired_token_is_rejected(b: Backend) {
    let alice = user("alice");
    let t0 = now();
    let token = b.token(&alice, TokenKind::EmailOtp, "654321", t0, 1_500);
    b.store.insert_token(&alice, &token, false, t0).await.unwrap();

    tokio::time::sleep(Duration::from_millis(2_000)).await;

    // On Redis the token key itself is gone: its TTL is the token's expiry.
    if let Some(keys) = b.user_keys(&alice, ":t").await {
        assert!(keys.is_empty(), "expired token key still present: {keys:?}");
    }
    let (session, outcome) = b.redeem_new_session(&alice, &token.digest, &lenient()).await;
    assert_eq!(outcome, Redemption::Rejected);
    assert_eq!(
        b.store
            .find_session(&alice, &session.digest, None, now())
            .await
            .unwrap(),
        None
    );
}

async fn session_expires(b: Backend) {
    let alice = user("alice");
    let t0 = now();
    let token = b.token(&alice, TokenKind::Custom, &high_secret(), t0, HOUR_MS);
    b.store.insert_token(&alice, &token, false, t0).await.unwrap();
    // One session from a redemption, one created directly; both short.
    let redeemed_session = b.session(&alice, now(), 1_500);
    let outcome = b
        .store
        .redeem_token(
            &alice,
            &token.digest,
            &redeemed_session,
            &lenient(),
            None,
            redeemed_session.created_ms,
        )
        .await
        .unwrap();
    assert_eq!(outcome, redeemed(&token, vec![]));
    let direct = b.session(&alice, now(), 1_500);
    b.store
        .insert_session(&alice, &direct, &lenient(), direct.created_ms)
        .await
        .unwrap();

    for s in [&redeemed_session, &direct] {
        assert!(b
            .store
            .find_session(&alice, &s.digest, None, now())
            .await
            .unwrap()
            .is_some());
    }
    assert_eq!(b.store.list_sessions(&alice, now()).await.unwrap().len(), 2);

    tokio::time::sleep(Duration::from_millis(2_000)).await;

    for s in [&redeemed_session, &direct] {
        assert_eq!(
            b.store.find_session(&alice, &s.digest, None, now()).await.unwrap(),
            None
        );
    }
    assert!(b.store.list_sessions(&alice, now()).await.unwrap().is_empty());
    // Real TTLs: nothing of the user is left in Redis (sessions, tokens)
    // but its identity record, which never expires.
    if let Some(keys) = b.keys().await {
        let names: Vec<&str> = keys.iter().map(|k| k.key.as_str()).collect();
        assert!(
            names.len() == 1 && names[0].ends_with(":{u:alice}:user") && keys[0].pttl == -1,
            "keys outlived their sessions: {keys:?}"
        );
    }
}

/// A user's sessions share one hash in Redis, which lives as long as the
/// latest of them: an ended record may still be stored, and must be refused
/// by the clock, not counted, and dropped by the next write.
async fn an_ended_session_next_to_a_live_one_is_refused_and_pruned(b: Backend) {
    let alice = user("alice");
    let long = b.session(&alice, now(), HOUR_MS);
    let short = b.session(&alice, now(), 1_500);
    for s in [&long, &short] {
        b.store
            .insert_session(&alice, s, &lenient(), s.created_ms)
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(2_000)).await;

    if let Some((records, _)) = b.stored_sessions(&alice).await {
        assert_eq!(
            records.len(),
            2,
            "the ended record is pruned only by a write: {records:?}"
        );
    }
    assert_eq!(
        b.store.find_session(&alice, &short.digest, None, now()).await.unwrap(),
        None
    );
    let idle = Some(Duration::from_secs(60));
    assert_eq!(
        b.store.find_session(&alice, &short.digest, idle, now()).await.unwrap(),
        None,
        "an idle refresh must not revive an ended session"
    );
    assert!(
        !b.store.delete_session(&alice, &short.id).await.unwrap(),
        "deleting an ended session is not a logout"
    );
    assert_eq!(
        b.store
            .extend_session(&alice, &short.id, now() + HOUR_MS, None, YEAR_MS, now())
            .await
            .unwrap(),
        None,
        "an ended session cannot be extended"
    );
    // Only an exact id names a session (ids come from URL paths).
    for near in [
        format!("{}\"", long.id),
        format!("{}\",\"c\":1", long.id),
        long.id[..10].to_owned(),
        // The id plus the record's next fields, up to a closing quote.
        format!(
            "{}\",\"c\":{},\"u\":{},\"e\":{},\"ip\":\"{}",
            long.id, long.created_ms, long.updated_ms, long.expire_ms, long.ip
        ),
    ] {
        assert!(!b.store.delete_session(&alice, &near).await.unwrap(), "{near}");
    }
    let newer = b.session(&alice, now(), HOUR_MS);
    b.store
        .insert_session(&alice, &newer, &lenient(), newer.created_ms)
        .await
        .unwrap();
    if let Some((records, _)) = b.stored_sessions(&alice).await {
        assert_eq!(records.len(), 2, "the write kept the ended record: {records:?}");
        assert!(!records.iter().any(|r| r.contains(&short.id)), "{records:?}");
    }
    let listed = b.listed_ids(&alice).await;
    assert_eq!(listed, vec![long.id.clone(), newer.id.clone()]);
    assert_eq!(b.store.delete_sessions(&alice).await.unwrap(), 2);
}

/// The idle window of the idle-timeout case: wide enough that a loaded
/// 2-core machine does not stall past it between two steps.
const IDLE_MS: i64 = 2_000;

async fn idle_timeout_expires_and_find_refreshes(b: Backend) {
    let alice = user("alice");
    let idle_rules = RedeemRules::new(0, 0, 0, HOUR_MS, IDLE_MS);
    let t0 = now();
    let token = b.token(&alice, TokenKind::Custom, &high_secret(), t0, HOUR_MS);
    b.store.insert_token(&alice, &token, false, t0).await.unwrap();

    // Both live an hour but start with an IDLE_MS idle deadline.
    let (unused, outcome) = b.redeem_new_session(&alice, &token.digest, &idle_rules).await;
    assert_eq!(outcome, redeemed(&token, vec![]));
    let used = b.session(&alice, now(), HOUR_MS);
    b.store
        .insert_session(&alice, &used, &idle_rules, used.created_ms)
        .await
        .unwrap();

    // A lookup under the same idle timeout does not need to write
    // (the deadline moved by less than the refresh interval) ...
    let short = Some(Duration::from_millis(IDLE_MS as u64));
    assert!(b
        .store
        .find_session(&alice, &unused.digest, short, now())
        .await
        .unwrap()
        .is_some());
    // ... while one under a 120 s idle timeout slides the deadline forward.
    let long = Some(Duration::from_secs(120));
    assert!(b
        .store
        .find_session(&alice, &used.digest, long, now())
        .await
        .unwrap()
        .is_some());
    if let Some((records, pttl)) = b.stored_sessions(&alice).await {
        let left: Vec<i64> = records.iter().map(|r| idle_deadline(r) - now()).collect();
        assert_eq!(records.len(), 2);
        assert!(
            left.iter().any(|&p| p > 60_000),
            "the used session's idle deadline was not slid: {left:?}"
        );
        assert!(
            left.iter().any(|&p| (1..=IDLE_MS).contains(&p)),
            "the unused session's idle deadline changed: {left:?}"
        );
        assert!(
            pttl > 60_000,
            "the sessions hash expires before its latest session: {pttl}"
        );
    }

    tokio::time::sleep(Duration::from_millis(IDLE_MS as u64 + 500)).await;

    assert_eq!(
        b.store
            .find_session(&alice, &unused.digest, short, now())
            .await
            .unwrap(),
        None
    );
    let found = b.store.find_session(&alice, &used.digest, long, now()).await.unwrap();
    assert_eq!(found.map(|s| s.id), Some(used.id.clone()));
    let listed = b.listed_ids(&alice).await;
    assert_eq!(listed, vec![used.id.clone()]);
    if let Some((records, _)) = b.stored_sessions(&alice).await {
        assert_eq!(
            records.len(),
            1,
            "the idle session's record is still there: {records:?}"
        );
    }
}

async fn session_limit_evicts_the_oldest(b: Backend) {
    let alice = user("alice");
    let rules = RedeemRules::new(3, 0, 0, HOUR_MS, 0);
    let base = now();
    let mut sessions: Vec<SessionRecord> = Vec::new();
    for i in 0..5i64 {
        // Distinct creation times make "oldest" unambiguous.
        let at = base + i;
        let token = b.token(&alice, TokenKind::Custom, &high_secret(), at, HOUR_MS);
        b.store.insert_token(&alice, &token, false, at).await.unwrap();
        let session = b.session(&alice, at, HOUR_MS);
        let outcome = b
            .store
            .redeem_token(&alice, &token.digest, &session, &rules, None, at)
            .await
            .unwrap();
        let expected_evicted: Vec<String> = match i {
            3 => vec![sessions[0].id.clone()],
            4 => vec![sessions[1].id.clone()],
            _ => vec![],
        };
        assert_eq!(outcome, redeemed(&token, expected_evicted), "redemption {i}");
        sessions.push(session);
    }
    for (i, s) in sessions.iter().enumerate() {
        let found = b.store.find_session(&alice, &s.digest, None, now()).await.unwrap();
        assert_eq!(found.is_some(), i >= 2, "session {i}");
    }
    let listed = b.listed_ids(&alice).await;
    assert_eq!(listed, sessions[2..].iter().map(|s| s.id.clone()).collect::<Vec<_>>());
    if let Some((records, _)) = b.stored_sessions(&alice).await {
        assert_eq!(records.len(), 3, "evicted session records remain: {records:?}");
    }
}

async fn low_entropy_tokens_burn_after_failures(b: Backend) {
    let rules = RedeemRules::new(0, 3, 0, HOUR_MS, 0);
    let t0 = now();
    let wrong = |who: &UserId| b.token_digest(who, "999999");

    // Three consecutive failures burn the low-entropy token, not the strong one.
    let burned = user("burned");
    let low = b.token(&burned, TokenKind::EmailOtp, "111111", t0, HOUR_MS);
    let high = b.token(&burned, TokenKind::MagicUrl, &high_secret(), t0, HOUR_MS);
    b.store.insert_token(&burned, &low, false, t0).await.unwrap();
    b.store.insert_token(&burned, &high, false, t0).await.unwrap();
    for _ in 0..3 {
        let outcome = b.redeem_now(&burned, &wrong(&burned), &rules).await;
        assert_eq!(outcome, Redemption::Rejected);
    }
    let outcome = b.redeem_now(&burned, &low.digest, &rules).await;
    assert_eq!(outcome, Redemption::Rejected, "the low-entropy token was not burned");
    let outcome = b.redeem_now(&burned, &high.digest, &rules).await;
    assert_eq!(outcome, redeemed(&high, vec![]), "the high-entropy token was burned");

    // One failure fewer burns nothing.
    let kept = user("kept");
    let low = b.token(&kept, TokenKind::Phone, "222222", t0, HOUR_MS);
    b.store.insert_token(&kept, &low, false, t0).await.unwrap();
    for _ in 0..2 {
        let outcome = b.redeem_now(&kept, &wrong(&kept), &rules).await;
        assert_eq!(outcome, Redemption::Rejected);
    }
    let outcome = b.redeem_now(&kept, &low.digest, &rules).await;
    assert_eq!(outcome, redeemed(&low, vec![]));
}

async fn lockout_after_failures(b: Backend) {
    let alice = user("alice");
    // A 1.5 s lockout, so that the test can outlast it.
    let rules = RedeemRules::new(0, 0, 3, 1_500, 0);
    let t0 = now();
    // A guessable token makes failures count; a strong one stays usable.
    let token = b.token(&alice, TokenKind::EmailOtp, "qwzxkv", t0, HOUR_MS);
    let strong = b.token(&alice, TokenKind::MagicUrl, &high_secret(), t0, HOUR_MS);
    b.store.insert_token(&alice, &token, false, t0).await.unwrap();
    b.store.insert_token(&alice, &strong, false, t0).await.unwrap();
    for _ in 0..3 {
        let outcome = b
            .redeem_now(&alice, &b.token_digest(&alice, "wrong-guess"), &rules)
            .await;
        assert_eq!(outcome, Redemption::Rejected);
    }
    // Locked: even the right guessable secret is refused, and the token is not spent.
    let (s, outcome) = b.redeem_new_session(&alice, &token.digest, &rules).await;
    assert_eq!(outcome, Redemption::LockedOut);
    assert_eq!(
        b.store.find_session(&alice, &s.digest, None, now()).await.unwrap(),
        None
    );
    if let Some(keys) = b.user_keys(&alice, ":lock").await {
        assert_eq!(keys.len(), 1);
        assert!((1..=1_500).contains(&keys[0].pttl), "lock TTL {}", keys[0].pttl);
    }
    // An unguessable secret is no reason to lock its owner out.
    let outcome = b.redeem_now(&alice, &strong.digest, &rules).await;
    assert_eq!(outcome, redeemed(&strong, vec![]));
    // Another user is not affected.
    let bob = user("bob");
    let bobs = b.token(&bob, TokenKind::Custom, &high_secret(), now(), HOUR_MS);
    b.store.insert_token(&bob, &bobs, false, now()).await.unwrap();
    let outcome = b.redeem_now(&bob, &bobs.digest, &rules).await;
    assert_eq!(outcome, redeemed(&bobs, vec![]));

    tokio::time::sleep(Duration::from_millis(1_800)).await;

    let outcome = b.redeem_now(&alice, &token.digest, &rules).await;
    assert_eq!(
        outcome,
        redeemed(&token, vec![]),
        "the lockout did not end, or it spent the token"
    );
}

async fn success_resets_the_failure_streak(b: Backend) {
    let alice = user("alice");
    let rules = RedeemRules::new(0, 3, 3, HOUR_MS, 0);
    let t0 = now();
    let tokens: Vec<TokenRecord> = ["314159", "271828", "161803"]
        .iter()
        .map(|secret| b.token(&alice, TokenKind::EmailOtp, secret, t0, HOUR_MS))
        .collect();
    for t in &tokens {
        b.store.insert_token(&alice, t, false, t0).await.unwrap();
    }
    let fail = |n: usize| {
        let b = &b;
        let alice = &alice;
        async move {
            let mut outcomes = Vec::new();
            for _ in 0..n {
                outcomes.push(b.redeem_now(alice, &b.token_digest(alice, "000000"), &rules).await);
            }
            outcomes
        }
    };

    // N-1 failures, a success, N-1 failures: neither burned nor locked.
    assert_eq!(fail(2).await, vec![Redemption::Rejected; 2]);
    let outcome = b.redeem_now(&alice, &tokens[0].digest, &rules).await;
    assert_eq!(outcome, redeemed(&tokens[0], vec![]));
    assert_eq!(fail(2).await, vec![Redemption::Rejected; 2]);
    let outcome = b.redeem_now(&alice, &tokens[1].digest, &rules).await;
    assert_eq!(
        outcome,
        redeemed(&tokens[1], vec![]),
        "the streak was not reset by the success"
    );

    // The streak still counts: three in a row lock the user out.
    assert_eq!(fail(3).await, vec![Redemption::Rejected; 3]);
    assert_eq!(fail(1).await, vec![Redemption::LockedOut]);
}

async fn replace_kind_removes_only_the_same_kind(b: Backend) {
    let alice = user("alice");
    let bob = user("bob");
    let t0 = now();
    let email_a = b.token(&alice, TokenKind::EmailOtp, "100001", t0, HOUR_MS);
    let email_b = b.token(&alice, TokenKind::EmailOtp, "100002", t0, HOUR_MS);
    let phone = b.token(&alice, TokenKind::Phone, "100003", t0, HOUR_MS);
    let bobs_email = b.token(&bob, TokenKind::EmailOtp, "100004", t0, HOUR_MS);
    for t in [&email_a, &email_b, &phone] {
        b.store.insert_token(&alice, t, false, t0).await.unwrap();
    }
    b.store.insert_token(&bob, &bobs_email, false, t0).await.unwrap();
    // Replaces alice's earlier email tokens only.
    let email_c = b.token(&alice, TokenKind::EmailOtp, "100005", t0, HOUR_MS);
    b.store.insert_token(&alice, &email_c, true, t0).await.unwrap();
    // Without replace_kind, earlier tokens of the kind stay.
    let email_d = b.token(&alice, TokenKind::EmailOtp, "100006", t0, HOUR_MS);
    b.store.insert_token(&alice, &email_d, false, t0).await.unwrap();

    let mut outcomes = Vec::new();
    for t in [&email_a, &email_b, &phone, &email_c, &email_d] {
        outcomes.push(b.redeem_now(&alice, &t.digest, &lenient()).await);
    }
    assert_eq!(
        outcomes,
        vec![
            Redemption::Rejected,
            Redemption::Rejected,
            redeemed(&phone, vec![]),
            redeemed(&email_c, vec![]),
            redeemed(&email_d, vec![]),
        ]
    );
    let outcome = b.redeem_now(&bob, &bobs_email.digest, &lenient()).await;
    assert_eq!(outcome, redeemed(&bobs_email, vec![]));
}

async fn remove_token_deletes_it(b: Backend) {
    let alice = user("alice");
    let t0 = now();
    let gone = b.token(&alice, TokenKind::MagicUrl, &high_secret(), t0, HOUR_MS);
    let kept = b.token(&alice, TokenKind::MagicUrl, &high_secret(), t0, HOUR_MS);
    b.store.insert_token(&alice, &gone, false, t0).await.unwrap();
    b.store.insert_token(&alice, &kept, false, t0).await.unwrap();
    b.store.remove_token(&alice, &gone.digest).await.unwrap();
    // Removing what is not there is fine.
    b.store.remove_token(&alice, &gone.digest).await.unwrap();
    b.store.remove_token(&user("nobody"), &gone.digest).await.unwrap();

    let outcome = b.redeem_now(&alice, &gone.digest, &lenient()).await;
    assert_eq!(outcome, Redemption::Rejected);
    let outcome = b.redeem_now(&alice, &kept.digest, &lenient()).await;
    assert_eq!(outcome, redeemed(&kept, vec![]));
}

async fn list_extend_delete(b: Backend) {
    let alice = user("alice");
    let bob = user("bob");
    let base = now();
    let sessions: Vec<SessionRecord> = (0..3).map(|i| b.session(&alice, base + i, HOUR_MS)).collect();
    // Inserted out of order: the list is oldest first regardless.
    for i in [2usize, 0, 1] {
        let evicted = b
            .store
            .insert_session(&alice, &sessions[i], &lenient(), sessions[i].created_ms)
            .await
            .unwrap();
        assert!(evicted.is_empty());
    }
    let bobs = b.session(&bob, base, HOUR_MS);
    b.store.insert_session(&bob, &bobs, &lenient(), base).await.unwrap();

    assert_eq!(b.store.list_sessions(&alice, now()).await.unwrap(), sessions);
    assert_eq!(b.store.list_sessions(&bob, now()).await.unwrap(), vec![bobs.clone()]);
    assert!(b.store.list_sessions(&user("nobody"), now()).await.unwrap().is_empty());

    // Extend: new expiry and `updated`, visible to find and list.
    let at = now() + 5;
    let new_expire = at + 2 * HOUR_MS;
    let extended = b
        .store
        .extend_session(&alice, &sessions[1].id, new_expire, None, YEAR_MS, at)
        .await
        .unwrap();
    let mut expected = sessions[1].clone();
    expected.expire_ms = new_expire;
    expected.updated_ms = at;
    assert_eq!(extended.as_ref(), Some(&expected));
    assert_eq!(
        b.store
            .find_session(&alice, &sessions[1].digest, None, now())
            .await
            .unwrap(),
        Some(expected.clone())
    );
    assert_eq!(b.store.list_sessions(&alice, now()).await.unwrap()[1], expected);
    if let Some(target) = &b.redis {
        let (_, pttl) = b.stored_sessions(&alice).await.expect("redis");
        assert!(
            pttl > HOUR_MS + HOUR_MS / 2,
            "the sessions hash's TTL was not extended: {pttl}"
        );
        let keys = dump_prefix_nodes(&target.urls, &target.prefix).await;
        for k in keys.iter().filter(|k| !k.key.ends_with(":user")) {
            assert!(k.pttl > 0, "{} has no TTL", k.key);
        }
    }
    // Unknown ids, or another user's session, are not extended.
    assert_eq!(
        b.store
            .extend_session(&alice, "0000000000", new_expire, None, YEAR_MS, now())
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        b.store
            .extend_session(&alice, &bobs.id, new_expire, None, YEAR_MS, now())
            .await
            .unwrap(),
        None
    );

    // Delete one.
    assert!(
        !b.store.delete_session(&alice, &bobs.id).await.unwrap(),
        "deleted another user's session"
    );
    assert!(b.store.delete_session(&alice, &sessions[0].id).await.unwrap());
    assert!(!b.store.delete_session(&alice, &sessions[0].id).await.unwrap());
    assert_eq!(
        b.store
            .find_session(&alice, &sessions[0].digest, None, now())
            .await
            .unwrap(),
        None
    );
    let listed = b.listed_ids(&alice).await;
    assert_eq!(listed, vec![sessions[1].id.clone(), sessions[2].id.clone()]);

    // Delete all.
    assert_eq!(b.store.delete_sessions(&alice).await.unwrap(), 2);
    assert_eq!(b.store.delete_sessions(&alice).await.unwrap(), 0);
    for s in &sessions {
        assert_eq!(
            b.store.find_session(&alice, &s.digest, None, now()).await.unwrap(),
            None
        );
    }
    assert!(b.store.list_sessions(&alice, now()).await.unwrap().is_empty());
    // Bob's session is untouched.
    assert_eq!(
        b.store.find_session(&bob, &bobs.digest, None, now()).await.unwrap(),
        Some(bobs)
    );
    if let Some(keys) = b.user_keys(&alice, "").await {
        // Only her identity record stays: a logout does not free the id.
        let names: Vec<&str> = keys.iter().map(|k| k.key.as_str()).collect();
        assert!(
            names.len() == 1 && names[0].ends_with(":user"),
            "alice's keys remain after delete_sessions: {keys:?}"
        );
    }
}

async fn insert_session_enforces_the_limit(b: Backend) {
    let alice = user("alice");
    let limit2 = RedeemRules::new(2, 0, 0, HOUR_MS, 0);
    let base = now();
    let s: Vec<SessionRecord> = (0..3).map(|i| b.session(&alice, base + i, HOUR_MS)).collect();
    assert!(b
        .store
        .insert_session(&alice, &s[0], &limit2, base)
        .await
        .unwrap()
        .is_empty());
    assert!(b
        .store
        .insert_session(&alice, &s[1], &limit2, base + 1)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        b.store.insert_session(&alice, &s[2], &limit2, base + 2).await.unwrap(),
        vec![s[0].id.clone()]
    );
    // A server-created session keeps its origin.
    let found = b.store.find_session(&alice, &s[2].digest, None, now()).await.unwrap();
    assert_eq!(found.as_ref(), Some(&s[2]));
    assert_eq!(found.unwrap().origin, SessionOrigin::Server);
    assert_eq!(
        b.store.find_session(&alice, &s[0].digest, None, now()).await.unwrap(),
        None
    );

    // Over the limit by several: the oldest go, oldest first, in one step.
    let more: Vec<SessionRecord> = (3..6).map(|i| b.session(&alice, base + i, HOUR_MS)).collect();
    for m in &more {
        assert!(b
            .store
            .insert_session(&alice, m, &lenient(), m.created_ms)
            .await
            .unwrap()
            .is_empty());
    }
    // Now s1, s2, m3, m4, m5; a new one under a limit of 3 evicts s1, s2, m3.
    let last = b.session(&alice, base + 6, HOUR_MS);
    let limit3 = RedeemRules::new(3, 0, 0, HOUR_MS, 0);
    let evicted = b.store.insert_session(&alice, &last, &limit3, base + 6).await.unwrap();
    assert_eq!(evicted, vec![s[1].id.clone(), s[2].id.clone(), more[0].id.clone()]);
    let listed = b.listed_ids(&alice).await;
    assert_eq!(listed, vec![more[1].id.clone(), more[2].id.clone(), last.id.clone()]);

    // The same eviction inside a redemption.
    let t = now();
    let token = b.token(&alice, TokenKind::Phone, &high_secret(), t, HOUR_MS);
    b.store.insert_token(&alice, &token, false, t).await.unwrap();
    let via_token = b.session(&alice, base + 7, HOUR_MS);
    let limit1 = RedeemRules::new(1, 0, 0, HOUR_MS, 0);
    let outcome = b
        .store
        .redeem_token(&alice, &token.digest, &via_token, &limit1, None, base + 7)
        .await
        .unwrap();
    assert_eq!(
        outcome,
        redeemed(&token, vec![more[1].id.clone(), more[2].id.clone(), last.id.clone()])
    );
    let listed = b.listed_ids(&alice).await;
    assert_eq!(listed, vec![via_token.id.clone()]);
    if let Some((records, _)) = b.stored_sessions(&alice).await {
        assert_eq!(records.len(), 1, "evicted session records remain: {records:?}");
    }
}

async fn concurrent_redeems_succeed_once(b: Backend) {
    let alice = user("alice");
    let t0 = now();
    let token = b.token(&alice, TokenKind::Custom, &high_secret(), t0, HOUR_MS);
    b.store.insert_token(&alice, &token, false, t0).await.unwrap();
    let rules = RedeemRules::new(0, 5, 100, HOUR_MS, 0);

    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let store = Arc::clone(&b.store);
            let session = b.session(&alice, now(), HOUR_MS);
            let alice = alice.clone();
            let digest = token.digest;
            tokio::spawn(async move {
                let outcome = store
                    .redeem_token(&alice, &digest, &session, &rules, None, session.created_ms)
                    .await
                    .unwrap();
                (outcome, session)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for task in tasks {
        let (outcome, session) = task.await.unwrap();
        match outcome {
            Redemption::Rejected => {}
            other => {
                assert_eq!(other, redeemed(&token, vec![]));
                winners.push(session);
            }
        }
    }
    assert_eq!(winners.len(), 1, "{} concurrent redemptions succeeded", winners.len());
    let listed = b.store.list_sessions(&alice, now()).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, winners[0].id);
}

/// Everything a gate writes through every route of work (custom tokens of
/// every length, email and SMS codes, magic links, exchanges, server
/// sessions, failures from a client), then everything the store holds: no
/// token secret, code, link secret, session credential or its secret half,
/// server secret or API key appears in it, on every store.
async fn the_gate_stores_no_plaintext(b: Backend) {
    let outbox = Outbox::default();
    let server_secret = "store-contract-gate-secret-0123456789abcdef";
    let api_key = "store-contract-api-key-0123456789";
    let gate = Gate::builder()
        .server_secret(server_secret)
        .shared_store(Arc::clone(&b.store))
        .mailer(outbox.clone())
        .sms_sender(outbox.clone())
        .client_chosen_ids(true)
        .build()
        .unwrap();
    let from = ClientInfo::new(Some("198.51.100.9".parse().unwrap()), Some("contract/1".into()));
    let requester = Requester::new(from.ip, false);
    let mut secrets = vec![
        server_secret.to_owned(),
        server_secret.bytes().map(|b| format!("{b:02x}")).collect(),
        api_key.to_owned(),
    ];
    let alice = user("alice");
    let mut custom = Vec::new();
    for length in [6, 12, 16, 64, 128] {
        let token = gate
            .create_token(&alice, TokenOptions::default().length(length))
            .await
            .unwrap();
        custom.push(token.secret.unwrap().expose().to_owned());
    }
    secrets.extend(custom.iter().cloned());
    let email = gate
        .create_email_token("ada", "ada@example.test", true, requester)
        .await
        .unwrap();
    let magic = gate
        .create_magic_url_token("grace", "grace@example.test", None, false, requester)
        .await
        .unwrap();
    let phone = gate.create_phone_token("lin", "+14155550123", requester).await.unwrap();
    let [email, magic, phone] = [email, magic, phone].map(|t| t.secret.unwrap().expose().to_owned());
    secrets.extend([email.clone(), magic.clone(), phone.clone()]);
    assert_eq!(outbox.0.lock().unwrap().len(), 3, "three messages sent");
    // Some redeemed, some left outstanding; a failure from a client.
    let mut credentials = Vec::new();
    for (who, secret) in [
        ("alice", &custom[2]),
        ("alice", &custom[4]),
        ("ada", &email),
        ("grace", &magic),
    ] {
        credentials.push(gate.create_session(&user(who), secret, from.clone()).await.unwrap().1);
    }
    credentials.push(gate.create_server_session(&user("lin"), from.clone()).await.unwrap().1);
    assert!(gate.create_session(&alice, "zzzzzz", from.clone()).await.is_err());
    for credential in &credentials {
        let text = credential.expose().to_owned();
        secrets.push(text.split_once('.').unwrap().1.to_owned());
        secrets.push(text);
    }

    let stored = b.everything_stored().await;
    assert!(
        stored.contains("{u:alice}") || stored.contains("alice"),
        "the dump shows nothing of alice"
    );
    for secret in &secrets {
        assert!(
            !holds_secret(&stored, secret),
            "the store holds a plaintext secret ({} chars)",
            secret.len()
        );
    }
}

/// A mailer and SMS sender that keep what they send.
#[derive(Debug, Default, Clone)]
struct Outbox(Arc<std::sync::Mutex<Vec<String>>>);

#[async_trait::async_trait]
impl Mailer for Outbox {
    async fn send(&self, message: &EmailMessage) -> Result<(), DeliveryError> {
        self.0.lock().unwrap().push(message.body.clone());
        Ok(())
    }
}

#[async_trait::async_trait]
impl SmsSender for Outbox {
    async fn send(&self, message: &SmsMessage) -> Result<(), DeliveryError> {
        self.0.lock().unwrap().push(message.body.clone());
        Ok(())
    }
}

/// Every key but identity expires, and none outlives what it holds (Redis:
/// the memory store has no keys to look at; the plaintext check of every
/// store is `the_gate_stores_no_plaintext`).
async fn keys_expire(b: Backend) {
    let alice = user("alice");
    let mallory = user("mallory");
    let t0 = now();
    let rules = RedeemRules::new(5, 2, 3, HOUR_MS, 0);
    // Alice: outstanding tokens of every kind, two sessions, one failure.
    // (Short secrets use letters beyond hex, so that the plaintext search
    // below cannot match a digest or timestamp by chance.)
    let tokens: Vec<TokenRecord> = [
        (TokenKind::Custom, high_secret()),
        (TokenKind::EmailOtp, "gqwzxk".to_owned()),
        (TokenKind::MagicUrl, high_secret()),
        (TokenKind::Phone, "vrmstz".to_owned()),
    ]
    .into_iter()
    .map(|(kind, secret)| b.token(&alice, kind, &secret, t0, HOUR_MS))
    .collect();
    for t in &tokens {
        b.store.insert_token(&alice, t, false, t0).await.unwrap();
    }
    let outcome = b.redeem_now(&alice, &tokens[0].digest, &rules).await;
    assert_eq!(outcome, redeemed(&tokens[0], vec![]));
    let direct = b.session(&alice, now(), HOUR_MS);
    b.store
        .insert_session(&alice, &direct, &rules, direct.created_ms)
        .await
        .unwrap();
    assert_eq!(
        b.redeem_now(&alice, &b.token_digest(&alice, "not-a-token"), &rules)
            .await,
        Redemption::Rejected
    );
    // Mallory: locked out (failures count while a guessable token is
    // outstanding; the second burns it, so a new one is issued).
    let first_bait = b.token(&mallory, TokenKind::EmailOtp, "zqxwvk", t0, HOUR_MS);
    b.store.insert_token(&mallory, &first_bait, false, t0).await.unwrap();
    for _ in 0..2 {
        b.redeem_now(&mallory, &b.token_digest(&mallory, "guess"), &rules).await;
    }
    let bait = b.token(&mallory, TokenKind::EmailOtp, "wkzqxv", t0, HOUR_MS);
    b.store.insert_token(&mallory, &bait, false, t0).await.unwrap();
    b.redeem_now(&mallory, &b.token_digest(&mallory, "guess"), &rules).await;
    assert_eq!(
        b.redeem_now(&mallory, &bait.digest, &rules).await,
        Redemption::LockedOut
    );

    let Some(keys) = b.keys().await else { return };
    let target = b.redis.as_ref().unwrap();
    // Every kind of key is present, and every key but the users' records
    // (identity, kept until the user is deleted) has a TTL.
    for part in [":t", ":sessions", ":fails", ":lock", ":user"] {
        assert!(keys.iter().any(|k| k.key.ends_with(part)), "no {part} key in {keys:?}");
    }
    assert_eq!(session_records(&keys), 2);
    for k in &keys {
        assert!(k.key.starts_with(&format!("{}:", target.prefix)), "{}", k.key);
        if k.key.ends_with(":user") {
            assert_eq!(k.pttl, -1, "{} expires", k.key);
            continue;
        }
        assert!(k.pttl > 0, "{} has no TTL ({})", k.key, k.pttl);
        assert!(
            k.pttl <= HOUR_MS + 1000,
            "{} lives longer than anything in it ({})",
            k.key,
            k.pttl
        );
    }
}

// The directory contract: identity is not a cache -----------------------------

/// Every id issued a token or a session is known from then on, whatever
/// happens to its tokens and sessions, and nobody can claim it with an address.
async fn issued_ids_are_known_for_good(b: Backend) {
    let (tokened, served) = (user("tokened"), user("served"));
    assert_eq!(b.store.load_user(&tokened).await.unwrap(), None);
    let t0 = now();
    let token = b.token(&tokened, TokenKind::Custom, &high_secret(), t0, HOUR_MS);
    b.store.insert_token(&tokened, &token, false, t0).await.unwrap();
    b.store.remove_token(&tokened, &token.digest).await.unwrap();
    let session = b.session(&served, now(), HOUR_MS);
    b.store
        .insert_session(&served, &session, &lenient(), session.created_ms)
        .await
        .unwrap();
    b.store.delete_sessions(&served).await.unwrap();
    for (who, since) in [(&tokened, t0), (&served, session.created_ms)] {
        let record = b.store.load_user(who).await.unwrap().expect("known for good");
        assert_eq!(record.created_ms, since, "{who}");
        assert_eq!((record.email.as_str(), record.phone.as_str()), ("", ""));
        assert!(!b.store.claim_user(who, "mallory@evil.test", "", now()).await.unwrap());
        assert!(!b.store.claim_user(who, "", "+15005550006", now()).await.unwrap());
        if let Some(keys) = b.user_keys(who, ":user").await {
            assert_eq!(keys.len(), 1, "{keys:?}");
            assert_eq!(keys[0].pttl, -1, "{} expires", keys[0].key);
        }
    }
    // A later token does not move the time the id became known.
    let later = b.token(&tokened, TokenKind::Custom, &high_secret(), t0 + 5, HOUR_MS);
    b.store.insert_token(&tokened, &later, false, t0 + 5).await.unwrap();
    assert_eq!(b.store.load_user(&tokened).await.unwrap().unwrap().created_ms, t0);
    // What identity costs (the README's figure, on a standalone server: a
    // cluster adds its own per-key overhead, and a probe of the wrong node
    // would count as a MOVED): a record without address.
    if let Some(target) = b.redis.as_ref().filter(|t| t.urls.len() == 1) {
        let key = format!("{}:{{u:tokened}}:user", target.prefix);
        let bytes = memory_usage(&target.urls, &key).await.expect("the record");
        assert!(bytes <= 160, "a user record takes {bytes} B");
    }
}

/// A claim binds an unknown id to one address; the same address confirms
/// it, any other is refused. Address bindings: the first link wins, an
/// unlink removes only its own, and none expires.
async fn claims_bind_an_id_to_one_address(b: Backend) {
    let ada = user("ada");
    let t0 = now();
    assert!(b.store.claim_user(&ada, "ada@example.test", "", t0).await.unwrap());
    assert!(b.store.claim_user(&ada, "ada@example.test", "", t0 + 1).await.unwrap());
    assert!(!b.store.claim_user(&ada, "eve@example.test", "", t0 + 2).await.unwrap());
    assert!(!b.store.claim_user(&ada, "", "+15005550006", t0 + 3).await.unwrap());
    let record = b.store.load_user(&ada).await.unwrap().unwrap();
    assert_eq!((record.created_ms, record.email.as_str()), (t0, "ada@example.test"));
    // An id with a live token but no record (kept by an older version) is taken.
    let legacy = user("legacy");
    b.store
        .insert_token(
            &legacy,
            &b.token(&legacy, TokenKind::Custom, &high_secret(), t0, HOUR_MS),
            false,
            t0,
        )
        .await
        .unwrap();
    assert!(!b
        .store
        .claim_user(&legacy, "legacy@example.test", "", t0)
        .await
        .unwrap());

    let address = b.key.digest_value(Purpose::Address, b"email:ada@example.test");
    let eve = user("eve");
    assert_eq!(b.store.find_address(&address).await.unwrap(), None);
    assert_eq!(b.store.link_address(&address, &ada).await.unwrap(), ada);
    assert_eq!(
        b.store.link_address(&address, &eve).await.unwrap(),
        ada,
        "the first link wins"
    );
    b.store.unlink_address(&address, &eve).await.unwrap();
    assert_eq!(b.store.find_address(&address).await.unwrap(), Some(ada.clone()));
    if let Some(keys) = b.keys().await {
        let binding = keys.iter().find(|k| k.key.contains("{a:")).expect("the binding's key");
        assert_eq!(binding.pttl, -1, "a binding expires");
    }
    // What an address costs (the README's figure, standalone: a cluster adds
    // its own per-key overhead): record and binding.
    if let Some(target) = b.redis.as_ref().filter(|t| t.urls.len() == 1) {
        let record = format!("{}:{{u:ada}}:user", target.prefix);
        let binding = format!("{}:{{a:{}}}", target.prefix, address.to_hex());
        let bytes =
            memory_usage(&target.urls, &record).await.unwrap() + memory_usage(&target.urls, &binding).await.unwrap();
        assert!(bytes <= 400, "an email user's record and binding take {bytes} B");
    }
    b.store.unlink_address(&address, &ada).await.unwrap();
    assert_eq!(b.store.find_address(&address).await.unwrap(), None);
}

/// Deleting a user removes its record, tokens, sessions, failure streak
/// and lockout in one step, reports what it had, and frees the id.
async fn delete_user_removes_everything_at_once(b: Backend) {
    let alice = user("alice");
    let t0 = now();
    assert!(b.store.claim_user(&alice, "alice@example.test", "", t0).await.unwrap());
    let otp = b.token(&alice, TokenKind::EmailOtp, "qwzxkv", t0, HOUR_MS);
    let strong = b.token(&alice, TokenKind::MagicUrl, &high_secret(), t0, HOUR_MS);
    b.store.insert_token(&alice, &otp, false, t0).await.unwrap();
    b.store.insert_token(&alice, &strong, false, t0).await.unwrap();
    let (session, outcome) = b.redeem_new_session(&alice, &strong.digest, &lenient()).await;
    assert_eq!(outcome, redeemed(&strong, vec![]));
    let rules = RedeemRules::new(0, 0, 1, HOUR_MS, 0);
    assert_eq!(
        b.redeem_now(&alice, &b.token_digest(&alice, "wrong"), &rules).await,
        Redemption::Rejected
    );
    if let Some(keys) = b.user_keys(&alice, "").await {
        assert_eq!(keys.len(), 4, "record, tokens, sessions, lock: {keys:?}");
    }

    let deleted = b.store.delete_user(&alice, now()).await.unwrap().expect("a known user");
    assert_eq!(deleted.email, "alice@example.test");
    assert_eq!(deleted.phone, "");
    assert_eq!(deleted.sessions, vec![session.id.clone()]);
    assert_eq!(b.store.load_user(&alice).await.unwrap(), None);
    assert_eq!(
        b.store
            .find_session(&alice, &session.digest, None, now())
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        b.redeem_now(&alice, &otp.digest, &lenient()).await,
        Redemption::Rejected
    );
    if let Some(keys) = b.user_keys(&alice, "").await {
        assert!(keys.is_empty(), "left behind: {keys:?}");
    }
    assert_eq!(b.store.delete_user(&alice, now()).await.unwrap(), None);
    assert!(b.store.claim_user(&alice, "new@example.test", "", now()).await.unwrap());
}

/// An extension never moves a session past its creation plus the max age;
/// a session already past it ends.
async fn extension_is_capped_by_the_max_age(b: Backend) {
    let alice = user("alice");
    let t0 = now();
    let session = b.session(&alice, t0, HOUR_MS);
    b.store.insert_session(&alice, &session, &lenient(), t0).await.unwrap();
    let extended = b
        .store
        .extend_session(&alice, &session.id, t0 + 5 * HOUR_MS, None, 2 * HOUR_MS, t0 + 1)
        .await
        .unwrap()
        .expect("a live session");
    assert_eq!(extended.expire_ms, t0 + 2 * HOUR_MS);
    let found = b
        .store
        .find_session(&alice, &session.digest, None, now())
        .await
        .unwrap();
    assert_eq!(found.map(|s| s.expire_ms), Some(t0 + 2 * HOUR_MS));
    let old = b.session(&alice, t0, HOUR_MS);
    b.store.insert_session(&alice, &old, &lenient(), t0).await.unwrap();
    let past_cap = b
        .store
        .extend_session(&alice, &old.id, t0 + HOUR_MS, None, 10, t0 + 100)
        .await
        .unwrap();
    assert_eq!(past_cap, None);
    assert_eq!(
        b.store.find_session(&alice, &old.digest, None, now()).await.unwrap(),
        None
    );
}

/// A client that used up its failures for a user is refused (and changes
/// nothing) while other clients go on.
async fn failures_are_throttled_per_client(b: Backend) {
    let alice = user("alice");
    let rules = RedeemRules::new(0, 0, 0, HOUR_MS, 0).client_failures(3, HOUR_MS);
    let t0 = now();
    let token = b.token(&alice, TokenKind::Custom, &high_secret(), t0, HOUR_MS);
    b.store.insert_token(&alice, &token, false, t0).await.unwrap();
    let redeem = |digest: Digest, client: &'static str| {
        let session = b.session(&alice, now(), HOUR_MS);
        let (store, alice) = (Arc::clone(&b.store), alice.clone());
        async move {
            store
                .redeem_token(&alice, &digest, &session, &rules, Some(client), session.created_ms)
                .await
                .unwrap()
        }
    };
    for _ in 0..3 {
        assert_eq!(
            redeem(b.token_digest(&alice, "wrong"), "client-a").await,
            Redemption::Rejected
        );
    }
    assert_eq!(redeem(token.digest, "client-a").await, Redemption::Throttled);
    assert_eq!(redeem(token.digest, "client-b").await, redeemed(&token, vec![]));
    if let Some(keys) = b.user_keys(&alice, ":cf:client-a").await {
        assert_eq!(keys.len(), 1, "{keys:?}");
        assert!((1..=HOUR_MS).contains(&keys[0].pttl), "window TTL {}", keys[0].pttl);
    }
}
