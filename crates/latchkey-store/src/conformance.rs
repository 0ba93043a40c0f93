//! The test suite every store runs, written once.
//!
//! A backend's test file calls [`conformance_tests!`](crate::conformance_tests)
//! with an expression that builds a fresh, empty store (an `async` block); the
//! macro expands to one `#[tokio::test]` per case below, so a failure names
//! the rule that broke. Each case is also a public function, for backends that
//! want to drive it themselves (e.g. two engine instances over one database).
//!
//! The concurrency cases are what the atomicity promises of the traits mean in
//! practice: 64 concurrent consumers of one code, exactly one wins, over many
//! trials; concurrent rotations of one refresh family, exactly one wins and the
//! losers learn the winner's generation; concurrent `remember_once`, exactly
//! one first.

use std::sync::Arc;
use std::time::Duration;

use latchkey_pkce::CodeVerifier;
use latchkey_token::code::{CodeParams, CodePolicy, CodeRecord, Consumption, RedirectUriSource};
use latchkey_token::refresh::{
    FamilyParams, FamilyState, RefreshDecision, RefreshError, RefreshFamily, RefreshPolicy,
    RefreshPresentation, RefreshToken, RevocationReason, RotationKey,
};
use latchkey_types::{ClientId, Scope, SecretString, Subject, TokenDigest, UnixTime};
use latchkey_uri::{RedirectUri, ResourceUri};
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use zeroize::Zeroizing;

use crate::{
    AccessTokenRecord, CODE_TOMBSTONE_MARGIN, ClientRecord, KeyStatus, NewFamily, Registered,
    RevokedGrant, Rotated, Store, StoredKey, UpstreamAttributes, UserRecord,
};

/// The instant every case starts at.
pub const NOW: UnixTime = UnixTime::from_secs(1_700_000_000);

/// Expands to one `#[tokio::test]` per conformance case for the store that
/// `$make` (an expression evaluating to a future of a fresh store) builds.
#[macro_export]
macro_rules! conformance_tests {
    ($make:expr) => {
        $crate::conformance_tests!(@cases $make;
            code_is_consumed_exactly_once_under_64_concurrent_redemptions,
            unknown_and_duplicate_codes,
            refresh_rotation_is_compare_and_set_under_concurrency,
            rotated_tokens_still_find_their_family,
            revoking_a_family_revokes_its_access_tokens_and_stays_revoked,
            code_replay_revokes_everything_the_code_issued,
            code_grant_revoked_before_its_tokens_land_still_revokes_them,
            issuance_is_all_or_nothing_and_keeps_the_tombstone_rule,
            rotation_with_token_records_it_only_when_the_rotation_applies,
            registration_is_idempotent_by_fingerprint_and_capped,
            deleting_a_client_revokes_its_grants,
            unused_clients_are_purged_used_ones_kept,
            consent_covers_only_what_one_approval_covered,
            exactly_one_active_signing_key,
            users_are_unique_by_name,
            removing_a_user_revokes_their_grants_and_no_one_elses,
            upstream_users_are_upserted_and_never_take_over_local_ones,
            remember_once_admits_one_of_many_concurrent_callers,
            expired_records_are_purged,
            expired_records_are_purged_in_batches_and_live_ones_kept,
            unused_clients_are_purged_in_batches,
            a_failed_redemption_is_reported_when_the_code_comes_back,
            the_introspection_permission_round_trips_and_no_replacement_changes_it,
        );
    };
    (@cases $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let store = ::std::sync::Arc::new($make.await);
                $crate::conformance::$case(store).await;
            }
        )*
    };
}

/// How many trials the single-use race runs; `LATCHKEY_CONFORMANCE_TRIALS`
/// overrides the default of 200.
pub fn trials() -> usize {
    std::env::var("LATCHKEY_CONFORMANCE_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200)
}

/// A seeded RNG, different per call site through `seed`.
#[expect(
    clippy::disallowed_methods,
    reason = "test support: identifiers must differ between runs against a shared database"
)]
pub fn rng(seed: u64) -> ChaCha20Rng {
    // Mix in the process id and a counter so that runs against a shared
    // database never reuse identifiers across test runs.
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    ChaCha20Rng::seed_from_u64(seed ^ nanos ^ (u64::from(std::process::id()) << 32) ^ n)
}

fn client_id(rng: &mut ChaCha20Rng) -> ClientId {
    ClientId::parse(&format!("client-{:016x}", rng.next_u64())).expect("hex client id is valid")
}

fn subject() -> Subject {
    Subject::parse("alice").expect("valid subject")
}

fn resource() -> ResourceUri {
    ResourceUri::parse("https://mcp.example.com/mcp").expect("valid resource")
}

/// Issues a code record for `client`.
pub fn code_record(client: &ClientId, rng: &mut ChaCha20Rng) -> CodeRecord {
    let verifier = CodeVerifier::generate(rng);
    let params = CodeParams {
        client_id: client.clone(),
        redirect_uri: RedirectUri::parse("http://127.0.0.1:7777/callback").expect("valid"),
        redirect_uri_source: RedirectUriSource::Request,
        code_challenge: verifier.challenge(),
        resources: vec![resource()],
        scope: Scope::parse("mcp:read").expect("valid"),
        subject: subject(),
        auth_time: NOW,
        dpop_jkt: None,
    };
    let (_, record) = CodeRecord::issue(params, NOW, &CodePolicy::default(), rng).expect("issue");
    record
}

/// Starts a refresh family for `client`; returns its first token too.
pub fn family(client: &ClientId, rng: &mut ChaCha20Rng) -> (RefreshToken, RefreshFamily) {
    let params = FamilyParams {
        client_id: client.clone(),
        subject: subject(),
        scope: Scope::parse("mcp:read").expect("valid"),
        resources: vec![resource()],
        dpop_jkt: None,
    };
    RefreshFamily::start(params, NOW, &RefreshPolicy::default(), rng).expect("start")
}

/// A client record with a random id.
pub fn client_record(rng: &mut ChaCha20Rng, fingerprint: Option<TokenDigest>) -> ClientRecord {
    let mut metadata = serde_json::Map::new();
    metadata.insert("client_name".into(), "Conformance".into());
    metadata.insert(
        "redirect_uris".into(),
        serde_json::json!(["http://127.0.0.1/cb"]),
    );
    ClientRecord {
        client_id: client_id(rng),
        metadata,
        secret_digest: Some(TokenDigest::of(b"secret")),
        secret_expires_at: None,
        registration_token_digest: Some(TokenDigest::of(b"registration")),
        fingerprint,
        issued_at: NOW,
        first_used_at: None,
        may_introspect: false,
    }
}

fn access_token(
    client: &ClientId,
    family: Option<&RefreshFamily>,
    code: Option<&CodeRecord>,
    rng: &mut ChaCha20Rng,
) -> AccessTokenRecord {
    AccessTokenRecord {
        jti: format!("jti-{:016x}{:016x}", rng.next_u64(), rng.next_u64()),
        client_id: client.clone(),
        subject: Some(subject()),
        family: family.map(RefreshFamily::id),
        from_code: code.map(|c| *c.digest()),
        expires_at: NOW.saturating_add(Duration::from_secs(300)),
        revoked: false,
    }
}

fn rotation_key() -> RotationKey {
    RotationKey::new(&SecretString::new(
        "conformance-rotation-key-0123456789".into(),
    ))
    .expect("key")
}

/// 64 concurrent `consume_code` calls on one code: exactly one `First`, 63
/// `AlreadyConsumed`, in every one of [`trials`] trials (OAuth 2.1 section 4.1.3).
pub async fn code_is_consumed_exactly_once_under_64_concurrent_redemptions<S: Store + 'static>(
    store: Arc<S>,
) {
    let mut rng = rng(1);
    let client = client_id(&mut rng);
    for trial in 0..trials() {
        let record = code_record(&client, &mut rng);
        let digest = *record.digest();
        store.insert_code(&record).await.expect("insert");
        let barrier = Arc::new(tokio::sync::Barrier::new(64));
        let mut tasks = Vec::with_capacity(64);
        for _ in 0..64 {
            let store = Arc::clone(&store);
            let barrier = Arc::clone(&barrier);
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                store.consume_code(&digest).await.expect("consume")
            }));
        }
        let (mut first, mut again) = (0, 0);
        for task in tasks {
            match task.await.expect("task") {
                Consumption::First(_) => first += 1,
                Consumption::AlreadyConsumed(_) => again += 1,
                Consumption::Unknown => panic!("trial {trial}: code vanished"),
            }
        }
        assert_eq!((first, again), (1, 63), "trial {trial}");
    }
}

/// An unknown digest is `Unknown`; inserting the same code twice is refused.
pub async fn unknown_and_duplicate_codes<S: Store + 'static>(store: Arc<S>) {
    let mut rng = rng(2);
    let client = client_id(&mut rng);
    assert!(matches!(
        store
            .consume_code(&TokenDigest::of(b"never issued"))
            .await
            .expect("consume"),
        Consumption::Unknown
    ));
    let record = code_record(&client, &mut rng);
    store.insert_code(&record).await.expect("insert");
    assert!(matches!(
        store.insert_code(&record).await,
        Err(crate::StoreError::Duplicate)
    ));
    match store.consume_code(record.digest()).await.expect("consume") {
        Consumption::First(back) => {
            assert_eq!(back.digest(), record.digest());
            assert_eq!(back.client_id(), &client);
            assert_eq!(back.scope(), record.scope());
            assert_eq!(back.resources(), record.resources());
            assert_eq!(back.expires_at(), record.expires_at());
            assert_eq!(back.code_challenge(), record.code_challenge());
            assert_eq!(back.redirect_uri().as_str(), record.redirect_uri().as_str());
        }
        other => panic!("expected First, got {other:?}"),
    }
}

/// Concurrent presentations of the current refresh token: exactly one
/// `rotate_family` is applied; a presenter that computed the same rotation and
/// lost learns generation 1, and one that read the family after the winner is
/// answered as a retry; every one of them hands out the same successor (OAuth
/// 2.1 section 4.3.1, and the retry rule of `latchkey_token::refresh`).
pub async fn refresh_rotation_is_compare_and_set_under_concurrency<S: Store + 'static>(
    store: Arc<S>,
) {
    let mut rng = rng(3);
    let client = client_id(&mut rng);
    for trial in 0..20 {
        let (token, family) = family(&client, &mut rng);
        store.insert_family(&family, None).await.expect("insert");
        let token = Arc::new(token);
        let barrier = Arc::new(tokio::sync::Barrier::new(16));
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let (store, barrier, token, client) = (
                Arc::clone(&store),
                Arc::clone(&barrier),
                Arc::clone(&token),
                client.clone(),
            );
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                let found = store
                    .family_by_token(&token.digest())
                    .await
                    .expect("lookup")
                    .expect("found");
                let presentation = RefreshPresentation {
                    token: &token,
                    client_id: &client,
                    client_authenticated: true,
                    dpop_jkt: None,
                    scope: None,
                    resources: &[],
                };
                match found.present(
                    &presentation,
                    NOW,
                    &RefreshPolicy::default(),
                    &rotation_key(),
                ) {
                    RefreshDecision::Rotate(rotation) => {
                        let outcome = store.rotate_family(&rotation.next).await.expect("rotate");
                        (Some(outcome), rotation.successor.digest())
                    }
                    RefreshDecision::Retry(retry) => (None, retry.successor.digest()),
                    other => panic!("expected a rotation or a retry, got {other:?}"),
                }
            }));
        }
        let mut applied = 0;
        let mut successors = Vec::new();
        for task in tasks {
            let (outcome, successor) = task.await.expect("task");
            successors.push(successor);
            match outcome {
                Some(Rotated::Applied) => applied += 1,
                Some(Rotated::Lost(Some(now))) => {
                    assert_eq!(now.generation(), 1, "trial {trial}: loser sees the winner")
                }
                Some(Rotated::Lost(None)) => panic!("trial {trial}: family vanished"),
                None => {}
            }
        }
        assert_eq!(applied, 1, "trial {trial}");
        let stored = store
            .family_by_token(&token.digest())
            .await
            .expect("lookup")
            .expect("found");
        assert_eq!(stored.generation(), 1);
        assert!(
            successors.iter().all(|s| s == stored.current()),
            "trial {trial}: every presenter hands out the stored successor"
        );
    }
}

/// `record_issuance` stores a redemption's family and access token together
/// or not at all, and keeps the tombstone rule of `insert_family` and
/// `record_access_token`, also when racing the replay's revocation (OAuth 2.1
/// section 4.1.3).
pub async fn issuance_is_all_or_nothing_and_keeps_the_tombstone_rule<S: Store + 'static>(
    store: Arc<S>,
) {
    let mut rng = rng(16);
    let client = client_id(&mut rng);
    let code = code_record(&client, &mut rng);
    store.insert_code(&code).await.expect("insert");
    let (_, issued) = family(&client, &mut rng);
    let token = access_token(&client, Some(&issued), Some(&code), &mut rng);
    let new = NewFamily {
        family: &issued,
        from_code: Some(code.digest()),
    };
    store
        .record_issuance(Some(new), &token)
        .await
        .expect("record");
    let stored = store
        .family_by_token(issued.current())
        .await
        .expect("lookup")
        .expect("found");
    assert_eq!(stored.state(), FamilyState::Active);
    let stored_token = store
        .access_token(&token.jti)
        .await
        .expect("lookup")
        .expect("found");
    assert_eq!(stored_token, token);

    // A duplicate jti fails the whole issuance: the new family is not stored.
    let (_, second) = family(&client, &mut rng);
    let second_new = NewFamily {
        family: &second,
        from_code: Some(code.digest()),
    };
    assert!(matches!(
        store.record_issuance(Some(second_new), &token).await,
        Err(crate::StoreError::Duplicate)
    ));
    assert!(
        store
            .family_by_token(second.current())
            .await
            .expect("lookup")
            .is_none(),
        "a failed issuance stored its family"
    );

    // Without a family, only the token.
    let bare = access_token(&client, None, None, &mut rng);
    store.record_issuance(None, &bare).await.expect("record");
    assert!(
        !store
            .access_token(&bare.jti)
            .await
            .expect("lookup")
            .expect("found")
            .revoked
    );

    // The replay's revocation came first: both land revoked.
    let replayed = code_record(&client, &mut rng);
    store.insert_code(&replayed).await.expect("insert");
    store
        .revoke_code_grant(replayed.digest(), NOW)
        .await
        .expect("revoke");
    let (_, late) = family(&client, &mut rng);
    let late_token = access_token(&client, Some(&late), Some(&replayed), &mut rng);
    let late_new = NewFamily {
        family: &late,
        from_code: Some(replayed.digest()),
    };
    store
        .record_issuance(Some(late_new), &late_token)
        .await
        .expect("record");
    assert_eq!(
        store
            .family_by_token(late.current())
            .await
            .expect("lookup")
            .expect("found")
            .state(),
        FamilyState::Revoked {
            reason: RevocationReason::CodeReplay,
            at: NOW
        }
    );
    assert!(
        store
            .access_token(&late_token.jti)
            .await
            .expect("lookup")
            .expect("found")
            .revoked
    );

    // Racing the revocation: whichever wins, everything ends revoked.
    for trial in 0..trials().min(50) {
        let code = code_record(&client, &mut rng);
        store.insert_code(&code).await.expect("insert");
        let (_, issued) = family(&client, &mut rng);
        let token = access_token(&client, Some(&issued), Some(&code), &mut rng);
        let barrier = Arc::new(tokio::sync::Barrier::new(2));
        let issuance = {
            let (store, barrier, digest) =
                (Arc::clone(&store), Arc::clone(&barrier), *code.digest());
            let (issued, token) = (issued.clone(), token.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                let new = NewFamily {
                    family: &issued,
                    from_code: Some(&digest),
                };
                store
                    .record_issuance(Some(new), &token)
                    .await
                    .expect("record");
            })
        };
        let revocation = {
            let (store, barrier, digest) =
                (Arc::clone(&store), Arc::clone(&barrier), *code.digest());
            tokio::spawn(async move {
                barrier.wait().await;
                store.revoke_code_grant(&digest, NOW).await.expect("revoke");
            })
        };
        issuance.await.expect("task");
        revocation.await.expect("task");
        let stored = store
            .family_by_token(issued.current())
            .await
            .expect("lookup")
            .expect("found");
        assert_ne!(stored.state(), FamilyState::Active, "trial {trial}");
        assert!(
            store
                .access_token(&token.jti)
                .await
                .expect("lookup")
                .expect("found")
                .revoked,
            "trial {trial}"
        );
    }
}

/// `rotate_family_with_token`: of 16 concurrent rotations of one family, each
/// with its own access token, exactly one applies and exactly its token is
/// stored; a stale or failing rotation stores nothing (OAuth 2.1 section 4.3.1).
pub async fn rotation_with_token_records_it_only_when_the_rotation_applies<S: Store + 'static>(
    store: Arc<S>,
) {
    let mut rng = rng(17);
    let client = client_id(&mut rng);
    for trial in 0..20 {
        let (token, family) = family(&client, &mut rng);
        store.insert_family(&family, None).await.expect("insert");
        let presentation = RefreshPresentation {
            token: &token,
            client_id: &client,
            client_authenticated: true,
            dpop_jkt: None,
            scope: None,
            resources: &[],
        };
        let RefreshDecision::Rotate(rotation) = family.present(
            &presentation,
            NOW,
            &RefreshPolicy::default(),
            &rotation_key(),
        ) else {
            panic!("trial {trial}: a fresh family rotates");
        };
        let next = Arc::new(rotation.next);
        let barrier = Arc::new(tokio::sync::Barrier::new(16));
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let access = access_token(&client, Some(&family), None, &mut rng);
            let (store, barrier, next) =
                (Arc::clone(&store), Arc::clone(&barrier), Arc::clone(&next));
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                let outcome = store
                    .rotate_family_with_token(&next, &access)
                    .await
                    .expect("rotate");
                (outcome, access.jti)
            }));
        }
        let mut applied = 0;
        for task in tasks {
            let (outcome, jti) = task.await.expect("task");
            let stored = store.access_token(&jti).await.expect("lookup");
            match outcome {
                Rotated::Applied => {
                    applied += 1;
                    assert!(
                        stored.is_some(),
                        "trial {trial}: the winner's token is stored"
                    );
                }
                Rotated::Lost(current) => {
                    assert_eq!(current.map(|f| f.generation()), Some(1), "trial {trial}");
                    assert!(
                        stored.is_none(),
                        "trial {trial}: a loser's token was stored"
                    );
                }
            }
        }
        assert_eq!(applied, 1, "trial {trial}");
    }

    // A rotation that would apply but whose token is a duplicate fails as a
    // whole: the family keeps its generation and current token.
    let (token, family) = family(&client, &mut rng);
    store.insert_family(&family, None).await.expect("insert");
    let taken = access_token(&client, Some(&family), None, &mut rng);
    store.record_access_token(&taken).await.expect("record");
    let presentation = RefreshPresentation {
        token: &token,
        client_id: &client,
        client_authenticated: true,
        dpop_jkt: None,
        scope: None,
        resources: &[],
    };
    let RefreshDecision::Rotate(rotation) = family.present(
        &presentation,
        NOW,
        &RefreshPolicy::default(),
        &rotation_key(),
    ) else {
        panic!("a fresh family rotates");
    };
    assert!(matches!(
        store.rotate_family_with_token(&rotation.next, &taken).await,
        Err(crate::StoreError::Duplicate)
    ));
    let stored = store
        .family_by_token(family.current())
        .await
        .expect("lookup")
        .expect("found");
    assert_eq!(stored.generation(), 0);
    assert_eq!(stored.current(), family.current());
    assert!(
        store
            .family_by_token(rotation.next.current())
            .await
            .expect("lookup")
            .is_none(),
        "the failed rotation indexed its successor"
    );
}

/// After rotation, both the old and the new token digest lead to the family,
/// so reuse of the old one can be recognised (RFC 9700 section 4.14.2).
pub async fn rotated_tokens_still_find_their_family<S: Store + 'static>(store: Arc<S>) {
    let mut rng = rng(4);
    let client = client_id(&mut rng);
    let (token, family) = family(&client, &mut rng);
    store.insert_family(&family, None).await.expect("insert");
    let presentation = RefreshPresentation {
        token: &token,
        client_id: &client,
        client_authenticated: true,
        dpop_jkt: None,
        scope: None,
        resources: &[],
    };
    let RefreshDecision::Rotate(rotation) = family.present(
        &presentation,
        NOW,
        &RefreshPolicy::default(),
        &rotation_key(),
    ) else {
        panic!("expected rotation");
    };
    assert_eq!(
        store.rotate_family(&rotation.next).await.expect("rotate"),
        Rotated::Applied
    );
    let by_old = store
        .family_by_token(&token.digest())
        .await
        .expect("old")
        .expect("found by old token");
    let by_new = store
        .family_by_token(&rotation.successor.digest())
        .await
        .expect("new")
        .expect("found by new token");
    assert_eq!(by_old, by_new);
    assert_eq!(by_new, rotation.next);
    // A second rotation from the stale generation loses.
    assert!(matches!(
        store.rotate_family(&rotation.next).await.expect("again"),
        Rotated::Lost(Some(_))
    ));
    assert!(
        store
            .family_by_token(&TokenDigest::of(b"unrelated"))
            .await
            .expect("lookup")
            .is_none()
    );
}

/// Revocation covers the family and its access tokens in one step, keeps the
/// first reason, and blocks later rotations.
pub async fn revoking_a_family_revokes_its_access_tokens_and_stays_revoked<S: Store + 'static>(
    store: Arc<S>,
) {
    let mut rng = rng(5);
    let client = client_id(&mut rng);
    let (token, family) = family(&client, &mut rng);
    store.insert_family(&family, None).await.expect("insert");
    let under = access_token(&client, Some(&family), None, &mut rng);
    let unrelated = access_token(&client, None, None, &mut rng);
    store.record_access_token(&under).await.expect("record");
    store.record_access_token(&unrelated).await.expect("record");
    assert!(matches!(
        store.record_access_token(&under).await,
        Err(crate::StoreError::Duplicate)
    ));

    let presentation = RefreshPresentation {
        token: &token,
        client_id: &client,
        client_authenticated: true,
        dpop_jkt: None,
        scope: None,
        resources: &[],
    };
    let RefreshDecision::Rotate(rotation) = family.present(
        &presentation,
        NOW,
        &RefreshPolicy::default(),
        &rotation_key(),
    ) else {
        panic!("expected rotation");
    };
    store
        .revoke_family(&family.revoke(RevocationReason::TokenRevocation, NOW))
        .await
        .expect("revoke");
    store
        .revoke_family(&family.revoke(RevocationReason::Administrative, NOW))
        .await
        .expect("revoke again");
    let stored = store
        .family_by_token(&token.digest())
        .await
        .expect("lookup")
        .expect("found");
    assert_eq!(
        stored.state(),
        FamilyState::Revoked {
            reason: RevocationReason::TokenRevocation,
            at: NOW
        }
    );
    assert!(
        store
            .access_token(&under.jti)
            .await
            .expect("lookup")
            .expect("found")
            .revoked
    );
    assert!(
        !store
            .access_token(&unrelated.jti)
            .await
            .expect("lookup")
            .expect("found")
            .revoked
    );
    assert!(matches!(
        store.rotate_family(&rotation.next).await.expect("rotate"),
        Rotated::Lost(Some(_))
    ));
    assert!(
        store
            .revoke_access_token(&unrelated.jti)
            .await
            .expect("revoke")
    );
    assert!(
        !store
            .revoke_access_token("no-such-jti")
            .await
            .expect("revoke")
    );
}

/// A replayed code revokes the families and access tokens it issued, and
/// nothing else (OAuth 2.1 section 4.1.3, RFC 9700 section 4.5).
pub async fn code_replay_revokes_everything_the_code_issued<S: Store + 'static>(store: Arc<S>) {
    let mut rng = rng(6);
    let client = client_id(&mut rng);
    let code = code_record(&client, &mut rng);
    store.insert_code(&code).await.expect("insert");
    let (_, issued) = family(&client, &mut rng);
    let (_, other) = family(&client, &mut rng);
    store
        .insert_family(&issued, Some(code.digest()))
        .await
        .expect("insert");
    store.insert_family(&other, None).await.expect("insert");
    let first = access_token(&client, None, Some(&code), &mut rng);
    let refreshed = access_token(&client, Some(&issued), None, &mut rng);
    let bystander = access_token(&client, Some(&other), None, &mut rng);
    for token in [&first, &refreshed, &bystander] {
        store.record_access_token(token).await.expect("record");
    }
    let revoked = store
        .revoke_code_grant(code.digest(), NOW)
        .await
        .expect("revoke");
    assert_eq!(
        revoked,
        RevokedGrant {
            families: 1,
            access_tokens: 2,
            failed_redemption_at: None,
        }
    );
    let family = store
        .family_by_token(issued.current())
        .await
        .expect("lookup")
        .expect("found");
    assert_eq!(
        family.state(),
        FamilyState::Revoked {
            reason: RevocationReason::CodeReplay,
            at: NOW
        }
    );
    assert_eq!(
        store
            .family_by_token(other.current())
            .await
            .expect("lookup")
            .expect("found")
            .state(),
        FamilyState::Active
    );
    assert!(
        store
            .access_token(&first.jti)
            .await
            .expect("lookup")
            .expect("found")
            .revoked
    );
    assert!(
        store
            .access_token(&refreshed.jti)
            .await
            .expect("lookup")
            .expect("found")
            .revoked
    );
    assert!(
        !store
            .access_token(&bystander.jti)
            .await
            .expect("lookup")
            .expect("found")
            .revoked
    );
}

/// A replay's `revoke_code_grant` that runs before the first redemption has
/// stored its family and access token still revokes them: they land revoked
/// (OAuth 2.1 section 4.1.3, RFC 9700 section 4.5). First in sequence, then
/// racing the revocation against the inserts over many trials (either order
/// must end revoked), then the tombstone's lifetime under `purge_expired`.
pub async fn code_grant_revoked_before_its_tokens_land_still_revokes_them<S: Store + 'static>(
    store: Arc<S>,
) {
    let mut rng = rng(15);
    let client = client_id(&mut rng);
    let code = code_record(&client, &mut rng);
    store.insert_code(&code).await.expect("insert");
    assert!(matches!(
        store.consume_code(code.digest()).await.expect("consume"),
        Consumption::First(_)
    ));
    // The replay comes first and finds nothing to revoke yet.
    let revoked = store
        .revoke_code_grant(code.digest(), NOW)
        .await
        .expect("revoke");
    assert_eq!(revoked, RevokedGrant::default());
    // The first redemption's inserts land afterwards, a little later.
    let later = NOW.saturating_add(Duration::from_secs(1));
    let (_, issued) = family(&client, &mut rng);
    store
        .insert_family(&issued, Some(code.digest()))
        .await
        .expect("insert");
    let stored = store
        .family_by_token(issued.current())
        .await
        .expect("lookup")
        .expect("found");
    assert_eq!(
        stored.state(),
        FamilyState::Revoked {
            reason: RevocationReason::CodeReplay,
            at: NOW
        }
    );
    let first = access_token(&client, Some(&issued), Some(&code), &mut rng);
    store.record_access_token(&first).await.expect("record");
    assert!(
        store
            .access_token(&first.jti)
            .await
            .expect("lookup")
            .expect("found")
            .revoked
    );
    // Another code's grant is untouched.
    let other_code = code_record(&client, &mut rng);
    store.insert_code(&other_code).await.expect("insert");
    let (_, bystander) = family(&client, &mut rng);
    store
        .insert_family(&bystander, Some(other_code.digest()))
        .await
        .expect("insert");
    let bystander_token = access_token(&client, Some(&bystander), Some(&other_code), &mut rng);
    store
        .record_access_token(&bystander_token)
        .await
        .expect("record");
    assert_eq!(
        store
            .family_by_token(bystander.current())
            .await
            .expect("lookup")
            .expect("found")
            .state(),
        FamilyState::Active
    );
    assert!(
        !store
            .access_token(&bystander_token.jti)
            .await
            .expect("lookup")
            .expect("found")
            .revoked
    );

    // The race itself: the redemption's inserts against the replay's
    // revocation, started together; whichever wins, everything ends revoked.
    for _ in 0..trials().min(50) {
        let code = code_record(&client, &mut rng);
        store.insert_code(&code).await.expect("insert");
        let (_, issued) = family(&client, &mut rng);
        let token = access_token(&client, Some(&issued), Some(&code), &mut rng);
        let code_only = access_token(&client, None, Some(&code), &mut rng);
        let barrier = Arc::new(tokio::sync::Barrier::new(2));
        let redemption = {
            let (store, barrier, digest) =
                (Arc::clone(&store), Arc::clone(&barrier), *code.digest());
            let (issued, token, code_only) = (issued.clone(), token.clone(), code_only.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                store
                    .insert_family(&issued, Some(&digest))
                    .await
                    .expect("insert");
                store.record_access_token(&token).await.expect("record");
                store.record_access_token(&code_only).await.expect("record");
            })
        };
        let replay = {
            let (store, barrier, digest) =
                (Arc::clone(&store), Arc::clone(&barrier), *code.digest());
            tokio::spawn(async move {
                barrier.wait().await;
                store
                    .revoke_code_grant(&digest, later)
                    .await
                    .expect("revoke")
            })
        };
        redemption.await.expect("redemption task");
        replay.await.expect("replay task");
        let stored = store
            .family_by_token(issued.current())
            .await
            .expect("lookup")
            .expect("found");
        assert!(
            matches!(
                stored.state(),
                FamilyState::Revoked {
                    reason: RevocationReason::CodeReplay,
                    ..
                }
            ),
            "family escaped the code's revocation: {:?}",
            stored.state()
        );
        for jti in [&token.jti, &code_only.jti] {
            assert!(
                store
                    .access_token(jti)
                    .await
                    .expect("lookup")
                    .expect("found")
                    .revoked,
                "an access token escaped the code's revocation"
            );
        }
    }

    // The tombstone outlives the code's expiry by the margin, then goes.
    let after_expiry = code.expires_at().saturating_add(Duration::from_secs(1));
    store
        .purge_expired(after_expiry, u64::MAX)
        .await
        .expect("purge");
    let (_, late) = family(&client, &mut rng);
    store
        .insert_family(&late, Some(code.digest()))
        .await
        .expect("insert");
    assert!(matches!(
        store
            .family_by_token(late.current())
            .await
            .expect("lookup")
            .expect("found")
            .state(),
        FamilyState::Revoked { .. }
    ));
    let after_margin = code
        .expires_at()
        .saturating_add(CODE_TOMBSTONE_MARGIN)
        .saturating_add(Duration::from_secs(1));
    store
        .purge_expired(after_margin, u64::MAX)
        .await
        .expect("purge");
    assert!(matches!(
        store.consume_code(code.digest()).await.expect("consume"),
        Consumption::Unknown
    ));
    assert!(matches!(
        store
            .consume_code(other_code.digest())
            .await
            .expect("consume"),
        Consumption::Unknown
    ));
}

/// The same fingerprint yields the existing client; the cap is enforced in the
/// same step; a duplicate id is refused.
pub async fn registration_is_idempotent_by_fingerprint_and_capped<S: Store + 'static>(
    store: Arc<S>,
) {
    let mut rng = rng(7);
    let print = TokenDigest::of(format!("fingerprint-{}", rng.next_u64()).as_bytes());
    let first = client_record(&mut rng, Some(print));
    assert_eq!(
        store
            .register_client(&first, 1_000_000)
            .await
            .expect("register"),
        Registered::Inserted
    );
    let same = client_record(&mut rng, Some(print));
    match store
        .register_client(&same, 1_000_000)
        .await
        .expect("register")
    {
        Registered::Existing(existing) => assert_eq!(existing.client_id, first.client_id),
        other => panic!("expected Existing, got {other:?}"),
    }
    assert!(
        store
            .client(&same.client_id)
            .await
            .expect("lookup")
            .is_none()
    );
    assert!(matches!(
        store
            .register_client(&first_without_fingerprint(&first), 1_000_000)
            .await,
        Err(crate::StoreError::Duplicate)
    ));
    let count = store.list_clients().await.expect("list").len() as u64;
    let capped = client_record(&mut rng, None);
    assert_eq!(
        store
            .register_client(&capped, count)
            .await
            .expect("register"),
        Registered::CapReached
    );
    assert!(
        store
            .client(&capped.client_id)
            .await
            .expect("lookup")
            .is_none()
    );
    assert_eq!(
        store.client(&first.client_id).await.expect("lookup"),
        Some(first.clone())
    );
    let mut updated = first.clone();
    updated
        .metadata
        .insert("client_name".into(), "Renamed".into());
    assert!(store.replace_client(&updated).await.expect("replace"));
    assert_eq!(
        store.client(&first.client_id).await.expect("lookup"),
        Some(updated)
    );
    assert!(
        !store
            .replace_client(&capped)
            .await
            .expect("replace unknown")
    );
}

/// RFC 7662 section 2.1: the administrator's introspection permission is
/// stored with the client and read back by `client` and `list_clients`;
/// replacing the client's metadata (the RFC 7592 update path) neither drops
/// it nor, for a client without it, grants it.
pub async fn the_introspection_permission_round_trips_and_no_replacement_changes_it<
    S: Store + 'static,
>(
    store: Arc<S>,
) {
    let mut rng = rng(19);
    let permitted = ClientRecord {
        may_introspect: true,
        ..client_record(&mut rng, None)
    };
    let other = client_record(&mut rng, None);
    for client in [&permitted, &other] {
        store
            .register_client(client, u64::MAX)
            .await
            .expect("register");
    }
    let stored = |id: ClientId| {
        let store = Arc::clone(&store);
        async move {
            store
                .client(&id)
                .await
                .expect("lookup")
                .expect("registered")
        }
    };
    assert_eq!(stored(permitted.client_id.clone()).await, permitted);
    assert_eq!(stored(other.client_id.clone()).await, other);
    let listed = store.list_clients().await.expect("list");
    for client in [&permitted, &other] {
        assert!(listed.contains(client), "{listed:?}");
    }

    // An update that leaves the flag out keeps it.
    let mut renamed = ClientRecord {
        may_introspect: false,
        registration_token_digest: Some(TokenDigest::of(b"rotated")),
        ..permitted.clone()
    };
    renamed
        .metadata
        .insert("client_name".into(), "Renamed".into());
    assert!(store.replace_client(&renamed).await.expect("replace"));
    assert_eq!(
        stored(permitted.client_id.clone()).await,
        ClientRecord {
            may_introspect: true,
            ..renamed
        }
    );

    // An update that sets it grants nothing.
    let mut smuggled = ClientRecord {
        may_introspect: true,
        ..other.clone()
    };
    smuggled
        .metadata
        .insert("may_introspect".into(), serde_json::Value::Bool(true));
    assert!(store.replace_client(&smuggled).await.expect("replace"));
    let after = stored(other.client_id.clone()).await;
    assert!(!after.may_introspect, "{after:?}");
    assert_eq!(
        after,
        ClientRecord {
            may_introspect: false,
            ..smuggled
        }
    );
}

fn first_without_fingerprint(client: &ClientRecord) -> ClientRecord {
    ClientRecord {
        fingerprint: None,
        ..client.clone()
    }
}

/// Deleting a client revokes its families and access tokens (RFC 7592 section 2.3).
pub async fn deleting_a_client_revokes_its_grants<S: Store + 'static>(store: Arc<S>) {
    let mut rng = rng(8);
    let client = client_record(&mut rng, None);
    store
        .register_client(&client, u64::MAX)
        .await
        .expect("register");
    let (_, family) = family(&client.client_id, &mut rng);
    store.insert_family(&family, None).await.expect("insert");
    let token = access_token(&client.client_id, None, None, &mut rng);
    store.record_access_token(&token).await.expect("record");
    assert!(
        store
            .delete_client(&client.client_id, NOW)
            .await
            .expect("delete")
    );
    assert!(
        !store
            .delete_client(&client.client_id, NOW)
            .await
            .expect("delete again")
    );
    assert!(
        store
            .client(&client.client_id)
            .await
            .expect("lookup")
            .is_none()
    );
    let stored = store
        .family_by_token(family.current())
        .await
        .expect("lookup")
        .expect("found");
    assert!(matches!(stored.state(), FamilyState::Revoked { .. }));
    assert!(
        store
            .access_token(&token.jti)
            .await
            .expect("lookup")
            .expect("found")
            .revoked
    );
}

/// Clients registered before the cutoff and never used are purged; used ones stay.
pub async fn unused_clients_are_purged_used_ones_kept<S: Store + 'static>(store: Arc<S>) {
    let mut rng = rng(9);
    let old_unused = ClientRecord {
        issued_at: UnixTime::from_secs(100),
        ..client_record(&mut rng, None)
    };
    let old_used = ClientRecord {
        issued_at: UnixTime::from_secs(100),
        ..client_record(&mut rng, None)
    };
    let fresh = client_record(&mut rng, None);
    for client in [&old_unused, &old_used, &fresh] {
        store
            .register_client(client, u64::MAX)
            .await
            .expect("register");
    }
    store
        .mark_client_used(&old_used.client_id, NOW)
        .await
        .expect("mark");
    store
        .mark_client_used(
            &old_used.client_id,
            NOW.saturating_add(Duration::from_secs(9)),
        )
        .await
        .expect("mark again");
    let purged = store
        .purge_unused_clients(UnixTime::from_secs(1_000), u64::MAX)
        .await
        .expect("purge");
    assert!(purged >= 1);
    assert!(
        store
            .client(&old_unused.client_id)
            .await
            .expect("lookup")
            .is_none()
    );
    let used = store
        .client(&old_used.client_id)
        .await
        .expect("lookup")
        .expect("kept");
    assert_eq!(
        used.first_used_at,
        Some(NOW),
        "first use is kept, not overwritten"
    );
    assert!(
        store
            .client(&fresh.client_id)
            .await
            .expect("lookup")
            .is_some()
    );
}

/// Remembered consent covers a request only when one approval by the same
/// user of the same client named every requested resource and every
/// requested scope token; approvals of the same resource set accumulate,
/// approvals of different sets never combine. A request whose redirect URI is
/// loopback is covered only by an approval remembered for a loopback request.
pub async fn consent_covers_only_what_one_approval_covered<S: Store + 'static>(store: Arc<S>) {
    let mut rng = rng(10);
    let client = client_id(&mut rng);
    let other_client = client_id(&mut rng);
    let alice = subject();
    let bob = Subject::parse(&format!("bob-{}", rng.next_u64())).expect("valid");
    let r =
        |path: &str| ResourceUri::parse(&format!("https://mcp.example.com/{path}")).expect("valid");
    let scope = |s: &str| {
        if s.is_empty() {
            Scope::empty()
        } else {
            Scope::parse(s).expect("scope")
        }
    };
    let (one, two, three) = (r("one"), r("two"), r("three"));
    let covers_as = |subject: Subject,
                     client: ClientId,
                     resources: Vec<ResourceUri>,
                     s: &str,
                     loopback: bool| {
        let store = Arc::clone(&store);
        let requested = scope(s);
        async move {
            store
                .consent_covers(&subject, &client, &resources, &requested, loopback)
                .await
                .expect("lookup")
        }
    };
    let covers = |subject: Subject, client: ClientId, resources: Vec<ResourceUri>, s: &str| {
        covers_as(subject, client, resources, s, false)
    };
    assert!(!covers(alice.clone(), client.clone(), vec![one.clone()], "").await);

    store
        .remember_consent(
            &alice,
            &client,
            &[two.clone(), one.clone()],
            &scope("a b"),
            false,
            NOW,
        )
        .await
        .expect("remember");
    assert!(covers(alice.clone(), client.clone(), vec![one.clone()], "a").await);
    assert!(
        covers(
            alice.clone(),
            client.clone(),
            vec![one.clone(), two.clone()],
            "b a"
        )
        .await
    );
    assert!(covers(alice.clone(), client.clone(), vec![two.clone()], "").await);
    assert!(
        !covers(alice.clone(), client.clone(), vec![three.clone()], "a").await,
        "a resource never approved"
    );
    assert!(
        !covers(
            alice.clone(),
            client.clone(),
            vec![one.clone(), three.clone()],
            "a"
        )
        .await,
        "a resource set larger than the approved one"
    );
    assert!(
        !covers(alice.clone(), client.clone(), vec![one.clone()], "a c").await,
        "a scope never approved"
    );
    assert!(!covers(bob.clone(), client.clone(), vec![one.clone()], "a").await);
    assert!(!covers(alice.clone(), other_client.clone(), vec![one.clone()], "a").await);

    // The same set in another order: the scope accumulates.
    store
        .remember_consent(
            &alice,
            &client,
            &[one.clone(), two.clone(), one.clone()],
            &scope("c"),
            false,
            NOW.saturating_add(Duration::from_secs(1)),
        )
        .await
        .expect("remember");
    assert!(covers(alice.clone(), client.clone(), vec![two.clone()], "a b c").await);

    // Another set: its scope is approved for that set alone.
    store
        .remember_consent(
            &alice,
            &client,
            std::slice::from_ref(&three),
            &scope("d"),
            false,
            NOW,
        )
        .await
        .expect("remember");
    assert!(covers(alice.clone(), client.clone(), vec![three.clone()], "d").await);
    assert!(
        !covers(alice.clone(), client.clone(), vec![three.clone()], "a").await,
        "a scope approved for other resources"
    );
    assert!(
        !covers(alice.clone(), client.clone(), vec![one.clone()], "d").await,
        "a scope approved for other resources"
    );
    assert!(
        !covers(
            alice.clone(),
            client.clone(),
            vec![one.clone(), three.clone()],
            ""
        )
        .await,
        "two approvals never combine"
    );

    // Loopback: only an approval remembered for a loopback request counts.
    assert!(
        !covers_as(alice.clone(), client.clone(), vec![one.clone()], "a", true).await,
        "a consent remembered for another redirect does not cover a loopback one"
    );
    store
        .remember_consent(
            &alice,
            &client,
            std::slice::from_ref(&one),
            &scope("a"),
            true,
            NOW,
        )
        .await
        .expect("remember");
    assert!(covers_as(alice.clone(), client.clone(), vec![one.clone()], "a", true).await);
    assert!(
        !covers_as(alice.clone(), client.clone(), vec![one.clone()], "b", true).await,
        "the scope remembered for another redirect does not count for loopback"
    );
    assert!(covers(alice.clone(), client.clone(), vec![one.clone()], "a b").await);

    assert!(store.forget_consent(&alice, &client).await.expect("forget"));
    assert!(!covers_as(alice.clone(), client.clone(), vec![one.clone()], "a", true).await);
    assert!(!covers(alice.clone(), client.clone(), vec![one.clone()], "").await);
    assert!(!covers(alice.clone(), client.clone(), vec![three.clone()], "").await);
    assert!(
        !store
            .forget_consent(&alice, &client)
            .await
            .expect("forget again")
    );
}

/// Activating a key demotes the previous active key; active keys cannot be retired.
pub async fn exactly_one_active_signing_key<S: Store + 'static>(store: Arc<S>) {
    let mut rng = rng(11);
    let kid = |rng: &mut ChaCha20Rng| format!("kid-{:016x}", rng.next_u64());
    let key = |kid: String, status| StoredKey {
        kid,
        algorithm: "ES256".into(),
        pkcs8: Zeroizing::new(vec![1, 2, 3]),
        status,
        created_at: NOW,
    };
    let (a, b) = (kid(&mut rng), kid(&mut rng));
    store
        .insert_key(&key(a.clone(), KeyStatus::Active))
        .await
        .expect("insert");
    store
        .insert_key(&key(b.clone(), KeyStatus::VerifyOnly))
        .await
        .expect("insert");
    assert!(matches!(
        store.insert_key(&key(a.clone(), KeyStatus::Retired)).await,
        Err(crate::StoreError::Duplicate)
    ));
    assert!(store.activate_key(&b).await.expect("activate"));
    assert!(
        !store
            .activate_key("no-such-kid")
            .await
            .expect("activate unknown")
    );
    let keys = store.signing_keys().await.expect("keys");
    let status = |kid: &str| keys.iter().find(|k| k.kid == kid).map(|k| k.status);
    assert_eq!(status(&a), Some(KeyStatus::VerifyOnly));
    assert_eq!(status(&b), Some(KeyStatus::Active));
    assert_eq!(
        keys.iter()
            .filter(|k| k.status == KeyStatus::Active)
            .count(),
        1
    );
    assert_eq!(
        keys.iter().find(|k| k.kid == b).map(|k| k.pkcs8.to_vec()),
        Some(vec![1, 2, 3])
    );
    assert!(!store.retire_key(&b).await.expect("retire active"));
    assert!(store.retire_key(&a).await.expect("retire"));
    let keys = store.signing_keys().await.expect("keys");
    assert_eq!(
        keys.iter().find(|k| k.kid == a).map(|k| k.status),
        Some(KeyStatus::Retired)
    );
}

/// User names are unique; removal works once.
pub async fn users_are_unique_by_name<S: Store + 'static>(store: Arc<S>) {
    let mut rng = rng(12);
    let name = Subject::parse(&format!("user-{:016x}", rng.next_u64())).expect("valid");
    let user = UserRecord {
        username: name.clone(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        created_at: NOW,
        upstream: None,
    };
    assert!(store.insert_user(&user).await.expect("insert"));
    assert!(!store.insert_user(&user).await.expect("insert again"));
    assert_eq!(store.user(&name).await.expect("lookup"), Some(user.clone()));
    assert!(
        store
            .list_users()
            .await
            .expect("list")
            .iter()
            .any(|u| u.username == name)
    );
    assert!(store.remove_user(&name, NOW).await.expect("remove"));
    assert!(!store.remove_user(&name, NOW).await.expect("remove again"));
    assert!(store.user(&name).await.expect("lookup").is_none());
}

/// Issue 10: removing a user revokes, in the same step, every refresh family
/// of theirs (administratively, at the time given) and every access token
/// issued to them, whether or not under a family; another user's grants stay
/// valid, and removing a name that is no user revokes nothing.
pub async fn removing_a_user_revokes_their_grants_and_no_one_elses<S: Store + 'static>(
    store: Arc<S>,
) {
    let mut rng = rng(15);
    let suffix = rng.next_u64();
    let client = client_id(&mut rng);
    let later = NOW.saturating_add(Duration::from_secs(30));
    let grant = |name: &Subject, rng: &mut ChaCha20Rng| {
        let params = FamilyParams {
            client_id: client.clone(),
            subject: name.clone(),
            scope: Scope::parse("mcp:read").expect("valid"),
            resources: vec![resource()],
            dpop_jkt: None,
        };
        let (token, family) =
            RefreshFamily::start(params, NOW, &RefreshPolicy::default(), rng).expect("start");
        let under = AccessTokenRecord {
            subject: Some(name.clone()),
            ..access_token(&client, Some(&family), None, rng)
        };
        let direct = AccessTokenRecord {
            subject: Some(name.clone()),
            ..access_token(&client, None, None, rng)
        };
        (token, family, under, direct)
    };
    let user = |name: &Subject| UserRecord {
        username: name.clone(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        created_at: NOW,
        upstream: None,
    };
    let gone = Subject::parse(&format!("gone-{suffix:016x}")).expect("valid");
    let stays = Subject::parse(&format!("stays-{suffix:016x}")).expect("valid");
    let nobody = Subject::parse(&format!("nobody-{suffix:016x}")).expect("valid");
    assert!(store.insert_user(&user(&gone)).await.expect("insert"));
    assert!(store.insert_user(&user(&stays)).await.expect("insert"));
    let mut grants = Vec::new();
    for name in [&gone, &stays, &nobody] {
        let (token, family, under, direct) = grant(name, &mut rng);
        store.insert_family(&family, None).await.expect("insert");
        store.record_access_token(&under).await.expect("record");
        store.record_access_token(&direct).await.expect("record");
        grants.push((token, under, direct));
    }

    assert!(store.remove_user(&gone, later).await.expect("remove"));
    assert!(!store.remove_user(&gone, later).await.expect("remove again"));
    assert!(
        !store
            .remove_user(&nobody, later)
            .await
            .expect("no such user")
    );
    assert!(store.user(&gone).await.expect("lookup").is_none());

    for (i, (token, under, direct)) in grants.iter().enumerate() {
        let removed = i == 0;
        let family = store
            .family_by_token(&token.digest())
            .await
            .expect("lookup")
            .expect("found");
        let presentation = RefreshPresentation {
            token,
            client_id: &client,
            client_authenticated: true,
            dpop_jkt: None,
            scope: None,
            resources: &[],
        };
        let decision = family.present(
            &presentation,
            later,
            &RefreshPolicy::default(),
            &rotation_key(),
        );
        if removed {
            assert_eq!(
                family.state(),
                FamilyState::Revoked {
                    reason: RevocationReason::Administrative,
                    at: later
                }
            );
            assert!(matches!(
                decision,
                RefreshDecision::Reject(RefreshError::FamilyRevoked)
            ));
        } else {
            assert_eq!(family.state(), FamilyState::Active, "grant {i}");
            assert!(matches!(decision, RefreshDecision::Rotate(_)), "grant {i}");
        }
        for record in [under, direct] {
            let stored = store
                .access_token(&record.jti)
                .await
                .expect("lookup")
                .expect("found");
            assert_eq!(stored.revoked, removed, "grant {i}, {}", record.jti);
        }
    }
}

/// Issue 10: a person from an identity provider is added, then their
/// attributes follow the provider; a local user's name is never taken over;
/// removal works as for any user.
pub async fn upstream_users_are_upserted_and_never_take_over_local_ones<S: Store + 'static>(
    store: Arc<S>,
) {
    let mut rng = rng(14);
    let suffix = rng.next_u64();
    let name = Subject::parse(&format!("corp:{suffix:016x}")).expect("valid");
    let mut user = UserRecord {
        username: name.clone(),
        password_hash: "!upstream".into(),
        created_at: NOW,
        upstream: Some(UpstreamAttributes {
            provider: "corp".into(),
            name: Some("Alice".into()),
            email: None,
        }),
    };
    assert!(store.upsert_upstream_user(&user).await.expect("add"));
    assert_eq!(store.user(&name).await.expect("lookup"), Some(user.clone()));
    user.upstream = Some(UpstreamAttributes {
        provider: "corp".into(),
        name: Some("Alice Example".into()),
        email: Some("alice@example.com".into()),
    });
    let later = UserRecord {
        created_at: NOW.saturating_add(Duration::from_secs(60)),
        ..user.clone()
    };
    assert!(store.upsert_upstream_user(&later).await.expect("update"));
    // The attributes change; when the user was added does not.
    assert_eq!(store.user(&name).await.expect("lookup"), Some(user.clone()));
    assert!(store.remove_user(&name, NOW).await.expect("remove"));

    let local = Subject::parse(&format!("corp:local-{suffix:016x}")).expect("valid");
    let password_user = UserRecord {
        username: local.clone(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        created_at: NOW,
        upstream: None,
    };
    assert!(store.insert_user(&password_user).await.expect("insert"));
    let intruder = UserRecord {
        username: local.clone(),
        ..user
    };
    assert!(
        !store
            .upsert_upstream_user(&intruder)
            .await
            .expect("refused")
    );
    assert_eq!(
        store.user(&local).await.expect("lookup"),
        Some(password_user)
    );
    assert!(store.remove_user(&local, NOW).await.expect("remove"));
}

/// 32 concurrent `remember_once` of one key: exactly one is first; after
/// expiry the key is accepted again (RFC 9449 section 11.1).
pub async fn remember_once_admits_one_of_many_concurrent_callers<S: Store + 'static>(
    store: Arc<S>,
) {
    let mut rng = rng(13);
    let mut key = [0u8; 32];
    rng.fill_bytes(&mut key);
    let expires = NOW.saturating_add(Duration::from_secs(60));
    let barrier = Arc::new(tokio::sync::Barrier::new(32));
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let (store, barrier) = (Arc::clone(&store), Arc::clone(&barrier));
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            store
                .remember_once(&key, expires, NOW)
                .await
                .expect("remember")
        }));
    }
    let mut firsts = 0;
    for task in tasks {
        if task.await.expect("task") {
            firsts += 1;
        }
    }
    assert_eq!(firsts, 1);
    let later = expires.saturating_add(Duration::from_secs(1));
    assert!(
        store
            .remember_once(&key, later.saturating_add(Duration::from_secs(60)), later)
            .await
            .expect("after expiry")
    );
}

/// `purge_expired` removes expired codes, families and access-token records
/// and keeps live ones.
pub async fn expired_records_are_purged<S: Store + 'static>(store: Arc<S>) {
    let mut rng = rng(14);
    let client = client_id(&mut rng);
    let code = code_record(&client, &mut rng);
    store.insert_code(&code).await.expect("insert");
    let (_, family) = family(&client, &mut rng);
    store.insert_family(&family, None).await.expect("insert");
    let token = access_token(&client, None, None, &mut rng);
    store.record_access_token(&token).await.expect("record");
    // Before anything expires, nothing of ours goes.
    store.purge_expired(NOW, u64::MAX).await.expect("purge");
    assert!(
        store
            .access_token(&token.jti)
            .await
            .expect("lookup")
            .is_some()
    );
    assert!(
        store
            .family_by_token(family.current())
            .await
            .expect("lookup")
            .is_some()
    );
    let after_all = family.expires_at().saturating_add(Duration::from_secs(1));
    let purged = store
        .purge_expired(after_all, u64::MAX)
        .await
        .expect("purge");
    assert!(purged >= 3, "purged {purged}");
    assert!(matches!(
        store.consume_code(code.digest()).await.expect("consume"),
        Consumption::Unknown
    ));
    assert!(
        store
            .family_by_token(family.current())
            .await
            .expect("lookup")
            .is_none()
    );
    assert!(
        store
            .access_token(&token.jti)
            .await
            .expect("lookup")
            .is_none()
    );
}

/// `purge_expired` deletes at most `limit` rows per call, across codes,
/// families with their token digests, access-token records and replay keys
/// (a family's rotated digests counted too), so a caller looping until
/// a batch comes back short drains a backlog in bounded steps; nothing live
/// goes, and a revoked code keeps its tombstone for [`CODE_TOMBSTONE_MARGIN`]
/// past its expiry.
pub async fn expired_records_are_purged_in_batches_and_live_ones_kept<S: Store + 'static>(
    store: Arc<S>,
) {
    let mut rng = rng(16);
    let client = client_id(&mut rng);
    // Purged at `at`: codes (expiring NOW + 60 s), access tokens (NOW + 300 s),
    // families with a 100 s lifetime and replay keys (NOW + 60 s), five each.
    let at = NOW.saturating_add(Duration::from_secs(400));
    let short = RefreshPolicy::new(Duration::from_secs(100), Duration::ZERO).expect("policy");
    let mut expired_codes = Vec::new();
    let mut expired_families = Vec::new();
    let mut expired_tokens = Vec::new();
    for i in 0..5u8 {
        let code = code_record(&client, &mut rng);
        store.insert_code(&code).await.expect("insert");
        expired_codes.push(code);
        let (first, family) =
            RefreshFamily::start(family_params(&client), NOW, &short, &mut rng).expect("start");
        store.insert_family(&family, None).await.expect("insert");
        if i == 0 {
            // One family rotated once: two token digests to purge before it.
            let presentation = RefreshPresentation {
                token: &first,
                client_id: &client,
                client_authenticated: true,
                dpop_jkt: None,
                scope: None,
                resources: &[],
            };
            let RefreshDecision::Rotate(rotation) =
                family.present(&presentation, NOW, &short, &rotation_key())
            else {
                panic!("the current token rotates");
            };
            assert_eq!(
                store.rotate_family(&rotation.next).await.expect("rotate"),
                Rotated::Applied
            );
            expired_families.push(rotation.next);
        }
        expired_families.push(family);
        let token = access_token(&client, None, None, &mut rng);
        store.record_access_token(&token).await.expect("record");
        expired_tokens.push(token);
        let expires = NOW.saturating_add(Duration::from_secs(60));
        assert!(
            store
                .remember_once(&[i; 32], expires, NOW)
                .await
                .expect("remember")
        );
    }
    // Live at `at`: a code, a family, an access token and a replay key that
    // expire later, and a revoked code within its tombstone margin.
    let live_code = code_record_at(&client, at, &mut rng);
    store.insert_code(&live_code).await.expect("insert");
    let (_, live_family) = family(&client, &mut rng);
    store
        .insert_family(&live_family, None)
        .await
        .expect("insert");
    let live_token = AccessTokenRecord {
        expires_at: at.saturating_add(Duration::from_secs(300)),
        ..access_token(&client, None, None, &mut rng)
    };
    store
        .record_access_token(&live_token)
        .await
        .expect("record");
    let live_key = [0xee; 32];
    assert!(
        store
            .remember_once(&live_key, at.saturating_add(Duration::from_secs(60)), at)
            .await
            .expect("remember")
    );
    let tombstoned = code_record(&client, &mut rng);
    store.insert_code(&tombstoned).await.expect("insert");
    assert!(matches!(
        store
            .consume_code(tombstoned.digest())
            .await
            .expect("consume"),
        Consumption::First(_)
    ));
    store
        .revoke_code_grant(tombstoned.digest(), NOW)
        .await
        .expect("revoke");

    let mut batches = Vec::new();
    loop {
        let purged = store.purge_expired(at, 3).await.expect("purge");
        batches.push(purged);
        if purged < 3 {
            break;
        }
        assert!(batches.len() < 20, "the purge must end: {batches:?}");
    }
    // Five each of codes, families, access tokens and replay keys, and six
    // token digests of those families (one rotated once).
    assert_eq!(
        batches,
        [3, 3, 3, 3, 3, 3, 3, 3, 2],
        "26 expired rows, 3 at a time"
    );
    assert_eq!(store.purge_expired(at, 3).await.expect("purge"), 0);

    for code in &expired_codes {
        assert!(matches!(
            store.consume_code(code.digest()).await.expect("consume"),
            Consumption::Unknown
        ));
    }
    for family in &expired_families {
        assert!(
            store
                .family_by_token(family.current())
                .await
                .expect("lookup")
                .is_none()
        );
    }
    for token in &expired_tokens {
        assert!(
            store
                .access_token(&token.jti)
                .await
                .expect("lookup")
                .is_none()
        );
    }
    // Everything live is still there.
    assert!(matches!(
        store
            .consume_code(live_code.digest())
            .await
            .expect("consume"),
        Consumption::First(_)
    ));
    assert!(
        store
            .family_by_token(live_family.current())
            .await
            .expect("lookup")
            .is_some()
    );
    assert!(
        store
            .access_token(&live_token.jti)
            .await
            .expect("lookup")
            .is_some()
    );
    assert!(
        !store
            .remember_once(&live_key, at.saturating_add(Duration::from_secs(60)), at)
            .await
            .expect("remember"),
        "a live replay key still refuses its replay"
    );
    assert!(matches!(
        store
            .consume_code(tombstoned.digest())
            .await
            .expect("consume"),
        Consumption::AlreadyConsumed(_)
    ));
    // Past the margin the tombstone goes too.
    let after_margin = tombstoned
        .expires_at()
        .saturating_add(CODE_TOMBSTONE_MARGIN)
        .saturating_add(Duration::from_secs(1));
    assert!(store.purge_expired(after_margin, 100).await.expect("purge") >= 1);
    assert!(matches!(
        store
            .consume_code(tombstoned.digest())
            .await
            .expect("consume"),
        Consumption::Unknown
    ));
}

/// `purge_unused_clients` deletes at most `limit` clients per call, and
/// never a used or recent one.
pub async fn unused_clients_are_purged_in_batches<S: Store + 'static>(store: Arc<S>) {
    let mut rng = rng(17);
    let old = |rng: &mut ChaCha20Rng| ClientRecord {
        issued_at: UnixTime::from_secs(100),
        ..client_record(rng, None)
    };
    for _ in 0..7 {
        store
            .register_client(&old(&mut rng), u64::MAX)
            .await
            .expect("register");
    }
    let used = old(&mut rng);
    store
        .register_client(&used, u64::MAX)
        .await
        .expect("register");
    store
        .mark_client_used(&used.client_id, NOW)
        .await
        .expect("mark");
    let fresh = client_record(&mut rng, None);
    store
        .register_client(&fresh, u64::MAX)
        .await
        .expect("register");
    let cutoff = UnixTime::from_secs(1_000);
    let mut batches = Vec::new();
    loop {
        let purged = store.purge_unused_clients(cutoff, 3).await.expect("purge");
        batches.push(purged);
        if purged < 3 {
            break;
        }
        assert!(batches.len() < 10, "the purge must end: {batches:?}");
    }
    assert_eq!(batches, [3, 3, 1]);
    let left: Vec<ClientId> = store
        .list_clients()
        .await
        .expect("list")
        .into_iter()
        .map(|c| c.client_id)
        .collect();
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(left.contains(&used.client_id) && left.contains(&fresh.client_id));
}

/// A code whose consuming redemption was refused is reported as such when it
/// is presented again (`revoke_code_grant`), with the first mark's time; a
/// code redeemed successfully is not (OAuth 2.1 section 4.1.3).
pub async fn a_failed_redemption_is_reported_when_the_code_comes_back<S: Store + 'static>(
    store: Arc<S>,
) {
    let mut rng = rng(18);
    let client = client_id(&mut rng);
    let failed = code_record(&client, &mut rng);
    let redeemed = code_record(&client, &mut rng);
    for code in [&failed, &redeemed] {
        store.insert_code(code).await.expect("insert");
        assert!(matches!(
            store.consume_code(code.digest()).await.expect("consume"),
            Consumption::First(_)
        ));
    }
    store
        .mark_redemption_failed(failed.digest(), NOW)
        .await
        .expect("mark");
    store
        .mark_redemption_failed(failed.digest(), NOW.saturating_add(Duration::from_secs(5)))
        .await
        .expect("mark again");
    // Unknown codes are no error.
    store
        .mark_redemption_failed(&TokenDigest::of(b"never issued"), NOW)
        .await
        .expect("mark unknown");
    let later = NOW.saturating_add(Duration::from_secs(10));
    let revoked = store
        .revoke_code_grant(failed.digest(), later)
        .await
        .expect("revoke");
    assert_eq!(
        revoked,
        RevokedGrant {
            failed_redemption_at: Some(NOW),
            ..RevokedGrant::default()
        }
    );
    let revoked = store
        .revoke_code_grant(redeemed.digest(), later)
        .await
        .expect("revoke");
    assert_eq!(revoked.failed_redemption_at, None);
}

fn family_params(client: &ClientId) -> FamilyParams {
    FamilyParams {
        client_id: client.clone(),
        subject: subject(),
        scope: Scope::parse("mcp:read").expect("valid"),
        resources: vec![resource()],
        dpop_jkt: None,
    }
}

/// A code record for `client` issued at `at`.
fn code_record_at(client: &ClientId, at: UnixTime, rng: &mut ChaCha20Rng) -> CodeRecord {
    let verifier = CodeVerifier::generate(rng);
    let params = CodeParams {
        client_id: client.clone(),
        redirect_uri: RedirectUri::parse("http://127.0.0.1:7777/callback").expect("valid"),
        redirect_uri_source: RedirectUriSource::Request,
        code_challenge: verifier.challenge(),
        resources: vec![resource()],
        scope: Scope::parse("mcp:read").expect("valid"),
        subject: subject(),
        auth_time: at,
        dpop_jkt: None,
    };
    let (_, record) = CodeRecord::issue(params, at, &CodePolicy::default(), rng).expect("issue");
    record
}
