//! # tokengate-testing
//!
//! The behaviour tokengate relies on from a store and from an event log,
//! written once and run against every implementation (actix-session's
//! acceptance suite is the model): `MemoryStore` and `RedisStore`
//! (standalone, TLS, cluster) pass the [`store_contract`], `MemoryEventLog`
//! and `RedisEventLog` the [`event_log_contract`], in tokengate's own
//! tests; a store or log written elsewhere runs them the same way. Also a
//! tiny MaxMind DB writer ([`mmdb`]) for GeoIP tests, and the random
//! helpers the cases use.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod event_log_contract;
pub mod mmdb;
pub mod store_contract;

/// `N` random bytes from the OS CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    rand::TryRng::try_fill_bytes(&mut rand::rngs::SysRng, &mut bytes).expect("the OS random number generator");
    bytes
}

/// `len` random lowercase hex characters.
pub fn random_hex(len: usize) -> String {
    let mut bytes = vec![0u8; len.div_ceil(2)];
    rand::TryRng::try_fill_bytes(&mut rand::rngs::SysRng, &mut bytes).expect("the OS random number generator");
    let mut text = hex::encode(bytes);
    text.truncate(len);
    text
}

/// A random 20-hex id, as tokengate gives tokens and sessions.
pub fn random_id() -> String {
    random_hex(20)
}

/// Whether `a` and `b` are equal, compared in constant time.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    subtle::ConstantTimeEq::ct_eq(a, b).into()
}
