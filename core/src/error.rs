//! The one error type of tokengate: what went wrong, in domain terms. Its
//! mapping to Appwrite's error types and HTTP statuses lives with the HTTP
//! endpoints (`api::ErrorKind`).

use std::fmt;

/// Everything that can go wrong in tokengate.
///
/// `Error::kind` (in `api`) maps each variant to Appwrite's error
/// `type` and HTTP status; `Error::public_message` is the text clients
/// see. Store errors never reach a client verbatim.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The secret is wrong, expired, already used, or the user has none.
    /// One variant and one message for all of them, on purpose.
    InvalidToken,
    /// A request argument is malformed or out of range.
    InvalidArgument(String),
    /// Too many requests for this user, address or client.
    RateLimited,
    /// No valid session, or a wrong/missing API key.
    Unauthorized,
    /// The session does not exist (or belongs to another user).
    SessionNotFound,
    /// The user does not exist.
    UserNotFound,
    /// The requested user id belongs to someone with another address.
    UserAlreadyExists,
    /// The store (Redis) failed or timed out. Always fails closed.
    Store(StoreError),
    /// A message (email, SMS) could not be delivered.
    Delivery(crate::delivery::DeliveryError),
    /// No mailer is configured and development mode is off.
    SmtpDisabled,
    /// No SMS sender is configured and development mode is off.
    PhoneDisabled,
    /// The configuration is invalid (builder time only): `setting` names
    /// the builder or `ApiConfig` method at fault (`"api_key"`,
    /// `"trusted_proxies"`, …), `reason` says why.
    Config {
        /// The setting, as its method is named.
        setting: &'static str,
        /// Why it was refused.
        reason: String,
    },
}

impl Error {
    pub(crate) fn argument(msg: impl Into<String>) -> Self {
        Error::InvalidArgument(msg.into())
    }

    pub(crate) fn config(setting: &'static str, reason: impl Into<String>) -> Self {
        Error::Config {
            setting,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidToken => f.write_str("invalid token"),
            Error::InvalidArgument(message) => write!(f, "invalid argument: {message}"),
            Error::RateLimited => f.write_str("rate limit exceeded"),
            Error::Unauthorized => f.write_str("unauthorized"),
            Error::SessionNotFound => f.write_str("session not found"),
            Error::UserNotFound => f.write_str("user not found"),
            Error::UserAlreadyExists => f.write_str("user already exists"),
            Error::Store(error) => write!(f, "store unavailable: {error}"),
            Error::Delivery(error) => write!(f, "delivery failed: {error}"),
            Error::SmtpDisabled => f.write_str("no mailer configured"),
            Error::PhoneDisabled => f.write_str("no SMS sender configured"),
            Error::Config { setting, reason } => write!(f, "invalid configuration ({setting}): {reason}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Store(error) => Some(error),
            Error::Delivery(error) => Some(error),
            _ => None,
        }
    }
}

impl From<StoreError> for Error {
    fn from(error: StoreError) -> Self {
        Error::Store(error)
    }
}

/// A store failure: connection lost, timeout, unexpected reply. Always maps
/// to 503 and never lets a request through as authenticated. Its text and
/// source are for logs, never for clients.
#[derive(Debug)]
pub struct StoreError {
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|source| source as &(dyn std::error::Error + 'static))
    }
}

impl StoreError {
    /// A store error with a diagnostic.
    ///
    /// ```
    /// let error = tokengate::StoreError::new("unexpected reply");
    /// assert_eq!(error.to_string(), "unexpected reply");
    /// assert!(std::error::Error::source(&error).is_none());
    /// ```
    pub fn new(message: impl Into<String>) -> Self {
        StoreError {
            message: message.into(),
            source: None,
        }
    }

    /// A store error caused by `source` (kept for logs and `Error::source`).
    ///
    /// ```
    /// let io = std::io::Error::other("connection reset");
    /// let error = tokengate::StoreError::with_source("redis: connection reset", io);
    /// assert!(std::error::Error::source(&error).is_some());
    /// ```
    pub fn with_source(message: impl Into<String>, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        StoreError {
            message: message.into(),
            source: Some(Box::new(source)),
        }
    }
}
