//! The passwordless flows: email OTP, magic URL and phone OTP.

use std::net::IpAddr;

use crate::address::{normalize_email, normalize_phone};
use crate::delivery::{render, EmailMessage, SmsMessage, TemplateValues};
use crate::directory::{Address, User};
use crate::error::Error;
use crate::gate::Gate;
use crate::model::{Token, TokenKind, UserId};
use crate::observe;
use crate::phrase::security_phrase;
use crate::secret::{random_digits, random_hex, Purpose};
use crate::store::RateBucket;
use crate::time::now_ms;

/// Who asks for a token.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct Requester {
    /// The client address (for per-IP limits).
    pub ip: Option<IpAddr>,
    /// An API-key caller: bypasses the issuance limits.
    pub trusted: bool,
}

impl Requester {
    /// A requester from `ip`, trusted or not.
    ///
    /// ```
    /// let anonymous = tokengate::flows::Requester::new(None, false);
    /// assert!(!anonymous.trusted);
    /// ```
    pub fn new(ip: Option<IpAddr>, trusted: bool) -> Self {
        Requester { ip, trusted }
    }
}

const OTP_DIGITS: usize = 6;
const MAGIC_URL_HEX: usize = 64;

impl Gate {
    /// Sends a 6-digit code by email. An unknown address creates the user
    /// `user_id` (`unique()` generates one); a known one issues for its
    /// owner. The previous email code of that user stops working.
    pub async fn create_email_token(
        &self,
        user_id: &str,
        email: &str,
        phrase: bool,
        requester: Requester,
    ) -> Result<Token, Error> {
        let requested = UserId::parse_or_generate(user_id)?;
        let email = normalize_email(email)?;
        let limits = &self.flows().limits;
        self.check_limits(
            "email",
            &email,
            limits.email_per_address,
            limits.email_per_ip,
            requester,
        )
        .await?;
        let owner = self.directory().resolve(Address::Email(&email), &requested).await?;
        let lifetime = self.flows().lifetimes.otp;
        let mut token = self
            .issue(
                &owner,
                TokenKind::EmailOtp,
                random_digits(OTP_DIGITS),
                lifetime,
                true,
                true,
            )
            .await?;
        token.phrase = phrase.then(security_phrase);
        let templates = &self.flows().templates;
        let values = self.template_values(&token, "", lifetime.as_secs());
        let message = EmailMessage {
            to: email,
            subject: render(&templates.email_otp_subject, &values),
            body: render(&templates.email_otp_body, &values),
        };
        let outcome = self.mailer().send(&message).await;
        self.finish_delivery(token, outcome.map_err(|e| e.0)).await
    }

    /// Sends a magic link by email: `url` (or the public URL) with `userId`,
    /// `secret`, `expire` and `project` in its query. `url` must be an
    /// absolute http(s) URL on the allow-list.
    pub async fn create_magic_url_token(
        &self,
        user_id: &str,
        email: &str,
        url: Option<&str>,
        phrase: bool,
        requester: Requester,
    ) -> Result<Token, Error> {
        let requested = UserId::parse_or_generate(user_id)?;
        let email = normalize_email(email)?;
        if let Some(url) = url {
            self.flows().redirect.check(url)?;
        }
        let limits = &self.flows().limits;
        self.check_limits(
            "magic",
            &email,
            limits.magic_url_per_address,
            limits.magic_url_per_ip,
            requester,
        )
        .await?;
        let owner = self.directory().resolve(Address::Email(&email), &requested).await?;
        let lifetime = self.flows().lifetimes.magic_url;
        let mut token = self
            .issue(
                &owner,
                TokenKind::MagicUrl,
                random_hex(MAGIC_URL_HEX),
                lifetime,
                false,
                true,
            )
            .await?;
        token.phrase = phrase.then(security_phrase);
        let expire = crate::api::wire::format_date(token.expire);
        let link = {
            let secret = token.secret.as_ref().map(|s| s.expose()).unwrap_or_default();
            self.flows().redirect.link(
                url,
                &[
                    ("userId", owner.as_str()),
                    ("secret", secret),
                    ("expire", &expire),
                    ("project", &self.http().project),
                ],
            )
        };
        let link = zeroize::Zeroizing::new(link);
        let templates = &self.flows().templates;
        let values = self.template_values(&token, &link, lifetime.as_secs());
        let message = EmailMessage {
            to: email,
            subject: render(&templates.magic_url_subject, &values),
            body: render(&templates.magic_url_body, &values),
        };
        let outcome = self.mailer().send(&message).await;
        self.finish_delivery(token, outcome.map_err(|e| e.0)).await
    }

    /// Sends a 6-digit code by SMS to an E.164 number, with the same
    /// directory rules as email.
    pub async fn create_phone_token(&self, user_id: &str, phone: &str, requester: Requester) -> Result<Token, Error> {
        let requested = UserId::parse_or_generate(user_id)?;
        let phone = normalize_phone(phone)?;
        let limits = &self.flows().limits;
        self.check_limits(
            "phone",
            &phone,
            limits.phone_per_address,
            limits.phone_per_ip,
            requester,
        )
        .await?;
        let owner = self.directory().resolve(Address::Phone(&phone), &requested).await?;
        let lifetime = self.flows().lifetimes.otp;
        let token = self
            .issue(
                &owner,
                TokenKind::Phone,
                random_digits(OTP_DIGITS),
                lifetime,
                true,
                true,
            )
            .await?;
        let values = self.template_values(&token, "", lifetime.as_secs());
        let message = SmsMessage {
            to: phone,
            body: render(&self.flows().templates.sms_body, &values),
        };
        let outcome = self.sms_sender().send(&message).await;
        self.finish_delivery(token, outcome.map_err(|e| e.0)).await
    }

    /// The user as the directory knows it; a user with sessions but no
    /// directory entry (custom tokens only) is reported with empty fields.
    pub async fn get_user(&self, user: &UserId) -> Result<Option<User>, Error> {
        self.directory().get(user).await
    }

    fn template_values<'a>(&'a self, token: &'a Token, link: &'a str, seconds: u64) -> TemplateValues<'a> {
        TemplateValues {
            code: token.secret.as_ref().map(|s| s.expose()).unwrap_or_default(),
            link,
            minutes: seconds.div_ceil(60),
            phrase: token.phrase.as_deref(),
            project: &self.http().project,
        }
    }

    /// A failed delivery withdraws the token: nothing usable stays behind.
    async fn finish_delivery(&self, token: Token, outcome: Result<(), String>) -> Result<Token, Error> {
        match outcome {
            Ok(()) => Ok(token),
            Err(reason) => {
                if let Some(secret) = &token.secret {
                    let digest = self
                        .server_key()
                        .digest(Purpose::Token, &token.user_id, secret.expose().as_bytes());
                    if let Err(error) = self.store().remove_token(&token.user_id, &digest).await {
                        tracing::error!(%error, user = %token.user_id, "could not withdraw an undelivered token");
                    }
                }
                tracing::warn!(user = %token.user_id, kind = ?token.kind, %reason, "delivery failed; token withdrawn");
                observe::delivery_failed(if token.kind == TokenKind::Phone { "sms" } else { "email" });
                Err(Error::Delivery(reason))
            }
        }
    }

    async fn check_limits(
        &self,
        kind: &'static str,
        address: &str,
        per_address: u32,
        per_ip: u32,
        requester: Requester,
    ) -> Result<(), Error> {
        if requester.trusted {
            return Ok(());
        }
        let limits = &self.flows().limits;
        let window_ms = limits.window.as_millis() as i64;
        let now = now_ms();
        let ip_bucket = requester.ip.map(|ip| RateBucket {
            id: format!("{kind}:ip:{}", self.bucket_digest(&ip.to_string())),
            limit: per_ip,
            window_ms,
            min_interval_ms: 0,
        });
        if let Some(bucket) = &ip_bucket {
            if !self.store().hit_rate_limit(bucket, now).await? {
                observe::rate_limited(kind);
                return Err(Error::RateLimited);
            }
        }
        let address_bucket = RateBucket {
            id: format!("{kind}:addr:{}", self.bucket_digest(address)),
            limit: per_address,
            window_ms,
            min_interval_ms: limits.min_interval.as_millis() as i64,
        };
        if !self.store().hit_rate_limit(&address_bucket, now).await? {
            // A refused request costs the client's budget nothing.
            if let Some(bucket) = &ip_bucket {
                self.store().refund_rate_limit(bucket).await?;
            }
            observe::rate_limited(kind);
            return Err(Error::RateLimited);
        }
        Ok(())
    }

    /// Rate-limit buckets are named by a digest: no address or IP in the clear.
    fn bucket_digest(&self, value: &str) -> String {
        let hex = self
            .server_key()
            .digest_value(Purpose::RateLimit, value.as_bytes())
            .to_hex();
        hex[..32].to_owned()
    }
}
