//! Log hygiene: both apps run a representative scenario set (custom tokens,
//! email OTP, magic URL and phone flows through the harness's SMTP and webhook
//! sinks, the session routes, logout) with `RUST_LOG=trace`, their whole
//! output captured to a file; no token secret, OTP, session credential, API
//! key or server secret may appear in it.

use std::path::PathBuf;

use reqwest::Method;
use serde_json::{json, Value};
use tokengate_tests::app::{AppKind, AppSpec, Backend, RunningApp};
use tokengate_tests::client::{Api, Auth, Reply};
use tokengate_tests::redis_harness::redis_url;
use tokengate_tests::sinks::{find_code, find_link, query_param, SmsSink, SmtpSink};

/// Every secret the scenario handled, by what it is.
#[derive(Debug, Default)]
struct Secrets(Vec<(String, String)>);

impl Secrets {
    fn add(&mut self, what: impl Into<String>, value: impl Into<String>) {
        let value = value.into();
        assert!(!value.is_empty(), "an empty secret");
        self.0.push((what.into(), value));
    }

    /// A session credential: the whole, its secret part and a prefix of it.
    fn credential(&mut self, what: &str, credential: &str) {
        let secret = credential.rsplit_once('.').expect("userId.secret").1;
        assert_eq!(secret.len(), 43);
        self.add(format!("{what} (credential)"), credential);
        self.add(format!("{what} (credential secret)"), secret);
        self.add(format!("{what} (credential secret prefix)"), &secret[..16]);
    }
}

async fn post(api: &Api, path: &str, auth: Auth<'_>, body: Value) -> Reply {
    api.send(Method::POST, path, auth, Some(&body)).await
}

/// Exchanges `secret`; returns the credential (cookie, or body for API-key callers).
async fn exchange(api: &Api, user: &str, secret: &str, auth: Auth<'_>) -> String {
    let reply = api.exchange(user, secret, auth).await;
    reply.assert_status(201);
    let cookie = reply.cookie_value(&api.cookie_name).expect("session cookie");
    if let Auth::Key = auth {
        assert_eq!(reply.str("secret"), cookie);
    }
    cookie
}

async fn scenario(api: &Api, smtp: &SmtpSink, sms: &SmsSink, secrets: &mut Secrets) {
    // Custom tokens, issued with the API key; exchanged with and without it.
    for (user, length) in [("tara", 16), ("tara", 64), ("tara", 128), ("uma", 24)] {
        let token = api.create_token(user, json!({ "length": length })).await;
        token.assert_status(201);
        secrets.add(format!("custom token of {user} ({length})"), token.str("secret"));
    }
    let secret = api
        .create_token("tara", json!({ "length": 32 }))
        .await
        .str("secret")
        .to_owned();
    secrets.add("custom token (32)", &secret);
    let tara = exchange(api, "tara", &secret, Auth::None).await;
    secrets.credential("tara, cookie", &tara);
    let secret = api
        .create_token("uma", json!({ "length": 40 }))
        .await
        .str("secret")
        .to_owned();
    secrets.add("custom token (40)", &secret);
    let uma = exchange(api, "uma", &secret, Auth::Key).await;
    secrets.credential("uma, body", &uma);
    // A wrong guess and a reuse, both refused.
    api.exchange("tara", "0123456789abcdef", Auth::None)
        .await
        .assert_error(401, "user_invalid_token");
    api.exchange("uma", &secret, Auth::None)
        .await
        .assert_error(401, "user_invalid_token");

    // Email OTP, anonymous: the code only in the mail.
    let token = post(
        api,
        "/v1/account/tokens/email",
        Auth::None,
        json!({ "userId": "unique()", "email": "vera@example.test" }),
    )
    .await;
    token.assert_status(201);
    let vera = token.str("userId").to_owned();
    let code = find_code(&smtp.wait_for("vera@example.test", 1).await.body, 6).expect("code");
    secrets.add("email OTP", &code);
    let credential = exchange(api, &vera, &code, Auth::None).await;
    secrets.credential("email OTP session", &credential);
    api.get("/v1/account", Auth::Cookie(&credential))
        .await
        .assert_status(200);

    // Magic URL, anonymous.
    post(
        api,
        "/v1/account/tokens/magic-url",
        Auth::None,
        json!({ "userId": "walt", "email": "walt@example.test", "phrase": true }),
    )
    .await
    .assert_status(201);
    let link = find_link(&smtp.wait_for("walt@example.test", 1).await.body).expect("link");
    let magic = query_param(&link, "secret").expect("secret in the link");
    secrets.add("magic URL secret", &magic);
    let credential = exchange(api, "walt", &magic, Auth::None).await;
    secrets.credential("magic URL session", &credential);

    // Phone OTP, anonymous.
    let token = post(
        api,
        "/v1/account/tokens/phone",
        Auth::None,
        json!({ "userId": "unique()", "phone": "+14155550188" }),
    )
    .await;
    token.assert_status(201);
    let xena = token.str("userId").to_owned();
    let code = find_code(&sms.wait_for("+14155550188", 1).await.body, 6).expect("code");
    secrets.add("phone OTP", &code);
    let credential = exchange(api, &xena, &code, Auth::None).await;
    secrets.credential("phone OTP session", &credential);

    // An email OTP issued with the API key (the response carries it).
    let token = post(
        api,
        "/v1/account/tokens/email",
        Auth::Key,
        json!({ "userId": "yuri", "email": "yuri@example.test" }),
    )
    .await;
    token.assert_status(201);
    secrets.add("email OTP (API key)", token.str("secret"));

    // Session routes, by header and by cookie.
    for auth in [Auth::Session(&tara), Auth::Cookie(&tara)] {
        api.get("/me", auth).await.assert_status(200);
        api.get("/v1/account", auth).await.assert_status(200);
        api.get("/v1/account/sessions", auth).await.assert_status(200);
        api.get("/v1/account/sessions/current", auth).await.assert_status(200);
    }
    api.send(
        Method::PATCH,
        "/v1/account/sessions/current",
        Auth::Session(&tara),
        Some(&json!({})),
    )
    .await
    .assert_status(200);
    // Admin routes: list, server-created session, revoke one, revoke all.
    api.get("/v1/users/tara/sessions", Auth::Key).await.assert_status(200);
    let created = post(api, "/v1/users/tara/sessions", Auth::Key, json!({})).await;
    created.assert_status(201);
    let server = created.str("secret").to_owned();
    secrets.credential("server-created session", &server);
    api.get("/me", Auth::Session(&server)).await.assert_status(200);
    api.send(
        Method::DELETE,
        &format!("/v1/users/tara/sessions/{}", created.str("$id")),
        Auth::Key,
        None,
    )
    .await
    .assert_status(204);
    // Logout: the current session, then all of another user's.
    api.logout(&tara).await.assert_status(204);
    api.send(
        Method::DELETE,
        "/v1/account/sessions",
        Auth::Cookie(&uma),
        Some(&json!({})),
    )
    .await
    .assert_status(204);
    api.get("/me", Auth::Session(&uma))
        .await
        .assert_error(401, "user_unauthorized");
    api.send(Method::DELETE, "/v1/users/walt/sessions", Auth::Key, None)
        .await
        .assert_status(204);
}

/// The log without each line's leading timestamp (its microseconds are a
/// run of six digits that a code could match by chance).
fn without_timestamps(log: &str) -> String {
    log.lines()
        .map(|line| {
            let plain = strip_ansi(line);
            match plain.split_once(' ') {
                Some((first, rest)) if first.len() >= 20 && first.starts_with("20") && first.ends_with('Z') => {
                    rest.to_owned()
                }
                _ => plain,
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ ... final byte in @..~
            for next in chars.by_ref() {
                if ('@'..='~').contains(&next) && next != '[' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Where `needle` occurs in `haystack`; a short all-digit needle (an OTP)
/// only as a whole run of digits.
fn occurrences<'a>(haystack: &'a str, needle: &str) -> Vec<&'a str> {
    let digits = needle.len() <= 8 && needle.bytes().all(|b| b.is_ascii_digit());
    haystack
        .match_indices(needle)
        .filter(|(at, _)| {
            if !digits {
                return true;
            }
            let bytes = haystack.as_bytes();
            let before = at.checked_sub(1).map(|i| bytes[i]);
            let after = bytes.get(at + needle.len()).copied();
            !before.is_some_and(|b| b.is_ascii_digit()) && !after.is_some_and(|b| b.is_ascii_digit())
        })
        .map(|(at, _)| {
            let line_start = haystack[..at].rfind('\n').map_or(0, |i| i + 1);
            let line_end = haystack[at..].find('\n').map_or(haystack.len(), |i| at + i);
            &haystack[line_start..line_end]
        })
        .collect()
}

async fn run(kind: AppKind) {
    let smtp = SmtpSink::start().await;
    let sms = SmsSink::start().await;
    let log_path: PathBuf = std::env::temp_dir().join(format!(
        "tokengate-log-hygiene-{kind:?}-{}.log",
        tokengate_testing::random_id()
    ));
    let mut spec = AppSpec::new(kind, Backend::Redis(redis_url().await)).delivering_to(&smtp, &sms);
    spec.extra_env.extend([
        ("RUST_LOG".into(), "trace".into()),
        ("TOKENGATE_PUBLIC_URL".into(), "https://app.example.test".into()),
        // The flows name their users (ids in the log are not secrets).
        ("TOKENGATE_CLIENT_CHOSEN_IDS".into(), "1".into()),
    ]);
    spec.log_file = Some(log_path.clone());
    let mut secrets = Secrets::default();
    secrets.add("API key", &spec.api_key);
    secrets.add("API key prefix", &spec.api_key[..16]);
    secrets.add("server secret", &spec.secret_hex);
    secrets.add("server secret, upper case", spec.secret_hex.to_ascii_uppercase());
    secrets.add("server secret prefix", &spec.secret_hex[..16]);

    let mut app = RunningApp::start(spec).await;
    let api = Api::new(&app);
    scenario(&api, &smtp, &sms, &mut secrets).await;
    app.stop();

    let raw = std::fs::read_to_string(&log_path).expect("the captured log");
    let _ = std::fs::remove_file(&log_path);
    // The capture really is a TRACE log of the scenario.
    assert!(
        raw.lines().count() >= 20,
        "{kind:?}: only {} log lines",
        raw.lines().count()
    );
    assert!(raw.contains("TRACE"), "{kind:?}: no TRACE events in the log");
    assert!(raw.contains("tokengate"), "{kind:?}: no tokengate events in the log");
    let log = without_timestamps(&raw);
    let leaks: Vec<String> = secrets
        .0
        .iter()
        .flat_map(|(what, value)| {
            occurrences(&log, value)
                .into_iter()
                .map(move |line| format!("{what}: {}", line.chars().take(400).collect::<String>()))
        })
        .collect();
    assert!(
        leaks.is_empty(),
        "{kind:?}: {} secrets appear in the TRACE log:\n{}",
        leaks.len(),
        leaks.join("\n")
    );
}

#[tokio::test]
async fn axum_trace_log_holds_no_secret() {
    run(AppKind::Axum).await;
}

#[tokio::test]
async fn actix_trace_log_holds_no_secret() {
    run(AppKind::Actix).await;
}

#[test]
fn otp_search_matches_whole_digit_runs_only() {
    assert_eq!(occurrences("a 123456 b", "123456").len(), 1);
    assert!(occurrences("a 1234567 b", "123456").is_empty());
    assert!(occurrences("port 91234569", "123456").is_empty());
    assert_eq!(occurrences("x\ncode=123456\ny", "123456"), vec!["code=123456"]);
    assert_eq!(occurrences("abcdef0123456789", "cdef01").len(), 1);
    assert_eq!(
        without_timestamps("2026-05-20T10:11:12.123456Z  INFO x: y\nplain"),
        " INFO x: y\nplain"
    );
    assert_eq!(strip_ansi("\u{1b}[2m2026\u{1b}[0m a"), "2026 a");
}
