//! Secret generation (OS CSPRNG), redacted secret types and keyed digests.
//!
//! Secrets exist in plaintext only in memory, inside [`Secret`], which
//! prints as `[redacted]` and zeroizes its buffer on drop. What is stored is
//! a [`Digest`]: HMAC-SHA-256 under the [`ServerSecret`], bound to a purpose
//! and a user, so that a dump of the store reveals no usable secret, not even
//! for 6-digit codes.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::rand_core::UnwrapErr;
use rand::rngs::SysRng;
use rand::{RngExt, TryRng};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use crate::error::Error;

/// Minimum length of the server secret, in bytes.
pub const MIN_SERVER_SECRET_LEN: usize = 32;

/// A plaintext secret (token secret, OTP, session credential, API key).
///
/// `Debug` and `Display` print `[redacted]`; the buffer is zeroized on drop.
/// Read it with [`Secret::expose`], only where it must leave the process.
#[derive(Clone, Eq)]
pub struct Secret(String);

impl Drop for Secret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// Constant-time in the contents (a derived `==` would stop at the first
/// differing byte); lengths may differ observably.
impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(other.0.as_bytes())
    }
}

impl Secret {
    /// Wraps a plaintext value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// A fresh random secret of `len` lowercase hex characters (CSPRNG), e.g.
    /// an API key.
    ///
    /// ```
    /// let key = tokengate::Secret::random_hex(48);
    /// assert_eq!(key.expose().len(), 48);
    /// ```
    pub fn random_hex(len: usize) -> Secret {
        random_hex(len)
    }

    /// `len` uniformly random decimal digits from the OS CSPRNG, as the
    /// email and SMS codes are made.
    ///
    /// ```
    /// let code = tokengate::Secret::random_digits(6);
    /// assert!(code.expose().len() == 6 && code.expose().bytes().all(|b| b.is_ascii_digit()));
    /// ```
    pub fn random_digits(len: usize) -> Secret {
        random_digits(len)
    }

    /// The plaintext. Each call site is a place where the secret leaves.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Constant-time equality with a candidate value.
    pub fn ct_eq(&self, candidate: &[u8]) -> bool {
        self.0.as_bytes().ct_eq(candidate).into()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// The server secret that keys every stored digest.
///
/// At least 32 bytes; all services sharing a store
/// must use the same one. Zeroized on drop, redacted in `Debug`.
#[derive(Clone)]
pub struct ServerSecret {
    key: Vec<u8>,
    // Keyed once: every digest clones it instead of re-deriving the pads.
    mac: Hmac<Sha256>,
}

impl Drop for ServerSecret {
    fn drop(&mut self) {
        self.key.zeroize();
    }
}

impl ServerSecret {
    /// Uses `bytes` as the key; shorter than 32 bytes is a configuration error.
    ///
    /// ```
    /// use tokengate::ServerSecret;
    /// assert!(ServerSecret::new(vec![1u8; 32]).is_ok());
    /// assert!(ServerSecret::new(vec![1u8; 31]).is_err());
    /// ```
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Self, Error> {
        let bytes = bytes.into();
        if bytes.len() < MIN_SERVER_SECRET_LEN {
            let len = bytes.len();
            let mut bytes = bytes;
            bytes.zeroize();
            return Err(Error::config(
                "server_secret",
                format!("server secret must be at least {MIN_SERVER_SECRET_LEN} bytes, got {len}"),
            ));
        }
        Ok(Self::keyed(bytes))
    }

    fn keyed(key: Vec<u8>) -> Self {
        let mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).expect("HMAC accepts keys of any length");
        ServerSecret { key, mac }
    }

    /// Parses a hex string (at least 64 hex characters).
    ///
    /// ```
    /// use tokengate::ServerSecret;
    /// assert!(ServerSecret::from_hex(&"ab".repeat(32)).is_ok());
    /// assert!(ServerSecret::from_hex("abcd").is_err());
    /// ```
    pub fn from_hex(hex_text: &str) -> Result<Self, Error> {
        let bytes = Zeroizing::new(
            hex::decode(hex_text.trim())
                .map_err(|_| Error::config("server_secret", "server secret must be hex".to_owned()))?,
        );
        Self::new(bytes.to_vec())
    }

    /// A fresh random secret (for development: sessions do not survive a
    /// restart and cannot be shared with other services).
    pub fn random() -> Self {
        Self::keyed(random_bytes::<32>().to_vec())
    }

    /// The keyed digest of `secret` for `purpose`, bound to `user` (a
    /// [`UserId`](crate::UserId) or its text).
    pub(crate) fn digest(&self, purpose: Purpose, user: &(impl AsRef<str> + ?Sized), secret: &[u8]) -> Digest {
        self.mac(purpose, user.as_ref().as_bytes(), secret)
    }

    /// The keyed digest of a value that belongs to no user (an address, a
    /// client IP).
    pub(crate) fn digest_value(&self, purpose: Purpose, value: &[u8]) -> Digest {
        self.mac(purpose, b"", value)
    }

    /// The digest a store keeps of `user`'s token `secret` (what a store of
    /// your own receives, and its tests compute).
    ///
    /// ```
    /// use tokengate::{ServerSecret, UserId};
    /// let key = ServerSecret::new([7u8; 32]).unwrap();
    /// let alice = UserId::parse("alice").unwrap();
    /// assert_eq!(key.token_digest(&alice, b"493817"), key.token_digest(&alice, b"493817"));
    /// assert_ne!(key.token_digest(&alice, b"493817"), key.session_digest(&alice, b"493817"));
    /// ```
    pub fn token_digest(&self, user: &(impl AsRef<str> + ?Sized), secret: &[u8]) -> Digest {
        self.digest(Purpose::Token, user, secret)
    }

    /// The digest a store keeps of the secret of `user`'s session credential.
    pub fn session_digest(&self, user: &(impl AsRef<str> + ?Sized), secret: &[u8]) -> Digest {
        self.digest(Purpose::Session, user, secret)
    }

    /// The digest an address binding is kept under: of `email:<address>` or
    /// `phone:<number>`, normalised.
    pub fn address_digest(&self, address: &[u8]) -> Digest {
        self.digest_value(Purpose::Address, address)
    }

    /// A 256-bit key for `label` (e.g. `b"tokengate events v1"`):
    /// HMAC-SHA-256(server secret, label). Labels contain no NUL byte and
    /// every digest input contains two, so no derived key equals a digest.
    pub fn derive_key(&self, label: &[u8]) -> Zeroizing<[u8; 32]> {
        debug_assert!(!label.contains(&0));
        let mut mac = self.mac.clone();
        mac.update(label);
        Zeroizing::new(mac.finalize().into_bytes().into())
    }

    fn mac(&self, purpose: Purpose, user: &[u8], value: &[u8]) -> Digest {
        // Purpose and user are NUL-delimited and neither can contain NUL, so
        // no two inputs collide.
        let mut mac = self.mac.clone();
        mac.update(purpose.label());
        mac.update(&[0]);
        mac.update(user);
        mac.update(&[0]);
        mac.update(value);
        Digest(mac.finalize().into_bytes().into())
    }
}

impl fmt::Debug for ServerSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ServerSecret([redacted])")
    }
}

/// What a digest is for; digests of different purposes never coincide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub(crate) enum Purpose {
    /// A login token's secret.
    Token,
    /// A session credential's secret.
    Session,
    /// An email address or phone number in the directory.
    Address,
    /// A rate-limit bucket key (client IPs are not stored in the clear).
    RateLimit,
}

impl Purpose {
    fn label(self) -> &'static [u8] {
        match self {
            Purpose::Token => b"tokengate/token/v1",
            Purpose::Session => b"tokengate/session/v1",
            Purpose::Address => b"tokengate/address/v1",
            Purpose::RateLimit => b"tokengate/rate/v1",
        }
    }
}

/// A keyed digest (HMAC-SHA-256) of a secret. Equality is constant-time.
#[derive(Clone, Copy, Eq)]
pub struct Digest([u8; 32]);

impl Digest {
    /// Lowercase hex, as used in store keys.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses the hex form written by [`Digest::to_hex`].
    pub fn from_hex(text: &str) -> Option<Self> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(text, &mut out).ok()?;
        Some(Digest(out))
    }

    /// Unpadded base64url (43 characters): the shorter form, used where
    /// every stored byte counts (session fields in Redis).
    ///
    /// ```
    /// use tokengate::{Digest, ServerSecret};
    ///
    /// let key = ServerSecret::new([7u8; 32]).unwrap();
    /// let digest = key.session_digest("alice", b"secret");
    /// let text = digest.to_base64();
    /// assert_eq!(text.len(), 43);
    /// assert_eq!(Digest::from_base64(&text), Some(digest));
    /// ```
    pub fn to_base64(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0)
    }

    /// [`Digest::to_base64`] on the stack, for a hot path.
    pub fn base64_bytes(&self) -> [u8; 43] {
        let mut out = [0u8; 43];
        let written = URL_SAFE_NO_PAD.encode_slice(self.0, &mut out);
        debug_assert_eq!(written.ok(), Some(43));
        out
    }

    /// Parses the form written by [`Digest::to_base64`].
    pub fn from_base64(text: &str) -> Option<Self> {
        let mut out = [0u8; 32];
        match URL_SAFE_NO_PAD.decode_slice(text, &mut out) {
            Ok(32) => Some(Digest(out)),
            _ => None,
        }
    }
}

// Equal digests have equal bytes, so hashing the bytes agrees with `eq`.
impl std::hash::Hash for Digest {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl PartialEq for Digest {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A digest is not a secret, but a prefix is all anyone needs to see.
        write!(f, "Digest({}…)", &self.to_hex()[..8])
    }
}

/// `N` bytes from the operating system's CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    fill_random(&mut out);
    out
}

/// `len` lowercase hex characters of CSPRNG output (4 bits each).
pub fn random_hex(len: usize) -> Secret {
    // One read from the OS for the whole secret (not one per character).
    let mut bytes = Zeroizing::new(vec![0u8; len.div_ceil(2)]);
    fill_random(&mut bytes);
    let mut text = hex::encode(&*bytes);
    text.truncate(len);
    Secret(text)
}

/// `len` decimal digits, each uniform (rejection sampling, no modulo bias).
pub fn random_digits(len: usize) -> Secret {
    let mut text = String::with_capacity(len);
    // Bytes from 250 up are dropped so that `% 10` is uniform; a batch of
    // `len + 8` bytes almost always suffices, so this is one OS read.
    let mut batch = Zeroizing::new(vec![0u8; len + 8]);
    while text.len() < len {
        fill_random(&mut batch);
        for &byte in batch.iter().filter(|&&b| b < 250) {
            if text.len() == len {
                break;
            }
            text.push(char::from(b'0' + byte % 10));
        }
    }
    Secret(text)
}

fn fill_random(out: &mut [u8]) {
    SysRng
        .try_fill_bytes(out)
        .expect("the operating system's random number generator failed");
}

/// A random identifier: 20 lowercase hex characters (80 bits), like Appwrite's.
pub fn random_id() -> String {
    hex::encode(random_bytes::<10>())
}

/// Picks one element uniformly with the CSPRNG.
pub fn random_choice<T>(items: &[T]) -> &T {
    let mut rng = UnwrapErr(SysRng);
    &items[rng.random_range(0..items.len())]
}

/// Constant-time comparison of two byte strings (length may leak, content not).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted() {
        let s = Secret::new("123456");
        assert_eq!(format!("{s:?}"), "Secret([redacted])");
        assert_eq!(format!("{s}"), "[redacted]");
        let k = ServerSecret::new(vec![9u8; 32]).unwrap();
        assert!(!format!("{k:?}").contains('9'));
    }

    #[test]
    fn alphabets_and_lengths() {
        for len in [4, 6, 64, 128] {
            let h = random_hex(len);
            assert_eq!(h.expose().len(), len);
            assert!(h
                .expose()
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        }
        let d = random_digits(6);
        assert_eq!(d.expose().len(), 6);
        assert!(d.expose().bytes().all(|b| b.is_ascii_digit()));
        let id = random_id();
        assert_eq!(id.len(), 20);
    }

    #[test]
    fn digests_depend_on_purpose_user_and_key() {
        let k1 = ServerSecret::new(vec![1u8; 32]).unwrap();
        let k2 = ServerSecret::new(vec![2u8; 32]).unwrap();
        let (a, b) = ("alice", "bob");
        let base = k1.digest(Purpose::Token, &a, b"123456");
        assert_eq!(base, k1.digest(Purpose::Token, &a, b"123456"));
        assert_ne!(base, k1.digest(Purpose::Session, &a, b"123456"));
        assert_ne!(base, k1.digest(Purpose::Token, &b, b"123456"));
        assert_ne!(base, k2.digest(Purpose::Token, &a, b"123456"));
        assert_eq!(Digest::from_hex(&base.to_hex()), Some(base));
    }
}
