//! Reads a stored session record in the exact shape the store writes it,
//! without a general JSON parser.
//!
//! Every authenticated request parses one record, and serde_json spends
//! most of its time there on generality this format never uses. The shape
//! is fixed: `{"k":..,"i":..,"c":..,"u":..,"e":..[,"d":..][,"ip":..][,"ua":..]}`,
//! in that order (the Redis scripts keep it when they rewrite a field).
//! Anything else (an escape in a string, another order, a sign, spaces)
//! answers `None`, and the caller falls back to serde_json, so this is only
//! ever a faster route to the same answer.

use std::borrow::Cow;

use serde::Deserialize;

/// The fields of a stored session record, borrowed from the stored bytes
/// where they need no unescaping.
#[derive(Debug, PartialEq, Eq, Deserialize)]
pub(crate) struct RecordFields<'a> {
    #[serde(rename = "k", borrow)]
    pub(crate) kind: Cow<'a, str>,
    #[serde(rename = "i", borrow)]
    pub(crate) id: Cow<'a, str>,
    #[serde(rename = "c")]
    pub(crate) created: i64,
    #[serde(rename = "u")]
    pub(crate) updated: i64,
    #[serde(rename = "e")]
    pub(crate) expire: i64,
    #[serde(rename = "d", default)]
    pub(crate) idle_deadline: Option<i64>,
    #[serde(rename = "ip", default, borrow)]
    pub(crate) ip: Cow<'a, str>,
    #[serde(rename = "ua", default, borrow)]
    pub(crate) user_agent: Cow<'a, str>,
}

/// The record's fields, read directly when `json` has the canonical shape
/// and by serde_json otherwise; `None` if it is no session record.
pub(crate) fn parse(json: &[u8]) -> Option<RecordFields<'_>> {
    read(json).or_else(|| serde_json::from_slice(json).ok())
}

/// The record's fields if `json` has the canonical shape; `None` otherwise
/// (which says nothing about whether it is valid JSON).
fn read(json: &[u8]) -> Option<RecordFields<'_>> {
    // Without a backslash or a control character anywhere (one pass the
    // compiler vectorises), every string ends at its next quote, and each
    // is valid exactly when the whole record is valid UTF-8.
    if json.iter().fold(false, |found, &b| found | (b == b'\\') | (b < 0x20)) {
        return None;
    }
    let mut cursor = Cursor(std::str::from_utf8(json).ok()?);
    cursor.expect("{\"k\":\"")?;
    let kind = cursor.string()?;
    cursor.expect(",\"i\":\"")?;
    let id = cursor.string()?;
    cursor.expect(",\"c\":")?;
    let created = cursor.integer()?;
    cursor.expect(",\"u\":")?;
    let updated = cursor.integer()?;
    cursor.expect(",\"e\":")?;
    let expire = cursor.integer()?;
    let idle_deadline = if cursor.skip(",\"d\":") {
        Some(cursor.integer()?)
    } else {
        None
    };
    let ip = if cursor.skip(",\"ip\":\"") {
        cursor.string()?
    } else {
        ""
    };
    let user_agent = if cursor.skip(",\"ua\":\"") {
        cursor.string()?
    } else {
        ""
    };
    cursor.expect("}")?;
    if !cursor.0.is_empty() {
        return None;
    }
    Some(RecordFields {
        kind: Cow::Borrowed(kind),
        id: Cow::Borrowed(id),
        created,
        updated,
        expire,
        idle_deadline,
        ip: Cow::Borrowed(ip),
        user_agent: Cow::Borrowed(user_agent),
    })
}

struct Cursor<'a>(&'a str);

impl<'a> Cursor<'a> {
    fn expect(&mut self, literal: &str) -> Option<()> {
        self.skip(literal).then_some(())
    }

    fn skip(&mut self, literal: &str) -> bool {
        match self.0.strip_prefix(literal) {
            Some(rest) => {
                self.0 = rest;
                true
            }
            None => false,
        }
    }

    /// The rest of a string whose opening quote was read, up to its closing
    /// quote (escapes were ruled out up front).
    fn string(&mut self) -> Option<&'a str> {
        let (text, rest) = self.0.split_once('"')?;
        self.0 = rest;
        Some(text)
    }

    /// A non-negative integer in JSON's spelling (no leading zero), small
    /// enough that it cannot overflow.
    fn integer(&mut self) -> Option<i64> {
        let bytes = self.0.as_bytes();
        let mut value = 0i64;
        let mut digits = 0usize;
        for &byte in bytes {
            if !byte.is_ascii_digit() {
                break;
            }
            digits += 1;
            if digits > 18 {
                return None;
            }
            value = value * 10 + i64::from(byte - b'0');
        }
        if digits == 0 || (digits > 1 && bytes[0] == b'0') {
            return None;
        }
        self.0 = &self.0[digits..];
        Some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agrees_with_serde(json: &str) {
        let fields = read(json.as_bytes()).unwrap_or_else(|| panic!("not read: {json}"));
        let reference: RecordFields<'_> = serde_json::from_str(json).expect("valid JSON");
        assert_eq!(fields, reference, "{json}");
    }

    #[test]
    fn reads_every_canonical_shape_as_serde_json_does() {
        for json in [
            r#"{"k":"s","i":"abc","c":1,"u":2,"e":3}"#,
            r#"{"k":"c","i":"6a1f","c":1764300000000,"u":1764300000001,"e":1764900000000,"d":1764400000000}"#,
            r#"{"k":"e","i":"x","c":0,"u":0,"e":9,"ip":"203.0.113.9"}"#,
            r#"{"k":"m","i":"x","c":5,"u":6,"e":7,"ua":"Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/126.0"}"#,
            r#"{"k":"p","i":"x","c":5,"u":6,"e":7,"d":6,"ip":"::1","ua":"curl/8.5 ünïcödé ☃"}"#,
            r#"{"k":"","i":"","c":0,"u":0,"e":0,"ip":"","ua":""}"#,
        ] {
            agrees_with_serde(json);
        }
    }

    #[test]
    fn what_the_store_writes_takes_the_direct_route() {
        use crate::model::SessionOrigin;
        use crate::store::SessionRecord;
        let record = |user_agent: &str| {
            SessionRecord::new(
                "6a1f00c0ffee".to_owned(),
                crate::secret::Digest::from_hex(&"ab".repeat(32)).expect("hex"),
                1_764_300_000_000,
                1_764_900_000_000,
                SessionOrigin::Server,
                "203.0.113.9".to_owned(),
                user_agent.to_owned(),
            )
        };
        for idle_deadline in [1_764_400_000_000, i64::MAX] {
            let json = record("Mozilla/5.0 (X11; Linux x86_64)").to_json(idle_deadline);
            agrees_with_serde(&json);
        }
        // A user agent with a quote is escaped: the fallback reads it.
        let json = record("say \"hi\"").to_json(i64::MAX);
        assert_eq!(read(json.as_bytes()), None);
        assert_eq!(parse(json.as_bytes()).expect("valid record").user_agent, "say \"hi\"");
    }

    #[test]
    fn leaves_everything_else_to_serde_json() {
        for json in [
            // Escapes, which serde_json writes for quotes, backslashes and
            // control characters in a user agent.
            r#"{"k":"s","i":"x","c":1,"u":2,"e":3,"ua":"say \"hi\""}"#,
            r#"{"k":"s","i":"x","c":1,"u":2,"e":3,"ua":"a\\b"}"#,
            r#"{"k":"s","i":"x","c":1,"u":2,"e":3,"ua":"\u00e9"}"#,
            // Other orders, spacing, signs, fractions, leading zeros.
            r#"{"i":"x","k":"s","c":1,"u":2,"e":3}"#,
            r#"{"k":"s","i":"x","c":1,"u":2,"e":3,"ua":"a","ip":"b"}"#,
            r#"{ "k":"s","i":"x","c":1,"u":2,"e":3}"#,
            r#"{"k":"s","i":"x","c":1,"u":2,"e":3} "#,
            r#"{"k":"s","i":"x","c":-1,"u":2,"e":3}"#,
            r#"{"k":"s","i":"x","c":1.5,"u":2,"e":3}"#,
            r#"{"k":"s","i":"x","c":01,"u":2,"e":3}"#,
            r#"{"k":"s","i":"x","c":1,"u":2,"e":1234567890123456789}"#,
            // Broken records.
            r#"{"k":"s","i":"x","c":1,"u":2}"#,
            r#"{"k":"s","i":"x","c":1,"u":2,"e":3"#,
            r#"{"k":"s","i":"x","c":1,"u":2,"e":3,"x":1}"#,
            "{\"k\":\"s\",\"i\":\"x\u{1}\",\"c\":1,\"u\":2,\"e\":3}",
            "",
        ] {
            assert_eq!(read(json.as_bytes()), None, "{json}");
        }
        // The fallback still reads what is valid.
        let escaped = parse(br#"{"k":"s","i":"x","c":1,"u":2,"e":3,"ua":"say \"hi\""}"#).expect("valid record");
        assert_eq!(escaped.user_agent, "say \"hi\"");
        let reordered = parse(br#"{"i":"x","k":"s","c":1,"u":2,"e":3}"#).expect("valid record");
        assert_eq!((&*reordered.kind, &*reordered.id), ("s", "x"));
        assert_eq!(read(b"{\"k\":\"s\",\"i\":\"\xff\",\"c\":1,\"u\":2,\"e\":3}"), None);
    }
}
