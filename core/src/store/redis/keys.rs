//! Key names: every key of one user under the hash tag `{u:<userId>}`,
//! addresses under `{a:<digest>}`, rate-limit buckets under `{r:<group>}`.

use super::RedisStore;
use crate::model::UserId;
use crate::secret::Digest;
use redis::{RedisWrite, ToRedisArgs};
use std::io::Write as _;

pub(super) struct UserKeys<'a> {
    pub(super) prefix: &'a str,
    pub(super) user: &'a UserId,
}

impl<'a> UserKeys<'a> {
    pub(super) fn key(&self, suffix: &str) -> String {
        format!("{}:{{u:{}}}:{}", self.prefix, self.user, suffix)
    }
    /// The tokens and what guards them (failure streak, lock, clients'
    /// failures): one hash, read and written in one call each.
    pub(super) fn tokens(&self) -> String {
        self.key("t")
    }
    pub(super) fn sessions(&self) -> SessionsKey<'a> {
        SessionsKey {
            prefix: self.prefix,
            user: self.user,
        }
    }
    pub(super) fn user(&self) -> String {
        self.key("user")
    }
}

/// The user's sessions hash key, written straight into the command: this
/// is on every authenticated request, so it costs no `String` of its own.
pub(super) struct SessionsKey<'a> {
    prefix: &'a str,
    user: &'a UserId,
}

impl SessionsKey<'_> {
    pub(super) fn len(&self) -> usize {
        self.prefix.len() + ":{u:".len() + self.user.as_str().len() + "}:sessions".len()
    }
}

impl ToRedisArgs for SessionsKey<'_> {
    fn write_redis_args<W: ?Sized + RedisWrite>(&self, out: &mut W) {
        let mut arg = out.writer_for_next_arg();
        for part in [self.prefix, ":{u:", self.user.as_str(), "}:sessions"] {
            // Writing into the command's own buffer cannot fail.
            let _ = arg.write_all(part.as_bytes());
        }
    }
}

impl<C> RedisStore<C> {
    pub(super) fn address_key(&self, address: &Digest) -> String {
        format!("{}:{{a:{}}}", self.prefix, address.to_hex())
    }

    /// A rate-limit bucket's counter and gap marker: every bucket of one
    /// group under one hash tag, so that one script counts them all.
    pub(super) fn rate_keys(&self, group: &str, bucket: &str) -> (String, String) {
        let base = format!("{}:{{r:{}}}:{}", self.prefix, group, bucket);
        (format!("{base}:n"), format!("{base}:gap"))
    }
}
