//! The route table: the one list of endpoints, used to match a request and
//! by the fuzz target and diagnostics ([`route_for`]).

use http::Method;

/// Which handler answers (one per method and route).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Endpoint {
    GetUser,
    DeleteUser,
    CreateToken,
    ListUserSessions,
    DeleteUserSessions,
    CreateServerSession,
    DeleteUserSession,
    Exchange,
    ListAccountSessions,
    DeleteAccountSessions,
    GetAccountSession,
    ExtendAccountSession,
    DeleteAccountSession,
    GetAccount,
    EmailToken,
    MagicUrlToken,
    PhoneToken,
}

/// Method, path template relative to the base path (`{…}` matches one
/// segment), endpoint. The first matching template wins, so the literal
/// `account/sessions/token` (and the aliases after it) come before
/// `account/sessions/{sessionId}`.
const ROUTES: &[(Method, &str, Endpoint)] = &[
    (Method::GET, "users/{userId}", Endpoint::GetUser),
    (Method::DELETE, "users/{userId}", Endpoint::DeleteUser),
    (Method::POST, "users/{userId}/tokens", Endpoint::CreateToken),
    (Method::GET, "users/{userId}/sessions", Endpoint::ListUserSessions),
    (Method::DELETE, "users/{userId}/sessions", Endpoint::DeleteUserSessions),
    (Method::POST, "users/{userId}/sessions", Endpoint::CreateServerSession),
    (
        Method::DELETE,
        "users/{userId}/sessions/{sessionId}",
        Endpoint::DeleteUserSession,
    ),
    (Method::POST, "account/sessions/token", Endpoint::Exchange),
    // Deprecated aliases of the exchange, still served by Appwrite and used
    // by older SDKs.
    (Method::PUT, "account/sessions/magic-url", Endpoint::Exchange),
    (Method::PUT, "account/sessions/phone", Endpoint::Exchange),
    (Method::GET, "account/sessions", Endpoint::ListAccountSessions),
    (Method::DELETE, "account/sessions", Endpoint::DeleteAccountSessions),
    (Method::GET, "account/sessions/{sessionId}", Endpoint::GetAccountSession),
    (
        Method::PATCH,
        "account/sessions/{sessionId}",
        Endpoint::ExtendAccountSession,
    ),
    (
        Method::DELETE,
        "account/sessions/{sessionId}",
        Endpoint::DeleteAccountSession,
    ),
    (Method::GET, "account", Endpoint::GetAccount),
    (Method::POST, "account/tokens/email", Endpoint::EmailToken),
    (Method::POST, "account/tokens/magic-url", Endpoint::MagicUrlToken),
    (Method::POST, "account/tokens/phone", Endpoint::PhoneToken),
];

/// The path parameters of a match, in order (at most two).
pub(super) type PathParams<'a> = [&'a str; 2];

/// What a path and method name.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Matched<'a> {
    /// An endpoint, with its path parameters.
    Endpoint(Endpoint, PathParams<'a>),
    /// A known path asked with another method: 405.
    WrongMethod,
    /// No such path: 404.
    NotFound,
}

/// The path parameters if `rest` fits `template`.
fn fit<'a>(template: &str, rest: &'a str) -> Option<PathParams<'a>> {
    let mut params = [""; 2];
    let mut count = 0;
    let mut given = rest.split('/');
    for part in template.split('/') {
        let segment = given.next()?;
        if part.starts_with('{') {
            params[count] = segment;
            count += 1;
        } else if part != segment {
            return None;
        }
    }
    given.next().is_none().then_some(params)
}

/// The first route whose template `rest` fits (the literal exchange path
/// before the session id that would also fit it).
fn first_fit(rest: &str) -> Option<(&'static str, PathParams<'_>)> {
    ROUTES
        .iter()
        .find_map(|(_, template, _)| fit(template, rest).map(|params| (*template, params)))
}

pub(super) fn match_route<'a>(method: &Method, rest: &'a str) -> Matched<'a> {
    let Some((template, params)) = first_fit(rest) else {
        return Matched::NotFound;
    };
    ROUTES
        .iter()
        .find(|(m, t, _)| m == method && *t == template)
        .map_or(Matched::WrongMethod, |(_, _, endpoint)| {
            Matched::Endpoint(*endpoint, params)
        })
}

/// Which endpoint a path names, for diagnostics and fuzzing: the route
/// template (relative to the base path, e.g. `users/{userId}/tokens`) and
/// the path parameters in order, as the endpoints match them. `rest` is the
/// path after `<base path>/`; `None` is the 404 case. The method is not
/// part of the match (a known route asked with another method is 405).
///
/// ```
/// use tokengate::fuzzing::route_for;
/// assert_eq!(route_for("users/alice/tokens"), Some(("users/{userId}/tokens", vec!["alice"])));
/// assert_eq!(route_for("account/sessions/current"), Some(("account/sessions/{sessionId}", vec!["current"])));
/// assert_eq!(route_for("account/sessions/token"), Some(("account/sessions/token", vec![])));
/// assert_eq!(route_for("account/nothing"), None);
/// ```
#[cfg(feature = "fuzzing")]
pub fn route_for(rest: &str) -> Option<(&'static str, Vec<&str>)> {
    let (template, params) = first_fit(rest)?;
    let count = template.matches('{').count();
    Some((template, params[..count].to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(
            match_route(&Method::POST, "users/a/tokens"),
            Matched::Endpoint(Endpoint::CreateToken, ["a", ""])
        );
        assert_eq!(
            match_route(&Method::GET, "account/sessions/current"),
            Matched::Endpoint(Endpoint::GetAccountSession, ["current", ""])
        );
        assert_eq!(
            match_route(&Method::POST, "account/sessions/token"),
            Matched::Endpoint(Endpoint::Exchange, ["", ""])
        );
        assert_eq!(
            match_route(&Method::GET, "account/sessions/token"),
            Matched::WrongMethod
        );
        assert_eq!(
            match_route(&Method::DELETE, "account/sessions/"),
            Matched::Endpoint(Endpoint::DeleteAccountSession, ["", ""])
        );
        assert_eq!(match_route(&Method::GET, "account/x"), Matched::NotFound);
        assert_eq!(match_route(&Method::POST, "users/a/tokens/b"), Matched::NotFound);
        assert_eq!(
            match_route(&Method::DELETE, "users/a/sessions/s1"),
            Matched::Endpoint(Endpoint::DeleteUserSession, ["a", "s1"])
        );
    }

    #[test]
    fn every_endpoint_is_reachable() {
        for (method, template, endpoint) in ROUTES {
            let path = template.replace("{userId}", "u").replace("{sessionId}", "s");
            assert_eq!(
                match_route(method, &path),
                Matched::Endpoint(*endpoint, first_fit(&path).unwrap().1)
            );
        }
    }
}
