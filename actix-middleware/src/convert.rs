//! Translation between actix's types (http 0.2) and the core's (http 1).

use actix_web::body::BoxBody;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use bytes::Bytes;

/// The core's request from actix's head and a buffered body.
pub(crate) fn to_core_request(request: &HttpRequest, body: Bytes) -> http::Request<Bytes> {
    let mut builder = http::Request::builder()
        .method(request.method().as_str())
        .uri(request.uri().to_string());
    for (name, value) in request.headers() {
        builder = builder.header(name.as_str(), value.as_bytes());
    }
    builder.body(body).unwrap_or_else(|_| {
        // Only reachable if actix accepted what `http` rejects; answer as a bad request.
        let mut fallback = http::Request::new(Bytes::new());
        *fallback.uri_mut() = http::Uri::from_static("/");
        fallback
    })
}

/// actix's response from the core's.
pub(crate) fn to_actix_response(response: http::Response<Bytes>) -> HttpResponse {
    let (parts, body) = response.into_parts();
    let status = StatusCode::from_u16(parts.status.as_u16()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut builder = HttpResponse::build(status);
    for (name, value) in &parts.headers {
        builder.append_header((name.as_str(), value.as_bytes()));
    }
    builder.body(body)
}

/// A core response carried as an actix error (extractor rejections).
#[derive(Debug)]
pub(crate) struct CoreResponseError(pub(crate) http::Response<Bytes>);

impl From<tokengate::api::adapter::Rejection> for CoreResponseError {
    fn from(rejection: tokengate::api::adapter::Rejection) -> Self {
        CoreResponseError(rejection.response("middleware (TokenGate)"))
    }
}

impl std::fmt::Display for CoreResponseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "tokengate answered {}", self.0.status())
    }
}

impl ResponseError for CoreResponseError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.0.status().as_u16()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse<BoxBody> {
        let mut copy = http::Response::new(self.0.body().clone());
        *copy.status_mut() = self.0.status();
        *copy.headers_mut() = self.0.headers().clone();
        to_actix_response(copy)
    }
}
