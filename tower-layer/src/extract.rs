//! axum extractors: `AuthSession` and `Option<AuthSession>`.

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use tokengate::api;

use crate::session::{AuthSession, Resolved};

fn to_axum(response: http::Response<bytes::Bytes>) -> Response {
    response.map(axum::body::Body::from).into_response()
}

fn resolved(parts: &Parts) -> Result<&Resolved, Response> {
    parts
        .extensions
        .get::<Resolved>()
        .ok_or_else(|| to_axum(api::missing_layer_response("TokenGateLayer")))
}

/// 401 (Appwrite JSON) without a valid session; 500 naming the missing
/// layer when [`crate::TokenGateLayer`] is not installed.
impl<S: Send + Sync> FromRequestParts<S> for AuthSession {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        resolved(parts)?
            .0
            .clone()
            .ok_or_else(|| to_axum(api::unauthorized_response()))
    }
}

/// `None` without a valid session; 500 naming the missing layer when
/// [`crate::TokenGateLayer`] is not installed.
impl<S: Send + Sync> OptionalFromRequestParts<S> for AuthSession {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(resolved(parts)?.0.clone())
    }
}
