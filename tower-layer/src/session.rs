//! The authenticated session handed to handlers, and its lookup.

use std::ops::Deref;

use http::{Extensions, HeaderMap};
use tokengate::api::{Rejection, SessionLookup, SharedSession};
use tokengate::Session;

/// The session the request authenticated with; derefs to [`Session`].
///
/// With feature `axum`, ask for it in a handler: `AuthSession` answers 401
/// without a valid session, `Option<AuthSession>` lets the handler decide,
/// and `Result<AuthSession, AuthRejection>` shows why
/// (see [`AuthRejection`](crate::AuthRejection)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthSession(SharedSession);

impl AuthSession {
    /// The session.
    pub fn session(&self) -> &Session {
        &self.0
    }

    /// Takes the session out (a copy only if another handle still shares it).
    pub fn into_inner(self) -> Session {
        self.0.into_inner()
    }
}

impl Deref for AuthSession {
    type Target = Session;
    fn deref(&self) -> &Session {
        &self.0
    }
}

/// The request's session, looked up once: the first caller (extractor or
/// [`crate::RequireSessionLayer`]) asks the gate, later ones reuse the answer.
pub(crate) async fn resolve(extensions: &Extensions, headers: &HeaderMap) -> Result<Option<AuthSession>, Rejection> {
    let lookup = extensions.get::<SessionLookup>().ok_or(Rejection::MissingLayer)?;
    Ok(lookup.session_of(headers).await?.map(AuthSession))
}
