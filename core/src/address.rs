//! Email addresses and phone numbers: validation and the one normal form
//! under which the directory compares them.

use crate::error::Error;

/// Trims and lowercases an email address and checks its shape: ASCII only
/// (no look-alike Unicode), one `@`, a dotted domain, at most 254 chars.
pub(crate) fn normalize_email(raw: &str) -> Result<String, Error> {
    let invalid = || Error::argument("Invalid `email` param: Value must be a valid email address");
    let email = raw.trim().to_ascii_lowercase();
    if email.is_empty() || email.len() > 254 || !email.is_ascii() {
        return Err(invalid());
    }
    let (local, domain) = email.split_once('@').ok_or_else(invalid)?;
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~.".contains(&b));
    let domain_ok = domain.contains('.')
        && domain.len() <= 253
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if local_ok && domain_ok {
        Ok(email)
    } else {
        Err(invalid())
    }
}

/// The mailbox a normalised address delivers to, for counting sends (not
/// for identity): without a `+tag` in the local part, which most providers
/// deliver to the untagged mailbox, and for Gmail without dots, which it
/// ignores. So that `victim+1@`, `victim+2@`, … share one budget. Phone
/// numbers are returned as they are.
pub(crate) fn mailbox(address: &str) -> std::borrow::Cow<'_, str> {
    let Some((local, domain)) = address.split_once('@') else {
        return address.into();
    };
    let untagged = local.split_once('+').map_or(local, |(base, _)| base);
    match domain {
        "gmail.com" | "googlemail.com" => format!("{}@gmail.com", untagged.replace('.', "")).into(),
        _ if untagged.len() < local.len() => format!("{untagged}@{domain}").into(),
        _ => address.into(),
    }
}

/// Checks an E.164 phone number as Appwrite does (`^\+[1-9]\d{6,14}$`):
/// `+`, then 7 to 15 digits, not starting with 0.
pub(crate) fn normalize_phone(raw: &str) -> Result<String, Error> {
    let phone = raw;
    let digits = phone.strip_prefix('+').unwrap_or("");
    if (7..=15).contains(&digits.len()) && !digits.starts_with('0') && digits.bytes().all(|b| b.is_ascii_digit()) {
        Ok(phone.to_owned())
    } else {
        Err(Error::argument(
            "Invalid `phone` param: Phone number must start with a '+' and can have a maximum of fifteen digits.",
        ))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn addresses_are_normalised_or_refused() {
        use super::{normalize_email, normalize_phone};
        assert_eq!(normalize_email("  Alice@Example.COM ").unwrap(), "alice@example.com");
        assert!(normalize_email("alice@localhost").is_err());
        assert!(normalize_email("\u{430}lice@example.com").is_err()); // Cyrillic 'а'
        assert_eq!(normalize_phone("+14155550123").unwrap(), "+14155550123");
        assert!(normalize_phone("0014155550123").is_err());
        assert!(normalize_phone("+1 415 555").is_err());
        // Appwrite's bounds: 7 to 15 digits, the first not 0, nothing around them.
        assert!(normalize_phone("+1234567").is_ok());
        assert!(normalize_phone("+123456").is_err());
        assert!(normalize_phone("+123456789012345").is_ok());
        assert!(normalize_phone("+1234567890123456").is_err());
        assert!(normalize_phone("+0123456789").is_err());
        assert!(normalize_phone(" +14155550123").is_err());
        assert!(normalize_phone("+14155550123\n").is_err());
        assert!(normalize_phone("+١٢٣٤٥٦٧٨").is_err()); // Arabic-Indic digits
    }

    use super::*;

    #[test]
    fn emails() {
        for bad in [
            "",
            "a",
            "a@",
            "@b.c",
            "a@b",
            "a b@c.d",
            "a@b..c",
            "a@-b.c",
            "a\u{0}@b.c",
            "a@ｂ.c",
            ".a@b.c",
            "a@b.c@d.e",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            normalize_email("X.Y+z@Sub.Example.org").unwrap(),
            "x.y+z@sub.example.org"
        );
    }

    #[test]
    fn phones() {
        for bad in ["", "+", "123", "+0123", "+1234567890123456", "+１２３", "+12a3"] {
            assert!(normalize_phone(bad).is_err(), "{bad:?}");
        }
    }
}
