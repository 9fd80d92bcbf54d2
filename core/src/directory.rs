//! Email and phone to user id, as Appwrite does it: an unknown address
//! creates the user with the requested id; a known address issues for its
//! owner whatever id was requested.
//!
//! [`Directory`] is the seam for an application's own user table; the default,
//! [`StoreDirectory`], keeps users in the same store as tokens and sessions,
//! addresses only as keyed digests, every entry expiring a year after its
//! last use.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::error::Error;
use crate::model::UserId;
use crate::secret::{Purpose, ServerSecret};
use crate::store::Store;
use crate::time::{from_ms, now_ms};

/// A user as the directory knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct User {
    /// The id.
    pub id: UserId,
    /// When the directory first saw the user.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Normalised email, or empty.
    pub email: String,
    /// E.164 phone, or empty.
    pub phone: String,
    /// Proved by an email OTP or magic URL login.
    pub email_verification: bool,
    /// Proved by a phone OTP login.
    pub phone_verification: bool,
}

/// An address a token is delivered to (already normalised).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Address<'a> {
    /// A normalised email address.
    Email(&'a str),
    /// An E.164 phone number.
    Phone(&'a str),
}

/// Maps addresses to users.
#[async_trait]
pub trait Directory: Send + Sync + fmt::Debug + 'static {
    /// The owner of `address`; when unknown, creates `requested` with it.
    /// [`Error::UserAlreadyExists`] when `requested` is someone else.
    async fn resolve(&self, address: Address<'_>, requested: &UserId) -> Result<UserId, Error>;

    /// The user, if the directory knows it.
    async fn get(&self, user: &UserId) -> Result<Option<User>, Error>;

    /// Records that a login through `address`'s channel proved it.
    async fn mark_verified(&self, user: &UserId, email: bool, phone: bool) -> Result<(), Error>;
}

/// The default directory, in the token store.
#[derive(Debug, Clone)]
pub struct StoreDirectory {
    store: Arc<dyn Store>,
    secret: ServerSecret,
    ttl: Duration,
}

/// How long an unused directory entry lives.
pub const DIRECTORY_TTL: Duration = Duration::from_secs(365 * 24 * 3600);

impl StoreDirectory {
    /// A directory in `store`, keying address digests with `secret`.
    pub fn new(store: Arc<dyn Store>, secret: ServerSecret) -> Self {
        StoreDirectory {
            store,
            secret,
            ttl: DIRECTORY_TTL,
        }
    }
}

#[async_trait]
impl Directory for StoreDirectory {
    async fn resolve(&self, address: Address<'_>, requested: &UserId) -> Result<UserId, Error> {
        let (label, value, email, phone) = match address {
            Address::Email(email) => ("email:", email, email, ""),
            Address::Phone(phone) => ("phone:", phone, "", phone),
        };
        let digest = self
            .secret
            .digest_value(Purpose::Address, format!("{label}{value}").as_bytes());
        let ttl = self.ttl.as_millis() as i64;
        if let Some(owner) = self.store.find_address(&digest, ttl).await? {
            return Ok(owner);
        }
        if !self.store.claim_user(requested, email, phone, now_ms(), ttl).await? {
            return Err(Error::UserAlreadyExists);
        }
        Ok(self.store.link_address(&digest, requested, ttl).await?)
    }

    async fn get(&self, user: &UserId) -> Result<Option<User>, Error> {
        Ok(self.store.load_user(user).await?.map(|record| User {
            id: user.clone(),
            created_at: from_ms(record.created_ms),
            updated_at: from_ms(record.updated_ms),
            email: record.email,
            phone: record.phone,
            email_verification: record.email_verified,
            phone_verification: record.phone_verified,
        }))
    }

    async fn mark_verified(&self, user: &UserId, email: bool, phone: bool) -> Result<(), Error> {
        Ok(self.store.mark_verified(user, email, phone, now_ms()).await?)
    }
}
