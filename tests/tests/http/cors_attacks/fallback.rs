//! `X-Fallback-Cookies`: who gets it, what it authenticates, whether a
//! planted cookie wins, whether it is cached or logged.

use super::*;

// --- 2. X-Fallback-Cookies -----------------------------------------------------

/// Signs `user` in from the allowed cross-site page; answers the credential
/// and the fallback header's value.
async fn cross_site_login(api: &Api, user: &str) -> (String, String) {
    let secret = api.token_secret(user).await;
    let reply = api
        .send_with(
            Method::POST,
            EXCHANGE,
            Auth::None,
            Some(&json!({ "userId": user, "secret": secret })),
            &[("origin", CROSS_SITE)],
        )
        .await;
    reply.assert_status(201);
    let credential = reply.cookie_value(&api.cookie_name).expect("cookie");
    let fallback = reply.header("x-fallback-cookies").expect("fallback").to_owned();
    (credential, fallback)
}

/// No foreign origin ever gets the credential in `X-Fallback-Cookies`: not
/// through an API-key exchange, a server-created session, a forged `Host`,
/// nor on a refusal.
#[tokio::test]
async fn fallback_cookies_reach_allowed_origins_only() {
    let app = start(AppKind::Axum, &[]).await;
    let api = Api::new(&app);
    let port = app.origin.rsplit(':').next().unwrap().to_owned();
    // API-key exchange from a foreign page (a server proxying with its key):
    // the body has the secret for the key holder, no header or CORS for the page.
    for origin in [EVIL, "null", "http://localhost:5173.evil.test"] {
        let secret = api.token_secret("fay").await;
        let reply = api
            .send_with(
                Method::POST,
                EXCHANGE,
                Auth::Key,
                Some(&json!({ "userId": "fay", "secret": secret })),
                &[("origin", origin)],
            )
            .await;
        reply.assert_status(201);
        assert_no_acao(&reply, origin);
        // And with a Host on another site than the origin.
        let secret = api.token_secret("fay").await;
        let host = format!("api.other.test:{port}");
        let reply = api
            .send_with(
                Method::POST,
                EXCHANGE,
                Auth::None,
                Some(&json!({ "userId": "fay", "secret": secret })),
                &[("origin", origin), ("host", &host)],
            )
            .await;
        assert_eq!(reply.status, 403, "{origin}: {}", reply.text);
        assert_no_acao(&reply, origin);
    }
    // Server-created sessions never carry it, even asked from an allowed page.
    let reply = api
        .send_with(
            Method::POST,
            "/v1/users/fay/sessions",
            Auth::Key,
            Some(&json!({})),
            &[("origin", CROSS_SITE)],
        )
        .await;
    reply.assert_status(201);
    assert!(reply.header("x-fallback-cookies").is_none());
    // A refused exchange from the allowed page: no credential anywhere.
    let refused = api
        .send_with(
            Method::POST,
            EXCHANGE,
            Auth::None,
            Some(&json!({ "userId": "fay", "secret": "0000000000000000" })),
            &[("origin", CROSS_SITE)],
        )
        .await;
    refused.assert_error(401, "user_invalid_token");
    assert!(refused.header("x-fallback-cookies").is_none());
    assert!(refused.set_cookies().is_empty());
    // The session of an allowed page is read back only by requests that
    // carry it; a foreign origin sending it learns nothing through CORS.
    let (_, fallback) = cross_site_login(&api, "gus").await;
    let foreign = api
        .send_with(
            Method::GET,
            "/v1/account",
            Auth::None,
            None,
            &[("origin", EVIL), ("x-fallback-cookies", &fallback)],
        )
        .await;
    assert_no_acao(&foreign, "foreign origin with a fallback credential");
    // Extending the session from the allowed page does not re-send it.
    let extended = api
        .send_with(
            Method::PATCH,
            "/v1/account/sessions/current",
            Auth::None,
            Some(&json!({})),
            &[("origin", CROSS_SITE), ("x-fallback-cookies", &fallback)],
        )
        .await;
    extended.assert_status(200);
    assert!(extended.header("x-fallback-cookies").is_none());
}

/// Shapes of `X-Fallback-Cookies` that are not exactly the session cookie's
/// entry authenticate nobody, and nothing crashes the app.
#[tokio::test]
async fn fallback_json_tricks() {
    let mut app = start(AppKind::Actix, &[]).await;
    let api = Api::new(&app);
    let name = api.cookie_name.clone();
    let (credential, fallback) = cross_site_login(&api, "hal").await;
    let escaped_name: String = name.chars().map(|c| format!("\\u{:04x}", c as u32)).collect();
    let escaped_value: String = credential.chars().map(|c| format!("\\u{:04x}", c as u32)).collect();
    let junk: String = (0..400).map(|i| format!(r#""k{i}":"{}","#, "v".repeat(16))).collect();
    for (header, what) in [
        (
            format!(r#"{{"{}":"{credential}"}}"#, name.to_uppercase()),
            "upper-case name",
        ),
        (format!(r#"{{"{name} ":"{credential}"}}"#), "name with a space"),
        (format!(r#"{{"{escaped_name}":"{credential}"}}"#), "escaped name"),
        (format!(r#"{{"{name}":"{escaped_value}"}}"#), "escaped value"),
        (format!(r#"{{"{name}":{{"{name}":"{credential}"}}}}"#), "nested"),
        (format!(r#"[{{"{name}":"{credential}"}}]"#), "array"),
        (format!(r#""{credential}""#), "bare string"),
        (credential.clone(), "bare credential"),
        (format!(r#"{{"{name}":["{credential}"]}}"#), "value in an array"),
        (format!(r#"{{"{name}":" {credential}"}}"#), "padded value"),
        (format!(r#"{{"{name}":"{credential}x"}}"#), "extended value"),
        (format!(r#"{{"{name}":"{credential}"}} trailing"#), "trailing text"),
        (format!(r#"{{"{name}=x":"{credential}"}}"#), "name=x"),
        (format!("{name}={credential}"), "cookie syntax"),
        (format!(r#"{{{junk}"{name}":"{credential}x"}}"#), "large object"),
    ] {
        let reply = api
            .send_with(
                Method::GET,
                "/v1/account",
                Auth::None,
                None,
                &[("x-fallback-cookies", &header)],
            )
            .await;
        assert_eq!(reply.status, 401, "{what}: {}", reply.text);
        let me = api
            .send_with(Method::GET, "/me", Auth::None, None, &[("x-fallback-cookies", &header)])
            .await;
        assert_eq!(me.status, 401, "{what}, /me: {}", me.text);
    }
    // Deep nesting and a header near the server's limit: a 4xx, no crash.
    let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let huge = format!(r#"{{"x":"{}"}}"#, "a".repeat(60_000));
    for header in [deep, huge] {
        let reply = api
            .send_with(
                Method::GET,
                "/v1/account",
                Auth::None,
                None,
                &[("x-fallback-cookies", &header)],
            )
            .await;
        assert!((400..500).contains(&reply.status), "{}: {}", reply.status, reply.text);
    }
    assert!(!app.has_exited(), "the app died");
    // The genuine header still works, and only for hal.
    let ok = api
        .send_with(
            Method::GET,
            "/v1/account",
            Auth::None,
            None,
            &[("x-fallback-cookies", &fallback)],
        )
        .await;
    ok.assert_status(200);
    assert_eq!(ok.json["$id"], "hal");
    // A forged session header beats a genuine fallback: 401, not hal.
    let forged = api
        .send_with(
            Method::GET,
            "/v1/account",
            Auth::Session("hal.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
            None,
            &[("x-fallback-cookies", &fallback)],
        )
        .await;
    assert_eq!(forged.status, 401, "{}", forged.text);
}

/// Two credentials from two places of one browser (a cookie planted by a
/// sibling subdomain, the page's own fallback header) are ambiguous, like
/// two cookies: the attacker must not choose the victim's session.
#[tokio::test]
async fn planted_cookie_and_disagreeing_fallback_are_ambiguous() {
    let app = start(AppKind::Axum, &[]).await;
    let api = Api::new(&app);
    let (attacker, _) = cross_site_login(&api, "mallory").await;
    let (_, victim_fallback) = cross_site_login(&api, "victim").await;
    let reply = api
        .send_with(
            Method::GET,
            "/v1/account",
            Auth::Cookie(&attacker),
            None,
            &[("origin", CROSS_SITE), ("x-fallback-cookies", &victim_fallback)],
        )
        .await;
    assert_ne!(reply.json["$id"], "mallory", "the planted cookie chose the session");
}

/// Two different session cookies (one planted) next to the page's genuine
/// fallback: ambiguous, never the planted session.
#[tokio::test]
async fn two_cookies_and_a_fallback_never_pick_the_planted_one() {
    let app = start(AppKind::Actix, &[]).await;
    let api = Api::new(&app);
    let (attacker, _) = cross_site_login(&api, "mallory").await;
    let (victim, victim_fallback) = cross_site_login(&api, "victim").await;
    let name = api.cookie_name.clone();
    for cookies in [
        format!("{name}={attacker}; {name}={victim}"),
        format!("{name}={victim}; {name}={attacker}"),
        format!("{name}=\"{attacker}\"; {name}={victim}"),
    ] {
        let reply = api
            .send_with(
                Method::GET,
                "/v1/account",
                Auth::None,
                None,
                &[
                    ("origin", CROSS_SITE),
                    ("cookie", &cookies),
                    ("x-fallback-cookies", &victim_fallback),
                ],
            )
            .await;
        assert_ne!(reply.json["$id"], "mallory", "{cookies}");
        let me = api
            .send_with(
                Method::GET,
                "/me",
                Auth::None,
                None,
                &[("cookie", &cookies), ("x-fallback-cookies", &victim_fallback)],
            )
            .await;
        assert_ne!(me.json["userId"], "mallory", "{cookies}");
    }
    // The session header (a non-browser client's own) beats a planted cookie.
    let reply = api
        .send_with(
            Method::GET,
            "/v1/account",
            Auth::Session(&victim),
            None,
            &[("cookie", &format!("{name}={attacker}"))],
        )
        .await;
    assert_eq!(reply.json["$id"], "victim");
}

/// Responses that carry a user's data or credential must not be stored by
/// a shared cache: they vary on `Cookie`, `X-Appwrite-Session` and
/// `X-Fallback-Cookies`, while `Vary` names only `Origin`.
#[tokio::test]
async fn credentialed_responses_are_not_cacheable() {
    let app = start(AppKind::Axum, &[]).await;
    let api = Api::new(&app);
    let (_, fallback) = cross_site_login(&api, "cam").await;
    let by_fallback = [("origin", CROSS_SITE), ("x-fallback-cookies", fallback.as_str())];
    let mut replies = Vec::new();
    for path in ["/v1/account", "/v1/account/sessions", "/v1/account/sessions/current"] {
        replies.push((
            path,
            api.send_with(Method::GET, path, Auth::None, None, &by_fallback).await,
        ));
    }
    replies.push((
        "/v1/users/cam/sessions",
        api.get("/v1/users/cam/sessions", Auth::Key).await,
    ));
    let secret = api.token_secret("dee").await;
    replies.push((EXCHANGE, api.exchange("dee", &secret, Auth::Key).await));
    for (path, reply) in replies {
        let cache = reply.header("cache-control").unwrap_or_default().to_ascii_lowercase();
        assert!(
            cache.contains("no-store") || cache.contains("private"),
            "{path}: Cache-Control {cache:?}, Vary {:?}",
            reply.header("vary")
        );
    }
}

/// The credential in `X-Fallback-Cookies` (both ways), a credential-like
/// value of an unknown body key and a credential under a wrong fallback
/// name never reach a TRACE log.
async fn fallback_never_logged(kind: AppKind) {
    let log_path = std::env::temp_dir().join(format!(
        "tokengate-cors-attacks-{kind:?}-{}.log",
        tokengate_testing::random_id()
    ));
    let mut spec = AppSpec::new(kind, Backend::Memory);
    spec.extra_env.extend([
        ("RUST_LOG".into(), "trace".into()),
        ("TOKENGATE_ALLOWED_ORIGINS".into(), CROSS_SITE.into()),
    ]);
    spec.log_file = Some(log_path.clone());
    let mut app = RunningApp::start(spec).await;
    let api = Api::new(&app);
    let (credential, fallback) = cross_site_login(&api, "ivy").await;
    let by_fallback = [("origin", CROSS_SITE), ("x-fallback-cookies", fallback.as_str())];
    for path in ["/v1/account", "/v1/account/sessions", "/me"] {
        api.send_with(Method::GET, path, Auth::None, None, &by_fallback)
            .await
            .assert_status(200);
    }
    let marker = format!("unknown-key-value-{}", tokengate_testing::random_id());
    let secret = api.token_secret("ivy").await;
    let body = json!({ "userId": "ivy", "secret": secret, "sessionSecret": marker });
    api.send_with(Method::POST, EXCHANGE, Auth::None, Some(&body), &by_fallback)
        .await
        .assert_error(401, "user_session_already_exists");
    let wrong_name = format!(r#"{{"a_session_other":"{credential}"}}"#);
    api.send_with(
        Method::GET,
        "/v1/account",
        Auth::None,
        None,
        &[("x-fallback-cookies", &wrong_name)],
    )
    .await
    .assert_status(401);
    api.send_with(
        Method::DELETE,
        "/v1/account/sessions/current",
        Auth::None,
        None,
        &by_fallback,
    )
    .await
    .assert_status(204);
    app.stop();
    let log = std::fs::read_to_string(&log_path).expect("log");
    let _ = std::fs::remove_file(&log_path);
    assert!(log.contains("TRACE"), "{kind:?}: not a TRACE log");
    let secret_part = credential.rsplit_once('.').expect("userId.secret").1;
    for (what, needle) in [
        ("credential secret", secret_part),
        ("credential secret prefix", &secret_part[..16]),
        ("custom token", &secret),
        ("unknown key's value", &marker),
    ] {
        let line = log.lines().find(|l| l.contains(needle));
        assert!(line.is_none(), "{kind:?}: {what} in the log: {line:?}");
    }
}

#[tokio::test]
async fn fallback_never_logged_axum() {
    fallback_never_logged(AppKind::Axum).await;
}

#[tokio::test]
async fn fallback_never_logged_actix() {
    fallback_never_logged(AppKind::Actix).await;
}
