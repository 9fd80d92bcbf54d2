//! The authenticated session handed to handlers.

use std::ops::Deref;

use tokengate::Session;

/// The session the request authenticated with.
///
/// With feature `axum`, ask for it in a handler (`AuthSession` answers 401
/// without a valid session; `Option<AuthSession>` lets the handler decide).
/// Derefs to [`Session`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthSession(Session);

impl AuthSession {
    pub(crate) fn new(session: Session) -> Self {
        AuthSession(session)
    }

    /// The session.
    pub fn session(&self) -> &Session {
        &self.0
    }

    /// Takes the session out.
    pub fn into_inner(self) -> Session {
        self.0
    }
}

impl Deref for AuthSession {
    type Target = Session;
    fn deref(&self) -> &Session {
        &self.0
    }
}

/// What the layer found, inserted into every request it passes on. Its
/// absence tells an extractor that the layer is not installed.
#[derive(Debug, Clone)]
pub(crate) struct Resolved(pub(crate) Option<AuthSession>);
