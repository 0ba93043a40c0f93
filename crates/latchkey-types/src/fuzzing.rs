//! Fuzz-target bodies (STYLE.md section 9): the `fuzz/` binaries call these.

use core::cell::Cell;
use core::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use crate::json::{JsonError, parse_object};

/// The limit the `strict_json` body parses under: small enough that the
/// fuzzer reaches it.
const LIMIT: usize = 4096;

/// `strict_json`: the strict reader agrees with `serde_json`'s own parser on
/// every input it accepts (the same object, with as many members as the text
/// names, so no name was repeated) and never refuses as malformed what
/// `serde_json` reads; an accepted object written back out reads back as
/// itself.
pub fn strict_json(data: &[u8]) {
    let plain = serde_json::from_slice::<Value>(data);
    match parse_object(data, LIMIT) {
        Ok(object) => {
            assert!(data.len() <= LIMIT);
            let object = Value::Object(object);
            assert_eq!(plain.as_ref().ok(), Some(&object));
            assert_eq!(members_in_text(data), Some(members_in_value(&object)));
            let again = serde_json::to_vec(&object).expect("a value always serializes");
            assert_eq!(
                parse_object(&again, usize::MAX).map(Value::Object),
                Ok(object)
            );
        }
        Err(JsonError::TooLarge) => assert!(data.len() > LIMIT),
        Err(JsonError::Malformed) => assert!(plain.is_err()),
        Err(JsonError::NotAnObject) => {
            assert!(plain.is_ok_and(|value| !value.is_object()));
        }
        // The duplicate may come before a syntax error `serde_json` reports.
        Err(JsonError::DuplicateMember) => {}
    }
}

/// Runs `body` over every file in `fuzz/corpus/<target>/` and
/// `fuzz/regressions/<target>/` of this workspace and returns how many it ran
/// (a missing directory counts as empty): the replay by which each crate's
/// `cargo test` runs its fuzz bodies on stable (STYLE.md section 9), kept in
/// one place. Test support only; no fuzz body calls it.
pub fn replay(target: &str, body: fn(&[u8])) -> usize {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut count = 0;
    for dir in [
        root.join("corpus").join(target),
        root.join("regressions").join(target),
    ] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("a committed corpus directory lists").path();
            body(&std::fs::read(&path).expect("a committed corpus file reads"));
            count += 1;
        }
    }
    count
}

/// How many object members the JSON text names, repeated names included.
fn members_in_text(data: &[u8]) -> Option<usize> {
    let count = Cell::new(0);
    let mut deserializer = serde_json::Deserializer::from_slice(data);
    Count(&count).deserialize(&mut deserializer).ok()?;
    Some(count.get())
}

/// How many object members a value holds, at any depth.
fn members_in_value(value: &Value) -> usize {
    match value {
        Value::Array(items) => items.iter().map(members_in_value).sum(),
        Value::Object(object) => {
            object.len() + object.values().map(members_in_value).sum::<usize>()
        }
        _ => 0,
    }
}

#[derive(Clone, Copy)]
struct Count<'a>(&'a Cell<usize>);

impl<'de> DeserializeSeed<'de> for Count<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Count<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(self)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_key::<IgnoredAny>()?.is_some() {
            self.0.set(self.0.get().saturating_add(1));
            map.next_value_seed(self)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::replay;

    #[test]
    fn replays_strict_json_corpus() {
        assert!(replay("strict_json", super::strict_json) >= 6);
    }

    /// JSON text whose objects draw their names from `a`, `b` and `\u0061`
    /// (another spelling of `a`), so that duplicates are common.
    fn json_text() -> impl Strategy<Value = String> {
        let leaf = prop::sample::select(vec!["1", "-0.5", "1e300", "true", "null", "\"s\""])
            .prop_map(str::to_owned);
        leaf.prop_recursive(4, 32, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4)
                    .prop_map(|items| format!("[{}]", items.join(","))),
                prop::collection::vec(
                    (
                        prop::sample::select(vec!["\"a\"", "\"b\"", "\"\\u0061\""]),
                        inner
                    ),
                    0..4
                )
                .prop_map(|members| {
                    let members: Vec<String> =
                        members.iter().map(|(k, v)| format!("{k}:{v}")).collect();
                    format!("{{{}}}", members.join(","))
                }),
            ]
        })
    }

    proptest! {
        /// A small stand-in for the fuzzer that runs with every `cargo test`:
        /// JSON-shaped bytes, and JSON documents with duplicates and nesting.
        #[test]
        fn strict_json_holds_on_json_shaped_text(
            text in r#"[{}\[\]",: abn0-9.eE+\-\\u]{0,64}"#,
        ) {
            super::strict_json(text.as_bytes());
        }

        #[test]
        fn strict_json_holds_on_json_documents(text in json_text()) {
            super::strict_json(text.as_bytes());
        }
    }
}
