//! The JWT claims set as it arrives: one pass of `serde_json` over the payload into
//! borrowed strings, refusing duplicate names (RFC 7519 section 4), with no
//! intermediate `serde_json::Value`.

use core::fmt;
use std::borrow::Cow;

use serde::Deserializer;
use serde::de::{self, Deserialize, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::TokenError;
use crate::claims::Audience;

/// The most members a claims set may have; access tokens carry about a dozen.
const MAX_CLAIMS: usize = 64;

/// The claims Latchkey reads, still untyped.
#[derive(Default)]
pub(crate) struct RawClaims<'de> {
    pub(crate) iss: Option<JsonStr<'de>>,
    pub(crate) sub: Option<JsonStr<'de>>,
    pub(crate) aud: Option<Vec<JsonStr<'de>>>,
    pub(crate) exp: Option<NumericDate>,
    pub(crate) iat: Option<NumericDate>,
    pub(crate) nbf: Option<NumericDate>,
    pub(crate) auth_time: Option<NumericDate>,
    pub(crate) jti: Option<JsonStr<'de>>,
    pub(crate) client_id: Option<JsonStr<'de>>,
    pub(crate) scope: Option<JsonStr<'de>>,
    pub(crate) scp: Option<ScopeList<'de>>,
    pub(crate) cnf: Option<RawConfirmation<'de>>,
}

impl<'de> RawClaims<'de> {
    /// Parses a claims set: exactly one JSON object, UTF-8 (RFC 8725bis section 3.7).
    pub(crate) fn parse(json: &'de [u8]) -> Result<Self, TokenError> {
        let mut failure = None;
        let mut de = serde_json::Deserializer::from_slice(json);
        let parsed = ClaimsSeed {
            failure: &mut failure,
        }
        .deserialize(&mut de)
        .and_then(|claims| de.end().map(|()| claims));
        match (parsed, failure) {
            (_, Some(error)) => Err(error),
            (Ok(claims), None) => Ok(claims),
            (Err(_), None) => Err(TokenError::MalformedClaims),
        }
    }
}

/// A JSON string, borrowed from the payload when it holds no escapes.
pub(crate) struct JsonStr<'de>(pub(crate) Cow<'de, str>);

/// A NumericDate (RFC 7519 section 2), which may have a fraction: `floor` for
/// expiry (expire no later) and `ceil` for `nbf` / `iat` (start no earlier).
#[derive(Clone, Copy)]
pub(crate) struct NumericDate {
    pub(crate) floor: u64,
    pub(crate) ceil: u64,
}

/// The `scp` claim some issuers send instead of `scope`: an array of scope
/// tokens, or one space-delimited string.
pub(crate) enum ScopeList<'de> {
    One(JsonStr<'de>),
    Many(Vec<JsonStr<'de>>),
}

/// The most values a `scp` array may hold.
pub(crate) const MAX_SCP_VALUES: usize = 256;

/// The `cnf` claim (RFC 7800 section 3.1): its `jkt`, and whether it holds any
/// other confirmation method.
pub(crate) struct RawConfirmation<'de> {
    pub(crate) jkt: Option<JsonStr<'de>>,
    pub(crate) other: bool,
}

struct ClaimsSeed<'f> {
    failure: &'f mut Option<TokenError>,
}

fn refuse<E: de::Error>(slot: &mut Option<TokenError>, error: TokenError) -> E {
    *slot = Some(error);
    E::custom("refused claims")
}

impl<'de> DeserializeSeed<'de> for ClaimsSeed<'_> {
    type Value = RawClaims<'de>;

    fn deserialize<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<RawClaims<'de>, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ClaimsSeed<'_> {
    type Value = RawClaims<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JWT claims set")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawClaims<'de>, A::Error> {
        let mut seen: Vec<JsonStr<'de>> = Vec::with_capacity(12);
        let mut claims = RawClaims::default();
        let slot = self.failure;
        while let Some(name) = map.next_key::<JsonStr<'de>>()? {
            if seen.iter().any(|s| s.0 == name.0) {
                return Err(refuse(slot, TokenError::DuplicateClaim));
            }
            if seen.len() >= MAX_CLAIMS {
                return Err(refuse(slot, TokenError::MalformedClaims));
            }
            match name.0.as_ref() {
                "iss" => claims.iss = Some(typed(&mut map, slot, "iss")?),
                "sub" => claims.sub = Some(typed(&mut map, slot, "sub")?),
                "aud" => {
                    claims.aud = Some(typed::<_, AudienceValue<'de>>(&mut map, slot, "aud")?.0)
                }
                "exp" => claims.exp = Some(typed(&mut map, slot, "exp")?),
                "iat" => claims.iat = Some(typed(&mut map, slot, "iat")?),
                "nbf" => claims.nbf = Some(typed(&mut map, slot, "nbf")?),
                "auth_time" => claims.auth_time = Some(typed(&mut map, slot, "auth_time")?),
                "jti" => claims.jti = Some(typed(&mut map, slot, "jti")?),
                "client_id" => claims.client_id = Some(typed(&mut map, slot, "client_id")?),
                "scope" => claims.scope = Some(typed(&mut map, slot, "scope")?),
                "scp" => claims.scp = Some(typed(&mut map, slot, "scp")?),
                "cnf" => claims.cnf = Some(typed(&mut map, slot, "cnf")?),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            seen.push(name);
        }
        Ok(claims)
    }
}

/// Reads the value of claim `name`, recording [`TokenError::MalformedClaim`] when
/// it has the wrong JSON type.
fn typed<'de, A: MapAccess<'de>, T: Deserialize<'de>>(
    map: &mut A,
    slot: &mut Option<TokenError>,
    name: &'static str,
) -> Result<T, A::Error> {
    map.next_value::<T>().inspect_err(|_| {
        slot.get_or_insert(TokenError::MalformedClaim(name));
    })
}

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

impl<'de> Deserialize<'de> for NumericDate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DateVisitor;
        impl Visitor<'_> for DateVisitor {
            type Value = NumericDate;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a non-negative NumericDate")
            }
            fn visit_u64<E>(self, v: u64) -> Result<NumericDate, E> {
                Ok(NumericDate { floor: v, ceil: v })
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<NumericDate, E> {
                u64::try_from(v)
                    .map(|v| NumericDate { floor: v, ceil: v })
                    .map_err(|_| E::custom("negative date"))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<NumericDate, E> {
                // 2^53: beyond it f64 has no fractions and u64 conversion stays exact.
                if !(0.0..=9_007_199_254_740_992.0).contains(&v) {
                    return Err(E::custom("date out of range"));
                }
                // v is finite, non-negative and at most 2^53: floor and ceil are exact u64 values.
                let (floor, ceil) = (v.floor() as u64, v.ceil() as u64);
                Ok(NumericDate { floor, ceil })
            }
        }
        deserializer.deserialize_any(DateVisitor)
    }
}

/// `aud`: one string or an array of strings (RFC 7519 section 4.1.3), at most
/// [`Audience::MAX_LEN`] values, never an empty array.
struct AudienceValue<'de>(Vec<JsonStr<'de>>);

impl<'de> Deserialize<'de> for AudienceValue<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct AudVisitor;
        impl<'de> Visitor<'de> for AudVisitor {
            type Value = AudienceValue<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a non-empty array of strings")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<AudienceValue<'de>, E> {
                Ok(AudienceValue(vec![JsonStr(Cow::Borrowed(v))]))
            }
            fn visit_str<E>(self, v: &str) -> Result<AudienceValue<'de>, E> {
                Ok(AudienceValue(vec![JsonStr(Cow::Owned(v.to_owned()))]))
            }
            fn visit_seq<A: SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<AudienceValue<'de>, A::Error> {
                let mut values = Vec::with_capacity(2);
                while let Some(value) = seq.next_element::<JsonStr<'de>>()? {
                    if values.len() >= Audience::MAX_LEN {
                        return Err(de::Error::custom("too many audiences"));
                    }
                    values.push(value);
                }
                if values.is_empty() {
                    return Err(de::Error::custom("empty audience"));
                }
                Ok(AudienceValue(values))
            }
        }
        deserializer.deserialize_any(AudVisitor)
    }
}

impl<'de> Deserialize<'de> for ScopeList<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ScpVisitor;
        impl<'de> Visitor<'de> for ScpVisitor {
            type Value = ScopeList<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or an array of strings")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<ScopeList<'de>, E> {
                Ok(ScopeList::One(JsonStr(Cow::Borrowed(v))))
            }
            fn visit_str<E>(self, v: &str) -> Result<ScopeList<'de>, E> {
                Ok(ScopeList::One(JsonStr(Cow::Owned(v.to_owned()))))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ScopeList<'de>, A::Error> {
                let mut values = Vec::with_capacity(4);
                while let Some(value) = seq.next_element::<JsonStr<'de>>()? {
                    if values.len() >= MAX_SCP_VALUES {
                        return Err(de::Error::custom("too many scp values"));
                    }
                    values.push(value);
                }
                Ok(ScopeList::Many(values))
            }
        }
        deserializer.deserialize_any(ScpVisitor)
    }
}

impl<'de> Deserialize<'de> for RawConfirmation<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CnfVisitor;
        impl<'de> Visitor<'de> for CnfVisitor {
            type Value = RawConfirmation<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a confirmation object")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<RawConfirmation<'de>, A::Error> {
                let mut cnf = RawConfirmation {
                    jkt: None,
                    other: false,
                };
                let mut count = 0usize;
                while let Some(name) = map.next_key::<JsonStr<'de>>()? {
                    count = count.saturating_add(1);
                    if count > MAX_CLAIMS {
                        return Err(de::Error::custom("too many confirmation members"));
                    }
                    if name.0 == "jkt" {
                        if cnf.jkt.is_some() {
                            return Err(de::Error::custom("duplicate jkt"));
                        }
                        cnf.jkt = Some(map.next_value()?);
                    } else {
                        cnf.other = true;
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(cnf)
            }
        }
        deserializer.deserialize_map(CnfVisitor)
    }
}
