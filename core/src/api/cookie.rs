//! Reading the session credential from a request and writing the cookie.

use chrono::{DateTime, Utc};
use http::{header, HeaderMap, HeaderName};

use crate::config::HttpSettings;
use crate::secret::Secret;

/// Header carrying the session credential.
pub const SESSION_HEADER: &str = "x-appwrite-session";
/// [`SESSION_HEADER`] as a header name: a lookup by text would parse the
/// text again on every request.
pub static SESSION_HEADER_NAME: HeaderName = HeaderName::from_static(SESSION_HEADER);
/// Header carrying the API key.
pub const KEY_HEADER: &str = "x-appwrite-key";
/// Header naming the project.
pub const PROJECT_HEADER: &str = "x-appwrite-project";

/// The session credential of a request: the `X-Appwrite-Session` header,
/// else the `a_session_<project>` cookie. `None` when neither is present.
pub fn credential_from_headers<'a>(headers: &'a HeaderMap, settings: &HttpSettings) -> Option<&'a str> {
    find_credential(
        headers.get(&SESSION_HEADER_NAME).map(|v| v.as_bytes()),
        || headers.get_all(header::COOKIE).iter().map(|v| v.as_bytes()),
        settings,
    )
}

/// What [`find_credential`] answers for a request that carries the session
/// cookie twice with different values (a sibling subdomain can plant a
/// second one): a text no credential decodes to, so the request is treated
/// as carrying an invalid credential (401 where a session is required).
pub const AMBIGUOUS_COOKIE: &str = "ambiguous-session-cookie";

/// [`credential_from_headers`] for frameworks with other header types: the
/// session header's value, if any, and every `Cookie` header's value (asked
/// for only without the session header, which wins). Only a cookie whose
/// name is exactly the session cookie's counts; two of them with different
/// values give [`AMBIGUOUS_COOKIE`].
pub fn find_credential<'a, I: Iterator<Item = &'a [u8]>>(
    session_header: Option<&'a [u8]>,
    cookie_headers: impl FnOnce() -> I,
    settings: &HttpSettings,
) -> Option<&'a str> {
    if let Some(value) = session_header {
        return std::str::from_utf8(value).ok().map(str::trim).filter(|v| !v.is_empty());
    }
    let name = settings.cookie_name();
    let mut found: Option<&'a str> = None;
    let values = cookie_headers()
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
pub fn session_cookie(settings: &HttpSettings, credential: &Secret, expire: DateTime<Utc>) -> Secret {
    Secret::new(format!(
        "{}={}; Path=/; Expires={}{}",
        settings.cookie_name(),
        credential.expose(),
        expire.format("%a, %d %b %Y %H:%M:%S GMT"),
        attributes(settings)
    ))
}

/// `Set-Cookie` that removes the session cookie (logout).
pub fn expired_cookie(settings: &HttpSettings) -> String {
    format!(
        "{}=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT{}",
        settings.cookie_name(),
        attributes(settings)
    )
}

fn attributes(settings: &HttpSettings) -> String {
    let cookie = &settings.cookie;
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
    use http::HeaderValue;

    #[test]
    fn header_wins_over_cookie() {
        let settings = HttpSettings::default();
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static("x=1; a_session_default=abc"));
        assert_eq!(credential_from_headers(&headers, &settings), Some("abc"));
        headers.insert(SESSION_HEADER, HeaderValue::from_static("hdr"));
        assert_eq!(credential_from_headers(&headers, &settings), Some("hdr"));
    }

    #[test]
    fn exact_name_and_one_value_only() {
        let settings = HttpSettings::default();
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("xa_session_default=evil; a_session_defaultx=evil"),
        );
        assert_eq!(credential_from_headers(&headers, &settings), None);
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a_session_default=abc; a_session_default=abc"),
        );
        assert_eq!(credential_from_headers(&headers, &settings), Some("abc"));
        headers.insert(header::COOKIE, HeaderValue::from_static("a_session_default=abc"));
        headers.append(header::COOKIE, HeaderValue::from_static("a_session_default=planted"));
        assert_eq!(credential_from_headers(&headers, &settings), Some(AMBIGUOUS_COOKIE));
        assert!(crate::SessionCredential::decode(AMBIGUOUS_COOKIE).is_none());
    }
}
