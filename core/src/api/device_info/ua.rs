//! The Session model's device fields (`osCode` … `deviceModel`), derived
//! from the stored User-Agent when a session is rendered (feature
//! `device-info`; without it every field is the empty string, as Appwrite
//! renders a device it does not know).
//!
//! Appwrite fills these fields with matomo's DeviceDetector when a session
//! is created. Here the User-Agent is parsed by the `ua-parser` crate (the
//! ua-parser project's Rust implementation) with the uap-core regexes
//! vendored in `core/data/uap-core/` and its families mapped to
//! DeviceDetector's names and codes: `clientType` `browser` / `library`,
//! `clientCode` `CH`, `clientName` `Chrome`, `clientEngine` `Blink`, `osCode`
//! `WIN`, `osName` `Windows`, `deviceName` `desktop` / `smartphone` /
//! `tablet`, `deviceBrand` `Apple`, `deviceModel` `iPhone`. What neither
//! knows stays the empty string, as in Appwrite. Codes exist only for the
//! browsers and systems of the tables below; another browser keeps its uap
//! name with an empty code.
//!
//! Nothing of this is stored: the session record already keeps `ip` and
//! the User-Agent (cut at 256 bytes), so the fields are derived at render time
//! and a session grows by 0 bytes. The same User-Agent always renders the
//! same fields; a newer regex set may name more devices.
//!
//! Cost: the three uap extractors are built lazily, each on its first use
//! (measured: 0.19 s for browsers, 0.1 s for systems and 0.5 s for devices
//! in a debug build; 0.04 s, 0.015 s and 0.07–0.11 s in release); the device
//! one only for a phone or tablet. An empty User-Agent (most API clients)
//! builds nothing. A parse then takes about 40 µs in debug and 4 µs in
//! release (twice that for a phone), and the last 16 User-Agents are
//! cached, so a session list of one user's devices parses each at most once.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, OnceLock};

use ua_parser::{device, os, user_agent};

use super::DeviceFields;

/// uap-core's regexes, as JSON (see `core/data/uap-core/README.md`).
const REGEXES: &str = include_str!("../../../data/uap-core/regexes.json");

/// The vendored regexes parse and compile (the unit tests build them all).
const VALID: &str = "the vendored uap-core regexes compile";

/// How many distinct User-Agents the cache keeps.
const CACHED: usize = 16;

/// The device fields of one User-Agent (empty fields for an empty one).
pub(super) fn describe(user_agent: &str) -> Arc<DeviceFields> {
    static EMPTY: OnceLock<Arc<DeviceFields>> = OnceLock::new();
    static CACHE: Mutex<VecDeque<(String, Arc<DeviceFields>)>> = Mutex::new(VecDeque::new());
    if user_agent.trim().is_empty() {
        return EMPTY.get_or_init(Default::default).clone();
    }
    let cached = |cache: &VecDeque<(String, Arc<DeviceFields>)>| {
        cache.iter().find(|(ua, _)| ua == user_agent).map(|(_, f)| f.clone())
    };
    if let Some(found) = cached(&CACHE.lock().unwrap_or_else(|e| e.into_inner())) {
        return found;
    }
    let fields = Arc::new(parse(user_agent));
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if cached(&cache).is_none() {
        if cache.len() == CACHED {
            cache.pop_front();
        }
        cache.push_back((user_agent.to_owned(), fields.clone()));
    }
    fields
}

fn regexes() -> ua_parser::Regexes<'static> {
    serde_json::from_str(REGEXES).expect("the vendored uap-core regexes are valid JSON")
}

fn clients() -> &'static user_agent::Extractor<'static> {
    static EXTRACTOR: OnceLock<user_agent::Extractor<'static>> = OnceLock::new();
    EXTRACTOR.get_or_init(|| {
        let parsers = regexes().user_agent_parsers;
        let builder = user_agent::Builder::new().push_all(parsers).expect(VALID);
        builder.build().expect(VALID)
    })
}

fn systems() -> &'static os::Extractor<'static> {
    static EXTRACTOR: OnceLock<os::Extractor<'static>> = OnceLock::new();
    EXTRACTOR.get_or_init(|| {
        let parsers = regexes().os_parsers;
        let builder = os::Builder::new().push_all(parsers).expect(VALID);
        builder.build().expect(VALID)
    })
}

fn devices() -> &'static device::Extractor<'static> {
    static EXTRACTOR: OnceLock<device::Extractor<'static>> = OnceLock::new();
    EXTRACTOR.get_or_init(|| {
        let parsers = regexes().device_parsers;
        let builder = device::Builder::new().push_all(parsers).expect(VALID);
        builder.build().expect(VALID)
    })
}

/// uap browser family → DeviceDetector's name and short code.
const BROWSERS: &[(&str, &str, &str)] = &[
    ("Chrome", "Chrome", "CH"),
    ("Chrome Mobile", "Chrome Mobile", "CM"),
    ("Chrome Mobile iOS", "Chrome Mobile iOS", "CI"),
    ("Chrome Mobile WebView", "Chrome Webview", "CV"),
    ("Chromium", "Chromium", "CR"),
    ("HeadlessChrome", "Headless Chrome", "HC"),
    ("Firefox", "Firefox", "FF"),
    ("Firefox Mobile", "Firefox Mobile", "FM"),
    ("Firefox iOS", "Firefox Mobile iOS", "F1"),
    ("Firefox Focus", "Firefox Focus", "FK"),
    ("Safari", "Safari", "SF"),
    ("Mobile Safari", "Mobile Safari", "MF"),
    ("Mobile Safari UI/WKWebView", "Mobile Safari", "MF"),
    ("Edge", "Microsoft Edge", "PS"),
    ("Edge Mobile", "Microsoft Edge", "PS"),
    ("IE", "Internet Explorer", "IE"),
    ("IE Mobile", "IE Mobile", "IM"),
    ("Opera", "Opera", "OP"),
    ("Opera Mini", "Opera Mini", "OI"),
    ("Opera Mobile", "Opera Mobile", "OM"),
    ("Samsung Internet", "Samsung Browser", "SB"),
    ("Yandex Browser", "Yandex Browser", "YA"),
    ("Brave", "Brave", "BR"),
    ("Vivaldi", "Vivaldi", "VI"),
    ("UC Browser", "UC Browser", "UC"),
    ("DuckDuckGo Mobile", "DuckDuckGo Privacy Browser", "DD"),
    ("Android", "Android Browser", "AN"),
    ("Silk", "Mobile Silk", "MS"),
];

/// uap families of HTTP libraries → DeviceDetector's library names.
const LIBRARIES: &[(&str, &str)] = &[
    ("curl", "curl"),
    ("Wget", "Wget"),
    ("Python Requests", "Python Requests"),
    ("Python-urllib", "Python urllib"),
    ("okhttp", "OkHttp"),
    ("Go-http-client", "Go-http-client"),
    ("Apache-HttpClient", "Apache HTTP Client"),
    ("HTTPie", "HTTPie"),
    ("axios", "Axios"),
    ("aiohttp", "aiohttp"),
];

/// uap OS family → DeviceDetector's name and short code.
const SYSTEMS: &[(&str, &str, &str)] = &[
    ("Windows", "Windows", "WIN"),
    ("Windows Phone", "Windows Phone", "WPH"),
    ("Mac OS X", "Mac", "MAC"),
    ("iOS", "iOS", "IOS"),
    ("Android", "Android", "AND"),
    ("Linux", "GNU/Linux", "LIN"),
    ("Ubuntu", "Ubuntu", "UBT"),
    ("Debian", "Debian", "DEB"),
    ("Fedora", "Fedora", "FED"),
    ("Red Hat", "Red Hat", "RHT"),
    ("Linux Mint", "Mint", "MIN"),
    ("Chrome OS", "Chrome OS", "COS"),
    ("FreeBSD", "FreeBSD", "BSD"),
    ("OpenBSD", "OpenBSD", "OBS"),
    ("NetBSD", "NetBSD", "NBS"),
    ("BlackBerry OS", "BlackBerry OS", "BLB"),
    ("Tizen", "Tizen", "TIZ"),
    ("KaiOS", "KaiOS", "KOS"),
    ("HarmonyOS", "HarmonyOS", "HAR"),
    ("watchOS", "watchOS", "WAS"),
    ("tvOS", "tvOS", "ATV"),
];

/// DeviceDetector's desktop systems (by its names).
const DESKTOP: &[&str] = &[
    "Windows",
    "Mac",
    "GNU/Linux",
    "Ubuntu",
    "Debian",
    "Fedora",
    "Red Hat",
    "Mint",
    "Chrome OS",
    "FreeBSD",
    "OpenBSD",
    "NetBSD",
];

fn parse(ua: &str) -> DeviceFields {
    let mut fields = DeviceFields::default();
    if let Some(client) = clients().extract(ua).filter(|c| c.family != "Other") {
        let family: &str = &client.family;
        let version = dotted(&[client.major, client.minor, client.patch, client.patch_minor]);
        if let Some((_, name)) = LIBRARIES.iter().find(|(f, _)| *f == family) {
            fields.client_type = "library".to_owned();
            fields.client_name = (*name).to_owned();
        } else {
            let known = BROWSERS.iter().find(|(f, _, _)| *f == family);
            fields.client_type = "browser".to_owned();
            fields.client_name = known.map_or(family, |(_, name, _)| name).to_owned();
            fields.client_code = known.map_or("", |(_, _, code)| code).to_owned();
        }
        fields.client_version = version;
    }
    if let Some(system) = systems().extract(ua).filter(|s| s.os != "Other") {
        let family: &str = &system.os;
        let known = SYSTEMS.iter().find(|(f, _, _)| *f == family);
        fields.os_name = known.map_or(family, |(_, name, _)| name).to_owned();
        fields.os_code = known.map_or("", |(_, _, code)| code).to_owned();
        let parts = [&system.major, &system.minor, &system.patch, &system.patch_minor];
        fields.os_version = dotted(&parts.map(|p| p.as_deref()));
    }
    if fields.client_type == "browser" {
        let (engine, version) = engine(ua, &fields.os_name);
        fields.client_engine = engine.to_owned();
        fields.client_engine_version = version.to_owned();
    }
    fields.device_name = device_type(ua, &fields).to_owned();
    match fields.device_name.as_str() {
        "" => {}
        "desktop" => {
            if fields.os_name == "Mac" {
                fields.device_brand = "Apple".to_owned();
            }
        }
        _ => {
            if let Some(found) = devices().extract(ua) {
                let brand = found.brand.as_deref().unwrap_or_default();
                if !brand.is_empty() && !brand.starts_with("Generic") && brand != "Spider" {
                    fields.device_brand = brand.to_owned();
                    fields.device_model = found.model.as_deref().unwrap_or_default().to_owned();
                }
            }
        }
    }
    fields
}

/// `major.minor.patch.patch_minor`, as far as they go.
fn dotted(parts: &[Option<&str>]) -> String {
    let present: Vec<&str> = parts.iter().map_while(|p| p.filter(|p| !p.is_empty())).collect();
    present.join(".")
}

/// The browser engine and its version, by DeviceDetector's rules: Blink
/// for Chrome 28 and later and its derivatives, WebKit on iOS and for
/// Safari, Gecko (its `rv:`), EdgeHTML, Trident, Presto.
fn engine<'a>(ua: &'a str, os_name: &str) -> (&'static str, &'a str) {
    if matches!(os_name, "iOS" | "iPadOS") {
        return ("WebKit", token_version(ua, "AppleWebKit/"));
    }
    if ua.contains("Edge/") {
        return ("EdgeHTML", token_version(ua, "Edge/"));
    }
    if ua.contains("Trident/") {
        return ("Trident", token_version(ua, "Trident/"));
    }
    if ua.contains("Presto/") {
        return ("Presto", token_version(ua, "Presto/"));
    }
    let chrome = ["Chrome/", "Chromium/"]
        .iter()
        .map(|t| token_version(ua, t))
        .find(|v| !v.is_empty());
    if let Some(version) = chrome {
        let major: u32 = version.split('.').next().and_then(|m| m.parse().ok()).unwrap_or(0);
        if major >= 28 {
            return ("Blink", version);
        }
        return ("WebKit", token_version(ua, "AppleWebKit/"));
    }
    if ua.contains("Gecko/") && ua.contains("rv:") {
        return ("Gecko", token_version(ua, "rv:"));
    }
    if ua.contains("AppleWebKit/") {
        return ("WebKit", token_version(ua, "AppleWebKit/"));
    }
    ("", "")
}

/// The dotted version right after `token` (`"Chrome/"` → `"120.0.0.0"`).
fn token_version<'a>(ua: &'a str, token: &str) -> &'a str {
    let Some(at) = ua.find(token) else { return "" };
    let rest = &ua[at + token.len()..];
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    rest[..end].trim_end_matches('.')
}

/// DeviceDetector's device type: a phone or tablet by the system and its
/// markers, a desktop for a browser on a desktop system, else nothing.
fn device_type(ua: &str, fields: &DeviceFields) -> &'static str {
    match fields.os_name.as_str() {
        "iOS" | "iPadOS" if ua.contains("iPad") => "tablet",
        "iOS" if ua.contains("iPod") => "portable media player",
        "iOS" | "Windows Phone" | "BlackBerry OS" | "KaiOS" => "smartphone",
        "Android" if ua.contains("Mobile") => "smartphone",
        "Android" => "tablet",
        "watchOS" => "wearable",
        "tvOS" => "tv",
        os if DESKTOP.contains(&os) && fields.client_type == "browser" => "desktop",
        _ => "",
    }
}

#[cfg(test)]
mod tests;
