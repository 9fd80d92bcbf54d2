//! The store contract: every behaviour the [`Gate`] relies on
//! from a [`Store`], written once, run against every implementation
//! (actix-session's acceptance suite is the model). `MemoryStore` and
//! `RedisStore` (standalone, TLS, cluster) pass it in this project's tests;
//! a store written elsewhere runs it the same way:
//!
//! ```no_run
//! use tokengate::store::MemoryStore;
//! use tokengate_testing::store_contract::{run_all, Backend};
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! // A fresh, empty store per case.
//! run_all(|| async { Backend::new(std::sync::Arc::new(MemoryStore::new())) }).await;
//! # });
//! ```
//!
//! or, one test per case, with [`store_contract_tests!`](crate::store_contract_tests)
//! (needs `tokio` with `macros` and `rt-multi-thread` in the tests'
//! dependencies). A case panics with what broke. Where a store can show its
//! keys ([`Inspector`]), cases also check what lies there: a TTL on every
//! key but identity, the size of a user record.

mod directory;
mod hygiene;
mod provisional;
mod redemption;
mod sessions;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

pub use directory::*;
pub use hygiene::*;
pub use provisional::*;
pub use redemption::*;
pub use sessions::*;

use crate::random_id;
use tokengate::delivery::{DeliveryError, Mailer, Message, SmsSender};
use tokengate::policy::Policy;
use tokengate::store::{MemoryStore, RateBucket, Redemption, SessionRecord, Store, TokenRecord, PROVISIONAL_GRACE};
use tokengate::{ClientInfo, Digest, Gate, ServerSecret, SessionOrigin, TokenKind, TokenOptions, UserId};

const HOUR_MS: i64 = 3_600_000;
const YEAR_MS: i64 = 365 * 24 * HOUR_MS;

/// One stored key as an [`Inspector`] shows it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StoredKey {
    /// The key.
    pub key: String,
    /// Remaining life in ms (-1: no expiry, -2: gone meanwhile).
    pub pttl: i64,
    /// Strings: the value; hashes: fields and values; other types: members.
    pub contents: Vec<Vec<u8>>,
}

impl StoredKey {
    /// A key as shown.
    pub fn new(key: String, pttl: i64, contents: Vec<Vec<u8>>) -> Self {
        StoredKey { key, pttl, contents }
    }

    /// A hash's field, as text.
    pub fn field(&self, name: &str) -> Option<String> {
        self.contents
            .chunks(2)
            .find(|pair| pair[0] == name.as_bytes())
            .and_then(|pair| pair.get(1))
            .map(|value| String::from_utf8_lossy(value).into_owned())
    }

    /// The key and its contents, lossily as text, for searching.
    pub fn text(&self) -> String {
        let mut out = self.key.clone();
        for part in &self.contents {
            out.push('\n');
            out.push_str(&String::from_utf8_lossy(part));
        }
        out
    }
}

/// What a store can show of itself beyond its trait: its keys. Redis
/// stores in this project's tests implement it with `SCAN`; a store
/// without one still runs every case, without the key checks.
#[async_trait]
pub trait Inspector: Send + Sync {
    /// The key prefix the store under test writes under.
    fn prefix(&self) -> &str;
    /// Every key under the prefix, sorted by name.
    async fn keys(&self) -> Vec<StoredKey>;
    /// `MEMORY USAGE` of `key`, asked of the server that holds it; `None`
    /// only when that server does not answer (the case then fails).
    async fn memory_usage(&self, key: &str) -> Option<i64>;
}

/// A store under test and what the cases need around it.
pub struct Backend {
    store: Arc<dyn Store>,
    inspector: Option<Arc<dyn Inspector>>,
    memory: Option<MemoryStore>,
    key: ServerSecret,
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backend")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

impl Backend {
    /// `store`, empty and used by this case alone.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Backend {
            store,
            inspector: None,
            memory: None,
            key: ServerSecret::new(b"store-contract-server-secret-0123456789".to_vec()).expect("32+ bytes"),
        }
    }

    /// A fresh [`MemoryStore`], whose state the plaintext check reads too.
    pub fn memory() -> Self {
        let memory = MemoryStore::new();
        let mut backend = Self::new(Arc::new(memory.clone()));
        backend.memory = Some(memory);
        backend
    }

    /// The same backend, its keys shown by `inspector`.
    pub fn inspected_by(mut self, inspector: impl Inspector + 'static) -> Self {
        self.inspector = Some(Arc::new(inspector));
        self
    }

    /// The store under test.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Everything the store holds, as text: the inspected keys with their
    /// contents, or the memory store's state. `None` for a store that shows
    /// neither (its plaintext check then covers what the gate hands it only
    /// through the store's own `Debug`).
    async fn everything_stored(&self) -> String {
        match (&self.memory, self.keys().await) {
            (Some(memory), _) => memory.dump(),
            (None, Some(keys)) => keys.iter().map(StoredKey::text).collect::<Vec<_>>().join("\n"),
            (None, None) => format!("{:?}", self.store),
        }
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
    async fn redeem_new_session(&self, user: &UserId, token: &Digest, rules: &Policy) -> (SessionRecord, Redemption) {
        let session = self.session(user, now(), HOUR_MS);
        let outcome = self
            .store
            .redeem_token(user, token, &session, rules, None, session.created_ms)
            .await
            .unwrap();
        (session, outcome)
    }

    /// [`Backend::redeem_new_session`], for the outcome alone.
    async fn redeem_now(&self, user: &UserId, token: &Digest, rules: &Policy) -> Redemption {
        self.redeem_new_session(user, token, rules).await.1
    }

    fn token_digest(&self, user: &UserId, secret: &str) -> Digest {
        self.key.token_digest(user, secret.as_bytes())
    }

    /// A new session record created at `now`, living `ttl_ms`.
    fn session(&self, user: &UserId, now: i64, ttl_ms: i64) -> SessionRecord {
        let secret = format!("session-credential-{}", random_id());
        SessionRecord::new(
            random_id(),
            self.key.session_digest(user, secret.as_bytes()),
            now,
            now + ttl_ms,
            SessionOrigin::Server,
            "203.0.113.7".to_owned(),
            "contract-suite/1.0".to_owned(),
        )
    }

    /// The keys under the prefix, where an inspector shows them.
    /// Inspected stores only: the keys under the prefix, but the layout
    /// marker (`<prefix>:layout`: not data, and without a TTL by design).
    async fn keys(&self) -> Option<Vec<StoredKey>> {
        let inspector = self.inspector.as_ref()?;
        let marker = format!("{}:layout", self.prefix().unwrap_or_default());
        Some(inspector.keys().await.into_iter().filter(|k| k.key != marker).collect())
    }

    fn prefix(&self) -> Option<&str> {
        self.inspector.as_ref().map(|i| i.prefix())
    }

    async fn memory_usage(&self, key: &str) -> Option<i64> {
        self.inspector.as_ref()?.memory_usage(key).await
    }

    /// The ids of `user`'s live sessions, in the store's order.
    async fn listed_ids(&self, user: &UserId) -> Vec<String> {
        let sessions = self.store.list_sessions(user, now()).await.unwrap();
        sessions.into_iter().map(|s| s.id).collect()
    }

    /// Inspected stores only: the keys of `user` whose name ends with `suffix`.
    async fn user_keys(&self, user: &UserId, suffix: &str) -> Option<Vec<StoredKey>> {
        let tag = format!("{{u:{user}}}");
        self.keys().await.map(|keys| {
            keys.into_iter()
                .filter(|k| k.key.contains(&tag) && k.key.ends_with(suffix))
                .collect()
        })
    }

    /// Inspected stores only: the session records stored for `user` (the
    /// values of the user's sessions hash), and that hash's PTTL.
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

/// Whether `secret` occurs in `text` as a whole word (not inside a longer
/// run of letters, digits, `_` or `-`): a 6-digit code inside a timestamp
/// is no leak.
pub fn holds_secret(text: &str, secret: &str) -> bool {
    let word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    text.match_indices(secret).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + secret.len()..].chars().next();
        !word(before) && !word(after)
    })
}

/// How many session records the users' `:sessions` hashes among `keys` hold.
pub fn session_records(keys: &[StoredKey]) -> usize {
    keys.iter()
        .filter(|k| k.key.ends_with(":sessions"))
        .map(|k| k.contents.len() / 2)
        .sum()
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

/// A policy with the rules a redemption enforces: session limit (0 =
/// none), burn and lockout failure counts (0 = never), lockout length and
/// idle timeout (0 = none) in ms; no per-client failure limit.
pub fn redeem_policy(max_sessions: u32, burn_after: u32, lockout_after: u32, lockout_ms: i64, idle_ms: i64) -> Policy {
    let mut policy = Policy::default();
    policy.max_sessions = max_sessions;
    policy.burn_after_failures = burn_after;
    policy.lockout_after_failures = lockout_after;
    policy.lockout_duration = Duration::from_millis(lockout_ms as u64);
    policy.idle_timeout = (idle_ms > 0).then(|| Duration::from_millis(idle_ms as u64));
    policy.client_failures = 0;
    policy
}

/// `policy` with a per-client failure limit.
pub fn with_client_failures(mut policy: Policy, failures: u32, window_ms: i64) -> Policy {
    policy.client_failures = failures;
    policy.client_failure_window = Duration::from_millis(window_ms as u64);
    policy
}

/// Rules without limits, burning or lockout.
fn lenient() -> Policy {
    redeem_policy(0, 0, 0, HOUR_MS, 0)
}

fn high_secret() -> String {
    format!("{}{}", random_id(), random_id())
}

/// The ids of `records`, in order.
fn ids(records: &[SessionRecord]) -> Vec<String> {
    records.iter().map(|r| r.id.clone()).collect()
}

fn redeemed(token: &TokenRecord, evicted: Vec<SessionRecord>) -> Redemption {
    Redemption::Redeemed {
        token_id: token.id.clone(),
        kind: token.kind,
        evicted,
        kept: false,
    }
}

macro_rules! cases {
    ($($case:ident),* $(,)?) => {
        /// Every case, by name, in the order [`run_all`] runs them (and
        /// [`store_contract_tests!`](crate::store_contract_tests) lists them).
        pub const CASES: &[&str] = &[$(stringify!($case)),*];

        /// Runs every case, each on a fresh backend from `make`; panics at
        /// the first that fails, naming it.
        pub async fn run_all<F, Fut>(make: F)
        where
            F: Fn() -> Fut,
            Fut: Future<Output = Backend>,
        {
            $(
                let backend = make().await;
                let case = tokio::spawn($case(backend));
                if let Err(error) = case.await {
                    panic!("store contract case `{}` failed: {error}", stringify!($case));
                }
            )*
        }
    };
}

cases!(
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
    anonymous_users_are_provisional_until_they_sign_in,
    rate_limits_count_all_or_nothing,
);

/// One `#[tokio::test]` per case of the store contract, in the module it
/// is called in: `store_contract_tests!(make)` where `make` is an async
/// closure (or function) returning a fresh [`Backend`]; optionally
/// `store_contract_tests!(make, then check)`, an async closure run after
/// each case (e.g. to assert that a cluster saw no cross-slot command).
///
/// ```no_run
/// mod my_store {
///     // Your store here: `Backend::new(Arc::new(MyStore::new()))`.
///     tokengate_testing::store_contract_tests!(|| async {
///         tokengate_testing::store_contract::Backend::new(std::sync::Arc::new(tokengate::store::MemoryStore::new()))
///     });
/// }
/// ```
#[macro_export]
macro_rules! store_contract_tests {
    ($make:expr) => {
        $crate::store_contract_tests!(@list ($make) (|| async {}));
    };
    ($make:expr, then $after:expr) => {
        $crate::store_contract_tests!(@list ($make) ($after));
    };
    (@list ($make:expr) ($after:expr)) => {
        $crate::store_contract_tests!(@each ($make) ($after)
            redeem_creates_the_session second_redeem_is_rejected wrong_digest_is_rejected
            expired_token_is_rejected session_expires
            an_ended_session_next_to_a_live_one_is_refused_and_pruned
            idle_timeout_expires_and_find_refreshes session_limit_evicts_the_oldest
            low_entropy_tokens_burn_after_failures lockout_after_failures
            success_resets_the_failure_streak replace_kind_removes_only_the_same_kind
            remove_token_deletes_it list_extend_delete insert_session_enforces_the_limit
            concurrent_redeems_succeed_once keys_expire issued_ids_are_known_for_good
            claims_bind_an_id_to_one_address delete_user_removes_everything_at_once
            extension_is_capped_by_the_max_age failures_are_throttled_per_client
            the_gate_stores_no_plaintext anonymous_users_are_provisional_until_they_sign_in
            rate_limits_count_all_or_nothing
        );
    };
    (@each ($make:expr) ($after:expr) $($case:ident)*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                $crate::store_contract::$case(($make)().await).await;
                ($after)().await;
            }
        )*

        #[test]
        fn every_contract_case_is_listed() {
            assert_eq!(&[$(stringify!($case)),*][..], $crate::store_contract::CASES);
        }
    };
}
