//! [`AesSeal`]: token secrets inside stored events, sealed with
//! AES-256-GCM under HMAC-SHA-256(server secret, `"tokengate events v1"`),
//! a fresh random 96-bit nonce per event (OS CSPRNG), and the event's user
//! and token id as associated data: a dump of the log reveals no usable
//! token, a sealed secret moved to another event does not open, and every
//! service sharing the server secret reads every other's events.

use std::sync::Arc;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use tokengate::events::{codec, Event, SecretSeal};
use tokengate::{Secret, ServerSecret, StoreError};

const KEY_LABEL: &[u8] = b"tokengate events v1";
const NONCE_LEN: usize = 12;

/// The seal keyed from a server secret.
///
/// ```
/// use tokengate::events::SecretSeal;
/// use tokengate::{Secret, ServerSecret};
/// use tokengate_events::AesSeal;
/// let seal = AesSeal::new(&ServerSecret::new([7u8; 32]).unwrap());
/// let sealed = seal.seal(b"alice\0token-1", &Secret::new("493817")).unwrap();
/// assert!(!sealed.contains("493817"));
/// assert_eq!(seal.open(b"alice\0token-1", &sealed).unwrap().expose(), "493817");
/// assert!(seal.open(b"mallory\0token-1", &sealed).is_err());
/// ```
#[derive(Clone)]
pub struct AesSeal {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for AesSeal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AesSeal([redacted])")
    }
}

fn corrupt(what: &str) -> StoreError {
    StoreError::new(format!("stored event: {what}"))
}

impl AesSeal {
    /// The seal of `secret` (every service sharing it opens the others').
    pub fn new(secret: &ServerSecret) -> Self {
        let key = secret.derive_key(KEY_LABEL);
        AesSeal {
            cipher: Aes256Gcm::new_from_slice(&key[..]).expect("a 32-byte key"),
        }
    }
}

impl SecretSeal for AesSeal {
    fn seal(&self, context: &[u8], secret: &Secret) -> Result<String, StoreError> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::TryRng::try_fill_bytes(&mut rand::rngs::SysRng, &mut nonce)
            .map_err(|_| StoreError::new("the operating system's random number generator failed"))?;
        let sealed = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: secret.expose().as_bytes(),
                    aad: context,
                },
            )
            .map_err(|_| StoreError::new("sealing a token secret failed"))?;
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(URL_SAFE_NO_PAD.encode(out))
    }

    fn open(&self, context: &[u8], sealed: &str) -> Result<Secret, StoreError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(sealed)
            .map_err(|_| corrupt("sealed secret is not base64"))?;
        if bytes.len() < NONCE_LEN + 16 {
            return Err(corrupt("sealed secret too short"));
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let plain = zeroize::Zeroizing::new(
            self.cipher
                .decrypt(
                    Nonce::from_slice(nonce),
                    Payload {
                        msg: ciphertext,
                        aad: context,
                    },
                )
                .map_err(|_| corrupt("sealed secret does not open (another server secret?)"))?,
        );
        let text = std::str::from_utf8(&plain).map_err(|_| corrupt("sealed secret is not text"))?;
        Ok(Secret::new(text))
    }
}

/// Encodes and decodes stored events with one seal (the core's
/// [`codec`] does the rest).
#[derive(Debug, Clone)]
pub(crate) struct EventCodec {
    seal: Arc<dyn SecretSeal>,
}

impl EventCodec {
    pub(crate) fn new(secret: &ServerSecret) -> Self {
        EventCodec {
            seal: Arc::new(AesSeal::new(secret)),
        }
    }

    #[cfg(feature = "redis")]
    pub(crate) fn seal(&self) -> Arc<dyn SecretSeal> {
        self.seal.clone()
    }

    pub(crate) fn encode(&self, event: &Event) -> Result<Vec<u8>, StoreError> {
        codec::encode(event, &*self.seal)
    }

    pub(crate) fn decode(&self, bytes: &[u8]) -> Result<Event, StoreError> {
        codec::decode(bytes, &*self.seal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_events::{session_event, token_event};

    fn codec() -> EventCodec {
        EventCodec::new(&ServerSecret::new([7u8; 32]).unwrap())
    }

    #[test]
    fn seals_with_a_fresh_nonce_and_opens_under_its_secret_only() {
        let event = token_event("alice", "493817");
        let bytes = codec().encode(&event).unwrap();
        assert!(!String::from_utf8_lossy(&bytes).contains("493817"));
        assert_ne!(codec().encode(&event).unwrap(), bytes, "a fresh nonce");
        let back = codec().decode(&bytes).unwrap();
        let tokengate::events::EventObject::Token(token) = back.object else {
            panic!("not a token")
        };
        assert_eq!(token.secret.unwrap().expose(), "493817");
        let other = EventCodec::new(&ServerSecret::new([8u8; 32]).unwrap());
        assert!(other.decode(&bytes).is_err());
        // The sealed secret moved to another user's event does not open.
        let text = String::from_utf8(bytes)
            .unwrap()
            .replace("\"u\":\"alice\"", "\"u\":\"mallory\"");
        assert!(codec().decode(text.as_bytes()).is_err());
    }

    #[test]
    fn stored_sizes() {
        let codec = codec();
        let session = codec.encode(&session_event("5f1c2a9be04d7c3e8a61")).unwrap().len();
        let token = codec
            .encode(&token_event("5f1c2a9be04d7c3e8a61", "493817"))
            .unwrap()
            .len();
        let magic = codec
            .encode(&token_event("5f1c2a9be04d7c3e8a61", &"ab".repeat(32)))
            .unwrap()
            .len();
        // The figures quoted in the crate docs and the report.
        assert!((270..=300).contains(&session), "session.create: {session} bytes");
        assert!((200..=230).contains(&token), "token.create (OTP): {token} bytes");
        assert!(magic <= token + 90, "token.create (magic URL): {magic} bytes");
        eprintln!("stored bytes: session.create {session}, token.create OTP {token}, magic URL {magic}");
    }
}
