//! Magic-URL targets: an absolute http(s) URL whose origin (scheme, host
//! and port) is on the allow-list, or a mobile app's link in an
//! allow-listed custom scheme (`myapp://auth/callback`), whose query
//! carries none of the link's own parameters, checked strictly on the raw
//! text (no normalisation that an attacker could steer), and the link
//! built from it.

use crate::error::Error;

/// Longest accepted `url`.
const MAX_URL_LEN: usize = 2048;

/// The parameters the link adds: a `url` that already carries one is
/// refused, or the mailed link would hand the victim the attacker's pair
/// first (login CSRF).
pub const LINK_PARAMS: [&str; 4] = ["userId", "secret", "expire", "project"];

/// A web origin: scheme, lowercase host, port (the scheme's default when
/// the text names none).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Origin {
    /// `http` or `https`.
    pub scheme: String,
    /// Lowercase host name or IPv4 address.
    pub host: String,
    /// The port.
    pub port: u16,
}

impl Origin {
    /// Parses an origin `scheme://host[:port]` (nothing after it but an
    /// optional `/`), as browsers send it in `Origin`.
    ///
    /// ```
    /// use tokengate::policy::Origin;
    /// let origin = Origin::parse("http://localhost:3000").unwrap();
    /// assert_eq!((origin.host.as_str(), origin.port), ("localhost", 3000));
    /// assert_eq!(Origin::parse("https://app.example.com").unwrap().port, 443);
    /// assert!(Origin::parse("https://app.example.com/path").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<Origin, &'static str> {
        parse_origin(text)
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let default = if self.scheme == "https" { 443 } else { 80 };
        if self.port == default {
            write!(f, "{}://{}", self.scheme, self.host)
        } else {
            write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
        }
    }
}

/// [`Origin::parse`].
pub fn parse_origin(text: &str) -> Result<Origin, &'static str> {
    let parsed = parse(text.strip_suffix('/').unwrap_or(text))?;
    if parsed.rest.is_empty() {
        Ok(parsed.origin)
    } else {
        Err("an origin has no path, query or fragment")
    }
}

/// Where magic links may point.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RedirectPolicy {
    /// The default target (the configured public URL, never the Host header).
    pub public_url: String,
    /// Origins allowed in `url`, compared exactly (scheme, host and port).
    pub allowed_origins: Vec<Origin>,
    /// Custom schemes of mobile apps allowed in `url` (`myapp` for
    /// `myapp://auth/callback`), lowercase; none by default.
    pub allowed_schemes: Vec<String>,
}

/// Schemes that are never an app's own: the web's (pinned by origin
/// instead), and those a browser or OS runs or reads locally.
const RESERVED_SCHEMES: [&str; 20] = [
    "http",
    "https",
    "javascript",
    "vbscript",
    "data",
    "file",
    "blob",
    "about",
    "filesystem",
    "view-source",
    "intent",
    "content",
    "chrome",
    "ftp",
    "ws",
    "wss",
    "mailto",
    "tel",
    "sms",
    "jar",
];

/// Loopback hosts: a link to them never leaves the user's machine, so a
/// listed `http://localhost:<port>` is accepted beside an `https` public URL
/// (local development against a deployed server).
fn is_loopback(host: &str) -> bool {
    host == "localhost" || host == "127.0.0.1"
}

impl RedirectPolicy {
    /// A policy for `public_url`, allowing its origin plus `extra`: origins
    /// (`https://app.example.com:8443`, `http://localhost:3000`) or bare
    /// hosts (the public URL's scheme and that scheme's default port). With
    /// an `https` public URL no `http` origin is accepted: a link must never
    /// downgrade.
    ///
    /// ```
    /// use tokengate::policy::RedirectPolicy;
    /// let policy = RedirectPolicy::new("https://app.example.com", &["admin.example.com"]).unwrap();
    /// assert!(policy.check("https://app.example.com/login").is_ok());
    /// assert!(policy.check("https://admin.example.com/cb").is_ok());
    /// assert!(policy.check("http://app.example.com/login").is_err());     // scheme pinned
    /// assert!(policy.check("https://app.example.com:444/").is_err());     // port pinned
    /// assert!(policy.check("https://app.example.com.evil.io/").is_err());
    /// assert!(policy.check("https://app.example.com/?userId=x").is_err()); // injected pair
    /// assert!(RedirectPolicy::new("https://app.example.com", &["http://app.example.com"]).is_err());
    /// ```
    pub fn new(public_url: &str, extra: &[&str]) -> Result<Self, Error> {
        let public = parse(public_url)
            .map_err(|_| Error::Config(format!("public URL is not an absolute http(s) URL: {public_url:?}")))?
            .origin;
        let mut allowed_origins = vec![public.clone()];
        for entry in extra {
            let entry = entry.trim();
            let origin = if entry.contains("://") {
                parse_origin(entry).map_err(|reason| {
                    Error::Config(format!("redirect origin {entry:?} is not an http(s) origin ({reason})"))
                })?
            } else {
                let default_port = if public.scheme == "https" { 443 } else { 80 };
                parse_origin(&format!("{}://{entry}", public.scheme))
                    .ok()
                    .filter(|o| o.port == default_port && !entry.contains(':'))
                    .ok_or_else(|| Error::Config(format!("redirect host must be a lowercase host name: {entry:?}")))?
            };
            if public.scheme == "https" && origin.scheme == "http" && !is_loopback(&origin.host) {
                return Err(Error::Config(format!(
                    "redirect origin {entry:?} is http while the public URL is https: links must not downgrade"
                )));
            }
            allowed_origins.push(origin);
        }
        Ok(RedirectPolicy {
            public_url: public_url.to_owned(),
            allowed_origins,
            allowed_schemes: Vec::new(),
        })
    }

    /// Also allows links into mobile apps: `url` may use one of `schemes`
    /// (`myapp` allows `myapp://auth/callback`), as Appwrite allows for its
    /// mobile platforms. A scheme is lowercase letters, digits, `+`, `-`
    /// and `.`, starting with a letter; the web's and the ones browsers run
    /// locally (`javascript`, `data`, `file`, `intent`, …) are refused.
    /// The URL must then be `scheme://host[/path][?query][#fragment]` with
    /// a lowercase host and no user or port, and carry none of the link's
    /// parameters, like any other target.
    ///
    /// ```
    /// use tokengate::policy::RedirectPolicy;
    /// let policy = RedirectPolicy::new("https://example.com", &[]).unwrap().allow_schemes(&["myapp"]).unwrap();
    /// assert!(policy.check("myapp://auth/callback").is_ok());
    /// assert!(policy.check("MYAPP://auth/callback").is_err());
    /// assert!(policy.check("myapp:/auth").is_err());
    /// assert!(policy.check("myapp://evil@auth/").is_err());
    /// assert!(policy.check("otherapp://auth/callback").is_err());
    /// assert!(RedirectPolicy::new("https://example.com", &[]).unwrap().allow_schemes(&["javascript"]).is_err());
    /// ```
    pub fn allow_schemes(mut self, schemes: &[&str]) -> Result<Self, Error> {
        for scheme in schemes {
            let scheme = scheme.trim();
            let well_formed = scheme.len() <= 32
                && scheme.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
                && scheme
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.'));
            if !well_formed {
                return Err(Error::Config(format!(
                    "redirect scheme {scheme:?} must be lowercase letters, digits, '+', '-' or '.', starting with a letter"
                )));
            }
            if RESERVED_SCHEMES.contains(&scheme) {
                return Err(Error::Config(format!(
                    "redirect scheme {scheme:?} is not an app's own scheme"
                )));
            }
            self.allowed_schemes.push(scheme.to_owned());
        }
        Ok(self)
    }

    /// The public URL's origin (always the first allowed one).
    pub fn public_origin(&self) -> &Origin {
        &self.allowed_origins[0]
    }

    /// Accepts `url` or answers `general_argument_invalid`.
    pub fn check(&self, url: &str) -> Result<(), Error> {
        let rest = match parse(url) {
            Ok(parsed) if self.allowed_origins.contains(&parsed.origin) => parsed.rest,
            Ok(_) => return Err(Error::argument("Invalid `url` param: URL origin is not allowed")),
            Err("scheme") if !self.allowed_schemes.is_empty() => {
                parse_app_link(url, &self.allowed_schemes).map_err(|reason| {
                    Error::argument(format!(
                        "Invalid `url` param: URL must be an absolute http(s) URL on an allowed origin \
                         or a link in an allowed app scheme ({reason})"
                    ))
                })?
            }
            Err(reason) => {
                return Err(Error::argument(format!(
                    "Invalid `url` param: URL must be an absolute http(s) URL on an allowed origin ({reason})"
                )))
            }
        };
        if let Some(name) = carried_link_param(rest) {
            return Err(Error::argument(format!(
                "Invalid `url` param: URL must not carry the `{name}` parameter"
            )));
        }
        Ok(())
    }

    /// The link: `url` (or the public URL) with `params` added to its query,
    /// before any fragment.
    pub fn link(&self, url: Option<&str>, params: &[(&str, &str)]) -> String {
        let base = url.unwrap_or(&self.public_url);
        let (before_fragment, fragment) = match base.split_once('#') {
            Some((head, tail)) => (head, Some(tail)),
            None => (base, None),
        };
        let mut link = before_fragment.to_owned();
        // An empty query (`…?`) or one ending in `&` takes the first
        // parameter as is; any other query gets `&`, no query gets `?`.
        let mut separator = match before_fragment.split_once('?') {
            None => "?",
            Some((_, query)) if query.is_empty() || query.ends_with('&') => "",
            Some(_) => "&",
        };
        for (name, value) in params {
            link.push_str(separator);
            link.push_str(name);
            link.push('=');
            link.push_str(&percent_encode(value));
            separator = "&";
        }
        if let Some(fragment) = fragment {
            link.push('#');
            link.push_str(fragment);
        }
        link
    }
}

struct Parsed<'a> {
    origin: Origin,
    /// Path, query and fragment.
    rest: &'a str,
}

fn is_host_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'.'
}

/// Strict parse of `scheme://host[:port][/path][?query][#fragment]`.
fn parse(url: &str) -> Result<Parsed<'_>, &'static str> {
    if url.is_empty() || url.len() > MAX_URL_LEN {
        return Err("length");
    }
    // Only visible ASCII: no spaces, tabs, CR/LF, NUL or Unicode look-alikes.
    if !url.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err("characters");
    }
    if url.contains('\\') {
        return Err("backslash");
    }
    // Lowercase schemes only; `javascript:`, `data:`, `https:evil` and
    // scheme-relative `//evil` all fail here.
    let (scheme, rest) = if let Some(rest) = url.strip_prefix("https://") {
        ("https", rest)
    } else if let Some(rest) = url.strip_prefix("http://") {
        ("http", rest)
    } else {
        return Err("scheme");
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    if authority.contains('@') {
        return Err("userinfo");
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    };
    let port = match port {
        None => {
            if scheme == "https" {
                443
            } else {
                80
            }
        }
        Some(port) => {
            if port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()) {
                return Err("port");
            }
            match port.parse::<u16>() {
                Ok(p) if p > 0 => p,
                _ => return Err("port"),
            }
        }
    };
    // Host names: lowercase letters, digits, '-' and '.', no empty label, no
    // trailing dot. IPv6 literals and percent-encoding are refused outright.
    if host.is_empty()
        || !host.bytes().all(is_host_byte)
        || host.bytes().any(|b| b.is_ascii_uppercase())
        || host.split('.').any(str::is_empty)
    {
        return Err("host");
    }
    // `/\evil`-style and `//evil` paths that browsers may read as a new host.
    if rest[end..].starts_with("//") {
        return Err("path");
    }
    Ok(Parsed {
        origin: Origin {
            scheme: scheme.to_owned(),
            host: host.to_owned(),
            port,
        },
        rest: &rest[end..],
    })
}

/// Strict parse of an app link `scheme://host[/path][?query][#fragment]`
/// in one of `schemes` (compared exactly: `MYAPP://` is not `myapp://`);
/// answers the path, query and fragment. The byte checks of [`parse`]
/// (visible ASCII, no backslash) ran before.
fn parse_app_link<'a>(url: &'a str, schemes: &[String]) -> Result<&'a str, &'static str> {
    let (scheme, rest) = url.split_once("://").ok_or("scheme")?;
    if !schemes.iter().any(|allowed| allowed == scheme) {
        return Err("scheme");
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let host = &rest[..end];
    if host.contains('@') {
        return Err("userinfo");
    }
    if host.contains(':') {
        return Err("port");
    }
    if host.is_empty()
        || !host.bytes().all(is_host_byte)
        || host.bytes().any(|b| b.is_ascii_uppercase())
        || host.split('.').any(str::is_empty)
    {
        return Err("host");
    }
    if rest[end..].starts_with("//") {
        return Err("path");
    }
    Ok(&rest[end..])
}

/// The first of [`LINK_PARAMS`] named in the query or fragment of `rest`,
/// compared after percent-decoding and without regard to case (a page may
/// read parameters either way).
fn carried_link_param(rest: &str) -> Option<&'static str> {
    let after_path = rest.find(['?', '#']).map_or("", |i| &rest[i + 1..]);
    after_path
        .split(['&', '?', '#', ';'])
        .map(|pair| pair.split('=').next().unwrap_or_default())
        .map(|name| percent_decode(&name.replace('+', " ")))
        .find_map(|name| {
            LINK_PARAMS
                .iter()
                .find(|p| p.eq_ignore_ascii_case(name.trim()))
                .copied()
        })
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
pub(crate) fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RedirectPolicy {
        RedirectPolicy::new(
            "http://127.0.0.1:8080",
            &[
                "app.example.com",
                "https://app.example.com:8443",
                "https://app.example.com",
            ],
        )
        .unwrap()
    }

    #[test]
    fn accepts_allowed_targets() {
        let p = policy();
        for ok in [
            "http://127.0.0.1:8080/",
            "http://127.0.0.1:8080/login?next=%2F#top",
            "https://app.example.com",
            "https://app.example.com:8443/a/b?c=d",
        ] {
            assert!(p.check(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_bypass_forms() {
        let p = policy();
        for bad in [
            "//evil.com",
            "/\\evil.com",
            "https:evil.com",
            "https:/evil.com",
            "https://app.example.com@evil.com/",
            "https://app.example.com.evil.com/",
            "https://evil.com/app.example.com",
            "https://app.example.com\\@evil.com",
            "https://app.example.com\r\n.evil.com",
            "https://app.example.com\t",
            "javascript:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "HTTPS://app.example.com",
            "https://APP.example.com",
            "https://app.example.com./",
            "http://2130706433/",
            "http://0x7f.0.0.1/",
            "http://0177.0.0.1/",
            "http://127.1/",
            "http://[::1]/",
            "http://127.0.0.1:8080//evil.com",
            "https://app.example.com:99999/",
            "https://app.example.com:444/",
            "http://app.example.com:8443/",
            "http://127.0.0.1:8081/",
            "https://127.0.0.1:8080/",
            "https://app.example.com/?userId=victim",
            "https://app.example.com/cb?x=1&secret=s",
            "https://app.example.com/cb?EXPIRE=1",
            "https://app.example.com/cb?%75serId=a",
            "https://app.example.com/cb?pro%6Aect=a",
            "https://app.example.com/cb#userId=a&secret=b",
            "https://app.example.com/cb?a=1;secret=b",
            "https://app.example.com/cb?+userId=a",
            "https://app.example.com:/",
            "ftp://app.example.com/",
            "https://аpp.example.com/",
            "",
            "https://",
            "https://app..example.com/",
            "https://%61pp.example.com/",
        ] {
            assert!(p.check(bad).is_err(), "{bad:?} must be rejected");
        }
    }

    fn app_policy() -> RedirectPolicy {
        RedirectPolicy::new("https://example.com", &["http://localhost:3000"])
            .unwrap()
            .allow_schemes(&["myapp", "com.example.app"])
            .unwrap()
    }

    #[test]
    fn app_links_in_allowed_schemes() {
        let p = app_policy();
        for ok in [
            "myapp://auth/callback",
            "myapp://auth",
            "myapp://auth/callback?state=1#x",
            "com.example.app://login",
            "http://localhost:3000/cb",
            "https://example.com/cb",
        ] {
            assert!(p.check(ok).is_ok(), "{ok}");
        }
        assert_eq!(
            p.link(Some("myapp://auth/callback"), &[("userId", "u1")]),
            "myapp://auth/callback?userId=u1"
        );
    }

    #[test]
    fn app_link_bypass_forms() {
        let p = app_policy();
        for bad in [
            // The scheme: exact, lowercase, followed by `//`.
            "myapp:/x",
            "myapp:x",
            "myapp:",
            "myapp://",
            "MYAPP://auth",
            "Myapp://auth",
            "myapp2://auth",
            "xmyapp://auth",
            "myapp.evil://auth",
            " myapp://auth",
            "myapp ://auth",
            "my%61pp://auth",
            // The authority: no user, no port, a plain lowercase host.
            "myapp://evil@host",
            "myapp://auth@evil.com/",
            "myapp://:@auth/",
            "myapp://auth:80/",
            "myapp://AUTH/",
            "myapp://au th/",
            "myapp://au%74h/",
            "myapp://auth..x/",
            "myapp:///auth",
            "myapp:////evil.com",
            "myapp://auth//evil.com",
            "myapp://auth\\@evil.com",
            "myapp://auth\r\n/",
            "myapp://auth\t/",
            // `javascript` in disguise.
            "javascript://auth/%0aalert(1)",
            "javascript:alert(1)//myapp://auth",
            "JaVaScRiPt:alert(1)",
            "java\tscript:alert(1)",
            "java\nscript:alert(1)",
            "\u{0}javascript:alert(1)",
            "myapp:javascript:alert(1)",
            "javascript:myapp://auth",
            "data:text/html,myapp://auth",
            "vbscript:msgbox(1)",
            "intent://auth#Intent;scheme=myapp;end",
            "file:///etc/passwd",
            // The link's own parameters, in every place.
            "myapp://auth/cb?userId=victim",
            "myapp://auth/cb?x=1&secret=s",
            "myapp://auth/cb#secret=s",
            "myapp://auth/cb?%73ecret=s",
            // Loopback other than the listed origin.
            "http://localhost:3001/cb",
            "http://127.0.0.1:3000/cb",
            "https://localhost:3000/cb",
        ] {
            assert!(p.check(bad).is_err(), "{bad:?} must be rejected");
        }
        // Without schemes configured, app links are refused outright.
        let web_only = RedirectPolicy::new("https://example.com", &[]).unwrap();
        assert!(web_only.check("myapp://auth/callback").is_err());
    }

    #[test]
    fn only_app_schemes_can_be_allowed() {
        let base = || RedirectPolicy::new("https://example.com", &[]).unwrap();
        for bad in [
            "javascript",
            "JavaScript",
            "data",
            "vbscript",
            "file",
            "http",
            "https",
            "intent",
            "blob",
            "about",
            "",
            "1app",
            "my app",
            "myapp:",
            "myapp://",
            "my_app",
            "-app",
            &"a".repeat(33),
        ] {
            assert!(base().allow_schemes(&[bad]).is_err(), "{bad:?} must be refused");
        }
        assert!(base().allow_schemes(&["myapp", "com.example.app", "x-app+1"]).is_ok());
    }

    #[test]
    fn loopback_http_only_when_listed() {
        // Listed loopback origins pass beside an https public URL; other
        // http origins would downgrade and stay a configuration error.
        assert!(RedirectPolicy::new("https://example.com", &["http://127.0.0.1:8081"]).is_ok());
        assert!(RedirectPolicy::new("https://example.com", &["http://dev.example.com:3000"]).is_err());
        let p = RedirectPolicy::new("https://example.com", &[]).unwrap();
        assert!(p.check("http://localhost:3000/").is_err());
        assert!(p.check("http://127.0.0.1:3000/").is_err());
    }

    #[test]
    fn bare_hosts_take_the_public_scheme_and_default_port() {
        let https = RedirectPolicy::new("https://example.com", &["app.example.com"]).unwrap();
        assert!(https.check("https://app.example.com/").is_ok());
        assert!(https.check("https://app.example.com:443/").is_ok());
        assert!(https.check("http://app.example.com/").is_err());
        assert!(https.check("https://app.example.com:8443/").is_err());
        for bad in [
            "app.example.com:8443",
            "http://app.example.com",
            "https://x.com/path",
            "Evil.com",
            "",
        ] {
            assert!(RedirectPolicy::new("https://example.com", &[bad]).is_err(), "{bad:?}");
        }
        // Harmless names that only contain a link parameter's letters pass.
        assert!(https.check("https://example.com/cb?userIdentity=1&secrets=2").is_ok());
    }

    #[test]
    fn link_adds_query_before_fragment() {
        let p = policy();
        let link = p.link(
            Some("https://app.example.com/cb?x=1#frag"),
            &[("userId", "u1"), ("expire", "2026-01-01T00:00:00.000+00:00")],
        );
        assert_eq!(
            link,
            "https://app.example.com/cb?x=1&userId=u1&expire=2026-01-01T00%3A00%3A00.000%2B00%3A00#frag"
        );
        assert_eq!(p.link(None, &[("a", "b")]), "http://127.0.0.1:8080?a=b");
        // An open query keeps its `?` (found by fuzzing: it used to be dropped).
        assert_eq!(
            p.link(Some("http://127.0.0.1:8080/?"), &[("a", "b")]),
            "http://127.0.0.1:8080/?a=b"
        );
        assert_eq!(
            p.link(Some("http://127.0.0.1:8080/?x=1&"), &[("a", "b")]),
            "http://127.0.0.1:8080/?x=1&a=b"
        );
        assert_eq!(
            p.link(Some("http://127.0.0.1:8080?x/?"), &[("a", "b")]),
            "http://127.0.0.1:8080?x/?&a=b"
        );
    }
}
