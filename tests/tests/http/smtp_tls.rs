//! SMTP over TLS with AUTH, as the README's table offers it
//! (`?tls=required`, `smtps://`, `user:pass@`), against a sink that
//! requires both (`tokengate_tests::smtp_tls`) and presents a certificate of
//! the test CA, which the apps trust through `TOKENGATE_SMTP_CA_FILE`.
//!
//! Every delivered message records whether it came over TLS and who
//! authenticated, and the sink refuses MAIL before STARTTLS or AUTH: were
//! TLS or AUTH skipped, no mail would arrive and the recorded flags would
//! be wrong. The failures (wrong password, certificates nobody should
//! trust) answer 503 and are checked at the sink by their cause.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use tokengate_tests::app::{AppKind, AppSpec, Backend, RunningApp};
use tokengate_tests::client::{Api, Auth, Reply};
use tokengate_tests::redis_harness::{redis_url, scan_keys};
use tokengate_tests::sinks::{find_code, Mail, SmtpSink};
use tokengate_tests::smtp_tls::{Mechanism, SinkAuth, SinkCert, SinkEvent, SinkTls, SmtpSinkConfig};
use tokengate_tests::tls::test_ca;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const USER: &str = "tokengate";
const PASSWORD: &str = "s3cret p@ss";
/// [`PASSWORD`] percent-encoded for the URL's userinfo.
const PASSWORD_IN_URL: &str = "s3cret%20p%40ss";

/// `smtp://user:password@127.0.0.1:<port>?tls=required`.
fn starttls_url(sink: &SmtpSink, password: &str) -> String {
    format!("smtp://{USER}:{password}@127.0.0.1:{}?tls=required", sink.port)
}

/// `smtps://user:password@127.0.0.1:<port>`.
fn smtps_url(sink: &SmtpSink, password: &str) -> String {
    format!("smtps://{USER}:{password}@127.0.0.1:{}", sink.port)
}

/// An app sending its mail to `smtp_url`, trusting the test CA for it
/// when `trust_test_ca`.
async fn start_app(kind: AppKind, backend: Backend, smtp_url: String, trust_test_ca: bool) -> (RunningApp, Api) {
    let mut spec = AppSpec::new(kind, backend);
    spec.extra_env = vec![("TOKENGATE_SMTP_URL".into(), smtp_url)];
    if trust_test_ca {
        spec.extra_env
            .push(("TOKENGATE_SMTP_CA_FILE".into(), test_ca().ca_file.display().to_string()));
    }
    let app = RunningApp::start(spec).await;
    let api = Api::new(&app);
    (app, api)
}

async fn email_token(api: &Api, auth: Auth<'_>, user: &str, email: &str) -> Reply {
    let body: Value = json!({ "userId": user, "email": email });
    api.send(Method::POST, "/v1/account/tokens/email", auth, Some(&body))
        .await
}

fn position(events: &[SinkEvent], wanted: impl Fn(&SinkEvent) -> bool) -> Option<usize> {
    events.iter().position(wanted)
}

/// The mail came over TLS after AUTH by [`USER`] with `mechanism`, and the
/// sink saw the handshake before the AUTH and refused nothing.
fn assert_tls_and_auth(sink: &SmtpSink, mail: &Mail, mechanism: Mechanism) {
    assert!(mail.tls, "the message did not come over TLS: {mail:?}");
    assert_eq!(mail.auth_user.as_deref(), Some(USER), "not sent after AUTH as {USER}");
    assert_eq!(mail.auth_mechanism, Some(mechanism));
    let events = sink.events();
    let handshake = position(&events, |e| *e == SinkEvent::TlsEstablished).expect("a TLS handshake");
    let auth = position(&events, |e| {
        *e == SinkEvent::AuthSucceeded {
            user: USER.to_owned(),
            mechanism,
        }
    })
    .expect("a successful AUTH");
    assert!(handshake < auth, "AUTH before TLS: {events:?}");
    assert!(
        !events.iter().any(|e| matches!(
            e,
            SinkEvent::Refused { .. } | SinkEvent::AuthFailed { .. } | SinkEvent::TlsFailed(_)
        )),
        "{events:?}"
    );
}

/// An anonymous email code through `api`: delivered to `sink` over TLS with
/// AUTH, and it logs in (once).
async fn code_logs_in(api: &Api, sink: &SmtpSink, email: &str, mechanism: Mechanism) {
    let token = email_token(api, Auth::None, "unique()", email).await;
    token.assert_status(201);
    assert_eq!(token.json["secret"], "", "the code reaches the caller only by mail");
    let user = token.str("userId").to_owned();

    let mail = sink.wait_for(email, 1).await;
    assert_tls_and_auth(sink, &mail, mechanism);
    let code = find_code(&mail.body, 6).expect("a 6-digit code in the mail");

    let session = api.exchange(&user, &code, Auth::None).await;
    session.assert_status(201);
    let credential = session.cookie_value(&api.cookie_name).expect("session cookie");
    let account = api.get("/v1/account", Auth::Cookie(&credential)).await;
    account.assert_status(200);
    assert_eq!(account.json["email"], email);
    api.exchange(&user, &code, Auth::None)
        .await
        .assert_error(401, "user_invalid_token");
}

async fn starttls_with_auth_plain(kind: AppKind) {
    let sink = SmtpSink::start_with(SmtpSinkConfig::starttls_auth(SinkAuth::new(USER, PASSWORD))).await;
    let (_app, api) = start_app(kind, Backend::Memory, starttls_url(&sink, PASSWORD_IN_URL), true).await;
    code_logs_in(&api, &sink, "starttls@example.test", Mechanism::Plain).await;
}

async fn implicit_tls_with_auth_login(kind: AppKind) {
    // Only LOGIN offered: the mailer's other mechanism is exercised too.
    let auth = SinkAuth::new(USER, PASSWORD).mechanisms(&[Mechanism::Login]);
    let sink = SmtpSink::start_with(SmtpSinkConfig::implicit_tls_auth(auth)).await;
    let (_app, api) = start_app(kind, Backend::Memory, smtps_url(&sink, PASSWORD_IN_URL), true).await;
    code_logs_in(&api, &sink, "smtps@example.test", Mechanism::Login).await;
}

/// A failed delivery: 503 `general_server_error` without detail, nothing
/// delivered, and (on Redis) no token of `user` left in the store.
async fn assert_refused_delivery(app: &RunningApp, api: &Api, sink: &SmtpSink, user: &str) {
    let reply = email_token(api, Auth::Key, user, &format!("{user}@example.test")).await;
    reply.assert_error(503, "general_server_error");
    for detail in ["535", "SMTP", "certificate", "UnknownCA", "BadCertificate"] {
        assert!(!reply.text.contains(detail), "delivery detail leaks: {}", reply.text);
    }
    assert!(sink.all().is_empty(), "a message was delivered: {:?}", sink.all());
    if let Backend::Redis(url) = &app.spec.backend {
        let token_key = format!("{}:{{u:{user}}}:t", app.spec.prefix);
        let keys = scan_keys(url, &app.spec.prefix).await;
        assert!(!keys.contains(&token_key), "a token is left behind: {keys:?}");
    }
}

async fn wrong_password_answers_503(kind: AppKind, backend: Backend) {
    for implicit in [false, true] {
        let auth = SinkAuth::new(USER, PASSWORD);
        let (config, url): (_, fn(&SmtpSink, &str) -> String) = if implicit {
            (SmtpSinkConfig::implicit_tls_auth(auth), smtps_url)
        } else {
            (SmtpSinkConfig::starttls_auth(auth), starttls_url)
        };
        let sink = SmtpSink::start_with(config).await;
        let (app, api) = start_app(kind, backend.clone(), url(&sink, "wrong-password"), true).await;
        assert_refused_delivery(&app, &api, &sink, "babbage").await;
        // The wrong password was tried, over TLS, and refused.
        let events = sink.events();
        let handshake = position(&events, |e| *e == SinkEvent::TlsEstablished).expect("a TLS handshake");
        let failed = position(
            &events,
            |e| matches!(e, SinkEvent::AuthFailed { user, .. } if user == USER),
        )
        .unwrap_or_else(|| panic!("no refused AUTH as {USER}: {events:?}"));
        assert!(handshake < failed, "{events:?}");
        assert!(
            !events.iter().any(|e| matches!(e, SinkEvent::AuthSucceeded { .. })),
            "{events:?}"
        );
    }
}

async fn untrusted_certificates_answer_503(kind: AppKind, backend: Backend) {
    let auth = || Some(SinkAuth::new(USER, PASSWORD));
    // (what the sink presents and how, whether the app trusts the test CA,
    // the alert the app's refusal sends)
    let cases = [
        // A certificate of a CA the app was not told to trust.
        (SinkTls::Implicit(SinkCert::untrusted_ca()), true, "UnknownCA"),
        (SinkTls::StartTls(SinkCert::untrusted_ca()), true, "UnknownCA"),
        // The test CA's certificate, but no TOKENGATE_SMTP_CA_FILE: the web
        // PKI roots do not know the test CA.
        (SinkTls::Implicit(SinkCert::test_ca()), false, "UnknownCA"),
        // The trusted CA's certificate for another name.
        (SinkTls::StartTls(SinkCert::wrong_name()), true, "BadCertificate"),
    ];
    for (tls, trust_test_ca, alert) in cases {
        let implicit = matches!(tls, SinkTls::Implicit(_));
        let sink = SmtpSink::start_with(SmtpSinkConfig { tls, auth: auth() }).await;
        let url = if implicit {
            smtps_url(&sink, PASSWORD_IN_URL)
        } else {
            starttls_url(&sink, PASSWORD_IN_URL)
        };
        let (app, api) = start_app(kind, backend.clone(), url, trust_test_ca).await;
        assert_refused_delivery(&app, &api, &sink, "lovelace").await;
        let refusal = sink
            .wait_for_event("refused TLS handshake", |e| matches!(e, SinkEvent::TlsFailed(_)))
            .await;
        let SinkEvent::TlsFailed(error) = refusal else {
            unreachable!()
        };
        assert!(
            error.contains(alert),
            "implicit {implicit}, CA file {trust_test_ca}: refused for another cause: {error}"
        );
        // The credentials never left the app.
        let events = sink.events();
        assert!(
            !events.iter().any(|e| matches!(
                e,
                SinkEvent::TlsEstablished | SinkEvent::AuthSucceeded { .. } | SinkEvent::AuthFailed { .. }
            )),
            "{events:?}"
        );
    }
}

async fn line(reader: &mut (impl AsyncBufReadExt + Unpin)) -> String {
    let mut text = String::new();
    tokio::time::timeout(Duration::from_secs(10), reader.read_line(&mut text))
        .await
        .expect("a reply within 10 s")
        .expect("read a reply");
    text
}

/// Sends `command` and reads the whole (multi-line) reply.
async fn command<S: AsyncRead + AsyncWrite + Unpin>(conn: &mut BufReader<S>, command: &str) -> String {
    conn.write_all(format!("{command}\r\n").as_bytes()).await.unwrap();
    conn.flush().await.unwrap();
    let mut reply = String::new();
    loop {
        let next = line(conn).await;
        reply.push_str(&next);
        if next.as_bytes().get(3) != Some(&b'-') {
            return reply;
        }
    }
}

/// The sink itself, by a hand-written client: STARTTLS before AUTH and
/// MAIL, AUTH before MAIL, wrong credentials refused; implicit TLS speaks
/// no plain text. So a mailer that skipped either could not deliver.
#[tokio::test]
async fn the_sink_requires_tls_and_auth() {
    let sink = SmtpSink::start_with(SmtpSinkConfig::starttls_auth(SinkAuth::new(USER, PASSWORD))).await;
    let stream = TcpStream::connect(("127.0.0.1", sink.port)).await.unwrap();
    let mut plain = BufReader::new(stream);
    assert!(line(&mut plain).await.starts_with("220 "));
    let ehlo = command(&mut plain, "EHLO client.test").await;
    assert!(ehlo.contains("STARTTLS") && !ehlo.contains("AUTH"), "{ehlo}");
    assert!(command(&mut plain, "MAIL FROM:<a@example.test>")
        .await
        .starts_with("530 "));
    let credentials = tokengate_tests::smtp_tls::plain_response(USER, PASSWORD);
    let auth = command(&mut plain, &format!("AUTH PLAIN {credentials}")).await;
    assert!(auth.starts_with("530 "), "AUTH in plain text: {auth}");
    assert!(command(&mut plain, "STARTTLS").await.starts_with("220 "));

    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::pem::PemObject::pem_slice_iter(test_ca().ca_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let config =
        rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let tls = connector.connect(name, plain.into_inner()).await.unwrap();
    let mut tls = BufReader::new(tls);
    let ehlo = command(&mut tls, "EHLO client.test").await;
    assert!(
        ehlo.contains("AUTH PLAIN LOGIN") && !ehlo.contains("STARTTLS"),
        "{ehlo}"
    );
    assert!(command(&mut tls, "MAIL FROM:<a@example.test>")
        .await
        .starts_with("530 "));
    let wrong = tokengate_tests::smtp_tls::plain_response(USER, "wrong");
    assert!(command(&mut tls, &format!("AUTH PLAIN {wrong}"))
        .await
        .starts_with("535 "));
    assert!(command(&mut tls, &format!("AUTH PLAIN {credentials}"))
        .await
        .starts_with("235 "));
    assert!(command(&mut tls, "MAIL FROM:<a@example.test>")
        .await
        .starts_with("250 "));
    assert!(command(&mut tls, "RCPT TO:<b@example.test>").await.starts_with("250 "));
    assert!(command(&mut tls, "DATA").await.starts_with("354 "));
    let stored = command(&mut tls, "Subject: hi\r\n\r\nbody\r\n.").await;
    assert!(stored.starts_with("250 "), "{stored}");
    let mail = sink.wait_for("b@example.test", 1).await;
    assert!(mail.tls);
    assert_eq!(mail.auth_user.as_deref(), Some(USER));
    assert_eq!(
        sink.events()
            .iter()
            .filter(|e| matches!(e, SinkEvent::Refused { code: 530, .. }))
            .count(),
        3
    );

    // Implicit TLS: a plain-text client gets no banner, and the sink saw a
    // failed handshake.
    let implicit = SmtpSink::start_with(SmtpSinkConfig::implicit_tls_auth(SinkAuth::new(USER, PASSWORD))).await;
    let mut stream = TcpStream::connect(("127.0.0.1", implicit.port)).await.unwrap();
    stream.write_all(b"EHLO client.test\r\n").await.unwrap();
    let mut first = [0u8; 3];
    let read = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::io::AsyncReadExt::read(&mut stream, &mut first),
    )
    .await
    .expect("the sink answers or closes");
    assert!(read.map_or(true, |n| &first[..n] != b"220"), "a plain-text banner");
    implicit
        .wait_for_event("failed handshake", |e| matches!(e, SinkEvent::TlsFailed(_)))
        .await;
}

macro_rules! per_app {
    ($($scenario:ident),* $(,)?) => {
        mod axum_memory {
            $( #[tokio::test] async fn $scenario() { super::$scenario(super::AppKind::Axum).await } )*
        }
        mod actix_memory {
            $( #[tokio::test] async fn $scenario() { super::$scenario(super::AppKind::Actix).await } )*
        }
    };
}

per_app!(starttls_with_auth_plain, implicit_tls_with_auth_login);

macro_rules! per_app_and_store {
    ($($scenario:ident),* $(,)?) => {
        mod failures {
            $(
                mod $scenario {
                    use super::super::{$scenario, AppKind, Backend, redis_url};
                    #[tokio::test] async fn axum_memory() { $scenario(AppKind::Axum, Backend::Memory).await }
                    #[tokio::test] async fn actix_memory() { $scenario(AppKind::Actix, Backend::Memory).await }
                    #[tokio::test] async fn axum_redis() { $scenario(AppKind::Axum, Backend::Redis(redis_url().await)).await }
                    #[tokio::test] async fn actix_redis() { $scenario(AppKind::Actix, Backend::Redis(redis_url().await)).await }
                }
            )*
        }
    };
}

per_app_and_store!(wrong_password_answers_503, untrusted_certificates_answer_503);
