//! The HTTP endpoints, framework-agnostic: `http::Request<Bytes>` in,
//! `http::Response<Bytes>` out, Appwrite-compatible on the wire.
//!
//! Adapters call [`is_mounted`] to decide whether a request is ours; if so
//! they buffer its body (at most [`crate::config::HttpSettings::max_body_bytes`])
//! and call [`handle`]; otherwise they call [`resolve_session`] and hand the
//! result to the application.
//!
//! ```
//! use bytes::Bytes;
//! use tokengate::{api, Gate, store::MemoryStore};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let gate = Gate::builder()
//!     .server_secret([3u8; 32])
//!     .store(MemoryStore::new())
//!     .api_key("an-api-key-for-the-docs")
//!     .build()
//!     .unwrap();
//! let request = http::Request::post("/v1/users/alice/tokens")
//!     .header("x-appwrite-key", "an-api-key-for-the-docs")
//!     .header("content-type", "application/json")
//!     .body(Bytes::from_static(b"{\"length\": 8}"))
//!     .unwrap();
//! assert!(api::is_mounted(&gate, request.uri().path()));
//! let response = api::handle(&gate, request, api::ClientContext::default()).await;
//! assert_eq!(response.status(), 201);
//! # });
//! ```

mod body;
pub mod cookie;
mod error_kind;
mod guard;
pub mod params;
mod routes;
pub mod wire;

use std::net::IpAddr;

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Method, Request, Response, StatusCode};

use crate::error::Error;
use crate::flows::Requester;
use crate::gate::{Gate, TokenOptions, TOKEN_EXPIRE_RANGE};
use crate::model::{ClientInfo, Session, UserId};
pub use body::{BodyCollector, BodyRefused};
use cookie::{credential_from_headers, expired_cookie, session_cookie};
pub use error_kind::ErrorKind;
use guard::{check_origin, check_project, optional_api_key, require_api_key, require_json, warn_without_peer};
use params::Params;
pub use routes::route_for;
use routes::{match_route, Route};
use wire::{error_response, error_to_response, json_response, no_content, session_json, session_list_json, token_json};

/// What the adapter knows about the connection.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ClientContext {
    /// The peer address, if the framework exposes it.
    pub ip: Option<IpAddr>,
}

impl ClientContext {
    /// A context with the peer address.
    ///
    /// ```
    /// let ctx = tokengate::api::ClientContext::with_ip(Some("127.0.0.1".parse().unwrap()));
    /// assert!(ctx.ip.is_some());
    /// ```
    pub fn with_ip(ip: Option<IpAddr>) -> Self {
        ClientContext { ip }
    }
}

/// Whether `path` belongs to the mounted endpoints (`<base>/account…` or
/// `<base>/users…`). Everything else passes through to the application.
pub fn is_mounted(gate: &Gate, path: &str) -> bool {
    relative_path(gate, path).is_some_and(|rest| {
        let first = rest.split('/').next().unwrap_or_default();
        first == "account" || first == "users"
    })
}

fn relative_path<'a>(gate: &Gate, path: &'a str) -> Option<&'a str> {
    path.strip_prefix(gate.http().base_path.as_str())?.strip_prefix('/')
}

/// The session of a request outside the mounted routes: `Ok(None)` when it
/// carries no credential (no store call) or an invalid one; `Err` only when
/// the store failed (the adapter answers 503: fail closed).
pub async fn resolve_session(gate: &Gate, headers: &HeaderMap) -> Result<Option<Session>, Error> {
    resolve_credential(gate, credential_from_headers(headers, gate.http())).await
}

/// [`resolve_session`] for a credential already found with
/// [`cookie::find_credential`].
pub async fn resolve_credential(gate: &Gate, credential: Option<&str>) -> Result<Option<Session>, Error> {
    match credential {
        None => Ok(None),
        Some(credential) => gate.authenticate(credential).await,
    }
}

/// The 401 answer for a route that requires a session.
pub fn unauthorized_response() -> Response<Bytes> {
    error_response(ErrorKind::Unauthorized, ErrorKind::Unauthorized.default_message())
}

/// The 500 answer when an extractor finds no layer installed.
pub fn missing_layer_response(layer: &str) -> Response<Bytes> {
    error_response(
        ErrorKind::Internal,
        &format!("AuthSession requires the tokengate {layer} to be installed on this route"),
    )
}

/// How much of an oversized body adapters read and discard before giving up
/// on the connection: enough that ordinary clients see the 413.
pub const DRAIN_LIMIT: usize = 16 * 1024 * 1024;

/// The 413 answer for an oversized body.
pub fn payload_too_large_response() -> Response<Bytes> {
    error_response(ErrorKind::PayloadTooLarge, ErrorKind::PayloadTooLarge.default_message())
}

/// The 503 answer when the store is unreachable.
pub fn unavailable_response() -> Response<Bytes> {
    error_response(
        ErrorKind::ServiceUnavailable,
        ErrorKind::ServiceUnavailable.default_message(),
    )
}

/// Answers one request to a mounted route. Never panics; every failure is
/// Appwrite's JSON error body.
pub async fn handle(gate: &Gate, request: Request<Bytes>, client: ClientContext) -> Response<Bytes> {
    match dispatch(gate, &request, &client).await {
        Ok(response) => response,
        Err(error) => error_to_response(&error),
    }
}

async fn dispatch(gate: &Gate, request: &Request<Bytes>, client: &ClientContext) -> Result<Response<Bytes>, Error> {
    let path = request.uri().path();
    let Some(route) = relative_path(gate, path).and_then(match_route) else {
        return Ok(error_response(
            ErrorKind::RouteNotFound,
            ErrorKind::RouteNotFound.default_message(),
        ));
    };
    if request.body().len() > gate.http().max_body_bytes {
        return Ok(payload_too_large_response());
    }
    check_project(gate, request.headers())?;
    let method = request.method();
    let body = request.body();
    let headers = request.headers();
    // Behind trusted proxies the client is who they say it is; otherwise the peer.
    let client_ip = gate.http().trusted_proxies.client(client.ip, headers);
    if client_ip.is_none() {
        warn_without_peer();
    }
    let info = ClientInfo::new(client_ip, user_agent(headers));

    match (route, method) {
        (Route::User(user), &Method::GET) => {
            require_api_key(gate, headers)?;
            let user = UserId::parse(user)?;
            let found = gate.get_user(&user).await?.ok_or(Error::UserNotFound)?;
            Ok(json_response(
                StatusCode::OK,
                &wire::user_json(&user, Some(&found), found.created_at, found.updated_at),
            ))
        }
        (Route::User(user), &Method::DELETE) => {
            require_api_key(gate, headers)?;
            let user = UserId::parse(user)?;
            Params::parse(body, &[])?;
            gate.delete_user(&user).await?;
            Ok(no_content())
        }
        (Route::CreateToken(user), &Method::POST) => {
            require_api_key(gate, headers)?;
            let user = UserId::parse(user)?;
            require_json(headers)?;
            let params = Params::parse(body, &["length", "expire"])?;
            let mut options = TokenOptions::default();
            if let Some(length) = params.optional_int("length", 4..=128)? {
                options = options.length(length as usize);
            }
            if let Some(expire) = params.optional_int("expire", TOKEN_EXPIRE_RANGE)? {
                options = options.expire(std::time::Duration::from_secs(expire));
            }
            let token = gate.create_token(&user, options).await?;
            Ok(json_response(StatusCode::CREATED, &token_json(&token, true)))
        }
        (Route::UserSessions(user), &Method::GET) => {
            require_api_key(gate, headers)?;
            let user = UserId::parse(user)?;
            let sessions = gate.list_sessions(&user).await?;
            Ok(json_response(StatusCode::OK, &session_list_json(&sessions, None)))
        }
        (Route::UserSessions(user), &Method::DELETE) => {
            require_api_key(gate, headers)?;
            let user = UserId::parse(user)?;
            Params::parse(body, &[])?;
            gate.delete_sessions(&user).await?;
            Ok(no_content())
        }
        (Route::UserSessions(user), &Method::POST) => {
            require_api_key(gate, headers)?;
            let user = UserId::parse(user)?;
            Params::parse(body, &[])?;
            let (session, credential) = gate.create_server_session(&user, info).await?;
            Ok(json_response(
                StatusCode::CREATED,
                &session_json(&session, false, Some(&credential)),
            ))
        }
        (Route::UserSession(user, session_id), &Method::DELETE) => {
            require_api_key(gate, headers)?;
            let user = UserId::parse(user)?;
            Params::parse(body, &[])?;
            gate.delete_session(&user, session_id).await?;
            Ok(no_content())
        }
        (Route::Exchange, &Method::POST) => {
            let api_key = optional_api_key(gate, headers)?;
            if !api_key {
                check_origin(gate, request)?;
            }
            require_json(headers)?;
            let params = Params::parse(body, &["userId", "secret"])?;
            let user = UserId::parse(params.required_str("userId")?)?;
            let secret = params.required_str("secret")?;
            let (session, credential) = gate.create_session(&user, secret, info).await?;
            let shown = api_key.then_some(&credential);
            let mut response = json_response(StatusCode::CREATED, &session_json(&session, true, shown));
            set_cookie(
                &mut response,
                session_cookie(gate.http(), &credential, session.expire).expose(),
            );
            Ok(response)
        }
        (Route::AccountSessions, &Method::GET) => {
            let current = &current_session(gate, headers).await?;
            let sessions = gate.list_sessions(&current.user_id).await?;
            Ok(json_response(
                StatusCode::OK,
                &session_list_json(&sessions, Some(&current.id)),
            ))
        }
        (Route::AccountSessions, &Method::DELETE) => {
            let current = &current_session(gate, headers).await?;
            Params::parse(body, &["current"])?;
            gate.delete_sessions(&current.user_id).await?;
            let mut response = no_content();
            set_cookie(&mut response, &expired_cookie(gate.http()));
            Ok(response)
        }
        (Route::AccountSession(id), &Method::GET) => {
            let current = &current_session(gate, headers).await?;
            let id = resolve_id(id, current);
            let session = gate.get_session(&current.user_id, id).await?;
            Ok(json_response(
                StatusCode::OK,
                &session_json(&session, session.id == current.id, None),
            ))
        }
        (Route::AccountSession(id), &Method::PATCH) => {
            let current = &current_session(gate, headers).await?;
            Params::parse(body, &[])?;
            let id = resolve_id(id, current);
            let session = gate.extend_session(&current.user_id, id).await?;
            Ok(json_response(
                StatusCode::OK,
                &session_json(&session, session.id == current.id, None),
            ))
        }
        (Route::AccountSession(id), &Method::DELETE) => {
            let current = &current_session(gate, headers).await?;
            Params::parse(body, &[])?;
            let id = resolve_id(id, current);
            gate.delete_session(&current.user_id, id).await?;
            let mut response = no_content();
            if id == current.id {
                set_cookie(&mut response, &expired_cookie(gate.http()));
            }
            Ok(response)
        }
        (Route::Account, &Method::GET) => {
            let current = &current_session(gate, headers).await?;
            let user = gate.get_user(&current.user_id).await?;
            Ok(json_response(
                StatusCode::OK,
                &wire::user_json(&current.user_id, user.as_ref(), current.created_at, current.updated_at),
            ))
        }
        (Route::EmailToken, &Method::POST) => {
            let trusted = optional_api_key(gate, headers)?;
            require_json(headers)?;
            let params = Params::parse(body, &["userId", "email", "phrase"])?;
            let requester = Requester::new(client_ip, trusted);
            let phrase = params.optional_bool("phrase")?.unwrap_or(false);
            let token = gate
                .create_email_token(
                    params.required_str("userId")?,
                    params.required_str("email")?,
                    phrase,
                    requester,
                )
                .await?;
            Ok(json_response(StatusCode::CREATED, &token_json(&token, trusted)))
        }
        (Route::MagicUrlToken, &Method::POST) => {
            let trusted = optional_api_key(gate, headers)?;
            require_json(headers)?;
            let params = Params::parse(body, &["userId", "email", "url", "phrase"])?;
            let requester = Requester::new(client_ip, trusted);
            let phrase = params.optional_bool("phrase")?.unwrap_or(false);
            let token = gate
                .create_magic_url_token(
                    params.required_str("userId")?,
                    params.required_str("email")?,
                    params.optional_str("url")?,
                    phrase,
                    requester,
                )
                .await?;
            Ok(json_response(StatusCode::CREATED, &token_json(&token, trusted)))
        }
        (Route::PhoneToken, &Method::POST) => {
            let trusted = optional_api_key(gate, headers)?;
            require_json(headers)?;
            let params = Params::parse(body, &["userId", "phone"])?;
            let requester = Requester::new(client_ip, trusted);
            let token = gate
                .create_phone_token(params.required_str("userId")?, params.required_str("phone")?, requester)
                .await?;
            Ok(json_response(StatusCode::CREATED, &token_json(&token, trusted)))
        }
        _ => Ok(error_response(
            ErrorKind::MethodNotAllowed,
            ErrorKind::MethodNotAllowed.default_message(),
        )),
    }
}

fn resolve_id<'a>(id: &'a str, current: &'a Session) -> &'a str {
    if id == "current" {
        &current.id
    } else {
        id
    }
}

/// The session the request authenticates with; 401 without one.
async fn current_session(gate: &Gate, headers: &HeaderMap) -> Result<Session, Error> {
    resolve_session(gate, headers).await?.ok_or(Error::Unauthorized)
}

fn user_agent(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn set_cookie(response: &mut Response<Bytes>, cookie: &str) {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        let mut value = value;
        value.set_sensitive(true);
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}
