//! Dynamic client registration (RFC 7591) and client management (RFC 7592).
//!
//! - [`Engine::register`]: RFC 7591 section 3.1 request, validated by
//!   `latchkey_registration` against the configured policy; section 3.2.1
//!   response (`201`, `Cache-Control: no-store`) and 3.2.2 errors (`400` with
//!   `invalid_redirect_uri`, `invalid_client_metadata`, ...).
//! - [`Engine::read_client`], [`Engine::update_client`],
//!   [`Engine::delete_client`]: RFC 7592 sections 2.1, 2.2 and 2.3, authorized
//!   by the registration access token as a Bearer token (RFC 6750 section 2.1),
//!   compared by SHA-256 digest in constant time. A missing or wrong token and
//!   an unknown client get the same `401 invalid_token` (RFC 7592 section 2.1:
//!   "MUST NOT" reveal whether the client exists).
//! - [`Engine::purge_unused_clients`]: registered clients that never obtained a
//!   token are deleted after the configured TTL.
//!
//! Choices, documented:
//!
//! - Registration off (`EngineConfig::registration` or
//!   `registration_endpoint` is `None`): every registration and management
//!   request gets an empty `404`, as if the endpoint did not exist.
//! - Every registration is a client of its own, with its own `client_id`
//!   and registration access token, even when its metadata equals another
//!   client's. (Registering identical public metadata used to return the
//!   existing client with a new registration access token, whose digest
//!   replaced the old one: the first registrant's token silently stopped
//!   working, and a stranger could take over reading it. Only digests are
//!   stored, so the first token cannot be handed out again; sharing a client
//!   between strangers is not worth a second token table.) What repeated
//!   registrations can store is bounded by the client cap, the purge of
//!   clients that never obtained a token ([`Engine::purge_unused_clients`],
//!   run on a schedule by `latchkey serve`) and the server's limits on
//!   registrations per source address.
//! - Clients stored by that earlier idempotent registration keep their
//!   fingerprint and stay protected as before: an update may not change
//!   their metadata (`invalid_client_metadata`; register the new metadata
//!   instead), and deleting one is refused with `405` (RFC 7592 section 2.3
//!   allows a server not to support delete), because anyone who registered
//!   the same metadata held a token for them. Unused ones are still purged.
//! - An update may not switch a client between public, secret-based and other
//!   authentication (`invalid_client_metadata`): no secret is issued or
//!   withdrawn by an update. A `client_secret` in the update must match the
//!   stored one (RFC 7592 section 2.2), else `invalid_request`.
//! - Cap reached: `503 temporarily_unavailable` and a
//!   [`SecurityEvent::RegistrationCapReached`]; nothing is stored.
//! - Scope: when the policy's `allowed_scopes` is empty (the strict default),
//!   the union of the configured resources' `scopes_supported` (plus
//!   `offline_access` when refresh tokens are issued) is what a client may
//!   register.
//! - No initial access tokens (RFC 7591 section 3): registration is open,
//!   bounded by the policy and the cap.
//! - No registration or update grants the introspection permission
//!   ([`ClientRecord::may_introspect`], RFC 7662 section 2.1), whatever
//!   metadata members it sends: a registered client is stored without it,
//!   and an update keeps what the administrator set.

use http::StatusCode;
use http::header::{ALLOW, WWW_AUTHENTICATE};
use latchkey_registration::{
    ClientRegistrationResponse, RegistrationEndpoint, RegistrationPolicy, validate_registration,
    validate_update,
};
use latchkey_store::{ClientRecord, Registered, Store};
use latchkey_types::{ClientId, ScopeToken, TokenDigest, UnixTime};
use rand_core::CryptoRng;

use crate::authorize::OFFLINE_ACCESS;
use crate::clients::{MetadataFetcher, ResolvedClient};
use crate::config::RegistrationSettings;
use crate::engine::Engine;
use crate::error::EngineError;
use crate::events::{SecurityEvent, emit};
use crate::request::HttpContext;
use crate::response::{EndpointResponse, ResponseBody};

impl<S: Store, F: MetadataFetcher> Engine<S, F> {
    /// RFC 7591 section 3: registers a client from the JSON `body`.
    ///
    /// `201` with the registered metadata, `client_id`, `client_id_issued_at`,
    /// `registration_access_token`, `registration_client_uri` and, for
    /// secret-based clients, `client_secret` and `client_secret_expires_at`;
    /// `400` with the RFC 7591 section 3.2.2 code when the metadata is refused;
    /// `503` when the client cap is reached; `404` when registration is off.
    /// Each registration is a new client (see the module documentation).
    pub async fn register(
        &self,
        body: &[u8],
        http: &HttpContext,
        now: UnixTime,
        rng: &mut impl CryptoRng,
    ) -> EndpointResponse {
        self.register_with_outcome(body, http, now, rng)
            .await
            .response
    }

    /// [`Engine::register`], with what happened as a typed value beside the
    /// response, for observers (metrics).
    pub async fn register_with_outcome(
        &self,
        body: &[u8],
        _http: &HttpContext,
        now: UnixTime,
        rng: &mut impl CryptoRng,
    ) -> RegistrationOutcome {
        let Some((settings, endpoint)) = self.registration_settings() else {
            return RegistrationOutcome {
                response: not_found(),
                result: RegistrationResult::Off,
            };
        };
        let refused = |error: EngineError| RegistrationOutcome {
            response: error.to_response(),
            result: RegistrationResult::Refused(error),
        };
        let policy = self.effective_policy(settings);
        let registration = match validate_registration(body, &policy) {
            Ok(registration) => registration,
            Err(error) => return refused(EngineError::Registration(error)),
        };
        let issued = ClientRegistrationResponse::issue(&registration, &endpoint, now, rng);
        let record = ClientRecord {
            client_id: issued.client_id().clone(),
            metadata: issued.metadata().to_json_object(),
            secret_digest: issued.client_secret_digest(),
            secret_expires_at: issued.client_secret_expires_at(),
            registration_token_digest: Some(issued.registration_access_token_digest()),
            // No fingerprint: every registration is its own client (see the
            // module docs), so the store never answers with another's.
            fingerprint: None,
            issued_at: now,
            first_used_at: None,
            // RFC 7662 section 2.1: only an administrator lets a client
            // introspect; no metadata member a registrant sends grants it.
            may_introspect: false,
        };
        match self
            .store()
            .register_client(&record, settings.max_clients)
            .await
        {
            Err(error) => refused(EngineError::Store(error)),
            Ok(Registered::Inserted) => RegistrationOutcome {
                response: registration_response(StatusCode::CREATED, &issued),
                result: RegistrationResult::Registered,
            },
            // Only a record with a fingerprint can match an existing client.
            Ok(Registered::Existing(_)) => refused(EngineError::Internal(
                "a registration without fingerprint matched a client",
            )),
            Ok(Registered::CapReached) => {
                emit(&SecurityEvent::RegistrationCapReached);
                refused(EngineError::RegistrationLimitReached)
            }
        }
    }

    /// RFC 7592 section 2.1: the client's current registration, `200`, with a
    /// new registration access token (the old one stops working).
    pub async fn read_client(
        &self,
        client_id: &str,
        http: &HttpContext,
        _now: UnixTime,
        rng: &mut impl CryptoRng,
    ) -> EndpointResponse {
        let Some((_, endpoint)) = self.registration_settings() else {
            return not_found();
        };
        let record = match self.authenticate_registration(client_id, http).await {
            Ok(record) => record,
            Err(response) => return response,
        };
        let client = match ResolvedClient::from_record(record.clone()) {
            Ok(client) => client,
            Err(error) => return error.to_response(),
        };
        let response = ClientRegistrationResponse::reissue(
            record.client_id.clone(),
            record.issued_at,
            &client.metadata,
            &endpoint,
            rng,
        );
        let updated = ClientRecord {
            registration_token_digest: Some(response.registration_access_token_digest()),
            ..record
        };
        self.store_and_answer(&updated, &response).await
    }

    /// RFC 7592 section 2.2: replaces the client's metadata with the JSON
    /// `body` (omitted members are deleted), `200` with the new registration
    /// and a new registration access token. See the module documentation for
    /// what an update may not change.
    pub async fn update_client(
        &self,
        client_id: &str,
        http: &HttpContext,
        body: &[u8],
        _now: UnixTime,
        rng: &mut impl CryptoRng,
    ) -> EndpointResponse {
        let Some((settings, endpoint)) = self.registration_settings() else {
            return not_found();
        };
        let record = match self.authenticate_registration(client_id, http).await {
            Ok(record) => record,
            Err(response) => return response,
        };
        let policy = self.effective_policy(settings);
        let update = match validate_update(body, &record.client_id, &policy) {
            Ok(update) => update,
            Err(error) => {
                return EngineError::Registration(error).to_response();
            }
        };
        let (registration, sent_secret) = update.into_parts();
        if let Some(sent) = sent_secret {
            let matches = record
                .secret_digest
                .as_ref()
                .is_some_and(|stored| *stored == sent.digest());
            if !matches {
                return EngineError::ClientSecretMismatch.to_response();
            }
        }
        let current = match ResolvedClient::from_record(record.clone()) {
            Ok(client) => client.metadata,
            Err(error) => return error.to_response(),
        };
        let new = registration.metadata();
        let old_method = current.token_endpoint_auth_method();
        let new_method = new.token_endpoint_auth_method();
        if old_method.is_public() != new_method.is_public()
            || old_method.uses_client_secret() != new_method.uses_client_secret()
        {
            return EngineError::AuthMethodClassChanged.to_response();
        }
        if record
            .fingerprint
            .as_ref()
            .is_some_and(|fingerprint| *fingerprint != registration.fingerprint())
        {
            return EngineError::IdempotentClientChanged.to_response();
        }
        let response = ClientRegistrationResponse::reissue(
            record.client_id.clone(),
            record.issued_at,
            new,
            &endpoint,
            rng,
        );
        let updated = ClientRecord {
            metadata: new.to_json_object(),
            registration_token_digest: Some(response.registration_access_token_digest()),
            ..record
        };
        self.store_and_answer(&updated, &response).await
    }

    /// RFC 7592 section 2.3: deletes the client and revokes its grants, `204`.
    /// Idempotently registered public clients are shared and cannot be
    /// deleted this way (`405`).
    pub async fn delete_client(
        &self,
        client_id: &str,
        http: &HttpContext,
        now: UnixTime,
    ) -> EndpointResponse {
        if self.registration_settings().is_none() {
            return not_found();
        }
        let record = match self.authenticate_registration(client_id, http).await {
            Ok(record) => record,
            Err(response) => return response,
        };
        if record.fingerprint.is_some() {
            return EndpointResponse::new(StatusCode::METHOD_NOT_ALLOWED, ResponseBody::Empty)
                .with_header(ALLOW, "GET, PUT".to_owned())
                .no_store();
        }
        match self.store().delete_client(&record.client_id, now).await {
            Ok(true) => {
                EndpointResponse::new(StatusCode::NO_CONTENT, ResponseBody::Empty).no_store()
            }
            Ok(false) => unauthorized(true),
            Err(error) => EngineError::Store(error).to_response(),
        }
    }

    /// Deletes at most `limit` registered clients that were issued more than
    /// the configured `unused_client_ttl` before `now` and never obtained a
    /// token; returns how many. Call again until fewer than `limit` come back
    /// to purge them all (`latchkey serve` does, on a schedule). `Ok(0)` when
    /// registration is off.
    pub async fn purge_unused_clients(
        &self,
        now: UnixTime,
        limit: u64,
    ) -> Result<u64, EngineError> {
        let Some(settings) = &self.config().registration else {
            return Ok(0);
        };
        let issued_before = now.saturating_sub(settings.unused_client_ttl);
        Ok(self
            .store()
            .purge_unused_clients(issued_before, limit)
            .await?)
    }

    /// The registration settings and endpoint, when registration is on.
    fn registration_settings(&self) -> Option<(&RegistrationSettings, RegistrationEndpoint)> {
        let config = self.config();
        let settings = config.registration.as_ref()?;
        let endpoint =
            RegistrationEndpoint::parse(config.registration_endpoint.as_deref()?).ok()?;
        Some((settings, endpoint))
    }

    /// The policy with `allowed_scopes` filled in from the resources when empty.
    fn effective_policy(&self, settings: &RegistrationSettings) -> RegistrationPolicy {
        let mut policy = settings.policy.clone();
        if policy.allowed_scopes.is_empty() {
            let config = self.config();
            for resource in &config.resources {
                policy.allowed_scopes = policy.allowed_scopes.union(&resource.scopes_supported);
            }
            if config.issue_refresh_tokens
                && let Ok(token) = ScopeToken::parse(OFFLINE_ACCESS)
            {
                policy.allowed_scopes.insert(token);
            }
        }
        policy
    }

    /// The client a valid registration access token was issued for, or the
    /// `401` to send. The digest comparison runs whether or not the client
    /// exists, and every failure looks the same.
    async fn authenticate_registration(
        &self,
        client_id: &str,
        http: &HttpContext,
    ) -> Result<ClientRecord, EndpointResponse> {
        let token = bearer_token(http);
        let presented = TokenDigest::of(token.unwrap_or_default().as_bytes());
        let record = match ClientId::parse(client_id) {
            Ok(id) => match self.store().client(&id).await {
                Ok(record) => record,
                Err(error) => return Err(EngineError::Store(error).to_response()),
            },
            Err(_) => None,
        };
        let stored = record
            .as_ref()
            .and_then(|r| r.registration_token_digest)
            .unwrap_or_else(|| TokenDigest::from_bytes([0; 32]));
        let digest_matches = stored == presented;
        match record {
            Some(record)
                if token.is_some()
                    && digest_matches
                    && record.registration_token_digest.is_some() =>
            {
                Ok(record)
            }
            Some(record) => {
                if token.is_some() {
                    emit(&SecurityEvent::RegistrationTokenRejected {
                        client_id: &record.client_id,
                    });
                }
                Err(unauthorized(token.is_some()))
            }
            None => Err(unauthorized(token.is_some())),
        }
    }

    /// Stores `updated` (new token digest, maybe new metadata) and answers `200`.
    async fn store_and_answer(
        &self,
        updated: &ClientRecord,
        response: &ClientRegistrationResponse,
    ) -> EndpointResponse {
        match self.store().replace_client(updated).await {
            Ok(true) => registration_response(StatusCode::OK, response),
            Ok(false) => unauthorized(true),
            Err(error) => EngineError::Store(error).to_response(),
        }
    }
}

/// The registration response body (RFC 7591 section 3.2.1), never cached.
fn registration_response(
    status: StatusCode,
    issued: &ClientRegistrationResponse,
) -> EndpointResponse {
    EndpointResponse::json_text(status, issued.to_json().expose_secret().to_owned()).no_store()
}

/// `404` with no body: registration is off.
/// What a registration request came to ([`Engine::register_with_outcome`]).
#[derive(Debug)]
pub struct RegistrationOutcome {
    /// The response to send, as [`Engine::register`] returns it.
    pub response: EndpointResponse,
    /// Whether a client was registered.
    pub result: RegistrationResult,
}

/// Whether a registration request registered a client.
#[derive(Debug)]
#[non_exhaustive]
pub enum RegistrationResult {
    /// A client was registered (RFC 7591 section 3.2.1).
    Registered,
    /// The request was refused (RFC 7591 section 3.2.2), or the store or
    /// the client cap stopped it.
    Refused(EngineError),
    /// Registration is off: `404`.
    Off,
}

fn not_found() -> EndpointResponse {
    EndpointResponse::new(StatusCode::NOT_FOUND, ResponseBody::Empty)
}

/// `401` for RFC 7592 requests (RFC 6750 section 3.1): `invalid_token` in the
/// challenge when a token was presented, a bare `Bearer` challenge otherwise.
fn unauthorized(token_presented: bool) -> EndpointResponse {
    let challenge = if token_presented {
        "Bearer error=\"invalid_token\""
    } else {
        "Bearer"
    };
    EngineError::RegistrationTokenInvalid
        .to_response()
        .with_header(WWW_AUTHENTICATE, challenge.to_owned())
}

/// The token of an `Authorization: Bearer <token>` header (RFC 6750 section
/// 2.1: `"Bearer" 1*SP b64token`, the scheme case-insensitive).
pub(crate) fn bearer_token(http: &HttpContext) -> Option<&str> {
    let value = http.authorization.as_deref()?;
    let (scheme, token) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = token.trim_start_matches(' ');
    let body = token.trim_end_matches('=');
    let valid = !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b));
    valid.then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(header: &str) -> HttpContext {
        HttpContext::new("GET", "https://as.example.com/register/x")
            .with_authorization(header.to_owned())
    }

    #[test]
    fn rfc_6750_section_2_1_bearer_syntax() {
        assert_eq!(
            bearer_token(&with("Bearer abc-._~+/==")),
            Some("abc-._~+/==")
        );
        assert_eq!(bearer_token(&with("bearer  abc")), Some("abc"));
        assert_eq!(bearer_token(&with("Basic abc")), None);
        assert_eq!(bearer_token(&with("Bearer")), None);
        assert_eq!(bearer_token(&with("Bearer ")), None);
        assert_eq!(bearer_token(&with("Bearer a b")), None);
        assert_eq!(bearer_token(&with("Bearer ===")), None);
        assert_eq!(bearer_token(&with("Bearer a=b")), None);
        assert_eq!(bearer_token(&HttpContext::new("GET", "https://x/")), None);
    }
}
