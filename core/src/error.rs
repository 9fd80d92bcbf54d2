//! The one error type of tokengate: what went wrong, in domain terms. Its
//! mapping to Appwrite's error types and HTTP statuses lives with the HTTP
//! endpoints (`api::ErrorKind`).

/// Everything that can go wrong in tokengate.
///
/// `Error::kind` (in `api`) maps each variant to Appwrite's error
/// `type` and HTTP status; `Error::public_message` is the text clients
/// see. Store errors never reach a client verbatim.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The secret is wrong, expired, already used, or the user has none.
    /// One variant and one message for all of them, on purpose.
    #[error("invalid token")]
    InvalidToken,
    /// A request argument is malformed or out of range.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// Too many requests for this user, address or client.
    #[error("rate limit exceeded")]
    RateLimited,
    /// No valid session, or a wrong/missing API key.
    #[error("unauthorized")]
    Unauthorized,
    /// The session does not exist (or belongs to another user).
    #[error("session not found")]
    SessionNotFound,
    /// The user does not exist.
    #[error("user not found")]
    UserNotFound,
    /// The requested user id belongs to someone with another address.
    #[error("user already exists")]
    UserAlreadyExists,
    /// The store (Redis) failed or timed out. Always fails closed.
    #[error("store unavailable: {0}")]
    Store(#[from] StoreError),
    /// A message (email, SMS) could not be delivered.
    #[error("delivery failed: {0}")]
    Delivery(String),
    /// No mailer is configured and development mode is off.
    #[error("no mailer configured")]
    SmtpDisabled,
    /// No SMS sender is configured and development mode is off.
    #[error("no SMS sender configured")]
    PhoneDisabled,
    /// The configuration is invalid (builder time only).
    #[error("invalid configuration: {0}")]
    Config(String),
}

impl Error {
    pub(crate) fn argument(msg: impl Into<String>) -> Self {
        Error::InvalidArgument(msg.into())
    }
}

/// A store failure: connection lost, timeout, unexpected reply. Always maps
/// to 503 and never lets a request through as authenticated. Its text and
/// source are for logs, never for clients.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct StoreError {
    message: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
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
