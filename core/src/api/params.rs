//! Request body parsing: a JSON object with known fields of known types.
//! Anything else is a 400 that changes nothing.

use serde_json::{Map, Value};

use crate::error::Error;

/// The parsed body of one request.
#[derive(Debug)]
pub struct Params(Map<String, Value>);

impl Params {
    /// Parses `body` (empty means no parameters). Keys other than `known`
    /// are ignored, as Appwrite does, so that a newer SDK sending a new
    /// parameter keeps working; they are logged at debug level (names only,
    /// truncated). Duplicate keys and malformed JSON are refused.
    pub fn parse(body: &[u8], known: &[&str]) -> Result<Self, Error> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Params(Map::new()));
        }
        let UniqueKeys(map) = serde_json::from_slice(body).map_err(|e| {
            if e.to_string().starts_with(DUPLICATE) {
                Error::argument("Invalid request body: a parameter appears twice.")
            } else {
                Error::argument("Invalid request body: must be a JSON object.")
            }
        })?;
        let mut map = map;
        let before = map.len();
        let mut first_unknown = None;
        map.retain(|key, _| {
            let is_known = known.contains(&key.as_str());
            if !is_known && first_unknown.is_none() {
                first_unknown = Some(truncate(key));
            }
            is_known
        });
        if let Some(first) = first_unknown {
            // One line per request, whatever the number of keys.
            let ignored = before - map.len();
            tracing::debug!(ignored, first = ?first, "ignoring unknown body parameters");
        }
        Ok(Params(map))
    }

    /// A required string.
    pub fn required_str(&self, name: &str) -> Result<&str, Error> {
        self.optional_str(name)?
            .ok_or_else(|| Error::argument(format!("Param \"{name}\" is not optional.")))
    }

    /// An optional string (`null` counts as absent).
    pub fn optional_str(&self, name: &str) -> Result<Option<&str>, Error> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(Error::argument(format!(
                "Invalid `{name}` param: Value must be a valid string."
            ))),
        }
    }

    /// An optional integer within `range`.
    pub fn optional_int(&self, name: &str, range: std::ops::RangeInclusive<u64>) -> Result<Option<u64>, Error> {
        let out_of_range = || {
            Error::argument(format!(
                "Invalid `{name}` param: Value must be a valid range between {} and {}",
                range.start(),
                range.end()
            ))
        };
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => {
                let v = n.as_u64().ok_or_else(out_of_range)?;
                if range.contains(&v) {
                    Ok(Some(v))
                } else {
                    Err(out_of_range())
                }
            }
            Some(_) => Err(Error::argument(format!(
                "Invalid `{name}` param: Value must be a valid integer."
            ))),
        }
    }

    /// An optional boolean.
    pub fn optional_bool(&self, name: &str) -> Result<Option<bool>, Error> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(Error::argument(format!(
                "Invalid `{name}` param: Value must be a valid boolean."
            ))),
        }
    }
}

const DUPLICATE: &str = "duplicate key";

/// A JSON object whose keys are all different: with two `secret`s, which
/// one counts would depend on the parser, so such a body is refused.
struct UniqueKeys(Map<String, Value>);

impl<'de> serde::Deserialize<'de> for UniqueKeys {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = UniqueKeys;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut access: A) -> Result<UniqueKeys, A::Error> {
                let mut map = Map::new();
                while let Some((key, value)) = access.next_entry::<String, Value>()? {
                    if map.insert(key, value).is_some() {
                        return Err(serde::de::Error::custom(DUPLICATE));
                    }
                }
                Ok(UniqueKeys(map))
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

fn truncate(text: &str) -> String {
    text.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsing_rules() {
        assert!(Params::parse(b"", &[]).is_ok());
        assert!(Params::parse(b"{}", &[]).is_ok());
        assert!(Params::parse(b"[]", &[]).is_err());
        // Unknown keys are ignored (a newer SDK's parameter), never read.
        let p = Params::parse(br#"{"x": 1, "length": 8}"#, &["length"]).unwrap();
        assert!(p.optional_int("x", 0..=9).unwrap().is_none());
        assert_eq!(p.optional_int("length", 4..=128).unwrap(), Some(8));
        // Duplicates are refused, also of an unknown key.
        assert!(Params::parse(br#"{"x": 1, "x": 2}"#, &[]).is_err());
        let p = Params::parse(br#"{"length": 8, "expire": "9"}"#, &["length", "expire"]).unwrap();
        assert_eq!(p.optional_int("length", 4..=128).unwrap(), Some(8));
        assert!(p.optional_int("expire", 60..=100).is_err());
        let p = Params::parse(br#"{"length": 8.5}"#, &["length"]).unwrap();
        assert!(p.optional_int("length", 4..=128).is_err());
        let p = Params::parse(br#"{"length": -1}"#, &["length"]).unwrap();
        assert!(p.optional_int("length", 4..=128).is_err());
        let twice = Params::parse(br#"{"secret": "a", "secret": "b"}"#, &["secret"]).unwrap_err();
        assert!(twice.public_message().contains("twice"), "{twice:?}");
        // Nested objects may repeat keys of the outer one.
        assert!(Params::parse(br#"{"a": {"a": 1}}"#, &["a"]).is_ok());
        assert!(Params::parse(br#"{"a": 1} x"#, &["a"]).is_err());
    }
}
