//! One handler per endpoint of the route table, and the dispatch to them:
//! each checks who may call it, parses its parameters, calls the gate and
//! renders Appwrite's model.

use std::net::IpAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};

use crate::gate::{TokenOptions, TOKEN_EXPIRE_RANGE};
use crate::model::{ClientInfo, Session, Token, UserId};

use super::cookie::{expired_cookie, session_cookie};
use super::cors::{self, FALLBACK_COOKIES_HEADER, NO_FALLBACK_COOKIES};
use super::error_kind::{ErrorKind, Refusal};
use super::guard::{check_origin, check_project, optional_api_key, require_api_key, require_json, warn_without_peer};
use super::params::Params;
use super::routes::{match_route, Endpoint, Matched, PathParams};
use super::wire::{self, json_response, no_content, session_json, session_list_json, token_json};
use super::Endpoints;

type Answer = Result<Response<Bytes>, Refusal>;

/// One request to one endpoint.
struct Call<'a> {
    endpoints: &'a Endpoints,
    request: &'a Request<Bytes>,
    params: PathParams<'a>,
    client_ip: Option<IpAddr>,
}

impl Call<'_> {
    fn body(&self) -> &[u8] {
        self.request.body()
    }

    fn user(&self) -> Result<UserId, Refusal> {
        Ok(UserId::parse(self.params[0])?)
    }

    fn info(&self) -> ClientInfo {
        let agent = self
            .request
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok());
        ClientInfo::new(self.client_ip, agent.map(str::to_owned))
    }

    fn require_api_key(&self) -> Result<(), Refusal> {
        require_api_key(self.endpoints, self.request.headers())
    }

    fn optional_api_key(&self) -> Result<bool, Refusal> {
        optional_api_key(self.endpoints, self.request.headers())
    }

    /// The session the request authenticates with. Without one the caller
    /// is a guest, who lacks the account scope (401, as Appwrite).
    async fn current_session(&self) -> Result<Session, Refusal> {
        let found = self.endpoints.resolve_session(self.request.headers()).await?;
        found.ok_or(Refusal::Http(ErrorKind::UnauthorizedScope))
    }

    /// `current` names the session the request authenticates with.
    fn session_id<'s>(&'s self, current: &'s Session) -> &'s str {
        match self.params[0] {
            "current" => &current.id,
            id => id,
        }
    }
}

pub(super) async fn dispatch(endpoints: &Endpoints, request: &Request<Bytes>, peer: Option<IpAddr>) -> Response<Bytes> {
    if request.method() == Method::OPTIONS {
        return cors::preflight(endpoints, request);
    }
    let mut response = answer(endpoints, request, peer).await;
    cors::decorate(endpoints, request.headers(), &mut response);
    // Every answer depends on the credential: no shared cache may keep one
    // (Appwrite's value).
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-store, must-revalidate"),
    );
    response
}

async fn answer(endpoints: &Endpoints, request: &Request<Bytes>, peer: Option<IpAddr>) -> Response<Bytes> {
    let rest = endpoints.relative_path(request.uri().path()).unwrap_or_default();
    let (endpoint, params) = match match_route(request.method(), rest) {
        Matched::Endpoint(endpoint, params) => (endpoint, params),
        Matched::WrongMethod => return refusal_response(Refusal::Http(ErrorKind::MethodNotAllowed)),
        Matched::NotFound => return refusal_response(Refusal::Http(ErrorKind::RouteNotFound)),
    };
    if request.body().len() > endpoints.config().max_body_bytes {
        return refusal_response(Refusal::Http(ErrorKind::PayloadTooLarge));
    }
    if let Err(refusal) = check_project(endpoints, request.headers()) {
        return refusal_response(refusal);
    }
    // Behind trusted proxies the client is who they say it is; otherwise the peer.
    let client_ip = endpoints.trusted_proxies().client(peer, request.headers());
    if client_ip.is_none() {
        warn_without_peer();
    }
    let call = Call {
        endpoints,
        request,
        params,
        client_ip,
    };
    let answer = match endpoint {
        Endpoint::GetUser => get_user(&call).await,
        Endpoint::DeleteUser => delete_user(&call).await,
        Endpoint::CreateToken => create_token(&call).await,
        Endpoint::ListUserSessions => list_user_sessions(&call).await,
        Endpoint::DeleteUserSessions => delete_user_sessions(&call).await,
        Endpoint::CreateServerSession => create_server_session(&call).await,
        Endpoint::DeleteUserSession => delete_user_session(&call).await,
        Endpoint::Exchange => exchange(&call).await,
        Endpoint::ListAccountSessions => list_account_sessions(&call).await,
        Endpoint::DeleteAccountSessions => delete_account_sessions(&call).await,
        Endpoint::GetAccountSession => get_account_session(&call).await,
        Endpoint::ExtendAccountSession => extend_account_session(&call).await,
        Endpoint::DeleteAccountSession => delete_account_session(&call).await,
        Endpoint::GetAccount => get_account(&call).await,
        Endpoint::EmailToken => email_token(&call).await,
        Endpoint::MagicUrlToken => magic_url_token(&call).await,
        Endpoint::PhoneToken => phone_token(&call).await,
    };
    answer.unwrap_or_else(refusal_response)
}

fn refusal_response(refusal: Refusal) -> Response<Bytes> {
    match refusal {
        Refusal::Domain(error) => wire::error_to_response(&error),
        Refusal::Http(kind) => wire::kind_response(kind),
    }
}

// --- users (API key) ---------------------------------------------------------

async fn get_user(call: &Call<'_>) -> Answer {
    call.require_api_key()?;
    let user = call.user()?;
    let gate = call.endpoints.gate();
    let found = gate.get_user(&user).await?.ok_or(crate::Error::UserNotFound)?;
    let body = wire::user_json(&user, Some(&found), found.created_at, found.updated_at);
    Ok(json_response(StatusCode::OK, &body))
}

/// 404 `user_not_found` unless the directory knows `user`.
async fn require_user(call: &Call<'_>, user: &UserId) -> Result<(), Refusal> {
    match call.endpoints.gate().get_user(user).await? {
        Some(_) => Ok(()),
        None => Err(Refusal::Domain(crate::Error::UserNotFound)),
    }
}

async fn delete_user(call: &Call<'_>) -> Answer {
    call.require_api_key()?;
    let user = call.user()?;
    Params::parse(call.body(), &[])?;
    call.endpoints.gate().delete_user(&user).await?;
    Ok(no_content())
}

async fn create_token(call: &Call<'_>) -> Answer {
    call.require_api_key()?;
    let user = call.user()?;
    require_json(call.request.headers())?;
    let params = Params::parse(call.body(), &["length", "expire"])?;
    let mut options = TokenOptions::default();
    if let Some(length) = params.optional_int("length", 4..=128)? {
        options = options.length(length as usize);
    }
    if let Some(expire) = params.optional_int("expire", TOKEN_EXPIRE_RANGE)? {
        options = options.expire(Duration::from_secs(expire));
    }
    let token = call.endpoints.gate().create_token(&user, options).await?;
    Ok(json_response(StatusCode::CREATED, &token_json(&token, true)))
}

async fn list_user_sessions(call: &Call<'_>) -> Answer {
    call.require_api_key()?;
    let user = call.user()?;
    let gate = call.endpoints.gate();
    let sessions = gate.list_sessions(&user).await?;
    // No sessions may mean no user: Appwrite answers 404 for that.
    if sessions.is_empty() {
        require_user(call, &user).await?;
    }
    Ok(json_response(
        StatusCode::OK,
        &session_list_json(call.endpoints.config(), &sessions, None),
    ))
}

async fn delete_user_sessions(call: &Call<'_>) -> Answer {
    call.require_api_key()?;
    let user = call.user()?;
    Params::parse(call.body(), &[])?;
    call.endpoints.gate().delete_sessions(&user).await?;
    Ok(no_content())
}

async fn create_server_session(call: &Call<'_>) -> Answer {
    call.require_api_key()?;
    let user = call.user()?;
    Params::parse(call.body(), &[])?;
    require_user(call, &user).await?;
    let (session, credential) = call.endpoints.gate().create_server_session(&user, call.info()).await?;
    let body = session_json(call.endpoints.config(), &session, false, Some(&credential));
    Ok(json_response(StatusCode::CREATED, &body))
}

async fn delete_user_session(call: &Call<'_>) -> Answer {
    call.require_api_key()?;
    let user = call.user()?;
    Params::parse(call.body(), &[])?;
    call.endpoints.gate().delete_session(&user, call.params[1]).await?;
    Ok(no_content())
}

// --- the exchange (anyone) -------------------------------------------------------

async fn exchange(call: &Call<'_>) -> Answer {
    let api_key = call.optional_api_key()?;
    if !api_key {
        check_origin(call.endpoints, call.request)?;
    }
    require_json(call.request.headers())?;
    let params = Params::parse(call.body(), &["userId", "secret"])?;
    let user = UserId::parse(params.required_str("userId")?)?;
    let secret = params.required_str("secret")?;
    // One session per client at a time, as Appwrite: a signed-in browser
    // must sign out first (a stale or forged credential does not count).
    if call.endpoints.resolve_session(call.request.headers()).await?.is_some() {
        return Err(Refusal::Http(ErrorKind::SessionAlreadyExists));
    }
    let gate = call.endpoints.gate();
    let (session, credential) = gate.create_session(&user, secret, call.info()).await?;
    let shown = api_key.then_some(&credential);
    let mut response = json_response(
        StatusCode::CREATED,
        &session_json(call.endpoints.config(), &session, true, shown),
    );
    let cookie = session_cookie(call.endpoints, &credential, session.expire);
    set_cookie(&mut response, cookie.expose());
    if cors::from_another_site(call.endpoints, call.request) {
        let fallback = cors::fallback_cookies(call.endpoints, &credential);
        set_sensitive(&mut response, FALLBACK_COOKIES_HEADER, fallback.expose());
    }
    Ok(response)
}

// --- the account (a session) -----------------------------------------------------

async fn list_account_sessions(call: &Call<'_>) -> Answer {
    let current = call.current_session().await?;
    let sessions = call.endpoints.gate().list_sessions(&current.user_id).await?;
    Ok(json_response(
        StatusCode::OK,
        &session_list_json(call.endpoints.config(), &sessions, Some(&current.id)),
    ))
}

async fn delete_account_sessions(call: &Call<'_>) -> Answer {
    let current = call.current_session().await?;
    Params::parse(call.body(), &["current"])?;
    call.endpoints.gate().delete_sessions(&current.user_id).await?;
    Ok(signed_out(call))
}

async fn get_account_session(call: &Call<'_>) -> Answer {
    let current = call.current_session().await?;
    let session = call
        .endpoints
        .gate()
        .get_session(&current.user_id, call.session_id(&current))
        .await?;
    let body = session_json(call.endpoints.config(), &session, session.id == current.id, None);
    Ok(json_response(StatusCode::OK, &body))
}

async fn extend_account_session(call: &Call<'_>) -> Answer {
    let current = call.current_session().await?;
    Params::parse(call.body(), &[])?;
    let gate = call.endpoints.gate();
    let session = gate.extend_session(&current.user_id, call.session_id(&current)).await?;
    let body = session_json(call.endpoints.config(), &session, session.id == current.id, None);
    Ok(json_response(StatusCode::OK, &body))
}

async fn delete_account_session(call: &Call<'_>) -> Answer {
    let current = call.current_session().await?;
    Params::parse(call.body(), &[])?;
    let id = call.session_id(&current);
    call.endpoints.gate().delete_session(&current.user_id, id).await?;
    if id == current.id {
        Ok(signed_out(call))
    } else {
        Ok(no_content())
    }
}

async fn get_account(call: &Call<'_>) -> Answer {
    let current = call.current_session().await?;
    let user = call.endpoints.gate().get_user(&current.user_id).await?;
    let body = wire::user_json(&current.user_id, user.as_ref(), current.created_at, current.updated_at);
    Ok(json_response(StatusCode::OK, &body))
}

// --- the passwordless flows (anyone) ---------------------------------------------

/// What every passwordless-flow route starts with: who asks (an API key
/// makes the caller trusted; a wrong one is refused), and a JSON body of
/// the `allowed` keys.
fn flow_request(call: &Call<'_>, allowed: &[&str]) -> Result<(Params, ClientInfo), Refusal> {
    let trusted = call.optional_api_key()?;
    require_json(call.request.headers())?;
    let params = Params::parse(call.body(), allowed)?;
    Ok((
        params,
        ClientInfo {
            ip: call.client_ip,
            user_agent: None,
            trusted,
        },
    ))
}

/// The issued token; its secret shown to trusted callers only.
fn issued(token: &Token, client: &ClientInfo) -> Response<Bytes> {
    json_response(StatusCode::CREATED, &token_json(token, client.trusted))
}

async fn email_token(call: &Call<'_>) -> Answer {
    let (params, client) = flow_request(call, &["userId", "email", "phrase"])?;
    let phrase = params.optional_bool("phrase")?.unwrap_or(false);
    let (user, email) = (params.required_str("userId")?, params.required_str("email")?);
    let gate = call.endpoints.gate();
    let token = gate.create_email_token(user, email, phrase, &client).await?;
    Ok(issued(&token, &client))
}

async fn magic_url_token(call: &Call<'_>) -> Answer {
    let (params, client) = flow_request(call, &["userId", "email", "url", "phrase"])?;
    let phrase = params.optional_bool("phrase")?.unwrap_or(false);
    let (user, email, url) = (
        params.required_str("userId")?,
        params.required_str("email")?,
        params.optional_str("url")?,
    );
    let gate = call.endpoints.gate();
    let token = gate.create_magic_url_token(user, email, url, phrase, &client).await?;
    Ok(issued(&token, &client))
}

async fn phone_token(call: &Call<'_>) -> Answer {
    let (params, client) = flow_request(call, &["userId", "phone"])?;
    let (user, phone) = (params.required_str("userId")?, params.required_str("phone")?);
    let token = call.endpoints.gate().create_phone_token(user, phone, &client).await?;
    Ok(issued(&token, &client))
}

/// 204 for a request whose own session ended: the cookie expired, and for a
/// page on another site the fallback cookies emptied.
fn signed_out(call: &Call<'_>) -> Response<Bytes> {
    let mut response = no_content();
    set_cookie(&mut response, &expired_cookie(call.endpoints));
    if cors::from_another_site(call.endpoints, call.request) {
        set_sensitive(&mut response, FALLBACK_COOKIES_HEADER, NO_FALLBACK_COOKIES);
    }
    response
}

fn set_cookie(response: &mut Response<Bytes>, cookie: &str) {
    set_sensitive(response, header::SET_COOKIE.as_str(), cookie);
}

/// Appends a header holding a credential, marked so that no log shows it.
fn set_sensitive(response: &mut Response<Bytes>, name: &'static str, text: &str) {
    if let Ok(mut value) = HeaderValue::from_str(text) {
        value.set_sensitive(true);
        response.headers_mut().append(name, value);
    }
}
