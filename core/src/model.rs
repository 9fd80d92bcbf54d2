//! The domain types: user ids, tokens, sessions and their kinds.

use std::fmt;
use std::net::IpAddr;

use chrono::{DateTime, Utc};

use crate::error::Error;
use crate::secret::{random_id, Secret};

/// A validated user id (Appwrite's rule): 1 to 36 characters of
/// `a-zA-Z0-9._-`, not starting with `.`, `-` or `_`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(String);

/// The literal that asks for a generated id, as in Appwrite's `ID.unique()`.
pub const UNIQUE_ID: &str = "unique()";

impl UserId {
    /// A placeholder left behind when a user id is moved out of a value that
    /// is dropped right after (never handed out, never valid).
    pub(crate) fn vacant() -> Self {
        UserId(String::new())
    }

    /// Validates `value` as a user id.
    ///
    /// ```
    /// use tokengate::UserId;
    /// assert!(UserId::parse("alice.smith-01").is_ok());
    /// assert!(UserId::parse("_hidden").is_err());
    /// assert!(UserId::parse(&"a".repeat(37)).is_err());
    /// ```
    pub fn parse(value: &str) -> Result<Self, Error> {
        Self::checked(value).ok_or_else(|| {
            Error::argument(
                "Invalid `userId` param: Parameter must contain at most 36 chars. Valid chars are a-z, A-Z, 0-9, period, hyphen, and underscore. Can't start with a special char",
            )
        })
    }

    /// [`UserId::parse`] without the error (a credential that names no
    /// valid user is simply no credential).
    pub(crate) fn checked(value: &str) -> Option<Self> {
        Self::is_valid(value).then(|| UserId(value.to_owned()))
    }

    /// Like [`UserId::parse`], but `unique()` yields a freshly generated id.
    ///
    /// ```
    /// use tokengate::UserId;
    /// let id = UserId::parse_or_generate("unique()").unwrap();
    /// assert_eq!(id.as_str().len(), 20);
    /// ```
    pub fn parse_or_generate(value: &str) -> Result<Self, Error> {
        if value == UNIQUE_ID {
            Ok(UserId(random_id()))
        } else {
            Self::parse(value)
        }
    }

    /// Whether `value` satisfies the user id rule.
    pub fn is_valid(value: &str) -> bool {
        let bytes = value.as_bytes();
        !bytes.is_empty()
            && bytes.len() <= 36
            && !matches!(bytes[0], b'.' | b'-' | b'_')
            && bytes
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UserId({})", self.0)
    }
}

impl AsRef<str> for UserId {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How a token is delivered, which fixes its secret's shape and the
/// provider and factors of the session it is exchanged for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TokenKind {
    /// Issued by the server (API key or in-process); hex secret.
    Custom,
    /// 6-digit code sent by email.
    EmailOtp,
    /// 64-hex secret in a link sent by email.
    MagicUrl,
    /// 6-digit code sent by SMS.
    Phone,
}

impl TokenKind {
    /// The short code used in stored records.
    pub fn code(self) -> &'static str {
        match self {
            TokenKind::Custom => "c",
            TokenKind::EmailOtp => "e",
            TokenKind::MagicUrl => "m",
            TokenKind::Phone => "p",
        }
    }

    /// Inverse of [`TokenKind::code`].
    pub fn from_code(code: &str) -> Option<Self> {
        Some(match code {
            "c" => TokenKind::Custom,
            "e" => TokenKind::EmailOtp,
            "m" => TokenKind::MagicUrl,
            "p" => TokenKind::Phone,
            _ => return None,
        })
    }
}

/// Where a session came from: a redeemed token or a server call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionOrigin {
    /// Exchanged for a token of this kind.
    Token(TokenKind),
    /// Created directly by the server (`POST /users/{userId}/sessions`).
    Server,
}

impl SessionOrigin {
    /// Appwrite's `provider` for sessions of this origin.
    pub fn provider(self) -> &'static str {
        match self {
            SessionOrigin::Token(TokenKind::Custom) | SessionOrigin::Token(TokenKind::EmailOtp) => "token",
            SessionOrigin::Token(TokenKind::MagicUrl) => "magic-url",
            SessionOrigin::Token(TokenKind::Phone) => "phone",
            SessionOrigin::Server => "server",
        }
    }

    /// Appwrite's `factors` for sessions of this origin.
    pub fn factors(self) -> &'static [&'static str] {
        match self {
            SessionOrigin::Token(TokenKind::Custom) => &["token"],
            SessionOrigin::Token(TokenKind::EmailOtp) | SessionOrigin::Token(TokenKind::MagicUrl) => &["email"],
            SessionOrigin::Token(TokenKind::Phone) => &["phone"],
            SessionOrigin::Server => &["server"],
        }
    }

    /// The short code used in stored records.
    pub fn code(self) -> &'static str {
        match self {
            SessionOrigin::Token(kind) => kind.code(),
            SessionOrigin::Server => "s",
        }
    }

    /// Inverse of [`SessionOrigin::code`].
    pub fn from_code(code: &str) -> Option<Self> {
        if code == "s" {
            Some(SessionOrigin::Server)
        } else {
            TokenKind::from_code(code).map(SessionOrigin::Token)
        }
    }
}

/// A login token, as issued. `secret` is present only right after issuing
/// (it is never stored in the clear and cannot be read back).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Token {
    /// 20 hex characters.
    pub id: String,
    /// When it was issued.
    pub created_at: DateTime<Utc>,
    /// Whose token it is.
    pub user_id: UserId,
    /// The plaintext secret, for delivery to the user.
    pub secret: Option<Secret>,
    /// When it stops being redeemable.
    pub expire: DateTime<Utc>,
    /// The security phrase shown with the message, if one was asked for.
    pub phrase: Option<String>,
    /// How it is delivered.
    pub kind: TokenKind,
}

impl Token {
    /// A token without secret or phrase (set them after, as the fields are
    /// public): for stores, logs and tests of other crates.
    ///
    /// ```
    /// use tokengate::{Secret, Token, TokenKind, UserId};
    /// let now = chrono::Utc::now();
    /// let mut token = Token::new("t1".into(), UserId::parse("alice").unwrap(), TokenKind::EmailOtp, now, now);
    /// token.secret = Some(Secret::new("493817"));
    /// assert_eq!(token.kind, TokenKind::EmailOtp);
    /// ```
    pub fn new(id: String, user_id: UserId, kind: TokenKind, created_at: DateTime<Utc>, expire: DateTime<Utc>) -> Self {
        Token {
            id,
            created_at,
            user_id,
            secret: None,
            expire,
            phrase: None,
            kind,
        }
    }
}

/// A live session.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Session {
    /// 20 hex characters.
    pub id: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was last changed (created or extended).
    pub updated_at: DateTime<Utc>,
    /// Whose session it is.
    pub user_id: UserId,
    /// When it ends, unless extended.
    pub expire: DateTime<Utc>,
    /// What it was created from.
    pub origin: SessionOrigin,
    /// The client address seen at creation, if known.
    pub ip: String,
    /// The client's `User-Agent` at creation, if any.
    pub user_agent: String,
}

impl Session {
    /// A session created at `created_at` (also its `updated_at`), without
    /// client address or user agent (set them after): for stores, logs
    /// and tests of other crates.
    ///
    /// ```
    /// use tokengate::{Session, SessionOrigin, UserId};
    /// let now = chrono::Utc::now();
    /// let session = Session::new("s1".into(), UserId::parse("alice").unwrap(), SessionOrigin::Server, now, now);
    /// assert_eq!(session.provider(), "server");
    /// ```
    pub fn new(
        id: String,
        user_id: UserId,
        origin: SessionOrigin,
        created_at: DateTime<Utc>,
        expire: DateTime<Utc>,
    ) -> Self {
        Session {
            id,
            created_at,
            updated_at: created_at,
            user_id,
            expire,
            origin,
            ip: String::new(),
            user_agent: String::new(),
        }
    }

    /// Appwrite's `provider` field.
    pub fn provider(&self) -> &'static str {
        self.origin.provider()
    }

    /// Appwrite's `factors` field.
    pub fn factors(&self) -> &'static [&'static str] {
        self.origin.factors()
    }
}

/// What is known of the client creating a session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientInfo {
    /// The peer address.
    pub ip: Option<IpAddr>,
    /// The `User-Agent` header.
    pub user_agent: Option<String>,
    /// An API-key caller: token issuance skips the per-address and
    /// per-client limits and may name new user ids.
    pub trusted: bool,
}

impl ClientInfo {
    /// Client info with an address and a user agent.
    ///
    /// ```
    /// use tokengate::ClientInfo;
    /// let info = ClientInfo::new(Some("127.0.0.1".parse().unwrap()), Some("curl/8".into()));
    /// assert_eq!(info.user_agent.as_deref(), Some("curl/8"));
    /// ```
    pub fn new(ip: Option<IpAddr>, user_agent: Option<String>) -> Self {
        ClientInfo {
            ip,
            user_agent,
            trusted: false,
        }
    }

    /// The same client, marked as an API-key caller.
    ///
    /// ```
    /// use tokengate::ClientInfo;
    /// assert!(ClientInfo::default().trusted().trusted);
    /// assert!(!ClientInfo::default().trusted);
    /// ```
    pub fn trusted(mut self) -> Self {
        self.trusted = true;
        self
    }
}

/// IPv4-mapped IPv6 (`::ffff:1.2.3.4`) as the IPv4 address it is.
pub(crate) fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// A user as the directory knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct User {
    /// The id.
    pub id: UserId,
    /// When the directory first saw the user.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Normalised email, or empty.
    pub email: String,
    /// E.164 phone, or empty.
    pub phone: String,
    /// Proved by an email OTP or magic URL login.
    pub email_verification: bool,
    /// Proved by a phone OTP login.
    pub phone_verification: bool,
}

impl User {
    /// A user first seen at `created_at` (also its `updated_at`), without
    /// addresses (set them after): for directories and tests of other crates.
    ///
    /// ```
    /// let user = tokengate::User::new(tokengate::UserId::parse("alice").unwrap(), chrono::Utc::now());
    /// assert!(user.email.is_empty());
    /// ```
    pub fn new(id: UserId, created_at: DateTime<Utc>) -> Self {
        User {
            id,
            created_at,
            updated_at: created_at,
            email: String::new(),
            phone: String::new(),
            email_verification: false,
            phone_verification: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_id_rule() {
        for ok in ["a", "A1", "0", "a.b-c_d", &"x".repeat(36)] {
            assert!(UserId::is_valid(ok), "{ok}");
        }
        for bad in [
            "",
            ".a",
            "-a",
            "_a",
            "a b",
            "a/b",
            "ä",
            "a{b}",
            &"x".repeat(37),
            "unique()",
        ] {
            assert!(!UserId::is_valid(bad), "{bad}");
        }
    }
}
