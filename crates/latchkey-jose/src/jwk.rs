use core::fmt;

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, ED25519, ParsedPublicKey};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::{Algorithm, JoseError, JwkThumbprint, b64};

/// The longest `kid` accepted in a JWK or a JWS header, in bytes.
pub const MAX_KID_LEN: usize = 256;

/// A public JSON Web Key (RFC 7517 section 4) Latchkey can verify with: an EC P-256
/// key (RFC 7518 section 6.2.1) or an OKP Ed25519 key (RFC 8037 section 2).
///
/// The key is parsed once, when the JWK is read, into aws-lc's verification form,
/// so [`PublicJwk::verify`] never re-parses it. Parsing validates the key: an EC
/// point must lie on P-256 and both coordinates must be exactly 32 bytes
/// (RFC 7518 section 6.2.1.2 and 6.2.1.3).
#[derive(Clone)]
pub struct PublicJwk {
    material: KeyMaterial,
    kid: Option<String>,
    alg_member: bool,
    use_sig: bool,
    parsed: ParsedPublicKey,
}

impl PublicJwk {
    /// Reads a public JWK from a JSON object.
    ///
    /// Refuses any private member (`d`, `p`, `q`, `dp`, `dq`, `qi`, `oth`, `k`;
    /// RFC 7518 section 6.2.2, 6.3.2 and 6.4) with [`JoseError::PrivateKeyMaterial`],
    /// any `kty` other than `EC` and `OKP`, any curve other than P-256 and Ed25519,
    /// an `alg` member naming another algorithm than the key's, and a `use` member
    /// other than `sig` (RFC 7517 section 4.2).
    pub fn from_json(value: &Value) -> Result<Self, JoseError> {
        let Value::Object(members) = value else {
            return Err(JoseError::MalformedJwk);
        };
        if PRIVATE_MEMBERS.iter().any(|m| members.contains_key(*m)) {
            return Err(JoseError::PrivateKeyMaterial);
        }
        let kty = string_member(members, "kty")?.ok_or(JoseError::MalformedJwk)?;
        let crv = string_member(members, "crv")?;
        let material = match (kty, crv) {
            ("EC", Some("P-256")) => KeyMaterial::P256 {
                x: coordinate(members, "x")?,
                y: coordinate(members, "y")?,
            },
            ("OKP", Some("Ed25519")) => KeyMaterial::Ed25519 {
                x: coordinate(members, "x")?,
            },
            ("EC" | "OKP", _) => return Err(JoseError::UnsupportedCurve),
            _ => return Err(JoseError::UnsupportedKeyType),
        };
        let alg_member = match string_member(members, "alg")? {
            None => false,
            Some(alg) if Algorithm::parse(alg)? == material.algorithm() => true,
            Some(_) => return Err(JoseError::JwkAlgorithmMismatch),
        };
        let use_sig = match string_member(members, "use")? {
            None => false,
            Some("sig") => true,
            Some(_) => return Err(JoseError::KeyNotForSignature),
        };
        let kid = match string_member(members, "kid")? {
            None => None,
            Some(kid) if kid.len() <= MAX_KID_LEN => Some(kid.to_owned()),
            Some(_) => return Err(JoseError::MalformedJwk),
        };
        let parsed = material.parse()?;
        Ok(Self {
            material,
            kid,
            alg_member,
            use_sig,
            parsed,
        })
    }

    /// The JWK as a JSON object: the required members, then `kid`, `alg` and `use`
    /// when set.
    pub fn to_json(&self) -> Value {
        let mut members = Map::new();
        for (name, value) in self.material.required_members() {
            members.insert(name.to_owned(), Value::String(value));
        }
        if let Some(kid) = &self.kid {
            members.insert("kid".to_owned(), Value::String(kid.clone()));
        }
        if self.alg_member {
            members.insert("alg".to_owned(), Value::from(self.algorithm().as_str()));
        }
        if self.use_sig {
            members.insert("use".to_owned(), Value::from("sig"));
        }
        Value::Object(members)
    }

    /// The key id, if the JWK has one (RFC 7517 section 4.5).
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The one algorithm this key verifies.
    pub fn algorithm(&self) -> Algorithm {
        self.material.algorithm()
    }

    /// The JWK SHA-256 thumbprint, base64url-encoded (RFC 7638 section 3): the hash of
    /// the required members in lexicographic order, without whitespace.
    /// RFC 7638 section 3.2 lists them: `crv`, `kty`, `x`, `y` for EC and `crv`,
    /// `kty`, `x` for OKP (RFC 8037 section 2).
    pub fn thumbprint(&self) -> JwkThumbprint {
        let members = self.material.required_members();
        let pairs: Vec<(&str, &str)> = members
            .iter()
            .map(|(name, value)| (*name, value.as_str()))
            .collect();
        JwkThumbprint::from_sha256(thumbprint_digest(&pairs))
    }

    /// Verifies `signature` over `signing_input` with this key's pre-parsed form.
    ///
    /// `alg` must be this key's algorithm ([`JoseError::AlgorithmMismatch`]); both
    /// algorithms produce 64-byte signatures (RFC 7518 section 3.4, RFC 8032
    /// section 5.1.6).
    pub fn verify(
        &self,
        alg: Algorithm,
        signing_input: &[u8],
        signature: &[u8],
    ) -> Result<(), JoseError> {
        if alg != self.algorithm() {
            return Err(JoseError::AlgorithmMismatch);
        }
        self.parsed
            .verify_sig(signing_input, signature)
            .map_err(|_| JoseError::BadSignature)
    }

    /// This key with `kid` as its key id.
    pub fn with_kid(mut self, kid: String) -> Self {
        self.kid = Some(kid);
        self
    }

    /// The same key with `alg` and `use: sig` members, as a JWK Set publishes it.
    pub(crate) fn with_alg_and_use(mut self) -> Self {
        self.alg_member = true;
        self.use_sig = true;
        self
    }

    /// Builds the JWK of a public key aws-lc derived from a private key.
    pub(crate) fn from_public_bytes(alg: Algorithm, bytes: &[u8]) -> Result<Self, JoseError> {
        let material = match alg {
            Algorithm::Es256 => {
                let (x, y) = match bytes {
                    [0x04, rest @ ..] if rest.len() == 64 => rest.split_at(32),
                    _ => return Err(JoseError::InvalidPublicKey),
                };
                KeyMaterial::P256 {
                    x: x.try_into().map_err(|_| JoseError::InvalidPublicKey)?,
                    y: y.try_into().map_err(|_| JoseError::InvalidPublicKey)?,
                }
            }
            Algorithm::EdDsa => KeyMaterial::Ed25519 {
                x: bytes.try_into().map_err(|_| JoseError::InvalidPublicKey)?,
            },
        };
        let parsed = material.parse()?;
        Ok(Self {
            material,
            kid: None,
            alg_member: false,
            use_sig: false,
            parsed,
        })
    }
}

impl PartialEq for PublicJwk {
    fn eq(&self, other: &Self) -> bool {
        self.material == other.material
            && self.kid == other.kid
            && self.alg_member == other.alg_member
            && self.use_sig == other.use_sig
    }
}

impl Eq for PublicJwk {}

impl fmt::Debug for PublicJwk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicJwk")
            .field("alg", &self.algorithm())
            .field("kid", &self.kid)
            .field("thumbprint", &self.thumbprint())
            .finish()
    }
}

/// Members that only a private or symmetric JWK carries (RFC 7518 section 6.2.2,
/// 6.3.2, 6.4.1; RFC 8037 section 2 uses `d` too).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

#[derive(Clone, PartialEq, Eq)]
enum KeyMaterial {
    P256 { x: [u8; 32], y: [u8; 32] },
    Ed25519 { x: [u8; 32] },
}

impl KeyMaterial {
    fn algorithm(&self) -> Algorithm {
        match self {
            Self::P256 { .. } => Algorithm::Es256,
            Self::Ed25519 { .. } => Algorithm::EdDsa,
        }
    }

    /// The RFC 7638 section 3.2 required members, in lexicographic order.
    fn required_members(&self) -> Vec<(&'static str, String)> {
        match self {
            Self::P256 { x, y } => vec![
                ("crv", "P-256".to_owned()),
                ("kty", "EC".to_owned()),
                ("x", b64::encode(x)),
                ("y", b64::encode(y)),
            ],
            Self::Ed25519 { x } => vec![
                ("crv", "Ed25519".to_owned()),
                ("kty", "OKP".to_owned()),
                ("x", b64::encode(x)),
            ],
        }
    }

    /// Parses the key once into aws-lc's form; validates the EC point is on the curve.
    fn parse(&self) -> Result<ParsedPublicKey, JoseError> {
        let parsed = match self {
            Self::P256 { x, y } => {
                let mut point = [0u8; 65];
                let (tag, rest) = point.split_at_mut(1);
                let (px, py) = rest.split_at_mut(32);
                tag.copy_from_slice(&[0x04]);
                px.copy_from_slice(x);
                py.copy_from_slice(y);
                ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
            }
            Self::Ed25519 { x } => ParsedPublicKey::new(&ED25519, x),
        };
        parsed.map_err(|_| JoseError::InvalidPublicKey)
    }
}

/// The RFC 7638 section 3 thumbprint of any JWK given its required members as
/// (name, string value) pairs: sorted by name (section 3.3: code-point order, which
/// is byte order for these ASCII names), serialized without whitespace, hashed with
/// SHA-256 and base64url-encoded.
pub(crate) fn thumbprint_digest(members: &[(&str, &str)]) -> [u8; 32] {
    let mut sorted = members.to_vec();
    sorted.sort_unstable_by(|a, b| a.0.cmp(b.0));
    let mut json = String::with_capacity(160);
    json.push('{');
    for (i, (name, value)) in sorted.iter().enumerate() {
        if i > 0 {
            json.push(',');
        }
        crate::jws::push_json_string(&mut json, name);
        json.push(':');
        crate::jws::push_json_string(&mut json, value);
    }
    json.push('}');
    Sha256::digest(json.as_bytes()).into()
}

fn string_member<'a>(
    members: &'a Map<String, Value>,
    name: &str,
) -> Result<Option<&'a str>, JoseError> {
    match members.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(JoseError::MalformedJwk),
    }
}

fn coordinate(members: &Map<String, Value>, name: &str) -> Result<[u8; 32], JoseError> {
    let encoded = string_member(members, name)?.ok_or(JoseError::MalformedJwk)?;
    b64::decode_array::<32>(encoded.as_bytes()).map_err(|_| JoseError::InvalidPublicKey)
}

#[cfg(test)]
pub(crate) mod test_vectors {
    use serde_json::{Value, json};

    /// RFC 8037 appendix A.2 (public part of the appendix A.1 key).
    pub(crate) fn rfc8037_public() -> Value {
        json!({"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"})
    }

    /// RFC 7515 appendix A.3.1 ES256 public key.
    pub(crate) fn rfc7515_es256_public() -> Value {
        json!({"kty":"EC","crv":"P-256",
            "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"})
    }
}

#[cfg(test)]
mod tests {
    use super::test_vectors::{rfc7515_es256_public, rfc8037_public};
    use super::*;
    use serde_json::json;

    #[test]
    fn rfc_7638_section_3_1_thumbprint_of_the_rsa_example() {
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        let members = [("kty", "RSA"), ("n", n), ("e", "AQAB")];
        assert_eq!(
            JwkThumbprint::from_sha256(thumbprint_digest(&members)).to_encoded(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn rfc_8037_appendix_a_3_ed25519_thumbprint() {
        let jwk = PublicJwk::from_json(&rfc8037_public()).unwrap();
        assert_eq!(jwk.algorithm(), Algorithm::EdDsa);
        assert_eq!(
            jwk.thumbprint().to_encoded(),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
    }

    #[test]
    fn rfc_7638_section_3_2_ec_thumbprint_uses_crv_kty_x_y() {
        let jwk = PublicJwk::from_json(&rfc7515_es256_public()).unwrap();
        // Hand-computed: SHA-256 over the canonical member JSON below.
        let canonical = r#"{"crv":"P-256","kty":"EC","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#;
        assert_eq!(
            jwk.thumbprint(),
            JwkThumbprint::from_sha256(Sha256::digest(canonical.as_bytes()).into())
        );
        // Optional members do not change the thumbprint (RFC 7638 section 3.2).
        let mut with_extras = rfc7515_es256_public();
        with_extras["kid"] = json!("k1");
        with_extras["alg"] = json!("ES256");
        with_extras["use"] = json!("sig");
        let extras = PublicJwk::from_json(&with_extras).unwrap();
        assert_eq!(extras.thumbprint(), jwk.thumbprint());
        assert_eq!(extras.kid(), Some("k1"));
        assert_eq!(extras.to_json(), with_extras);
        assert_eq!(jwk.to_json(), rfc7515_es256_public());
    }

    #[test]
    fn refuses_private_members_rfc_7517_section_4() {
        for private in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
            let mut jwk = rfc7515_es256_public();
            jwk[private] = json!("AQAB");
            assert_eq!(
                PublicJwk::from_json(&jwk).unwrap_err(),
                JoseError::PrivateKeyMaterial,
                "{private}"
            );
        }
        let symmetric = json!({"kty":"oct","k":"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"});
        assert_eq!(
            PublicJwk::from_json(&symmetric).unwrap_err(),
            JoseError::PrivateKeyMaterial
        );
    }

    #[test]
    fn refuses_unknown_key_types_and_curves() {
        let rsa = json!({"kty":"RSA","n":"AQAB","e":"AQAB"});
        assert_eq!(
            PublicJwk::from_json(&rsa).unwrap_err(),
            JoseError::UnsupportedKeyType
        );
        let mut p384 = rfc7515_es256_public();
        p384["crv"] = json!("P-384");
        assert_eq!(
            PublicJwk::from_json(&p384).unwrap_err(),
            JoseError::UnsupportedCurve
        );
        let x25519 =
            json!({"kty":"OKP","crv":"X25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"});
        assert_eq!(
            PublicJwk::from_json(&x25519).unwrap_err(),
            JoseError::UnsupportedCurve
        );
        assert_eq!(
            PublicJwk::from_json(&json!("EC")).unwrap_err(),
            JoseError::MalformedJwk
        );
        assert_eq!(
            PublicJwk::from_json(&json!({"crv":"P-256"})).unwrap_err(),
            JoseError::MalformedJwk
        );
        assert_eq!(
            PublicJwk::from_json(&json!({"kty":7})).unwrap_err(),
            JoseError::MalformedJwk
        );
    }

    #[test]
    fn rfc_7518_section_6_2_1_validates_coordinates_and_the_point() {
        let mut short = rfc7515_es256_public();
        short["x"] = json!("f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVE"); // 31 bytes
        assert_eq!(
            PublicJwk::from_json(&short).unwrap_err(),
            JoseError::InvalidPublicKey
        );
        let mut missing_y = rfc7515_es256_public();
        missing_y.as_object_mut().unwrap().remove("y");
        assert_eq!(
            PublicJwk::from_json(&missing_y).unwrap_err(),
            JoseError::MalformedJwk
        );
        // y changed in its last byte: no longer on P-256.
        let mut off_curve = rfc7515_es256_public();
        off_curve["y"] = json!("x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5aw");
        assert_eq!(
            PublicJwk::from_json(&off_curve).unwrap_err(),
            JoseError::InvalidPublicKey
        );
    }

    #[test]
    fn alg_and_use_members_must_fit_the_key_rfc_7517_section_4_2() {
        let mut wrong_alg = rfc7515_es256_public();
        wrong_alg["alg"] = json!("EdDSA");
        assert_eq!(
            PublicJwk::from_json(&wrong_alg).unwrap_err(),
            JoseError::JwkAlgorithmMismatch
        );
        let mut hs = rfc7515_es256_public();
        hs["alg"] = json!("HS256");
        assert_eq!(
            PublicJwk::from_json(&hs).unwrap_err(),
            JoseError::UnsupportedAlgorithm
        );
        let mut enc = rfc7515_es256_public();
        enc["use"] = json!("enc");
        assert_eq!(
            PublicJwk::from_json(&enc).unwrap_err(),
            JoseError::KeyNotForSignature
        );
        let mut long_kid = rfc7515_es256_public();
        long_kid["kid"] = json!("k".repeat(MAX_KID_LEN + 1));
        assert_eq!(
            PublicJwk::from_json(&long_kid).unwrap_err(),
            JoseError::MalformedJwk
        );
    }

    #[test]
    fn verify_refuses_the_other_algorithm() {
        let jwk = PublicJwk::from_json(&rfc8037_public()).unwrap();
        assert_eq!(
            jwk.verify(Algorithm::Es256, b"x", &[0; 64]),
            Err(JoseError::AlgorithmMismatch)
        );
        assert_eq!(
            jwk.verify(Algorithm::EdDsa, b"x", &[0; 64]),
            Err(JoseError::BadSignature)
        );
    }
}
