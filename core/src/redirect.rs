//! Magic-URL targets: an absolute http(s) URL whose host is on the
//! allow-list, checked strictly on the raw text (no normalisation that an
//! attacker could steer), and the link built from it.

use crate::error::Error;

/// Longest accepted `url`.
const MAX_URL_LEN: usize = 2048;

/// Where magic links may point.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RedirectPolicy {
    /// The default target (the configured public URL, never the Host header).
    pub public_url: String,
    /// Hosts allowed in `url`, lowercase, compared exactly.
    pub allowed_hosts: Vec<String>,
}

impl RedirectPolicy {
    /// A policy for `public_url`, allowing its host plus `extra_hosts`.
    ///
    /// ```
    /// use tokengate::redirect::RedirectPolicy;
    /// let policy = RedirectPolicy::new("https://app.example.com", &[]).unwrap();
    /// assert!(policy.check("https://app.example.com/login").is_ok());
    /// assert!(policy.check("https://app.example.com.evil.io/").is_err());
    /// assert!(policy.check("//evil.io").is_err());
    /// ```
    pub fn new(public_url: &str, extra_hosts: &[&str]) -> Result<Self, Error> {
        let host = parse(public_url)
            .map_err(|_| Error::Config(format!("public URL is not an absolute http(s) URL: {public_url:?}")))?
            .host
            .to_owned();
        let mut allowed_hosts = vec![host];
        for extra in extra_hosts {
            let extra = extra.trim();
            if extra.is_empty() || !extra.bytes().all(is_host_byte) || extra.bytes().any(|b| b.is_ascii_uppercase()) {
                return Err(Error::Config(format!(
                    "redirect host must be a lowercase host name: {extra:?}"
                )));
            }
            allowed_hosts.push(extra.to_owned());
        }
        Ok(RedirectPolicy {
            public_url: public_url.to_owned(),
            allowed_hosts,
        })
    }

    /// Replaces the allow-list (the public URL's host is no longer implied).
    pub fn with_hosts_only(mut self, hosts: &[&str]) -> Self {
        self.allowed_hosts = hosts.iter().map(|h| h.trim().to_owned()).collect();
        self
    }

    /// Accepts `url` or answers `general_argument_invalid`.
    pub fn check(&self, url: &str) -> Result<(), Error> {
        let parsed = parse(url).map_err(|reason| {
            Error::argument(format!(
                "Invalid `url` param: URL must be an absolute http(s) URL on an allowed host ({reason})"
            ))
        })?;
        if self.allowed_hosts.iter().any(|h| h == parsed.host) {
            Ok(())
        } else {
            Err(Error::argument("Invalid `url` param: URL host is not allowed"))
        }
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
    host: &'a str,
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
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or("scheme")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    if authority.contains('@') {
        return Err("userinfo");
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    };
    if let Some(port) = port {
        if port.is_empty()
            || port.len() > 5
            || !port.bytes().all(|b| b.is_ascii_digit())
            || port.parse::<u32>().map_or(true, |p| p == 0 || p > 65535)
        {
            return Err("port");
        }
    }
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
    Ok(Parsed { host })
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
        RedirectPolicy::new("http://127.0.0.1:8080", &["app.example.com"]).unwrap()
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
