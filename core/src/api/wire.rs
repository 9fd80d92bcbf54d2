//! Appwrite's wire models, with its field names exactly.

use bytes::Bytes;
use chrono::{DateTime, Utc};
use http::{header, HeaderValue, Response, StatusCode};
use serde_json::{json, Value};

use super::device_info::describe;
use super::{ApiConfig, ErrorKind};
use crate::model::User;
use crate::model::{Session, Token, UserId};
use crate::secret::Secret;
pub(crate) use crate::time::format_date;

/// `Content-Type` of every JSON response.
pub const JSON_CONTENT_TYPE: &str = "application/json; charset=utf-8";
/// `Content-Type` of bodiless responses: the Appwrite SDKs parse any JSON
/// content type as JSON, so 204 must not claim it, but must carry one.
pub(super) const EMPTY_CONTENT_TYPE: &str = "text/plain; charset=utf-8";

/// The Token model. `secret` is shown only to API-key callers.
pub(super) fn token_json(token: &Token, show_secret: bool) -> Value {
    let secret = match (&token.secret, show_secret) {
        (Some(secret), true) => secret.expose().to_owned(),
        _ => String::new(),
    };
    json!({
        "$id": token.id,
        "$createdAt": format_date(token.created_at),
        "userId": token.user_id.as_str(),
        "secret": secret,
        "expire": format_date(token.expire),
        "phrase": token.phrase.clone().unwrap_or_default(),
    })
}

/// The Appwrite model of an event's object, as webhooks send it: the Token
/// with its secret, the Session without its credential, the User.
pub(super) fn event_json(config: &ApiConfig, event: &crate::events::Event) -> Value {
    use crate::events::EventObject;
    match &event.object {
        EventObject::Token(token) => token_json(token, true),
        EventObject::Session(session) => session_json(config, session, false, None),
        EventObject::User(user) => user_json(&user.id, Some(user), user.created_at, user.updated_at),
    }
}

/// The Session model. `secret` is the credential, for API-key callers only.
/// The device fields come from the stored User-Agent and the country from
/// the stored IP, derived here (see `device_info`): nothing of them is stored.
pub(super) fn session_json(config: &ApiConfig, session: &Session, current: bool, secret: Option<&Secret>) -> Value {
    let device = describe(&session.user_agent);
    let (country_code, country_name) = config.country(&session.ip);
    json!({
        "$id": session.id,
        "$createdAt": format_date(session.created_at),
        "$updatedAt": format_date(session.updated_at),
        "userId": session.user_id.as_str(),
        "expire": format_date(session.expire),
        "provider": session.provider(),
        "providerUid": session.user_id.as_str(),
        "providerAccessToken": "",
        "providerAccessTokenExpiry": "",
        "providerRefreshToken": "",
        "ip": session.ip,
        "osCode": device.os_code,
        "osName": device.os_name,
        "osVersion": device.os_version,
        "clientType": device.client_type,
        "clientCode": device.client_code,
        "clientName": device.client_name,
        "clientVersion": device.client_version,
        "clientEngine": device.client_engine,
        "clientEngineVersion": device.client_engine_version,
        "deviceName": device.device_name,
        "deviceBrand": device.device_brand,
        "deviceModel": device.device_model,
        "countryCode": country_code,
        "countryName": country_name,
        "current": current,
        "factors": session.factors(),
        "secret": secret.map(|s| s.expose().to_owned()).unwrap_or_default(),
        "mfaUpdatedAt": "",
    })
}

/// The SessionList model.
pub(super) fn session_list_json(config: &ApiConfig, sessions: &[Session], current_id: Option<&str>) -> Value {
    let items: Vec<Value> = sessions
        .iter()
        .map(|s| session_json(config, s, current_id == Some(s.id.as_str()), None))
        .collect();
    json!({ "total": items.len(), "sessions": items })
}

/// Appwrite's User model. `$createdAt` and `registration` are when the id
/// first became known; `known_since` stands in for a user the directory has
/// no record of (a session from before records were kept), so neither is
/// ever empty. `accessed_at` is the last use the caller knows of.
pub(super) fn user_json(
    id: &UserId,
    user: Option<&User>,
    known_since: DateTime<Utc>,
    accessed_at: DateTime<Utc>,
) -> Value {
    let created = format_date(user.map_or(known_since, |u| u.created_at));
    json!({
        "$id": id.as_str(),
        "$createdAt": created,
        "$updatedAt": format_date(user.map_or(known_since, |u| u.updated_at)),
        "name": "",
        "registration": created,
        "status": true,
        "labels": [],
        "passwordUpdate": "",
        "email": user.map(|u| u.email.as_str()).unwrap_or_default(),
        "phone": user.map(|u| u.phone.as_str()).unwrap_or_default(),
        "emailVerification": user.is_some_and(|u| u.email_verification),
        "phoneVerification": user.is_some_and(|u| u.phone_verification),
        "mfa": false,
        "prefs": {},
        "targets": [],
        "accessedAt": format_date(accessed_at),
    })
}

/// Appwrite's error body.
pub(super) fn error_json(kind: ErrorKind, message: &str) -> Value {
    json!({
        "message": message,
        "code": kind.status(),
        "type": kind.type_name(),
        "version": env!("CARGO_PKG_VERSION"),
    })
}

/// A JSON response.
pub(super) fn json_response(status: StatusCode, body: &Value) -> Response<Bytes> {
    let bytes = serde_json::to_vec(body).expect("JSON values always serialise");
    let mut response = Response::new(Bytes::from(bytes));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_CONTENT_TYPE));
    response
}

/// A 204 with the content type the SDKs need.
pub(super) fn no_content() -> Response<Bytes> {
    let mut response = Response::new(Bytes::new());
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(EMPTY_CONTENT_TYPE));
    response
}

/// Appwrite's error response for `kind` with `message`.
pub(super) fn error_response(kind: ErrorKind, message: &str) -> Response<Bytes> {
    let status = StatusCode::from_u16(kind.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json_response(status, &error_json(kind, message))
}

/// Appwrite's error response of `kind` with its fixed message.
pub(super) fn kind_response(kind: ErrorKind) -> Response<Bytes> {
    error_response(kind, kind.default_message())
}

/// Appwrite's error response for an [`crate::Error`]; store and delivery
/// details are logged, never sent.
pub(super) fn error_to_response(error: &crate::Error) -> Response<Bytes> {
    let kind = error.kind();
    if kind.status() >= 500 {
        tracing::warn!(error = %error, "request failed");
    }
    error_response(kind, &error.public_message())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn dates_have_millis_and_offset() {
        let date = Utc.timestamp_millis_opt(1_764_273_000_123).unwrap();
        assert_eq!(format_date(date), "2025-11-27T19:50:00.123+00:00");
    }
}
