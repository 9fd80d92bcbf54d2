//! A layer applied only to requests that carry an `Origin` header.

use std::task::{Context, Poll};

use futures_util::future::{Either, MapOk};
use futures_util::TryFutureExt;
use http::header::{HeaderValue, ORIGIN, VARY};
use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;

/// Applies `L` (the app's `CorsLayer`) only to requests with an `Origin`
/// header: CORS has nothing to say to the others (same-origin page loads,
/// servers, curl), yet tower-http's `CorsLayer` cost the example app about
/// 15% of its requests per second on `/me` and `/public` even then
/// (`scripts/bench-compare.sh`, benches/RESULTS.md). The other responses
/// still say `Vary: Origin`, so that no cache serves one of them to a
/// cross-origin request.
///
/// ```
/// use tokengate_examples::OriginOnly;
/// use tower_http::cors::CorsLayer;
/// let layer = OriginOnly(CorsLayer::new());
/// # let _ = layer;
/// ```
#[derive(Debug, Clone)]
pub struct OriginOnly<L>(pub L);

impl<S: Clone, L: Layer<S>> Layer<S> for OriginOnly<L> {
    type Service = OriginOnlyService<S, L::Service>;

    fn layer(&self, inner: S) -> Self::Service {
        OriginOnlyService {
            plain: inner.clone(),
            layered: self.0.layer(inner),
        }
    }
}

/// The service of [`OriginOnly`].
#[derive(Debug, Clone)]
pub struct OriginOnlyService<S, T> {
    plain: S,
    layered: T,
}

type Plain<F, B> = MapOk<F, fn(Response<B>) -> Response<B>>;

impl<S, T, ReqBody, ResBody> Service<Request<ReqBody>> for OriginOnlyService<S, T>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    T: Service<Request<ReqBody>, Response = Response<ResBody>, Error = S::Error>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = Either<T::Future, Plain<S::Future, ResBody>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Whichever serves the request must be ready (a router always is).
        match self.plain.poll_ready(cx) {
            Poll::Ready(Ok(())) => self.layered.poll_ready(cx),
            other => other,
        }
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        if request.headers().contains_key(ORIGIN) {
            Either::Left(self.layered.call(request))
        } else {
            Either::Right(self.plain.call(request).map_ok(vary_origin as fn(_) -> _))
        }
    }
}

fn vary_origin<B>(mut response: Response<B>) -> Response<B> {
    response.headers_mut().append(VARY, HeaderValue::from_static("origin"));
    response
}
