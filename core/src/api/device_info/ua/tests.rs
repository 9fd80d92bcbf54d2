//! The device fields of well-known User-Agents, as Appwrite (matomo
//! DeviceDetector) names them.

use super::*;

const CHROME_WINDOWS: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
const FIREFOX_LINUX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0";
const SAFARI_IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1.2 Mobile/15E148 Safari/604.1";
const CHROME_ANDROID: &str = "Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.144 Mobile Safari/537.36";
const SAFARI_MAC: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15";
const EDGE_WINDOWS: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91";
const CHROME_IPAD: &str = "Mozilla/5.0 (iPad; CPU OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/120.0.6099.119 Mobile/15E148 Safari/604.1";

/// The twelve fields in Session-model order.
fn fields(ua: &str) -> [String; 12] {
    let d = describe(ua);
    [
        &d.os_code,
        &d.os_name,
        &d.os_version,
        &d.client_type,
        &d.client_code,
        &d.client_name,
        &d.client_version,
        &d.client_engine,
        &d.client_engine_version,
        &d.device_name,
        &d.device_brand,
        &d.device_model,
    ]
    .map(|f| f.clone())
}

fn expect(values: [&str; 12]) -> [String; 12] {
    values.map(str::to_owned)
}

#[test]
fn chrome_on_windows() {
    let want = [
        "WIN",
        "Windows",
        "10",
        "browser",
        "CH",
        "Chrome",
        "120.0.0.0",
        "Blink",
        "120.0.0.0",
        "desktop",
        "",
        "",
    ];
    assert_eq!(fields(CHROME_WINDOWS), expect(want));
}

#[test]
fn firefox_on_linux() {
    let want = [
        "LIN",
        "GNU/Linux",
        "",
        "browser",
        "FF",
        "Firefox",
        "121.0",
        "Gecko",
        "121.0",
        "desktop",
        "",
        "",
    ];
    assert_eq!(fields(FIREFOX_LINUX), expect(want));
}

#[test]
fn safari_on_iphone() {
    let want = [
        "IOS",
        "iOS",
        "17.1.2",
        "browser",
        "MF",
        "Mobile Safari",
        "17.1.2",
        "WebKit",
        "605.1.15",
        "smartphone",
        "Apple",
        "iPhone",
    ];
    assert_eq!(fields(SAFARI_IPHONE), expect(want));
}

#[test]
fn chrome_on_android() {
    let want = [
        "AND",
        "Android",
        "13",
        "browser",
        "CM",
        "Chrome Mobile",
        "120.0.6099.144",
        "Blink",
        "120.0.6099.144",
        "smartphone",
        "Google",
        "Pixel 7",
    ];
    assert_eq!(fields(CHROME_ANDROID), expect(want));
}

#[test]
fn other_desktops_and_tablets() {
    let mac = [
        "MAC", "Mac", "10.15.7", "browser", "SF", "Safari", "17.1", "WebKit", "605.1.15", "desktop", "Apple", "",
    ];
    assert_eq!(fields(SAFARI_MAC), expect(mac));
    let edge = [
        "WIN",
        "Windows",
        "10",
        "browser",
        "PS",
        "Microsoft Edge",
        "120.0.2210.91",
        "Blink",
        "120.0.0.0",
        "desktop",
        "",
        "",
    ];
    assert_eq!(fields(EDGE_WINDOWS), expect(edge));
    let ipad = [
        "IOS",
        "iOS",
        "17.1",
        "browser",
        "CI",
        "Chrome Mobile iOS",
        "120.0.6099.119",
        "WebKit",
        "605.1.15",
        "tablet",
        "Apple",
        "iPad",
    ];
    assert_eq!(fields(CHROME_IPAD), expect(ipad));
}

#[test]
fn curl_is_a_library_on_no_device() {
    let want = ["", "", "", "library", "", "curl", "8.5.0", "", "", "", "", ""];
    assert_eq!(fields("curl/8.5.0"), expect(want));
}

#[test]
fn empty_and_unknown_user_agents_are_empty() {
    for ua in ["", "   ", "tokengate-test", "\u{0}\u{7f}"] {
        assert_eq!(*describe(ua), DeviceFields::default(), "{ua:?}");
    }
}

#[test]
fn every_vendored_regex_compiles() {
    let _ = (clients(), systems(), devices());
}

#[test]
fn the_cache_answers_the_same_fields() {
    let first = describe(CHROME_WINDOWS);
    let again = describe(CHROME_WINDOWS);
    assert!(Arc::ptr_eq(&first, &again) || first == again);
    // More distinct User-Agents than the cache holds: still the right answers.
    for n in 0..(CACHED + 4) {
        let ua = format!("curl/8.{n}.0");
        assert_eq!(describe(&ua).client_version, format!("8.{n}.0"));
    }
    assert_eq!(describe(CHROME_WINDOWS).client_name, "Chrome");
}

#[test]
fn versions_and_engines() {
    assert_eq!(dotted(&[Some("1"), Some("2"), None, Some("4")]), "1.2");
    assert_eq!(dotted(&[None, Some("2")]), "");
    assert_eq!(token_version("a Chrome/120.0.1. b", "Chrome/"), "120.0.1");
    assert_eq!(token_version("no token", "Chrome/"), "");
    let ie = "Mozilla/5.0 (Windows NT 6.3; Trident/7.0; rv:11.0) like Gecko";
    assert_eq!(engine(ie, "Windows"), ("Trident", "7.0"));
    let old_chrome =
        "Mozilla/5.0 (Windows NT 6.1) AppleWebKit/537.11 (KHTML, like Gecko) Chrome/23.0.1271.97 Safari/537.11";
    assert_eq!(engine(old_chrome, "Windows"), ("WebKit", "537.11"));
    assert_eq!(engine("curl/8", ""), ("", ""));
}
