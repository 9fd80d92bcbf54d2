//! Request-body parsing (`Params::parse` and the typed getters): never a
//! panic; every refusal is a 400 `general_argument_invalid` with a bounded
//! message; every accepted value is of the asked type and in range.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tokengate::fuzzing::Params;
use tokengate::fuzzing::ErrorKind;

/// The allowed-key sets the endpoints use.
const ALLOWED: &[&[&str]] = &[
    &[],
    &["length", "expire"],
    &["userId", "secret"],
    &["userId", "email", "phrase"],
    &["userId", "email", "url", "phrase"],
    &["userId", "phone"],
    &["current"],
];

const RANGES: &[std::ops::RangeInclusive<u64>] = &[4..=128, 60..=31_536_000, 0..=u64::MAX];

fn check_error(error: &tokengate::Error) {
    assert_eq!(error.kind(), ErrorKind::ArgumentInvalid, "{error:?}");
    assert_eq!(error.kind().status(), 400);
    // Echoed key names are cut to 64 characters (at most 4 bytes each).
    assert!(error.public_message().len() <= 64 * 4 + 100, "{error:?}");
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let allowed = ALLOWED[selector as usize % ALLOWED.len()];
    let params = match Params::parse(body, allowed) {
        Ok(params) => params,
        Err(error) => {
            check_error(&error);
            return;
        }
    };
    for name in allowed.iter().copied().chain(["absent", "__proto__", ""]) {
        let listed = allowed.contains(&name);
        match params.optional_str(name) {
            Ok(Some(text)) => {
                assert!(listed, "an unlisted key `{name}` was kept");
                assert_eq!(params.required_str(name).expect("present"), text);
            }
            Ok(None) => check_error(&params.required_str(name).expect_err("absent is required")),
            Err(error) => check_error(&error),
        }
        for range in RANGES {
            match params.optional_int(name, range.clone()) {
                Ok(Some(value)) => {
                    assert!(listed);
                    assert!(range.contains(&value), "{value} outside {range:?}");
                }
                Ok(None) => {}
                Err(error) => check_error(&error),
            }
        }
        match params.optional_bool(name) {
            Ok(Some(_)) => assert!(listed),
            Ok(None) => {}
            Err(error) => check_error(&error),
        }
    }
});
