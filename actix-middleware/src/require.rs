//! A middleware that requires a session for a scope.

use std::future::{ready, Ready};
use std::rc::Rc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{forward_ready, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::Error;
use futures_util::future::LocalBoxFuture;
use tokengate::api::adapter::Rejection;

use crate::convert::to_actix_response;
use crate::extract::resolve;

/// Answers 401 (Appwrite JSON) for requests without a valid session before
/// they reach the scope it wraps (503 when the store fails). Wrap [`crate::TokenGate`] outside it.
///
/// ```
/// use actix_web::{web, App, HttpResponse};
/// use tokengate::{Gate, store::MemoryStore};
/// use tokengate_actix::{RequireSession, TokenGate};
///
/// let gate = Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new()).build().unwrap();
/// let app = App::new()
///     .wrap(TokenGate::new(gate))
///     .service(
///         web::scope("/private")
///             .wrap(RequireSession)
///             .route("/settings", web::get().to(|| async { HttpResponse::Ok().finish() })),
///     );
/// # let _ = app;
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct RequireSession;

impl<S, B> Transform<S, ServiceRequest> for RequireSession
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Transform = RequireSessionMiddleware<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(RequireSessionMiddleware {
            service: Rc::new(service),
        }))
    }
}

/// The service made by [`RequireSession`].
#[derive(Debug)]
pub struct RequireSessionMiddleware<S> {
    service: Rc<S>,
}

impl<S, B> Service<ServiceRequest> for RequireSessionMiddleware<S>
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
        Box::pin(async move {
            let rejection = match resolve(request.request()).await {
                Ok(Some(_)) => return service.call(request).await.map(ServiceResponse::map_into_left_body),
                Ok(None) => Rejection::Unauthorized,
                Err(rejection) => rejection,
            };
            let response = to_actix_response(rejection.response("middleware (TokenGate)"));
            Ok(request.into_response(response).map_into_right_body())
        })
    }
}
