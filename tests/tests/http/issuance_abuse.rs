//! Attacks on issuance, each sent as the attacker would send it, against
//! both example apps on the memory store and on Redis: a magic-URL `url`
//! that smuggles a second link into the mail, one IPv6 /56 (and one IPv4
//! /24) spending a deployment-wide ceiling, an unreadable forwarding hop
//! that moves a client into its proxy's bucket, and anonymous requests
//! that leave records behind for good.

use reqwest::Method;
use serde_json::{json, Value};
use tokengate_tests::app::{AppKind, Backend, DeliveringApp};
use tokengate_tests::client::{Api, Auth, Reply};
use tokengate_tests::redis_harness::{dump_prefix, redis_url, KeyDump};
use tokengate_tests::sinks::{find_code, find_link, query_param};

const PUBLIC_URL: &str = "https://app.example.test";

type Env = DeliveringApp;

/// A production app (SMTP and SMS webhook set, no development mode on
/// Redis) behind a trusted proxy on loopback (the test client).
async fn start(kind: AppKind, backend: Backend, extra: &[(&str, &str)]) -> Env {
    let env: Vec<(&str, &str)> = [
        ("TOKENGATE_PUBLIC_URL", PUBLIC_URL),
        ("TOKENGATE_TRUSTED_PROXIES", "127.0.0.1/32"),
    ]
    .iter()
    .chain(extra)
    .copied()
    .collect();
    DeliveringApp::start(kind, backend, &env).await
}

/// An anonymous token request arriving through the proxy for `client`
/// (`None`: the proxy's own request).
async fn ask(api: &Api, path: &str, client: Option<&[u8]>, body: Value) -> Reply {
    let headers: Vec<(&str, &[u8])> = client.map(|c| ("x-forwarded-for", c)).into_iter().collect();
    api.send_with_bytes(Method::POST, path, Auth::None, Some(&body), &headers)
        .await
}

async fn magic(api: &Api, client: Option<&str>, email: &str) -> Reply {
    let body = json!({ "userId": "unique()", "email": email });
    ask(api, "/v1/account/tokens/magic-url", client.map(str::as_bytes), body).await
}

/// Every key the app wrote on its Redis; empty on memory.
async fn stored_keys(env: &Env) -> Vec<KeyDump> {
    match &env.app.spec.backend {
        Backend::Redis(url) => dump_prefix(url, &env.app.spec.prefix).await,
        _ => Vec::new(),
    }
}

/// Whether `byte` may stand in a URL unencoded (RFC 3986).
fn is_uri_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?#%".contains(&byte)
}

// 1. A second link smuggled into the mail -------------------------------------

async fn a_url_cannot_smuggle_a_second_link(kind: AppKind, backend: Backend) {
    let env = start(kind, backend, &[]).await;
    for (n, smuggled) in [
        "https://app.example.test/>https://evil.example/steal",
        "https://app.example.test/<https://evil.example/steal>",
        "https://app.example.test/\"https://evil.example/",
        "https://app.example.test/?next=>https://evil.example/",
        "https://app.example.test/#>https://evil.example/",
        "https://app.example.test/`https://evil.example/",
        "https://app.example.test/{https://evil.example/}",
        "https://app.example.test/|https://evil.example/",
        "https://app.example.test/^https://evil.example/",
        "https://app.example.test/[https://evil.example/]",
        "https://app.example.test/%zzhttps://evil.example/",
        "https://app.example.test/#a#https://evil.example/",
        "https://app.example.test/cb?next=https://evil.example/",
        "https://app.example.test/cb?a=(https://evil.example/)",
        "https://app.example.test/cb?a=x:!//evil.example/",
    ]
    .into_iter()
    .enumerate()
    {
        let body = json!({ "userId": "unique()", "email": format!("victim{n}@example.test"), "url": smuggled });
        ask(&env.api, "/v1/account/tokens/magic-url", None, body)
            .await
            .assert_error(400, "general_argument_invalid");
    }
    assert!(env.smtp.all().is_empty(), "a refused url is never mailed");

    // An accepted url: the link is built from its parts, and the mail shows
    // it alone between < > in the text part and as the exact href.
    let url = "https://app.example.test:443/cb?next=%2Fhome&x=(1)#top";
    let body = json!({ "userId": "unique()", "email": "victim@example.test", "url": url });
    ask(&env.api, "/v1/account/tokens/magic-url", None, body)
        .await
        .assert_status(201);
    let mail = env.smtp.wait_for("victim@example.test", 1).await;
    assert_eq!(mail.content_type, "multipart/alternative", "{mail:?}");
    let link = find_link(&mail.body).expect("a link in the text part");
    assert!(
        link.starts_with("https://app.example.test/cb?next=%2Fhome&x=(1)&userId="),
        "{link}"
    );
    assert!(link.ends_with("#top"), "{link}");
    assert!(link.bytes().all(is_uri_byte), "{link}");
    assert_eq!(link.matches("userId=").count(), 1, "{link}");
    assert_eq!(link.matches("secret=").count(), 1, "{link}");
    assert!(
        mail.body.lines().any(|line| line == format!("<{link}>")),
        "the link alone on its line between < >: {}",
        mail.body
    );
    let escaped = link.replace('&', "&amp;");
    assert!(
        mail.html.contains(&format!("href=\"{escaped}\"")),
        "the exact link as the href: {}",
        mail.html
    );
    // Splitting the text at any character that is not part of a URL never
    // yields a second http(s) link.
    let links = mail
        .body
        .split(|c: char| !c.is_ascii() || !is_uri_byte(c as u8))
        .filter(|part| part.contains("://"))
        .count();
    assert_eq!(links, 1, "{}", mail.body);
    // The pair works (and only once).
    let user = query_param(&link, "userId").unwrap();
    let secret = query_param(&link, "secret").unwrap();
    env.api.exchange(&user, &secret, Auth::None).await.assert_status(201);
}

// 2. One prefix spending a deployment-wide ceiling ----------------------------

/// Small budgets, so that the ceilings are reached in a test's time; every
/// request uses a new address, so per-address limits never decide.
const SMALL_BUDGETS: [(&str, &str); 8] = [
    ("TOKENGATE_LIMIT_MAGIC_URL_PER_CLIENT", "4"),
    ("TOKENGATE_LIMIT_MAGIC_URL_PER_IPV6_56", "8"),
    ("TOKENGATE_LIMIT_MAGIC_URL_PER_IPV6_48", "12"),
    ("TOKENGATE_LIMIT_MAGIC_URL_PER_IPV4_24", "6"),
    ("TOKENGATE_LIMIT_MAGIC_URL_NEW_ADDRESSES", "30"),
    ("TOKENGATE_LIMIT_MAGIC_URL_KNOWN_ADDRESSES", "100"),
    ("TOKENGATE_LIMIT_MIN_INTERVAL_S", "0"),
    ("TOKENGATE_LIMIT_EMAIL_PER_CLIENT", "10"),
];

async fn one_prefix_cannot_spend_the_ceiling(kind: AppKind, backend: Backend) {
    let env = start(kind, backend, &SMALL_BUDGETS).await;
    let api = &env.api;
    // A returning user, known before the attack: signed in once.
    magic(api, Some("198.51.100.1"), "returning@example.test")
        .await
        .assert_status(201);
    let link = find_link(&env.smtp.wait_for("returning@example.test", 1).await.body).expect("a link");
    let (user, secret) = (
        query_param(&link, "userId").unwrap(),
        query_param(&link, "secret").unwrap(),
    );
    env.api.exchange(&user, &secret, Auth::None).await.assert_status(201);
    let mut address = 0;
    let mut next = || {
        address += 1;
        format!("new{address}@example.test")
    };
    // One /56: 64 of its /64s, 3 requests each. Only the /56's budget (8)
    // gets through, however many /64s ask.
    let mut through = 0;
    for net in 0..64u32 {
        for host in 1..=3u32 {
            let client = format!("2001:db8:aa:ff{net:02x}::{host:x}");
            match magic(api, Some(&client), &next()).await.status {
                201 => through += 1,
                429 => {}
                other => panic!("{client}: {other}"),
            }
        }
    }
    assert_eq!(through, 8, "one /56");
    // Its /48 has 4 more (12 in all), whichever /56 asks.
    let mut through = 0;
    for net in 0..16u32 {
        let client = format!("2001:db8:aa:{net:02x}00::1");
        if magic(api, Some(&client), &next()).await.status == 201 {
            through += 1;
        }
    }
    assert_eq!(through, 4, "the rest of the /48");
    // One IPv4 /24: 6, from however many addresses.
    let mut through = 0;
    for host in 1..=40u32 {
        if magic(api, Some(&format!("203.0.113.{host}")), &next()).await.status == 201 {
            through += 1;
        }
    }
    assert_eq!(through, 6, "one /24");
    // Everyone else is unaffected: another /48 signs up...
    magic(api, Some("2001:db8:bb::1"), &next()).await.assert_status(201);
    // ...until many networks together spend the new-address ceiling (30:
    // the returning user, 8 + 4 + 6 above, the one just now, 10 more).
    for n in 0..10u32 {
        let client = format!("2001:db8:{:x}::1", 0x100 + n);
        magic(api, Some(&client), &next()).await.assert_status(201);
    }
    magic(api, Some("2001:db8:ffff::1"), &next())
        .await
        .assert_error(429, "general_rate_limit_exceeded");
    // An address asked for before but never signed in with is still new.
    magic(api, Some("2001:db8:ffff::3"), "new1@example.test")
        .await
        .assert_error(429, "general_rate_limit_exceeded");
    // Returning users still get their links: known addresses have a
    // ceiling of their own.
    magic(api, Some("2001:db8:ffff::2"), "returning@example.test")
        .await
        .assert_status(201);
    assert_eq!(
        env.smtp.wait_for("returning@example.test", 2).await.to,
        vec!["returning@example.test"]
    );
    // Other flows have their own budgets.
    let body = json!({ "userId": "unique()", "email": "otp@example.test" });
    ask(api, "/v1/account/tokens/email", Some(b"2001:db8:aa:ff00::9"), body)
        .await
        .assert_status(201);
}

// 3. An unreadable forwarding hop ----------------------------------------------

async fn an_unreadable_hop_keeps_the_client_its_own(kind: AppKind, backend: Backend) {
    let budgets = [
        ("TOKENGATE_LIMIT_EMAIL_PER_CLIENT", "2"),
        ("TOKENGATE_LIMIT_MIN_INTERVAL_S", "0"),
    ];
    let env = start(kind, backend, &budgets).await;
    let api = &env.api;
    // The client's own `\xff`, which the proxy forwards as `\xff, <client>`.
    let forwarded: &[u8] = b"\xff, 198.51.100.7";
    let mut first_user = String::new();
    for n in 0..3 {
        let body = json!({ "userId": "unique()", "email": format!("c{n}@example.test") });
        let reply = ask(api, "/v1/account/tokens/email", Some(forwarded), body).await;
        if n < 2 {
            reply.assert_status(201);
            if n == 0 {
                first_user = reply.str("userId").to_owned();
            }
        } else {
            reply.assert_error(429, "general_rate_limit_exceeded");
        }
    }
    // The same client without the byte: its budget is spent.
    let body = json!({ "userId": "unique()", "email": "c3@example.test" });
    ask(api, "/v1/account/tokens/email", Some(b"198.51.100.7"), body)
        .await
        .assert_error(429, "general_rate_limit_exceeded");
    // The proxy's own bucket was never touched.
    for n in 0..2 {
        let body = json!({ "userId": "unique()", "email": format!("proxy{n}@example.test") });
        ask(api, "/v1/account/tokens/email", None, body)
            .await
            .assert_status(201);
    }
    // And the session records the client, not the proxy.
    let code = find_code(&env.smtp.wait_for("c0@example.test", 1).await.body, 6).expect("a code");
    let body = json!({ "userId": first_user, "secret": code });
    let session = ask(api, "/v1/account/sessions/token", Some(forwarded), body).await;
    session.assert_status(201);
    assert_eq!(session.json["ip"], "198.51.100.7", "{}", session.text);
}

// 4. Anonymous requests that nobody follows up ---------------------------------

async fn anonymous_records_last_only_until_used(kind: AppKind, backend: Backend) {
    let settings = [
        ("TOKENGATE_CLIENT_CHOSEN_IDS", "1"),
        ("TOKENGATE_LIMIT_MIN_INTERVAL_S", "0"),
    ];
    let env = start(kind, backend, &settings).await;
    let api = &env.api;
    let redis = matches!(env.app.spec.backend, Backend::Redis(_));
    let identity = |keys: Vec<KeyDump>, user: &str| -> Vec<KeyDump> {
        keys.into_iter()
            .filter(|k| k.key.contains(&format!("{{u:{user}}}:user")) || k.key.contains("{a:"))
            .collect()
    };
    // An anonymous request for a new address: the user and its binding
    // live as long as the code (10 min) plus the grace (5 min).
    let body = json!({ "userId": "anon", "email": "anon@example.test" });
    ask(api, "/v1/account/tokens/email", None, body)
        .await
        .assert_status(201);
    if redis {
        let keys = identity(stored_keys(&env).await, "anon");
        assert_eq!(keys.len(), 2, "{keys:?}");
        for key in &keys {
            assert!(key.pttl > 0 && key.pttl <= 900_000, "{} lives {} ms", key.key, key.pttl);
        }
    }
    // The first sign-in keeps them for good.
    let code = find_code(&env.smtp.wait_for("anon@example.test", 1).await.body, 6).unwrap();
    api.exchange("anon", &code, Auth::None).await.assert_status(201);
    if redis {
        let keys = identity(stored_keys(&env).await, "anon");
        assert_eq!(keys.len(), 2, "{keys:?}");
        for key in &keys {
            assert_eq!(key.pttl, -1, "{} still expires", key.key);
        }
    }
    // An API-key caller's new user is kept at once.
    let body = json!({ "userId": "keyed", "email": "keyed@example.test" });
    api.send(Method::POST, "/v1/account/tokens/email", Auth::Key, Some(&body))
        .await
        .assert_status(201);
    if redis {
        let keys = identity(stored_keys(&env).await, "keyed");
        assert!(keys.iter().all(|k| k.pttl == -1), "{keys:?}");
    }
    // A failed delivery withdraws what the request made: the user is
    // unknown again, and its address is free for anyone.
    env.sms.answer_with(500);
    let body = json!({ "userId": "ghost", "phone": "+15005550123" });
    ask(api, "/v1/account/tokens/phone", None, body)
        .await
        .assert_status(503);
    api.get("/v1/users/ghost", Auth::Key)
        .await
        .assert_error(404, "user_not_found");
    if redis {
        let left = identity(stored_keys(&env).await, "ghost");
        assert!(left.iter().all(|k| !k.key.contains("{u:ghost}")), "{left:?}");
    }
    env.sms.answer_with(200);
    let body = json!({ "userId": "unique()", "phone": "+15005550123" });
    let reply = ask(api, "/v1/account/tokens/phone", None, body).await;
    reply.assert_status(201);
    assert_ne!(reply.str("userId"), "ghost", "a withdrawn binding was kept");
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
    };
}

async fn redis() -> Backend {
    Backend::Redis(redis_url().await)
}

suite!(
    a_url_cannot_smuggle_a_second_link,
    one_prefix_cannot_spend_the_ceiling,
    an_unreadable_hop_keeps_the_client_its_own,
    anonymous_records_last_only_until_used,
);
