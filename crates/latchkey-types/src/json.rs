//! Strict JSON: one object, bounded size, no member name twice.
//!
//! RFC 8259 section 4 says only that "the names within an object SHOULD be
//! unique", and that when they are not, "the behavior of software that
//! receives such an object is unpredictable": some parsers keep the last
//! member, some the first, some all of them. A document that two readers see
//! differently is a document an attacker can aim at the weaker reader: a
//! client registration (RFC 7591 section 3.1) whose `redirect_uris` the policy
//! checks in one copy while another component stores the other, or
//! authorization-server and protected-resource metadata (RFC 8414 section 3.2,
//! RFC 9728 section 3.2) whose `issuer`, `jwks_uri` or `resource` is compared
//! in one copy and used in the other. None of these RFCs needs duplicates, so
//! Latchkey refuses every object that names a member twice, at any depth.
//! JOSE headers have the same rule as a MUST (RFC 7515 section 4: "The Header
//! Parameter names within the JOSE Header MUST be unique"), and JWT claims
//! too (RFC 7519 section 4); `latchkey-jose` and `latchkey-token` read those
//! into borrowed, typed structures that refuse duplicates themselves.
//!
//! [`parse_object`] is the one entry point for bytes from elsewhere;
//! [`StrictValue`] is the same reader as a [`Deserialize`] impl, for types
//! whose own `Deserialize` must refuse duplicates too.
//!
//! Bounds: the size is checked before any byte is parsed, and nesting is
//! bounded by `serde_json`'s recursion limit (128), so deep input is an error,
//! not a stack overflow. Numbers are read with `serde_json`'s
//! `float_roundtrip` feature, which this crate turns on: a number kept in an
//! unknown member is written back out as exactly the value that was read.

use core::cell::Cell;
use core::fmt;

use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// Why bytes were not one strict JSON object.
///
/// Deliberately not `#[non_exhaustive]`: each caller maps these to its own
/// error enum in an exhaustive `match`, so that a new variant cannot ship
/// without every caller choosing what it means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JsonError {
    /// The bytes were longer than the caller's limit (checked before parsing).
    #[error("json document is too large")]
    TooLarge,
    /// The bytes were not one well-formed JSON text (RFC 8259 section 2), or
    /// nested deeper than the recursion limit.
    #[error("json document is malformed")]
    Malformed,
    /// The JSON text was not an object.
    #[error("json document is not an object")]
    NotAnObject,
    /// An object, at any depth, named the same member twice (RFC 8259 section 4).
    #[error("json document repeats a member name")]
    DuplicateMember,
}

/// Parses `bytes` as one JSON object of at most `max_len` bytes, refusing a
/// member name repeated in any object at any depth (see the
/// [module documentation](self)).
///
/// Names compare after escapes are decoded: `{"a":1,"\u0061":2}` repeats `a`.
/// Anything after the object other than white space is [`JsonError::Malformed`].
///
/// ```
/// use latchkey_types::json::{JsonError, parse_object};
///
/// let object = parse_object(br#"{"issuer":"https://as.example"}"#, 1024)?;
/// assert_eq!(object["issuer"], "https://as.example");
/// assert_eq!(
///     parse_object(br#"{"issuer":"https://as.example","issuer":"https://evil.example"}"#, 1024),
///     Err(JsonError::DuplicateMember)
/// );
/// # Ok::<(), JsonError>(())
/// ```
pub fn parse_object(bytes: &[u8], max_len: usize) -> Result<Map<String, Value>, JsonError> {
    if bytes.len() > max_len {
        return Err(JsonError::TooLarge);
    }
    let duplicate = Cell::new(false);
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = match (Strict {
        duplicate: &duplicate,
    })
    .deserialize(&mut deserializer)
    {
        Ok(value) => value,
        Err(_) if duplicate.get() => return Err(JsonError::DuplicateMember),
        Err(_) => return Err(JsonError::Malformed),
    };
    deserializer.end().map_err(|_| JsonError::Malformed)?;
    match value {
        Value::Object(object) => Ok(object),
        _ => Err(JsonError::NotAnObject),
    }
}

/// A [`serde_json::Value`] whose objects never repeat a member name: as a
/// [`Deserialize`] impl, a repeated name is a custom error ("duplicate
/// member") of whatever deserializer reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct StrictValue(pub Value);

impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let duplicate = Cell::new(false);
        Strict {
            duplicate: &duplicate,
        }
        .deserialize(deserializer)
        .map(StrictValue)
    }
}

// ---------------------------------------------------------------------------
// Helpers.

/// Builds a [`Value`] as `serde_json` does, but fails on a repeated member
/// name and records that it was a duplicate (so that [`parse_object`] can tell
/// it from a syntax error without reading error messages).
#[derive(Clone, Copy)]
struct Strict<'a> {
    duplicate: &'a Cell<bool>,
}

impl<'de> DeserializeSeed<'de> for Strict<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        // Non-finite values never come out of JSON text; `from` makes them null.
        Ok(Value::from(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                self.duplicate.set(true);
                return Err(de::Error::custom("duplicate member"));
            }
            let value = map.next_value_seed(self)?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_is_checked_before_parsing() {
        // Not JSON at all, but too large is what gets reported.
        assert_eq!(parse_object(b"xxxxxxxxxxx", 10), Err(JsonError::TooLarge));
        assert!(parse_object(b"{\"a\":1}", 7).is_ok());
        assert_eq!(parse_object(b"{\"a\":1}", 6), Err(JsonError::TooLarge));
    }

    #[test]
    fn rfc_8259_section_2_the_text_is_one_object_and_nothing_else() {
        for malformed in [
            &b""[..],
            b"{\"a\":1} x",
            b"{\"a\":1}{}",
            b"{\"a\":}",
            b"{'a':1}",
            b"\xff",
            b"{\"a\":1e400}",
        ] {
            assert_eq!(
                parse_object(malformed, 100),
                Err(JsonError::Malformed),
                "{malformed:?}"
            );
        }
        for not_an_object in [&b"[]"[..], b"\"x\"", b"null", b"1", b"true"] {
            assert_eq!(
                parse_object(not_an_object, 100),
                Err(JsonError::NotAnObject),
                "{not_an_object:?}"
            );
        }
        // White space around the object is allowed (RFC 8259 section 2).
        assert_eq!(parse_object(b" \n{}\t ", 100), Ok(Map::new()));
    }

    #[test]
    fn rfc_8259_section_4_duplicate_members_are_refused_at_any_depth() {
        for duplicated in [
            &br#"{"a":1,"a":1}"#[..],
            br#"{"a":1,"a":2}"#,
            br#"{"a":{"b":[{"c":1,"c":2}]}}"#,
            // Escapes are decoded before comparing: "\u0061" is "a".
            br#"{"a":1,"\u0061":2}"#,
        ] {
            assert_eq!(
                parse_object(duplicated, 100),
                Err(JsonError::DuplicateMember),
                "{duplicated:?}"
            );
        }
        let object = parse_object(br#"{"a":{"b":1},"b":[1,2.5,true,null,"s"]}"#, 100).unwrap();
        assert_eq!(object.len(), 2);
        assert_eq!(object["b"][1], 2.5);
    }

    #[test]
    fn rfc_8259_section_4_strict_value_refuses_duplicates_through_serde() {
        let error = serde_json::from_str::<StrictValue>(r#"{"a":[{"b":1,"b":1}]}"#).unwrap_err();
        assert!(error.to_string().contains("duplicate member"), "{error}");
        let StrictValue(value) = serde_json::from_str(r#"{"a":[{"b":1}],"c":"d"}"#).unwrap();
        assert_eq!(value, serde_json::json!({"a":[{"b":1}],"c":"d"}));
    }

    #[test]
    fn deep_nesting_is_bounded_not_a_stack_overflow() {
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(10_000), "]".repeat(10_000));
        assert_eq!(
            parse_object(deep.as_bytes(), 100_000),
            Err(JsonError::Malformed)
        );
    }

    #[test]
    fn numbers_write_back_as_the_value_read() {
        // The pr_metadata fuzz target found this drifting by one ulp without
        // `float_roundtrip`.
        let object = parse_object(br#"{"n":111111119119111111111}"#, 100).unwrap();
        let again = parse_object(serde_json::to_string(&object).unwrap().as_bytes(), 100).unwrap();
        assert_eq!(again, object);
    }

    #[test]
    fn messages_are_lowercase_without_trailing_period() {
        for error in [
            JsonError::TooLarge,
            JsonError::Malformed,
            JsonError::NotAnObject,
            JsonError::DuplicateMember,
        ] {
            let text = error.to_string();
            assert!(!text.ends_with('.'), "{text}");
            assert_eq!(text, text.to_lowercase());
        }
    }
}
