//! Strict JSON: one object, bounded size, no repeated member names.

use core::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use crate::RegistrationError;

/// Parses `body` as one JSON object of at most `max_bytes` bytes.
///
/// The size is checked before any parsing. A member name repeated in any
/// object, at any depth, is refused: RFC 8259 section 4 leaves duplicates'
/// meaning undefined, and two parsers that pick different duplicates see two
/// different registrations. Nesting is bounded by `serde_json`'s recursion limit.
pub(crate) fn parse_object(
    body: &[u8],
    max_bytes: usize,
) -> Result<Map<String, Value>, RegistrationError> {
    if body.len() > max_bytes {
        return Err(RegistrationError::BodyTooLarge);
    }
    let value = match serde_json::from_slice::<StrictValue>(body) {
        Ok(StrictValue(value)) => value,
        // Our visitor's only custom error is the duplicate member.
        Err(error) if error.classify() == serde_json::error::Category::Data => {
            return Err(RegistrationError::DuplicateMember);
        }
        Err(_) => return Err(RegistrationError::MalformedJson),
    };
    match value {
        Value::Object(object) => Ok(object),
        _ => Err(RegistrationError::NotAnObject),
    }
}

/// A `serde_json::Value` whose objects never repeat a member name.
pub(crate) struct StrictValue(pub(crate) Value);

impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(StrictValue)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a json value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
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
        while let Some(StrictValue(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(de::Error::custom("duplicate member"));
            }
            let StrictValue(value) = map.next_value()?;
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
        assert_eq!(
            parse_object(b"xxxxxxxxxxx", 10),
            Err(RegistrationError::BodyTooLarge)
        );
        assert!(parse_object(b"{\"a\":1}", 7).is_ok());
        assert_eq!(
            parse_object(b"{\"a\":1}", 6),
            Err(RegistrationError::BodyTooLarge)
        );
    }

    #[test]
    fn rfc_7591_section_3_1_body_is_one_json_object() {
        assert_eq!(
            parse_object(b"", 100),
            Err(RegistrationError::MalformedJson)
        );
        assert_eq!(
            parse_object(b"{\"a\":1} x", 100),
            Err(RegistrationError::MalformedJson)
        );
        assert_eq!(
            parse_object(b"{\"a\":1}{}", 100),
            Err(RegistrationError::MalformedJson)
        );
        assert_eq!(
            parse_object(b"[]", 100),
            Err(RegistrationError::NotAnObject)
        );
        assert_eq!(
            parse_object(b"\"x\"", 100),
            Err(RegistrationError::NotAnObject)
        );
        assert_eq!(
            parse_object(b"null", 100),
            Err(RegistrationError::NotAnObject)
        );
    }

    #[test]
    fn duplicate_members_are_refused_at_any_depth() {
        assert_eq!(
            parse_object(br#"{"a":1,"a":1}"#, 100),
            Err(RegistrationError::DuplicateMember)
        );
        assert_eq!(
            parse_object(br#"{"a":{"b":[{"c":1,"c":2}]}}"#, 100),
            Err(RegistrationError::DuplicateMember)
        );
        // Escapes are decoded before comparing: "\u0061" is "a".
        assert_eq!(
            parse_object(br#"{"a":1,"\u0061":2}"#, 100),
            Err(RegistrationError::DuplicateMember)
        );
        let object = parse_object(br#"{"a":{"b":1},"b":[1,2.5,true,null,"s"]}"#, 100).unwrap();
        assert_eq!(object.len(), 2);
    }

    #[test]
    fn deep_nesting_is_bounded_not_a_stack_overflow() {
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(10_000), "]".repeat(10_000));
        assert_eq!(
            parse_object(deep.as_bytes(), 100_000),
            Err(RegistrationError::MalformedJson)
        );
    }
}
