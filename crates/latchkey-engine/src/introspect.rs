//! The introspection endpoint (RFC 7662).

use latchkey_store::Store;
use latchkey_token::refresh::{FamilyState, RefreshToken};
use latchkey_types::UnixTime;
use latchkey_uri::ResourceUri;
use serde::Serialize;

use crate::clients::MetadataFetcher;
use crate::engine::Engine;
use crate::error::{EndpointOutcome, EngineError, Refusal};
use crate::request::{HttpContext, Params};
use crate::response::EndpointResponse;
use crate::revoke::MAX_TOKEN_LEN;

impl<S: Store, F: MetadataFetcher> Engine<S, F> {
    /// The introspection endpoint (RFC 7662 section 2). The caller must
    /// authenticate as a confidential client that may introspect: one whose
    /// stored record says so (`ClientRecord::may_introspect`, set only by an
    /// administrator, `latchkey clients add --introspect`) or one listed in
    /// `EngineConfig::introspection_clients`. Any other caller gets
    /// `invalid_client`, 401 (section 2.1 requires authorizing the caller;
    /// sections 2.3 and 4: it learns nothing about the token). A token is active when it
    /// is an access token this server signed, unexpired and recorded as not
    /// revoked, or the current token of an active, unexpired refresh family.
    /// The response (section 2.2) is never cached.
    pub async fn introspect(
        &self,
        params: &Params,
        http: &HttpContext,
        now: UnixTime,
    ) -> EndpointResponse {
        self.introspect_with_outcome(params, http, now)
            .await
            .response
    }

    /// [`Engine::introspect`], with the refusal's [`EngineError`], if any,
    /// beside the response, for observers (metrics).
    pub async fn introspect_with_outcome(
        &self,
        params: &Params,
        http: &HttpContext,
        now: UnixTime,
    ) -> EndpointOutcome {
        match self.introspect_inner(params, http, now).await {
            Ok(body) => {
                EndpointOutcome::ok(EndpointResponse::json(http::StatusCode::OK, &body).no_store())
            }
            Err(refusal) => EndpointOutcome::refused(refusal),
        }
    }

    async fn introspect_inner(
        &self,
        params: &Params,
        http: &HttpContext,
        now: UnixTime,
    ) -> Result<Introspection, Refusal> {
        let token = params.require("token")?;
        let caller = self
            .authenticate_client(params, http, &self.config().introspection_endpoint, now)
            .await?;
        let permitted = caller.client.may_introspect
            || self
                .config()
                .introspection_clients
                .contains(&caller.client.client_id);
        if !caller.client.is_confidential() || !permitted {
            return Err(EngineError::IntrospectionNotPermitted.into());
        }
        if token.len() > MAX_TOKEN_LEN {
            return Ok(Introspection::inactive());
        }
        if token.contains('.') {
            return self.introspect_access_token(token, now).await;
        }
        let digest = RefreshToken::new(token.to_owned()).digest();
        let Some(family) = self
            .store()
            .family_by_token(&digest)
            .await
            .map_err(EngineError::from)?
        else {
            return Ok(Introspection::inactive());
        };
        if family.state() != FamilyState::Active
            || now >= family.expires_at()
            || family.current() != &digest
        {
            return Ok(Introspection::inactive());
        }
        let aud: Vec<&str> = family.resources().iter().map(ResourceUri::as_str).collect();
        Ok(Introspection {
            active: true,
            scope: (!family.scope().is_empty()).then(|| family.scope().to_string()),
            client_id: Some(family.client_id().as_str().to_owned()),
            sub: Some(family.subject().as_str().to_owned()),
            aud: Some(serde_json::json!(aud)),
            iss: Some(self.config().issuer.clone()),
            exp: Some(family.expires_at().as_secs()),
            iat: Some(family.created_at().as_secs()),
            jti: None,
            token_type: None,
            cnf: family
                .dpop_jkt()
                .map(|jkt| serde_json::json!({ "jkt": jkt.to_encoded() })),
        })
    }

    async fn introspect_access_token(
        &self,
        token: &str,
        now: UnixTime,
    ) -> Result<Introspection, Refusal> {
        let Some(claims) = self.verify_own_access_token(token) else {
            return Ok(Introspection::inactive());
        };
        if now >= UnixTime::from_secs(claims.exp) {
            return Ok(Introspection::inactive());
        }
        let record = self
            .store()
            .access_token(&claims.jti)
            .await
            .map_err(EngineError::from)?;
        if record.is_none_or(|r| r.revoked) {
            return Ok(Introspection::inactive());
        }
        let token_type = if claims.cnf.is_some() {
            "DPoP"
        } else {
            "Bearer"
        };
        Ok(Introspection {
            active: true,
            scope: claims.scope,
            client_id: Some(claims.client_id),
            sub: Some(claims.sub),
            aud: Some(claims.aud),
            iss: Some(claims.iss),
            exp: Some(claims.exp),
            iat: Some(claims.iat),
            jti: Some(claims.jti),
            token_type: Some(token_type),
            cnf: claims.cnf,
        })
    }
}

/// RFC 7662 section 2.2.
#[derive(Serialize)]
struct Introspection {
    active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sub: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aud: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iss: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exp: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iat: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    jti: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    token_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cnf: Option<serde_json::Value>,
}

impl Introspection {
    /// RFC 7662 section 2.2: an inactive token reveals nothing else.
    fn inactive() -> Self {
        Self {
            active: false,
            scope: None,
            client_id: None,
            sub: None,
            aud: None,
            iss: None,
            exp: None,
            iat: None,
            jti: None,
            token_type: None,
            cnf: None,
        }
    }
}
