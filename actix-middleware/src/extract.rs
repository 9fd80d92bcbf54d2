//! The `AuthSession` extractor.

use actix_web::dev::Payload;
use actix_web::http::header::{HeaderName, COOKIE};
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use futures_util::future::LocalBoxFuture;
use tokengate::api::adapter::{find_credential, Rejection, SessionLookup, FALLBACK_COOKIES_HEADER, SESSION_HEADER};

use crate::convert::CoreResponseError;

// A lookup by text would parse the text again on every request.
static SESSION_HEADER_NAME: HeaderName = HeaderName::from_static(SESSION_HEADER);

tokengate::auth_session_type! {
    /// The session the request authenticated with; derefs to [`Session`](tokengate::Session).
    ///
    /// # Rejections
    ///
    /// As an extractor it fails with an error that answers as Appwrite does:
    ///
    /// | when | answer |
    /// |---|---|
    /// | no credential, or not a valid session | 401 `user_unauthorized` |
    /// | the store failed during the lookup | 503 (fail closed) |
    /// | [`crate::TokenGate`] is not installed | 500 naming it |
    ///
    /// `Option<AuthSession>` yields `None` on any of them (actix's rule for
    /// `Option<T>`); a store failure is still answered 503, since the
    /// middleware replaces the handler's response then (a missing middleware
    /// is logged). Ask for `Result<AuthSession, actix_web::Error>` to tell them
    /// apart:
    ///
    /// ```
    /// use actix_web::{HttpResponse, ResponseError};
    /// use tokengate_actix::AuthSession;
    ///
    /// async fn greet(session: Result<AuthSession, actix_web::Error>) -> HttpResponse {
    ///     match session {
    ///         Ok(session) => HttpResponse::Ok().body(format!("hello {}", session.user_id)),
    ///         Err(e) if e.as_response_error().status_code() == 401 => HttpResponse::Ok().body("hello stranger"),
    ///         Err(e) => e.error_response(),
    ///     }
    /// }
    /// # let _ = actix_web::web::get().to(greet);
    /// ```
    AuthSession
}

/// The request's session, looked up once: the first caller (extractor or
/// [`crate::RequireSession`]) asks the gate, later ones reuse the answer.
pub(crate) async fn resolve(request: &HttpRequest) -> Result<Option<AuthSession>, Rejection> {
    let Some(lookup) = request.extensions().get::<SessionLookup>().cloned() else {
        tracing::error!("AuthSession asked for without the tokengate middleware (TokenGate) installed");
        return Err(Rejection::MissingLayer);
    };
    let headers = request.headers();
    let credential = find_credential(
        headers.get(&SESSION_HEADER_NAME).map(|v| v.as_bytes()),
        || headers.get_all(COOKIE).map(|v| v.as_bytes()),
        headers.get(FALLBACK_COOKIES_HEADER).map(|v| v.as_bytes()),
        lookup.endpoints().cookie_name(),
    );
    Ok(lookup.session(credential).await?.map(AuthSession::from))
}

impl FromRequest for AuthSession {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let request = request.clone();
        Box::pin(async move {
            match resolve(&request).await {
                Ok(Some(session)) => Ok(session),
                Ok(None) => Err(CoreResponseError::from(Rejection::Unauthorized).into()),
                Err(rejection) => Err(CoreResponseError::from(rejection).into()),
            }
        })
    }
}
