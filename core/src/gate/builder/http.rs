//! Setters of how the HTTP endpoints are mounted and what they accept.

use super::*;

impl GateBuilder {
    /// Project id (default `default`): cookie `a_session_<project>`.
    ///
    /// ```
    /// # use tokengate::{Gate, store::MemoryStore};
    /// let gate = Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new())
    ///     .project("shop").build().unwrap();
    /// assert_eq!(gate.http().cookie_name(), "a_session_shop");
    /// ```
    pub fn project(mut self, project: impl Into<String>) -> Self {
        self.http.project = project.into();
        self
    }

    /// The API key for `X-Appwrite-Key` (default: none, API-key routes refuse).
    ///
    /// ```
    /// # use tokengate::{Gate, store::MemoryStore};
    /// let gate = Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new())
    ///     .api_key("s3cret-key-of-enough-length").build().unwrap();
    /// assert!(gate.http().api_key.is_some());
    /// ```
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.http.api_key = Some(Secret::new(key));
        self
    }

    /// Route prefix (default `/v1`; `""` mounts at the root).
    ///
    /// ```
    /// # use tokengate::{Gate, store::MemoryStore};
    /// let gate = Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new())
    ///     .base_path("/auth/v1").build().unwrap();
    /// assert_eq!(gate.http().base_path, "/auth/v1");
    /// ```
    pub fn base_path(mut self, path: impl Into<String>) -> Self {
        self.http.base_path = path.into();
        self
    }

    /// Whether the session cookie is `Secure` (default true). Turn off only
    /// for plain-http local development.
    ///
    /// ```
    /// # use tokengate::{Gate, store::MemoryStore};
    /// let gate = Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new())
    ///     .secure_cookies(false).build().unwrap();
    /// assert!(!gate.http().cookie.secure);
    /// ```
    pub fn secure_cookies(mut self, secure: bool) -> Self {
        self.http.cookie.secure = secure;
        self
    }

    /// Largest request body accepted by the endpoints (default 64 KiB).
    ///
    /// ```
    /// # use tokengate::{Gate, store::MemoryStore};
    /// let gate = Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new())
    ///     .max_body_bytes(8192).build().unwrap();
    /// assert_eq!(gate.http().max_body_bytes, 8192);
    /// ```
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.http.max_body_bytes = bytes;
        self
    }

    /// Web origins (`https://app.example.com`) from which a browser may
    /// create sessions, besides the request's own origin and the public
    /// URL's. Every other `Origin` gets 403 on the session-creating route.
    ///
    /// ```
    /// # use tokengate::{Gate, store::MemoryStore};
    /// let gate = Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new())
    ///     .allowed_origins(["https://app.example.com"]).build().unwrap();
    /// assert_eq!(gate.http().allowed_origins, vec!["https://app.example.com"]);
    /// assert!(Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new())
    ///     .allowed_origins(["https://app.example.com/path"]).build().is_err());
    /// ```
    pub fn allowed_origins<I, O>(mut self, origins: I) -> Self
    where
        I: IntoIterator<Item = O>,
        O: Into<String>,
    {
        self.http.allowed_origins = origins.into_iter().map(Into::into).collect();
        self
    }

    /// Proxies (CIDRs) whose `X-Forwarded-For` / `Forwarded` name the
    /// client. None by default: the peer address is the client and the
    /// headers are ignored, since anyone can send them.
    ///
    /// ```
    /// # use tokengate::{Gate, client_ip::TrustedProxies, store::MemoryStore};
    /// let gate = Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new())
    ///     .trusted_proxies(TrustedProxies::parse("10.0.0.0/8").unwrap()).build().unwrap();
    /// assert!(gate.http().trusted_proxies.contains("10.1.2.3".parse().unwrap()));
    /// ```
    pub fn trusted_proxies(mut self, proxies: TrustedProxies) -> Self {
        self.http.trusted_proxies = proxies;
        self
    }

    /// The cookie's `SameSite` (default `Lax`; `None` requires secure cookies).
    ///
    /// ```
    /// # use tokengate::{Gate, config::SameSite, store::MemoryStore};
    /// let gate = Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new())
    ///     .same_site(SameSite::None).build().unwrap();
    /// assert_eq!(gate.http().cookie.same_site, SameSite::None);
    /// assert!(Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new())
    ///     .same_site(SameSite::None).secure_cookies(false).build().is_err());
    /// ```
    pub fn same_site(mut self, same_site: SameSite) -> Self {
        self.http.cookie.same_site = same_site;
        self
    }

    /// The cookie's `Domain` (default none: this host only).
    ///
    /// ```
    /// # use tokengate::{Gate, store::MemoryStore};
    /// let gate = Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new())
    ///     .cookie_domain("example.com").build().unwrap();
    /// assert_eq!(gate.http().cookie.domain.as_deref(), Some("example.com"));
    /// ```
    pub fn cookie_domain(mut self, domain: impl Into<String>) -> Self {
        self.http.cookie.domain = Some(domain.into());
        self
    }

    /// Names the cookie `__Host-a_session_<project>` (off by default), which
    /// browsers accept only `Secure`, host-only, on `Path=/`.
    ///
    /// ```
    /// # use tokengate::{Gate, store::MemoryStore};
    /// let gate = Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new())
    ///     .cookie_host_prefix(true).build().unwrap();
    /// assert_eq!(gate.http().cookie_name(), "__Host-a_session_default");
    /// ```
    pub fn cookie_host_prefix(mut self, on: bool) -> Self {
        self.http.cookie.host_prefix = on;
        self
    }
}
