//! Client authentication at the token, revocation and introspection endpoints
//! (OAuth 2.1 section 2.4, RFC 6749 section 2.3.1, RFC 7523 sections 2.2 and 3).
//!
//! Exactly one method per request: HTTP Basic (`client_secret_basic`), the
//! secret in the body (`client_secret_post`), a signed JWT assertion
//! (`private_key_jwt`), or nothing but `client_id` for a public client
//! (`none`). Two methods at once is `invalid_request`; the method used must be
//! the client's registered `token_endpoint_auth_method`. Secrets are compared
//! as SHA-256 digests in constant time. Every failure is `invalid_client` (401,
//! with a `WWW-Authenticate: Basic` challenge when Basic was tried) and a
//! [`SecurityEvent::ClientAuthFailed`] without the secret.
//!
//! `private_key_jwt` keys come from the client's registered `jwks`, or from
//! its `jwks_uri` through the [`MetadataFetcher`] (the server's fetcher
//! applies its SSRF rules, a 64 KiB bound and its cache).
//! Assertions may be signed with ES256, EdDSA, RS256 or PS256
//! ([`ASSERTION_ALGORITHMS`]; RSA keys of at least 2048 bits), by a key that
//! verifies the header's algorithm (RFC 8725 section 3.1).

use core::time::Duration;

use base64ct::{Base64, Encoding};
use latchkey_jose::{Algorithm, CompactJws, Jwks};
use latchkey_registration::TokenEndpointAuthMethod;
use latchkey_store::Store;
use latchkey_types::json::parse_object;
use latchkey_types::{ClientId, TokenDigest, UnixTime};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::clients::{MetadataFetcher, ResolvedClient};
use crate::engine::Engine;
use crate::error::{Challenge, EngineError, Refusal};
use crate::events::{SecurityEvent, emit};
use crate::request::{HttpContext, Params};

/// The `client_assertion_type` of a JWT client assertion (RFC 7523 section 2.2).
pub const JWT_BEARER_ASSERTION_TYPE: &str =
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The algorithms a `private_key_jwt` client assertion may be signed with
/// (RFC 7523 section 3, OAuth 2.1 section 2.4.1), as the discovery document
/// advertises them in `token_endpoint_auth_signing_alg_values_supported`
/// (RFC 8414 section 2): ES256, EdDSA, and RS256 and PS256 for clients whose
/// keys are RSA (2048 bits or more, `latchkey-jose`). `none` and `HS*` cannot
/// be named.
pub(crate) const ASSERTION_ALGORITHMS: [Algorithm; 4] = [
    Algorithm::Es256,
    Algorithm::EdDsa,
    Algorithm::Rs256,
    Algorithm::Ps256,
];

/// The longest client assertion accepted, in bytes.
const MAX_ASSERTION_LEN: usize = 8192;
/// The longest assertion `jti` accepted, in bytes.
const MAX_JTI_LEN: usize = 256;
/// How far ahead an assertion's `exp` may lie: bounds how long its `jti` is kept.
const MAX_ASSERTION_LIFETIME: Duration = Duration::from_secs(600);
/// Clock skew allowed on `exp`, `nbf` and `iat`.
const ASSERTION_LEEWAY: Duration = Duration::from_secs(60);

/// A client that authenticated.
#[derive(Clone, Debug)]
pub(crate) struct AuthenticatedClient {
    /// The client; it used its registered method.
    pub(crate) client: ResolvedClient,
}

impl<S: Store, F: MetadataFetcher> Engine<S, F> {
    /// Authenticates the client of a request to `endpoint` (whose URL is also
    /// accepted as a client assertion audience, besides the issuer and the
    /// token endpoint).
    pub(crate) async fn authenticate_client(
        &self,
        params: &Params,
        http: &HttpContext,
        endpoint: &str,
        now: UnixTime,
    ) -> Result<AuthenticatedClient, Refusal> {
        let basic = match http.authorization.as_deref() {
            None => None,
            Some(header) => match parse_basic(header) {
                Ok(credentials) => Some(credentials),
                Err(reason) => {
                    emit(&SecurityEvent::ClientAuthFailed {
                        client_id: None,
                        method: "client_secret_basic",
                        reason,
                    });
                    return Err(Refusal::with_challenge(
                        EngineError::AuthorizationHeaderMalformed,
                        Challenge::Basic,
                    ));
                }
            },
        };
        let challenge = if basic.is_some() {
            Challenge::Basic
        } else {
            Challenge::None
        };
        let post = params.get("client_secret");
        let jwt = params.contains("client_assertion") || params.contains("client_assertion_type");
        let methods = usize::from(basic.is_some()) + usize::from(post.is_some()) + usize::from(jwt);
        if methods > 1 {
            return Err(Refusal::with_challenge(
                EngineError::MultipleClientAuthenticationMethods,
                challenge,
            ));
        }
        let refuse = |client_id: Option<&ClientId>,
                      method: TokenEndpointAuthMethod,
                      reason: &'static str| {
            emit(&SecurityEvent::ClientAuthFailed {
                client_id,
                method: method.as_str(),
                reason,
            });
            Refusal::with_challenge(EngineError::ClientAuthenticationFailed, challenge)
        };
        let param_id = params.get("client_id");

        if let Some((id, secret)) = basic {
            let method = TokenEndpointAuthMethod::ClientSecretBasic;
            let Ok(client_id) = ClientId::parse(&id) else {
                return Err(refuse(None, method, "malformed client id"));
            };
            if param_id.is_some_and(|p| p != client_id.as_str()) {
                return Err(Refusal::with_challenge(
                    EngineError::ClientIdMismatch,
                    challenge,
                ));
            }
            let client = self.find_client(&client_id, now, challenge).await?;
            let Some(client) = client else {
                return Err(refuse(Some(&client_id), method, "unknown client"));
            };
            return check_secret(client, method, &secret, now)
                .map_err(|reason| refuse(Some(&client_id), method, reason));
        }

        let id = match param_id {
            Some(id) => Some(id.to_owned()),
            None if jwt => assertion_subject(params),
            None => None,
        };
        let Some(id) = id else {
            let method = if jwt {
                TokenEndpointAuthMethod::PrivateKeyJwt
            } else {
                TokenEndpointAuthMethod::None
            };
            return Err(refuse(None, method, "no client identified"));
        };

        let Ok(client_id) = ClientId::parse(&id) else {
            return Err(refuse(
                None,
                TokenEndpointAuthMethod::None,
                "malformed client id",
            ));
        };
        let Some(client) = self.find_client(&client_id, now, Challenge::None).await? else {
            let method = if jwt {
                TokenEndpointAuthMethod::PrivateKeyJwt
            } else if post.is_some() {
                TokenEndpointAuthMethod::ClientSecretPost
            } else {
                TokenEndpointAuthMethod::None
            };
            return Err(refuse(Some(&client_id), method, "unknown client"));
        };

        if let Some(secret) = post {
            let method = TokenEndpointAuthMethod::ClientSecretPost;
            return check_secret(client, method, secret, now)
                .map_err(|reason| refuse(Some(&client_id), method, reason));
        }
        if jwt {
            let method = TokenEndpointAuthMethod::PrivateKeyJwt;
            if client.metadata.token_endpoint_auth_method() != method {
                return Err(refuse(
                    Some(&client_id),
                    method,
                    "wrong authentication method",
                ));
            }
            let jwks = self
                .client_jwks(&client)
                .await
                .map_err(|reason| refuse(Some(&client_id), method, reason))?;
            let checked = check_assertion(
                &client,
                &jwks,
                params,
                &[
                    self.config().issuer.as_str(),
                    self.config().token_endpoint.as_str(),
                    endpoint,
                ],
                now,
            )
            .map_err(|reason| refuse(Some(&client_id), method, reason))?;
            let fresh = self
                .store()
                .remember_once(&checked.replay_key, checked.expires_at, now)
                .await
                .map_err(EngineError::from)?;
            if !fresh {
                emit(&SecurityEvent::AssertionReplay {
                    client_id: &client_id,
                });
                return Err(refuse(Some(&client_id), method, "assertion jti replayed"));
            }
            return Ok(AuthenticatedClient { client });
        }
        let method = TokenEndpointAuthMethod::None;
        if client.metadata.token_endpoint_auth_method() != method {
            return Err(refuse(
                Some(&client_id),
                method,
                "wrong authentication method",
            ));
        }
        Ok(AuthenticatedClient { client })
    }

    async fn find_client(
        &self,
        client_id: &ClientId,
        now: UnixTime,
        challenge: Challenge,
    ) -> Result<Option<ResolvedClient>, Refusal> {
        self.resolve_client(client_id, now)
            .await
            .map_err(|error| Refusal::with_challenge(error, challenge))
    }
}

/// RFC 6749 section 2.3.1: `Basic base64(urlencode(id) ":" urlencode(secret))`.
pub(crate) fn parse_basic(header: &str) -> Result<(String, String), &'static str> {
    let (scheme, rest) = header.split_once(' ').ok_or("not a basic authorization")?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err("unsupported authorization scheme");
    }
    let encoded = rest.trim_matches(' ');
    if encoded.len() > 4096 {
        return Err("basic credentials too long");
    }
    let decoded = Base64::decode_vec(encoded).map_err(|_| "basic credentials are not base64")?;
    let decoded = String::from_utf8(decoded).map_err(|_| "basic credentials are not utf-8")?;
    let (id, secret) = decoded
        .split_once(':')
        .ok_or("basic credentials lack a colon")?;
    let id = form_urldecode(id).ok_or("basic client id is not form-urlencoded")?;
    let secret = form_urldecode(secret).ok_or("basic secret is not form-urlencoded")?;
    if id.is_empty() {
        return Err("basic client id is empty");
    }
    Ok((id, secret))
}

/// `application/x-www-form-urlencoded` decoding of one component: `+` is a
/// space, `%XX` a byte; the result must be UTF-8.
fn form_urldecode(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = hex_value(bytes.next()?)?;
                let lo = hex_value(bytes.next()?)?;
                out.push(hi << 4 | lo);
            }
            other => out.push(other),
        }
    }
    String::from_utf8(out).ok()
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The registered method must be `method`; the secret must be unexpired and
/// its SHA-256 digest equal the stored one (constant-time `TokenDigest` equality).
fn check_secret(
    client: ResolvedClient,
    method: TokenEndpointAuthMethod,
    secret: &str,
    now: UnixTime,
) -> Result<AuthenticatedClient, &'static str> {
    if client.metadata.token_endpoint_auth_method() != method {
        return Err("wrong authentication method");
    }
    let Some(stored) = client.secret_digest else {
        return Err("client has no secret");
    };
    if client.secret_expires_at.is_some_and(|at| now >= at) {
        return Err("client secret expired");
    }
    if TokenDigest::of(secret.as_bytes()) != stored {
        return Err("wrong client secret");
    }
    Ok(AuthenticatedClient { client })
}

/// The `sub` of an unverified assertion, to find the client when no
/// `client_id` parameter is sent (RFC 7523 section 3: `sub` is the client id).
/// The assertion is verified afterwards with that client's keys.
pub(crate) fn assertion_subject(params: &Params) -> Option<String> {
    let assertion = params.get("client_assertion")?;
    let jws = CompactJws::parse(assertion, MAX_ASSERTION_LEN).ok()?;
    parse_claims(jws.payload()).ok()?.sub
}

impl<S: Store, F: MetadataFetcher> Engine<S, F> {
    /// The keys a `private_key_jwt` client signs with (RFC 7591 section 2):
    /// its registered `jwks`, or the JWK Set at its `jwks_uri`, fetched
    /// through the [`MetadataFetcher`] (which bounds, vets and caches it).
    async fn client_jwks(&self, client: &ResolvedClient) -> Result<Jwks, &'static str> {
        if let Some(jwks) = client.metadata.jwks() {
            let jwks = serde_json::to_vec(jwks).map_err(|_| "client jwks unusable")?;
            return Jwks::parse(&jwks).map_err(|_| "client jwks unusable");
        }
        let uri = client
            .metadata
            .jwks_uri()
            .ok_or("client has neither jwks nor jwks_uri")?;
        let body = self
            .fetcher()
            .fetch_jwks(uri)
            .await
            .map_err(|_| "client jwks_uri could not be fetched")?;
        Jwks::parse(&body).map_err(|_| "client jwks_uri is not a usable jwk set")
    }
}

pub(crate) struct CheckedAssertion {
    pub(crate) replay_key: [u8; 32],
    pub(crate) expires_at: UnixTime,
}

#[derive(Deserialize)]
struct AssertionClaims {
    iss: Option<String>,
    sub: Option<String>,
    aud: Option<serde_json::Value>,
    exp: Option<u64>,
    nbf: Option<u64>,
    iat: Option<u64>,
    jti: Option<String>,
}

/// The claims of an assertion: one JSON object (RFC 7519 section 7.2 step
/// 10), no member twice (RFC 7519 section 4, through the strict reader), the
/// registered claims of the types RFC 7519 section 4.1 gives them. A JSON
/// array holding the same values in field order is not a claims set.
fn parse_claims(payload: &[u8]) -> Result<AssertionClaims, &'static str> {
    let object =
        parse_object(payload, MAX_ASSERTION_LEN).map_err(|_| "assertion claims malformed")?;
    serde_json::from_value(serde_json::Value::Object(object))
        .map_err(|_| "assertion claims malformed")
}

/// RFC 7523 sections 2.2 and 3: the assertion type, a signature with one of
/// [`ASSERTION_ALGORITHMS`] by a key of the client's `jwks` that verifies that
/// algorithm (see [`Engine::client_jwks`]), `iss` and `sub` equal
/// to the client id, an `aud` naming this server, an `exp` in the (near)
/// future, `nbf`/`iat` not in the future, and a `jti`.
pub(crate) fn check_assertion(
    client: &ResolvedClient,
    jwks: &Jwks,
    params: &Params,
    audiences: &[&str],
    now: UnixTime,
) -> Result<CheckedAssertion, &'static str> {
    if params.get("client_assertion_type") != Some(JWT_BEARER_ASSERTION_TYPE) {
        return Err("wrong client_assertion_type");
    }
    let assertion = params
        .get("client_assertion")
        .ok_or("client_assertion missing")?;
    let jws = CompactJws::parse(assertion, MAX_ASSERTION_LEN).map_err(|_| "malformed assertion")?;
    let header = jws.header();
    if !ASSERTION_ALGORITHMS.contains(&header.alg) {
        return Err("assertion algorithm not allowed");
    }
    let key = match header.kid.as_deref() {
        Some(kid) => jwks.find(kid),
        None => match jwks.keys() {
            [only] => Some(only),
            _ => None,
        },
    }
    .ok_or("assertion key unknown")?;
    if !key.allows(header.alg) {
        return Err("assertion algorithm does not match the key");
    }
    jws.verify_with(key)
        .map_err(|_| "assertion signature does not verify")?;
    let claims = parse_claims(jws.payload())?;
    let id = client.client_id.as_str();
    if claims.iss.as_deref() != Some(id) || claims.sub.as_deref() != Some(id) {
        return Err("assertion iss or sub is not the client id");
    }
    let aud_ok = match &claims.aud {
        Some(serde_json::Value::String(aud)) => audiences.contains(&aud.as_str()),
        Some(serde_json::Value::Array(values)) => values
            .iter()
            .any(|v| v.as_str().is_some_and(|aud| audiences.contains(&aud))),
        _ => false,
    };
    if !aud_ok {
        return Err("assertion audience is not this server");
    }
    let exp = UnixTime::from_secs(claims.exp.ok_or("assertion exp missing")?);
    if now >= exp.saturating_add(ASSERTION_LEEWAY) {
        return Err("assertion expired");
    }
    if exp > now.saturating_add(MAX_ASSERTION_LIFETIME) {
        return Err("assertion exp too far in the future");
    }
    let latest = now.saturating_add(ASSERTION_LEEWAY);
    if claims
        .nbf
        .is_some_and(|nbf| UnixTime::from_secs(nbf) > latest)
        || claims
            .iat
            .is_some_and(|iat| UnixTime::from_secs(iat) > latest)
    {
        return Err("assertion not yet valid");
    }
    let jti = claims.jti.ok_or("assertion jti missing")?;
    if jti.is_empty() || jti.len() > MAX_JTI_LEN {
        return Err("assertion jti has a bad length");
    }
    let mut hash = Sha256::new();
    hash.update(b"latchkey-client-assertion-v1");
    for part in [id, jti.as_str()] {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part.as_bytes());
    }
    Ok(CheckedAssertion {
        replay_key: hash.finalize().into(),
        expires_at: exp.saturating_add(ASSERTION_LEEWAY),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_6749_section_2_3_1_basic_credentials_are_form_urldecoded() {
        // "my%3Aclient:p%40ss+word" -> id "my:client", secret "p@ss word".
        let header = format!(
            "Basic {}",
            Base64::encode_string(b"my%3Aclient:p%40ss+word")
        );
        assert_eq!(
            parse_basic(&header),
            Ok(("my:client".to_owned(), "p@ss word".to_owned()))
        );
        let lower = format!("basic {}", Base64::encode_string(b"a:b"));
        assert_eq!(parse_basic(&lower), Ok(("a".to_owned(), "b".to_owned())));
    }

    #[test]
    fn malformed_basic_credentials_are_refused() {
        assert_eq!(
            parse_basic("Bearer abc"),
            Err("unsupported authorization scheme")
        );
        assert_eq!(
            parse_basic("Basic !!!"),
            Err("basic credentials are not base64")
        );
        let no_colon = format!("Basic {}", Base64::encode_string(b"abc"));
        assert_eq!(
            parse_basic(&no_colon),
            Err("basic credentials lack a colon")
        );
        let bad_escape = format!("Basic {}", Base64::encode_string(b"a%zz:b"));
        assert_eq!(
            parse_basic(&bad_escape),
            Err("basic client id is not form-urlencoded")
        );
        let empty = format!("Basic {}", Base64::encode_string(b":b"));
        assert_eq!(parse_basic(&empty), Err("basic client id is empty"));
    }

    #[test]
    fn form_urldecode_handles_truncated_escapes() {
        assert_eq!(form_urldecode("%4"), None);
        assert_eq!(form_urldecode("%"), None);
        assert_eq!(form_urldecode("%C3%A9"), Some("\u{e9}".to_owned()));
        assert_eq!(form_urldecode("%FF"), None);
    }
}
