//! Model-based test: random interleavings of operations applied to the real
//! [`RefreshFamily`] and to a plain model, compared after every step
//! (OAuth 2.1 section 4.3.1, RFC 9700 section 4.14.2, MCP A10).

use std::collections::HashSet;

use proptest::prelude::*;

use super::*;

const LIFETIME: u64 = 1_000;
const WINDOW: u64 = 30;
/// The opted-in window of a public client without DPoP.
const PUBLIC_WINDOW: u64 = 5;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Key {
    Right,
    Other,
    Missing,
}

#[derive(Clone, Copy, Debug)]
enum Op {
    /// Let `secs` seconds pass.
    Advance(u64),
    /// Jump to the family's expiry or beyond.
    PastExpiry(u64),
    /// Present the current token.
    Current { other_client: bool, key: Key },
    /// Present the token rotated out last (a retry, if it exists), by a
    /// client that authenticated or only named itself.
    Previous {
        other_client: bool,
        key: Key,
        authenticated: bool,
    },
    /// Present the token `back` generations before the previous one.
    Older { back: usize },
    /// Revoke the family (RFC 7009 revocation).
    Revoke,
}

/// What either side decided, without the payload.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Outcome {
    Rotate,
    Retry,
    Reuse(ReuseReason),
    Reject(RefreshError),
}

/// The rules, written as plainly as possible.
struct Model {
    generation: u64,
    rotated_at: Option<u64>,
    revoked: bool,
    now: u64,
    bound: bool,
}

impl Model {
    fn present(
        &mut self,
        which: Which,
        other_client: bool,
        key: Key,
        authenticated: bool,
    ) -> Outcome {
        if self.revoked {
            return Outcome::Reject(RefreshError::FamilyRevoked);
        }
        if self.now >= LIFETIME {
            return Outcome::Reject(RefreshError::FamilyExpired);
        }
        let key_ok = !self.bound || key == Key::Right;
        match which {
            Which::Current => {
                if other_client {
                    return Outcome::Reject(RefreshError::ClientMismatch);
                }
                if !key_ok {
                    return Outcome::Reject(if key == Key::Missing {
                        RefreshError::DpopProofMissing
                    } else {
                        RefreshError::DpopKeyMismatch
                    });
                }
                self.generation += 1;
                self.rotated_at = Some(self.now);
                Outcome::Rotate
            }
            Which::Previous => {
                let reason = if other_client {
                    ReuseReason::RetryOtherClient
                } else if !key_ok {
                    ReuseReason::RetryOtherKey
                } else if self.now - self.rotated_at.unwrap()
                    >= if self.bound || authenticated {
                        WINDOW
                    } else {
                        PUBLIC_WINDOW
                    }
                {
                    ReuseReason::RetryOutsideWindow
                } else {
                    return Outcome::Retry;
                };
                self.revoked = true;
                Outcome::Reuse(reason)
            }
            Which::Older => {
                self.revoked = true;
                Outcome::Reuse(ReuseReason::OlderGeneration)
            }
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Which {
    Current,
    Previous,
    Older,
}

fn key_strategy() -> impl Strategy<Value = Key> {
    prop_oneof![Just(Key::Right), Just(Key::Other), Just(Key::Missing)]
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u64..=45).prop_map(Op::Advance),
        // The window's edges, so that an off-by-one in the retry rule shows.
        1 => prop_oneof![
            Just(WINDOW - 1),
            Just(WINDOW),
            Just(PUBLIC_WINDOW - 1),
            Just(PUBLIC_WINDOW)
        ]
        .prop_map(Op::Advance),
        1 => (0u64..=5).prop_map(Op::PastExpiry),
        6 => (prop::bool::weighted(0.15), key_strategy())
            .prop_map(|(other_client, key)| Op::Current { other_client, key }),
        3 => (prop::bool::weighted(0.3), key_strategy(), any::<bool>()).prop_map(
            |(other_client, key, authenticated)| Op::Previous {
                other_client,
                key,
                authenticated
            }
        ),
        1 => (0usize..4).prop_map(|back| Op::Older { back }),
        1 => Just(Op::Revoke),
    ]
}

fn is_revoked(family: &RefreshFamily) -> bool {
    matches!(family.state(), FamilyState::Revoked { .. })
}

fn outcome_of(decision: &RefreshDecision) -> Outcome {
    match decision {
        RefreshDecision::Rotate(_) => Outcome::Rotate,
        RefreshDecision::Retry(_) => Outcome::Retry,
        RefreshDecision::Reuse(reuse) => Outcome::Reuse(reuse.reason),
        RefreshDecision::Reject(error) => Outcome::Reject(error.clone()),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn a10_refresh_family_agrees_with_model(
        bound in any::<bool>(),
        seed in any::<u64>(),
        ops in prop::collection::vec(op_strategy(), 1..60),
    ) {
        let policy = RefreshPolicy::new(
            Duration::from_secs(LIFETIME),
            Duration::from_secs(WINDOW),
        )
        .and_then(|p| p.with_public_client_retry_window(Duration::from_secs(PUBLIC_WINDOW)))
        .unwrap();
        let rotation_key = RotationKey::generate(&mut ChaCha20Rng::seed_from_u64(seed ^ 1));
        let bound_key = jkt(1);
        let other_key = jkt(2);
        let right_client = client();
        let wrong_client = other_client();
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let dpop = if bound { Some(bound_key.clone()) } else { None };
        let (first, mut family) =
            RefreshFamily::start(params(dpop), UnixTime::EPOCH, &policy, &mut rng).unwrap();
        let mut model = Model { generation: 0, rotated_at: None, revoked: false, now: 0, bound };
        // Every token the family issued, by generation.
        let mut tokens = vec![first.expose_secret().to_owned()];
        let mut seen: HashSet<String> = tokens.iter().cloned().collect();
        let mut rotated_generations: HashSet<u64> = HashSet::new();

        for op in ops {
            let now = UnixTime::from_secs(model.now);
            let (which, other_client, key, authenticated, index) = match op {
                Op::Advance(secs) => {
                    model.now += secs;
                    continue;
                }
                Op::PastExpiry(extra) => {
                    model.now = model.now.max(LIFETIME + extra);
                    continue;
                }
                Op::Revoke => {
                    family = family.revoke(RevocationReason::TokenRevocation, now);
                    model.revoked = true;
                    prop_assert!(is_revoked(&family));
                    continue;
                }
                Op::Current { other_client, key } => {
                    (Which::Current, other_client, key, false, model.generation)
                }
                Op::Previous { other_client, key, authenticated } => {
                    if model.generation == 0 {
                        continue;
                    }
                    (Which::Previous, other_client, key, authenticated, model.generation - 1)
                }
                Op::Older { back } => {
                    if model.generation < 2 {
                        continue;
                    }
                    let index = (model.generation - 2).saturating_sub(back as u64);
                    (Which::Older, false, Key::Right, false, index)
                }
            };
            let presented = tokens[index as usize].clone();
            let token = RefreshToken::new(presented.clone());
            let client_id = if other_client { &wrong_client } else { &right_client };
            let dpop_jkt = match key {
                Key::Right => Some(&bound_key),
                Key::Other => Some(&other_key),
                Key::Missing => None,
            };
            let request = RefreshPresentation {
                token: &token,
                client_id,
                client_authenticated: authenticated,
                dpop_jkt,
                scope: None,
                resources: &[],
            };
            let was_revoked = model.revoked;
            let generation_before = family.generation();
            let decision = family.present(&request, now, &policy, &rotation_key);
            let expected = model.present(which, other_client, key, authenticated);
            prop_assert_eq!(outcome_of(&decision), expected.clone(), "op {:?} at {}", op, model.now);

            // A revoked family stays revoked, and nothing is accepted past expiry.
            if was_revoked {
                prop_assert_eq!(expected.clone(), Outcome::Reject(RefreshError::FamilyRevoked));
            }
            if model.now >= LIFETIME {
                prop_assert!(!matches!(expected, Outcome::Rotate | Outcome::Retry));
            }

            match decision {
                RefreshDecision::Rotate(rotation) => {
                    // At most one current token is accepted per generation.
                    prop_assert!(rotated_generations.insert(generation_before));
                    prop_assert_eq!(rotation.next.generation(), generation_before + 1);
                    let successor = rotation.successor.expose_secret().to_owned();
                    // Successors are unique across generations.
                    prop_assert!(seen.insert(successor.clone()));
                    prop_assert_eq!(rotation.next.current(), &TokenDigest::of(successor.as_bytes()));
                    tokens.push(successor);
                    family = rotation.next;
                }
                RefreshDecision::Retry(retry) => {
                    // The same successor the rotation handed out, and no state change.
                    prop_assert_eq!(retry.successor.expose_secret(), tokens.last().unwrap().as_str());
                }
                RefreshDecision::Reuse(reuse) => {
                    prop_assert!(is_revoked(&reuse.revoked));
                    family = reuse.revoked;
                }
                RefreshDecision::Reject(_) => {}
            }
            prop_assert_eq!(family.generation(), model.generation);
            prop_assert_eq!(is_revoked(&family), model.revoked);
            prop_assert_eq!(tokens.len() as u64, model.generation + 1);
        }
    }
}
