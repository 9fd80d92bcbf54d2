//! The example apps' login page at `/`, driven in headless Chromium: email
//! code login, magic link login, "where you are signed in" (the user's
//! sessions on three devices, sign out one, sign out all others, a hostile
//! User-Agent shown as text), logout of one and of all.
//! Screenshots of each step land in `target/test-output/login-page/<app>/`.

use std::path::PathBuf;

use tokengate_tests::app::{free_port, AppKind, AppSpec, Backend, RunningApp};
use tokengate_tests::browser::Browser;
use tokengate_tests::client::{Api, Auth};
use tokengate_tests::redis_harness::redis_url;
use tokengate_tests::sinks::{find_code, find_link, query_param, SmtpSink};

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
const LINK_QUESTION: &str = "return !document.getElementById('link-confirm').hidden";

/// The page's title, which an injected `onerror` handler would change.
const TITLE: &str = "tokengate example login";

/// Markup that retitles the page if it is ever parsed as HTML.
const XSS: &str = "<img src=x onerror=document.title='pwned'>";

/// Firefox on Linux, with [`XSS`] appended: the page must show it as text.
const FIREFOX_LINUX_XSS: &str = concat!(
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0 ",
    "<img src=x onerror=document.title='pwned'>"
);
const SAFARI_IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 \
                             (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";

/// A session of another device: its id and its credential.
struct DeviceSession {
    id: String,
    credential: String,
}

/// Issues a custom token for `user` with the API key and exchanges it as a
/// browser with `user_agent` would: no key, the credential in the cookie.
async fn device_session(api: &Api, user: &str, user_agent: &str) -> DeviceSession {
    let secret = api.token_secret(user).await;
    let reply = api
        .send_with(
            reqwest::Method::POST,
            "/v1/account/sessions/token",
            Auth::None,
            Some(&serde_json::json!({ "userId": user, "secret": secret })),
            &[("user-agent", user_agent)],
        )
        .await;
    reply.assert_status(201);
    let credential = reply.cookie_value(&api.cookie_name).expect("the session cookie");
    api.get("/v1/account", Auth::Session(&credential))
        .await
        .assert_status(200);
    DeviceSession {
        id: reply.str("$id").to_owned(),
        credential,
    }
}

fn sessions_listed(n: usize) -> String {
    format!("return document.querySelectorAll('#sessions .session').length === {n}")
}

/// Every listed session names its device (the server's User-Agent fields,
/// or "Unknown device" while it has none), when it began and from where.
async fn assert_devices_shown(browser: &Browser, api: &Api, user: &str) {
    let listed = api.get(&format!("/v1/users/{user}/sessions"), Auth::Key).await;
    listed.assert_status(200);
    for session in listed.json["sessions"].as_array().expect("sessions") {
        let id = session["$id"].as_str().expect("$id");
        let script = format!(
            "const s = document.querySelector(\".session[data-session-id='{id}']\"); \
             return [s.querySelector('.session-name').textContent, s.querySelector('.session-meta').textContent]"
        );
        let shown = browser.eval(&script).await;
        let device = shown[0].as_str().expect("device text");
        let meta = shown[1].as_str().expect("meta text");
        let field = |name: &str| session[name].as_str().unwrap_or_default().to_owned();
        let named = ["clientName", "osName", "deviceName", "deviceBrand", "deviceModel"]
            .iter()
            .any(|name| !matches!(field(name).as_str(), "" | "Unknown" | "UNK"));
        if named {
            for name in ["clientName", "osName"] {
                let value = field(name);
                let unknown = matches!(value.as_str(), "" | "Unknown" | "UNK");
                assert!(unknown || device.contains(&value), "{value} in {device:?}");
            }
        } else {
            assert_eq!(device, "Unknown device", "no device fields in {session}");
        }
        assert!(meta.starts_with("Signed in "), "{meta}");
        let ip = session["ip"].as_str().unwrap_or_default();
        if !ip.is_empty() {
            assert!(meta.contains(&format!("IP {ip}")), "{ip} in {meta:?}");
        }
    }
}

/// The hostile User-Agent never became markup: no image, no handler, the
/// title unchanged; whatever of it is shown is shown literally (as text, not
/// escaped twice into `&lt;`).
async fn assert_not_injected(browser: &Browser) {
    assert_eq!(browser.eval("return document.title").await, TITLE);
    assert_eq!(browser.count("#sessions img, #status img, [onerror]").await, 0);
    let text = browser.text("sessions").await;
    assert!(
        !text.contains("&lt;") && !text.contains("&#"),
        "shown literally: {text}"
    );
}

/// The page found another account than the visitor expected and signed
/// out again.
async fn signed_out_again(browser: &Browser, cookie: &str, what: &str) {
    browser
        .wait_until(
            what,
            "return document.getElementById('status').textContent.includes('another account')",
        )
        .await;
    browser.wait_until("the logged-out view", LOGGED_OUT).await;
    assert_eq!(browser.cookie(cookie).await, None, "{what}: still signed in as Mallory");
}

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
    let api = Api::new(&app);
    let by_code = browser.cookie(&app.cookie_name()).await.expect("the session cookie");
    api.get("/me", Auth::Session(&by_code)).await.assert_status(200);
    browser.click("#logout").await;
    browser.wait_until("the logged-out view", LOGGED_OUT).await;
    browser.screenshot("logged-out").await;
    api.get("/me", Auth::Session(&by_code))
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
    // The page asks before it signs in, naming the address; until then
    // nobody is signed in.
    browser.goto(&link).await;
    browser.wait_until("the link question", LINK_QUESTION).await;
    assert_eq!(
        browser.text("link-question").await,
        "Continue as page.user@example.test?"
    );
    assert_eq!(
        browser.cookie(&app.cookie_name()).await,
        None,
        "signed in before asking"
    );
    browser.screenshot("link-question").await;
    browser.click("#link-continue").await;
    browser.wait_until("the logged-in view after the link", LOGGED_IN).await;
    assert_eq!(browser.text("current-user").await, user);
    assert_eq!(browser.text("current-provider").await, "magic-url");
    let location = browser.eval("return location.href").await;
    assert!(
        !location.as_str().unwrap_or_default().contains("secret"),
        "the secret is removed from the address bar: {location}"
    );
    browser.screenshot("logged-in-by-link").await;

    // Where you are signed in: the browser's session (by the link) and two
    // more of the same user, exchanged over HTTP by other "devices". One
    // User-Agent carries markup that would retitle the page if it were ever
    // parsed as HTML.
    let firefox = device_session(&api, &user, FIREFOX_LINUX_XSS).await;
    let iphone = device_session(&api, &user, SAFARI_IPHONE).await;
    browser.goto(&format!("{}/", app.origin)).await;
    browser.wait_until("three sessions listed", &sessions_listed(3)).await;
    assert_eq!(
        browser.count("#sessions .session.current").await,
        1,
        "exactly one is this device"
    );
    assert_eq!(
        browser.count("#sessions .session-signout").await,
        2,
        "a sign-out button per other session"
    );
    assert_eq!(browser.count("#sessions .session.current .session-signout").await, 0);
    let this_device = browser
        .eval("return document.querySelector('#sessions .session.current').dataset.sessionId")
        .await;
    assert_eq!(
        this_device.as_str(),
        Some(browser.text("current-session").await.as_str())
    );
    assert_eq!(
        browser
            .eval("return document.querySelector('#sessions .session.current .badge').textContent")
            .await,
        "This device"
    );
    assert_devices_shown(&browser, &api, &user).await;
    assert_not_injected(&browser).await;
    browser.screenshot("signed-in-on-three-devices").await;

    // Sign out the iPhone from the list: two left, its credential is dead.
    browser
        .click(&format!(".session[data-session-id='{}'] .session-signout", iphone.id))
        .await;
    browser.wait_until("two sessions listed", &sessions_listed(2)).await;
    assert_eq!(browser.count("#sessions .session.current").await, 1);
    assert_eq!(
        browser
            .count(&format!(".session[data-session-id='{}']", iphone.id))
            .await,
        0
    );
    api.get("/v1/account", Auth::Session(&iphone.credential))
        .await
        .assert_error(401, "general_unauthorized_scope");
    api.get("/v1/account", Auth::Session(&firefox.credential))
        .await
        .assert_status(200);
    assert_not_injected(&browser).await;
    browser.screenshot("signed-out-one-device").await;

    // Sign out all other devices: only this one is left, still signed in.
    browser.click("#signout-others").await;
    browser.wait_until("one session listed", &sessions_listed(1)).await;
    assert_eq!(browser.count("#sessions .session.current").await, 1);
    assert_eq!(browser.count("#sessions .session-signout").await, 0);
    assert_eq!(browser.eval(LOGGED_IN).await, true, "the browser is still signed in");
    api.get("/v1/account", Auth::Session(&firefox.credential))
        .await
        .assert_error(401, "general_unauthorized_scope");
    let by_link = browser.cookie(&app.cookie_name()).await.expect("the session cookie");
    api.get("/v1/account", Auth::Session(&by_link)).await.assert_status(200);
    let left = api.get(&format!("/v1/users/{user}/sessions"), Auth::Key).await;
    assert_eq!(left.json["total"], 1, "{}", left.text);
    assert_not_injected(&browser).await;
    browser.screenshot("signed-out-other-devices").await;

    // Until the server fills the device fields from the User-Agent, the
    // hostile one above is not shown: render a list whose device fields
    // carry it through the page's own code, then restore the real list.
    let shown = browser
        .eval(&format!(
            "const current = document.querySelector('#sessions .session.current').dataset.sessionId; \
             showSessions([{{ $id: current, current: true, provider: 'magic-url', ip: '127.0.0.1', \
               $createdAt: new Date().toISOString(), clientName: 'Chrome', clientVersion: '131.0', \
               osName: 'Linux', osVersion: '', deviceName: 'desktop', countryName: 'Unknown' }}, \
             {{ $id: 'hostilehostilehostil', current: false, provider: 'token', ip: '203.0.113.9', \
               $createdAt: '2026-12-01T08:30:00.000+00:00', clientName: {xss}, clientVersion: '1', \
               osName: 'iOS', osVersion: '17.5', deviceName: 'smartphone', deviceModel: {xss}, \
               countryName: 'Iceland' }}]); \
             return document.querySelector(\".session[data-session-id='hostilehostilehostil'] .session-name\").textContent",
            xss = serde_json::json!(XSS),
        ))
        .await;
    assert_eq!(shown, format!("{XSS} 1 on iOS 17.5, {XSS}"));
    assert_eq!(
        browser.text("sessions").await.matches("Iceland").count(),
        1,
        "a known country is shown, \"Unknown\" is not"
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_not_injected(&browser).await;
    browser.screenshot("hostile-device-fields-as-text").await;
    browser.eval("refresh(); return true").await;
    browser
        .wait_until(
            "the real list again",
            "return document.querySelectorAll('#sessions .session').length === 1 \
             && !document.querySelector(\".session[data-session-id='hostilehostilehostil']\")",
        )
        .await;

    // Log out everywhere: no session of the user is left on the server.
    browser.click("#logout-all").await;
    browser
        .wait_until("the logged-out view after logout-all", LOGGED_OUT)
        .await;
    browser.screenshot("logged-out-everywhere").await;
    api.get("/me", Auth::Session(&by_link))
        .await
        .assert_error(401, "user_unauthorized");
    let left = api.get(&format!("/v1/users/{user}/sessions"), Auth::Key).await;
    assert_eq!(left.json["total"], 0, "{}", left.text);

    // Login CSRF: Mallory's own genuine links, sent to a visitor. The page
    // ignores what a link says about itself (a forged `for`): a browser that
    // asked for no link asks which address the visitor expects and signs
    // Mallory's account found after the exchange out again; one that asked
    // for a link refuses, unexchanged, a link for another user. A cancel
    // leaves the pair unused.
    let forged = format!("{origin}/?for=page.user%40example.test");
    let mut mallory_links = Vec::new();
    // (Three addresses of Mallory's: one address gets one link a minute.)
    for (email, url) in [
        ("mallory@evil.test", forged.as_str()),
        ("mallory2@evil.test", &format!("{origin}/")),
        ("mallory3@evil.test", &format!("{origin}/")),
    ] {
        api.send(
            reqwest::Method::POST,
            "/v1/account/tokens/magic-url",
            Auth::None,
            Some(&serde_json::json!({ "userId": "unique()", "email": email, "url": url })),
        )
        .await
        .assert_status(201);
        let mail = smtp.wait_for(email, 1).await;
        mallory_links.push(find_link(&mail.body).expect("link in Mallory's mail"));
    }
    browser.goto(&mallory_links[0]).await;
    browser.wait_until("the link question", LINK_QUESTION).await;
    let question = browser.text("link-question").await;
    assert!(
        question.contains("did not ask") && !question.contains("page.user"),
        "{question}"
    );
    browser.type_into("#link-email", "page.user@example.test").await;
    browser.click("#link-continue").await;
    signed_out_again(
        &browser,
        &app.cookie_name(),
        "the sign-out after a foreign link, address typed",
    )
    .await;
    browser.screenshot("foreign-link-signed-out").await;

    browser.goto(&mallory_links[2]).await;
    browser.wait_until("the link question", LINK_QUESTION).await;
    browser.click("#link-cancel").await;
    browser.wait_until("the logged-out view", LOGGED_OUT).await;
    assert_eq!(browser.cookie(&app.cookie_name()).await, None);
    browser.screenshot("foreign-link-cancelled").await;
    let unused = query_param(&mallory_links[2], "secret").expect("secret");
    let mallory = query_param(&mallory_links[2], "userId").expect("userId");
    api.exchange(&mallory, &unused, Auth::None).await.assert_status(201);

    browser.type_into("#magic-email", "page.other@example.test").await;
    browser.click("#magic-send").await;
    smtp.wait_for("page.other@example.test", 1).await;
    browser.goto(&mallory_links[1]).await;
    browser
        .wait_until(
            "the refusal of a link for another user than the one asked for",
            "return document.getElementById('status').textContent.includes('not the one this browser asked for')",
        )
        .await;
    browser.wait_until("the logged-out view", LOGGED_OUT).await;
    assert_eq!(
        browser.cookie(&app.cookie_name()).await,
        None,
        "signed in by a foreign link"
    );
    browser.screenshot("foreign-link-refused-unused").await;
    let unused = query_param(&mallory_links[1], "secret").expect("secret");
    let mallory = query_param(&mallory_links[1], "userId").expect("userId");
    api.exchange(&mallory, &unused, Auth::None).await.assert_status(201);

    let shots_taken = std::fs::read_dir(&shots).unwrap().count();
    assert_eq!(shots_taken, 15, "one screenshot per step in {}", shots.display());
}

#[tokio::test]
async fn login_page_on_axum() {
    login_page_end_to_end(AppKind::Axum).await;
}

#[tokio::test]
async fn login_page_on_actix() {
    login_page_end_to_end(AppKind::Actix).await;
}
