//! `SessionCredential::decode` and the credential lookup in headers and
//! cookies: never a panic, and what decodes is the one canonical spelling.
#![no_main]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use libfuzzer_sys::fuzz_target;
use tokengate::api::adapter::find_credential;
use tokengate::fuzzing::SessionCredential;
use tokengate::UserId;

const USER_CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-";

fuzz_target!(|data: &[u8]| {
    // Arbitrary text: decoding never panics; whatever it accepts encodes
    // back to exactly the same text (no second spelling of a credential)
    // and names a valid user.
    if let Ok(text) = std::str::from_utf8(data) {
        if let Some(credential) = SessionCredential::decode(text) {
            let encoded = credential.encode();
            assert_eq!(encoded.expose(), text, "a non-canonical spelling was accepted");
            assert!(UserId::is_valid(credential.user().as_str()));
            let secret_part = text.rsplit_once('.').expect("a dot").1;
            assert_eq!(secret_part.len(), 43);
            assert!(
                !format!("{credential:?}").contains(secret_part),
                "Debug shows the secret"
            );
        }
    }

    // A well-formed credential built from the input always decodes, to the
    // same user, and round-trips.
    if data.len() >= 34 {
        let user_len = 1 + data[0] as usize % 36;
        let secret: [u8; 32] = data[1..33].try_into().expect("32 bytes");
        let user: String = data[33..]
            .iter()
            .cycle()
            .take(user_len)
            .enumerate()
            .map(|(i, b)| {
                // The first character must not be '.', '-' or '_'.
                let alphabet = if i == 0 { &USER_CHARS[..62] } else { USER_CHARS };
                alphabet[*b as usize % alphabet.len()] as char
            })
            .collect();
        let text = format!("{user}.{}", URL_SAFE_NO_PAD.encode(secret));
        let decoded = SessionCredential::decode(&text).expect("a well-formed credential decodes");
        assert_eq!(decoded.user().as_str(), user);
        assert_eq!(decoded.encode().expose(), text);
    }

    // The lookup in the session header, in Cookie headers and in
    // X-Fallback-Cookies never panics and never yields an empty credential.
    let cookie_name = "a_session_default";
    let split = data.first().map_or(0, |b| *b as usize) % (data.len() + 1);
    let (header, cookies) = data.split_at(split);
    if let Some(found) = find_credential(Some(header), || std::iter::once(cookies), None, cookie_name) {
        assert!(!found.is_empty());
        let _ = SessionCredential::decode(found);
    }
    if let Some(found) = find_credential(None, || cookies.split(|b| *b == b'\n'), Some(header), cookie_name) {
        assert!(!found.is_empty());
        let _ = SessionCredential::decode(found);
    }
});
