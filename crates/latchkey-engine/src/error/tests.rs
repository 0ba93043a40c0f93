use latchkey_dpop::{DpopNonces, NonceKey};
use latchkey_types::UnixTime;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use super::*;

/// One value of every variant with the code it must map to (STYLE.md §3).
/// The mapping itself is the exhaustive match; this table pins each arm.
fn every_variant() -> Vec<(EngineError, ErrorCode)> {
    use EngineError as E;
    use ErrorCode as C;
    vec![
        (
            E::Store(StoreError::Corrupt { what: "client" }),
            C::ServerError,
        ),
        (
            E::Store(StoreError::Backend("x".into())),
            C::TemporarilyUnavailable,
        ),
        (E::Config("c"), C::ServerError),
        (E::Keys("k"), C::ServerError),
        (E::Internal("i"), C::ServerError),
        (E::TooManyParameters, C::InvalidRequest),
        (E::ParameterTooLong, C::InvalidRequest),
        (
            E::ParameterRepeated {
                name: "scope".into(),
            },
            C::InvalidRequest,
        ),
        (
            E::IdentifyingParameterRepeated("client_id"),
            C::InvalidRequest,
        ),
        (
            E::ParameterMissing {
                name: "code".into(),
            },
            C::InvalidRequest,
        ),
        (E::ClientIdMalformed, C::InvalidRequest),
        (E::UnknownClient, C::InvalidClient),
        (E::RedirectUriNotRegistered, C::InvalidRequest),
        (E::RedirectUriMalformed, C::InvalidRequest),
        (E::NoRegisteredRedirectUri, C::InvalidRequest),
        (E::RedirectUriAmbiguous, C::InvalidRequest),
        (E::ResponseTypeUnsupported, C::UnsupportedResponseType),
        (E::CodeGrantNotRegistered, C::UnauthorizedClient),
        (E::RequestObjectUnsupported, C::InvalidRequest),
        (E::ResponseModeUnsupported, C::InvalidRequest),
        (E::CodeChallengeMissing, C::InvalidRequest),
        (
            E::CodeChallenge(PkceError::ChallengeMethodPlain),
            C::InvalidRequest,
        ),
        (E::DpopJktMalformed, C::InvalidRequest),
        (E::PromptInvalid("prompt is malformed"), C::InvalidRequest),
        (E::MaxAgeInvalid, C::InvalidRequest),
        (E::LoginRequired, C::LoginRequired),
        (E::ConsentRequired, C::ConsentRequired),
        (E::InteractionRequired, C::InteractionRequired),
        (E::AccessDenied, C::AccessDenied),
        (E::ResourceMalformed, C::InvalidTarget),
        (E::ResourceNotServed, C::InvalidTarget),
        (E::NoAudience, C::InvalidTarget),
        (E::ScopeMalformed, C::InvalidScope),
        (E::ScopeNotSupportedByResource, C::InvalidScope),
        (E::ScopeNotAllowedForClient, C::InvalidScope),
        (E::GrantTypeUnsupported, C::UnsupportedGrantType),
        (E::GrantTypeNotAllowedForClient, C::UnauthorizedClient),
        (E::PublicClientCredentials, C::UnauthorizedClient),
        (E::ClientIdNotASubject, C::UnauthorizedClient),
        (E::CodeUnknown, C::InvalidGrant),
        (E::CodeVerifierMalformed, C::InvalidGrant),
        (E::CodeRefused(CodeError::VerifierMismatch), C::InvalidGrant),
        (E::CodeAlreadyRedeemed, C::InvalidGrant),
        (E::RefreshTokenUnknown, C::InvalidGrant),
        (
            E::RefreshRefused(RefreshError::FamilyRevoked),
            C::InvalidGrant,
        ),
        (E::RefreshTokenReused, C::InvalidGrant),
        (E::RefreshRotatedConcurrently, C::InvalidGrant),
        (E::DpopProof(DpopError::MalformedJwt), C::InvalidDpopProof),
        (E::DpopProof(DpopError::KeyBindingMismatch), C::InvalidGrant),
        (E::DpopProofReplayed, C::InvalidDpopProof),
        (E::AuthorizationHeaderMalformed, C::InvalidClient),
        (E::ClientAuthenticationFailed, C::InvalidClient),
        (E::MultipleClientAuthenticationMethods, C::InvalidRequest),
        (E::ClientIdMismatch, C::InvalidRequest),
        (E::IntrospectionNotPermitted, C::InvalidClient),
        (
            E::ClientIdMetadataUrl(RegistrationError::RedirectUrisMissing),
            C::InvalidClient,
        ),
        (E::ClientIdMetadataUnavailable, C::InvalidClient),
        (E::ClientIdMetadataInvalid, C::InvalidClient),
        (
            E::Registration(RegistrationError::RedirectUrisMissing),
            C::InvalidRedirectUri,
        ),
        (E::ClientSecretMismatch, C::InvalidRequest),
        (E::AuthMethodClassChanged, C::InvalidClientMetadata),
        (E::IdempotentClientChanged, C::InvalidClientMetadata),
        (E::RegistrationTokenInvalid, C::InvalidToken),
        (E::RegistrationLimitReached, C::TemporarilyUnavailable),
    ]
}

#[test]
fn every_variant_maps_to_its_registered_code() {
    for (error, code) in every_variant() {
        assert_eq!(ErrorCode::from(&error), code, "{error:?}");
        assert_eq!(error.to_response().status, code.http_status(), "{error:?}");
    }
}

#[test]
fn descriptions_are_lowercase_without_trailing_period() {
    for (error, _) in every_variant() {
        let description = error.public_description();
        assert!(!description.is_empty(), "{error:?}");
        assert!(!description.ends_with('.'), "{error:?}");
        assert!(
            !description.starts_with(|c: char| c.is_ascii_uppercase()),
            "{error:?}: {description}"
        );
    }
}

#[test]
fn store_failures_never_leak_their_detail() {
    let backend = EngineError::Store(StoreError::Backend("db password=hunter2".into()));
    assert_eq!(ErrorCode::from(&backend), ErrorCode::TemporarilyUnavailable);
    assert!(!backend.public_description().contains("hunter2"));
    let corrupt = EngineError::Store(StoreError::Corrupt { what: "client" });
    assert_eq!(ErrorCode::from(&corrupt), ErrorCode::ServerError);
    let response = corrupt.to_response();
    assert_eq!(response.status, 500);
}

#[test]
fn internal_failures_answer_with_a_generic_description() {
    let error = EngineError::Internal("a refresh family could not be started");
    assert!(error.is_internal());
    assert_eq!(error.public_description(), "internal server error");
    assert!(!EngineError::UnknownClient.is_internal());
}

#[test]
fn refusals_keep_the_description_clients_see() {
    let error = EngineError::ParameterMissing {
        name: "grant_type".to_owned(),
    };
    assert_eq!(ErrorCode::from(&error), ErrorCode::InvalidRequest);
    assert_eq!(error.public_description(), "grant_type is missing");
    assert_eq!(
        EngineError::CodeChallenge(PkceError::ChallengeMethodMissing).public_description(),
        "code_challenge_method is required and must be S256"
    );
}

#[test]
fn rfc_9449_section_8_use_dpop_nonce_carries_the_fresh_nonce() {
    let nonces = DpopNonces::new(NonceKey::generate(&mut ChaCha20Rng::seed_from_u64(7)));
    let nonce = nonces.issue(UnixTime::from_secs(1_000));
    let error = EngineError::DpopProof(DpopError::NonceMissing(nonce.clone()));
    assert_eq!(ErrorCode::from(&error), ErrorCode::UseDpopNonce);
    let response = error.to_response();
    assert_eq!(response.header("dpop-nonce"), Some(nonce.as_str()));
    let plain = EngineError::DpopProof(DpopError::MalformedJwt).to_response();
    assert_eq!(plain.header("dpop-nonce"), None);
}

#[test]
fn rfc_6749_section_5_2_basic_challenge_only_on_a_401() {
    let failed = Refusal::with_challenge(EngineError::ClientAuthenticationFailed, Challenge::Basic);
    assert_eq!(
        failed.to_response().header("www-authenticate"),
        Some("Basic realm=\"latchkey\"")
    );
    let not_401 = Refusal::with_challenge(EngineError::ClientIdMismatch, Challenge::Basic);
    assert_eq!(not_401.to_response().header("www-authenticate"), None);
    let no_basic = Refusal::from(EngineError::ClientAuthenticationFailed);
    assert_eq!(no_basic.to_response().header("www-authenticate"), None);
}
