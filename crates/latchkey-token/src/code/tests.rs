use super::*;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

/// RFC 7636 appendix B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const OTHER_VERIFIER: &str = "aBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const REDIRECT: &str = "http://127.0.0.1:51004/callback";
const NOW: UnixTime = UnixTime::from_secs(1_700_000_000);

fn client() -> ClientId {
    ClientId::parse("s6BhdRkqt3").unwrap()
}

fn other_client() -> ClientId {
    ClientId::parse("attacker").unwrap()
}

fn resource(s: &str) -> ResourceUri {
    ResourceUri::parse(s).unwrap()
}

fn verifier(s: &str) -> CodeVerifier {
    CodeVerifier::parse(s.to_owned()).unwrap()
}

fn jkt(byte: u8) -> JwkThumbprint {
    JwkThumbprint::from_sha256([byte; 32])
}

fn params() -> CodeParams {
    CodeParams {
        client_id: client(),
        redirect_uri: RedirectUri::parse(REDIRECT).unwrap(),
        redirect_uri_source: RedirectUriSource::Request,
        code_challenge: challenge(),
        resources: vec![
            resource("https://mcp.example.com/mcp"),
            resource("https://files.example.com/mcp"),
        ],
        scope: Scope::parse("mcp:read mcp:write").unwrap(),
        subject: Subject::parse("alice").unwrap(),
        auth_time: UnixTime::from_secs(1_699_999_900),
        dpop_jkt: None,
    }
}

fn challenge() -> CodeChallenge {
    CodeChallenge::parse(CHALLENGE, Some("S256")).unwrap()
}

fn issue(params: CodeParams) -> (AuthorizationCode, CodeRecord) {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    CodeRecord::issue(params, NOW, &CodePolicy::default(), &mut rng).unwrap()
}

/// A valid OAuth 2.1 token request for the record from [`params`].
fn request<'a>(client_id: &'a ClientId, verifier: Option<&'a CodeVerifier>) -> CodeRedemption<'a> {
    CodeRedemption {
        client_id,
        redirect_uri: None,
        redirect_uri_rule: RedirectUriRule::OAuth21,
        code_verifier: verifier,
        resources: &[],
        dpop_jkt: None,
    }
}

#[test]
fn oauth21_4_1_3_valid_redemption_names_audience_scope_and_subject() {
    let (code, record) = issue(params());
    let v = verifier(VERIFIER);
    let c = client();
    let grant = record.redeem(&request(&c, Some(&v)), NOW).unwrap();
    assert_eq!(grant.client_id, client());
    assert_eq!(grant.subject.as_str(), "alice");
    assert_eq!(grant.scope, Scope::parse("mcp:read mcp:write").unwrap());
    // Absent `resource`: the audience is every granted resource, sorted.
    let all = vec![
        resource("https://files.example.com/mcp"),
        resource("https://mcp.example.com/mcp"),
    ];
    assert_eq!(grant.audience, all);
    assert_eq!(grant.resources, all);
    assert_eq!(grant.code_digest, code.digest());
    assert_eq!(grant.auth_time, UnixTime::from_secs(1_699_999_900));
}

#[test]
fn oauth21_7_5_2_code_has_256_bits_and_record_keeps_only_the_digest() {
    let (code, record) = issue(params());
    assert_eq!(code.expose_secret().len(), 43);
    assert_eq!(record.digest(), &code.digest());
    assert!(!format!("{record:?}").contains(code.expose_secret()));
    assert_eq!(format!("{code:?}"), "AuthorizationCode(..)");
    let (second, _) = CodeRecord::issue(
        params(),
        NOW,
        &CodePolicy::default(),
        &mut ChaCha20Rng::seed_from_u64(2),
    )
    .unwrap();
    assert_ne!(second.expose_secret(), code.expose_secret());
}

#[test]
fn oauth21_4_1_2_lifetime_defaults_to_60s_and_is_capped_at_10_minutes() {
    let (_, record) = issue(params());
    assert_eq!(record.issued_at(), NOW);
    assert_eq!(record.expires_at(), UnixTime::from_secs(1_700_000_060));
    assert_eq!(
        CodePolicy::new(Duration::from_secs(601)),
        Err(CodeError::LifetimeTooLong)
    );
    assert_eq!(
        CodePolicy::new(Duration::ZERO),
        Err(CodeError::LifetimeZero)
    );
    let max = CodePolicy::new(Duration::from_secs(600)).unwrap();
    assert_eq!(max.lifetime(), CodePolicy::MAX_LIFETIME);
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let overflow = CodeRecord::issue(params(), UnixTime::from_secs(u64::MAX), &max, &mut rng);
    assert_eq!(overflow.err(), Some(CodeError::ExpiryOverflow));
}

#[test]
fn oauth21_4_1_2_expired_code_is_invalid_grant() {
    let (_, record) = issue(params());
    let v = verifier(VERIFIER);
    let c = client();
    let last_second = UnixTime::from_secs(1_700_000_059);
    assert!(record.redeem(&request(&c, Some(&v)), last_second).is_ok());
    let expiry = UnixTime::from_secs(1_700_000_060);
    let error = record.redeem(&request(&c, Some(&v)), expiry).unwrap_err();
    assert_eq!(error, CodeError::Expired);
    assert_eq!(ErrorCode::from(&error), ErrorCode::InvalidGrant);
}

#[test]
fn oauth21_4_1_3_code_of_another_client_is_invalid_grant() {
    let (_, record) = issue(params());
    let v = verifier(VERIFIER);
    let c = other_client();
    let error = record.redeem(&request(&c, Some(&v)), NOW).unwrap_err();
    assert_eq!(error, CodeError::ClientMismatch);
    assert_eq!(ErrorCode::from(&error), ErrorCode::InvalidGrant);
}

#[test]
fn oauth21_10_2_redirect_uri_when_sent_must_be_identical() {
    let (_, record) = issue(params());
    let v = verifier(VERIFIER);
    let c = client();
    let mut req = request(&c, Some(&v));
    req.redirect_uri = Some(REDIRECT);
    assert!(record.redeem(&req, NOW).is_ok());
    // Another loopback port would match the registration, but not the request.
    for wrong in [
        "http://127.0.0.1:51005/callback",
        "http://127.0.0.1/callback",
        "http://127.0.0.1:51004/callback/",
    ] {
        req.redirect_uri = Some(wrong);
        let error = record.redeem(&req, NOW).unwrap_err();
        assert_eq!(error, CodeError::RedirectUriMismatch, "{wrong}");
        assert_eq!(ErrorCode::from(&error), ErrorCode::InvalidGrant);
    }
}

#[test]
fn oauth21_10_2_redirect_uri_required_for_oauth20_clients_when_authorize_sent_it() {
    let v = verifier(VERIFIER);
    let c = client();
    let mut req = request(&c, Some(&v));
    req.redirect_uri_rule = RedirectUriRule::OAuth20Compatible;
    let (_, record) = issue(params());
    let error = record.redeem(&req, NOW).unwrap_err();
    assert_eq!(error, CodeError::RedirectUriMissing);
    assert_eq!(ErrorCode::from(&error), ErrorCode::InvalidGrant);
    req.redirect_uri = Some(REDIRECT);
    assert!(record.redeem(&req, NOW).is_ok());

    // Registered one used implicitly: an OAuth 2.0 client need not repeat it.
    let mut implicit = params();
    implicit.redirect_uri_source = RedirectUriSource::Registered;
    let (_, record) = issue(implicit);
    assert_eq!(record.redirect_uri_source(), RedirectUriSource::Registered);
    req.redirect_uri = None;
    assert!(record.redeem(&req, NOW).is_ok());
    // An OAuth 2.1 client never needs it.
    let (_, record) = issue(params());
    assert!(record.redeem(&request(&c, Some(&v)), NOW).is_ok());
}

#[test]
fn oauth21_4_1_3_missing_code_verifier_is_invalid_grant() {
    let (_, record) = issue(params());
    let c = client();
    let error = record.redeem(&request(&c, None), NOW).unwrap_err();
    assert_eq!(error, CodeError::VerifierMissing);
    assert_eq!(ErrorCode::from(&error), ErrorCode::InvalidGrant);
}

#[test]
fn rfc7636_4_6_wrong_code_verifier_is_invalid_grant() {
    let (_, record) = issue(params());
    let v = verifier(OTHER_VERIFIER);
    let c = client();
    let error = record.redeem(&request(&c, Some(&v)), NOW).unwrap_err();
    assert_eq!(error, CodeError::VerifierMismatch);
    assert_eq!(ErrorCode::from(&error), ErrorCode::InvalidGrant);
}

#[test]
fn rfc9449_10_code_bound_to_dpop_key_needs_that_key() {
    let mut bound = params();
    bound.dpop_jkt = Some(jkt(1));
    let (_, record) = issue(bound);
    let v = verifier(VERIFIER);
    let c = client();
    let mut req = request(&c, Some(&v));
    assert_eq!(
        record.redeem(&req, NOW).unwrap_err(),
        CodeError::DpopProofMissing
    );
    let other = jkt(2);
    req.dpop_jkt = Some(&other);
    let error = record.redeem(&req, NOW).unwrap_err();
    assert_eq!(error, CodeError::DpopKeyMismatch);
    assert_eq!(ErrorCode::from(&error), ErrorCode::InvalidGrant);
    assert_eq!(
        ErrorCode::from(&CodeError::DpopProofMissing),
        ErrorCode::InvalidGrant
    );
    let right = jkt(1);
    req.dpop_jkt = Some(&right);
    assert_eq!(record.redeem(&req, NOW).unwrap().dpop_jkt, Some(jkt(1)));
    // An unbound code accepts any proof (the engine binds the access token to it).
    let (_, unbound) = issue(params());
    assert!(unbound.redeem(&req, NOW).is_ok());
}

#[test]
fn rfc8707_2_2_resource_must_be_one_of_the_granted() {
    let (_, record) = issue(params());
    let v = verifier(VERIFIER);
    let c = client();
    let mut req = request(&c, Some(&v));
    let one = [resource("https://MCP.example.com:443/mcp")];
    req.resources = &one;
    let grant = record.redeem(&req, NOW).unwrap();
    assert_eq!(
        grant.audience,
        vec![resource("https://mcp.example.com/mcp")]
    );
    // The refresh family still gets the whole original grant.
    assert_eq!(grant.resources.len(), 2);

    let foreign = [
        resource("https://mcp.example.com/mcp"),
        resource("https://evil.example.com/mcp"),
    ];
    req.resources = &foreign;
    let error = record.redeem(&req, NOW).unwrap_err();
    assert_eq!(error, CodeError::ResourceNotGranted);
    assert_eq!(ErrorCode::from(&error), ErrorCode::InvalidTarget);
    // A sub-path of a granted resource is not the granted resource.
    let sub = [resource("https://mcp.example.com/mcp/tools")];
    req.resources = &sub;
    assert_eq!(
        record.redeem(&req, NOW).unwrap_err(),
        CodeError::ResourceNotGranted
    );
}

#[test]
fn rfc8707_2_1_code_without_resource_is_refused() {
    let mut none = params();
    none.resources.clear();
    let mut rng = ChaCha20Rng::seed_from_u64(4);
    let error = CodeRecord::issue(none, NOW, &CodePolicy::default(), &mut rng).unwrap_err();
    assert_eq!(error, CodeError::NoResource);
    assert_eq!(ErrorCode::from(&error), ErrorCode::InvalidTarget);
}

#[test]
fn oauth21_4_1_3_first_consumption_issues_unknown_code_is_rejected() {
    let (_, record) = issue(params());
    let v = verifier(VERIFIER);
    let c = client();
    let req = request(&c, Some(&v));
    let decision = Consumption::First(record).decide(&req, NOW);
    assert!(matches!(decision, RedemptionDecision::Issue(_)));
    assert_eq!(decision.error_code(), None);
    let decision = Consumption::Unknown.decide(&req, NOW);
    assert!(matches!(
        decision,
        RedemptionDecision::Reject(CodeError::UnknownCode)
    ));
    assert_eq!(decision.error_code(), Some(ErrorCode::InvalidGrant));
    let (_, record) = issue(params());
    let late = UnixTime::from_secs(1_700_000_060);
    let decision = Consumption::First(record).decide(&req, late);
    assert!(matches!(
        decision,
        RedemptionDecision::Reject(CodeError::Expired)
    ));
}

#[test]
fn rfc9700_4_5_valid_replay_of_consumed_code_revokes_what_it_issued() {
    let (code, record) = issue(params());
    let v = verifier(VERIFIER);
    let c = client();
    // Even after expiry: the replay still revokes.
    let later = UnixTime::from_secs(1_700_000_500);
    let decision = Consumption::AlreadyConsumed(record).decide(&request(&c, Some(&v)), later);
    let RedemptionDecision::Replay(replay) = &decision else {
        panic!("expected replay, got {decision:?}");
    };
    assert_eq!(replay.code_digest, code.digest());
    assert_eq!(replay.client_id, client());
    assert_eq!(replay.subject.as_str(), "alice");
    assert_eq!(decision.error_code(), Some(ErrorCode::InvalidGrant));
    assert_eq!(
        ErrorCode::from(&CodeError::AlreadyConsumed),
        ErrorCode::InvalidGrant
    );
}

#[test]
fn oauth21_4_1_3_invalid_replay_is_rejected_without_revocation() {
    let c = client();
    let wrong = verifier(OTHER_VERIFIER);
    let (_, record) = issue(params());
    let decision = Consumption::AlreadyConsumed(record).decide(&request(&c, Some(&wrong)), NOW);
    assert!(matches!(
        decision,
        RedemptionDecision::Reject(CodeError::VerifierMismatch)
    ));
    let v = verifier(VERIFIER);
    let other = other_client();
    let (_, record) = issue(params());
    let decision = Consumption::AlreadyConsumed(record).decide(&request(&other, Some(&v)), NOW);
    assert!(matches!(
        decision,
        RedemptionDecision::Reject(CodeError::ClientMismatch)
    ));
}

#[test]
fn error_display_is_lowercase_without_period_and_maps_every_variant() {
    let all = [
        CodeError::LifetimeZero,
        CodeError::LifetimeTooLong,
        CodeError::ExpiryOverflow,
        CodeError::NoResource,
        CodeError::UnknownCode,
        CodeError::AlreadyConsumed,
        CodeError::Expired,
        CodeError::ClientMismatch,
        CodeError::RedirectUriMismatch,
        CodeError::RedirectUriMissing,
        CodeError::VerifierMissing,
        CodeError::VerifierMismatch,
        CodeError::DpopProofMissing,
        CodeError::DpopKeyMismatch,
        CodeError::ResourceNotGranted,
    ];
    for error in &all {
        let text = error.to_string();
        assert!(!text.ends_with('.'), "{text}");
        assert_eq!(text, text.to_lowercase(), "{text}");
    }
    assert_eq!(
        ErrorCode::from(&CodeError::LifetimeTooLong),
        ErrorCode::ServerError
    );
}

#[test]
fn record_round_trips_through_parts_and_reload_rechecks_invariants() {
    let (code, record) = issue(params());
    let parts = record.into_parts();
    assert_eq!(parts.digest, code.digest());
    let record = CodeRecord::from_parts(parts).unwrap();
    let v = verifier(VERIFIER);
    let c = client();
    assert!(record.redeem(&request(&c, Some(&v)), NOW).is_ok());

    let mut empty = record.into_parts();
    let resources = core::mem::take(&mut empty.resources);
    assert_eq!(
        CodeRecord::from_parts(empty).unwrap_err(),
        CodeError::NoResource
    );
    let (_, record) = issue(params());
    let mut long = record.into_parts();
    long.resources = resources;
    long.expires_at = UnixTime::from_secs(NOW.as_secs() + 601);
    assert_eq!(
        CodeRecord::from_parts(long).unwrap_err(),
        CodeError::LifetimeTooLong
    );
}
