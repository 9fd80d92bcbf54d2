//! The actix `Transform`: serves the mounted routes, resolves sessions elsewhere.

use std::future::{ready, Ready};
use std::rc::Rc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{forward_ready, Payload, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::header::HeaderName;
use actix_web::{Error, HttpMessage, HttpRequest};
use bytes::Bytes;
use futures_util::future::LocalBoxFuture;
use futures_util::StreamExt;
use tokengate::api::{self, cookie, ClientContext};
use tokengate::Gate;

use crate::convert::{to_actix_response, to_core_request};
use crate::extract::{AuthSession, Resolved};

// A lookup by text would parse the text again on every request.
static SESSION_HEADER_NAME: HeaderName = HeaderName::from_static(cookie::SESSION_HEADER);

/// Mounts tokengate into an actix-web app or scope with one `.wrap(...)`.
///
/// Requests under `<base>/account` and `<base>/users` are answered by the
/// endpoints; every other request gets its session resolved and passed on
/// for the [`AuthSession`] extractor. A request without a credential costs
/// no store call; a store failure answers 503 (fail closed).
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
    gate: Gate,
}

impl TokenGate {
    /// A middleware over `gate`.
    pub fn new(gate: Gate) -> Self {
        TokenGate { gate }
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
            gate: self.gate.clone(),
        }))
    }
}

/// The service made by [`TokenGate`].
#[derive(Debug)]
pub struct TokenGateMiddleware<S> {
    service: Rc<S>,
    gate: Gate,
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
        let service = Rc::clone(&self.service);
        let gate = self.gate.clone();
        Box::pin(async move {
            if api::is_mounted(&gate, request.path()) {
                let (http_request, payload) = request.into_parts();
                let response = serve_endpoint(&gate, &http_request, payload).await;
                return Ok(ServiceResponse::new(http_request, to_actix_response(response)).map_into_right_body());
            }
            let headers = request.headers();
            let credential = cookie::find_credential(
                headers.get(&SESSION_HEADER_NAME).map(|v| v.as_bytes()),
                || headers.get_all(actix_web::http::header::COOKIE).map(|v| v.as_bytes()),
                gate.http(),
            );
            match api::resolve_credential(&gate, credential).await {
                Ok(session) => {
                    request.extensions_mut().insert(Resolved(session.map(AuthSession::new)));
                    service.call(request).await.map(ServiceResponse::map_into_left_body)
                }
                Err(error) => {
                    tracing::warn!(%error, "session lookup failed; answering 503");
                    let response = to_actix_response(api::unavailable_response());
                    Ok(request.into_response(response).map_into_right_body())
                }
            }
        })
    }
}

async fn serve_endpoint(gate: &Gate, request: &HttpRequest, mut payload: Payload) -> http::Response<Bytes> {
    let mut collector = api::BodyCollector::new(gate.http().max_body_bytes);
    while let Some(chunk) = payload.next().await {
        let Ok(chunk) = chunk else {
            return collector.failed().response();
        };
        if let Err(refusal) = collector.push(&chunk) {
            return refusal.response();
        }
    }
    let body = match collector.finish() {
        Ok(body) => body,
        Err(refusal) => return refusal.response(),
    };
    let client = ClientContext::with_ip(request.peer_addr().map(|a| a.ip()));
    api::handle(gate, to_core_request(request, body), client).await
}
