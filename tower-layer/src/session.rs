//! The authenticated session handed to handlers, and its lookup.

use http::{Extensions, HeaderMap};
use tokengate::api::adapter::{Rejection, SessionLookup};

tokengate::auth_session_type! {
    /// The session the request authenticated with; derefs to [`Session`](tokengate::Session).
    ///
    /// With feature `axum`, ask for it in a handler: `AuthSession` answers 401
    /// without a valid session, `Option<AuthSession>` lets the handler decide,
    /// and `Result<AuthSession, AuthRejection>` shows why
    /// (see [`AuthRejection`](crate::AuthRejection)).
    AuthSession
}

/// The request's session, looked up once: the first caller (extractor or
/// [`crate::RequireSessionLayer`]) asks the gate, later ones reuse the answer.
pub(crate) async fn resolve(extensions: &Extensions, headers: &HeaderMap) -> Result<Option<AuthSession>, Rejection> {
    let lookup = extensions.get::<SessionLookup>().ok_or(Rejection::MissingLayer)?;
    Ok(lookup.session_of(headers).await?.map(AuthSession::from))
}
