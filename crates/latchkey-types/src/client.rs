use core::fmt;

use serde::{Deserialize, Deserializer, Serialize};

use crate::TypesError;

/// VSCHAR = %x20-7E (RFC 6749 appendix A).
fn is_vschar(b: u8) -> bool {
    (0x20..=0x7e).contains(&b)
}

/// A client identifier (RFC 6749 section 2.2; grammar `*VSCHAR`, appendix A.1).
///
/// Latchkey additionally refuses the empty string and anything longer than
/// [`ClientId::MAX_LEN`]. A client id may be an `https` URL naming a client ID
/// metadata document; deciding that is `latchkey-registration`'s job.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct ClientId(String);

impl ClientId {
    /// The longest client id accepted, in bytes (a metadata-document URL fits).
    pub const MAX_LEN: usize = 2048;

    /// Parses a client id, enforcing RFC 6749 appendix A.1.
    pub fn parse(s: &str) -> Result<Self, TypesError> {
        if s.is_empty() {
            return Err(TypesError::ClientIdEmpty);
        }
        if s.len() > Self::MAX_LEN {
            return Err(TypesError::ClientIdTooLong);
        }
        if !s.bytes().all(is_vschar) {
            return Err(TypesError::ClientIdBadChar);
        }
        Ok(Self(s.to_owned()))
    }

    /// The client id as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ClientId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// The resource owner a grant speaks for: the JWT `sub` claim (RFC 9068 section 2.2).
///
/// Non-empty, at most [`Subject::MAX_LEN`] bytes of VSCHAR.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Subject(String);

impl Subject {
    /// The longest subject accepted, in bytes.
    pub const MAX_LEN: usize = 255;

    /// Parses a subject identifier.
    pub fn parse(s: &str) -> Result<Self, TypesError> {
        if s.is_empty() {
            return Err(TypesError::SubjectEmpty);
        }
        if s.len() > Self::MAX_LEN {
            return Err(TypesError::SubjectTooLong);
        }
        if !s.bytes().all(is_vschar) {
            return Err(TypesError::SubjectBadChar);
        }
        Ok(Self(s.to_owned()))
    }

    /// The subject as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Subject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_id_follows_rfc_6749_appendix_a_1() {
        assert_eq!(
            ClientId::parse("s6BhdRkqt3").unwrap().as_str(),
            "s6BhdRkqt3"
        );
        assert_eq!(
            ClientId::parse("https://app.example/client.json")
                .unwrap()
                .to_string(),
            "https://app.example/client.json"
        );
        assert_eq!(ClientId::parse(""), Err(TypesError::ClientIdEmpty));
        assert_eq!(ClientId::parse("a\nb"), Err(TypesError::ClientIdBadChar));
        assert_eq!(
            ClientId::parse("caf\u{e9}"),
            Err(TypesError::ClientIdBadChar)
        );
        let long = "a".repeat(ClientId::MAX_LEN + 1);
        assert_eq!(ClientId::parse(&long), Err(TypesError::ClientIdTooLong));
        assert!(ClientId::parse(&long[1..]).is_ok());
    }

    #[test]
    fn subject_rejects_empty_long_and_control_characters() {
        assert_eq!(Subject::parse("alice").unwrap().as_str(), "alice");
        assert_eq!(Subject::parse(""), Err(TypesError::SubjectEmpty));
        assert_eq!(Subject::parse("a\u{7f}"), Err(TypesError::SubjectBadChar));
        assert_eq!(
            Subject::parse(&"x".repeat(256)),
            Err(TypesError::SubjectTooLong)
        );
    }

    #[test]
    fn deserializing_applies_the_same_rules() {
        assert!(serde_json::from_str::<ClientId>("\"\"").is_err());
        assert_eq!(
            serde_json::from_str::<ClientId>("\"abc\"")
                .unwrap()
                .as_str(),
            "abc"
        );
        assert!(serde_json::from_str::<Subject>("\"\\u0000\"").is_err());
    }
}
