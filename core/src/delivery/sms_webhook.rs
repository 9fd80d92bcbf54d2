//! SMS by `POST {"to","body"}` to a webhook (reqwest, rustls).

use super::{DeliveryError, Message, SmsSender};
use async_trait::async_trait;
use std::time::Duration;

/// A sender posting each SMS as `POST {"to","body"}` JSON to `url`, with
/// a total `timeout` per message (redirects are not followed); a non-2xx
/// answer or a timeout is a delivery failure (the token is withdrawn, 503).
///
/// ```
/// use std::time::Duration;
/// let sms = tokengate::delivery::sms_webhook("http://127.0.0.1:9000/sms", Duration::from_secs(5));
/// assert!(sms.is_ok());
/// assert!(tokengate::delivery::sms_webhook("ftp://x", Duration::from_secs(5)).is_err());
/// ```
pub fn sms_webhook(url: &str, timeout: Duration) -> Result<impl SmsSender, DeliveryError> {
    WebhookSms::new(url, timeout)
}

#[derive(Debug, Clone)]
struct WebhookSms {
    url: String,
    client: reqwest::Client,
}

impl WebhookSms {
    fn new(url: &str, timeout: Duration) -> Result<Self, DeliveryError> {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(DeliveryError::Config(
                "the SMS webhook must be an http(s) URL".to_owned(),
            ));
        }
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| DeliveryError::Config(format!("cannot build HTTP client: {e}")))?;
        Ok(WebhookSms {
            url: url.to_owned(),
            client,
        })
    }
}

#[async_trait]
impl SmsSender for WebhookSms {
    async fn send(&self, message: &Message) -> Result<(), DeliveryError> {
        let response = self
            .client
            .post(&self.url)
            .json(&serde_json::json!({ "to": message.to, "body": message.body }))
            .send()
            .await
            .map_err(|e| DeliveryError::Unavailable(format!("SMS webhook: {}", e.without_url())))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(DeliveryError::Refused(format!(
                "SMS webhook answered {}",
                response.status()
            )))
        }
    }
}
