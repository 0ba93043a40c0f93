use serde_json::Value;

use crate::{JoseError, PublicJwk};

/// A JWK Set of verification keys (RFC 7517 section 5).
///
/// [`Jwks::parse`] keeps the keys Latchkey can verify with and skips the others
/// (other key types, curves or algorithms, `use` other than `sig`, missing or
/// out-of-range members), as RFC 7517 section 5 says implementations SHOULD. It
/// refuses the whole set if any key carries private members: a published private
/// key is an incident, not something to skip quietly. Key ids of the kept keys must
/// be unique, so [`Jwks::find`] is never ambiguous (section 4.5).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Jwks {
    keys: Vec<PublicJwk>,
}

impl Jwks {
    /// The largest JWK Set document accepted, in bytes.
    pub const MAX_LEN: usize = 64 * 1024;
    /// The most keys a set may hold.
    pub const MAX_KEYS: usize = 64;

    /// A set of the given keys; key ids must be unique.
    pub fn new(keys: Vec<PublicJwk>) -> Result<Self, JoseError> {
        if keys.len() > Self::MAX_KEYS {
            return Err(JoseError::TooManyKeys);
        }
        for (i, key) in keys.iter().enumerate() {
            let Some(kid) = key.kid() else { continue };
            if keys
                .iter()
                .skip(i + 1)
                .any(|other| other.kid() == Some(kid))
            {
                return Err(JoseError::DuplicateKeyId);
            }
        }
        Ok(Self { keys })
    }

    /// Parses a JWK Set document: a JSON object with a `keys` array (RFC 7517 section 5.1).
    pub fn parse(json: &[u8]) -> Result<Self, JoseError> {
        if json.len() > Self::MAX_LEN {
            return Err(JoseError::MalformedJwks);
        }
        let value: Value = serde_json::from_slice(json).map_err(|_| JoseError::MalformedJwks)?;
        let Some(Value::Array(entries)) = value.get("keys") else {
            return Err(JoseError::MalformedJwks);
        };
        if entries.len() > Self::MAX_KEYS {
            return Err(JoseError::TooManyKeys);
        }
        let mut keys = Vec::with_capacity(entries.len());
        for entry in entries {
            match PublicJwk::from_json(entry) {
                Ok(key) => keys.push(key),
                Err(JoseError::PrivateKeyMaterial) => return Err(JoseError::PrivateKeyMaterial),
                Err(_) => {}
            }
        }
        Self::new(keys)
    }

    /// The set as a JSON object `{"keys": [...]}`.
    pub fn to_json(&self) -> Value {
        let keys = self.keys.iter().map(PublicJwk::to_json).collect();
        serde_json::json!({ "keys": Value::Array(keys) })
    }

    /// The key with this key id.
    pub fn find(&self, kid: &str) -> Option<&PublicJwk> {
        self.keys.iter().find(|key| key.kid() == Some(kid))
    }

    /// Every key, in document order.
    pub fn keys(&self) -> &[PublicJwk] {
        &self.keys
    }

    /// How many keys the set holds.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the set holds no key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Algorithm;
    use crate::jwk::test_vectors::{rfc7515_es256_public, rfc8037_public};
    use serde_json::json;

    #[test]
    fn rfc_7517_section_5_skips_keys_it_cannot_use() {
        let mut ec = rfc7515_es256_public();
        ec["kid"] = json!("ec");
        let mut ed = rfc8037_public();
        ed["kid"] = json!("ed");
        let mut rsa = crate::jwk::test_vectors::rfc7515_rs256_public();
        rsa["kid"] = json!("rsa");
        let mut weak = crate::jwk::test_vectors::rsa_1024_public();
        weak["kid"] = json!("weak");
        let doc = json!({"keys": [
            {"kty":"RSA","n":"AQAB","e":"AQAB","kid":"tiny"},
            weak,
            rsa,
            ec,
            {"kty":"EC","crv":"P-384","x":"AA","y":"AA","kid":"p384"},
            {"kty":"oct","kid":"oct"},
            ed,
            {"kty":"EC","crv":"P-256","kid":"broken"},
            {"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","use":"enc","kid":"enc"},
        ]});
        let jwks = Jwks::parse(doc.to_string().as_bytes()).unwrap();
        assert_eq!(jwks.len(), 3);
        assert!(jwks.find("weak").is_none(), "1024-bit keys are skipped");
        assert!(jwks.find("tiny").is_none());
        assert_eq!(
            jwks.find("ec").unwrap().thumbprint(),
            PublicJwk::from_json(&rfc7515_es256_public())
                .unwrap()
                .thumbprint()
        );
        assert!(jwks.find("ed").is_some());
        assert_eq!(jwks.find("rsa").unwrap().algorithm(), Algorithm::Rs256);
        assert_eq!(
            Jwks::parse(jwks.to_json().to_string().as_bytes()).unwrap(),
            jwks
        );
    }

    #[test]
    fn refuses_private_keys_duplicates_and_malformed_sets() {
        let mut private = rfc8037_public();
        private["d"] = json!("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A");
        let doc = json!({"keys": [private]});
        assert_eq!(
            Jwks::parse(doc.to_string().as_bytes()).unwrap_err(),
            JoseError::PrivateKeyMaterial
        );

        let mut a = rfc8037_public();
        a["kid"] = json!("same");
        let mut b = rfc7515_es256_public();
        b["kid"] = json!("same");
        let doc = json!({"keys": [a, b]});
        assert_eq!(
            Jwks::parse(doc.to_string().as_bytes()).unwrap_err(),
            JoseError::DuplicateKeyId
        );

        for bad in [&b"[]"[..], b"{}", b"{\"keys\":{}}", b"not json"] {
            assert_eq!(Jwks::parse(bad).unwrap_err(), JoseError::MalformedJwks);
        }
        let too_many = json!({"keys": vec![rfc8037_public(); Jwks::MAX_KEYS + 1]});
        assert_eq!(
            Jwks::parse(too_many.to_string().as_bytes()).unwrap_err(),
            JoseError::TooManyKeys
        );
        assert_eq!(
            Jwks::parse(&vec![b' '; Jwks::MAX_LEN + 1]).unwrap_err(),
            JoseError::MalformedJwks
        );
    }
}
