//! [`ApiConfig`]: how the endpoints are mounted and what they accept, with
//! the secure defaults explained where they are set. The adapters take it
//! with the [`Gate`](crate::Gate) as [`Endpoints`](super::Endpoints).

#[cfg(feature = "device-info")]
use std::path::Path;
#[cfg(feature = "device-info")]
use std::sync::Arc;

use crate::error::Error;
use crate::policy::Origin;
use crate::secret::Secret;

use super::client_ip::{ForwardedHeader, TrustedProxies};
#[cfg(feature = "device-info")]
use super::device_info::geo::GeoDatabase;

/// The cookie's `SameSite` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SameSite {
    /// Sent on top-level navigations, not on cross-site subrequests or
    /// POSTs: the default, which stops cross-site request forgery.
    #[default]
    Lax,
    /// Never sent cross-site, not even when following a link.
    Strict,
    /// Sent cross-site too: only for a web app on another site, and only
    /// with `Secure` (browsers refuse it otherwise).
    None,
}

impl SameSite {
    /// The attribute's value.
    pub fn as_str(self) -> &'static str {
        match self {
            SameSite::Lax => "Lax",
            SameSite::Strict => "Strict",
            SameSite::None => "None",
        }
    }
}

/// The session cookie `a_session_<project>`.
#[derive(Debug, Clone)]
pub(crate) struct CookieSettings {
    /// Adds `Secure` (default true). Turn off only for plain-http local use.
    pub(crate) secure: bool,
    /// `SameSite`, default `Lax`.
    pub(crate) same_site: SameSite,
    /// `Domain`, default none (the cookie goes back to this host only).
    pub(crate) domain: Option<String>,
    /// Names the cookie `__Host-a_session_<project>`: browsers then accept it
    /// only with `Secure`, `Path=/` and no `Domain`, so a sibling subdomain
    /// cannot set or shadow it. Off by default (Appwrite's SDKs look for the
    /// plain name in `X-Fallback-Cookies`).
    pub(crate) host_prefix: bool,
}

impl Default for CookieSettings {
    fn default() -> Self {
        CookieSettings {
            secure: true,
            same_site: SameSite::Lax,
            domain: None,
            host_prefix: false,
        }
    }
}

/// How the HTTP endpoints are mounted and authorised. Build it with the
/// setters, then hand it to [`Endpoints::with_config`](super::Endpoints::with_config)
/// (or an adapter's `with_config`), which validates it.
///
/// ```
/// use tokengate::api::{ApiConfig, Endpoints};
/// # use tokengate::{Gate, store::MemoryStore};
/// # let gate = Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new()).build().unwrap();
/// let config = ApiConfig::default()
///     .api_key("an-api-key-of-16+-chars")
///     .allowed_origins(["https://app.example.com"]);
/// let endpoints = Endpoints::with_config(gate, config).unwrap();
/// assert_eq!(endpoints.base_path(), "/v1");
/// ```
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Prefix of every route. Default `/v1`, as Appwrite.
    pub(crate) base_path: String,
    /// The key for `X-Appwrite-Key`; `None` (the default) refuses every
    /// API-key route.
    pub(crate) api_key: Option<Secret>,
    /// Session cookie attributes.
    pub(crate) cookie: CookieSettings,
    /// Largest accepted request body. Default 64 KiB; larger gets 413.
    pub(crate) max_body_bytes: usize,
    /// Web origins (`https://app.example.com`) besides the request's own and
    /// the public URL's from which a browser may create a session.
    pub(crate) allowed_origins: Vec<String>,
    /// Proxies (CIDRs, as given; parsed by `validate`) whose forwarding
    /// header is believed. Empty by default: the peer address is the client.
    pub(crate) trusted_proxy_cidrs: Vec<String>,
    /// Which header the trusted proxies write.
    pub(crate) forwarded_header: ForwardedHeader,
    /// The MaxMind-format database that names a session's country
    /// (`countryCode`, `countryName`). None by default: every session
    /// shows `--` / `Unknown`, as Appwrite without a record.
    #[cfg(feature = "device-info")]
    geoip_database: Option<Arc<GeoDatabase>>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            base_path: "/v1".to_owned(),
            api_key: None,
            cookie: CookieSettings::default(),
            max_body_bytes: 64 * 1024,
            allowed_origins: Vec::new(),
            trusted_proxy_cidrs: Vec::new(),
            forwarded_header: ForwardedHeader::default(),
            #[cfg(feature = "device-info")]
            geoip_database: None,
        }
    }
}

impl ApiConfig {
    /// The API key for `X-Appwrite-Key`, at least 16 characters (default:
    /// none, API-key routes refuse).
    ///
    /// ```
    /// # use tokengate::api::ApiConfig;
    /// # use tokengate::{api::Endpoints, Gate, store::MemoryStore};
    /// # let gate = Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new()).build().unwrap();
    /// assert!(Endpoints::with_config(gate.clone(), ApiConfig::default().api_key("s3cret-key-of-enough-length")).is_ok());
    /// assert!(Endpoints::with_config(gate, ApiConfig::default().api_key("too-short")).is_err());
    /// ```
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(Secret::new(key));
        self
    }

    /// Route prefix (default `/v1`; `""` mounts at the root).
    ///
    /// ```
    /// # use tokengate::api::ApiConfig;
    /// # use tokengate::{api::Endpoints, Gate, store::MemoryStore};
    /// # let gate = Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new()).build().unwrap();
    /// let endpoints = Endpoints::with_config(gate, ApiConfig::default().base_path("/auth/v1")).unwrap();
    /// assert_eq!(endpoints.base_path(), "/auth/v1");
    /// ```
    pub fn base_path(mut self, path: impl Into<String>) -> Self {
        self.base_path = path.into();
        self
    }

    /// Whether the session cookie is `Secure` (default true). Turn off only
    /// for plain-http local development.
    ///
    /// ```
    /// # use tokengate::api::ApiConfig;
    /// # use tokengate::{api::Endpoints, Gate, store::MemoryStore};
    /// # let gate = Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new()).build().unwrap();
    /// assert!(Endpoints::with_config(gate, ApiConfig::default().secure_cookies(false)).is_ok());
    /// ```
    pub fn secure_cookies(mut self, secure: bool) -> Self {
        self.cookie.secure = secure;
        self
    }

    /// Largest request body accepted by the endpoints (default 64 KiB).
    ///
    /// ```
    /// # use tokengate::api::ApiConfig;
    /// # use tokengate::{api::Endpoints, Gate, store::MemoryStore};
    /// # let gate = Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new()).build().unwrap();
    /// let endpoints = Endpoints::with_config(gate, ApiConfig::default().max_body_bytes(8192)).unwrap();
    /// assert_eq!(endpoints.max_body_bytes(), 8192);
    /// ```
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    /// Web origins (`https://app.example.com`) from which a browser may
    /// create sessions, besides the request's own origin and the public
    /// URL's. Every other `Origin` gets 403 on the session-creating route.
    ///
    /// ```
    /// # use tokengate::{api::{ApiConfig, Endpoints}, Gate, store::MemoryStore};
    /// # let gate = Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new()).build().unwrap();
    /// let config = ApiConfig::default().allowed_origins(["https://app.example.com/path"]);
    /// assert!(Endpoints::with_config(gate, config).is_err()); // an origin has no path
    /// ```
    pub fn allowed_origins<I, O>(mut self, origins: I) -> Self
    where
        I: IntoIterator<Item = O>,
        O: Into<String>,
    {
        self.allowed_origins = origins.into_iter().map(Into::into).collect();
        self
    }

    /// Proxies (CIDRs) whose `X-Forwarded-For` / `Forwarded` name the
    /// client. None by default: the peer address is the client and the
    /// headers are ignored, since anyone can send them.
    ///
    /// Each is a network (`10.0.0.0/8`, `fd00::/8`) or one address; the
    /// client is then the rightmost forwarded address that is not itself a
    /// trusted proxy, each hop read on its own from the raw bytes.
    ///
    /// ```
    /// # use tokengate::{api::{ApiConfig, Endpoints}, Gate, store::MemoryStore};
    /// # let gate = Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new()).build().unwrap();
    /// let config = ApiConfig::default().trusted_proxies(["10.0.0.0/8", "::1"]);
    /// assert!(Endpoints::with_config(gate.clone(), config).is_ok());
    /// assert!(Endpoints::with_config(gate, ApiConfig::default().trusted_proxies(["nonsense"])).is_err());
    /// ```
    pub fn trusted_proxies<I, S>(mut self, cidrs: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.trusted_proxy_cidrs = cidrs.into_iter().map(Into::into).collect();
        self
    }

    /// Reads RFC 7239 `Forwarded: for=` from the trusted proxies instead of
    /// `X-Forwarded-For` (the default, what nginx, HAProxy and most load
    /// balancers write). Only one of the two is ever read: a proxy that
    /// writes one passes the other through from the client, so reading both
    /// would let the client choose its address.
    ///
    /// ```
    /// # use tokengate::api::ApiConfig;
    /// let config = ApiConfig::default().trusted_proxies(["10.0.0.0/8"]).forwarded_rfc7239(true);
    /// assert!(config.check().is_ok());
    /// ```
    pub fn forwarded_rfc7239(mut self, on: bool) -> Self {
        self.forwarded_header = if on {
            ForwardedHeader::Forwarded
        } else {
            ForwardedHeader::XForwardedFor
        };
        self
    }

    /// Reads the MaxMind-format database at `path` (a GeoLite2 / GeoIP2
    /// Country or City `.mmdb`) for the sessions' `countryCode` and
    /// `countryName`, looked up from the stored IP when a session is
    /// rendered (feature `device-info`). A missing or malformed file is [`Error::Config`], at
    /// start-up rather than at the first session. Default: none, country
    /// `--` / `Unknown`.
    ///
    /// ```
    /// # use tokengate::api::ApiConfig;
    /// let err = ApiConfig::default().geoip_database("/nonexistent/GeoLite2-Country.mmdb").unwrap_err();
    /// assert!(err.to_string().contains("/nonexistent/GeoLite2-Country.mmdb"));
    /// ```
    ///
    /// ```no_run
    /// # use tokengate::api::ApiConfig;
    /// let config = ApiConfig::default().geoip_database("/var/lib/GeoIP/GeoLite2-Country.mmdb")?;
    /// # Ok::<(), tokengate::Error>(())
    /// ```
    #[cfg(feature = "device-info")]
    #[cfg_attr(docsrs, doc(cfg(feature = "device-info")))]
    pub fn geoip_database(mut self, path: impl AsRef<Path>) -> Result<Self, Error> {
        self.geoip_database = Some(Arc::new(GeoDatabase::open(path)?));
        Ok(self)
    }

    /// The cookie's `SameSite` (default `Lax`; `None` requires secure cookies).
    ///
    /// ```
    /// # use tokengate::{api::{ApiConfig, Endpoints, SameSite}, Gate, store::MemoryStore};
    /// # let gate = Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new()).build().unwrap();
    /// assert!(Endpoints::with_config(gate.clone(), ApiConfig::default().same_site(SameSite::None)).is_ok());
    /// let insecure = ApiConfig::default().same_site(SameSite::None).secure_cookies(false);
    /// assert!(Endpoints::with_config(gate, insecure).is_err());
    /// ```
    pub fn same_site(mut self, same_site: SameSite) -> Self {
        self.cookie.same_site = same_site;
        self
    }

    /// The cookie's `Domain` (default none: this host only).
    ///
    /// ```
    /// # use tokengate::api::ApiConfig;
    /// # use tokengate::{api::Endpoints, Gate, store::MemoryStore};
    /// # let gate = Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new()).build().unwrap();
    /// let config = ApiConfig::default().cookie_domain("example.com");
    /// assert!(Endpoints::with_config(gate, config).is_ok());
    /// assert!(Endpoints::with_config(Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new()).build().unwrap(),
    ///     ApiConfig::default().cookie_domain("Example.COM")).is_err());
    /// ```
    pub fn cookie_domain(mut self, domain: impl Into<String>) -> Self {
        self.cookie.domain = Some(domain.into());
        self
    }

    /// Names the cookie `__Host-a_session_<project>` (off by default), which
    /// browsers accept only `Secure`, host-only, on `Path=/`.
    ///
    /// ```
    /// # use tokengate::{api::{ApiConfig, Endpoints}, Gate, store::MemoryStore};
    /// # let gate = Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new()).build().unwrap();
    /// let endpoints = Endpoints::with_config(gate, ApiConfig::default().cookie_host_prefix(true)).unwrap();
    /// assert_eq!(endpoints.cookie_name(), "__Host-a_session_default");
    /// ```
    pub fn cookie_host_prefix(mut self, on: bool) -> Self {
        self.cookie.host_prefix = on;
        self
    }

    /// The Appwrite model of `event`'s object, as Appwrite's webhooks send
    /// it: the Token with its secret, the Session without its credential
    /// (its device and country fields rendered with these settings), the
    /// User.
    ///
    /// ```
    /// use tokengate::api::ApiConfig;
    /// use tokengate::events::{Event, EventKind, EventObject};
    /// use tokengate::{User, UserId};
    /// let user = User::new(UserId::parse("alice").unwrap(), chrono::Utc::now());
    /// let event = Event::new(EventKind::UserCreate, user.id.clone(), EventObject::User(user), chrono::Utc::now());
    /// assert_eq!(ApiConfig::default().event_body(&event)["$id"], "alice");
    /// ```
    pub fn event_body(&self, event: &crate::events::Event) -> serde_json::Value {
        super::wire::event_json(self, event)
    }

    /// `countryCode` and `countryName` of a session's stored `ip`: from the
    /// GeoIP database (feature `device-info`), else `--` / `Unknown`.
    pub(crate) fn country(&self, ip: &str) -> (String, String) {
        #[cfg(feature = "device-info")]
        return super::device_info::geo::country_fields(self.geoip_database.as_deref(), ip);
        #[cfg(not(feature = "device-info"))]
        {
            let _ = ip;
            (
                super::device_info::UNKNOWN_CODE.to_owned(),
                super::device_info::UNKNOWN_NAME.to_owned(),
            )
        }
    }

    /// Checks every setting, as [`Endpoints::with_config`](super::Endpoints::with_config)
    /// does: a malformed base path, origin or proxy network, a short API key
    /// or an impossible cookie is an error naming it.
    ///
    /// ```
    /// use tokengate::api::ApiConfig;
    /// assert!(ApiConfig::default().trusted_proxies(["10.0.0.0/8"]).check().is_ok());
    /// assert!(ApiConfig::default().trusted_proxies(["10.0.0.0/33"]).check().is_err());
    /// ```
    pub fn check(&self) -> Result<(), Error> {
        self.validate().map(|_| ())
    }

    /// Checks every setting; the allowed origins and trusted proxies parsed.
    pub(super) fn validate(&self) -> Result<(Vec<Origin>, TrustedProxies), Error> {
        if !self.base_path.is_empty() && (!self.base_path.starts_with('/') || self.base_path.ends_with('/')) {
            return Err(Error::config(
                "base_path",
                format!(
                    "base path must be empty or start with / and not end with one: {:?}",
                    self.base_path
                ),
            ));
        }
        if self.api_key.as_ref().is_some_and(|k| k.expose().len() < 16) {
            return Err(Error::config(
                "api_key",
                "the API key must be at least 16 characters".to_owned(),
            ));
        }
        if self.max_body_bytes == 0 {
            return Err(Error::config(
                "max_body_bytes",
                "max body bytes must be positive".to_owned(),
            ));
        }
        self.cookie.validate()?;
        let origins = self
            .allowed_origins
            .iter()
            .map(|origin| {
                Origin::parse(origin)
                    .map_err(|e| Error::config("allowed_origins", format!("allowed origin {origin:?}: {e}")))
            })
            .collect::<Result<_, _>>()?;
        let proxies = TrustedProxies::parse(&self.trusted_proxy_cidrs.join(","))
            .map_err(|e| Error::config("trusted_proxies", format!("trusted proxies: {e}")))?
            .header(self.forwarded_header);
        Ok((origins, proxies))
    }
}

impl CookieSettings {
    fn validate(&self) -> Result<(), Error> {
        if self.same_site == SameSite::None && !self.secure {
            return Err(Error::config(
                "same_site",
                "SameSite=None needs secure cookies (browsers refuse it otherwise)".to_owned(),
            ));
        }
        if let Some(domain) = &self.domain {
            let valid = !domain.is_empty()
                && domain
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
            if !valid {
                return Err(Error::config(
                    "cookie_domain",
                    format!("the cookie domain must be a lowercase host name: {domain:?}"),
                ));
            }
        }
        if self.host_prefix && (!self.secure || self.domain.is_some()) {
            return Err(Error::config(
                "cookie_host_prefix",
                "a __Host- cookie must be secure and have no domain".to_owned(),
            ));
        }
        Ok(())
    }
}
