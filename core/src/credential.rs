//! The opaque session credential a client holds: `<userId>.<secret>`.
//!
//! The user id is in the clear so that the lookup lands in the user's hash
//! slot (one round trip, also on a cluster); the secret is 256 CSPRNG bits,
//! base64url without padding (43 characters). Only its keyed digest is
//! stored. The whole credential is cookie- and header-safe.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use zeroize::Zeroize;

use crate::model::UserId;
use crate::secret::{random_bytes, Secret};

const SECRET_TEXT_LEN: usize = 43;

/// A decoded session credential. `Debug` shows the user, never the secret.
#[derive(Clone)]
pub struct SessionCredential {
    user: UserId,
    secret: [u8; 32],
}

impl Drop for SessionCredential {
    fn drop(&mut self) {
        self.secret.zeroize();
    }
}

impl SessionCredential {
    /// A fresh credential for `user`.
    pub fn generate(user: UserId) -> Self {
        SessionCredential {
            user,
            secret: random_bytes::<32>(),
        }
    }

    /// Decodes a credential; `None` for anything malformed (never panics).
    pub fn decode(text: &str) -> Option<Self> {
        let (user, secret_text) = text.rsplit_once('.')?;
        if secret_text.len() != SECRET_TEXT_LEN {
            return None;
        }
        let user = UserId::checked(user)?;
        let mut secret = [0u8; 32];
        // One spelling per credential: the engine refuses padding and set
        // unused bits in the last character (`decode_allow_trailing_bits`
        // is off by default), which the tests below check.
        let written = URL_SAFE_NO_PAD.decode_slice(secret_text, &mut secret).ok()?;
        if written != 32 {
            secret.zeroize();
            return None;
        }
        Some(SessionCredential { user, secret })
    }

    /// The text form, to hand to the client (cookie, header, body).
    pub fn encode(&self) -> Secret {
        let mut encoded = URL_SAFE_NO_PAD.encode(self.secret);
        let text = format!("{}.{}", self.user, encoded);
        encoded.zeroize();
        Secret::new(text)
    }

    /// Whose session this credential claims.
    pub fn user(&self) -> &UserId {
        &self.user
    }

    /// Moves the user id out (the credential is about to be dropped; its
    /// secret is zeroized then as always).
    pub(crate) fn take_user(&mut self) -> UserId {
        std::mem::replace(&mut self.user, UserId::vacant())
    }

    /// The secret bytes (to digest).
    pub(crate) fn secret_bytes(&self) -> &[u8; 32] {
        &self.secret
    }
}

impl fmt::Debug for SessionCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionCredential")
            .field("user", &self.user)
            .field("secret", &"[redacted]")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_garbage() {
        let cred = SessionCredential::generate(UserId::parse("a.b").unwrap());
        let text = cred.encode();
        let back = SessionCredential::decode(text.expose()).unwrap();
        assert_eq!(back.user().as_str(), "a.b");
        assert_eq!(back.secret_bytes(), cred.secret_bytes());
        assert!(!format!("{cred:?}").contains(&text.expose()[4..]));
        for bad in [
            "",
            ".",
            "a.",
            ".abc",
            "nodot",
            "a.b.c",
            "_x.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ] {
            assert!(SessionCredential::decode(bad).is_none(), "{bad}");
        }
        // The last base64 character carries 2 unused bits: a variant with
        // them set decodes to the same bytes and must be refused.
        let (user_part, secret_part) = text.expose().rsplit_once('.').unwrap();
        let last = secret_part.chars().last().unwrap();
        let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let index = alphabet.find(last).unwrap();
        let variant = alphabet.chars().nth((index & !0b11) | ((index + 1) & 0b11)).unwrap();
        let forged = format!("{user_part}.{}{variant}", &secret_part[..secret_part.len() - 1]);
        assert!(
            SessionCredential::decode(&forged).is_none(),
            "non-canonical spelling accepted"
        );
        let mut truncated = text.expose().to_owned();
        truncated.pop();
        assert!(SessionCredential::decode(&truncated).is_none());
    }
}
