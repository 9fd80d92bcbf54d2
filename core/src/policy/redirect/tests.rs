//! The redirect policy against the bypass forms found so far.
use super::*;

fn policy() -> RedirectPolicy {
    RedirectPolicy::new(
        "http://127.0.0.1:8080",
        &[
            "app.example.com",
            "https://app.example.com:8443",
            "https://app.example.com",
        ],
    )
    .unwrap()
}

#[test]
fn accepts_allowed_targets() {
    let p = policy();
    for ok in [
        "http://127.0.0.1:8080/",
        "http://127.0.0.1:8080/login?next=%2F#top",
        "https://app.example.com",
        "https://app.example.com:8443/a/b?c=d",
    ] {
        assert!(p.check(ok).is_ok(), "{ok}");
    }
}

#[test]
fn rejects_bypass_forms() {
    let p = policy();
    for bad in [
        "//evil.com",
        "/\\evil.com",
        "https:evil.com",
        "https:/evil.com",
        "https://app.example.com@evil.com/",
        "https://app.example.com.evil.com/",
        "https://evil.com/app.example.com",
        "https://app.example.com\\@evil.com",
        "https://app.example.com\r\n.evil.com",
        "https://app.example.com\t",
        "javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "HTTPS://app.example.com",
        "https://APP.example.com",
        "https://app.example.com./",
        "http://2130706433/",
        "http://0x7f.0.0.1/",
        "http://0177.0.0.1/",
        "http://127.1/",
        "http://[::1]/",
        "http://127.0.0.1:8080//evil.com",
        "https://app.example.com:99999/",
        "https://app.example.com:444/",
        "http://app.example.com:8443/",
        "http://127.0.0.1:8081/",
        "https://127.0.0.1:8080/",
        "https://app.example.com/?userId=victim",
        "https://app.example.com/cb?x=1&secret=s",
        "https://app.example.com/cb?EXPIRE=1",
        "https://app.example.com/cb?%75serId=a",
        "https://app.example.com/cb?pro%6Aect=a",
        "https://app.example.com/cb#userId=a&secret=b",
        "https://app.example.com/cb?a=1;secret=b",
        "https://app.example.com/cb?+userId=a",
        "https://app.example.com:/",
        "ftp://app.example.com/",
        "https://аpp.example.com/",
        "",
        "https://",
        "https://app..example.com/",
        "https://%61pp.example.com/",
        // A second URL anywhere after the host: a second link in a mail.
        "https://app.example.com/cb?next=https://evil.test/",
        "https://app.example.com/cb?next=http://evil.test",
        "https://app.example.com/cb#https://evil.test",
        "https://app.example.com/https://evil.test",
        "https://app.example.com/cb?a=(https://evil.test)",
        "https://app.example.com/cb?a=*javascript://x",
        "https://app.example.com/cb?a=x:!//evil.test",
        "https://app.example.com/a//b",
        // Or read as a link by a linkifier or a page (review of round 3).
        "https://app.example.com/?x=(www.evil.test)",
        "https://app.example.com/,attacker@evil.test",
        "https://app.example.com/?next=https:evil.test",
        "https://app.example.com/?next=http:evil.test",
        "https://app.example.com/?next=https:%2F%2Fevil.test",
        "https://app.example.com/cb?r=%2Fcb%3FuserId%3Dattacker%26secret%3Dx",
        "https://app.example.com/cb?r=%252Fcb%253Fsecret%253Dx",
        "https://app.example.com/cb#WWW.evil.test",
    ] {
        assert!(p.check(bad).is_err(), "{bad:?} must be rejected");
    }
    // Encoded, it is data for the page, not a link for the mail client.
    assert!(p
        .check("https://app.example.com/cb?next=https%3A%2F%2Fapp.example.com%2Fhome")
        .is_ok());
}

#[test]
fn app_links_carry_no_second_url() {
    let p = app_policy();
    for bad in [
        "myapp://auth/cb?next=https://evil.test",
        "myapp://auth/https://evil.test",
        "myapp://auth/cb#myapp://other",
        "myapp://auth/caulmyapp:!//auth/cback)st",
        "myapp://auth/cb?x=(www.evil.test)",
        "myapp://auth/cb?to=a@evil.test",
    ] {
        assert!(p.check(bad).is_err(), "{bad:?} must be rejected");
    }
    assert!(p.check("myapp://auth/cb?next=%2Fhome").is_ok());
}

fn app_policy() -> RedirectPolicy {
    RedirectPolicy::new("https://example.com", &["http://localhost:3000"])
        .unwrap()
        .allow_schemes(&["myapp", "com.example.app"])
        .unwrap()
}

#[test]
fn app_links_in_allowed_schemes() {
    let p = app_policy();
    for ok in [
        "myapp://auth/callback",
        "myapp://auth",
        "myapp://auth/callback?state=1#x",
        "com.example.app://login",
        "http://localhost:3000/cb",
        "https://example.com/cb",
    ] {
        assert!(p.check(ok).is_ok(), "{ok}");
    }
    assert_eq!(
        p.link(Some("myapp://auth/callback"), &[("userId", "u1")]).unwrap(),
        "myapp://auth/callback?userId=u1"
    );
}

#[test]
fn app_link_bypass_forms() {
    let p = app_policy();
    for bad in [
        // The scheme: exact, lowercase, followed by `//`.
        "myapp:/x",
        "myapp:x",
        "myapp:",
        "myapp://",
        "MYAPP://auth",
        "Myapp://auth",
        "myapp2://auth",
        "xmyapp://auth",
        "myapp.evil://auth",
        " myapp://auth",
        "myapp ://auth",
        "my%61pp://auth",
        // The authority: no user, no port, a plain lowercase host.
        "myapp://evil@host",
        "myapp://auth@evil.com/",
        "myapp://:@auth/",
        "myapp://auth:80/",
        "myapp://AUTH/",
        "myapp://au th/",
        "myapp://au%74h/",
        "myapp://auth..x/",
        "myapp:///auth",
        "myapp:////evil.com",
        "myapp://auth//evil.com",
        "myapp://auth\\@evil.com",
        "myapp://auth\r\n/",
        "myapp://auth\t/",
        // `javascript` in disguise.
        "javascript://auth/%0aalert(1)",
        "javascript:alert(1)//myapp://auth",
        "JaVaScRiPt:alert(1)",
        "java\tscript:alert(1)",
        "java\nscript:alert(1)",
        "\u{0}javascript:alert(1)",
        "myapp:javascript:alert(1)",
        "javascript:myapp://auth",
        "data:text/html,myapp://auth",
        "vbscript:msgbox(1)",
        "intent://auth#Intent;scheme=myapp;end",
        "file:///etc/passwd",
        // The link's own parameters, in every place.
        "myapp://auth/cb?userId=victim",
        "myapp://auth/cb?x=1&secret=s",
        "myapp://auth/cb#secret=s",
        "myapp://auth/cb?%73ecret=s",
        // Loopback other than the listed origin.
        "http://localhost:3001/cb",
        "http://127.0.0.1:3000/cb",
        "https://localhost:3000/cb",
    ] {
        assert!(p.check(bad).is_err(), "{bad:?} must be rejected");
    }
    // Without schemes configured, app links are refused outright.
    let web_only = RedirectPolicy::new("https://example.com", &[]).unwrap();
    assert!(web_only.check("myapp://auth/callback").is_err());
}

#[test]
fn only_app_schemes_can_be_allowed() {
    let base = || RedirectPolicy::new("https://example.com", &[]).unwrap();
    for bad in [
        "javascript",
        "JavaScript",
        "data",
        "vbscript",
        "file",
        "http",
        "https",
        "intent",
        "blob",
        "about",
        "",
        "1app",
        "my app",
        "myapp:",
        "myapp://",
        "my_app",
        "-app",
        &"a".repeat(33),
    ] {
        assert!(base().allow_schemes(&[bad]).is_err(), "{bad:?} must be refused");
    }
    assert!(base().allow_schemes(&["myapp", "com.example.app", "x-app+1"]).is_ok());
}

#[test]
fn loopback_http_only_when_listed() {
    // Listed loopback origins pass beside an https public URL; other
    // http origins would downgrade and stay a configuration error.
    assert!(RedirectPolicy::new("https://example.com", &["http://127.0.0.1:8081"]).is_ok());
    assert!(RedirectPolicy::new("https://example.com", &["http://dev.example.com:3000"]).is_err());
    let p = RedirectPolicy::new("https://example.com", &[]).unwrap();
    assert!(p.check("http://localhost:3000/").is_err());
    assert!(p.check("http://127.0.0.1:3000/").is_err());
}

#[test]
fn bare_hosts_take_the_public_scheme_and_default_port() {
    let https = RedirectPolicy::new("https://example.com", &["app.example.com"]).unwrap();
    assert!(https.check("https://app.example.com/").is_ok());
    assert!(https.check("https://app.example.com:443/").is_ok());
    assert!(https.check("http://app.example.com/").is_err());
    assert!(https.check("https://app.example.com:8443/").is_err());
    for bad in [
        "app.example.com:8443",
        "http://app.example.com",
        "https://x.com/path",
        "Evil.com",
        "",
    ] {
        assert!(RedirectPolicy::new("https://example.com", &[bad]).is_err(), "{bad:?}");
    }
    // Harmless names that only contain a link parameter's letters pass.
    assert!(https.check("https://example.com/cb?userIdentity=1&secrets=2").is_ok());
}

#[test]
fn link_adds_query_before_fragment() {
    let p = policy();
    let link = p
        .link(
            Some("https://app.example.com/cb?x=1#frag"),
            &[("userId", "u1"), ("expire", "2026-01-01T00:00:00.000+00:00")],
        )
        .unwrap();
    assert_eq!(
        link,
        "https://app.example.com/cb?x=1&userId=u1&expire=2026-01-01T00%3A00%3A00.000%2B00%3A00#frag"
    );
    assert_eq!(p.link(None, &[("a", "b")]).unwrap(), "http://127.0.0.1:8080?a=b");
    // An open query keeps its `?` (found by fuzzing: it used to be dropped).
    assert_eq!(
        p.link(Some("http://127.0.0.1:8080/?"), &[("a", "b")]).unwrap(),
        "http://127.0.0.1:8080/?a=b"
    );
    assert_eq!(
        p.link(Some("http://127.0.0.1:8080/?x=1&"), &[("a", "b")]).unwrap(),
        "http://127.0.0.1:8080/?x=1&a=b"
    );
    assert_eq!(
        p.link(Some("http://127.0.0.1:8080?x/?"), &[("a", "b")]).unwrap(),
        "http://127.0.0.1:8080?x/?&a=b"
    );
}

#[test]
fn links_are_serialised_from_the_parsed_url() {
    let p = policy();
    for (url, expected) in [
        // The default port is not repeated; an explicit one is kept.
        ("https://app.example.com:443/cb", "https://app.example.com/cb?u=1"),
        ("https://app.example.com:8443/cb", "https://app.example.com:8443/cb?u=1"),
        (
            "https://app.example.com/a%2Fb?q=%3E#f",
            "https://app.example.com/a%2Fb?q=%3E&u=1#f",
        ),
        (
            "https://app.example.com/!$'()*+,;=",
            "https://app.example.com/!$'()*+,;=?u=1",
        ),
    ] {
        assert_eq!(p.link(Some(url), &[("u", "1")]).unwrap(), expected);
    }
    // Every byte of a link is an RFC 3986 character, whatever the values.
    let link = p
        .link(
            Some("https://app.example.com/cb"),
            &[("userId", "a b<c>"), ("secret", "\"'`")],
        )
        .unwrap();
    assert!(
        link.bytes().all(|b| parse::is_uri_byte(b) || b == b'%' || b == b'#'),
        "{link}"
    );
    assert!(p.link(Some("https://app.example.com/>x"), &[]).is_err());
}
