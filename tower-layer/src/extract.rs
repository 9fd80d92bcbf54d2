//! axum extractors: `AuthSession`, `Option<AuthSession>` and
//! `Result<AuthSession, AuthRejection>`.

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use tokengate::api::adapter::Rejection;

use crate::session::{resolve, AuthSession};

/// Why [`AuthSession`] could not be extracted; answers as Appwrite does.
///
/// # Rejections
///
/// | variant | when | answer |
/// |---|---|---|
/// | [`Unauthorized`](Rejection::Unauthorized) | no credential, or not a valid session | 401 `user_unauthorized` |
/// | [`Unavailable`](Rejection::Unavailable) | the store failed during the lookup | 503 (fail closed) |
/// | [`MissingLayer`](Rejection::MissingLayer) | [`crate::TokenGateLayer`] is not installed on the route | 500 naming it |
///
/// `Option<AuthSession>` turns only `Unauthorized` into `None`; the other
/// two are still answered. `Result<AuthSession, AuthRejection>` hands all
/// three to the handler:
///
/// ```
/// use axum::response::IntoResponse;
/// use tokengate::api::adapter::Rejection;
/// use tokengate_tower::{AuthRejection, AuthSession};
///
/// async fn greet(session: Result<AuthSession, AuthRejection>) -> axum::response::Response {
///     match session {
///         Ok(session) => format!("hello {}", session.user_id).into_response(),
///         Err(AuthRejection(Rejection::Unauthorized)) => "hello stranger".into_response(),
///         Err(other) => other.into_response(),
///     }
/// }
/// # let _: axum::routing::MethodRouter = axum::routing::get(greet);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthRejection(pub Rejection);

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        self.0
            .response("TokenGateLayer")
            .map(axum::body::Body::from)
            .into_response()
    }
}

/// The session, or the [`AuthRejection`]: 401 without a valid session.
impl<S: Send + Sync> FromRequestParts<S> for AuthSession {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let found = resolve(&parts.extensions, &parts.headers)
            .await
            .map_err(AuthRejection)?;
        found.ok_or(AuthRejection(Rejection::Unauthorized))
    }
}

/// `None` without a valid session; 503 when the store fails (never `None`
/// for a credential that could not be checked); 500 naming the missing
/// layer when [`crate::TokenGateLayer`] is not installed.
impl<S: Send + Sync> OptionalFromRequestParts<S> for AuthSession {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Option<Self>, Self::Rejection> {
        resolve(&parts.extensions, &parts.headers).await.map_err(AuthRejection)
    }
}
