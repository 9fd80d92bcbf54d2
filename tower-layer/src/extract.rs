//! axum extractors: `AuthSession` and `Option<AuthSession>`.

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use tokengate::api;

use crate::session::{resolve, AuthSession, Unresolved};

/// Why [`AuthSession`] could not be extracted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthRejection {
    /// No valid session: 401 with Appwrite's `user_unauthorized` body.
    Unauthorized,
    /// [`crate::TokenGateLayer`] is not installed on this route: 500 naming it.
    MissingLayer,
    /// The store failed while looking the session up: 503 (fail closed).
    Unavailable,
}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        let response = match self {
            AuthRejection::Unauthorized => api::unauthorized_response(),
            AuthRejection::MissingLayer => api::missing_layer_response("TokenGateLayer"),
            AuthRejection::Unavailable => api::unavailable_response(),
        };
        response.map(axum::body::Body::from).into_response()
    }
}

async fn resolved(parts: &mut Parts) -> Result<Option<AuthSession>, AuthRejection> {
    resolve(&mut parts.extensions, &parts.headers)
        .await
        .map_err(|e| match e {
            Unresolved::MissingLayer => AuthRejection::MissingLayer,
            Unresolved::Unavailable => AuthRejection::Unavailable,
        })
}

/// 401 (Appwrite JSON) without a valid session; 503 when the store fails;
/// 500 naming the missing layer when [`crate::TokenGateLayer`] is not
/// installed.
impl<S: Send + Sync> FromRequestParts<S> for AuthSession {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        resolved(parts).await?.ok_or(AuthRejection::Unauthorized)
    }
}

/// `None` without a valid session; 503 when the store fails (never `None`
/// for a credential that could not be checked); 500 naming the missing
/// layer when [`crate::TokenGateLayer`] is not installed.
impl<S: Send + Sync> OptionalFromRequestParts<S> for AuthSession {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Option<Self>, Self::Rejection> {
        resolved(parts).await
    }
}
