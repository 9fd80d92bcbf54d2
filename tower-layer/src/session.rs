//! The authenticated session handed to handlers.

use std::ops::Deref;
use std::sync::Arc;

use http::{Extensions, HeaderMap};
use tokengate::{api, Gate, Session};

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

/// What the first lookup of a request found, kept for later ones.
#[derive(Debug, Clone)]
pub(crate) struct Resolved(pub(crate) Option<AuthSession>);

/// Inserted by the layer into every request it passes on: the gate to
/// resolve the session with, when something asks for it. Its absence tells
/// an extractor that the layer is not installed.
#[derive(Debug, Clone)]
pub(crate) struct Pending(pub(crate) Gate);

/// Why a request's session could not be resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unresolved {
    /// [`crate::TokenGateLayer`] is not installed.
    MissingLayer,
    /// The store failed (answer 503: never anonymous, never authenticated).
    Unavailable,
}

/// The request's session, looked up once: the first caller (extractor or
/// [`crate::RequireSessionLayer`]) asks the gate, later ones reuse the answer.
pub(crate) async fn resolve(
    extensions: &mut Extensions,
    headers: &HeaderMap,
) -> Result<Option<AuthSession>, Unresolved> {
    if let Some(Resolved(session)) = extensions.get::<Resolved>() {
        return Ok(session.clone());
    }
    let Some(Pending(gate)) = extensions.get::<Pending>().cloned() else {
        return Err(Unresolved::MissingLayer);
    };
    match api::resolve_session(&gate, headers).await {
        Ok(session) => {
            let session = session.map(AuthSession::new);
            extensions.insert(Resolved(session.clone()));
            Ok(session)
        }
        Err(error) => {
            tracing::warn!(%error, "session lookup failed; answering 503");
            Err(Unresolved::Unavailable)
        }
    }
}
