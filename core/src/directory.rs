//! Email and phone to user id, as Appwrite does it: an unknown address
//! creates the user with the requested id; a known address issues for its
//! owner whatever id was requested.
//!
//! [`Directory`] is the seam for an application's own user table; the default,
//! keeps users in the same store as tokens and sessions,
//! address bindings as keyed digests. Identity is not a cache: a user id,
//! once issued a token or a session, stays known until the user is deleted,
//! so that nobody can later claim it with another address.

use std::fmt;
use std::sync::Arc;

use crate::error::Error;
use crate::model::{User, UserId};
use crate::secret::{Purpose, ServerSecret};
use crate::store::{Store, UserRecord};
use crate::time::now_ms;
use async_trait::async_trait;

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
///
/// The contract every implementation keeps (the store contract suite checks
/// it for the default directory on every store):
///
/// - A user id is *known* from the moment it is issued a token or a session
///   (by any route or the in-process API: the [`Gate`](crate::Gate) calls
///   [`Directory::remember`] first) until [`Directory::delete`]; nothing
///   expires with inactivity. The one exception is a user that an
///   anonymous flow made for a new address ([`Directory::bind`] with a
///   deadline): it and its binding disappear at the deadline unless it
///   signs in first ([`Directory::keep`]), so that requests nobody follows
///   up leave nothing behind. Such an id never had a session, and the
///   anonymous flows only make generated ids, so nobody is locked out or
///   let in by its disappearing.
/// - [`Directory::bind`] honours a caller-chosen id only when that id is
///   unknown, or already bound to the same normalised address; otherwise it
///   answers [`Error::UserAlreadyExists`] and changes nothing. When the
///   caller may not create users (`allow_new` false: an anonymous caller
///   naming an id of its own choice under the default policy) an unknown
///   address is refused and nothing is created.
/// - After [`Directory::delete`] the id and its addresses are free again.
///
/// Open for implementations of your own: a method added in a later version
/// comes with a default, so an implementation keeps compiling.
#[async_trait]
pub trait Directory: Send + Sync + fmt::Debug + 'static {
    /// The owner of `address`, and whether that owner is still provisional
    /// (made by an anonymous flow, not yet signed in).
    async fn owner(&self, address: Address<'_>) -> Result<Option<(UserId, bool)>, Error>;

    /// Binds `address` to `requested`: a new user when the address is
    /// unknown and `allow_new`, or the owner of a provisional binding again.
    /// Answers the owner (a concurrent request may have bound the address
    /// first). With `until` the user and its binding are provisional until
    /// then (later binds extend it); without, they are kept for good.
    /// [`Error::UserAlreadyExists`] when `requested` is known otherwise;
    /// [`Error::InvalidArgument`] when a new user is needed but not allowed.
    async fn bind(
        &self,
        address: Address<'_>,
        requested: &UserId,
        allow_new: bool,
        until: Option<i64>,
    ) -> Result<UserId, Error>;

    /// Makes `user` known (a token or session is about to be issued for it).
    async fn remember(&self, user: &UserId) -> Result<(), Error>;

    /// `user` signed in for the first time: keep it and its addresses for
    /// good. (The store already kept the user record in the exchange.)
    async fn keep(&self, user: &UserId) -> Result<(), Error> {
        let _ = user;
        Ok(())
    }

    /// The user, if the directory knows it.
    async fn get(&self, user: &UserId) -> Result<Option<User>, Error>;

    /// Records that a login through `address`'s channel proved it.
    async fn mark_verified(&self, user: &UserId, email: bool, phone: bool) -> Result<(), Error>;

    /// Forgets `user` and its address bindings (`email` and `phone` are the
    /// addresses the store's record held, empty when none). The
    /// [`Gate`](crate::Gate) has already deleted the user's record, tokens
    /// and sessions in the store, in one step.
    async fn delete(&self, user: &UserId, email: &str, phone: &str) -> Result<(), Error>;
}

/// The default directory, in the token store: the user record shares the
/// user's hash tag with its tokens and sessions, so that the store's own
/// token and session writes make the id known in the same step.
#[derive(Debug, Clone)]
pub(crate) struct StoreDirectory {
    store: Arc<dyn Store>,
    secret: ServerSecret,
}

impl StoreDirectory {
    /// A directory in `store`, keying address digests with `secret`.
    pub(crate) fn new(store: Arc<dyn Store>, secret: ServerSecret) -> Self {
        StoreDirectory { store, secret }
    }

    fn address_digest(&self, address: Address<'_>) -> crate::secret::Digest {
        let (label, value) = match address {
            Address::Email(email) => ("email:", email),
            Address::Phone(phone) => ("phone:", phone),
        };
        self.secret
            .digest_value(Purpose::Address, format!("{label}{value}").as_bytes())
    }
}

/// Why an anonymous caller may not name a new user's id.
const NEW_ID_REFUSED: &str = "Invalid `userId` param: a new user's id is chosen by the server; pass unique()";

fn bound_to(record: &UserRecord, address: Address<'_>) -> bool {
    match address {
        Address::Email(email) => record.email == email,
        Address::Phone(phone) => record.phone == phone,
    }
}

#[async_trait]
impl Directory for StoreDirectory {
    async fn owner(&self, address: Address<'_>) -> Result<Option<(UserId, bool)>, Error> {
        // One instant for the whole decision.
        let now = now_ms();
        let digest = self.address_digest(address);
        let Some((owner, binding_expires)) = self.store.find_address(&digest, now).await? else {
            return Ok(None);
        };
        // A binding whose user was deleted (or rebound) is stale: drop it.
        match self.store.load_user(&owner, now).await? {
            Some(record) if bound_to(&record, address) => {
                let provisional = record.expire_ms > 0;
                if binding_expires > 0 && !provisional {
                    // Its user signed in, but keeping the binding failed then.
                    self.store.link_address(&digest, &owner, 0, now).await?;
                }
                Ok(Some((owner, provisional)))
            }
            _ => {
                self.store.unlink_address(&digest, &owner, now).await?;
                Ok(None)
            }
        }
    }

    async fn bind(
        &self,
        address: Address<'_>,
        requested: &UserId,
        allow_new: bool,
        until: Option<i64>,
    ) -> Result<UserId, Error> {
        let now = now_ms();
        let (email, phone) = match address {
            Address::Email(email) => (email, ""),
            Address::Phone(phone) => ("", phone),
        };
        if !allow_new {
            return Err(if self.store.load_user(requested, now).await?.is_some() {
                Error::UserAlreadyExists
            } else {
                Error::argument(NEW_ID_REFUSED)
            });
        }
        let expire_ms = until.unwrap_or(0);
        if !self.store.claim_user(requested, email, phone, expire_ms, now).await? {
            return Err(Error::UserAlreadyExists);
        }
        let digest = self.address_digest(address);
        Ok(self.store.link_address(&digest, requested, expire_ms, now).await?)
    }

    async fn keep(&self, user: &UserId) -> Result<(), Error> {
        let now = now_ms();
        let Some(record) = self.store.load_user(user, now).await? else {
            return Ok(());
        };
        for address in [Address::Email(&record.email), Address::Phone(&record.phone)] {
            if matches!(address, Address::Email(a) | Address::Phone(a) if !a.is_empty()) {
                let digest = self.address_digest(address);
                let owner = self.store.link_address(&digest, user, 0, now).await?;
                if owner != *user {
                    // The binding lapsed and another user took the address:
                    // said, not hidden (the caller logs it).
                    return Err(Error::UserAlreadyExists);
                }
            }
        }
        Ok(())
    }

    async fn remember(&self, _user: &UserId) -> Result<(), Error> {
        // The store's token and session writes record the id in the same script.
        Ok(())
    }

    async fn get(&self, user: &UserId) -> Result<Option<User>, Error> {
        Ok(self
            .store
            .load_user(user, now_ms())
            .await?
            .map(|record| record.into_user(user)))
    }

    async fn mark_verified(&self, user: &UserId, email: bool, phone: bool) -> Result<(), Error> {
        Ok(self.store.mark_verified(user, email, phone, now_ms()).await?)
    }

    async fn delete(&self, user: &UserId, email: &str, phone: &str) -> Result<(), Error> {
        let now = now_ms();
        if !email.is_empty() {
            let digest = self.address_digest(Address::Email(email));
            self.store.unlink_address(&digest, user, now).await?;
        }
        if !phone.is_empty() {
            let digest = self.address_digest(Address::Phone(phone));
            self.store.unlink_address(&digest, user, now).await?;
        }
        Ok(())
    }
}
