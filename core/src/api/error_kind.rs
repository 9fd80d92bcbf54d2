//! Appwrite's error types and HTTP statuses, and which one each [`Error`]
//! answers with: the only place the domain error meets HTTP.

use crate::error::Error;

/// The client-facing class of an [`Error`]: Appwrite's error type and status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// `user_invalid_token`, 401.
    InvalidToken,
    /// `general_argument_invalid`, 400.
    ArgumentInvalid,
    /// `general_rate_limit_exceeded`, 429.
    RateLimitExceeded,
    /// `user_unauthorized`, 401.
    Unauthorized,
    /// `general_unauthorized_scope`, 401: a guest on an account route, or
    /// a users route without the API key.
    UnauthorizedScope,
    /// `user_session_already_exists`, 401: an exchange by a request that
    /// is already signed in.
    SessionAlreadyExists,
    /// `user_session_not_found`, 404.
    SessionNotFound,
    /// `user_not_found`, 404.
    UserNotFound,
    /// `user_already_exists`, 409.
    UserAlreadyExists,
    /// `general_route_not_found`, 404.
    RouteNotFound,
    /// `general_not_implemented`, 405: a known route asked with another method.
    MethodNotAllowed,
    /// `general_argument_invalid`, 413: the request body is over the limit.
    PayloadTooLarge,
    /// `general_server_error`, 503: the store or a delivery channel is down.
    ServiceUnavailable,
    /// `general_smtp_disabled`, 503: no mailer configured.
    SmtpDisabled,
    /// `general_phone_disabled`, 503: no SMS sender configured.
    PhoneDisabled,
    /// `general_access_forbidden`, 403: a cross-site browser request.
    Forbidden,
    /// `general_argument_invalid`, 415: the body is not JSON.
    UnsupportedMediaType,
    /// `general_server_error`, 500: a bug or a misconfigured app.
    Internal,
}

impl ErrorKind {
    /// Appwrite's error `type` string.
    pub fn type_name(self) -> &'static str {
        match self {
            ErrorKind::InvalidToken => "user_invalid_token",
            ErrorKind::ArgumentInvalid => "general_argument_invalid",
            ErrorKind::RateLimitExceeded => "general_rate_limit_exceeded",
            ErrorKind::Unauthorized => "user_unauthorized",
            ErrorKind::UnauthorizedScope => "general_unauthorized_scope",
            ErrorKind::SessionAlreadyExists => "user_session_already_exists",
            ErrorKind::SessionNotFound => "user_session_not_found",
            ErrorKind::UserNotFound => "user_not_found",
            ErrorKind::UserAlreadyExists => "user_already_exists",
            ErrorKind::RouteNotFound => "general_route_not_found",
            ErrorKind::MethodNotAllowed => "general_not_implemented",
            ErrorKind::PayloadTooLarge => "general_argument_invalid",
            ErrorKind::ServiceUnavailable => "general_server_error",
            ErrorKind::SmtpDisabled => "general_smtp_disabled",
            ErrorKind::PhoneDisabled => "general_phone_disabled",
            ErrorKind::Forbidden => "general_access_forbidden",
            ErrorKind::UnsupportedMediaType => "general_argument_invalid",
            ErrorKind::Internal => "general_server_error",
        }
    }

    /// The HTTP status code.
    pub fn status(self) -> u16 {
        match self {
            ErrorKind::InvalidToken
            | ErrorKind::Unauthorized
            | ErrorKind::UnauthorizedScope
            | ErrorKind::SessionAlreadyExists => 401,
            ErrorKind::ArgumentInvalid => 400,
            ErrorKind::RateLimitExceeded => 429,
            ErrorKind::SessionNotFound | ErrorKind::UserNotFound | ErrorKind::RouteNotFound => 404,
            ErrorKind::MethodNotAllowed => 405,
            ErrorKind::UserAlreadyExists => 409,
            ErrorKind::PayloadTooLarge => 413,
            ErrorKind::UnsupportedMediaType => 415,
            ErrorKind::Forbidden => 403,
            ErrorKind::ServiceUnavailable | ErrorKind::SmtpDisabled | ErrorKind::PhoneDisabled => 503,
            ErrorKind::Internal => 500,
        }
    }

    /// The fixed message clients see for this kind.
    pub fn default_message(self) -> &'static str {
        match self {
            ErrorKind::InvalidToken => "Invalid token passed in the request.",
            ErrorKind::ArgumentInvalid => "Invalid request argument.",
            ErrorKind::RateLimitExceeded => {
                "Rate limit for the current endpoint has been exceeded. Please try again after some time."
            }
            ErrorKind::Unauthorized => "The current user is not authorized to perform the requested action.",
            ErrorKind::UnauthorizedScope => {
                "The current user or API key does not have the required scopes to access the requested resource."
            }
            ErrorKind::SessionAlreadyExists => "Creation of a session is prohibited when a session is active.",
            ErrorKind::SessionNotFound => "The current user session could not be found.",
            ErrorKind::UserNotFound => "User with the requested ID could not be found.",
            ErrorKind::UserAlreadyExists => "A user with the same id, email, or phone already exists in this project.",
            ErrorKind::RouteNotFound => "The requested route was not found.",
            ErrorKind::MethodNotAllowed => "The requested method is not allowed on this route.",
            ErrorKind::PayloadTooLarge => "Request body is too large.",
            ErrorKind::ServiceUnavailable => {
                "The server is temporarily unable to handle the request. Please try again later."
            }
            ErrorKind::SmtpDisabled => "SMTP is disabled for your project",
            ErrorKind::PhoneDisabled => "Phone provider is not configured.",
            ErrorKind::Forbidden => "Requests from this origin may not create sessions.",
            ErrorKind::UnsupportedMediaType => "Invalid request body: Content-Type must be application/json.",
            ErrorKind::Internal => "Server Error",
        }
    }
}

impl Error {
    /// The client-facing class of this error (the fuzz targets' view of it).
    #[doc(hidden)]
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidToken => ErrorKind::InvalidToken,
            Error::InvalidArgument(_) => ErrorKind::ArgumentInvalid,
            Error::RateLimited => ErrorKind::RateLimitExceeded,
            Error::Unauthorized => ErrorKind::Unauthorized,
            Error::SessionNotFound => ErrorKind::SessionNotFound,
            Error::UserNotFound => ErrorKind::UserNotFound,
            Error::UserAlreadyExists => ErrorKind::UserAlreadyExists,
            Error::Store(_) | Error::Delivery(_) => ErrorKind::ServiceUnavailable,
            Error::SmtpDisabled => ErrorKind::SmtpDisabled,
            Error::PhoneDisabled => ErrorKind::PhoneDisabled,
            Error::Config { .. } => ErrorKind::Internal,
        }
    }

    /// The HTTP status the endpoints answer this error with, as Appwrite
    /// does (401 for a wrong secret, 429, 503 for a store or delivery
    /// failure, …).
    ///
    /// ```
    /// assert_eq!(tokengate::Error::InvalidToken.http_status(), 401);
    /// assert_eq!(tokengate::Error::RateLimited.http_status(), 429);
    /// ```
    pub fn http_status(&self) -> u16 {
        self.kind().status()
    }

    /// Appwrite's error `type` for this error (`user_invalid_token`,
    /// `general_rate_limit_exceeded`, …), as the endpoints answer it.
    ///
    /// ```
    /// assert_eq!(tokengate::Error::InvalidToken.appwrite_type(), "user_invalid_token");
    /// ```
    pub fn appwrite_type(&self) -> &'static str {
        self.kind().type_name()
    }

    /// The message a client may see: argument errors explain themselves,
    /// everything else uses the kind's fixed text (never a store's text).
    pub fn public_message(&self) -> String {
        match self {
            Error::InvalidArgument(msg) => msg.clone(),
            other => other.kind().default_message().to_owned(),
        }
    }
}

/// Why an endpoint refuses a request: a domain [`Error`] from the gate, or
/// a refusal of HTTP's own (a foreign origin, a body that is not JSON).
#[derive(Debug)]
pub(super) enum Refusal {
    /// The gate (or parsing) failed.
    Domain(Error),
    /// The request itself is refused, with this kind's fixed message.
    Http(ErrorKind),
}

impl From<Error> for Refusal {
    fn from(error: Error) -> Self {
        Refusal::Domain(error)
    }
}
