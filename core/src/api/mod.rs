//! The HTTP endpoints, framework-agnostic: `http::Request<Bytes>` in,
//! `http::Response<Bytes>` out, Appwrite-compatible on the wire; their
//! settings ([`ApiConfig`]); and in [`adapter`] what both framework
//! adapters share: the body limit, the request's session and the refusals.
//!
//! An adapter holds [`Endpoints`] (a [`Gate`] with its [`ApiConfig`]). For
//! each request it asks [`Endpoints::is_mounted`]; if so it buffers the body
//! with an [`adapter::BodyCollector`] and calls [`Endpoints::handle`];
//! otherwise it hands the request an [`adapter::SessionLookup`], which finds
//! the session the first time something (an extractor, a guard) asks for it.
//!
//! ```
//! use bytes::Bytes;
//! use tokengate::api::{ApiConfig, Endpoints};
//! use tokengate::{Gate, store::MemoryStore};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let gate = Gate::builder()
//!     .server_secret([3u8; 32])
//!     .store(MemoryStore::new())
//!     .build()
//!     .unwrap();
//! let endpoints = Endpoints::with_config(gate, ApiConfig::default().api_key("an-api-key-for-the-docs")).unwrap();
//! let request = http::Request::post("/v1/users/alice/tokens")
//!     .header("x-appwrite-key", "an-api-key-for-the-docs")
//!     .header("content-type", "application/json")
//!     .body(Bytes::from_static(b"{\"length\": 8}"))
//!     .unwrap();
//! assert!(endpoints.is_mounted(request.uri().path()));
//! let response = endpoints.handle(request, None).await;
//! assert_eq!(response.status(), 201);
//! # });
//! ```

mod body;
mod client_ip;
mod config;
mod cookie;
mod cors;
mod device_info;
pub(crate) mod error_kind;
mod guard;
mod handlers;
pub(crate) mod params;
pub(crate) mod routes;
mod session;
mod wire;

use std::net::IpAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Request, Response};

use crate::error::Error;
use crate::gate::Gate;
use crate::model::Session;
use crate::policy::Origin;
pub(crate) use client_ip::TrustedProxies;
pub use config::{ApiConfig, SameSite};
pub(crate) use cookie::{find_credential, FALLBACK_COOKIES_HEADER};
pub(crate) use error_kind::ErrorKind;

/// What both framework adapters share (`tokengate-tower`,
/// `tokengate-actix`): the body limit, the request's session looked up
/// once when asked, the refusals, the credential's headers. An application
/// has no need of it.
pub mod adapter {
    pub use super::body::{BodyCollector, DRAIN_LIMIT};
    pub use super::cookie::{
        find_credential, AMBIGUOUS_COOKIE, FALLBACK_COOKIES_HEADER, KEY_HEADER, PROJECT_HEADER, SESSION_HEADER,
    };
    pub use super::session::{Rejection, SessionLookup};
}

/// The mounted endpoints: a [`Gate`] with its validated [`ApiConfig`].
/// What the adapters take (`TokenGateLayer::new`, `TokenGate::new`); a
/// `Gate` converts into it with the default configuration. Cheap to clone
/// (one `Arc`).
///
/// ```
/// use tokengate::api::{ApiConfig, Endpoints};
/// use tokengate::{Gate, store::MemoryStore};
///
/// let gate = Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new()).project("shop").build().unwrap();
/// let endpoints = Endpoints::with_config(gate.clone(), ApiConfig::default().base_path("/auth")).unwrap();
/// assert!(endpoints.is_mounted("/auth/account/sessions"));
/// assert!(!endpoints.is_mounted("/v1/account/sessions"));
/// assert_eq!(endpoints.cookie_name(), "a_session_shop");
/// assert!(Endpoints::from(gate).is_mounted("/v1/users/alice"));
/// ```
#[derive(Debug, Clone)]
pub struct Endpoints {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    gate: Gate,
    config: ApiConfig,
    allowed_origins: Vec<Origin>,
    trusted_proxies: TrustedProxies,
    cookie_name: String,
}

impl Endpoints {
    /// The endpoints of `gate` with `config`, validated: a malformed base
    /// path or origin, a short API key or an impossible cookie is an error.
    pub fn with_config(gate: Gate, config: ApiConfig) -> Result<Self, Error> {
        let (allowed_origins, trusted_proxies) = config.validate()?;
        let prefix = if config.cookie.host_prefix { "__Host-" } else { "" };
        let cookie_name = format!("{prefix}a_session_{}", gate.project());
        Ok(Endpoints {
            inner: Arc::new(Inner {
                gate,
                config,
                allowed_origins,
                trusted_proxies,
                cookie_name,
            }),
        })
    }

    /// The gate.
    pub fn gate(&self) -> &Gate {
        &self.inner.gate
    }

    /// The HTTP settings.
    pub(crate) fn config(&self) -> &ApiConfig {
        &self.inner.config
    }

    /// The proxies whose forwarding header is believed.
    pub(crate) fn trusted_proxies(&self) -> &TrustedProxies {
        &self.inner.trusted_proxies
    }

    /// Prefix of every route (`/v1` by default).
    pub fn base_path(&self) -> &str {
        &self.inner.config.base_path
    }

    /// Largest accepted request body: what an adapter buffers at most.
    pub fn max_body_bytes(&self) -> usize {
        self.inner.config.max_body_bytes
    }

    /// Whether a browser request with these headers comes from a page that
    /// may use the session: no `Origin` (not a browser page, unless
    /// `Sec-Fetch-Site` says it is cross-site), or the request's own
    /// origin, the public URL's or an allowed one. The rule session
    /// creation follows, for routes of the application's own that act on
    /// the session (a websocket handshake, as the `live-sessions` example).
    ///
    /// ```
    /// use http::HeaderMap;
    /// use tokengate::api::{ApiConfig, Endpoints};
    /// use tokengate::{Gate, store::MemoryStore};
    /// let gate = Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new())
    ///     .public_url("https://app.example.com").build().unwrap();
    /// let endpoints = Endpoints::with_config(gate, ApiConfig::default()).unwrap();
    /// let mut headers = HeaderMap::new();
    /// headers.insert("origin", "https://app.example.com".parse().unwrap());
    /// assert!(endpoints.origin_allowed(&headers));
    /// headers.insert("origin", "https://evil.example".parse().unwrap());
    /// assert!(!endpoints.origin_allowed(&headers));
    /// ```
    pub fn origin_allowed(&self, headers: &HeaderMap) -> bool {
        guard::origin_allowed(self, headers, None)
    }

    /// The web origins allowed besides the request's own and the public
    /// URL's (for an application's own CORS layer, as the examples use it).
    pub fn allowed_origins(&self) -> &[String] {
        &self.inner.config.allowed_origins
    }

    /// The session cookie's name: `a_session_<project>`, with `__Host-`
    /// in front when configured.
    pub fn cookie_name(&self) -> &str {
        &self.inner.cookie_name
    }

    /// Whether `path` belongs to the mounted endpoints (`<base>/account…` or
    /// `<base>/users…`). Everything else passes through to the application.
    pub fn is_mounted(&self, path: &str) -> bool {
        self.relative_path(path).is_some_and(|rest| {
            let first = rest.split('/').next().unwrap_or_default();
            first == "account" || first == "users"
        })
    }

    fn relative_path<'a>(&self, path: &'a str) -> Option<&'a str> {
        path.strip_prefix(self.inner.config.base_path.as_str())?
            .strip_prefix('/')
    }

    /// The session credential of a request: the `X-Appwrite-Session`
    /// header, else the session cookie, else `X-Fallback-Cookies`
    /// ([`adapter::find_credential`]).
    pub fn credential<'a>(&self, headers: &'a HeaderMap) -> Option<&'a str> {
        find_credential(
            headers.get(&cookie::SESSION_HEADER_NAME).map(|v| v.as_bytes()),
            || headers.get_all(http::header::COOKIE).iter().map(|v| v.as_bytes()),
            headers.get(FALLBACK_COOKIES_HEADER).map(|v| v.as_bytes()),
            self.cookie_name(),
        )
    }

    /// The session of a request: `Ok(None)` when it carries no credential
    /// (no store call) or an invalid one; `Err` only when the store failed
    /// (answer 503: fail closed).
    pub async fn resolve_session(&self, headers: &HeaderMap) -> Result<Option<Session>, Error> {
        match self.credential(headers) {
            None => Ok(None),
            Some(credential) => self.gate().authenticate(credential).await,
        }
    }

    /// Answers one request to a mounted route; `peer` is the connection's
    /// address, when the framework knows it (per-client limits need it;
    /// behind trusted proxies the forwarded client counts). Never panics;
    /// every failure is Appwrite's JSON error body.
    pub async fn handle(&self, request: Request<Bytes>, peer: Option<IpAddr>) -> Response<Bytes> {
        handlers::dispatch(self, &request, peer).await
    }
}

impl From<Gate> for Endpoints {
    /// The endpoints of `gate` with the default [`ApiConfig`] (no API key:
    /// the API-key routes refuse).
    fn from(gate: Gate) -> Self {
        Endpoints::with_config(gate, ApiConfig::default()).expect("the default configuration is valid")
    }
}
