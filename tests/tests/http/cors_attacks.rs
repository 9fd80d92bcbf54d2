//! A reviewer's attacks on issue 16's additions: CORS on the mounted routes,
//! `X-Fallback-Cookies` both ways, unknown body keys, the new refusals and
//! 404s, magic links into apps and loopback origins, and the example apps'
//! CORS for their own routes. Every test asserts the safe behaviour: it
//! fails when an attack works.
//!
//! Who controls what: a page of a foreign origin controls its requests'
//! method, the preflight's asked method and headers, and nothing of
//! `Origin`; a non-browser client controls every byte, `Origin` and `Host`
//! included (several `Origin`s, non-ASCII bytes), but gains nothing from
//! CORS; a sibling subdomain can plant a cookie.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use tokengate::fuzzing::RedirectPolicy;
use tokengate_tests::app::{AppKind, AppSpec, Backend, RunningApp};
use tokengate_tests::client::{Api, Auth, Reply};
use tokengate_tests::sinks::{query_param, SmsSink, SmtpSink};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod fallback;
mod links_and_app_cors;
mod refusals;

/// Allowed, on another site than the API (`127.0.0.1`).
const CROSS_SITE: &str = "http://localhost:5173";
/// Allowed, https.
const HTTPS_PAGE: &str = "https://app.example.test";
const EVIL: &str = "http://evil.test";
const EXCHANGE: &str = "/v1/account/sessions/token";

async fn start(kind: AppKind, extra: &[(&str, &str)]) -> RunningApp {
    let mut spec = AppSpec::new(kind, Backend::Memory);
    spec.extra_env
        .push(("TOKENGATE_ALLOWED_ORIGINS".into(), format!("{CROSS_SITE},{HTTPS_PAGE}")));
    spec.extra_env
        .extend(extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    RunningApp::start(spec).await
}

#[track_caller]
fn assert_no_acao(reply: &Reply, what: &str) {
    for name in [
        "access-control-allow-origin",
        "access-control-allow-headers",
        "access-control-expose-headers",
        "x-fallback-cookies",
    ] {
        assert!(
            reply.header(name).is_none(),
            "{what}: {name} = {:?}",
            reply.header(name)
        );
    }
}

/// For the app's own routes: both CORS libraries answer their configured
/// `Allow-Headers` / `Allow-Methods` to anyone; without `Allow-Origin` the
/// browser grants nothing.
#[track_caller]
fn assert_no_app_acao(reply: &Reply, what: &str) {
    assert!(
        reply.header("access-control-allow-origin").is_none(),
        "{what}: {:?}",
        reply.header("access-control-allow-origin")
    );
}

#[track_caller]
fn assert_varies_on_origin(reply: &Reply, what: &str) {
    let vary: Vec<String> = reply
        .headers
        .get_all("vary")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(str::to_ascii_lowercase)
        .collect();
    assert!(
        vary.iter().any(|v| v.split(',').any(|name| name.trim() == "origin")),
        "{what}: Vary {vary:?}"
    );
}

fn preflight<'a>(origin: &'a str, method: &'a str, headers: &'a str) -> [(&'a str, &'a str); 3] {
    [
        ("origin", origin),
        ("access-control-request-method", method),
        ("access-control-request-headers", headers),
    ]
}

/// Sends `head` (request line and headers, CRLF-separated, without the
/// blank line) as raw bytes; answers the response head, lower-cased.
async fn raw_head(app: &RunningApp, head: &[u8], body: &[u8]) -> String {
    let addr = app.origin.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut request = head.to_vec();
    request.extend_from_slice(
        format!(
            "\r\nhost: {addr}\r\nconnection: close\r\ncontent-length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    request.extend_from_slice(body);
    stream.write_all(&request).await.expect("write");
    let mut response = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut response)).await;
    let text = String::from_utf8_lossy(&response).to_ascii_lowercase();
    text.split("\r\n\r\n").next().unwrap_or_default().to_owned()
}

// --- 1. CORS on the mounted routes ---------------------------------------------

/// Look-alikes of the allowed origins get no CORS header on a preflight, an
/// actual request or the exchange, and cannot create a session.
#[tokio::test]
async fn lookalike_origins_get_nothing() {
    let app = start(AppKind::Axum, &[]).await;
    let api = Api::new(&app);
    let lookalikes = [
        "http://LOCALHOST:5173",
        "HTTP://localhost:5173",
        "http://localhost.:5173",
        "http://localhost:5173.",
        "http://localhost:5173.evil.test",
        "http://user@localhost:5173",
        "http://localhost:5173@evil.test",
        "http://localhost:5173/path",
        "http://localhost:5173?x=1",
        "http://localhost:5173#x",
        "http://localhost:5173,http://evil.test",
        "http://localhost:5173 http://evil.test",
        "http://localhost",
        "http://localhost:5174",
        "https://localhost:5173",
        "http://127.0.0.1:5173",
        "http://[::1]:5173",
        "http://xn--localhost-9za:5173",
        "http://localhost%2e:5173",
        "http://localhost:5173\\@evil.test",
        "https://app.example.test.evil.test",
        "https://evil-app.example.test",
        "https://app.example.test:444",
        "https://app.example.test:0",
        "http://app.example.test",
        "https://*.example.test",
        "*",
        "null",
        "file://",
        "",
    ];
    let secret = api.token_secret("lia").await;
    for origin in lookalikes {
        let what = format!("origin {origin:?}");
        let pre = api
            .send_with(
                Method::OPTIONS,
                EXCHANGE,
                Auth::None,
                None,
                &preflight(origin, "POST", "content-type"),
            )
            .await;
        assert_no_acao(&pre, &format!("{what}, preflight"));
        let get = api
            .send_with(Method::GET, "/v1/account", Auth::None, None, &[("origin", origin)])
            .await;
        assert_no_acao(&get, &format!("{what}, GET"));
        assert_varies_on_origin(&get, &what);
        let body = json!({ "userId": "lia", "secret": secret });
        let exchange = api
            .send_with(Method::POST, EXCHANGE, Auth::None, Some(&body), &[("origin", origin)])
            .await;
        assert_no_acao(&exchange, &format!("{what}, exchange"));
        assert_ne!(exchange.status, 201, "{what}: a look-alike created a session");
        assert!(exchange.set_cookies().is_empty(), "{what}");
    }
    // The token survived every refused exchange.
    api.exchange("lia", &secret, Auth::Key).await.assert_status(201);
}

/// What a non-browser client can send and a browser cannot: several
/// `Origin`s, non-ASCII bytes (an IDN look-alike), an obs-fold. The first
/// `Origin` being foreign is never an allowed origin.
#[tokio::test]
async fn malformed_origin_headers_get_nothing() {
    let app = start(AppKind::Actix, &[]).await;
    let api = Api::new(&app);
    let secret = api.token_secret("mo").await;
    // reqwest appends: two Origin headers, the foreign one first.
    for path in ["/v1/account", EXCHANGE] {
        let reply = api
            .send_with(
                Method::OPTIONS,
                path,
                Auth::None,
                None,
                &[
                    ("origin", EVIL),
                    ("origin", CROSS_SITE),
                    ("access-control-request-method", "GET"),
                ],
            )
            .await;
        assert_no_acao(&reply, "two origins, preflight");
    }
    let body = json!({ "userId": "mo", "secret": secret });
    let twice = api
        .send_with(
            Method::POST,
            EXCHANGE,
            Auth::None,
            Some(&body),
            &[("origin", EVIL), ("origin", CROSS_SITE)],
        )
        .await;
    assert_eq!(twice.status, 403, "{}", twice.text);
    assert_no_acao(&twice, "two origins, exchange");
    // Cyrillic 'о' in "localhost", raw UTF-8 bytes.
    let head =
        "OPTIONS /v1/account HTTP/1.1\r\norigin: http://l\u{043e}calhost:5173\r\naccess-control-request-method: GET";
    let answer = raw_head(&app, head.as_bytes(), b"").await;
    assert!(!answer.contains("access-control-allow-origin"), "{answer}");
    // Latin-1 bytes.
    let mut head = b"GET /v1/account HTTP/1.1\r\norigin: http://localhost:5173".to_vec();
    head.push(0xe9);
    let answer = raw_head(&app, &head, b"").await;
    assert!(!answer.contains("access-control-allow-origin"), "{answer}");
    // An obs-fold continuing the Origin onto the next line.
    let head = "GET /v1/account HTTP/1.1\r\norigin: http://evil.test\r\n http://localhost:5173";
    let answer = raw_head(&app, head.as_bytes(), b"").await;
    assert!(!answer.contains("access-control-allow-origin"), "{answer}");
    api.exchange("mo", &secret, Auth::Key).await.assert_status(201);
}

/// A preflight that smuggles a header the SDKs never send, however it is
/// spelt, gets no grant; a granted preflight names only SDK headers.
#[tokio::test]
async fn preflight_header_smuggling() {
    let app = start(AppKind::Axum, &[]).await;
    let api = Api::new(&app);
    for asked in [
        "content-type,authorization",
        "content-type,\tauthorization",
        "content-type , AUTHORIZATION ",
        "x-appwrite-project,,cookie",
        "x-appwrite-project,x-forwarded-for",
        "x-appwrite-project,forwarded",
        "x-fallback-cookies,x-fallback-cookiesx",
        "x-appwrite",
        "x-sdk",
        "content-type2",
        "x-appwrite-project, x-real-ip",
    ] {
        let reply = api
            .send_with(
                Method::OPTIONS,
                EXCHANGE,
                Auth::None,
                None,
                &preflight(CROSS_SITE, "POST", asked),
            )
            .await;
        assert_no_acao(&reply, &format!("asked {asked:?}"));
    }
    // The same names split over two request headers.
    let reply = api
        .send_with(
            Method::OPTIONS,
            EXCHANGE,
            Auth::None,
            None,
            &[
                ("origin", CROSS_SITE),
                ("access-control-request-method", "POST"),
                ("access-control-request-headers", "content-type"),
                ("access-control-request-headers", "authorization"),
            ],
        )
        .await;
    assert_no_acao(&reply, "two request-headers lines");
    // Methods a page may not get: unknown, lower-case spellings the
    // browser does not normalise, CONNECT/TRACE.
    for method in ["TRACE", "CONNECT", "patch", "PROPFIND", "GET, DELETE", ""] {
        let reply = api
            .send_with(
                Method::OPTIONS,
                EXCHANGE,
                Auth::None,
                None,
                &preflight(CROSS_SITE, method, "content-type"),
            )
            .await;
        assert_no_acao(&reply, &format!("method {method:?}"));
    }
    // A granted preflight names only what was asked, all SDK headers.
    let reply = api
        .send_with(
            Method::OPTIONS,
            EXCHANGE,
            Auth::None,
            None,
            &preflight(CROSS_SITE, "POST", "Content-Type, X-Appwrite-Project,X-SDK-Name"),
        )
        .await;
    assert_eq!(reply.header("access-control-allow-origin"), Some(CROSS_SITE));
    let granted = reply.header("access-control-allow-headers").unwrap_or_default();
    for name in granted.split(',').map(str::trim) {
        assert!(
            name == "content-type" || name.starts_with("x-appwrite-") || name.starts_with("x-sdk-"),
            "granted {name:?} in {granted:?}"
        );
    }
    assert_varies_on_origin(&reply, "granted preflight");
    // Every refused answer also varies on Origin (a cache must not serve
    // one origin's answer to another).
    let refused = api
        .send_with(
            Method::OPTIONS,
            EXCHANGE,
            Auth::None,
            None,
            &preflight(EVIL, "POST", "content-type"),
        )
        .await;
    assert_varies_on_origin(&refused, "refused preflight");
    for (method, path) in [
        (Method::GET, "/v1/nope"),
        (Method::PUT, "/v1/account"),
        (Method::GET, "/v1/users/x"),
    ] {
        let reply = api
            .send_with(method, path, Auth::None, None, &[("origin", CROSS_SITE)])
            .await;
        assert_varies_on_origin(&reply, path);
    }
}
