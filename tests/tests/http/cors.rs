//! CORS and Appwrite's fallback cookies, at the HTTP level, on both apps
//! and both stores: who may call the mounted routes from a page of another
//! origin, and what a page on another site gets instead of a cookie its
//! browser may block. (The Web SDK in Chromium: `web_sdk.rs`.)
//!
//! Attacker's view: a page of any origin controls `Origin` only through
//! the browser (it cannot forge it), the preflight's asked method and
//! headers, and every header of a non-browser request, including `Host`
//! and `X-Fallback-Cookies`.

use reqwest::Method;
use serde_json::json;
use tokengate_tests::app::{AppKind, AppSpec, Backend, RunningApp};
use tokengate_tests::client::{Api, Auth, Reply};
use tokengate_tests::redis_harness::redis_url;

/// An allowed page on another site than the API (`127.0.0.1`).
const CROSS_SITE_PAGE: &str = "http://localhost:5173";
/// An allowed page on the API's own site, once the API is reached as
/// `api.example.test` (the `Host` the test sends).
const SAME_SITE_PAGE: &str = "http://app.example.test";
const EVIL_PAGE: &str = "http://evil.localhost:1";

async fn start(kind: AppKind, redis: bool) -> RunningApp {
    let backend = if redis {
        Backend::Redis(redis_url().await)
    } else {
        Backend::Memory
    };
    let mut spec = AppSpec::new(kind, backend);
    spec.extra_env.push((
        "TOKENGATE_ALLOWED_ORIGINS".into(),
        format!("{CROSS_SITE_PAGE},{SAME_SITE_PAGE}"),
    ));
    RunningApp::start(spec).await
}

fn preflight_headers<'a>(origin: &'a str, method: &'a str, headers: &'a str) -> [(&'a str, &'a str); 3] {
    [
        ("origin", origin),
        ("access-control-request-method", method),
        ("access-control-request-headers", headers),
    ]
}

fn assert_no_cors(reply: &Reply, what: &str) {
    for name in [
        "access-control-allow-origin",
        "access-control-allow-credentials",
        "access-control-allow-headers",
        "access-control-expose-headers",
    ] {
        assert!(
            reply.header(name).is_none(),
            "{what}: {name} = {:?}",
            reply.header(name)
        );
    }
}

/// The headers the Web SDK 28 asks for in its preflights.
const SDK_HEADERS: &str =
    "content-type,x-appwrite-project,x-appwrite-response-format,x-fallback-cookies,x-sdk-language,x-sdk-name,x-sdk-platform,x-sdk-version";

async fn cross_origin(kind: AppKind, redis: bool) {
    let app = start(kind, redis).await;
    let api = Api::new(&app);
    let exchange = "/v1/account/sessions/token";

    // The preflight: an allowed origin gets the SDK's headers and methods.
    let allowed = api
        .send_with(
            Method::OPTIONS,
            exchange,
            Auth::None,
            None,
            &preflight_headers(CROSS_SITE_PAGE, "POST", SDK_HEADERS),
        )
        .await;
    assert_eq!(allowed.status, 204, "{}", allowed.text);
    assert_eq!(allowed.header("access-control-allow-origin"), Some(CROSS_SITE_PAGE));
    assert_eq!(allowed.header("access-control-allow-credentials"), Some("true"));
    let methods = allowed.header("access-control-allow-methods").unwrap_or_default();
    for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
        assert!(methods.contains(method), "{methods}");
    }
    let granted = allowed.header("access-control-allow-headers").unwrap_or_default();
    for header in SDK_HEADERS.split(',') {
        assert!(granted.contains(header), "{header} not in {granted}");
    }
    assert!(allowed.header("vary").is_some_and(|v| v.contains("Origin")));
    // Also on an account route with a session id, and for DELETE.
    api.send_with(
        Method::OPTIONS,
        "/v1/account/sessions/current",
        Auth::None,
        None,
        &preflight_headers(CROSS_SITE_PAGE, "DELETE", "x-appwrite-project"),
    )
    .await
    .assert_status(204);

    // Refused preflights carry no CORS headers at all: another origin, a
    // look-alike, a header the SDKs never send, a method not served.
    for (origin, method, headers, what) in [
        (EVIL_PAGE, "POST", SDK_HEADERS, "foreign origin"),
        ("http://localhost:5174", "POST", SDK_HEADERS, "another port"),
        ("https://localhost:5173", "POST", SDK_HEADERS, "another scheme"),
        ("http://localhost:5173.evil.test", "POST", SDK_HEADERS, "suffix"),
        ("null", "POST", SDK_HEADERS, "null origin"),
        (CROSS_SITE_PAGE, "POST", "content-type,x-evil", "foreign header"),
        (CROSS_SITE_PAGE, "TRACE", "content-type", "foreign method"),
    ] {
        let refused = api
            .send_with(
                Method::OPTIONS,
                exchange,
                Auth::None,
                None,
                &preflight_headers(origin, method, headers),
            )
            .await;
        assert_eq!(refused.status, 204, "{what}");
        assert_no_cors(&refused, what);
    }

    // A foreign origin's exchange: no CORS headers, no session, and the
    // token stays redeemable.
    let secret = api.token_secret("cora").await;
    let body = json!({ "userId": "cora", "secret": secret });
    let foreign = api
        .send_with(
            Method::POST,
            exchange,
            Auth::None,
            Some(&body),
            &[("origin", EVIL_PAGE)],
        )
        .await;
    foreign.assert_error(403, "general_access_forbidden");
    assert_no_cors(&foreign, "foreign exchange");
    assert!(foreign.set_cookies().is_empty());
    assert!(foreign.header("x-fallback-cookies").is_none());

    // From the allowed page on another site: the cookie (SameSite as
    // configured) and the fallback cookies, readable by that page.
    let created = api
        .send_with(
            Method::POST,
            exchange,
            Auth::None,
            Some(&body),
            &[("origin", CROSS_SITE_PAGE)],
        )
        .await;
    created.assert_status(201);
    assert_eq!(created.header("access-control-allow-origin"), Some(CROSS_SITE_PAGE));
    assert_eq!(created.header("access-control-allow-credentials"), Some("true"));
    assert!(created
        .header("access-control-expose-headers")
        .is_some_and(|v| v.eq_ignore_ascii_case("x-fallback-cookies")));
    let cookie = created.cookie_value(&api.cookie_name).expect("session cookie");
    let fallback = created
        .header("x-fallback-cookies")
        .expect("fallback cookies")
        .to_owned();
    let parsed: serde_json::Value = serde_json::from_str(&fallback).expect("fallback cookies are JSON");
    assert_eq!(parsed, json!({ api.cookie_name.clone(): cookie }));
    assert_eq!(created.json["secret"], "", "no API key: no secret in the body");

    // The fallback header is a credential (the browser blocked the cookie),
    // on the mounted routes and on the app's own.
    let by_fallback = [("x-fallback-cookies", fallback.as_str()), ("origin", CROSS_SITE_PAGE)];
    let account = api
        .send_with(Method::GET, "/v1/account", Auth::None, None, &by_fallback)
        .await;
    account.assert_status(200);
    assert_eq!(account.json["$id"], "cora");
    assert_eq!(account.header("access-control-allow-origin"), Some(CROSS_SITE_PAGE));
    let me = api.send_with(Method::GET, "/me", Auth::None, None, &by_fallback).await;
    me.assert_status(200);
    // The app's own routes: the example's CorsLayer / actix-cors with the
    // same list grants the same origins, and no other.
    assert_eq!(me.header("access-control-allow-origin"), Some(CROSS_SITE_PAGE));
    let app_preflight = api
        .send_with(
            Method::OPTIONS,
            "/me",
            Auth::None,
            None,
            &preflight_headers(CROSS_SITE_PAGE, "GET", "x-fallback-cookies"),
        )
        .await;
    assert!(
        app_preflight.status < 300,
        "{}: {}",
        app_preflight.status,
        app_preflight.text
    );
    assert_eq!(
        app_preflight.header("access-control-allow-origin"),
        Some(CROSS_SITE_PAGE)
    );
    assert_eq!(app_preflight.header("access-control-allow-credentials"), Some("true"));
    let foreign_me = api
        .send_with(
            Method::GET,
            "/me",
            Auth::None,
            None,
            &[("x-fallback-cookies", fallback.as_str()), ("origin", EVIL_PAGE)],
        )
        .await;
    // (Both CORS libraries always add `Allow-Credentials`; without
    // `Allow-Origin` the browser still refuses the page the response.)
    assert!(
        foreign_me.header("access-control-allow-origin").is_none(),
        "foreign origin on /me"
    );
    // Other shapes of the header are no credential.
    for junk in ["[]", "{}", "not json", r#"{"a_session_other":"x"}"#] {
        api.send_with(
            Method::GET,
            "/v1/account",
            Auth::None,
            None,
            &[("x-fallback-cookies", junk)],
        )
        .await
        .assert_error(401, "general_unauthorized_scope");
    }
    // A page signed in through the fallback cannot exchange a second time.
    let another = api.token_secret("cora").await;
    api.send_with(
        Method::POST,
        exchange,
        Auth::None,
        Some(&json!({ "userId": "cora", "secret": another })),
        &by_fallback,
    )
    .await
    .assert_error(401, "user_session_already_exists");

    // Signing out empties the fallback cookies ("[]", Appwrite's value).
    let out = api
        .send_with(
            Method::DELETE,
            "/v1/account/sessions/current",
            Auth::None,
            None,
            &by_fallback,
        )
        .await;
    out.assert_status(204);
    assert_eq!(out.header("x-fallback-cookies"), Some("[]"));
    api.send_with(Method::GET, "/v1/account", Auth::None, None, &by_fallback)
        .await
        .assert_error(401, "general_unauthorized_scope");

    // An allowed page on the API's own site needs no fallback: none is sent.
    let port = app.origin.rsplit(':').next().unwrap().to_owned();
    let host = format!("api.example.test:{port}");
    let same_site = api
        .send_with(
            Method::POST,
            exchange,
            Auth::None,
            Some(&json!({ "userId": "cora", "secret": another })),
            &[("origin", SAME_SITE_PAGE), ("host", &host)],
        )
        .await;
    same_site.assert_status(201);
    assert_eq!(same_site.header("access-control-allow-origin"), Some(SAME_SITE_PAGE));
    assert!(same_site.header("x-fallback-cookies").is_none());
    // Nor does a request without Origin (a server, curl).
    let (credential, _) = api.login("cora").await;
    let out = api
        .send(
            Method::DELETE,
            "/v1/account/sessions/current",
            Auth::Session(&credential),
            None,
        )
        .await;
    out.assert_status(204);
    assert!(out.header("x-fallback-cookies").is_none());
    assert_no_cors(&out, "no origin");
}

#[tokio::test]
async fn cross_origin_axum_memory() {
    cross_origin(AppKind::Axum, false).await;
}

#[tokio::test]
async fn cross_origin_actix_memory() {
    cross_origin(AppKind::Actix, false).await;
}

#[tokio::test]
async fn cross_origin_axum_redis() {
    cross_origin(AppKind::Axum, true).await;
}

#[tokio::test]
async fn cross_origin_actix_redis() {
    cross_origin(AppKind::Actix, true).await;
}
