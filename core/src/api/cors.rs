//! CORS for the mounted routes, and Appwrite's fallback cookies for web apps
//! on another site.
//!
//! Only the [allowed origins](super::ApiConfig::allowed_origins) get CORS
//! headers: a browser then lets their pages call these routes with the
//! session cookie (`credentials: 'include'`). Any other origin gets none, so
//! its pages can neither read a response nor send a credentialed preflighted
//! request. The application's own routes are the application's business
//! (`tower-http`'s `CorsLayer`, `actix-cors`).
//!
//! A page on another *site* may not get the cookie back at all (browsers
//! that block third-party cookies). Appwrite's answer, which its Web SDK
//! expects: a session created from such an origin is also sent in the
//! `X-Fallback-Cookies` response header, the SDK keeps it in
//! `localStorage` and sends it back in the `X-Fallback-Cookies` request
//! header, which [`find_credential`](super::find_credential) accepts after
//! the session header and the cookie.

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Method, Request, Response, StatusCode};

use crate::policy::{parse_origin, Origin};
use crate::secret::Secret;

use super::wire::EMPTY_CONTENT_TYPE;
use super::Endpoints;

/// The header carrying the fallback cookies, both ways.
pub const FALLBACK_COOKIES_HEADER: &str = "x-fallback-cookies";

const ALLOWED_METHODS: &str = "GET, POST, PUT, PATCH, DELETE, OPTIONS";
/// Long enough to spare most preflights, short enough that a removed origin
/// stops working soon (browsers cap it at 2 h anyway).
const MAX_AGE_SECONDS: &str = "600";

/// The request's `Origin` when it is one of the allowed origins.
pub(super) fn allowed_origin<'a>(endpoints: &Endpoints, headers: &'a HeaderMap) -> Option<(&'a HeaderValue, Origin)> {
    let value = headers.get(header::ORIGIN)?;
    let origin = parse_origin(value.to_str().ok()?).ok()?;
    endpoints
        .inner
        .allowed_origins
        .contains(&origin)
        .then_some((value, origin))
}

/// Whether a request header name is one the Appwrite SDKs send.
fn is_sdk_header(name: &str) -> bool {
    name == "content-type"
        || name == FALLBACK_COOKIES_HEADER
        || name.starts_with("x-appwrite-")
        || name.starts_with("x-sdk-")
}

/// The answer to `OPTIONS` on a mounted route. For an allowed origin asking
/// for an allowed method and only the SDKs' headers: 204 with the CORS
/// headers; otherwise 204 without them, which the browser reads as "no".
pub(super) fn preflight(endpoints: &Endpoints, request: &Request<Bytes>) -> Response<Bytes> {
    let mut response = Response::new(Bytes::new());
    *response.status_mut() = StatusCode::NO_CONTENT;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(EMPTY_CONTENT_TYPE));
    headers.insert(header::ALLOW, HeaderValue::from_static(ALLOWED_METHODS));
    headers.insert(header::VARY, HeaderValue::from_static("Origin"));
    let asked = request.headers();
    let Some((origin, _)) = allowed_origin(endpoints, asked) else {
        return response;
    };
    let method_allowed = asked
        .get(header::ACCESS_CONTROL_REQUEST_METHOD)
        .and_then(|m| Method::from_bytes(m.as_bytes()).ok())
        .is_some_and(|m| ALLOWED_METHODS.split(", ").any(|allowed| allowed == m.as_str()));
    let requested: Vec<String> = asked
        .get_all(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|name| name.trim().to_ascii_lowercase())
        .filter(|name| !name.is_empty())
        .collect();
    if !method_allowed || !requested.iter().all(|name| is_sdk_header(name)) {
        return response;
    }
    let headers = response.headers_mut();
    grant(headers, origin);
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static(ALLOWED_METHODS),
    );
    if let Ok(names) = HeaderValue::from_str(&requested.join(", "))
        && !requested.is_empty()
    {
        headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, names);
    }
    headers.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static(MAX_AGE_SECONDS),
    );
    response
}

/// Adds the CORS headers of an actual (not preflight) response: for an
/// allowed origin, that it may read the response and the fallback cookies;
/// for every origin, that the answer depends on it.
pub(super) fn decorate(endpoints: &Endpoints, request_headers: &HeaderMap, response: &mut Response<Bytes>) {
    let headers = response.headers_mut();
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
    if let Some((origin, _)) = allowed_origin(endpoints, request_headers) {
        grant(headers, origin);
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("X-Fallback-Cookies"),
        );
    }
}

/// Lets `origin`'s pages read the answer, with credentials.
fn grant(headers: &mut HeaderMap, origin: &HeaderValue) {
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
        HeaderValue::from_static("true"),
    );
}

/// Whether the request comes from a page of an allowed origin on another
/// site than the API's: the case where the cookie may never come back, and
/// Appwrite sends the fallback cookies.
pub(super) fn from_another_site(endpoints: &Endpoints, request: &Request<Bytes>) -> bool {
    let Some((_, origin)) = allowed_origin(endpoints, request.headers()) else {
        return false;
    };
    let api_host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| request.uri().host())
        .map(host_without_port)
        .unwrap_or_else(|| endpoints.gate().flows().redirect.public_origin().host.clone());
    site_of(&origin.host) != site_of(&api_host)
}

fn host_without_port(authority: &str) -> String {
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.rsplit_once(':').map_or(authority, |(host, _)| host),
    };
    host.to_ascii_lowercase()
}

/// The site of a host, approximately: an address or a single label is its
/// own site, a name is its last two labels (so `app.example.com` and
/// `api.example.com` are one site). Without the public suffix list,
/// `a.co.uk` and `b.co.uk` also count as one site: they then get no
/// fallback header, and only the cookie works (the safer mistake).
fn site_of(host: &str) -> String {
    if host.parse::<std::net::IpAddr>().is_ok() {
        return host.to_owned();
    }
    let labels: Vec<&str> = host.trim_end_matches('.').rsplit('.').take(2).collect();
    labels.into_iter().rev().collect::<Vec<_>>().join(".")
}

/// `X-Fallback-Cookies: {"<cookie name>":"<credential>"}` for a new session.
pub(super) fn fallback_cookies(endpoints: &Endpoints, credential: &Secret) -> Secret {
    let json = serde_json::json!({ endpoints.cookie_name(): credential.expose() });
    Secret::new(json.to_string())
}

/// `X-Fallback-Cookies: []`: the session is gone (Appwrite's value).
pub(super) const NO_FALLBACK_COOKIES: &str = "[]";

/// The credential in an `X-Fallback-Cookies` request header: the value of
/// `cookie_name` in its JSON object. Anything else (not an object, escapes
/// in the value, `[]`) is no credential.
pub(super) fn credential_in_fallback<'a>(header: &'a [u8], cookie_name: &str) -> Option<&'a str> {
    let cookies: std::collections::BTreeMap<&'a str, &'a str> = serde_json::from_slice(header).ok()?;
    cookies.get(cookie_name).copied().filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sites() {
        assert_eq!(site_of("app.example.com"), "example.com");
        assert_eq!(site_of("example.com"), "example.com");
        assert_eq!(site_of("localhost"), "localhost");
        assert_eq!(site_of("127.0.0.1"), "127.0.0.1");
        assert_ne!(site_of("localhost"), site_of("127.0.0.1"));
        assert_eq!(host_without_port("API.example.com:8443"), "api.example.com");
        assert_eq!(host_without_port("[::1]:80"), "::1");
    }

    #[test]
    fn fallback_credential() {
        let name = "a_session_shop";
        assert_eq!(
            credential_in_fallback(br#"{"a_session_shop":"abc"}"#, name),
            Some("abc")
        );
        assert_eq!(credential_in_fallback(br#"{"a_session_other":"abc"}"#, name), None);
        assert_eq!(credential_in_fallback(b"[]", name), None);
        assert_eq!(credential_in_fallback(b"not json", name), None);
        assert_eq!(credential_in_fallback(br#"{"a_session_shop":1}"#, name), None);
        assert_eq!(credential_in_fallback(br#"{"a_session_shop":""}"#, name), None);
    }
}
