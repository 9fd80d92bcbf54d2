//! Timing and enumeration: secrets and digests are compared in constant
//! time (checked on the source: no `==`/`!=` on them), an exchange for an
//! unknown user does the same digest work as for a known one, and issuing
//! for a known and an unknown address answers alike.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};
use tokengate::store::MemoryStore;
use tokengate::{ClientInfo, Error, Gate, ServerSecret, TokenOptions, UserId};
use tokengate_tests::app::{AppKind, AppSpec, Backend, RunningApp};
use tokengate_tests::client::{Api, Auth, Reply, TOKEN_FIELDS};

// ---------------------------------------------------------------------------
// No `==` on secrets.

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the workspace")
        .to_path_buf()
}

fn source_files(dir: &Path, extensions: &[&str], out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            source_files(&path, extensions, out);
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| extensions.contains(&e))
        {
            out.push(path);
        }
    }
}

/// Identifier stems that name a secret, a digest of one, or a key.
const SENSITIVE: &[&str] = &[
    "secret",
    "digest",
    "api_key",
    "apikey",
    "credential",
    "password",
    "otp",
    "hmac",
];

/// Lines the scan flags that compare no secret in variable time, each
/// with the reason. Every entry must still match a line, so the list
/// cannot go stale.
const ALLOWED: &[(&str, &str, &str)] = &[
    // `Digest`'s `PartialEq` is `subtle`'s constant-time comparison
    // (checked by `digest_and_secret_equality_is_constant_time`).
    (
        "core/src/store/memory/mod.rs",
        "t.digest != *digest",
        "Digest == is constant-time",
    ),
    (
        "core/src/store/memory/mod.rs",
        "t.digest == *token",
        "Digest == is constant-time",
    ),
    (
        "core/src/store/memory/mod.rs",
        "s.record.digest == *digest",
        "Digest == is constant-time",
    ),
    // Lines of a function with a secret in scope whose comparison is of
    // something else.
    (
        "core/src/store/memory/mod.rs",
        "is_some_and(|(owner, _)| owner == user)",
        "compares user ids; the address digest only looks the binding up",
    ),
    (
        "core/src/directory.rs",
        "if owner != *user {",
        "compares user ids; the address digest only looked the binding up",
    ),
    (
        "core/src/api/cookie.rs",
        "cookie != AMBIGUOUS_COOKIE",
        "tells a marker the parser wrote from a cookie value; the marker is public",
    ),
    (
        "core/src/api/cookie.rs",
        "Some(other) if other != cookie",
        "compares two credentials of the same request, both the client's own",
    ),
    ("core/src/credential.rs", "written != 32", "a decoded length, public"),
];

/// The code of a Rust line: without a `//` comment (outside string literals).
fn code_part(line: &str) -> &str {
    let bytes = line.as_bytes();
    let mut in_string = false;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if in_string => i += 1,
            b'"' => in_string = !in_string,
            b'/' if !in_string && bytes.get(i + 1) == Some(&b'/') => return &line[..i],
            _ => {}
        }
        i += 1;
    }
    line
}

/// The words of a line of code: identifiers, each with what follows it.
fn words(code: &str) -> impl Iterator<Item = (&str, &str)> {
    let mut rest = code;
    std::iter::from_fn(move || {
        let start = rest.find(|c: char| c.is_ascii_alphanumeric() || c == '_')?;
        let tail = &rest[start..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        rest = &tail[end..];
        Some((&tail[..end], rest))
    })
}

/// Whether `word` (followed by `after`) names a secret: a sensitive stem
/// (not a SCREAMING_CASE constant such as `SECRET_TEXT_LEN`), the text of a
/// `Secret` (`expose()`), or a variable bound to one (`tainted`). A secret
/// used only for its length does not count.
fn names_secret(word: &str, after: &str, tainted: &[String]) -> bool {
    let only_length = after.starts_with(".len()") || after.starts_with(".is_empty()");
    if only_length {
        return false;
    }
    let lower = word.to_ascii_lowercase();
    let constant = word.bytes().all(|b| !b.is_ascii_lowercase());
    (SENSITIVE.iter().any(|s| lower.contains(s)) && !constant) || word == "expose" || tainted.iter().any(|t| t == word)
}

/// Whether a line of code compares something sensitive with `==`/`!=`
/// (Lua: `~=`): a sensitive name, a `Secret`'s text, or a variable that
/// holds one (`tainted`), whatever it is called.
fn compares_sensitive(code: &str, lua: bool, tainted: &[String]) -> bool {
    let has_operator = code.contains("==") || code.contains("!=") || (lua && code.contains("~="));
    has_operator && words(code).any(|(word, after)| names_secret(word, after, tainted))
}

/// The variables a line binds to a secret, whatever their names: `let`
/// bindings (and `if let` / `while let`) whose value names a secret, and
/// parameters whose type holds one (`Secret`, `ServerSecret`, `Digest`,
/// `SessionCredential`). They stay tainted to the end of the function.
fn binds_secret(code: &str, tainted: &[String]) -> Vec<String> {
    let mut bound = Vec::new();
    if let Some(at) = code.find("let ") {
        if let Some((pattern, value)) = code[at + 4..].split_once('=') {
            if !value.starts_with('=') && words(value).any(|(w, after)| names_secret(w, after, tainted)) {
                bound.extend(
                    words(pattern)
                        .map(|(w, _)| w)
                        .filter(|w| w.starts_with(|c: char| c.is_ascii_lowercase() || c == '_'))
                        .filter(|w| !["mut", "ref", "let", "if", "while", "_"].contains(w))
                        .map(str::to_owned),
                );
            }
        }
    }
    if let Some(params) = code
        .split_once("fn ")
        .and_then(|(_, rest)| rest.split_once('('))
        .map(|(_, p)| p)
    {
        // The parameters end at the first `)` (no tuple types here), before the return type.
        let params = params.split(')').next().unwrap_or_default();
        for param in params.split(',') {
            if let Some((name, ty)) = param.split_once(':') {
                let holds_secret = ["Secret", "Digest", "SessionCredential"]
                    .iter()
                    .any(|t| words(ty).any(|(w, _)| w.ends_with(t)));
                if holds_secret {
                    bound.extend(words(name).map(|(w, _)| w.to_owned()).filter(|w| w != "mut"));
                }
            }
        }
    }
    bound
}

/// The scan of one file's Rust lines: the variables bound to a secret in
/// the current function, and whether a `match` on one is open (its arms'
/// bindings hold the secret too).
#[derive(Default)]
struct Scan {
    tainted: Vec<String>,
    matching_secret: bool,
}

impl Scan {
    /// Whether `code` compares a secret with `==`/`!=`, after learning what
    /// it binds.
    fn compares(&mut self, code: &str) -> bool {
        // A new function starts with nothing tainted but its parameters.
        if code.contains("fn ") {
            self.tainted.clear();
            self.matching_secret = false;
        }
        if let Some((_, scrutinee)) = code.split_once("match ") {
            self.matching_secret = words(scrutinee).any(|(w, after)| names_secret(w, after, &self.tainted));
        }
        if self.matching_secret {
            if let Some((pattern, _)) = code.split_once("=>") {
                let pattern = pattern.split(" if ").next().unwrap_or_default();
                self.tainted.extend(
                    words(pattern)
                        .map(|(w, _)| w)
                        .filter(|w| w.starts_with(|c: char| c.is_ascii_lowercase()))
                        .map(str::to_owned),
                );
            }
        }
        let bound = binds_secret(code, &self.tainted);
        self.tainted.extend(bound);
        compares_sensitive(code, false, &self.tainted)
    }
}

#[test]
fn no_variable_time_comparison_of_secrets() {
    let root = workspace_root();
    let mut files = Vec::new();
    for dir in ["core/src", "tower-layer/src", "actix-middleware/src"] {
        source_files(&root.join(dir), &["rs", "lua"], &mut files);
    }
    assert!(files.len() > 20, "found only {} source files", files.len());
    let mut found = Vec::new();
    let mut allowed_seen = vec![false; ALLOWED.len()];
    for file in &files {
        let relative = file
            .strip_prefix(&root)
            .expect("under the root")
            .to_string_lossy()
            .replace('\\', "/");
        // Test code: unit-test modules in files of their own and the test kit.
        if relative.contains("/tests/") || relative.starts_with("core/src/testing/") {
            continue;
        }
        let lua = relative.ends_with(".lua");
        let text = std::fs::read_to_string(file).expect("source");
        let mut scan = Scan::default();
        for (number, line) in text.lines().enumerate() {
            let trimmed = line.trim_start();
            // Unit tests sit in a trailing `mod tests`; they may compare freely.
            if trimmed.starts_with("#[cfg(test)]") {
                break;
            }
            if trimmed.starts_with("//") || (lua && trimmed.starts_with("--")) {
                continue;
            }
            let code = if lua {
                line.split("--").next().unwrap_or_default()
            } else {
                code_part(line)
            };
            let compares = if lua {
                compares_sensitive(code, true, &[])
            } else {
                scan.compares(code)
            };
            if !compares {
                continue;
            }
            match ALLOWED
                .iter()
                .position(|(f, snippet, _)| *f == relative && code.contains(snippet))
            {
                Some(i) => allowed_seen[i] = true,
                None => found.push(format!("{relative}:{}: {}", number + 1, line.trim())),
            }
        }
    }
    assert!(
        found.is_empty(),
        "variable-time comparisons of secrets (use tokengate::secret::ct_eq or a Digest):\n{}",
        found.join("\n")
    );
    let stale: Vec<_> = ALLOWED
        .iter()
        .zip(&allowed_seen)
        .filter(|(_, seen)| !**seen)
        .map(|(entry, _)| entry)
        .collect();
    assert!(stale.is_empty(), "allow-list entries that match nothing: {stale:?}");
}

#[test]
fn the_scan_recognises_comparisons() {
    let none: &[String] = &[];
    assert!(compares_sensitive("if secret == given {", false, none));
    assert!(compares_sensitive("a.api_key != b", false, none));
    assert!(compares_sensitive("Some(d) if d.digest == x =>", false, none));
    assert!(compares_sensitive("if stored_digest ~= ARGV[1] then", true, none));
    // A Secret's text, whatever the variables are called.
    assert!(compares_sensitive(
        "Some(expected) if expected.expose() == given.to_str().unwrap_or_default() => Ok(true),",
        false,
        none
    ));
    assert!(!compares_sensitive("if secret.len() != 43 {", false, none));
    assert!(!compares_sensitive("if secret.is_empty() == false {", false, none));
    assert!(!compares_sensitive("let secret = compute();", false, none));
    assert!(!compares_sensitive("if kind == other {", false, none));
    assert!(!compares_sensitive("if n != SECRET_TEXT_LEN {", false, none));
    assert_eq!(code_part("let a = b; // secret == x"), "let a = b; ");
    assert_eq!(code_part(r#"let u = "https://x"; // y"#), r#"let u = "https://x"; "#);
}

/// A comparison of a key held in a variable named otherwise, written the
/// ways a hurried change would: each is found (the planted `==` on the API
/// key that the scan used to miss), and the real guard passes.
#[test]
fn the_scan_follows_secrets_into_variables() {
    let scan = |lines: &[&str]| -> Vec<usize> {
        let mut scan = Scan::default();
        (0..lines.len()).filter(|n| scan.compares(lines[*n])).collect()
    };
    // A `let` of the key under another name.
    let planted = [
        "fn optional_key(endpoints: &Endpoints, headers: &HeaderMap) -> bool {",
        "    let expected = endpoints.config().api_key.as_ref().map(|k| k.expose());",
        "    let given = headers.get(KEY).and_then(|v| v.to_str().ok());",
        "    expected == given",
        "}",
    ];
    assert_eq!(scan(&planted), vec![3]);
    // A match on it, under yet another name.
    let matched = [
        "fn optional_key(endpoints: &Endpoints, given: &[u8]) -> Result<bool, Refusal> {",
        "    let wanted = endpoints.config().api_key.as_ref().map(|k| k.expose().as_bytes());",
        "    match wanted {",
        "        Some(w) if w == given => Ok(true),",
        "        _ => Err(Refusal::Domain(Error::Unauthorized)),",
        "    }",
        "}",
    ];
    assert_eq!(scan(&matched), vec![3]);
    // A parameter whose type holds the secret.
    let param = [
        "fn matches(expected: &Secret, given: &[u8]) -> bool {",
        "    expected.as_bytes_unchecked() == given",
        "}",
    ];
    assert_eq!(scan(&param), vec![1]);
    // Through a second variable.
    let chained = [
        "fn f(config: &ApiConfig, presented: &str) -> bool {",
        "    let key = config.api_key.as_ref();",
        "    let k = key.map(|s| s.as_str());",
        "    k == Some(presented)",
        "}",
    ];
    assert_eq!(scan(&chained), vec![3]);
    // The taint ends with its function.
    let separate = [
        "fn a(config: &ApiConfig) { let k = config.api_key.clone(); drop(k); }",
        "fn b(k: u8) -> bool { k == 1 }",
    ];
    assert_eq!(scan(&separate), Vec::<usize>::new());
    // The real guard compares in constant time and passes.
    let guard = std::fs::read_to_string(workspace_root().join("core/src/api/guard.rs")).unwrap();
    let lines: Vec<&str> = guard.lines().take_while(|l| !l.starts_with("#[cfg(test)]")).collect();
    let flagged: Vec<&str> = scan(&lines).into_iter().map(|n| lines[n]).collect();
    assert!(flagged.is_empty(), "{flagged:?}");
}

/// The types that hold secrets or digests compare in constant time, or
/// cannot be compared at all: no derived `PartialEq`.
#[test]
fn digest_and_secret_equality_is_constant_time() {
    let root = workspace_root();
    let secret_rs = std::fs::read_to_string(root.join("core/src/secret.rs")).unwrap();
    let credential_rs = std::fs::read_to_string(root.join("core/src/credential.rs")).unwrap();
    for (source, ty) in [
        (&secret_rs, "Secret"),
        (&secret_rs, "ServerSecret"),
        (&secret_rs, "Digest"),
        (&credential_rs, "SessionCredential"),
    ] {
        let declaration = format!("pub struct {ty}");
        let at = source.find(&declaration).unwrap_or_else(|| panic!("{ty} is declared"));
        let attributes = source[..at].rsplit("\n\n").next().unwrap_or_default();
        assert!(
            !(attributes.contains("derive(") && attributes.contains("PartialEq")),
            "{ty} derives PartialEq (a byte-by-byte, early-exit comparison)"
        );
        if let Some(at) = source.find(&format!("impl PartialEq for {ty} {{")) {
            let body = &source[at..at + source[at..].find("\n}\n").expect("impl end")];
            assert!(body.contains("ct_eq"), "{ty}'s PartialEq is not constant-time:\n{body}");
        }
    }
    // The comparisons behave.
    let a = tokengate::Secret::new("123456");
    assert_eq!(a, tokengate::Secret::new("123456"));
    assert_ne!(a, tokengate::Secret::new("123457"));
    assert_ne!(a, tokengate::Secret::new("1234567"));
    let key = ServerSecret::new(vec![1u8; 32]).unwrap();
    let user = UserId::parse("alice").unwrap();
    let d = key.token_digest(&user, b"1");
    assert_eq!(d, key.token_digest(&user, b"1"));
    assert_ne!(d, key.token_digest(&user, b"2"));
}

// ---------------------------------------------------------------------------
// Unknown and known users get the same digest work.

/// The body of the function that redeems tokens (the one calling
/// `redeem_token`): its token digest is computed before anything can end
/// it early, so an unknown user, an empty or overlong secret all cost one
/// HMAC like a real attempt.
#[test]
fn exchange_digests_before_any_early_return() {
    let source = std::fs::read_to_string(workspace_root().join("core/src/gate/tokens.rs")).unwrap();
    let call = source.find(".redeem_token(").expect("the exchange calls redeem_token");
    let start = source[..call].rfind("fn ").expect("inside a function");
    let body_start = start + source[start..].find('{').expect("body");
    let body = &source[body_start..call];
    let digest = body
        .find("digest(Purpose::Token")
        .expect("the exchange computes the token digest itself");
    let before = &body[..digest];
    for early in ["return", "?;", "?\n", ".await"] {
        assert!(
            !before.contains(early),
            "`{early}` before the token digest in the exchange:\n{}",
            &body[..digest + 40]
        );
    }
}

/// The median of `samples` (sorted in place).
fn median(samples: &mut [f64]) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// One measurement of [`unknown_user_costs_a_known_users_digest`], in ns:
/// the median HMAC, and the medians of the differences within each round
/// (known − unknown user; the control − known user).
struct Paired {
    hmac: f64,
    leak: f64,
    control: f64,
}

/// `n` rounds; each times, back to back in a rotating order, one HMAC, an
/// exchange for the known user, one for the unknown user, and the control
/// (the known user's exchange plus one more HMAC). Differences are taken
/// within a round, so that what else the machine runs (the other suites,
/// on 2 cores) weighs on both sides of each difference alike, and their
/// median ignores the rounds a preemption hit.
async fn paired_round(gate: &Gate, key: &ServerSecret, known: &UserId, unknown: &UserId, n: usize) -> Paired {
    let guess = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    let exchange = |user: &UserId| {
        let user = user.clone();
        async move {
            let started = Instant::now();
            let outcome = gate.create_session(&user, guess, ClientInfo::default()).await;
            let elapsed = started.elapsed();
            assert!(matches!(outcome, Err(Error::InvalidToken)));
            elapsed
        }
    };
    let (mut hmacs, mut leaks, mut controls) = (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
    for i in 0..n {
        let mut times = [Duration::ZERO; 4];
        for step in 0..4 {
            let which = (i + step) % 4;
            times[which] = match which {
                0 => {
                    let started = Instant::now();
                    std::hint::black_box(key.token_digest(known, guess.as_bytes()));
                    started.elapsed()
                }
                1 => exchange(known).await,
                2 => exchange(unknown).await,
                _ => {
                    let started = Instant::now();
                    std::hint::black_box(key.token_digest(known, guess.as_bytes()));
                    let _ = gate.create_session(known, guess, ClientInfo::default()).await;
                    started.elapsed()
                }
            };
        }
        let ns = |d: Duration| d.as_nanos() as f64;
        hmacs.push(ns(times[0]));
        leaks.push(ns(times[1]) - ns(times[2]));
        controls.push(ns(times[3]) - ns(times[1]));
    }
    Paired {
        hmac: median(&mut hmacs),
        leak: median(&mut leaks),
        control: median(&mut controls),
    }
}

/// Measured: exchanges for a user with an outstanding token and for a user
/// with none, interleaved, on the memory store, in rounds of the two and
/// one HMAC and a positive control (one HMAC more than the known user's
/// exchange). Within rounds, the known and the unknown user's exchanges
/// differ by less than half an HMAC (median), where skipping the digest
/// for unknown users would show as a whole one; the control must show
/// more than half an HMAC, or the measurement could not have seen a leak.
/// A busy machine can blur one measurement: up to three are taken, and one
/// that sees the control and no leak passes (a real leak shows in every
/// one); none that sees the control fails.
#[tokio::test(flavor = "current_thread")]
async fn unknown_user_costs_a_known_users_digest() {
    const N: usize = 2000;
    let gate = Gate::builder()
        .server_secret([0x42u8; 32])
        .store(MemoryStore::new())
        // Nothing burns or locks during the measurement.
        .burn_after_failures(0)
        .lockout_after_failures(0)
        .build()
        .unwrap();
    let known = UserId::parse("known-user").unwrap();
    let unknown = UserId::parse("unknown-user").unwrap();
    gate.create_token(
        &known,
        TokenOptions::default().length(64).expire(Duration::from_secs(3600)),
    )
    .await
    .unwrap();
    let key = ServerSecret::new(vec![0x42u8; 32]).unwrap();
    // Warm up allocator and caches.
    paired_round(&gate, &key, &known, &unknown, 200).await;
    let mut seen = Vec::new();
    for attempt in 1..=3 {
        let m = paired_round(&gate, &key, &known, &unknown, N).await;
        eprintln!(
            "attempt {attempt}: one HMAC {:.0} ns; known − unknown user {:.0} ns; control − known user {:.0} ns",
            m.hmac, m.leak, m.control
        );
        let detects = m.control > m.hmac / 2.0;
        if detects && m.leak.abs() < m.hmac / 2.0 {
            return;
        }
        seen.push((detects, m.hmac, m.leak, m.control));
    }
    let detecting: Vec<_> = seen.iter().filter(|s| s.0).collect();
    assert!(
        detecting.is_empty(),
        "an unknown user's exchange differs from a known one's by half an HMAC or more in every \
         measurement whose control was seen (detects, HMAC ns, known − unknown ns, control ns): {seen:?}"
    );
    panic!(
        "the machine was too busy to measure: the control (one HMAC more) never showed as more than half an \
         HMAC (detects, HMAC ns, known − unknown ns, control ns): {seen:?}"
    );
}

// ---------------------------------------------------------------------------
// Issuing for a known and an unknown address answers alike.

/// The shape of a Token answer: status, field names with their JSON types,
/// `secret`, `phrase`, and the lengths of the id and dates.
type Shape = (u16, Vec<(String, &'static str)>, Value, Value, Vec<usize>);

/// The [`Shape`] of an answer: what must not differ between a known and an
/// unknown address.
fn shape(reply: &Reply) -> Shape {
    let object = reply
        .json
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {}", reply.text));
    let mut fields: Vec<(String, &'static str)> = object
        .iter()
        .map(|(k, v)| {
            let kind = match v {
                Value::String(_) => "string",
                Value::Number(_) => "number",
                Value::Bool(_) => "bool",
                Value::Null => "null",
                Value::Array(_) => "array",
                Value::Object(_) => "object",
            };
            (k.clone(), kind)
        })
        .collect();
    fields.sort();
    let lengths = ["$id", "$createdAt", "expire"]
        .iter()
        .map(|f| reply.json[f].as_str().map_or(0, str::len))
        .collect();
    (
        reply.status,
        fields,
        reply.json["secret"].clone(),
        reply.json["phrase"].clone(),
        lengths,
    )
}

async fn known_and_unknown_addresses_answer_alike(kind: AppKind) {
    let smtp = tokengate_tests::sinks::SmtpSink::start().await;
    let sms = tokengate_tests::sinks::SmsSink::start().await;
    let mut spec = AppSpec::new(kind, Backend::Memory);
    spec.extra_env = vec![
        ("TOKENGATE_SMTP_URL".into(), smtp.url()),
        ("TOKENGATE_SMS_WEBHOOK".into(), sms.url()),
    ];
    let app = RunningApp::start(spec).await;
    let api = Api::new(&app);
    // Known: addresses with a user behind them.
    for (path, body) in [
        (
            "/v1/account/tokens/email",
            json!({ "userId": "known-mail", "email": "known@example.test" }),
        ),
        (
            "/v1/account/tokens/phone",
            json!({ "userId": "known-phone", "phone": "+14155550111" }),
        ),
    ] {
        api.send(Method::POST, path, Auth::Key, Some(&body))
            .await
            .assert_status(201);
    }
    for (path, field, known, unknown) in [
        (
            "/v1/account/tokens/email",
            "email",
            "known@example.test",
            "stranger@example.test",
        ),
        (
            "/v1/account/tokens/magic-url",
            "email",
            "known@example.test",
            "stranger2@example.test",
        ),
        ("/v1/account/tokens/phone", "phone", "+14155550111", "+14155550122"),
    ] {
        for phrase in [false, true] {
            if phrase && field == "phone" {
                continue;
            }
            let mut answers = Vec::new();
            for address in [known, unknown] {
                let mut body = json!({ "userId": "unique()", field: address });
                if phrase {
                    // The second send to an address within a minute: refused alike.
                    body["phrase"] = json!(true);
                }
                let reply = api.send(Method::POST, path, Auth::None, Some(&body)).await;
                answers.push(reply);
            }
            let (a, b) = (shape(&answers[0]), shape(&answers[1]));
            assert_eq!(
                a.0, b.0,
                "{kind:?} {path}: status differs: {} vs {}",
                answers[0].text, answers[1].text
            );
            if a.0 == 201 {
                assert_eq!(a, b, "{kind:?} {path}: known and unknown answers differ in shape");
                let mut fields: Vec<&str> = a.1.iter().map(|(k, _)| k.as_str()).collect();
                fields.sort_unstable();
                let mut expected = TOKEN_FIELDS.to_vec();
                expected.sort_unstable();
                assert_eq!(fields, expected);
                assert_eq!(a.2, "", "{kind:?} {path}: anonymous callers never see the secret");
            } else {
                assert_eq!(answers[0].json["type"], answers[1].json["type"]);
                assert_eq!(answers[0].json["message"], answers[1].json["message"]);
            }
        }
    }
}

#[tokio::test]
async fn known_and_unknown_addresses_answer_alike_axum() {
    known_and_unknown_addresses_answer_alike(AppKind::Axum).await;
}

#[tokio::test]
async fn known_and_unknown_addresses_answer_alike_actix() {
    known_and_unknown_addresses_answer_alike(AppKind::Actix).await;
}
