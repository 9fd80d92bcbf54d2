//! [`EventPattern`]: the event names subscriptions are written in.

use tokengate::events::Event;

/// An event name a subscription asks for: Appwrite's forms, with `*` for
/// any id (`users.*.sessions.*.delete`, `users.alice`, `users.*`). It
/// matches an event whose [`names`](Event::names) contain it.
///
/// ```
/// use tokengate_events::EventPattern;
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
        event.name_parts().contains(&wanted)
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
    use tokengate::events::{EventKind, EventObject};
    use tokengate::{User, UserId};

    fn deleted_user(id: &str) -> Event {
        let user = User::new(UserId::parse(id).unwrap(), chrono::Utc::now());
        Event::new(
            EventKind::UserDelete,
            user.id.clone(),
            EventObject::User(user),
            chrono::Utc::now(),
        )
    }

    #[test]
    fn a_dotted_user_id_never_reads_as_another_users_session() {
        let parts = |text: &'static str| text.split('.').collect::<Vec<_>>();
        let spoof = "alice.sessions.0123456789abcdef0123";
        let alice_session = parts("users.alice.sessions.0123456789abcdef0123.delete");
        assert_eq!(
            deleted_user(spoof).name(),
            alice_session.join("."),
            "the joined names are the same text"
        );
        let deleted = deleted_user(spoof);
        let matches = |pattern: &str| EventPattern::parse(pattern).is_ok_and(|p| p.matches(&deleted));
        assert!(!matches("users.alice.sessions.0123456789abcdef0123.delete"));
        assert!(!matches("users.alice"));
        assert!(matches("users.*.delete"));
        assert!(matches("users.*"));
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
