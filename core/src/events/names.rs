//! Appwrite's event names: a kind's pattern filled with the ids, and its
//! expansion into every form a subscription may use.

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

/// Every form of the event's name as parts (public for the events crate's
/// patterns, which compare part by part), as Appwrite's
/// `Event::generateEvents` makes them: the pattern, the pattern without its
/// action, and the user alone (`users.[userId]`), each with every parameter
/// either given or `*`; no duplicates, the most specific first.
pub(super) fn expand_parts<'a>(pattern: &'a str, user: &'a str, resource: &'a str) -> Vec<Vec<&'a str>> {
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
}
