//! The passwordless flows end to end through both apps: the harness's SMTP
//! sink and SMS webhook receiver (hand-written, over real TCP:
//! `tokengate_tests::sinks`) receive the messages; the test reads the code
//! or link from what was delivered and logs in with it.

use reqwest::Method;
use serde_json::{json, Value};
use tokengate_tests::app::{AppKind, AppSpec, Backend, DeliveringApp, RunningApp};
use tokengate_tests::client::{assert_fields, Api, Auth, Reply, TOKEN_FIELDS};
use tokengate_tests::redis_harness::{redis_url, scan_keys};
use tokengate_tests::sinks::{find_code, find_link, query_param};

const PUBLIC_URL: &str = "https://app.example.test";

type Env = DeliveringApp;

async fn start(kind: AppKind, redis: bool) -> Env {
    let backend = if redis {
        Backend::Redis(redis_url().await)
    } else {
        Backend::Memory
    };
    let env = [
        ("TOKENGATE_PUBLIC_URL", PUBLIC_URL),
        ("TOKENGATE_REDIRECT_HOSTS", "admin.example.test"),
        // Appwrite's own behaviour, which these flows exercise: a client may
        // name a new user's id (the secure default is covered in abuse.rs).
        ("TOKENGATE_CLIENT_CHOSEN_IDS", "1"),
    ];
    DeliveringApp::start(kind, backend, &env).await
}

async fn post(api: &Api, path: &str, auth: Auth<'_>, body: Value) -> Reply {
    api.send(Method::POST, path, auth, Some(&body)).await
}

async fn email_token(api: &Api, user: &str, email: &str) -> Reply {
    post(
        api,
        "/v1/account/tokens/email",
        Auth::None,
        json!({ "userId": user, "email": email }),
    )
    .await
}

async fn email_otp_login(env: Env) {
    let api = &env.api;
    let token = email_token(api, "unique()", "Ada@Example.test").await;
    token.assert_status(201);
    assert_fields(&token.json, TOKEN_FIELDS);
    assert_eq!(token.json["secret"], "", "anonymous callers never see the secret");
    let user = token.str("userId").to_owned();
    assert_eq!(user.len(), 20, "unique() generates a 20-hex id");

    let mail = env.smtp.wait_for("ada@example.test", 1).await;
    assert!(mail.subject.contains("login code"), "{}", mail.subject);
    assert!(mail.body.contains("10 minutes"), "expiry in minutes: {}", mail.body);
    let code = find_code(&mail.body, 6).expect("a 6-digit code in the mail");

    let session = api.exchange(&user, &code, Auth::None).await;
    session.assert_status(201);
    assert_eq!(session.json["provider"], "token");
    assert_eq!(session.json["factors"], json!(["email"]));
    let credential = session.cookie_value(&api.cookie_name).expect("cookie");

    let account = api.get("/v1/account", Auth::Cookie(&credential)).await;
    account.assert_status(200);
    assert_fields(
        &account.json,
        &[
            "$id",
            "$createdAt",
            "$updatedAt",
            "name",
            "registration",
            "status",
            "labels",
            "passwordUpdate",
            "email",
            "phone",
            "emailVerification",
            "phoneVerification",
            "mfa",
            "prefs",
            "targets",
            "accessedAt",
        ],
    );
    assert_eq!(account.json["$id"], user.as_str());
    assert_eq!(account.json["email"], "ada@example.test");
    assert_eq!(account.json["emailVerification"], true);
    assert_eq!(account.json["phoneVerification"], false);

    // The code was one-time.
    api.exchange(&user, &code, Auth::None)
        .await
        .assert_error(401, "user_invalid_token");
}

async fn magic_url_login(env: Env) {
    let api = &env.api;
    let body = json!({ "userId": "grace", "email": "grace@example.test", "url": "https://admin.example.test/callback?from=mail#done" });
    let token = post(api, "/v1/account/tokens/magic-url", Auth::None, body).await;
    token.assert_status(201);
    assert_eq!(token.json["secret"], "");
    let mail = env.smtp.wait_for("grace@example.test", 1).await;
    assert!(mail.body.contains("15 minutes"), "{}", mail.body);
    let link = find_link(&mail.body).expect("a link in the mail");
    assert!(
        link.starts_with("https://admin.example.test/callback?from=mail&"),
        "{link}"
    );
    assert!(link.ends_with("#done"), "{link}");
    assert_eq!(query_param(&link, "userId").as_deref(), Some("grace"));
    assert_eq!(
        query_param(&link, "project").as_deref(),
        Some(env.app.spec.project.as_str())
    );
    assert_eq!(query_param(&link, "expire").as_deref(), Some(token.str("expire")));
    let secret = query_param(&link, "secret").expect("secret in link");
    assert_eq!(secret.len(), 64);
    assert!(secret.bytes().all(|b| b.is_ascii_hexdigit()));

    let session = api.exchange("grace", &secret, Auth::None).await;
    session.assert_status(201);
    assert_eq!(session.json["provider"], "magic-url");
    assert_eq!(session.json["factors"], json!(["email"]));

    // Without `url` the link goes to the configured public URL, never the Host header.
    let token = post(
        api,
        "/v1/account/tokens/magic-url",
        Auth::Key,
        json!({ "userId": "grace", "email": "grace@example.test" }),
    )
    .await;
    token.assert_status(201);
    let mail = env.smtp.wait_for("grace@example.test", 2).await;
    let link = find_link(&mail.body).unwrap();
    assert!(link.starts_with(&format!("{PUBLIC_URL}?userId=grace&")), "{link}");
}

async fn phone_login(env: Env) {
    let api = &env.api;
    let token = post(
        api,
        "/v1/account/tokens/phone",
        Auth::None,
        json!({ "userId": "unique()", "phone": "+14155550123" }),
    )
    .await;
    token.assert_status(201);
    let user = token.str("userId").to_owned();
    let sms = env.sms.wait_for("+14155550123", 1).await;
    let code = find_code(&sms.body, 6).expect("code in SMS");
    assert!(sms.body.contains("10 minutes"), "{}", sms.body);
    let session = api.exchange(&user, &code, Auth::None).await;
    session.assert_status(201);
    assert_eq!(session.json["provider"], "phone");
    assert_eq!(session.json["factors"], json!(["phone"]));
    let credential = session.cookie_value(&api.cookie_name).unwrap();
    let account = api.get("/v1/account", Auth::Cookie(&credential)).await;
    assert_eq!(account.json["phone"], "+14155550123");
    assert_eq!(account.json["phoneVerification"], true);
    assert_eq!(account.json["emailVerification"], false);

    for bad in [
        "14155550123",
        "+0123",
        "+1 415 555 0123",
        "+１４１５",
        "+1234567890123456",
    ] {
        post(
            api,
            "/v1/account/tokens/phone",
            Auth::None,
            json!({ "userId": "unique()", "phone": bad }),
        )
        .await
        .assert_error(400, "general_argument_invalid");
    }
}

async fn directory_rules(env: Env) {
    let api = &env.api;
    let first = post(
        api,
        "/v1/account/tokens/email",
        Auth::Key,
        json!({ "userId": "hopper", "email": "hopper@example.test" }),
    )
    .await;
    first.assert_status(201);
    assert_eq!(first.json["userId"], "hopper");
    // A known address (compared after trimming, case-insensitively) ignores the given id.
    let again = post(
        api,
        "/v1/account/tokens/email",
        Auth::Key,
        json!({ "userId": "someone-else", "email": "  HOPPER@example.TEST " }),
    )
    .await;
    again.assert_status(201);
    assert_eq!(again.json["userId"], "hopper");
    let unique = post(
        api,
        "/v1/account/tokens/email",
        Auth::Key,
        json!({ "userId": "unique()", "email": "hopper@example.test" }),
    )
    .await;
    assert_eq!(unique.json["userId"], "hopper");
    // An id that belongs to another address is refused, and nothing is sent.
    let before = env.smtp.all().len();
    post(
        api,
        "/v1/account/tokens/email",
        Auth::Key,
        json!({ "userId": "hopper", "email": "intruder@example.test" }),
    )
    .await
    .assert_error(409, "user_already_exists");
    // So is an id already in use through custom tokens (a user known elsewhere).
    api.login("lovelace").await;
    post(
        api,
        "/v1/account/tokens/email",
        Auth::Key,
        json!({ "userId": "lovelace", "email": "mallory@example.test" }),
    )
    .await
    .assert_error(409, "user_already_exists");
    assert_eq!(env.smtp.all().len(), before, "no mail for refused requests");

    // Same status and shape whether or not the address was known.
    let known = email_token(api, "unique()", "hopper@example.test").await;
    let unknown = email_token(api, "unique()", "newcomer@example.test").await;
    assert_eq!(known.status, unknown.status);
    assert_fields(&known.json, TOKEN_FIELDS);
    assert_fields(&unknown.json, TOKEN_FIELDS);
    assert_eq!(known.json["secret"], unknown.json["secret"]);
    assert_eq!(known.json["phrase"], unknown.json["phrase"]);

    for bad in [
        "",
        "plain",
        "a@b",
        "ａ@example.test",
        "a b@example.test",
        "a@example..test",
        "a\u{0}@example.test",
    ] {
        email_token(api, "unique()", bad)
            .await
            .assert_error(400, "general_argument_invalid");
    }
    email_token(api, "_bad", "ok@example.test")
        .await
        .assert_error(400, "general_argument_invalid");
}

async fn new_token_replaces_previous(env: Env) {
    let api = &env.api;
    let body = json!({ "userId": "turing", "email": "turing@example.test" });
    let first = post(api, "/v1/account/tokens/email", Auth::Key, body.clone()).await;
    first.assert_status(201);
    let old = first.str("secret").to_owned();
    assert_eq!(old.len(), 6);
    assert!(old.bytes().all(|b| b.is_ascii_digit()));
    // A new code (drawn again in the one-in-a-million case of the same
    // digits, so that the old one is distinguishable) replaces the old one.
    let mut new = old.clone();
    for _ in 0..5 {
        let next = post(api, "/v1/account/tokens/email", Auth::Key, body.clone()).await;
        new = next.str("secret").to_owned();
        if new != old {
            break;
        }
    }
    assert_ne!(new, old, "five codes in a row equal to the first");
    api.exchange("turing", &old, Auth::None)
        .await
        .assert_error(401, "user_invalid_token");
    api.exchange("turing", &new, Auth::None).await.assert_status(201);
    // A magic URL does not replace an email code (another kind).
    let code = post(
        api,
        "/v1/account/tokens/email",
        Auth::Key,
        json!({ "userId": "turing", "email": "turing@example.test" }),
    )
    .await;
    post(
        api,
        "/v1/account/tokens/magic-url",
        Auth::Key,
        json!({ "userId": "turing", "email": "turing@example.test" }),
    )
    .await
    .assert_status(201);
    api.exchange("turing", code.str("secret"), Auth::None)
        .await
        .assert_status(201);
}

async fn issuance_limits(env: Env) {
    let api = &env.api;
    // At least 60 s between two sends to one address.
    email_token(api, "unique()", "limit@example.test")
        .await
        .assert_status(201);
    email_token(api, "unique()", "limit@example.test")
        .await
        .assert_error(429, "general_rate_limit_exceeded");
    // API-key callers bypass the limits.
    post(
        api,
        "/v1/account/tokens/email",
        Auth::Key,
        json!({ "userId": "unique()", "email": "limit@example.test" }),
    )
    .await
    .assert_status(201);
    // 10 email OTPs per client IP per hour (one was spent above).
    for i in 1..10 {
        email_token(api, "unique()", &format!("ip{i}@example.test"))
            .await
            .assert_status(201);
    }
    email_token(api, "unique()", "ip10@example.test")
        .await
        .assert_error(429, "general_rate_limit_exceeded");
    assert!(
        env.smtp.all().iter().all(|m| m.to != ["ip10@example.test"]),
        "nothing sent when limited"
    );
    // Phone: 10 per IP too, counted separately from email.
    for i in 0..10 {
        post(
            api,
            "/v1/account/tokens/phone",
            Auth::None,
            json!({ "userId": "unique()", "phone": format!("+1415555{i:04}") }),
        )
        .await
        .assert_status(201);
    }
    post(
        api,
        "/v1/account/tokens/phone",
        Auth::None,
        json!({ "userId": "unique()", "phone": "+14155559999" }),
    )
    .await
    .assert_error(429, "general_rate_limit_exceeded");
    // Magic URL: 60 per IP.
    for i in 0..60 {
        post(
            api,
            "/v1/account/tokens/magic-url",
            Auth::None,
            json!({ "userId": "unique()", "email": format!("m{i}@example.test") }),
        )
        .await
        .assert_status(201);
    }
    post(
        api,
        "/v1/account/tokens/magic-url",
        Auth::None,
        json!({ "userId": "unique()", "email": "m60@example.test" }),
    )
    .await
    .assert_error(429, "general_rate_limit_exceeded");
}

async fn lockout_burns_otp(env: Env) {
    let api = &env.api;
    let token = email_token(api, "knuth", "knuth@example.test").await;
    token.assert_status(201);
    let mail = env.smtp.wait_for("knuth@example.test", 1).await;
    let code = find_code(&mail.body, 6).unwrap();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..5 {
        api.exchange("knuth", wrong, Auth::None)
            .await
            .assert_error(401, "user_invalid_token");
    }
    // The fifth consecutive failure burned the code.
    api.exchange("knuth", &code, Auth::None)
        .await
        .assert_error(401, "user_invalid_token");
}

async fn security_phrase(env: Env) {
    let api = &env.api;
    let token = post(
        api,
        "/v1/account/tokens/email",
        Auth::None,
        json!({ "userId": "unique()", "email": "phrase@example.test", "phrase": true }),
    )
    .await;
    token.assert_status(201);
    let phrase = token.str("phrase").to_owned();
    assert_eq!(phrase.split(' ').count(), 2, "two words: {phrase}");
    let mail = env.smtp.wait_for("phrase@example.test", 1).await;
    assert!(
        mail.body.contains(&phrase),
        "the mail repeats the phrase: {}",
        mail.body
    );
    let magic = post(
        api,
        "/v1/account/tokens/magic-url",
        Auth::None,
        json!({ "userId": "unique()", "email": "phrase2@example.test", "phrase": true }),
    )
    .await;
    let phrase = magic.str("phrase").to_owned();
    assert!(env
        .smtp
        .wait_for("phrase2@example.test", 1)
        .await
        .body
        .contains(&phrase));
    let plain = post(
        api,
        "/v1/account/tokens/email",
        Auth::None,
        json!({ "userId": "unique()", "email": "nophrase@example.test" }),
    )
    .await;
    assert_eq!(plain.json["phrase"], "");
    post(
        api,
        "/v1/account/tokens/email",
        Auth::None,
        json!({ "userId": "unique()", "email": "x@example.test", "phrase": "yes" }),
    )
    .await
    .assert_error(400, "general_argument_invalid");
}

/// Known ways to smuggle another host past an allow-list.
const BYPASS_FORMS: &[&str] = &[
    "//evil.test",
    "/\\evil.test",
    "https:evil.test",
    "https:/evil.test",
    "https://app.example.test@evil.test/",
    "https://app.example.test.evil.test/",
    "https://evil.test/app.example.test",
    "https://app.example.test\\@evil.test",
    "https://app.example.test\r\n.evil.test",
    "https://app.example.test\t.evil.test",
    "javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "HTTPS://app.example.test/",
    "https://APP.EXAMPLE.TEST/",
    "https://app.example.test./",
    "http://2130706433/",
    "http://0x7f000001/",
    "http://0177.0.0.1/",
    "http://127.1/",
    "http://[::ffff:127.0.0.1]/",
    "https://app.example.test//evil.test",
    "https://app.example.test:0/",
    "ftp://app.example.test/",
    "https://аpp.example.test/",
    "https://%61pp.example.test/",
    "https://evil.test",
    "",
];

async fn magic_url_bypass_forms_are_rejected(env: Env) {
    let api = &env.api;
    for (i, url) in BYPASS_FORMS.iter().enumerate() {
        let body = json!({ "userId": "unique()", "email": format!("bypass{i}@example.test"), "url": url });
        post(api, "/v1/account/tokens/magic-url", Auth::Key, body)
            .await
            .assert_error(400, "general_argument_invalid");
    }
    assert!(env.smtp.all().is_empty(), "nothing sent for a rejected url");
    // A forged Host header changes nothing about the link.
    let response = reqwest::Client::new()
        .post(env.app.api("/account/tokens/magic-url"))
        .header("host", "evil.test")
        .header("x-forwarded-host", "evil.test")
        .header("forwarded", "host=evil.test")
        .json(&json!({ "userId": "unique()", "email": "host@example.test" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
    let link = find_link(&env.smtp.wait_for("host@example.test", 1).await.body).unwrap();
    assert!(link.starts_with(PUBLIC_URL), "{link}");
    assert!(!link.contains("evil"), "{link}");
}

async fn failed_delivery_answers_503_and_leaves_no_token(env: Env) {
    let api = &env.api;
    env.sms.answer_with(500);
    let reply = post(
        api,
        "/v1/account/tokens/phone",
        Auth::Key,
        json!({ "userId": "babbage", "phone": "+447700900123" }),
    )
    .await;
    reply.assert_error(503, "general_server_error");
    assert!(!reply.text.contains("500"), "no delivery detail leaks: {}", reply.text);
    assert_eq!(env.sms.count(), 1, "the webhook was called");
    // The webhook saw the code before it failed: on every store, that code
    // no longer logs in (the token was withdrawn), and on Redis no key of it
    // is left either.
    let undelivered = env.sms.wait_for("+447700900123", 1).await;
    let code = find_code(&undelivered.body, 6).expect("the code in the failed message");
    api.exchange("babbage", &code, Auth::None)
        .await
        .assert_error(401, "user_invalid_token");
    if let Backend::Redis(url) = &env.app.spec.backend {
        let keys = scan_keys(url, &env.app.spec.prefix).await;
        assert!(
            !keys.iter().any(|k| k.contains("{u:babbage}:t")),
            "no token key left behind: {keys:?}"
        );
    }
    env.sms.answer_with(200);
    post(
        api,
        "/v1/account/tokens/phone",
        Auth::Key,
        json!({ "userId": "babbage", "phone": "+447700900123" }),
    )
    .await
    .assert_status(201);
}

macro_rules! suite {
    ($($scenario:ident),* $(,)?) => {
        mod axum_memory {
            $( #[tokio::test] async fn $scenario() { super::$scenario(super::start(super::AppKind::Axum, false).await).await } )*
        }
        mod actix_memory {
            $( #[tokio::test] async fn $scenario() { super::$scenario(super::start(super::AppKind::Actix, false).await).await } )*
        }
        mod axum_redis {
            $( #[tokio::test] async fn $scenario() { super::$scenario(super::start(super::AppKind::Axum, true).await).await } )*
        }
        mod actix_redis {
            $( #[tokio::test] async fn $scenario() { super::$scenario(super::start(super::AppKind::Actix, true).await).await } )*
        }
    };
}

suite!(
    email_otp_login,
    magic_url_login,
    phone_login,
    directory_rules,
    new_token_replaces_previous,
    issuance_limits,
    lockout_burns_otp,
    security_phrase,
    magic_url_bypass_forms_are_rejected,
    failed_delivery_answers_503_and_leaves_no_token,
);

#[tokio::test]
async fn unreachable_smtp_answers_503() {
    let closed_port = tokengate_tests::app::free_port();
    let mut spec = AppSpec::new(AppKind::Axum, Backend::Redis(redis_url().await));
    spec.extra_env = vec![("TOKENGATE_SMTP_URL".into(), format!("smtp://127.0.0.1:{closed_port}"))];
    let app = RunningApp::start(spec).await;
    let api = Api::new(&app);
    post(
        &api,
        "/v1/account/tokens/email",
        Auth::None,
        json!({ "userId": "unique()", "email": "down@example.test" }),
    )
    .await
    .assert_error(503, "general_server_error");
    let keys = scan_keys(&redis_url().await, &app.spec.prefix).await;
    assert!(
        !keys.iter().any(|k| k.ends_with(":t")),
        "no token left behind: {keys:?}"
    );
}
