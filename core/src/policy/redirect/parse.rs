//! Strict parsing of magic-URL targets into their parts, and the link
//! serialised from those parts (never appended to the caller's text).

use super::Origin;

/// Longest accepted `url`.
const MAX_URL_LEN: usize = 2048;

/// A target that passed the syntax checks, in parts. Path, query and
/// fragment hold RFC 3986 characters only (checked byte by byte), so
/// nothing in them can end a link early in a mail client or start a
/// second one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target<'a> {
    /// `http`, `https`, or an app's scheme.
    pub(crate) scheme: &'a str,
    /// Lowercase host.
    pub(crate) host: &'a str,
    /// The port of a web target (the scheme's default when none was named);
    /// `None` for app links, which have none.
    pub(crate) port: Option<u16>,
    /// `""` or starting with `/`.
    pub(crate) path: &'a str,
    /// After `?`, when there is one.
    pub(crate) query: Option<&'a str>,
    /// After `#`, when there is one.
    pub(crate) fragment: Option<&'a str>,
}

impl Target<'_> {
    /// The web origin of an http(s) target.
    pub(crate) fn origin(&self) -> Option<Origin> {
        Some(Origin {
            scheme: self.scheme.to_owned(),
            host: self.host.to_owned(),
            port: self.port?,
        })
    }

    /// The link: this target serialised from its parts, with `params`
    /// (values percent-encoded) added to its query, before any fragment.
    pub(crate) fn link(&self, params: &[(&str, &str)]) -> String {
        let mut link = String::with_capacity(128);
        link.push_str(self.scheme);
        link.push_str("://");
        link.push_str(self.host);
        let default_port = if self.scheme == "https" { 443 } else { 80 };
        if let Some(port) = self.port.filter(|p| *p != default_port) {
            link.push(':');
            link.push_str(&port.to_string());
        }
        link.push_str(self.path);
        link.push('?');
        // An empty query or one ending in `&` takes the first parameter as
        // is; any other query gets `&`.
        let mut separator = match self.query {
            None | Some("") => "",
            Some(query) => {
                link.push_str(query);
                if query.ends_with('&') {
                    ""
                } else {
                    "&"
                }
            }
        };
        for (name, value) in params {
            link.push_str(separator);
            link.push_str(&percent_encode(name));
            link.push('=');
            link.push_str(&percent_encode(value));
            separator = "&";
        }
        if let Some(fragment) = self.fragment {
            link.push('#');
            link.push_str(fragment);
        }
        link
    }
}

fn is_host_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'.'
}

/// Whether `b` may stand unencoded in a path, query or fragment (RFC 3986
/// `pchar` plus `/` and `?`): unreserved, sub-delims, `:` and `@`.
pub(crate) fn is_uri_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.'
                | b'_'
                | b'~'
                | b'!'
                | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b':'
                | b'@'
                | b'/'
                | b'?'
        )
}

/// Whether `text` is RFC 3986 characters only: [`is_uri_byte`] or `%XX`.
fn is_uri_text(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                if !bytes
                    .get(i + 1..i + 3)
                    .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit))
                {
                    return false;
                }
                i += 3;
            }
            b if is_uri_byte(b) => i += 1,
            _ => return false,
        }
    }
    true
}

/// Splits what follows the authority into path, query and fragment, each
/// RFC 3986 characters only.
fn split_rest(rest: &str) -> Result<(&str, Option<&str>, Option<&str>), &'static str> {
    // `/\evil`-style and `//evil` paths that browsers may read as a new host.
    if rest.starts_with("//") {
        return Err("path");
    }
    let (before_fragment, fragment) = match rest.split_once('#') {
        Some((head, tail)) => (head, Some(tail)),
        None => (rest, None),
    };
    let (path, query) = match before_fragment.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (before_fragment, None),
    };
    let parts = [Some(path), query, fragment];
    if !parts.into_iter().flatten().all(is_uri_text) {
        return Err("characters outside RFC 3986");
    }
    Ok((path, query, fragment))
}

/// Strict parse of `scheme://host[:port][/path][?query][#fragment]` with an
/// http(s) scheme.
pub(crate) fn parse(url: &str) -> Result<Target<'_>, &'static str> {
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
    check_host(host)?;
    let (path, query, fragment) = split_rest(&rest[end..])?;
    Ok(Target {
        scheme,
        host,
        port: Some(port),
        path,
        query,
        fragment,
    })
}

/// Host names: lowercase letters, digits, '-' and '.', no empty label, no
/// trailing dot. IPv6 literals and percent-encoding are refused outright.
fn check_host(host: &str) -> Result<(), &'static str> {
    if host.is_empty()
        || !host.bytes().all(is_host_byte)
        || host.bytes().any(|b| b.is_ascii_uppercase())
        || host.split('.').any(str::is_empty)
    {
        return Err("host");
    }
    Ok(())
}

/// Strict parse of an app link `scheme://host[/path][?query][#fragment]`
/// in one of `schemes` (compared exactly: `MYAPP://` is not `myapp://`).
/// The byte checks of [`parse`] (visible ASCII, no backslash) ran before.
pub(crate) fn parse_app_link<'a>(url: &'a str, schemes: &[String]) -> Result<Target<'a>, &'static str> {
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
    check_host(host)?;
    let (path, query, fragment) = split_rest(&rest[end..])?;
    Ok(Target {
        scheme,
        host,
        port: None,
        path,
        query,
        fragment,
    })
}

/// Percent-decodes `%XX` (anything else is kept as is).
pub(crate) fn percent_decode(text: &str) -> String {
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
