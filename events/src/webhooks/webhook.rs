//! [`Webhook`]: where events go, signed with which key, for which events;
//! and the rule that keeps payloads (they carry token secrets) off plain
//! HTTP to other machines.

use std::fmt;
use std::net::IpAddr;

use reqwest::Url;

use tokengate::events::Event;
use tokengate::Secret;

use crate::pattern::EventPattern;

/// Shortest signature key accepted (Appwrite generates 128 characters).
pub const MIN_SIGNATURE_KEY_LEN: usize = 16;

/// A webhook that cannot be used as configured, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("webhook {id:?}: {reason}")]
pub struct WebhookError {
    /// The webhook's id (empty where the dispatcher, not one webhook, is at fault).
    pub id: String,
    /// What is wrong.
    pub reason: String,
}

impl WebhookError {
    pub(super) fn new(id: &str, reason: impl Into<String>) -> Self {
        WebhookError {
            id: id.to_owned(),
            reason: reason.into(),
        }
    }
}

/// One webhook: events matching any of its patterns are POSTed to its URL,
/// signed with its key as Appwrite signs them (see the
/// [module](super)). Build it with [`Webhook::builder`].
///
/// The URL must be `https`, or `http` to a loopback host (`127.0.0.1`,
/// `localhost`, `[::1]`): the payload of a token event carries the token's
/// secret. [`WebhookBuilder::allow_insecure`] lifts the rule for a
/// network you trust.
///
/// ```
/// use tokengate_events::webhooks::Webhook;
///
/// let hook = Webhook::builder("audit", "https://hooks.example.com/tokengate")
///     .name("Audit trail")
///     .signature_key("a-signature-key-of-some-length")
///     .events(["users.*.sessions.*.delete", "users.*.delete"])
///     .build()
///     .unwrap();
/// assert_eq!(hook.id(), "audit");
/// assert_eq!(hook.events().len(), 2);
///
/// // Plain http to another machine is refused unless explicitly allowed.
/// let plain = || {
///     Webhook::builder("lan", "http://10.0.0.7/hook")
///         .signature_key("a-signature-key-of-some-length")
///         .events(["users.*"])
/// };
/// assert!(plain().build().is_err());
/// assert!(plain().allow_insecure(true).build().is_ok());
/// // Loopback is fine without it.
/// assert!(Webhook::builder("local", "http://127.0.0.1:9000/hook")
///     .signature_key("a-signature-key-of-some-length")
///     .events(["users.*"])
///     .build()
///     .is_ok());
/// ```
#[derive(Clone)]
pub struct Webhook {
    id: String,
    name: String,
    raw_url: String,
    url: Url,
    key: Secret,
    events: Vec<EventPattern>,
}

impl fmt::Debug for Webhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Webhook")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("url", &self.redacted_url())
            .field("key", &self.key)
            .field("events", &self.events)
            .finish()
    }
}

impl Webhook {
    /// Starts a webhook with its id (1 to 36 characters of `a-zA-Z0-9._-`;
    /// it names the consumer group, `webhook:<id>`, and is sent as
    /// `X-Appwrite-Webhook-Id`) and URL.
    pub fn builder(id: impl Into<String>, url: impl Into<String>) -> WebhookBuilder {
        WebhookBuilder {
            id: id.into(),
            name: None,
            url: url.into(),
            key: None,
            events: Vec::new(),
            allow_insecure: false,
        }
    }

    /// The id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The name (`X-Appwrite-Webhook-Name`; the id unless set).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The URL as configured: exactly this text is signed.
    pub fn url(&self) -> &str {
        &self.raw_url
    }

    /// The URL without user info, query or fragment (they may carry
    /// credentials), for logs.
    ///
    /// ```
    /// use tokengate_events::webhooks::Webhook;
    /// let hook = Webhook::builder("h", "https://user:pass@hooks.example.com:8443/in?token=abc")
    ///     .signature_key("a-signature-key-of-some-length")
    ///     .events(["users.*"])
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(hook.redacted_url(), "https://hooks.example.com:8443/in");
    /// ```
    pub fn redacted_url(&self) -> String {
        shown(&self.url)
    }

    pub(super) fn parsed_url(&self) -> &Url {
        &self.url
    }

    pub(super) fn key(&self) -> &Secret {
        &self.key
    }

    /// The event patterns it subscribes to.
    pub fn events(&self) -> &[EventPattern] {
        &self.events
    }

    /// Whether any of its patterns matches `event`.
    pub fn matches(&self, event: &Event) -> bool {
        let names = event.names();
        self.events
            .iter()
            .any(|pattern| names.iter().any(|name| name == pattern.as_str()))
    }

    /// The consumer group of this webhook in the event log.
    pub fn group(&self) -> String {
        format!("webhook:{}", self.id)
    }
}

/// Builds a [`Webhook`]; [`build`](WebhookBuilder::build) checks it.
#[derive(Debug)]
#[must_use]
pub struct WebhookBuilder {
    id: String,
    name: Option<String>,
    url: String,
    key: Option<Secret>,
    events: Vec<String>,
    allow_insecure: bool,
}

impl WebhookBuilder {
    /// The name sent as `X-Appwrite-Webhook-Name` (default: the id).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The signature key (at least [`MIN_SIGNATURE_KEY_LEN`] characters):
    /// `X-Appwrite-Webhook-Signature` is the base64 HMAC-SHA1 of the URL
    /// followed by the body under this key.
    pub fn signature_key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(Secret::new(key.into()));
        self
    }

    /// Adds event patterns (Appwrite's forms: `users.*`,
    /// `users.*.tokens.*.create`, `users.*.sessions.*.delete`, …; see
    /// [`EventPattern`]).
    pub fn events<I, S>(mut self, patterns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.events.extend(patterns.into_iter().map(Into::into));
        self
    }

    /// Allows a plain `http` URL to a host that is not loopback. Payloads
    /// carry token secrets: only for a network you trust.
    pub fn allow_insecure(mut self, allow: bool) -> Self {
        self.allow_insecure = allow;
        self
    }

    /// Checks the id, name, URL, key and patterns.
    pub fn build(self) -> Result<Webhook, WebhookError> {
        let id = self.id;
        let bad = |reason: String| WebhookError::new(&id, reason);
        let id_ok = !id.is_empty()
            && id.len() <= 36
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if !id_ok {
            return Err(bad("the id must be 1 to 36 characters of a-zA-Z0-9._-".to_owned()));
        }
        let name = self.name.unwrap_or_else(|| id.clone());
        if http::HeaderValue::from_str(&name).is_err() {
            return Err(bad(
                "the name must be printable ASCII (it is sent as a header)".to_owned()
            ));
        }
        let url = check_url(&self.url, self.allow_insecure).map_err(bad)?;
        let key = match self.key {
            Some(key) if key.expose().chars().count() >= MIN_SIGNATURE_KEY_LEN => key,
            _ => {
                return Err(bad(format!(
                    "a signature key of at least {MIN_SIGNATURE_KEY_LEN} characters is required"
                )))
            }
        };
        if self.events.is_empty() {
            return Err(bad("at least one event pattern is required".to_owned()));
        }
        let events = self
            .events
            .iter()
            .map(|text| EventPattern::parse(text.trim()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(bad)?;
        Ok(Webhook {
            id,
            name,
            raw_url: self.url,
            url,
            key,
            events,
        })
    }
}

/// Whether the URL's host is loopback: `localhost`, `127.0.0.0/8`, `[::1]`.
fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    let bare = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// `scheme://host[:port]/path` of `url`: what an error may show of it (user
/// info and query may carry credentials, and an error ends up in logs).
fn shown(url: &Url) -> String {
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    format!(
        "{}://{}{port}{}",
        url.scheme(),
        url.host_str().unwrap_or_default(),
        url.path()
    )
}

/// Parses `text` as a webhook URL: `https`, or `http` to loopback unless
/// `allow_insecure`; no other scheme. Errors never repeat the URL's user
/// info, query or fragment.
pub(super) fn check_url(text: &str, allow_insecure: bool) -> Result<Url, String> {
    // The URL parser drops them, the signature (over the text as
    // configured, as Appwrite signs) would keep them: no receiver could
    // verify it.
    if text.trim_matches(|c: char| c <= ' ') != text {
        return Err("the URL starts or ends with whitespace or a control character".to_owned());
    }
    let url = Url::parse(text).map_err(|e| format!("not a URL ({e})"))?;
    if url.host().is_none() {
        return Err(format!("the URL has no host: {}:", url.scheme()));
    }
    match url.scheme() {
        "https" => Ok(url),
        "http" if allow_insecure || is_loopback(&url) => Ok(url),
        "http" => Err(format!(
            "plain http to a host that is not loopback is refused (payloads carry token secrets); use https or allow it explicitly: {}",
            shown(&url)
        )),
        other => Err(format!("the URL must be https (or http to loopback), not {other}:")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_or_loopback_http() {
        for ok in [
            "https://hooks.example.com/x",
            "https://10.0.0.1:8443/x",
            "http://127.0.0.1:9000/x",
            "http://127.1.2.3/x",
            "http://localhost/x",
            "http://LOCALHOST:8080/x",
            "http://[::1]:9000/x",
        ] {
            assert!(check_url(ok, false).is_ok(), "{ok}");
        }
        for bad in [
            "http://hooks.example.com/x",
            "http://10.0.0.1/x",
            "http://localhost.example.com/x",
            "http://127.0.0.1.nip.io/x",
            "http://[::ffff:10.0.0.1]/x",
            "ftp://127.0.0.1/x",
            "file:///etc/passwd",
            "javascript:alert(1)",
            "not a url",
            "",
            " https://hooks.example.com/x",
            "https://hooks.example.com/x\n",
            "https://hooks.example.com/x\t",
        ] {
            assert!(check_url(bad, false).is_err(), "{bad}");
        }
        assert!(check_url("http://hooks.example.com/x", true).is_ok());
        assert!(check_url("ftp://hooks.example.com/x", true).is_err());
    }

    #[test]
    fn loopback_rule_bypasses_are_refused() {
        // Forms that look local, or are written oddly, but reach another host.
        for bad in [
            "http://localhost.evil.example/x",
            "http://localhost%2eevil.example/x",
            "http://127.0.0.1.evil.example/x",
            "http://127.0.0.1@evil.example/x",
            "http://localhost:80@evil.example/x",
            "http://user:pw@evil.example/x?u=http://127.0.0.1/",
            "http://evil.example#@127.0.0.1/x",
            "http://evil.example\\@127.0.0.1/x",
            "http://evil.example/127.0.0.1",
            "HTTP://evil.example/x",
            " http://evil.example/x",
            "http://loc\talhost.evil.example/x",
            "http://[::ffff:10.0.0.1]/x",
            "http://[::ffff:127.0.0.1]/x",
            "http://[fe80::1]/x",
            "http://0.0.0.0/x",
            "http://[::]/x",
            "http://localhost./x",
            " http://127.0.0.1/x ",
            "ws://127.0.0.1/x",
            "http:127.0.0.1.evil.example/x",
        ] {
            let refused = check_url(bad, false);
            assert!(
                refused.is_err(),
                "{bad:?} accepted as {:?}",
                refused.map(|u| u.to_string())
            );
        }
        // Loopback however written (the request goes to the parsed URL).
        for ok in [
            "HTTP://127.0.0.1/x",
            "http://2130706433/x",
            "http://0x7f.1/x",
            "http://127.1/x",
            "http://[0:0:0:0:0:0:0:1]/x",
            "http://LocalHost/x",
        ] {
            let url = check_url(ok, false).unwrap_or_else(|e| panic!("{ok:?}: {e}"));
            assert!(is_loopback(&url), "{ok:?} is {url}");
        }
    }

    #[test]
    fn errors_do_not_repeat_credentials_of_the_url() {
        for bad in [
            "http://hookuser:hook-password-1@hooks.example.com/in?token=query-token-1#frag-token-1",
            "ftp://hookuser:hook-password-1@hooks.example.com/in?token=query-token-1",
            "https://hookuser:hook-password-1@[::1/in?token=query-token-1",
            "https://hookuser:hook-password-1@/in?token=query-token-1",
        ] {
            let error = check_url(bad, false).unwrap_err();
            for secret in ["hook-password-1", "query-token-1", "frag-token-1", "hookuser"] {
                assert!(!error.contains(secret), "{bad}: {error}");
            }
            let built = Webhook::builder("w1", bad)
                .signature_key("0123456789abcdef")
                .events(["users.*"])
                .build()
                .unwrap_err();
            assert!(!built.to_string().contains("hook-password-1"), "{built}");
        }
        let error = check_url("http://u:p@hooks.example.com:8080/in?t=1", false).unwrap_err();
        assert!(error.ends_with("http://hooks.example.com:8080/in"), "{error}");
    }

    #[test]
    fn builder_checks_everything() {
        let base = || Webhook::builder("w1", "https://h.example/x").signature_key("0123456789abcdef");
        assert!(base().events(["users.*"]).build().is_ok());
        assert!(base().build().is_err(), "no events");
        assert!(base().events(["teams.*"]).build().is_err());
        assert!(base().events(["users.*"]).name("bad\nname").build().is_err());
        assert!(Webhook::builder("w1", "https://h.example/x")
            .signature_key("short")
            .events(["users.*"])
            .build()
            .is_err());
        assert!(Webhook::builder("", "https://h.example/x")
            .signature_key("0123456789abcdef")
            .events(["users.*"])
            .build()
            .is_err());
        assert!(Webhook::builder("a:b", "https://h.example/x")
            .signature_key("0123456789abcdef")
            .events(["users.*"])
            .build()
            .is_err());
        let hook = base().events(["users.*", " users.*.delete "]).build().unwrap();
        assert_eq!(hook.name(), "w1");
        assert_eq!(hook.group(), "webhook:w1");
        assert!(!format!("{hook:?}").contains("0123456789abcdef"));
    }
}
