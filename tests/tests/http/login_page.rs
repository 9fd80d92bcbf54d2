//! The example apps' login page at `/`, driven in headless Chromium: email
//! code login, magic link login, session list, logout of one and of all.
//! Screenshots of each step land in `target/test-output/login-page/<app>/`.

use std::path::PathBuf;

use tokengate_tests::app::{free_port, AppKind, AppSpec, Backend, RunningApp};
use tokengate_tests::browser::Browser;
use tokengate_tests::redis_harness::redis_url;
use tokengate_tests::sinks::{find_code, find_link, SmtpSink};

fn output_dir(kind: AppKind) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("target")
        .join("test-output")
        .join("login-page")
        .join(format!("{kind:?}").to_lowercase())
}

const LOGGED_IN: &str = "return !document.getElementById('logged-in').hidden";
const LOGGED_OUT: &str = "return !document.getElementById('logged-out').hidden";

async fn login_page_end_to_end(kind: AppKind) {
    let smtp = SmtpSink::start().await;
    let port = free_port();
    let origin = format!("http://127.0.0.1:{port}");
    let mut spec = AppSpec::new(kind, Backend::Redis(redis_url().await));
    spec.port = Some(port);
    spec.extra_env = vec![
        ("TOKENGATE_SMTP_URL".into(), smtp.url()),
        ("TOKENGATE_PUBLIC_URL".into(), origin.clone()),
    ];
    let app = RunningApp::start(spec).await;
    let shots = output_dir(kind);
    let _ = std::fs::remove_dir_all(&shots);
    let mut browser = Browser::start(&shots).await;

    browser.goto(&format!("{}/", app.origin)).await;
    browser.wait_until("the login forms", LOGGED_OUT).await;
    browser.screenshot("login-page").await;

    // Email code.
    browser.type_into("#otp-email", "page.user@example.test").await;
    browser.click("#otp-send").await;
    browser
        .wait_until("the code form", "return !document.getElementById('otp-verify').hidden")
        .await;
    browser.screenshot("code-sent").await;
    let mail = smtp.wait_for("page.user@example.test", 1).await;
    let code = find_code(&mail.body, 6).expect("code in the mail");
    browser.type_into("#otp-code", &code).await;
    browser.click("#otp-login").await;
    browser.wait_until("the logged-in view", LOGGED_IN).await;
    assert_eq!(browser.text("current-email").await, "page.user@example.test");
    assert_eq!(browser.text("current-provider").await, "token");
    let user = browser.text("current-user").await;
    assert_eq!(user.len(), 20);
    browser.screenshot("logged-in-by-code").await;

    // The cookie is HttpOnly: page scripts cannot read it.
    let cookies = browser.eval("return document.cookie").await;
    assert!(
        !cookies.as_str().unwrap_or_default().contains("a_session_"),
        "{cookies}"
    );

    // Log out this session: the page says so, and the server refuses the
    // credential the browser held.
    let api = tokengate_tests::client::Api::new(&app);
    let by_code = browser.cookie(&app.cookie_name()).await.expect("the session cookie");
    api.get("/me", tokengate_tests::client::Auth::Session(&by_code))
        .await
        .assert_status(200);
    browser.click("#logout").await;
    browser.wait_until("the logged-out view", LOGGED_OUT).await;
    browser.screenshot("logged-out").await;
    api.get("/me", tokengate_tests::client::Auth::Session(&by_code))
        .await
        .assert_error(401, "user_unauthorized");
    assert_eq!(browser.cookie(&app.cookie_name()).await, None, "the cookie is removed");

    // Magic link (same address: the same user).
    browser.type_into("#magic-email", "page.user@example.test").await;
    browser.click("#magic-send").await;
    browser
        .wait_until(
            "the link confirmation",
            "return document.getElementById('status').textContent.includes('link')",
        )
        .await;
    browser.screenshot("link-sent").await;
    let mail = smtp.wait_for("page.user@example.test", 2).await;
    let link = find_link(&mail.body).expect("link in the mail");
    assert!(link.starts_with(&format!("{origin}/?")), "{link}");
    browser.goto(&link).await;
    browser.wait_until("the logged-in view after the link", LOGGED_IN).await;
    assert_eq!(browser.text("current-user").await, user);
    assert_eq!(browser.text("current-provider").await, "magic-url");
    let location = browser.eval("return location.href").await;
    assert!(
        !location.as_str().unwrap_or_default().contains("secret"),
        "the secret is removed from the address bar: {location}"
    );
    browser.screenshot("logged-in-by-link").await;

    // A second session for the same user (through the API), then the list.
    let secret = {
        let reply = api
            .send(
                reqwest::Method::POST,
                "/v1/account/tokens/email",
                tokengate_tests::client::Auth::Key,
                Some(&serde_json::json!({ "userId": "unique()", "email": "page.user@example.test" })),
            )
            .await;
        reply.assert_status(201);
        let other = api
            .exchange(&user, reply.str("secret"), tokengate_tests::client::Auth::Key)
            .await;
        other.assert_status(201);
        other.str("$id").to_owned()
    };
    browser.goto(&format!("{}/", app.origin)).await;
    browser
        .wait_until(
            "two sessions listed",
            "return document.querySelectorAll('#sessions tr').length === 2",
        )
        .await;
    browser.screenshot("session-list").await;

    // Log out the other session from the list.
    browser
        .click(&format!("tr[data-session-id='{secret}'] .logout-one"))
        .await;
    browser
        .wait_until(
            "one session listed",
            "return document.querySelectorAll('#sessions tr').length === 1",
        )
        .await;
    browser.screenshot("other-session-logged-out").await;

    // Log out everywhere: no session of the user is left on the server.
    let by_link = browser.cookie(&app.cookie_name()).await.expect("the session cookie");
    browser.click("#logout-all").await;
    browser
        .wait_until("the logged-out view after logout-all", LOGGED_OUT)
        .await;
    browser.screenshot("logged-out-everywhere").await;
    api.get("/me", tokengate_tests::client::Auth::Session(&by_link))
        .await
        .assert_error(401, "user_unauthorized");
    let left = api
        .get(
            &format!("/v1/users/{user}/sessions"),
            tokengate_tests::client::Auth::Key,
        )
        .await;
    assert_eq!(left.json["total"], 0, "{}", left.text);

    let shots_taken = std::fs::read_dir(&shots).unwrap().count();
    assert_eq!(shots_taken, 9, "one screenshot per step in {}", shots.display());
}

#[tokio::test]
async fn login_page_on_axum() {
    login_page_end_to_end(AppKind::Axum).await;
}

#[tokio::test]
async fn login_page_on_actix() {
    login_page_end_to_end(AppKind::Actix).await;
}
