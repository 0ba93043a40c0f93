//! The token endpoint (OAuth 2.1 sections 3.2, 4.1.3, 4.2, 4.3; RFC 8707
//! section 2.2; RFC 9449 sections 5, 8 and 10).
//!
//! Order of work, so that a refused request changes nothing stored: the
//! parameters are parsed and the DPoP proof is checked (pure), then the client
//! authenticates (a client assertion `jti` is remembered), then the grant is
//! checked, and the proof's single use is recorded just before anything is
//! issued, rotated or consumed. The deliberate exceptions are the revocations
//! that code replay and refresh-token reuse trigger, and the code itself:
//! checking it consumes it (the store's atomic single use, OAuth 2.1 section
//! 4.1.3), so a refused redemption, a wrong `code_verifier` or `redirect_uri`
//! included, uses the code up. That is recorded
//! ([`latchkey_store::GrantStore::mark_redemption_failed`]) and logged as
//! `code_redemption_failed`; the code presented again afterwards is logged as
//! `code_presented_after_failed_redemption`, not as a `code_replay` (which is
//! a second redemption of a code that did issue tokens).
//!
//! Where the DPoP proof's single use is recorded (RFC 9449 section 11.1):
//! only for requests whose client authenticated, and never after anything was
//! issued or stored for the grant, so a replayed proof is refused with nothing
//! changed. A refresh is checked first (the family looked up, the token, the
//! client, the key, the scope: reads only) and the proof recorded only when
//! it would rotate or retry; a client-credentials request likewise once its
//! scope and resources hold. A code cannot be checked without consuming it,
//! so its proof is recorded after client authentication and before the code
//! is consumed. A request refused before that point, for a wrong secret, an
//! unknown client or refresh token, adds no row to the replay store. What a
//! caller naming a public client can still add with fresh proofs and bogus
//! codes is bounded by the proof's lifetime (the row expires with it and the
//! server's purge deletes it) and the server's rate limits.
//!
//! DPoP replay and the async store: `latchkey_dpop::ReplayCache` is
//! synchronous while [`latchkey_store::ReplayStore::remember_once`] is async.
//! The proof is therefore validated against a [`RecordingCache`] that accepts
//! and records the one key it is asked about; once every other check passed,
//! that key goes to `remember_once`, and a key seen before refuses the proof
//! as a replay (`invalid_dpop_proof`). The atomicity is the store's.

use latchkey_dpop::{
    DpopError, Htu, ProofExpectations, ReplayCache, ReplayKey, ReplayOutcome, ValidatedProof,
    validate_proof,
};
use latchkey_pkce::CodeVerifier;
use latchkey_registration::GrantType;
use latchkey_store::{AccessTokenRecord, NewFamily, Rotated, Store};
use latchkey_token::code::{
    AuthorizationCode, CodeRedemption, Consumption, JwkThumbprint, RedemptionDecision,
    RedirectUriRule,
};
use latchkey_token::refresh::{
    FamilyParams, RefreshDecision, RefreshFamily, RefreshGrant, RefreshPresentation, RefreshToken,
};
use latchkey_token::{AccessTokenClaims, Audience};
use latchkey_types::{ClientId, Scope, Subject, UnixTime};
use latchkey_uri::ResourceUri;
use rand_core::CryptoRng;
use serde::Serialize;

use crate::client_auth::AuthenticatedClient;
use crate::clients::{ClientSource, MetadataFetcher};
use crate::engine::Engine;
use crate::error::{EngineError, Refusal};
use crate::events::{SecurityEvent, emit};
use crate::request::{HttpContext, Params};
use crate::response::EndpointResponse;

/// What a token request came to ([`Engine::token_with_outcome`]).
#[derive(Debug)]
pub struct TokenOutcome {
    /// The response to send, as [`Engine::token`] returns it.
    pub response: EndpointResponse,
    /// The grant type that issued tokens, or why the request was refused.
    pub result: Result<GrantType, TokenRefused>,
}

/// A refused token request.
#[derive(Debug)]
pub struct TokenRefused {
    /// The grant type asked for, when the request got as far as naming a
    /// supported one (OAuth 2.1 section 3.2.2).
    pub grant: Option<GrantType>,
    /// Why it was refused; its wire code is `ErrorCode::from(&error)`.
    pub error: EngineError,
}

/// The longest code or refresh token looked up, in bytes; longer is `invalid_grant`.
const MAX_TOKEN_PARAM_LEN: usize = 512;

impl<S: Store, F: MetadataFetcher> Engine<S, F> {
    /// The token endpoint: a JSON token response (OAuth 2.1 section 3.2.3) or
    /// error (section 3.2.4), always with `Cache-Control: no-store`.
    pub async fn token(
        &self,
        params: &Params,
        http: &HttpContext,
        now: UnixTime,
        rng: &mut impl CryptoRng,
    ) -> EndpointResponse {
        self.token_with_outcome(params, http, now, rng)
            .await
            .response
    }

    /// [`Engine::token`], with what happened as a typed value beside the
    /// response: the grant that issued tokens, or the [`EngineError`] that
    /// refused the request. For observers (metrics); the response is the
    /// same as [`Engine::token`]'s.
    pub async fn token_with_outcome(
        &self,
        params: &Params,
        http: &HttpContext,
        now: UnixTime,
        rng: &mut impl CryptoRng,
    ) -> TokenOutcome {
        let mut grant = None;
        match self.token_inner(params, http, now, rng, &mut grant).await {
            Ok((response, issued)) => TokenOutcome {
                response,
                result: Ok(issued),
            },
            Err(refusal) => TokenOutcome {
                response: refusal.to_response(),
                result: Err(TokenRefused {
                    grant,
                    error: refusal.error,
                }),
            },
        }
    }

    async fn token_inner(
        &self,
        params: &Params,
        http: &HttpContext,
        now: UnixTime,
        rng: &mut impl CryptoRng,
        grant: &mut Option<GrantType>,
    ) -> Result<(EndpointResponse, GrantType), Refusal> {
        let request = GrantRequest::parse(params)?;
        let grant_type = request.grant_type();
        *grant = Some(grant_type);
        let proof = self.check_dpop_proof(http, now)?;
        let client = self
            .authenticate_client(params, http, &self.config().token_endpoint, now)
            .await?;
        let jkt = proof.as_ref().map(|checked| checked.proof.jkt().clone());
        // Recorded by the grant once it holds (see the module docs).
        let mut proof = PendingProof(proof);
        let issued = match request {
            GrantRequest::AuthorizationCode {
                code,
                verifier,
                redirect_uri,
                resources,
            } => {
                self.redeem_code(
                    &client,
                    &mut proof,
                    &code,
                    &verifier,
                    redirect_uri,
                    &resources,
                    jkt,
                    now,
                    rng,
                )
                .await?
            }
            GrantRequest::RefreshToken {
                token,
                scope,
                resources,
            } => {
                self.refresh(
                    &client,
                    &mut proof,
                    &token,
                    scope.as_ref(),
                    &resources,
                    jkt,
                    now,
                    rng,
                )
                .await?
            }
            GrantRequest::ClientCredentials { scope, resources } => {
                self.client_credentials(&client, &mut proof, scope, resources, jkt, now, rng)
                    .await?
            }
        };
        let mut response = EndpointResponse::json(http::StatusCode::OK, &issued).no_store();
        if let Some(nonces) = &self.dpop_config().nonces {
            response =
                response.with_header(crate::DPOP_NONCE, nonces.issue(now).as_str().to_owned());
        }
        Ok((response, grant_type))
    }

    /// RFC 9449 section 4.3: validates the `DPoP` header, if any, recording
    /// (not yet storing) its replay key.
    fn check_dpop_proof(
        &self,
        http: &HttpContext,
        now: UnixTime,
    ) -> Result<Option<CheckedProof>, Refusal> {
        if http.dpop.is_empty() {
            return Ok(None);
        }
        let htu = Htu::parse(&http.uri).map_err(dpop_refusal)?;
        let expectations = ProofExpectations::new(&http.method, &htu);
        let mut recorder = RecordingCache::default();
        let proof = validate_proof(
            &http.dpop,
            &expectations,
            now,
            &mut recorder,
            self.dpop_config(),
        )
        .map_err(dpop_refusal)?;
        let (key, expires_at) = recorder.recorded.ok_or(EngineError::Internal(
            "a validated dpop proof recorded no replay key",
        ))?;
        Ok(Some(CheckedProof {
            proof,
            key,
            expires_at,
        }))
    }

    /// Stores the proof's single use (RFC 9449 section 11.1), if the request
    /// carried one and it was not stored yet; a replay is `invalid_dpop_proof`.
    async fn record_dpop_proof(
        &self,
        pending: &mut PendingProof,
        client: &AuthenticatedClient,
        now: UnixTime,
    ) -> Result<(), Refusal> {
        let Some(checked) = pending.0.take() else {
            return Ok(());
        };
        let fresh = self
            .store()
            .remember_once(checked.key.as_bytes(), checked.expires_at, now)
            .await
            .map_err(EngineError::from)?;
        if !fresh {
            emit(&SecurityEvent::DpopReplay {
                client_id: Some(&client.client.client_id),
            });
            return Err(EngineError::DpopProofReplayed.into());
        }
        Ok(())
    }

    /// OAuth 2.1 section 4.1.3.
    #[allow(clippy::too_many_arguments)]
    async fn redeem_code(
        &self,
        client: &AuthenticatedClient,
        proof: &mut PendingProof,
        code: &str,
        verifier: &CodeVerifier,
        redirect_uri: Option<String>,
        resources: &[ResourceUri],
        jkt: Option<JwkThumbprint>,
        now: UnixTime,
        rng: &mut impl CryptoRng,
    ) -> Result<TokenResponse, Refusal> {
        let client_id = &client.client.client_id;
        if !client
            .client
            .metadata
            .has_grant_type(GrantType::AuthorizationCode)
        {
            return Err(EngineError::GrantTypeNotAllowedForClient.into());
        }
        // Checking the code consumes it, so the proof's single use comes
        // first: a replayed proof must not use a code up (RFC 9449 section 11.1).
        self.record_dpop_proof(proof, client, now).await?;
        let digest = AuthorizationCode::new(code.to_owned()).digest();
        let consumption = self
            .store()
            .consume_code(&digest)
            .await
            .map_err(EngineError::from)?;
        let redemption = CodeRedemption {
            client_id,
            redirect_uri: redirect_uri.as_deref(),
            redirect_uri_rule: RedirectUriRule::OAuth21,
            code_verifier: Some(verifier),
            resources,
            dpop_jkt: jkt.as_ref(),
        };
        // The client the code was issued to, when this request consumed it.
        let consumed_for = match &consumption {
            Consumption::First(record) => Some(record.client_id().clone()),
            Consumption::AlreadyConsumed(_) | Consumption::Unknown => None,
        };
        let grant = match consumption.decide(&redemption, now) {
            RedemptionDecision::Issue(grant) => grant,
            RedemptionDecision::Reject(error) => {
                if let Some(code_client) = &consumed_for {
                    self.note_failed_redemption(
                        &digest,
                        code_client,
                        client_id,
                        &error.to_string(),
                        now,
                    )
                    .await?;
                }
                return Err(EngineError::CodeRefused(error).into());
            }
            RedemptionDecision::Replay(replay) => {
                let revoked = self
                    .store()
                    .revoke_code_grant(&replay.code_digest, now)
                    .await
                    .map_err(EngineError::from)?;
                match revoked.failed_redemption_at {
                    // Nothing was ever issued from this code: not a replay of
                    // a redemption, but the code coming back after a refused one.
                    Some(failed_at) => emit(&SecurityEvent::CodeAfterFailedRedemption {
                        client_id: &replay.client_id,
                        failed_at,
                    }),
                    None => emit(&SecurityEvent::CodeReplay {
                        client_id: &replay.client_id,
                        revoked_families: revoked.families,
                        revoked_access_tokens: revoked.access_tokens,
                    }),
                }
                return Err(EngineError::CodeAlreadyRedeemed.into());
            }
        };

        let refresh = if self.config().issue_refresh_tokens
            && client
                .client
                .metadata
                .has_grant_type(GrantType::RefreshToken)
        {
            let params = FamilyParams {
                client_id: grant.client_id.clone(),
                subject: grant.subject.clone(),
                scope: grant.scope.clone(),
                resources: grant.resources.clone(),
                // RFC 9449 section 5: refresh tokens of public clients are bound
                // to the proof key; a confidential client's are already
                // sender-constrained by client authentication.
                dpop_jkt: if client.client.metadata.is_public() {
                    jkt.clone()
                } else {
                    None
                },
            };
            let (token, family) =
                RefreshFamily::start(params, now, &self.config().refresh_policy, rng)
                    .map_err(|_| EngineError::Internal("a refresh family could not be started"))?;
            Some((token, family))
        } else {
            None
        };
        let issue = Issue {
            client_id: grant.client_id.clone(),
            subject: grant.subject.clone(),
            record_subject: true,
            audience: grant.audience.clone(),
            scope: grant.scope.clone(),
            auth_time: Some(grant.auth_time),
            jkt,
            family: refresh.as_ref().map(|(_, family)| family.id()),
            from_code: Some(grant.code_digest),
        };
        let (mut response, record) = self.sign_access_token(issue, now, rng)?;
        // The family and the access token in one store step; the code's
        // tombstone, if a replay got there first, revokes both.
        let new_family = refresh.as_ref().map(|(_, family)| NewFamily {
            family,
            from_code: Some(&grant.code_digest),
        });
        self.store()
            .record_issuance(new_family, &record)
            .await
            .map_err(EngineError::from)?;
        response.refresh_token = refresh.map(|(token, _)| token.expose_secret().to_owned());
        self.mark_used(client, now).await?;
        Ok(response)
    }

    /// OAuth 2.1 section 4.3 with rotation (4.3.1) and the retry rule.
    #[allow(clippy::too_many_arguments)]
    async fn refresh(
        &self,
        client: &AuthenticatedClient,
        proof: &mut PendingProof,
        token: &str,
        scope: Option<&Scope>,
        resources: &[ResourceUri],
        jkt: Option<JwkThumbprint>,
        now: UnixTime,
        rng: &mut impl CryptoRng,
    ) -> Result<TokenResponse, Refusal> {
        let client_id = &client.client.client_id;
        if !client
            .client
            .metadata
            .has_grant_type(GrantType::RefreshToken)
        {
            return Err(EngineError::GrantTypeNotAllowedForClient.into());
        }
        let token = RefreshToken::new(token.to_owned());
        let Some(mut family) = self
            .store()
            .family_by_token(&token.digest())
            .await
            .map_err(EngineError::from)?
        else {
            return Err(EngineError::RefreshTokenUnknown.into());
        };
        let presentation = RefreshPresentation {
            token: &token,
            client_id,
            // Every method but `none` proved a credential (client_auth.rs
            // enforces the registered method): the retry window applies.
            client_authenticated: !client.client.metadata.is_public(),
            dpop_jkt: jkt.as_ref(),
            scope,
            resources,
        };
        let policy = self.config().refresh_policy;
        let rotation_key = &self.secrets().rotation_key;
        // One presentation, plus at most one more against the family a lost
        // rotation race left behind (usually a Retry yielding the same successor).
        let mut attempts_left = 2u8;
        let (successor, response) = loop {
            attempts_left = attempts_left.saturating_sub(1);
            match family.present_within(
                &presentation,
                now,
                &policy,
                rotation_key,
                &self.config().scope_hierarchy,
            ) {
                RefreshDecision::Rotate(rotation) => {
                    self.record_dpop_proof(proof, client, now).await?;
                    // Signed before the compare-and-set so that the rotation
                    // and its access token are stored in one step; a lost race
                    // discards this signature.
                    let (response, record) =
                        self.sign_access_token(refreshed(&rotation.grant, jkt.clone()), now, rng)?;
                    match self
                        .store()
                        .rotate_family_with_token(&rotation.next, &record)
                        .await
                        .map_err(EngineError::from)?
                    {
                        Rotated::Applied => break (rotation.successor, response),
                        Rotated::Lost(Some(current)) if attempts_left > 0 => family = *current,
                        Rotated::Lost(_) => {
                            return Err(EngineError::RefreshRotatedConcurrently.into());
                        }
                    }
                }
                RefreshDecision::Retry(retry) => {
                    self.record_dpop_proof(proof, client, now).await?;
                    let response = self
                        .issue_access_token(refreshed(&retry.grant, jkt.clone()), now, rng)
                        .await?;
                    break (retry.successor, response);
                }
                RefreshDecision::Reuse(reuse) => {
                    self.store()
                        .revoke_family(&reuse.revoked)
                        .await
                        .map_err(EngineError::from)?;
                    emit(&SecurityEvent::RefreshReuse {
                        client_id: reuse.revoked.client_id(),
                        family_id: reuse.revoked.id(),
                        reason: reuse.reason,
                    });
                    return Err(EngineError::RefreshTokenReused.into());
                }
                RefreshDecision::Reject(error) => {
                    return Err(EngineError::RefreshRefused(error).into());
                }
            }
        };
        let mut response = response;
        response.refresh_token = Some(successor.expose_secret().to_owned());
        Ok(response)
    }

    /// OAuth 2.1 section 4.2. The token's `sub` is the client id (RFC 9068
    /// section 2.2: for a client-credentials grant the subject is the client);
    /// no refresh token is issued.
    #[allow(clippy::too_many_arguments)]
    async fn client_credentials(
        &self,
        client: &AuthenticatedClient,
        proof: &mut PendingProof,
        scope: Option<Scope>,
        resources: Vec<ResourceUri>,
        jkt: Option<JwkThumbprint>,
        now: UnixTime,
        rng: &mut impl CryptoRng,
    ) -> Result<TokenResponse, Refusal> {
        let metadata = &client.client.metadata;
        if metadata.is_public() {
            return Err(EngineError::PublicClientCredentials.into());
        }
        if !metadata.has_grant_type(GrantType::ClientCredentials) {
            return Err(EngineError::GrantTypeNotAllowedForClient.into());
        }
        let mut audience = Vec::new();
        for resource in resources {
            if self.config().resource(&resource).is_none() {
                return Err(EngineError::ResourceNotServed.into());
            }
            if !audience.contains(&resource) {
                audience.push(resource);
            }
        }
        if audience.is_empty() {
            audience.push(self.config().default_resource.clone());
        }
        let registered = metadata.scope().cloned().unwrap_or_else(Scope::empty);
        let audience_resources = || {
            audience
                .iter()
                .filter_map(|uri| self.config().resource(uri))
        };
        // As at the authorization endpoint: a requested scope must be one the
        // token's audience supports (RFC 8707 section 2, RFC 9728
        // `scopes_supported`) and one the client registered, else
        // `invalid_scope` (OAuth 2.1 section 3.2.2.1), never clamped.
        // A broader scope implies narrower ones (MCP 2026-07-28 "Step-Up
        // Authorization Flow"), for both checks, never the other way round.
        let hierarchy = &self.config().scope_hierarchy;
        let scope = match scope {
            Some(requested) => {
                let supported = audience_resources()
                    .fold(Scope::empty(), |acc, r| acc.union(&r.scopes_supported));
                if !hierarchy.covers(&supported, &requested) {
                    return Err(EngineError::ScopeNotSupportedByResource.into());
                }
                if !hierarchy.covers(&registered, &requested) {
                    return Err(EngineError::ScopeNotAllowedForClient.into());
                }
                requested
            }
            None => hierarchy.covered(
                &registered,
                &audience_resources().fold(Scope::empty(), |acc, r| acc.union(&r.default_scope)),
            ),
        };
        let client_id = client.client.client_id.clone();
        let Ok(subject) = Subject::parse(client_id.as_str()) else {
            return Err(EngineError::ClientIdNotASubject.into());
        };
        let issue = Issue {
            client_id: client_id.clone(),
            subject,
            record_subject: false,
            audience,
            scope,
            auth_time: None,
            jkt,
            family: None,
            from_code: None,
        };
        self.record_dpop_proof(proof, client, now).await?;
        let response = self.issue_access_token(issue, now, rng).await?;
        self.mark_used(client, now).await?;
        Ok(response)
    }

    /// Signs an access token (RFC 9068) and records it for revocation and introspection.
    async fn issue_access_token(
        &self,
        issue: Issue,
        now: UnixTime,
        rng: &mut impl CryptoRng,
    ) -> Result<TokenResponse, Refusal> {
        let (response, record) = self.sign_access_token(issue, now, rng)?;
        self.store()
            .record_access_token(&record)
            .await
            .map_err(EngineError::from)?;
        Ok(response)
    }

    /// Signs an access token (RFC 9068) and returns the record to store with it.
    fn sign_access_token(
        &self,
        issue: Issue,
        now: UnixTime,
        rng: &mut impl CryptoRng,
    ) -> Result<(TokenResponse, AccessTokenRecord), Refusal> {
        let audience = Audience::from_vec(issue.audience).ok_or(EngineError::NoAudience)?;
        let lifetime = self.config().access_token_lifetime;
        let mut claims = AccessTokenClaims::new(
            self.config().issuer.clone(),
            issue.subject.clone(),
            issue.client_id.clone(),
            audience,
            now,
            rng,
        )
        .with_lifetime(lifetime)
        .map_err(|_| EngineError::Config("access_token_lifetime is out of range"))?
        .with_scope(issue.scope.clone());
        if let Some(auth_time) = issue.auth_time {
            claims = claims.with_auth_time(auth_time);
        }
        let token_type = match issue.jkt {
            Some(jkt) => {
                claims = claims.with_cnf_jkt(jkt);
                "DPoP"
            }
            None => "Bearer",
        };
        let access_token = self.keys().issue(&claims);
        let record = AccessTokenRecord {
            jti: claims.jti.as_str().to_owned(),
            client_id: issue.client_id,
            subject: issue.record_subject.then_some(issue.subject),
            family: issue.family,
            from_code: issue.from_code,
            expires_at: claims.exp,
            revoked: false,
        };
        let response = TokenResponse {
            access_token,
            token_type,
            expires_in: lifetime.as_secs(),
            scope: (!issue.scope.is_empty()).then(|| issue.scope.to_string()),
            refresh_token: None,
        };
        Ok((response, record))
    }

    /// A redemption that consumed the code was refused: the code is used up
    /// (single use, OAuth 2.1 section 4.1.3). Records it, so the code coming
    /// back is not taken for a replay, and logs what happened.
    async fn note_failed_redemption(
        &self,
        digest: &latchkey_types::TokenDigest,
        code_client: &ClientId,
        presented_by: &ClientId,
        reason: &str,
        now: UnixTime,
    ) -> Result<(), Refusal> {
        emit(&SecurityEvent::CodeRedemptionFailed {
            client_id: code_client,
            presented_by,
            reason,
        });
        self.store()
            .mark_redemption_failed(digest, now)
            .await
            .map_err(EngineError::from)?;
        Ok(())
    }

    /// Notes a registered client's first token (so it is never purged as
    /// unused); a client already used, or one that is a metadata document,
    /// needs no write.
    async fn mark_used(&self, client: &AuthenticatedClient, now: UnixTime) -> Result<(), Refusal> {
        let client = &client.client;
        if client.first_used_at.is_some()
            || matches!(client.source, ClientSource::MetadataDocument { .. })
        {
            return Ok(());
        }
        self.store()
            .mark_client_used(&client.client_id, now)
            .await
            .map_err(EngineError::from)?;
        Ok(())
    }
}

/// Parses the grant parameters only, for the fuzz target: the refusal's HTTP status.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn parse_grant_request(params: &Params) -> Result<(), u16> {
    GrantRequest::parse(params)
        .map(|_| ())
        .map_err(|refusal| refusal.to_response().status.as_u16())
}

/// A grant request whose parameters parsed (before anything is looked up).
enum GrantRequest {
    AuthorizationCode {
        code: String,
        verifier: CodeVerifier,
        redirect_uri: Option<String>,
        resources: Vec<ResourceUri>,
    },
    RefreshToken {
        token: String,
        scope: Option<Scope>,
        resources: Vec<ResourceUri>,
    },
    ClientCredentials {
        scope: Option<Scope>,
        resources: Vec<ResourceUri>,
    },
}

impl GrantRequest {
    /// The grant type of the request.
    fn grant_type(&self) -> GrantType {
        match self {
            Self::AuthorizationCode { .. } => GrantType::AuthorizationCode,
            Self::RefreshToken { .. } => GrantType::RefreshToken,
            Self::ClientCredentials { .. } => GrantType::ClientCredentials,
        }
    }

    /// OAuth 2.1 sections 4.1.3, 4.2.2 and 4.3.1: the parameters each grant
    /// requires, in the syntax each has.
    fn parse(params: &Params) -> Result<Self, Refusal> {
        let grant_type = params.require("grant_type")?;
        let resources = parse_resources(params)?;
        match grant_type {
            "authorization_code" => {
                let code = params.require("code")?;
                if code.len() > MAX_TOKEN_PARAM_LEN {
                    return Err(EngineError::CodeUnknown.into());
                }
                // Every code is PKCE-bound (OAuth 2.1 section 4.1.1), so the
                // verifier is always required; checking here keeps the code unconsumed.
                let verifier = params.require("code_verifier")?;
                let verifier = CodeVerifier::parse(verifier.to_owned())
                    .map_err(|_| EngineError::CodeVerifierMalformed)?;
                Ok(Self::AuthorizationCode {
                    code: code.to_owned(),
                    verifier,
                    redirect_uri: params.get("redirect_uri").map(str::to_owned),
                    resources,
                })
            }
            "refresh_token" => {
                let token = params.require("refresh_token")?;
                if token.len() > MAX_TOKEN_PARAM_LEN {
                    return Err(EngineError::RefreshTokenUnknown.into());
                }
                Ok(Self::RefreshToken {
                    token: token.to_owned(),
                    scope: parse_scope(params)?,
                    resources,
                })
            }
            "client_credentials" => Ok(Self::ClientCredentials {
                scope: parse_scope(params)?,
                resources,
            }),
            _ => Err(EngineError::GrantTypeUnsupported.into()),
        }
    }
}

/// RFC 8707 section 2: each `resource` is an absolute URI without a fragment
/// (`latchkey_uri::ResourceUri`); a bad one is `invalid_target`.
fn parse_resources(params: &Params) -> Result<Vec<ResourceUri>, Refusal> {
    params
        .all("resource")
        .map(|value| ResourceUri::parse(value).map_err(|_| EngineError::ResourceMalformed.into()))
        .collect()
}

fn parse_scope(params: &Params) -> Result<Option<Scope>, Refusal> {
    match params.get("scope") {
        None => Ok(None),
        Some(scope) => Scope::parse(scope)
            .map(Some)
            .map_err(|_| EngineError::ScopeMalformed.into()),
    }
}

/// What goes into one access token.
struct Issue {
    client_id: ClientId,
    subject: Subject,
    /// Whether the subject is a resource owner (recorded) or the client itself.
    record_subject: bool,
    audience: Vec<ResourceUri>,
    scope: Scope,
    auth_time: Option<UnixTime>,
    jkt: Option<JwkThumbprint>,
    family: Option<latchkey_token::refresh::FamilyId>,
    from_code: Option<latchkey_types::TokenDigest>,
}

/// The access token a refresh hands out with `grant` (OAuth 2.1 section 4.3).
fn refreshed(grant: &RefreshGrant, jkt: Option<JwkThumbprint>) -> Issue {
    Issue {
        client_id: grant.client_id.clone(),
        subject: grant.subject.clone(),
        record_subject: true,
        audience: grant.audience.clone(),
        scope: grant.scope.clone(),
        auth_time: None,
        jkt,
        family: Some(grant.family_id),
        from_code: None,
    }
}

/// OAuth 2.1 section 3.2.3.
#[derive(Serialize)]
struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
}

/// The request's checked proof until its single use is stored (then empty).
struct PendingProof(Option<CheckedProof>);

/// A proof that passed every check but single use, with the key to store.
struct CheckedProof {
    proof: ValidatedProof,
    key: ReplayKey,
    expires_at: UnixTime,
}

/// A [`ReplayCache`] that accepts the key it is asked about and remembers it,
/// so the engine can store it with the async `ReplayStore` afterwards.
#[derive(Default)]
struct RecordingCache {
    recorded: Option<(ReplayKey, UnixTime)>,
}

impl ReplayCache for RecordingCache {
    fn check_and_insert(
        &mut self,
        key: ReplayKey,
        expires_at: UnixTime,
        _now: UnixTime,
    ) -> ReplayOutcome {
        if self.recorded.is_some() {
            return ReplayOutcome::Full;
        }
        self.recorded = Some((key, expires_at));
        ReplayOutcome::Fresh
    }
}

/// A refused DPoP proof (RFC 9449 section 4.3), logged; a `use_dpop_nonce`
/// refusal's response carries the fresh nonce (section 8).
fn dpop_refusal(error: DpopError) -> EngineError {
    emit(&SecurityEvent::DpopInvalid {
        client_id: None,
        reason: &error.to_string(),
    });
    EngineError::DpopProof(error)
}
