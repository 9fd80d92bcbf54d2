//! Delivering codes and links: the [`Mailer`] and [`SmsSender`] traits, the
//! SMTP and webhook implementations, development fallbacks that write to the
//! log, and the message templates.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;

/// A delivery failure. The request answers 503 and the token is withdrawn.
#[derive(Debug)]
#[non_exhaustive]
pub enum DeliveryError {
    /// The channel is misconfigured: a bad URL, sender or CA (found when
    /// the mailer or sender is built).
    Config(String),
    /// The channel refused this message: a recipient it will not take, or
    /// an answer other than success.
    Refused(String),
    /// The channel could not be reached or did not answer in time.
    Unavailable(String),
}

impl fmt::Display for DeliveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeliveryError::Config(reason) => write!(f, "misconfigured: {reason}"),
            DeliveryError::Refused(reason) => write!(f, "refused: {reason}"),
            DeliveryError::Unavailable(reason) => write!(f, "unavailable: {reason}"),
        }
    }
}

impl std::error::Error for DeliveryError {}

/// A message to send: an email (`multipart/alternative`: the text part
/// and the HTML part) or an SMS (the text alone; `subject` and `html`
/// empty). In an email a link stands alone on its own line of the text
/// part between `<` and `>` (RFC 3986, appendix C), and in the HTML part
/// as the exact `href`, HTML-escaped. `Debug` shows neither part: both
/// carry the code or link.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Message {
    /// Recipient: an email address, or an E.164 phone number.
    pub to: String,
    /// Subject line (email only).
    pub subject: String,
    /// The text (of an email, its plain-text part).
    pub body: String,
    /// The HTML part (email only).
    pub html: String,
}

impl Message {
    /// An email with both parts.
    ///
    /// ```
    /// let m = tokengate::delivery::Message::email("a@example.com", "Hi", "text", "<p>html</p>");
    /// assert_eq!(m.html, "<p>html</p>");
    /// ```
    pub fn email(
        to: impl Into<String>,
        subject: impl Into<String>,
        body: impl Into<String>,
        html: impl Into<String>,
    ) -> Self {
        Message {
            to: to.into(),
            subject: subject.into(),
            body: body.into(),
            html: html.into(),
        }
    }

    /// An SMS.
    ///
    /// ```
    /// let m = tokengate::delivery::Message::sms("+15005550006", "Your code is 493817");
    /// assert!(m.subject.is_empty() && m.html.is_empty());
    /// ```
    pub fn sms(to: impl Into<String>, body: impl Into<String>) -> Self {
        Message::email(to, "", body, "")
    }
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Message")
            .field("to", &self.to)
            .field("subject", &self.subject)
            .field("body", &"[redacted]")
            .field("html", &"[redacted]")
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
    async fn send(&self, message: &Message) -> Result<(), DeliveryError>;
}

/// Sends SMS.
///
/// Open for implementations of your own: a method added in a later version
/// comes with a default, so an implementation keeps compiling.
#[async_trait]
pub trait SmsSender: Send + Sync + fmt::Debug + 'static {
    /// Sends one message; an error withdraws the token.
    async fn send(&self, message: &Message) -> Result<(), DeliveryError>;
}

/// Development fallback: writes each email, code included, to the log at
/// WARN level under target `tokengate::delivery`. Never use it in production.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct LogMailer;

#[async_trait]
impl Mailer for LogMailer {
    async fn send(&self, message: &Message) -> Result<(), DeliveryError> {
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
pub(crate) struct LogSms;

#[async_trait]
impl SmsSender for LogSms {
    async fn send(&self, message: &Message) -> Result<(), DeliveryError> {
        tracing::warn!(
            target: "tokengate::delivery",
            to = %message.to,
            "development SMS sender (no webhook configured): {}",
            message.body
        );
        Ok(())
    }
}

mod templates;
pub use templates::Templates;
pub(crate) use templates::{render, render_html, TemplateValues};

#[cfg(feature = "smtp")]
mod smtp;
#[cfg(feature = "smtp")]
#[cfg_attr(docsrs, doc(cfg(feature = "smtp")))]
pub use smtp::{smtp_mailer, smtp_mailer_with_root_ca};

#[cfg(feature = "sms-webhook")]
mod sms_webhook;
#[cfg(feature = "sms-webhook")]
#[cfg_attr(docsrs, doc(cfg(feature = "sms-webhook")))]
pub use sms_webhook::sms_webhook;

/// Default timeout for webhook delivery.
pub const DEFAULT_WEBHOOK_TIMEOUT: Duration = Duration::from_secs(5);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_redact_bodies() {
        let m = Message::email("a@b.c", "s", "123456", "<b>123456</b>");
        assert!(!format!("{m:?}").contains("123456"));
        let s = Message::sms("+1", "123456");
        assert!(!format!("{s:?}").contains("123456"));
    }
}
