//! Magic links into apps and loopback origins (the public
//! `RedirectPolicy`), and the example apps' CORS for their own routes.

use super::*;

// --- 4. Magic links into apps and loopback origins ---------------------------

#[test]
fn loopback_and_scheme_config_lookalikes() {
    for entry in [
        "http://localhost.evil.test:3000",
        "http://localhost.:3000",
        "http://127.0.0.1.nip.io:3000",
        "http://127.0.0.2:3000",
        "http://0.0.0.0:3000",
        "http://[::1]:3000",
        "http://LOCALHOST:3000",
        "http://localhost@evil.test",
        "http://evil.test#localhost",
        "http://2130706433:3000",
    ] {
        assert!(
            RedirectPolicy::new("https://example.com", &[entry]).is_err(),
            "{entry:?} accepted as loopback beside https"
        );
    }
    let base = || RedirectPolicy::new("https://example.com", &[]).expect("policy");
    for scheme in [
        " javascript",
        "javascript ",
        "JAVASCRIPT",
        "javascript:",
        "java script",
        "java\u{0}script",
        "data,myapp",
        "myapp,javascript",
        "ws",
        "wss",
        "ftp",
        "view-source",
        "filesystem",
    ] {
        assert!(base().allow_schemes(&[scheme]).is_err(), "{scheme:?}");
    }
}

#[test]
fn app_links_and_loopback_targets_resist_bypasses() {
    let policy = RedirectPolicy::new("https://example.com", &["http://localhost:3000"])
        .and_then(|p| p.allow_schemes(&["myapp"]))
        .expect("policy");
    for bad in [
        "http://localhost:3000.evil.test/",
        "http://localhost:3000@evil.test/",
        "http://evil.test@localhost:3000/",
        "http://localhost:3000\\@evil.test/",
        "http://localhost:30000/",
        "http://localhost:3000:3000/",
        "http://localhost/",
        "http://localhost:80/",
        "http://127.0.0.1:3000/",
        "http://localhost.:3000/",
        "http://0:3000/",
        "http://localhost:3000//evil.test",
        "myapp://auth/cb?x&USERID=a",
        "myapp://auth/cb?x=1&%53ECRET=a",
        "myapp://auth/cb?x=1&%2573ecret=a&secret=b",
        "myapp://auth/cb#/route?userId=a",
        "myapp://auth/cb?x=1&amp;secret=a",
        "myapp://auth/cb?project=other",
        "myapp://auth/cb?expire=1",
        "myapp://auth/cb?%09userId=a",
        "myapp://auth/cb??userId=a",
        "myapp://auth/cb?x=1#a?b=1&secret=2",
        "myapp://auth@/",
        "myapp://a%40b/",
        "myapp://auth/cb\u{0}",
        "myapp://auth/cb\u{7f}",
        "myapp://auth/\u{202e}bc",
        "myapp:\\\\auth",
        "myapp:/\\auth",
        "myapp://",
        "myapp://.",
    ] {
        assert!(policy.check(bad).is_err(), "{bad:?} must be rejected");
    }
    // The link's pair always lands in the query, before any fragment, once.
    for (url, expected) in [
        ("myapp://auth/cb?x=1#frag", "myapp://auth/cb?x=1&userId=u&secret=s#frag"),
        ("myapp://auth/cb#", "myapp://auth/cb?userId=u&secret=s#"),
        ("myapp://auth/cb?", "myapp://auth/cb?userId=u&secret=s"),
        ("myapp://auth/cb?x=1&", "myapp://auth/cb?x=1&userId=u&secret=s"),
        ("myapp://auth#a?b", "myapp://auth?userId=u&secret=s#a?b"),
        ("http://localhost:3000#x", "http://localhost:3000?userId=u&secret=s#x"),
    ] {
        assert!(policy.check(url).is_ok(), "{url:?}");
        assert_eq!(
            policy.link(Some(url), &[("userId", "u"), ("secret", "s")]).unwrap(),
            expected
        );
    }
    // Values cannot add parameters or a fragment.
    let link = policy
        .link(
            Some("myapp://auth/cb"),
            &[("userId", "a&secret=evil#x"), ("secret", "s?userId=b")],
        )
        .unwrap();
    assert_eq!(link.matches('&').count(), 1, "{link}");
    assert!(!link.contains('#') && link.matches('?').count() == 1, "{link}");
    assert_eq!(query_param(&link, "secret").as_deref(), Some("s?userId=b"));
}

// --- 5. The example apps' CORS for their own routes ----------------------------

/// The app's CorsLayer / actix-cors grant the listed origins only, never
/// reflect an origin (also with no list), never mirror asked headers or
/// methods, and vary on Origin.
async fn app_routes_cors(kind: AppKind) {
    // No list: no origin at all, the public URL's and `null` included.
    let mut spec = AppSpec::new(kind, Backend::Memory);
    spec.extra_env.push(("TOKENGATE_PUBLIC_URL".into(), HTTPS_PAGE.into()));
    let app = RunningApp::start(spec).await;
    let api = Api::new(&app);
    let (credential, _) = api.login("pia").await;
    for origin in [EVIL, "null", HTTPS_PAGE, app.origin.as_str(), CROSS_SITE] {
        let pre = api
            .send_with(
                Method::OPTIONS,
                "/me",
                Auth::None,
                None,
                &preflight(origin, "GET", "x-appwrite-session"),
            )
            .await;
        assert_no_app_acao(&pre, &format!("{kind:?}, no list, preflight from {origin}"));
        let me = api
            .send_with(
                Method::GET,
                "/me",
                Auth::Session(&credential),
                None,
                &[("origin", origin)],
            )
            .await;
        me.assert_status(200);
        assert_no_app_acao(&me, &format!("{kind:?}, no list, /me from {origin}"));
        let page = api
            .send_with(Method::GET, "/", Auth::None, None, &[("origin", origin)])
            .await;
        assert_no_app_acao(&page, &format!("{kind:?}, no list, / from {origin}"));
    }
    drop(app);

    let app = start(kind, &[]).await;
    let api = Api::new(&app);
    let (credential, _) = api.login("pia").await;
    for origin in [
        EVIL,
        "null",
        "http://localhost:5173.evil.test",
        "http://LOCALHOST:5173",
        "http://localhost:5173/",
        "http://localhost:05173",
        "https://app.example.test:443",
        "https://app.example.test.",
    ] {
        let pre = api
            .send_with(
                Method::OPTIONS,
                "/me",
                Auth::None,
                None,
                &preflight(origin, "GET", "x-appwrite-session"),
            )
            .await;
        assert_no_app_acao(&pre, &format!("{kind:?}, preflight from {origin}"));
        let me = api
            .send_with(
                Method::GET,
                "/me",
                Auth::Session(&credential),
                None,
                &[("origin", origin)],
            )
            .await;
        assert_no_app_acao(&me, &format!("{kind:?}, /me from {origin}"));
    }
    // An allowed origin asking for more: never mirrored.
    let pre = api
        .send_with(
            Method::OPTIONS,
            "/me",
            Auth::None,
            None,
            &preflight(CROSS_SITE, "DELETE", "authorization,x-evil,x-appwrite-key"),
        )
        .await;
    let headers = pre
        .header("access-control-allow-headers")
        .unwrap_or_default()
        .to_ascii_lowercase();
    for name in ["authorization", "x-evil", "x-appwrite-key", "*"] {
        assert!(
            !headers.split(',').any(|h| h.trim() == name),
            "{kind:?}: {name} granted in {headers:?}"
        );
    }
    let methods = pre.header("access-control-allow-methods").unwrap_or_default();
    assert!(
        !methods.contains("DELETE") && !methods.contains('*'),
        "{kind:?}: methods {methods:?}"
    );
    assert_ne!(pre.header("access-control-allow-origin"), Some("*"));
    let me = api
        .send_with(
            Method::GET,
            "/me",
            Auth::Session(&credential),
            None,
            &[("origin", CROSS_SITE)],
        )
        .await;
    assert_eq!(me.header("access-control-allow-origin"), Some(CROSS_SITE));
    assert_varies_on_origin(&me, &format!("{kind:?}: /me, allowed"));
    assert!(
        me.header("access-control-expose-headers")
            .is_none_or(|h| !h.contains('*')),
        "{kind:?}"
    );
}

#[tokio::test]
async fn app_routes_cors_axum() {
    app_routes_cors(AppKind::Axum).await;
}

#[tokio::test]
async fn app_routes_cors_actix() {
    app_routes_cors(AppKind::Actix).await;
}
