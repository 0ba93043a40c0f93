use core::fmt;
use std::collections::BTreeSet;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::TypesError;

mod hierarchy;

pub use hierarchy::ScopeHierarchy;

/// NQCHAR = %x21 / %x23-5B / %x5D-7E (RFC 6749 appendix A): printable ASCII
/// without space, `"` and `\`.
fn is_nqchar(b: u8) -> bool {
    b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b)
}

/// One scope token (RFC 6749 section 3.3: `scope-token = 1*NQCHAR`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ScopeToken(String);

impl ScopeToken {
    /// Parses one scope token.
    pub fn parse(s: &str) -> Result<Self, TypesError> {
        if s.is_empty() {
            return Err(TypesError::ScopeEmptyToken);
        }
        if s.len() > Scope::MAX_LEN {
            return Err(TypesError::ScopeTooLong);
        }
        if !s.bytes().all(is_nqchar) {
            return Err(TypesError::ScopeBadChar);
        }
        Ok(Self(s.to_owned()))
    }

    /// The token as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ScopeToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A set of scope tokens (RFC 6749 section 3.3).
///
/// The wire form is `scope-token *( SP scope-token )`; order does not matter and
/// duplicates collapse. [`Display`](fmt::Display) writes the tokens sorted and
/// joined by one space, so equal sets always print the same string. The parser
/// follows the grammar strictly: a leading, trailing or doubled space is an
/// empty token and is refused.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Scope(BTreeSet<ScopeToken>);

impl Scope {
    /// The longest scope string accepted, in bytes; bounds the parser's work.
    pub const MAX_LEN: usize = 4096;

    /// The empty set (no `scope` parameter).
    pub fn empty() -> Self {
        Self(BTreeSet::new())
    }

    /// Parses a space-delimited scope string.
    pub fn parse(s: &str) -> Result<Self, TypesError> {
        if s.len() > Self::MAX_LEN {
            return Err(TypesError::ScopeTooLong);
        }
        s.split(' ')
            .map(ScopeToken::parse)
            .collect::<Result<BTreeSet<_>, _>>()
            .map(Self)
    }

    /// Whether the set has no tokens.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many distinct tokens the set has.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether `token` is in the set.
    pub fn contains(&self, token: &str) -> bool {
        self.0.iter().any(|t| t.as_str() == token)
    }

    /// Whether every token of `self` is in `other`.
    pub fn is_subset(&self, other: &Scope) -> bool {
        self.0.is_subset(&other.0)
    }

    /// The tokens in both sets.
    pub fn intersection(&self, other: &Scope) -> Scope {
        Scope(self.0.intersection(&other.0).cloned().collect())
    }

    /// The tokens in either set.
    pub fn union(&self, other: &Scope) -> Scope {
        Scope(self.0.union(&other.0).cloned().collect())
    }

    /// The tokens of `self` missing from `other`.
    pub fn difference(&self, other: &Scope) -> Scope {
        Scope(self.0.difference(&other.0).cloned().collect())
    }

    /// Adds one token.
    pub fn insert(&mut self, token: ScopeToken) {
        self.0.insert(token);
    }

    /// The tokens, sorted.
    pub fn iter(&self) -> impl Iterator<Item = &ScopeToken> {
        self.0.iter()
    }
}

impl FromIterator<ScopeToken> for Scope {
    fn from_iter<I: IntoIterator<Item = ScopeToken>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for token in &self.0 {
            if !first {
                f.write_str(" ")?;
            }
            first = false;
            f.write_str(token.as_str())?;
        }
        Ok(())
    }
}

impl Serialize for Scope {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Scope {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        if s.is_empty() {
            return Ok(Self::empty());
        }
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_rfc_6749_section_3_3_scope_strings() {
        let scope = Scope::parse("write read read").unwrap();
        assert_eq!(scope.len(), 2);
        assert_eq!(scope.to_string(), "read write");
        assert!(scope.contains("read"));
        assert!(!scope.contains("admin"));
    }

    #[test]
    fn refuses_empty_tokens_and_characters_outside_nqchar() {
        assert_eq!(Scope::parse(""), Err(TypesError::ScopeEmptyToken));
        assert_eq!(Scope::parse(" read"), Err(TypesError::ScopeEmptyToken));
        assert_eq!(Scope::parse("read "), Err(TypesError::ScopeEmptyToken));
        assert_eq!(Scope::parse("a  b"), Err(TypesError::ScopeEmptyToken));
        assert_eq!(Scope::parse("a\"b"), Err(TypesError::ScopeBadChar));
        assert_eq!(Scope::parse("a\\b"), Err(TypesError::ScopeBadChar));
        assert_eq!(Scope::parse("a\tb"), Err(TypesError::ScopeBadChar));
        assert_eq!(
            Scope::parse(&"a".repeat(Scope::MAX_LEN + 1)),
            Err(TypesError::ScopeTooLong)
        );
    }

    #[test]
    fn set_operations() {
        let granted = Scope::parse("a b c").unwrap();
        let asked = Scope::parse("b d").unwrap();
        assert!(!asked.is_subset(&granted));
        assert_eq!(asked.intersection(&granted).to_string(), "b");
        assert_eq!(asked.union(&granted).to_string(), "a b c d");
        assert_eq!(asked.difference(&granted).to_string(), "d");
        assert!(Scope::empty().is_subset(&granted));
    }

    #[test]
    fn serde_uses_the_space_delimited_form() {
        let scope = Scope::parse("b a").unwrap();
        assert_eq!(serde_json::to_string(&scope).unwrap(), "\"a b\"");
        let back: Scope = serde_json::from_str("\"a b\"").unwrap();
        assert_eq!(back, scope);
        let empty: Scope = serde_json::from_str("\"\"").unwrap();
        assert!(empty.is_empty());
    }

    proptest! {
        #[test]
        fn display_then_parse_round_trips(tokens in proptest::collection::btree_set("[!#-\\[\\]-~]{1,12}", 1..8)) {
            let scope: Scope = tokens.iter().map(|t| ScopeToken::parse(t).unwrap()).collect();
            let printed = scope.to_string();
            prop_assert_eq!(Scope::parse(&printed).unwrap(), scope);
        }

        #[test]
        fn parse_never_panics_and_accepted_input_round_trips(s in "\\PC{0,64}") {
            if let Ok(scope) = Scope::parse(&s) {
                prop_assert_eq!(Scope::parse(&scope.to_string()).unwrap(), scope);
            }
        }
    }
}
