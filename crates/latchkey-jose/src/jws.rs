use alloc_free::HeaderSeed;
use serde::de::DeserializeSeed;

use crate::{Algorithm, JoseError, PublicJwk, b64};

/// The length of an ES256 or Ed25519 signature: ES256 is `R || S`, 32 bytes each
/// (RFC 7518 section 3.4), and Ed25519 signatures are 64 bytes (RFC 8032 section 5.1.6).
pub const SIGNATURE_LEN: usize = 64;

/// The longest signature accepted: an RSA signature is as long as the modulus
/// (RFC 8017 section 8.1.1), at most [`crate::MAX_RSA_BITS`] bits.
pub const MAX_SIGNATURE_LEN: usize = crate::MAX_RSA_BITS / 8;

/// The most members a protected header may have; real headers have two to five.
const MAX_HEADER_MEMBERS: usize = 16;

/// The JOSE header of a JWS (RFC 7515 section 4.1), restricted to what Latchkey uses.
///
/// Parsing refuses a missing or unsupported `alg` (section 4.1.1), a `crit` member
/// (section 4.1.11: Latchkey understands no extension, so every critical one is
/// unknown), and duplicate member names (section 4: "MUST be unique"). Other
/// members such as `jku` and `x5u` are ignored and never dereferenced (RFC 8725
/// section 3.10): keys come from configuration only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JoseHeader {
    /// The signature algorithm (RFC 7515 section 4.1.1).
    pub alg: Algorithm,
    /// The media type of the whole JWS, e.g. `at+jwt` (RFC 7515 section 4.1.9).
    pub typ: Option<String>,
    /// The key id (RFC 7515 section 4.1.4).
    pub kid: Option<String>,
    /// An embedded public key, as DPoP proofs carry it (RFC 7515 section 4.1.3,
    /// RFC 9449 section 4.2).
    pub jwk: Option<PublicJwk>,
}

impl JoseHeader {
    /// A header with only `alg` set.
    pub fn new(alg: Algorithm) -> Self {
        Self {
            alg,
            typ: None,
            kid: None,
            jwk: None,
        }
    }

    /// This header with `typ` set.
    pub fn with_typ(mut self, typ: &str) -> Self {
        self.typ = Some(typ.to_owned());
        self
    }

    /// This header with `jwk` set.
    pub fn with_jwk(mut self, jwk: PublicJwk) -> Self {
        self.jwk = Some(jwk);
        self
    }

    /// Parses the decoded header JSON (RFC 7515 section 5.2 steps 3 to 5).
    pub fn from_json_bytes(json: &[u8]) -> Result<Self, JoseError> {
        let mut failure = None;
        let mut de = serde_json::Deserializer::from_slice(json);
        let parsed = HeaderSeed {
            failure: &mut failure,
        }
        .deserialize(&mut de)
        .and_then(|header| de.end().map(|()| header));
        match (parsed, failure) {
            (_, Some(error)) => Err(error),
            (Ok(header), None) => Ok(header),
            (Err(_), None) => Err(JoseError::MalformedHeader),
        }
    }
}

/// A JWS in compact serialization (RFC 7515 section 7.1), parsed but not verified.
///
/// [`CompactJws::parse`] checks the form only; nothing in it is trustworthy until
/// [`CompactJws::verify_with`] succeeds.
#[derive(Debug)]
pub struct CompactJws<'a> {
    header: JoseHeader,
    payload: Vec<u8>,
    signing_input: &'a [u8],
    signature: SignatureBytes,
}

/// A decoded signature held inline, so parsing allocates nothing for it.
struct SignatureBytes {
    bytes: [u8; MAX_SIGNATURE_LEN],
    len: usize,
}

impl SignatureBytes {
    fn as_slice(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or_default()
    }
}

impl core::fmt::Debug for SignatureBytes {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "SignatureBytes({} bytes)", self.len)
    }
}

impl<'a> CompactJws<'a> {
    /// Parses `token` (RFC 7515 section 5.2 steps 1 to 5).
    ///
    /// Refuses input longer than `max_len` bytes before any other work, anything
    /// but three dot-separated segments of strict unpadded base64url (section 2),
    /// a header that is not a JSON object with a supported `alg`, a `crit` member,
    /// duplicate header members, and a signature of a length no algorithm
    /// produces (64 bytes for ES256 and EdDSA, 96 for ES384, 256 to 1024 for RS256
    /// and PS256; RFC 7518 sections 3.3 to 3.5). Whether the length fits the
    /// header's own `alg` is checked by [`Self::verify_with`], so a caller's
    /// allowlist sees the algorithm first. The signature is decoded into an
    /// inline buffer; an encoded signature too long for it is refused before
    /// decoding.
    pub fn parse(token: &'a str, max_len: usize) -> Result<Self, JoseError> {
        if token.len() > max_len {
            return Err(JoseError::TokenTooLong);
        }
        let bytes = token.as_bytes();
        let mut dots = bytes
            .iter()
            .enumerate()
            .filter(|(_, b)| **b == b'.')
            .map(|(i, _)| i);
        let (Some(first), Some(second), None) = (dots.next(), dots.next(), dots.next()) else {
            return Err(JoseError::MalformedCompact);
        };
        let (signing_input, dot_and_signature) = bytes.split_at(second);
        let (header_b64, dot_and_payload) = signing_input.split_at(first);
        let payload_b64 = dot_and_payload
            .get(1..)
            .ok_or(JoseError::MalformedCompact)?;
        let signature_b64 = dot_and_signature
            .get(1..)
            .ok_or(JoseError::MalformedCompact)?;

        let header = JoseHeader::from_json_bytes(&b64::decode(header_b64)?)?;
        let payload = b64::decode(payload_b64)?;
        let signature = decode_signature(signature_b64)?;
        // A length no algorithm produces is refused here; the exact length for the
        // header's algorithm is checked with the key, after the caller's allowlist.
        if !Algorithm::ALL
            .iter()
            .any(|alg| alg.signature_len_fits(signature.len))
        {
            return Err(JoseError::SignatureLength);
        }
        Ok(Self {
            header,
            payload,
            signing_input,
            signature,
        })
    }

    /// The parsed protected header.
    pub fn header(&self) -> &JoseHeader {
        &self.header
    }

    /// The decoded payload (unverified until [`Self::verify_with`] succeeds).
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// `BASE64URL(header) || '.' || BASE64URL(payload)`, the bytes the signature
    /// covers (RFC 7515 section 5.1 step 5).
    pub fn signing_input(&self) -> &[u8] {
        self.signing_input
    }

    /// The decoded signature.
    pub fn signature(&self) -> &[u8] {
        self.signature.as_slice()
    }

    /// Verifies the signature with `key` (RFC 7515 section 5.2 step 8).
    ///
    /// The header's `alg` must be the key's algorithm: a key is never used with an
    /// algorithm chosen by the token (RFC 8725 section 3.1).
    pub fn verify_with(&self, key: &PublicJwk) -> Result<(), JoseError> {
        key.verify(
            self.header.alg,
            self.signing_input,
            self.signature.as_slice(),
        )
    }
}

/// Decodes a signature segment into an inline buffer; longer than
/// [`MAX_SIGNATURE_LEN`] is [`JoseError::SignatureLength`], checked on the encoded
/// length first.
fn decode_signature(encoded: &[u8]) -> Result<SignatureBytes, JoseError> {
    let mut signature = SignatureBytes {
        bytes: [0u8; MAX_SIGNATURE_LEN],
        len: 0,
    };
    if encoded.len() > (MAX_SIGNATURE_LEN * 4).div_ceil(3) {
        return Err(JoseError::SignatureLength);
    }
    signature.len = b64::decode_into(encoded, &mut signature.bytes)?;
    Ok(signature)
}

/// Appends `s` as a JSON string (RFC 8259 section 7), escaping `"`, `\` and controls.
pub(crate) fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                out.push_str(&format!("\\u{:04x}", u32::from(c)));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Header deserialization without an intermediate `serde_json::Value`.
mod alloc_free {
    use core::fmt;
    use std::borrow::Cow;

    use serde::Deserializer;
    use serde::de::{Deserialize, DeserializeSeed, IgnoredAny, MapAccess, Visitor};

    use super::{JoseHeader, MAX_HEADER_MEMBERS};
    use crate::{Algorithm, JoseError, PublicJwk};

    /// Deserializes a [`JoseHeader`], leaving the precise reason for a refusal in
    /// `failure` (serde's own errors carry only text).
    pub(super) struct HeaderSeed<'f> {
        pub(super) failure: &'f mut Option<JoseError>,
    }

    impl<'de> DeserializeSeed<'de> for HeaderSeed<'_> {
        type Value = JoseHeader;

        fn deserialize<D: Deserializer<'de>>(
            self,
            deserializer: D,
        ) -> Result<JoseHeader, D::Error> {
            deserializer.deserialize_map(self)
        }
    }

    impl<'de> Visitor<'de> for HeaderSeed<'_> {
        type Value = JoseHeader;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JOSE header object")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JoseHeader, A::Error> {
            let mut seen: Vec<JsonStr<'de>> = Vec::with_capacity(4);
            let mut alg = None;
            let mut typ = None;
            let mut kid = None;
            let mut jwk = None;
            let mut fail = |error: JoseError| {
                *self.failure = Some(error);
                serde::de::Error::custom("refused header")
            };
            while let Some(name) = map.next_key::<JsonStr<'de>>()? {
                if seen.iter().any(|s| s.0 == name.0) {
                    return Err(fail(JoseError::DuplicateHeaderMember));
                }
                if seen.len() >= MAX_HEADER_MEMBERS {
                    return Err(fail(JoseError::MalformedHeader));
                }
                match name.0.as_ref() {
                    "alg" => {
                        let value = map.next_value::<JsonStr<'de>>()?;
                        alg = Some(Algorithm::parse(&value.0).map_err(&mut fail)?);
                    }
                    "typ" => typ = Some(map.next_value::<String>()?),
                    "kid" => {
                        let value = map.next_value::<String>()?;
                        if value.len() > crate::MAX_KID_LEN {
                            return Err(fail(JoseError::MalformedHeader));
                        }
                        kid = Some(value);
                    }
                    "jwk" => {
                        let value = map.next_value::<serde_json::Value>()?;
                        jwk = Some(PublicJwk::from_json(&value).map_err(&mut fail)?);
                    }
                    "crit" => return Err(fail(JoseError::CriticalHeader)),
                    _ => {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                seen.push(name);
            }
            let alg = alg.ok_or_else(|| fail(JoseError::MissingAlgorithm))?;
            Ok(JoseHeader { alg, typ, kid, jwk })
        }
    }

    /// A JSON string, borrowed from the input when it holds no escapes.
    pub(super) struct JsonStr<'de>(pub(super) Cow<'de, str>);

    impl<'de> Deserialize<'de> for JsonStr<'de> {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct StrVisitor;
            impl<'de> Visitor<'de> for StrVisitor {
                type Value = JsonStr<'de>;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("a string")
                }
                fn visit_borrowed_str<E>(self, v: &'de str) -> Result<JsonStr<'de>, E> {
                    Ok(JsonStr(Cow::Borrowed(v)))
                }
                fn visit_str<E>(self, v: &str) -> Result<JsonStr<'de>, E> {
                    Ok(JsonStr(Cow::Owned(v.to_owned())))
                }
                fn visit_string<E>(self, v: String) -> Result<JsonStr<'de>, E> {
                    Ok(JsonStr(Cow::Owned(v)))
                }
            }
            deserializer.deserialize_str(StrVisitor)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(header: &str, payload: &[u8], signature: &[u8]) -> String {
        format!(
            "{}.{}.{}",
            b64::encode(header.as_bytes()),
            b64::encode(payload),
            b64::encode(signature)
        )
    }

    #[test]
    fn rfc_7515_section_7_1_three_segments() {
        let ok = token(r#"{"alg":"ES256"}"#, b"{}", &[7; 64]);
        let jws = CompactJws::parse(&ok, 1024).unwrap();
        assert_eq!(jws.header().alg, Algorithm::Es256);
        assert_eq!(jws.payload(), b"{}");
        assert_eq!(jws.signature(), &[7; 64]);
        assert_eq!(
            jws.signing_input(),
            ok.rsplit_once('.').unwrap().0.as_bytes()
        );
        for bad in ["", "a", "a.b", "a.b.c.d", "..", "...", "a..b.c"] {
            let error = CompactJws::parse(bad, 1024).unwrap_err();
            assert!(
                matches!(
                    error,
                    JoseError::MalformedCompact | JoseError::BadBase64 | JoseError::MalformedHeader
                ),
                "{bad}: {error:?}"
            );
        }
        assert_eq!(
            CompactJws::parse("a.b.c.d", 1024).unwrap_err(),
            JoseError::MalformedCompact
        );
        assert_eq!(
            CompactJws::parse("a.b", 1024).unwrap_err(),
            JoseError::MalformedCompact
        );
    }

    #[test]
    fn refuses_oversized_tokens_before_parsing() {
        let ok = token(r#"{"alg":"ES256"}"#, b"{}", &[7; 64]);
        assert_eq!(
            CompactJws::parse(&ok, ok.len() - 1).unwrap_err(),
            JoseError::TokenTooLong
        );
        assert!(CompactJws::parse(&ok, ok.len()).is_ok());
    }

    #[test]
    fn rfc_7515_section_2_segments_are_strict_base64url() {
        let ok = token(r#"{"alg":"ES256"}"#, b"{}", &[7; 64]);
        let (head, rest) = ok.split_once('.').unwrap();
        let padded = format!("{head}=.{rest}");
        assert_eq!(
            CompactJws::parse(&padded, 1024).unwrap_err(),
            JoseError::BadBase64
        );
        let plus = format!("{head}.e30+.{}", rest.split_once('.').unwrap().1);
        assert_eq!(
            CompactJws::parse(&plus, 1024).unwrap_err(),
            JoseError::BadBase64
        );
        let short_sig = token(r#"{"alg":"ES256"}"#, b"{}", &[7; 63]);
        assert_eq!(
            CompactJws::parse(&short_sig, 1024).unwrap_err(),
            JoseError::SignatureLength
        );
        let empty_sig = token(r#"{"alg":"ES256"}"#, b"{}", &[]);
        assert_eq!(
            CompactJws::parse(&empty_sig, 1024).unwrap_err(),
            JoseError::SignatureLength
        );
    }

    #[test]
    fn rfc_8725_section_3_1_refuses_none_and_hmac() {
        for alg in ["none", "HS256", "HS384", "HS512", "RS384", "PS512", "ES512"] {
            let t = token(&format!(r#"{{"alg":"{alg}"}}"#), b"{}", &[7; 64]);
            assert_eq!(
                CompactJws::parse(&t, 1024).unwrap_err(),
                JoseError::UnsupportedAlgorithm,
                "{alg}"
            );
        }
        let t = token(r#"{"typ":"JWT"}"#, b"{}", &[7; 64]);
        assert_eq!(
            CompactJws::parse(&t, 1024).unwrap_err(),
            JoseError::MissingAlgorithm
        );
        let t = token(r#"{"alg":256}"#, b"{}", &[7; 64]);
        assert_eq!(
            CompactJws::parse(&t, 1024).unwrap_err(),
            JoseError::MalformedHeader
        );
    }

    #[test]
    fn rfc_7515_section_4_1_11_crit_is_refused() {
        let t = token(r#"{"alg":"ES256","crit":["exp"],"exp":1}"#, b"{}", &[7; 64]);
        assert_eq!(
            CompactJws::parse(&t, 1024).unwrap_err(),
            JoseError::CriticalHeader
        );
        let t = token(r#"{"alg":"ES256","crit":[]}"#, b"{}", &[7; 64]);
        assert_eq!(
            CompactJws::parse(&t, 1024).unwrap_err(),
            JoseError::CriticalHeader
        );
    }

    #[test]
    fn rfc_7515_section_4_duplicate_header_members_are_refused() {
        let t = token(r#"{"alg":"ES256","alg":"EdDSA"}"#, b"{}", &[7; 64]);
        assert_eq!(
            CompactJws::parse(&t, 1024).unwrap_err(),
            JoseError::DuplicateHeaderMember
        );
        let t = token(r#"{"alg":"ES256","x":1,"x":2}"#, b"{}", &[7; 64]);
        assert_eq!(
            CompactJws::parse(&t, 1024).unwrap_err(),
            JoseError::DuplicateHeaderMember
        );
        // An escaped spelling of the same name is the same member.
        let t = token(r#"{"alg":"ES256","\u0061lg":"ES256"}"#, b"{}", &[7; 64]);
        assert_eq!(
            CompactJws::parse(&t, 1024).unwrap_err(),
            JoseError::DuplicateHeaderMember
        );
    }

    #[test]
    fn header_must_be_one_json_object() {
        for header in [
            "[]",
            "\"ES256\"",
            r#"{"alg":"ES256"} {}"#,
            r#"{"alg":"ES256""#,
            "",
        ] {
            let t = token(header, b"{}", &[7; 64]);
            assert_eq!(
                CompactJws::parse(&t, 1024).unwrap_err(),
                JoseError::MalformedHeader,
                "{header}"
            );
        }
        let many: String = (0..20).map(|i| format!(r#","m{i}":0"#)).collect();
        let t = token(&format!(r#"{{"alg":"ES256"{many}}}"#), b"{}", &[7; 64]);
        assert_eq!(
            CompactJws::parse(&t, 4096).unwrap_err(),
            JoseError::MalformedHeader
        );
    }

    #[test]
    fn kid_length_is_bounded() {
        let long = "k".repeat(crate::MAX_KID_LEN + 1);
        let t = token(
            &format!(r#"{{"alg":"ES256","kid":"{long}"}}"#),
            b"{}",
            &[7; 64],
        );
        assert_eq!(
            CompactJws::parse(&t, 4096).unwrap_err(),
            JoseError::MalformedHeader
        );
    }

    #[test]
    fn error_messages_are_lowercase_without_trailing_period() {
        for error in [
            JoseError::TokenTooLong,
            JoseError::CriticalHeader,
            JoseError::PrivateKeyMaterial,
            JoseError::InvalidPrivateKey,
        ] {
            let text = error.to_string();
            assert!(!text.ends_with('.'), "{text}");
            assert_eq!(text, text.to_lowercase(), "{text}");
        }
    }

    #[test]
    fn header_members_are_read() {
        let jwk =
            r#"{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#;
        let t = token(
            &format!(
                r#"{{"typ":"dpop+jwt","alg":"EdDSA","kid":"k\"1","jwk":{jwk},"jku":"https://evil.example"}}"#
            ),
            b"",
            &[7; 64],
        );
        let jws = CompactJws::parse(&t, 1024).unwrap();
        assert_eq!(jws.header().typ.as_deref(), Some("dpop+jwt"));
        assert_eq!(jws.header().kid.as_deref(), Some("k\"1"));
        assert_eq!(
            jws.header().jwk.as_ref().unwrap().thumbprint().to_encoded(),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
        assert_eq!(jws.payload(), b"");
        let private = r#"{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"}"#;
        let t = token(
            &format!(r#"{{"alg":"EdDSA","jwk":{private}}}"#),
            b"",
            &[7; 64],
        );
        assert_eq!(
            CompactJws::parse(&t, 1024).unwrap_err(),
            JoseError::PrivateKeyMaterial
        );
    }

    #[test]
    fn json_strings_are_escaped() {
        let mut out = String::new();
        push_json_string(&mut out, "a\"b\\c\n\u{1}é");
        assert_eq!(out, r#""a\"b\\c\n\u0001é""#);
        assert_eq!(
            serde_json::from_str::<String>(&out).unwrap(),
            "a\"b\\c\n\u{1}é"
        );
    }
}

#[cfg(test)]
mod algorithm_tests {
    use std::sync::OnceLock;

    use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
    use aws_lc_rs::signature::{
        ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair, KeyPair, RSA_PKCS1_SHA256, RSA_PSS_SHA256,
        RsaEncoding,
    };
    use serde_json::json;

    use super::*;
    use crate::jwk::test_vectors::rfc7515_rs256_public;

    /// One RSA-2048 key generated by aws-lc for all the tests here (generation
    /// takes a while).
    fn rsa_key() -> &'static RsaKeyPair {
        static KEY: OnceLock<RsaKeyPair> = OnceLock::new();
        KEY.get_or_init(|| RsaKeyPair::generate(KeySize::Rsa2048).unwrap())
    }

    fn rsa_jwk(key: &RsaKeyPair, alg: Option<&str>) -> PublicJwk {
        let public = key.public_key();
        let mut jwk = json!({
            "kty": "RSA",
            "n": b64::encode(public.modulus().big_endian_without_leading_zero()),
            "e": b64::encode(public.exponent().big_endian_without_leading_zero()),
        });
        if let Some(alg) = alg {
            jwk["alg"] = json!(alg);
        }
        PublicJwk::from_json(&jwk).unwrap()
    }

    #[expect(
        clippy::disallowed_types,
        reason = "aws-lc-rs RSA signing takes an RNG argument it ignores; tests only"
    )]
    fn rsa_sign(key: &RsaKeyPair, padding: &'static dyn RsaEncoding, alg: &str) -> String {
        let signing_input = format!(
            "{}.{}",
            b64::encode(format!(r#"{{"alg":"{alg}"}}"#).as_bytes()),
            b64::encode(b"{\"sub\":\"alice\"}")
        );
        let mut signature = vec![0; key.public_modulus_len()];
        key.sign(
            padding,
            &aws_lc_rs::rand::SystemRandom::new(),
            signing_input.as_bytes(),
            &mut signature,
        )
        .unwrap();
        format!("{signing_input}.{}", b64::encode(&signature))
    }

    #[test]
    fn rfc_7515_appendix_a_2_rs256_example_verifies() {
        let jwk = PublicJwk::from_json(&rfc7515_rs256_public()).unwrap();
        let token = "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw";
        let jws = CompactJws::parse(token, 4096).unwrap();
        assert_eq!(jws.header().alg, Algorithm::Rs256);
        assert_eq!(jws.signature().len(), 256);
        assert_eq!(jws.verify_with(&jwk), Ok(()));

        // The same signature presented as PS256 does not verify: the padding differs.
        let (_, rest) = token.split_once('.').unwrap();
        let as_pss = format!("{}.{rest}", b64::encode(br#"{"alg":"PS256"}"#));
        let jws = CompactJws::parse(&as_pss, 4096).unwrap();
        assert_eq!(jws.verify_with(&jwk), Err(JoseError::BadSignature));

        // A tampered payload fails.
        let tampered = token.replacen(".eyJpc3MiOiJqb2Ui", ".eyJpc3MiOiJqb2Ki", 1);
        let jws = CompactJws::parse(&tampered, 4096).unwrap();
        assert_eq!(jws.verify_with(&jwk), Err(JoseError::BadSignature));
    }

    #[test]
    fn rfc_7518_section_3_5_ps256_signed_by_aws_lc_verifies() {
        let key = rsa_key();
        let token = rsa_sign(key, &RSA_PSS_SHA256, "PS256");
        let jws = CompactJws::parse(&token, 4096).unwrap();
        assert_eq!(jws.header().alg, Algorithm::Ps256);
        assert_eq!(jws.verify_with(&rsa_jwk(key, None)), Ok(()));
        assert_eq!(jws.verify_with(&rsa_jwk(key, Some("PS256"))), Ok(()));
        // A key published for RS256 only is not used for PS256 (RFC 8725 section 3.1).
        assert_eq!(
            jws.verify_with(&rsa_jwk(key, Some("RS256"))),
            Err(JoseError::AlgorithmMismatch)
        );
    }

    #[test]
    fn rfc_7518_section_3_3_rs256_signed_by_aws_lc_verifies_and_is_not_pss() {
        let key = rsa_key();
        let token = rsa_sign(key, &RSA_PKCS1_SHA256, "RS256");
        let jws = CompactJws::parse(&token, 4096).unwrap();
        assert_eq!(jws.verify_with(&rsa_jwk(key, Some("RS256"))), Ok(()));
        let (_, rest) = token.split_once('.').unwrap();
        let relabelled = format!("{}.{rest}", b64::encode(br#"{"alg":"PS256"}"#));
        let jws = CompactJws::parse(&relabelled, 4096).unwrap();
        assert_eq!(
            jws.verify_with(&rsa_jwk(key, None)),
            Err(JoseError::BadSignature)
        );
    }

    #[test]
    fn rfc_7518_section_3_4_es384_signed_by_aws_lc_verifies() {
        let pkcs8 = EcdsaKeyPair::generate(&ECDSA_P384_SHA384_FIXED_SIGNING)
            .unwrap()
            .to_pkcs8v1()
            .unwrap();
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
        let signing_input = format!(
            "{}.{}",
            b64::encode(br#"{"alg":"ES384"}"#),
            b64::encode(b"{}")
        );
        let signature = pair
            .sign_digest(&aws_lc_rs::digest::digest(
                &aws_lc_rs::digest::SHA384,
                signing_input.as_bytes(),
            ))
            .unwrap();
        assert_eq!(signature.as_ref().len(), 96);
        let token = format!("{signing_input}.{}", b64::encode(signature.as_ref()));
        let public = pair.public_key().as_ref();
        let jwk = PublicJwk::from_public_bytes(Algorithm::Es384, public).unwrap();
        let jws = CompactJws::parse(&token, 4096).unwrap();
        assert_eq!(jws.verify_with(&jwk), Ok(()));
        // And through Latchkey's own signer, read from the same PKCS#8 document.
        let signer =
            crate::SigningKey::from_pkcs8(Algorithm::Es384, "k".to_owned(), pkcs8.as_ref())
                .unwrap();
        assert_eq!(signer.public_jwk().thumbprint(), jwk.thumbprint());
        let own = signer.sign_compact(&JoseHeader::new(Algorithm::Es384), b"{}");
        let jws = CompactJws::parse(&own, 4096).unwrap();
        assert_eq!(jws.signature().len(), 96);
        assert_eq!(jws.verify_with(&jwk), Ok(()));
    }

    #[test]
    fn rfc_8725_section_3_1_algorithm_and_key_type_must_match() {
        let key = rsa_key();
        let rsa = rsa_jwk(key, None);
        let ec_key = crate::SigningKey::generate(
            Algorithm::Es256,
            "k".to_owned(),
            &mut <rand_chacha::ChaCha20Rng as rand_core::SeedableRng>::seed_from_u64(1),
        );
        // An ES256 token checked with an RSA key, and an RS256 token with an EC key.
        let es = ec_key.sign_compact(&JoseHeader::new(Algorithm::Es256), b"{}");
        let jws = CompactJws::parse(&es, 4096).unwrap();
        assert_eq!(jws.verify_with(&rsa), Err(JoseError::AlgorithmMismatch));
        let rs = rsa_sign(key, &RSA_PKCS1_SHA256, "RS256");
        let jws = CompactJws::parse(&rs, 4096).unwrap();
        assert_eq!(
            jws.verify_with(&ec_key.public_jwk()),
            Err(JoseError::AlgorithmMismatch)
        );
    }

    #[test]
    fn rfc_7518_section_3_signature_length_must_fit_the_algorithm() {
        let token = |alg: &str, len: usize| {
            format!(
                "{}.{}.{}",
                b64::encode(format!(r#"{{"alg":"{alg}"}}"#).as_bytes()),
                b64::encode(b"{}"),
                b64::encode(&vec![7u8; len])
            )
        };
        let mut rng = <rand_chacha::ChaCha20Rng as rand_core::SeedableRng>::seed_from_u64(2);
        let mut key = |alg| crate::SigningKey::generate(alg, "k".to_owned(), &mut rng).public_jwk();
        let rsa = PublicJwk::from_json(&rfc7515_rs256_public()).unwrap();
        for (alg, jwk, ok, bad) in [
            ("ES256", key(Algorithm::Es256), 64, 96),
            ("EdDSA", key(Algorithm::EdDsa), 64, 96),
            ("ES384", key(Algorithm::Es384), 96, 64),
            ("RS256", rsa.clone(), 256, 64),
            ("PS256", rsa, 256, 512),
        ] {
            let good_token = token(alg, ok);
            let good = CompactJws::parse(&good_token, 4096).unwrap();
            assert_eq!(good.signature().len(), ok, "{alg}");
            assert_eq!(
                good.verify_with(&jwk),
                Err(JoseError::BadSignature),
                "{alg}"
            );
            let wrong_token = token(alg, bad);
            let wrong = CompactJws::parse(&wrong_token, 4096).unwrap();
            assert_eq!(
                wrong.verify_with(&jwk),
                Err(JoseError::SignatureLength),
                "{alg}"
            );
        }
        // Lengths no algorithm produces are refused while parsing.
        for len in [0, 1, 63, 65, 95, 97, 128, 255, 1025] {
            assert_eq!(
                CompactJws::parse(&token("RS256", len), 8192).unwrap_err(),
                JoseError::SignatureLength,
                "{len}"
            );
        }
        assert!(CompactJws::parse(&token("RS256", 1024), 8192).is_ok());
    }
}
