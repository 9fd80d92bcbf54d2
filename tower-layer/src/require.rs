//! A layer that requires a session for a group of routes.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use tokengate::api::adapter::Rejection;
use tower_layer::Layer;
use tower_service::Service;

use crate::session::resolve;

/// Answers 401 (Appwrite JSON) for requests without a valid session, before
/// they reach the routes it wraps (503 when the store fails). Install
/// [`crate::TokenGateLayer`] outside it.
///
/// ```
/// use axum::{routing::get, Router};
/// use tokengate::{Gate, store::MemoryStore};
/// use tokengate_tower::{RequireSessionLayer, TokenGateLayer};
///
/// let gate = Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new()).build().unwrap();
/// let private = Router::new()
///     .route("/settings", get(|| async { "secret settings" }))
///     .route_layer(RequireSessionLayer::new());
/// let app: Router = Router::new()
///     .merge(private)
///     .route("/public", get(|| async { "hello" }))
///     .layer(TokenGateLayer::new(gate));
/// # let _ = app;
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct RequireSessionLayer;

impl RequireSessionLayer {
    /// The layer.
    pub fn new() -> Self {
        RequireSessionLayer
    }
}

impl<S> Layer<S> for RequireSessionLayer {
    type Service = RequireSession<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireSession { inner }
    }
}

/// The service made by [`RequireSessionLayer`].
#[derive(Debug, Clone)]
pub struct RequireSession<S> {
    inner: S,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RequireSession<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: From<Bytes> + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        // The clone that was polled ready is the one to call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let rejection = match resolve(request.extensions(), request.headers()).await {
                Ok(Some(_)) => return inner.call(request).await,
                Ok(None) => Rejection::Unauthorized,
                Err(rejection) => rejection,
            };
            Ok(rejection.response("TokenGateLayer").map(ResBody::from))
        })
    }
}
