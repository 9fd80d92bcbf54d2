//! What a request must show before a handler runs: the project, the API
//! key, a JSON body, a same-site origin.

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Request};

use crate::error::Error;
use crate::policy::parse_origin;
use crate::secret::{ct_eq, Secret};

use super::cookie::{KEY_HEADER, PROJECT_HEADER};
use super::error_kind::{ErrorKind, Refusal};
use super::Endpoints;

/// Without the peer address there are no per-client limits: one shared
/// bucket instead would let any client lock a user out after ten failures.
pub(super) fn warn_without_peer() {
    static WARNED: std::sync::Once = std::sync::Once::new();
    WARNED.call_once(|| {
        tracing::warn!(
            "the adapter passed no client address: per-client issuance and exchange limits are off \
             (axum: serve with `into_make_service_with_connect_info::<SocketAddr>()`)"
        );
    });
}

/// Token and exchange bodies must say they are JSON: a cross-site HTML form
/// can only send `application/x-www-form-urlencoded`, `multipart/form-data`
/// or `text/plain`, so it can no longer log a victim in.
pub(super) fn require_json(headers: &HeaderMap) -> Result<(), Refusal> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"));
    if is_json {
        Ok(())
    } else {
        Err(Refusal::Http(ErrorKind::UnsupportedMediaType))
    }
}

/// A browser may create a session (and get its cookie) only from the
/// request's own origin, the public URL's, or an allowed one: otherwise a
/// foreign page could log the victim into the attacker's account (login
/// CSRF). Without `Origin`, a `Sec-Fetch-Site: cross-site` request is
/// refused; a request with neither is not from a browser page.
pub(super) fn check_origin(endpoints: &Endpoints, request: &Request<Bytes>) -> Result<(), Refusal> {
    let authority = request.uri().authority().map(|a| a.as_str());
    if origin_allowed(endpoints, request.headers(), authority) {
        Ok(())
    } else {
        Err(Refusal::Http(ErrorKind::Forbidden))
    }
}

/// The rule of [`check_origin`]; `authority` stands in for a missing `Host`.
pub(super) fn origin_allowed(endpoints: &Endpoints, headers: &HeaderMap, authority: Option<&str>) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return !headers
            .get("sec-fetch-site")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site"));
    };
    // `Origin: null` (sandboxed frames, file pages) parses as nothing: refused.
    let Some(origin) = origin.to_str().ok().and_then(|o| parse_origin(o).ok()) else {
        return false;
    };
    let own_host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).or(authority);
    // The request's own host, under the public URL's scheme: behind TLS
    // termination the request itself does not show the scheme, and a page
    // served over the other scheme is not the app's.
    let public = endpoints.gate().flows().redirect.public_origin();
    let own = own_host
        .and_then(|host| parse_origin(&format!("{}://{}", public.scheme, host.to_ascii_lowercase())).ok())
        .is_some_and(|own| own == origin);
    own || *public == origin || endpoints.inner.allowed_origins.contains(&origin)
}

/// A present but wrong `X-Appwrite-Project` is refused; absent is fine
/// (browsers sending only the cookie do not set it).
pub(super) fn check_project(endpoints: &Endpoints, headers: &HeaderMap) -> Result<(), Refusal> {
    match headers.get(PROJECT_HEADER).map(HeaderValue::as_bytes) {
        None | Some(b"") => Ok(()),
        Some(project) if project == endpoints.gate().project().as_bytes() => Ok(()),
        Some(_) => Err(Refusal::Domain(Error::argument(
            "Project with the requested ID could not be found.",
        ))),
    }
}

/// Whether the request carries the right API key. A wrong key is an error,
/// never a silent downgrade to an anonymous call.
pub(super) fn optional_api_key(endpoints: &Endpoints, headers: &HeaderMap) -> Result<bool, Refusal> {
    let Some(given) = headers.get(KEY_HEADER) else {
        return Ok(false);
    };
    let expected: Option<&Secret> = endpoints.config().api_key.as_ref();
    match expected {
        Some(expected) if ct_eq(expected.expose().as_bytes(), given.as_bytes()) => Ok(true),
        _ => Err(Refusal::Domain(Error::Unauthorized)),
    }
}

/// The users routes need the API key: without it (or with a wrong one) the
/// caller is a guest, who lacks the scope, as Appwrite answers.
pub(super) fn require_api_key(endpoints: &Endpoints, headers: &HeaderMap) -> Result<(), Refusal> {
    match optional_api_key(endpoints, headers) {
        Ok(true) => Ok(()),
        Ok(false) | Err(_) => Err(Refusal::Http(ErrorKind::UnauthorizedScope)),
    }
}
