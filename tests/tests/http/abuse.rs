//! The attacks of the identity-binding and abuse-resistance issue, each
//! written as the attacker would send it, against both example apps on the
//! memory store, on Redis and on a real Redis Cluster: claiming another
//! user's id, login CSRF (magic-URL injection, forms, foreign origins),
//! turning the lockout against a user, guessing a code from many IPs,
//! spoofed and real proxy headers, IPv6 prefixes, planted cookies, and the
//! Users API that ends an identity.

use reqwest::Method;
use serde_json::{json, Value};
use tokengate_tests::app::{AppKind, AppSpec, Backend, DeliveringApp, RunningApp};
use tokengate_tests::client::{assert_date, Api, Auth, Reply};
use tokengate_tests::cluster::shared_cluster_async;
use tokengate_tests::redis_harness::{dump_prefix, dump_prefix_nodes, redis_url, KeyDump};
use tokengate_tests::sinks::{find_code, find_link, query_param};

const PUBLIC_URL: &str = "https://app.example.test";
/// The test client connects from here; the apps trust it as a proxy only
/// when a scenario says so.
const LOOPBACK_PROXY: (&str, &str) = ("TOKENGATE_TRUSTED_PROXIES", "127.0.0.1/32");

type Env = DeliveringApp;

async fn start(kind: AppKind, backend: Backend, extra: &[(&str, &str)]) -> Env {
    let env: Vec<(&str, &str)> = [("TOKENGATE_PUBLIC_URL", PUBLIC_URL)]
        .iter()
        .chain(extra)
        .copied()
        .collect();
    DeliveringApp::start(kind, backend, &env).await
}

async fn post(api: &Api, path: &str, auth: Auth<'_>, body: Value) -> Reply {
    api.send(Method::POST, path, auth, Some(&body)).await
}

/// A request that arrives through the trusted proxy on behalf of `client`.
async fn post_from(api: &Api, client: &str, path: &str, auth: Auth<'_>, body: Value) -> Reply {
    api.send_with(Method::POST, path, auth, Some(&body), &[("x-forwarded-for", client)])
        .await
}

async fn exchange_from(api: &Api, client: &str, user: &str, secret: &str) -> Reply {
    let body = json!({ "userId": user, "secret": secret });
    post_from(api, client, "/v1/account/sessions/token", Auth::None, body).await
}

/// A custom token's secret of `length` hex characters (API key).
async fn custom_secret(api: &Api, user: &str, length: u64) -> String {
    let reply = api.create_token(user, json!({ "length": length })).await;
    reply.assert_status(201);
    reply.str("secret").to_owned()
}

/// Every key the app wrote, on whichever Redis it runs (empty on memory).
async fn stored_keys(env: &Env) -> Vec<KeyDump> {
    let prefix = &env.app.spec.prefix;
    match &env.app.spec.backend {
        Backend::Memory => Vec::new(),
        Backend::Redis(url) => dump_prefix(url, prefix).await,
        Backend::Cluster(_) => {
            let primaries = shared_cluster_async().await.primary_urls().await;
            dump_prefix_nodes(&primaries, prefix).await
        }
    }
}

const TOKEN_ROUTES: [(&str, &str); 3] = [
    ("/v1/account/tokens/email", "email"),
    ("/v1/account/tokens/magic-url", "email"),
    ("/v1/account/tokens/phone", "phone"),
];

/// The anonymous token routes asked for `user` with the attacker's own
/// addresses: each is 409 `user_already_exists` and nothing is sent.
async fn assert_claim_refused(env: &Env, user: &str) {
    let mails = env.smtp.all().len();
    let texts = env.sms.count();
    // Addresses of the attacker's own, new for every claim (one address may
    // be sent to only once a minute).
    let tag = user
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)))
        % 1_000_000;
    for (path, field) in TOKEN_ROUTES {
        let address = if field == "phone" {
            format!("+1500{tag:06}")
        } else {
            format!("mallory+{user}@evil.test")
        };
        post(&env.api, path, Auth::None, json!({ "userId": user, field: address }))
            .await
            .assert_error(409, "user_already_exists");
    }
    assert_eq!(env.smtp.all().len(), mails, "a refused claim sends no mail");
    assert_eq!(env.sms.count(), texts, "a refused claim sends no SMS");
}

// 1. Account takeover by claiming a user id ----------------------------------

async fn custom_token_user_cannot_be_claimed(kind: AppKind, backend: Backend) {
    let env = start(kind, backend, &[]).await;
    let api = &env.api;
    // Logged in with a custom token, then "log out everywhere": no live token
    // or session is left, and the id still belongs to the user.
    let (credential, _) = api.login("victim").await;
    api.send(
        Method::DELETE,
        "/v1/account/sessions",
        Auth::Session(&credential),
        Some(&json!({})),
    )
    .await
    .assert_status(204);
    assert_claim_refused(&env, "victim").await;
    // A token that was issued and never used makes the id known as well.
    custom_secret(api, "invited", 64).await;
    assert_claim_refused(&env, "invited").await;
    // A server-created session needs a known user (404 otherwise, as
    // Appwrite), so it cannot make an id known; one made for the invited
    // user, logged out by the admin, leaves the user in the directory.
    post(api, "/v1/users/served/sessions", Auth::Key, json!({}))
        .await
        .assert_error(404, "user_not_found");
    post(api, "/v1/users/invited/sessions", Auth::Key, json!({}))
        .await
        .assert_status(201);
    api.send(
        Method::DELETE,
        "/v1/users/invited/sessions",
        Auth::Key,
        Some(&json!({})),
    )
    .await
    .assert_status(204);
    api.get("/v1/users/invited", Auth::Key).await.assert_status(200);
    // The user still logs in with a custom token.
    api.login("victim").await;
}

/// A stranger cannot claim an id the application has not used yet: by
/// default anonymous callers get generated ids for new users, so the
/// application's first token for "bob" is bob's.
async fn unknown_ids_cannot_be_claimed_in_advance(kind: AppKind, backend: Backend) {
    let env = start(kind, backend, &[]).await;
    let api = &env.api;
    for (path, field) in TOKEN_ROUTES {
        let address = if field == "phone" {
            "+15005550007"
        } else {
            "mallory@evil.test"
        };
        post(api, path, Auth::None, json!({ "userId": "bob", field: address }))
            .await
            .assert_error(400, "general_argument_invalid");
    }
    assert!(env.smtp.all().is_empty() && env.sms.count() == 0, "nothing was sent");
    api.get("/v1/users/bob", Auth::Key)
        .await
        .assert_error(404, "user_not_found");
    // The application's own first token makes the id bob's, without an address.
    api.login("bob").await;
    assert_eq!(api.get("/v1/users/bob", Auth::Key).await.json["email"], "");
    // New users from the anonymous flows get generated ids; a returning
    // user may name the id already bound to the address.
    let fresh = post(
        api,
        "/v1/account/tokens/email",
        Auth::None,
        json!({ "userId": "unique()", "email": "new@example.test" }),
    )
    .await;
    fresh.assert_status(201);
    let id = fresh.str("userId").to_owned();
    assert_eq!(id.len(), 20);
    let code = find_code(&env.smtp.wait_for("new@example.test", 1).await.body, 6).unwrap();
    api.exchange(&id, &code, Auth::None).await.assert_status(201);
    post(
        api,
        "/v1/account/tokens/magic-url",
        Auth::None,
        json!({ "userId": id, "email": "new@example.test" }),
    )
    .await
    .assert_status(201);
}

async fn identity_bindings_never_expire(kind: AppKind, backend: Backend) {
    let env = start(kind, backend, &[]).await;
    let api = &env.api;
    post(
        api,
        "/v1/account/tokens/email",
        Auth::Key,
        json!({ "userId": "ada", "email": "ada@example.test" }),
    )
    .await
    .assert_status(201);
    let code = find_code(&env.smtp.wait_for("ada@example.test", 1).await.body, 6).unwrap();
    api.exchange("ada", &code, Auth::None).await.assert_status(201);
    api.login("custom").await;
    // What used to expire a year after sign-up: the user record and the
    // address binding. On Redis every identity key is without a TTL; the
    // memory store keeps no expiry for them at all.
    let identity: Vec<KeyDump> = stored_keys(&env)
        .await
        .into_iter()
        .filter(|k| k.key.ends_with(":user") || k.key.contains("{a:"))
        .collect();
    if !matches!(env.app.spec.backend, Backend::Memory) {
        let names: Vec<&str> = identity.iter().map(|k| k.key.as_str()).collect();
        assert_eq!(
            identity.len(),
            3,
            "ada's and custom's records, ada's binding: {names:?}"
        );
        for key in &identity {
            assert_eq!(key.pttl, -1, "{} expires", key.key);
        }
    }
    assert_claim_refused(&env, "ada").await;
    // Ada herself still gets her code (a known address issues for its owner).
    post(
        api,
        "/v1/account/tokens/email",
        Auth::Key,
        json!({ "userId": "ada", "email": "ADA@example.test" }),
    )
    .await
    .assert_status(201);
}

async fn users_api_ends_an_identity(kind: AppKind, backend: Backend) {
    let env = start(kind, backend, &[]).await;
    let api = &env.api;
    api.get("/v1/users/nobody", Auth::Key)
        .await
        .assert_error(404, "user_not_found");
    api.get("/v1/users/nobody", Auth::None)
        .await
        .assert_error(401, "general_unauthorized_scope");
    api.send(Method::DELETE, "/v1/users/nobody", Auth::Key, None)
        .await
        .assert_error(404, "user_not_found");

    // A custom-token user is known from its first token, with a creation date.
    let (credential, _) = api.login("lin").await;
    let user = api.get("/v1/users/lin", Auth::Key).await;
    user.assert_status(200);
    assert_eq!(user.json["$id"], "lin");
    assert_date(&user.json["$createdAt"]);
    assert_eq!(user.json["registration"], user.json["$createdAt"]);
    assert_eq!(user.json["email"], "");
    let account = api.get("/v1/account", Auth::Session(&credential)).await;
    account.assert_status(200);
    assert_eq!(
        account.json["$createdAt"], user.json["$createdAt"],
        "never an empty string"
    );

    // An email user, deleted: sessions end, the id and the address are free.
    post(
        api,
        "/v1/account/tokens/email",
        Auth::Key,
        json!({ "userId": "eve", "email": "eve@example.test" }),
    )
    .await
    .assert_status(201);
    let code = find_code(&env.smtp.wait_for("eve@example.test", 1).await.body, 6).unwrap();
    let session = api.exchange("eve", &code, Auth::Key).await;
    session.assert_status(201);
    let eve = session.str("secret").to_owned();
    let known = api.get("/v1/users/eve", Auth::Key).await;
    assert_eq!(known.json["email"], "eve@example.test");
    assert_eq!(known.json["emailVerification"], true);
    api.send(Method::DELETE, "/v1/users/eve", Auth::None, None)
        .await
        .assert_error(401, "general_unauthorized_scope");
    let deleted = api.send(Method::DELETE, "/v1/users/eve", Auth::Key, None).await;
    assert_eq!(deleted.status, 204, "{}", deleted.text);
    api.get("/me", Auth::Session(&eve))
        .await
        .assert_error(401, "user_unauthorized");
    api.get("/v1/users/eve", Auth::Key)
        .await
        .assert_error(404, "user_not_found");
    api.send(Method::DELETE, "/v1/users/eve", Auth::Key, None)
        .await
        .assert_error(404, "user_not_found");
    let keys: Vec<String> = stored_keys(&env).await.into_iter().map(|k| k.key).collect();
    assert!(
        !keys.iter().any(|k| k.contains("{u:eve}")),
        "eve's keys remain: {keys:?}"
    );
    // The address now goes to whoever asks first, and so does the id (with
    // the API key: the address had a code less than a minute ago).
    let reused = post(
        api,
        "/v1/account/tokens/email",
        Auth::Key,
        json!({ "userId": "eve2", "email": "eve@example.test" }),
    )
    .await;
    reused.assert_status(201);
    assert_eq!(reused.json["userId"], "eve2");
    let again = post(
        api,
        "/v1/account/tokens/email",
        Auth::Key,
        json!({ "userId": "eve", "email": "new-eve@example.test" }),
    )
    .await;
    again.assert_status(201);
    assert_eq!(again.json["userId"], "eve");
}

// 2. Login CSRF -----------------------------------------------------------------

async fn magic_url_cannot_carry_a_pair_or_downgrade(kind: AppKind, backend: Backend) {
    let env = start(
        kind,
        backend,
        &[("TOKENGATE_REDIRECT_HOSTS", "https://admin.example.test:8443")],
    )
    .await;
    for url in [
        "https://app.example.test/login?userId=attacker&secret=0123456789abcdef",
        "https://app.example.test/login?next=%2F&secret=x",
        "https://app.example.test/login?%75serId=attacker",
        "https://app.example.test/login?EXPIRE=1",
        "https://app.example.test/login?project=other",
        "https://app.example.test/login#userId=attacker&secret=x",
        "http://app.example.test/login",
        "https://app.example.test:8443/login",
        "https://admin.example.test/login",
        "http://admin.example.test:8443/login",
    ] {
        let body = json!({ "userId": "unique()", "email": "target@example.test", "url": url });
        post(&env.api, "/v1/account/tokens/magic-url", Auth::None, body)
            .await
            .assert_error(400, "general_argument_invalid");
    }
    assert!(env.smtp.all().is_empty(), "a refused link is never mailed");
    // The listed origin with its port works, and its link carries one pair.
    let body = json!({ "userId": "unique()", "email": "target@example.test", "url": "https://admin.example.test:8443/cb?from=mail" });
    post(&env.api, "/v1/account/tokens/magic-url", Auth::None, body)
        .await
        .assert_status(201);
    let link = find_link(&env.smtp.wait_for("target@example.test", 1).await.body).unwrap();
    assert!(
        link.starts_with("https://admin.example.test:8443/cb?from=mail&userId="),
        "{link}"
    );
    assert_eq!(link.matches("userId=").count(), 1, "{link}");
    assert_eq!(link.matches("secret=").count(), 1, "{link}");
}

/// Mobile apps and local development: a magic link may return into an
/// allow-listed app scheme or a listed loopback origin, under every rule of
/// the web targets (the bypass corpus in the core's unit tests has more).
async fn magic_url_returns_to_listed_apps_only(kind: AppKind, backend: Backend) {
    let env = start(
        kind,
        backend,
        &[
            ("TOKENGATE_REDIRECT_SCHEMES", "myapp"),
            ("TOKENGATE_REDIRECT_HOSTS", "http://localhost:3000"),
        ],
    )
    .await;
    for url in [
        "myapp:/auth/callback",
        "MYAPP://auth/callback",
        "myapp://evil@auth/callback",
        "myapp://auth:1/callback",
        "myapp://auth/callback?userId=attacker&secret=0123456789abcdef",
        "myapp://auth/callback#secret=x",
        "otherapp://auth/callback",
        "javascript://auth/%0aalert(1)",
        "myapp:javascript:alert(1)",
        "http://localhost:3001/cb",
        "http://127.0.0.1:3000/cb",
    ] {
        let body = json!({ "userId": "unique()", "email": "mobile@example.test", "url": url });
        post(&env.api, "/v1/account/tokens/magic-url", Auth::None, body)
            .await
            .assert_error(400, "general_argument_invalid");
    }
    assert!(env.smtp.all().is_empty(), "a refused link is never mailed");
    for (email, url) in [
        ("app@example.test", "myapp://auth/callback?state=s1"),
        ("dev@example.test", "http://localhost:3000/cb"),
    ] {
        let body = json!({ "userId": "unique()", "email": email, "url": url });
        post(&env.api, "/v1/account/tokens/magic-url", Auth::None, body)
            .await
            .assert_status(201);
        let mail = env.smtp.wait_for(email, 1).await;
        let start = mail
            .body
            .find(url)
            .unwrap_or_else(|| panic!("no {url} link in {}", mail.body));
        let link: String = mail.body[start..]
            .chars()
            .take_while(|c| !c.is_whitespace() && !matches!(c, '"' | '<' | '>'))
            .collect();
        let user = query_param(&link, "userId").expect("userId in the link");
        let secret = query_param(&link, "secret").expect("secret in the link");
        assert!(
            link.starts_with(&format!("{url}&userId=")) || link.starts_with(&format!("{url}?userId=")),
            "{link}"
        );
        assert_eq!(link.matches("secret=").count(), 1, "{link}");
        // What the app does with the link: exchange its pair.
        env.api.exchange(&user, &secret, Auth::None).await.assert_status(201);
    }
}

async fn exchange_takes_json_only(kind: AppKind, backend: Backend) {
    let env = start(kind, backend, &[]).await;
    let api = &env.api;
    let secret = custom_secret(api, "kim", 6).await;
    let path = "/v1/account/sessions/token";
    let pair = format!("userId=kim&secret={secret}");
    // What a plain cross-site HTML form can send.
    for content_type in [
        Some("application/x-www-form-urlencoded"),
        Some("text/plain"),
        Some("multipart/form-data; boundary=x"),
        None,
    ] {
        api.send_typed(path, Auth::None, content_type, pair.clone())
            .await
            .assert_error(415, "general_argument_invalid");
        let json_as_text = json!({ "userId": "kim", "secret": secret }).to_string();
        api.send_typed(path, Auth::None, content_type, json_as_text)
            .await
            .assert_error(415, "general_argument_invalid");
    }
    api.send_typed("/v1/account/tokens/email", Auth::None, Some("text/plain"), "{}")
        .await
        .assert_error(415, "general_argument_invalid");
    api.send_typed("/v1/users/kim/tokens", Auth::Key, Some("text/plain"), "{}")
        .await
        .assert_error(415, "general_argument_invalid");
    // Two `secret`s: which one counts would depend on the parser.
    let twice = format!(r#"{{"userId":"kim","secret":"wrong","secret":"{secret}"}}"#);
    api.send_typed(path, Auth::None, Some("application/json"), twice.clone())
        .await
        .assert_error(400, "general_argument_invalid");
    let reversed = format!(r#"{{"userId":"kim","secret":"{secret}","secret":"wrong"}}"#);
    api.send_typed(path, Auth::None, Some("application/json"), reversed)
        .await
        .assert_error(400, "general_argument_invalid");
    // None of it touched the token: JSON with a charset parameter redeems it.
    let body = json!({ "userId": "kim", "secret": secret }).to_string();
    api.send_typed(path, Auth::None, Some("application/json; charset=utf-8"), body)
        .await
        .assert_status(201);
}

async fn foreign_origins_cannot_create_sessions(kind: AppKind, backend: Backend) {
    let env = start(kind, backend, &[("TOKENGATE_ALLOWED_ORIGINS", "http://localhost:5173")]).await;
    let api = &env.api;
    let secret = custom_secret(api, "olga", 64).await;
    let body = json!({ "userId": "olga", "secret": secret });
    let path = "/v1/account/sessions/token";
    // The app's own host served over the other scheme (the public URL is
    // https) is not the app: a plain-http page there is refused too.
    let own_http = env.app.origin.clone();
    let own_https = own_http.replacen("http://", "https://", 1);
    for headers in [
        &[("origin", own_http.as_str())][..],
        &[("origin", "https://evil.example")][..],
        &[("origin", "null")],
        &[("origin", "http://localhost:5174")],
        &[("origin", "https://app.example.test.evil.example")],
        &[("sec-fetch-site", "cross-site")],
    ] {
        api.send_with(Method::POST, path, Auth::None, Some(&body), headers)
            .await
            .assert_error(403, "general_access_forbidden");
    }
    // The app's own host under the public URL's scheme (TLS terminated in
    // front of it), the public URL's origin, an allowed one, no browser at
    // all, and a server with the API key may.
    for headers in [
        vec![("origin", own_https.as_str()), ("sec-fetch-site", "same-origin")],
        vec![("origin", PUBLIC_URL)],
        vec![("origin", "http://localhost:5173"), ("sec-fetch-site", "cross-site")],
        vec![],
    ] {
        let secret = custom_secret(api, "olga", 64).await;
        let body = json!({ "userId": "olga", "secret": secret });
        api.send_with(Method::POST, path, Auth::None, Some(&body), &headers)
            .await
            .assert_status(201);
    }
    // The refused requests above left the first token alone.
    api.exchange("olga", &secret, Auth::None).await.assert_status(201);
    let secret = custom_secret(api, "olga", 64).await;
    let body = json!({ "userId": "olga", "secret": secret });
    api.send_with(
        Method::POST,
        path,
        Auth::Key,
        Some(&body),
        &[("origin", "https://evil.example")],
    )
    .await
    .assert_status(201);
}

// 3. Lockout that an attacker cannot turn against the user ----------------------

async fn unguessable_secrets_cannot_be_locked_out(kind: AppKind, backend: Backend) {
    let env = start(kind, backend, &[LOOPBACK_PROXY]).await;
    let api = &env.api;
    post(
        api,
        "/v1/account/tokens/magic-url",
        Auth::Key,
        json!({ "userId": "mira", "email": "mira@example.test" }),
    )
    .await
    .assert_status(201);
    let link = find_link(&env.smtp.wait_for("mira@example.test", 1).await.body).unwrap();
    let secret = query_param(&link, "secret").unwrap();
    let long_custom = custom_secret(api, "mira", 64).await;
    // 100 wrong guesses (10 from each of 10 clients, within their budget).
    for guess in 0..100 {
        let client = format!("203.0.113.{}", guess / 10);
        let wrong = format!("{guess:064x}");
        exchange_from(api, &client, "mira", &wrong)
            .await
            .assert_error(401, "user_invalid_token");
    }
    // Both unguessable secrets still work, from anywhere.
    exchange_from(api, "198.51.100.1", "mira", &secret)
        .await
        .assert_status(201);
    exchange_from(api, "198.51.100.1", "mira", &long_custom)
        .await
        .assert_status(201);
}

async fn a_six_digit_code_guessed_from_20_ips(kind: AppKind, backend: Backend) {
    let env = start(kind, backend, &[LOOPBACK_PROXY]).await;
    let api = &env.api;
    let issue = || async {
        let reply = post(
            api,
            "/v1/account/tokens/email",
            Auth::Key,
            json!({ "userId": "otto", "email": "otto@example.test" }),
        )
        .await;
        reply.assert_status(201);
        reply.str("secret").to_owned()
    };
    let wrong = |code: &str| format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000);
    // Twenty clients, one guess each: the code dies at the fifth wrong
    // guess, so at most five guesses are ever tried against one code.
    let code = issue().await;
    for ip in 1..=20 {
        let client = format!("192.0.2.{ip}");
        exchange_from(api, &client, "otto", &wrong(&code))
            .await
            .assert_error(401, "user_invalid_token");
        if ip == 5 {
            exchange_from(api, "198.51.100.9", "otto", &code)
                .await
                .assert_error(401, "user_invalid_token");
        }
    }
    // One client gets ten failures per hour for this user, then 429 even
    // with the right code; every other client is unaffected.
    let guesser = "192.0.2.1"; // one failure above
    for _ in 0..9 {
        let code = issue().await;
        exchange_from(api, guesser, "otto", &wrong(&code))
            .await
            .assert_error(401, "user_invalid_token");
    }
    let code = issue().await;
    exchange_from(api, guesser, "otto", &code)
        .await
        .assert_error(429, "general_rate_limit_exceeded");
    exchange_from(api, "198.51.100.9", "otto", &code)
        .await
        .assert_status(201);
}

async fn default_lockout_after_100_failures(kind: AppKind, backend: Backend) {
    let env = start(kind, backend, &[LOOPBACK_PROXY]).await;
    let api = &env.api;
    // With the default policy: every fifth failure burns the 6-character
    // token, so a fresh one is issued for every five guesses; ten clients
    // share the 100 failures within their budget of ten each.
    for round in 0..20 {
        let secret = custom_secret(api, "pat", 6).await;
        let client = format!("203.0.113.{}", round / 2);
        let wrong = if secret == "000000" { "000001" } else { "000000" };
        for _ in 0..5 {
            exchange_from(api, &client, "pat", wrong)
                .await
                .assert_error(401, "user_invalid_token");
        }
    }
    let guessable = custom_secret(api, "pat", 6).await;
    exchange_from(api, "198.51.100.1", "pat", &guessable)
        .await
        .assert_error(429, "general_rate_limit_exceeded");
    // The lockout stops guessable secrets only.
    let unguessable = custom_secret(api, "pat", 64).await;
    exchange_from(api, "198.51.100.1", "pat", &unguessable)
        .await
        .assert_status(201);
}

// 4. Client identity behind proxies and on IPv6 ---------------------------------

async fn email_from(api: &Api, client: Option<&str>, email: &str) -> Reply {
    let body = json!({ "userId": "unique()", "email": email });
    let headers: Vec<(&str, &str)> = client.map(|c| ("x-forwarded-for", c)).into_iter().collect();
    api.send_with(
        Method::POST,
        "/v1/account/tokens/email",
        Auth::None,
        Some(&body),
        &headers,
    )
    .await
}

async fn forwarded_for_is_believed_from_trusted_proxies_only(kind: AppKind, backend: Backend) {
    // Behind a trusted proxy each client has its own budget of 10 codes an hour.
    let env = start(kind, backend.clone(), &[LOOPBACK_PROXY]).await;
    let api = &env.api;
    for i in 0..10 {
        let chain = format!("6.6.6.{i}, 203.0.113.1"); // the client may prepend anything
        email_from(api, Some(&chain), &format!("a{i}@example.test"))
            .await
            .assert_status(201);
    }
    email_from(api, Some("203.0.113.1"), "a10@example.test")
        .await
        .assert_error(429, "general_rate_limit_exceeded");
    // The proxy writes X-Forwarded-For; a `Forwarded` the client adds is not read.
    let body = json!({ "userId": "unique()", "email": "a11@example.test" });
    let spoofed = [("x-forwarded-for", "203.0.113.1"), ("forwarded", "for=9.9.9.9")];
    api.send_with(
        Method::POST,
        "/v1/account/tokens/email",
        Auth::None,
        Some(&body),
        &spoofed,
    )
    .await
    .assert_error(429, "general_rate_limit_exceeded");
    email_from(api, Some("203.0.113.2"), "b0@example.test")
        .await
        .assert_status(201);
    let secret = custom_secret(api, "ivy", 64).await;
    let session = exchange_from(api, "203.0.113.77", "ivy", &secret).await;
    session.assert_status(201);
    assert_eq!(session.json["ip"], "203.0.113.77");

    // Without the setting the header proves nothing: every request is the peer.
    let plain = start(kind, backend, &[]).await;
    let api = &plain.api;
    for i in 0..10 {
        email_from(api, Some(&format!("203.0.113.{i}")), &format!("c{i}@example.test"))
            .await
            .assert_status(201);
    }
    email_from(api, Some("203.0.113.200"), "c10@example.test")
        .await
        .assert_error(429, "general_rate_limit_exceeded");
    let secret = custom_secret(api, "ivy", 64).await;
    let session = exchange_from(api, "203.0.113.77", "ivy", &secret).await;
    assert_eq!(session.json["ip"], "127.0.0.1");
}

async fn ipv6_clients_count_by_their_64(kind: AppKind, backend: Backend) {
    let env = start(kind, backend, &[LOOPBACK_PROXY]).await;
    let api = &env.api;
    for i in 1..=20u32 {
        let client = format!("2001:db8:1:2:{i:x}::{i:x}");
        let reply = email_from(api, Some(&client), &format!("v6-{i}@example.test")).await;
        if i <= 10 {
            reply.assert_status(201);
        } else {
            reply.assert_error(429, "general_rate_limit_exceeded");
        }
    }
    email_from(api, Some("2001:db8:1:3::1"), "v6-other@example.test")
        .await
        .assert_status(201);
}

// 5. Sessions and cookies ------------------------------------------------------

async fn a_planted_second_cookie_is_refused(kind: AppKind, backend: Backend) {
    let env = start(kind, backend, &[]).await;
    let api = &env.api;
    let (credential, _) = api.login("noor").await;
    let (other, _) = api.login("planted").await;
    let name = &api.cookie_name;
    let same = format!("{name}={credential}; {name}={credential}");
    let reply = api
        .send_with(Method::GET, "/me", Auth::None, None, &[("cookie", &same)])
        .await;
    reply.assert_status(200);
    assert_eq!(reply.json["userId"], "noor");
    let two = format!("{name}={credential}; {name}={other}");
    for (path, refused) in [
        ("/me", "user_unauthorized"),
        ("/v1/account", "general_unauthorized_scope"),
    ] {
        api.send_with(Method::GET, path, Auth::None, None, &[("cookie", &two)])
            .await
            .assert_error(401, refused);
    }
    let lookalike = format!("x{name}={other}; {name}x={other}; {name}={credential}");
    let reply = api
        .send_with(Method::GET, "/me", Auth::None, None, &[("cookie", &lookalike)])
        .await;
    assert_eq!(reply.json["userId"], "noor", "{}", reply.text);
}

async fn production_without_a_channel_answers_503(kind: AppKind, backend: Backend) {
    // On Redis and without TOKENGATE_DEV nothing is written to the log.
    let mut spec = AppSpec::new(kind, backend);
    spec.extra_env = vec![("TOKENGATE_PUBLIC_URL".into(), PUBLIC_URL.into())];
    let app = RunningApp::start(spec).await;
    let api = Api::new(&app);
    for (path, field, kind) in [
        ("/v1/account/tokens/email", "email", "general_smtp_disabled"),
        ("/v1/account/tokens/magic-url", "email", "general_smtp_disabled"),
        ("/v1/account/tokens/phone", "phone", "general_phone_disabled"),
    ] {
        let address = if field == "phone" {
            "+15005550006"
        } else {
            "quiet@example.test"
        };
        post(&api, path, Auth::None, json!({ "userId": "unique()", field: address }))
            .await
            .assert_error(503, kind);
    }
}

macro_rules! suite {
    ($($scenario:ident),* $(,)?) => {
        mod axum_memory {
            $( #[tokio::test] async fn $scenario() { super::$scenario(super::AppKind::Axum, super::Backend::Memory).await } )*
        }
        mod actix_memory {
            $( #[tokio::test] async fn $scenario() { super::$scenario(super::AppKind::Actix, super::Backend::Memory).await } )*
        }
        mod axum_redis {
            $( #[tokio::test] async fn $scenario() { super::$scenario(super::AppKind::Axum, super::redis().await).await } )*
        }
        mod actix_redis {
            $( #[tokio::test] async fn $scenario() { super::$scenario(super::AppKind::Actix, super::redis().await).await } )*
        }
        mod axum_cluster {
            $( #[tokio::test] async fn $scenario() {
                super::$scenario(super::AppKind::Axum, super::cluster().await).await;
                super::shared_cluster_async().await.assert_no_cross_slot().await;
            } )*
        }
        mod actix_cluster {
            $( #[tokio::test] async fn $scenario() {
                super::$scenario(super::AppKind::Actix, super::cluster().await).await;
                super::shared_cluster_async().await.assert_no_cross_slot().await;
            } )*
        }
    };
}

async fn redis() -> Backend {
    Backend::Redis(redis_url().await)
}

async fn cluster() -> Backend {
    Backend::Cluster(shared_cluster_async().await.seeds())
}

suite!(
    custom_token_user_cannot_be_claimed,
    unknown_ids_cannot_be_claimed_in_advance,
    identity_bindings_never_expire,
    users_api_ends_an_identity,
    magic_url_cannot_carry_a_pair_or_downgrade,
    magic_url_returns_to_listed_apps_only,
    exchange_takes_json_only,
    foreign_origins_cannot_create_sessions,
    unguessable_secrets_cannot_be_locked_out,
    a_six_digit_code_guessed_from_20_ips,
    default_lockout_after_100_failures,
    forwarded_for_is_believed_from_trusted_proxies_only,
    ipv6_clients_count_by_their_64,
    a_planted_second_cookie_is_refused,
);

mod production {
    use super::*;

    #[tokio::test]
    async fn axum_redis() {
        production_without_a_channel_answers_503(AppKind::Axum, redis().await).await;
    }

    #[tokio::test]
    async fn actix_redis() {
        production_without_a_channel_answers_503(AppKind::Actix, redis().await).await;
    }
}
