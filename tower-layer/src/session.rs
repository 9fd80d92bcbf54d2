//! The authenticated session handed to handlers.

use std::ops::Deref;
use std::sync::Arc;

use tokengate::Session;

/// The session the request authenticated with.
///
/// With feature `axum`, ask for it in a handler (`AuthSession` answers 401
/// without a valid session; `Option<AuthSession>` lets the handler decide).
/// Derefs to [`Session`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthSession(Arc<Session>);

impl AuthSession {
    // Shared, not copied: extracting it (maybe more than once per request)
    // costs a reference count, not a copy of every field.
    pub(crate) fn new(session: Session) -> Self {
        AuthSession(Arc::new(session))
    }

    /// The session.
    pub fn session(&self) -> &Session {
        &self.0
    }

    /// Takes the session out (a copy only if another handle still shares it).
    pub fn into_inner(self) -> Session {
        Arc::try_unwrap(self.0).unwrap_or_else(|shared| (*shared).clone())
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
