//! The request's session as both adapters hand it out: looked up once, the
//! first time an extractor or a guard asks ([`SessionLookup`]), shared
//! without copying (an `Arc`), refused the same way ([`Rejection`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use http::Response;

use crate::model::Session;

use super::wire::kind_response;
use super::Endpoints;
use super::ErrorKind;

/// Defines an adapter's `AuthSession`: a newtype of the request's shared
/// session, `Arc<Session>` (extracting it, maybe more than once per
/// request, costs a reference count, not a copy; the framework's extractor
/// traits can only be implemented on a type of the adapter's own), that
/// derefs to [`Session`](crate::Session), with `session()` and
/// `into_inner()`. Used by `tokengate-tower` and `tokengate-actix`; the doc
/// comments given are the type's.
///
/// ```
/// tokengate::auth_session_type! {
///     /// The session of the request.
///     AuthSession
/// }
/// fn user(session: &AuthSession) -> &str {
///     session.user_id.as_str()
/// }
/// ```
#[macro_export]
macro_rules! auth_session_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name(::std::sync::Arc<$crate::Session>);

        impl $name {
            /// The session.
            pub fn session(&self) -> &$crate::Session {
                &self.0
            }

            /// Takes the session out (a copy only if another handle still
            /// shares it).
            pub fn into_inner(self) -> $crate::Session {
                ::std::sync::Arc::try_unwrap(self.0).unwrap_or_else(|shared| (*shared).clone())
            }
        }

        impl ::std::ops::Deref for $name {
            type Target = $crate::Session;
            fn deref(&self) -> &$crate::Session {
                &self.0
            }
        }

        impl ::std::convert::From<::std::sync::Arc<$crate::Session>> for $name {
            fn from(shared: ::std::sync::Arc<$crate::Session>) -> Self {
                $name(shared)
            }
        }
    };
}

/// Why a request's session could not be handed to a handler; the same
/// answer in both adapters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rejection {
    /// No valid session: 401 with Appwrite's `user_unauthorized` body.
    Unauthorized,
    /// The adapter's layer or middleware is not installed on this route: 500.
    MissingLayer,
    /// The store failed while looking the session up: 503 (fail closed).
    Unavailable,
}

impl Rejection {
    /// The answer; `layer` names what is missing for [`Rejection::MissingLayer`].
    ///
    /// ```
    /// use tokengate::api::adapter::Rejection;
    /// assert_eq!(Rejection::Unauthorized.response("TokenGateLayer").status(), 401);
    /// assert_eq!(Rejection::Unavailable.response("TokenGateLayer").status(), 503);
    /// let missing = Rejection::MissingLayer.response("TokenGateLayer");
    /// assert_eq!(missing.status(), 500);
    /// assert!(std::str::from_utf8(missing.body()).unwrap().contains("TokenGateLayer"));
    /// ```
    pub fn response(self, layer: &str) -> Response<Bytes> {
        match self {
            Rejection::Unauthorized => kind_response(ErrorKind::Unauthorized),
            Rejection::Unavailable => kind_response(ErrorKind::ServiceUnavailable),
            Rejection::MissingLayer => super::wire::error_response(
                ErrorKind::Internal,
                &format!("AuthSession requires the tokengate {layer} to be installed on this route"),
            ),
        }
    }
}

/// The session of one request outside the mounted routes, looked up when
/// first asked for and remembered for the rest of the request (as
/// tower-sessions loads its session): a route that never asks costs no
/// store call, and a request without a credential never does. Both
/// adapters put one into every request they pass on; cheap to clone.
///
/// ```
/// use tokengate::api::Endpoints;
/// use tokengate::api::adapter::SessionLookup;
/// use tokengate::{Gate, store::MemoryStore};
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let gate = Gate::builder().server_secret([1u8; 32]).store(MemoryStore::new()).build().unwrap();
/// let lookup = SessionLookup::new(Endpoints::from(gate));
/// assert_eq!(lookup.session(None).await, Ok(None)); // no credential: no store call
/// assert_eq!(lookup.session(Some("forged.credential")).await, Ok(None));
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct SessionLookup(Arc<Lookup>);

#[derive(Debug)]
struct Lookup {
    endpoints: Endpoints,
    found: OnceLock<Option<Arc<Session>>>,
    store_failed: AtomicBool,
}

impl SessionLookup {
    /// A lookup not done yet.
    pub fn new(endpoints: Endpoints) -> Self {
        SessionLookup(Arc::new(Lookup {
            endpoints,
            found: OnceLock::new(),
            store_failed: AtomicBool::new(false),
        }))
    }

    /// The endpoints (for the cookie name: [`Endpoints::cookie_name`]).
    pub fn endpoints(&self) -> &Endpoints {
        &self.0.endpoints
    }

    /// Whether a lookup of this request failed in the store. An adapter
    /// whose framework turns extractor errors into `None` (actix-web's
    /// `Option<T>`) answers 503 then, whatever the handler made of it: a
    /// request is never served as anonymous because the store was down.
    pub fn store_failed(&self) -> bool {
        self.0.store_failed.load(Ordering::Acquire)
    }

    /// [`SessionLookup::session`] for the credential among `headers`
    /// ([`Endpoints::credential`]).
    pub async fn session_of(&self, headers: &http::HeaderMap) -> Result<Option<Arc<Session>>, Rejection> {
        self.session(self.0.endpoints.credential(headers)).await
    }

    /// The session for the request's `credential` (found with
    /// [`super::find_credential`]): asked of the gate the first time,
    /// remembered after. `Ok(None)` without a valid session;
    /// [`Rejection::Unavailable`] when the store failed (not remembered:
    /// a later ask tries again), never `None` for a credential that could
    /// not be checked.
    pub async fn session(&self, credential: Option<&str>) -> Result<Option<Arc<Session>>, Rejection> {
        // Extractors of one request run one after another, so a plain
        // once-cell is enough (no lock held across the store call).
        if let Some(found) = self.0.found.get() {
            return Ok(found.clone());
        }
        let Some(credential) = credential else {
            return Ok(self.0.found.get_or_init(|| None).clone());
        };
        match self.0.endpoints.gate().authenticate(credential).await {
            Ok(session) => {
                let session = session.map(Arc::new);
                Ok(self.0.found.get_or_init(|| session).clone())
            }
            Err(error) => {
                tracing::warn!(%error, "session lookup failed; answering 503");
                self.0.store_failed.store(true, Ordering::Release);
                Err(Rejection::Unavailable)
            }
        }
    }
}
