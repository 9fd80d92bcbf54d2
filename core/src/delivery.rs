//! Delivering codes and links: the [`Mailer`] and [`SmsSender`] traits, the
//! SMTP and webhook implementations, development fallbacks that write to the
//! log, and the message templates.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;

/// A delivery failure. The request answers 503 and the token is withdrawn.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DeliveryError(pub String);

/// An email to send.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EmailMessage {
    /// Recipient address.
    pub to: String,
    /// Subject line.
    pub subject: String,
    /// Plain-text body (carries the code or link).
    pub body: String,
}

impl fmt::Debug for EmailMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The body carries a secret.
        f.debug_struct("EmailMessage")
            .field("to", &self.to)
            .field("subject", &self.subject)
            .field("body", &"[redacted]")
            .finish()
    }
}

/// An SMS to send.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SmsMessage {
    /// E.164 recipient.
    pub to: String,
    /// Text (carries the code).
    pub body: String,
}

impl fmt::Debug for SmsMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmsMessage")
            .field("to", &self.to)
            .field("body", &"[redacted]")
            .finish()
    }
}

/// Sends emails.
///
/// Open for implementations of your own: a method added in a later version
/// comes with a default, so an implementation keeps compiling.
#[async_trait]
pub trait Mailer: Send + Sync + fmt::Debug + 'static {
    /// Sends one message; an error withdraws the token.
    async fn send(&self, message: &EmailMessage) -> Result<(), DeliveryError>;
}

/// Sends SMS.
///
/// Open for implementations of your own: a method added in a later version
/// comes with a default, so an implementation keeps compiling.
#[async_trait]
pub trait SmsSender: Send + Sync + fmt::Debug + 'static {
    /// Sends one message; an error withdraws the token.
    async fn send(&self, message: &SmsMessage) -> Result<(), DeliveryError>;
}

/// Development fallback: writes each email, code included, to the log at
/// WARN level under target `tokengate::delivery`. Never use it in production.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogMailer;

#[async_trait]
impl Mailer for LogMailer {
    async fn send(&self, message: &EmailMessage) -> Result<(), DeliveryError> {
        tracing::warn!(
            target: "tokengate::delivery",
            to = %message.to,
            subject = %message.subject,
            "development mailer (no SMTP configured):\n{}",
            message.body
        );
        Ok(())
    }
}

/// Development fallback: writes each SMS, code included, to the log.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogSms;

#[async_trait]
impl SmsSender for LogSms {
    async fn send(&self, message: &SmsMessage) -> Result<(), DeliveryError> {
        tracing::warn!(
            target: "tokengate::delivery",
            to = %message.to,
            "development SMS sender (no webhook configured): {}",
            message.body
        );
        Ok(())
    }
}

/// Subject and body templates. Placeholders: `{code}` (OTP), `{link}`
/// (magic URL), `{minutes}` (lifetime), `{phrase}` (security phrase line,
/// empty when none was asked for), `{project}`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Templates {
    /// Subject of the email OTP message.
    pub email_otp_subject: String,
    /// Body of the email OTP message.
    pub email_otp_body: String,
    /// Subject of the magic URL message.
    pub magic_url_subject: String,
    /// Body of the magic URL message.
    pub magic_url_body: String,
    /// Text of the SMS.
    pub sms_body: String,
}

impl Default for Templates {
    fn default() -> Self {
        Templates {
            email_otp_subject: "Your {project} login code".to_owned(),
            email_otp_body: "Your login code is {code}\nIt expires in {minutes} minutes.\n{phrase}\nIf you did not ask for it, ignore this message.\n".to_owned(),
            magic_url_subject: "Your {project} login link".to_owned(),
            magic_url_body: "Log in with this link:\n{link}\nIt expires in {minutes} minutes.\n{phrase}\nIf you did not ask for it, ignore this message.\n".to_owned(),
            sms_body: "Your {project} login code is {code}. It expires in {minutes} minutes.".to_owned(),
        }
    }
}

/// The values substituted into a template.
#[derive(Debug, Default)]
pub(crate) struct TemplateValues<'a> {
    pub code: &'a str,
    pub link: &'a str,
    pub minutes: u64,
    pub phrase: Option<&'a str>,
    pub project: &'a str,
}

/// Fills `{code}`, `{link}`, `{minutes}`, `{phrase}`, `{project}` in one pass
/// (substituted values are never scanned again).
pub(crate) fn render(template: &str, values: &TemplateValues<'_>) -> String {
    let phrase = values
        .phrase
        .map(|p| format!("Security phrase: {p}"))
        .unwrap_or_default();
    let minutes = values.minutes.to_string();
    let mut out = String::with_capacity(template.len() + 128);
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start..];
        let replaced = [
            ("{code}", values.code),
            ("{link}", values.link),
            ("{minutes}", minutes.as_str()),
            ("{phrase}", phrase.as_str()),
            ("{project}", values.project),
        ]
        .into_iter()
        .find(|(name, _)| after.starts_with(name));
        match replaced {
            Some((name, value)) => {
                out.push_str(value);
                rest = &after[name.len()..];
            }
            None => {
                out.push('{');
                rest = &after[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(feature = "smtp")]
#[cfg_attr(docsrs, doc(cfg(feature = "smtp")))]
pub use smtp::SmtpMailer;

#[cfg(feature = "smtp")]
mod smtp {
    use super::{DeliveryError, EmailMessage, Mailer};
    use async_trait::async_trait;
    use lettre::message::{header::ContentType, Mailbox};
    use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
    use lettre::transport::smtp::AsyncSmtpTransport;
    use lettre::{AsyncTransport, Message, Tokio1Executor};

    /// Sends email over SMTP with lettre: `smtp://host:port` (plain),
    /// `smtp://host:port?tls=required` (STARTTLS), `smtps://host:port`
    /// (implicit TLS); credentials as `smtp://user:pass@host`. TLS trusts
    /// the built-in web PKI roots, or only a private CA with
    /// [`SmtpMailer::from_url_with_root_ca`].
    pub struct SmtpMailer {
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
        /// A mailer for `url`, sending from `from` (e.g. `Login <no-reply@example.com>`).
        ///
        /// ```
        /// let mailer = tokengate::delivery::SmtpMailer::from_url("smtp://127.0.0.1:2525", "no-reply@example.com");
        /// assert!(mailer.is_ok());
        /// assert!(tokengate::delivery::SmtpMailer::from_url("ftp://x", "a@b.c").is_err());
        /// ```
        pub fn from_url(url: &str, from: &str) -> Result<Self, DeliveryError> {
            Self::build(url, from, None)
        }

        /// [`SmtpMailer::from_url`] trusting only the CA in `ca_pem` (PEM,
        /// one or more certificates) instead of the built-in web PKI roots:
        /// for a relay whose certificate comes from a private CA. The URL
        /// must use TLS (`smtps://` or `?tls=required`), and the server's
        /// certificate must name the URL's host (or IP address).
        ///
        /// ```
        /// use tokengate::delivery::SmtpMailer;
        /// let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        /// let plain = SmtpMailer::from_url_with_root_ca("smtp://127.0.0.1:2525", "a@b.c", pem.as_bytes());
        /// assert!(plain.is_err(), "a CA without TLS is a mistake");
        /// let no_certificate = SmtpMailer::from_url_with_root_ca("smtps://127.0.0.1:465", "a@b.c", b"nothing");
        /// assert!(no_certificate.is_err());
        /// ```
        pub fn from_url_with_root_ca(url: &str, from: &str, ca_pem: &[u8]) -> Result<Self, DeliveryError> {
            Self::build(url, from, Some(ca_pem))
        }

        fn build(url: &str, from: &str, ca_pem: Option<&[u8]>) -> Result<Self, DeliveryError> {
            let mut builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                .map_err(|e| DeliveryError(format!("invalid SMTP URL: {e}")))?;
            if let Some(pem) = ca_pem {
                // lettre's URL parsing made TLS parameters for the web PKI
                // roots; the same mode is set again with only this CA.
                let (mode, host) = tls_target(url).ok_or_else(|| {
                    DeliveryError("a root CA needs a TLS URL: smtps:// or smtp://...?tls=required".to_owned())
                })?;
                if !String::from_utf8_lossy(pem).contains("-----BEGIN CERTIFICATE-----") {
                    return Err(DeliveryError("the root CA holds no PEM certificate".to_owned()));
                }
                let certificate =
                    Certificate::from_pem(pem).map_err(|e| DeliveryError(format!("invalid root CA: {e}")))?;
                let parameters = TlsParameters::builder(host)
                    .certificate_store(CertificateStore::None)
                    .add_root_certificate(certificate)
                    .build_rustls()
                    .map_err(|e| DeliveryError(format!("invalid root CA: {e}")))?;
                builder = builder.tls(match mode {
                    TlsMode::Required => Tls::Required(parameters),
                    TlsMode::Opportunistic => Tls::Opportunistic(parameters),
                    TlsMode::Wrapper => Tls::Wrapper(parameters),
                });
            }
            let transport = builder.timeout(Some(std::time::Duration::from_secs(10))).build();
            let from = from
                .parse()
                .map_err(|e| DeliveryError(format!("invalid sender address: {e}")))?;
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
        async fn send(&self, message: &EmailMessage) -> Result<(), DeliveryError> {
            let to: Mailbox = message
                .to
                .parse()
                .map_err(|e| DeliveryError(format!("invalid recipient: {e}")))?;
            let email = Message::builder()
                .from(self.from.clone())
                .to(to)
                .subject(message.subject.clone())
                .header(ContentType::TEXT_PLAIN)
                .body(message.body.clone())
                .map_err(|e| DeliveryError(format!("cannot build email: {e}")))?;
            self.transport
                .send(email)
                .await
                .map(|_| ())
                .map_err(|e| DeliveryError(format!("SMTP: {e}")))
        }
    }
}

#[cfg(feature = "sms-webhook")]
#[cfg_attr(docsrs, doc(cfg(feature = "sms-webhook")))]
pub use webhook::WebhookSms;

#[cfg(feature = "sms-webhook")]
mod webhook {
    use super::{DeliveryError, SmsMessage, SmsSender};
    use async_trait::async_trait;
    use std::time::Duration;

    /// Sends each SMS as `POST {"to","body"}` JSON to a webhook; a non-2xx
    /// answer or a timeout (default 5 s) is a delivery failure.
    #[derive(Debug, Clone)]
    pub struct WebhookSms {
        url: String,
        client: reqwest::Client,
    }

    impl WebhookSms {
        /// A sender posting to `url`, with a total timeout per message.
        ///
        /// ```
        /// use std::time::Duration;
        /// let sms = tokengate::delivery::WebhookSms::new("http://127.0.0.1:9000/sms", Duration::from_secs(5));
        /// assert!(sms.is_ok());
        /// ```
        pub fn new(url: &str, timeout: Duration) -> Result<Self, DeliveryError> {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(DeliveryError("the SMS webhook must be an http(s) URL".to_owned()));
            }
            let client = reqwest::Client::builder()
                .timeout(timeout)
                .connect_timeout(timeout)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(|e| DeliveryError(format!("cannot build HTTP client: {e}")))?;
            Ok(WebhookSms {
                url: url.to_owned(),
                client,
            })
        }
    }

    #[async_trait]
    impl SmsSender for WebhookSms {
        async fn send(&self, message: &SmsMessage) -> Result<(), DeliveryError> {
            let response = self
                .client
                .post(&self.url)
                .json(&serde_json::json!({ "to": message.to, "body": message.body }))
                .send()
                .await
                .map_err(|e| DeliveryError(format!("SMS webhook: {}", e.without_url())))?;
            if response.status().is_success() {
                Ok(())
            } else {
                Err(DeliveryError(format!("SMS webhook answered {}", response.status())))
            }
        }
    }
}

/// Default timeout for webhook delivery.
pub const DEFAULT_WEBHOOK_TIMEOUT: Duration = Duration::from_secs(5);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_substitutes_once() {
        let values = TemplateValues {
            code: "{link}",
            link: "L",
            minutes: 10,
            phrase: Some("red fox"),
            project: "p",
        };
        let text = render("{code} {minutes} {phrase} {unknown} {", &values);
        assert_eq!(text, "{link} 10 Security phrase: red fox {unknown} {");
    }

    #[test]
    fn messages_redact_bodies() {
        let m = EmailMessage {
            to: "a@b.c".into(),
            subject: "s".into(),
            body: "123456".into(),
        };
        assert!(!format!("{m:?}").contains("123456"));
        let s = SmsMessage {
            to: "+1".into(),
            body: "123456".into(),
        };
        assert!(!format!("{s:?}").contains("123456"));
    }
}
