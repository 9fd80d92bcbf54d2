//! The passwordless flows: email OTP, magic URL and phone OTP.

use std::time::Duration;

use super::tokens::Issued;
use super::Gate;
use crate::address::{mailbox, normalize_email, normalize_phone};
use crate::client_net::client_networks;
use crate::delivery::{render, render_html, DeliveryError, Message, TemplateValues};
use crate::directory::Address;
use crate::error::Error;
use crate::model::{ClientInfo, Token, TokenKind, UserId};
use crate::observe;
use crate::phrase::security_phrase;
use crate::policy::FlowLimits;
use crate::secret::{random_digits, random_hex, Purpose};
use crate::store::{RateBucket, PROVISIONAL_GRACE};
use crate::time::now_ms;

/// One flow as its limits and directory rules see it.
struct Flow<'a> {
    /// Its name in metrics and rate-limit groups.
    kind: &'static str,
    limits: &'a FlowLimits,
    /// Its tokens' lifetime.
    lifetime: Duration,
}

impl<'a> Flow<'a> {
    fn new(kind: &'static str, limits: &'a FlowLimits, lifetime: Duration) -> Self {
        Flow { kind, limits, lifetime }
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
        client: &ClientInfo,
    ) -> Result<Token, Error> {
        let requested = UserId::parse_or_generate(user_id)?;
        let email = normalize_email(email)?;
        let mailer = self.mailer().ok_or(Error::SmtpDisabled)?;
        let lifetime = self.flows().lifetimes.otp;
        let flow = Flow::new("email", &self.flows().limits.email, lifetime);
        let owner = self
            .flow_owner(flow, Address::Email(&email), user_id, &requested, client)
            .await?;
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
        let message = Message::email(
            email,
            render(&templates.email_otp_subject, &values),
            render(&templates.email_otp_body, &values),
            render_html(&templates.email_otp_html, &values),
        );
        let outcome = mailer.send(&message).await;
        self.finish_delivery(token, &message.to, "", outcome).await
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
        client: &ClientInfo,
    ) -> Result<Token, Error> {
        let requested = UserId::parse_or_generate(user_id)?;
        let email = normalize_email(email)?;
        // The link is serialised from the parsed target, never appended to `url`.
        let target = self.flows().redirect.target(url)?;
        let mailer = self.mailer().ok_or(Error::SmtpDisabled)?;
        let lifetime = self.flows().lifetimes.magic_url;
        let flow = Flow::new("magic", &self.flows().limits.magic_url, lifetime);
        let owner = self
            .flow_owner(flow, Address::Email(&email), user_id, &requested, client)
            .await?;
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
            target.link(&[
                ("userId", owner.as_str()),
                ("secret", secret),
                ("expire", &expire),
                ("project", self.project()),
            ])
        };
        let link = zeroize::Zeroizing::new(link);
        let templates = &self.flows().templates;
        let values = self.template_values(&token, &link, lifetime.as_secs());
        let message = Message::email(
            email,
            render(&templates.magic_url_subject, &values),
            render(&templates.magic_url_body, &values),
            render_html(&templates.magic_url_html, &values),
        );
        let outcome = mailer.send(&message).await;
        self.finish_delivery(token, &message.to, "", outcome).await
    }

    /// Sends a 6-digit code by SMS to an E.164 number, with the same
    /// directory rules as email.
    pub async fn create_phone_token(&self, user_id: &str, phone: &str, client: &ClientInfo) -> Result<Token, Error> {
        let requested = UserId::parse_or_generate(user_id)?;
        let phone = normalize_phone(phone)?;
        let sms = self.sms_sender().ok_or(Error::PhoneDisabled)?;
        let lifetime = self.flows().lifetimes.otp;
        let flow = Flow::new("phone", &self.flows().limits.phone, lifetime);
        let owner = self
            .flow_owner(flow, Address::Phone(&phone), user_id, &requested, client)
            .await?;
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
        let message = Message::sms(phone, render(&self.flows().templates.sms_body, &values));
        let outcome = sms.send(&message).await;
        self.finish_delivery(token, "", &message.to, outcome).await
    }

    /// Whether this request may create a user with the id it asked for: a
    /// generated id (`unique()`) always; an id of the caller's choosing only
    /// for API-key callers, or for anyone under
    /// [`GateBuilder::client_chosen_ids`](crate::GateBuilder::client_chosen_ids).
    /// Otherwise a stranger could claim an id before the application first
    /// issues a token for it, and the application's tokens would then log
    /// into the stranger's account.
    fn may_create(&self, user_id: &str, client: &ClientInfo) -> bool {
        user_id == crate::model::UNIQUE_ID || client.trusted || self.policy().client_chosen_ids
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

    /// A failed delivery withdraws the token: nothing usable stays behind,
    /// and a provisional user left with nothing else goes with its
    /// binding to `email` or `phone`.
    async fn finish_delivery(
        &self,
        token: Token,
        email: &str,
        phone: &str,
        outcome: Result<(), DeliveryError>,
    ) -> Result<Token, Error> {
        let Err(reason) = outcome else {
            return Ok(token);
        };
        if let Some(secret) = &token.secret {
            let user = &token.user_id;
            let digest = self
                .server_key()
                .digest(Purpose::Token, user, secret.expose().as_bytes());
            let withdrawn = match self.store().remove_token(user, &digest, now_ms()).await {
                Ok(withdrawn) => withdrawn,
                Err(error) => {
                    tracing::error!(%error, user = %user, "could not withdraw an undelivered token");
                    false
                }
            };
            if withdrawn && let Err(error) = self.directory().delete(user, email, phone).await {
                tracing::warn!(%error, user = %user, "could not unlink a withdrawn user's address; it expires");
            }
        }
        tracing::warn!(user = %token.user_id, kind = ?token.kind, %reason, "delivery failed; token withdrawn");
        observe::delivery_failed(if token.kind == TokenKind::Phone { "sms" } else { "email" });
        Err(Error::Delivery(reason))
    }

    /// The user a flow's token is for: the address's owner, or a new user
    /// bound to it. An anonymous request's new user is provisional: it and
    /// its binding live as long as the token (plus
    /// [`PROVISIONAL_GRACE`]) unless it signs in. Counts the request
    /// first, knowing whether the address is new.
    async fn flow_owner(
        &self,
        flow: Flow<'_>,
        address: Address<'_>,
        user_id: &str,
        requested: &UserId,
        client: &ClientInfo,
    ) -> Result<UserId, Error> {
        let found = self.directory().owner(address).await?;
        let (Address::Email(text) | Address::Phone(text)) = address;
        // A provisional owner (an address nobody has signed in with) is still new.
        let known = matches!(found, Some((_, false)));
        let until = (!client.trusted).then(|| now_ms() + (flow.lifetime + PROVISIONAL_GRACE).as_millis() as i64);
        let directory = self.directory();
        if found.is_none() && !self.may_create(user_id, client) {
            // Refused before anything is counted: a refusal spends nothing.
            let owner = directory.bind(address, requested, false, until).await?;
            self.check_limits(&flow, text, known, client).await?;
            return Ok(owner);
        }
        self.check_limits(&flow, text, known, client).await?;
        match found {
            Some((owner, false)) => Ok(owner),
            Some((owner, true)) => directory.bind(address, &owner, true, until).await,
            None => {
                directory
                    .bind(address, requested, self.may_create(user_id, client), until)
                    .await
            }
        }
    }

    /// Counts the request in every bucket that applies, at once or not at
    /// all: the address (with the gap between sends), the client at each
    /// prefix length, and the deployment-wide ceiling of new or of known
    /// addresses. API-key callers are not counted.
    async fn check_limits(
        &self,
        flow: &Flow<'_>,
        address: &str,
        known: bool,
        client: &ClientInfo,
    ) -> Result<(), Error> {
        if client.trusted {
            return Ok(());
        }
        let all = &self.flows().limits;
        let limits = flow.limits;
        let window_ms = all.window.as_millis() as i64;
        let bucket =
            |id: String, limit: u32, min_interval_ms: i64| RateBucket::new(id, limit, window_ms, min_interval_ms);
        let mut buckets = vec![bucket(
            format!("addr:{}", self.bucket_digest(&mailbox(address))),
            limits.per_address,
            all.min_interval.as_millis() as i64,
        )];
        if let Some(ip) = client.ip {
            for (scope, network) in client_networks(ip) {
                let limit = match scope {
                    "client" => limits.per_client,
                    "v4_24" => limits.per_ipv4_24,
                    "v6_56" => limits.per_ipv6_56,
                    _ => limits.per_ipv6_48,
                };
                buckets.push(bucket(format!("{scope}:{}", self.bucket_digest(&network)), limit, 0));
            }
        }
        let (ceiling, limit) = if known {
            ("known", limits.known_addresses)
        } else {
            ("new", limits.new_addresses)
        };
        buckets.push(bucket(ceiling.to_owned(), limit, 0));
        // A limit of 0 is off.
        buckets.retain(|b| b.limit > 0);
        let Some(refused) = self.store().hit_rate_limits(flow.kind, &buckets, now_ms()).await? else {
            return Ok(());
        };
        let scope = buckets[refused].id.split(':').next().unwrap_or_default();
        if scope == ceiling {
            tracing::warn!(
                kind = flow.kind,
                limit = buckets[refused].limit,
                "deployment-wide issuance ceiling of {ceiling} addresses reached; refusing {} tokens to them",
                flow.kind
            );
        } else {
            tracing::debug!(kind = flow.kind, scope, "issuance refused by a rate limit");
        }
        observe::rate_limited(flow.kind);
        Err(Error::RateLimited)
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
