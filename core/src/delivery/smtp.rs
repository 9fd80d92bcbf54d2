//! Email over SMTP (lettre, rustls).

use super::{DeliveryError, Mailer, Message};
use async_trait::async_trait;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::transport::smtp::AsyncSmtpTransport;
use lettre::{AsyncTransport, Message as Email, Tokio1Executor};

/// A mailer sending over SMTP with lettre, from `from` (e.g.
/// `Login <no-reply@example.com>`), to `url`: `smtp://host:port` (plain),
/// `smtp://host:port?tls=required` (STARTTLS), `smtps://host:port`
/// (implicit TLS); credentials as `smtp://user:pass@host`. TLS trusts the
/// built-in web PKI roots ([`smtp_mailer_with_root_ca`] for a private CA).
/// Each message is `multipart/alternative` (text and HTML).
///
/// ```
/// let mailer = tokengate::delivery::smtp_mailer("smtp://127.0.0.1:2525", "no-reply@example.com");
/// assert!(mailer.is_ok());
/// assert!(tokengate::delivery::smtp_mailer("ftp://x", "a@b.c").is_err());
/// ```
pub fn smtp_mailer(url: &str, from: &str) -> Result<impl Mailer, DeliveryError> {
    SmtpMailer::build(url, from, None)
}

/// [`smtp_mailer`] trusting only the CA in `ca_pem` (PEM, one or more
/// certificates) instead of the built-in web PKI roots: for a relay whose
/// certificate comes from a private CA. The URL must use TLS (`smtps://`
/// or `?tls=required`), and the server's certificate must name the URL's
/// host (or IP address).
///
/// ```
/// use tokengate::delivery::smtp_mailer_with_root_ca;
/// let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
/// let plain = smtp_mailer_with_root_ca("smtp://127.0.0.1:2525", "a@b.c", pem.as_bytes());
/// assert!(plain.is_err(), "a CA without TLS is a mistake");
/// let no_certificate = smtp_mailer_with_root_ca("smtps://127.0.0.1:465", "a@b.c", b"nothing");
/// assert!(no_certificate.is_err());
/// ```
pub fn smtp_mailer_with_root_ca(url: &str, from: &str, ca_pem: &[u8]) -> Result<impl Mailer, DeliveryError> {
    SmtpMailer::build(url, from, Some(ca_pem))
}

struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpMailer")
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

impl SmtpMailer {
    fn build(url: &str, from: &str, ca_pem: Option<&[u8]>) -> Result<Self, DeliveryError> {
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| DeliveryError::Config(format!("invalid SMTP URL: {e}")))?;
        if let Some(pem) = ca_pem {
            // lettre's URL parsing made TLS parameters for the web PKI
            // roots; the same mode is set again with only this CA.
            let (mode, host) = tls_target(url).ok_or_else(|| {
                DeliveryError::Config("a root CA needs a TLS URL: smtps:// or smtp://...?tls=required".to_owned())
            })?;
            if !String::from_utf8_lossy(pem).contains("-----BEGIN CERTIFICATE-----") {
                return Err(DeliveryError::Config("the root CA holds no PEM certificate".to_owned()));
            }
            let certificate =
                Certificate::from_pem(pem).map_err(|e| DeliveryError::Config(format!("invalid root CA: {e}")))?;
            let parameters = TlsParameters::builder(host)
                .certificate_store(CertificateStore::None)
                .add_root_certificate(certificate)
                .build_rustls()
                .map_err(|e| DeliveryError::Config(format!("invalid root CA: {e}")))?;
            builder = builder.tls(match mode {
                TlsMode::Required => Tls::Required(parameters),
                TlsMode::Opportunistic => Tls::Opportunistic(parameters),
                TlsMode::Wrapper => Tls::Wrapper(parameters),
            });
        }
        let transport = builder.timeout(Some(std::time::Duration::from_secs(10))).build();
        let from = from
            .parse()
            .map_err(|e| DeliveryError::Config(format!("invalid sender address: {e}")))?;
        Ok(SmtpMailer { transport, from })
    }
}

#[derive(Debug, PartialEq, Eq)]
enum TlsMode {
    Required,
    Opportunistic,
    Wrapper,
}

/// The TLS mode and host of an SMTP URL that lettre has already
/// accepted, read the way lettre reads it (`smtps://` is implicit TLS,
/// `?tls=required|opportunistic` STARTTLS); `None` without TLS.
fn tls_target(url: &str) -> Option<(TlsMode, String)> {
    let (scheme, rest) = url.split_once("://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next()?,
        None => host_port.split(':').next()?,
    };
    let query = rest[end..].split('#').next()?.split_once('?').map_or("", |(_, q)| q);
    let tls = query.split('&').find_map(|pair| pair.strip_prefix("tls="));
    let mode = match (scheme.to_ascii_lowercase().as_str(), tls) {
        ("smtps", _) => TlsMode::Wrapper,
        ("smtp", Some("required")) => TlsMode::Required,
        ("smtp", Some("opportunistic")) => TlsMode::Opportunistic,
        _ => return None,
    };
    Some((mode, host.to_ascii_lowercase()))
}

#[cfg(test)]
#[test]
fn tls_target_reads_the_url_as_lettre_does() {
    let target = tls_target;
    assert_eq!(
        target("smtp://u:p%40ss@Mail.Example.com:587?tls=required"),
        Some((TlsMode::Required, "mail.example.com".to_owned()))
    );
    assert_eq!(
        target("smtp://127.0.0.1:2525/helo.example?tls=opportunistic#x"),
        Some((TlsMode::Opportunistic, "127.0.0.1".to_owned()))
    );
    assert_eq!(
        target("smtps://user:pass@[::1]:465"),
        Some((TlsMode::Wrapper, "::1".to_owned()))
    );
    assert_eq!(target("smtp://127.0.0.1:25"), None);
    assert_eq!(target("smtp://127.0.0.1:25?tls=none"), None);
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, message: &Message) -> Result<(), DeliveryError> {
        let to: Mailbox = message
            .to
            .parse()
            .map_err(|e| DeliveryError::Refused(format!("invalid recipient: {e}")))?;
        let email = Email::builder()
            .from(self.from.clone())
            .to(to)
            .subject(message.subject.clone())
            .multipart(MultiPart::alternative_plain_html(
                message.body.clone(),
                message.html.clone(),
            ))
            .map_err(|e| DeliveryError::Refused(format!("cannot build email: {e}")))?;
        self.transport
            .send(email)
            .await
            .map(|_| ())
            .map_err(|e| DeliveryError::Unavailable(format!("SMTP: {e}")))
    }
}
