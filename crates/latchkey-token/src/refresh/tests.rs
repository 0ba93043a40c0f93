use super::*;
use latchkey_types::ScopeToken;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

mod model;

const NOW: UnixTime = UnixTime::from_secs(1_700_000_000);

fn at(offset: u64) -> UnixTime {
    UnixTime::from_secs(NOW.as_secs() + offset)
}

fn client() -> ClientId {
    ClientId::parse("s6BhdRkqt3").unwrap()
}

fn other_client() -> ClientId {
    ClientId::parse("attacker").unwrap()
}

fn resource(s: &str) -> ResourceUri {
    ResourceUri::parse(s).unwrap()
}

fn jkt(byte: u8) -> JwkThumbprint {
    JwkThumbprint::from_sha256([byte; 32])
}

fn key() -> RotationKey {
    RotationKey::new(&SecretString::new("k".repeat(32))).unwrap()
}

fn params(dpop_jkt: Option<JwkThumbprint>) -> FamilyParams {
    FamilyParams {
        client_id: client(),
        subject: Subject::parse("alice").unwrap(),
        scope: Scope::parse("mcp:read mcp:write").unwrap(),
        resources: vec![
            resource("https://mcp.example.com/mcp"),
            resource("https://files.example.com/mcp"),
        ],
        dpop_jkt,
    }
}

fn start(dpop_jkt: Option<JwkThumbprint>) -> (String, RefreshFamily) {
    let mut rng = ChaCha20Rng::seed_from_u64(9);
    let (token, family) =
        RefreshFamily::start(params(dpop_jkt), NOW, &RefreshPolicy::default(), &mut rng).unwrap();
    (token.expose_secret().to_owned(), family)
}

/// Presents `token` as `client_id` with `dpop_jkt`, full scope, all resources.
fn present(
    family: &RefreshFamily,
    token: &str,
    client_id: &ClientId,
    dpop_jkt: Option<&JwkThumbprint>,
    now: UnixTime,
) -> RefreshDecision {
    let token = RefreshToken::new(token.to_owned());
    let request = RefreshPresentation {
        token: &token,
        client_id,
        client_authenticated: true,
        dpop_jkt,
        scope: None,
        resources: &[],
    };
    family.present(&request, now, &RefreshPolicy::default(), &key())
}

/// Rotates with the current `token` and returns the successor and the next family.
fn rotate(family: &RefreshFamily, token: &str, now: UnixTime) -> (String, RefreshFamily) {
    match present(family, token, &client(), family.dpop_jkt(), now) {
        RefreshDecision::Rotate(rotation) => {
            (rotation.successor.expose_secret().to_owned(), rotation.next)
        }
        other => panic!("expected rotation, got {other:?}"),
    }
}

fn reuse_reason(decision: &RefreshDecision) -> Option<ReuseReason> {
    match decision {
        RefreshDecision::Reuse(reuse) => Some(reuse.reason),
        _ => None,
    }
}

fn rejection(decision: &RefreshDecision) -> Option<RefreshError> {
    match decision {
        RefreshDecision::Reject(error) => Some(error.clone()),
        _ => None,
    }
}

#[test]
fn oauth21_4_3_1_a10_every_use_rotates_to_a_new_token() {
    let (t0, f0) = start(None);
    assert_eq!(f0.generation(), 0);
    assert_eq!(f0.current(), &TokenDigest::of(t0.as_bytes()));
    let decision = present(&f0, &t0, &client(), None, at(5));
    assert_eq!(decision.error_code(), None);
    let RefreshDecision::Rotate(rotation) = decision else {
        panic!("expected rotation");
    };
    let t1 = rotation.successor.expose_secret().to_owned();
    assert_ne!(t1, t0);
    assert_eq!(t1.len(), 43);
    let f1 = rotation.next;
    assert_eq!(f1.generation(), 1);
    assert_eq!(f1.current(), &TokenDigest::of(t1.as_bytes()));
    assert_eq!(
        f1.previous(),
        Some(&PreviousToken {
            digest: TokenDigest::of(t0.as_bytes()),
            rotated_at: at(5),
        })
    );
    assert_eq!(rotation.grant.scope, *f0.scope());
    assert_eq!(rotation.grant.audience, f0.resources());
    assert_eq!(rotation.grant.family_id, f0.id());
    assert_eq!(rotation.grant.subject.as_str(), "alice");
    // The presented token stopped being current: later it is reuse.
    let late = present(&f1, &t0, &client(), None, at(500));
    assert_eq!(reuse_reason(&late), Some(ReuseReason::RetryOutsideWindow));
    let (t2, f2) = rotate(&f1, &t1, at(10));
    assert_ne!(t2, t1);
    assert_eq!(f2.generation(), 2);
}

#[test]
fn successor_is_hmac_sha256_of_label_family_generation_and_token() {
    let (t0, f0) = start(None);
    let (t1, _) = rotate(&f0, &t0, at(1));
    let mut message = b"latchkey refresh rotation v1\0".to_vec();
    message.extend_from_slice(f0.id().as_bytes());
    message.extend_from_slice(&1u64.to_be_bytes());
    message.extend_from_slice(t0.as_bytes());
    let raw = hmac::Key::new(hmac::HMAC_SHA256, "k".repeat(32).as_bytes());
    let expected = crate::code::thumbprint_encode(hmac::sign(&raw, &message).as_ref());
    assert_eq!(t1, expected);
}

#[test]
fn oauth21_4_3_1_narrower_scope_and_resource_allowed_wider_refused() {
    let (t0, f0) = start(None);
    let token = RefreshToken::new(t0.clone());
    let c = client();
    let read = Scope::parse("mcp:read").unwrap();
    let one = [resource("https://files.example.com/mcp")];
    let narrow = RefreshPresentation {
        token: &token,
        client_id: &c,
        client_authenticated: true,
        dpop_jkt: None,
        scope: Some(&read),
        resources: &one,
    };
    let RefreshDecision::Rotate(rotation) =
        f0.present(&narrow, at(1), &RefreshPolicy::default(), &key())
    else {
        panic!("expected rotation");
    };
    assert_eq!(rotation.grant.scope, read);
    assert_eq!(rotation.grant.audience, one.to_vec());
    // The family keeps the full grant: the next refresh may ask for all of it.
    assert_eq!(rotation.next.scope(), f0.scope());
    assert_eq!(rotation.next.resources().len(), 2);

    let admin = Scope::parse("mcp:read mcp:admin").unwrap();
    let wide = RefreshPresentation {
        scope: Some(&admin),
        resources: &[],
        ..narrow
    };
    let decision = f0.present(&wide, at(1), &RefreshPolicy::default(), &key());
    assert_eq!(rejection(&decision), Some(RefreshError::ScopeNotGranted));
    assert_eq!(decision.error_code(), Some(ErrorCode::InvalidScope));

    let foreign = [resource("https://evil.example.com/mcp")];
    let elsewhere = RefreshPresentation {
        token: &token,
        client_id: &c,
        client_authenticated: true,
        dpop_jkt: None,
        scope: None,
        resources: &foreign,
    };
    let decision = f0.present(&elsewhere, at(1), &RefreshPolicy::default(), &key());
    assert_eq!(rejection(&decision), Some(RefreshError::ResourceNotGranted));
    assert_eq!(decision.error_code(), Some(ErrorCode::InvalidTarget));
}

#[test]
fn mcp_2026_07_28_step_up_a_refresh_narrows_through_the_hierarchy_never_wider() {
    let (t0, f0) = start(None);
    let token = RefreshToken::new(t0);
    let c = client();
    let hierarchy = ScopeHierarchy::new([(
        ScopeToken::parse("mcp:write").unwrap(),
        ScopeToken::parse("mcp:write:notes").unwrap(),
    )])
    .unwrap();
    let implied = Scope::parse("mcp:write:notes").unwrap();
    let request = RefreshPresentation {
        token: &token,
        client_id: &c,
        client_authenticated: true,
        dpop_jkt: None,
        scope: Some(&implied),
        resources: &[],
    };
    let policy = RefreshPolicy::default();
    let RefreshDecision::Rotate(rotation) =
        f0.present_within(&request, at(1), &policy, &key(), &hierarchy)
    else {
        panic!("expected rotation");
    };
    assert_eq!(rotation.grant.scope, implied);
    // Without the hierarchy it is wider than the grant.
    let decision = f0.present(&request, at(1), &policy, &key());
    assert_eq!(rejection(&decision), Some(RefreshError::ScopeNotGranted));
    // A narrower grant never covers a broader request.
    let broader = ScopeHierarchy::new([(
        ScopeToken::parse("mcp:all").unwrap(),
        ScopeToken::parse("mcp:read").unwrap(),
    )])
    .unwrap();
    let all = Scope::parse("mcp:all").unwrap();
    let wide = RefreshPresentation {
        scope: Some(&all),
        ..request
    };
    let decision = f0.present_within(&wide, at(1), &policy, &key(), &broader);
    assert_eq!(rejection(&decision), Some(RefreshError::ScopeNotGranted));
}

#[test]
fn rfc9700_4_14_2_family_lifetime_is_absolute() {
    let (t0, f0) = start(None);
    let lifetime = RefreshPolicy::DEFAULT_FAMILY_LIFETIME.as_secs();
    assert_eq!(f0.expires_at(), at(lifetime));
    let (t1, f1) = rotate(&f0, &t0, at(lifetime - 10));
    // Rotation does not extend the family.
    assert_eq!(f1.expires_at(), at(lifetime));
    let decision = present(&f1, &t1, &client(), None, at(lifetime));
    assert_eq!(rejection(&decision), Some(RefreshError::FamilyExpired));
    assert_eq!(decision.error_code(), Some(ErrorCode::InvalidGrant));
    // A retry inside the window but past expiry is refused too.
    let decision = present(&f1, &t0, &client(), None, at(lifetime));
    assert_eq!(rejection(&decision), Some(RefreshError::FamilyExpired));
}

#[test]
fn oauth21_4_3_1_current_token_of_another_client_is_invalid_grant() {
    let (t0, f0) = start(None);
    let decision = present(&f0, &t0, &other_client(), None, at(1));
    assert_eq!(rejection(&decision), Some(RefreshError::ClientMismatch));
    assert_eq!(decision.error_code(), Some(ErrorCode::InvalidGrant));
    // The legitimate client still rotates.
    rotate(&f0, &t0, at(2));
}

#[test]
fn rfc9449_5_bound_family_needs_the_same_dpop_key() {
    let (t0, f0) = start(Some(jkt(1)));
    let decision = present(&f0, &t0, &client(), None, at(1));
    assert_eq!(rejection(&decision), Some(RefreshError::DpopProofMissing));
    assert_eq!(decision.error_code(), Some(ErrorCode::InvalidGrant));
    let decision = present(&f0, &t0, &client(), Some(&jkt(2)), at(1));
    assert_eq!(rejection(&decision), Some(RefreshError::DpopKeyMismatch));
    assert_eq!(decision.error_code(), Some(ErrorCode::InvalidGrant));
    let RefreshDecision::Rotate(rotation) = present(&f0, &t0, &client(), Some(&jkt(1)), at(1))
    else {
        panic!("expected rotation");
    };
    assert_eq!(rotation.grant.dpop_jkt, Some(jkt(1)));
    // An unbound family accepts any key or none.
    let (u0, unbound) = start(None);
    assert!(matches!(
        present(&unbound, &u0, &client(), Some(&jkt(2)), at(1)),
        RefreshDecision::Rotate(_)
    ));
}

#[test]
fn rfc9700_4_14_2_reuse_of_older_token_revokes_the_family_for_good() {
    let (t0, f0) = start(None);
    let (t1, f1) = rotate(&f0, &t0, at(1));
    let (t2, f2) = rotate(&f1, &t1, at(2));
    let decision = present(&f2, &t0, &client(), None, at(3));
    assert_eq!(decision.error_code(), Some(ErrorCode::InvalidGrant));
    let RefreshDecision::Reuse(reuse) = decision else {
        panic!("expected reuse");
    };
    assert_eq!(reuse.reason, ReuseReason::OlderGeneration);
    let revoked = reuse.revoked;
    assert_eq!(
        revoked.state(),
        FamilyState::Revoked {
            reason: RevocationReason::Reuse(ReuseReason::OlderGeneration),
            at: at(3),
        }
    );
    // Every later presentation, even of the current token, is refused.
    for token in [&t0, &t1, &t2] {
        let decision = present(&revoked, token, &client(), None, at(4));
        assert_eq!(rejection(&decision), Some(RefreshError::FamilyRevoked));
        assert_eq!(decision.error_code(), Some(ErrorCode::InvalidGrant));
    }
}

#[test]
fn rfc9700_4_14_2_retry_within_window_by_same_client_gets_the_same_successor() {
    let (t0, f0) = start(Some(jkt(1)));
    let (t1, f1) = rotate(&f0, &t0, at(100));
    for delay in [0, 1, 29] {
        let decision = present(&f1, &t0, &client(), Some(&jkt(1)), at(100 + delay));
        assert_eq!(decision.error_code(), None);
        let RefreshDecision::Retry(retry) = decision else {
            panic!("expected retry after {delay}s, got {decision:?}");
        };
        assert_eq!(retry.successor.expose_secret(), t1);
        assert_eq!(retry.grant.family_id, f1.id());
    }
    // The successor itself is still current and rotates normally.
    let (t2, _) = rotate(&f1, &t1, at(101));
    assert_ne!(t2, t1);
}

#[test]
fn rfc9700_4_14_2_retry_by_another_client_within_window_is_reuse() {
    let (t0, f0) = start(None);
    let (_, f1) = rotate(&f0, &t0, at(100));
    let decision = present(&f1, &t0, &other_client(), None, at(101));
    assert_eq!(reuse_reason(&decision), Some(ReuseReason::RetryOtherClient));
    assert_eq!(decision.error_code(), Some(ErrorCode::InvalidGrant));
}

#[test]
fn rfc9700_4_14_2_retry_with_another_or_no_dpop_key_is_reuse() {
    let (t0, f0) = start(Some(jkt(1)));
    let (_, f1) = rotate(&f0, &t0, at(100));
    let decision = present(&f1, &t0, &client(), Some(&jkt(2)), at(101));
    assert_eq!(reuse_reason(&decision), Some(ReuseReason::RetryOtherKey));
    let decision = present(&f1, &t0, &client(), None, at(101));
    assert_eq!(reuse_reason(&decision), Some(ReuseReason::RetryOtherKey));
}

#[test]
fn rfc9700_4_14_2_retry_by_same_client_after_window_is_reuse() {
    let (t0, f0) = start(None);
    let (_, f1) = rotate(&f0, &t0, at(100));
    let decision = present(&f1, &t0, &client(), None, at(130));
    assert_eq!(
        reuse_reason(&decision),
        Some(ReuseReason::RetryOutsideWindow)
    );
    let RefreshDecision::Reuse(reuse) = decision else {
        panic!("expected reuse");
    };
    assert!(matches!(reuse.revoked.state(), FamilyState::Revoked { .. }));
}

#[test]
fn rfc9700_4_14_2_retry_after_the_successor_was_used_is_reuse() {
    let (t0, f0) = start(None);
    let (t1, f1) = rotate(&f0, &t0, at(100));
    let (_, f2) = rotate(&f1, &t1, at(101));
    // t0 within the window of its own rotation, but its successor t1 moved on.
    let decision = present(&f2, &t0, &client(), None, at(102));
    assert_eq!(reuse_reason(&decision), Some(ReuseReason::OlderGeneration));
}

#[test]
fn rfc9700_4_14_2_zero_retry_window_turns_retries_into_reuse() {
    let (t0, f0) = start(None);
    let (_, f1) = rotate(&f0, &t0, at(100));
    let policy =
        RefreshPolicy::new(RefreshPolicy::DEFAULT_FAMILY_LIFETIME, Duration::ZERO).unwrap();
    let token = RefreshToken::new(t0);
    let c = client();
    let request = RefreshPresentation {
        token: &token,
        client_id: &c,
        client_authenticated: true,
        dpop_jkt: None,
        scope: None,
        resources: &[],
    };
    let decision = f1.present(&request, at(100), &policy, &key());
    assert_eq!(
        reuse_reason(&decision),
        Some(ReuseReason::RetryOutsideWindow)
    );
}

#[test]
fn rfc9700_4_14_2_retry_after_rotation_key_change_is_reuse() {
    let (t0, f0) = start(None);
    let (_, f1) = rotate(&f0, &t0, at(100));
    let token = RefreshToken::new(t0);
    let c = client();
    let request = RefreshPresentation {
        token: &token,
        client_id: &c,
        client_authenticated: true,
        dpop_jkt: None,
        scope: None,
        resources: &[],
    };
    let new_key = RotationKey::generate(&mut ChaCha20Rng::seed_from_u64(5));
    let decision = f1.present(&request, at(101), &RefreshPolicy::default(), &new_key);
    assert_eq!(
        reuse_reason(&decision),
        Some(ReuseReason::RetryNotReproducible)
    );
}

#[test]
fn rfc9700_4_14_2_retry_may_narrow_but_not_widen() {
    let (t0, f0) = start(None);
    let (t1, f1) = rotate(&f0, &t0, at(100));
    let token = RefreshToken::new(t0);
    let c = client();
    let read = Scope::parse("mcp:read").unwrap();
    let request = RefreshPresentation {
        token: &token,
        client_id: &c,
        client_authenticated: true,
        dpop_jkt: None,
        scope: Some(&read),
        resources: &[],
    };
    let RefreshDecision::Retry(retry) =
        f1.present(&request, at(101), &RefreshPolicy::default(), &key())
    else {
        panic!("expected retry");
    };
    assert_eq!(retry.successor.expose_secret(), t1);
    assert_eq!(retry.grant.scope, read);
    let admin = Scope::parse("mcp:admin").unwrap();
    let wide = RefreshPresentation {
        scope: Some(&admin),
        ..request
    };
    let decision = f1.present(&wide, at(101), &RefreshPolicy::default(), &key());
    assert_eq!(rejection(&decision), Some(RefreshError::ScopeNotGranted));
}

#[test]
fn revoke_is_sticky_and_keeps_the_first_reason() {
    let (t0, f0) = start(None);
    let revoked = f0.revoke(RevocationReason::TokenRevocation, at(1));
    let again = revoked.revoke(RevocationReason::Administrative, at(2));
    let expected = FamilyState::Revoked {
        reason: RevocationReason::TokenRevocation,
        at: at(1),
    };
    assert_eq!(again.state(), expected);
    let decision = present(&again, &t0, &client(), None, at(3));
    assert_eq!(rejection(&decision), Some(RefreshError::FamilyRevoked));
    let code_replay = f0.revoke(RevocationReason::CodeReplay, at(4));
    assert!(matches!(
        code_replay.state(),
        FamilyState::Revoked {
            reason: RevocationReason::CodeReplay,
            ..
        }
    ));
}

#[test]
fn policy_bounds_and_start_errors() {
    let day = Duration::from_secs(24 * 3600);
    assert_eq!(
        RefreshPolicy::new(Duration::ZERO, Duration::ZERO),
        Err(RefreshError::LifetimeZero)
    );
    assert_eq!(
        RefreshPolicy::new(day * 366, Duration::ZERO),
        Err(RefreshError::LifetimeTooLong)
    );
    assert_eq!(
        RefreshPolicy::new(day, Duration::from_secs(61)),
        Err(RefreshError::RetryWindowTooLong)
    );
    let policy = RefreshPolicy::new(day * 365, Duration::from_secs(60)).unwrap();
    assert_eq!(policy.family_lifetime(), RefreshPolicy::MAX_FAMILY_LIFETIME);
    assert_eq!(policy.retry_window(), RefreshPolicy::MAX_RETRY_WINDOW);
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let mut empty = params(None);
    empty.resources.clear();
    let error = RefreshFamily::start(empty, NOW, &policy, &mut rng).unwrap_err();
    assert_eq!(error, RefreshError::NoResource);
    let far = UnixTime::from_secs(u64::MAX);
    let error = RefreshFamily::start(params(None), far, &policy, &mut rng).unwrap_err();
    assert_eq!(error, RefreshError::ExpiryOverflow);
}

#[test]
fn secrets_never_print() {
    let short = RotationKey::new(&SecretString::new("k".repeat(31)));
    assert_eq!(short.err(), Some(RefreshError::RotationKeyTooShort));
    assert_eq!(format!("{:?}", key()), "RotationKey(..)");
    let token = RefreshToken::new("secret-token".to_owned());
    assert_eq!(format!("{token:?}"), "RefreshToken(..)");
    let (t0, f0) = start(None);
    assert!(!format!("{f0:?}").contains(&t0));
    let id = FamilyId::from_bytes([0; 16]);
    assert_eq!(format!("{id:?}"), "FamilyId(AAAAAAAAAAAAAAAAAAAAAA)");
    assert_eq!(id.to_string(), "AAAAAAAAAAAAAAAAAAAAAA");
}

#[test]
fn error_display_is_lowercase_without_period_and_maps_every_variant() {
    let all = [
        (RefreshError::LifetimeZero, ErrorCode::ServerError),
        (RefreshError::LifetimeTooLong, ErrorCode::ServerError),
        (RefreshError::RetryWindowTooLong, ErrorCode::ServerError),
        (RefreshError::RotationKeyTooShort, ErrorCode::ServerError),
        (RefreshError::ExpiryOverflow, ErrorCode::ServerError),
        (RefreshError::NoResource, ErrorCode::InvalidTarget),
        (RefreshError::FamilyRevoked, ErrorCode::InvalidGrant),
        (RefreshError::FamilyExpired, ErrorCode::InvalidGrant),
        (RefreshError::ClientMismatch, ErrorCode::InvalidGrant),
        (RefreshError::DpopProofMissing, ErrorCode::InvalidGrant),
        (RefreshError::DpopKeyMismatch, ErrorCode::InvalidGrant),
        (RefreshError::ScopeNotGranted, ErrorCode::InvalidScope),
        (RefreshError::ResourceNotGranted, ErrorCode::InvalidTarget),
        (RefreshError::InconsistentGeneration, ErrorCode::ServerError),
        (RefreshError::GenerationExhausted, ErrorCode::InvalidGrant),
    ];
    for (error, code) in &all {
        let text = error.to_string();
        assert!(!text.ends_with('.'), "{text}");
        assert_eq!(text, text.to_lowercase(), "{text}");
        assert_eq!(ErrorCode::from(error), *code, "{error:?}");
    }
}

#[test]
fn generation_that_cannot_advance_is_refused() {
    let (t0, f0) = start(None);
    let mut last = f0.clone();
    last.generation = u64::MAX;
    let decision = present(&last, &t0, &client(), None, at(1));
    assert_eq!(
        rejection(&decision),
        Some(RefreshError::GenerationExhausted)
    );
    assert_eq!(decision.error_code(), Some(ErrorCode::InvalidGrant));
}

#[test]
fn family_round_trips_through_parts_and_reload_rechecks_invariants() {
    let (t0, f0) = start(None);
    let (_, f1) = rotate(&f0, &t0, at(1));
    let reloaded = RefreshFamily::from_parts(f1.clone().into_parts()).unwrap();
    assert_eq!(reloaded, f1);

    let mut no_previous = f1.clone().into_parts();
    no_previous.previous = None;
    assert_eq!(
        RefreshFamily::from_parts(no_previous),
        Err(RefreshError::InconsistentGeneration)
    );
    let mut empty = f1.clone().into_parts();
    empty.resources.clear();
    assert_eq!(
        RefreshFamily::from_parts(empty),
        Err(RefreshError::NoResource)
    );
    let mut long = f1.into_parts();
    long.expires_at = at(366 * 24 * 3600);
    assert_eq!(
        RefreshFamily::from_parts(long),
        Err(RefreshError::LifetimeTooLong)
    );
}

/// Presents the previous `token` of an unbound or bound family as `client()`,
/// authenticated or not, under `policy`.
fn retry_as(
    family: &RefreshFamily,
    token: &str,
    dpop_jkt: Option<&JwkThumbprint>,
    client_authenticated: bool,
    now: UnixTime,
    policy: &RefreshPolicy,
) -> RefreshDecision {
    let token = RefreshToken::new(token.to_owned());
    let c = client();
    let request = RefreshPresentation {
        token: &token,
        client_id: &c,
        client_authenticated,
        dpop_jkt,
        scope: None,
        resources: &[],
    };
    family.present(&request, now, policy, &key())
}

#[test]
fn rfc9700_4_14_2_a_public_bearer_client_gets_no_retry_by_default() {
    let (t0, f0) = start(None);
    let (_, f1) = rotate(&f0, &t0, at(100));
    // One second later, well within the 30 s window of other clients: whoever
    // holds the rotated token proves nothing more, so this is reuse.
    let decision = retry_as(&f1, &t0, None, false, at(101), &RefreshPolicy::default());
    assert_eq!(
        reuse_reason(&decision),
        Some(ReuseReason::RetryOutsideWindow)
    );
    let RefreshDecision::Reuse(reuse) = decision else {
        panic!("expected reuse");
    };
    assert!(matches!(reuse.revoked.state(), FamilyState::Revoked { .. }));
    assert_eq!(
        RefreshPolicy::default().public_client_retry_window(),
        Duration::ZERO
    );
}

#[test]
fn rfc9700_4_14_2_a_dpop_bound_family_keeps_the_retry_window() {
    let jkt = jkt(3);
    let (t0, f0) = start(Some(jkt.clone()));
    let (t1, f1) = rotate(&f0, &t0, at(100));
    // A public client, but the retry carries a proof with the bound key.
    let RefreshDecision::Retry(retry) = retry_as(
        &f1,
        &t0,
        Some(&jkt),
        false,
        at(129),
        &RefreshPolicy::default(),
    ) else {
        panic!("a bound family's retry within the window is a retry");
    };
    assert_eq!(retry.successor.expose_secret(), t1);
}

#[test]
fn rfc9700_4_14_2_an_authenticated_client_keeps_the_retry_window() {
    let (t0, f0) = start(None);
    let (t1, f1) = rotate(&f0, &t0, at(100));
    let RefreshDecision::Retry(retry) =
        retry_as(&f1, &t0, None, true, at(129), &RefreshPolicy::default())
    else {
        panic!("an authenticated client's retry within the window is a retry");
    };
    assert_eq!(retry.successor.expose_secret(), t1);
    let decision = retry_as(&f1, &t0, None, true, at(130), &RefreshPolicy::default());
    assert_eq!(
        reuse_reason(&decision),
        Some(ReuseReason::RetryOutsideWindow)
    );
}

#[test]
fn rfc9700_4_14_2_the_public_client_retry_window_is_an_opt_in_of_at_most_60_s() {
    let policy = RefreshPolicy::default()
        .with_public_client_retry_window(Duration::from_secs(10))
        .unwrap();
    assert_eq!(policy.public_client_retry_window(), Duration::from_secs(10));
    assert_eq!(policy.retry_window(), RefreshPolicy::DEFAULT_RETRY_WINDOW);
    let (t0, f0) = start(None);
    let (t1, f1) = rotate(&f0, &t0, at(100));
    let RefreshDecision::Retry(retry) = retry_as(&f1, &t0, None, false, at(109), &policy) else {
        panic!("within the opted-in window a public client retries");
    };
    assert_eq!(retry.successor.expose_secret(), t1);
    let decision = retry_as(&f1, &t0, None, false, at(110), &policy);
    assert_eq!(
        reuse_reason(&decision),
        Some(ReuseReason::RetryOutsideWindow)
    );
    assert_eq!(
        RefreshPolicy::default().with_public_client_retry_window(Duration::from_secs(61)),
        Err(RefreshError::RetryWindowTooLong)
    );
    assert!(
        RefreshPolicy::default()
            .with_public_client_retry_window(RefreshPolicy::MAX_RETRY_WINDOW)
            .is_ok()
    );
}

#[test]
fn every_revocation_reason_round_trips_through_its_string() {
    // The exhaustive match makes a new variant a compile error here until it
    // is listed in `ALL` (and the length below is bumped).
    for reason in RevocationReason::ALL {
        match reason {
            RevocationReason::Reuse(
                ReuseReason::OlderGeneration
                | ReuseReason::RetryOtherClient
                | ReuseReason::RetryOtherKey
                | ReuseReason::RetryOutsideWindow
                | ReuseReason::RetryNotReproducible,
            )
            | RevocationReason::CodeReplay
            | RevocationReason::TokenRevocation
            | RevocationReason::Administrative => {}
        }
        assert_eq!(RevocationReason::parse(reason.as_str()), Some(reason));
        assert_eq!(reason.to_string(), reason.as_str());
    }
    let mut strings: Vec<_> = RevocationReason::ALL.iter().map(|r| r.as_str()).collect();
    strings.sort_unstable();
    strings.dedup();
    assert_eq!(strings.len(), 8);
    // The stored form is exact: no case folding, no trimming.
    assert_eq!(RevocationReason::parse("Administrative"), None);
    assert_eq!(RevocationReason::parse(" code_replay"), None);
    assert_eq!(RevocationReason::parse(""), None);
}
