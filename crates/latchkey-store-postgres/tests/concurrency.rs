//! Several server instances sharing one database: two `PostgresStore`s (two
//! connection pools) over the same schema, racing on the same rows. The
//! atomicity promises of `latchkey_store` must hold across them, every time.

mod support;

use std::sync::Arc;

use latchkey_store::conformance::{self, NOW};
use latchkey_store::{
    ClientStore, Consumption, GrantStore, KeyStatus, KeyStore, Registered, ReplayStore, Rotated,
    StoredKey,
};
use latchkey_store_postgres::PostgresStore;
use latchkey_token::refresh::{RefreshDecision, RefreshPolicy, RefreshPresentation, RotationKey};
use latchkey_types::{ClientId, SecretString, TokenDigest};
use rand_core::Rng;
use tokio::sync::Barrier;
use zeroize::Zeroizing;

/// The two instances, shared by the tasks of one race.
fn instances(stores: Vec<PostgresStore>) -> [Arc<PostgresStore>; 2] {
    let mut stores = stores.into_iter().map(Arc::new);
    let a = stores.next().expect("first instance");
    let b = stores.next().expect("second instance");
    [a, b]
}

fn client(rng: &mut impl Rng) -> ClientId {
    ClientId::parse(&format!("client-{:016x}", rng.next_u64())).expect("valid client id")
}

/// OAuth 2.1 section 4.1.3 (the requirement): 64 concurrent
/// redemptions of one code, 32 through each instance: exactly one `First`,
/// 63 `AlreadyConsumed`, in every one of 200 trials.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn code_is_consumed_once_across_two_instances_oauth21_4_1_3() {
    support::with_stores(
        "code_is_consumed_once_across_two_instances",
        2,
        |stores| async move {
            let [a, b] = instances(stores);
            let mut rng = conformance::rng(101);
            let client = client(&mut rng);
            for trial in 0..conformance::trials() {
                let record = conformance::code_record(&client, &mut rng);
                let digest = *record.digest();
                a.insert_code(&record).await.expect("insert");
                let barrier = Arc::new(Barrier::new(64));
                let tasks: Vec<_> = (0..64)
                    .map(|i| {
                        let store = Arc::clone(if i % 2 == 0 { &a } else { &b });
                        let barrier = Arc::clone(&barrier);
                        tokio::spawn(async move {
                            barrier.wait().await;
                            store.consume_code(&digest).await.expect("consume")
                        })
                    })
                    .collect();
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
        },
    )
    .await;
}

/// OAuth 2.1 section 4.3.1, RFC 9700 section 4.14.2: 32 concurrent rotations
/// of one family from the same generation, 16 through each instance: exactly
/// one `Applied`, every loser sees generation 1, and both the old and the new
/// token digest find the family afterwards; 200 trials.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rotation_applies_once_across_two_instances_oauth21_4_3_1() {
    support::with_stores(
        "rotation_applies_once_across_two_instances",
        2,
        |stores| async move {
            let [a, b] = instances(stores);
            let mut rng = conformance::rng(102);
            let client = client(&mut rng);
            let key = RotationKey::new(&SecretString::new(
                "postgres-rotation-key-0123456789abcdef".into(),
            ))
            .expect("rotation key");
            for trial in 0..conformance::trials() {
                let (token, family) = conformance::family(&client, &mut rng);
                a.insert_family(&family, None).await.expect("insert");
                let presentation = RefreshPresentation {
                    token: &token,
                    client_id: &client,
                    client_authenticated: true,
                    dpop_jkt: None,
                    scope: None,
                    resources: &[],
                };
                let RefreshDecision::Rotate(rotation) =
                    family.present(&presentation, NOW, &RefreshPolicy::default(), &key)
                else {
                    panic!("trial {trial}: expected a rotation");
                };
                let next = Arc::new(rotation.next);
                let barrier = Arc::new(Barrier::new(32));
                let tasks: Vec<_> = (0..32)
                    .map(|i| {
                        let store = Arc::clone(if i % 2 == 0 { &a } else { &b });
                        let (barrier, next) = (Arc::clone(&barrier), Arc::clone(&next));
                        tokio::spawn(async move {
                            barrier.wait().await;
                            store.rotate_family(&next).await.expect("rotate")
                        })
                    })
                    .collect();
                let mut applied = 0;
                for task in tasks {
                    match task.await.expect("task") {
                        Rotated::Applied => applied += 1,
                        Rotated::Lost(Some(now)) => {
                            assert_eq!(now.generation(), 1, "trial {trial}: loser sees the winner");
                        }
                        Rotated::Lost(None) => panic!("trial {trial}: family vanished"),
                    }
                }
                assert_eq!(applied, 1, "trial {trial}");
                let by_old = b
                    .family_by_token(&token.digest())
                    .await
                    .expect("lookup")
                    .expect("old token still finds the family");
                let by_new = a
                    .family_by_token(&rotation.successor.digest())
                    .await
                    .expect("lookup")
                    .expect("new token finds the family");
                assert_eq!(by_old, by_new);
                assert_eq!(&by_new, next.as_ref());
            }
        },
    )
    .await;
}

/// RFC 9449 section 11.1: 32 concurrent `remember_once` of one key, 16
/// through each instance: exactly one is first, in every one of 200 trials.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn remember_once_admits_one_across_two_instances_rfc9449_11_1() {
    support::with_stores(
        "remember_once_admits_one_across_two_instances",
        2,
        |stores| async move {
            let [a, b] = instances(stores);
            let mut rng = conformance::rng(103);
            let expires = NOW.saturating_add(core::time::Duration::from_secs(60));
            for trial in 0..conformance::trials() {
                let mut key = [0u8; 32];
                rng.fill_bytes(&mut key);
                let barrier = Arc::new(Barrier::new(32));
                let tasks: Vec<_> = (0..32)
                    .map(|i| {
                        let store = Arc::clone(if i % 2 == 0 { &a } else { &b });
                        let barrier = Arc::clone(&barrier);
                        tokio::spawn(async move {
                            barrier.wait().await;
                            store
                                .remember_once(&key, expires, NOW)
                                .await
                                .expect("remember")
                        })
                    })
                    .collect();
                let mut firsts = 0;
                for task in tasks {
                    if task.await.expect("task") {
                        firsts += 1;
                    }
                }
                assert_eq!(firsts, 1, "trial {trial}");
            }
        },
    )
    .await;
}

/// RFC 7591 section 3 with a client cap: 32 concurrent registrations of
/// distinct clients across both instances under a cap of 5 store exactly 5;
/// 32 concurrent idempotent registrations with one fingerprint store exactly
/// one and hand every other caller that client.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn registration_cap_and_idempotency_hold_across_two_instances_rfc7591_3() {
    support::with_stores(
        "registration_across_two_instances",
        2,
        |stores| async move {
            let [a, b] = instances(stores);
            let mut rng = conformance::rng(104);
            let register = |clients: Vec<latchkey_store::ClientRecord>, cap: u64| {
                let barrier = Arc::new(Barrier::new(clients.len()));
                let tasks: Vec<_> = clients
                    .into_iter()
                    .enumerate()
                    .map(|(i, client)| {
                        let store = Arc::clone(if i % 2 == 0 { &a } else { &b });
                        let barrier = Arc::clone(&barrier);
                        tokio::spawn(async move {
                            barrier.wait().await;
                            store.register_client(&client, cap).await.expect("register")
                        })
                    })
                    .collect();
                async move {
                    let mut outcomes = Vec::new();
                    for task in tasks {
                        outcomes.push(task.await.expect("task"));
                    }
                    outcomes
                }
            };

            let distinct = (0..32)
                .map(|_| conformance::client_record(&mut rng, None))
                .collect();
            let outcomes = register(distinct, 5).await;
            let inserted = outcomes
                .iter()
                .filter(|o| **o == Registered::Inserted)
                .count();
            let capped = outcomes
                .iter()
                .filter(|o| **o == Registered::CapReached)
                .count();
            assert_eq!((inserted, capped), (5, 27));
            assert_eq!(b.list_clients().await.expect("list").len(), 5);

            let print = TokenDigest::of(b"one public client, registered 32 times");
            let same = (0..32)
                .map(|_| conformance::client_record(&mut rng, Some(print)))
                .collect();
            let outcomes = register(same, 1_000).await;
            let inserted = outcomes
                .iter()
                .filter(|o| **o == Registered::Inserted)
                .count();
            let existing: Vec<_> = outcomes
                .iter()
                .filter_map(|o| match o {
                    Registered::Existing(client) => Some(client.client_id.clone()),
                    _ => None,
                })
                .collect();
            assert_eq!((inserted, existing.len()), (1, 31));
            let stored = a.list_clients().await.expect("list");
            assert_eq!(stored.len(), 6);
            let winner = stored
                .iter()
                .find(|c| c.fingerprint == Some(print))
                .expect("the idempotent client");
            assert!(existing.iter().all(|id| *id == winner.client_id));
        },
    )
    .await;
}

/// Concurrent activations of different keys across both instances leave
/// exactly one active key.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_key_activations_leave_one_active_key() {
    support::with_stores(
        "key_activation_across_two_instances",
        2,
        |stores| async move {
            let [a, b] = instances(stores);
            for trial in 0..20 {
                let kids: Vec<String> = (0..8).map(|i| format!("kid-{trial}-{i}")).collect();
                for kid in &kids {
                    a.insert_key(&StoredKey {
                        kid: kid.clone(),
                        algorithm: "ES256".into(),
                        pkcs8: Zeroizing::new(vec![1, 2, 3]),
                        status: KeyStatus::VerifyOnly,
                        created_at: NOW,
                    })
                    .await
                    .expect("insert");
                }
                let barrier = Arc::new(Barrier::new(kids.len()));
                let tasks: Vec<_> = kids
                    .into_iter()
                    .enumerate()
                    .map(|(i, kid)| {
                        let store = Arc::clone(if i % 2 == 0 { &a } else { &b });
                        let barrier = Arc::clone(&barrier);
                        tokio::spawn(async move {
                            barrier.wait().await;
                            store.activate_key(&kid).await.expect("activate")
                        })
                    })
                    .collect();
                for task in tasks {
                    assert!(task.await.expect("task"));
                }
                let keys = b.signing_keys().await.expect("keys");
                let active = keys
                    .iter()
                    .filter(|k| k.status == KeyStatus::Active)
                    .count();
                assert_eq!(active, 1, "trial {trial}");
            }
        },
    )
    .await;
}
