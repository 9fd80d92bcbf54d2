//! Magic-URL targets: an absolute http(s) URL whose origin (scheme, host
//! and port) is on the allow-list, or a mobile app's link in an
//! allow-listed custom scheme (`myapp://auth/callback`), whose query
//! carries none of the link's own parameters and whose path, query and
//! fragment hold RFC 3986 characters only, checked strictly on the raw
//! text (no normalisation that an attacker could steer); the link is
//! serialised from the parsed parts.

mod parse;

use crate::error::Error;
pub(crate) use parse::Target;
use parse::{parse, parse_app_link, percent_decode};

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

/// An `Origin` header value (`scheme://host[:port]`, nothing after it) as
/// the origin it names, or why it is not one.
pub fn parse_origin(text: &str) -> Result<Origin, &'static str> {
    let parsed = parse(text.strip_suffix('/').unwrap_or(text))?;
    match parsed.origin() {
        Some(origin) if parsed.path.is_empty() && parsed.query.is_none() && parsed.fragment.is_none() => Ok(origin),
        _ => Err("an origin has no path, query or fragment"),
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
    pub fn new(public_url: &str, extra: &[&str]) -> Result<Self, Error> {
        let public = parse(public_url)
            .ok()
            .and_then(|target| target.origin())
            .ok_or_else(|| {
                Error::config(
                    "public_url",
                    format!("public URL is not an absolute http(s) URL: {public_url:?}"),
                )
            })?;
        let mut allowed_origins = vec![public.clone()];
        for entry in extra {
            let entry = entry.trim();
            let origin = if entry.contains("://") {
                parse_origin(entry).map_err(|reason| {
                    Error::config(
                        "redirect_hosts",
                        format!("redirect origin {entry:?} is not an http(s) origin ({reason})"),
                    )
                })?
            } else {
                let default_port = if public.scheme == "https" { 443 } else { 80 };
                parse_origin(&format!("{}://{entry}", public.scheme))
                    .ok()
                    .filter(|o| o.port == default_port && !entry.contains(':'))
                    .ok_or_else(|| {
                        Error::config(
                            "redirect_hosts",
                            format!("redirect host must be a lowercase host name: {entry:?}"),
                        )
                    })?
            };
            if public.scheme == "https" && origin.scheme == "http" && !is_loopback(&origin.host) {
                return Err(Error::config(
                    "redirect_hosts",
                    format!(
                        "redirect origin {entry:?} is http while the public URL is https: links must not downgrade"
                    ),
                ));
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
    pub fn allow_schemes(mut self, schemes: &[&str]) -> Result<Self, Error> {
        for scheme in schemes {
            let scheme = scheme.trim();
            let well_formed = scheme.len() <= 32
                && scheme.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
                && scheme
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.'));
            if !well_formed {
                return Err(Error::config("redirect_schemes", format!(
                    "redirect scheme {scheme:?} must be lowercase letters, digits, '+', '-' or '.', starting with a letter"
                )));
            }
            if RESERVED_SCHEMES.contains(&scheme) {
                return Err(Error::config(
                    "redirect_schemes",
                    format!("redirect scheme {scheme:?} is not an app's own scheme"),
                ));
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
    #[cfg(any(test, feature = "fuzzing"))]
    pub fn check(&self, url: &str) -> Result<(), Error> {
        self.target(Some(url)).map(|_| ())
    }

    /// The link: `url` (or the public URL) with `params` added to its
    /// query, before any fragment, serialised from the parsed URL; `url`
    /// must pass [`RedirectPolicy::check`].
    #[cfg(any(test, feature = "fuzzing"))]
    pub fn link(&self, url: Option<&str>, params: &[(&str, &str)]) -> Result<String, Error> {
        Ok(self.target(url)?.link(params))
    }

    /// The parsed target: `url`, or the public URL when there is none.
    pub(crate) fn target<'a>(&'a self, url: Option<&'a str>) -> Result<Target<'a>, Error> {
        let Some(url) = url else {
            // Checked when the policy was made.
            return parse(&self.public_url).map_err(|_| {
                Error::config(
                    "public_url",
                    format!("public URL is not an absolute http(s) URL: {:?}", self.public_url),
                )
            });
        };
        let target = match parse(url) {
            Ok(target) if target.origin().is_some_and(|o| self.allowed_origins.contains(&o)) => target,
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
        // Nothing after the host may read as a second link to a mail
        // client's linkifier or a page: no `//` (`?next=https://evil.test`,
        // `//evil.test` after a character a linkifier stops at), no `:`
        // (`?next=https:evil.test`, which a browser resolves to
        // `https://evil.test`), no `@` (`user@host` is linkified), no
        // `www.` name. Percent-encoded, they are data (`%3A`, `%40`).
        if let Some(reason) = [Some(target.path), target.query, target.fragment]
            .into_iter()
            .flatten()
            .find_map(second_link_in)
        {
            return Err(Error::argument(format!(
                "Invalid `url` param: URL must not carry another link ({reason} after its host; percent-encode it)"
            )));
        }
        if let Some(name) = carried_link_param(&target) {
            return Err(Error::argument(format!(
                "Invalid `url` param: URL must not carry the `{name}` parameter"
            )));
        }
        Ok(target)
    }
}

/// What in `part` (a target's path, query or fragment) could read as a
/// second link, if anything.
fn second_link_in(part: &str) -> Option<&'static str> {
    if part.contains("//") {
        Some("`//`")
    } else if part.contains(':') {
        Some("`:`")
    } else if part.contains('@') {
        Some("`@`")
    } else if part.to_ascii_lowercase().contains("www.") {
        Some("`www.`")
    } else {
        None
    }
}

/// The first of [`LINK_PARAMS`] named in the query or fragment of the
/// target, compared after percent-decoding and without regard to case (a
/// page may read parameters either way), also inside a value decoded again
/// (`?r=%2Fcb%3FuserId%3D…`, a second pair a page could forward), up to
/// four levels deep.
fn carried_link_param(target: &Target<'_>) -> Option<&'static str> {
    [target.query, target.fragment].into_iter().flatten().find_map(|part| {
        let mut text = part.to_owned();
        for _ in 0..4 {
            let found = text
                .split(['&', '?', '#', ';'])
                .map(|pair| pair.split('=').next().unwrap_or_default())
                .map(|name| percent_decode(&name.replace('+', " ")))
                .find_map(|name| {
                    LINK_PARAMS
                        .iter()
                        .find(|p| p.eq_ignore_ascii_case(name.trim()))
                        .copied()
                });
            if found.is_some() {
                return found;
            }
            let decoded = percent_decode(&text.replace('+', " "));
            if decoded == text {
                return None;
            }
            text = decoded;
        }
        None
    })
}

#[cfg(test)]
mod tests;
