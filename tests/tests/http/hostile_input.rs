//! Hostile input: one table of malformed requests across every route, run
//! against both example apps. Each answers the expected 4xx with Appwrite's
//! JSON error (never a 5xx), the app is still alive afterwards, and on Redis
//! the keyspace under the app's prefix is byte-for-byte what it was before
//! (issuance rate-limit buckets aside).
//!
//! The users the table guesses wrong secrets for have no outstanding token
//! (a wrong guess legitimately counts a failure only for a user with
//! something to guess). `holder` does have one: every request naming it is
//! malformed in a way that must be refused before the store is asked, so its
//! failure counter staying absent is part of the check.

use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use reqwest::header::{HeaderName, HeaderValue};
use reqwest::Method;
use serde_json::{json, Value};
use tokengate_tests::app::{AppKind, AppSpec, Backend, RunningApp};
use tokengate_tests::client::{Api, Auth};
use tokengate_tests::redis_harness::{dump_prefix, redis_url, KeyDump};

/// How a case authenticates.
#[derive(Debug, Clone)]
enum Cred {
    None,
    /// The app's API key.
    Key,
    /// `X-Appwrite-Key` with these bytes.
    KeyBytes(Vec<u8>),
    /// `X-Appwrite-Session` with these bytes.
    Session(Vec<u8>),
    /// The session cookie with these bytes as its value.
    Cookie(Vec<u8>),
}

/// What `X-Appwrite-Project` says.
#[derive(Debug, Clone, Copy)]
enum Project {
    Right,
    Absent,
    Wrong,
}

#[derive(Debug, Clone)]
struct Case {
    name: String,
    method: Method,
    path: String,
    cred: Cred,
    project: Project,
    body: Option<Vec<u8>>,
    status: u16,
    kind: &'static str,
}

fn case(name: impl Into<String>, method: Method, path: impl Into<String>, status: u16, kind: &'static str) -> Case {
    Case {
        name: name.into(),
        method,
        path: path.into(),
        cred: Cred::None,
        project: Project::Right,
        body: None,
        status,
        kind,
    }
}

impl Case {
    fn cred(mut self, cred: Cred) -> Self {
        self.cred = cred;
        self
    }
    fn project(mut self, project: Project) -> Self {
        self.project = project;
        self
    }
    fn raw(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(body.into());
        self
    }
    fn json(self, body: Value) -> Self {
        self.raw(body.to_string())
    }
}

const BAD_ARG: &str = "general_argument_invalid";
const INVALID_TOKEN: &str = "user_invalid_token";
const UNAUTHORIZED: &str = "user_unauthorized";
/// A guest on an account route, or a users route without the API key.
const SCOPE: &str = "general_unauthorized_scope";
const NOT_FOUND: &str = "user_session_not_found";
const ROUTE_NOT_FOUND: &str = "general_route_not_found";
const NOT_ALLOWED: &str = "general_not_implemented";

/// What the table needs from the setup.
struct Fixture {
    /// A live session of `victim`.
    victim: String,
    /// The id of `victim`'s second session.
    victim_other_session: String,
    /// A live session of `intruder`.
    intruder: String,
    /// A logged-out session of `revoked`.
    revoked: String,
}

/// Logs in, leaves a token outstanding and a session revoked: state the
/// table must not change.
async fn setup(api: &Api) -> Fixture {
    let (victim, _) = api.login("victim").await;
    let (_, second) = api.login("victim").await;
    let (intruder, _) = api.login("intruder").await;
    let (revoked, _) = api.login("revoked").await;
    api.logout(&revoked).await.assert_status(204);
    api.create_token("holder", json!({ "length": 64, "expire": 3600 }))
        .await
        .assert_status(201);
    api.send(
        Method::POST,
        "/v1/account/tokens/email",
        Auth::Key,
        Some(&json!({ "userId": "mailer", "email": "mailer@example.test" })),
    )
    .await
    .assert_status(201);
    Fixture {
        victim,
        victim_other_session: second["$id"].as_str().expect("session id").to_owned(),
        intruder,
        revoked,
    }
}

/// A credential whose secret differs from `credential`'s in its last bits
/// only, which a lenient base64 decoder reads as the same 32 bytes.
fn non_canonical(credential: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bytes = credential.as_bytes().to_vec();
    let last = bytes.last_mut().expect("not empty");
    let index = ALPHABET.iter().position(|c| c == last).expect("base64url");
    *last = ALPHABET[index ^ 1];
    String::from_utf8(bytes).expect("ascii")
}

fn flip_last(credential: &str) -> String {
    let mut forged = credential.to_owned();
    let last = forged.pop().expect("not empty");
    forged.push(if last == 'A' { 'B' } else { 'A' });
    forged
}

fn secret_part(credential: &str) -> &str {
    credential.rsplit_once('.').expect("userId.secret").1
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn percent_encode_all(text: &str) -> String {
    text.bytes().map(|b| format!("%{b:02X}")).collect()
}

fn nested(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

/// The table: more than a hundred malformed requests over every route.
fn corpus(api: &Api, f: &Fixture) -> Vec<Case> {
    use Method as M;
    let key = Cred::Key;
    let victim = || Cred::Session(f.victim.clone().into_bytes());
    let tokens = "/v1/users/victim/tokens";
    let exchange = "/v1/account/sessions/token";
    let email = "/v1/account/tokens/email";
    let magic = "/v1/account/tokens/magic-url";
    let phone = "/v1/account/tokens/phone";
    let sessions_of = "/v1/users/victim/sessions";
    let long_id = "a".repeat(37);
    let victim_bytes = URL_SAFE_NO_PAD
        .decode(secret_part(&f.victim))
        .expect("a base64url secret");
    let victim_bytes = victim_bytes.as_slice();
    let mut cases = vec![
        // Custom tokens (API key).
        case("token: broken JSON", M::POST, tokens, 400, BAD_ARG)
            .cred(key.clone())
            .raw("{\"length\": 8"),
        case("token: JSON array", M::POST, tokens, 400, BAD_ARG)
            .cred(key.clone())
            .raw("[8, 900]"),
        case("token: JSON string", M::POST, tokens, 400, BAD_ARG)
            .cred(key.clone())
            .raw("\"length\""),
        case("token: length as string", M::POST, tokens, 400, BAD_ARG)
            .cred(key.clone())
            .json(json!({ "length": "8" })),
        case("token: length fractional", M::POST, tokens, 400, BAD_ARG)
            .cred(key.clone())
            .json(json!({ "length": 8.5 })),
        case("token: length 3", M::POST, tokens, 400, BAD_ARG)
            .cred(key.clone())
            .json(json!({ "length": 3 })),
        case("token: length 129", M::POST, tokens, 400, BAD_ARG)
            .cred(key.clone())
            .json(json!({ "length": 129 })),
        case("token: length negative", M::POST, tokens, 400, BAD_ARG)
            .cred(key.clone())
            .json(json!({ "length": -8 })),
        case("token: length 1e30", M::POST, tokens, 400, BAD_ARG)
            .cred(key.clone())
            .raw("{\"length\": 1e30}"),
        case("token: length u64 overflow", M::POST, tokens, 400, BAD_ARG)
            .cred(key.clone())
            .raw("{\"length\": 18446744073709551622}"),
        case("token: expire 59", M::POST, tokens, 400, BAD_ARG)
            .cred(key.clone())
            .json(json!({ "expire": 59 })),
        case("token: expire over a year", M::POST, tokens, 400, BAD_ARG)
            .cred(key.clone())
            .json(json!({ "expire": 31_536_001 })),
        case("token: expire as string", M::POST, tokens, 400, BAD_ARG)
            .cred(key.clone())
            .json(json!({ "expire": "900" })),
        case("token: expire as bool", M::POST, tokens, 400, BAD_ARG)
            .cred(key.clone())
            .json(json!({ "expire": true })),
        // Unknown keys are ignored (a newer SDK's parameter: `http_suite`),
        // but a key given twice is refused, also an unknown one.
        case("token: a key twice", M::POST, tokens, 400, BAD_ARG)
            .cred(key.clone())
            .raw(r#"{"length": 8, "admin": true, "admin": false}"#.to_owned()),
        case("token: invalid UTF-8 in JSON", M::POST, tokens, 400, BAD_ARG)
            .cred(key.clone())
            .raw(b"{\"length\": \"\xff\xfe\"}".to_vec()),
        case("token: NUL bytes body", M::POST, tokens, 400, BAD_ARG)
            .cred(key.clone())
            .raw(vec![0u8; 16]),
        case("token: 10,000-deep nesting", M::POST, tokens, 400, BAD_ARG)
            .cred(key.clone())
            .raw(nested(10_000)),
        case("token: 64 KiB + 1 body", M::POST, tokens, 413, BAD_ARG)
            .cred(key.clone())
            .raw(vec![b' '; 64 * 1024 + 1]),
        case("token: 5 MiB body", M::POST, tokens, 413, BAD_ARG)
            .cred(key.clone())
            .raw(vec![b'{'; 5 * 1024 * 1024]),
        case(
            "token: 37-char user id",
            M::POST,
            format!("/v1/users/{long_id}/tokens"),
            400,
            BAD_ARG,
        )
        .cred(key.clone())
        .json(json!({})),
        case(
            "token: user id starts with _",
            M::POST,
            "/v1/users/_victim/tokens",
            400,
            BAD_ARG,
        )
        .cred(key.clone())
        .json(json!({})),
        case(
            "token: user id starts with .",
            M::POST,
            "/v1/users/.victim/tokens",
            400,
            BAD_ARG,
        )
        .cred(key.clone())
        .json(json!({})),
        case(
            "token: user id invalid UTF-8",
            M::POST,
            "/v1/users/%FF%FE/tokens",
            400,
            BAD_ARG,
        )
        .cred(key.clone())
        .json(json!({})),
        case(
            "token: user id with NUL",
            M::POST,
            "/v1/users/vic%00tim/tokens",
            400,
            BAD_ARG,
        )
        .cred(key.clone())
        .json(json!({})),
        case(
            "token: user id homoglyph",
            M::POST,
            "/v1/users/vi%D1%81tim/tokens",
            400,
            BAD_ARG,
        )
        .cred(key.clone())
        .json(json!({})),
        case(
            "token: user id unique()",
            M::POST,
            "/v1/users/unique()/tokens",
            400,
            BAD_ARG,
        )
        .cred(key.clone())
        .json(json!({})),
        case("token: empty user id", M::POST, "/v1/users//tokens", 400, BAD_ARG)
            .cred(key.clone())
            .json(json!({})),
        case("token: no API key", M::POST, tokens, 401, SCOPE).json(json!({})),
        case("token: wrong API key", M::POST, tokens, 401, SCOPE)
            .cred(Cred::KeyBytes(b"not-the-key-not-the-key".to_vec()))
            .json(json!({})),
        case("token: API key plus one char", M::POST, tokens, 401, SCOPE)
            .cred(Cred::KeyBytes(format!("{}x", api.api_key).into_bytes()))
            .json(json!({})),
        case("token: API key prefix", M::POST, tokens, 401, SCOPE)
            .cred(Cred::KeyBytes(api.api_key.as_bytes()[..api.api_key.len() - 1].to_vec()))
            .json(json!({})),
        case("token: API key invalid UTF-8", M::POST, tokens, 401, SCOPE)
            .cred(Cred::KeyBytes(b"\xff\xfe\xfd".to_vec()))
            .json(json!({})),
        case("token: session instead of key", M::POST, tokens, 401, SCOPE)
            .cred(victim())
            .json(json!({})),
        case("token: wrong project", M::POST, tokens, 400, BAD_ARG)
            .cred(key.clone())
            .project(Project::Wrong)
            .json(json!({})),
        case(
            "token: trailing slash",
            M::POST,
            "/v1/users/victim/tokens/",
            404,
            ROUTE_NOT_FOUND,
        )
        .cred(key.clone())
        .json(json!({})),
        case("token: wrong method", M::PUT, tokens, 405, NOT_ALLOWED)
            .cred(key.clone())
            .json(json!({})),
        // Exchange.
        case("exchange: missing secret", M::POST, exchange, 400, BAD_ARG).json(json!({ "userId": "holder" })),
        case("exchange: missing userId", M::POST, exchange, 400, BAD_ARG).json(json!({ "secret": "00000000" })),
        case("exchange: userId as number", M::POST, exchange, 400, BAD_ARG)
            .json(json!({ "userId": 7, "secret": "00000000" })),
        case("exchange: secret as number", M::POST, exchange, 400, BAD_ARG)
            .json(json!({ "userId": "holder", "secret": 123456 })),
        case("exchange: secret null", M::POST, exchange, 400, BAD_ARG)
            .json(json!({ "userId": "holder", "secret": null })),
        case("exchange: secret as object", M::POST, exchange, 400, BAD_ARG)
            .json(json!({ "userId": "holder", "secret": { "$ne": "" } })),
        case("exchange: secret twice", M::POST, exchange, 400, BAD_ARG)
            .raw(r#"{"userId": "holder", "secret": "00000000", "secret": "11111111"}"#.to_owned()),
        case("exchange: 37-char userId", M::POST, exchange, 400, BAD_ARG)
            .json(json!({ "userId": long_id, "secret": "00000000" })),
        case("exchange: homoglyph userId", M::POST, exchange, 400, BAD_ARG)
            .json(json!({ "userId": "h\u{043e}lder", "secret": "00000000" })),
        case("exchange: userId with NUL", M::POST, exchange, 400, BAD_ARG)
            .json(json!({ "userId": "holder\u{0}", "secret": "00000000" })),
        case("exchange: invalid UTF-8 secret", M::POST, exchange, 400, BAD_ARG)
            .raw(b"{\"userId\": \"holder\", \"secret\": \"\xc3\x28\"}".to_vec()),
        case("exchange: empty secret", M::POST, exchange, 401, INVALID_TOKEN)
            .json(json!({ "userId": "holder", "secret": "" })),
        case("exchange: 300-char secret", M::POST, exchange, 401, INVALID_TOKEN)
            .json(json!({ "userId": "holder", "secret": "a".repeat(300) })),
        case("exchange: 60 KiB secret", M::POST, exchange, 401, INVALID_TOKEN)
            .json(json!({ "userId": "holder", "secret": "f".repeat(60 * 1024) })),
        case("exchange: wrong API key", M::POST, exchange, 401, UNAUTHORIZED)
            .cred(Cred::KeyBytes(b"not-the-key-not-the-key".to_vec()))
            .json(json!({ "userId": "holder", "secret": "00000000" })),
        case("exchange: wrong project", M::POST, exchange, 400, BAD_ARG)
            .project(Project::Wrong)
            .json(json!({ "userId": "holder", "secret": "00000000" })),
        case("exchange: unknown user", M::POST, exchange, 401, INVALID_TOKEN)
            .json(json!({ "userId": "ghost", "secret": "000000" })),
        case(
            "exchange: NUL secret, unknown user",
            M::POST,
            exchange,
            401,
            INVALID_TOKEN,
        )
        .json(json!({ "userId": "ghost", "secret": "\u{0}\u{0}\u{0}\u{0}" })),
        case("exchange: duplicate keys", M::POST, exchange, 400, BAD_ARG)
            .raw("{\"userId\": \"holder\", \"userId\": \"ghost\", \"secret\": \"000000\"}"),
        case("exchange: 64 KiB + 1 body", M::POST, exchange, 413, BAD_ARG).raw(vec![b' '; 64 * 1024 + 1]),
        case("exchange: 3 MiB JSON", M::POST, exchange, 413, BAD_ARG).raw(format!(
            "{{\"userId\": \"holder\", \"secret\": \"{}\"}}",
            "0".repeat(3 << 20)
        )),
        case("exchange: GET", M::GET, exchange, 405, NOT_ALLOWED),
        // Account routes with forged and foreign credentials.
        case("account: forged credential", M::GET, "/v1/account", 401, SCOPE)
            .cred(Cred::Session(flip_last(&f.victim).into_bytes())),
        case("account: truncated credential", M::GET, "/v1/account", 401, SCOPE)
            .cred(Cred::Session(f.victim.as_bytes()[..f.victim.len() - 1].to_vec())),
        case("account: non-canonical base64", M::GET, "/v1/account", 401, SCOPE)
            .cred(Cred::Session(non_canonical(&f.victim).into_bytes())),
        case(
            "account: re-encoded, padded base64url",
            M::GET,
            "/v1/account",
            401,
            SCOPE,
        )
        .cred(Cred::Session(
            format!("victim.{}", URL_SAFE.encode(victim_bytes)).into_bytes(),
        )),
        case(
            "account: re-encoded, standard base64",
            M::GET,
            "/v1/account",
            401,
            SCOPE,
        )
        .cred(Cred::Session(
            format!("victim.{}", STANDARD.encode(victim_bytes)).into_bytes(),
        )),
        case("account: re-encoded, hex", M::GET, "/v1/account", 401, SCOPE)
            .cred(Cred::Session(format!("victim.{}", hex(victim_bytes)).into_bytes())),
        case(
            "account: re-encoded, percent-encoded",
            M::GET,
            "/v1/account",
            401,
            SCOPE,
        )
        .cred(Cred::Session(percent_encode_all(&f.victim).into_bytes())),
        case("account: cross-user credential", M::GET, "/v1/account", 401, SCOPE).cred(Cred::Session(
            format!("intruder.{}", secret_part(&f.victim)).into_bytes(),
        )),
        case("account: user id case changed", M::GET, "/v1/account", 401, SCOPE)
            .cred(Cred::Session(format!("VICTIM.{}", secret_part(&f.victim)).into_bytes())),
        case("account: 37-char user in credential", M::GET, "/v1/account", 401, SCOPE).cred(Cred::Session(
            format!("{long_id}.{}", secret_part(&f.victim)).into_bytes(),
        )),
        case("account: revoked credential", M::GET, "/v1/account", 401, SCOPE)
            .cred(Cred::Session(f.revoked.clone().into_bytes())),
        case("account: invalid UTF-8 header", M::GET, "/v1/account", 401, SCOPE)
            .cred(Cred::Session(b"victim.\xff\xfe".to_vec())),
        case("account: invalid UTF-8 cookie", M::GET, "/v1/account", 401, SCOPE)
            .cred(Cred::Cookie(b"\xff\xfe\xfd".to_vec())),
        case("account: 8 KiB garbage header", M::GET, "/v1/account", 401, SCOPE)
            .cred(Cred::Session(vec![b'A'; 8 * 1024])),
        case("account: API key is no session", M::GET, "/v1/account", 401, SCOPE).cred(key.clone()),
        case("account: wrong project", M::GET, "/v1/account", 400, BAD_ARG)
            .cred(victim())
            .project(Project::Wrong),
        case("account: POST", M::POST, "/v1/account", 405, NOT_ALLOWED)
            .cred(victim())
            .json(json!({})),
        case("sessions: list, forged", M::GET, "/v1/account/sessions", 401, SCOPE)
            .cred(Cred::Cookie(flip_last(&f.victim).into_bytes())),
        case(
            "sessions: logout-all, body array",
            M::DELETE,
            "/v1/account/sessions",
            400,
            BAD_ARG,
        )
        .cred(victim())
        .raw("[]"),
        case(
            "sessions: logout-all, no session",
            M::DELETE,
            "/v1/account/sessions",
            401,
            SCOPE,
        )
        .json(json!({})),
        case(
            "session: extend with a key twice",
            M::PATCH,
            "/v1/account/sessions/current",
            400,
            BAD_ARG,
        )
        .cred(victim())
        .raw(r#"{"expire": 1, "expire": 2}"#.to_owned()),
        case(
            "session: logout, broken JSON",
            M::DELETE,
            "/v1/account/sessions/current",
            400,
            BAD_ARG,
        )
        .cred(victim())
        .raw("{"),
        case(
            "session: unknown id",
            M::GET,
            "/v1/account/sessions/00000000000000000000",
            404,
            NOT_FOUND,
        )
        .cred(victim()),
        case(
            "session: another user's id",
            M::DELETE,
            format!("/v1/account/sessions/{}", f.victim_other_session),
            404,
            NOT_FOUND,
        )
        .cred(Cred::Session(f.intruder.clone().into_bytes())),
        case(
            "session: extend another user's",
            M::PATCH,
            format!("/v1/account/sessions/{}", f.victim_other_session),
            404,
            NOT_FOUND,
        )
        .cred(Cred::Session(f.intruder.clone().into_bytes())),
        case(
            "session: overlong id",
            M::GET,
            format!("/v1/account/sessions/{}", "0".repeat(4096)),
            404,
            NOT_FOUND,
        )
        .cred(victim()),
        case(
            "session: nested path",
            M::GET,
            "/v1/account/sessions/current/extra",
            404,
            ROUTE_NOT_FOUND,
        )
        .cred(victim()),
        // Admin session routes.
        case("admin: list, no key", M::GET, sessions_of, 401, SCOPE),
        case("admin: revoke all, wrong key", M::DELETE, sessions_of, 401, SCOPE)
            .cred(Cred::KeyBytes(b"not-the-key-not-the-key".to_vec())),
        case("admin: create, session not key", M::POST, sessions_of, 401, SCOPE)
            .cred(victim())
            .json(json!({})),
        case(
            "admin: revoke one, no key",
            M::DELETE,
            format!("{sessions_of}/{}", f.victim_other_session),
            401,
            SCOPE,
        ),
        case("admin: revoke all, a key twice", M::DELETE, sessions_of, 400, BAD_ARG)
            .cred(key.clone())
            .raw(r#"{"all": true, "all": true}"#.to_owned()),
        case("admin: create, a key twice", M::POST, sessions_of, 400, BAD_ARG)
            .cred(key.clone())
            .raw(r#"{"userId": "victim", "userId": "victim"}"#.to_owned()),
        case(
            "admin: revoke other user's session",
            M::DELETE,
            format!("/v1/users/intruder/sessions/{}", f.victim_other_session),
            404,
            NOT_FOUND,
        )
        .cred(key.clone()),
        case("admin: bad user id", M::GET, "/v1/users/-victim/sessions", 400, BAD_ARG).cred(key.clone()),
        case("admin: wrong project", M::DELETE, sessions_of, 400, BAD_ARG)
            .cred(key.clone())
            .project(Project::Wrong),
        // Passwordless flows (anonymous).
        case("email: fullwidth letter", M::POST, email, 400, BAD_ARG)
            .json(json!({ "userId": "unique()", "email": "\u{ff41}@example.test" })),
        case("email: Cyrillic homoglyph", M::POST, email, 400, BAD_ARG)
            .json(json!({ "userId": "unique()", "email": "m\u{0430}iler@example.test" })),
        case("email: NUL", M::POST, email, 400, BAD_ARG)
            .json(json!({ "userId": "unique()", "email": "mailer\u{0}@example.test" })),
        case("email: right-to-left override", M::POST, email, 400, BAD_ARG)
            .json(json!({ "userId": "unique()", "email": "mailer\u{202e}@example.test" })),
        case("email: zero-width space", M::POST, email, 400, BAD_ARG)
            .json(json!({ "userId": "unique()", "email": "mai\u{200b}ler@example.test" })),
        case("email: 300 chars", M::POST, email, 400, BAD_ARG)
            .json(json!({ "userId": "unique()", "email": format!("{}@example.test", "a".repeat(300)) })),
        case("email: as number", M::POST, email, 400, BAD_ARG).json(json!({ "userId": "unique()", "email": 42 })),
        case("email: missing", M::POST, email, 400, BAD_ARG).json(json!({ "userId": "unique()" })),
        case("email: phrase as string", M::POST, email, 400, BAD_ARG)
            .json(json!({ "userId": "unique()", "email": "mailer@example.test", "phrase": "yes" })),
        case("email: bad userId", M::POST, email, 400, BAD_ARG)
            .json(json!({ "userId": "_mailer", "email": "mailer@example.test" })),
        case("email: wrong API key", M::POST, email, 401, UNAUTHORIZED)
            .cred(Cred::KeyBytes(b"not-the-key-not-the-key".to_vec()))
            .json(json!({ "userId": "unique()", "email": "mailer@example.test" })),
        case("email: wrong project", M::POST, email, 400, BAD_ARG)
            .project(Project::Wrong)
            .json(json!({ "userId": "unique()", "email": "mailer@example.test" })),
        case("magic: javascript: url", M::POST, magic, 400, BAD_ARG)
            .json(json!({ "userId": "unique()", "email": "mailer@example.test", "url": "javascript:alert(1)" })),
        case("magic: foreign host", M::POST, magic, 400, BAD_ARG)
            .json(json!({ "userId": "unique()", "email": "mailer@example.test", "url": "https://evil.test/" })),
        case("magic: url as number", M::POST, magic, 400, BAD_ARG)
            .json(json!({ "userId": "unique()", "email": "mailer@example.test", "url": 1 })),
        case("magic: IDN homoglyph email", M::POST, magic, 400, BAD_ARG)
            .json(json!({ "userId": "unique()", "email": "mailer@ex\u{0430}mple.test" })),
        case("phone: fullwidth digits", M::POST, phone, 400, BAD_ARG)
            .json(json!({ "userId": "unique()", "phone": "+\u{ff11}\u{ff14}\u{ff11}\u{ff15}5550123" })),
        case("phone: Arabic-Indic digits", M::POST, phone, 400, BAD_ARG)
            .json(json!({ "userId": "unique()", "phone": "+\u{0661}\u{0664}\u{0661}\u{0665}5550123" })),
        case("phone: spaces", M::POST, phone, 400, BAD_ARG)
            .json(json!({ "userId": "unique()", "phone": "+1 415 555 0123" })),
        case("phone: 16 digits", M::POST, phone, 400, BAD_ARG)
            .json(json!({ "userId": "unique()", "phone": "+1234567890123456" })),
        case("phone: NUL", M::POST, phone, 400, BAD_ARG)
            .json(json!({ "userId": "unique()", "phone": "+14155550123\u{0}" })),
        case("phone: as number", M::POST, phone, 400, BAD_ARG)
            .json(json!({ "userId": "unique()", "phone": 14155550123u64 })),
        case("phone: GET", M::GET, phone, 405, NOT_ALLOWED),
        // The application's own route behind the extractor.
        case("me: forged credential", M::GET, "/me", 401, UNAUTHORIZED)
            .cred(Cred::Session(flip_last(&f.victim).into_bytes())),
        case("me: non-canonical credential", M::GET, "/me", 401, UNAUTHORIZED)
            .cred(Cred::Cookie(non_canonical(&f.victim).into_bytes())),
        case("me: revoked credential", M::GET, "/me", 401, UNAUTHORIZED)
            .cred(Cred::Cookie(f.revoked.clone().into_bytes())),
        case("me: invalid UTF-8 credential", M::GET, "/me", 401, UNAUTHORIZED)
            .cred(Cred::Session(b"\xc3\x28.\xa0\xa1".to_vec())),
    ];
    // The project header may also be absent; the request is judged on the rest.
    cases.push(
        case("token: no project, no key", M::POST, tokens, 401, SCOPE)
            .project(Project::Absent)
            .json(json!({})),
    );
    cases
}

async fn send(client: &reqwest::Client, app: &RunningApp, api: &Api, case: &Case) -> (u16, Option<String>, String) {
    let mut request = client.request(case.method.clone(), format!("{}{}", app.origin, case.path));
    match case.project {
        Project::Right => request = request.header("x-appwrite-project", &api.project),
        Project::Absent => {}
        Project::Wrong => request = request.header("x-appwrite-project", "another-project"),
    }
    let raw_header = |name: &str, value: &[u8]| {
        (
            HeaderName::from_bytes(name.as_bytes()).expect("header name"),
            HeaderValue::from_bytes(value).expect("a header value that HTTP allows"),
        )
    };
    let extra = match &case.cred {
        Cred::None => None,
        Cred::Key => Some(raw_header("x-appwrite-key", api.api_key.as_bytes())),
        Cred::KeyBytes(value) => Some(raw_header("x-appwrite-key", value)),
        Cred::Session(value) => Some(raw_header("x-appwrite-session", value)),
        Cred::Cookie(value) => {
            let mut cookie = format!("{}=", api.cookie_name).into_bytes();
            cookie.extend_from_slice(value);
            Some(raw_header("cookie", &cookie))
        }
    };
    if let Some((name, value)) = extra {
        request = request.header(name, value);
    }
    if let Some(body) = &case.body {
        request = request.header("content-type", "application/json").body(body.clone());
    }
    let response = request
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}: request failed: {e}", case.name));
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let text = response.text().await.unwrap_or_default();
    (status, content_type, text)
}

/// The keyspace as comparable values: key, type, contents, and whether it
/// expires (the remaining TTL itself moves on). Rate-limit buckets, which
/// refused issuance requests may legitimately touch, are left out.
fn comparable(dump: &[KeyDump]) -> Vec<(String, String, Vec<Vec<u8>>, bool)> {
    let mut out: Vec<_> = dump
        .iter()
        .filter(|k| !k.key.contains(":{r:"))
        .map(|k| {
            let mut contents = k.contents.clone();
            if k.kind == "hash" {
                // HGETALL order is not part of the state: compare pairs sorted.
                let mut pairs: Vec<Vec<Vec<u8>>> = contents.chunks(2).map(<[Vec<u8>]>::to_vec).collect();
                pairs.sort();
                contents = pairs.concat();
            }
            (k.key.clone(), k.kind.clone(), contents, k.pttl >= 0)
        })
        .collect();
    out.sort();
    out
}

async fn run(kind: AppKind, redis: bool) {
    let backend = if redis {
        Backend::Redis(redis_url().await)
    } else {
        Backend::Memory
    };
    let mut spec = AppSpec::new(kind, backend.clone());
    // Codes go to the log here: the table is about input, not delivery.
    spec.extra_env = vec![("TOKENGATE_DEV".into(), "1".into())];
    let mut app = RunningApp::start(spec).await;
    let api = Api::new(&app);
    let fixture = setup(&api).await;
    let before = match &backend {
        Backend::Redis(url) => Some(dump_prefix(url, &app.spec.prefix).await),
        _ => None,
    };

    let cases = corpus(&api, &fixture);
    assert!(cases.len() >= 100, "the corpus has {} cases", cases.len());
    let client = reqwest::Client::new();
    let mut failures = Vec::new();
    for case in &cases {
        let (status, content_type, text) = send(&client, &app, &api, case).await;
        let json: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let problems: Vec<String> = [
            (status >= 500).then(|| format!("a server error {status}")),
            (status != case.status).then(|| format!("status {status}, expected {}", case.status)),
            (!content_type
                .as_deref()
                .is_some_and(|c| c.starts_with("application/json")))
            .then(|| format!("content type {content_type:?}")),
            (json["type"] != case.kind).then(|| format!("type {}, expected {}", json["type"], case.kind)),
            (json["code"] != status).then(|| format!("code {}", json["code"])),
            json["message"]
                .as_str()
                .is_none_or(str::is_empty)
                .then(|| "no message".to_owned()),
            (!json["version"].is_string()).then(|| "no version".to_owned()),
        ]
        .into_iter()
        .flatten()
        .collect();
        if !problems.is_empty() {
            let shown: String = text.chars().take(300).collect();
            failures.push(format!("{}: {} (body: {shown})", case.name, problems.join("; ")));
        }
    }
    assert!(
        failures.is_empty(),
        "{kind:?}: {} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );

    // Still alive: the process has not exited and still serves.
    assert!(!app.has_exited(), "{kind:?} exited during the corpus");
    api.get("/public", Auth::None).await.assert_status(200);
    api.get("/me", Auth::Session(&fixture.victim)).await.assert_status(200);

    if let (Backend::Redis(url), Some(before)) = (&backend, before) {
        let after = dump_prefix(url, &app.spec.prefix).await;
        let (before, after) = (comparable(&before), comparable(&after));
        let gone: Vec<_> = before.iter().filter(|k| !after.contains(k)).map(|k| &k.0).collect();
        let new: Vec<_> = after.iter().filter(|k| !before.contains(k)).map(|k| &k.0).collect();
        assert!(
            gone.is_empty() && new.is_empty(),
            "{kind:?}: the keyspace changed: changed or removed {gone:?}, changed or added {new:?}"
        );
        assert!(
            before.iter().any(|k| k.0.contains("{u:holder}:t")),
            "the fixture's outstanding token is part of the compared state"
        );
    }
}

#[tokio::test]
async fn axum_redis() {
    run(AppKind::Axum, true).await;
}

#[tokio::test]
async fn actix_redis() {
    run(AppKind::Actix, true).await;
}

#[tokio::test]
async fn axum_memory() {
    run(AppKind::Axum, false).await;
}

#[tokio::test]
async fn actix_memory() {
    run(AppKind::Actix, false).await;
}
