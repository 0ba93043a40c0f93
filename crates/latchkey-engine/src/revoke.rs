//! The revocation endpoint (RFC 7009) and the check, shared with
//! introspection, that a string is an access token this server signed.

use latchkey_jose::CompactJws;
use latchkey_store::Store;
use latchkey_token::ACCESS_TOKEN_TYPE;
use latchkey_token::refresh::{FamilyState, RefreshToken, RevocationReason};
use latchkey_types::UnixTime;
use serde::Deserialize;

use crate::clients::MetadataFetcher;
use crate::engine::Engine;
use crate::error::{EndpointOutcome, EngineError, Refusal};
use crate::events::{SecurityEvent, emit};
use crate::request::{HttpContext, Params};
use crate::response::EndpointResponse;

/// The longest token the revocation and introspection endpoints look at, in bytes.
pub(crate) const MAX_TOKEN_LEN: usize = 8192;

impl<S: Store, F: MetadataFetcher> Engine<S, F> {
    /// The revocation endpoint (RFC 7009 section 2). The client authenticates as
    /// at the token endpoint; `token` is required and `token_type_hint` is
    /// ignored (the token's form tells the two kinds apart: access tokens are
    /// JWTs, refresh tokens have no `.`). A refresh token of this client revokes
    /// its whole family and the family's access tokens; an access token of this
    /// client is revoked. Tokens of other clients, unknown and invalid tokens
    /// get the same empty `200` with nothing changed (section 2.2).
    pub async fn revoke(
        &self,
        params: &Params,
        http: &HttpContext,
        now: UnixTime,
    ) -> EndpointResponse {
        self.revoke_with_outcome(params, http, now).await.response
    }

    /// [`Engine::revoke`], with the refusal's [`EngineError`], if any,
    /// beside the response, for observers (metrics).
    pub async fn revoke_with_outcome(
        &self,
        params: &Params,
        http: &HttpContext,
        now: UnixTime,
    ) -> EndpointOutcome {
        match self.revoke_inner(params, http, now).await {
            Ok(()) => EndpointOutcome::ok(EndpointResponse::empty_ok().no_store()),
            Err(refusal) => EndpointOutcome::refused(refusal),
        }
    }

    async fn revoke_inner(
        &self,
        params: &Params,
        http: &HttpContext,
        now: UnixTime,
    ) -> Result<(), Refusal> {
        let token = params.require("token")?;
        let client = self
            .authenticate_client(params, http, &self.config().revocation_endpoint, now)
            .await?;
        let client_id = &client.client.client_id;
        if token.len() > MAX_TOKEN_LEN {
            return Ok(());
        }
        if token.contains('.') {
            let Some(claims) = self.verify_own_access_token(token) else {
                return Ok(());
            };
            let Some(record) = self
                .store()
                .access_token(&claims.jti)
                .await
                .map_err(EngineError::from)?
            else {
                return Ok(());
            };
            if &record.client_id != client_id {
                return Ok(());
            }
            if !record.revoked {
                self.store()
                    .revoke_access_token(&claims.jti)
                    .await
                    .map_err(EngineError::from)?;
                emit(&SecurityEvent::TokenRevoked {
                    client_id,
                    kind: "access_token",
                });
            }
            return Ok(());
        }
        let digest = RefreshToken::new(token.to_owned()).digest();
        let Some(family) = self
            .store()
            .family_by_token(&digest)
            .await
            .map_err(EngineError::from)?
        else {
            return Ok(());
        };
        if family.client_id() != client_id || family.state() != FamilyState::Active {
            return Ok(());
        }
        let revoked = family.revoke(RevocationReason::TokenRevocation, now);
        self.store()
            .revoke_family(&revoked)
            .await
            .map_err(EngineError::from)?;
        emit(&SecurityEvent::TokenRevoked {
            client_id,
            kind: "refresh_token",
        });
        Ok(())
    }

    /// The claims of `token` if it is an access token signed by one of this
    /// server's current keys (`typ` `at+jwt`, `iss` this issuer), whatever its
    /// expiry.
    pub(crate) fn verify_own_access_token(&self, token: &str) -> Option<OwnTokenClaims> {
        let jws = CompactJws::parse(token, MAX_TOKEN_LEN).ok()?;
        let header = jws.header();
        if header.typ.as_deref() != Some(ACCESS_TOKEN_TYPE) {
            return None;
        }
        let jwks = self.keys().jwks();
        let key = jwks.find(header.kid.as_deref()?)?;
        if key.algorithm() != header.alg {
            return None;
        }
        jws.verify_with(key).ok()?;
        let claims: OwnTokenClaims = serde_json::from_slice(jws.payload()).ok()?;
        (claims.iss == self.config().issuer).then_some(claims)
    }
}

/// The claims of an access token this server issued, as introspection reports them.
#[derive(Debug, Deserialize)]
pub(crate) struct OwnTokenClaims {
    pub(crate) iss: String,
    pub(crate) sub: String,
    pub(crate) aud: serde_json::Value,
    pub(crate) exp: u64,
    pub(crate) iat: u64,
    pub(crate) jti: String,
    pub(crate) client_id: String,
    #[serde(default)]
    pub(crate) scope: Option<String>,
    #[serde(default)]
    pub(crate) cnf: Option<serde_json::Value>,
}
