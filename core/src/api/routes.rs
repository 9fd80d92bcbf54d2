//! The route table: which endpoint a path names.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Route<'a> {
    User(&'a str),
    CreateToken(&'a str),
    UserSessions(&'a str),
    UserSession(&'a str, &'a str),
    Exchange,
    AccountSessions,
    AccountSession(&'a str),
    Account,
    EmailToken,
    MagicUrlToken,
    PhoneToken,
}

pub(super) fn match_route(rest: &str) -> Option<Route<'_>> {
    let segments: Vec<&str> = rest.split('/').collect();
    Some(match segments.as_slice() {
        ["users", user] => Route::User(user),
        ["users", user, "tokens"] => Route::CreateToken(user),
        ["users", user, "sessions"] => Route::UserSessions(user),
        ["users", user, "sessions", session] => Route::UserSession(user, session),
        ["account", "sessions", "token"] => Route::Exchange,
        ["account", "sessions"] => Route::AccountSessions,
        ["account", "sessions", session] => Route::AccountSession(session),
        ["account"] => Route::Account,
        ["account", "tokens", "email"] => Route::EmailToken,
        ["account", "tokens", "magic-url"] => Route::MagicUrlToken,
        ["account", "tokens", "phone"] => Route::PhoneToken,
        _ => return None,
    })
}

/// Which endpoint a path names, for diagnostics and fuzzing: the route
/// template (relative to the base path, e.g. `users/{userId}/tokens`) and
/// the path parameters in order, as [`handle`](super::handle) matches them. `rest` is the
/// path after `<base path>/`; `None` is the 404 case. The method is not
/// part of the match ([`handle`](super::handle) answers 405 for a known route asked with
/// another method).
///
/// ```
/// use tokengate::api::route_for;
/// assert_eq!(route_for("users/alice/tokens"), Some(("users/{userId}/tokens", vec!["alice"])));
/// assert_eq!(route_for("account/sessions/current"), Some(("account/sessions/{sessionId}", vec!["current"])));
/// assert_eq!(route_for("account/nothing"), None);
/// ```
pub fn route_for(rest: &str) -> Option<(&'static str, Vec<&str>)> {
    Some(match match_route(rest)? {
        Route::User(user) => ("users/{userId}", vec![user]),
        Route::CreateToken(user) => ("users/{userId}/tokens", vec![user]),
        Route::UserSessions(user) => ("users/{userId}/sessions", vec![user]),
        Route::UserSession(user, session) => ("users/{userId}/sessions/{sessionId}", vec![user, session]),
        Route::Exchange => ("account/sessions/token", vec![]),
        Route::AccountSessions => ("account/sessions", vec![]),
        Route::AccountSession(session) => ("account/sessions/{sessionId}", vec![session]),
        Route::Account => ("account", vec![]),
        Route::EmailToken => ("account/tokens/email", vec![]),
        Route::MagicUrlToken => ("account/tokens/magic-url", vec![]),
        Route::PhoneToken => ("account/tokens/phone", vec![]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(match_route("users/a/tokens"), Some(Route::CreateToken("a")));
        assert_eq!(
            match_route("account/sessions/current"),
            Some(Route::AccountSession("current"))
        );
        assert_eq!(match_route("account/sessions/token"), Some(Route::Exchange));
        assert_eq!(match_route("account/sessions/"), Some(Route::AccountSession("")));
        assert_eq!(match_route("account/x"), None);
        assert_eq!(match_route("users/a/tokens/b"), None);
    }
}
