//! The passwordless flows: email OTP, magic URL and phone OTP.

use std::net::IpAddr;

use super::tokens::Issued;
use super::Gate;
use crate::address::{normalize_email, normalize_phone};
use crate::delivery::{render, EmailMessage, SmsMessage, TemplateValues};
use crate::directory::Address;
use crate::error::Error;
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
    /// let anonymous = tokengate::Requester::new(None, false);
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
        let mailer = self.mailer().ok_or(Error::SmtpDisabled)?;
        let limits = &self.flows().limits;
        self.check_limits(
            "email",
            &email,
            [limits.email_per_address, limits.email_per_ip, limits.email_global],
            requester,
        )
        .await?;
        let owner = self
            .directory()
            .resolve(Address::Email(&email), &requested, self.may_create(user_id, requester))
            .await?;
        let lifetime = self.flows().lifetimes.otp;
        let issued = Issued {
            phrase: phrase.then(security_phrase),
            address: Some(Address::Email(&email)),
            replace_kind: true,
        };
        let token = self
            .issue(
                &owner,
                TokenKind::EmailOtp,
                random_digits(OTP_DIGITS),
                lifetime,
                true,
                issued,
            )
            .await?;
        let templates = &self.flows().templates;
        let values = self.template_values(&token, "", lifetime.as_secs());
        let message = EmailMessage {
            to: email,
            subject: render(&templates.email_otp_subject, &values),
            body: render(&templates.email_otp_body, &values),
        };
        let outcome = mailer.send(&message).await;
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
        let mailer = self.mailer().ok_or(Error::SmtpDisabled)?;
        let limits = &self.flows().limits;
        self.check_limits(
            "magic",
            &email,
            [
                limits.magic_url_per_address,
                limits.magic_url_per_ip,
                limits.magic_url_global,
            ],
            requester,
        )
        .await?;
        let owner = self
            .directory()
            .resolve(Address::Email(&email), &requested, self.may_create(user_id, requester))
            .await?;
        let lifetime = self.flows().lifetimes.magic_url;
        let issued = Issued {
            phrase: phrase.then(security_phrase),
            address: Some(Address::Email(&email)),
            replace_kind: true,
        };
        let token = self
            .issue(
                &owner,
                TokenKind::MagicUrl,
                random_hex(MAGIC_URL_HEX),
                lifetime,
                false,
                issued,
            )
            .await?;
        let expire = crate::time::format_date(token.expire);
        let link = {
            let secret = token.secret.as_ref().map(|s| s.expose()).unwrap_or_default();
            self.flows().redirect.link(
                url,
                &[
                    ("userId", owner.as_str()),
                    ("secret", secret),
                    ("expire", &expire),
                    ("project", self.project()),
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
        let outcome = mailer.send(&message).await;
        self.finish_delivery(token, outcome.map_err(|e| e.0)).await
    }

    /// Sends a 6-digit code by SMS to an E.164 number, with the same
    /// directory rules as email.
    pub async fn create_phone_token(&self, user_id: &str, phone: &str, requester: Requester) -> Result<Token, Error> {
        let requested = UserId::parse_or_generate(user_id)?;
        let phone = normalize_phone(phone)?;
        let sms = self.sms_sender().ok_or(Error::PhoneDisabled)?;
        let limits = &self.flows().limits;
        self.check_limits(
            "phone",
            &phone,
            [limits.phone_per_address, limits.phone_per_ip, limits.phone_global],
            requester,
        )
        .await?;
        let owner = self
            .directory()
            .resolve(Address::Phone(&phone), &requested, self.may_create(user_id, requester))
            .await?;
        let lifetime = self.flows().lifetimes.otp;
        let issued = Issued {
            phrase: None,
            address: Some(Address::Phone(&phone)),
            replace_kind: true,
        };
        let token = self
            .issue(
                &owner,
                TokenKind::Phone,
                random_digits(OTP_DIGITS),
                lifetime,
                true,
                issued,
            )
            .await?;
        let values = self.template_values(&token, "", lifetime.as_secs());
        let message = SmsMessage {
            to: phone,
            body: render(&self.flows().templates.sms_body, &values),
        };
        let outcome = sms.send(&message).await;
        self.finish_delivery(token, outcome.map_err(|e| e.0)).await
    }

    /// Whether this request may create a user with the id it asked for: a
    /// generated id (`unique()`) always; an id of the caller's choosing only
    /// for API-key callers, or for anyone under
    /// [`GateBuilder::client_chosen_ids`](crate::GateBuilder::client_chosen_ids).
    /// Otherwise a stranger could claim an id before the application first
    /// issues a token for it, and the application's tokens would then log
    /// into the stranger's account.
    fn may_create(&self, user_id: &str, requester: Requester) -> bool {
        user_id == crate::model::UNIQUE_ID || requester.trusted || self.policy().client_chosen_ids
    }

    fn template_values<'a>(&'a self, token: &'a Token, link: &'a str, seconds: u64) -> TemplateValues<'a> {
        TemplateValues {
            code: token.secret.as_ref().map(|s| s.expose()).unwrap_or_default(),
            link,
            minutes: seconds.div_ceil(60),
            phrase: token.phrase.as_deref(),
            project: self.project(),
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
                    if let Err(error) = self.store().remove_token(&token.user_id, &digest, now_ms()).await {
                        tracing::error!(%error, user = %token.user_id, "could not withdraw an undelivered token");
                    }
                }
                tracing::warn!(user = %token.user_id, kind = ?token.kind, %reason, "delivery failed; token withdrawn");
                observe::delivery_failed(if token.kind == TokenKind::Phone { "sms" } else { "email" });
                Err(Error::Delivery(reason))
            }
        }
    }

    /// Counts the request in the deployment-wide, per-client and
    /// per-address buckets of `kind` (`[per address, per client, global]`
    /// limits), in that order; a refusal takes back what the earlier
    /// buckets counted, so a refused request costs no budget.
    async fn check_limits(
        &self,
        kind: &'static str,
        address: &str,
        [per_address, per_client, global]: [u32; 3],
        requester: Requester,
    ) -> Result<(), Error> {
        if requester.trusted {
            return Ok(());
        }
        let limits = &self.flows().limits;
        let window_ms = limits.window.as_millis() as i64;
        let bucket = |id: String, limit: u32, min_interval_ms: i64| RateBucket {
            id,
            limit,
            window_ms,
            min_interval_ms,
        };
        let mut buckets = Vec::with_capacity(3);
        if global > 0 {
            buckets.push((bucket(format!("{kind}:all"), global, 0), "global"));
        }
        if let Some(ip) = requester.ip {
            buckets.push((
                bucket(format!("{kind}:ip:{}", self.client_digest(ip)), per_client, 0),
                "client",
            ));
        }
        let gap = limits.min_interval.as_millis() as i64;
        buckets.push((
            bucket(format!("{kind}:addr:{}", self.bucket_digest(address)), per_address, gap),
            "address",
        ));
        let now = now_ms();
        for (index, (bucket, scope)) in buckets.iter().enumerate() {
            if self.store().hit_rate_limit(bucket, now).await? {
                continue;
            }
            for (counted, _) in &buckets[..index] {
                self.store().refund_rate_limit(counted, now_ms()).await?;
            }
            if *scope == "global" {
                tracing::warn!(
                    kind,
                    limit = bucket.limit,
                    "deployment-wide issuance ceiling reached; refusing new {kind} tokens"
                );
            }
            observe::rate_limited(kind);
            return Err(Error::RateLimited);
        }
        Ok(())
    }

    /// Rate-limit buckets are named by a digest: no address or IP in the clear.
    pub(crate) fn bucket_digest(&self, value: &str) -> String {
        let hex = self
            .server_key()
            .digest_value(Purpose::RateLimit, value.as_bytes())
            .to_hex();
        hex[..32].to_owned()
    }
}
