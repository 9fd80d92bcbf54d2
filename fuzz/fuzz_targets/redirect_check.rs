//! The magic-URL target check (`RedirectPolicy::check`) and the link built
//! from it (`RedirectPolicy::link`): never a panic; an accepted URL is an
//! absolute http(s) URL whose origin is on the allow-list, or a link in the
//! allowed app scheme `myapp://` with a plain host, and that carries
//! none of the link's parameters, and its link keeps that origin and carries
//! every parameter in its query, first of its name. The link holds no byte
//! outside RFC 3986, exactly one `userId` and one `secret`, and the mail's
//! line `<link>` split at any character outside RFC 3986 gives back the
//! link whole and no second URL; split at the sub-delimiters too, one URL
//! only, the link's start; and after the host no `//`, `:`, `@` or `www.`.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use tokengate::fuzzing::{parse_origin, RedirectPolicy, LINK_PARAMS};

const APP_SCHEME: &str = "myapp://";

static POLICY: LazyLock<RedirectPolicy> = LazyLock::new(|| {
    RedirectPolicy::new(
        "https://app.example.test",
        &["admin.example.test", "https://127.0.0.1:8443"],
    )
    .and_then(|policy| policy.allow_schemes(&["myapp"]))
    .expect("a valid policy")
});

/// Scheme and authority of an `http(s)://` or `myapp://` URL, and its host
/// (port cut).
fn origin(url: &str) -> (&str, &str) {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .or_else(|| url.strip_prefix(APP_SCHEME))
        .expect("an http(s) or app URL");
    let scheme_len = url.len() - rest.len();
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let host = authority.rsplit_once(':').map_or(authority, |(host, _)| host);
    (&url[..scheme_len + end], host)
}

/// The value of query parameter `name` in `link` (before any fragment).
fn query_value<'a>(link: &'a str, name: &str) -> Option<&'a str> {
    let before_fragment = link.split('#').next()?;
    let (_, query) = before_fragment.split_once('?')?;
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key == name).then_some(value)
    })
}

/// Whether `byte` may stand in a URL unencoded (RFC 3986: unreserved,
/// sub-delims, `:@/?#`, and `%` of an escape).
fn is_uri_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?#%".contains(&byte)
}

/// How often parameter `name` appears in the query of `link`.
fn param_count(link: &str, name: &str) -> usize {
    let before_fragment = link.split('#').next().unwrap_or_default();
    let Some((_, query)) = before_fragment.split_once('?') else {
        return 0;
    };
    query
        .split('&')
        .filter(|pair| pair.split('=').next() == Some(name))
        .count()
}

fn percent_encoded(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (url, value) = text.split_once('\u{1}').unwrap_or((&text, "v@l ue&x=#"));
    let params = [("userId", "u1"), ("secret", value)];

    if POLICY.check(url).is_ok() {
        let (origin_part, host) = origin(url);
        if url.starts_with(APP_SCHEME) {
            // An app link: a plain lowercase host, no user, no port.
            assert!(
                !host.is_empty() && !origin_part[APP_SCHEME.len()..].contains([':', '@']),
                "{url:?} accepted"
            );
            assert!(
                host.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.'),
                "{url:?} accepted"
            );
        } else {
            let parsed = parse_origin(origin_part).expect("an accepted URL has an origin");
            assert!(POLICY.allowed_origins.contains(&parsed), "{url:?} accepted");
        }
        for name in LINK_PARAMS {
            assert!(query_value(url, name).is_none(), "{url:?} accepted with {name}");
        }
        assert!(url.bytes().all(|b| (0x21..=0x7e).contains(&b)), "{url:?} accepted");
        assert!(!url.contains('\\'), "{url:?} accepted");
        assert!(!origin_part.contains('@'), "{url:?} accepted");
        assert!(!url[origin_part.len()..].starts_with("//"), "{url:?} accepted");

        let link = POLICY.link(Some(url), &params).expect("an accepted url makes a link");
        assert!(link.bytes().all(is_uri_byte), "{url:?} -> {link:?}");
        assert_eq!(param_count(&link, "userId"), 1, "{url:?} -> {link:?}");
        assert_eq!(param_count(&link, "secret"), 1, "{url:?} -> {link:?}");
        // The line a mail shows it on, cut wherever a mail client may end a
        // link (outside RFC 3986, and at the sub-delimiters some linkifiers
        // stop at): the link comes back whole up to such a cut, and nothing
        // after its host looks like a second URL.
        // After the host the caller's URL holds nothing that reads as a
        // second link: no `//`, `:`, `@` or `www.` (percent-encoded, they
        // are data; the values added are the link's own, encoded).
        let rest = &url[origin_part.len()..];
        assert!(!rest.contains("//") && !rest.contains([':', '@']), "{url:?} accepted");
        assert!(!rest.to_ascii_lowercase().contains("www."), "{url:?} accepted");
        let line = format!("<{link}>");
        let pieces: Vec<&str> = line
            .split(|c: char| !c.is_ascii() || !is_uri_byte(c as u8))
            .filter(|piece| piece.contains("://") || piece.starts_with("//"))
            .collect();
        assert_eq!(pieces, vec![link.as_str()], "{url:?} -> {line:?}");
        let cut_at_sub_delims: Vec<&str> = line
            .split(|c: char| !c.is_ascii() || !is_uri_byte(c as u8) || "'()*!,;".contains(c))
            .filter(|piece| piece.contains("://") || piece.starts_with("//"))
            .collect();
        assert_eq!(cut_at_sub_delims.len(), 1, "{url:?} -> {line:?}");
        assert!(link.starts_with(cut_at_sub_delims[0]), "{url:?} -> {line:?}");
        assert!(link.starts_with(origin_part), "{url:?} -> {link:?}");
        assert_eq!(origin(&link).1, host, "{url:?} -> {link:?}");
        assert!(link.bytes().all(|b| (0x21..=0x7e).contains(&b)), "{link:?}");
        assert_eq!(query_value(&link, "userId"), Some("u1"), "{url:?} -> {link:?}");
        assert_eq!(
            query_value(&link, "secret"),
            Some(percent_encoded(value).as_str()),
            "{url:?} -> {link:?}"
        );
        // The link itself now carries the pair: as a `url` it is refused.
        assert!(POLICY.check(&link).is_err(), "{url:?} -> {link:?} is accepted");
    }

    // A refused url makes no link.
    if POLICY.check(url).is_err() {
        assert!(POLICY.link(Some(url), &params).is_err(), "{url:?}");
    }

    // Without `url` the link goes to the public URL, whatever the values.
    let link = POLICY.link(None, &params).expect("the public URL makes a link");
    assert!(
        link.starts_with("https://app.example.test?userId=u1&secret="),
        "{link:?}"
    );
    assert_eq!(query_value(&link, "secret"), Some(percent_encoded(value).as_str()));
    assert!(!link.contains('#'), "{link:?}");
});
