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

/// Inserted by the layer into every request it passes on, and updated in
/// place by the first lookup (one extension, one allocation per request).
/// Its absence tells an extractor that the layer is not installed.
#[derive(Debug, Clone)]
pub(crate) enum SessionSlot {
    /// Not looked up yet: the gate to resolve the session with, when
    /// something asks for it.
    Pending(Gate),
    /// What the first lookup found, kept for later ones.
    Resolved(Option<AuthSession>),
}

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
    let gate = match extensions.get::<SessionSlot>() {
        Some(SessionSlot::Resolved(session)) => return Ok(session.clone()),
        Some(SessionSlot::Pending(gate)) => gate.clone(),
        None => return Err(Unresolved::MissingLayer),
    };
    match api::resolve_session(&gate, headers).await {
        Ok(session) => {
            let session = session.map(AuthSession::new);
            if let Some(slot) = extensions.get_mut::<SessionSlot>() {
                *slot = SessionSlot::Resolved(session.clone());
            }
            Ok(session)
        }
        Err(error) => {
            tracing::warn!(%error, "session lookup failed; answering 503");
            Err(Unresolved::Unavailable)
        }
    }
}
