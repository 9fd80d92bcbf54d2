//! Appwrite's event names: a kind's pattern filled with the ids, its
//! expansion into every form a subscription may use, and the patterns
//! subscriptions are written in.

use super::Event;

/// The pattern's parts with `[userId]` and the resource id (`[tokenId]`,
/// `[sessionId]`) replaced by the ids, or by `*` where `star_*` asks. An id
/// stays one part even when it holds a dot (a user id may).
fn substitute<'a>(
    parts: &[&'a str],
    user: &'a str,
    resource: &'a str,
    star_user: bool,
    star_resource: bool,
) -> Vec<&'a str> {
    parts
        .iter()
        .map(|&part| match part {
            "[userId]" if star_user => "*",
            "[userId]" => user,
            p if p.starts_with('[') && star_resource => "*",
            p if p.starts_with('[') => resource,
            p => p,
        })
        .collect()
}

/// The pattern filled with the ids (or all `*`).
pub(super) fn fill(pattern: &str, user: &str, resource: &str, stars: bool) -> String {
    let parts: Vec<&str> = pattern.split('.').collect();
    substitute(&parts, user, resource, stars, stars).join(".")
}

/// Every form of the event's name as parts, as Appwrite's
/// `Event::generateEvents` makes them: the pattern, the pattern without its
/// action, and the user alone (`users.[userId]`), each with every parameter
/// either given or `*`; no duplicates, the most specific first.
fn expand_parts<'a>(pattern: &'a str, user: &'a str, resource: &'a str) -> Vec<Vec<&'a str>> {
    let parts: Vec<&str> = pattern.split('.').collect();
    let mut levels = vec![&parts[..]];
    // A sub-resource pattern (`users.[u].sessions.[s].create`) also names
    // the sub-resource without its action.
    if parts.len() == 5 {
        levels.push(&parts[..4]);
    }
    levels.push(&parts[..2]);
    let mut names = Vec::new();
    for level in levels {
        for (star_user, star_resource) in [(false, false), (true, true), (true, false), (false, true)] {
            let name = substitute(level, user, resource, star_user, star_resource);
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    names
}

/// [`expand_parts`], each form joined with dots (`X-Appwrite-Webhook-Events`).
pub(super) fn expand(pattern: &str, user: &str, resource: &str) -> Vec<String> {
    expand_parts(pattern, user, resource)
        .into_iter()
        .map(|name| name.join("."))
        .collect()
}

/// Whether the pattern `wanted` (split at its dots: a pattern's ids hold
/// none) is one of the event's forms, compared part by part, so that a
/// user id holding dots (`alice.sessions.<id>`) never reads as another
/// user's session.
pub(super) fn names_match(wanted: &[&str], pattern: &str, user: &str, resource: &str) -> bool {
    expand_parts(pattern, user, resource)
        .iter()
        .any(|name| name.as_slice() == wanted)
}

/// An event name a subscription asks for: Appwrite's forms, with `*` for
/// any id (`users.*.sessions.*.delete`, `users.alice`, `users.*`). It
/// matches an event whose [`names`](Event::names) contain it.
///
/// ```
/// use tokengate::events::EventPattern;
/// let pattern = EventPattern::parse("users.*.sessions.*.delete").unwrap();
/// assert_eq!(pattern.as_str(), "users.*.sessions.*.delete");
/// assert!(EventPattern::parse("users.*.sessions.*.remove").is_err());
/// assert!(EventPattern::parse("users..x").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EventPattern(String);

impl EventPattern {
    /// Parses a pattern: `users`, then an id or `*`, then optionally
    /// `tokens` or `sessions` with an id or `*`, then optionally the
    /// action (`create`, `delete`; tokens only `create`). Ids are 1 to 36
    /// characters of `a-zA-Z0-9_-` (a session or token id is 20 hex); a
    /// user id holding a dot is matched by `*` only, never by its text.
    pub fn parse(text: &str) -> Result<EventPattern, String> {
        let bad = || format!("not an event pattern: {text:?}");
        let parts: Vec<&str> = text.split('.').collect();
        let is_id = |part: &str| {
            part == "*"
                || (!part.is_empty()
                    && part.len() <= 36
                    && part
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'))
        };
        let valid = match parts.as_slice() {
            ["users", user] => is_id(user),
            ["users", user, "create" | "delete"] => is_id(user),
            ["users", user, "tokens" | "sessions", id] => is_id(user) && is_id(id),
            ["users", user, "tokens", id, "create"] => is_id(user) && is_id(id),
            ["users", user, "sessions", id, "create" | "delete"] => is_id(user) && is_id(id),
            _ => false,
        };
        if valid {
            Ok(EventPattern(text.to_owned()))
        } else {
            Err(bad())
        }
    }

    /// The pattern's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `event` is one this pattern asks for.
    pub fn matches(&self, event: &Event) -> bool {
        let wanted: Vec<&str> = self.0.split('.').collect();
        names_match(
            &wanted,
            event.kind.pattern(),
            event.user_id.as_str(),
            event.resource_id(),
        )
    }
}

impl std::fmt::Display for EventPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for EventPattern {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        EventPattern::parse(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_as_appwrite() {
        let names = expand("users.[userId].sessions.[sessionId].delete", "alice", "s1");
        assert_eq!(
            names,
            [
                "users.alice.sessions.s1.delete",
                "users.*.sessions.*.delete",
                "users.*.sessions.s1.delete",
                "users.alice.sessions.*.delete",
                "users.alice.sessions.s1",
                "users.*.sessions.*",
                "users.*.sessions.s1",
                "users.alice.sessions.*",
                "users.alice",
                "users.*",
            ]
        );
        assert_eq!(
            expand("users.[userId].create", "alice", "alice"),
            ["users.alice.create", "users.*.create", "users.alice", "users.*"]
        );
    }

    #[test]
    fn a_dotted_user_id_never_reads_as_another_users_session() {
        let parts = |text: &'static str| text.split('.').collect::<Vec<_>>();
        let spoof = "alice.sessions.0123456789abcdef0123";
        let alice_session = parts("users.alice.sessions.0123456789abcdef0123.delete");
        assert_eq!(
            expand("users.[userId].delete", spoof, spoof)[0],
            alice_session.join("."),
            "the joined names are the same text"
        );
        assert!(!names_match(&alice_session, "users.[userId].delete", spoof, spoof));
        assert!(!names_match(
            &parts("users.alice"),
            "users.[userId].delete",
            spoof,
            spoof
        ));
        assert!(names_match(
            &parts("users.*.delete"),
            "users.[userId].delete",
            spoof,
            spoof
        ));
        assert!(names_match(&parts("users.*"), "users.[userId].delete", spoof, spoof));
        assert!(names_match(
            &alice_session,
            "users.[userId].sessions.[sessionId].delete",
            "alice",
            "0123456789abcdef0123"
        ));
    }

    #[test]
    fn patterns() {
        for ok in [
            "users.*",
            "users.alice",
            "users.*.create",
            "users.*.delete",
            "users.*.tokens.*.create",
            "users.*.sessions.*",
            "users.alice.sessions.*.delete",
        ] {
            assert!(EventPattern::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "users",
            "users.*.tokens.*.delete",
            "users.*.sessions.*.update",
            "teams.*",
            "users.a b",
            "users.*.sessions.*.delete.x",
            "users.**",
        ] {
            assert!(EventPattern::parse(bad).is_err(), "{bad}");
        }
    }
}
