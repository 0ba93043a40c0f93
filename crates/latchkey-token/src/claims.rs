//! The claims of a JWT access token (RFC 9068 section 2.2) and their JSON form.

use core::fmt;
use core::time::Duration;

use base64ct::{Base64UrlUnpadded, Encoding};
use latchkey_types::{ClientId, Scope, Subject, UnixTime};
use latchkey_uri::ResourceUri;
use rand_core::CryptoRng;
use serde::Serialize;

use crate::TokenError;
use crate::code::JwkThumbprint;

/// The claims of a JWT access token (RFC 9068 section 2.2).
///
/// Every claim RFC 9068 section 2.2 makes REQUIRED has a field that cannot be
/// empty: `iss`, `exp`, `aud`, `sub`, `client_id`, `iat`, `jti`. `scope` is the
/// space-delimited string of section 2.2.3 (left out when empty); `cnf.jkt` binds
/// the token to a DPoP key (RFC 9449 section 6.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessTokenClaims {
    /// The issuer identifier, compared as an exact string (RFC 9068 section 4).
    pub iss: String,
    /// The resource owner, or the client for a client-credentials grant (section 2.2).
    pub sub: Subject,
    /// The resources the token is for (RFC 8707 section 2, RFC 9068 section 3).
    pub aud: Audience,
    /// Expiry (RFC 7519 section 4.1.4).
    pub exp: UnixTime,
    /// Issue time (RFC 7519 section 4.1.6).
    pub iat: UnixTime,
    /// Not-before time, if any (RFC 7519 section 4.1.5).
    pub nbf: Option<UnixTime>,
    /// The token's unique id (RFC 7519 section 4.1.7).
    pub jti: TokenId,
    /// The client the token was issued to (RFC 8693 section 4.3).
    pub client_id: ClientId,
    /// The granted scope (RFC 9068 section 2.2.3); empty means no `scope` claim.
    pub scope: Scope,
    /// When the end user last authenticated (RFC 9068 section 2.2.1), if known.
    pub auth_time: Option<UnixTime>,
    /// The DPoP key the token is bound to (`cnf.jkt`, RFC 9449 section 6.1).
    pub cnf_jkt: Option<JwkThumbprint>,
}

impl AccessTokenClaims {
    /// The lifetime [`AccessTokenClaims::new`] gives a token: 5 minutes, short-lived as
    /// MCP A9 and RFC 9700 section 4.10 recommend.
    pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(300);
    /// The longest lifetime [`AccessTokenClaims::with_lifetime`] accepts: 1 hour.
    pub const MAX_LIFETIME: Duration = Duration::from_secs(3600);

    /// Claims issued at `now` for [`Self::DEFAULT_LIFETIME`], with a fresh `jti`
    /// from `rng`, no scope, no `nbf`, no `auth_time` and no DPoP binding.
    pub fn new(
        iss: String,
        sub: Subject,
        client_id: ClientId,
        aud: Audience,
        now: UnixTime,
        rng: &mut impl CryptoRng,
    ) -> Self {
        Self {
            iss,
            sub,
            aud,
            exp: now.saturating_add(Self::DEFAULT_LIFETIME),
            iat: now,
            nbf: None,
            jti: TokenId::generate(rng),
            client_id,
            scope: Scope::empty(),
            auth_time: None,
            cnf_jkt: None,
        }
    }

    /// These claims expiring `lifetime` after `iat`; refused when zero or above
    /// [`Self::MAX_LIFETIME`] (MCP A9).
    pub fn with_lifetime(mut self, lifetime: Duration) -> Result<Self, TokenError> {
        if lifetime.as_secs() == 0 {
            return Err(TokenError::LifetimeZero);
        }
        if lifetime > Self::MAX_LIFETIME {
            return Err(TokenError::LifetimeTooLong);
        }
        self.exp = self.iat.saturating_add(lifetime);
        Ok(self)
    }

    /// These claims with `scope`.
    pub fn with_scope(mut self, scope: Scope) -> Self {
        self.scope = scope;
        self
    }

    /// These claims bound to the DPoP key with thumbprint `jkt` (RFC 9449 section 6.1).
    pub fn with_cnf_jkt(mut self, jkt: JwkThumbprint) -> Self {
        self.cnf_jkt = Some(jkt);
        self
    }

    /// These claims with the end user's authentication time (RFC 9068 section 2.2.1).
    pub fn with_auth_time(mut self, auth_time: UnixTime) -> Self {
        self.auth_time = Some(auth_time);
        self
    }

    /// The JSON claims set, members in a fixed order, `aud` a string when there is
    /// one audience and an array otherwise (RFC 7519 section 4.1.3).
    pub(crate) fn to_json(&self) -> Vec<u8> {
        let out = ClaimsOut {
            iss: &self.iss,
            sub: self.sub.as_str(),
            aud: if let [one] = self.aud.as_slice() {
                AudOut::One(one.as_str())
            } else {
                AudOut::Many(self.aud.iter().map(ResourceUri::as_str).collect())
            },
            exp: self.exp.as_secs(),
            iat: self.iat.as_secs(),
            nbf: self.nbf.map(UnixTime::as_secs),
            jti: self.jti.as_str(),
            client_id: self.client_id.as_str(),
            scope: (!self.scope.is_empty()).then(|| self.scope.to_string()),
            auth_time: self.auth_time.map(UnixTime::as_secs),
            cnf: self.cnf_jkt.as_ref().map(|jkt| CnfOut {
                jkt: jkt.to_encoded(),
            }),
        };
        serde_json::to_vec(&out).expect("a struct of strings and integers always serializes")
    }
}

/// The `aud` of an access token: one or more resource URIs (RFC 8707 section 2).
/// Never empty.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Audience(Vec<ResourceUri>);

impl Audience {
    /// The most audience values a token may carry.
    pub const MAX_LEN: usize = 16;

    /// A single-resource audience.
    pub fn new(resource: ResourceUri) -> Self {
        Self(vec![resource])
    }

    /// An audience of several resources; `None` when `resources` is empty or longer
    /// than [`Self::MAX_LEN`]. Duplicates are dropped, first occurrence kept.
    pub fn from_vec(resources: Vec<ResourceUri>) -> Option<Self> {
        let mut unique: Vec<ResourceUri> = Vec::with_capacity(resources.len());
        for resource in resources {
            if !unique.contains(&resource) {
                unique.push(resource);
            }
        }
        (!unique.is_empty() && unique.len() <= Self::MAX_LEN).then_some(Self(unique))
    }

    /// The resources, in order.
    pub fn as_slice(&self) -> &[ResourceUri] {
        &self.0
    }

    /// Iterates over the resources.
    pub fn iter(&self) -> impl Iterator<Item = &ResourceUri> {
        self.0.iter()
    }
}

/// A JWT ID (`jti`, RFC 7519 section 4.1.7): 1 to 255 bytes of `%x21-7E`.
///
/// Generated ids are 128 random bits from the caller's RNG in unpadded base64url,
/// enough that two tokens never share one (RFC 9068 section 2.2).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TokenId(String);

impl TokenId {
    /// The longest id accepted, in bytes.
    pub const MAX_LEN: usize = 255;

    /// A fresh id of 128 random bits.
    pub fn generate(rng: &mut impl CryptoRng) -> Self {
        let mut bytes = [0u8; 16];
        rng.fill_bytes(&mut bytes);
        Self(Base64UrlUnpadded::encode_string(&bytes))
    }

    /// Parses a `jti` value.
    pub fn parse(s: &str) -> Result<Self, TokenError> {
        if s.is_empty() || s.len() > Self::MAX_LEN || !s.bytes().all(|b| (0x21..=0x7e).contains(&b))
        {
            return Err(TokenError::MalformedClaim("jti"));
        }
        Ok(Self(s.to_owned()))
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Serialize)]
struct ClaimsOut<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: AudOut<'a>,
    exp: u64,
    iat: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    nbf: Option<u64>,
    jti: &'a str,
    client_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    auth_time: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cnf: Option<CnfOut>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum AudOut<'a> {
    One(&'a str),
    Many(Vec<&'a str>),
}

#[derive(Serialize)]
struct CnfOut {
    jkt: String,
}
