//! The tower layer: serves the mounted routes, resolves sessions elsewhere.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Buf;
use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use http_body_util::BodyExt;
use tokengate::api::adapter::{BodyCollector, SessionLookup};
use tokengate::api::Endpoints;
use tower_layer::Layer;
use tower_service::Service;

use futures_util::future::Either;

/// Mounts tokengate into a tower/axum stack with one `.layer(...)`.
///
/// Requests under `<base>/account` and `<base>/users` are answered by the
/// endpoints; every other request is passed on, and its session (from
/// `X-Appwrite-Session` or the `a_session_<project>` cookie) is looked up
/// when a handler asks for it ([`AuthSession`](crate::AuthSession),
/// `Option<AuthSession>`) or [`crate::RequireSessionLayer`] checks it, once
/// per request, as tower-sessions loads its session. A request without a
/// credential, or whose route never looks at the session, costs no store
/// call. When the store fails, the one asking answers 503: a request is
/// never treated as anonymous or authenticated without the store's answer.
///
/// It takes [`Endpoints`]: a [`Gate`](tokengate::Gate) converts into them
/// with the default [`ApiConfig`](tokengate::api::ApiConfig); give your own
/// with [`TokenGateLayer::with_config`]. Cheap to clone (one `Arc`).
///
/// ```
/// use tower::ServiceBuilder;
/// use tokengate::{Gate, store::MemoryStore};
/// use tokengate_tower::TokenGateLayer;
///
/// let gate = Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new()).build().unwrap();
/// let stack = ServiceBuilder::new().layer(TokenGateLayer::new(gate));
/// # let _ = stack;
/// ```
#[derive(Debug, Clone)]
pub struct TokenGateLayer {
    endpoints: Endpoints,
}

impl TokenGateLayer {
    /// A layer serving `endpoints` (or a [`Gate`](tokengate::Gate) with the
    /// default HTTP settings).
    pub fn new(endpoints: impl Into<Endpoints>) -> Self {
        TokenGateLayer {
            endpoints: endpoints.into(),
        }
    }

    /// A layer serving `gate` with `config`, validated
    /// ([`Endpoints::with_config`]).
    ///
    /// ```
    /// use tokengate::{api::ApiConfig, Gate, store::MemoryStore};
    /// use tokengate_tower::TokenGateLayer;
    ///
    /// let gate = Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new()).build().unwrap();
    /// let config = ApiConfig::default().api_key("an-api-key-of-16+-chars").base_path("/auth");
    /// let layer = TokenGateLayer::with_config(gate, config).unwrap();
    /// # let _ = layer;
    /// ```
    pub fn with_config(gate: tokengate::Gate, config: tokengate::api::ApiConfig) -> Result<Self, tokengate::Error> {
        Endpoints::with_config(gate, config).map(Self::new)
    }
}

impl<S> Layer<S> for TokenGateLayer {
    type Service = TokenGateService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TokenGateService {
            inner,
            endpoints: self.endpoints.clone(),
        }
    }
}

/// The service made by [`TokenGateLayer`].
#[derive(Debug, Clone)]
pub struct TokenGateService<S> {
    inner: S,
    endpoints: Endpoints,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for TokenGateService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ReqBody: Body + Send + 'static,
    ReqBody::Data: Send,
    ReqBody::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    ResBody: From<Bytes> + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = Either<BoxFuture<Result<Self::Response, Self::Error>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        if self.endpoints.is_mounted(request.uri().path()) {
            let endpoints = self.endpoints.clone();
            return Either::Left(Box::pin(async move {
                Ok(serve_endpoint(&endpoints, request).await.map(ResBody::from))
            }));
        }
        // Looked up when the handler (an extractor) or `RequireSessionLayer`
        // asks, once per request: the inner service is called at once, with
        // no copy of it and no boxed future, and a route that never looks
        // at the session costs no store call.
        request
            .extensions_mut()
            .insert(SessionLookup::new(self.endpoints.clone()));
        Either::Right(self.inner.call(request))
    }
}

async fn serve_endpoint<B>(endpoints: &Endpoints, request: Request<B>) -> Response<Bytes>
where
    B: Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let peer = peer_ip(&request);
    let (parts, body) = request.into_parts();
    let bytes = match collect(body, endpoints.max_body_bytes()).await {
        Ok(bytes) => bytes,
        Err(refusal) => return *refusal,
    };
    endpoints.handle(Request::from_parts(parts, bytes), peer).await
}

async fn collect<B>(body: B, limit: usize) -> Result<Bytes, Box<Response<Bytes>>>
where
    B: Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut body = std::pin::pin!(body);
    let mut collector = BodyCollector::new(limit);
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            return Err(Box::new(collector.failed()));
        };
        let Ok(mut data) = frame.into_data() else { continue };
        collector.push(&data.copy_to_bytes(data.remaining()))?;
    }
    collector.finish()
}

#[cfg(feature = "axum")]
fn peer_ip<B>(request: &Request<B>) -> Option<std::net::IpAddr> {
    request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.ip())
}

#[cfg(not(feature = "axum"))]
fn peer_ip<B>(_request: &Request<B>) -> Option<std::net::IpAddr> {
    None
}
