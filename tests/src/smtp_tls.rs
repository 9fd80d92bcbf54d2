//! What the SMTP sink ([`crate::sinks::SmtpSink`]) can require of a client:
//! STARTTLS or implicit TLS with a certificate of the test CA (or of a CA
//! nobody trusts), and AUTH PLAIN / AUTH LOGIN with one user and password.
//! Each is optional and they combine; [`SmtpSinkConfig::default`] is the
//! plain sink without AUTH.
//!
//! Rules the sink enforces (as a real submission server would):
//! - STARTTLS mode: before the upgrade EHLO offers `STARTTLS` and no AUTH,
//!   and AUTH, MAIL, RCPT and DATA answer `530`.
//! - Implicit TLS: the TLS handshake is the first thing on the connection.
//! - AUTH required: MAIL before a successful AUTH answers `530`, wrong
//!   credentials `535`; only the configured mechanisms are offered.
//!
//! Each delivered [`crate::sinks::Mail`] records whether it came over TLS
//! and which user authenticated with which mechanism; every handshake,
//! AUTH attempt and refusal is kept as a [`SinkEvent`].

use std::path::Path;
use std::sync::Arc;

use base64::Engine;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite};

/// A certificate and key (PEM) the sink presents.
#[derive(Debug, Clone)]
pub struct SinkCert {
    pub cert_pem: String,
    pub key_pem: String,
}

impl SinkCert {
    /// The test CA's server certificate for `127.0.0.1` and `localhost`.
    pub fn test_ca() -> SinkCert {
        let ca = crate::tls::test_ca();
        SinkCert::from_files(&ca.cert_file, &ca.key_file)
    }

    /// A certificate of the test CA for another name (`wrong.example.test`).
    pub fn wrong_name() -> SinkCert {
        let (cert, key) = &crate::tls::test_ca().wrong_name_files;
        SinkCert::from_files(cert, key)
    }

    /// A certificate for `127.0.0.1` and `localhost` from a CA generated
    /// here and trusted by nobody.
    pub fn untrusted_ca() -> SinkCert {
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "untrusted test CA");
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let issuer = Issuer::new(ca_params, ca_key);
        let key = KeyPair::generate().expect("server key");
        let cert = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .expect("server params")
            .signed_by(&key, &issuer)
            .expect("server certificate");
        SinkCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    fn from_files(cert: &Path, key: &Path) -> SinkCert {
        SinkCert {
            cert_pem: std::fs::read_to_string(cert).expect("read the certificate"),
            key_pem: std::fs::read_to_string(key).expect("read the key"),
        }
    }

    fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        let certs = CertificateDer::pem_slice_iter(self.cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .expect("certificate PEM");
        let key = PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes()).expect("key PEM");
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .expect("server certificate and key");
        tokio_rustls::TlsAcceptor::from(Arc::new(config))
    }
}

/// How the sink speaks TLS.
#[derive(Debug, Clone, Default)]
pub enum SinkTls {
    /// Plain text only.
    #[default]
    None,
    /// Plain text, upgraded by STARTTLS, which is required before AUTH and MAIL.
    StartTls(SinkCert),
    /// TLS from the first byte (`smtps://`).
    Implicit(SinkCert),
}

/// An AUTH mechanism the sink offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    Plain,
    Login,
}

impl Mechanism {
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::Login => "LOGIN",
        }
    }
}

/// AUTH required, for this user and password, offering these mechanisms.
#[derive(Debug, Clone)]
pub struct SinkAuth {
    pub user: String,
    pub password: String,
    pub mechanisms: Vec<Mechanism>,
}

impl SinkAuth {
    /// `user` / `password` by PLAIN or LOGIN.
    pub fn new(user: &str, password: &str) -> SinkAuth {
        SinkAuth {
            user: user.to_owned(),
            password: password.to_owned(),
            mechanisms: vec![Mechanism::Plain, Mechanism::Login],
        }
    }

    /// Offers only these mechanisms.
    pub fn mechanisms(mut self, mechanisms: &[Mechanism]) -> SinkAuth {
        self.mechanisms = mechanisms.to_vec();
        self
    }
}

/// What the sink requires.
#[derive(Debug, Clone, Default)]
pub struct SmtpSinkConfig {
    pub tls: SinkTls,
    /// `Some`: AUTH is required before MAIL.
    pub auth: Option<SinkAuth>,
}

impl SmtpSinkConfig {
    /// STARTTLS with the test CA's certificate, then `auth`.
    pub fn starttls_auth(auth: SinkAuth) -> SmtpSinkConfig {
        SmtpSinkConfig {
            tls: SinkTls::StartTls(SinkCert::test_ca()),
            auth: Some(auth),
        }
    }

    /// Implicit TLS with the test CA's certificate, then `auth`.
    pub fn implicit_tls_auth(auth: SinkAuth) -> SmtpSinkConfig {
        SmtpSinkConfig {
            tls: SinkTls::Implicit(SinkCert::test_ca()),
            auth: Some(auth),
        }
    }
}

/// Something that happened on a connection to the sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkEvent {
    /// A TLS handshake completed (implicit, or after STARTTLS).
    TlsEstablished,
    /// A TLS handshake failed, with the server's error (e.g. the alert the
    /// client sent: `UnknownCA`, `BadCertificate`).
    TlsFailed(String),
    /// AUTH succeeded for this user with this mechanism.
    AuthSucceeded { user: String, mechanism: Mechanism },
    /// AUTH failed (`535`) for this user (as sent) with this mechanism.
    AuthFailed { user: String, mechanism: Mechanism },
    /// A command refused with this reply code (`530`, `503`, `504`...).
    Refused { command: String, code: u16 },
}

/// The sink's view of a connection's stream: plain or TLS.
pub(crate) trait SinkIo: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> SinkIo for T {}

/// The prepared TLS side of a [`SinkTls`].
#[derive(Clone)]
pub(crate) enum Acceptor {
    None,
    StartTls(tokio_rustls::TlsAcceptor),
    Implicit(tokio_rustls::TlsAcceptor),
}

impl Acceptor {
    pub(crate) fn new(tls: &SinkTls) -> Acceptor {
        match tls {
            SinkTls::None => Acceptor::None,
            SinkTls::StartTls(cert) => Acceptor::StartTls(cert.acceptor()),
            SinkTls::Implicit(cert) => Acceptor::Implicit(cert.acceptor()),
        }
    }
}

/// The TLS handshake on `io`, server side.
pub(crate) async fn accept(
    acceptor: &tokio_rustls::TlsAcceptor,
    io: Box<dyn SinkIo>,
) -> std::io::Result<Box<dyn SinkIo>> {
    let stream = acceptor.accept(io).await?;
    Ok(Box::new(stream))
}

/// Base64 (standard alphabet) of `text`.
pub(crate) fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// Decodes base64 to text (`None` if it is not base64).
pub(crate) fn unb64(text: &str) -> Option<String> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(text.trim()).ok()?;
    String::from_utf8(bytes).ok()
}

/// The AUTH PLAIN response for `user` and `password` (base64 of
/// `\0user\0password`), for hand-written clients.
pub fn plain_response(user: &str, password: &str) -> String {
    b64(&format!("\0{user}\0{password}"))
}

/// User and password of an AUTH PLAIN response (`authzid\0user\0password`).
pub(crate) fn plain_credentials(response: &str) -> Option<(String, String)> {
    let decoded = unb64(response)?;
    let mut parts = decoded.split('\0');
    let (_authzid, user, password) = (parts.next()?, parts.next()?, parts.next()?);
    parts.next().is_none().then(|| (user.to_owned(), password.to_owned()))
}
