//! The `AuthSession` extractor.

use std::future::{ready, Ready};
use std::ops::Deref;
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use tokengate::{api, Session};

use crate::convert::CoreResponseError;

/// The session the request authenticated with; derefs to [`Session`].
///
/// As an extractor it answers 401 (Appwrite JSON) without a valid session,
/// and 500 naming the middleware when [`crate::TokenGate`] is not installed.
/// `Option<AuthSession>` yields `None` without a session. (actix turns any
/// extractor error into `None` for `Option<T>`, so a missing middleware is
/// then logged at error level rather than answered with 500.)
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

/// What the middleware found; its absence means no middleware.
#[derive(Debug, Clone)]
pub(crate) struct Resolved(pub(crate) Option<AuthSession>);

impl FromRequest for AuthSession {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let outcome = match request.extensions().get::<Resolved>() {
            Some(Resolved(Some(session))) => Ok(session.clone()),
            Some(Resolved(None)) => Err(CoreResponseError(api::unauthorized_response()).into()),
            None => {
                tracing::error!("AuthSession extracted without the tokengate middleware (TokenGate) installed");
                Err(CoreResponseError(api::missing_layer_response("middleware (TokenGate)")).into())
            }
        };
        ready(outcome)
    }
}
