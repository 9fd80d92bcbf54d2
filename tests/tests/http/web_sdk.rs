//! The official Appwrite Web SDK (npm `appwrite` 28, pinned in
//! `tests/sdk/js/package-lock.json`) in headless Chromium, on a page of
//! another site than the API: the page at `http://localhost:<p1>` (a static
//! server in the test), the app at `http://127.0.0.1:<p2>` with that origin
//! in `TOKENGATE_ALLOWED_ORIGINS`, `SameSite=None` and secure cookies.
//!
//! The page (`tests/sdk/js/web_sdk_page.html`) exchanges a custom token the
//! test issued with the API key (`createSession`), then `get`,
//! `listSessions`, `deleteSession('current')` and `get` again (401). Twice
//! per app and store: with third-party cookies allowed (the session rides
//! in the API site's cookie) and blocked (it rides only in the
//! `X-Fallback-Cookies` header, which the SDK keeps in localStorage
//! `cookieFallback`). Before the browser, plain HTTP: an origin not on the
//! list gets no CORS headers and no session; in the browser, the same page
//! on an origin not on the list cannot exchange the token. Screenshots in
//! `target/test-output/web-sdk/<app>-<store>-<cookies>/`.

use std::collections::HashMap;
use std::path::PathBuf;

use reqwest::Method;
use serde_json::{json, Value};
use tokengate_tests::app::{free_port, random_hex, AppKind, AppSpec, Backend, RunningApp};
use tokengate_tests::browser::{Browser, BrowserOptions};
use tokengate_tests::client::{Api, Auth, Reply};
use tokengate_tests::node::{js_dir, web_sdk_bundle};
use tokengate_tests::redis_harness::redis_url;
use tokengate_tests::static_site::{StaticFile, StaticSite};

/// An origin that is not on the app's list.
const FOREIGN_ORIGIN: &str = "http://evil.localhost:1";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ThirdPartyCookies {
    Allowed,
    Blocked,
}

fn output_dir(kind: AppKind, backend: &Backend, cookies: ThirdPartyCookies) -> PathBuf {
    let store = match backend {
        Backend::Memory => "memory",
        Backend::Redis(_) => "redis",
        Backend::Cluster(_) => "cluster",
    };
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("target")
        .join("test-output")
        .join("web-sdk")
        .join(format!("{kind:?}-{store}-{cookies:?}").to_lowercase())
}

/// The page and the SDK's browser bundle on `http://localhost:<free port>`.
async fn page_site() -> StaticSite {
    let bundle = tokio::task::spawn_blocking(web_sdk_bundle).await.unwrap();
    let read = |path: PathBuf| std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let mut files = HashMap::new();
    files.insert(
        "/".to_owned(),
        StaticFile {
            content_type: "text/html; charset=utf-8",
            body: read(js_dir().join("web_sdk_page.html")),
        },
    );
    files.insert(
        "/sdk.js".to_owned(),
        StaticFile {
            content_type: "text/javascript; charset=utf-8",
            body: read(bundle),
        },
    );
    StaticSite::start("localhost", files).await
}

fn cors_headers(reply: &Reply) -> Vec<String> {
    reply
        .headers
        .iter()
        .filter(|(name, _)| name.as_str().starts_with("access-control-"))
        .map(|(name, value)| format!("{name}: {value:?}"))
        .collect()
}

/// Plain HTTP, what the browser's preflight and exchange would send: the
/// page's origin is answered with CORS headers; an origin not on the list
/// gets none, and its exchange is refused without a session (the token
/// stays redeemable, and is the one the page then uses).
async fn assert_cors_by_origin(api: &Api, page_origin: &str, user: &str, secret: &str) {
    let preflight = |origin: &str| {
        let origin = origin.to_owned();
        async move {
            api.send_with(
                Method::OPTIONS,
                "/v1/account/sessions/token",
                Auth::None,
                None,
                &[
                    ("origin", &origin),
                    ("access-control-request-method", "POST"),
                    (
                        "access-control-request-headers",
                        "content-type,x-appwrite-project,x-appwrite-response-format,x-sdk-version,x-fallback-cookies",
                    ),
                ],
            )
            .await
        }
    };

    let allowed = preflight(page_origin).await;
    assert!(
        (200..300).contains(&allowed.status),
        "preflight from the page's origin: {} {:?}",
        allowed.status,
        allowed.headers
    );
    assert_eq!(
        allowed.header("access-control-allow-origin"),
        Some(page_origin),
        "{:?}",
        allowed.headers
    );
    assert_eq!(allowed.header("access-control-allow-credentials"), Some("true"));
    let allowed_headers = allowed
        .header("access-control-allow-headers")
        .unwrap_or_default()
        .to_ascii_lowercase();
    for name in [
        "content-type",
        "x-appwrite-project",
        "x-sdk-version",
        "x-fallback-cookies",
    ] {
        assert!(allowed_headers.contains(name), "{name} in {allowed_headers:?}");
    }
    assert!(
        allowed
            .header("access-control-allow-methods")
            .is_some_and(|m| m.contains("POST") && m.contains("DELETE")),
        "{:?}",
        allowed.headers
    );

    let foreign = preflight(FOREIGN_ORIGIN).await;
    assert_eq!(
        cors_headers(&foreign),
        Vec::<String>::new(),
        "preflight from {FOREIGN_ORIGIN}"
    );

    let exchange = api
        .send_with(
            Method::POST,
            "/v1/account/sessions/token",
            Auth::None,
            Some(&json!({ "userId": user, "secret": secret })),
            &[("origin", FOREIGN_ORIGIN)],
        )
        .await;
    assert_eq!(
        exchange.status, 403,
        "exchange from {FOREIGN_ORIGIN}: {}",
        exchange.text
    );
    assert_eq!(
        cors_headers(&exchange),
        Vec::<String>::new(),
        "exchange from {FOREIGN_ORIGIN}"
    );
    assert_eq!(
        exchange.set_cookies(),
        Vec::<String>::new(),
        "no cookie for {FOREIGN_ORIGIN}"
    );
    assert_eq!(
        exchange.header("x-fallback-cookies"),
        None,
        "no fallback for {FOREIGN_ORIGIN}"
    );
    let sessions = api.get(&format!("/v1/users/{user}/sessions"), Auth::Key).await;
    assert_eq!(sessions.json["total"], 0, "{}", sessions.text);
}

/// Plain HTTP, what the page's exchange and logout answer: the cookie
/// (`Secure`, `SameSite=None`), the same credential in `X-Fallback-Cookies`
/// (exposed to the page), the CORS headers for the page's origin; logout
/// answers an empty fallback.
async fn assert_exchange_headers(api: &Api, page_origin: &str, user: &str) {
    let secret = api.token_secret(user).await;
    let origin = [("origin", page_origin)];
    let exchange = api
        .send_with(
            Method::POST,
            "/v1/account/sessions/token",
            Auth::None,
            Some(&json!({ "userId": user, "secret": secret })),
            &origin,
        )
        .await;
    exchange.assert_status(201);
    let cookie = exchange
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with(&format!("{}=", api.cookie_name)))
        .unwrap_or_else(|| panic!("the session cookie: {:?}", exchange.headers));
    let attributes: Vec<String> = cookie
        .split(';')
        .skip(1)
        .map(|a| a.trim().to_ascii_lowercase())
        .collect();
    for wanted in ["secure", "httponly", "samesite=none", "path=/"] {
        assert!(attributes.iter().any(|a| a == wanted), "{wanted} in {cookie}");
    }
    let credential = exchange.cookie_value(&api.cookie_name).expect("the cookie's value");
    let fallback: Value = serde_json::from_str(exchange.header("x-fallback-cookies").expect("X-Fallback-Cookies"))
        .expect("X-Fallback-Cookies is JSON");
    assert_eq!(fallback, json!({ api.cookie_name.as_str(): credential }));
    assert_eq!(exchange.header("access-control-allow-origin"), Some(page_origin));
    assert_eq!(exchange.header("access-control-allow-credentials"), Some("true"));
    assert!(
        exchange
            .header("access-control-expose-headers")
            .is_some_and(|h| h.to_ascii_lowercase().contains("x-fallback-cookies")),
        "{:?}",
        exchange.headers
    );
    assert!(
        exchange.headers.get_all("vary").iter().any(|v| v
            .to_str()
            .unwrap_or_default()
            .to_ascii_lowercase()
            .contains("origin")),
        "Vary: Origin in {:?}",
        exchange.headers
    );

    // The header alone is a credential, as the SDK sends it.
    let header = fallback.to_string();
    let me = api
        .send_with(
            Method::GET,
            "/v1/account",
            Auth::None,
            None,
            &[("origin", page_origin), ("x-fallback-cookies", &header)],
        )
        .await;
    me.assert_status(200);
    assert_eq!(me.json["$id"], user);

    let logout = api
        .send_with(
            Method::DELETE,
            "/v1/account/sessions/current",
            Auth::None,
            None,
            &[("origin", page_origin), ("x-fallback-cookies", &header)],
        )
        .await;
    assert_eq!(logout.status, 204, "{}", logout.text);
    assert_eq!(logout.header("x-fallback-cookies"), Some("[]"), "{:?}", logout.headers);
    assert_eq!(logout.header("access-control-allow-origin"), Some(page_origin));
}

/// The one credential in a `cookieFallback` value.
fn fallback_credential(fallback: &Value, cookie_name: &str) -> String {
    let text = fallback
        .as_str()
        .unwrap_or_else(|| panic!("no cookieFallback stored: {fallback}"));
    let parsed: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("cookieFallback {text:?}: {e}"));
    let object = parsed
        .as_object()
        .unwrap_or_else(|| panic!("cookieFallback {text:?} is no object"));
    assert_eq!(object.len(), 1, "one cookie in {text}");
    let credential = object[cookie_name]
        .as_str()
        .unwrap_or_else(|| panic!("{cookie_name} in cookieFallback {text}"));
    assert!(!credential.is_empty(), "{text}");
    credential.to_owned()
}

/// Opens the page on `site_origin` for this token, waits until it is done
/// or failed, saves a screenshot; its status and result.
async fn run_page(
    browser: &mut Browser,
    site_origin: &str,
    app: &RunningApp,
    user: &str,
    secret: &str,
    shot: &str,
) -> (String, Value) {
    let page = reqwest::Url::parse_with_params(
        &format!("{site_origin}/"),
        &[
            ("endpoint", app.api("").as_str()),
            ("project", app.spec.project.as_str()),
            ("userId", user),
            ("secret", secret),
        ],
    )
    .expect("page URL");
    browser.goto(page.as_str()).await;
    browser
        .wait_until(
            "the Web SDK flow",
            "const s = document.getElementById('status').textContent; \
             return s === 'done' || s.startsWith('failed')",
        )
        .await;
    browser.screenshot(shot).await;
    let status = browser.text("status").await;
    let result = serde_json::from_str(&browser.text("result").await).expect("the page's result");
    (status, result)
}

async fn web_sdk_cross_site(kind: AppKind, backend: Backend, cookies: ThirdPartyCookies) {
    let site = page_site().await;
    let shots = output_dir(kind, &backend, cookies);
    let port = free_port();
    let mut spec = AppSpec::new(kind, backend);
    spec.port = Some(port);
    // Secure cookies (Chromium keeps them for http://127.0.0.1, a secure
    // context), SameSite=None so that a page of another site may send them.
    spec.insecure_cookies = false;
    spec.extra_env = vec![
        ("TOKENGATE_PUBLIC_URL".into(), format!("http://127.0.0.1:{port}")),
        ("TOKENGATE_ALLOWED_ORIGINS".into(), site.origin.clone()),
        ("TOKENGATE_COOKIE_SAMESITE".into(), "None".into()),
    ];
    let app = RunningApp::start(spec).await;
    let api = Api::new(&app);
    let cookie_name = app.cookie_name();

    let user = format!("web-{}", random_hex(12));
    let secret = api.token_secret(&user).await;
    assert_cors_by_origin(&api, &site.origin, &user, &secret).await;
    assert_exchange_headers(&api, &site.origin, &user).await;

    let _ = std::fs::remove_dir_all(&shots);
    let options = BrowserOptions {
        block_third_party_cookies: cookies == ThirdPartyCookies::Blocked,
    };
    let mut browser = Browser::start_with(&shots, options).await;

    if cookies == ThirdPartyCookies::Allowed {
        // The same page on an origin not on the list: the browser's CORS
        // check stops the SDK's exchange (a network error, no status), and
        // the token is left for the page that is allowed.
        let foreign = page_site().await;
        let (status, result) = run_page(&mut browser, &foreign.origin, &app, &user, &secret, "foreign-origin").await;
        assert!(status.starts_with("failed: createSession"), "{status}: {result:#}");
        assert_eq!(
            result["error"]["code"],
            Value::Null,
            "no answer reaches the page: {result:#}"
        );
        assert!(result["session"].is_null(), "{result:#}");
        let sessions = api.get(&format!("/v1/users/{user}/sessions"), Auth::Key).await;
        assert_eq!(sessions.json["total"], 0, "{}", sessions.text);
    }

    let (status, result) = run_page(&mut browser, &site.origin, &app, &user, &secret, "flow-finished").await;
    assert_eq!(status, "done", "{kind:?}, third-party cookies {cookies:?}: {result:#}");

    // createSession: the custom token's session, no secret for a browser.
    let session = &result["session"];
    assert_eq!(session["userId"], user.as_str(), "{result:#}");
    assert_eq!(session["provider"], "token", "{result:#}");
    assert_eq!(session["current"], true, "{result:#}");
    assert_eq!(session["secret"], "", "no secret without an API key: {result:#}");
    let session_id = session["id"].as_str().expect("session id");

    // The fallback: a page of another site is always given it (the server
    // cannot know whether the browser keeps the cookie).
    let credential = fallback_credential(&result["fallbackAfterCreate"], &cookie_name);
    match cookies {
        ThirdPartyCookies::Allowed => {
            assert_eq!(
                result["cookieOnly"]["ok"],
                user.as_str(),
                "the third-party cookie alone: {result:#}"
            );
        }
        ThirdPartyCookies::Blocked => assert_eq!(
            result["cookieOnly"]["error"]["code"], 401,
            "third-party cookies are really blocked: without the fallback there is no session: {result:#}"
        ),
    }

    // get and listSessions, then logout: the fallback is emptied and get is 401.
    assert_eq!(result["user"]["id"], user.as_str(), "{result:#}");
    assert_eq!(result["sessions"]["total"], 1, "{result:#}");
    assert_eq!(result["sessions"]["ids"], json!([session_id]), "{result:#}");
    assert_eq!(result["sessions"]["current"], json!([session_id]), "{result:#}");
    assert_eq!(result["fallbackAfterDelete"], "[]", "{result:#}");
    assert_eq!(result["afterLogout"]["error"]["code"], 401, "{result:#}");
    assert_eq!(
        result["afterLogout"]["error"]["type"], "general_unauthorized_scope",
        "{result:#}"
    );

    // The server agrees: the credential is dead and the user has no session.
    let dead = api.get("/v1/account", Auth::Session(&credential)).await;
    assert_eq!(
        dead.status, 401,
        "the fallback's credential after logout: {}",
        dead.text
    );
    let left = api.get(&format!("/v1/users/{user}/sessions"), Auth::Key).await;
    assert_eq!(left.json["total"], 0, "{}", left.text);

    // The browser holds no session cookie for the API's site: removed at
    // logout (allowed) or never stored (blocked).
    browser.goto(&app.url("/public")).await;
    assert_eq!(browser.cookie(&cookie_name).await, None, "{cookies:?}");
}

#[tokio::test]
async fn web_sdk_cross_site_axum_memory_cookies_allowed() {
    web_sdk_cross_site(AppKind::Axum, Backend::Memory, ThirdPartyCookies::Allowed).await;
}

#[tokio::test]
async fn web_sdk_cross_site_axum_memory_cookies_blocked() {
    web_sdk_cross_site(AppKind::Axum, Backend::Memory, ThirdPartyCookies::Blocked).await;
}

#[tokio::test]
async fn web_sdk_cross_site_actix_memory_cookies_allowed() {
    web_sdk_cross_site(AppKind::Actix, Backend::Memory, ThirdPartyCookies::Allowed).await;
}

#[tokio::test]
async fn web_sdk_cross_site_actix_memory_cookies_blocked() {
    web_sdk_cross_site(AppKind::Actix, Backend::Memory, ThirdPartyCookies::Blocked).await;
}

#[tokio::test]
async fn web_sdk_cross_site_axum_redis_cookies_allowed() {
    web_sdk_cross_site(
        AppKind::Axum,
        Backend::Redis(redis_url().await),
        ThirdPartyCookies::Allowed,
    )
    .await;
}

#[tokio::test]
async fn web_sdk_cross_site_axum_redis_cookies_blocked() {
    web_sdk_cross_site(
        AppKind::Axum,
        Backend::Redis(redis_url().await),
        ThirdPartyCookies::Blocked,
    )
    .await;
}

#[tokio::test]
async fn web_sdk_cross_site_actix_redis_cookies_allowed() {
    web_sdk_cross_site(
        AppKind::Actix,
        Backend::Redis(redis_url().await),
        ThirdPartyCookies::Allowed,
    )
    .await;
}

#[tokio::test]
async fn web_sdk_cross_site_actix_redis_cookies_blocked() {
    web_sdk_cross_site(
        AppKind::Actix,
        Backend::Redis(redis_url().await),
        ThirdPartyCookies::Blocked,
    )
    .await;
}
