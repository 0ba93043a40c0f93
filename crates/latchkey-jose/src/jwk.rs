use core::fmt;

use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P384_SHA384_FIXED, ED25519, ParsedPublicKey,
    RSA_PKCS1_2048_8192_SHA256, RSA_PSS_2048_8192_SHA256, RsaPublicKeyComponents,
};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::{Algorithm, JoseError, JwkThumbprint, MAX_RSA_BITS, MIN_RSA_BITS, b64};

/// The longest `kid` accepted in a JWK or a JWS header, in bytes.
pub const MAX_KID_LEN: usize = 256;

/// A public JSON Web Key (RFC 7517 section 4) Latchkey can verify with: an EC
/// P-256 or P-384 key (RFC 7518 section 6.2.1), an OKP Ed25519 key (RFC 8037
/// section 2) or an RSA key of 2048 to 8192 bits (RFC 7518 section 6.3.1).
///
/// The key is parsed once, when the JWK is read, into aws-lc's verification form,
/// so [`PublicJwk::verify`] never re-parses it. Parsing validates the key: an EC
/// point must lie on its curve and each coordinate must be exactly the curve's
/// size (RFC 7518 section 6.2.1.2 and 6.2.1.3); an RSA modulus and exponent must
/// be minimal big-endian integers (RFC 7518 section 2, `Base64urlUInt`) and the
/// modulus at least 2048 bits (RFC 7518 sections 3.3 and 3.5).
///
/// An EC or OKP key verifies exactly one algorithm. An RSA key verifies the one
/// its `alg` member names, or both RS256 and PS256 when it has no `alg` (RFC 7517
/// section 4.4 makes `alg` optional, and several issuers leave it out); the
/// caller's allowlist still decides which of them it accepts.
#[derive(Clone)]
pub struct PublicJwk {
    material: KeyMaterial,
    kid: Option<String>,
    alg_member: Option<Algorithm>,
    use_sig: bool,
    /// The pre-parsed key for the one algorithm this JWK verifies, or for RS256
    /// when an RSA key without `alg` verifies both RS256 and PS256 ...
    verifier: (Algorithm, ParsedPublicKey),
    /// ... and then the pre-parsed key for PS256. Two fields rather than a
    /// `Vec`: parsing a JWK (as every DPoP proof does) allocates no list.
    second_verifier: Option<(Algorithm, ParsedPublicKey)>,
}

impl PublicJwk {
    /// Reads a public JWK from a JSON object.
    ///
    /// Refuses any private member (`d`, `p`, `q`, `dp`, `dq`, `qi`, `oth`, `k`;
    /// RFC 7518 section 6.2.2, 6.3.2 and 6.4) with [`JoseError::PrivateKeyMaterial`],
    /// any `kty` other than `EC`, `OKP` and `RSA`, any curve other than P-256,
    /// P-384 and Ed25519, an RSA modulus under 2048 bits
    /// ([`JoseError::RsaKeyTooShort`]) or over 8192, an `alg` member naming an
    /// algorithm the key type cannot verify, a `use` member other than `sig`
    /// (RFC 7517 section 4.2), and a `key_ops` member without `verify`, with a
    /// duplicate, or with an operation that contradicts `use: sig` (section 4.3).
    pub fn from_json(value: &Value) -> Result<Self, JoseError> {
        let Value::Object(members) = value else {
            return Err(JoseError::MalformedJwk);
        };
        if PRIVATE_MEMBERS.iter().any(|m| members.contains_key(*m)) {
            return Err(JoseError::PrivateKeyMaterial);
        }
        let kty = string_member(members, "kty")?.ok_or(JoseError::MalformedJwk)?;
        let material = match kty {
            "EC" | "OKP" => curve_key(kty, members)?,
            "RSA" => rsa_key(members)?,
            _ => return Err(JoseError::UnsupportedKeyType),
        };
        let alg_member = match string_member(members, "alg")? {
            None => None,
            Some(alg) => {
                let alg = Algorithm::parse(alg)?;
                if !material.allows(alg) {
                    return Err(JoseError::JwkAlgorithmMismatch);
                }
                Some(alg)
            }
        };
        let use_sig = match string_member(members, "use")? {
            None => false,
            Some("sig") => true,
            Some(_) => return Err(JoseError::KeyNotForSignature),
        };
        check_key_ops(members)?;
        let kid = match string_member(members, "kid")? {
            None => None,
            Some(kid) if kid.len() <= MAX_KID_LEN => Some(kid.to_owned()),
            Some(_) => return Err(JoseError::MalformedJwk),
        };
        Self::build(material, kid, alg_member, use_sig)
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
        if let Some(alg) = self.alg_member {
            members.insert("alg".to_owned(), Value::from(alg.as_str()));
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

    /// The algorithm this key verifies: its `alg` member, else the one its key
    /// type implies (RS256 for an RSA key without `alg`; see [`Self::allows`]).
    pub fn algorithm(&self) -> Algorithm {
        self.alg_member.unwrap_or_else(|| self.material.algorithm())
    }

    /// Whether this key verifies `alg` signatures: EC and OKP keys their one
    /// algorithm; RSA keys the algorithm of their `alg` member, or RS256 and
    /// PS256 without one (RFC 8725 section 3.1: the key, not the token, decides).
    pub fn allows(&self, alg: Algorithm) -> bool {
        self.verifier_for(alg).is_some()
    }

    /// The JWK SHA-256 thumbprint, base64url-encoded (RFC 7638 section 3): the hash of
    /// the required members in lexicographic order, without whitespace.
    /// RFC 7638 section 3.2 lists them: `crv`, `kty`, `x`, `y` for EC, `e`, `kty`,
    /// `n` for RSA, and `crv`, `kty`, `x` for OKP (RFC 8037 section 2).
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
    /// `alg` must be one this key verifies ([`JoseError::AlgorithmMismatch`],
    /// see [`Self::allows`]), and the signature as long as `alg` makes them
    /// ([`JoseError::SignatureLength`]; RFC 7518 sections 3.3 to 3.5, RFC 8032
    /// section 5.1.6): an RSA signature is as long as the modulus.
    pub fn verify(
        &self,
        alg: Algorithm,
        signing_input: &[u8],
        signature: &[u8],
    ) -> Result<(), JoseError> {
        let parsed = self.verifier_for(alg).ok_or(JoseError::AlgorithmMismatch)?;
        let fits = match &self.material {
            // RFC 8017 section 8.1.2 step 1: as long as the modulus.
            KeyMaterial::Rsa { n, .. } => signature.len() == n.len(),
            _ => alg.signature_len_fits(signature.len()),
        };
        if !fits {
            return Err(JoseError::SignatureLength);
        }
        parsed
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
        self.alg_member = Some(self.material.algorithm());
        self.use_sig = true;
        self
    }

    /// Builds the JWK of a public key aws-lc derived from a private key: the
    /// uncompressed point for ECDSA, the 32 bytes for Ed25519.
    pub(crate) fn from_public_bytes(alg: Algorithm, bytes: &[u8]) -> Result<Self, JoseError> {
        let material = match (alg, bytes) {
            (Algorithm::Es256, [0x04, rest @ ..]) if rest.len() == 64 => {
                let (x, y) = rest.split_at(32);
                KeyMaterial::P256 {
                    x: x.try_into().map_err(|_| JoseError::InvalidPublicKey)?,
                    y: y.try_into().map_err(|_| JoseError::InvalidPublicKey)?,
                }
            }
            (Algorithm::Es384, [0x04, rest @ ..]) if rest.len() == 96 => {
                let (x, y) = rest.split_at(48);
                KeyMaterial::P384 {
                    x: x.try_into().map_err(|_| JoseError::InvalidPublicKey)?,
                    y: y.try_into().map_err(|_| JoseError::InvalidPublicKey)?,
                }
            }
            (Algorithm::EdDsa, _) => KeyMaterial::Ed25519 {
                x: bytes.try_into().map_err(|_| JoseError::InvalidPublicKey)?,
            },
            _ => return Err(JoseError::InvalidPublicKey),
        };
        Self::build(material, None, None, false)
    }

    /// The pre-parsed key for `alg`, if this key verifies it.
    fn verifier_for(&self, alg: Algorithm) -> Option<&ParsedPublicKey> {
        [Some(&self.verifier), self.second_verifier.as_ref()]
            .into_iter()
            .flatten()
            .find(|(a, _)| *a == alg)
            .map(|(_, parsed)| parsed)
    }

    /// Parses the key once per algorithm it verifies.
    fn build(
        material: KeyMaterial,
        kid: Option<String>,
        alg_member: Option<Algorithm>,
        use_sig: bool,
    ) -> Result<Self, JoseError> {
        let first = alg_member.unwrap_or_else(|| material.algorithm());
        let verifier = (first, material.parse(first)?);
        let second_verifier = match (alg_member, &material) {
            (None, KeyMaterial::Rsa { .. }) => {
                Some((Algorithm::Ps256, material.parse(Algorithm::Ps256)?))
            }
            _ => None,
        };
        Ok(Self {
            material,
            kid,
            alg_member,
            use_sig,
            verifier,
            second_verifier,
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

/// The longest RSA public exponent accepted, in bytes (65537 takes three). A
/// bound on the work one verification costs, which grows with the exponent.
const MAX_RSA_EXPONENT_LEN: usize = 4;

#[derive(Clone, PartialEq, Eq)]
enum KeyMaterial {
    P256 {
        x: [u8; 32],
        y: [u8; 32],
    },
    P384 {
        x: [u8; 48],
        y: [u8; 48],
    },
    Ed25519 {
        x: [u8; 32],
    },
    /// Minimal big-endian modulus and exponent (RFC 7518 section 6.3.1).
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
    },
}

impl KeyMaterial {
    /// The algorithm the key type implies (RS256 for RSA).
    fn algorithm(&self) -> Algorithm {
        match self {
            Self::P256 { .. } => Algorithm::Es256,
            Self::P384 { .. } => Algorithm::Es384,
            Self::Ed25519 { .. } => Algorithm::EdDsa,
            Self::Rsa { .. } => Algorithm::Rs256,
        }
    }

    /// Whether a key of this type can verify `alg` (RFC 7518 section 3.1).
    fn allows(&self, alg: Algorithm) -> bool {
        match self {
            Self::Rsa { .. } => matches!(alg, Algorithm::Rs256 | Algorithm::Ps256),
            other => other.algorithm() == alg,
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
            Self::P384 { x, y } => vec![
                ("crv", "P-384".to_owned()),
                ("kty", "EC".to_owned()),
                ("x", b64::encode(x)),
                ("y", b64::encode(y)),
            ],
            Self::Ed25519 { x } => vec![
                ("crv", "Ed25519".to_owned()),
                ("kty", "OKP".to_owned()),
                ("x", b64::encode(x)),
            ],
            Self::Rsa { n, e } => vec![
                ("e", b64::encode(e)),
                ("kty", "RSA".to_owned()),
                ("n", b64::encode(n)),
            ],
        }
    }

    /// Parses the key once into aws-lc's form for `alg`, which [`Self::allows`];
    /// validates that an EC point is on the curve and an RSA key is well formed.
    fn parse(&self, alg: Algorithm) -> Result<ParsedPublicKey, JoseError> {
        let parsed = match self {
            Self::P256 { x, y } => {
                let mut buf = [0u8; 97];
                ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point(x, y, &mut buf))
            }
            Self::P384 { x, y } => {
                let mut buf = [0u8; 97];
                ParsedPublicKey::new(&ECDSA_P384_SHA384_FIXED, point(x, y, &mut buf))
            }
            Self::Ed25519 { x } => ParsedPublicKey::new(&ED25519, x),
            Self::Rsa { n, e } => {
                // aws-lc's PSS salt length is the digest length, and MGF1 uses the
                // same SHA-256, as RFC 7518 section 3.5 requires.
                let params = match alg {
                    Algorithm::Ps256 => &RSA_PSS_2048_8192_SHA256,
                    _ => &RSA_PKCS1_2048_8192_SHA256,
                };
                RsaPublicKeyComponents { n, e }.to_parsed_public_key(params)
            }
        };
        parsed.map_err(|_| JoseError::InvalidPublicKey)
    }
}

/// The uncompressed SEC 1 point `0x04 || x || y`, written into `buf` (97 bytes
/// hold a P-384 point), so parsing a JWK allocates nothing for it.
fn point<'b, const N: usize>(x: &[u8; N], y: &[u8; N], buf: &'b mut [u8; 97]) -> &'b [u8] {
    let bytes = core::iter::once(&0x04).chain(x).chain(y);
    for (out, byte) in buf.iter_mut().zip(bytes) {
        *out = *byte;
    }
    buf.get(..1 + 2 * N).unwrap_or_default()
}

/// An `EC` (RFC 7518 section 6.2.1) or `OKP` (RFC 8037 section 2) public key.
fn curve_key(kty: &str, members: &Map<String, Value>) -> Result<KeyMaterial, JoseError> {
    match (kty, string_member(members, "crv")?) {
        ("EC", Some("P-256")) => Ok(KeyMaterial::P256 {
            x: coordinate(members, "x")?,
            y: coordinate(members, "y")?,
        }),
        ("EC", Some("P-384")) => Ok(KeyMaterial::P384 {
            x: coordinate(members, "x")?,
            y: coordinate(members, "y")?,
        }),
        ("OKP", Some("Ed25519")) => Ok(KeyMaterial::Ed25519 {
            x: coordinate(members, "x")?,
        }),
        _ => Err(JoseError::UnsupportedCurve),
    }
}

/// An `RSA` public key (RFC 7518 section 6.3.1): `n` and `e` are minimal
/// big-endian integers (section 2, `Base64urlUInt`), the modulus 2048 to 8192
/// bits (sections 3.3 and 3.5). The encoded length is checked before decoding,
/// so an oversized member costs no allocation.
fn rsa_key(members: &Map<String, Value>) -> Result<KeyMaterial, JoseError> {
    let n = string_member(members, "n")?.ok_or(JoseError::MalformedJwk)?;
    let e = string_member(members, "e")?.ok_or(JoseError::MalformedJwk)?;
    if n.len() > (MAX_RSA_BITS / 8 * 4).div_ceil(3) {
        return Err(JoseError::RsaKeyTooLong);
    }
    if e.len() > (MAX_RSA_EXPONENT_LEN * 4).div_ceil(3) {
        return Err(JoseError::InvalidPublicKey);
    }
    let n = unsigned(n)?;
    let e = unsigned(e)?;
    let Some(first) = n.first() else {
        return Err(JoseError::InvalidPublicKey);
    };
    // n is at most 1024 bytes here, so the bit count fits easily.
    let bits = (n.len() - 1) * 8 + (8 - first.leading_zeros() as usize);
    if bits < MIN_RSA_BITS {
        return Err(JoseError::RsaKeyTooShort);
    }
    if bits > MAX_RSA_BITS {
        return Err(JoseError::RsaKeyTooLong);
    }
    Ok(KeyMaterial::Rsa { n, e })
}

/// A positive `Base64urlUInt` (RFC 7518 section 2): no leading zero octet.
fn unsigned(encoded: &str) -> Result<Vec<u8>, JoseError> {
    let bytes = b64::decode(encoded.as_bytes()).map_err(|_| JoseError::InvalidPublicKey)?;
    match bytes.first() {
        Some(first) if *first != 0 => Ok(bytes),
        _ => Err(JoseError::InvalidPublicKey),
    }
}

/// RFC 7517 section 4.3: `key_ops`, when present, is an array of unique strings;
/// a verification key needs `verify`, and with `use: sig` (section 4.2) no
/// encryption or key-agreement operation may be listed ("MUST be consistent").
fn check_key_ops(members: &Map<String, Value>) -> Result<(), JoseError> {
    const NOT_SIGNATURE: [&str; 6] = [
        "encrypt",
        "decrypt",
        "wrapKey",
        "unwrapKey",
        "deriveKey",
        "deriveBits",
    ];
    let Some(ops) = members.get("key_ops") else {
        return Ok(());
    };
    let Value::Array(ops) = ops else {
        return Err(JoseError::MalformedJwk);
    };
    if ops.len() > 8 {
        return Err(JoseError::MalformedJwk);
    }
    let mut verify = false;
    for (i, op) in ops.iter().enumerate() {
        let Value::String(op) = op else {
            return Err(JoseError::MalformedJwk);
        };
        if ops.iter().skip(i + 1).any(|other| other == op.as_str()) {
            return Err(JoseError::MalformedJwk);
        }
        if NOT_SIGNATURE.contains(&op.as_str()) && members.contains_key("use") {
            return Err(JoseError::KeyNotForSignature);
        }
        verify |= op == "verify";
    }
    if !verify {
        return Err(JoseError::KeyNotForSignature);
    }
    Ok(())
}

/// The RFC 7638 section 3 thumbprint of any JWK given its required members as
/// (name, string value) pairs: sorted by name (section 3.3: code-point order, which
/// is byte order for these ASCII names), serialized without whitespace, hashed with
/// SHA-256 and base64url-encoded.
pub(crate) fn thumbprint_digest(members: &[(&str, &str)]) -> [u8; 32] {
    let mut sorted = members.to_vec();
    sorted.sort_unstable_by(|a, b| a.0.cmp(b.0));
    let capacity = 16
        + sorted
            .iter()
            .map(|(n, v)| n.len() + v.len() + 6)
            .sum::<usize>();
    let mut json = String::with_capacity(capacity);
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

fn coordinate<const N: usize>(
    members: &Map<String, Value>,
    name: &str,
) -> Result<[u8; N], JoseError> {
    let encoded = string_member(members, name)?.ok_or(JoseError::MalformedJwk)?;
    b64::decode_array::<N>(encoded.as_bytes()).map_err(|_| JoseError::InvalidPublicKey)
}

#[cfg(test)]
pub(crate) mod test_vectors {
    use serde_json::{Value, json};

    /// RFC 8037 appendix A.2 (public part of the appendix A.1 key).
    pub(crate) fn rfc8037_public() -> Value {
        json!({"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"})
    }

    /// RFC 7515 appendix A.2.1 RS256 public key (2048 bits).
    pub(crate) fn rfc7515_rs256_public() -> Value {
        json!({"kty":"RSA","e":"AQAB",
            "n":"ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ"})
    }

    /// RFC 7638 section 3.1 example RSA public key (2048 bits).
    pub(crate) fn rfc7638_rsa_public() -> Value {
        json!({"kty":"RSA","e":"AQAB","alg":"RS256","kid":"2011-04-29",
            "n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"})
    }

    /// A 1024-bit RSA modulus (all bits set, so it is exactly 1024 bits long).
    pub(crate) fn rsa_1024_public() -> Value {
        let n = crate::b64::encode(&[0xff; 128]);
        json!({"kty":"RSA","e":"AQAB","n":n})
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
        let oct = json!({"kty":"oct","alg":"HS256"});
        assert_eq!(
            PublicJwk::from_json(&oct).unwrap_err(),
            JoseError::UnsupportedKeyType
        );
        let mut p521 = rfc7515_es256_public();
        p521["crv"] = json!("P-521");
        assert_eq!(
            PublicJwk::from_json(&p521).unwrap_err(),
            JoseError::UnsupportedCurve
        );
        // A P-256 point under the P-384 name has the wrong coordinate length.
        let mut p384 = rfc7515_es256_public();
        p384["crv"] = json!("P-384");
        assert_eq!(
            PublicJwk::from_json(&p384).unwrap_err(),
            JoseError::InvalidPublicKey
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

#[cfg(test)]
mod rsa_and_p384_tests {
    use super::test_vectors::{rfc7515_rs256_public, rfc7638_rsa_public, rsa_1024_public};
    use super::*;
    use serde_json::json;

    #[test]
    fn rfc_7638_section_3_1_rsa_key_thumbprint_through_the_jwk() {
        let jwk = PublicJwk::from_json(&rfc7638_rsa_public()).unwrap();
        assert_eq!(
            jwk.thumbprint().to_encoded(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
        assert_eq!(jwk.kid(), Some("2011-04-29"));
        assert_eq!(jwk.algorithm(), Algorithm::Rs256);
        assert_eq!(jwk.to_json(), rfc7638_rsa_public());
        assert_eq!(PublicJwk::from_json(&jwk.to_json()).unwrap(), jwk);
    }

    #[test]
    fn rfc_7518_section_3_3_rsa_keys_under_2048_bits_are_refused() {
        assert_eq!(
            PublicJwk::from_json(&rsa_1024_public()).unwrap_err(),
            JoseError::RsaKeyTooShort
        );
        // 2047 bits: the top bit of the first of 256 bytes is clear.
        let mut n = [0xffu8; 256];
        n[0] = 0x7f;
        let short = json!({"kty":"RSA","e":"AQAB","n":b64::encode(&n)});
        assert_eq!(
            PublicJwk::from_json(&short).unwrap_err(),
            JoseError::RsaKeyTooShort
        );
        let long = json!({"kty":"RSA","e":"AQAB","n":b64::encode(&[0xff; 1025])});
        assert_eq!(
            PublicJwk::from_json(&long).unwrap_err(),
            JoseError::RsaKeyTooLong
        );
        let huge = json!({"kty":"RSA","e":"AQAB","n":"A".repeat(1 << 20)});
        assert_eq!(
            PublicJwk::from_json(&huge).unwrap_err(),
            JoseError::RsaKeyTooLong
        );
    }

    #[test]
    fn rfc_7518_section_6_3_1_rsa_members_are_minimal_unsigned_integers() {
        let rfc = rfc7515_rs256_public();
        let n = b64::decode(rfc["n"].as_str().unwrap().as_bytes()).unwrap();
        let mut padded = vec![0u8];
        padded.extend_from_slice(&n);
        let mut leading_zero = rfc.clone();
        leading_zero["n"] = json!(b64::encode(&padded));
        assert_eq!(
            PublicJwk::from_json(&leading_zero).unwrap_err(),
            JoseError::InvalidPublicKey
        );
        let mut zero_e = rfc.clone();
        zero_e["e"] = json!("AAEAAQ");
        assert_eq!(
            PublicJwk::from_json(&zero_e).unwrap_err(),
            JoseError::InvalidPublicKey
        );
        let mut long_e = rfc.clone();
        long_e["e"] = json!(b64::encode(&[1, 0, 0, 0, 1]));
        assert_eq!(
            PublicJwk::from_json(&long_e).unwrap_err(),
            JoseError::InvalidPublicKey
        );
        let mut padded_b64 = rfc.clone();
        padded_b64["e"] = json!("AQAB=");
        assert_eq!(
            PublicJwk::from_json(&padded_b64).unwrap_err(),
            JoseError::InvalidPublicKey
        );
        for missing in ["n", "e"] {
            let mut jwk = rfc.clone();
            jwk.as_object_mut().unwrap().remove(missing);
            assert_eq!(
                PublicJwk::from_json(&jwk).unwrap_err(),
                JoseError::MalformedJwk,
                "{missing}"
            );
        }
        let mut numeric = rfc;
        numeric["e"] = json!(65537);
        assert_eq!(
            PublicJwk::from_json(&numeric).unwrap_err(),
            JoseError::MalformedJwk
        );
    }

    #[test]
    fn rfc_7517_section_4_rsa_private_members_are_refused() {
        for private in ["d", "p", "q", "dp", "dq", "qi", "oth"] {
            let mut jwk = rfc7515_rs256_public();
            jwk[private] = json!("AQAB");
            assert_eq!(
                PublicJwk::from_json(&jwk).unwrap_err(),
                JoseError::PrivateKeyMaterial,
                "{private}"
            );
        }
    }

    #[test]
    fn rfc_8725_section_3_1_an_rsa_key_verifies_only_its_algorithms() {
        let any = PublicJwk::from_json(&rfc7515_rs256_public()).unwrap();
        assert!(any.allows(Algorithm::Rs256));
        assert!(any.allows(Algorithm::Ps256));
        for other in [Algorithm::Es256, Algorithm::Es384, Algorithm::EdDsa] {
            assert!(!any.allows(other), "{other}");
            assert_eq!(
                any.verify(other, b"x", &[0; 64]),
                Err(JoseError::AlgorithmMismatch)
            );
        }
        let mut pss = rfc7515_rs256_public();
        pss["alg"] = json!("PS256");
        let pss = PublicJwk::from_json(&pss).unwrap();
        assert!(pss.allows(Algorithm::Ps256));
        assert!(!pss.allows(Algorithm::Rs256));
        assert_eq!(pss.algorithm(), Algorithm::Ps256);
        assert_eq!(
            pss.verify(Algorithm::Rs256, b"x", &[0; 256]),
            Err(JoseError::AlgorithmMismatch)
        );
        for wrong in ["ES256", "ES384", "EdDSA"] {
            let mut jwk = rfc7515_rs256_public();
            jwk["alg"] = json!(wrong);
            assert_eq!(
                PublicJwk::from_json(&jwk).unwrap_err(),
                JoseError::JwkAlgorithmMismatch,
                "{wrong}"
            );
        }
        for refused in ["RS384", "HS256", "none"] {
            let mut jwk = rfc7515_rs256_public();
            jwk["alg"] = json!(refused);
            assert_eq!(
                PublicJwk::from_json(&jwk).unwrap_err(),
                JoseError::UnsupportedAlgorithm,
                "{refused}"
            );
        }
        let mut ec_as_rsa = super::test_vectors::rfc7515_es256_public();
        ec_as_rsa["alg"] = json!("RS256");
        assert_eq!(
            PublicJwk::from_json(&ec_as_rsa).unwrap_err(),
            JoseError::JwkAlgorithmMismatch
        );
    }

    #[test]
    fn rfc_7517_section_4_2_and_4_3_use_and_key_ops_must_allow_verification() {
        let with = |members: serde_json::Value| {
            let mut jwk = rfc7515_rs256_public();
            for (name, value) in members.as_object().unwrap() {
                jwk[name] = value.clone();
            }
            PublicJwk::from_json(&jwk).map(|_| ())
        };
        assert_eq!(with(json!({"use":"sig"})), Ok(()));
        assert_eq!(with(json!({"key_ops":["verify"]})), Ok(()));
        assert_eq!(with(json!({"key_ops":["sign","verify"]})), Ok(()));
        assert_eq!(with(json!({"use":"sig","key_ops":["verify"]})), Ok(()));
        assert_eq!(
            with(json!({"use":"enc"})),
            Err(JoseError::KeyNotForSignature)
        );
        assert_eq!(
            with(json!({"key_ops":["encrypt"]})),
            Err(JoseError::KeyNotForSignature)
        );
        assert_eq!(
            with(json!({"key_ops":[]})),
            Err(JoseError::KeyNotForSignature)
        );
        assert_eq!(
            with(json!({"use":"sig","key_ops":["verify","encrypt"]})),
            Err(JoseError::KeyNotForSignature)
        );
        assert_eq!(
            with(json!({"key_ops":["verify","verify"]})),
            Err(JoseError::MalformedJwk)
        );
        assert_eq!(
            with(json!({"key_ops":"verify"})),
            Err(JoseError::MalformedJwk)
        );
        assert_eq!(with(json!({"key_ops":[1]})), Err(JoseError::MalformedJwk));
        // The same rule holds for EC keys.
        let mut ec = super::test_vectors::rfc7515_es256_public();
        ec["key_ops"] = json!(["deriveKey"]);
        assert_eq!(
            PublicJwk::from_json(&ec).unwrap_err(),
            JoseError::KeyNotForSignature
        );
    }

    #[test]
    fn rfc_7518_section_6_2_1_p384_keys_round_trip_and_are_validated() {
        let key = crate::SigningKey::generate(
            Algorithm::Es384,
            "p384".to_owned(),
            &mut <rand_chacha::ChaCha20Rng as rand_core::SeedableRng>::seed_from_u64(3),
        );
        let json = key.public_jwk().to_json();
        assert_eq!(json["crv"], "P-384");
        assert_eq!(json["alg"], "ES384");
        assert_eq!(json["x"].as_str().unwrap().len(), 64);
        let parsed = PublicJwk::from_json(&json).unwrap();
        assert_eq!(parsed, key.public_jwk());
        assert_eq!(parsed.algorithm(), Algorithm::Es384);
        assert!(!parsed.allows(Algorithm::Es256));

        let mut off_curve = json.clone();
        let mut y = b64::decode(json["y"].as_str().unwrap().as_bytes()).unwrap();
        y[47] ^= 1;
        off_curve["y"] = json!(b64::encode(&y));
        assert_eq!(
            PublicJwk::from_json(&off_curve).unwrap_err(),
            JoseError::InvalidPublicKey
        );
        let mut es256 = json;
        es256["alg"] = json!("ES256");
        assert_eq!(
            PublicJwk::from_json(&es256).unwrap_err(),
            JoseError::JwkAlgorithmMismatch
        );
    }
}
