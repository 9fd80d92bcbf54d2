//! One HTTP scenario suite, written once, run against both example apps
//! (axum and actix) over real TCP, on the memory store, on Redis and on a
//! real local Redis Cluster (3 primaries + 3 replicas, one per test binary;
//! after each cluster scenario no node may have answered `CROSSSLOT`).

use std::collections::HashSet;

use reqwest::Method;
use serde_json::json;
use tokengate_tests::app::{AppKind, AppSpec, Backend, RunningApp};
use tokengate_tests::client::{assert_date, assert_fields, assert_session_shape, Api, Auth, TOKEN_FIELDS};
use tokengate_tests::cluster::shared_cluster_async;
use tokengate_tests::redis_harness::redis_url;

async fn public_and_me(app: RunningApp) {
    let api = Api::new(&app);
    let public = api.get("/public", Auth::None).await;
    public.assert_status(200);

    api.get("/me", Auth::None).await.assert_error(401, "user_unauthorized");
    api.get("/me", Auth::Session("garbage"))
        .await
        .assert_error(401, "user_unauthorized");
    api.get(
        "/me",
        Auth::Session("alice.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
    )
    .await
    .assert_error(401, "user_unauthorized");
    api.get("/me", Auth::Cookie("garbage"))
        .await
        .assert_error(401, "user_unauthorized");

    let (credential, session) = api.login("alice").await;
    for auth in [Auth::Session(&credential), Auth::Cookie(&credential)] {
        let me = api.get("/me", auth).await;
        me.assert_status(200);
        assert_eq!(me.json["userId"], "alice");
        assert_eq!(me.json["sessionId"], session["$id"]);
        assert_eq!(me.json["provider"], "token");
    }
    // A credential whose secret is altered by one character is not a session.
    let mut forged = credential.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    api.get("/me", Auth::Session(&forged))
        .await
        .assert_error(401, "user_unauthorized");
    // The same secret under another user id is not a session either.
    let other_user = format!("bob.{}", credential.rsplit_once('.').unwrap().1);
    api.get("/me", Auth::Session(&other_user))
        .await
        .assert_error(401, "user_unauthorized");
}

async fn custom_token_and_exchange(app: RunningApp) {
    let api = Api::new(&app);
    let token = api.create_token("alice", json!({})).await;
    token.assert_status(201);
    assert_fields(&token.json, TOKEN_FIELDS);
    assert_eq!(token.json["userId"], "alice");
    assert_eq!(token.json["phrase"], "");
    assert_date(&token.json["$createdAt"]);
    assert_date(&token.json["expire"]);
    let secret = token.str("secret").to_owned();
    assert_eq!(secret.len(), 6, "default length 6");
    assert!(secret.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    let created = chrono::DateTime::parse_from_rfc3339(token.str("$createdAt")).unwrap();
    let expire = chrono::DateTime::parse_from_rfc3339(token.str("expire")).unwrap();
    assert_eq!((expire - created).num_seconds(), 900, "default expire 900 s");

    let long = api.create_token("alice", json!({ "length": 128, "expire": 60 })).await;
    long.assert_status(201);
    assert_eq!(long.str("secret").len(), 128);

    // Exchange without the API key: cookie set, secret hidden.
    let exchanged = api.exchange("alice", &secret, Auth::None).await;
    exchanged.assert_status(201);
    assert_session_shape(&exchanged.json);
    assert_eq!(exchanged.json["secret"], "", "secret only for API-key callers");
    assert_eq!(exchanged.json["current"], true);
    assert_eq!(exchanged.json["provider"], "token");
    assert_eq!(exchanged.json["factors"], json!(["token"]));
    assert_eq!(exchanged.json["userId"], "alice");
    let cookie = exchanged
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with(&format!("{}=", api.cookie_name)))
        .expect("session cookie set");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(attribute), "cookie has {attribute}: {cookie}");
    }
    assert!(
        !cookie.contains("Secure"),
        "insecure cookies configured for plain http: {cookie}"
    );
    let credential = exchanged.cookie_value(&api.cookie_name).unwrap();
    api.get("/me", Auth::Cookie(&credential)).await.assert_status(200);

    // One-time: the same secret again is the one invalid-token error.
    api.exchange("alice", &secret, Auth::None)
        .await
        .assert_error(401, "user_invalid_token");
    api.exchange("alice", "000000", Auth::None)
        .await
        .assert_error(401, "user_invalid_token");
    api.exchange("nobody", "000000", Auth::None)
        .await
        .assert_error(401, "user_invalid_token");

    // With the API key the body carries the credential, and it works.
    let (credential, _) = api.login("alice").await;
    api.get("/me", Auth::Session(&credential)).await.assert_status(200);
}

async fn token_argument_errors(app: RunningApp) {
    let api = Api::new(&app);
    let path = "/v1/users/alice/tokens";
    for body in [
        json!({ "length": 3 }),
        json!({ "length": 129 }),
        json!({ "length": "8" }),
        json!({ "length": 8.5 }),
        json!({ "expire": 59 }),
        json!({ "expire": 31_536_001 }),
        json!({ "expire": -60 }),
    ] {
        api.send(Method::POST, path, Auth::Key, Some(&body))
            .await
            .assert_error(400, "general_argument_invalid");
    }
    api.send(Method::POST, path, Auth::None, Some(&json!({})))
        .await
        .assert_error(401, "general_unauthorized_scope");
    api.send(Method::POST, path, Auth::WrongKey, Some(&json!({})))
        .await
        .assert_error(401, "general_unauthorized_scope");
    api.send(Method::POST, "/v1/users/_bad/tokens", Auth::Key, Some(&json!({})))
        .await
        .assert_error(400, "general_argument_invalid");
    api.send_raw(Method::POST, path, Auth::Key, b"{not json".to_vec())
        .await
        .assert_error(400, "general_argument_invalid");
    api.send_raw(Method::POST, path, Auth::Key, vec![b' '; 64 * 1024 + 1])
        .await
        .assert_error(413, "general_argument_invalid");
    api.send_raw(
        Method::POST,
        "/v1/account/sessions/token",
        Auth::None,
        vec![b'x'; 3 * 1024 * 1024],
    )
    .await
    .assert_error(413, "general_argument_invalid");
    api.get("/v1/account/nothing-here", Auth::None)
        .await
        .assert_error(404, "general_route_not_found");
    api.send(Method::PUT, path, Auth::Key, Some(&json!({})))
        .await
        .assert_error(405, "general_not_implemented");
    api.exchange("alice", "", Auth::None)
        .await
        .assert_error(401, "user_invalid_token");
    api.send(
        Method::POST,
        "/v1/account/sessions/token",
        Auth::None,
        Some(&json!({ "userId": "alice" })),
    )
    .await
    .assert_error(400, "general_argument_invalid");
}

async fn account_session_routes(app: RunningApp) {
    let api = Api::new(&app);
    let (first, first_json) = api.login("carol").await;
    let (second, second_json) = api.login("carol").await;
    let first_id = first_json["$id"].as_str().unwrap().to_owned();
    let second_id = second_json["$id"].as_str().unwrap().to_owned();

    for path in ["/v1/account/sessions", "/v1/account/sessions/current", "/v1/account"] {
        api.get(path, Auth::None)
            .await
            .assert_error(401, "general_unauthorized_scope");
    }

    let list = api.get("/v1/account/sessions", Auth::Session(&first)).await;
    list.assert_status(200);
    assert_eq!(list.json["total"], 2);
    let sessions = list.json["sessions"].as_array().unwrap();
    sessions.iter().for_each(assert_session_shape);
    let current: Vec<&str> = sessions
        .iter()
        .filter(|s| s["current"] == true)
        .map(|s| s["$id"].as_str().unwrap())
        .collect();
    assert_eq!(current, vec![first_id.as_str()]);
    assert!(sessions.iter().all(|s| s["secret"] == ""));

    let got = api.get("/v1/account/sessions/current", Auth::Session(&first)).await;
    got.assert_status(200);
    assert_eq!(got.json["$id"], first_id.as_str());
    assert_eq!(got.json["current"], true);
    let by_id = api
        .get(&format!("/v1/account/sessions/{second_id}"), Auth::Session(&first))
        .await;
    by_id.assert_status(200);
    assert_eq!(by_id.json["current"], false);
    api.get("/v1/account/sessions/00000000000000000000", Auth::Session(&first))
        .await
        .assert_error(404, "user_session_not_found");

    let account = api.get("/v1/account", Auth::Session(&first)).await;
    account.assert_status(200);
    assert_eq!(account.json["$id"], "carol");
    assert!(account.json["prefs"].is_object());

    let before = got.str("expire").to_owned();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let extended = api
        .send(
            Method::PATCH,
            "/v1/account/sessions/current",
            Auth::Session(&first),
            Some(&json!({})),
        )
        .await;
    extended.assert_status(200);
    assert_session_shape(&extended.json);
    assert!(extended.str("expire") > before.as_str(), "expire moved forward");
    assert!(extended.str("$updatedAt") > extended.str("$createdAt"));

    // Logout of another session by id: 204 with a content type, no cookie change.
    let deleted = api
        .send(
            Method::DELETE,
            &format!("/v1/account/sessions/{second_id}"),
            Auth::Session(&first),
            Some(&json!({})),
        )
        .await;
    deleted.assert_status(204);
    assert!(deleted.set_cookies().is_empty());
    api.get("/me", Auth::Session(&second))
        .await
        .assert_error(401, "user_unauthorized");
    api.send(
        Method::DELETE,
        &format!("/v1/account/sessions/{second_id}"),
        Auth::Session(&first),
        None,
    )
    .await
    .assert_error(404, "user_session_not_found");

    // Logout of the current session expires the cookie.
    let logout = api.logout(&first).await;
    logout.assert_status(204);
    let cookie = logout.set_cookies().join("\n");
    assert!(
        cookie.contains(&format!("{}=;", api.cookie_name)) && cookie.contains("Max-Age=0"),
        "{cookie}"
    );
    api.get("/me", Auth::Session(&first))
        .await
        .assert_error(401, "user_unauthorized");

    // Logout of all.
    let (a, _) = api.login("carol").await;
    let (b, _) = api.login("carol").await;
    let all = api
        .send(
            Method::DELETE,
            "/v1/account/sessions",
            Auth::Cookie(&a),
            Some(&json!({})),
        )
        .await;
    all.assert_status(204);
    api.get("/me", Auth::Session(&a))
        .await
        .assert_error(401, "user_unauthorized");
    api.get("/me", Auth::Session(&b))
        .await
        .assert_error(401, "user_unauthorized");
}

async fn admin_session_routes(app: RunningApp) {
    let api = Api::new(&app);
    let (one, one_json) = api.login("dave").await;
    let (two, _) = api.login("dave").await;
    let path = "/v1/users/dave/sessions";

    api.get(path, Auth::None)
        .await
        .assert_error(401, "general_unauthorized_scope");
    api.get(path, Auth::WrongKey)
        .await
        .assert_error(401, "general_unauthorized_scope");
    api.get(path, Auth::Session(&one))
        .await
        .assert_error(401, "general_unauthorized_scope");

    let list = api.get(path, Auth::Key).await;
    list.assert_status(200);
    assert_eq!(list.json["total"], 2);
    list.json["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .for_each(assert_session_shape);

    let one_id = one_json["$id"].as_str().unwrap();
    let deleted = api
        .send(Method::DELETE, &format!("{path}/{one_id}"), Auth::Key, None)
        .await;
    deleted.assert_status(204);
    api.get("/me", Auth::Session(&one))
        .await
        .assert_error(401, "user_unauthorized");
    api.get("/me", Auth::Session(&two)).await.assert_status(200);

    let created = api.send(Method::POST, path, Auth::Key, Some(&json!({}))).await;
    created.assert_status(201);
    assert_session_shape(&created.json);
    assert_eq!(created.json["provider"], "server");
    let server_credential = created.str("secret").to_owned();
    assert!(!server_credential.is_empty(), "API-key callers get the credential");
    api.get("/me", Auth::Session(&server_credential))
        .await
        .assert_status(200);

    let all = api.send(Method::DELETE, path, Auth::Key, Some(&json!({}))).await;
    all.assert_status(204);
    api.get("/me", Auth::Session(&two))
        .await
        .assert_error(401, "user_unauthorized");
    api.get("/me", Auth::Session(&server_credential))
        .await
        .assert_error(401, "user_unauthorized");
    let empty = api.get(path, Auth::Key).await;
    assert_eq!(empty.json["total"], 0);
}

async fn concurrent_exchange_is_one_time(app: RunningApp) {
    let api = Api::new(&app);
    let secret = api.token_secret("erin").await;
    let attempts = (0..64).map(|_| {
        let api = api.clone();
        let secret = secret.clone();
        tokio::spawn(async move { api.exchange("erin", &secret, Auth::None).await.status })
    });
    let statuses: Vec<u16> = futures_util::future::join_all(attempts)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 401).count(), 63, "{statuses:?}");
    let list = api.get("/v1/users/erin/sessions", Auth::Key).await;
    assert_eq!(list.json["total"], 1);
}

async fn session_limit_evicts_oldest(app: RunningApp) {
    let api = Api::new(&app);
    let mut credentials = Vec::new();
    for _ in 0..11 {
        credentials.push(api.login("frank").await.0);
    }
    api.get("/me", Auth::Session(&credentials[0]))
        .await
        .assert_error(401, "user_unauthorized");
    for credential in &credentials[1..] {
        api.get("/me", Auth::Session(credential)).await.assert_status(200);
    }
    let list = api.get("/v1/users/frank/sessions", Auth::Key).await;
    assert_eq!(list.json["total"], 10);
    let ids: HashSet<&str> = list.json["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["$id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 10);
}

async fn wrong_project_is_refused(app: RunningApp) {
    let api = Api::new(&app);
    let mut other = api.clone();
    other.project = "another-project".to_owned();
    other
        .create_token("gina", json!({}))
        .await
        .assert_error(400, "general_argument_invalid");
}

/// `PUT /account/sessions/magic-url` and `PUT /account/sessions/phone`,
/// the deprecated aliases Appwrite and older SDKs still use, exchange
/// exactly as `POST /account/sessions/token` does: once, with the cookie,
/// and behind the same guards (a cross-site form, a foreign page).
async fn deprecated_exchange_aliases(app: RunningApp) {
    let api = Api::new(&app);
    for alias in ["/v1/account/sessions/magic-url", "/v1/account/sessions/phone"] {
        let secret = api.token_secret("alice").await;
        let body = json!({ "userId": "alice", "secret": secret });
        let form = format!("userId=alice&secret={secret}");
        api.send_typed_as(
            Method::PUT,
            alias,
            Auth::None,
            Some("application/x-www-form-urlencoded"),
            form,
        )
        .await
        .assert_error(415, "general_argument_invalid");
        for foreign in [
            &[("origin", "https://evil.example")][..],
            &[("sec-fetch-site", "cross-site")],
        ] {
            api.send_with(Method::PUT, alias, Auth::None, Some(&body), foreign)
                .await
                .assert_error(403, "general_access_forbidden");
        }
        let exchanged = api.send(Method::PUT, alias, Auth::None, Some(&body)).await;
        exchanged.assert_status(201);
        assert_session_shape(&exchanged.json);
        assert_eq!(exchanged.json["userId"], "alice", "{alias}");
        let credential = exchanged.cookie_value(&api.cookie_name).expect("session cookie set");
        api.get("/me", Auth::Cookie(&credential)).await.assert_status(200);
        api.send(Method::PUT, alias, Auth::None, Some(&body))
            .await
            .assert_error(401, "user_invalid_token");
        api.send(Method::POST, alias, Auth::None, Some(&body))
            .await
            .assert_error(405, "general_not_implemented");
    }
}

/// Appwrite's remaining wire behaviours: unknown body keys ignored (a newer
/// SDK's parameter), duplicates and wrong types still 400; no second
/// session for a signed-in client; 404 for unknown users on the admin
/// session routes; Appwrite's phone rule.
async fn appwrite_wire_behaviours(app: RunningApp) {
    let api = Api::new(&app);
    let tokens = "/v1/users/wanda/tokens";
    let created = api
        .send(
            Method::POST,
            tokens,
            Auth::Key,
            Some(&json!({ "length": 8, "newParam": [1] })),
        )
        .await;
    created.assert_status(201);
    assert_eq!(created.str("secret").len(), 8);
    for raw in [
        r#"{"length": 8, "length": 9}"#,
        r#"{"newParam": 1, "newParam": 2}"#,
        r#"{"length": "8", "newParam": 1}"#,
    ] {
        api.send_raw(Method::POST, tokens, Auth::Key, raw.as_bytes().to_vec())
            .await
            .assert_error(400, "general_argument_invalid");
    }
    let secret = created.str("secret").to_owned();
    let body = json!({ "userId": "wanda", "secret": secret, "newParam": { "x": 1 } });
    let exchange = "/v1/account/sessions/token";
    let exchanged = api.send(Method::POST, exchange, Auth::None, Some(&body)).await;
    exchanged.assert_status(201);
    let credential = exchanged.cookie_value(&api.cookie_name).expect("session cookie set");

    // Signed in: a second exchange is refused and leaves the token usable.
    let second = api.token_secret("wanda").await;
    let again = json!({ "userId": "wanda", "secret": second });
    for auth in [Auth::Session(&credential), Auth::Cookie(&credential)] {
        api.send(Method::POST, exchange, auth, Some(&again))
            .await
            .assert_error(401, "user_session_already_exists");
    }
    // A stale or forged credential is no session: the exchange goes ahead.
    api.send(Method::POST, exchange, Auth::Session("wanda.AAAA"), Some(&again))
        .await
        .assert_status(201);

    api.get("/v1/users/ghost/sessions", Auth::Key)
        .await
        .assert_error(404, "user_not_found");
    api.send(Method::POST, "/v1/users/ghost/sessions", Auth::Key, Some(&json!({})))
        .await
        .assert_error(404, "user_not_found");
    api.get("/v1/users/ghost", Auth::Key)
        .await
        .assert_error(404, "user_not_found");
    let listed = api.get("/v1/users/wanda/sessions", Auth::Key).await;
    listed.assert_status(200);
    assert_eq!(listed.json["total"], 2);

    for phone in [
        "+123456",
        "+1234567890123456",
        "+0123456789",
        " +14155550123",
        "+1415555012a",
    ] {
        api.send(
            Method::POST,
            "/v1/account/tokens/phone",
            Auth::None,
            Some(&json!({ "userId": "unique()", "phone": phone })),
        )
        .await
        .assert_error(400, "general_argument_invalid");
    }
}

/// A desktop Chrome on Windows, as Appwrite's session examples show it.
const CHROME_ON_WINDOWS: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";

/// Exchanges a fresh token for `user` as a browser sending `headers`
/// would (no key, the credential in the cookie): the Session and cookie.
async fn browser_exchange(api: &Api, user: &str, headers: &[(&str, &str)]) -> (serde_json::Value, String) {
    let secret = api.token_secret(user).await;
    let body = json!({ "userId": user, "secret": secret });
    let reply = api
        .send_with(
            Method::POST,
            "/v1/account/sessions/token",
            Auth::None,
            Some(&body),
            headers,
        )
        .await;
    reply.assert_status(201);
    let credential = reply.cookie_value(&api.cookie_name).expect("session cookie set");
    (reply.json, credential)
}

/// The device fields come from the User-Agent the session was created
/// with, as Appwrite (DeviceDetector) names them, on every route that shows
/// a session; without a GeoIP database the country is `--` / `Unknown`.
async fn session_device_fields(app: RunningApp) {
    let api = Api::new(&app);
    let (created, credential) = browser_exchange(&api, "dora", &[("user-agent", CHROME_ON_WINDOWS)]).await;
    let current = api.get("/v1/account/sessions/current", Auth::Cookie(&credential)).await;
    current.assert_status(200);
    let listed = api.get("/v1/account/sessions", Auth::Cookie(&credential)).await;
    listed.assert_status(200);
    let admin = api.get("/v1/users/dora/sessions", Auth::Key).await;
    admin.assert_status(200);
    for session in [
        &created,
        &current.json,
        &listed.json["sessions"][0],
        &admin.json["sessions"][0],
    ] {
        assert_session_shape(session);
        let expected = [
            ("osCode", "WIN"),
            ("osName", "Windows"),
            ("osVersion", "10"),
            ("clientType", "browser"),
            ("clientCode", "CH"),
            ("clientName", "Chrome"),
            ("clientVersion", "120.0.0.0"),
            ("clientEngine", "Blink"),
            ("clientEngineVersion", "120.0.0.0"),
            ("deviceName", "desktop"),
            ("deviceBrand", ""),
            ("deviceModel", ""),
            ("countryCode", "--"),
            ("countryName", "Unknown"),
        ];
        for (field, value) in expected {
            assert_eq!(session[field], value, "{field} in {session}");
        }
    }
    // No User-Agent: the device fields stay empty, the country unknown.
    let (_, bare) = browser_exchange(&api, "dora2", &[]).await;
    let current = api.get("/v1/account/sessions/current", Auth::Cookie(&bare)).await;
    current.assert_status(200);
    for field in ["osName", "clientType", "clientName", "deviceName", "deviceBrand"] {
        assert_eq!(current.json[field], "", "{field} in {}", current.json);
    }
    assert_eq!(current.json["countryCode"], "--");
    assert_eq!(current.json["countryName"], "Unknown");
}

/// With `TOKENGATE_GEOIP_DB` (a MaxMind-format database, here one written
/// for the test) and a trusted proxy, the session's country is that of the
/// forwarded client address: lower-case code and English name, as Appwrite;
/// an address the database does not know is `--` / `Unknown`.
#[tokio::test]
async fn session_country_from_geoip_database() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("country.mmdb");
    let fixture = tokengate_testing::mmdb::country_database(&[
        ("81.2.69.0/24", Some(("GB", Some("United Kingdom")))),
        ("89.160.20.0/24", Some(("SE", Some("Sweden")))),
    ]);
    std::fs::write(&path, fixture).expect("fixture written");
    for kind in [AppKind::Axum, AppKind::Actix] {
        let mut spec = AppSpec::new(kind, Backend::Memory);
        spec.extra_env
            .push(("TOKENGATE_GEOIP_DB".into(), path.display().to_string()));
        spec.extra_env
            .push(("TOKENGATE_TRUSTED_PROXIES".into(), "127.0.0.0/8".into()));
        let app = RunningApp::start(spec).await;
        let api = Api::new(&app);
        for (user, client, code, name) in [
            ("gina", "81.2.69.142", "gb", "United Kingdom"),
            ("gus", "89.160.20.112", "se", "Sweden"),
            ("gil", "10.1.2.3", "--", "Unknown"),
            ("gwen", "2001:db8::1", "--", "Unknown"),
        ] {
            let (created, credential) = browser_exchange(&api, user, &[("x-forwarded-for", client)]).await;
            let current = api.get("/v1/account/sessions/current", Auth::Cookie(&credential)).await;
            current.assert_status(200);
            for session in [&created, &current.json] {
                assert_eq!(session["ip"], client, "{kind:?}: {session}");
                assert_eq!(session["countryCode"], code, "{kind:?}: {session}");
                assert_eq!(session["countryName"], name, "{kind:?}: {session}");
            }
        }
    }
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
        mod axum_cluster {
            $( #[tokio::test] async fn $scenario() {
                super::$scenario(super::start_cluster(super::AppKind::Axum).await).await;
                super::shared_cluster_async().await.assert_no_cross_slot().await;
            } )*
        }
        mod actix_cluster {
            $( #[tokio::test] async fn $scenario() {
                super::$scenario(super::start_cluster(super::AppKind::Actix).await).await;
                super::shared_cluster_async().await.assert_no_cross_slot().await;
            } )*
        }
    };
}

async fn start_cluster(kind: AppKind) -> RunningApp {
    let seeds = shared_cluster_async().await.seeds();
    RunningApp::start(AppSpec::new(kind, Backend::Cluster(seeds))).await
}

async fn start(kind: AppKind, redis: bool) -> RunningApp {
    let backend = if redis {
        Backend::Redis(redis_url().await)
    } else {
        Backend::Memory
    };
    RunningApp::start(AppSpec::new(kind, backend)).await
}

suite!(
    public_and_me,
    custom_token_and_exchange,
    token_argument_errors,
    account_session_routes,
    admin_session_routes,
    concurrent_exchange_is_one_time,
    session_limit_evicts_oldest,
    wrong_project_is_refused,
    deprecated_exchange_aliases,
    appwrite_wire_behaviours,
    session_device_fields,
);

#[tokio::test]
async fn cookies_are_secure_by_default() {
    for kind in [AppKind::Axum, AppKind::Actix] {
        let mut spec = AppSpec::new(kind, Backend::Memory);
        spec.insecure_cookies = false;
        let app = RunningApp::start(spec).await;
        let api = Api::new(&app);
        let secret = api.token_secret("hank").await;
        let reply = api.exchange("hank", &secret, Auth::None).await;
        reply.assert_status(201);
        let cookie = reply.set_cookies().join("\n");
        assert!(cookie.contains("; Secure"), "{kind:?}: {cookie}");
    }
}
