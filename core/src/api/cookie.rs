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

/// [`credential_from_headers`] for frameworks with other header types: the
/// session header's value, if any, and every `Cookie` header's value (asked
/// for only without the session header, which wins).
pub fn find_credential<'a, I: Iterator<Item = &'a [u8]>>(
    session_header: Option<&'a [u8]>,
    cookie_headers: impl FnOnce() -> I,
    settings: &HttpSettings,
) -> Option<&'a str> {
    if let Some(value) = session_header {
        return std::str::from_utf8(value).ok().map(str::trim).filter(|v| !v.is_empty());
    }
    let name = settings.cookie_name();
    cookie_headers()
        .filter_map(|v| std::str::from_utf8(v).ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim().trim_matches('"'))
        .filter(|v| !v.is_empty())
}

/// `Set-Cookie` for a new session: HttpOnly (no script reads it),
/// SameSite=Lax (no cross-site POST carries it), Path=/, Secure unless
/// configured off, expiring with the session.
pub fn session_cookie(settings: &HttpSettings, credential: &Secret, expire: DateTime<Utc>) -> Secret {
    let secure = if settings.cookie.secure { "; Secure" } else { "" };
    Secret::new(format!(
        "{}={}; Path=/; Expires={}; HttpOnly; SameSite=Lax{}",
        settings.cookie_name(),
        credential.expose(),
        expire.format("%a, %d %b %Y %H:%M:%S GMT"),
        secure
    ))
}

/// `Set-Cookie` that removes the session cookie (logout).
pub fn expired_cookie(settings: &HttpSettings) -> String {
    let secure = if settings.cookie.secure { "; Secure" } else { "" };
    format!(
        "{}=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax{}",
        settings.cookie_name(),
        secure
    )
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
}
