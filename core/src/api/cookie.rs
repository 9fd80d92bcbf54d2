//! Reading the session credential from a request and writing the cookie.

use chrono::{DateTime, Utc};
use http::HeaderName;

use crate::secret::Secret;

use super::cors::credential_in_fallback;
pub use super::cors::FALLBACK_COOKIES_HEADER;
use super::Endpoints;

/// Header carrying the session credential.
pub const SESSION_HEADER: &str = "x-appwrite-session";
/// [`SESSION_HEADER`] as a header name: a lookup by text would parse the
/// text again on every request.
pub(super) static SESSION_HEADER_NAME: HeaderName = HeaderName::from_static(SESSION_HEADER);
/// Header carrying the API key.
pub const KEY_HEADER: &str = "x-appwrite-key";
/// Header naming the project.
pub const PROJECT_HEADER: &str = "x-appwrite-project";

/// What [`find_credential`] answers for a request that carries the session
/// cookie twice with different values (a sibling subdomain can plant a
/// second one): a text no credential decodes to, so the request is treated
/// as carrying an invalid credential (401 where a session is required).
pub const AMBIGUOUS_COOKIE: &str = "ambiguous-session-cookie";

/// The session credential among a request's headers, for any framework's
/// header types, in this order: the session header's value, if any; else
/// the cookie among every `Cookie` header's value; else the
/// `X-Fallback-Cookies` header's ([`FALLBACK_COOKIES_HEADER`], a JSON object
/// naming the cookie, which Appwrite's Web SDK sends when the browser
/// blocks the cookie). Only a cookie named exactly `cookie_name` counts;
/// two of them with different values give [`AMBIGUOUS_COOKIE`], and so does
/// a cookie that the fallback header contradicts (a cookie planted by a
/// sibling subdomain must not silently win over the page's own session).
///
/// ```
/// use tokengate::api::adapter::{find_credential, AMBIGUOUS_COOKIE};
/// let cookies = [b"theme=dark; a_session_default=abc".as_slice()];
/// let name = "a_session_default";
/// assert_eq!(find_credential(None, || cookies.into_iter(), None, name), Some("abc"));
/// assert_eq!(find_credential(Some(b"hdr"), || cookies.into_iter(), None, name), Some("hdr"));
/// let fallback = br#"{"a_session_default":"fb"}"#.as_slice();
/// assert_eq!(find_credential(None, || [].into_iter(), Some(fallback), name), Some("fb"));
/// assert_eq!(find_credential(None, || cookies.into_iter(), Some(fallback), name), Some(AMBIGUOUS_COOKIE));
/// let agreeing = br#"{"a_session_default":"abc"}"#.as_slice();
/// assert_eq!(find_credential(None, || cookies.into_iter(), Some(agreeing), name), Some("abc"));
/// ```
pub fn find_credential<'a, I: Iterator<Item = &'a [u8]>>(
    session_header: Option<&'a [u8]>,
    cookie_headers: impl FnOnce() -> I,
    fallback_header: Option<&'a [u8]>,
    cookie_name: &str,
) -> Option<&'a str> {
    if let Some(value) = session_header {
        return std::str::from_utf8(value).ok().map(str::trim).filter(|v| !v.is_empty());
    }
    let fallback = || fallback_header.and_then(|header| credential_in_fallback(header, cookie_name));
    match find_cookie(cookie_headers(), cookie_name) {
        Some(cookie) if cookie != AMBIGUOUS_COOKIE => match fallback() {
            Some(other) if other != cookie => Some(AMBIGUOUS_COOKIE),
            _ => Some(cookie),
        },
        Some(ambiguous) => Some(ambiguous),
        None => fallback(),
    }
}

fn find_cookie<'a>(cookie_headers: impl Iterator<Item = &'a [u8]>, name: &str) -> Option<&'a str> {
    let mut found: Option<&'a str> = None;
    let values = cookie_headers
        .filter_map(|v| std::str::from_utf8(v).ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(key, _)| *key == name)
        .map(|(_, value)| value.trim().trim_matches('"'));
    for value in values {
        match found {
            Some(first) if first != value => return Some(AMBIGUOUS_COOKIE),
            _ => found = Some(value),
        }
    }
    found.filter(|v| !v.is_empty())
}

/// `Set-Cookie` for a new session: HttpOnly (no script reads it),
/// SameSite=Lax by default (no cross-site POST carries it), Path=/, Secure
/// unless configured off, the configured `Domain`, expiring with the session.
pub(super) fn session_cookie(endpoints: &Endpoints, credential: &Secret, expire: DateTime<Utc>) -> Secret {
    Secret::new(format!(
        "{}={}; Path=/; Expires={}{}",
        endpoints.cookie_name(),
        credential.expose(),
        expire.format("%a, %d %b %Y %H:%M:%S GMT"),
        attributes(endpoints)
    ))
}

/// `Set-Cookie` that removes the session cookie (logout).
pub(super) fn expired_cookie(endpoints: &Endpoints) -> String {
    format!(
        "{}=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT{}",
        endpoints.cookie_name(),
        attributes(endpoints)
    )
}

fn attributes(endpoints: &Endpoints) -> String {
    let cookie = &endpoints.config().cookie;
    let domain = cookie
        .domain
        .as_ref()
        .map(|d| format!("; Domain={d}"))
        .unwrap_or_default();
    let secure = if cookie.secure { "; Secure" } else { "" };
    format!("{domain}; HttpOnly; SameSite={}{secure}", cookie.same_site.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{header, HeaderMap, HeaderValue};

    fn credential(headers: &HeaderMap) -> Option<&str> {
        find_credential(
            headers.get(SESSION_HEADER).map(|v| v.as_bytes()),
            || headers.get_all(header::COOKIE).iter().map(|v| v.as_bytes()),
            headers.get(FALLBACK_COOKIES_HEADER).map(|v| v.as_bytes()),
            "a_session_default",
        )
    }

    #[test]
    fn header_wins_over_cookie() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static("x=1; a_session_default=abc"));
        assert_eq!(credential(&headers), Some("abc"));
        headers.insert(SESSION_HEADER, HeaderValue::from_static("hdr"));
        assert_eq!(credential(&headers), Some("hdr"));
    }

    #[test]
    fn exact_name_and_one_value_only() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("xa_session_default=evil; a_session_defaultx=evil"),
        );
        assert_eq!(credential(&headers), None);
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a_session_default=abc; a_session_default=abc"),
        );
        assert_eq!(credential(&headers), Some("abc"));
        headers.insert(header::COOKIE, HeaderValue::from_static("a_session_default=abc"));
        headers.append(header::COOKIE, HeaderValue::from_static("a_session_default=planted"));
        assert_eq!(credential(&headers), Some(AMBIGUOUS_COOKIE));
        assert!(crate::credential::SessionCredential::decode(AMBIGUOUS_COOKIE).is_none());
    }
}
