//! An HTTP client for the Appwrite wire format, with assertions that read
//! like the contract.

use reqwest::header::HeaderMap;
use reqwest::Client;
pub use reqwest::Method;
use serde_json::{json, Value};

/// Why a request got no answer ([`Api::try_request`]): refused, reset,
/// timed out.
pub type TransportError = reqwest::Error;

use crate::app::RunningApp;

/// One HTTP answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
    pub json: Value,
}

impl Reply {
    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `Set-Cookie` headers.
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect()
    }

    /// The value of cookie `name` set by this reply.
    pub fn cookie_value(&self, name: &str) -> Option<String> {
        self.set_cookies().iter().find_map(|c| {
            let first = c.split(';').next()?;
            let (key, value) = first.split_once('=')?;
            (key.trim() == name).then(|| value.trim().to_owned())
        })
    }

    /// A string field of the JSON body.
    pub fn str(&self, field: &str) -> &str {
        self.json[field]
            .as_str()
            .unwrap_or_else(|| panic!("field {field} is not a string in {}", self.text))
    }

    /// Asserts an Appwrite error with this status and type.
    #[track_caller]
    pub fn assert_error(&self, status: u16, kind: &str) {
        assert_eq!(self.status, status, "status, body: {}", self.text);
        assert!(
            self.header("content-type")
                .is_some_and(|c| c.starts_with("application/json")),
            "error content type: {:?}",
            self.header("content-type")
        );
        assert_eq!(self.json["type"], kind, "error type, body: {}", self.text);
        assert_eq!(self.json["code"], status, "error code, body: {}", self.text);
        assert!(
            self.json["message"].as_str().is_some_and(|m| !m.is_empty()),
            "message: {}",
            self.text
        );
        assert!(self.json["version"].is_string(), "version: {}", self.text);
    }

    /// Asserts a status and that a `Content-Type` is present.
    #[track_caller]
    pub fn assert_status(&self, status: u16) {
        assert_eq!(self.status, status, "status, body: {}", self.text);
        assert!(
            self.header("content-type").is_some(),
            "every response carries a Content-Type"
        );
    }
}

/// Client for one app.
#[derive(Debug, Clone)]
pub struct Api {
    pub origin: String,
    pub api_key: String,
    pub project: String,
    pub cookie_name: String,
    http: Client,
}

/// How a request authenticates.
#[derive(Debug, Clone, Copy)]
pub enum Auth<'a> {
    None,
    Key,
    WrongKey,
    Session(&'a str),
    Cookie(&'a str),
}

impl Api {
    /// A client for `app`, with connections of its own (HTTP/1.1
    /// keep-alive).
    pub fn new(app: &RunningApp) -> Self {
        Api {
            origin: app.origin.clone(),
            api_key: app.spec.api_key.clone(),
            project: app.spec.project.clone(),
            cookie_name: app.cookie_name(),
            http: Self::http(None),
        }
    }

    fn http(timeout: Option<std::time::Duration>) -> Client {
        let builder = Client::builder()
            .pool_max_idle_per_host(64)
            // Below actix-web's 5 s keep-alive: an idle connection the
            // server is closing is not picked for a request.
            .pool_idle_timeout(std::time::Duration::from_secs(4));
        match timeout {
            Some(timeout) => builder.timeout(timeout),
            None => builder,
        }
        .build()
        .expect("client")
    }

    /// The same client on new connections, each request of which gives up
    /// after `timeout` (connect, send, answer).
    pub fn with_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.http = Self::http(Some(timeout));
        self
    }

    /// Sends `method path` with exactly these headers (no project, no
    /// key) and `body` as `application/json`; a transport failure or a
    /// timeout is an `Err`, not a panic: for callers that expect the app
    /// to be away (benches, crashes).
    pub async fn try_request(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Result<Reply, TransportError> {
        let mut request = self.http.request(method, format!("{}{}", self.origin, path));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.header("content-type", "application/json").body(body.to_owned());
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await?;
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Ok(Reply {
            status,
            headers,
            text,
            json,
        })
    }

    /// Sends a request to `path` (relative to the origin) with a JSON body.
    pub async fn send(&self, method: Method, path: &str, auth: Auth<'_>, body: Option<&Value>) -> Reply {
        self.send_with(method, path, auth, body, &[]).await
    }

    /// [`Api::send`] with extra request headers (after the others, so they
    /// may add a second `Cookie`).
    pub async fn send_with(
        &self,
        method: Method,
        path: &str,
        auth: Auth<'_>,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let headers: Vec<(&str, &[u8])> = headers.iter().map(|(n, v)| (*n, v.as_bytes())).collect();
        self.send_with_bytes(method, path, auth, body, &headers).await
    }

    /// [`Api::send_with`] with header values as raw bytes (`\xff` included:
    /// HTTP allows such "obs-text", and proxies pass it on).
    pub async fn send_with_bytes(
        &self,
        method: Method,
        path: &str,
        auth: Auth<'_>,
        body: Option<&Value>,
        headers: &[(&str, &[u8])],
    ) -> Reply {
        let mut request = self.http.request(method, format!("{}{}", self.origin, path));
        request = request.header("x-appwrite-project", &self.project);
        request = match auth {
            Auth::None => request,
            Auth::Key => request.header("x-appwrite-key", &self.api_key),
            Auth::WrongKey => request.header("x-appwrite-key", "not-the-key-not-the-key"),
            Auth::Session(credential) => request.header("x-appwrite-session", credential),
            Auth::Cookie(credential) => request.header("cookie", format!("{}={}", self.cookie_name, credential)),
        };
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        for (name, value) in headers {
            let value = reqwest::header::HeaderValue::from_bytes(value).expect("a header value");
            request = request.header(*name, value);
        }
        self.finish(request).await
    }

    /// POSTs `body` as is with this `Content-Type` (none when `None`).
    pub async fn send_typed(
        &self,
        path: &str,
        auth: Auth<'_>,
        content_type: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> Reply {
        self.send_typed_as(Method::POST, path, auth, content_type, body).await
    }

    /// [`Api::send_typed`] with another method.
    pub async fn send_typed_as(
        &self,
        method: Method,
        path: &str,
        auth: Auth<'_>,
        content_type: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> Reply {
        let mut request = self.http.request(method, format!("{}{}", self.origin, path));
        if let Auth::Key = auth {
            request = request.header("x-appwrite-key", &self.api_key);
        }
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        self.finish(request.body(body)).await
    }

    /// Sends raw bytes as the body.
    pub async fn send_raw(&self, method: Method, path: &str, auth: Auth<'_>, body: Vec<u8>) -> Reply {
        let mut request = self.http.request(method, format!("{}{}", self.origin, path));
        if let Auth::Key = auth {
            request = request.header("x-appwrite-key", &self.api_key);
        }
        if let Auth::Session(credential) = auth {
            request = request.header("x-appwrite-session", credential);
        }
        self.finish(request.header("content-type", "application/json").body(body))
            .await
    }

    async fn finish(&self, request: reqwest::RequestBuilder) -> Reply {
        let response = request.send().await.expect("request sent");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body read");
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            text,
            json,
        }
    }

    /// `POST /v1/users/{user}/tokens` with the API key.
    pub async fn create_token(&self, user: &str, body: Value) -> Reply {
        self.send(
            Method::POST,
            &format!("/v1/users/{user}/tokens"),
            Auth::Key,
            Some(&body),
        )
        .await
    }

    /// A fresh custom token's secret.
    pub async fn token_secret(&self, user: &str) -> String {
        let reply = self.create_token(user, json!({})).await;
        reply.assert_status(201);
        reply.str("secret").to_owned()
    }

    /// `POST /v1/account/sessions/token`.
    pub async fn exchange(&self, user: &str, secret: &str, auth: Auth<'_>) -> Reply {
        let body = json!({ "userId": user, "secret": secret });
        self.send(Method::POST, "/v1/account/sessions/token", auth, Some(&body))
            .await
    }

    /// Issues and exchanges a token; returns the session credential (from the
    /// body, as an API-key caller sees it) and the session JSON.
    pub async fn login(&self, user: &str) -> (String, Value) {
        let secret = self.token_secret(user).await;
        let reply = self.exchange(user, &secret, Auth::Key).await;
        reply.assert_status(201);
        (reply.str("secret").to_owned(), reply.json)
    }

    /// `DELETE /v1/account/sessions/current` with `credential`, with the
    /// empty JSON body the Appwrite SDKs send: logs that session out.
    pub async fn logout(&self, credential: &str) -> Reply {
        self.send(
            Method::DELETE,
            "/v1/account/sessions/current",
            Auth::Session(credential),
            Some(&json!({})),
        )
        .await
    }

    /// `GET <path>`.
    pub async fn get(&self, path: &str, auth: Auth<'_>) -> Reply {
        self.send(Method::GET, path, auth, None).await
    }
}

/// Asserts an ISO 8601 date with milliseconds and offset.
#[track_caller]
pub fn assert_date(value: &Value) {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("date is not a string: {value}"));
    let parsed = chrono::DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.3f%:z");
    assert!(parsed.is_ok(), "not an ISO 8601 date with millis and offset: {text}");
    assert_eq!(text.len(), "2026-11-27T19:49:09.123+00:00".len(), "date shape: {text}");
}

/// The exact field names of Appwrite's Session model.
pub const SESSION_FIELDS: &[&str] = &[
    "$id",
    "$createdAt",
    "$updatedAt",
    "userId",
    "expire",
    "provider",
    "providerUid",
    "providerAccessToken",
    "providerAccessTokenExpiry",
    "providerRefreshToken",
    "ip",
    "osCode",
    "osName",
    "osVersion",
    "clientType",
    "clientCode",
    "clientName",
    "clientVersion",
    "clientEngine",
    "clientEngineVersion",
    "deviceName",
    "deviceBrand",
    "deviceModel",
    "countryCode",
    "countryName",
    "current",
    "factors",
    "secret",
    "mfaUpdatedAt",
];

/// The exact field names of Appwrite's Token model.
pub const TOKEN_FIELDS: &[&str] = &["$id", "$createdAt", "userId", "secret", "expire", "phrase"];

/// Asserts the JSON object has exactly these fields.
#[track_caller]
pub fn assert_fields(value: &Value, fields: &[&str]) {
    let object = value.as_object().unwrap_or_else(|| panic!("not an object: {value}"));
    let mut have: Vec<&str> = object.keys().map(String::as_str).collect();
    let mut want: Vec<&str> = fields.to_vec();
    have.sort_unstable();
    want.sort_unstable();
    assert_eq!(have, want, "field names");
}

/// Asserts a Session model's shape.
#[track_caller]
pub fn assert_session_shape(session: &Value) {
    assert_fields(session, SESSION_FIELDS);
    for date in ["$createdAt", "$updatedAt", "expire"] {
        assert_date(&session[date]);
    }
    assert!(session["current"].is_boolean());
    assert!(session["factors"].is_array());
    assert_eq!(session["$id"].as_str().map(str::len), Some(20));
}
