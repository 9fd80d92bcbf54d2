//! Unknown body keys, `user_session_already_exists`, the users routes' 401
//! and 404s, the phone rule: no stand-in keys, no oracle, no state change.

use super::*;

// --- 3. Unknown keys, the new refusals and 404s ----------------------------------

/// Keys that only look like a known one are ignored, never read; a key
/// known to another route changes nothing here; every refusal leaves the
/// token redeemable.
#[tokio::test]
async fn unknown_keys_cannot_stand_in_for_known_ones() {
    let app = start(AppKind::Axum, &[]).await;
    let api = Api::new(&app);
    let secret = api.token_secret("kai").await;
    let bodies = [
        format!(r#"{{"userId":"kai","Secret":"{secret}"}}"#),
        format!(r#"{{"userId":"kai","SECRET":"{secret}"}}"#),
        format!(r#"{{"userId":"kai","secret ":"{secret}"}}"#),
        format!(r#"{{"userId":"kai","secret\u0000":"{secret}"}}"#),
        format!(r#"{{"userId":"kai","\u0455ecret":"{secret}"}}"#),
        format!(r#"{{"userId":"kai","ｓｅｃｒｅｔ":"{secret}"}}"#),
        format!(r#"{{"UserId":"kai","secret":"{secret}"}}"#),
        format!(r#"{{"user_id":"kai","secret":"{secret}"}}"#),
        format!(r#"{{"userId":"kai","__proto__":{{"secret":"{secret}"}}}}"#),
        format!(r#"{{"userId":"kai","constructor":{{"prototype":{{"secret":"{secret}"}}}}}}"#),
        format!(r#"{{"userId":"kai","params":{{"secret":"{secret}"}}}}"#),
        format!(r#"{{"userId":"kai","secret":"wrong","\u0073ecret":"{secret}"}}"#),
        format!(r#"{{"userId":"kai","\u0073ecret":"{secret}","secret":"wrong"}}"#),
        format!(r#"{{"userId":"kai","secret":["{secret}"]}}"#),
        r#"{"userId":"kai","secret":{"$ne":""}}"#.to_owned(),
        format!(r#"{{"userId":["kai"],"secret":"{secret}"}}"#),
        format!(r#"[{{"userId":"kai","secret":"{secret}"}}]"#),
    ];
    for body in &bodies {
        let reply = api
            .send_typed(EXCHANGE, Auth::None, Some("application/json"), body.clone())
            .await;
        assert_eq!(reply.status, 400, "{body}: {}", reply.text);
        assert_eq!(reply.json["type"], "general_argument_invalid", "{body}");
        assert!(reply.set_cookies().is_empty(), "{body}");
    }
    // A key known to the token route does nothing to the exchange's session.
    let baseline = api.exchange("kai", &secret, Auth::Key).await;
    baseline.assert_status(201);
    let secret = api.token_secret("kai").await;
    let body = json!({ "userId": "kai", "secret": secret, "expire": 60, "length": 128, "provider": "oauth2",
                       "factors": ["totp"], "current": false, "$id": "chosen" });
    let tricked = api.send(Method::POST, EXCHANGE, Auth::Key, Some(&body)).await;
    tricked.assert_status(201);
    for field in ["provider", "factors"] {
        assert_eq!(tricked.json[field], baseline.json[field], "{field}");
    }
    assert_ne!(tricked.str("$id"), "chosen");
    let (a, b) = (baseline.str("expire"), tricked.str("expire"));
    let a = chrono::DateTime::parse_from_rfc3339(a).expect("date");
    let b = chrono::DateTime::parse_from_rfc3339(b).expect("date");
    assert!((b - a).num_seconds().abs() < 60, "expire {a} vs {b}");
    // The user in the path wins over one in the body.
    let token = api
        .create_token("kai", json!({ "userId": "mallory", "length": 8 }))
        .await;
    token.assert_status(201);
    assert_eq!(token.str("userId"), "kai");
    // A custom token's length and expire are not taken by the email route.
    let smtp = SmtpSink::start().await;
    let sms = SmsSink::start().await;
    drop(app);
    let mut spec = AppSpec::new(AppKind::Actix, Backend::Memory).delivering_to(&smtp, &sms);
    spec.extra_env.push(("TOKENGATE_CLIENT_CHOSEN_IDS".into(), "1".into()));
    let app = RunningApp::start(spec).await;
    let api = Api::new(&app);
    let reply = api
        .send(
            Method::POST,
            "/v1/account/tokens/email",
            Auth::Key,
            Some(&json!({ "userId": "lu", "email": "lu@example.test", "length": 128, "expire": 31_536_000 })),
        )
        .await;
    reply.assert_status(201);
    assert_eq!(reply.str("secret").len(), 6, "{}", reply.text);
    let expire = chrono::DateTime::parse_from_rfc3339(reply.str("expire")).expect("date");
    assert!(
        expire < chrono::Utc::now() + chrono::Duration::days(1),
        "email OTP expire taken from the body: {expire}"
    );
    // A look-alike of `url` is ignored: the link goes to the public URL.
    for (i, key) in ["URL", "Url", "url ", "redirect", "url\u{200b}"]
        .into_iter()
        .enumerate()
    {
        let email = format!("m{i}@example.test");
        let mut body = json!({ "userId": "unique()", "email": email });
        body[key] = Value::from("https://evil.test/steal");
        api.send(Method::POST, "/v1/account/tokens/magic-url", Auth::None, Some(&body))
            .await
            .assert_status(201);
        let mail = smtp.wait_for(&email, 1).await;
        assert!(!mail.body.contains("evil.test"), "{key:?}: {}", mail.body);
    }
}

/// Without the API key, the users routes answer the same for known and
/// unknown users, for guests, wrong keys and sessions alike, and change
/// nothing; with the key, a 404 creates no user.
#[tokio::test]
async fn users_routes_enumerate_nothing_and_change_nothing() {
    let app = start(AppKind::Actix, &[]).await;
    let api = Api::new(&app);
    let (credential, _) = api.login("known").await;
    let mut answers: Vec<(String, String)> = Vec::new();
    for user in ["known", "nobody-here"] {
        for auth in [
            Auth::None,
            Auth::WrongKey,
            Auth::Session(&credential),
            Auth::Cookie(&credential),
        ] {
            for (method, path, body) in [
                (Method::GET, format!("/v1/users/{user}/sessions"), None),
                (Method::POST, format!("/v1/users/{user}/sessions"), Some(json!({}))),
                (Method::DELETE, format!("/v1/users/{user}/sessions"), None),
                (Method::DELETE, format!("/v1/users/{user}/sessions/x"), None),
                (Method::GET, format!("/v1/users/{user}"), None),
                (Method::DELETE, format!("/v1/users/{user}"), None),
                (Method::POST, format!("/v1/users/{user}/tokens"), Some(json!({}))),
            ] {
                let reply = api.send(method.clone(), &path, auth, body.as_ref()).await;
                reply.assert_error(401, "general_unauthorized_scope");
                let mut json = reply.json.clone();
                json["version"] = Value::Null;
                answers.push((format!("{method} {path} {auth:?}"), json.to_string()));
            }
        }
    }
    let first = &answers[0].1;
    for (what, answer) in &answers {
        assert_eq!(answer, first, "{what}");
    }
    // Nothing changed: the known user still has exactly one session, which works.
    let list = api.get("/v1/users/known/sessions", Auth::Key).await;
    list.assert_status(200);
    assert_eq!(list.json["total"], 1, "{}", list.text);
    api.get("/v1/account", Auth::Session(&credential))
        .await
        .assert_status(200);
    // With the key: 404 for an unknown user, and no user appears.
    api.get("/v1/users/nobody-here/sessions", Auth::Key)
        .await
        .assert_error(404, "user_not_found");
    api.send(
        Method::POST,
        "/v1/users/nobody-here/sessions",
        Auth::Key,
        Some(&json!({})),
    )
    .await
    .assert_error(404, "user_not_found");
    api.get("/v1/users/nobody-here", Auth::Key)
        .await
        .assert_error(404, "user_not_found");
    api.get("/v1/users/nobody-here/sessions", Auth::Key)
        .await
        .assert_error(404, "user_not_found");
}

/// `user_session_already_exists` leaks nothing and changes nothing: it is
/// answered whatever the token, the token stays redeemable, and only a
/// valid session counts (a forged or other project's credential does not
/// block a sign-in).
#[tokio::test]
async fn session_already_exists_is_no_oracle() {
    let app = start(AppKind::Axum, &[]).await;
    let api = Api::new(&app);
    let (credential, _) = api.login("nia").await;
    let secret = api.token_secret("oto").await;
    for attempt in [secret.as_str(), "wrong-secret-000", ""] {
        let body = json!({ "userId": "oto", "secret": attempt });
        let reply = api
            .send(Method::POST, EXCHANGE, Auth::Session(&credential), Some(&body))
            .await;
        if attempt.is_empty() {
            assert_eq!(reply.status / 100, 4, "{}", reply.text);
        } else {
            reply.assert_error(401, "user_session_already_exists");
        }
    }
    // More refused attempts than the lockout threshold: no failures counted.
    for _ in 0..12 {
        let body = json!({ "userId": "oto", "secret": "wrong-secret-000" });
        api.send(Method::POST, EXCHANGE, Auth::Cookie(&credential), Some(&body))
            .await
            .assert_error(401, "user_session_already_exists");
    }
    api.exchange("oto", &secret, Auth::None).await.assert_status(201);
    // A forged credential does not count as signed in.
    let secret = api.token_secret("oto").await;
    let body = json!({ "userId": "oto", "secret": secret });
    api.send(
        Method::POST,
        EXCHANGE,
        Auth::Session("oto.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        Some(&body),
    )
    .await
    .assert_status(201);
}

/// Phone numbers: nothing around the digits, no other digits.
#[tokio::test]
async fn phone_rule_is_strict() {
    let app = start(AppKind::Actix, &[]).await;
    let api = Api::new(&app);
    for phone in [
        " +14155550123",
        "+14155550123 ",
        "+14155550123\n",
        "+1415555012３",
        "+1 4155550123",
        "++14155550123",
        "+0014155550123",
        "+123456",
        "+1234567890123456",
        "14155550123",
        "+1415555O123",
    ] {
        let body = json!({ "userId": "unique()", "phone": phone });
        api.send(Method::POST, "/v1/account/tokens/phone", Auth::None, Some(&body))
            .await
            .assert_error(400, "general_argument_invalid");
    }
}

/// Unknown keys are logged at debug level: one anonymous request must not
/// write thousands of lines (log amplification).
#[tokio::test]
async fn unknown_keys_do_not_flood_the_debug_log() {
    let log_path = std::env::temp_dir().join(format!(
        "tokengate-cors-attacks-flood-{}.log",
        tokengate_testing::random_id()
    ));
    let mut spec = AppSpec::new(AppKind::Axum, Backend::Memory);
    spec.extra_env.push(("RUST_LOG".into(), "debug".into()));
    spec.log_file = Some(log_path.clone());
    let mut app = RunningApp::start(spec).await;
    let api = Api::new(&app);
    let keys: String = (0..7000).map(|i| format!(r#""{i}":0,"#)).collect();
    let body = format!(r#"{{{keys}"userId":"x","secret":"y"}}"#);
    let reply = api
        .send_typed(EXCHANGE, Auth::None, Some("application/json"), body)
        .await;
    assert_eq!(reply.status, 401, "{}", reply.text);
    app.stop();
    let log = std::fs::read_to_string(&log_path).expect("log");
    let _ = std::fs::remove_file(&log_path);
    let lines = log.lines().filter(|l| l.contains("unknown body parameter")).count();
    assert!(lines <= 16, "{lines} log lines for one request");
}
