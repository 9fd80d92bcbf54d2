//! Randomness of every secret: property tests of each alphabet and length
//! (custom tokens 4..=128 lowercase hex, email and SMS codes 6 digits,
//! magic URLs 64 lowercase hex, session credentials `<userId>.` + 43
//! base64url characters), a chi-square test over 1,000,000 one-time codes,
//! and 1,000,000 session secrets without a duplicate.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_trait::async_trait;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use proptest::prelude::*;
use tokengate::delivery::{DeliveryError, Mailer, Message, SmsSender};
use tokengate::fuzzing::SessionCredential;
use tokengate::store::MemoryStore;
use tokengate::{ClientInfo, Error, Gate, TokenOptions, UserId};

const BASE64URL: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Keeps the last message body, to compare with the issued secret.
#[derive(Debug, Clone, Default)]
struct Outbox(Arc<Mutex<String>>);

impl Outbox {
    fn last(&self) -> String {
        self.0.lock().unwrap().clone()
    }
}

#[async_trait]
impl Mailer for Outbox {
    async fn send(&self, message: &Message) -> Result<(), DeliveryError> {
        *self.0.lock().unwrap() = message.body.clone();
        Ok(())
    }
}

#[async_trait]
impl SmsSender for Outbox {
    async fn send(&self, message: &Message) -> Result<(), DeliveryError> {
        *self.0.lock().unwrap() = message.body.clone();
        Ok(())
    }
}

fn gate(outbox: &Outbox) -> Gate {
    Gate::builder()
        .server_secret([0x17u8; 32])
        .store(MemoryStore::new())
        .mailer(outbox.clone())
        .sms_sender(outbox.clone())
        .max_sessions(0)
        .build()
        .expect("gate")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn is_lower_hex(text: &str) -> bool {
    text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// An API-key caller: no issuance limits, the secret comes back.
fn trusted() -> ClientInfo {
    ClientInfo::default().trusted()
}

proptest! {
    // No failure file: a failing case is printed, and this is not a crate
    // root proptest could write one next to.
    #![proptest_config(ProptestConfig { cases: 200, failure_persistence: None, ..ProptestConfig::default() })]

    /// Custom tokens: exactly the asked length, lowercase hex; outside
    /// 4..=128 an argument error.
    #[test]
    fn custom_tokens_are_lowercase_hex_of_the_asked_length(length in 0usize..200, user in "[a-z][a-z0-9._-]{0,35}") {
        let outbox = Outbox::default();
        let gate = gate(&outbox);
        let user = UserId::parse(&user).unwrap();
        let issued = runtime().block_on(gate.create_token(&user, TokenOptions::default().length(length)));
        if (4..=128).contains(&length) {
            let token = issued.unwrap();
            let secret = token.secret.as_ref().unwrap().expose();
            prop_assert_eq!(secret.len(), length);
            prop_assert!(is_lower_hex(secret), "{}", secret);
        } else {
            prop_assert!(matches!(issued, Err(Error::InvalidArgument(_))));
        }
    }

    /// The default custom token: 6 lowercase hex characters.
    #[test]
    fn default_custom_tokens_are_six_hex(user in "[a-zA-Z0-9]{1,36}") {
        let gate = gate(&Outbox::default());
        let user = UserId::parse(&user).unwrap();
        let token = runtime().block_on(gate.create_token(&user, TokenOptions::default())).unwrap();
        let secret = token.secret.as_ref().unwrap().expose();
        prop_assert_eq!(secret.len(), 6);
        prop_assert!(is_lower_hex(secret));
    }

    /// Email and SMS codes: 6 ASCII digits, the one delivered.
    #[test]
    fn otps_are_six_digits(local in "[a-z0-9]{1,20}", domain in "[a-z]{1,20}", number in 1_000_000u64..999_999_999_999_999) {
        let outbox = Outbox::default();
        let gate = gate(&outbox);
        let rt = runtime();
        let email = format!("{local}@{domain}.test");
        let token = rt.block_on(gate.create_email_token("unique()", &email, false, &trusted())).unwrap();
        let code = token.secret.as_ref().unwrap().expose().to_owned();
        prop_assert_eq!(code.len(), 6);
        prop_assert!(code.bytes().all(|b| b.is_ascii_digit()), "{}", code);
        prop_assert!(outbox.last().contains(&code));

        let phone = format!("+{number}");
        let token = rt.block_on(gate.create_phone_token("unique()", &phone, &trusted())).unwrap();
        let code = token.secret.as_ref().unwrap().expose().to_owned();
        prop_assert_eq!(code.len(), 6);
        prop_assert!(code.bytes().all(|b| b.is_ascii_digit()), "{}", code);
        prop_assert!(outbox.last().contains(&code));
    }

    /// Magic URLs: 64 lowercase hex, in the delivered link.
    #[test]
    fn magic_url_secrets_are_64_hex(local in "[a-z0-9]{1,20}") {
        let outbox = Outbox::default();
        let gate = gate(&outbox);
        let email = format!("{local}@example.test");
        let token = runtime()
            .block_on(gate.create_magic_url_token("unique()", &email, None, false, &trusted()))
            .unwrap();
        let secret = token.secret.as_ref().unwrap().expose().to_owned();
        prop_assert_eq!(secret.len(), 64);
        prop_assert!(is_lower_hex(&secret), "{}", secret);
        let secret_param = format!("secret={}", secret);
        prop_assert!(outbox.last().contains(&secret_param));
    }

    /// Session credentials: `<userId>.` and 43 base64url characters, the
    /// canonical encoding of 32 bytes; decoding gives back the user.
    #[test]
    fn session_credentials_are_user_dot_43_base64url(user in "[a-zA-Z0-9][a-zA-Z0-9._-]{0,35}") {
        let gate = gate(&Outbox::default());
        let user = UserId::parse(&user).unwrap();
        let rt = runtime();
        let (_, credential) = rt.block_on(gate.create_server_session(&user, ClientInfo::default())).unwrap();
        let text = credential.expose();
        let prefix = format!("{}.", user.as_str());
        prop_assert!(text.starts_with(&prefix), "{}", text);
        let secret = &text[prefix.len()..];
        prop_assert_eq!(secret.len(), 43);
        prop_assert!(secret.bytes().all(|b| BASE64URL.contains(&b)), "{}", secret);
        // 43 characters carry 258 bits: the last one's 2 low bits are zero.
        let last = BASE64URL.iter().position(|c| *c == secret.as_bytes()[42]).unwrap();
        prop_assert_eq!(last % 4, 0);
        prop_assert_eq!(URL_SAFE_NO_PAD.decode(secret).unwrap().len(), 32);
        let decoded = SessionCredential::decode(text).unwrap();
        prop_assert_eq!(decoded.user(), &user);
        prop_assert!(rt.block_on(gate.authenticate(text)).unwrap().is_some());
    }
}

/// The chi-square statistic of observed counts against a uniform expectation.
fn chi_square(counts: &[u64]) -> f64 {
    let total: u64 = counts.iter().sum();
    let expected = total as f64 / counts.len() as f64;
    counts
        .iter()
        .map(|&c| {
            let d = c as f64 - expected;
            d * d / expected
        })
        .sum()
}

/// Critical values of the chi-square distribution at p = 0.01.
const CRITICAL_9_DOF: f64 = 21.666;
const CRITICAL_54_DOF: f64 = 81.069;
const CRITICAL_99_DOF: f64 = 134.642;
/// 9 degrees of freedom at p = 0.01 / 6: each of the six positions tested
/// so that the six together are a test at p = 0.01 (Bonferroni).
const CRITICAL_9_DOF_OF_6: f64 = 26.539;

/// The statistics of 1,000,000 fresh codes: per position (6 tests of 10
/// digits, 9 degrees of freedom each, and their sum, 54), and of the whole
/// values in 100 equal bins (99).
fn otp_statistics() -> (Vec<f64>, f64, f64) {
    const N: usize = 1_000_000;
    let mut per_position = [[0u64; 10]; 6];
    let mut bins = [0u64; 100];
    for _ in 0..N {
        // The function the email and SMS flows draw their codes from.
        let code = tokengate::Secret::random_digits(6);
        let bytes = code.expose().as_bytes();
        assert_eq!(bytes.len(), 6);
        let mut value = 0usize;
        for (position, byte) in bytes.iter().enumerate() {
            let digit = (byte - b'0') as usize;
            per_position[position][digit] += 1;
            value = value * 10 + digit;
        }
        bins[value / 10_000] += 1;
    }
    let positions: Vec<f64> = per_position.iter().map(|c| chi_square(c)).collect();
    let combined = positions.iter().sum();
    (positions, combined, chi_square(&bins))
}

/// Three tests at p = 0.01 each: the digits of each position (10 bins,
/// Bonferroni over the six), the digits of all positions together (the sum
/// of the six statistics, 54 degrees of freedom) and the values (100 bins).
/// A uniform source fails one of them in about 3 runs of 100; a failure is
/// therefore confirmed on a second, independent million before the test
/// fails (a biased generator fails both).
#[test]
fn one_million_otps_pass_chi_square() {
    let flows = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../core/src/gate/flows.rs")).unwrap();
    assert!(
        flows.matches("random_digits(OTP_DIGITS)").count() >= 2,
        "the email and SMS flows draw their codes from random_digits"
    );
    let started = Instant::now();
    confirmed_on_a_second_million("codes", |round| {
        let (positions, combined, values) = otp_statistics();
        eprintln!(
            "round {round}: chi-square per position {positions:.2?}, sum {combined:.2} (54 dof), values {values:.2} (99 dof), {:?}",
            started.elapsed()
        );
        positions_above(&positions, CRITICAL_9_DOF_OF_6)
            .into_iter()
            .chain(
                (combined > CRITICAL_54_DOF).then(|| format!("digits by position: {combined:.2} > {CRITICAL_54_DOF}")),
            )
            .chain((values > CRITICAL_99_DOF).then(|| format!("values: {values:.2} > {CRITICAL_99_DOF}")))
            .collect()
    });
}

/// The positions whose statistic exceeds `critical`, one line each.
fn positions_above(statistics: &[f64], critical: f64) -> Vec<String> {
    statistics
        .iter()
        .enumerate()
        .filter(|(_, x)| **x > critical)
        .map(|(i, x)| format!("position {i}: {x:.2} > {critical}"))
        .collect()
}

/// Runs `round` (which returns its failed checks) on a million samples,
/// and again on a second, independent million if any failed: a uniform
/// source fails a p = 0.01 check now and then, a biased one fails both.
fn confirmed_on_a_second_million(what: &str, mut round: impl FnMut(usize) -> Vec<String>) {
    let mut verdicts = Vec::new();
    for attempt in 0..2 {
        let failed = round(attempt);
        if failed.is_empty() {
            return;
        }
        verdicts.push(failed.join(", "));
    }
    panic!("1,000,000 {what} are not uniform (p < 0.01, twice): {verdicts:?}");
}

/// 15 degrees of freedom at p = 0.01 / 7 (each of seven positions, Bonferroni).
const CRITICAL_15_DOF_OF_7: f64 = 36.639;

/// Custom-token secrets (`random_hex`, an odd length so that the last
/// character comes from half a byte): each position uniform over the 16
/// hex digits, at p = 0.01 over the seven, confirmed on a second million.
#[test]
fn one_million_hex_secrets_pass_chi_square() {
    const N: usize = 1_000_000;
    confirmed_on_a_second_million("hex secrets", |round| {
        let mut per_position = [[0u64; 16]; 7];
        for _ in 0..N {
            let secret = tokengate::Secret::random_hex(7);
            let bytes = secret.expose().as_bytes();
            assert_eq!(bytes.len(), 7);
            for (position, byte) in bytes.iter().enumerate() {
                let value = (*byte as char).to_digit(16).expect("lowercase hex") as usize;
                assert!(!byte.is_ascii_uppercase());
                per_position[position][value] += 1;
            }
        }
        let statistics: Vec<f64> = per_position.iter().map(|c| chi_square(c)).collect();
        eprintln!("round {round}: chi-square per position {statistics:.2?} (15 dof)");
        positions_above(&statistics, CRITICAL_15_DOF_OF_7)
    });
}

#[test]
fn chi_square_tells_bias_apart() {
    // Uniform counts: 0.
    assert_eq!(chi_square(&[100_000; 10]), 0.0);
    // Modulo bias of `u8 % 10` (26 values per digit 0..5, 25 for 6..9),
    // at the scale of 1,000,000 digits, is far over the critical value.
    let biased: Vec<u64> = (0..10).map(|d| if d < 6 { 101_562 } else { 97_656 }).collect();
    assert!(chi_square(&biased) > CRITICAL_9_DOF, "{}", chi_square(&biased));
}

#[test]
fn one_million_session_secrets_are_distinct() {
    const N: usize = 1_000_000;
    let started = Instant::now();
    let user = UserId::parse("u").unwrap();
    let mut secrets: Vec<[u8; 32]> = Vec::with_capacity(N);
    for _ in 0..N {
        let credential = SessionCredential::generate(user.clone()).encode();
        let text = &credential.expose()[2..];
        let mut bytes = [0u8; 32];
        assert_eq!(URL_SAFE_NO_PAD.decode_slice(text, &mut bytes), Ok(32));
        secrets.push(bytes);
    }
    secrets.sort_unstable();
    let duplicates = secrets.windows(2).filter(|w| w[0] == w[1]).count();
    eprintln!("{N} session secrets in {:?}", started.elapsed());
    assert_eq!(duplicates, 0, "duplicate session secrets");
    // Not a constant: the secrets also differ in every byte position.
    for position in 0..32 {
        let first = secrets[0][position];
        assert!(
            secrets.iter().any(|s| s[position] != first),
            "byte {position} never varies"
        );
    }
}
