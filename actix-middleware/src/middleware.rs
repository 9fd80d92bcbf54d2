//! The actix `Transform`: serves the mounted routes, resolves sessions elsewhere.

use std::future::{ready, Ready};
use std::rc::Rc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{forward_ready, Payload, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::{Error, HttpMessage, HttpRequest};
use bytes::Bytes;
use futures_util::future::LocalBoxFuture;
use futures_util::StreamExt;
use tokengate::api::adapter::{BodyCollector, Rejection, SessionLookup};
use tokengate::api::Endpoints;

use crate::convert::{to_actix_response, to_core_request};

/// Mounts tokengate into an actix-web app or scope with one `.wrap(...)`.
///
/// Requests under `<base>/account` and `<base>/users` are answered by the
/// endpoints; every other request is passed on, and its session (from
/// `X-Appwrite-Session` or the `a_session_<project>` cookie) is looked up
/// when a handler asks for it ([`AuthSession`](crate::AuthSession),
/// `Option<AuthSession>`) or [`crate::RequireSession`] checks it, once per
/// request, as `tokengate-tower` does. A request without a credential, or
/// whose route never looks at the session, costs no store call; a store
/// failure during the lookup answers 503 (fail closed), also where the
/// handler took `Option<AuthSession>`, which actix turns into `None`.
///
/// It takes [`Endpoints`]: a [`Gate`](tokengate::Gate) converts into them
/// with the default [`ApiConfig`](tokengate::api::ApiConfig); give your own
/// with [`TokenGate::with_config`].
///
/// ```
/// use actix_web::{web, App, HttpResponse};
/// use tokengate::{Gate, store::MemoryStore};
/// use tokengate_actix::TokenGate;
///
/// let gate = Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new()).build().unwrap();
/// let app = App::new()
///     .wrap(TokenGate::new(gate))
///     .route("/public", web::get().to(|| async { HttpResponse::Ok().finish() }));
/// # let _ = app;
/// ```
#[derive(Debug, Clone)]
pub struct TokenGate {
    endpoints: Endpoints,
}

impl TokenGate {
    /// A middleware serving `endpoints` (or a [`Gate`](tokengate::Gate) with
    /// the default HTTP settings).
    pub fn new(endpoints: impl Into<Endpoints>) -> Self {
        TokenGate {
            endpoints: endpoints.into(),
        }
    }

    /// A middleware serving `gate` with `config`, validated
    /// ([`Endpoints::with_config`]).
    ///
    /// ```
    /// use tokengate::{api::ApiConfig, Gate, store::MemoryStore};
    /// use tokengate_actix::TokenGate;
    ///
    /// let gate = Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new()).build().unwrap();
    /// let config = ApiConfig::default().api_key("an-api-key-of-16+-chars").base_path("/auth");
    /// let middleware = TokenGate::with_config(gate, config).unwrap();
    /// # let _ = middleware;
    /// ```
    pub fn with_config(gate: tokengate::Gate, config: tokengate::api::ApiConfig) -> Result<Self, tokengate::Error> {
        Endpoints::with_config(gate, config).map(Self::new)
    }
}

impl<S, B> Transform<S, ServiceRequest> for TokenGate
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Transform = TokenGateMiddleware<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(TokenGateMiddleware {
            service: Rc::new(service),
            endpoints: self.endpoints.clone(),
        }))
    }
}

/// The service made by [`TokenGate`].
#[derive(Debug)]
pub struct TokenGateMiddleware<S> {
    service: Rc<S>,
    endpoints: Endpoints,
}

impl<S, B> Service<ServiceRequest> for TokenGateMiddleware<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, request: ServiceRequest) -> Self::Future {
        if self.endpoints.is_mounted(request.path()) {
            let endpoints = self.endpoints.clone();
            return Box::pin(async move {
                let (http_request, payload) = request.into_parts();
                let response = serve_endpoint(&endpoints, &http_request, payload).await;
                Ok(ServiceResponse::new(http_request, to_actix_response(response)).map_into_right_body())
            });
        }
        // Looked up when the handler (an extractor) or `RequireSession`
        // asks, once per request, as in tokengate-tower.
        let lookup = SessionLookup::new(self.endpoints.clone());
        request.extensions_mut().insert(lookup.clone());
        let response = self.service.call(request);
        Box::pin(async move {
            let response = response.await?;
            // actix turns an extractor's error into `None` for
            // `Option<AuthSession>`: a store failure must still be a 503,
            // never an anonymous answer.
            if lookup.store_failed() {
                let refusal = to_actix_response(Rejection::Unavailable.response("middleware (TokenGate)"));
                let (request, _) = response.into_parts();
                return Ok(ServiceResponse::new(request, refusal).map_into_right_body());
            }
            Ok(response.map_into_left_body())
        })
    }
}

async fn serve_endpoint(endpoints: &Endpoints, request: &HttpRequest, mut payload: Payload) -> http::Response<Bytes> {
    let mut collector = BodyCollector::new(endpoints.max_body_bytes());
    while let Some(chunk) = payload.next().await {
        let Ok(chunk) = chunk else {
            return collector.failed();
        };
        if let Err(refusal) = collector.push(&chunk) {
            return *refusal;
        }
    }
    let body = match collector.finish() {
        Ok(body) => body,
        Err(refusal) => return *refusal,
    };
    let peer = request.peer_addr().map(|a| a.ip());
    endpoints.handle(to_core_request(request, body), peer).await
}
